/**
 * The guard's refusal: the ERR_WORM_BLOCKED error, the record written to the supervisor, and
 * where in the user's program the refused call came from.
 *
 * Everything here runs inside the target and must never throw into it: reporting failures are
 * swallowed (the kernel filter is what holds; the record is for the audit trail). Loaded on the
 * first refusal, not at start-up.
 */
import fs = require('node:fs');
import type { GuardRecord } from './protocol.cjs';
import { GUARD_DIR, REPORT_HOOK, START_SCRIPT, channelOk, config } from './config.cjs';

export const BLOCKED_CODE = 'ERR_WORM_BLOCKED';

/** Records longer than this are trimmed, so one write(2) on the pipe stays atomic (PIPE_BUF). */
const MAX_RECORD_BYTES = 3800;

// Captured once: user code may replace fs functions later.
const { writeSync } = fs;

export type CallSite = NodeJS.CallSite;

/** The current call stack as V8 call sites (structured, whatever the user did to prepareStackTrace). */
export function callSites(hide: Function = callSites): CallSite[] {
  const prev = Error.prepareStackTrace;
  const limit = Error.stackTraceLimit;
  try {
    Error.prepareStackTrace = (_e, cs) => cs;
    Error.stackTraceLimit = 80;
    const holder: { stack?: unknown } = {};
    Error.captureStackTrace(holder, hide);
    return Array.isArray(holder.stack) ? (holder.stack as CallSite[]) : [];
  } catch {
    return [];
  } finally {
    try {
      Error.prepareStackTrace = prev;
      Error.stackTraceLimit = limit;
    } catch {
      // frozen Error: nothing to restore
    }
  }
}

function fileOf(site: CallSite): string | null {
  try {
    return site.getFileName() ?? null;
  } catch {
    return null;
  }
}

function isGuardFile(f: string | null): boolean {
  return !!f && (f === START_SCRIPT || f.startsWith(`${GUARD_DIR}/`) || f.startsWith(`file://${GUARD_DIR}/`));
}

/** A file of the user's program (their code or a package they use): not Node's, not the guard's. */
function isUserFile(f: string | null): f is string {
  return !!f && !f.startsWith('node:') && !isGuardFile(f);
}

/** The first frame in the user's code: not Node's internals, not the guard. */
export function userLocation(sites: CallSite[]): { file?: string; line?: number } {
  for (const s of sites) {
    const f = fileOf(s);
    if (!isUserFile(f)) continue;
    let file = f;
    if (f.startsWith('file://')) {
      try {
        file = (require('node:url') as typeof import('node:url')).fileURLToPath(f);
      } catch {
        // keep the URL
      }
    }
    const line = s.getLineNumber();
    return typeof line === 'number' && line > 0 ? { file, line } : { file };
  }
  return {};
}

/** The Node internal files on the stack, outermost last: which public API led here. */
export function internalFiles(sites: CallSite[]): string[] {
  const out: string[] = [];
  for (const s of sites) {
    const f = fileOf(s);
    if (f && f.startsWith('node:')) out.push(f);
  }
  return out;
}

function clip(s: string | undefined, max: number): string | undefined {
  return s === undefined || s.length <= max ? s : `${s.slice(0, max - 1)}…`;
}

/**
 * In-process mode (src/inprocess.ts) has no channel: worm-run shares the process and puts a
 * function here that writes the record to its audit trail.
 */

/** Writes one record to the supervisor (or the in-process reporter). Never throws. */
export function report(rec: GuardRecord, sites?: CallSite[]): void {
  try {
    const hook = (globalThis as Record<symbol, unknown>)[REPORT_HOOK];
    const toChannel = channelOk();
    if (!toChannel && typeof hook !== 'function') return;
    const full: GuardRecord = { ...rec };
    if (full.file === undefined && sites) Object.assign(full, userLocation(sites));
    if (typeof hook === 'function') {
      // In-process, this thread reports through the hook only; the channel is for its workers.
      try {
        hook({ ...full });
      } catch {
        // the reporter's problem, not the target's
      }
      return;
    }
    full.target = clip(full.target, 1500);
    full.command = clip(full.command, 300);
    full.file = clip(full.file, 800);
    let line = `${JSON.stringify(full)}\n`;
    if (Buffer.byteLength(line) > MAX_RECORD_BYTES) {
      full.target = clip(full.target, 200);
      full.file = clip(full.file, 200);
      line = `${JSON.stringify(full)}\n`;
    }
    const buf = Buffer.from(line);
    for (let tries = 0; tries < 50; tries++) {
      try {
        writeSync(config.fd!, buf);
        return;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') return;
      }
    }
  } catch {
    // never into the target
  }
}

/** How a refusal reads: `net.connect to 127.0.0.1:80`, `dns.lookup example.com`. */
export function phrase(op: string, target: string | undefined): string {
  if (target === undefined || target === '') return op;
  if (op.startsWith('dns.')) return `${op} ${target}`;
  if (op.endsWith('.listen') || op === 'dgram.bind' || op === 'inspector.open') return `${op} on ${target}`;
  if (op === 'require') return `require('${target}')`;
  if (op === 'import') return `import '${target}'`;
  if (op.startsWith('process.')) return `${op}('${target}')`;
  return `${op} to ${target}`;
}

export interface BlockedError extends Error {
  code: typeof BLOCKED_CODE;
}

/**
 * Gives err a stack that starts at the user's call, as if the user's own line had failed: the
 * guard's frames and the Node internals between them and the user (require's loader frames,
 * net.connect calling Socket#connect) are left out, so the first `at` line is the one to fix.
 * Formatted by Error.prepareStackTrace (Node's own formatter, with its source-map support, or
 * the user's), the way V8 would have. With no user frame on the stack (an ESM import refused
 * while the module graph is resolved), `frame` (`file:///x.mjs:3:21`) is the only one.
 *
 * The `throw` statements that deliver these errors end in `// node-do-not-add-exception-line`:
 * Node then prints an uncaught one without the guard's source line above it (its own marker,
 * read by node_errors.cc on every line from 20 on), and the output starts with the error.
 */
export function setUserStack(err: Error, hide?: Function, frame?: string): void {
  const format = Error.prepareStackTrace;
  const limit = Error.stackTraceLimit;
  if (typeof limit !== 'number' || limit <= 0) return;
  // V8 keeps its own copy of the frames, from which Node takes the source line it prints above
  // an uncaught rejection: it must not be the guard's line either.
  Error.captureStackTrace(err, hide ?? setUserStack);
  const sites = callSites(hide ?? setUserStack);
  const first = sites.findIndex((s) => isUserFile(fileOf(s)));
  let stack: unknown;
  if (first >= 0 || frame === undefined) {
    // The guard's wrappers deeper down (the entry module loaded through a wrapped Module._load)
    // are no more the user's business than the ones above.
    const keep = sites.slice(Math.max(first, 0)).filter((s) => !isGuardFile(fileOf(s))).slice(0, limit);
    stack = typeof format === 'function' ? format(err, keep) : `${String(err)}${keep.map((s) => `\n    at ${String(s)}`).join('')}`;
  } else {
    stack = `${String(err)}\n    at ${frame}`;
  }
  Object.defineProperty(err, 'stack', { value: stack, writable: true, configurable: true, enumerable: false });
}

/**
 * The error the user's program sees. Its stack starts at the user's call (see setUserStack)
 * and its first line reads `Error [ERR_WORM_BLOCKED]: worm-run: ...` like Node's own coded
 * errors.
 */
export function blockedError(message: string, hide?: Function, props?: Record<string, unknown>, frame?: string): BlockedError {
  const err = new Error(message) as BlockedError;
  try {
    Object.defineProperty(err, 'name', { value: `Error [${BLOCKED_CODE}]`, configurable: true, writable: true });
    setUserStack(err, hide ?? blockedError, frame);
    void err.stack;
    delete (err as { name?: string }).name;
  } catch {
    // a plain Error is fine too
  }
  err.code = BLOCKED_CODE;
  if (props) Object.assign(err, props);
  return err;
}

/**
 * A refused fetch fails as Node's own does when the connection fails: `TypeError: fetch failed`
 * whose `cause` is the ERR_WORM_BLOCKED error, so code that checks either keeps working.
 */
export function fetchFailed(cause: Error, hide?: Function): TypeError {
  const err = new TypeError('fetch failed', { cause });
  try {
    setUserStack(err, hide ?? fetchFailed);
  } catch {
    // V8's stack is fine too
  }
  return err;
}

export interface RefuseOptions {
  /** The guard function the user called: left out of the error's stack. */
  hide?: Function;
  sites?: CallSite[];
  command?: string;
  reason?: string;
  /** Replaces the generated `<op> to <target>` text. */
  text?: string;
  /** Where in the user's program, when the stack cannot tell (ESM resolve hooks). */
  where?: { file?: string; line?: number };
  /** The stack frame to show when no frame of the user's is on the stack (see setUserStack). */
  frame?: string;
  props?: Record<string, unknown>;
}

/** Reports a refusal and returns the error to deliver. */
export function refuse(op: string, target: string | undefined, o: RefuseOptions = {}): BlockedError {
  const sites = o.sites ?? callSites();
  const rec: GuardRecord = { event: 'blocked', op, reason: o.reason ?? 'network access is blocked' };
  if (target !== undefined) rec.target = target;
  if (o.command !== undefined) rec.command = o.command;
  if (o.where?.file) {
    // The stack knows the line better than a scan of the source, when it is in that file.
    const loc = userLocation(sites);
    Object.assign(rec, loc.file === o.where.file ? loc : o.where);
  }
  report(rec, sites);
  return blockedError(`worm-run: network access is blocked: ${o.text ?? phrase(op, target)}`, o.hide ?? refuse, o.props, o.frame);
}

/** Reports a warning (the operation goes ahead). */
export function warn(op: string, target: string | undefined, reason: string, command?: string, sites?: CallSite[]): void {
  const rec: GuardRecord = { event: 'warning', op, reason };
  if (target !== undefined) rec.target = target;
  if (command !== undefined) rec.command = command;
  report(rec, sites ?? callSites());
}

/** `host:port`, with brackets around an IPv6 address. */
export function hostPort(host: unknown, port: unknown): string {
  const h = host === undefined || host === null || host === '' ? 'localhost' : String(host);
  const p = port === undefined || port === null ? '' : `:${String(port)}`;
  return h.includes(':') && !h.startsWith('[') ? `[${h}]${p}` : `${h}${p}`;
}
