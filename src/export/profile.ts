/**
 * `worm-run export`: the kernel filter as a seccomp profile for container runtimes, made from
 * the same C++ table (native/seccomp.cc FilterRules) as the BPF program worm-run installs and
 * `--print-policy`, through `describeFilter`.
 *
 * Two shapes of the same thing:
 * - `oci`: the `linux.seccomp` object of the OCI runtime specification (config.json), what
 *   runc and crun read;
 * - `docker`: a Docker / Kubernetes seccomp profile file (`docker run --security-opt
 *   seccomp=FILE`, `securityContext.seccompProfile: {type: Localhost}`), the same fields plus
 *   `comment`s, which Docker's profile format has.
 *
 * How runtimes read a profile (runc's matchCall, crun's libcrun_generate_seccomp, both through
 * libseccomp): every entry becomes libseccomp rules of its action; the conditions of one
 * entry are ANDed when they name different arguments, but when two name the same argument the
 * entry silently falls apart into one rule per condition (ORed); entries of one syscall are
 * ORed; a name libseccomp does not know is skipped with a warning. libseccomp compares all 64
 * bits of an argument, except SCMP_CMP_MASKED_EQ, which compares only the bits of its mask.
 *
 * worm-run's filter reads only the low 32 bits of the arguments it checks (except a pointer:
 * the kernel reads them as int), so junk in the upper half of a register must not change an
 * answer. Every condition is therefore written as one of:
 * - SCMP_CMP_MASKED_EQ with a 32-bit mask: (low 32 bits & mask) == value, exact;
 * - SCMP_CMP_NE / SCMP_CMP_EQ with 0, for a pointer test (all 64 bits, as worm-run reads it);
 * and every entry carries exactly one condition: a rule "refuse when any test holds" becomes
 * one entry per way a test can hold, and "refuse unless every test holds" one entry per way a
 * test can fail. "Not equal" and "not one of" have no 32-bit operator, so they are spelled as
 * the masked patterns that differ from every allowed value (for one value: one entry per bit,
 * "this bit differs"); nothing in the table needs an AND, so nothing depends on how a runtime
 * groups conditions.
 */
import { native, type FilterDescription, type FilterRule, type FilterTest } from '../native.js';
import type { Policy } from '../policy.js';

export type ProfileFormat = 'oci' | 'docker';
export const PROFILE_FORMATS: readonly ProfileFormat[] = ['oci', 'docker'];

/** The filter options a run would use: --allow-unix, --memory, --namespaces. */
export interface ProfileOptions {
  allowUnix: boolean;
  memoryCap: boolean;
  /** 'namespace' (--namespaces auto/require: pid 1 refused), 'self' (--namespaces off: only pid 0). */
  pids: 'namespace' | 'self';
}

export interface SeccompArg {
  index: number;
  value: number;
  valueTwo: number;
  op: 'SCMP_CMP_MASKED_EQ' | 'SCMP_CMP_NE' | 'SCMP_CMP_EQ';
}

export interface SeccompSyscall {
  names: string[];
  action: 'SCMP_ACT_ERRNO';
  errnoRet: number;
  args?: SeccompArg[];
  /** Docker's profile format only. */
  comment?: string;
}

export interface SeccompProfile {
  /** Docker's profile format only (ignored by Docker, containerd and CRI-O: for people). */
  comment?: string;
  defaultAction: 'SCMP_ACT_ALLOW';
  architectures: string[];
  syscalls: SeccompSyscall[];
}

/** What the profile does not carry, for the output's comment and stderr. */
export const NOT_CARRIED = [
  'no module-hook guard (no ERR_WORM_BLOCKED errors)',
  'no audit trail and no recorded refusals (a refusal is a plain errno, SCMP_ACT_ERRNO, never a notification)',
  "no limits (CPU, memory, wall clock, processes, file size: set the runtime's resources)",
  'no Landlock (no filesystem confinement, no TCP refusal as a second line, no scoping of signals and /proc/PID/mem)',
  "no namespaces or containment of its own (the container's are what they are)",
  'no environment scrubbing and no closing of inherited descriptors',
];

const ERRNO: Record<FilterRule['errno'], number> = { EPERM: 1, ENOSYS: 38 };
const ARCH: Record<string, string> = { x86_64: 'SCMP_ARCH_X86_64', aarch64: 'SCMP_ARCH_AARCH64' };
const ALL = 0xffffffff;

/** One condition: a 32-bit masked pattern, or a 64-bit comparison with zero. */
type Cond = { kind: 'masked'; arg: number; mask: number; value: number } | { kind: 'eq0'; arg: number } | { kind: 'ne0'; arg: number };

const masked = (arg: number, mask: number, value: number): Cond => ({ kind: 'masked', arg, mask: mask >>> 0, value: (value & mask) >>> 0 });

function bitsOf(mask: number): number[] {
  const out: number[] = [];
  for (let b = 31; b >= 0; b--) if ((mask >>> b) & 1) out.push((1 << b) >>> 0);
  return out;
}

/**
 * The masked patterns (within the bits of `mask`) that together match exactly the values whose
 * masked bits are none of `values`. One value: one pattern per bit ("this bit differs"). More:
 * a binary split from the top bit, a pattern wherever a branch holds none of the values.
 */
function complement(arg: number, mask: number, values: number[]): Cond[] {
  const set = [...new Set(values.map((v) => (v & mask) >>> 0))];
  const bits = bitsOf(mask);
  if (set.length === 0) return [masked(arg, 0, 0)];
  if (set.length === 1) return bits.map((b) => masked(arg, b, ~set[0]! & b));
  const out: Cond[] = [];
  const split = (prefixMask: number, prefix: number, i: number, inside: number[]) => {
    if (inside.length === 0) {
      out.push(masked(arg, prefixMask, prefix));
      return;
    }
    if (i === bits.length) return;
    const b = bits[i]!;
    const m = (prefixMask | b) >>> 0;
    split(m, prefix, i + 1, inside.filter((v) => (v & b) === 0));
    split(m, (prefix | b) >>> 0, i + 1, inside.filter((v) => (v & b) !== 0));
  };
  split(0, 0, 0, set);
  return out;
}

/**
 * The ways the test holds, each a conjunction of conditions (one per argument): a test with
 * `and` holds when each of its parts does, so its ways are the product of theirs.
 */
function holdsAll(t: FilterTest): Cond[][] {
  let ways = holds(t).map((c) => [c]);
  for (const part of t.and ?? []) ways = ways.flatMap((w) => holdsAll(part).map((p) => [...w, ...p]));
  return ways;
}

/** The ways the test fails: any part failing is one. */
function failsAll(t: FilterTest): Cond[][] {
  return [...fails(t).map((c) => [c]), ...(t.and ?? []).flatMap((part) => failsAll(part))];
}

/** The conditions, any one of which makes the test (without its `and` parts) hold. */
function holds(t: FilterTest): Cond[] {
  switch (t.op) {
    case 'in': return t.values.map((v) => masked(t.arg, ALL, v));
    case 'ne': return complement(t.arg, ALL, t.values);
    case 'hasBits': return bitsOf(t.mask!).map((b) => masked(t.arg, b, b));
    case 'maskedIn': return t.values.filter((v) => ((v & ~t.mask!) >>> 0) === 0).map((v) => masked(t.arg, t.mask!, v));
    case 'nonNull': return [{ kind: 'ne0', arg: t.arg }];
  }
}

/** The conditions, any one of which makes the test fail. */
function fails(t: FilterTest): Cond[] {
  switch (t.op) {
    case 'in': return complement(t.arg, ALL, t.values);
    case 'ne': return t.values.map((v) => masked(t.arg, ALL, v));
    case 'hasBits': return [masked(t.arg, t.mask!, 0)];
    // A value with bits outside the mask never matches: it allows nothing.
    case 'maskedIn': return complement(t.arg, t.mask!, t.values.filter((v) => ((v & ~t.mask!) >>> 0) === 0));
    case 'nonNull': return [{ kind: 'eq0', arg: t.arg }];
  }
}

function toArg(c: Cond): SeccompArg {
  if (c.kind === 'masked') return { index: c.arg, value: c.mask, valueTwo: c.value, op: 'SCMP_CMP_MASKED_EQ' };
  return { index: c.arg, value: 0, valueTwo: 0, op: c.kind === 'ne0' ? 'SCMP_CMP_NE' : 'SCMP_CMP_EQ' };
}

function hex(n: number): string {
  return `0x${(n >>> 0).toString(16)}`;
}

function describeCond(c: Cond): string {
  if (c.kind === 'ne0') return `args[${c.arg}] != 0 (64 bits)`;
  if (c.kind === 'eq0') return `args[${c.arg}] == 0 (64 bits)`;
  if (c.mask === ALL) return `args[${c.arg}] == ${hex(c.value)} (low 32 bits)`;
  return `args[${c.arg}] & ${hex(c.mask)} == ${hex(c.value)}`;
}

/** The profile's entries for one rule of the table. */
function entries(rule: FilterRule, docker: boolean): SeccompSyscall[] {
  const base = { names: [rule.syscall], action: 'SCMP_ACT_ERRNO' as const, errnoRet: ERRNO[rule.errno] };
  if (rule.kind === 'always') return [{ ...base, ...(docker ? { comment: `${rule.syscall}: ${rule.why}` } : {}) }];
  const ways = rule.tests.flatMap((t) => (rule.kind === 'ifAny' ? holdsAll(t) : failsAll(t)));
  return ways.map((w, i) => ({
    ...base,
    args: w.map(toArg),
    ...(docker ? {
      comment: `${rule.syscall} refused ${rule.when}: ${i + 1} of ${ways.length} (any one refuses): ${w.map(describeCond).join(' and ')}` +
        (i === 0 ? `; ${rule.why}` : ''),
    } : {}),
  }));
}

/** The profile for a filter description (native.describeFilter of the run's options, without notify). */
export function profileFromFilter(filter: FilterDescription, format: ProfileFormat): SeccompProfile {
  const docker = format === 'docker';
  const arch = ARCH[filter.arch];
  if (!arch) throw new Error(`no seccomp profile architecture for ${filter.arch}`);
  const syscalls: SeccompSyscall[] = [];
  let lastWhy = '';
  for (const rule of filter.rules) {
    const last = syscalls[syscalls.length - 1];
    // Unconditional refusals with the same errno and reason share one entry.
    if (rule.kind === 'always' && last && !last.args && last.errnoRet === ERRNO[rule.errno] && lastWhy === rule.why) {
      last.names.push(rule.syscall);
      if (docker) last.comment = `${last.names.join(', ')}: ${rule.why}`;
      continue;
    }
    syscalls.push(...entries(rule, docker));
    lastWhy = rule.why;
  }
  return {
    ...(docker ? { comment: notice(filter).map((l) => l.trim()).join(' ') } : {}),
    defaultAction: 'SCMP_ACT_ALLOW',
    // Only the native ABI: runc and crun give every other one (i386 via int 0x80, x32 numbers
    // on x86_64) libseccomp's bad-architecture action, which they leave at its default (kill).
    architectures: [arch],
    syscalls,
  };
}

/** The lines that say what the profile is and is not. */
export function notice(filter: FilterDescription): string[] {
  return [
    `this profile is worm-run's kernel filter (${filter.arch}), the kernel layer only: the same calls refused with the same errno, and`,
    ...NOT_CARRIED.map((l) => `  ${l};`),
    '  other ABIs (i386 int 0x80, x32) are not listed in architectures: runc and crun answer them with',
    "  libseccomp's bad-architecture action (kill) where worm-run answers EPERM; both refuse every such call;",
    "  a name the runtime's libseccomp does not know is skipped by runc and crun with a warning, so that call",
    '  is allowed there (libseccomp 2.5.4 does not know open_tree_attr, Linux 6.15).',
    'For every protection, run worm-run itself inside the container.',
  ];
}

/** The filter options of a run under this policy (as --print-policy shows them). */
export function profileOptions(policy: Policy): ProfileOptions {
  return {
    allowUnix: policy.network.allowUnix,
    memoryCap: policy.limits.memoryBytes !== undefined,
    pids: policy.namespaces === 'off' ? 'self' : 'namespace',
  };
}

/** The profile for a policy: its kernel filter in the given format, and what it leaves out. */
export function exportProfile(policy: Policy, format: ProfileFormat): { profile: SeccompProfile; notice: string[] } {
  const filter = native.describeFilter({ ...profileOptions(policy), notify: false });
  return { profile: profileFromFilter(filter, format), notice: notice(filter) };
}
