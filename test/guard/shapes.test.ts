/**
 * A refused connection must look to the program exactly like a connection Node itself failed
 * to make: the same events in the same order, the same state afterwards, the same error
 * classes (fetch's TypeError with a cause; undici's pass-through of the socket error). The
 * control is the same fixture run by plain Node against a closed loopback port; worm-run runs
 * it against the recorder, which must see nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, startRecorder, type Recorder } from '../helpers/recorder.js';
import { runProgram, type Outcome } from '../helpers/run.js';
import { NODE, dump, fixture, runGuarded, type GuardedOutcome } from './helpers.js';

let rec: Recorder;
let control: Outcome;
let guarded: GuardedOutcome;

function cases(out: Outcome): Map<string, Record<string, unknown>> {
  const m = new Map<string, Record<string, unknown>>();
  for (const line of out.stdout.split('\n')) {
    if (!line.startsWith('{')) continue;
    const { case: name, ...rest } = JSON.parse(line) as Record<string, unknown>;
    m.set(String(name), rest);
  }
  return m;
}

beforeAll(async () => {
  rec = await startRecorder();
  const closed = await freePort();
  [control, guarded] = await Promise.all([
    runProgram(NODE, [fixture('shapes.cjs'), String(closed)]),
    runGuarded(fixture('shapes.cjs'), [String(rec.port)]),
  ]);
});
afterAll(async () => {
  await rec.close();
});

describe('a refused connection, next to one Node failed to make', () => {
  it('runs every case in both runs, and nothing reaches the recorder', async () => {
    expect(control.code, dump(control)).toBe(0);
    expect(guarded.code, dump(guarded)).toBe(0);
    expect(cases(control).has('done')).toBe(true);
    expect(cases(guarded).has('done')).toBe(true);
    expect(await rec.settle()).toEqual([]);
  });

  const names = [
    'net.connect', 'net write before connect', 'net reuse after failure', 'net setNoDelay and setKeepAlive while connecting',
    'tls.connect', 'tls over an existing socket', 'http.get', 'http.request with a body', 'https.get',
    'http2.connect http', 'http2.connect https', 'http2 request on a failing session', 'fetch', 'undici.request', 'undici.fetch',
  ];
  it.each(names)('%s: the same events in the same order, and the same state', (name) => {
    const want = cases(control).get(name);
    const got = cases(guarded).get(name);
    expect(want, dump(control)).toBeDefined();
    // The control must have seen Node's own refusal, or the comparison proves nothing.
    expect(JSON.stringify(want)).toContain('REFUSED');
    expect(got, dump(guarded)).toEqual(want);
  });

  it('http2.connect emits no connect before its error', () => {
    expect(cases(guarded).get('http2.connect http')?.seen).toEqual(['error:REFUSED', 'close']);
  });

  it('audits each refused connection once, naming the API', () => {
    const t = `127.0.0.1:${rec.port}`;
    const ops = guarded.blocked.filter((r) => r.target === t || r.target === `http://${t}/`).map((r) => r.op);
    expect(ops.sort()).toEqual([
      'fetch', 'http.request', 'http.request', 'http2.connect', 'http2.connect', 'http2.connect', 'https.request',
      'net.connect', 'net.connect', 'net.connect', 'net.connect', 'net.connect', 'net.connect',
      // undici from node_modules connects through net.connect; its fetch through its own copy
      'net.connect', 'net.connect',
      'tls.connect',
    ].sort());
    expect(guarded.blocked).toHaveLength(ops.length);
    const fromUndici = guarded.blocked.filter((r) => String(r.file).includes('/node_modules/undici/'));
    expect(fromUndici).toHaveLength(2);
  });
});

describe('undici from node_modules, next to its own failure', () => {
  let want: Map<string, Record<string, unknown>>;
  let got: GuardedOutcome;
  beforeAll(async () => {
    const closed = await freePort();
    let control: Outcome;
    [control, got] = await Promise.all([
      runProgram(NODE, [fixture('undici.cjs'), String(closed)]),
      runGuarded(fixture('undici.cjs'), [String(rec.port)]),
    ]);
    expect(control.code, dump(control)).toBe(0);
    want = cases(control);
  });

  it.each(['undici.fetch', 'undici.request', 'undici.stream', 'Client.request', 'Pool.request', 'Agent dispatcher',
    'global fetch with undici dispatcher', 'undici.WebSocket'])('%s fails as undici reports a refused connection', async (name) => {
    expect(got.code, dump(got)).toBe(0);
    expect(JSON.stringify(want.get(name))).toMatch(/REFUSED|close 1006/);
    expect(cases(got).get(name), dump(got)).toEqual(want.get(name));
  });

  it('audits each, and nothing reaches the recorder', async () => {
    const t = `127.0.0.1:${rec.port}`;
    expect(got.blocked.filter((r) => r.op === 'net.connect' && r.target === t && String(r.file).includes('/node_modules/undici/'))).toHaveLength(7);
    expect(got.blocked.filter((r) => r.op === 'fetch')).toHaveLength(1);
    expect(got.blocked).toHaveLength(8);
    expect(await rec.settle()).toEqual([]);
  });
});
