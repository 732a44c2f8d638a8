/**
 * Issue 14, part 2: `worm-run export --format oci|docker`, the kernel filter as a seccomp
 * profile, proved the way container runtimes use it. runc and crun hand a profile to
 * libseccomp; test/fixtures/load-profile.py does the same through libseccomp's Python binding
 * (same rule-building as runc's matchCall and crun's libcrun_generate_seccomp), then:
 * - libseccomp's BPF for the profile is run next to worm-run's own program on the pinned deny
 *   set and on a sweep of arguments (junk in upper halves included) and other ABIs;
 * - the kernel is asked what the loaded profile answers (test/fixtures/sysprobe.c: a marker
 *   filter makes every call that would run come back ENOSYS instead), next to worm-run;
 * - the public conformance set runs with the loader as its launcher: every attack refused,
 *   every benign program working.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { native, type FilterOptions } from '../dist/native.js';
import {
  ALWAYS, AUDIT_ARCH_I386, AUDIT_ARCH_X86_64, CHECKS, HI, NR, PIDS, X32_BIT, evaluate, parseProgram,
  type Answer, type Call, type Program,
} from './helpers/bpf.js';
import { buildC } from './helpers/cc.js';
import { SECCOMP_PYTHON, conformanceDir, conformanceResults, libseccompPython } from './helpers/conformance.js';
import { int80, itWith } from './helpers/kernel.js';
import { BIN, FIXTURES, ROOT, STACK_FRAME, runProgram, tempDir, worm } from './helpers/run.js';

const LOADER = join(FIXTURES, 'load-profile.py');

interface Arg { index: number; value: number; valueTwo: number; op: string }
interface Entry { names: string[]; action: string; errnoRet: number; args?: Arg[]; comment?: string }
interface Profile { comment?: string; defaultAction: string; architectures: string[]; syscalls: Entry[] }

const CONFIGS: { name: string; args: string[]; opts: FilterOptions; pids: 'namespace' | 'self' }[] = [
  { name: 'default', args: [], opts: { pids: 'namespace' }, pids: 'namespace' },
  { name: '--allow-unix', args: ['--allow-unix'], opts: { pids: 'namespace', allowUnix: true }, pids: 'namespace' },
  { name: '--memory 1G', args: ['--memory', '1G'], opts: { pids: 'namespace', memoryCap: true }, pids: 'namespace' },
  { name: '--namespaces off', args: ['--namespaces', 'off'], opts: { pids: 'self' }, pids: 'self' },
  {
    name: '--allow-unix --memory 1G --namespaces off', args: ['--allow-unix', '--memory', '1G', '--namespaces', 'off'],
    opts: { pids: 'self', allowUnix: true, memoryCap: true }, pids: 'self',
  },
];

async function exported(format: 'oci' | 'docker', args: string[] = []): Promise<{ profile: Profile; stderr: string }> {
  const r = await worm(['export', '--format', format, ...args]);
  expect(r.stderr).not.toMatch(STACK_FRAME);
  expect(r.code, r.stderr).toBe(0);
  return { profile: JSON.parse(r.stdout) as Profile, stderr: r.stderr };
}

let dir = '';
beforeAll(() => {
  dir = tempDir();
});

function save(name: string, profile: Profile): string {
  const file = join(dir, name);
  writeFileSync(file, JSON.stringify(profile));
  return file;
}

describe('worm-run export', () => {
  it('docker: allow by default, every refusal an errno, exact conditions (at most one per argument), and what it cannot carry', async () => {
    const { profile, stderr } = await exported('docker');
    expect(profile.defaultAction).toBe('SCMP_ACT_ALLOW');
    expect(profile.architectures).toEqual(['SCMP_ARCH_X86_64']);
    for (const e of profile.syscalls) {
      expect(e.action).toBe('SCMP_ACT_ERRNO');
      expect([1, 38]).toContain(e.errnoRet);
      expect(e.comment).toMatch(/\S/);
      // At most one condition per argument: runtimes AND conditions on different arguments
      // (TIOCSCTTY *and* force) and split those on the same one, so this means the same everywhere.
      const args = (e.args ?? []).map((a) => a.index);
      expect(new Set(args).size).toBe(args.length);
      for (const a of e.args ?? []) {
        if (a.op === 'SCMP_CMP_MASKED_EQ') {
          // 32-bit masks only: the upper half of a register never decides.
          expect(a.value).toBeGreaterThan(0);
          expect(a.value).toBeLessThanOrEqual(0xffffffff);
          expect((a.valueTwo & ~a.value) >>> 0).toBe(0);
        } else {
          // A pointer (sendto/recvfrom's address): all 64 bits, against NULL.
          expect(['SCMP_CMP_NE', 'SCMP_CMP_EQ']).toContain(a.op);
          expect(a.value).toBe(0);
        }
      }
    }
    for (const words of ['guard', 'audit', 'recorded', 'limits', 'Landlock', 'namespaces', 'kernel layer only']) {
      expect(profile.comment).toContain(words);
      expect(stderr).toContain(words);
    }
    expect(stderr).toMatch(/^worm-run: /);
  });

  it('oci: the linux.seccomp object, the same entries without comments', async () => {
    const [oci, docker] = await Promise.all([exported('oci'), exported('docker')]);
    expect(Object.keys(oci.profile).sort()).toEqual(['architectures', 'defaultAction', 'syscalls']);
    const strip = (p: Profile) => p.syscalls.map(({ comment: _c, ...e }) => e);
    expect(oci.profile.syscalls.every((e) => e.comment === undefined)).toBe(true);
    expect(oci.profile.syscalls).toEqual(strip(docker.profile));
    expect(oci.stderr).toBe(docker.stderr);
  });

  it('names every call --print-policy shows for the same options, with its errno', async () => {
    for (const c of CONFIGS) {
      const [{ profile }, printed] = await Promise.all([exported('oci', c.args), worm(['--print-policy', ...c.args])]);
      const rules = (JSON.parse(printed.stdout) as { filter: { rules: { syscall: string; errno: string }[] } }).filter.rules;
      const want = new Map(rules.map((r) => [r.syscall, r.errno === 'ENOSYS' ? 38 : 1]));
      const got = new Map(profile.syscalls.flatMap((e) => e.names.map((n) => [n, e.errnoRet] as const)));
      expect([...got].sort(), c.name).toEqual([...want].sort());
    }
  });

  it('a large profile arrives whole through a slow pipe; a reader that stops early ends it quietly (141)', async () => {
    const cmd = `"${process.execPath}" "${BIN}" export --format docker --namespaces off`;
    const file = join(dir, 'self.json');
    const whole = await runProgram('sh', ['-c', `${cmd} > "${file}" 2>/dev/null && wc -c < "${file}"`]);
    const piped = await runProgram('sh', ['-c', `${cmd} 2>/dev/null | (sleep 0.5; wc -c)`]);
    expect(Number(whole.stdout)).toBeGreaterThan(100_000); // past a pipe's 64 KiB
    expect(piped.stdout).toBe(whole.stdout);
    const status = await runProgram('bash', ['-c', `set -o pipefail; ${cmd} 2>err.txt | head -c 10 >/dev/null; echo $?; cat err.txt`], { cwd: dir });
    expect(status.stdout).toBe('141\n');
  });

  it('a policy file (--config) shapes it as the same flags do', async () => {
    const file = join(dir, 'policy.json');
    writeFileSync(file, JSON.stringify({ network: { allowUnix: true }, limits: { memory: '1G', cpu: 30 } }));
    const [fromFile, fromFlags] = await Promise.all([exported('oci', ['--config', file]), exported('oci', ['--allow-unix', '--memory', '1G'])]);
    expect(fromFile.profile).toEqual(fromFlags.profile);
    expect(fromFile.profile).not.toEqual((await exported('oci')).profile);
  });

  it('mistakes are one line and exit 125; --help explains', async () => {
    for (const [args, msg] of [
      [[], '--format is required: oci or docker'],
      [['--format', 'json'], '--format: "json" is not one of oci, docker'],
      [['--format', 'oci', 'node'], "export takes no arguments, not 'node'"],
      [['--format', 'oci', '--memory', '12Q'], '--memory: "12Q" is not a size'],
      [['--format', 'oci', '--print-policy'], "unknown option '--print-policy'"],
    ] as [string[], string][]) {
      const r = await worm(['export', ...args]);
      expect(r.code).toBe(125);
      expect(r.stdout).toBe('');
      expect(r.stderr.split('\n').filter(Boolean)).toHaveLength(1);
      expect(r.stderr).toContain(msg);
    }
    // A subcommand only in first position: after `--` it is a program's name.
    const program = await worm(['--', 'export', '--format', 'oci']);
    expect(program.code).toBe(127);
    expect(program.stderr).toBe('worm-run: export: command not found\n');
    const help = await worm(['export', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: worm-run export --format oci\|docker/);
    expect(help.stdout).toContain('--allow-unix');
    expect((await worm(['--help'])).stdout).toMatch(/^ {2}export \[options\] +print the kernel filter as a seccomp profile/m);
  });
});

describe('examples/kubernetes', () => {
  const dir = join(ROOT, 'examples/kubernetes');

  it('worm-run-seccomp.json is what `worm-run export --format docker` prints today', async () => {
    const { profile } = await exported('docker');
    expect(JSON.parse(readFileSync(join(dir, 'worm-run-seccomp.json'), 'utf8'))).toEqual(profile);
  });

  it('the profile Job names that file where its install line puts it; the worm-run Job\'s options are valid', async () => {
    const job = readFileSync(join(dir, 'job-profile.yaml'), 'utf8');
    expect(job).toMatch(/^ +type: Localhost\n +localhostProfile: worm-run\/worm-run-seccomp\.json$/m);
    expect(job).toContain('install -D -m 0644 worm-run-seccomp.json /var/lib/kubelet/seccomp/worm-run/worm-run-seccomp.json');
    const entry = readFileSync(join(dir, 'job-worm-run.yaml'), 'utf8');
    expect(entry).toMatch(/^ +type: RuntimeDefault$/m);
    const command = JSON.parse(/command: (\[[^\]]*\])/.exec(entry)![1]!.replace(/\s+/g, ' ')) as string[];
    expect(command[0]).toBe('worm-run');
    const options = command.slice(1, command.indexOf('--'));
    const r = await worm([...options, '--print-policy']);
    expect(r.code, r.stderr).toBe(0);
  });
});

/** libseccomp's program for a profile, as runc builds it (or with the optimisation given), and the names it skipped. */
function compile(file: string, optimize: 1 | 2): { program: Program; unknown: string[] } {
  const out = `${file}.${optimize}.bpf`;
  const r = spawnSync(SECCOMP_PYTHON, [LOADER, file, '--optimize', String(optimize), '--export-bpf', out], { encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  const unknown = [...r.stderr.matchAll(/^load-profile: unknown syscall (\S+)$/gm)].map((m) => m[1]!);
  return { program: parseProgram(readFileSync(out)), unknown };
}

/** A small deterministic generator, so a failure can be reproduced. */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s;
  };
}

/** Argument values worth trying against a filter: its own constants, their bits, with and without junk above. */
function valuePool(d: ReturnType<typeof native.describeFilter>, next: () => number): bigint[] {
  const base = new Set<bigint>([0n, 1n, 2n, 3n, 5n, 10n, 0x7fffffffn, 0xffffffffn, 0xffffffffffffffffn, HI, 0x1000n]);
  for (const r of d.rules) {
    for (const t of r.tests) {
      for (const v of [...t.values, ...(t.mask !== undefined ? [t.mask] : [])]) {
        base.add(BigInt(v >>> 0));
        // Each bit alone, and the value with each one bit flipped.
        for (let b = 0; b < 32; b++) {
          if ((v >>> b) & 1) base.add(1n << BigInt(b));
          base.add(BigInt((v ^ (1 << b)) >>> 0));
        }
      }
    }
  }
  const out: bigint[] = [];
  for (const v of base) out.push(v, v | HI, v | (BigInt(next()) << 32n));
  for (let i = 0; i < 16; i++) out.push((BigInt(next()) << 32n) | BigInt(next()), BigInt(next()));
  return out;
}

describe.each(CONFIGS)('the exported profile as libseccomp compiles it ($name)', (c) => {
  itWith([libseccompPython()], 'gives the answers of worm-run\'s own program: pinned deny set, argument sweep, other ABIs', async () => {
    const { profile } = await exported('oci', c.args);
    const file = save(`profile-${c.name.replace(/\W+/g, '_')}.json`, profile);
    const mine = native.describeFilter(c.opts);
    const ours = mine.program;
    for (const optimize of [1, 2] as const) {
      const { program: theirs, unknown } = compile(file, optimize);
      // A name this libseccomp cannot resolve is skipped by runc and crun alike (with a warning):
      // the only difference allowed, and it must be one worm-run refuses unconditionally.
      const skipped = new Set(unknown.map((n) => NR[n as Call] ?? mine.rules.find((r) => r.syscall === n)!.nr));
      for (const n of unknown) expect(mine.rules.find((r) => r.syscall === n)?.kind, n).toBe('always');
      const diff: string[] = [];
      const check = (arch: number, nr: number, args: bigint[], want?: Answer) => {
        const a = evaluate(ours, arch, nr, args);
        const b = evaluate(theirs, arch, nr, args);
        const label = `${arch === AUDIT_ARCH_X86_64 ? '' : `arch 0x${arch.toString(16)} `}nr ${nr >= X32_BIT ? `x32|${nr - X32_BIT}` : nr}(${args.map((v) => `0x${v.toString(16)}`).join(', ')}) [optimize ${optimize}]`;
        if (want !== undefined && a !== want) diff.push(`${label}: worm-run ${a}, pinned ${want}`);
        const native64 = arch === AUDIT_ARCH_X86_64 && nr < X32_BIT;
        if (!native64) {
          // Another ABI: worm-run refuses with EPERM, libseccomp with its bad-arch action (kill).
          if (a !== 'EPERM' || b !== 'kill') diff.push(`${label}: worm-run ${a}, profile ${b}`);
        } else if (skipped.has(nr)) {
          if (b !== 'allow') diff.push(`${label}: skipped name, profile ${b}`);
        } else if (a !== b) diff.push(`${label}: worm-run ${a}, profile ${b}`);
      };
      // The pinned deny set.
      for (const [call, ans] of ALWAYS) {
        if (mine.rules.find((r) => r.syscall === call)?.kind === 'always') {
          for (const args of [[], [0n, 1n, 2n], [1n], [HI], [0xffffffffffffffffn]]) check(AUDIT_ARCH_X86_64, NR[call], args, ans);
        }
      }
      if (!c.opts.allowUnix) for (const [call, args, ans] of CHECKS) check(AUDIT_ARCH_X86_64, NR[call], args, ans);
      for (const [call, no, yes] of PIDS[c.pids]) {
        check(AUDIT_ARCH_X86_64, NR[call], no, 'EPERM');
        check(AUDIT_ARCH_X86_64, NR[call], yes, 'allow');
      }
      // Every number up to past the highest rule, plain and with junk arguments.
      const next = lcg(0x5eed + optimize);
      const pool = valuePool(mine, next);
      const pick = () => pool[next() % pool.length]!;
      const top = Math.max(...mine.rules.map((r) => r.nr)) + 16;
      for (let nr = 0; nr <= top; nr++) {
        check(AUDIT_ARCH_X86_64, nr, []);
        for (let i = 0; i < 3; i++) check(AUDIT_ARCH_X86_64, nr, [pick(), pick(), pick(), pick(), pick(), pick()]);
      }
      // The rules that read arguments, hard.
      for (const r of mine.rules.filter((x) => x.kind !== 'always')) {
        for (let i = 0; i < 1500; i++) check(AUDIT_ARCH_X86_64, r.nr, [pick(), pick(), pick(), pick(), pick(), pick()]);
      }
      // Other ABIs: i386 (int 0x80), x32 numbers, an architecture nobody uses here.
      for (let nr = 0; nr <= top; nr += 7) {
        check(AUDIT_ARCH_I386, nr, [pick()]);
        check(AUDIT_ARCH_X86_64, X32_BIT | nr, [pick()]);
        check(0xc00000b7, nr, []); // aarch64
      }
      check(AUDIT_ARCH_I386, 102, [1n, 0x1000n]); // socketcall(SYS_SOCKET)
      check(AUDIT_ARCH_I386, 359, [2n, 1n]); // i386 socket
      expect(diff.slice(0, 20)).toEqual([]);
    }
  }, 120_000);
});

/** One line per call for sysprobe, and the pinned answer (through its lens: allowed -> ENOSYS). */
interface ProbeCall { line: string; label: string; want: string }

function probeCalls(pids: 'namespace' | 'self', withI386: boolean): ProbeCall[] {
  const calls: ProbeCall[] = [];
  const lens = (a: Answer) => (a === 'allow' ? 'ENOSYS' : a);
  const add = (abi: string, nr: number, args: bigint[], want: string, label: string) => {
    const a = [...args, 0n, 0n, 0n, 0n, 0n].slice(0, 5).map((v) => `0x${v.toString(16)}`);
    calls.push({ line: `${abi} ${nr} ${a.join(' ')}`, label, want });
  };
  for (const [call, ans] of ALWAYS) {
    for (const args of [[], [HI | 1n, 0xffffffffffffffffn]]) add('64', NR[call], args, lens(ans), `${call}(${args.join(', ')})`);
  }
  for (const [call, args, ans] of CHECKS) add('64', NR[call], args, lens(ans), `${call}(${args.join(', ')})`);
  for (const [call, no, yes] of PIDS[pids]) {
    add('64', NR[call], no, 'EPERM', `${call}(${no.join(', ')})`);
    add('64', NR[call], yes, 'ENOSYS', `${call}(${yes.join(', ')})`);
  }
  for (const nr of [0, 39, 41, 42]) add('x32', nr, [2n, 1n], 'refused', `x32 ${nr}`);
  if (withI386) for (const nr of [20, 102, 359]) add('i386', nr, [0n, 2n, 1n], 'refused', `i386 ${nr}`);
  return calls;
}

function answers(stdout: string): string[] {
  return [...stdout.matchAll(/^ANSWER (.*)$/gm)].map((m) => m[1]!);
}

describe('the loaded profile in the kernel, next to worm-run', () => {
  for (const c of [CONFIGS[0]!, CONFIGS[3]!]) {
    itWith([libseccompPython()], `${c.name}: the same answers for the pinned deny set (junk in upper halves, x32, i386)`, async () => {
      const probe = buildC('sysprobe');
      const { profile } = await exported('oci', c.args);
      const file = save(`kernel-${c.name.replace(/\W+/g, '_')}.json`, profile);
      const calls = probeCalls(c.pids, int80().ok);
      const input = `${calls.map((x) => x.line).join('\n')}\n`;
      const bare = await runProgram(probe, [], { input });
      const loaded = await runProgram(SECCOMP_PYTHON, [LOADER, file, '--', probe], { input });
      // worm-run: pids as the profile says (its own PID namespace, or none).
      const jailed = await worm([...(c.pids === 'self' ? ['--namespaces', 'off'] : []), '--', probe], { input });
      const [b, l, w] = [answers(bare.stdout), answers(loaded.stdout), answers(jailed.stdout)];
      expect(b, bare.stderr).toHaveLength(calls.length);
      expect(l, loaded.stderr).toHaveLength(calls.length);
      expect(w, jailed.stderr).toHaveLength(calls.length);
      const unknown = [...loaded.stderr.matchAll(/^load-profile: unknown syscall (\S+)$/gm)].map((m) => m[1]!);
      const rows: string[] = [];
      calls.forEach((x, i) => {
        // The lens itself: without a filter every call comes back ENOSYS, none runs.
        if (b[i] !== 'ENOSYS' && !(x.line.startsWith('i386') && b[i] === 'unsupported')) rows.push(`${x.label}: bare ${b[i]}`);
        if (x.want === 'refused') {
          // Another ABI: worm-run EPERM; libseccomp's bad-architecture action kills (SIGSYS).
          if (w[i] !== 'EPERM' || l[i] !== 'signal 31') rows.push(`${x.label}: worm-run ${w[i]}, profile ${l[i]}`);
          return;
        }
        if (w[i] !== x.want) rows.push(`${x.label}: worm-run ${w[i]}, pinned ${x.want}`);
        const skipped = unknown.some((n) => x.label.startsWith(`${n}(`));
        if (skipped ? l[i] !== 'ENOSYS' : l[i] !== x.want) rows.push(`${x.label}: profile ${l[i]}, pinned ${x.want}${skipped ? ' (skipped name)' : ''}`);
      });
      expect(rows).toEqual([]);
    }, 120_000);
  }
});

describe('the public conformance set under the loaded profile (libseccomp, as runc and crun load it)', () => {
  const conf = conformanceDir();
  itWith([libseccompPython(), conf], 'every attack refused, every benign program works', async () => {
    const { profile } = await exported('docker');
    const file = save('conformance-profile.json', profile);
    const r = await runProgram(join(conf.dir, 'run.sh'), [SECCOMP_PYTHON, LOADER, file, '--'], { timeoutMs: 300_000 });
    const { verdicts, summary } = conformanceResults(r.stdout);
    const bad = [...verdicts].filter(([, v]) => v !== 'PASS blocked' && v !== 'OK works');
    expect(bad, r.stdout + r.stderr).toEqual([]);
    expect([...verdicts.values()].filter((v) => v === 'PASS blocked').length).toBeGreaterThanOrEqual(12);
    expect([...verdicts.values()].filter((v) => v === 'OK works').length).toBeGreaterThanOrEqual(12);
    expect(summary).toMatch(/^\d+ passed, 0 failed$/);
    expect(r.code).toBe(0);
  }, 320_000);
});
