/**
 * One run, from command to result, in phases: resolve the target; prepare its environment,
 * limits and filesystem; start the run's init and the hardened target (which waits, not yet
 * exec'd); write the `start` record with what the target measured in itself; let it go; keep
 * the clock, record refusals (the guard's and the kernel's) while it runs; and once nothing of
 * the run is left, work out the verdict and write the `exit` record.
 *
 * The CLI and the library API both call `execute`; only the CLI asks for `hardenSupervisor`
 * (the library must never filter the process it lives in).
 */
import { closeSync, existsSync, fstatSync } from 'node:fs';
import { resolve } from 'node:path';
import { AuditTrail, describeTarget, runFacts, targetAccess, trustedDigestCache, writeLine } from '../audit.js';
import { guardLines } from '../channel.js';
import {
  EXIT_CANNOT_EXECUTE, EXIT_NOT_FOUND, EXIT_WORM_FAILED, WormError, isSyscallError,
} from '../errors.js';
import { checkLandlock, confinement, homeDirectories, newGitDirectories, secretsPresent, withoutGit, writableRoots } from '../fs/plan.js';
import { makePrivateTmp, type PrivateTmp } from '../fs/tmp.js';
import type { GuardRecord } from '../guard/protocol.cjs';
import { newRunId } from '../ids.js';
import { native, type ExitStatus, type KernelRefusal, type RunEvent, type Rusage } from '../native.js';
import type { Policy } from '../policy.js';
import { signalName, signalNumbers } from '../signals.js';
import { resolveTarget, shebang, type Target } from '../target.js';
import { exitStatusNote, memoryNote, verdict, type LimitHit } from '../verdict.js';
import { VERSION } from '../version.js';
import { checkNodeMemory } from '../limits.js';
import { prepare } from './prepare.js';
import { humanGuardLine, notificationNote, policyRecord, protections } from './records.js';
import { humanRefusalLine, isQuiet, refusalRecord } from './refusals.js';
import { startRun, type Started } from './start.js';

/** The exit status when the wall-clock timeout stopped the target, as timeout(1). */
export const EXIT_TIMEOUT = 124;

/** Kernel refusals written as records; the rest are counted in the exit record. */
export const MAX_KERNEL_RECORDS = 256;

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
  /** Every refusal: the guard's and the kernel's (repeats included). */
  blocked: number;
  warnings: number;
  /** The guard's records, as written to the audit trail (at most MAX_GUARD_RECORDS). */
  records: GuardRecord[];
  /** The kernel's refusals, folded (at most MAX_KERNEL_RECORDS). */
  kernelRefusals: KernelRefusal[];
  /** Processes of the run still running when it ended, killed then. */
  processesLeft: number;
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
  /**
   * What the run got, as its start record says it (measured by the target before execve):
   * seccomp, Landlock, namespaces, containment, identity, the filesystem summary, notes.
   */
  protections: Record<string, unknown> | null;
}

export interface ExecuteContext {
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** Parent descriptors for the target's 0, 1, 2. */
  stdio: [number, number, number];
  /** CLI only: filter worm-run itself once the target runs. */
  hardenSupervisor: boolean;
  /**
   * CLI only: worm-run is the foreground job of a terminal, so the run stays in its process
   * group (it can read the terminal and gets ^C directly) instead of getting its own.
   */
  shareProcessGroup?: boolean;
  /** Print refusals, warnings and limits as human lines on stderr. */
  humanLines: boolean;
  /** Written into the start record (e.g. why --in-process fell back to supervised). */
  note?: string;
  /**
   * Library only: the caller gave up. Asked once the target has reported, just before it may
   * exec: a run aborted while it was starting is ended there and its target never runs.
   */
  aborted?: () => boolean;
  /** Called once the target runs: forward a signal to it, or end the whole run now. */
  onStarted?: (pid: number, signal: (sig: NodeJS.Signals) => void, endRun: () => void) => void;
}

/** A failure to start, as the exit status and message a user should see. */
function startFailure(e: unknown, target: Target): WormError {
  if (e instanceof WormError) return e;
  if (isSyscallError(e) && e.code === 'ERR_WORM_EXEC') {
    const why = e.message.replace(/^execve failed: /, '').replace(/ \(errno \d+\)$/, '');
    const interp = e.errno === 2 ? shebang(target.path)?.[0] : undefined;
    if (interp) {
      // The interpreter may be there and be a script itself whose own interpreter is missing:
      // the kernel follows up to four `#!` lines and says ENOENT for any of them.
      let last = interp;
      for (let i = 0; i < 4 && existsSync(last); i++) {
        const next = shebang(last)?.[0];
        if (!next) break;
        last = next;
      }
      const what = last !== interp && !existsSync(last)
        ? `its interpreter ${interp} is a script, and the interpreter it leads to, ${last}, was not found`
        : `its interpreter ${interp} was not found`;
      return new WormError('ERR_WORM_NOT_FOUND', `cannot execute ${target.command}: ${what}`, EXIT_NOT_FOUND, { cause: e });
    }
    return e.errno === 2
      ? new WormError('ERR_WORM_NOT_FOUND', `${target.command}: ${why}`, EXIT_NOT_FOUND, { cause: e })
      : new WormError('ERR_WORM_NOT_EXECUTABLE', `cannot execute ${target.command}: ${why}`, EXIT_CANNOT_EXECUTE, { cause: e });
  }
  const msg = e instanceof Error ? e.message : String(e);
  return new WormError('ERR_WORM_SETUP', `cannot start ${target.command} under the policy: ${msg}`, EXIT_WORM_FAILED, { cause: e });
}

/**
 * The digest cache, where the sandbox keeps the target out of it: with filesystem rules, when
 * it lies outside every directory the target may write (a cache inside one is not used), or
 * for a target of another user.
 */
function digestsFor(policy: Policy, cwd: string, tmp: string | null): string | null {
  if (!policy.audit.log) return null;
  const otherUser = policy.identity !== undefined && policy.identity.uid !== process.geteuid?.();
  if (policy.fs.mode === 'off' && !otherUser) return null;
  return trustedDigestCache(policy.fs.mode === 'off' ? [] : writableRoots(policy.fs, cwd, tmp));
}

/** What the run's end reports, before the verdict. */
interface Ending {
  status: ExitStatus;
  rusage: Rusage;
  /** From go() to the target's exit, measured by the monitor thread (absent if it never exited as such). */
  elapsedMs?: number;
  end: Extract<RunEvent, { type: 'end' }>;
}

const ZERO_USAGE: Rusage = { userMs: 0, systemMs: 0, maxRssKb: 0, minorFaults: 0, majorFaults: 0, voluntarySwitches: 0, involuntarySwitches: 0 };

export async function execute(command: string[], policy: Policy, ctx: ExecuteContext): Promise<RunResult> {
  const runId = newRunId();
  const t0 = process.hrtime.bigint();
  const base: RunResult = {
    runId, pid: null, exitCode: null, signal: null, status: EXIT_WORM_FAILED, limit: null,
    wallMs: 0, rusage: null, blocked: 0, warnings: 0, records: [], kernelRefusals: [], processesLeft: 0, error: null,
    auditHead: null, auditComplete: true, protections: null,
  };

  // Phase 1: the target. A failure is reported once the trail is open.
  let target: Target | null = null;
  let targetError: WormError | null = null;
  try {
    const t = resolveTarget(command, ctx.cwd, ctx.env.PATH);
    if (t.kind === 'node') checkNodeMemory(policy);
    checkLandlock(policy.fs.mode);
    target = t;
  } catch (e) {
    if (!(e instanceof WormError)) throw e;
    targetError = e;
  }

  // Phase 2: what the sandbox will let the target touch, which the trail's safety checks need
  // too: the private TMPDIR, the credential stores (and the signing key) hidden, worm-run's own
  // files kept read-only.
  const fsPolicy = policy.audit.key && policy.fs.mode !== 'off' ? { ...policy.fs, hide: [...policy.fs.hide, policy.audit.key] } : policy.fs;
  const trailPath = policy.audit.log && policy.audit.log !== '-' && !/^\/(?:dev|proc\/self)\/fd\//.test(policy.audit.log)
    ? resolve(policy.audit.log) : null;
  // The digest cache is trusted only where the sandbox keeps the target out of it: with
  // filesystem rules (it is kept read-only like the trail), or a target of another user.
  const protect = [...(trailPath ? [trailPath] : []), ...(policy.source ? [policy.source] : [])];
  let tmp: PrivateTmp | null = null;
  let audit: AuditTrail;
  let hidden: string[] = [];
  // Looked up once per run (the accounts' homes), never kept between runs: a store made since
  // the last run must be hidden in this one.
  const homes = fsPolicy.mode === 'off' ? [] : homeDirectories();
  try {
    if (fsPolicy.mode !== 'off' && target) tmp = makePrivateTmp(policy.identity);
    if (fsPolicy.mode !== 'off') hidden = secretsPresent(fsPolicy.hide, homes);
    const confined = confinement(fsPolicy, ctx.cwd, tmp?.path ?? null, protect, hidden, homes);
    audit = AuditTrail.open(policy.audit, runId, { human: ctx.humanLines, access: targetAccess(policy.identity, confined ?? {}) });
  } catch (e) {
    tmp?.remove();
    throw e;
  }
  let facts: ReturnType<typeof describeTarget> | null = null;
  const startRecord = (t: Target | null, extra: Record<string, unknown>) => ({
    version: VERSION,
    supervisorPid: process.pid,
    mode: policy.mode,
    target: facts ?? (t ? { kind: t.kind, path: t.path } : null),
    ...runFacts(policy.identity),
    argv: command,
    cwd: ctx.cwd,
    policy: policyRecord(policy),
    ...(ctx.note ? { note: ctx.note } : {}),
    ...extra,
  });
  const fail = (error: WormError, t: Target | null): RunResult => {
    if (audit.structured) {
      audit.write('info', 'start', startRecord(t, { protections: null }));
      audit.write('error', 'exit', { status: error.exitCode, error: error.message, code: error.code, wallMs: 0 });
    }
    const trail = audit.close();
    if (tmp && !policy.fs.keepTmp) tmp.remove();
    return { ...base, status: error.exitCode, error, auditHead: trail.head, auditComplete: trail.complete };
  };
  if (!target) return fail(targetError!, null);
  // Which files run, hashed before the target starts (only when there is a trail to say it).
  if (audit.structured) facts = describeTarget(target, ctx.env.PATH, ctx.cwd, digestsFor(policy, ctx.cwd, tmp?.path ?? null));

  // Every Node process of the run (the script itself, or `node`, `npm`, `npx` started by a
  // binary target) loads the guard from NODE_OPTIONS and reports through this pipe.
  const newProcessGroup = !ctx.shareProcessGroup;
  const noGit = withoutGit(fsPolicy, ctx.cwd);
  let pipe: [number, number];
  try {
    pipe = native.pipe();
  } catch (e) {
    // Out of descriptors (EMFILE): the trail says so and the private TMPDIR goes, as for any
    // failure to start.
    return fail(startFailure(e, target), target);
  }
  // Which ends are still this function's to close (the read end becomes the monitor's at go).
  const open = [true, true];
  const closeEnd = (i: 0 | 1) => {
    if (!open[i]) return;
    open[i] = false;
    try {
      closeSync(pipe[i]);
    } catch {
      // closed already
    }
  };
  const closePipe = () => {
    closeEnd(0);
    closeEnd(1);
  };

  // The run's events, from the monitor thread. Those that come before the start record is
  // written (only the end of a run whose target died before go) wait for it.
  let guardBlocked = 0;
  let warnings = 0;
  const records: GuardRecord[] = [];
  const channel = guardLines((r) => {
    if (r.event === 'blocked') guardBlocked += 1;
    else warnings += 1;
    records.push(r);
    audit.write('warn', r.event, { source: 'guard', layer: 'guard', ...r }, humanGuardLine(r));
  });
  const kernelRefusals: KernelRefusal[] = [];
  let exited: { status: ExitStatus; rusage: Rusage; elapsedMs?: number } | null = null;
  let timedOut = false;
  let execError: WormError | null = null;
  let endRunWith: (e: Ending) => void = () => {};
  const ended = new Promise<Ending>((resolve) => {
    endRunWith = resolve;
  });
  const runTarget = target;
  const onRunEvent = (ev: RunEvent) => {
    if (ev.type === 'channel') {
      channel.feed(ev.data);
    } else if (ev.type === 'refusals') {
      for (const r of ev.refusals) {
        kernelRefusals.push(r);
        if (kernelRefusals.length <= MAX_KERNEL_RECORDS) {
          audit.write('warn', 'blocked', refusalRecord(r), isQuiet(r) ? undefined : humanRefusalLine(r));
        }
      }
    } else if (ev.type === 'exec') {
      if (ev.error) execError = startFailure(ev.error, runTarget);
    } else if (ev.type === 'exit') {
      exited = { status: ev.status, rusage: ev.rusage, elapsedMs: ev.elapsedMs };
    } else if (ev.type === 'timeout') {
      timedOut = true;
    } else if (ev.type === 'end') {
      const done = exited ?? { status: { exitCode: null, signal: signalNumbers().SIGKILL, coreDumped: false }, rusage: { ...ZERO_USAGE, ...ev.runUsage } };
      endRunWith({ ...done, end: ev });
    }
  };
  let recording = false;
  const early: RunEvent[] = [];
  const onEvent = (ev: RunEvent) => {
    if (recording) onRunEvent(ev);
    else early.push(ev);
  };
  const startRecording = () => {
    recording = true;
    for (const ev of early.splice(0)) onRunEvent(ev);
  };

  let started: Started;
  let removedEnv: string[];
  try {
    const prepared = prepare({
      target, policy, cwd: ctx.cwd, env: ctx.env,
      fds: [...ctx.stdio, pipe[1]],
      channel: { fd: 3, ino: fstatSync(pipe[1]).ino },
      tmp, newProcessGroup, protect, fs: fsPolicy, hidden, homes,
    });
    removedEnv = prepared.removedEnv;
    if (ctx.hardenSupervisor) native.setNonDumpable();
    // Phase 3: init and the target, which hardens itself, reports and waits.
    started = await startRun(prepared, policy.namespaces, onEvent);
  } catch (e) {
    closePipe();
    return fail(e instanceof WormError ? e : startFailure(e, target), target);
  }
  const { handle, fs, pid } = started;
  closeEnd(1);
  audit.setPid(pid);
  // The target waits, not yet exec'd: a run given up here ends with init (nothing of it is
  // left once 'end' came) and its target never runs.
  const giveUp = async (error: WormError): Promise<RunResult> => {
    handle.abandon();
    startRecording();
    await ended;
    closePipe();
    return fail(error, target);
  };
  // From here to go() nothing yields to the event loop: an abort cannot come in between.
  if (ctx.aborted?.()) return giveUp(new WormError('ERR_WORM_ABORTED', `aborted before ${target.command} started`));

  let supervisorFiltered = false;
  if (ctx.hardenSupervisor) {
    try {
      native.hardenSelf({ allowUnix: false, supervisor: true });
      supervisorFiltered = true;
    } catch (e) {
      return giveUp(new WormError('ERR_WORM_SETUP', `cannot filter the supervisor: ${(e as Error).message}`));
    }
  }

  // Phase 4: the start record, before the target's first instruction.
  const unrecorded = notificationNote(started.facts);
  const notes = [...(started.note ? [started.note] : []), ...(unrecorded ? [unrecorded] : []), ...fs.summary.notes];
  const prot = protections(started.facts, fs.summary, {
    guard: 'preloaded into every Node process of the run (advisory: runs inside the target)',
    supervisorFiltered,
  });
  base.protections = { ...prot, filesystem: fs.summary, ...(notes.length ? { notes } : {}) };
  // (Built only for a trail: the host's name, the identity and the policy's record are not free.)
  if (audit.structured) {
    audit.write('info', 'start', startRecord(target, {
      protections: prot,
      filesystem: fs.summary,
      environment: { mode: policy.env.mode, removed: removedEnv, ...(Object.keys(policy.env.set).length ? { set: Object.keys(policy.env.set) } : {}) },
      ...(notes.length ? { notes } : {}),
    }));
  }
  if (ctx.humanLines && removedEnv.length > 0 && policy.audit.log !== '-') {
    writeLine(`worm-run: not passed to the target (credentials): ${removedEnv.join(', ')}; pass one with --env NAME`);
  }

  // Phase 5: the run. Refusals are recorded from here on, so never before the start record.
  startRecording();
  // The monitor thread reads the guard channel from here on, and owns its read end: everything
  // in it arrives before 'end' (a writer that holds it from outside the run gets half a second
  // once the run is over).
  open[0] = false;
  handle.go(pipe[0]);

  const timers: NodeJS.Timeout[] = [];
  // Ending the run goes through init (which reports the target's status); SIGKILL to init is
  // the last resort, which with a PID namespace ends everything at once.
  const endRun = () => {
    handle.end();
    timers.push(setTimeout(() => handle.kill(), 2000));
  };
  ctx.onStarted?.(pid, (sig) => {
    const n = signalNumbers()[sig];
    if (n !== undefined) handle.signal('target', n);
  }, endRun);
  // The wall clock is kept by the run's monitor thread, not a timer on this event loop: with
  // many runs in one host, the synchronous starts of the others would make it fire late.
  const { timeoutMs, killAfterMs } = policy.limits;
  if (timeoutMs !== undefined) handle.deadline(timeoutMs, killAfterMs);

  const ending = await ended;
  for (const t of timers) clearTimeout(t);

  // Phase 6: the end. The guard channel was read to its end before 'end' came.
  const stats = channel.finish();
  if (tmp && !policy.fs.keepTmp) tmp.remove();
  for (const git of newGitDirectories(noGit)) {
    warnings += 1;
    audit.write('warn', 'warning', { source: 'supervisor', layer: 'filesystem', created: git, reason: 'a .git made by the target: git run there later uses its hooks and config' },
      `warning: the target made ${git}: a git command run there later would run its hooks and config (core.fsmonitor, hooks/*); inspect or remove it first`);
  }

  // The target's wall time as the monitor thread saw it, when the target ran: a busy event loop
  // here must not make a run look longer than it was.
  const wallMs = Math.round(ending.elapsedMs ?? Number(process.hrtime.bigint() - t0) / 1e6);
  const kernelCount = ending.end.total;
  const blocked = guardBlocked + kernelCount;
  // Repeats of a recorded refusal: one record with the final count.
  ending.end.counts.forEach((count, i) => {
    const r = kernelRefusals[i];
    if (r && count > r.count && i < MAX_KERNEL_RECORDS) {
      r.count = count;
      audit.write('warn', 'blocked', { ...refusalRecord(r), repeated: true });
    }
  });
  // (Set by the 'exec' event, which TypeScript cannot see from here.)
  const failedExec = execError as WormError | null;
  if (failedExec) {
    audit.write('error', 'exit', {
      status: failedExec.exitCode, error: failedExec.message, code: failedExec.code, wallMs, blocked, warnings,
    });
    const trail = audit.close();
    return {
      ...base, pid, status: failedExec.exitCode, wallMs, error: failedExec, kernelRefusals, records, blocked, warnings,
      auditHead: trail.head, auditComplete: trail.complete,
    };
  }
  const wait = { ...ending.status, rusage: ending.rusage };
  const input = { wait, limits: policy.limits, timedOut };
  const limit = verdict(input);
  const signal = wait.signal === null ? null : signalName(wait.signal);
  const status = limit?.limit === 'timeout' ? EXIT_TIMEOUT
    : wait.signal !== null ? 128 + wait.signal : (wait.exitCode ?? EXIT_WORM_FAILED);
  if (limit) audit.write('warn', 'limit', { ...limit }, `stopped ${target.command}: ${limit.reason}`);
  const note = memoryNote(input, limit, target.command) ?? exitStatusNote(input, limit, target.command);
  if (note && ctx.humanLines) writeLine(`worm-run: ${note}`);
  audit.write('info', 'exit', {
    code: wait.exitCode, signal, status, wallMs,
    userMs: Math.round(wait.rusage.userMs), systemMs: Math.round(wait.rusage.systemMs),
    maxRssKb: wait.rusage.maxRssKb, limit: limit?.limit ?? null,
    blocked, blockedBy: { guard: guardBlocked, kernel: kernelCount }, warnings,
    ...(ending.end.overflow ? { kernelRefusalsNotRecorded: ending.end.overflow } : {}),
    processesLeft: ending.end.killed,
    runUsage: { userMs: Math.round(ending.end.runUsage.userMs), systemMs: Math.round(ending.end.runUsage.systemMs) },
    ...(note ? { note } : {}),
    ...(stats.dropped || stats.garbage ? { guardChannel: { dropped: stats.dropped, garbage: stats.garbage } } : {}),
  });
  const trail = audit.close();
  return {
    ...base, pid, exitCode: wait.exitCode, signal, status, limit, wallMs, rusage: wait.rusage,
    blocked, warnings, records, kernelRefusals, processesLeft: ending.end.killed,
    auditHead: trail.head, auditComplete: trail.complete,
  };
}
