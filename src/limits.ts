/** From the policy's limits to the rlimits the child is started with. */
import { native, type RlimitSpec } from './native.js';
import { usageError } from './errors.js';
import type { Limits, Policy } from './policy.js';
import { formatSize } from './units.js';

/** Seconds of grace between SIGXCPU (soft limit) and SIGKILL (hard limit). */
export const CPU_GRACE_SECONDS = 1;

/**
 * The main thread's stack under --memory. RLIMIT_DATA does not count it, so it gets a bound of
 * its own that the target cannot raise: Linux's usual 8 MiB, or the cap if that is smaller.
 */
export const STACK_UNDER_CAP = 8 * 1024 * 1024;

/**
 * The smallest --memory (RLIMIT_DATA, MiB) a Node of each line needs just to start and print a
 * line, with the guard and the V8 heap size worm-run gives it, measured on x86_64 by
 * scripts/node-memory-floor.js (and checked against the running Node by test/limits.test.ts).
 * Node 24 reserves a 512 MiB code range that RLIMIT_DATA counts. A cap below is refused: Node
 * would abort or hang before the script's first line.
 */
export const NODE_MEMORY_FLOOR_MIB: readonly { fromMajor: number; mib: number }[] = [
  { fromMajor: 24, mib: 563 },
  { fromMajor: 0, mib: 49 },
];

export function nodeMemoryFloor(version = process.version): number {
  const major = Number(/^v(\d+)/.exec(version)?.[1] ?? 0);
  return NODE_MEMORY_FLOOR_MIB.find((f) => major >= f.fromMajor)!.mib * 1024 * 1024;
}

/** Refuses a --memory this Node cannot start under (ERR_WORM_USAGE, 125). */
export function checkNodeMemory(policy: Policy): void {
  const cap = policy.limits.memoryBytes;
  const floor = nodeMemoryFloor();
  if (cap !== undefined && cap < floor) {
    throw usageError(`--memory ${formatSize(cap)} is too small for a Node target: Node ${process.version} needs ${formatSize(floor)} to start (its reservations count against the cap); give it at least ${formatSize(floor)}, or more for the script's own data`);
  }
}

export function rlimitsFor(l: Limits): RlimitSpec[] {
  const r = (name: string, soft: number | null, hard: number | null = soft): RlimitSpec =>
    ({ resource: native.rlimit(name), soft, hard });
  const out: RlimitSpec[] = [];
  if (l.cpuMs !== undefined) {
    const s = Math.ceil(l.cpuMs / 1000);
    out.push(r('RLIMIT_CPU', s, s + CPU_GRACE_SECONDS));
  }
  if (l.memoryBytes !== undefined) {
    out.push(r('RLIMIT_DATA', l.memoryBytes));
    out.push(r('RLIMIT_STACK', Math.min(l.memoryBytes, STACK_UNDER_CAP)));
  }
  if (l.addressSpaceBytes !== undefined) out.push(r('RLIMIT_AS', l.addressSpaceBytes));
  if (l.maxProcs !== undefined) out.push(r('RLIMIT_NPROC', l.maxProcs));
  if (l.maxFiles !== undefined) out.push(r('RLIMIT_NOFILE', l.maxFiles));
  if (l.maxFileSizeBytes !== undefined) out.push(r('RLIMIT_FSIZE', l.maxFileSizeBytes));
  if (!l.core) out.push(r('RLIMIT_CORE', 0));
  return out;
}
