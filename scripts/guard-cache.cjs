// Build step (scripts/bundle.js runs it): loads the guard as every Node process of a run does,
// through dist/guard/preload.cjs, which compiles dist/guard/start.cjs and installs the guard in
// this process, so the functions every start runs are compiled; then saves V8's code cache of
// that script as dist/guard/start.cjs.cache, in base64 (see preload.cts). preload.cjs reads it
// only on the Node named on the bundle's first line, which must therefore be this Node's
// CACHE_LINE.
'use strict';
const { readFileSync, rmSync, writeFileSync } = require('node:fs');
const { join } = require('node:path');

const start = join(__dirname, '..', 'dist', 'guard', 'start.cjs');
// Compiled from the source, not from an older cache: a script deserialized from a cache keeps
// what the cache holds (on Node 20 even the name it was compiled under).
rmSync(`${start}.cache`, { force: true });
const { CACHE_LINE, script } = require('../dist/guard/preload.cjs');
if (!script) throw new Error(`${start} was not compiled (missing?)`);
if (!readFileSync(start, 'utf8').startsWith(CACHE_LINE)) {
  throw new Error(`the first line of ${start} is not ${JSON.stringify(CACHE_LINE)}: a cache would never be read`);
}
writeFileSync(`${start}.cache`, script.createCachedData().toString('base64'));
