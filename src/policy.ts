/**
 * The policy: every setting a run is made under, whether it came from flags, a policy file or
 * the library API. `describePolicy` is what `--print-policy` prints and what the `start` record
 * carries, so a reader of the audit trail sees exactly what was enforced.
 */
import { defaultEnvPolicy, type EnvPolicy } from './env.js';
import { defaultFsPolicy, type FsPolicy } from './fs/plan.js';
import { formatDuration, formatSize } from './units.js';

export type Mode = 'supervised' | 'in-process';

/**
 * Whether the run gets its own PID and mount namespaces (a user namespace too when worm-run is
 * not root): 'auto' uses them where the machine allows and says so when it does not; 'require'
 * refuses to run without them; 'off' never makes them.
 */
export type NamespacesMode = 'auto' | 'require' | 'off';

export interface Limits {
  /** CPU seconds per process (RLIMIT_CPU), in ms; rounded up to whole seconds. */
  cpuMs?: number;
  /** Heap and private writable memory per process (RLIMIT_DATA), bytes. */
  memoryBytes?: number;
  /** Raw virtual address space per process (RLIMIT_AS), bytes. */
  addressSpaceBytes?: number;
  /** Wall clock for the whole run, ms. */
  timeoutMs?: number;
  /** Grace between SIGTERM and SIGKILL once the wall clock runs out, ms. */
  killAfterMs: number;
  /** Processes of the target's user (RLIMIT_NPROC). */
  maxProcs?: number;
  /** Open descriptors per process (RLIMIT_NOFILE). */
  maxFiles?: number;
  /** Largest file the target may write (RLIMIT_FSIZE), bytes. */
  maxFileSizeBytes?: number;
  /** Core dumps allowed (off by default). */
  core: boolean;
}

export interface Identity {
  uid: number;
  gid: number;
  /** As given: a name or a number. */
  user: string;
  group?: string;
}

export interface Policy {
  network: { allowUnix: boolean };
  limits: Limits;
  identity?: Identity;
  guard: {
    denyImports: boolean;
    denyCommands: string[];
    allowCommands: string[];
  };
  /** Options for Node itself, for Node targets (`--node-option`). */
  nodeOptions: string[];
  audit: {
    /** A file path, '-' for stderr, or undefined for refusals-only human lines on stderr. */
    log?: string;
    /** An Ed25519 private key (PEM) that signs each run's head (`--audit-key`). */
    key?: string;
    /** A descriptor of the caller's that receives each run's head line (`--audit-head-fd`). */
    headFd?: number;
  };
  mode: Mode;
  fs: FsPolicy;
  env: EnvPolicy;
  namespaces: NamespacesMode;
  /** Where the policy was read from, if from a file (kept read-only for the target). */
  source?: string;
}

export const DEFAULT_KILL_AFTER_MS = 2000;

export function defaultPolicy(): Policy {
  return {
    network: { allowUnix: false },
    limits: { killAfterMs: DEFAULT_KILL_AFTER_MS, core: false },
    guard: { denyImports: false, denyCommands: [], allowCommands: [] },
    nodeOptions: [],
    audit: {},
    mode: 'supervised',
    fs: defaultFsPolicy(),
    env: defaultEnvPolicy(),
    namespaces: 'auto',
  };
}

export interface LimitDescription {
  limit: string;
  value: string;
  counts: string;
  mechanism: string;
}

/**
 * Each active limit, what it counts and what enforces it (the README table has the same rows).
 * The in-process mode enforces some of them differently: its own Node is already running.
 */
export function describeLimits(l: Limits, mode: Policy['mode'] = 'supervised'): LimitDescription[] {
  const inProcess = mode === 'in-process';
  const out: LimitDescription[] = [];
  if (l.cpuMs !== undefined) {
    out.push({
      limit: 'cpu', value: formatDuration(Math.ceil(l.cpuMs / 1000) * 1000),
      counts: 'user+system CPU time of each process the target runs',
      mechanism: inProcess
        ? 'the script: a native watchdog thread, SIGXCPU at the budget, SIGKILL one second later (RLIMIT_CPU one second above as a backstop); processes it starts: RLIMIT_CPU'
        : 'RLIMIT_CPU: SIGXCPU at the budget, SIGKILL one second later',
    });
  }
  if (l.memoryBytes !== undefined) {
    out.push({
      limit: 'memory', value: formatSize(l.memoryBytes),
      counts: 'heap and private writable mappings of each process (what it allocated), not shared or file-backed mappings',
      mechanism: inProcess
        ? "RLIMIT_DATA (allocations beyond it fail with ENOMEM); this Node's V8 heap was sized when it started, so the script meets the cap as a failed allocation (Node aborts; a native handler writes the verdict); Node processes it starts get a V8 heap cap to fit"
        : 'RLIMIT_DATA (allocations beyond it fail with ENOMEM); Node targets also get a V8 heap cap to fit',
    });
  }
  if (l.addressSpaceBytes !== undefined) {
    out.push({
      limit: 'address-space', value: formatSize(l.addressSpaceBytes),
      counts: 'all virtual address space of each process, reserved or not',
      mechanism: 'RLIMIT_AS',
    });
  }
  if (l.timeoutMs !== undefined) {
    out.push({
      limit: 'timeout', value: formatDuration(l.timeoutMs),
      counts: 'wall-clock time of the run',
      mechanism: inProcess
        ? `native watchdog thread: SIGKILL to every process the script started, SIGTERM to the script, SIGKILL ${formatDuration(l.killAfterMs)} later`
        : `supervisor timer: SIGTERM to every process of the run, SIGKILL ${formatDuration(l.killAfterMs)} later`,
    });
  }
  if (l.maxProcs !== undefined) {
    out.push({
      limit: 'max-procs', value: String(l.maxProcs),
      counts: "processes and threads of the target's user (all of them, not only this run's)",
      mechanism: 'RLIMIT_NPROC (fork/clone fail with EAGAIN)',
    });
  }
  if (l.maxFiles !== undefined) {
    out.push({
      limit: 'max-files', value: String(l.maxFiles),
      counts: 'open descriptors of each process',
      mechanism: 'RLIMIT_NOFILE (open fails with EMFILE)',
    });
  }
  if (l.maxFileSizeBytes !== undefined) {
    out.push({
      limit: 'max-file-size', value: formatSize(l.maxFileSizeBytes),
      counts: 'size of any file the target writes or extends',
      mechanism: 'RLIMIT_FSIZE (SIGXFSZ, then EFBIG)',
    });
  }
  out.push({
    limit: 'core', value: l.core ? 'allowed' : 'off',
    counts: 'core dump size', mechanism: 'RLIMIT_CORE',
  });
  return out;
}
