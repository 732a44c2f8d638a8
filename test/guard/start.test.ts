/**
 * How the guard is loaded (src/guard/preload.cts): its start-up modules come as one script,
 * dist/guard/start.cjs, compiled with the code cache made at build time on the Node that made
 * it; the modules loaded later share the configured instance; a copy installed elsewhere keeps
 * its cache and tells its frames from the user's; a rejected or missing cache, and a missing
 * bundle, leave a working guard; a second load changes nothing. Plain `node -r` with the
 * preload (the worm-run runs are the other tests' subject).
 */
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT, runProgram, tempDir, testEnv } from '../helpers/run.js';
import { NODE, dump } from './helpers.js';

const GUARD = join(ROOT, 'dist/guard');
const PRELOAD = join(GUARD, 'preload.cjs');
const dir = tempDir('worm-guard-start-');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A copy of dist/guard, with `change` applied to it. */
function guardCopy(name: string, change: (to: string) => void): string {
  const to = join(dir, name);
  mkdirSync(to);
  for (const f of readdirSync(GUARD)) copyFileSync(join(GUARD, f), join(to, f));
  change(to);
  return join(to, 'preload.cjs');
}

const CONFIG = JSON.stringify({ v: 1, fd: null, ino: null, denyImports: false, denyCommands: ['frobnicate'], allowCommands: [], allowUnix: false });

/**
 * What a guarded process sees: the cache verdict, its configuration as the later modules get it,
 * a refused command of the configured deny list, and a refused connection with the place the
 * guard reports for it (the in-process reporter's hook, read when a refusal is reported).
 */
const PROBE = `
const preload = require(process.env.PRELOAD);
const guard = require('node:path').dirname(process.env.PRELOAD);
const { config, START_SCRIPT } = require(guard + '/config.cjs');
const records = [];
globalThis[Symbol.for('worm-run.guard.report')] = (r) => records.push(r);
let command = 'ran';
try { require('node:child_process').execFileSync('frobnicate'); } catch (e) { command = e.code; }
require('node:net').connect(80, '192.0.2.1').on('error', (e) => {
  console.log(JSON.stringify({ bundled: preload.script !== undefined, rejected: preload.script?.cachedDataRejected ?? null,
    denyCommands: config.denyCommands, command, connect: e.code, at: e.stack.split('\\n')[1].trim(),
    where: records.filter((r) => r.op === 'net.connect').map((r) => \`\${r.file}:\${r.line}\`), names: preload.SCRIPT_NAME === START_SCRIPT }));
});
`;

async function probe(preload: string, nodeArgs: string[] = [], code = PROBE): Promise<Record<string, unknown>> {
  const script = join(dir, 'probe.cjs');
  writeFileSync(script, code);
  const out = await runProgram(NODE, [...nodeArgs, '-r', preload, script], { env: testEnv({ WORM_RUN_GUARD: CONFIG, PRELOAD: preload }) });
  expect(out.code, dump(out)).toBe(0);
  return JSON.parse(out.stdout.trim().split('\n').pop()!) as Record<string, unknown>;
}

/** The probe's connect is on its line 9, column 21; the guard's frames are nowhere. */
const GUARDED = {
  denyCommands: ['frobnicate'], command: 'ERR_WORM_BLOCKED', connect: 'ERR_WORM_BLOCKED',
  at: `at Object.<anonymous> (${join(dir, 'probe.cjs')}:9:21)`, where: [`${join(dir, 'probe.cjs')}:9`], names: true,
};

describe('the guard start-up', () => {
  /** The cache file the preload looks for on the Node under test. */
  async function cacheName(): Promise<string> {
    const key = (await runProgram(NODE, ['-p', '`${process.version}-${process.platform}-${process.arch}`'])).stdout.trim();
    return `start.cjs.${key}.cache`;
  }

  it('comes as one script, compiled with its code cache on the Node that built it', async () => {
    const forThisNode = existsSync(join(GUARD, await cacheName()));
    // The tests run on the Node that built dist/: a build that lost its cache must not pass unseen.
    if (NODE === process.execPath) expect(forThisNode).toBe(true);
    // Another Node does not even look for one (null: compiled without).
    expect(await probe(PRELOAD)).toEqual({ ...GUARDED, bundled: true, rejected: forThisNode ? false : null });
  });

  it('compiles as usual when V8 rejects the cache (other V8 flags, a damaged one, another V8\'s)', async () => {
    const r = await probe(PRELOAD, ['--max-old-space-size=200']);
    expect(r).toMatchObject({ ...GUARDED, bundled: true });
    expect(r.rejected === true || r.rejected === null).toBe(true);
    const name = await cacheName();
    const damaged = guardCopy('damaged', (to) => {
      const caches = readdirSync(to).filter((f) => f.startsWith('start.cjs.') && f.endsWith('.cache'));
      expect(caches.length).toBeGreaterThan(0);
      const own = caches.includes(name);
      // This Node's cache cut in half, else the building Node's under this Node's name.
      const data = readFileSync(join(to, own ? name : caches[0]!));
      writeFileSync(join(to, name), own ? data.subarray(0, data.length >> 1) : data);
    });
    expect(await probe(damaged)).toEqual({ ...GUARDED, bundled: true, rejected: true });
  });

  it('keeps its cache and tells its frames from the user\'s when installed elsewhere than it was built', async () => {
    // Node 20 names the frames of a script compiled from a cache as the build named them.
    const moved = guardCopy('moved', () => {});
    const d = await probe(moved);
    expect(d).toEqual({ ...GUARDED, bundled: true, rejected: (await probe(PRELOAD)).rejected });
  });

  it('loads the same modules from their own files without the bundle', async () => {
    const plain = guardCopy('plain', (to) => {
      for (const f of readdirSync(to)) if (f.startsWith('start.cjs')) rmSync(join(to, f));
    });
    expect(await probe(plain)).toEqual({ ...GUARDED, bundled: false, rejected: null });
  });

  it('is installed once: loading the preload again defines no fresh configuration', async () => {
    const again = `delete require.cache[process.env.PRELOAD]; require(process.env.PRELOAD);${PROBE}`;
    expect(await probe(PRELOAD, [], again)).toMatchObject(GUARDED);
  });
});
