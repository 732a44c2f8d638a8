// Bundles the CLI into one CommonJS file, dist/worm-run.cjs: one file to read and compile
// instead of ~25 ES modules, which is most of worm-run's own start-up.
// pino goes into a second bundle, dist/pino-bundle.cjs, which src/audit.ts loads (CLI and
// library alike) only when an audit destination asks for it, always before the target starts:
// once the target runs, the supervisor loads no code from disk, and never from node_modules/.
// The library entry (dist/index.js) stays unbundled. Then a V8 code cache for it (see
// scripts/code-cache.cjs); a machine where that cannot run simply gets no cache.
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { build } from 'esbuild';

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
