/**
 * Issue 6, part 3: the library API. `run()` goes through the same supervisor as the CLI and
 * resolves to one result shape; it never filters the process that calls it.
 */
import { createConnection } from 'node:net';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../dist/index.js';
import { startRecorder, type Recorder } from './helpers/recorder.js';
import { auditLines, tempDir, testEnv } from './helpers/run.js';

let rec: Recorder;
beforeAll(async () => {
  rec = await startRecorder();
});
afterAll(async () => {
  await rec.close();
});

const env = testEnv();
const dir = tempDir('worm-run-api-');

describe('run()', () => {
  it('a clean run: exit code, output, resource usage, no refusals', async () => {
    const r = await run(['sh', '-c', 'read x; echo "got $x"; echo to-stderr >&2; exit 3'], { input: 'hello\n', env });
    expect(r).toMatchObject({ exitCode: 3, signal: null, status: 3, limit: null, blocked: 0, warnings: 0, records: [], error: null });
    expect(r.stdout).toBe('got hello\n');
    expect(r.stderr).toBe('to-stderr\n');
    expect(r.pid).toBeGreaterThan(0);
    expect(r.runId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(r.rusage).toMatchObject({ maxRssKb: expect.any(Number), userMs: expect.any(Number) });
    expect(r.wallMs).toBeGreaterThanOrEqual(0);
  });

  it('a refused connection: the target fails, nothing arrives, and the caller itself is not filtered', async () => {
    rec.reset();
    const r = await run(['curl', '-sS', '--noproxy', '*', `http://127.0.0.1:${rec.port}/api-test`], { env });
    expect(r.exitCode).toBe(7);
    expect(r.stderr).toMatch(/Couldn't connect|Failed to connect/);
    expect(await rec.settle()).toEqual([]);
    // The calling process keeps its network: the API only adds a child.
    await new Promise<void>((resolve, reject) => {
      const s = createConnection(rec.port, '127.0.0.1', () => { s.end('from-the-host\n'); resolve(); });
      s.on('error', reject);
    });
    expect(await rec.waitFor('from-the-host')).toBe(true);
  });

  it("a Node target's refusals come back as records", async () => {
    rec.reset();
    const script = join(dir, 'connect.js');
    writeFileSync(script, `require('net').connect(${rec.port}, '127.0.0.1').on('error', (e) => { console.log(e.code); });\n`);
    const r = await run([script], { env });
    expect(r.stdout).toBe('ERR_WORM_BLOCKED\n');
    expect(r.blocked).toBe(1);
    expect(r.records[0]).toMatchObject({ event: 'blocked', op: 'net.connect', target: `127.0.0.1:${rec.port}` });
    expect(await rec.settle()).toEqual([]);
  });

  it('a limit hit', async () => {
    const r = await run(['/usr/bin/python3', '-c', 'while True: pass'], { policy: { limits: { cpu: 1 } }, env });
    expect(r.signal).toBe('SIGXCPU');
    expect(r.status).toBe(152);
    expect(r.limit).toMatchObject({ limit: 'cpu', budget: '1 s' });
  });

  it('a wall-clock timeout and an abort signal', async () => {
    const t = await run(['sleep', '20'], { policy: { limits: { timeout: '300ms' } }, env });
    expect(t.status).toBe(124);
    expect(t.limit?.limit).toBe('timeout');
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 300);
    const a = await run(['sleep', '20'], { signal: ac.signal, env });
    expect(a.signal).toBe('SIGKILL');
  });

  it("a run's wall clock holds while the host's event loop is busy: the target ends at its timeout, not when the loop is free", async () => {
    const pending = run(['sleep', '20'], { policy: { limits: { timeout: '300ms' } }, env });
    // A host busy for 2.5 s (other runs starting, a long computation): no timer of its own fires.
    const until = Date.now() + 2500;
    while (Date.now() < until) { /* busy */ }
    const r = await pending;
    expect(r.status).toBe(124);
    expect(r.limit?.limit).toBe('timeout');
    // The target's own wall time: ended at 300 ms (by the monitor thread), not after the 2.5 s.
    expect(r.wallMs).toBeGreaterThanOrEqual(300);
    expect(r.wallMs).toBeLessThan(1500);
  });

  it('a target that cannot start resolves with the status and the error, it does not throw', async () => {
    const r = await run(['definitely-not-a-command-here'], { env });
    expect(r).toMatchObject({ pid: null, status: 127, exitCode: null });
    expect(r.error?.code).toBe('ERR_WORM_NOT_FOUND');
    expect(r.error?.message).toBe('definitely-not-a-command-here: command not found');
  });

  it('rejects a bad policy with the same messages as a policy file', async () => {
    await expect(run(['true'], { policy: { limits: { memory: '12Q' } } as never })).rejects.toThrow(
      'options.policy: limits.memory: "12Q" is not a size; use a number with K, M or G (e.g. 512M)');
    await expect(run([] as string[])).rejects.toMatchObject({ code: 'ERR_WORM_USAGE' });
  });

  it('writes the audit trail when asked, and inherits stdio on request', async () => {
    const log = join(dir, 'api.jsonl');
    const r = await run(['true'], { policy: { audit: { log } }, stdio: 'inherit', env });
    expect(r.stdout).toBeNull();
    const lines = auditLines(readFileSync(log, 'utf8'));
    expect(lines.map((l) => l.event)).toEqual(['start', 'exit']);
    expect(lines.every((l) => l.run === r.runId && l.pid === r.pid)).toBe(true);
  });
});

describe('run() call shapes', () => {
  it("run(file, args?, options?) as Node's execFile takes them, beside run([file, ...args], options?)", async () => {
    const argv = ['-c', 'echo "$0 $1 $(pwd)"', 'zero', 'one'];
    const want = `zero one ${dir}\n`;
    expect((await run(['sh', ...argv], { cwd: dir, env })).stdout).toBe(want);
    expect((await run('sh', argv, { cwd: dir, env })).stdout).toBe(want);
    expect((await run('pwd', { cwd: dir, env })).stdout).toBe(`${dir}\n`);
    expect((await run('sh', ['-c', 'exit 4'])).status).toBe(4);
    expect((await run('true')).status).toBe(0);
  });

  it('a call of neither shape is refused before anything runs', async () => {
    const marker = join(dir, 'shape-ran');
    const touch = ['-c', `touch ${marker}`];
    const bad: [() => Promise<unknown>, string][] = [
      [() => run('sh', 'x' as never), 'run(): the second argument must be an array of strings (args) or an object (options)'],
      [() => run('sh', [1] as never), 'run(): args must be an array of strings'],
      [() => run('sh', touch, 'x' as never), 'run(): options must be an object'],
      [() => run(['sh', ...touch], {}, {} as never), 'run(): run(command, options) takes nothing after the options'],
      [() => run('', touch), 'run(): file must not be empty'],
    ];
    for (const [call, message] of bad) await expect(call()).rejects.toMatchObject({ code: 'ERR_WORM_USAGE', message });
    expect(existsSync(marker)).toBe(false);
  });
});

describe('run() refuses what would run something else than asked', () => {
  it('an already-aborted signal: nothing starts; rejects with an AbortError, as Node\'s promise APIs do', async () => {
    const marker = join(dir, 'aborted-ran');
    const ac = new AbortController();
    ac.abort(new Error('changed my mind'));
    for (let i = 0; i < 5; i++) {
      const err = await run(['sh', '-c', `touch ${marker}`], { signal: ac.signal, env }).then(() => null, (e: unknown) => e);
      expect(err).toMatchObject({ name: 'AbortError', code: 'ABORT_ERR', message: 'The operation was aborted', cause: new Error('changed my mind') });
    }
    await new Promise((r) => setTimeout(r, 200));
    expect(existsSync(marker)).toBe(false);
  });

  it('a NUL byte in cwd, an argument or the environment: one clear error, nothing runs', async () => {
    const marker = join(dir, 'nul-ran');
    const touch = ['sh', '-c', 'touch nul-ran'];
    await expect(run(touch, { cwd: `${dir}\0/elsewhere`, env })).rejects.toMatchObject({
      code: 'ERR_WORM_USAGE', message: 'run(): options.cwd contains a NUL byte',
    });
    await expect(run([...touch, 'a\0b'], { cwd: dir, env })).rejects.toMatchObject({
      code: 'ERR_WORM_USAGE', message: 'run(): the command contains a NUL byte',
    });
    await expect(run(touch, { cwd: dir, env: { ...env, X: 'a\0b' } })).rejects.toMatchObject({
      code: 'ERR_WORM_USAGE', message: 'run(): options.env: "X" contains a NUL byte',
    });
    expect(existsSync(marker)).toBe(false);
  });
});

describe('run() as a well-behaved library', () => {
  it('caps collected output at maxBuffer and says so', async () => {
    const r = await run(['sh', '-c', 'head -c 300000 /dev/zero; echo done >&2'], { maxBuffer: 1000, env });
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toHaveLength(1000);
    expect(r.stdoutTruncated).toBe(true);
    expect(r.stderr).toBe('done\n');
    expect(r.stderrTruncated).toBe(false);
  });

  it('leaves no descriptor behind, run after run (audit file, missing targets included)', async () => {
    const count = () => readdirSync('/proc/self/fd').length;
    const log = join(dir, 'many.jsonl');
    await run(['true'], { policy: { audit: { log } }, env });
    const before = count();
    for (let i = 0; i < 15; i++) {
      await run(['true'], { policy: { audit: { log } }, env });
      await run(['no-such-command-xyz'], { policy: { audit: { log } }, env });
    }
    expect(count()).toBe(before);
  });

  it('an abort kills the target\'s whole process group, not only the target', async () => {
    const marker = join(dir, 'after-abort');
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 400);
    const r = await run(['sh', '-c', `(sleep 1.5; touch ${marker}) & sleep 20`], { signal: ac.signal, env });
    expect(r.signal).toBe('SIGKILL');
    await new Promise((res) => setTimeout(res, 2000));
    expect(existsSync(marker)).toBe(false);
  });

  it('an abort while the run is still starting (the start does not hold the event loop): the target never runs, and run() rejects with an AbortError', async () => {
    const runs = Array.from({ length: 12 }, (_, i) => {
      const marker = join(dir, `abort-at-start-${i}`);
      const ac = new AbortController();
      // (Settled into a value at once: every promise rejects while the first is awaited.)
      const outcome = run(['sh', '-c', `touch ${marker}`], { signal: ac.signal, env }).then((r) => r, (e: unknown) => e);
      // The call has returned its promise; init and the target are setting themselves up.
      ac.abort(new Error(`stop ${i}`));
      return { marker, outcome, i };
    });
    for (const { marker, outcome, i } of runs) {
      expect(await outcome).toMatchObject({ name: 'AbortError', code: 'ABORT_ERR', cause: new Error(`stop ${i}`) });
      expect(existsSync(marker)).toBe(false);
    }
  });

  it('a target that is a FIFO, or a script whose interpreter is one, fails at once (126) instead of holding the host', async () => {
    const fifoDir = join(dir, 'fifos');
    mkdirSync(fifoDir);
    const fifo = join(fifoDir, 'fifo');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    chmodSync(fifo, 0o755);
    writeFileSync(join(fifoDir, 'script.sh'), `#!${fifo}\n`, { mode: 0o755 });
    const [a, b] = await Promise.all([
      run(['./fifo'], { env, cwd: fifoDir }),
      run(['./script.sh'], { env, cwd: fifoDir, policy: { audit: { log: join(fifoDir, 'trail.jsonl') } } }),
    ]);
    expect(a).toMatchObject({ status: 126, error: { code: 'ERR_WORM_NOT_EXECUTABLE', message: 'cannot execute ./fifo: Permission denied (not a regular file)' } });
    expect(b.status).toBe(126);
    expect(auditLines(readFileSync(join(fifoDir, 'trail.jsonl'), 'utf8')).map((l) => l.event)).toEqual(['start', 'exit']);
  }, 20000);

  it('a run that plants a .git link resolving only outside the run\'s namespaces fails its next run in that directory, and only that: later runs elsewhere keep their namespaces', async () => {
    const job = join(dir, 'plants-git');
    const other = join(dir, 'plants-git-other');
    mkdirSync(job);
    mkdirSync(other);
    // The control: what this machine gives a run (with namespaces where it can make them).
    const before = await run(['true'], { env, cwd: other });
    expect(before.status).toBe(0);
    const ns = (before.protections as { namespaces: { pid: boolean; mount: boolean } }).namespaces;
    // The attacker: in the host's view the link exists (pid 2's cwd); in a new PID namespace
    // /proc/2 does not exist when init binds the .git read-only.
    const planted = await run(['ln', '-s', '/proc/2/cwd', '.git'], { env, cwd: job });
    expect(planted.status).toBe(0);
    const victim = await run(['true'], { env, cwd: job });
    if (ns.mount) {
      expect(victim.status).toBe(125);
      expect(victim.error?.message).toMatch(/^cannot start true under the policy: mount\(.*plants-git\/\.git\) failed/);
    }
    const after = await run(['true'], { env, cwd: other });
    expect(after.status).toBe(0);
    expect((after.protections as { namespaces: unknown }).namespaces).toEqual(ns);
    expect(JSON.stringify(after.protections)).not.toMatch(/no namespaces on this machine/);
  });

  it('filters are cached per policy in the host: runs with and without allowUnix, interleaved, each get their own', async () => {
    // An AF_UNIX datagram to a socket the test listens on: allowed only with allowUnix.
    const sockDir = join(dir, 'unix-cache');
    mkdirSync(sockDir);
    const sock = join(sockDir, 's');
    const py = `import socket,sys\ns=socket.socket(socket.AF_UNIX,socket.SOCK_DGRAM)\ns.sendto(sys.argv[1].encode(),${JSON.stringify(sock)})`;
    const got: string[] = [];
    const listener = spawn('python3', ['-c', `import socket\ns=socket.socket(socket.AF_UNIX,socket.SOCK_DGRAM)\ns.bind(${JSON.stringify(sock)})\nprint('up',flush=True)\nwhile True:\n  print(s.recv(100).decode(),flush=True)`], { stdio: ['ignore', 'pipe', 'inherit'] });
    listener.stdout.on('data', (b) => got.push(...String(b).split('\n').filter(Boolean)));
    try {
      await new Promise<void>((res) => listener.stdout.once('data', () => res()));
      // The control: without worm-run the datagram arrives.
      expect(spawnSync('python3', ['-c', py, 'control']).status).toBe(0);
      const rs = await Promise.all(Array.from({ length: 12 }, (_, i) =>
        run(['python3', '-c', py, `run-${i}`], { env, cwd: sockDir, policy: { network: { allowUnix: i % 2 === 0 } } })));
      await new Promise((res) => setTimeout(res, 300));
      rs.forEach((r, i) => expect(r.status, `run ${i}: ${r.stderr}`).toBe(i % 2 === 0 ? 0 : 1));
      expect(got.filter((g) => g.startsWith('run-')).sort()).toEqual(['run-0', 'run-10', 'run-2', 'run-4', 'run-6', 'run-8']);
      expect(got).toContain('control');
    } finally {
      listener.kill('SIGKILL');
    }
  }, 30000);

  it('16 runs started together (their starts overlap now) each resolve with their own output, status, pid and measured protections', async () => {
    const rs = await Promise.all(Array.from({ length: 16 }, (_, i) => run(['sh', '-c', `echo run-${i}; exit ${i % 5}`], { env })));
    rs.forEach((r, i) => {
      expect(r).toMatchObject({ status: i % 5, error: null, stdout: `run-${i}\n` });
      expect(r.protections).toMatchObject({ seccomp: { installed: true }, noNewPrivs: true });
    });
    expect(new Set(rs.map((r) => r.pid)).size).toBe(16);
  });
});

describe('run() from a host whose threads come and go', () => {
  // The target is a raw clone of this multithreaded process. glibc's setuid family takes a
  // thread-list lock that a thread being created or ending may hold at that moment, and the
  // target then hung for the 30 s start timeout (1 run in ~60 here). Worker threads started and
  // ended throughout make the race likely; 240 runs all start.
  const root = process.getuid?.() === 0;
  it.skipIf(!root)('--user runs all start while worker threads start and end (as root)', async () => {
    const { Worker } = await import('node:worker_threads');
    let stop = false;
    const churn = (async () => {
      while (!stop) {
        const w = new Worker('0', { eval: true });
        await new Promise((r) => w.on('exit', r));
      }
    })();
    const failed: string[] = [];
    try {
      for (let i = 0; i < 240 && failed.length === 0; i++) {
        const r = await run(['/bin/true'], { env, cwd: '/', policy: { user: 'nobody', namespaces: 'off', filesystem: { mode: 'off' }, limits: { timeout: 20 } } });
        if (r.status !== 0 || r.wallMs > 5000) failed.push(`run ${i}: status ${r.status}, ${r.wallMs} ms, ${r.error?.message ?? ''}`);
      }
    } finally {
      stop = true;
      await churn;
    }
    expect(failed).toEqual([]);
  }, 180_000);
});
