#!/usr/bin/env node
// CommonJS on purpose (bin/package.json): the CLI is one bundled file (dist/worm-run.cjs),
// compiled here with the V8 code cache that scripts/bundle.js made for it at build time.
// Compiling worm-run's own code is a large share of its start-up, which every run pays; a
// cache V8 rejects (another Node, another build) just means an ordinary compile.
'use strict';
const { readFileSync } = require('node:fs');
const { dirname, join } = require('node:path');
// The CommonJS loader's Module class, without loading node:module (and the ESM loader with it).
const Module = module.constructor;
const vm = require('node:vm');

const file = join(__dirname, '..', 'dist', 'worm-run.cjs');
let cachedData;
try {
  cachedData = readFileSync(`${file}.cache`);
} catch {
  // no cache: compile as usual
}
const script = new vm.Script(readFileSync(file, 'utf8'), {
  filename: file,
  cachedData,
  importModuleDynamically: vm.constants.USE_MAIN_CONTEXT_DEFAULT_LOADER,
});
const mod = new Module(file, module);
mod.filename = file;
mod.paths = Module._nodeModulePaths(dirname(file));
script.runInThisContext().call(mod.exports, mod.exports, Module.createRequire(file), mod, file, dirname(file));
