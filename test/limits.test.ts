/**
 * Issue 4: every limit tripped by a real program, and a program just under each limit that
 * runs to completion with no verdict. Budgets are a second or two.
 */
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { constants } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { STACK_FRAME, auditLines, runProgram, tempDir, worm } from './helpers/run.js';
import { buildC } from './helpers/cc.js';
import { nodeMemoryFloor } from '../src/limits.js';
import { startsUnder } from '../scripts/node-memory-floor.js';

const PY = '/usr/bin/python3';
const dir = tempDir('worm-run-limits-');

function audit(path: string) {
  const lines = auditLines(readFileSync(path, 'utf8'));
  return {
    lines,
    limit: lines.find((l) => l.event === 'limit'),
    exit: lines.find((l) => l.event === 'exit'),
  };
}

/** What a shell sees: worm-run re-raises the target's fatal signal, so this is 128+N then. */
function status(r: { code: number | null; signal: NodeJS.Signals | null }): number | null {
  return r.code ?? (r.signal ? 128 + constants.signals[r.signal] : null);
}

let n = 0;
const logPath = () => join(dir, `audit-${n++}.jsonl`);

describe('cpu', () => {
  it('stops a busy loop with SIGXCPU at the budget and says so', async () => {
    const log = logPath();
    const r = await worm(['--cpu', '1', '--audit-log', log, '--', PY, '-c', 'while True: pass']);
    expect(r.signal).toBe('SIGXCPU');
    expect(status(r)).toBe(152);
    expect(r.stderr).toMatch(/^worm-run: stopped \/usr\/bin\/python3: CPU limit of 1 s reached \(used [01]\.\d s\)$/m);
    const a = audit(log);
    expect(a.limit).toMatchObject({ event: 'limit', limit: 'cpu', budget: '1 s' });
    expect(a.exit).toMatchObject({ signal: 'SIGXCPU', status: 152, limit: 'cpu' });
  });

  it('kills a loop that ignores SIGXCPU at the hard limit, one second later', async () => {
    const log = logPath();
    const code = 'import signal\nsignal.signal(signal.SIGXCPU, signal.SIG_IGN)\nwhile True: pass';
    const r = await worm(['--cpu', '1s', '--audit-log', log, '--', PY, '-c', code]);
    expect(r.signal).toBe('SIGKILL');
    expect(r.stderr).toMatch(/CPU limit of 1 s reached \(used [12]\.\d s\)/);
    expect(audit(log).exit).toMatchObject({ signal: 'SIGKILL', limit: 'cpu' });
  });

  it('reports nothing for a program that stays under its budget', async () => {
    const log = logPath();
    const r = await worm(['--cpu', '3', '--audit-log', log, '--', PY, '-c', 'sum(range(3_000_000)); print("done")']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('done\n');
    expect(r.stderr).toBe('');
    const a = audit(log);
    expect(a.limit).toBeUndefined();
    expect(a.exit).toMatchObject({ code: 0, limit: null });
  });
});

describe('no verdict without evidence', () => {
  it('an exit status of 152 is not a CPU verdict when the CPU was not used', async () => {
    const log = logPath();
    const r = await worm(['--cpu', '5', '--audit-log', log, '--', 'sh', '-c', 'exit 152']);
    expect(r.code).toBe(152);
    expect(r.stderr).toBe('');
    expect(audit(log).limit).toBeUndefined();
    expect(audit(log).exit).toMatchObject({ status: 152, limit: null });
  });

  it('a Node script that fails for its own reasons under a small memory cap is not a memory verdict', async () => {
    const log = logPath();
    const script = join(dir, 'throws.js');
    writeFileSync(script, 'throw new Error("not about memory");\n');
    const r = await worm(['--memory', '64M', '--audit-log', log, script]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('not about memory');
    expect(r.stderr).not.toContain('worm-run: stopped');
    expect(audit(log).exit).toMatchObject({ limit: null });
  });
});

describe('memory', () => {
  it("a cap below what this Node needs to start is refused for a Node target (the table is this Node's measured floor)", async () => {
    const floor = nodeMemoryFloor() / 1048576;
    // The table is right for the Node running the tests: it starts at the floor, not a tenth below.
    expect(startsUnder(process.execPath, floor)).toBe(true);
    expect(startsUnder(process.execPath, Math.floor(floor * 0.9))).toBe(false);
    const script = join(dir, 'hello-floor.js');
    writeFileSync(script, 'console.log("ran")\n');
    const small = await worm(['--memory', '32M', script]);
    expect(small.code).toBe(125);
    expect(small.stdout).toBe('');
    expect(small.stderr).toBe(`worm-run: --memory 32M is too small for a Node target: Node ${process.version} needs ${floor}M to start (its reservations count against the cap); give it at least ${floor}M, or more for the script's own data\n`);
    const inProcess = await worm(['--in-process', '--memory', '32M', script]);
    expect(inProcess.code).toBe(125);
    // At the floor it runs; a binary target is not held to a Node's floor.
    expect(await worm(['--memory', `${floor}M`, script])).toMatchObject({ code: 0, stdout: 'ran\n' });
    expect((await worm(['--memory', '32M', '--', 'sh', '-c', 'echo small'])).stdout).toBe('small\n');
  });

  it('a Python program that allocates past the cap gets MemoryError; exiting 1 near the cap is a note, not a verdict', async () => {
    const log = logPath();
    const code = 'a = []\nwhile True: a.append(bytearray(8 * 1024 * 1024))';
    const r = await worm(['--memory', '128M', '--audit-log', log, '--', PY, '-c', code]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('MemoryError');
    // An exit status is not evidence that the limit fired (any program may exit 1 near its
    // cap): no verdict, but a line that says the cap may be why.
    expect(r.stderr).not.toMatch(/^worm-run: stopped/m);
    expect(r.stderr).toMatch(/^worm-run: \S*python3\S* exited 1 with peak resident \d+ MiB of a memory cap of 128M: the cap may be why$/m);
    expect(audit(log).exit).toMatchObject({ limit: null, note: expect.stringContaining('the cap may be why') });
  });

  it('a program that chooses to exit 1 well below its cap gets neither verdict nor note', async () => {
    const log = logPath();
    const r = await worm(['--memory', '100M', '--audit-log', log, '--', PY, '-c', 'a = bytearray(40 * 1024 * 1024)\nimport sys; sys.exit(1)']);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('');
    expect(audit(log).exit).toMatchObject({ limit: null });
    expect(audit(log).exit).not.toHaveProperty('note');
  });

  it("turns a Node heap that outgrows the cap into Node's heap-out-of-memory error", async () => {
    const log = logPath();
    const script = join(dir, 'grow.js');
    writeFileSync(script, 'const a = []; for (;;) a.push(new Array(1e5).fill(Math.random()));\n');
    const r = await worm(['--memory', '192M', '--audit-log', log, script], { timeoutMs: 60_000 });
    expect(r.stderr).toMatch(/heap out of memory|Reached heap limit/i);
    expect(r.stderr).toMatch(/worm-run: stopped .*grow\.js: memory limit of 192M reached/);
    expect(audit(log).exit).toMatchObject({ limit: 'memory' });
    // The V8 heap was sized to the cap through NODE_OPTIONS.
    expect(audit(log).lines[0]).toMatchObject({ event: 'start' });
  });

  it('lets a program under the cap run, and counts only what it allocates', async () => {
    const log = logPath();
    const code = 'b = bytearray(48 * 1024 * 1024); print(len(b))';
    const r = await worm(['--memory', '128M', '--audit-log', log, '--', PY, '-c', code]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`${48 * 1024 * 1024}\n`);
    expect(audit(log).exit).toMatchObject({ limit: null });
  });

  it('starts Node under a small cap (RLIMIT_DATA, not a naive RLIMIT_AS)', async () => {
    const r = await worm(['--memory', '64M', '--', process.execPath, '-e', 'console.log("node started")']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('node started\n');
  });

  it('--address-space sets the raw RLIMIT_AS', async () => {
    const r = await worm(['--address-space', '3G', '--', 'sh', '-c', 'cat /proc/self/limits']);
    expect(r.stdout).toMatch(/^Max address space\s+3221225472\s+3221225472\s+bytes/m);
  });
});

describe('timeout', () => {
  it('stops a sleeping program at the wall clock with status 124', async () => {
    const log = logPath();
    const t0 = Date.now();
    const r = await worm(['--timeout', '1', '--audit-log', log, '--', 'sleep', '30']);
    expect(r.code).toBe(124);
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(r.stderr).toMatch(/^worm-run: stopped sleep: wall-clock limit of 1 s reached$/m);
    const a = audit(log);
    expect(a.limit).toMatchObject({ limit: 'timeout', budget: '1 s' });
    expect(a.exit).toMatchObject({ status: 124, limit: 'timeout', signal: 'SIGTERM' });
  });

  it('escalates to SIGKILL after --kill-after for a target that ignores SIGTERM, whole tree included', async () => {
    const marker = join(dir, 'grandchild-survived');
    const script = `trap '' TERM; (trap '' TERM; sleep 3; touch ${marker}) & sleep 30`;
    const t0 = Date.now();
    const r = await worm(['--timeout', '500ms', '--kill-after', '500ms', '--', 'sh', '-c', script]);
    expect(r.code).toBe(124);
    expect(Date.now() - t0).toBeLessThan(8_000);
    await new Promise((res) => setTimeout(res, 3500));
    expect(existsSync(marker)).toBe(false);
  });

  it('the grace before SIGKILL is the one asked for, by --kill-after and by the policy file, not the default 2 s', async () => {
    // Every process of the target ignores SIGTERM, so only the SIGKILL after the grace ends the
    // run: timeout 200 ms + grace 200 ms. With the default grace the run would last 2.2 s.
    const script = "trap '' TERM; sleep 30";
    const policy = join(dir, 'kill-after.json');
    writeFileSync(policy, JSON.stringify({ limits: { timeout: '200ms', killAfter: '200ms' } }));
    const runs = [
      ['--timeout', '200ms', '--kill-after', '200ms'],
      ['--config', policy],
    ].map(async (args) => {
      const log = logPath();
      const r = await worm([...args, '--audit-log', log, '--', 'sh', '-c', script]);
      return { args, r, exit: audit(log).exit! };
    });
    for (const { args, r, exit } of await Promise.all(runs)) {
      expect(r.code, args.join(' ')).toBe(124);
      expect(exit, args.join(' ')).toMatchObject({ limit: 'timeout', signal: 'SIGKILL' });
      expect(exit.wallMs as number, args.join(' ')).toBeGreaterThanOrEqual(400);
      expect(exit.wallMs as number, args.join(' ')).toBeLessThan(1700);
    }
  });

  it("a target that exits just before the deadline keeps its own status while the run's end crosses it", async () => {
    // The child's 1.5 GiB takes the kernel a while to free once init kills it: before the fix,
    // the clock fired during that and the run said 124 with the target's code 0.
    const lateExit = buildC('late_exit');
    const log = logPath();
    const r = await worm(['--timeout', '1s', '--audit-log', log, '--', lateExit, '1536', '960']);
    const exit = auditLines(readFileSync(log, 'utf8')).find((l) => l.event === 'exit');
    expect(r.code, r.stderr).toBe(0);
    expect(exit).toMatchObject({ code: 0, signal: null, status: 0, limit: null });
  });

  it('reports nothing for a program that finishes in time', async () => {
    const log = logPath();
    const r = await worm(['--timeout', '10s', '--audit-log', log, '--', 'sleep', '0.2']);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(audit(log).limit).toBeUndefined();
  });
});

describe('processes, files, file size, core', () => {
  const forks = 'import os, time\nn = 0\nfor i in range(20):\n  try:\n    pid = os.fork()\n  except OSError as e:\n    print("fork refused", e.errno); break\n  if pid == 0:\n    time.sleep(1); os._exit(0)\n  n += 1\nprint("forked", n, "as uid", os.getuid())';

  // RLIMIT_NPROC counts every process of the target's uid on the machine: a uid of its own
  // (no account needed with --group) keeps other tests' processes of nobody out of the count.
  const ownUid = (): string => String(40_000 + Math.floor(Math.random() * 20_000));

  it('--max-procs bounds a fork loop when the target runs as an unprivileged user', async () => {
    const uid = ownUid();
    const r = await worm(['--user', uid, '--group', uid, '--max-procs', '5', '--', PY, '-c', forks], { cwd: tempDir() });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^fork refused 11$/m);
    expect(r.stdout).toMatch(new RegExp(`^forked 4 as uid ${uid}$`, 'm'));
  });

  it('a fork loop under a generous --max-procs completes', async () => {
    const uid = ownUid();
    const r = await worm(['--user', uid, '--group', uid, '--max-procs', '64', '--', PY, '-c', forks], { cwd: tempDir() });
    expect(r.stdout).toMatch(new RegExp(`^forked 20 as uid ${uid}$`, 'm'));
  });

  it('--max-procs with nobody, as users write it', async () => {
    const r = await worm(['--user', 'nobody', '--max-procs', '64', '--', PY, '-c', forks], { cwd: tempDir() });
    expect(r.stdout).toMatch(/^forked 20 as uid 65534$/m);
  });

  it('refuses --max-procs for a root target instead of pretending it holds', async () => {
    const r = await worm(['--max-procs', '5', '--', 'true']);
    expect(r.code).toBe(125);
    expect(r.stderr).toBe('worm-run: --max-procs does not hold for root (the kernel does not enforce RLIMIT_NPROC for it); add --user <name> to run the target as an unprivileged user\n');
  });

  it('--max-files makes opening past the limit fail with EMFILE', async () => {
    const code = 'fs = []\ntry:\n  while True: fs.append(open("/dev/null"))\nexcept OSError as e:\n  print("stopped at", len(fs), e.errno)';
    const r = await worm(['--max-files', '32', '--', PY, '-c', code]);
    expect(r.code).toBe(0);
    const m = /^stopped at (\d+) 24$/m.exec(r.stdout);
    expect(m).not.toBeNull();
    expect(Number(m![1])).toBeLessThan(32);
  });

  it('--max-file-size stops a writer with SIGXFSZ and a verdict; a smaller file is fine', async () => {
    const log = logPath();
    const big = join(dir, 'big.bin');
    // dd itself is the target (Python would ignore SIGXFSZ and raise OSError instead).
    const r = await worm(['--max-file-size', '1M', '--write', dir, '--audit-log', log, '--', 'dd', 'if=/dev/zero', `of=${big}`, 'bs=1M', 'count=5']);
    expect(status(r)).toBe(128 + 25);
    expect(r.stderr).toMatch(/^worm-run: stopped \S+: file size limit of 1M reached$/m);
    expect(statSync(big).size).toBe(1024 * 1024);
    expect(audit(log).exit).toMatchObject({ limit: 'max-file-size', signal: 'SIGXFSZ' });
    const small = join(dir, 'small.bin');
    const ok = await worm(['--max-file-size', '1M', '--write', dir, '--', 'sh', '-c', `head -c 500000 /dev/zero > ${small}`]);
    expect(ok.code).toBe(0);
    expect(statSync(small).size).toBe(500000);
  });

  it('an exit status of 153 is not a file-size verdict: the limit is named, not claimed', async () => {
    const log = logPath();
    // A shell whose child hit the limit exits 153, and so does one that merely says so: only
    // a SIGXFSZ that killed the target itself is evidence.
    const big = join(dir, 'big-sh.bin');
    const viaShell = await worm(['--max-file-size', '1M', '--write', dir, '--audit-log', log, '--', 'sh', '-c', `head -c 5000000 /dev/zero > ${big}`]);
    expect(status(viaShell)).toBe(153);
    expect(viaShell.stderr).not.toMatch(/^worm-run: stopped/m);
    expect(viaShell.stderr).toMatch(/^worm-run: sh exited 153 \(128\+SIGXFSZ\) under a file size limit of 1M: a program it ran may have hit the limit$/m);
    expect(audit(log).exit).toMatchObject({ limit: null });
    const claims = await worm(['--max-file-size', '1G', '--', 'sh', '-c', 'exit 153']);
    expect(claims.code).toBe(153);
    expect(claims.stderr).toMatch(/a program it ran may have hit the limit/);
    expect(claims.stderr).not.toMatch(/^worm-run: stopped/m);
  });

  it('turns core dumps off by default and on with --core', async () => {
    const off = await worm(['--', 'cat', '/proc/self/limits']);
    expect(off.stdout).toMatch(/^Max core file size\s+0\s+0\s+bytes/m);
    const on = await worm(['--core', '--', 'cat', '/proc/self/limits']);
    expect(on.stdout).not.toMatch(/^Max core file size\s+0\s+0\s+bytes/m);
  });

  it('shows every limit in the kernel\'s own view of the target', async () => {
    const r = await worm(['--cpu', '7', '--memory', '300M', '--max-files', '99', '--max-file-size', '2M', '--', 'cat', '/proc/self/limits']);
    expect(r.stdout).toMatch(/^Max cpu time\s+7\s+8\s+seconds/m);
    expect(r.stdout).toMatch(/^Max data size\s+314572800\s+314572800\s+bytes/m);
    expect(r.stdout).toMatch(/^Max open files\s+99\s+99\s+files/m);
    expect(r.stdout).toMatch(/^Max file size\s+2097152\s+2097152\s+bytes/m);
    // RLIMIT_DATA does not count the main thread's stack: under --memory it has a hard bound too.
    expect(r.stdout).toMatch(/^Max stack size\s+8388608\s+8388608\s+bytes/m);
    const small = await worm(['--memory', '4M', '--', 'cat', '/proc/self/limits']);
    expect(small.stdout).toMatch(/^Max stack size\s+4194304\s+4194304\s+bytes/m);
  });
});

describe('a root target', () => {
  it.runIf(process.getuid?.() === 0)('cannot raise its own hard limits (it runs without CAP_SYS_RESOURCE), nor renice the host', async () => {
    const r = await worm(['--cpu', '2', '--max-files', '64', '--', 'sh', '-c', 'ulimit -t 100 || echo cpu-kept; ulimit -n 4096 || echo files-kept; grep -E "^Cap(Eff|Prm|Bnd):" /proc/self/status']);
    expect(r.stdout).toMatch(/^cpu-kept$/m);
    expect(r.stdout).toMatch(/^files-kept$/m);
    const capEff = BigInt(`0x${/^CapEff:\s+([0-9a-f]+)$/m.exec(r.stdout)![1]}`);
    for (const cap of [21n /* SYS_ADMIN */, 24n /* SYS_RESOURCE */, 23n /* SYS_NICE */, 38n /* PERFMON */, 19n /* SYS_PTRACE */, 27n /* MKNOD */]) {
      expect((capEff >> cap) & 1n, `capability ${cap}`).toBe(0n);
    }
    expect((capEff >> 1n) & 1n).toBe(1n); // DAC_OVERRIDE: root's files stay root's
    // Gone from the permitted and the bounding set too, so nothing the target executes gets them back.
    for (const field of ['CapPrm', 'CapBnd']) {
      const caps = BigInt(`0x${new RegExp(`^${field}:\\s+([0-9a-f]+)$`, 'm').exec(r.stdout)![1]}`);
      for (const cap of [21n, 24n, 23n, 38n, 19n, 27n]) expect((caps >> cap) & 1n, `${field} capability ${cap}`).toBe(0n);
    }
    // Control: the same shell as root without worm-run raises them, where this machine gives
    // root CAP_SYS_RESOURCE at all (a container may not: then the capability bits above are the proof).
    const bare = await runProgram('sh', ['-c', 'ulimit -t 2; ulimit -t 100 && echo raised; grep CapEff /proc/self/status']);
    const bareCaps = BigInt(`0x${/^CapEff:\s+([0-9a-f]+)$/m.exec(bare.stdout)![1]}`);
    if ((bareCaps >> 24n) & 1n) expect(bare.stdout).toMatch(/^raised$/m);
  });
});

describe('bad values', () => {
  const cases: [string[], string][] = [
    [['--memory', '12Q'], 'worm-run: --memory: "12Q" is not a size; use a number with K, M or G (e.g. 512M)'],
    [['--memory', '10'], 'worm-run: --memory: "10" has no unit; write 10M for 10 MiB (or 10B if you really mean bytes)'],
    [['--address-space', '4096'], 'worm-run: --address-space: "4096" has no unit; write 4096M for 4096 MiB (or 4096B if you really mean bytes)'],
    [['--cpu', 'soon'], 'worm-run: --cpu: "soon" is not a duration; use seconds or a unit: 30, 30s, 500ms, 2m, 1h'],
    [['--timeout', '0'], 'worm-run: --timeout: "0" is not a duration greater than zero'],
    [['--timeout', '600h'], 'worm-run: --timeout: "600h" is longer than worm-run can time (at most 596h, about 24 days)'],
    [['--kill-after', '30d'], 'worm-run: --kill-after: "30d" is not a duration; use seconds or a unit: 30, 30s, 500ms, 2m, 1h'],
    [['--max-files', '-3'], 'worm-run: --max-files: "-3" is not a whole number greater than zero'],
    [['--max-file-size', '1.5X'], 'worm-run: --max-file-size: "1.5X" is not a size; use a number with K, M or G (e.g. 512M)'],
    [['--user', 'no-such-user-here'], 'worm-run: --user: no user named "no-such-user-here" in /etc/passwd; give a name or a numeric uid'],
    [['--group', 'nogroup'], 'worm-run: --group needs --user'],
  ];
  for (const [args, message] of cases) {
    it(`${args.join(' ')} -> 125 with a clear message`, async () => {
      const r = await worm([...args, '--', 'true']);
      expect(r.code).toBe(125);
      expect(r.stderr).toBe(`${message}\n`);
      expect(r.stderr).not.toMatch(STACK_FRAME);
    });
  }
});

describe('--print-policy shows each limit, what it counts and its mechanism', () => {
  it('lists the limits', async () => {
    const r = await worm(['--cpu', '30', '--memory', '512M', '--timeout', '1m', '--max-file-size', '10M', '--print-policy']);
    expect(r.code).toBe(0);
    const limits = (JSON.parse(r.stdout) as { policy: { limits: { limit: string; value: string; mechanism: string; counts: string }[] } }).policy.limits;
    expect(limits.map((l) => l.limit)).toEqual(['cpu', 'memory', 'timeout', 'max-file-size', 'core']);
    expect(limits[1]).toMatchObject({ value: '512M' });
    expect(limits[1]!.mechanism).toContain('RLIMIT_DATA');
    expect(limits[1]!.counts).toContain('private writable');
    expect(limits[2]!.mechanism).toContain('SIGTERM');
  });
});
