/**
 * One run, from command to result: resolve the target, open the audit trail, start the target
 * hardened, wait for it off the JS thread, keep the wall clock, work out the verdict, clean up
 * the process tree and write the `exit` record. The CLI and the library API both call
 * `execute`; only the CLI asks for `hardenSupervisor` (the library must never filter the
 * process it lives in).
 */
import { closeSync, fstatSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { AuditTrail, describeTarget, runFacts, targetAccess } from './audit.js';
import { readChannel, type ChannelStats } from './channel.js';
import { GUARD_ENV, type GuardConfig, type GuardRecord } from './guard/protocol.cjs';
import {
  EXIT_CANNOT_EXECUTE, EXIT_NOT_FOUND, EXIT_WORM_FAILED, WormError, isSyscallError,
} from './errors.js';
import { rlimitsFor } from './limits.js';
import { native, type Rusage, type SpawnSpec, type WaitResult } from './native.js';
import { describeLimits, type Policy } from './policy.js';
import { resolveTarget, shebang, type Target } from './target.js';
import { ownChildren, runProcesses, signalPids, startTime } from './tree.js';
import { verdict, type LimitHit } from './verdict.js';
import { newRunId } from './ids.js';
import { signalName } from './signals.js';
import { VERSION } from './version.js';

/** The exit status when the wall-clock timeout stopped the target, as timeout(1). */
export const EXIT_TIMEOUT = 124;

export interface RunResult {
  runId: string;
  /** The target's pid, or null when it never started. */
  pid: number | null;
  /** The target's own exit code when it exited. */
  exitCode: number | null;
  /** The signal that killed the target. */
  signal: NodeJS.Signals | null;
  /** What a shell sees: the exit code, 128+N for a signal, 124 for the wall clock, 125/126/127. */
  status: number;
  /** The limit that stopped the target, if one did. */
  limit: LimitHit | null;
  wallMs: number;
  rusage: Rusage | null;
  /** Refusals reported from inside the sandbox (the Node guard). */
  blocked: number;
  warnings: number;
  /** The guard's records, as written to the audit trail (at most MAX_GUARD_RECORDS). */
  records: GuardRecord[];
  /** Set when the target never ran: why. */
  error: WormError | null;
  /**
   * The hash of the run's last record in the trail (its exit record's): keep it where the
   * target cannot touch it, and give it to verifyTrail to tell a trail cut off after it. Null
   * without a trail.
   */
  auditHead: string | null;
  /** False when a record could not be written (a full disk): the trail is incomplete. */
  auditComplete: boolean;
}

export interface ExecuteContext {
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** Parent descriptors for the target's 0, 1, 2. */
  stdio: [number, number, number];
  /** CLI only: filter worm-run itself once the target runs, and adopt orphans. */
  hardenSupervisor: boolean;
  /**
   * CLI only: worm-run is the foreground job of a terminal, so the target stays in its process
   * group (it can read the terminal and gets ^C directly) instead of getting its own.
   */
  shareProcessGroup?: boolean;
  /** Print refusals, warnings and limits as human lines on stderr. */
  humanLines: boolean;
  /** Written into the start record (e.g. why --in-process fell back to supervised). */
  note?: string;
  /** Called once the target runs, with functions that signal it, and everything of the run. */
  onStarted?: (pid: number, signal: (sig: NodeJS.Signals) => void, signalRun: (sig: NodeJS.Signals) => void) => void;
}

/** The guard, preloaded into every Node process of the run through NODE_OPTIONS. */
export const GUARD_PRELOAD = fileURLToPath(new URL('./guard/preload.cjs', import.meta.url));

/** How much of the memory cap V8's old space may use: the rest is code, stacks and buffers. */
const HEAP_SHARE = 0.75;

/**
 * Options for every Node process of the run, through NODE_OPTIONS: a V8 heap that fits the
 * per-process memory cap, so running out is Node's clear heap-out-of-memory error.
 */
export function nodeEnvOptions(policy: Policy): string[] {
  const mem = policy.limits.memoryBytes;
  if (mem === undefined || policy.nodeOptions.some((o) => o.startsWith('--max-old-space-size'))) return [];
  return [`--max-old-space-size=${Math.max(16, Math.floor((mem * HEAP_SHARE) / 1048576))}`];
}

function targetSpec(target: Target, policy: Policy): { file: string; argv: string[] } {
  if (target.kind === 'node') {
    return { file: process.execPath, argv: [process.execPath, ...policy.nodeOptions, target.path, ...target.args] };
  }
  return { file: target.path, argv: [target.command, ...target.args] };
}

function quoteNodeOption(s: string): string {
  return /[\s"\\]/.test(s) ? `"${s.replace(/(["\\])/g, '\\$1')}"` : s;
}

/** The environment that makes every Node process of the run load the guard and find the channel. */
export function guardEnv(env: NodeJS.ProcessEnv, policy: Policy, fd: number | null, ino: number | null): NodeJS.ProcessEnv {
  const config: GuardConfig = {
    v: 1, fd, ino,
    denyImports: policy.guard.denyImports,
    denyCommands: policy.guard.denyCommands,
    allowCommands: policy.guard.allowCommands,
    allowUnix: policy.network.allowUnix,
  };
  const ours = [`--require ${quoteNodeOption(GUARD_PRELOAD)}`, ...nodeEnvOptions(policy)].join(' ');
  return {
    ...env,
    [GUARD_ENV]: JSON.stringify(config),
    NODE_OPTIONS: env.NODE_OPTIONS ? `${ours} ${env.NODE_OPTIONS}` : ours,
  };
}

export function humanGuardLine(r: GuardRecord): string {
  const where = r.file ? ` (at ${r.file}${r.line ? `:${r.line}` : ''})` : '';
  if (r.event === 'warning') return `warning: ${r.reason ?? r.op}${r.target ? `: ${r.target}` : ''}${where}`;
  const what = r.command && r.target && !r.target.startsWith(r.command) ? `${r.command}: ${r.target}` : (r.target ?? r.command);
  return `blocked ${r.op}${what ? ` ${what}` : ''}${where}`;
}

function envArray(env: NodeJS.ProcessEnv): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries(env)) if (v !== undefined) out.push(`${k}=${v}`);
  return out;
}

/** A failure of the addon's spawn, as the exit status and message a user should see. */
function spawnFailure(e: unknown, target: Target): WormError {
  if (e instanceof WormError) return e;
  if (isSyscallError(e) && e.code === 'ERR_WORM_EXEC') {
    const why = e.message.replace(/^execve failed: /, '').replace(/ \(errno \d+\)$/, '');
    const interp = e.errno === 2 ? shebang(target.path)?.[0] : undefined;
    if (interp) {
      return new WormError('ERR_WORM_NOT_FOUND', `cannot execute ${target.command}: its interpreter ${interp} was not found`, EXIT_NOT_FOUND, { cause: e });
    }
    return e.errno === 2
      ? new WormError('ERR_WORM_NOT_FOUND', `${target.command}: ${why}`, EXIT_NOT_FOUND, { cause: e })
      : new WormError('ERR_WORM_NOT_EXECUTABLE', `cannot execute ${target.command}: ${why}`, EXIT_CANNOT_EXECUTE, { cause: e });
  }
  const msg = e instanceof Error ? e.message : String(e);
  return new WormError('ERR_WORM_SETUP', `cannot start ${target.command} under the policy: ${msg}`, EXIT_WORM_FAILED, { cause: e });
}

export async function execute(command: string[], policy: Policy, ctx: ExecuteContext): Promise<RunResult> {
  const runId = newRunId();
  const t0 = process.hrtime.bigint();
  const base: RunResult = {
    runId, pid: null, exitCode: null, signal: null, status: EXIT_WORM_FAILED, limit: null,
    wallMs: 0, rusage: null, blocked: 0, warnings: 0, records: [], error: null, auditHead: null, auditComplete: true,
  };

  const audit = AuditTrail.open(policy.audit, runId, { human: ctx.humanLines, access: targetAccess(policy.identity) });
  let facts: ReturnType<typeof describeTarget> | null = null;
  const startRecord = (target: Target | null, extra: Record<string, unknown>) => ({
    version: VERSION,
    supervisorPid: process.pid,
    mode: policy.mode,
    target: facts ?? (target ? { kind: target.kind, path: target.path } : null),
    ...runFacts(policy.identity),
    argv: command,
    cwd: ctx.cwd,
    policy: policyRecord(policy),
    ...(ctx.note ? { note: ctx.note } : {}),
    ...extra,
  });
  const fail = async (error: WormError, target: Target | null): Promise<RunResult> => {
    if (audit.structured) {
      audit.write('info', 'start', startRecord(target, { protections: null }));
      audit.write('error', 'exit', { status: error.exitCode, error: error.message, code: error.code, wallMs: 0 });
    }
    const trail = audit.close();
    return { ...base, status: error.exitCode, error, auditHead: trail.head, auditComplete: trail.complete };
  };

  let target: Target;
  try {
    target = resolveTarget(command, ctx.cwd, ctx.env.PATH);
  } catch (e) {
    if (e instanceof WormError) return fail(e, null);
    throw e;
  }

  // Which files run, hashed before the target starts (only when there is a trail to say it).
  if (audit.structured) facts = describeTarget(target, ctx.env.PATH, ctx.cwd);
  const { file, argv } = targetSpec(target, policy);
  const newProcessGroup = !ctx.shareProcessGroup;
  // Every Node process of the run (the script itself, or `node`, `npm`, `npx` started by a
  // binary target) loads the guard from NODE_OPTIONS and reports through this pipe.
  const pipe = native.pipe();
  const fds = [...ctx.stdio, pipe[1]];
  const env = guardEnv(ctx.env, policy, fds.length - 1, fstatSync(pipe[1]).ino);
  const spec: SpawnSpec = {
    file, argv, env: envArray(env), cwd: ctx.cwd,
    fds,
    limits: rlimitsFor(policy.limits),
    newProcessGroup,
    allowUnix: policy.network.allowUnix,
    landlock: true,
    shFallback: target.kind === 'binary',
    ...(policy.identity ? { uid: policy.identity.uid, gid: policy.identity.gid, groups: [] } : {}),
  };

  if (ctx.hardenSupervisor) {
    native.setNonDumpable();
    native.setSubreaper();
  }
  let started;
  try {
    started = native.spawn(spec);
  } catch (e) {
    pipe.forEach((fd) => closeSync(fd));
    return fail(spawnFailure(e, target), target);
  }
  const pid = started.pid;
  // Read before anyone can reap the target: it is at least a zombie until waitChild runs.
  const pidStart = startTime(pid) ?? 0;
  audit.setPid(pid);

  // Records arrive through the event loop, so never before the start record (written below
  // without yielding).
  let blocked = 0;
  let warnings = 0;
  const records: GuardRecord[] = [];
  closeSync(pipe[1]);
  const channel = readChannel(pipe[0], (r) => {
    if (r.event === 'blocked') blocked += 1;
    else warnings += 1;
    records.push(r);
    audit.write('warn', r.event, { source: 'guard', layer: 'guard', ...r }, humanGuardLine(r));
  });
  const waiting = native.waitChild(pid);
  const signalTarget = (sig: NodeJS.Signals) => {
    try {
      process.kill(pid, sig);
    } catch {
      // already gone
    }
  };

  let supervisorFiltered = false;
  if (ctx.hardenSupervisor) {
    try {
      native.hardenSelf(false, true);
      supervisorFiltered = true;
    } catch (e) {
      signalTarget('SIGKILL');
      await waiting;
      native.reapChild(pid);
      return fail(new WormError('ERR_WORM_SETUP', `cannot filter the supervisor: ${(e as Error).message}`), target);
    }
  }

  // The whole run: the target's process group, its descendants and (CLI, a subreaper) every
  // orphan re-parented to us.
  const tree = () => runProcesses(pid, pidStart, ctx.hardenSupervisor ? process.pid : undefined);
  const signalRun = (sig: NodeJS.Signals) => {
    if (newProcessGroup) signalPids([-pid], sig);
    signalPids(tree(), sig);
  };
  ctx.onStarted?.(pid, signalTarget, signalRun);

  let timedOut = false;
  const timers: NodeJS.Timeout[] = [];
  const { timeoutMs, killAfterMs } = policy.limits;
  if (timeoutMs !== undefined) {
    timers.push(setTimeout(() => {
      timedOut = true;
      signalRun('SIGTERM');
      timers.push(setTimeout(() => signalRun('SIGKILL'), killAfterMs));
    }, timeoutMs));
  }

  audit.write('info', 'start', startRecord(target, {
    protections: {
      seccomp: 'network filter installed in the target (EPERM)',
      guard: 'preloaded into every Node process of the run (advisory: runs inside the target)',
      noNewPrivs: true,
      landlock: started.landlock,
      supervisorFiltered,
      identity: policy.identity ? { uid: policy.identity.uid, gid: policy.identity.gid } : 'unchanged',
    },
  }));

  try {
    await waiting;
  } finally {
    for (const t of timers) clearTimeout(t);
  }
  // Nothing the target started outlives the run. The library, not being a subreaper, can only
  // reach the target's process group once the target is gone.
  if (newProcessGroup) signalPids([-pid], 'SIGKILL');
  // The common case needs no /proc scan: no child of ours but the target's zombie.
  if (ctx.hardenSupervisor && ownChildren().some((c) => c !== pid)) {
    for (let round = 0, left = tree(); round < 20 && left.length > 0; round++, left = tree()) {
      signalPids(left, 'SIGKILL');
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  // Only now is the target reaped: until here its pid and process group could not be reused.
  const wait: WaitResult = native.reapChild(pid);

  // Writers are gone once the tree is; a straggler outside it gets half a second.
  const grace = setTimeout(() => channel.close(), 500);
  const stats: ChannelStats = await channel.done;
  clearTimeout(grace);

  const wallMs = Math.round(Number(process.hrtime.bigint() - t0) / 1e6);
  const limit = verdict({ wait, limits: policy.limits, timedOut });
  const signal = wait.signal === null ? null : signalName(wait.signal);
  const status = limit?.limit === 'timeout' ? EXIT_TIMEOUT
    : wait.signal !== null ? 128 + wait.signal : (wait.exitCode ?? EXIT_WORM_FAILED);
  if (limit) {
    audit.write('warn', 'limit', { ...limit }, `stopped ${target.command}: ${limit.reason}`);
  }
  const result: RunResult = {
    ...base, pid, exitCode: wait.exitCode, signal, status, limit, wallMs, rusage: wait.rusage,
    blocked, warnings, records,
  };
  audit.write('info', 'exit', {
    code: wait.exitCode, signal, status, wallMs,
    userMs: Math.round(wait.rusage.userMs), systemMs: Math.round(wait.rusage.systemMs),
    maxRssKb: wait.rusage.maxRssKb, limit: limit?.limit ?? null,
    blocked, warnings,
    ...(stats.dropped || stats.garbage ? { guardChannel: { dropped: stats.dropped, garbage: stats.garbage } } : {}),
  });
  const trail = audit.close();
  return { ...result, auditHead: trail.head, auditComplete: trail.complete };
}

/** The policy as the audit trail and --print-policy show it. */
export function policyRecord(policy: Policy): Record<string, unknown> {
  return {
    mode: policy.mode,
    network: {
      allowUnix: policy.network.allowUnix,
      refused: policy.network.allowUnix
        ? 'every socket family but AF_UNIX; TCP bind/connect also refused by Landlock'
        : 'every socket, connect, bind, listen, accept, addressed sendto/recvfrom, sendmmsg, recvmmsg',
    },
    limits: describeLimits(policy.limits, policy.mode),
    identity: policy.identity ? { user: policy.identity.user, uid: policy.identity.uid, gid: policy.identity.gid } : null,
    guard: policy.guard,
    nodeOptions: policy.nodeOptions,
    audit: policy.audit.log ?? 'stderr (refusals, warnings and limits only)',
  };
}
