/**
 * The subprocess filter, end to end: every child_process form with every spelling of a network
 * tool is refused (ERR_WORM_BLOCKED delivered like ENOENT), nothing reaches the recorder, and
 * child_process keeps working for everything else.
 */
import { copyFileSync, realpathSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startRecorder, type Recorder } from '../helpers/recorder.js';
import { runProgram, tempDir } from '../helpers/run.js';
import { BLOCKED_PREFIX, guardBlockedAtExit, NODE, dump, fixture, result, runGuarded, type GuardedOutcome } from './helpers.js';

let rec: Recorder;
let dir: string;
beforeAll(async () => {
  rec = await startRecorder();
  dir = tempDir('worm-sub-');
  symlinkSync('/usr/bin/curl', join(dir, 'mycurl'));
  symlinkSync('/usr/bin/curl', join(dir, 'fetcher'));
  copyFileSync('/usr/bin/curl', join(dir, 'xfer'));
});
afterAll(async () => {
  await rec.close();
  rmSync(dir, { recursive: true, force: true });
});
beforeEach(() => rec.reset());

describe('every form and spelling of a network tool', () => {
  let out: GuardedOutcome;
  let url: string;
  beforeAll(async () => {
    url = `http://127.0.0.1:${rec.port}/`;
    out = await runGuarded(fixture('subprocess.cjs'), [url, dir]);
  });

  it('runs to the end and nothing reaches the recorder', async () => {
    expect(out.code, dump(out)).toBe(0);
    expect(result(out, 'done')).toBeTruthy();
    expect(await rec.settle()).toEqual([]);
  });

  it('refuses each case with ERR_WORM_BLOCKED naming the form and the tool', () => {
    const cases = out.results.filter((r) => r.case !== 'done');
    expect(cases.length).toBeGreaterThan(150);
    for (const r of cases) {
      const form = String(r.case).split(' ')[0]!;
      expect(r, JSON.stringify(r)).toMatchObject({ code: 'ERR_WORM_BLOCKED' });
      const op = form === 'tool' ? 'spawnSync' : form;
      expect(String(r.message), JSON.stringify(r)).toMatch(new RegExp(`^${BLOCKED_PREFIX}child_process\\.${op} of \\S+ \\(`));
    }
    expect(result(out, 'spawn plain').message).toBe(`${BLOCKED_PREFIX}child_process.spawn of curl (curl -sS ${url})`);
    expect(result(out, 'exec sequence').message).toBe(`${BLOCKED_PREFIX}child_process.exec of curl (ls /; curl ${url})`);
    expect(result(out, 'execSync pipe').message).toBe(`${BLOCKED_PREFIX}child_process.execSync of nc (echo hi | nc 127.0.0.1 9)`);
    expect(result(out, 'spawn busybox').message).toContain('child_process.spawn of wget');
    expect(result(out, 'spawnSync symlink').message).toContain('child_process.spawnSync of curl');
    expect(result(out, 'tool rsync -a src/ user@127.0.0.1:dst/').message).toContain('of rsync');
  });

  it('fails async forms as ENOENT does: no pid, stdio present, error event; sync forms as Node does', () => {
    expect(result(out, 'spawn plain')).toMatchObject({ pid: null, stdout: true });
    expect(result(out, 'spawnSync plain')).toMatchObject({ status: null, pid: 0 });
    expect(result(out, 'execFile plain')).toMatchObject({ stdout: '' });
    expect(result(out, 'execFileSync plain').thrown).toBe(true);
    expect(result(out, 'execSync sequence').thrown).toBe(true);
  });

  it('writes one blocked record per refusal, naming the command', () => {
    const cases = out.results.filter((r) => r.code === 'ERR_WORM_BLOCKED');
    expect(out.blocked).toHaveLength(cases.length);
    expect(out.blocked.find((r) => r.op === 'child_process.spawn' && r.target === `curl -sS ${url}`)).toMatchObject({
      command: 'curl', reason: 'network tool (HTTP client)', file: fixture('subprocess.cjs'), line: expect.any(Number),
    });
    expect(out.blocked.filter((r) => r.op === 'child_process.exec' && r.target === `ls /; curl ${url}`)).toHaveLength(1);
    expect(out.blocked.filter((r) => r.op === 'child_process.fork')).toHaveLength(2);
    expect(guardBlockedAtExit(out)).toBe(cases.length);
  });
});

describe('what keeps working', () => {
  it('ls, pipes, git, python3, exec, fork with IPC; a URL to an allowed command is a warning', async () => {
    const url = `http://127.0.0.1:${rec.port}/`;
    const out = await runGuarded(fixture('subprocess-works.cjs'), [String(rec.port), join(dir, 'xfer')]);
    expect(out.code, dump(out)).toBe(0);
    expect(result(out, 'spawn ls')).toMatchObject({ code: 0, hasFixture: true });
    expect(result(out, 'execSync pipe').value).toBe('2');
    expect(result(out, 'execFileSync git').value).toMatch(/^git version/);
    expect(result(out, 'spawnSync python3')).toMatchObject({ status: 0, value: '42' });
    expect(result(out, 'exec shell')).toMatchObject({ code: null, value: 'hello\nworld\n' });
    expect(result(out, 'execFile echo url')).toMatchObject({ code: null, value: url });
    expect(result(out, 'command -v curl')).toMatchObject({ code: null, value: '/usr/bin/curl' });
    expect(out.guard).toContainEqual(expect.objectContaining({
      event: 'warning', op: 'child_process.execFile', command: 'echo', target: `echo ${url}`, reason: 'URL in command arguments',
    }));

    // fork: IPC both ways, and the child's own refusal reaches the audit through the channel.
    const fork = result(out, 'fork ipc');
    expect(fork.code).toBe(0);
    expect(fork.seen).toEqual([
      { ready: true },
      { echo: 'ping', pid: expect.any(Number) },
      { code: 'ERR_WORM_BLOCKED', message: `${BLOCKED_PREFIX}net.connect to 127.0.0.1:${rec.port}` },
    ]);
    expect(out.blocked).toContainEqual(expect.objectContaining({ op: 'net.connect', file: fixture('fork-child.cjs') }));

    // A Node child given an empty environment still gets the guard, and the channel.
    expect(result(out, 'node child env {}')).toMatchObject({ status: 0 });
    expect(JSON.parse(String(result(out, 'node child env {}').stdout))).toEqual({ code: 'ERR_WORM_BLOCKED', guarded: true });
    // A foreign descriptor 3 in a grandchild is left alone: refused, but not written to.
    const foreign = result(out, 'foreign fd 3');
    expect(JSON.parse(String(foreign.stdout))).toMatchObject({ code: 'ERR_WORM_BLOCKED' });
    expect(foreign.fd3).toBe('');
    expect(out.blocked.filter((r) => r.file === fixture('child-connect.cjs'))).toHaveLength(1);

    // A renamed copy of curl is not known by name: it runs, and the kernel stops it.
    const renamed = result(out, 'renamed curl');
    expect(renamed.error).toBeNull();
    expect(renamed.status).toBe(7); // curl: couldn't connect
    expect(out.blocked.filter((r) => String(r.target ?? '').includes('xfer'))).toEqual([]);
    expect(await rec.settle()).toEqual([]);
  });
});

describe('--deny-command and --allow-command', () => {
  it('extend and lift the table', async () => {
    const url = `http://127.0.0.1:${rec.port}/`;
    const out = await runGuarded(fixture('commands-policy.cjs'), [url], { options: ['--deny-command', 'git', '--allow-command', 'curl'] });
    expect(out.code, dump(out)).toBe(0);
    expect(result(out, 'git')).toMatchObject({ code: 'ERR_WORM_BLOCKED', message: `${BLOCKED_PREFIX}child_process.spawnSync of git (git --version)` });
    // curl is let through (with a warning for its URL) and fails at the kernel.
    expect(result(out, 'curl')).toMatchObject({ code: null, status: 7 });
    expect(result(out, 'wget')).toMatchObject({ code: 'ERR_WORM_BLOCKED' });
    expect(out.blocked.map((r) => r.command)).toEqual(['git', 'wget']);
    expect(out.guard).toContainEqual(expect.objectContaining({ event: 'warning', command: 'curl', reason: 'URL in command arguments' }));
    expect(await rec.settle()).toEqual([]);
  });
});

describe('a Node child told to start its inspector', () => {
  it('is refused where it is started (the inspector listens before its own guard loads)', async () => {
    const out = await runGuarded(fixture('inspect-children.cjs'));
    expect(out.code, dump(out)).toBe(0);
    const node = realpathSync(NODE); // process.execPath, as the child sees it
    const hello = fixture('hello.cjs');
    const refused = (c: string, op: string, line: string) =>
      expect(result(out, c), c).toMatchObject({ code: 'ERR_WORM_BLOCKED', message: `${BLOCKED_PREFIX}child_process.${op} of node (${line})` });
    refused('spawnSync --inspect', 'spawnSync', `${node} --inspect=127.0.0.1:0 -e 1`);
    refused('spawn -e then --inspect-brk', 'spawn', `${node} -e 1 --inspect-brk`);
    refused('fork execArgv --inspect-wait', 'fork', `${node} --inspect-wait=0 ${hello}`);
    refused('execFileSync NODE_OPTIONS --inspect', 'execFileSync', `${node} ${hello}`);
    expect(out.blocked.map((r) => r.reason)).toEqual([
      'Node inspector (--inspect=127.0.0.1:0) listens on TCP', 'Node inspector (--inspect-brk) listens on TCP',
      'Node inspector (--inspect-wait=0) listens on TCP', 'Node inspector (--inspect=0) listens on TCP',
    ]);
    // The script's own argument is not Node's option: it runs.
    expect(result(out, 'script argument --inspect')).toMatchObject({ code: null, value: 'hello' });
    expect(out.stderr).not.toMatch(/inspector/i);
  });
});

describe('process.execve', () => {
  // Node 22.15+ and 24+; absent on Node 20, where there is nothing to guard.
  const hasExecve = async () => (await runProgram(NODE, ['-p', 'typeof process.execve'])).stdout.trim() === 'function';

  it('refuses a network tool as child_process does; a Node program it becomes is still guarded', async (ctx) => {
    if (!(await hasExecve())) ctx.skip();
    const url = `http://127.0.0.1:${rec.port}/`;
    const out = await runGuarded(fixture('execve.cjs'), [String(rec.port)]);
    expect(out.code, dump(out)).toBe(0);
    const op = 'process.execve';
    expect(result(out, 'execve curl')).toMatchObject({ code: 'ERR_WORM_BLOCKED', thrown: true, message: `${BLOCKED_PREFIX}${op} of curl (/usr/bin/curl -s ${url})` });
    expect(result(out, 'execve busybox-style wget')).toMatchObject({ code: 'ERR_WORM_BLOCKED', message: `${BLOCKED_PREFIX}${op} of wget (/bin/true ${url})` });
    expect(result(out, 'execve sh -c curl')).toMatchObject({ code: 'ERR_WORM_BLOCKED', message: `${BLOCKED_PREFIX}${op} of curl (echo hi; curl ${url})` });
    expect(out.blocked.map((r) => [r.op, r.command, r.target, r.file])).toEqual([
      [op, 'curl', `/usr/bin/curl -s ${url}`, fixture('execve.cjs')],
      [op, 'wget', `/bin/true ${url}`, fixture('execve.cjs')],
      [op, 'curl', `echo hi; curl ${url}`, fixture('execve.cjs')],
    ]);
    // The process became child-connect.cjs, given an environment without the guard: it got it back.
    expect(out.stdout).toContain('{"code":"ERR_WORM_BLOCKED","guarded":true}');
    expect(await rec.settle()).toEqual([]);
  });
});
