/**
 * Network refusals. The choke points are the prototypes every public API ends in, so that the
 * patches hold however the module was obtained (require, static or dynamic import, named
 * imports, createRequire, getBuiltinModule) and whatever library wraps them:
 *
 *   net.Socket.prototype.connect   net.connect/createConnection, tls.connect, http(s).request,
 *                                  http2.connect, Agent sockets, npm HTTP clients
 *   net.Server.prototype.listen    net, http, https, tls and http2 servers
 *   dgram.Socket.prototype         bind, send, connect
 *   dns exports + Resolver protos  lookup, lookupService, resolve*, reverse, and dns.promises
 *   inspector.open, process.binding/_linkedBinding, globals fetch/WebSocket/EventSource
 *
 * tls, http, https and http2 are never loaded by the guard (they cost milliseconds): the
 * operation's name (`https.request`, `tls.connect`, ...) is read from Node's internal frames on
 * the stack at the moment of the refusal.
 *
 * Errors are delivered where Node delivers the matching failure: sockets and servers get an
 * 'error' event after the current tick (as ECONNREFUSED or EADDRINUSE would), callbacks get
 * the error, promises reject, synchronous APIs throw.
 */
import type * as Net from 'node:net';
import type * as Dgram from 'node:dgram';
import type * as Dns from 'node:dns';
import { type CallSite, callSites, config, hostPort, internalFiles, refuse } from './blocked.cjs';

type AnyFn = (...args: any[]) => any;

/** Node's own test for "this argument is a pipe path, not a port". */
function isPipeName(s: unknown): s is string {
  return typeof s === 'string' && !/^\s*\d+\s*$/.test(s) && Number.isNaN(Number(s));
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
function connectLabel(sites: CallSite[]): string {
  let http = false;
  let https = false;
  let h2 = false;
  let tls = false;
  for (const f of internalFiles(sites)) {
    if (f.startsWith('node:internal/deps/undici')) return 'fetch';
    if (f === 'node:https') https = true;
    else if (f.startsWith('node:internal/http2')) h2 = true;
    else if (f === 'node:_http_client' || f === 'node:_http_agent' || f === 'node:http') http = true;
    else if (f === 'node:_tls_wrap' || f === 'node:tls') tls = true;
  }
  return https ? 'https.request' : h2 ? 'http2.connect' : http ? 'http.request' : tls ? 'tls.connect' : 'net.connect';
}

function patchNet(net: typeof Net): void {
  const sock = net.Socket.prototype as unknown as Record<string, AnyFn>;
  const origConnect = sock.connect!;
  if ((origConnect as { wormRun?: boolean }).wormRun) return;
  const connect = function connect(this: Net.Socket, ...args: unknown[]) {
    const opts = connectOptions(args);
    let target: string;
    if (opts.path !== undefined && opts.path !== null) {
      if (config.allowUnix) return origConnect.apply(this, args);
      target = String(opts.path);
    } else {
      target = hostPort(opts.host, opts.port);
    }
    const sites = callSites();
    const err = refuse(connectLabel(sites), target, {
      hide: connect, sites,
      props: opts.path != null ? { address: String(opts.path) } : { address: opts.host ?? 'localhost', port: opts.port },
    });
    // As a refused connection: 'error' then 'close', never 'connect'.
    process.nextTick(() => this.destroy(err));
    return this;
  };
  (connect as { wormRun?: boolean }).wormRun = true;
  sock.connect = connect;

  const server = net.Server.prototype as unknown as Record<string, AnyFn>;
  const origListen = server.listen!;
  const listen = function listen(this: Net.Server, ...args: unknown[]) {
    const first = args[0];
    let target: string;
    if (first !== null && typeof first === 'object') {
      const o = first as Record<string, unknown>;
      if ('_handle' in o || 'handle' in o || typeof o.fd === 'number') {
        if (config.allowUnix) return origListen.apply(this, args);
        target = typeof o.fd === 'number' ? `fd ${o.fd}` : 'an existing handle';
      } else if (o.path != null && o.port === undefined) {
        if (config.allowUnix) return origListen.apply(this, args);
        target = String(o.path);
      } else {
        target = o.host != null ? hostPort(o.host, o.port ?? 0) : `port ${String(o.port ?? 0)}`;
      }
    } else if (isPipeName(first)) {
      if (config.allowUnix) return origListen.apply(this, args);
      target = first;
    } else {
      const port = typeof first === 'function' || first === undefined || first === null ? 0 : first;
      target = typeof args[1] === 'string' ? hostPort(args[1], port) : `port ${String(port)}`;
    }
    const err = refuse('net.Server.listen', target, { hide: listen });
    process.nextTick(() => this.emit('error', err));
    return this;
  };
  server.listen = listen;
}

/** The callback among the arguments (the last function), if any. */
function lastFunction(args: unknown[]): AnyFn | undefined {
  for (let i = args.length - 1; i >= 0; i--) if (typeof args[i] === 'function') return args[i] as AnyFn;
  return undefined;
}

function patchDgram(dgram: typeof Dgram): void {
  const proto = dgram.Socket.prototype as unknown as Record<string, AnyFn>;
  const udpTarget = (port: unknown, address: unknown) =>
    hostPort(typeof address === 'string' && address !== '' ? address : 'localhost', port ?? 0);

  const bind = function bind(this: Dgram.Socket, ...args: unknown[]) {
    const first = args[0];
    let target: string;
    if (first !== null && typeof first === 'object') {
      const o = first as Record<string, unknown>;
      target = typeof o.fd === 'number' ? `fd ${o.fd}` : udpTarget(o.port, o.address);
    } else {
      target = udpTarget(typeof first === 'function' ? 0 : first, typeof args[1] === 'string' ? args[1] : undefined);
    }
    const err = refuse('dgram.bind', target, { hide: bind });
    process.nextTick(() => this.emit('error', err));
    return this;
  };
  proto.bind = bind;

  // send(msg, [offset, length,] port, address, cb): the long form when the 5th argument is an
  // address or the 4th a port (Node's own test).
  const send = function send(this: Dgram.Socket, ...args: unknown[]) {
    const [, offset, length, port, address] = args;
    let target: string;
    if (address || (port && typeof port !== 'function')) target = udpTarget(port, typeof address === 'string' ? address : undefined);
    else if (offset === undefined || typeof offset === 'function') target = 'the connected address';
    else target = udpTarget(offset, typeof length === 'string' ? length : undefined);
    const err = refuse('dgram.send', target, { hide: send });
    const cb = lastFunction(args);
    if (cb) process.nextTick(cb, err);
    else process.nextTick(() => this.emit('error', err));
  };
  proto.send = send;

  const connect = function connect(this: Dgram.Socket, ...args: unknown[]) {
    const err = refuse('dgram.connect', udpTarget(args[0], typeof args[1] === 'string' ? args[1] : undefined), { hide: connect });
    const cb = lastFunction(args);
    if (cb) process.nextTick(cb, err);
    else process.nextTick(() => this.emit('error', err));
  };
  proto.connect = connect;
}

const RESOLVER_METHOD = /^(resolve[A-Za-z0-9]*|reverse)$/;

function isIpLiteral(s: string): boolean {
  // The cheap test net.isIP would do, without loading anything more.
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(s) || (s.includes(':') && /^[0-9a-fA-F:.]+(%[\w.-]+)?$/.test(s));
}

/** A callback-style dns function that refuses (the error goes to the callback after this tick). */
function refusingCallback(op: string, orig: AnyFn, isLookup: boolean): AnyFn {
  const fn = function (this: unknown, ...args: unknown[]) {
    const name = args[0];
    // A lookup of an IP literal (or of nothing) never leaves the process: Node answers it itself.
    if (isLookup && (typeof name !== 'string' || name === '' || isIpLiteral(name))) return orig.apply(this, args);
    const target = op.endsWith('lookupService') ? hostPort(name, args[1]) : String(name);
    const err = refuse(op, target, { hide: fn, props: { hostname: target } });
    const cb = lastFunction(args);
    if (!cb) throw err;
    process.nextTick(cb, err);
    return undefined;
  };
  Object.defineProperty(fn, 'name', { value: orig.name || op.split('.').pop() });
  return fn;
}

function refusingPromise(op: string, orig: AnyFn, isLookup: boolean): AnyFn {
  const fn = function (this: unknown, ...args: unknown[]) {
    const name = args[0];
    if (isLookup && (typeof name !== 'string' || name === '' || isIpLiteral(name))) return orig.apply(this, args);
    const target = op.endsWith('lookupService') ? hostPort(name, args[1]) : String(name);
    return Promise.reject(refuse(op, target, { hide: fn, props: { hostname: target } }));
  };
  Object.defineProperty(fn, 'name', { value: orig.name || op.split('.').pop() });
  return fn;
}

function patchDnsObject(obj: Record<string, unknown>, prefix: string, make: typeof refusingCallback): void {
  for (const key of Object.keys(obj)) {
    const v = obj[key];
    if (typeof v !== 'function') continue;
    if (key === 'lookup' || key === 'lookupService' || RESOLVER_METHOD.test(key)) {
      obj[key] = make(`${prefix}.${key}`, v as AnyFn, key === 'lookup');
    }
  }
}

function patchResolverProto(proto: Record<string, unknown>, prefix: string, make: typeof refusingCallback): void {
  for (const key of Object.getOwnPropertyNames(proto)) {
    if (!RESOLVER_METHOD.test(key)) continue;
    const d = Object.getOwnPropertyDescriptor(proto, key);
    if (!d || typeof d.value !== 'function') continue;
    Object.defineProperty(proto, key, { ...d, value: make(`${prefix}.${key}`, d.value as AnyFn, false) });
  }
}

function patchDns(dns: typeof Dns): void {
  patchDnsObject(dns as unknown as Record<string, unknown>, 'dns', refusingCallback);
  patchResolverProto(dns.Resolver.prototype as unknown as Record<string, unknown>, 'dns.Resolver', refusingCallback);
  // dns.promises is the same object as require('dns/promises').
  const promises = dns.promises as unknown as Record<string, unknown> & { Resolver: { prototype: object } };
  patchDnsObject(promises, 'dns.promises', refusingPromise);
  patchResolverProto(promises.Resolver.prototype as Record<string, unknown>, 'dns.promises.Resolver', refusingPromise);
}

function patchInspector(inspector: Record<string, unknown>): void {
  if (typeof inspector.open !== 'function') return;
  const open = function open(port?: unknown, host?: unknown) {
    throw refuse('inspector.open', hostPort(host ?? '127.0.0.1', port ?? 9229), { hide: open });
  };
  inspector.open = open;
}

/** process.binding names that hand out raw sockets, resolvers or process spawning. */
const RAW_BINDINGS = ['tcp_wrap', 'udp_wrap', 'cares_wrap', 'tls_wrap', 'pipe_wrap', 'stream_wrap', 'js_stream', 'process_wrap', 'spawn_sync'];

function patchBindings(): void {
  const p = process as unknown as Record<string, unknown>;
  for (const key of ['binding', '_linkedBinding']) {
    const orig = p[key];
    if (typeof orig !== 'function') continue;
    const op = `process.${key}`;
    const binding = function binding(this: unknown, name: unknown, ...rest: unknown[]) {
      const n = String(name);
      if (RAW_BINDINGS.includes(n) && !(n === 'pipe_wrap' && config.allowUnix)) {
        throw refuse(op, n, { hide: binding });
      }
      return (orig as AnyFn).call(this, name, ...rest);
    };
    Object.defineProperty(binding, 'name', { value: key });
    p[key] = binding;
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

function patchFetch(): void {
  const d = Object.getOwnPropertyDescriptor(globalThis, 'fetch');
  if (!d) return;
  // The original is fetched only when needed: reading it may load undici.
  const original = (): AnyFn => (d.get ? d.get.call(globalThis) : d.value) as AnyFn;
  const fetch = function fetch(this: unknown, input: unknown, init?: unknown): Promise<unknown> {
    const url = urlOf(input);
    let href: string | null = null;
    try {
      href = new URL(url).href;
    } catch {
      // invalid or relative: the original rejects it with its own TypeError
    }
    const scheme = href ? href.slice(0, href.indexOf(':')).toLowerCase() : '';
    if (href === null || scheme === 'data' || scheme === 'blob' || scheme === 'about' || scheme === 'file') {
      return original().call(this, input, init);
    }
    return Promise.reject(refuse('fetch', href, { hide: fetch }));
  };
  Object.defineProperty(globalThis, 'fetch', {
    value: fetch, writable: true, configurable: true, enumerable: d.enumerable ?? true,
  });
}

/**
 * WebSocket and EventSource stand-ins: constructible, with the usual attributes and handler
 * properties; the connection "fails" after this turn of the event loop with an 'error' event
 * (carrying `.error`, the ERR_WORM_BLOCKED error) and, for a WebSocket, a 'close' event with
 * code 1006, as a refused connection does.
 */
function blockedConnectionClass(kind: 'WebSocket' | 'EventSource'): Function {
  const isWs = kind === 'WebSocket';
  const CLOSED = isWs ? 3 : 2;
  const handlers = isWs ? ['open', 'message', 'error', 'close'] : ['open', 'message', 'error'];
  const DomEx = (globalThis as { DOMException?: new (m: string, n: string) => Error }).DOMException;
  const domError = (m: string, n: string) => (DomEx ? new DomEx(m, n) : Object.assign(new Error(m), { name: n }));

  class Blocked extends EventTarget {
    static readonly CONNECTING = 0;
    static readonly OPEN = 1;
    static readonly CLOSING = isWs ? 2 : undefined;
    static readonly CLOSED = CLOSED;
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
    set binaryType(v: string) { if (v === 'blob' || v === 'arraybuffer') this.#binaryType = v; }

    send(): void {
      if (this.#state === 0) throw domError('Sent before connected.', 'InvalidStateError');
    }

    close(): void {
      if (this.#state !== CLOSED && isWs) this.#state = 2;
    }

    handler(type: string): unknown {
      return this.#handlers.get(type)?.fn ?? null;
    }

    setHandler(type: string, fn: unknown): void {
      const old = this.#handlers.get(type);
      if (old) this.removeEventListener(type, old.listener);
      if (typeof fn !== 'function') {
        this.#handlers.delete(type);
        return;
      }
      const listener = (e: Event) => (fn as (e: Event) => void).call(this, e);
      this.#handlers.set(type, { fn, listener });
      this.addEventListener(type, listener);
    }
  }
  for (const type of handlers) {
    Object.defineProperty(Blocked.prototype, `on${type}`, {
      get(this: Blocked) { return this.handler(type); },
      set(this: Blocked, fn: unknown) { this.setHandler(type, fn); },
      configurable: true, enumerable: true,
    });
  }
  for (const k of ['handler', 'setHandler']) {
    Object.defineProperty(Blocked.prototype, k, { enumerable: false });
  }
  Object.defineProperty(Blocked, 'name', { value: kind });
  return Blocked;
}

function patchConnectionGlobal(kind: 'WebSocket' | 'EventSource'): void {
  const d = Object.getOwnPropertyDescriptor(globalThis, kind);
  if (!d) return;
  Object.defineProperty(globalThis, kind, {
    value: blockedConnectionClass(kind), writable: true, configurable: true, enumerable: d.enumerable ?? false,
  });
}

/** Installs every network refusal. Each part is independent: one failing leaves the others. */
export function installNetwork(onFailure: (what: string, e: unknown) => void): void {
  const steps: [string, () => void][] = [
    ['process.binding', patchBindings],
    ['fetch', patchFetch],
    ['WebSocket', () => patchConnectionGlobal('WebSocket')],
    ['EventSource', () => patchConnectionGlobal('EventSource')],
    ['net', () => patchNet(require('node:net'))],
    ['dgram', () => patchDgram(require('node:dgram'))],
    ['dns', () => patchDns(require('node:dns'))],
    ['inspector', () => patchInspector(require('node:inspector'))],
  ];
  for (const [what, step] of steps) {
    try {
      step();
    } catch (e) {
      onFailure(what, e);
    }
  }
}
