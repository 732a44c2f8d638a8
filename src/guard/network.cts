/**
 * Network refusals: what the thin wrappers installed by install.cts call (loaded on the first
 * network operation, not at start-up). Each function decides (only Unix sockets with
 * --allow-unix and IP-literal lookups go through), reports, and delivers the ERR_WORM_BLOCKED
 * error where Node delivers the matching failure:
 *
 *   sockets, servers, dgram without callback   'error' event after this tick (as ECONNREFUSED,
 *                                              EADDRINUSE); a socket then closes
 *   dgram send/connect with callback, dns      the callback, after this tick
 *   dns.promises                               rejected promise
 *   fetch                                      rejected promise: TypeError 'fetch failed', the
 *                                              ERR_WORM_BLOCKED error as its cause
 *   process.binding, inspector.open, the raw   thrown
 *   handles and bindings, node:ffi lookups
 *   WebSocket, EventSource                     'error' event (with `.error`), WebSocket 'close' 1006
 *
 * The operation's name for a socket connect (`https.request`, `tls.connect`, `http2.connect`,
 * ...) is read from Node's internal frames on the stack, so tls, http, https and http2 never
 * need loading or patching by the guard.
 */
import type * as Net from 'node:net';
import type * as Dgram from 'node:dgram';
import { config, state } from './config.cjs';
import { type CallSite, callSites, fetchFailed, hostPort, internalFiles, refuse } from './blocked.cjs';

type AnyFn = (...args: any[]) => any;

// Captured at load: the target may replace Reflect.apply later to catch the originals passing through.
const { apply } = Reflect;

/** Node's own test for "this argument is a pipe path, not a port". */
function isPipeName(s: unknown): s is string {
  return typeof s === 'string' && Number.isNaN(Number(s));
}

/** The options of a connect call, as net's normalizeArgs reads them. */
function connectOptions(args: unknown[]): Record<string, unknown> {
  let a = args;
  if (Array.isArray(a[0])) a = a[0] as unknown[]; // already normalized by net.connect
  const first = a[0];
  if (first !== null && typeof first === 'object') return first as Record<string, unknown>;
  if (isPipeName(first)) return { path: first };
  return { port: first, host: typeof a[1] === 'string' ? a[1] : undefined };
}

/** Which public API led to a socket connect, from Node's own frames on the stack. */
export function connectLabel(files: readonly string[]): string {
  let http = false;
  let https = false;
  let h2 = false;
  let tls = false;
  for (const f of files) {
    if (f.startsWith('node:internal/deps/undici')) return 'fetch';
    if (f === 'node:https') https = true;
    else if (f.startsWith('node:internal/http2')) h2 = true;
    else if (f === 'node:_http_client' || f === 'node:_http_agent' || f === 'node:http') http = true;
    else if (f === 'node:_tls_wrap' || f === 'node:tls' || f.startsWith('node:internal/tls/')) tls = true;
  }
  return https ? 'https.request' : h2 ? 'http2.connect' : http ? 'http.request' : tls ? 'tls.connect' : 'net.connect';
}

/**
 * net.Socket.prototype.connect. The socket is left as Node's own connect leaves it while the
 * connection is under way (a handle that has no descriptor yet, `connecting`), so everything
 * built on it reacts as to a refused connection: writes wait and then fail with
 * ERR_SOCKET_CLOSED_BEFORE_CONNECTION, an http2 session waits for 'connect' instead of
 * starting at once, and destroy() closes the handle and emits 'close' with hadError. A socket
 * destroyed by an earlier refusal is revived first, as Node's connect does.
 */
export function connect(socket: Net.Socket, args: unknown[], orig: AnyFn, hide: Function): unknown {
  const opts = connectOptions(args);
  const isPath = opts.path !== undefined && opts.path !== null;
  if (isPath && config.allowUnix) return apply(orig, socket, args);
  const target = isPath ? String(opts.path) : hostPort(opts.host, opts.port);
  const sites: CallSite[] = callSites();
  const err = refuse(connectLabel(internalFiles(sites)), target, {
    hide, sites,
    props: isPath ? { address: String(opts.path) } : { address: opts.host ?? 'localhost', port: opts.port },
  });
  const s = socket as unknown as Record<string, any>;
  if (s.destroyed) {
    s._handle = null;
    s._peername = null;
    s._sockname = null;
    if (typeof s._undestroy === 'function') s._undestroy();
  }
  if (!s._handle) {
    const b = state.bindings;
    try {
      if (isPath && b.Pipe && b.PipeConstants) s._handle = new b.Pipe(b.PipeConstants.SOCKET);
      else if (!isPath && b.TCP && b.TCPConstants) s._handle = new b.TCP(b.TCPConstants.SOCKET);
    } catch {
      // without a handle the socket still fails below
    }
  }
  s.connecting = true;
  process.nextTick(() => socket.destroy(err));
  return socket;
}

/** net.Server.prototype.listen (http, https, tls and http2 servers inherit it). */
export function listen(server: Net.Server, args: unknown[], orig: AnyFn, hide: Function): unknown {
  const first = args[0];
  let target: string;
  let unix = false;
  if (first !== null && typeof first === 'object') {
    const o = first as Record<string, unknown>;
    if ('_handle' in o || 'handle' in o || typeof o.fd === 'number') {
      unix = true; // an existing descriptor: the kernel knows what it is
      target = typeof o.fd === 'number' ? `fd ${o.fd}` : 'an existing handle';
    } else if (o.path != null && o.port === undefined) {
      unix = true;
      target = String(o.path);
    } else {
      target = o.host != null ? hostPort(o.host, o.port ?? 0) : `port ${String(o.port ?? 0)}`;
    }
  } else if (isPipeName(first)) {
    unix = true;
    target = first;
  } else {
    const port = typeof first === 'function' || first === undefined || first === null ? 0 : first;
    target = typeof args[1] === 'string' ? hostPort(args[1], port) : `port ${String(port)}`;
  }
  if (unix && config.allowUnix) return apply(orig, server, args);
  const err = refuse('net.Server.listen', target, { hide });
  process.nextTick(() => server.emit('error', err));
  return server;
}

/** The callback among the arguments (the last function), if any. */
function lastFunction(args: unknown[]): AnyFn | undefined {
  for (let i = args.length - 1; i >= 0; i--) if (typeof args[i] === 'function') return args[i] as AnyFn;
  return undefined;
}

function udpTarget(port: unknown, address: unknown): string {
  return hostPort(typeof address === 'string' && address !== '' ? address : 'localhost', port ?? 0);
}

/** dgram.Socket.prototype.bind */
export function dgramBind(socket: Dgram.Socket, args: unknown[], hide: Function): unknown {
  const first = args[0];
  let target: string;
  if (first !== null && typeof first === 'object') {
    const o = first as Record<string, unknown>;
    target = typeof o.fd === 'number' ? `fd ${o.fd}` : udpTarget(o.port, o.address);
  } else {
    target = udpTarget(typeof first === 'function' ? 0 : first, typeof args[1] === 'string' ? args[1] : undefined);
  }
  const err = refuse('dgram.bind', target, { hide });
  process.nextTick(() => socket.emit('error', err));
  return socket;
}

/**
 * dgram.Socket.prototype.send(msg, [offset, length,] port, address, cb): the long form when the
 * 5th argument is an address or the 4th a port (Node's own test).
 */
export function dgramSend(socket: Dgram.Socket, args: unknown[], hide: Function): void {
  const [, offset, length, port, address] = args;
  let target: string;
  if (address || (port && typeof port !== 'function')) target = udpTarget(port, address);
  else if (offset === undefined || typeof offset === 'function') target = 'the connected address';
  else target = udpTarget(offset, length);
  const err = refuse('dgram.send', target, { hide });
  const cb = lastFunction(args);
  if (cb) process.nextTick(cb, err);
  else process.nextTick(() => socket.emit('error', err));
}

/** dgram.Socket.prototype.connect */
export function dgramConnect(socket: Dgram.Socket, args: unknown[], hide: Function): void {
  const err = refuse('dgram.connect', udpTarget(args[0], args[1]), { hide });
  const cb = lastFunction(args);
  if (cb) process.nextTick(cb, err);
  else process.nextTick(() => socket.emit('error', err));
}

function isIpLiteral(s: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(s) || (s.includes(':') && /^[0-9a-fA-F:.]+(%[\w.-]+)?$/.test(s));
}

/**
 * A dns function (callback or promise form). A lookup of an IP literal (or of nothing) never
 * leaves the process, so Node answers it; everything else is refused.
 */
export function dns(op: string, orig: AnyFn, self: unknown, args: unknown[], promise: boolean, hide: Function): unknown {
  const name = args[0];
  if (op.endsWith('.lookup') && (typeof name !== 'string' || name === '' || isIpLiteral(name))) return apply(orig, self, args);
  const target = op.endsWith('.lookupService') ? hostPort(name, args[1]) : String(name);
  const err = refuse(op, target, { hide, props: { hostname: target } });
  if (promise) return Promise.reject(err);
  const cb = lastFunction(args);
  if (cb) {
    process.nextTick(cb, err);
    return undefined;
  }
  const blocked = err;
  throw blocked; // node-do-not-add-exception-line
}

/** inspector.open (and the inspector binding's open): it would listen on a TCP port. */
export function inspectorOpen(args: unknown[], hide: Function, op = 'inspector.open'): never {
  const blocked = refuse(op, hostPort(args[1] ?? '127.0.0.1', args[0] ?? 9229), { hide });
  throw blocked; // node-do-not-add-exception-line
}

/** process.binding / process._linkedBinding of a raw network or process binding. */
export function binding(op: string, name: string, hide: Function): never {
  const blocked = refuse(op, name, { hide });
  throw blocked; // node-do-not-add-exception-line
}

/**
 * A method of a raw socket handle (tcp_wrap TCP, udp_wrap UDP, pipe_wrap Pipe). Such handles
 * reach user code without process.binding: a dgram socket's `_handle`, the TCP handle under a
 * new tls.TLSSocket, net._createServerHandle, a handle's constructor, --expose-internals. Every
 * route to the network through them ends in one of these methods, so they are refused
 * (thrown, as the raw bindings are) whatever led there.
 */
export function handle(op: string, method: string, args: unknown[], hide: Function): never {
  let target: string | undefined;
  if (op.startsWith('pipe_wrap.')) {
    const path = method === 'connect' ? args[1] : args[0];
    target = method === 'listen' || typeof path !== 'string' ? undefined : path;
  } else if (method === 'connect' || method === 'connect6') {
    target = op.startsWith('tcp_wrap.') ? hostPort(args[1], args[2]) : hostPort(args[0], args[1]);
  } else if (method === 'bind' || method === 'bind6') {
    target = hostPort(args[0], args[1]);
  } else if (method === 'send' || method === 'send6') {
    target = args.length >= 6 ? hostPort(args[4], args[3]) : 'the connected address';
  }
  const blocked = refuse(op, target, { hide });
  throw blocked; // node-do-not-add-exception-line
}

/** A name resolution through the cares_wrap binding itself (reachable with --expose-internals). */
export function caresCall(op: string, args: unknown[], hide: Function): never {
  const name = op.endsWith('getnameinfo') ? hostPort(args[1], args[2]) : String(args[1]);
  const blocked = refuse(op, name, { hide, props: { hostname: name } });
  throw blocked; // node-do-not-add-exception-line
}

/** process._debugProcess(pid): starts the inspector of that Node process, listening on TCP 9229. */
export function debugProcess(pid: unknown, hide: Function): never {
  const blocked = refuse('process._debugProcess', `pid ${String(pid)}`, {
    hide, text: `process._debugProcess(${String(pid)}) (starts the inspector, listening on 127.0.0.1:9229)`,
  });
  throw blocked; // node-do-not-add-exception-line
}

/**
 * process.kill(process.pid, 'SIGUSR1'): a Node process with no SIGUSR1 listener starts its
 * inspector on that signal, listening on TCP. Refused only when that is what would happen here;
 * a signal to another process is that process's affair (the kernel refuses its listen).
 */
export function inspectorSignal(pid: unknown, hide: Function): void {
  if (!process.features.inspector || Number(pid) !== process.pid) return;
  const wt = require('node:worker_threads') as typeof import('node:worker_threads');
  if (!wt.isMainThread || process.listenerCount('SIGUSR1') > 0) return;
  if (`${process.execArgv.join(' ')} ${process.env.NODE_OPTIONS ?? ''}`.includes('--disable-sigusr1')) return;
  try {
    if ((require('node:inspector') as typeof import('node:inspector')).url() !== undefined) return; // already listening
  } catch {
    // refuse below
  }
  const blocked = refuse('process.kill', `pid ${process.pid}`, {
    hide, text: `process.kill(${process.pid}, 'SIGUSR1') (starts the inspector, listening on 127.0.0.1:9229)`,
  });
  throw blocked; // node-do-not-add-exception-line
}

/**
 * os.networkInterfaces() on an offline machine: loopback only, in Node's shape (the key order
 * of lib/os.js, `scopeid` on IPv6 only). The real call opens a netlink socket, which the kernel
 * filter refuses, and Node would throw ERR_SYSTEM_ERROR, crashing libraries that ask at load.
 */
export function offlineInterfaces(): Record<string, object[]> {
  const mac = '00:00:00:00:00:00';
  return {
    lo: [
      { address: '127.0.0.1', netmask: '255.0.0.0', family: 'IPv4', mac, internal: true, cidr: '127.0.0.1/8' },
      { address: '::1', netmask: 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', family: 'IPv6', mac, internal: true, cidr: '::1/128', scopeid: 0 },
    ],
  };
}

/**
 * node:ffi (Node 26): functions of native libraries called from JavaScript. Looking up a C
 * function that reaches the network or starts a program is refused by name, whichever library
 * it is asked of: the socket calls, name resolution, `syscall` (which can make any of them),
 * and the exec/spawn/fork family (the subprocess filter cannot read a command line out of raw
 * pointers). Anything else a native library does is native code, as with process.dlopen: the
 * kernel filter stands behind it.
 */
const FFI_NETWORK = /^(socket|connect|bind|listen|accept4?|sendto|sendmsg|sendmmsg|recvfrom|recvmmsg|getaddrinfo|getnameinfo|gethostbyname2?(_r)?|gethostbyaddr(_r)?|res_n?(query|search|send|querydomain)|__res_n?(query|search|send)|syscall)$/;
const FFI_PROGRAM = /^(execv|execve|execvp|execvpe|execl|execle|execlp|fexecve|execveat|posix_spawnp?|system|popen|fork|vfork|clone3?|_Fork)$/;
const guardedFfi = new WeakSet<object>();

/**
 * The names a lookup asks for, and the argument to pass on in their place: read once (a name
 * object whose toString changes, or a Proxy whose keys do, must not be checked as one name and
 * resolved as another).
 */
function ffiNames(arg: unknown): { names: string[]; arg: unknown } {
  if (arg === undefined) return { names: [], arg };
  if (Array.isArray(arg)) {
    const names = arg.map(String);
    return { names, arg: names };
  }
  if (arg !== null && typeof arg === 'object') {
    const copy: Record<string, unknown> = {};
    for (const k of Object.keys(arg)) copy[k] = (arg as Record<string, unknown>)[k];
    return { names: Object.keys(copy), arg: copy };
  }
  const name = String(arg);
  return { names: [name], arg: name };
}

export function guardFfi(mod: unknown): void {
  const proto = (mod as { DynamicLibrary?: { prototype?: Record<string, unknown> } } | null)?.DynamicLibrary?.prototype;
  if (!proto || guardedFfi.has(proto)) return;
  guardedFfi.add(proto);
  for (const key of ['getFunction', 'getFunctions', 'getSymbol', 'getSymbols']) {
    const orig = proto[key];
    if (typeof orig !== 'function') continue;
    const op = `ffi.${key}`;
    const fn = function (this: { path?: unknown }, ...given: unknown[]) {
      const { names, arg } = ffiNames(given[0]);
      const args = given.length ? [arg, ...given.slice(1)] : given;
      for (const name of names) {
        const network = FFI_NETWORK.test(name);
        if (!network && !FFI_PROGRAM.test(name)) continue;
        const lib = typeof this?.path === 'string' ? this.path : 'a native library';
        const blocked = refuse(op, `${name} (${lib})`, {
          hide: fn,
          reason: network ? 'network call through node:ffi' : 'starts a program through node:ffi, around the subprocess filter',
          text: `${op} of ${name} (${lib})`,
        });
        throw blocked; // node-do-not-add-exception-line
      }
      return apply(orig as AnyFn, this, args);
    };
    Object.defineProperty(fn, 'name', { value: key });
    Object.defineProperty(proto, key, { ...Object.getOwnPropertyDescriptor(proto, key), value: fn });
  }
}

function urlOf(input: unknown): string {
  try {
    if (typeof input === 'string') return input;
    if (input instanceof URL) return input.href;
    const u = (input as { url?: unknown } | null)?.url;
    if (typeof u === 'string') return u;
    return String(input);
  } catch {
    return '';
  }
}

/** globalThis.fetch: data:, blob:, about: and file: URLs (and invalid input) go to Node's own. */
export function fetch(self: unknown, args: unknown[], original: () => AnyFn, hide: Function): Promise<unknown> {
  const url = urlOf(args[0]);
  let href: string | null = null;
  try {
    href = new URL(url).href;
  } catch {
    // invalid or relative: the original rejects it with its own TypeError
  }
  const scheme = href ? href.slice(0, href.indexOf(':')).toLowerCase() : '';
  if (href === null || scheme === 'data' || scheme === 'blob' || scheme === 'about' || scheme === 'file') {
    return apply(original(), self, args);
  }
  return Promise.reject(fetchFailed(refuse('fetch', href, { hide }), hide));
}

/**
 * WebSocket and EventSource stand-ins: constructible, with the usual attributes and handler
 * properties; the connection fails after this turn of the event loop with an 'error' event
 * (carrying `.error`, the ERR_WORM_BLOCKED error, and `.message`) and, for a WebSocket, a
 * 'close' event with code 1006, as a refused connection does.
 */
export function connectionClass(kind: 'WebSocket' | 'EventSource'): Function {
  const isWs = kind === 'WebSocket';
  const CLOSED = isWs ? 3 : 2;
  const DomEx = (globalThis as { DOMException?: new (m: string, n: string) => Error }).DOMException;
  const domError = (m: string, n: string) => (DomEx ? new DomEx(m, n) : Object.assign(new Error(m), { name: n }));

  class Blocked extends EventTarget {
    #url: string;
    #state = 0;
    #binaryType = 'blob';
    #handlers = new Map<string, { fn: unknown; listener: (e: Event) => void }>();

    constructor(url: unknown, _protocolsOrInit?: unknown) {
      super();
      let href: string;
      try {
        href = new URL(String(url)).href;
      } catch {
        throw domError(`Failed to construct '${kind}': The URL '${String(url)}' is invalid.`, 'SyntaxError');
      }
      this.#url = href;
      const err = refuse(kind, href, { hide: Blocked });
      setImmediate(() => {
        this.#state = CLOSED;
        const ev = new Event('error');
        Object.defineProperties(ev, { error: { value: err }, message: { value: err.message } });
        this.dispatchEvent(ev);
        if (isWs) {
          const close = new Event('close');
          Object.defineProperties(close, { code: { value: 1006 }, reason: { value: '' }, wasClean: { value: false } });
          this.dispatchEvent(close);
        }
      });
    }

    get url(): string { return this.#url; }
    get readyState(): number { return this.#state; }
    get protocol(): string { return ''; }
    get extensions(): string { return ''; }
    get bufferedAmount(): number { return 0; }
    get withCredentials(): boolean { return false; }
    get binaryType(): string { return this.#binaryType; }
    set binaryType(v: string) { if (v === 'blob' || v === 'arraybuffer' || v === 'nodebuffer') this.#binaryType = v; }

    send(): void {
      if (this.#state === 0) throw domError('Sent before connected.', 'InvalidStateError');
    }

    close(): void {
      if (this.#state !== CLOSED && isWs) this.#state = 2;
    }

    static handler(self: Blocked, type: string): unknown {
      return self.#handlers.get(type)?.fn ?? null;
    }

    static setHandler(self: Blocked, type: string, fn: unknown): void {
      const old = self.#handlers.get(type);
      if (old) self.removeEventListener(type, old.listener);
      if (typeof fn !== 'function') {
        self.#handlers.delete(type);
        return;
      }
      const listener = (e: Event) => (fn as (e: Event) => void).call(self, e);
      self.#handlers.set(type, { fn, listener });
      self.addEventListener(type, listener);
    }
  }
  const { handler, setHandler } = Blocked;
  for (const type of isWs ? ['open', 'message', 'error', 'close'] : ['open', 'message', 'error']) {
    Object.defineProperty(Blocked.prototype, `on${type}`, {
      get(this: Blocked) { return handler(this, type); },
      set(this: Blocked, fn: unknown) { setHandler(this, type, fn); },
      configurable: true, enumerable: true,
    });
  }
  delete (Blocked as { handler?: unknown }).handler;
  delete (Blocked as { setHandler?: unknown }).setHandler;
  const states: [string, number][] = isWs
    ? [['CONNECTING', 0], ['OPEN', 1], ['CLOSING', 2], ['CLOSED', 3]]
    : [['CONNECTING', 0], ['OPEN', 1], ['CLOSED', 2]];
  for (const [k, v] of states) {
    Object.defineProperty(Blocked, k, { value: v, enumerable: true });
    Object.defineProperty(Blocked.prototype, k, { value: v, enumerable: true });
  }
  Object.defineProperty(Blocked, 'name', { value: kind });
  return Blocked;
}
