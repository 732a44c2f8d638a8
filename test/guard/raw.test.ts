/**
 * The layer under the public APIs. Node's socket handles and spawn bindings reach a program
 * without process.binding: a dgram socket carries its UDP handle from creation, a new
 * tls.TLSSocket a TCP handle, a ChildProcess its Process handle (and each handle its class),
 * net._createServerHandle binds one; the inspector starts from its binding, from
 * process._debugProcess and from a SIGUSR1; a worker may be given --expose-internals. Each must
 * be refused by the guard with ERR_WORM_BLOCKED and a record (the kernel would refuse them too,
 * silently), and what is not a network operation must keep working.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRecorder, type Recorder } from '../helpers/recorder.js';
import { BLOCKED_PREFIX, guardBlockedAtExit, dump, fixture, result, runGuarded, type GuardedOutcome } from './helpers.js';

let rec: Recorder;
let out: GuardedOutcome;
let url: string;
beforeAll(async () => {
  rec = await startRecorder();
  url = `http://127.0.0.1:${rec.port}/`;
  out = await runGuarded(fixture('raw.cjs'), [String(rec.port), String(rec.udpPort), url]);
});
afterAll(async () => {
  await rec.close();
});

function thrown(name: string, text: string): void {
  expect(result(out, name), `${name}\n${dump(out)}`).toMatchObject({ code: 'ERR_WORM_BLOCKED', message: BLOCKED_PREFIX + text, thrown: true });
}

function recorded(op: string, target?: string): Record<string, unknown> {
  const r = out.blocked.filter((b) => b.op === op && (target === undefined || b.target === target));
  expect(r, `${op} ${target}\n${JSON.stringify(out.blocked, null, 1)}`).toHaveLength(1);
  return r[0]!;
}

describe('raw handles and bindings', () => {
  it('runs to the end, and nothing reaches the recorder', async () => {
    expect(out.code, dump(out)).toBe(0);
    expect(result(out, 'done')).toBeTruthy();
    expect(await rec.settle()).toEqual([]);
  });

  it('refuses the UDP handle of a dgram socket: bind, connect, and the implicit bind of recvStart', () => {
    thrown('dgram handle bind', 'udp_wrap.UDP.bind to 127.0.0.1:0');
    thrown('dgram handle connect', `udp_wrap.UDP.connect to 127.0.0.1:${rec.udpPort}`);
    thrown('dgram handle recvStart', 'udp_wrap.UDP.recvStart');
    expect(recorded('udp_wrap.UDP.connect', `127.0.0.1:${rec.udpPort}`)).toMatchObject({ file: fixture('raw.cjs'), line: expect.any(Number) });
  });

  it('refuses a TCP handle however it was reached, and a Unix one without --allow-unix', () => {
    thrown('TLSSocket TCP bind', 'tcp_wrap.TCP.bind to 127.0.0.1:0');
    thrown('TLSSocket TCP listen', 'tcp_wrap.TCP.listen');
    thrown('net._createServerHandle', 'tcp_wrap.TCP.bind to 127.0.0.1:0');
    thrown('Pipe from child stdio bind', 'pipe_wrap.Pipe.bind to /tmp/worm-guard-raw.sock');
    expect(out.blocked.filter((b) => b.op === 'tcp_wrap.TCP.bind')).toHaveLength(3); // two here, one in the worker below
    recorded('tcp_wrap.TCP.listen');
    recorded('pipe_wrap.Pipe.bind', '/tmp/worm-guard-raw.sock');
  });

  it('checks a raw Process handle spawn against the command table, and lets other programs start', () => {
    thrown('Process handle spawn curl', `process_wrap.Process.spawn of curl (/usr/bin/curl -s ${url})`);
    expect(recorded('process_wrap.Process.spawn')).toMatchObject({ command: 'curl', reason: 'network tool (HTTP client)', target: `/usr/bin/curl -s ${url}` });
    // 0: started, with a pid.
    expect(result(out, 'Process handle spawn true')).toMatchObject({ code: null, value: '0 number' });
  });

  it('uses what it checked: a name or argument whose toString changes between reads gets no further', () => {
    // Checked as 'fs', it must be loaded as 'fs', not as 'tcp_wrap' (which has a TCP class).
    expect(result(out, 'process.binding with a changing name')).toMatchObject({ code: null, value: 'undefined' });
    // Checked as `sh -c 'exit 0'`, it must run as that, not as `exit 7`.
    expect(result(out, 'Process handle spawn with a changing argument')).toMatchObject({ code: null, value: 0 });
  });

  it('refuses every way to start the inspector listening from JavaScript', () => {
    thrown("process.binding('inspector').open", "process.binding('inspector').open('127.0.0.1:0')");
    // The script's own pid as it sees it (in the run's own PID namespace it is not the pid the
    // trail names): the guard names what the call was given.
    const pid = /process\._debugProcess\((\d+)\)/.exec(String(result(out, 'process._debugProcess').message))?.[1];
    expect(Number(pid)).toBeGreaterThan(0);
    thrown('process._debugProcess', `process._debugProcess(${pid}) (starts the inspector, listening on 127.0.0.1:9229)`);
    thrown('process.kill SIGUSR1', `process.kill(${pid}, 'SIGUSR1') (starts the inspector, listening on 127.0.0.1:9229)`);
    recorded('process._debugProcess', `pid ${pid}`);
    recorded('process.kill', `pid ${pid}`);
    // A program that listens for SIGUSR1 gets it: no inspector would start.
    expect(result(out, 'process.kill SIGUSR1 with a listener')).toMatchObject({ code: null, value: 'handled' });
    expect(out.stderr).not.toMatch(/inspector|Debugger/i);
  });

  it('refuses the handles, spawn and resolver bindings to a worker given --expose-internals', () => {
    expect(result(out, 'worker --expose-internals').value).toBe('ERR_WORM_BLOCKED ERR_WORM_BLOCKED ERR_WORM_BLOCKED');
    expect(out.blocked.filter((b) => b.file === '[worker eval]').map((b) => `${b.op} ${b.target}`)).toEqual([
      'tcp_wrap.TCP.bind 127.0.0.1:0', `spawn_sync.spawn /usr/bin/curl ${url}`, 'cares_wrap.getaddrinfo example.com',
    ]);
  });

  it("loads the guard before a worker's own preloads, from execArgv and from its env", () => {
    expect(result(out, 'worker preload before the guard').value).toBe('ERR_WORM_BLOCKED ERR_WORM_BLOCKED');
    expect(out.blocked.filter((b) => b.file === fixture('lib/early-preload.cjs'))).toHaveLength(2);
  });

  it('writes one record per refusal', () => {
    const refusals = out.results.filter((r) => r.code === 'ERR_WORM_BLOCKED').length + 3 + 2;
    expect(out.blocked).toHaveLength(refusals);
    expect(guardBlockedAtExit(out)).toBe(refusals);
  });
});
