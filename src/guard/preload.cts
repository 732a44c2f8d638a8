/**
 * The guard's entry point (layer 3), preloaded into every Node process and worker of a run with
 * `--require` (NODE_OPTIONS). It loads the start-time guard: config.cts and install.cts, which
 * installs the wrappers (see there); everything else is loaded on first use.
 *
 * Every Node start of a run pays for this, so those two modules come as one script,
 * dist/guard/start.cjs (made by scripts/bundle.js), compiled here with the V8 code cache that
 * scripts/guard-cache.cjs made for it at build time: no module resolution for them, one file
 * read, and no compiling of the functions that run at every start. A cache is only for the
 * Node that made it (V8 rejects any other), so its file is named after that Node and another
 * Node does not even look for one; a cache V8 rejects all the same (other V8 flags, e.g. a
 * --max-old-space-size) just means an ordinary compile. Nothing is written at run time.
 * Without the bundle (a build that did not make one) the same modules load from their files.
 */
import fs = require('node:fs');
import vm = require('node:vm');

type Body = (exports: unknown, require: NodeJS.Require, module: NodeJS.Module, filename: string, dirname: string) => void;
type Define = (name: string, body: Body) => void;
type ModuleClass = new (id: string, parent?: NodeJS.Module) => NodeJS.Module;

const START = `${__dirname}/start.cjs`;

/** This Node's code cache for start.cjs, if one was made (scripts/guard-cache.cjs writes it). */
export const CACHE_FILE = `${START}.${process.version}-${process.platform}-${process.arch}.cache`;

/**
 * The name start.cjs is compiled under, what its frames show: the same wherever worm-run is
 * installed. Node 20's V8 keeps the name a code cache was made under (later lines take the one
 * given), so the build checkout's path would show instead of the installed one, and frames of
 * the guard would pass for the user's (blocked.cts tells them apart by this name).
 */
export const SCRIPT_NAME = 'worm-run/dist/guard/start.cjs';

/** The compiled bundle, for scripts/guard-cache.cjs (it saves the script's code cache). */
export let script: vm.Script | undefined;

/** The bundle's modules defined so far, by the name their neighbours require them with. */
const defined = new Map<string, unknown>();

/**
 * A require for the bundle's modules: each other's exports without the resolver (resolving
 * './config.cjs', stat and realpath on the resolver's first use, cost ~0.3 ms), anything else
 * from this directory as their own files would.
 */
function bundleRequire(id: string): unknown {
  return defined.has(id) ? defined.get(id) : require(id);
}

/**
 * Runs one module of the bundle as the CommonJS loader runs a file: its own filename, module
 * and exports, and an entry in require.cache. The modules loaded later (network.cjs ...)
 * require('./config.cjs') and must get this instance, the one install.cts configured.
 */
function define(name: string, body: Body): void {
  const Module = module.constructor as ModuleClass;
  const filename = `${__dirname}/${name}`;
  const m = new Module(filename, module);
  m.filename = filename;
  m.paths = module.paths;
  require.cache[filename] = m;
  try {
    body.call(m.exports, m.exports, bundleRequire as NodeJS.Require, m, filename, __dirname);
  } catch (e) {
    delete require.cache[filename];
    throw e;
  }
  m.loaded = true;
  defined.set(`./${name}`, m.exports);
}

/** start.cjs compiled (a function that defines its modules), or undefined if there is none. */
function compile(): ((define: Define) => void) | undefined {
  let source: string;
  try {
    source = fs.readFileSync(START, 'utf8');
  } catch {
    return undefined;
  }
  let cachedData: Buffer | undefined;
  try {
    // Read into a Buffer, outside V8's heap. (As base64 text, read in Node's C++ UTF-8 path, it
    // was ~0.07 ms quicker to read, but its 32 KB string in the young generation was enough
    // for a hello-world start to reach its first scavenge, ~0.8 ms.)
    cachedData = fs.readFileSync(CACHE_FILE);
  } catch {
    // none for this Node: compiled without
  }
  script = new vm.Script(source, { filename: SCRIPT_NAME, cachedData });
  return script.runInThisContext() as (define: Define) => void;
}

// Once per process or thread: a second copy (the preload named twice by different paths) must
// not define a fresh, unconfigured config module for the later modules to find.
if (!(globalThis as Record<symbol, unknown>)[Symbol.for('worm-run.guard')]) {
  const start = compile();
  if (start) start(define);
  else require('./install.cjs');
}
