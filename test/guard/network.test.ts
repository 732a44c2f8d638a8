/**
 * The guard's network refusals, end to end: real scripts under worm-run (on the Node line of
 * WORM_TEST_NODE) against the loopback recorder. Each refused operation must fail with
 * ERR_WORM_BLOCKED where Node reports that kind of failure, nothing may reach the recorder, and
 * each refusal must be one `blocked` audit record from the guard.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startRecorder, type Recorder } from '../helpers/recorder.js';
import { BLOCKED_PREFIX, guardBlockedAtExit, IN_PROCESS, NODE_MAJOR, dump, fixture, result, runGuarded, type GuardedOutcome } from './helpers.js';

let rec: Recorder;
beforeAll(async () => {
  rec = await startRecorder();
});
afterAll(async () => {
  await rec.close();
});
beforeEach(() => rec.reset());

/** Asserts a case failed with ERR_WORM_BLOCKED and exactly this message text. */
function refused(out: GuardedOutcome, name: string, text: string): void {
  const r = result(out, name);
  expect(r, `${name}\n${dump(out)}`).toMatchObject({ code: 'ERR_WORM_BLOCKED', message: BLOCKED_PREFIX + text });
}

/** Asserts a fetch case failed as Node's fetch fails, TypeError 'fetch failed', with the refusal as its cause. */
function fetchRefused(out: GuardedOutcome, name: string, url: string): void {
  expect(result(out, name), `${name}\n${dump(out)}`).toEqual({
    case: name, class: 'TypeError', code: null, message: 'fetch failed',
    cause: { class: 'Error', code: 'ERR_WORM_BLOCKED', message: `${BLOCKED_PREFIX}fetch to ${url}` },
  });
}

/** The guard records for op+target, each exactly once per expected refusal. */
function records(out: GuardedOutcome, op: string, target: string): Record<string, unknown>[] {
  return out.blocked.filter((r) => r.op === op && r.target === target);
}

describe('network operations through CommonJS', () => {
  let out: GuardedOutcome;
  beforeAll(async () => {
    // WebSocket needs a flag on Node 20; EventSource one on 22+. The in-process mode runs in a
    // Node that is already started, so it cannot take Node options: those globals stay absent.
    const flags = IN_PROCESS ? []
      : NODE_MAJOR < 22 ? ['--node-option=--experimental-websocket'] : ['--node-option=--experimental-eventsource'];
    out = await runGuarded(fixture('network.cjs'), [String(rec.port), String(rec.udpPort)], { options: flags });
  });

  it('finishes cleanly, and nothing reaches the recorder', async () => {
    expect(out.code, dump(out)).toBe(0);
    expect(result(out, 'done')).toBeTruthy();
    expect(result(out, 'events').events).toEqual([]);
    expect(await rec.settle()).toEqual([]);
  });

  it('refuses TCP, TLS, HTTP and HTTP/2 connections with an error event', () => {
    const t = `127.0.0.1:${rec.port}`;
    refused(out, 'net.connect', `net.connect to ${t}`);
    refused(out, 'net.createConnection', `net.connect to ${t}`);
    refused(out, 'Socket#connect', `net.connect to ${t}`);
    refused(out, 'net.connect localhost', `net.connect to localhost:${rec.port}`);
    refused(out, 'tls.connect', `tls.connect to ${t}`);
    refused(out, 'http.request', `http.request to ${t}`);
    refused(out, 'http.get', `http.request to ${t}`);
    refused(out, 'https.request', `https.request to ${t}`);
    refused(out, 'https.get', `https.request to ${t}`);
    refused(out, 'http2.connect', `http2.connect to ${t}`);
    refused(out, 'net.connect unix', 'net.connect to /tmp/worm-guard-test.sock');
    // As a refused connection: the socket closes with hadError.
    expect(result(out, 'net.connect close')).toMatchObject({ hadError: true });
  });

  it('refuses listening on a port, a host or (without --allow-unix) a path', () => {
    refused(out, 'net.Server.listen', 'net.Server.listen on 127.0.0.1:0');
    refused(out, 'http.Server.listen', `net.Server.listen on port ${rec.port + 1}`);
    refused(out, 'net.Server.listen unix', 'net.Server.listen on /tmp/worm-guard-test.sock');
  });

  it('refuses UDP: bind and connect, send by callback or error event', () => {
    const u = `127.0.0.1:${rec.udpPort}`;
    refused(out, 'dgram.bind', 'dgram.bind on 127.0.0.1:0');
    refused(out, 'dgram.send', `dgram.send to ${u}`);
    refused(out, 'dgram.send event', `dgram.send to ${u}`);
    refused(out, 'dgram.connect', `dgram.connect to ${u}`);
  });

  it('refuses name resolution: callbacks, promises, Resolver objects', () => {
    refused(out, 'dns.lookup', 'dns.lookup example.com');
    refused(out, 'dns.lookupService', 'dns.lookupService 127.0.0.1:22');
    refused(out, 'dns.resolve', 'dns.resolve example.com');
    refused(out, 'dns.resolve4', 'dns.resolve4 example.com');
    refused(out, 'dns.resolveTxt', 'dns.resolveTxt example.com');
    refused(out, 'dns.reverse', 'dns.reverse 127.0.0.1');
    refused(out, 'dns.Resolver.resolve6', 'dns.Resolver.resolve6 example.com');
    refused(out, 'dns.promises.lookup', 'dns.promises.lookup example.com');
    refused(out, 'dns.promises.resolveMx', 'dns.promises.resolveMx example.com');
    refused(out, 'dns.promises.Resolver.resolve4', 'dns.promises.Resolver.resolve4 example.com');
    // An IP literal never leaves the process: Node answers it.
    expect(result(out, 'dns.lookup IP literal')).toMatchObject({ code: null, address: '127.0.0.1' });
  });

  it('throws for inspector.open and the raw bindings', () => {
    refused(out, 'inspector.open', 'inspector.open on 127.0.0.1:0');
    expect(result(out, 'inspector.open').thrown).toBe(true);
    for (const b of ['tcp_wrap', 'udp_wrap', 'cares_wrap', 'tls_wrap', 'pipe_wrap', 'stream_wrap', 'js_stream', 'process_wrap', 'spawn_sync']) {
      refused(out, `process.binding ${b}`, `process.binding('${b}')`);
      expect(result(out, `process.binding ${b}`).thrown).toBe(true);
    }
    refused(out, 'process._linkedBinding tcp_wrap', "process._linkedBinding('tcp_wrap')");
  });

  it('rejects fetch, and fails WebSocket and EventSource with an error event', () => {
    const url = `http://127.0.0.1:${rec.port}/x`;
    fetchRefused(out, 'fetch', url);
    fetchRefused(out, 'fetch URL', url);
    fetchRefused(out, 'fetch Request', url);
    expect(result(out, 'fetch data: URL')).toMatchObject({ code: null, value: 'hello' });
    if (IN_PROCESS && NODE_MAJOR < 22) return;
    refused(out, 'WebSocket', `WebSocket to ws://127.0.0.1:${rec.port}/`);
    expect(result(out, 'WebSocket')).toMatchObject({ closeCode: 1006, readyState: 3 });
    if (NODE_MAJOR >= 22 && !IN_PROCESS) {
      refused(out, 'EventSource', `EventSource to ${url}`);
      expect(result(out, 'EventSource')).toMatchObject({ readyState: 2 });
    }
  });

  it('writes one blocked record per refusal, with the operation, target and user line', () => {
    // Every case that saw the error, plus 'net.connect close' (which reports the close instead).
    const refusals = out.results.filter((r) => r.code === 'ERR_WORM_BLOCKED' || (r.cause as { code?: string } | undefined)?.code === 'ERR_WORM_BLOCKED').length + 1;
    expect(out.blocked.length, JSON.stringify(out.blocked, null, 1)).toBe(refusals);
    expect(out.guard.filter((r) => r.event !== 'blocked')).toEqual([]);
    const [connect] = records(out, 'net.connect', `127.0.0.1:${rec.port}`);
    expect(connect).toMatchObject({
      event: 'blocked', source: 'guard', layer: 'guard', file: fixture('network.cjs'), line: expect.any(Number),
    });
    expect(records(out, 'http.request', `127.0.0.1:${rec.port}`)).toHaveLength(2);
    expect(records(out, 'https.request', `127.0.0.1:${rec.port}`)).toHaveLength(2);
    expect(records(out, 'fetch', `http://127.0.0.1:${rec.port}/x`)).toHaveLength(3);
    expect(records(out, 'dns.lookup', 'example.com')).toHaveLength(1);
    expect(records(out, 'process.binding', 'tcp_wrap')).toHaveLength(1);
    expect(guardBlockedAtExit(out)).toBe(refusals);
  });
});

describe('network operations through ESM and every way of getting a module', () => {
  let out: GuardedOutcome;
  beforeAll(async () => {
    out = await runGuarded(fixture('esm.mjs'), [String(rec.port), String(rec.udpPort)]);
  });

  it('refuses through named, default and namespace imports', async () => {
    const t = `127.0.0.1:${rec.port}`;
    expect(out.code, dump(out)).toBe(0);
    refused(out, 'named connect', `net.connect to ${t}`);
    refused(out, 'named createConnection', `net.connect to ${t}`);
    refused(out, 'named Socket', `net.connect to ${t}`);
    refused(out, 'default import', `net.connect to ${t}`);
    refused(out, 'named http.request', `http.request to ${t}`);
    refused(out, 'named https.get', `https.request to ${t}`);
    refused(out, 'named tls.connect', `tls.connect to ${t}`);
    refused(out, 'named dgram', `dgram.send to 127.0.0.1:${rec.udpPort}`);
    refused(out, 'named dns.lookup', 'dns.lookup example.com');
    refused(out, 'named dns/promises', 'dns.promises.resolve4 example.com');
    refused(out, 'namespace dns', 'dns.resolveNs example.com');
    refused(out, 'named execSync', `child_process.execSync of curl (curl http://${t}/)`);
    refused(out, 'named spawn', `child_process.spawn of wget (wget http://${t}/)`);
    refused(out, 'named inspector.open', 'inspector.open on 127.0.0.1:0');
    expect(await rec.settle()).toEqual([]);
  });

  it('refuses through dynamic import, createRequire and process.getBuiltinModule', () => {
    const t = `127.0.0.1:${rec.port}`;
    refused(out, 'dynamic import', `net.connect to ${t}`);
    refused(out, 'dynamic import bare', `net.connect to ${t}`);
    refused(out, 'dynamic import http', `http.request to ${t}`);
    refused(out, 'createRequire', `net.connect to ${t}`);
    refused(out, 'createRequire tls', `tls.connect to ${t}`);
    refused(out, 'getBuiltinModule', `net.connect to ${t}`);
    refused(out, 'getBuiltinModule dns', 'dns.lookup example.com');
  });

  it('keeps import.meta and argv, and records each refusal once', () => {
    const file = fixture('esm.mjs');
    expect(result(out, 'meta')).toMatchObject({ file, argv1: file, url: `file://${file}` });
    const refusedCases = out.results.filter((r) => r.code === 'ERR_WORM_BLOCKED');
    expect(out.blocked).toHaveLength(refusedCases.length);
    expect(out.blocked.every((r) => r.file === file && typeof r.line === 'number')).toBe(true);
  });
});

describe('workers', () => {
  it('are guarded however they are created', async () => {
    const out = await runGuarded(fixture('workers.cjs'), [String(rec.port)]);
    expect(out.code, dump(out)).toBe(0);
    const cases = ['worker default', 'worker execArgv []', 'worker env {}', 'worker env and execArgv', 'worker SHARE_ENV',
      'worker eval execArgv []', 'worker eval env {}', 'nested worker',
      // No constructor that starts workers unguarded is reachable: not the class behind the exported one...
      'worker from the prototype chain', 'worker from an instance constructor', 'worker subclass'];
    for (const c of cases) {
      if (c === 'worker from the prototype chain' && result(out, c).value === 'none') continue; // ...there is none
      refused(out, c, `net.connect to 127.0.0.1:${rec.port}`);
    }
    expect(result(out, 'worker subclass').mine).toBe(true);
    // A custom env is the worker's own (only the guard's preload option is added to it).
    expect(result(out, 'worker env and execArgv').env).toBe('yes');
    expect(result(out, 'worker computes')).toMatchObject({ code: null, value: 6765 });
    expect(result(out, 'worker instanceof').ok).toBe(true);
    const refusedCases = cases.filter((c) => result(out, c).code === 'ERR_WORM_BLOCKED');
    expect(out.blocked).toHaveLength(refusedCases.length);
    expect(out.blocked.filter((r) => r.file === fixture('worker-connect.cjs'))).toHaveLength(refusedCases.length - 2);
    expect(await rec.settle()).toEqual([]);
  });
});

describe('an unhandled refusal', () => {
  it('crashes the script as an unhandled connection error would, naming the operation and the line', async () => {
    const out = await runGuarded(fixture('uncaught-connect.cjs'), [String(rec.port)]);
    expect(out.code, dump(out)).toBe(1);
    expect(out.stderr).toContain(`Error [ERR_WORM_BLOCKED]: ${BLOCKED_PREFIX}net.connect to 127.0.0.1:${rec.port}`);
    expect(out.stderr).toContain(`${fixture('uncaught-connect.cjs')}:4`);
    expect(out.blocked).toEqual([expect.objectContaining({ op: 'net.connect', file: fixture('uncaught-connect.cjs'), line: 4 })]);
    expect(await rec.settle()).toEqual([]);
  });

  it('rejects an awaited fetch: the script exits 1 with fetch failed and the refusal as its cause', async () => {
    const out = await runGuarded(fixture('uncaught-fetch.mjs'), [String(rec.port)]);
    expect(out.code, dump(out)).toBe(1);
    const file = fixture('uncaught-fetch.mjs');
    // As Node prints its own fetch failure: the TypeError, then the cause; both start at the user's line.
    expect(out.stderr).toContain(`TypeError: fetch failed\n    at file://${file}:2:7\n`);
    expect(out.stderr).toContain(`[cause]: Error [ERR_WORM_BLOCKED]: ${BLOCKED_PREFIX}fetch to http://127.0.0.1:${rec.port}/\n      at file://${file}:2:7\n`);
    expect(out.stderr).not.toContain('/dist/guard/');
    expect(out.blocked).toEqual([expect.objectContaining({ op: 'fetch', file: fixture('uncaught-fetch.mjs'), line: 2 })]);
  });
});

describe('--allow-unix', () => {
  it('lets Unix sockets through and still refuses TCP', async () => {
    const out = await runGuarded(fixture('unix.cjs'), [String(rec.port)], { options: ['--allow-unix'] });
    expect(out.code, dump(out)).toBe(0);
    expect(result(out, 'unix roundtrip')).toMatchObject({ code: null, value: 'pong' });
    refused(out, 'tcp still refused', `net.connect to 127.0.0.1:${rec.port}`);
    expect(out.blocked).toHaveLength(1);
    expect(await rec.settle()).toEqual([]);
  });
});
