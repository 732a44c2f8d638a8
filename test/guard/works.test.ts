/**
 * What the guard must not break: loading network modules and an HTTP client library, fs,
 * stdin, exit codes, uncaught exceptions printed as under node, argv, require.main and
 * import.meta in the entry.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runProgram } from '../helpers/run.js';
import { startRecorder, type Recorder } from '../helpers/recorder.js';
import { BLOCKED_PREFIX, IN_PROCESS, NODE, dump, fixture, result, runGuarded } from './helpers.js';

let rec: Recorder;
beforeAll(async () => {
  rec = await startRecorder();
});
afterAll(async () => {
  await rec.close();
});

describe('a CommonJS script', () => {
  it('loads network modules and a client library, uses fs, reads stdin, keeps argv and require.main', async () => {
    const out = await runGuarded(fixture('works.cjs'), [String(rec.port), 'a b', '--flag'], { input: 'line one\nline two\n' });
    expect(out.code, dump(out)).toBe(0);
    expect(result(out, 'lazy')).toMatchObject({ undici: false, tls: false, http: false });
    expect(result(out, 'imports')).toMatchObject({ http: 'function', net: 'function', https: 'function', client: '1.0.0', server: 'function' });
    // Loading is fine; using the library is refused (by the guard, inside the library's call).
    expect(result(out, 'client library use')).toMatchObject({
      code: 'ERR_WORM_BLOCKED', message: `${BLOCKED_PREFIX}http.request to 127.0.0.1:${rec.port}`,
    });
    expect(result(out, 'fs').read).toBe('content');
    expect(result(out, 'identity')).toMatchObject({
      argv1: fixture('works.cjs'), filename: fixture('works.cjs'), main: true, args: ['a b', '--flag'],
    });
    expect(result(out, 'stdin').input).toBe('line one\nline two\n');
    expect(out.blocked).toHaveLength(1);
    expect(out.stderr).not.toMatch(/warning|could not install/);
    expect(await rec.settle()).toEqual([]);
  });

  it('passes its exit code through', async () => {
    for (const code of [0, 3, 42]) {
      const out = await runGuarded(fixture('exits.cjs'), [String(code)]);
      expect(out.code, dump(out)).toBe(code);
    }
  });

  it('prints an uncaught exception as node does, and exits 1', async () => {
    const guarded = await runGuarded(fixture('throws.cjs'));
    const plain = await runProgram(NODE, [fixture('throws.cjs')]);
    expect(plain.code).toBe(1);
    expect(guarded.code, dump(guarded)).toBe(1);
    // In-process, the stack's last frames are worm-run's (it starts the main module).
    if (!IN_PROCESS) expect(guarded.stderr).toContain(plain.stderr);
    expect(guarded.stderr).toContain('TypeError: something went wrong here');
    expect(guarded.stderr).toContain(`${fixture('throws.cjs')}:4`);
    expect(guarded.guard).toEqual([]);
  });
});

describe('an ESM entry', () => {
  it('has its import.meta.url and argv, and imports network modules and a library', async () => {
    const out = await runGuarded(fixture('works.mjs'));
    expect(out.code, dump(out)).toBe(0);
    const file = fixture('works.mjs');
    expect(result(out, 'esm')).toEqual({
      case: 'esm', url: `file://${file}`, file, argv1: file, http: 'function', connect: 'function', client: '1.0.0',
    });
    expect(out.guard).toEqual([]);
  });
});
