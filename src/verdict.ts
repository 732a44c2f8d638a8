/**
 * Which limit stopped the target, if any. Conservative on purpose: a target that stayed within
 * its limits is never reported as limited, so each verdict needs evidence, not just a failure.
 */
import type { ExitStatus, Rusage } from './native.js';
import type { Limits } from './policy.js';
import { signalName, signalNumbers } from './signals.js';
import { formatDuration, formatSize } from './units.js';

export type LimitName = 'cpu' | 'memory' | 'timeout' | 'max-file-size';

export interface LimitHit {
  limit: LimitName;
  /** The budget as configured, human-readable. */
  budget: string;
  /** What was used, where known. */
  used?: string;
  /** One sentence a person can read at once. */
  reason: string;
}

/**
 * The words of each verdict, shared with the in-process mode (which prepares them for native
 * code to write): the same limit reads the same in both modes. `peakMib` may be a placeholder.
 */
export const REASONS = {
  timeout: (ms: number) => `wall-clock limit of ${formatDuration(ms)} reached`,
  cpu: (budgetS: number) => `CPU limit of ${budgetS} s reached`,
  memory: (capBytes: number, peakMib: number | string) => `memory limit of ${formatSize(capBytes)} reached (peak resident ${peakMib} MiB)`,
};

/** Peak resident memory, as a share of the cap, that counts as having reached it. */
export const MEMORY_EVIDENCE = 0.8;

/** How the target ended, with its resource use. */
export type Ended = ExitStatus & { rusage: Rusage };

export interface VerdictInput {
  wait: Ended;
  limits: Limits;
  timedOut: boolean;
}

function cpuUsedMs(w: Ended): number {
  return w.rusage.userMs + w.rusage.systemMs;
}

/**
 * How a failed allocation ends a program: Node and most runtimes abort, C code that does not
 * check crashes. An exit code says nothing (a program may exit 1 for any reason).
 */
function allocationDeath(sig: number | null): boolean {
  const SIG = signalNumbers();
  return sig === SIG.SIGABRT || sig === SIG.SIGSEGV || sig === SIG.SIGBUS || sig === SIG.SIGKILL;
}

/** A note for 128+SIGXFSZ or 128+SIGXCPU without the evidence for a verdict. */
export function exitStatusNote({ wait, limits }: VerdictInput, limit: LimitHit | null, who: string): string | null {
  if (limit || wait.exitCode === null) return null;
  const SIG = signalNumbers();
  if (limits.maxFileSizeBytes !== undefined && wait.exitCode === 128 + SIG.SIGXFSZ) {
    return `${who} exited ${wait.exitCode} (128+SIGXFSZ) under a file size limit of ${formatSize(limits.maxFileSizeBytes)}: a program it ran may have hit the limit`;
  }
  return null;
}

/**
 * A line for a target that ended badly under a memory cap without a verdict: killed by the kind
 * of signal a failed allocation brings (at any size: a single large allocation fails with
 * little in use), or exiting non-zero near the cap (Python's MemoryError). The cap may be why,
 * and the user should know it was there; it is not claimed as the reason.
 */
export function memoryNote({ wait, limits }: VerdictInput, limit: LimitHit | null, who: string): string | null {
  if (limit || limits.memoryBytes === undefined) return null;
  const cap = formatSize(limits.memoryBytes);
  const peak = Math.round(wait.rusage.maxRssKb / 1024);
  if (wait.signal !== null && allocationDeath(wait.signal)) {
    return `${who} was killed by ${signalName(wait.signal) ?? `signal ${wait.signal}`} under a memory cap of ${cap} (peak resident ${peak} MiB): an allocation may have failed`;
  }
  if (wait.exitCode !== null && wait.exitCode !== 0 && wait.rusage.maxRssKb * 1024 >= limits.memoryBytes * MEMORY_EVIDENCE) {
    return `${who} exited ${wait.exitCode} with peak resident ${peak} MiB of a memory cap of ${cap}: the cap may be why`;
  }
  return null;
}

export function verdict({ wait, limits, timedOut }: VerdictInput): LimitHit | null {
  const SIG = signalNumbers();
  const sig = wait.signal;
  const code = wait.exitCode;
  if (timedOut && limits.timeoutMs !== undefined) {
    return {
      limit: 'timeout', budget: formatDuration(limits.timeoutMs),
      reason: REASONS.timeout(limits.timeoutMs),
    };
  }
  if (limits.cpuMs !== undefined) {
    const budgetS = Math.ceil(limits.cpuMs / 1000);
    const used = cpuUsedMs(wait);
    // SIGXCPU at the soft limit; SIGKILL at the hard limit if it was ignored; a shell that ran
    // the busy process reports 128+SIGXCPU. Only with the CPU actually used: a target cannot
    // claim a verdict by exiting 152 (rusage reads a little under the kernel's own count).
    const spent = used >= budgetS * 1000 * 0.8;
    const bySignal = sig === SIG.SIGXCPU || sig === SIG.SIGKILL || code === 128 + SIG.SIGXCPU;
    if (spent && bySignal) {
      return {
        limit: 'cpu', budget: `${budgetS} s`, used: `${(used / 1000).toFixed(1)} s`,
        reason: `${REASONS.cpu(budgetS)} (used ${(used / 1000).toFixed(1)} s)`,
      };
    }
  }
  // Only the signal itself is evidence: an exit status of 153 is what any program may choose.
  if (limits.maxFileSizeBytes !== undefined && sig === SIG.SIGXFSZ) {
    return {
      limit: 'max-file-size', budget: formatSize(limits.maxFileSizeBytes),
      reason: `file size limit of ${formatSize(limits.maxFileSizeBytes)} reached`,
    };
  }
  if (limits.memoryBytes !== undefined && allocationDeath(sig)) {
    const cap = limits.memoryBytes;
    const rss = wait.rusage.maxRssKb * 1024;
    // Evidence, not a guess from the exit status: the target died the way a failed allocation
    // ends a program, and its resident memory came near the cap (what it allocated counts
    // against the cap; most of it is touched).
    if (rss >= cap * MEMORY_EVIDENCE) {
      return {
        limit: 'memory', budget: formatSize(cap), used: `${formatSize(Math.round(rss / 1048576) * 1048576)} peak RSS`,
        reason: REASONS.memory(cap, Math.round(rss / 1048576)),
      };
    }
  }
  return null;
}
