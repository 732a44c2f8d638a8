/**
 * Issue 14, part 1: worm-run inside a container, as an unprivileged user. No container runtime
 * here (runc and crun need cgroup hierarchies that belong to the host), so
 * test/fixtures/containerlike.c sets up what a pod's process gets: no capabilities (bounding
 * set too), an unprivileged user, no_new_privs, and an outer seccomp filter like Docker's default
 * profile (unshare, clone with namespace flags, setns, mount, keyctl, bpf, ptrace,
 * perf_event_open, io_uring ... refused); with --agent that filter hands its refusals to a
 * user-notification listener of the helper's own, so worm-run cannot have one (EBUSY).
 *
 * worm-run must keep every protection it promises there, and degrade only as documented: no
 * namespaces (a child subreaper and a pid filter instead), refusals not recorded when the
 * kernel gives no listener (plain EPERM, said in the start record), and say so in `doctor`.
 * The filter and guard suites run through the helper too (WORM_TEST_WRAPPER), and so does the
 * public conformance set; and filter.test.ts runs on a simulated kernel without 32-bit system
 * calls (every i386 call killed), where the tests that need int $0x80 skip, saying why.
 */
import { chmodSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildC } from './helpers/cc.js';
import { conformanceDir, conformanceResults } from './helpers/conformance.js';
import { itWith, nobodyCanRunWormRun, type Feature } from './helpers/kernel.js';
import { startRecorder } from './helpers/recorder.js';
import { BIN, ROOT, WRAPPER, auditLines, pidsWithArgs, runProgram, steps, tempDir, testEnv, type Outcome } from './helpers/run.js';

let CL = '';
let ATTACK = '';
let job = '';
beforeAll(() => {
  CL = buildC('containerlike');
  ATTACK = buildC('attack');
  // The job's own directory, as a pod's working directory: worm-run refuses a shared one.
  job = tempDir('worm-run-pod-');
  chmodSync(job, 0o777);
});

/**
 * The pod's user: an arbitrary uid without a passwd entry, as pods often get (not nobody's own:
 * tests that count nobody's processes, --max-procs, run at the same time); or, when such a user
 * cannot read this checkout (one under /root), uid 0 without a single capability.
 */
const asNobody = nobodyCanRunWormRun();
const POD_UID = asNobody.ok ? 64123 : 0;
const POD = asNobody.ok ? ['--user', `${POD_UID}:${POD_UID}`] : ['--stay-root'];
const WHO = asNobody.ok ? `uid ${POD_UID}` : `uid 0 (${asNobody.reason})`;
/** Not when this file itself runs through a wrapper (no nesting of helpers). */
const notWrapped: Feature = { ok: WRAPPER.length === 0, reason: 'the suite already runs through WORM_TEST_WRAPPER' };

/** `containerlike [opts] -- COMMAND...` in the job directory. */
function inPod(opts: string[], command: string[], extra: { input?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<Outcome> {
  return runProgram(CL, [...POD, ...opts, '--', ...command], { cwd: job, ...extra });
}

function wormInPod(opts: string[], args: string[], extra: { input?: string; timeoutMs?: number } = {}): Promise<Outcome> {
  return inPod(opts, [process.execPath, BIN, ...args], extra);
}

interface Start {
  protections: {
    seccomp: { installed: boolean; filters: number; refusalsRecorded: boolean; notRecordedBecause?: string };
    noNewPrivs: boolean;
    landlock: unknown;
    namespaces: { pid: boolean; mount: boolean; user: boolean };
    containment: string;
    otherProcesses: string;
    identity: { uid: number };
    capabilities: string;
    supervisorFiltered: boolean;
  };
  notes?: string[];
}

describe('the container-like helper', () => {
  itWith([], `is what a pod gets: ${WHO}, no capabilities at all, no_new_privs, a filter that refuses unshare and namespaced clone`, async () => {
    const r = await inPod([], ['sh', '-c', 'id -u; grep -E "^(Cap(Inh|Prm|Eff|Bnd|Amb)|NoNewPrivs|Seccomp):" /proc/self/status; unshare -U true 2>/dev/null; echo "unshare $?"']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^${POD_UID}$`, 'm'));
    for (const cap of ['CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb']) expect(r.stdout).toMatch(new RegExp(`^${cap}:\\s+0+$`, 'm'));
    expect(r.stdout).toMatch(/^NoNewPrivs:\s+1$/m);
    expect(r.stdout).toMatch(/^Seccomp:\s+2$/m);
    expect(r.stdout).toMatch(/^unshare 1$/m);
    // The control: the same without the helper.
    const bare = await runProgram('sh', ['-c', 'unshare -U true; echo "unshare $?"']);
    expect(bare.stdout).toBe('unshare 0\n');
  });
});

describe('worm-run inside the container-like helper', () => {
  itWith([], 'keeps every protection: its filter stacked on the outer one, Landlock, recorded refusals; no namespaces, as documented', async () => {
    const rec = await startRecorder();
    try {
      const r = await wormInPod([], ['--audit-log', '-', '--', ATTACK, 'tcp', String(rec.port), 'POD-TOKEN']);
      expect(steps(r.stdout)).toEqual({ socket: 'EPERM' });
      expect(r.code).toBe(1);
      expect(await rec.settle(250)).toEqual([]);
      const records = auditLines(r.stderr);
      const start = records.find((x) => x.event === 'start') as unknown as Start;
      const p = start.protections;
      expect(p.seccomp).toMatchObject({ installed: true, refusalsRecorded: true });
      expect(p.seccomp.filters).toBeGreaterThanOrEqual(2); // the pod's and worm-run's
      expect(p.noNewPrivs).toBe(true);
      expect(p.landlock).toMatchObject({ abi: expect.any(Number) });
      expect(p.namespaces).toMatchObject({ pid: false, mount: false, user: false });
      expect(p.containment).toMatch(/^child subreaper/);
      expect(p.otherProcesses).toMatch(/may name only the caller/);
      expect(p.identity.uid).toBe(POD_UID);
      expect(p.capabilities).toBe('0x0');
      expect(p.supervisorFiltered).toBe(true);
      expect(start.notes).toEqual([expect.stringMatching(/^no namespaces on this machine: clone\(new namespaces\) failed: Operation not permitted/)]);
      expect(records.filter((x) => x.event === 'blocked' && x.syscall === 'socket')).toHaveLength(1);
    } finally {
      await rec.close();
    }
  });

  itWith([], 'without namespaces: pid-addressed calls name only the caller, processes outside are out of reach, and the run is contained', async () => {
    // The run's init ($PPID of the target shell) is the pod user's, like the target: only
    // worm-run's rules keep the target off it.
    const prlimit = "import resource,sys\ntry:\n  resource.prlimit(int(sys.argv[1]), resource.RLIMIT_NOFILE); print('PRLIMIT ok')\nexcept OSError as e: print('PRLIMIT', e.errno)";
    const reach = `python3 -c "${prlimit}" $PPID; ${ATTACK} pid kill $PPID; ${ATTACK} pid mem $PPID`;
    const marker = `pod-orphan-${process.pid}`;
    const r = await wormInPod([], ['--', 'sh', '-c', [
      reach,
      // A daemonised grandchild must not outlive the run.
      `setsid python3 -c 'import time; time.sleep(60)' ${marker} &`,
      'echo done',
    ].join('\n')]);
    expect(r.stdout).toMatch(/^PRLIMIT 1$/m);
    expect(r.stdout).toMatch(/^STEP kill err EPERM$/m);
    expect(r.stdout).toMatch(/^STEP open-mem-rw err EACCES$/m);
    expect(r.stdout).toMatch(/^done$/m);
    expect(pidsWithArgs(marker)).toEqual([]);
    // Controls, in the pod without worm-run: the same calls on a parent of the same user work.
    const bare = await inPod([], ['sh', '-c', `sh -c '${reach.replace(/'/g, `'"'"'`)}'`]);
    expect(bare.stdout).toMatch(/^PRLIMIT ok$/m);
    expect(bare.stdout).toMatch(/^STEP kill ok/m);
    expect(bare.stdout).toMatch(/^STEP open-mem-rw ok/m);
  });

  itWith([], 'with the pod\'s own notification agent: plain EPERM, and the start record says refusals are not recorded (EBUSY)', async () => {
    const r = await wormInPod(['--agent'], ['--audit-log', '-', '--', ATTACK, 'family', 'inet']);
    expect(steps(r.stdout)).toEqual({ socket: 'EPERM' });
    const records = auditLines(r.stderr);
    const start = records.find((x) => x.event === 'start') as unknown as Start;
    expect(start.protections.seccomp).toMatchObject({
      installed: true, refusalsRecorded: false,
      notRecordedBecause: expect.stringMatching(/^the kernel gave no user-notification listener \(EBUSY: a seccomp filter of an ancestor/),
    });
    expect(start.notes).toContainEqual(expect.stringMatching(/^refusals of the kernel filter are not recorded: .*EBUSY/));
    expect(records.filter((x) => x.event === 'blocked')).toEqual([]);
    // The agent answered the pod's own refusals (worm-run's namespaced clone among them).
    expect(r.stderr).toMatch(/^containerlike: agent answered \d+ calls:.* clone x\d+/m);
    expect(records.find((x) => x.event === 'exit')).toMatchObject({ status: 1 });
  });

  for (const variant of [[], ['--agent']]) {
    const agent = variant.length > 0;
    itWith([], `doctor${agent ? ' with the pod\'s agent' : ''}: protected, and truthful about what holds here`, async () => {
      const r = await wormInPod(variant, ['doctor', '--json']);
      const report = JSON.parse(r.stdout) as { protected: boolean; checks: { name: string; status: string; detail: string }[] };
      const check = (name: string) => report.checks.find((c) => c.name === name);
      expect(report.protected, r.stdout).toBe(true);
      expect(r.code).toBe(0);
      expect(check('landlock')?.status).toBe('ok');
      expect(check('namespaces')).toMatchObject({ status: 'info', detail: expect.stringMatching(/^none here \(clone\(new namespaces\) failed: Operation not permitted.*child subreaper/) });
      expect(check('live probe')?.status).toBe('ok');
      if (agent) {
        expect(check('refusals recorded')).toMatchObject({ status: 'warn', detail: expect.stringMatching(/^no: the kernel gave no user-notification listener \(EBUSY/) });
      } else {
        expect(check('refusals recorded')).toMatchObject({ status: 'ok' });
        // The pod refuses io_uring itself (EPERM, as Docker 25+ does) and answers first.
        expect(check('live probe')?.detail).toMatch(/ioUring: errno 1: answered first by a seccomp filter outside worm-run's/);
      }
      if (POD_UID !== 0) expect(check('identity')).toBeUndefined(); // not root here
    });
  }
});

describe('the public conformance set inside the container-like helper', () => {
  const conf = conformanceDir();
  for (const variant of [[], ['--agent']]) {
    itWith([conf], `every attack refused, every benign program works${variant.length ? ' (the pod\'s agent holds the listener)' : ''}`, async () => {
      const r = await runProgram(join(conf.dir, 'run.sh'), [CL, ...POD, ...variant, '--', process.execPath, BIN], { timeoutMs: 300_000 });
      const { verdicts, summary } = conformanceResults(r.stdout);
      const bad = [...verdicts].filter(([, v]) => v !== 'PASS blocked' && v !== 'OK works');
      expect(bad, r.stdout + r.stderr).toEqual([]);
      expect([...verdicts.values()].filter((v) => v === 'PASS blocked').length).toBeGreaterThanOrEqual(12);
      expect([...verdicts.values()].filter((v) => v === 'OK works').length).toBeGreaterThanOrEqual(12);
      expect(summary).toMatch(/^\d+ passed, 0 failed$/);
      expect(r.code).toBe(0);
    }, 320_000);
  }
});

/** `vitest run FILES` in a process of its own, one worker, with extra environment. */
async function vitest(prefix: string[], files: string[], env: Record<string, string>): Promise<Outcome> {
  const argv = [...prefix, process.execPath, join(ROOT, 'node_modules/vitest/vitest.mjs'), 'run', '--maxWorkers=1', '--reporter=verbose', ...files];
  return runProgram(argv[0]!, argv.slice(1), { cwd: ROOT, env: testEnv(env), timeoutMs: 600_000 });
}

function summary(out: Outcome): string {
  // vitest colours its report; the counts are what matters.
  const plain = out.stdout.replace(/\x1b\[[0-9;]*m/g, '');
  return plain.split('\n').filter((l) => /Test Files|Tests |skipped:|×|FAIL/.test(l)).join('\n');
}

describe('the suites through the helper', () => {
  itWith([notWrapped], 'test/filter.test.ts and test/guard pass with every worm-run started inside the container-like helper (WORM_TEST_WRAPPER)', async () => {
    const refused = (await runProgram(CL, ['--list-refused'])).stdout.trim();
    const out = await vitest([], ['test/filter.test.ts', 'test/guard'], { WORM_TEST_WRAPPER: [CL, ...POD, '--'].join(' '), WORM_TEST_OUTER_REFUSES: refused });
    const plain = summary(out);
    expect(out.code, `${plain}\n${out.stdout.slice(-4000)}`).toBe(0);
    expect(plain).toMatch(/Test Files\s+\d+ passed \(\d+\)/);
    expect(plain).not.toMatch(/\d+ failed/);
    // What the pod takes away is skipped by name: namespaces, io_uring.
    expect(plain).not.toMatch(/×/);
  }, 600_000);

  itWith([notWrapped], 'test/filter.test.ts passes on a kernel without 32-bit system calls (every i386 call kills); the int $0x80 tests skip, saying why', async () => {
    const out = await vitest([CL, '--stay-root', '--keep-caps', '--no-outer', '--no-i386', '--'], ['test/filter.test.ts'], {});
    const plain = out.stdout.replace(/\x1b\[[0-9;]*m/g, '');
    expect(out.code, `${summary(out)}\n${plain.slice(-4000)}`).toBe(0);
    expect(plain).toMatch(/int \$0x80: .*\[skipped: int \$0x80 does not work on this kernel without worm-run \(killed by SIGSYS\)\]/);
    expect(plain).toMatch(/static i386 program .*\[skipped: this kernel does not run i386 programs without worm-run \(killed by SIGSYS\)\]/);
    expect(plain).toMatch(/Test Files\s+1 passed/);
  }, 600_000);
});
