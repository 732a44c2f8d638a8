// Build step (scripts/bundle.js runs it): compiles dist/worm-run.cjs as bin/worm-run.js does,
// runs one real `worm-run /bin/true` in this process so the functions on that path are
// compiled too, and saves V8's code cache as dist/worm-run.cjs.cache when the run ends.
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
let saved = false;
const save = (code) => {
  if (code === 0 && !saved) {
    writeFileSync(`${file}.cache`, script.createCachedData());
    saved = true;
  }
};
// A run that started its target leaves through the addon's exitNow (_exit, no Node exit path,
// so no 'exit' event either): wrap it where the addon is loaded. Other exits go through
// process.exit.
const dlopen = process.dlopen;
process.dlopen = function (m, filename, ...rest) {
  const r = dlopen.call(this, m, filename, ...rest);
  const exitNow = m.exports && m.exports.exitNow;
  if (/worm_run\.node$/.test(filename) && typeof exitNow === 'function') {
    m.exports.exitNow = (code) => {
      save(code);
      return exitNow(code);
    };
  }
  return r;
};
const exit = process.exit.bind(process);
process.exit = (code) => {
  save(code);
  exit(code);
};
// Without a cache the build says so (scripts/bundle.js prints the reason) instead of going on
// silently without one.
process.on('exit', (code) => {
  if (!saved) {
    process.stderr.write(`code-cache: the run ended (status ${code}) without a cache written\n`);
    process.exitCode = 1;
  }
});
process.argv = [process.argv[0], file, '/bin/true'];
const mod = new Module(file, module);
mod.filename = file;
mod.paths = Module._nodeModulePaths(dirname(file));
script.runInThisContext().call(mod.exports, mod.exports, Module.createRequire(file), mod, file, dirname(file));
