// Build step (scripts/bundle.js runs it): compiles dist/worm-run.cjs as bin/worm-run.js does,
// runs one real `worm-run /bin/true` in this process so the functions on that path are
// compiled too, and saves V8's code cache as dist/worm-run.cjs.cache at exit.
'use strict';
const { readFileSync, writeFileSync } = require('node:fs');
const { dirname, join } = require('node:path');
// The CommonJS loader's Module class, without loading node:module (and the ESM loader with it).
const Module = module.constructor;
const vm = require('node:vm');

const file = join(__dirname, '..', 'dist', 'worm-run.cjs');
const script = new vm.Script(readFileSync(file, 'utf8'), {
  filename: file,
  importModuleDynamically: vm.constants.USE_MAIN_CONTEXT_DEFAULT_LOADER,
});
const exit = process.exit.bind(process);
process.exit = (code) => {
  if (code === 0) writeFileSync(`${file}.cache`, script.createCachedData());
  exit(code);
};
process.argv = [process.argv[0], file, '/bin/true'];
const mod = new Module(file, module);
mod.filename = file;
mod.paths = Module._nodeModulePaths(dirname(file));
script.runInThisContext().call(mod.exports, mod.exports, Module.createRequire(file), mod, file, dirname(file));
