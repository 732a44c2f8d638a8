/**
 * --deny-imports: network modules refused when loaded (require, import, getBuiltinModule), each
 * refusal audited; other modules load as usual; without the option the same loads succeed.
 */
import { describe, expect, it } from 'vitest';
import { BLOCKED_PREFIX, dump, fixture, result, runGuarded } from './helpers.js';

const MODULES = ['net', 'tls', 'http', 'https', 'http2', 'dgram', 'dns', 'inspector'];

describe('--deny-imports', () => {
  it('refuses every network module at require and import time, with and without node:', async () => {
    const out = await runGuarded(fixture('deny-imports.mjs'), [], { options: ['--deny-imports'] });
    expect(out.code, dump(out)).toBe(0);
    for (const m of MODULES) {
      for (const id of [m, `node:${m}`]) {
        expect(result(out, `require ${id}`)).toMatchObject({ code: 'ERR_WORM_BLOCKED', message: `${BLOCKED_PREFIX}require('${id}')` });
        expect(result(out, `import ${id}`)).toMatchObject({ code: 'ERR_WORM_BLOCKED', message: `${BLOCKED_PREFIX}import '${id}'` });
      }
    }
    const gbm = out.results.find((r) => r.case === 'getBuiltinModule node:net');
    if (gbm) expect(gbm).toMatchObject({ code: 'ERR_WORM_BLOCKED', message: `${BLOCKED_PREFIX}process.getBuiltinModule('node:net')` });
    expect(result(out, 'allowed')).toMatchObject({ fs: 'function', cp: 'function', url: 'function' });
    expect(result(out, 'worker require and import').value).toBe('ERR_WORM_BLOCKED ERR_WORM_BLOCKED');

    const refusals = out.results.filter((r) => r.code === 'ERR_WORM_BLOCKED').length;
    expect(refusals).toBe(MODULES.length * 4 + (gbm ? 1 : 0));
    const main = out.blocked.filter((r) => r.file === fixture('deny-imports.mjs'));
    expect(main).toHaveLength(refusals);
    expect(main.filter((r) => r.op === 'require')).toHaveLength(MODULES.length * 2);
    expect(main.filter((r) => r.op === 'import')).toHaveLength(MODULES.length * 2);
    expect(out.blocked.every((r) => r.reason === 'network module (--deny-imports)')).toBe(true);
    // The worker's two refusals.
    expect(out.blocked.filter((r) => r.file !== fixture('deny-imports.mjs')).map((r) => `${r.op} ${r.target}`).sort())
      .toEqual(['import http', 'require node:net']);
  });

  it('makes a static import fail the program, its stack at the import line', async () => {
    const out = await runGuarded(fixture('deny-static.mjs'), [], { options: ['--deny-imports'] });
    expect(out.code, dump(out)).toBe(1);
    expect(out.stdout).not.toContain('unreachable');
    // The module never ran, so no frame of it is on the stack: the import's place in the source is the frame.
    expect(out.stderr).toContain(`Error [ERR_WORM_BLOCKED]: ${BLOCKED_PREFIX}import 'node:net'\n    at file://${fixture('deny-static.mjs')}:2:25`);
    expect(out.stderr).not.toContain('/dist/guard/');
    expect(out.blocked).toEqual([expect.objectContaining({ op: 'import', target: 'node:net', file: fixture('deny-static.mjs'), line: 2 })]);
  });

  it('makes an uncaught top-level require fail the program at its line, as if the line itself had thrown', async () => {
    const out = await runGuarded(fixture('deny-require.cjs'), [], { options: ['--deny-imports'] });
    expect(out.code, dump(out)).toBe(1);
    // No source line of the guard above the error, and the first frame is the user's require.
    expect(out.stderr.trimStart()).toMatch(new RegExp(
      `^Error \\[ERR_WORM_BLOCKED\\]: worm-run: network access is blocked: require\\('http'\\)\\n    at .*\\(${fixture('deny-require.cjs')}:3:14\\)\\n`));
    expect(out.stderr).not.toContain('/dist/guard/');
    expect(out.blocked).toEqual([expect.objectContaining({ op: 'require', target: 'http', file: fixture('deny-require.cjs'), line: 3 })]);
  });

  it('starts the stack of a caught refusal at the require, import() or getBuiltinModule that asked', async () => {
    const out = await runGuarded(fixture('deny-stacks.mjs'), [], { options: ['--deny-imports'] });
    expect(out.code, dump(out)).toBe(0);
    const at = (line: number) => new RegExp(`^    at (.* \\()?file://${fixture('deny-stacks.mjs')}:${line}:\\d+\\)?$`);
    expect(result(out, 'require').first).toMatch(at(5));
    expect(result(out, 'import()').first).toMatch(at(6));
    // process.getBuiltinModule is Node 20.16+ and 22.3+.
    const gbm = result(out, 'getBuiltinModule').first !== 'absent';
    if (gbm) expect(result(out, 'getBuiltinModule').first).toMatch(at(7));
    for (const r of out.results) expect(String(r.stack)).not.toContain('/dist/guard/');
    // One record each. Their order is not: the import refusal comes from the module-hooks
    // thread, which in-process reports through the channel, after the main thread's.
    const byLine = out.blocked.map((r) => [r.op, r.line] as [unknown, number]).sort((a, b) => a[1] - b[1]);
    expect(byLine).toEqual([['require', 5], ['import', 6], ...(gbm ? [['process.getBuiltinModule', 7]] : [])]);
  });

  it('is off by default: the same imports load', async () => {
    const out = await runGuarded(fixture('deny-imports.mjs'));
    expect(out.code, dump(out)).toBe(0);
    expect(out.results.filter((r) => r.code === 'ERR_WORM_BLOCKED')).toEqual([]);
    expect(result(out, 'worker require and import').value).toBe('loaded loaded');
    expect(out.blocked).toEqual([]);
  });
});
