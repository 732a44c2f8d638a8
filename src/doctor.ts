/**
 * `worm-run doctor`: what this machine provides, measured, and a live self-test: a probe
 * started under the default policy through the real supervisor tries to open sockets and
 * io_uring and must be refused. Exit 0 only when the protection worm-run promises holds here.
 */
import { accessSync, constants, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { arch, release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from './api.js';
import { addonOrigin, native } from './native.js';
import { VERSION } from './version.js';

export type CheckStatus = 'ok' | 'warn' | 'fail' | 'info';

export interface Check {
  name: string;
  status: CheckStatus;
  detail: string;
}

export interface DoctorReport {
  version: string;
  protected: boolean;
  checks: Check[];
}

const EPERM = 1;
const ENOSYS = 38;

function cgroupV2(): Check {
  const name = 'cgroup v2';
  const mount = readFileSync('/proc/mounts', 'utf8').split('\n').map((l) => l.split(' '))
    .find((f) => f[2] === 'cgroup2')?.[1];
  if (!mount || !existsSync(`${mount}/cgroup.controllers`)) {
    return { name, status: 'info', detail: 'not mounted (not used: limits are rlimits)' };
  }
  const controllers = readFileSync(`${mount}/cgroup.controllers`, 'utf8').trim() || 'none';
  const self = /^0::(.*)$/m.exec(readFileSync('/proc/self/cgroup', 'utf8'))?.[1] ?? '/';
  let writable = false;
  try {
    accessSync(`${mount}${self}`, constants.W_OK);
    writable = true;
  } catch {
    // not delegated to us
  }
  return {
    name, status: 'info',
    detail: `at ${mount}, controllers: ${controllers}; own cgroup ${writable ? 'writable' : 'not writable'} (not used: limits are rlimits)`,
  };
}

// The probe runs as a target: a Node process with the guard, under the kernel filter.
const PROBE = `
const a = require(process.argv[1]);
const out = {
  inet: a.probeSocket(2, 1), inet6: a.probeSocket(10, 1), unix: a.probeSocket(1, 1),
  netlink: a.probeSocket(16, 3), packet: a.probeSocket(17, 3), vsock: a.probeSocket(40, 1),
  ioUring: a.probeIoUring(),
};
try { require('net').connect(9, '127.0.0.1').on('error', (e) => { out.guard = e.code; done(); }); }
catch (e) { out.guard = e.code; done(); }
function done() { process.stdout.write(JSON.stringify(out)); }
`;

/** The start record of the probe's run: what the target measured in itself (see supervisor/records.ts). */
interface ProbeStart {
  protections?: {
    seccomp?: { refusalsRecorded?: boolean; notRecordedBecause?: string };
    namespaces?: { pid?: boolean; mount?: boolean };
    landlock?: { abi: number; filesystem: string } | string;
  } | null;
  notes?: string[];
}

function readStart(log: string): ProbeStart | null {
  try {
    for (const line of readFileSync(log, 'utf8').split('\n')) {
      if (line.startsWith('{') && line.includes('"event":"start"')) return JSON.parse(line) as ProbeStart;
    }
  } catch {
    // no trail: the run did not start
  }
  return null;
}

/**
 * The probe, run as a target under the default policy, in a directory of its own (worm-run
 * refuses a shared working directory such as /tmp or /, wherever doctor is started from), with
 * a trail whose start record says what the run got. Three checks come out of it: the live
 * probe itself (every attempt refused), whether the kernel filter's refusals are recorded, and
 * whether runs get their own namespaces.
 */
async function liveProbe(): Promise<Check[]> {
  const name = 'live probe';
  let dir: string | null = null;
  try {
    dir = mkdtempSync(join(tmpdir(), 'worm-run-doctor-'));
  } catch {
    // an unwritable temporary directory: the probe runs where doctor was started
  }
  try {
    const log = dir ? join(dir, 'probe.jsonl') : null;
    const r = await run([process.execPath, '-e', PROBE, addonOrigin().path], {
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(dir ? { cwd: dir } : {}),
      ...(log ? { policy: { audit: { log } } } : {}),
    });
    let got: Record<string, number | string>;
    try {
      got = JSON.parse(r.stdout ?? '') as Record<string, number | string>;
    } catch {
      const why = r.error?.message ?? (r.stderr ?? '').trim().split('\n').pop() ?? '';
      return [{ name, status: 'fail', detail: `the probe did not run (status ${r.status}): ${why}` }];
    }
    const checks: Check[] = [];
    const want: Record<string, number> = { inet: EPERM, inet6: EPERM, unix: EPERM, netlink: EPERM, packet: EPERM, vsock: EPERM, ioUring: ENOSYS };
    const open = Object.keys(want).filter((k) => got[k] === 0);
    // Refused, but not with worm-run's errno: a filter outside worm-run's (a container's) that
    // refuses the same call answers first, before worm-run's listener sees it.
    const other = Object.entries(want).filter(([k, v]) => got[k] !== 0 && got[k] !== v).map(([k]) => `${k}: errno ${got[k]}`);
    const guardOk = got.guard === 'ERR_WORM_BLOCKED';
    if (open.length > 0) {
      checks.push({ name, status: 'fail', detail: `NOT refused: ${open.join(', ')}` });
    } else {
      const answers = other.length === 0
        ? 'sockets of every family refused (EPERM), io_uring_setup ENOSYS'
        : `every socket family and io_uring_setup refused (${other.join(', ')}: answered first by a seccomp filter outside worm-run's, e.g. the container's)`;
      checks.push({
        name, status: guardOk ? 'ok' : 'warn',
        detail: `${answers}; guard ${guardOk ? 'refused net.connect (ERR_WORM_BLOCKED)' : `did not answer as expected (${String(got.guard)})`}`,
      });
    }
    const start = log ? readStart(log) : null;
    const seccomp = start?.protections?.seccomp;
    if (seccomp) {
      const n = r.kernelRefusals.reduce((sum, k) => sum + k.count, 0);
      checks.push(seccomp.refusalsRecorded && n > 0
        ? { name: 'refusals recorded', status: 'ok', detail: `the kernel filter's refusals reach the supervisor (user notification): ${n} recorded from the probe` }
        : {
          name: 'refusals recorded', status: 'warn',
          detail: `no: ${seccomp.refusalsRecorded ? 'a listener was installed but no refusal reached it (another filter answered first)' : (seccomp.notRecordedBecause ?? 'unknown')}; ` +
            'refused calls still fail (EPERM), only the guard\'s refusals are recorded',
        });
      const ns = start?.protections?.namespaces;
      const why = (start?.notes ?? []).find((x) => x.startsWith('no namespaces'));
      checks.push(ns?.pid
        ? { name: 'namespaces', status: 'ok', detail: `each run gets its own PID${ns.mount ? ' and mount' : ''} namespace` }
        : {
          name: 'namespaces', status: 'info',
          detail: `none here (${why ? why.replace(/^no namespaces on this machine: /, '') : 'not given'}): runs fall back to a child subreaper ` +
            'that ends every process of the run, and a filter that lets pid-addressed calls name only the caller',
        });
      const landlock = start?.protections?.landlock;
      checks.push(typeof landlock === 'object'
        ? { name: 'filesystem confinement', status: 'ok', detail: `Landlock ABI ${landlock.abi}; read-only and hidden paths kept by ${landlock.filesystem}` }
        : { name: 'filesystem confinement', status: 'fail', detail: 'no Landlock in the run: the default filesystem rules do not hold' });
    }
    return checks;
  } finally {
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
}

export async function doctor(): Promise<DoctorReport> {
  const checks: Check[] = [];
  checks.push({ name: 'platform', status: 'info', detail: `linux ${release()} ${arch()}` });
  checks.push({ name: 'node', status: 'ok', detail: process.version });
  const origin = addonOrigin();
  checks.push({ name: 'addon', status: 'ok', detail: `${origin.prebuild ? 'prebuild' : 'local build'} ${origin.path}` });
  const k = native.probeKernel();
  checks.push(k.seccomp
    ? { name: 'seccomp filter', status: 'ok', detail: 'available (SECCOMP_RET_ERRNO)' }
    : { name: 'seccomp filter', status: 'fail', detail: `unavailable (errno ${k.seccompErrno}): worm-run refuses to run` });
  checks.push({ name: 'seccomp TSYNC', status: k.tsync ? 'ok' : 'fail', detail: k.tsync ? 'available (the supervisor filters all its threads)' : 'unavailable: the supervisor cannot filter itself' });
  checks.push({ name: 'seccomp user notification', status: 'info', detail: `${k.userNotif ? 'available' : 'unavailable'} in this kernel (whether a run gets a listener: "refusals recorded")` });
  checks.push(k.landlockAbi > 0
    ? { name: 'landlock', status: 'ok', detail: `ABI ${k.landlockAbi}: targets cannot reach processes outside the sandbox${k.landlockAbi >= 4 ? ', TCP refused a second time' : ''}${k.landlockAbi >= 6 ? ', signals and abstract sockets scoped' : ''}` }
    : { name: 'landlock', status: 'warn', detail: 'unavailable: a target can open /proc/PID/mem of processes of its own user; use --user' });
  checks.push({ name: 'io_uring', status: 'info', detail: `${k.ioUring} on this kernel (refused in targets: io_uring_setup -> ENOSYS)` });
  checks.push(cgroupV2());
  let yama = 'absent';
  try {
    yama = `ptrace_scope ${readFileSync('/proc/sys/kernel/yama/ptrace_scope', 'utf8').trim()}`;
  } catch {
    // no Yama
  }
  checks.push({ name: 'yama', status: 'info', detail: yama });
  if (process.getuid?.() === 0) {
    checks.push({ name: 'identity', status: 'warn', detail: 'running as root: a target keeps root\'s other powers; pass --user <name> to drop them' });
  }
  if (k.seccomp) checks.push(...(await liveProbe()));
  const ok = checks.every((c) => c.status !== 'fail');
  return { version: VERSION, protected: ok, checks };
}

export function formatReport(r: DoctorReport): string {
  const lines = [`worm-run doctor ${r.version}`];
  for (const c of r.checks) lines.push(`  ${c.status.padEnd(5)} ${c.name.padEnd(26)} ${c.detail}`);
  lines.push(r.protected ? 'result: this machine provides the protection worm-run promises'
    : 'result: NOT protected here; see the failed checks above');
  return `${lines.join('\n')}\n`;
}
