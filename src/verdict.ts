/**
 * Which limit stopped the target, if any. Conservative on purpose: a target that stayed within
 * its limits is never reported as limited, so each verdict needs evidence, not just a failure.
 */
import { constants } from 'node:os';
import type { WaitResult } from './native.js';
import type { Limits } from './policy.js';
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

const SIG = constants.signals;

export interface VerdictInput {
  wait: WaitResult;
  limits: Limits;
  timedOut: boolean;
  nodeTarget: boolean;
}

function cpuUsedMs(w: WaitResult): number {
  return w.rusage.userMs + w.rusage.systemMs;
}

export function verdict({ wait, limits, timedOut, nodeTarget }: VerdictInput): LimitHit | null {
  const sig = wait.signal;
  const code = wait.exitCode;
  if (timedOut && limits.timeoutMs !== undefined) {
    return {
      limit: 'timeout', budget: formatDuration(limits.timeoutMs),
      reason: `wall-clock limit of ${formatDuration(limits.timeoutMs)} reached`,
    };
  }
  if (limits.cpuMs !== undefined) {
    const budgetS = Math.ceil(limits.cpuMs / 1000);
    const used = cpuUsedMs(wait);
    // SIGXCPU at the soft limit; SIGKILL at the hard limit if it was ignored. A shell that ran
    // the busy process reports it as 128+SIGXCPU.
    const byXcpu = sig === SIG.SIGXCPU || code === 128 + SIG.SIGXCPU;
    const byKill = sig === SIG.SIGKILL && used >= budgetS * 1000 - 50;
    if (byXcpu || byKill) {
      return {
        limit: 'cpu', budget: `${budgetS} s`, used: `${(used / 1000).toFixed(1)} s`,
        reason: `CPU limit of ${budgetS} s reached (used ${(used / 1000).toFixed(1)} s)`,
      };
    }
  }
  if (limits.maxFileSizeBytes !== undefined && (sig === SIG.SIGXFSZ || code === 128 + SIG.SIGXFSZ)) {
    return {
      limit: 'max-file-size', budget: formatSize(limits.maxFileSizeBytes),
      reason: `file size limit of ${formatSize(limits.maxFileSizeBytes)} reached`,
    };
  }
  if (limits.memoryBytes !== undefined && (sig !== null || (code !== null && code !== 0))) {
    const cap = limits.memoryBytes;
    const rss = wait.rusage.maxRssKb * 1024;
    // Evidence, by target: Node aborts (SIGABRT, or exit 134 through a shell) when V8 cannot
    // grow its heap; anything else must have come near the cap in resident memory.
    const nodeOom = nodeTarget && (sig === SIG.SIGABRT || sig === SIG.SIGTRAP || code === 134);
    if (nodeOom || rss >= cap * 0.5) {
      return {
        limit: 'memory', budget: formatSize(cap), used: `${formatSize(Math.round(rss / 1048576) * 1048576)} peak RSS`,
        reason: `memory limit of ${formatSize(cap)} reached (peak resident ${Math.round(rss / 1048576)} MiB)`,
      };
    }
  }
  return null;
}
