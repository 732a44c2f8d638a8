// Bundles the CLI into one CommonJS file, dist/worm-run.cjs: one file to read and compile
// instead of ~25 ES modules, which is most of worm-run's own start-up.
// pino goes into a second bundle, dist/pino-bundle.cjs, which src/audit.ts loads (CLI and
// library alike) only when an audit destination asks for it, always before the target starts:
// once the target runs, the supervisor loads no code from disk, and never from node_modules/.
// The library entry (dist/index.js) stays unbundled. Then a V8 code cache for it (see
// scripts/code-cache.cjs); a machine where that cannot run simply gets no cache.
// The guard's start-up goes into dist/guard/start.cjs, with a code cache of its own (see
// src/guard/preload.cts and scripts/guard-cache.cjs).
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { build, transform } from 'esbuild';

// The version as a constant: src/version.ts reads package.json at start-up (the library does),
// which the CLI need not pay for on every run.
const { version } = JSON.parse(readFileSync('package.json', 'utf8'));
const inlineVersion = {
  name: 'inline-version',
  setup(b) {
    b.onLoad({ filter: /[\\/]dist[\\/]version\.js$/ }, () => ({ loader: 'js', contents: `export const VERSION = ${JSON.stringify(version)};` }));
  },
};

// commander requires node:child_process at load time (for executable subcommands, which
// worm-run does not use); loading it pulls in net, dgram and streams. Defer it to first use.
const lazyChildProcess = {
  name: 'lazy-child-process',
  setup(b) {
    b.onResolve({ filter: /^(node:)?child_process$/ }, (args) =>
      (/[\\/]node_modules[\\/]commander[\\/]/.test(args.importer) ? { path: 'child_process', namespace: 'lazy' } : undefined));
    b.onLoad({ filter: /.*/, namespace: 'lazy' }, () => ({
      loader: 'js',
      contents: "let m; module.exports = new Proxy({}, { get(_, k) { m ??= require('node:child_process'); return m[k]; } });",
    }));
  },
};

// Two built-ins the CLI need not load: `node:module` (Node 20 loads its ESM loader and source
// map support with it, ~0.2 ms) is the CommonJS loader's Module class, which every CommonJS
// module reaches as module.constructor; `node:process` is the global process.
const builtinShims = {
  name: 'builtin-shims',
  setup(b) {
    const shims = { module: 'module.exports = __wormModule;', process: 'module.exports = process;' };
    b.onResolve({ filter: /^node:(module|process)$/ }, (args) => ({ path: args.path.slice(5), namespace: 'shim' }));
    b.onLoad({ filter: /.*/, namespace: 'shim' }, (args) => ({ loader: 'js', contents: shims[args.path] }));
  },
};

await build({
  entryPoints: ['dist/pino-loader.cjs'],
  outfile: 'dist/pino-bundle.cjs',
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  minifyWhitespace: true,
  minifySyntax: true,
  logLevel: 'warning',
});

await build({
  entryPoints: ['dist/cli.js'],
  outfile: 'dist/worm-run.cjs',
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  define: { 'import.meta.url': '__wormImportMetaUrl' },
  // The file is one function expression, the CommonJS wrapper included: bin/worm-run.js
  // compiles it as it is, instead of a wrapped copy (Module.wrap) of a ~100 KB string.
  banner: { js: "(function (exports, require, module, __filename, __dirname) {'use strict'; const __wormModule = module.constructor; const __wormImportMetaUrl = require('node:url').pathToFileURL(__filename).href;" },
  footer: { js: '\n})' },
  plugins: [inlineVersion, lazyChildProcess, builtinShims],
  minifyWhitespace: true,
  minifySyntax: true,
  logLevel: 'warning',
});

rmSync('dist/worm-run.cjs.cache', { force: true });
const cache = spawnSync(process.execPath, ['scripts/code-cache.cjs'], { stdio: ['ignore', 'ignore', 'pipe'] });
if (cache.status !== 0) {
  process.stderr.write(`bundle: no code cache (${cache.stderr.toString().trim().split('\n').pop() || `status ${cache.status}`}); the CLI works without it\n`);
}

// The guard's start-up: config.cjs and install.cjs (tsc's output) as one script, a function
// that dist/guard/preload.cjs calls with its `define`, which runs each as the CommonJS loader
// runs a file (its own filename, module and require). Comments and whitespace are left out: a
// Node the cache is not for compiles the source. Then the cache, for this Node.
const guardModules = await Promise.all(['config.cjs', 'install.cjs'].map(async (name) => {
  const { code } = await transform(readFileSync(`dist/guard/${name}`, 'utf8'), {
    loader: 'js', target: 'node20', minifyWhitespace: true, minifySyntax: true, logLevel: 'warning',
  });
  return `define(${JSON.stringify(name)}, function (exports, require, module, __filename, __dirname) {${code}});\n`;
}));
writeFileSync('dist/guard/start.cjs', `(function (define) {\n${guardModules.join('')}})\n`);
// Made with no NODE_OPTIONS: V8 rejects a cache made under other V8 flags (a run adds none of
// its own but --max-old-space-size, with --memory).
const { NODE_OPTIONS: _options, ...cacheEnv } = process.env;
const guardCache = spawnSync(process.execPath, ['scripts/guard-cache.cjs'], { stdio: ['ignore', 'ignore', 'pipe'], env: cacheEnv });
if (guardCache.status !== 0) {
  process.stderr.write(`bundle: no guard code cache (${guardCache.stderr.toString().trim().split('\n').pop() || `status ${guardCache.status}`}); the guard works without it\n`);
}
