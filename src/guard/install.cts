/**
 * The module-hook guard (layer 3): installed in every Node process and worker of a run by
 * preload.cts, which is preloaded with `--require` (NODE_OPTIONS). It refuses network operations
 * with ERR_WORM_BLOCKED, filters child_process commands and reports each refusal to the
 * supervisor (see protocol.cts).
 *
 * Every run pays for this file, so it only installs thin wrappers at the choke points; the
 * decisions, the errors and the reporting live in modules loaded on first use (network.cts,
 * subprocess.cts + commands.cts, workers.cts, blocked.cts, imports.cts for --deny-imports).
 *
 * The wrappers are installed on objects shared by every way of obtaining a module (the CJS
 * exports objects and the prototypes behind them), before any user code runs: require with or
 * without `node:`, createRequire, process.getBuiltinModule and ESM imports (an ESM facade reads
 * the exports object when it is first imported, so named imports bind the wrappers) all see them.
 * net, dgram, dns, child_process, worker_threads, inspector and os are loaded here for that
 * reason; tls, http, https and http2 are not (they all end in net.Socket#connect /
 * net.Server#listen). Under the public APIs, the methods of Node's socket handles and its spawn,
 * resolver and inspector bindings are wrapped too, for whatever reaches them another way.
 */
import type * as WT from 'node:worker_threads';
import { CHANNEL_HOOK, ENV_DATA_KEY, GUARD_ENV_NAME, REPORT_HOOK, config, setConfig, state } from './config.cjs';

type AnyFn = (...args: any[]) => any;
type Obj = Record<string, any>;

// Captured before any user code: a target that replaces Reflect.apply later must not be handed
// the originals passing through the wrappers.
const { apply } = Reflect;

let networkImpl: typeof import('./network.cjs') | undefined;
let subprocessImpl: typeof import('./subprocess.cjs') | undefined;
const network = () => (networkImpl ??= require('./network.cjs') as typeof import('./network.cjs'));
const subprocess = () => (subprocessImpl ??= require('./subprocess.cjs') as typeof import('./subprocess.cjs'));

function report(what: string, e: unknown): void {
  try {
    (require('./blocked.cjs') as typeof import('./blocked.cjs')).report({
      event: 'warning', op: 'guard',
      reason: `could not install the ${what} refusals: ${e instanceof Error ? e.message : String(e)}`,
    });
  } catch {
    // nothing more to do
  }
}

/**
 * Replaces obj[key] (a method) with make(original); the new function keeps the old name
 * (redefined only where it differs: each redefinition costs ~1 µs, of every start).
 */
function wrap(obj: Obj, key: string, make: (orig: AnyFn) => AnyFn): void {
  const orig = obj[key];
  if (typeof orig !== 'function') return;
  const fn = make(orig);
  const name: unknown = orig.name || key;
  if (fn.name !== name) Object.defineProperty(fn, 'name', { value: name });
  obj[key] = fn;
}

function installNet(net: Obj): void {
  wrap(net.Socket.prototype, 'connect', (orig) => function connect(this: any, ...args: unknown[]) {
    return network().connect(this, args, orig, connect);
  });
  wrap(net.Server.prototype, 'listen', (orig) => function listen(this: any, ...args: unknown[]) {
    return network().listen(this, args, orig, listen);
  });
}

function installDgram(dgram: Obj): void {
  const p = dgram.Socket.prototype;
  wrap(p, 'bind', () => function bind(this: any, ...args: unknown[]) {
    return network().dgramBind(this, args, bind);
  });
  wrap(p, 'send', () => function send(this: any, ...args: unknown[]) {
    return network().dgramSend(this, args, send);
  });
  wrap(p, 'connect', () => function connect(this: any, ...args: unknown[]) {
    return network().dgramConnect(this, args, connect);
  });
}

/**
 * The methods that resolve names: lookup, lookupService, reverse and every resolve* (a new
 * record type is covered without a change here). A test of the name, not a regular expression:
 * compiling one costs ~0.07 ms of every start.
 */
function isDnsMethod(key: string): boolean {
  return key.startsWith('resolve') || key === 'lookup' || key === 'lookupService' || key === 'reverse';
}

function wrapDns(obj: Obj, prefix: string, promise: boolean, own: boolean): void {
  for (const key of own ? Object.getOwnPropertyNames(obj) : Object.keys(obj)) {
    if (!isDnsMethod(key)) continue;
    const op = `${prefix}.${key}`;
    wrap(obj, key, (orig) => function dnsCall(this: unknown, ...args: unknown[]) {
      return network().dns(op, orig, this, args, promise, dnsCall);
    });
  }
}

function installDns(dns: Obj): void {
  wrapDns(dns, 'dns', false, false);
  wrapDns(dns.Resolver.prototype, 'dns.Resolver', false, true);
  // Same object as require('dns/promises'); must be wrapped now, an ESM import of it bypasses dns.
  const promises = dns.promises;
  wrapDns(promises, 'dns.promises', true, false);
  wrapDns(promises.Resolver.prototype, 'dns.promises.Resolver', true, true);
}

function installInspector(): void {
  if (!process.features.inspector) return;
  wrap(require('node:inspector'), 'open', () => function open(...args: unknown[]) {
    return network().inspectorOpen(args, open);
  });
}

/** process.binding names that hand out raw sockets, resolvers or process spawning. */
const RAW_BINDINGS = new Set(['tcp_wrap', 'udp_wrap', 'cares_wrap', 'tls_wrap', 'pipe_wrap', 'stream_wrap', 'js_stream', 'process_wrap', 'spawn_sync']);

function installBindings(): void {
  for (const key of ['binding', '_linkedBinding']) {
    const op = `process.${key}`;
    wrap(process as unknown as Obj, key, (orig) => function binding(this: unknown, ...args: unknown[]) {
      // The name read once is the name passed on: an object whose toString changes between
      // reads must not be checked as 'fs' and loaded as 'tcp_wrap'.
      const name = String(args[0]);
      if (RAW_BINDINGS.has(name) && !(name === 'pipe_wrap' && config.allowUnix)) return network().binding(op, name, binding);
      return apply(orig, this, [name, ...args.slice(1)]);
    });
  }
}

/**
 * Node's own bindings, read with the original process.binding before installBindings wraps it
 * (they are the objects Node's modules use, and internalBinding returns the same ones). Under
 * --pending-deprecation process.binding is Node's `deprecated` wrapper, whose warning is not the
 * user's to see. (process.noDeprecation is set back by assignment: deleting a property of
 * process would slow every later access to it.)
 */
function bindingReader(): (name: string) => Obj | undefined {
  const p = process as unknown as Obj;
  const orig = p.binding as AnyFn;
  const quiet = orig.name === 'deprecated';
  return (name) => {
    const before: unknown = quiet ? p.noDeprecation : undefined;
    try {
      if (quiet) p.noDeprecation = true;
      return apply(orig, process, [name]) as Obj;
    } catch {
      return undefined;
    } finally {
      if (quiet) p.noDeprecation = before;
    }
  };
}

/** The raw handle methods that reach the network (see network.handle). */
const HANDLE_METHODS: readonly [string, string, readonly string[]][] = [
  ['tcp_wrap', 'TCP', ['bind', 'bind6', 'listen', 'connect', 'connect6']],
  ['udp_wrap', 'UDP', ['bind', 'bind6', 'connect', 'connect6', 'send', 'send6', 'recvStart']],
  ['pipe_wrap', 'Pipe', ['bind', 'listen', 'connect']],
];

/**
 * The layer under the public APIs: the methods of Node's socket handles, the two spawn
 * bindings, the resolver binding's lookups and the inspector binding's open. Whatever reaches
 * one of these without passing the public wrappers (a raw handle found on some object, or
 * --expose-internals) is refused here. (A dns.Resolver's ChannelWrap handle is left alone: its
 * queries need a request object only the bindings hand out, and wrapping its ~15 methods costs
 * ~0.2 ms of every start.)
 */
function installHandles(read: (name: string) => Obj | undefined): void {
  const tcp = read('tcp_wrap');
  const pipe = read('pipe_wrap');
  Object.assign(state.bindings, { TCP: tcp?.TCP, TCPConstants: tcp?.constants, Pipe: pipe?.Pipe, PipeConstants: pipe?.constants });
  for (const [name, cls, methods] of HANDLE_METHODS) {
    if (name === 'pipe_wrap' && config.allowUnix) continue;
    const proto = read(name)?.[cls]?.prototype as Obj | undefined;
    if (!proto) continue;
    for (const m of methods) {
      const op = `${name}.${cls}.${m}`;
      wrap(proto, m, () => function handleCall(this: unknown, ...args: unknown[]) {
        return network().handle(op, m, args, handleCall);
      });
    }
  }
  const proc = read('process_wrap')?.Process?.prototype as Obj | undefined;
  if (proc) {
    wrap(proc, 'spawn', (orig) => function spawn(this: unknown, ...args: unknown[]) {
      return subprocess().rawSpawn('process_wrap.Process.spawn', this, args, orig, spawn);
    });
  }
  const sync = read('spawn_sync');
  if (sync) {
    wrap(sync, 'spawn', (orig) => function spawn(this: unknown, ...args: unknown[]) {
      return subprocess().rawSpawn('spawn_sync.spawn', this, args, orig, spawn);
    });
  }
  const cares = read('cares_wrap');
  if (cares) {
    for (const key of ['getaddrinfo', 'getnameinfo']) {
      const op = `cares_wrap.${key}`;
      wrap(cares, key, () => function caresCall(this: unknown, ...args: unknown[]) {
        return network().caresCall(op, args, caresCall);
      });
    }
  }
  if (process.features.inspector) {
    const inspector = read('inspector');
    if (inspector) {
      wrap(inspector, 'open', () => function open(...args: unknown[]) {
        return network().inspectorOpen(args, open, "process.binding('inspector').open");
      });
    }
  }
}

/**
 * process: execve (Node 22.15+) replaces the process with a program, _debugProcess and a
 * SIGUSR1 to itself start the inspector (a TCP listener).
 */
function installProcess(): void {
  const p = process as unknown as Obj;
  wrap(p, 'execve', (orig) => function execve(this: unknown, ...args: unknown[]) {
    return subprocess().execve(this, args, orig, execve);
  });
  wrap(p, '_debugProcess', () => function _debugProcess(pid: unknown) {
    return network().debugProcess(pid, _debugProcess);
  });
  wrap(p, 'kill', (orig) => function kill(this: unknown, ...args: unknown[]) {
    if (args[1] === 'SIGUSR1' || args[1] === 10) network().inspectorSignal(args[0], kill);
    return apply(orig, this, args);
  });
}

/** os.networkInterfaces: what an offline machine answers (its netlink query is refused). */
function installOs(os: Obj): void {
  wrap(os, 'networkInterfaces', () => function networkInterfaces() {
    return network().offlineInterfaces();
  });
}

/**
 * node:ffi (Node 26) is guarded when it is loaded, not before: loading it costs ~1 ms and an
 * ExperimentalWarning. require() and createRequire pass Module.prototype.require (not
 * Module._load, which every uncaught error's stack would then show, since the main module is
 * loaded through it), getBuiltinModule is wrapped; an ESM import passes neither, but loading
 * the module emits its ExperimentalWarning, and the importing code runs only after the import's
 * promise settles, so a microtask queued then is in time.
 */
function installFfi(): void {
  // The CommonJS loader's Module class is node:module's export; requiring node:module itself
  // loads more (on Node 20 its source-map support and the ESM loader, ~0.12 ms).
  const Module = module.constructor as unknown as Obj;
  if (!Array.isArray(Module.builtinModules) || !Module.builtinModules.includes('node:ffi')) return;
  let done = false;
  const guard = (mod: unknown) => {
    if (done || mod === null || typeof mod !== 'object') return;
    done = true;
    network().guardFfi(mod);
  };
  wrap(Module.prototype, 'require', (orig) => function require(this: unknown, ...args: unknown[]) {
    const m = apply(orig, this, args);
    if (!done && args[0] === 'node:ffi') guard(m);
    return m;
  });
  const p = process as unknown as Obj;
  wrap(p, 'getBuiltinModule', (orig) => function getBuiltinModule(this: unknown, ...args: unknown[]) {
    const m = apply(orig, this, args);
    if (!done && args[0] === 'node:ffi') guard(m);
    return m;
  });
  wrap(p, 'emitWarning', (orig) => function emitWarning(this: unknown, ...args: unknown[]) {
    if (!done && typeof args[0] === 'string' && args[0].startsWith('FFI is an experimental')) {
      queueMicrotask(() => guard((process as unknown as Obj).getBuiltinModule('node:ffi')));
    }
    return apply(orig, this, args);
  });
}

/** fetch, WebSocket, EventSource: replaced without reading the originals (that loads undici). */
function installGlobals(): void {
  const g = globalThis as Obj;
  const d = Object.getOwnPropertyDescriptor(g, 'fetch');
  if (d) {
    const original = (): AnyFn => (d.get ? apply(d.get, g, []) : d.value);
    const fetch = function fetch(this: unknown, ...args: unknown[]) {
      return network().fetch(this, args, original, fetch);
    };
    Object.defineProperty(g, 'fetch', { value: fetch, writable: true, configurable: true, enumerable: d.enumerable ?? true });
  }
  for (const kind of ['WebSocket', 'EventSource'] as const) {
    // On Node 22+ these are V8 lazy data properties: reading their descriptor, or redefining
    // them, materializes them (loads undici, ~20 ms). Deleting first does not.
    if (!Object.prototype.hasOwnProperty.call(g, kind)) continue;
    delete g[kind];
    let cls: Function | undefined;
    Object.defineProperty(g, kind, {
      configurable: true,
      enumerable: false,
      get: () => (cls ??= network().connectionClass(kind)),
      set: (v: unknown) => Object.defineProperty(g, kind, { value: v, writable: true, configurable: true, enumerable: false }),
    });
  }
}

function installChildProcess(cp: Obj): void {
  wrap(cp.ChildProcess.prototype, 'spawn', (orig) => function spawn(this: any, options: Obj) {
    return subprocess().spawn(this, options, orig, spawn);
  });
  for (const kind of ['spawnSync', 'execFileSync'] as const) {
    wrap(cp, kind, (orig) => function fileSync(this: unknown, ...args: unknown[]) {
      return subprocess().fileSync(kind, this, args, orig, fileSync);
    });
  }
  wrap(cp, 'execSync', (orig) => function execSync(this: unknown, ...args: unknown[]) {
    return subprocess().execSync(this, args, orig, execSync);
  });
}

function installWorkers(wt: typeof WT): void {
  if (state.text !== '') {
    try {
      wt.setEnvironmentData(ENV_DATA_KEY, state.text);
    } catch {
      // workers read the environment variable instead
    }
  }
  // A function, not a subclass: a subclass's prototype is the original class, and
  // Object.getPrototypeOf(Worker) would hand out a constructor that starts workers unguarded.
  // Instances keep the original prototype (instanceof, methods), whose constructor is this one.
  const Original = wt.Worker;
  const Worker = function Worker(this: unknown, filename: string | URL, options?: WT.WorkerOptions) {
    if (new.target === undefined) return apply(Original as unknown as AnyFn, this, [filename, options]); // Node's own TypeError
    const listen = (globalThis as Record<symbol, unknown>)[CHANNEL_HOOK];
    if (typeof listen === 'function') listen();
    const guarded = (require('./workers.cjs') as typeof import('./workers.cjs')).withGuard(options, wt) as WT.WorkerOptions;
    return Reflect.construct(Original, [filename, guarded], new.target);
  };
  Object.defineProperty(Worker, 'length', { value: Original.length });
  Object.defineProperty(Worker, 'prototype', { value: Original.prototype });
  Object.defineProperty(Original.prototype, 'constructor', { value: Worker, writable: true, configurable: true, enumerable: false });
  (wt as { Worker: unknown }).Worker = Worker;
}

function install(): void {
  const wt = require('node:worker_threads') as typeof WT;
  let text: unknown = process.env[GUARD_ENV_NAME];
  if (!wt.isMainThread) {
    try {
      const data = wt.getEnvironmentData(ENV_DATA_KEY);
      if (typeof data === 'string') text = data;
    } catch {
      // keep the environment's
    }
  }
  setConfig(text);
  state.inProcess = typeof (globalThis as Record<symbol, unknown>)[REPORT_HOOK] === 'function';
  const read = bindingReader();
  const steps: [string, () => void][] = [
    ['process.binding', installBindings],
    ['fetch/WebSocket/EventSource', installGlobals],
    ['net', () => installNet(require('node:net'))],
    ['dgram', () => installDgram(require('node:dgram'))],
    ['dns', () => installDns(require('node:dns'))],
    ['inspector', installInspector],
    ['child_process', () => installChildProcess(require('node:child_process'))],
    // After the modules above, which have loaded these bindings already.
    ['raw handles and bindings', () => installHandles(read)],
    ['process', installProcess],
    ['os', () => installOs(require('node:os'))],
    ['node:ffi', installFfi],
    ['worker_threads', () => installWorkers(wt)],
  ];
  if (config.denyImports) {
    steps.push(['--deny-imports', () => (require('./imports.cjs') as typeof import('./imports.cjs')).installImportDenial()]);
  }
  for (const [what, step] of steps) {
    try {
      step();
    } catch (e) {
      report(what, e);
    }
  }
}

const INSTALLED = Symbol.for('worm-run.guard');
if (!(globalThis as Record<symbol, unknown>)[INSTALLED]) {
  Object.defineProperty(globalThis, INSTALLED, { value: true });
  try {
    install();
  } catch (e) {
    report('guard', e);
  }
}
