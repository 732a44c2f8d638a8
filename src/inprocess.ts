/**
 * The in-process fast path (`--in-process`): worm-run hardens its own process and runs the
 * Node script in it as the main module, so a run costs one Node start instead of two.
 *
 * The trade-off, stated in the `start` record and the README: once the script runs, every
 * later record (refusals, exit) is written from inside the sandbox and the script could forge
 * or suppress it. Only the `start` record, written before any user code, is trustworthy; the
 * supervised default keeps a trail the target cannot touch. What still holds: the network
 * filter (all threads, TSYNC), no-new-privs, non-dumpable, the rlimits, the guard, a native
 * watchdog thread for the wall clock and the CPU budget (a JS timer could be starved), and
 * native signal handlers for the exit record of a death by signal (the memory cap's included).
 */
import { closeSync, fstatSync, openSync, readFileSync, writeSync } from 'node:fs';
import { createRequire } from 'node:module';
import { AuditTrail, describeTarget, trustedDigestCache, escapeForTerminal, runFacts, targetAccess, writeLine, type AuditRecord } from './audit.js';
import { recordBody } from './audit/record.js';
import { WormError, usageError } from './errors.js';
import { newRunId } from './ids.js';
import { checkNodeMemory, rlimitsFor } from './limits.js';
import { native } from './native.js';
import type { Policy } from './policy.js';
import { parseGuardLine, readChannel } from './channel.js';
import { CHANNEL_HOOK, REPORT_HOOK } from './guard/config.cjs';
import type { GuardRecord } from './guard/protocol.cjs';
import { GUARD_PRELOAD } from './paths.js';
import { guardEnv } from './supervisor/prepare.js';
import { humanGuardLine, policyRecord } from './supervisor/records.js';
import { resolveTarget } from './target.js';
import { targetEnvironment } from './env.js';
import { checkLandlock, confinement, homeDirectories, planFilesystem, secretsPresent, writableRoots } from './fs/plan.js';
import { makePrivateTmp, tmpEnv } from './fs/tmp.js';
import { INSTALL_CODE } from './paths.js';
import { dirname, resolve } from 'node:path';
import { formatDuration, formatSize } from './units.js';
import { MEMORY_EVIDENCE, REASONS } from './verdict.js';
import { VERSION } from './version.js';

const TRUST_NOTE = 'in-process: records after this one are written from inside the sandbox; the script could forge or suppress them. Use the supervised mode for a trail the target cannot touch.';

/**
 * Why this process cannot host the in-process mode safely, or null. On Node 22+ libuv has set up
 * io_uring rings before worm-run runs; the filter must leave io_uring_enter to them, and a child
 * the script starts could be handed a ring and reach the network through it without a socket
 * call. The CLI then runs the script supervised instead (the stronger mode), and says so.
 */

/** After the watchdog's own SIGKILL (timeout + kill-after), how long before the watcher outside ends the process. */
const OUTSIDE_GRACE_MS = 2000;
export function inProcessUnsafe(command: string[]): string | null {
  // Only a Node script can run inside this process; anything else runs supervised, as it would
  // have without the flag (a target that cannot be found is reported by the supervised path).
  try {
    const t = resolveTarget(command, process.cwd(), process.env.PATH);
    if (t.kind !== 'node') return `${t.command} is not a Node script`;
  } catch {
    return null; // runInProcess reports it (127, 126) as the supervised path would
  }
  let rings: number;
  try {
    rings = native.ioUringFds();
  } catch {
    return 'cannot inspect this process\'s descriptors';
  }
  if (rings > 0) return `Node ${process.version}'s libuv holds io_uring rings, which a child of the script could use to reach the network`;
  return null;
}

function refuseUnsupported(policy: Policy): void {
  if (policy.identity) throw usageError('--user needs the supervised mode: a running Node process cannot safely change its identity');
  if (policy.nodeOptions.length > 0) throw usageError('--node-option needs the supervised mode: this Node is already running');
}

/**
 * A record body written natively (record.ts's format, without the chain fields that
 * native/chain.cc adds); its placeholders are filled in when it is written (see ExitRecordSpec),
 * the numeric ones unquoted. Several records are joined with newlines.
 */
function line(level: number, run: string, event: string, fields: AuditRecord): string {
  const body = recordBody(level, 0, run, process.pid, event, { source: 'in-process', ...fields });
  return `${body.before.replace('"time":0,', '"time":__TIME__,')}__SEQ__${body.after}`
    .replace(/"(__(?:STATUS|USER_MS|SYS_MS|RSS_KB|WALL_MS|BLOCKED|WARNINGS|UNWRITTEN)__)"/g, '$1');
}

/** The exit record of a run that the native side ends or sees end: the supervised exit record's fields. */
function exitLine(run: string, limit: string | null): string {
  return line(30, run, 'exit', {
    code: null, signal: '__SIGNAL__', status: '__STATUS__', wallMs: '__WALL_MS__',
    userMs: '__USER_MS__', systemMs: '__SYS_MS__', maxRssKb: '__RSS_KB__', limit,
    blocked: '__BLOCKED__', blockedBy: { guard: '__BLOCKED__', kernel: null }, warnings: '__WARNINGS__',
    // Counted only when JavaScript writes the record; this one is written by a signal handler.
    processesLeft: null, runUsage: { userMs: '__USER_MS__', systemMs: '__SYS_MS__' }, unwritten: '__UNWRITTEN__',
  });
}

/**
 * The records JavaScript cannot be trusted to write: a native watchdog thread for the wall
 * clock and the CPU budget (the event loop may be stuck), and signal handlers for a death by
 * signal, the memory cap's verdict included (Node aborts when an allocation fails, and no
 * JavaScript runs after that).
 */
function armVerdicts(policy: Policy, run: string, command: string): void {
  const { timeoutMs, cpuMs, killAfterMs, memoryBytes } = policy.limits;
  const stopped = `worm-run: stopped ${escapeForTerminal(command)}`;
  if (timeoutMs !== undefined || cpuMs !== undefined) {
    const cpuS = cpuMs === undefined ? 0 : Math.ceil(cpuMs / 1000);
    native.startWatchdog({
      timeoutMs: timeoutMs ?? 0, killAfterMs, cpuMs: cpuS * 1000,
      timeoutLines: timeoutMs === undefined ? '' : `${line(40, run, 'limit', {
        limit: 'timeout', budget: formatDuration(timeoutMs), reason: REASONS.timeout(timeoutMs),
      })}\n${exitLine(run, 'timeout')}`,
      cpuLines: cpuMs === undefined ? '' : `${line(40, run, 'limit', {
        limit: 'cpu', budget: `${cpuS} s`, used: '__CPU_S__ s', reason: `${REASONS.cpu(cpuS)} (used __CPU_S__ s)`,
      })}\n${exitLine(run, 'cpu')}`,
      timeoutHuman: timeoutMs === undefined ? '' : `${stopped}: ${REASONS.timeout(timeoutMs)}\n`,
      cpuHuman: `${stopped}: ${REASONS.cpu(cpuS)}\n`,
    });
  }
  // Always armed: a death by signal runs no JavaScript, so without it the run would have no exit record.
  const reason = memoryBytes === undefined ? '' : REASONS.memory(memoryBytes, '__RSS_MIB__');
  native.armExitRecord({
    thresholdKb: memoryBytes === undefined ? 0 : Math.ceil((memoryBytes * MEMORY_EVIDENCE) / 1024),
    exitLine: exitLine(run, null),
    memoryLines: memoryBytes === undefined ? '' : `${line(40, run, 'limit', {
      limit: 'memory', budget: formatSize(memoryBytes), used: '__RSS_MIB__M peak RSS', reason, // the supervisor's form (a size like --memory takes)
    })}\n${exitLine(run, 'memory')}`,
    human: memoryBytes === undefined ? '' : `${stopped}: ${reason}\n`,
  });
}

/**
 * Deleting a variable from process.env unsets it, but the block of memory the process started
 * with, which the kernel shows as /proc/self/environ, still holds it: the script (or a child of
 * it) would read the removed credentials back there. Their bytes in that block are zeroed
 * through /proc/self/mem; nothing points at them any more (unsetenv dropped the pointers), and
 * every variable kept is left where it is.
 */
export function wipeFromEnvironBlock(removed: string[]): number {
  if (removed.length === 0) return 0;
  const stat = readFileSync('/proc/self/stat', 'latin1');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const start = Number(fields[47]); // env_start, field 50 of proc(5)
  const block = readFileSync('/proc/self/environ');
  if (!Number.isSafeInteger(start) || start <= 0) return 0;
  const names = new Set(removed);
  let wiped = 0;
  const fd = openSync('/proc/self/mem', 'r+');
  try {
    for (let off = 0; off < block.length;) {
      let end = block.indexOf(0, off);
      if (end < 0) end = block.length;
      const eq = block.indexOf(0x3d, off); // '='
      if (eq > off && eq < end && names.has(block.toString('latin1', off, eq))) {
        writeSync(fd, Buffer.alloc(end - off), 0, end - off, start + off);
        wiped += 1;
      }
      off = end + 1;
    }
  } finally {
    closeSync(fd);
  }
  return wiped;
}

/** Starts the script; the returned promise never settles (the script owns the process now). */
export async function runInProcess(command: string[], policy: Policy): Promise<never> {
  refuseUnsupported(policy);
  const cwd = process.cwd();
  const target = resolveTarget(command, cwd, process.env.PATH);
  if (target.kind !== 'node') throw new WormError('ERR_WORM_USAGE', `--in-process runs Node scripts only; ${target.command} is not one`);
  checkNodeMemory(policy);
  checkLandlock(policy.fs.mode);
  const run = newRunId();
  const t0 = process.hrtime.bigint();
  // What the sandbox will let the script touch, which the trail's safety checks need too.
  const tmp = policy.fs.mode === 'off' ? null : makePrivateTmp(undefined);
  // A watcher outside the sandbox, started now (before the subreaper and Landlock): the wall
  // clock's last resort, which the native watchdog cannot be once the script (or its child)
  // has stopped this process with SIGSTOP; and the tmp directory's removal, which this process,
  // confined, can empty but not remove from /tmp.
  const removeTmp = tmp && !policy.fs.keepTmp ? tmp.path : null;
  const lastResortMs = policy.limits.timeoutMs === undefined ? 0 : policy.limits.timeoutMs + policy.limits.killAfterMs + OUTSIDE_GRACE_MS;
  if (removeTmp !== null || lastResortMs > 0) native.watchFromOutside(removeTmp, lastResortMs);
  const homes = policy.fs.mode === 'off' ? [] : homeDirectories();
  const hidden = policy.fs.mode === 'off' ? [] : secretsPresent(policy.fs.hide, homes);
  const log = policy.audit.log;
  const trailPath = log && log !== '-' && !/^\/(?:dev|proc\/self)\/fd\//.test(log) ? resolve(log) : null;
  const digests = log && policy.fs.mode !== 'off' ? trustedDigestCache(writableRoots(policy.fs, cwd, tmp?.path ?? null)) : null;
  const protect = [...(trailPath ? [trailPath] : []), ...(policy.source ? [policy.source] : [])];
  const confined = confinement(policy.fs, cwd, tmp?.path ?? null, protect, hidden, homes);
  const audit = AuditTrail.open(policy.audit, run, { human: true, access: targetAccess(undefined, confined ?? {}), inProcess: true });
  audit.setPid(process.pid);
  const facts = audit.structured ? describeTarget(target, process.env.PATH, cwd, digests) : { kind: target.kind, path: target.path };

  // The environment and the private temporary directory, before anything reads them.
  const scrubbed = targetEnvironment(process.env, policy.env);
  const dropped = Object.keys(process.env).filter((k) => !(k in scrubbed.env));
  for (const k of dropped) delete process.env[k];
  Object.assign(process.env, scrubbed.env, tmp ? tmpEnv(tmp.path, policy.env.set) : {});
  wipeFromEnvironBlock(dropped);
  const fs = planFilesystem(policy.fs, {
    cwd, tmp: tmp?.path ?? null, mountNamespace: false, hidden,
    protect: [...protect, ...INSTALL_CODE, process.execPath],
    needed: [target.path, process.execPath, dirname(dirname(process.execPath))],
  }, homes);

  // Harden before a single line of the script runs. The CPU rlimit sits one second above the
  // watchdog, as a backstop.
  const limits = rlimitsFor({ ...policy.limits, cpuMs: policy.limits.cpuMs === undefined ? undefined : policy.limits.cpuMs + 1000 });
  native.setRlimits(limits);
  native.dropRootCapabilities();
  const landlock = native.landlockSelf(fs.landlock);
  native.hardenSelf({ allowUnix: policy.network.allowUnix, self: true, pids: 'self', memoryCap: policy.limits.memoryBytes !== undefined });
  // Nothing the script starts outlives it: as a subreaper this process keeps the grandchildren
  // whose parents exit, and at exit (or the wall clock) it kills its whole tree. The cost: such
  // an adopted grandchild stays a zombie until the script ends (libuv reaps only its own children).
  native.containChildren();

  audit.write('info', 'start', {
    version: VERSION, mode: 'in-process', trust: TRUST_NOTE,
    target: facts, ...runFacts(undefined), argv: command, cwd,
    policy: policyRecord(policy),
    filesystem: fs.summary,
    environment: { mode: policy.env.mode, removed: scrubbed.removed, ...(Object.keys(policy.env.set).length ? { set: Object.keys(policy.env.set) } : {}) },
    protections: {
      seccomp: 'network filter installed on every thread of this process (EPERM); refusals are answered by the kernel and not recorded in this mode',
      noNewPrivs: true, dumpable: false, landlock,
      containment: 'child subreaper: what the script started is killed when it exits or at the wall clock (not when this process is SIGKILLed)',
      otherProcesses: 'no PID namespace: pid-addressed calls (prlimit, setpriority, sched_*, ioprio) may name only the process itself',
      guard: 'loaded in this process (advisory)',
      watchdog: 'native: a thread keeps the wall clock and the CPU budget; signal handlers write the exit record of a death by signal (and the memory verdict)',
    },
  });

  if (scrubbed.removed.length > 0 && log !== '-') {
    writeLine(`worm-run: not passed to the target (credentials): ${scrubbed.removed.join(', ')}; pass one with --env NAME`);
  }
  armVerdicts(policy, run, target.command);

  // This thread's guard reports through a hook, synchronously. Workers and Node's module-hooks
  // thread share our descriptors and report through a non-blocking pipe that this thread reads
  // (and drains at exit); a full pipe drops records rather than blocking them. Node processes
  // the script starts get the guard from the environment but no channel (the pipe is
  // close-on-exec): their refusals are enforced, not recorded.
  let blocked = 0;
  let warnings = 0;
  const record = (r: GuardRecord) => {
    if (r.event === 'blocked') blocked += 1;
    else warnings += 1;
    audit.write('warn', r.event, { source: 'guard', layer: 'guard', ...r }, humanGuardLine(r));
  };
  const [readFd, writeFd] = native.pipe(true);
  // The pipe must not keep the process alive: its writers are this process's own threads. It is
  // read from when a worker is created (the guard calls the hook) or, with --deny-imports, from
  // the start (Node 20 runs module hooks on a thread of their own); what arrives before that
  // waits in the pipe, and the exit handler reads what is left either way.
  const channel = readChannel(readFd, record, { keepAlive: false, deferred: true });
  (globalThis as Record<symbol, unknown>)[CHANNEL_HOOK] = () => channel.listen();
  if (policy.guard.denyImports) channel.listen();
  Object.assign(process.env, guardEnv(process.env, policy, writeFd, fstatSync(writeFd).ino));
  (globalThis as Record<symbol, unknown>)[REPORT_HOOK] = (r: GuardRecord) => {
    const rec = parseGuardLine(JSON.stringify(r));
    if (rec) record(rec);
  };
  const require = createRequire(import.meta.url);
  require(GUARD_PRELOAD);

  process.on('exit', (code) => {
    // Nothing the script started outlives it (the tmp dir is the outside watcher's to remove).
    const left = native.killDescendants();
    if (!native.claimExitRecord()) return;
    channel.drainSync();
    const u = process.resourceUsage();
    const userMs = Math.round(u.userCPUTime / 1000);
    const systemMs = Math.round(u.systemCPUTime / 1000);
    audit.write('info', 'exit', {
      code, signal: null, status: code, wallMs: Math.round(Number(process.hrtime.bigint() - t0) / 1e6),
      userMs, systemMs, maxRssKb: u.maxRSS, limit: null,
      blocked, blockedBy: { guard: blocked, kernel: null }, warnings,
      processesLeft: left, runUsage: { userMs, systemMs },
    });
    audit.close();
  });

  process.argv = [process.argv[0]!, target.path, ...target.args];
  const Module = require('node:module') as { runMain(main?: string): void };
  // Outside any promise chain of ours: what the script throws while loading is an uncaught
  // exception, printed and answered with exit 1 exactly as under plain node.
  process.nextTick(() => Module.runMain(target.path));
  return new Promise<never>(() => {});
}
