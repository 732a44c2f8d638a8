/**
 * node:ffi (Node 26, on by default): C functions called from JavaScript. Looking up one that
 * reaches the network (socket, connect, getaddrinfo, syscall, ...) or starts a program (the
 * exec family, system, posix_spawn, fork) is refused by name with a record, whether the module
 * came by require or by an ESM import; other functions keep working. Skipped on lines without it.
 */
import { describe, expect, it } from 'vitest';
import { runProgram } from '../helpers/run.js';
import { BLOCKED_PREFIX, NODE, dump, fixture, result, runGuarded } from './helpers.js';

const hasFfi = async () =>
  (await runProgram(NODE, ['-p', "require('node:module').builtinModules.includes('node:ffi')"])).stdout.trim() === 'true';

describe('node:ffi', () => {
  it('refuses network and program-starting C functions, through every API that resolves one', async (ctx) => {
    if (!(await hasFfi())) ctx.skip();
    const out = await runGuarded(fixture('ffi.cjs'));
    expect(out.code, dump(out)).toBe(0);
    const refused = (c: string, text: string) => expect(result(out, c), c).toMatchObject({ code: 'ERR_WORM_BLOCKED', message: BLOCKED_PREFIX + text });
    refused('getFunction socket', 'ffi.getFunction of socket (libc.so.6)');
    refused('getFunctions connect', 'ffi.getFunctions of connect (libc.so.6)');
    refused('dlopen with syscall', 'ffi.getFunctions of syscall (libc.so.6)');
    refused('getSymbol execve', 'ffi.getSymbol of execve (libc.so.6)');
    refused('dlsym system', 'ffi.getSymbol of system (libc.so.6)');
    refused('import then socket', 'ffi.getFunction of socket (libc.so.6)');
    expect(result(out, 'getpid still works')).toMatchObject({ code: null, value: 'true' });
    // Definitions whose keys change between reads: what was checked is what is resolved.
    expect(result(out, 'definitions that change')).toMatchObject({ code: null, value: 'getpid' });
    expect(out.blocked.map((r) => `${r.op} ${r.target} ${r.reason}`)).toEqual([
      'ffi.getFunction socket (libc.so.6) network call through node:ffi',
      'ffi.getFunctions connect (libc.so.6) network call through node:ffi',
      'ffi.getFunctions syscall (libc.so.6) network call through node:ffi',
      'ffi.getSymbol execve (libc.so.6) starts a program through node:ffi, around the subprocess filter',
      'ffi.getSymbol system (libc.so.6) starts a program through node:ffi, around the subprocess filter',
      'ffi.getFunction socket (libc.so.6) network call through node:ffi',
    ]);
    expect(out.blocked.every((r) => r.file === fixture('ffi.cjs') || r.file === fixture('ffi-import.mjs'))).toBe(true);
  });

  it('is guarded when only an ESM import loaded it', async (ctx) => {
    if (!(await hasFfi())) ctx.skip();
    const out = await runGuarded(fixture('ffi-esm.mjs'));
    expect(out.code, dump(out)).toBe(0);
    expect(result(out, 'entry import socket')).toMatchObject({ code: 'ERR_WORM_BLOCKED', message: `${BLOCKED_PREFIX}ffi.getFunction of socket (libc.so.6)` });
    expect(out.blocked).toEqual([expect.objectContaining({ op: 'ffi.getFunction', file: fixture('ffi-esm.mjs') })]);
  });
});
