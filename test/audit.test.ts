/**
 * The audit trail: start and exit records with a shared run id, the target's pid and a gap-free
 * seq; the three destinations (a file created 0600, stderr, an inherited descriptor); records
 * that survive a signal death and a timeout; and the refusals that keep the trail where the user
 * asked for it (no symlinks, no descriptor that was never passed, a clear 125 otherwise). Also
 * (issue 11): what the start record tells a reader, one schema for the limit and exit records in
 * both modes, and human lines that the target's strings cannot break.
 *
 * The chain and its verifier: chain.test.ts; hostile targets: audit-safety.test.ts; a full
 * disk: audit-disk.test.ts.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { beforeAll, describe, expect, it } from 'vitest';
import { escapeForTerminal } from '../dist/audit/escape.js';
import {
  IS_ROOT, PYTHON, STACK_FRAME, VERSION, auditLines, startWorm, tempDir, worm,
} from './helpers/run.js';

let dir = '';
let n = 0;
beforeAll(() => {
  dir = tempDir();
});
const fresh = (name: string) => join(dir, `${++n}-${name}`);

type Line = Record<string, unknown>;

/** What every line must carry to be read by the pino ecosystem (pino-pretty included). */
function expectPinoShape(lines: Line[], t0: number, t1: number) {
  for (const l of lines) {
    expect(typeof l.level).toBe('number');
    expect([30, 40, 50]).toContain(l.level);
    expect(typeof l.time).toBe('number');
    expect(l.time as number).toBeGreaterThanOrEqual(t0 - 5);
    expect(l.time as number).toBeLessThanOrEqual(t1 + 5);
    expect(typeof l.msg).toBe('string');
    expect(l.msg).toBe(l.event);
  }
}

/** One run's records: same run id, seq 1..n, pid on every line. */
function expectOneRun(lines: Line[], pid: number | null) {
  expect(lines.length).toBeGreaterThanOrEqual(2);
  const run = lines[0]!.run;
  expect(run).toMatch(/^[0-9a-f-]{36}$/);
  lines.forEach((l, i) => {
    expect(l.run).toBe(run);
    expect(l.seq).toBe(i + 1);
    expect(l.pid).toBe(pid);
  });
  expect(lines[0]!.event).toBe('start');
  expect(lines.at(-1)!.event).toBe('exit');
}

describe('--audit-log <file>', () => {
  it.concurrent('start and exit records: 0600, one run id, the target pid, seq, every exit field', async () => {
    const log = fresh('run.jsonl');
    const t0 = Date.now();
    const p = startWorm(['--audit-log', log, '--namespaces', 'off', '--', 'sh', '-c', 'echo "pid $$"; exit 3'], { cwd: dir });
    const r = await p.done;
    const t1 = Date.now();
    expect(r.code).toBe(3);
    expect(r.stderr).toBe('');
    const targetPid = Number(/pid (\d+)/.exec(r.stdout)![1]);
    expect(r.stdout).toBe(`pid ${targetPid}\n`);

    expect(statSync(log).mode & 0o777).toBe(0o600);
    const lines = auditLines(readFileSync(log, 'utf8'));
    expect(readFileSync(log, 'utf8').trimEnd().split('\n')).toHaveLength(lines.length);
    expect(lines.map((l) => l.event)).toEqual(['start', 'exit']);
    expectOneRun(lines, targetPid);
    expectPinoShape(lines, t0, t1);

    const [start, exit] = lines as [Line, Line];
    expect(start).toMatchObject({
      version: VERSION,
      supervisorPid: p.pid,
      target: { kind: 'binary', path: '/usr/bin/sh' },
      argv: ['sh', '-c', 'echo "pid $$"; exit 3'],
      cwd: dir,
      policy: { network: { allowUnix: false } },
      protections: { noNewPrivs: true, supervisorFiltered: true },
    });
    // Measured by the target in itself just before execve, not assumed.
    expect(start.protections).toMatchObject({
      seccomp: { installed: true, filters: 1, refusalsRecorded: true },
      noNewPrivs: true,
      landlock: { abi: expect.any(Number), filesystem: 'landlock' },
      namespaces: { pid: false, mount: false },
      identity: { uid: process.getuid!(), gid: process.getgid!() },
    });

    expect(exit).toMatchObject({ level: 30, code: 3, signal: null, status: 3, limit: null, blocked: 0, warnings: 0 });
    for (const k of ['wallMs', 'userMs', 'systemMs', 'maxRssKb']) {
      expect(typeof exit[k], k).toBe('number');
      expect(exit[k] as number, k).toBeGreaterThanOrEqual(0);
    }
    expect(exit.maxRssKb as number).toBeGreaterThan(0);
    expect(exit.wallMs as number).toBeLessThanOrEqual(t1 - t0);
  });

  it.concurrent('the exit record carries the CPU and wall time the target really used, not zeros', async () => {
    const log = fresh('usage.jsonl');
    // The target spends 300 ms of its own CPU time (counted by the kernel, whatever the load),
    // so at least 300 ms of wall time pass as well.
    const burn = 'import time\nt = time.process_time()\nwhile time.process_time() - t < 0.3: pass';
    const t0 = Date.now();
    const r = await worm(['--audit-log', log, '--', PYTHON, '-c', burn]);
    const t1 = Date.now();
    expect(r.code).toBe(0);
    const exit = auditLines(readFileSync(log, 'utf8')).find((l) => l.event === 'exit')!;
    const cpu = (exit.userMs as number) + (exit.systemMs as number);
    expect(cpu).toBeGreaterThanOrEqual(250);
    expect(exit.userMs as number).toBeGreaterThan(0);
    expect(exit.wallMs as number).toBeGreaterThanOrEqual(300);
    expect(exit.wallMs as number).toBeLessThanOrEqual(t1 - t0);
    const run = exit.runUsage as { userMs: number; systemMs: number };
    expect(run.userMs + run.systemMs).toBeGreaterThanOrEqual(250);
  });

  it.concurrent('appends: a second run adds its own start/exit with a new run id', async () => {
    const log = fresh('append.jsonl');
    expect((await worm(['--audit-log', log, '--', 'true'])).code).toBe(0);
    expect((await worm(['--audit-log', log, '--', 'false'])).code).toBe(1);
    const lines = auditLines(readFileSync(log, 'utf8'));
    expect(lines.map((l) => l.event)).toEqual(['start', 'exit', 'start', 'exit']);
    expect(lines[0]!.run).not.toBe(lines[2]!.run);
    expect(lines.map((l) => l.seq)).toEqual([1, 2, 1, 2]);
    expect(lines[3]).toMatchObject({ code: 1, status: 1 });
  });

  it.concurrent('the exit record is written when the target dies of SIGKILL (and worm-run re-raises it)', async () => {
    const log = fresh('killed.jsonl');
    const r = await worm(['--audit-log', log, '--', 'sh', '-c', 'kill -KILL $$']);
    expect(r.signal).toBe('SIGKILL');
    const lines = auditLines(readFileSync(log, 'utf8'));
    expect(lines.map((l) => l.event)).toEqual(['start', 'exit']);
    expect(lines[1]).toMatchObject({ code: null, signal: 'SIGKILL', status: 137 });
  });

  it.concurrent('a timeout leaves a limit record and an exit record naming it', async () => {
    const log = fresh('timeout.jsonl');
    const r = await worm(['--audit-log', log, '--timeout', '200ms', '--', 'sleep', '20']);
    expect(r.code).toBe(124);
    const lines = auditLines(readFileSync(log, 'utf8'));
    expect(lines.map((l) => l.event)).toEqual(['start', 'limit', 'exit']);
    expectOneRun(lines, lines[0]!.pid as number);
    expect(lines[1]).toMatchObject({ level: 40, limit: 'timeout' });
    expect(lines[2]).toMatchObject({ status: 124, limit: 'timeout', signal: 'SIGTERM' });
  });

  it.concurrent('a target that was never found still gets a start and an exit record (127)', async () => {
    const log = fresh('notfound.jsonl');
    const r = await worm(['--audit-log', log, '--', 'no-such-command-for-audit']);
    expect(r.code).toBe(127);
    expect(r.stderr).toMatch(/^worm-run: no-such-command-for-audit: command not found\n$/);
    const lines = auditLines(readFileSync(log, 'utf8'));
    expectOneRun(lines, null);
    expect(lines[0]).toMatchObject({ target: null, argv: ['no-such-command-for-audit'] });
    expect(lines[1]).toMatchObject({ level: 50, status: 127, code: 'ERR_WORM_NOT_FOUND' });
    expect(lines[1]!.error).toMatch(/command not found/);
  });

  it.concurrent('the target does not hold the audit file', async () => {
    const log = fresh('held.jsonl');
    const r = await worm(['--audit-log', log, '--', 'ls', '-l', '/proc/self/fd/']);
    expect(r.code).toBe(0);
    expect(r.stdout).not.toContain(log);
    expect(r.stdout).toMatch(/ 0 -> /);
  });

  (IS_ROOT ? it.concurrent : it.skip)('a target run as another user (--user) cannot write into the 0600 trail', async () => {
    const log = fresh('other-user.jsonl');
    const r = await worm(['--user', 'nobody', '--audit-log', log, '--', 'sh', '-c',
      `id -u; echo '{"level":30,"event":"exit","forged":true}' >> '${log}' && echo appended`]);
    expect(r.stdout).toBe('65534\n');
    expect(r.stderr).toMatch(/Permission denied/);
    const lines = auditLines(readFileSync(log, 'utf8'));
    expect(lines.map((l) => l.event)).toEqual(['start', 'exit']);
    expect(lines.some((l) => l.forged)).toBe(false);
  });
});

describe('other destinations', () => {
  it.concurrent("--audit-log - writes the records to stderr and leaves stdout to the target", async () => {
    const r = await worm(['--audit-log', '-', '--namespaces', 'off', '--', 'sh', '-c', 'echo hello; echo "pid $$"; exit 4']);
    expect(r.code).toBe(4);
    expect(r.stdout).toMatch(/^hello\npid \d+\n$/);
    const pid = Number(/pid (\d+)/.exec(r.stdout)![1]);
    const lines = auditLines(r.stderr);
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(lines.length);
    expectOneRun(lines, pid);
    expect(lines[1]).toMatchObject({ code: 4, status: 4 });
  });

  it.concurrent('--audit-log /dev/fd/3 writes to a descriptor the caller passed, which the target never holds', async () => {
    const p = startWorm(['--audit-log', '/dev/fd/3', '--namespaces', 'off', '--', 'sh', '-c', 'echo "pid $$"; ls -l /proc/$$/fd'], {
      stdio: ['pipe', 'pipe', 'pipe', 'pipe'],
    });
    let trail = '';
    (p.child.stdio[3] as Readable).on('data', (d) => (trail += d));
    const r = await p.done;
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    const pid = Number(/pid (\d+)/.exec(r.stdout)![1]);
    expectOneRun(auditLines(trail), pid);
    // Our descriptor 3 is a socket (Node's 'pipe'); the target has no socket above 2.
    const above = [...r.stdout.matchAll(/ (\d+) -> (.*)$/gm)].filter((m) => Number(m[1]) > 2);
    for (const m of above) expect(m[2]).not.toMatch(/^socket:/);
  });
});

describe('refusals', () => {
  it.concurrent('a symbolic link as the audit path is refused (125) and nothing runs', async () => {
    const real = fresh('real.jsonl');
    writeFileSync(real, '');
    const link = fresh('link.jsonl');
    symlinkSync(real, link);
    const marker = fresh('ran-symlink');
    const r = await worm(['--audit-log', link, '--', 'sh', '-c', `touch '${marker}'`]);
    expect(r.code).toBe(125);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^worm-run: --audit-log .*link\.jsonl: .*symbolic link[^\n]*\n$/);
    expect(r.stderr).not.toMatch(STACK_FRAME);
    expect(existsSync(marker)).toBe(false);
    expect(readFileSync(real, 'utf8')).toBe('');
  });

  it.concurrent('an audit file that cannot be opened: 125, one clear line, nothing runs', async () => {
    const marker = fresh('ran-unopenable');
    for (const path of [join(dir, 'no-such-dir', 'x.jsonl'), dir]) {
      const r = await worm(['--audit-log', path, '--', 'sh', '-c', `touch '${marker}'`]);
      expect(r.code, path).toBe(125);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(new RegExp(`^worm-run: --audit-log ${path.replace(/[/.]/g, '\\$&')}: cannot open: [^\\n]+\\n$`));
      expect(r.stderr).not.toMatch(STACK_FRAME);
    }
    expect(existsSync(marker)).toBe(false);
  });

  // A descriptor the caller never passed must be refused. Node opens descriptors of its own
  // (epoll, eventfd, libuv's signal pipes) right above 2, so "is it open?" is not the question:
  // writing the trail there loses it, or crashes worm-run.
  it.concurrent('--audit-log /dev/fd/N for a descriptor the caller did not pass: 125, nothing runs', async () => {
    const marker = fresh('ran-fd');
    const results = await Promise.all(Array.from({ length: 14 }, (_, i) => i + 3).map(async (fd) => {
      const r = await worm(['--audit-log', `/dev/fd/${fd}`, '--', 'sh', '-c', `touch '${marker}'`], { stdio: ['pipe', 'pipe', 'pipe'] });
      return `fd ${fd}: code ${r.code} signal ${r.signal} ${r.stderr.trim()}`;
    }));
    const wrong = results.filter((l) => !/^fd \d+: code 125 signal null worm-run: --audit-log \/dev\/fd\/\d+: cannot open: /.test(l));
    expect(wrong).toEqual([]);
    expect(existsSync(marker)).toBe(false);
  });
});

const sha256 = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

function script(name: string, text: string, mode = 0o644): string {
  const p = fresh(name);
  writeFileSync(p, text, { mode });
  return p;
}

describe('the start record, for a reader', () => {
  it.concurrent('ISO time, host, the target\'s user, and which files ran: the script, the Node binary, its version', async () => {
    const log = fresh('facts.jsonl');
    const p = script('facts.js', 'process.exitCode = 0;\n');
    for (const mode of [[], ['--in-process']]) {
      expect((await worm([...mode, '--audit-log', log, p])).code).toBe(0);
    }
    const starts = auditLines(readFileSync(log, 'utf8')).filter((l) => l.event === 'start');
    expect(starts).toHaveLength(2);
    for (const start of starts) {
      expect(start.isoTime).toBe(new Date(start.time as number).toISOString());
      expect(start).toMatchObject({
        version: VERSION,
        host: hostname(),
        targetUser: { uid: process.getuid!(), gid: process.getgid!() },
        target: {
          kind: 'node', path: p, sha256: sha256(p),
          interpreter: { path: process.execPath, sha256: sha256(process.execPath) },
          node: process.version,
        },
      });
    }
  });

  it.concurrent('a script: its #! interpreter, also through env(1)', async () => {
    const log = fresh('interp.jsonl');
    const direct = script('direct.sh', '#!/bin/sh\nexit 0\n', 0o755);
    const viaEnv = script('env.sh', '#!/usr/bin/env sh\nexit 0\n', 0o755);
    for (const p of [direct, viaEnv]) expect((await worm(['--audit-log', log, p])).code).toBe(0);
    const [a, b] = auditLines(readFileSync(log, 'utf8')).filter((l) => l.event === 'start');
    expect(a!.target).toMatchObject({ kind: 'binary', path: direct, sha256: sha256(direct), interpreter: { path: '/bin/sh', sha256: sha256('/bin/sh') } });
    const viaPath = (b!.target as { interpreter: { path: string } }).interpreter.path;
    expect(b!.target).toMatchObject({ interpreter: { via: '/usr/bin/env', sha256: sha256(viaPath) } });
    expect(viaPath).toMatch(/\/sh$/);
  });

  (IS_ROOT ? it.concurrent : it.skip)('with --user: the target\'s uid and gid, supplementary groups cleared', async () => {
    const log = fresh('user.jsonl');
    expect((await worm(['--user', 'nobody', '--audit-log', log, '--', 'true'], { cwd: tempDir() })).code).toBe(0);
    expect(auditLines(readFileSync(log, 'utf8'))[0]).toMatchObject({ targetUser: { uid: 65534, gid: 65534, groups: [] } });
  });
});

describe('one schema in both modes', () => {
  const keys = (l: Record<string, unknown>) => Object.keys(l).sort();
  const both = async (name: string, text: string, args: string[]) => {
    const p = script(name, text);
    const out: Record<string, unknown>[][] = [];
    for (const mode of [[], ['--in-process']]) {
      const log = fresh(`${name}.jsonl`);
      await worm([...mode, ...args, '--audit-log', log, p]);
      out.push(auditLines(readFileSync(log, 'utf8')));
    }
    return out as [Record<string, unknown>[], Record<string, unknown>[]];
  };

  it('limit and exit records carry the same fields, supervised and in-process (CPU, wall clock, a plain exit, an abort)', async () => {
    const cases: [string, string, string[], string[]][] = [
      ['cpu.js', 'for (;;) {}\n', ['--cpu', '1'], ['start', 'limit', 'exit']],
      ['wall.js', 'setInterval(() => {}, 1000);\n', ['--timeout', '300ms'], ['start', 'limit', 'exit']],
      ['plain.js', 'process.exitCode = 3;\n', [], ['start', 'exit']],
      ['abort.js', 'process.abort();\n', [], ['start', 'exit']],
    ];
    for (const [name, text, args, events] of cases) {
      const [sup, inp] = await both(name, text, args);
      expect(sup.map((l) => l.event), name).toEqual(events);
      expect(inp.map((l) => l.event), name).toEqual(events);
      for (let i = 1; i < events.length; i++) {
        expect(keys(inp[i]!), `${name} ${events[i]}`).toEqual(keys(sup[i]!));
        expect(inp[i]!.seq).toBe(sup[i]!.seq);
      }
      expect(sup.at(-1)!.source).toBe('supervisor');
      expect(inp.at(-1)!.source).toBe('in-process');
      for (const k of ['wallMs', 'blocked', 'warnings', 'unwritten']) expect(typeof inp.at(-1)![k], `${name} ${k}`).toBe('number');
      if (name === 'abort.js') {
        expect(sup.at(-1)!.signal).toBe('SIGABRT');
        expect(inp.at(-1)!.signal).toBe('SIGABRT');
      }
      if (name === 'cpu.js') {
        expect(inp[1]!.used).toMatch(/^\d+\.\d s$/);
        expect(inp[1]!.reason).toMatch(/^CPU limit of 1 s reached \(used \d+\.\d s\)$/);
      }
    }
  });
});

describe('human lines on stderr', () => {
  it('escape what the target chose: a refused command cannot print a line that looks like worm-run\'s', async () => {
    const p = script('inject.js', `
      try { require('child_process').execSync('curl http://127.0.0.1:9/x\\nworm-run: \\x1b[32mall clear\\x1b[0m', { stdio: 'ignore' }); }
      catch (e) { console.log(e.code); }
    `);
    const r = await worm([p]);
    expect(r.stdout).toBe('ERR_WORM_BLOCKED\n');
    expect(r.stderr.split('\n').filter(Boolean)).toHaveLength(1);
    expect(r.stderr).toMatch(/^worm-run: blocked child_process\.execSync curl http:\/\/127\.0\.0\.1:9\/x\\nworm-run: \\x1b\[32mall clear\\x1b\[0m \(at .*inject\.js:2\)\n$/);
    expect(r.stderr).not.toContain('\x1b');
  });

  it('escape a command name in a verdict, supervised and in-process (written natively there)', async () => {
    const evil = fresh('evil\nworm-run: ok\x1b[2J.js');
    writeFileSync(evil, 'setInterval(() => {}, 1000);\n');
    for (const mode of [[], ['--in-process']]) {
      const r = await worm([...mode, '--timeout', '300ms', evil]);
      expect(r.stderr.split('\n').filter(Boolean), mode.join(' ')).toHaveLength(1);
      expect(r.stderr).toContain('evil\\nworm-run: ok\\x1b[2J.js: wall-clock limit of 0.3 s reached');
    }
  });

  it('the escaping itself: controls, DEL, C1, line separators, bidi overrides, backslash; printable text untouched', () => {
    expect(escapeForTerminal('a\nb\rc\td\\e')).toBe('a\\nb\\rc\\td\\\\e');
    expect(escapeForTerminal('\x00\x07\x1b\x7f\x85\x9b')).toBe('\\x00\\x07\\x1b\\x7f\\x85\\x9b');
    expect(escapeForTerminal('\u2028\u2029\u202e\u2066')).toBe('\\u2028\\u2029\\u202e\\u2066');
    expect(escapeForTerminal('café 名前 ✓ /tmp/x.js:3')).toBe('café 名前 ✓ /tmp/x.js:3');
  });
});
