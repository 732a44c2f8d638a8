/**
 * The only module that touches the addon: loads it (a prebuild or the local build, through
 * node-gyp-build) and gives every function a type. Everything it exposes validates in JS
 * first; the addon checks again and reports failures as errors naming the call and errno.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { WormError } from './errors.js';

export interface RlimitSpec {
  resource: number;
  soft: number | null;
  hard: number | null;
}

export interface FilterSpec {
  allowUnix: boolean;
  /** Refusals go to the supervisor's listener and are recorded (falls back to plain EPERM where the kernel gives none). */
  notify: boolean;
  /** --memory is set: MAP_GROWSDOWN refused. */
  memoryCap: boolean;
}

export interface MountSpec {
  kind: 'ro' | 'hideDir' | 'hideFile' | 'bind';
  target: string;
  source?: string;
}

export interface RunSpec {
  file: string;
  argv: string[];
  env: string[];
  cwd?: string;
  /** Target descriptor i is a copy of supervisor descriptor fds[i]; at least 0, 1 and 2. */
  fds: number[];
  limits: RlimitSpec[];
  uid?: number;
  gid?: number;
  groups?: number[];
  newProcessGroup: boolean;
  filter: FilterSpec;
  /** Own PID and mount namespaces (and a user namespace: userNamespace). */
  namespaces: boolean;
  userNamespace: boolean;
  mounts: MountSpec[];
  landlock: { fs: number; rules: { path: string; access: number }[] };
  shFallback: boolean;
}

/** What the target measured about itself just before execve. */
export interface TargetFacts {
  nsPid: number;
  noNewPrivs: boolean;
  seccompMode: number;
  seccompFilters: number;
  notify: boolean;
  notifyErrno: number;
  landlockAbi: number;
  landlockApplied: boolean;
  /** ruid, euid, suid, rgid, egid, sgid */
  ids: number[];
  groups: number;
  /** CapEff, hex. */
  capEff: string;
  pidNamespace: boolean;
  procPrivate: boolean;
  procErrno: number;
  mountNamespace: boolean;
  userNamespace: boolean;
}

export interface Rusage {
  userMs: number;
  systemMs: number;
  maxRssKb: number;
  minorFaults: number;
  majorFaults: number;
  voluntarySwitches: number;
  involuntarySwitches: number;
}

export interface ExitStatus {
  exitCode: number | null;
  signal: number | null;
  coreDumped: boolean;
}

/** A refused call, as the kernel handed it to the supervisor (repeats folded into count). */
export interface KernelRefusal {
  pid: number;
  syscall: string;
  nr: number;
  arch: number;
  /** The six raw arguments, hex. */
  args: string[];
  /** The destination, for calls that carry one: "127.0.0.1:9", "[::1]:80", "unix:/path", "unix:@abstract". */
  address?: string;
  family?: number;
  exe: string;
  argv: string;
  errno: number;
  count: number;
  time: number;
}

export type RunEvent =
  /** The target hardened itself and waits for go(): what it measured in itself, and its pid. */
  | { type: 'facts'; pid: number; facts: TargetFacts }
  /** The run could not be set up (init has been killed; 'end' follows): the call and its errno. */
  | { type: 'failed'; error: Error }
  /** After go(): execve happened (or the target died on the way), or failed (error). */
  | { type: 'exec'; error?: Error }
  | { type: 'refusals'; refusals: KernelRefusal[] }
  /** Bytes from the guard channel, as read (a line may be split between two). */
  | { type: 'channel'; data: Buffer }
  /** elapsedMs: from go() to the target's exit, by the monitor thread's monotonic clock. */
  | { type: 'exit'; status: ExitStatus; rusage: Rusage; elapsedMs: number }
  /** The wall-clock deadline passed: SIGTERM sent to every process of the run. */
  | { type: 'timeout' }
  | {
    type: 'end'; killed: number; passes: number; targetSeen: boolean; init: ExitStatus;
    runUsage: { userMs: number; systemMs: number; maxRssKb: number };
    /** Final counts of the refusals delivered, in delivery order. */
    counts: number[]; total: number; overflow: number;
  };

export interface RunHandle {
  readonly initPid: number;
  /**
   * Lets the target exec (after 'facts'); the result comes as an 'exec' event. Given the read
   * end of the guard channel, the monitor thread reads it from then on (and closes it):
   * everything in it is delivered before 'end'.
   */
  go(channelFd?: number): void;
  signal(who: 'target' | 'all', signo: number): void;
  /** Asks init to end the run now. */
  end(): void;
  /** SIGKILLs init (with a PID namespace: every process of the run at once). */
  kill(): void;
  /**
   * Starts the run's monitor thread, right after startRun: 'facts' or 'failed', then (after
   * go) 'exec', refusals, the guard channel, the target's exit, and last 'end'.
   */
  watch(cb: (ev: RunEvent) => void): void;
  /** Ends a run that will never be told to go ('end' follows once init is collected). */
  abandon(): void;
  /**
   * Arms the wall clock in the monitor thread (after watch): at timeoutMs from now SIGTERM to
   * every process and a 'timeout' event, killAfterMs later init ends the run, 2 s later SIGKILL.
   */
  deadline(timeoutMs: number, killAfterMs: number): void;
}

export interface FilterTest {
  arg: number;
  op: 'in' | 'ne' | 'hasBits' | 'maskedIn' | 'nonNull';
  mask?: number;
  values: number[];
  /** Tests that must hold together with this one (ioctl TIOCSCTTY with force). */
  and?: FilterTest[];
}

export interface FilterRule {
  syscall: string;
  nr: number;
  errno: 'EPERM' | 'ENOSYS';
  group: string;
  kind: 'always' | 'ifAny' | 'unlessAll';
  tests: FilterTest[];
  when: string;
  argsInspected: boolean;
  /** False for a compatibility answer (clone3 -> ENOSYS) the kernel gives without a record. */
  recorded: boolean;
  why: string;
}

export interface FilterDescription {
  arch: string;
  auditArch: number;
  otherAbis: string;
  instructions: number;
  /** [code, jt, jf, k] per instruction. */
  program: [number, number, number, number][];
  rules: FilterRule[];
}

export interface FilterOptions {
  allowUnix?: boolean;
  /** worm-run's own process (libuv's existing io_uring ring kept). */
  self?: boolean;
  /** The CLI's supervisor and a run's init: also no execve. */
  supervisor?: boolean;
  notify?: boolean;
  memoryCap?: boolean;
  /** How pid-addressed calls are confined: 'namespace' (pid 1 refused), 'self' (only pid 0), 'none'. */
  pids?: 'none' | 'namespace' | 'self';
}

export interface KernelProbe {
  seccomp: boolean;
  seccompErrno: number;
  tsync: boolean;
  userNotif: boolean;
  landlockAbi: number;
  ioUring: 'present' | 'absent' | 'disabled';
}

export interface WatchdogSpec {
  timeoutMs: number;
  killAfterMs: number;
  cpuMs: number;
  /** Records to chain onto the shared trail when the budget runs out (see ExitRecordSpec). */
  timeoutLines: string;
  cpuLines: string;
  /** The human line for stderr. */
  timeoutHuman: string;
  cpuHuman: string;
}

/**
 * The in-process mode's exit record for a death by signal. Lines are record bodies (a JSON
 * object without its closing brace), one per line, chained natively onto the trail given to
 * shareTrail (none: nothing is written). Placeholders filled in when written: "__TIME__" (epoch
 * ms), "__SIGNAL__", "__STATUS__", "__USER_MS__", "__SYS_MS__", "__CPU_S__", "__RSS_KB__",
 * "__RSS_MIB__", and the trail's "__SEQ__", "__WALL_MS__", "__BLOCKED__", "__WARNINGS__",
 * "__UNWRITTEN__".
 */
export interface ExitRecordSpec {
  /** Peak RSS (KiB) from which a SIGABRT counts as the memory limit reached; 0: no cap. */
  thresholdKb: number;
  /** The exit record. */
  exitLine: string;
  /** The memory verdict's limit and exit records. */
  memoryLines: string;
  /** The human line for stderr with the verdict. */
  human: string;
}

/** chainAppend: one record appended to the hash chain (native/chain.h). */
export interface ChainAppendSpec {
  fd: number;
  /** A readable descriptor of the same file, to read the newest record's hash from; -1: not a file. */
  tailFd: number;
  /** flock the file while reading its end and appending. */
  lock: boolean;
  /** The chain's head as this writer knows it (used when the file cannot tell). */
  prev: string;
  /** After the write, keep this many bytes allocated past the end of the file (0: no). */
  reserve: number;
  /** The body up to `"seq":` inclusive, and after the number: `{"level":..,...,"seq":` N `,...,"msg":"x"`. */
  before: string;
  after: string;
  /** -1: the shared trail's next number (the in-process mode). */
  seq: number;
  /** The in-process mode: chain from, and update, the state the native writers share. */
  share: boolean;
  blocked?: number;
  warnings?: number;
  unwritten?: number;
  /** Called with the record's hash, under the locks; returns the signature (base64). */
  sign?: (hash: string) => string;
}

export interface ChainAppended {
  /** 0, or the errno of the failure (the record was not written; no partial line is left). */
  err: number;
  hash: string;
  prev: string;
  seq: number;
  /** The file's size after the write (-1: not a regular file). */
  size: number;
  /** -1: no reservation asked; 0 done; else fallocate's errno. */
  reserveErr: number;
  /** Non-zero: a partial line could not be truncated away (ftruncate's errno). */
  truncErr: number;
}

export interface ShareTrailSpec {
  fd: number;
  tailFd: number;
  lock: boolean;
  /** Where the native writers put the head line after an exit record (-1: nowhere). */
  headFd: number;
  run: string;
  /** The stderr line they print when the trail lost a record. */
  incomplete: string;
}

/** Must match kAddonAbi in native/addon.cc. */
const ADDON_ABI = 18;

interface Addon {
  abi: number;
  startRun(spec: RunSpec): RunHandle;
  describeFilter(opts: FilterOptions): FilterDescription;
  hardenSelf(opts: FilterOptions): void;
  containChildren(): void;
  dropRootCapabilities(): void;
  killDescendants(): number;
  watchFromOutside(path: string | null, killAfterMs: number): number;
  setNonDumpable(): void;
  isForegroundTty(fd: number): boolean;
  guardTerminal(): boolean;
  restoreTerminal(): { foreground: boolean; modes: boolean };
  terminalWriter(fd: number): number;
  exitNow(code: number): never;
  reraise(signal: number): void;
  setRlimits(limits: RlimitSpec[]): void;
  pipe(nonblocking?: boolean): [number, number];
  landlockSelf(spec: { fs: number; rules: { path: string; access: number }[] }): string;
  landlockInfo(): { abi: number; fsRights: number };
  startWatchdog(opts: WatchdogSpec): void;
  armExitRecord(opts: ExitRecordSpec): void;
  claimExitRecord(): boolean;
  seccompSupport(): number;
  probeKernel(): KernelProbe;
  ioUringFds(): number;
  chainAppend(spec: ChainAppendSpec): ChainAppended;
  shareTrail(spec: ShareTrailSpec): void;
  sha256Hex(data: Buffer): string;
  reserveSpace(fd: number, offset: number, length: number): void;
  rlimits: Record<string, number>;
}

let addon: Addon | undefined;
let addonPath = '';

function load(): Addon {
  if (addon) return addon;
  if (process.platform !== 'linux') {
    throw new WormError('ERR_WORM_PLATFORM',
      `worm-run runs on Linux only (this is ${process.platform}); it refuses to run a target unprotected`);
  }
  const require = createRequire(import.meta.url);
  const root = fileURLToPath(new URL('..', import.meta.url));
  try {
    // A local build is what node-gyp-build would pick first anyway; finding it directly saves
    // loading node-gyp-build (1.5 ms of every start). Prebuilds, and its environment switches
    // (PREBUILDS_ONLY, WORM_RUN_PREBUILD), go through node-gyp-build.
    const local = `${root}build/Release/worm_run.node`;
    if (!process.env.PREBUILDS_ONLY && !process.env.WORM_RUN_PREBUILD && existsSync(local)) {
      addonPath = local;
    } else {
      const gypBuild = require('node-gyp-build') as { resolve(dir: string): string };
      addonPath = gypBuild.resolve(root);
    }
    const loaded = require(addonPath) as Addon;
    if (loaded.abi !== ADDON_ABI) {
      throw new Error(`${addonPath} is from another version of worm-run (addon ABI ${String(loaded.abi)}, need ${ADDON_ABI})`);
    }
    addon = loaded;
  } catch (e) {
    throw new WormError('ERR_WORM_ADDON',
      `cannot load the native addon (${(e as Error).message.split('\n')[0]}); ` +
      'build it with `npm rebuild worm-run` (allow its install script if your npm asks), or install a release with prebuilds', 125, { cause: e });
  }
  return addon;
}

/** Where the addon was loaded from, and whether it is a prebuild. */
export function addonOrigin(): { path: string; prebuild: boolean } {
  load();
  return { path: addonPath, prebuild: addonPath.includes('/prebuilds/') };
}

export const native = {
  /** Starts init and the target; returns once the target is hardened and waits for go(). */
  startRun: (spec: RunSpec): RunHandle => load().startRun(spec),
  describeFilter: (opts: FilterOptions): FilterDescription => load().describeFilter(opts),
  /** The filter on this process's every thread (TSYNC), and non-dumpable. */
  hardenSelf: (opts: FilterOptions): void => load().hardenSelf(opts),
  /** In-process: become a child subreaper and kill whatever the script started at exit. */
  containChildren: (): void => load().containChildren(),
  /** As root: keep only what a root target keeps (Docker's default set, less MKNOD and NET_RAW). */
  dropRootCapabilities: (): void => load().dropRootCapabilities(),
  killDescendants: (): number => load().killDescendants(),
  /**
   * A helper outside this process's tree and Landlock domain (call before either exists): it
   * SIGKILLs this process if it is still there killAfterMs from now (0: never), and removes path
   * (if given) once the process is gone.
   */
  watchFromOutside: (path: string | null, killAfterMs: number): number => load().watchFromOutside(path, killAfterMs),
  setNonDumpable: (): void => load().setNonDumpable(),
  isForegroundTty: (fd: number): boolean => load().isForegroundTty(fd),
  /** CLI: ignore SIGTTOU/SIGTTIN and save the controlling terminal's state; true when there is one. */
  guardTerminal: (): boolean => load().guardTerminal(),
  /** CLI, after the run: put the terminal's foreground group and modes back if the target changed them. */
  restoreTerminal: (): { foreground: boolean; modes: boolean } => load().restoreTerminal(),
  /** A descriptor for worm-run's own lines to fd that never blocks (a terminal or pipe reopened non-blocking). */
  terminalWriter: (fd: number): number => load().terminalWriter(fd),
  /** Exit now, without Node's exit path (which touches the terminal). */
  exitNow: (code: number): never => load().exitNow(code),
  reraise: (signal: number): void => load().reraise(signal),
  setRlimits: (limits: RlimitSpec[]): void => load().setRlimits(limits),
  pipe: (nonblocking = false): [number, number] => load().pipe(nonblocking),
  landlockSelf: (spec: { fs: number; rules: { path: string; access: number }[] }): string => load().landlockSelf(spec),
  landlockInfo: (): { abi: number; fsRights: number } => load().landlockInfo(),
  startWatchdog: (opts: WatchdogSpec): void => load().startWatchdog(opts),
  armExitRecord: (opts: ExitRecordSpec): void => load().armExitRecord(opts),
  /** True for the first caller only: whoever gets it writes the run's exit record. */
  claimExitRecord: (): boolean => load().claimExitRecord(),
  seccompSupport: (): number => load().seccompSupport(),
  probeKernel: (): KernelProbe => load().probeKernel(),
  /** How many io_uring instances this process holds. */
  ioUringFds: (): number => load().ioUringFds(),
  chainAppend: (spec: ChainAppendSpec): ChainAppended => load().chainAppend(spec),
  shareTrail: (spec: ShareTrailSpec): void => load().shareTrail(spec),
  /** The addon's own SHA-256 (the one the in-process mode's native records are chained with). */
  sha256Hex: (data: Buffer): string => load().sha256Hex(data),
  /** fallocate(FALLOC_FL_KEEP_SIZE); throws an error with `errno` when the space cannot be had. */
  reserveSpace: (fd: number, offset: number, length: number): void => load().reserveSpace(fd, offset, length),
  rlimit: (name: string): number => {
    const n = load().rlimits[name];
    if (n === undefined) throw new Error(`unknown resource ${name}`);
    return n;
  },
};
