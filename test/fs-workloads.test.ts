/**
 * Issue 12: the default filesystem confinement breaks nothing common. Real workloads under the
 * default, in their working directory, with a test home ($HOME) that has no caches yet: a Python
 * venv created and used (a local package installed into it with pip, offline), `npm install` and
 * `npm test` of a small package with local dependencies (a directory and a tarball, by file:),
 * C compiled and run with gcc, and the public conformance set's benign cases. Each in both
 * namespace modes, as root and as --user nobody.
 *
 * Caches: pip disables its cache by itself when it cannot write it; npm does not (an install
 * of a tarball fails with EACCES on ~/.npm), so worm-run points npm_config_cache at the run's
 * private TMPDIR unless the caller chose one (src/fs/tmp.ts).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect } from 'vitest';
import { itWith, type Feature } from './helpers/kernel.js';
import { BIN, ROOT, runProgram } from './helpers/run.js';
import { envWith, giveToNobody, makeWorld, plant, variants, wormAs } from './helpers/fsworld.js';

const has = (cmd: string, args: string[]): Feature => {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return { ok: r.status === 0, reason: `${cmd} is not usable here (${(r.stderr ?? '').trim().split('\n')[0] || r.error?.message || `exit ${r.status}`})` };
};
const python = has('/usr/bin/python3', ['-c', 'import venv, ensurepip']);
const npm = has('npm', ['--version']);
const gcc = has('gcc', ['--version']);

const chosen = variants().filter((v) => !v.inProcess && v.launcher === 'root');
const quiet = { npm_config_update_notifier: 'false', npm_config_fund: 'false', npm_config_audit: 'false' };

/**
 * A job directory without a .git: without a mount namespace a .git splits the working directory
 * and nothing new can be made at its top (fs.test.ts shows that cost), which a venv, a compiler's
 * output or node_modules at the top need.
 */
function jobWorld(label: string) {
  const w = makeWorld(label);
  rmSync(join(w.work, '.git'), { recursive: true });
  return w;
}

describe.each(chosen)('workloads under the default filesystem policy: $name', (v) => {
  itWith([...v.needs, python], 'a Python venv made and used in the working directory; pip installs a local package offline', async () => {
    const w = jobWorld('venv');
    try {
      plant(w.work, { 'pylib/setup.py': 'from setuptools import setup\nsetup(name="mylib", version="0.1", packages=["mylib"])\n', 'pylib/mylib/__init__.py': 'def f():\n    return 42\n' });
      giveToNobody(w.work);
      const r = await wormAs(v, [], ['--', 'sh', '-c',
        '/usr/bin/python3 -m venv venv && venv/bin/pip install -q --no-index --no-build-isolation ./pylib && venv/bin/python -c "import mylib, sys; print(mylib.f(), sys.prefix)"'],
      { cwd: w.work, env: envWith({ HOME: w.home }), timeoutMs: 180_000 });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toBe(`42 ${join(w.work, 'venv')}\n`);
      // pip found no cache it could write and did without one.
      expect(existsSync(join(w.home, '.cache'))).toBe(false);
    } finally {
      w.cleanup();
    }
  }, 240_000);

  itWith([...v.needs, npm], '`npm install` and `npm test` of a package with local dependencies (a directory and a tarball)', async () => {
    const w = jobWorld('npm');
    try {
      plant(w.work, {
        'dep/package.json': '{"name":"dep","version":"1.0.0","main":"index.js"}\n', 'dep/index.js': 'module.exports = (a, b) => a + b;\n',
        'tdep/package.json': '{"name":"tdep","version":"1.0.0","main":"index.js"}\n', 'tdep/index.js': 'module.exports = "from a tarball";\n',
        'app/package.json': JSON.stringify({ name: 'app', version: '1.0.0', scripts: { test: 'node test.js' }, dependencies: { dep: 'file:../dep', tdep: 'file:../tdep-1.0.0.tgz' } }),
        'app/test.js': 'const add = require("dep"); if (add(2, 3) !== 5) process.exit(1); console.log("app test ok", require("tdep"));\n',
      });
      const pack = spawnSync('npm', ['pack', '--silent', './tdep'], { cwd: w.work, encoding: 'utf8', env: envWith({ HOME: w.root, ...quiet }) });
      expect(pack.status, pack.stderr).toBe(0);
      giveToNobody(w.work);
      const r = await wormAs(v, [], ['--', 'sh', '-c', 'cd app && npm install --offline --loglevel=error && npm test --silent'],
        { cwd: w.work, env: envWith({ HOME: w.home, ...quiet, npm_config_cache: join(w.home, '.npm') }), timeoutMs: 180_000 });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain('app test ok from a tarball');
      expect(existsSync(join(w.home, '.npm'))).toBe(false);
      // With npm's cache where it is by default (as before the redirect; an inherited
      // npm_config_cache, as npm scripts pass, is overridden, an explicit --env one is not): the
      // tarball cannot be installed.
      const real = await wormAs(v, ['--env', `npm_config_cache=${join(w.home, '.npm')}`], ['--', 'sh', '-c', 'cd app && rm -rf node_modules package-lock.json && npm install --offline --loglevel=error'],
        { cwd: w.work, env: envWith({ HOME: w.home, ...quiet, npm_config_cache: '/root/.npm' }), timeoutMs: 180_000 });
      expect(real.code).not.toBe(0);
      expect(real.stderr).toMatch(/EACCES/);
    } finally {
      w.cleanup();
    }
  }, 240_000);

  itWith([...v.needs, gcc], 'C compiled with gcc in the working directory, then run', async () => {
    const w = jobWorld('gcc');
    try {
      plant(w.work, { 'hello.c': '#include <stdio.h>\nint main(void) { puts("compiled and ran"); return 0; }\n' });
      giveToNobody(w.work);
      const r = await wormAs(v, [], ['--', 'sh', '-c', 'gcc -O1 -o hello hello.c && ./hello'], { cwd: w.work, env: envWith({ HOME: w.home }), timeoutMs: 120_000 });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toBe('compiled and ran\n');
    } finally {
      w.cleanup();
    }
  }, 180_000);
});

const conformance = [join(ROOT, '../shared/conformance/run.sh'), join(ROOT, '../../shared/conformance/run.sh')].find((p) => existsSync(p));
const conformanceHere: Feature = conformance
  ? (process.getuid?.() === 0 ? { ok: true, reason: '' } : { ok: false, reason: 'the conformance runner needs root' })
  : { ok: false, reason: 'the public conformance set (../shared/conformance) is not next to this checkout' };

describe('the public conformance set under the default filesystem policy', () => {
  for (const ns of ['auto', 'off']) {
    itWith([conformanceHere], `every attack blocked and every benign case working (--namespaces ${ns})`, async () => {
      // The runner takes the launcher as a command prefix; --namespaces goes in through it.
      const r = await runProgram(conformance!, [process.execPath, BIN, '--namespaces', ns], { timeoutMs: 300_000 });
      expect(r.stdout).toMatch(/^benign: \d+ ok, 0 broken$/m);
      expect(r.stdout).toMatch(/^\d+ passed, 0 failed$/m);
      expect(r.code, r.stdout.slice(-2000)).toBe(0);
    }, 360_000);
  }
});
