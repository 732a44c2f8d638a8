/**
 * The subprocess filter. child_process stays usable; what is refused is starting a network tool
 * (the table in commands.cts), however it is spelled. Loaded on the first child_process call;
 * install.cts installs the thin wrappers that call in here.
 *
 * Choke points:
 *   ChildProcess.prototype.spawn   spawn, exec, execFile, fork (all of them end there, with the
 *                                  options normalized: exec's shell string is `sh -c STRING`)
 *   spawnSync, execSync, execFileSync exports (their shared internal function is not reachable)
 *
 * A refused async start fails exactly as a missing program (ENOENT) does: Node's own spawn path
 * runs against a path that does not exist, so the ChildProcess has its stdio streams, no pid, an
 * 'error' event (our ERR_WORM_BLOCKED error in place of ENOENT), then 'close'; exec/execFile
 * callbacks get the error. Sync forms return `{ error, status: null }` (spawnSync) or throw.
 *
 * Node children also get the guard when the caller passed an environment without it, and a
 * forked/spawned Node gets the audit channel as an extra descriptor, so its refusals are audited.
 */
import path = require('node:path');
import type * as CP from 'node:child_process';
import { GUARD_ENV } from './protocol.cjs';
import { PRELOAD, channelOk, config, state } from './config.cjs';
import { type CallSite, callSites, refuse, warn } from './blocked.cjs';
import type { Analysis, CommandPolicy } from './commands.cjs';

type AnyFn = (...args: any[]) => any;
type Env = Record<string, string | undefined>;

// Captured at load: the target may replace Reflect.apply later to catch the originals passing through.
const { apply } = Reflect;

/** Where a refused start is pointed: nothing is there, so Node reports ENOENT. */
const NOWHERE = '/nonexistent/worm-run/blocked-command';

let commands: typeof import('./commands.cjs') | null = null;
let policy: CommandPolicy | null = null;

function analyze(argv: string[], pathEnv: string | undefined, cwd: unknown): Analysis {
  try {
    commands ??= require('./commands.cjs') as typeof import('./commands.cjs');
    policy ??= commands.makePolicy(config.denyCommands, config.allowCommands);
    const dir = typeof cwd === 'string' && cwd !== '' ? path.resolve(cwd) : process.cwd();
    return commands.analyzeArgv(argv, policy, commands.fileNames(pathEnv, dir));
  } catch {
    // An analysis bug must not break child_process: the kernel filter still holds.
    return { blocked: null, url: null };
  }
}

/** The public child_process function that led here (`exec`, `fork`, ...), from the stack. */
function publicOp(sites: CallSite[], fallback: string): string {
  let name: string | null = null;
  for (const s of sites) {
    let f: string | null = null;
    try {
      f = s.getFileName() ?? null;
    } catch {
      // ignore
    }
    if (f === 'node:child_process') {
      const fn = s.getFunctionName();
      if (fn) name = fn;
    }
  }
  return `child_process.${name ?? fallback}`;
}

function commandLine(argv: string[]): string {
  const shell = argv.length >= 3 && argv[argv.length - 2] === '-c' ? argv[argv.length - 1]! : null;
  return shell ?? argv.join(' ');
}

function quoteOpt(s: string): string {
  return /[\s"\\]/.test(s) ? `"${s.replace(/(["\\])/g, '\\$1')}"` : s;
}

const PRELOAD_OPTION = `--require ${quoteOpt(PRELOAD)}`;

function configWithFd(fd: number): string {
  try {
    return JSON.stringify({ ...JSON.parse(state.text), fd });
  } catch {
    return state.text;
  }
}

/** NODE_OPTIONS and the guard config added to an environment that lacks them. */
function guardEnvPairs(pairs: string[], fd?: number): string[] {
  const out = [...pairs];
  const no = out.findIndex((p) => p.startsWith('NODE_OPTIONS='));
  if (no < 0) out.push(`NODE_OPTIONS=${PRELOAD_OPTION}`);
  else if (!out[no]!.includes(PRELOAD)) out[no] = `NODE_OPTIONS=${PRELOAD_OPTION} ${out[no]!.slice(13)}`;
  if (state.text !== '') {
    const g = out.findIndex((p) => p.startsWith(`${GUARD_ENV}=`));
    const value = `${GUARD_ENV}=${fd === undefined ? state.text : configWithFd(fd)}`;
    if (g < 0) out.push(value);
    else if (fd !== undefined) out[g] = value;
  }
  return out;
}

function guardEnvObject(env: Env, fd?: number): Env {
  const nodeOptions = env.NODE_OPTIONS ?? '';
  const hasConfig = env[GUARD_ENV] !== undefined;
  if (nodeOptions.includes(PRELOAD) && (hasConfig || state.text === '') && fd === undefined) return env;
  const out: Env = { ...env };
  if (!nodeOptions.includes(PRELOAD)) out.NODE_OPTIONS = nodeOptions ? `${PRELOAD_OPTION} ${nodeOptions}` : PRELOAD_OPTION;
  if (state.text !== '' && (!hasConfig || fd !== undefined)) out[GUARD_ENV] = fd === undefined ? state.text : configWithFd(fd);
  return out;
}

function isNode(file: string): boolean {
  return file === process.execPath || /^node(js)?\d*$/.test(path.basename(file));
}

/** stdio with the audit channel appended; returns the array and the channel's index in the child. */
function stdioWithChannel(stdio: unknown): { stdio: unknown[]; fd: number } | null {
  if (!channelOk()) return null;
  let arr: unknown[];
  if (stdio === undefined || stdio === null) arr = ['pipe', 'pipe', 'pipe'];
  else if (typeof stdio === 'string') arr = [stdio, stdio, stdio];
  else if (Array.isArray(stdio)) arr = [...stdio];
  else return null;
  while (arr.length < 3) arr.push(undefined);
  arr.push(config.fd);
  return { stdio: arr, fd: arr.length - 1 };
}

function envPath(pairs: unknown): string | undefined {
  if (!Array.isArray(pairs)) return process.env.PATH;
  const p = pairs.find((x) => typeof x === 'string' && x.startsWith('PATH=')) as string | undefined;
  return p === undefined ? undefined : p.slice(5);
}

function blockedText(op: string, command: string, line: string): string {
  return `${op} of ${command} (${line.length > 300 ? `${line.slice(0, 299)}…` : line})`;
}

/** Node options that take the next word as their value (the scan below must skip it). */
const NODE_VALUE_OPTIONS = new Set(['-e', '--eval', '-p', '--print', '-r', '--require', '--import', '--loader',
  '--experimental-loader', '-C', '--conditions', '--input-type', '--title', '--env-file', '--watch-path', '--inspect-port', '--debug-port']);
const INSPECT = /^--(inspect|inspect-brk|inspect-wait)(=|$)/;

/**
 * The option that makes a Node child start its inspector, listening on TCP, before any preload
 * (so before its own guard) runs: on its command line up to the script (after `-e CODE` Node
 * still reads options), or in its NODE_OPTIONS.
 */
function inspectorFlag(args: readonly string[], nodeOptions: string | undefined): string | null {
  for (const w of (nodeOptions ?? '').split(/\s+/)) if (INSPECT.test(w)) return w;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (INSPECT.test(a)) return a;
    if (a === '--' || a === '-' || !a.startsWith('-')) return null;
    if (NODE_VALUE_OPTIONS.has(a)) i++;
  }
  return null;
}

/**
 * The analysis of what argv runs, also under the name argv[0] gives it (busybox-style applets),
 * and of a Node child's inspector options.
 */
function analyzeCommand(file: string, args: string[], pathEnv: string | undefined, cwd: unknown, nodeOptions?: string): Analysis {
  let a = analyze([file, ...args.slice(1)], pathEnv, cwd);
  if (!a.blocked && args[0] !== undefined && path.basename(args[0]) !== path.basename(file)) {
    const b = analyze([args[0], ...args.slice(1)], pathEnv, cwd);
    if (b.blocked) a = b;
  }
  if (!a.blocked && isNode(file)) {
    const flag = inspectorFlag(args.slice(1), nodeOptions);
    if (flag) a = { blocked: { command: path.basename(file), word: file, reason: `Node inspector (${flag}) listens on TCP` }, url: a.url };
  }
  return a;
}

function envValue(pairs: unknown, name: string): string | undefined {
  if (!Array.isArray(pairs)) return undefined;
  const p = pairs.find((x) => typeof x === 'string' && x.startsWith(`${name}=`)) as string | undefined;
  return p === undefined ? undefined : p.slice(name.length + 1);
}

/**
 * The start the public wrappers checked last, as `file\0arg\0arg`: the raw spawn bindings it
 * then goes through (rawSpawn) let exactly that one pass without checking it again.
 */
let approved: string | null = null;
const startKey = (file: unknown, args: unknown): string => [String(file), ...(Array.isArray(args) ? args.map(String) : [])].join('\0');

function startApproved<T>(file: unknown, args: unknown, run: () => T): T {
  approved = startKey(file, args);
  try {
    return run();
  } finally {
    approved = null;
  }
}

/** ChildProcess.prototype.spawn: every async form (spawn, exec, execFile, fork) ends here. */
export function spawn(child: CP.ChildProcess, options: Record<string, any>, origSpawn: AnyFn, hide: Function): unknown {
  if (options === null || typeof options !== 'object' || typeof options.file !== 'string') {
    return apply(origSpawn, child, [options]);
  }
  const args: string[] = Array.isArray(options.args) ? options.args.map(String) : [options.file];
  const argv = [options.file, ...args.slice(1)];
  const pathEnv = envPath(options.envPairs);
  const a = analyzeCommand(options.file, args, pathEnv, options.cwd, envValue(options.envPairs, 'NODE_OPTIONS'));
  if (a.blocked) {
    const sites = callSites();
    const op = publicOp(sites, 'spawn');
    const line = commandLine(argv);
    const err = refuse(op, line, {
      sites, hide, command: a.blocked.command, reason: a.blocked.reason,
      text: blockedText(op, a.blocked.command, line),
      props: { path: options.file, spawnargs: args.slice(1) },
    });
    return failSpawn(child, options, err, origSpawn);
  }
  if (a.url) {
    const sites = callSites();
    warn(publicOp(sites, 'spawn'), commandLine(argv), a.url.reason, a.url.command, sites);
  }
  let opts = options;
  try {
    const pairs = Array.isArray(options.envPairs) ? (options.envPairs as string[]) : null;
    if (pairs) {
      const ch = isNode(options.file) ? stdioWithChannel(options.stdio) : null;
      opts = ch
        ? { ...options, stdio: ch.stdio, envPairs: guardEnvPairs(pairs, ch.fd) }
        : { ...options, envPairs: guardEnvPairs(pairs) };
    }
  } catch {
    opts = options;
  }
  return startApproved(opts.file, opts.args, () => apply(origSpawn, child, [opts]));
}

/** Runs Node's spawn against a path that does not exist, and swaps the ENOENT for err. */
function failSpawn(child: CP.ChildProcess, options: Record<string, any>, err: Error, origSpawn: AnyFn): unknown {
  const fake: Record<string, any> = { ...options, file: NOWHERE, args: [NOWHERE], envPairs: [], detached: false };
  delete fake.cwd;
  delete fake.uid;
  delete fake.gid;
  const emit = child.emit as unknown as AnyFn;
  let swapped = false;
  Object.defineProperty(child, 'emit', {
    configurable: true, writable: true, enumerable: false,
    value: function (this: CP.ChildProcess, event: string | symbol, ...rest: unknown[]) {
      if (event === 'error' && !swapped) {
        swapped = true;
        delete (child as { emit?: unknown }).emit;
        return emit.call(this, event, err);
      }
      return emit.call(this, event, ...rest);
    },
  });
  let r: unknown;
  try {
    r = startApproved(fake.file, fake.args, () => apply(origSpawn, child, [fake]));
  } catch {
    delete (child as { emit?: unknown }).emit;
    throw err;
  }
  const c = child as unknown as Record<string, unknown>;
  c.spawnfile = options.file;
  c.spawnargs = options.args;
  return r;
}

interface SyncCall {
  argv: string[];
  env: Env;
  cwd: unknown;
  options: Record<string, any>;
}

/** spawnSync(file, args?, options?) / execFileSync: what will run. */
function normalizeFileCall(file: unknown, args: unknown, options: unknown): SyncCall | null {
  if (typeof file !== 'string') return null;
  let a: string[];
  let o: unknown = options;
  if (Array.isArray(args)) a = args.map(String);
  else if (args === undefined || args === null) a = [];
  else if (typeof args === 'object') {
    a = [];
    o = args;
  } else return null;
  const opts = (o !== null && typeof o === 'object' ? o : {}) as Record<string, any>;
  const argv = opts.shell
    ? [typeof opts.shell === 'string' ? opts.shell : '/bin/sh', '-c', [file, ...a].join(' ')]
    : [file, ...a];
  return { argv, env: (opts.env ?? process.env) as Env, cwd: opts.cwd, options: opts };
}

/** The argument list Node hands the spawn binding for this call: argv[0] replaced by `argv0`. */
function nodeArgs(call: SyncCall): string[] {
  const argv0 = call.options.argv0;
  return [typeof argv0 === 'string' ? argv0 : call.argv[0]!, ...call.argv.slice(1)];
}

const SYNC_FAILURE = { status: null, signal: null, output: null, pid: 0, stdout: null, stderr: null };

/** Checks a sync call; returns the refusal error, or null (after any URL warning). */
function check(op: string, call: SyncCall, hide: Function): Error | null {
  const a = analyzeCommand(call.argv[0]!, nodeArgs(call), call.env.PATH, call.cwd, call.env.NODE_OPTIONS);
  if (a.blocked) {
    const line = commandLine(call.argv);
    return refuse(op, line, {
      hide, command: a.blocked.command, reason: a.blocked.reason,
      text: blockedText(op, a.blocked.command, line),
      props: { path: call.argv[0], spawnargs: call.argv.slice(1) },
    });
  }
  if (a.url) warn(op, commandLine(call.argv), a.url.reason, a.url.command);
  return null;
}

/** The options with the guard's environment (and the channel, for a Node child). */
function guarded(call: SyncCall): Record<string, any> {
  try {
    const ch = isNode(call.argv[0]!) && !call.options.shell ? stdioWithChannel(call.options.stdio) : null;
    const env = guardEnvObject(call.env, ch?.fd);
    if (env === call.env && !ch) return call.options;
    return ch ? { ...call.options, env, stdio: ch.stdio } : { ...call.options, env };
  } catch {
    return call.options;
  }
}

/** spawnSync and execFileSync (same arguments): `{ error, status: null }` or thrown. */
export function fileSync(kind: 'spawnSync' | 'execFileSync', self: unknown, args: unknown[], orig: AnyFn, hide: Function): unknown {
  const [file, list, options] = args;
  const call = normalizeFileCall(file, list, options);
  if (!call) return apply(orig, self, args);
  const err = check(`child_process.${kind}`, call, hide);
  if (err) {
    if (kind === 'spawnSync') return { error: err, ...SYNC_FAILURE };
    const blocked = Object.assign(err, SYNC_FAILURE);
    throw blocked; // node-do-not-add-exception-line
  }
  return startApproved(call.argv[0], nodeArgs(call), () => apply(orig, self, [file, Array.isArray(list) ? list : [], guarded(call)]));
}

/** execSync(command, options) */
export function execSync(self: unknown, args: unknown[], orig: AnyFn, hide: Function): unknown {
  const [command, options] = args;
  if (typeof command !== 'string') return apply(orig, self, args);
  const opts = (options !== null && typeof options === 'object' ? options : {}) as Record<string, any>;
  const shell = typeof opts.shell === 'string' ? opts.shell : '/bin/sh';
  const call: SyncCall = { argv: [shell, '-c', command], env: (opts.env ?? process.env) as Env, cwd: opts.cwd, options: opts };
  const err = check('child_process.execSync', call, hide);
  if (err) {
    const blocked = Object.assign(err, SYNC_FAILURE);
    throw blocked; // node-do-not-add-exception-line
  }
  const env = guardEnvObject(call.env);
  return startApproved(shell, nodeArgs(call), () => apply(orig, self, [command, env === call.env ? options : { ...opts, env }]));
}

/**
 * The spawn bindings themselves: process_wrap's Process#spawn (every async start) and
 * spawn_sync's spawn (every sync one). The public functions above end there after their own
 * check; any other caller holds a raw handle (a ChildProcess's `_handle` and its constructor,
 * or --expose-internals) and is checked here, with the same table. Node 20/22 pass one options
 * object, Node 24+ Process#spawn passes (file, args, cwd, envPairs, ...).
 */
export function rawSpawn(op: string, self: unknown, args: unknown[], orig: AnyFn, hide: Function): unknown {
  const positional = typeof args[0] === 'string';
  const o = (positional ? { file: args[0], args: args[1], cwd: args[2], envPairs: args[3] } : args[0]) as Record<string, any> | null;
  if (o === null || typeof o !== 'object' || typeof o.file !== 'string') return apply(orig, self, args);
  // Read once, and what was read is what runs: an argument whose toString changes between
  // reads must not pass the check as one command and start as another.
  const file: string = o.file;
  const list: string[] = Array.isArray(o.args) ? o.args.map(String) : [file];
  const call = positional ? [file, list, ...args.slice(2)] : [{ ...o, file, args: list }];
  if (approved !== null && approved === startKey(file, list)) return apply(orig, self, call);
  const a = analyzeCommand(file, list, envPath(o.envPairs), o.cwd, envValue(o.envPairs, 'NODE_OPTIONS'));
  if (a.blocked) {
    const line = commandLine([file, ...list.slice(1)]);
    const blocked = refuse(op, line, {
      hide, command: a.blocked.command, reason: a.blocked.reason,
      text: blockedText(op, a.blocked.command, line),
      props: { path: file, spawnargs: list.slice(1) },
    });
    throw blocked; // node-do-not-add-exception-line
  }
  return apply(orig, self, call);
}

/**
 * process.execve(file, args, env) (Node 22.15+, 24+): replaces this process with the program,
 * so it is checked as a child_process start is (the same table, the same refusal, thrown as the
 * sync forms throw; Node itself aborts the process when execve fails). A Node program gets the
 * guard's environment back if `env` dropped it. (It cannot get the audit channel: Node marks
 * inherited descriptors close-on-exec, so its refusals reach its own stderr only.)
 */
export function execve(self: unknown, args: unknown[], orig: AnyFn, hide: Function): unknown {
  const [file, list = [], env = process.env] = args;
  const wt = require('node:worker_threads') as typeof import('node:worker_threads');
  if (typeof file !== 'string' || !Array.isArray(list) || env === null || typeof env !== 'object' || !wt.isMainThread) {
    return apply(orig, self, args); // Node's own validation and worker check
  }
  const argList = (list as unknown[]).map(String);
  const a = analyzeCommand(file, argList, (env as Env).PATH, undefined, (env as Env).NODE_OPTIONS);
  const line = commandLine([file, ...argList.slice(1)]);
  const op = 'process.execve';
  if (a.blocked) {
    const blocked = refuse(op, line, {
      hide, command: a.blocked.command, reason: a.blocked.reason, text: blockedText(op, a.blocked.command, line),
      props: { path: file, spawnargs: argList.slice(1) },
    });
    throw blocked; // node-do-not-add-exception-line
  }
  if (a.url) warn(op, line, a.url.reason, a.url.command);
  let newEnv = env as Env;
  try {
    newEnv = guardEnvObject(env as Env);
  } catch {
    // Node validates it
  }
  return apply(orig, self, [file, argList, newEnv]);
}
