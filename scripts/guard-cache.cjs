// Build step (scripts/bundle.js runs it): loads the guard as every Node process of a run does,
// through dist/guard/preload.cjs, which compiles dist/guard/start.cjs and installs the guard in
// this process, so the functions every start runs are compiled; then saves V8's code cache of
// that script as the file preload.cjs looks for on this Node (its CACHE_FILE, named after the
// Node).
'use strict';
const { readdirSync, rmSync, writeFileSync } = require('node:fs');
const { join } = require('node:path');

const guard = join(__dirname, '..', 'dist', 'guard');
// Every older cache goes first. A script compiled from one is what the cache holds (on Node 20
// even the name it was compiled under), and V8 tells a cache's source only by its length: an
// old cache of a changed start.cjs of the same length would pass for a current one.
for (const f of readdirSync(guard)) {
  if (f.startsWith('start.cjs.') && f.endsWith('.cache')) rmSync(join(guard, f));
}
const { CACHE_FILE, script } = require('../dist/guard/preload.cjs');
if (!script) throw new Error(`${join(guard, 'start.cjs')} was not compiled (missing?)`);
writeFileSync(CACHE_FILE, script.createCachedData());
