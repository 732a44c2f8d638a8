/**
 * The audit trail: start and exit records with a shared run id, the target's pid and a gap-free
 * seq; the three destinations (a file created 0600, stderr, an inherited descriptor); records
 * that survive a signal death and a timeout; and the refusals that keep the trail where the user
 * asked for it (no symlinks, no descriptor that was never passed, a clear 125 otherwise).
 */
import { existsSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  IS_ROOT, STACK_FRAME, VERSION, auditLines, startWorm, tempDir, worm,
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
