/** From the policy's limits to the rlimits the child is started with. */
import { native, type RlimitSpec } from './native.js';
import type { Limits } from './policy.js';

/** Seconds of grace between SIGXCPU (soft limit) and SIGKILL (hard limit). */
export const CPU_GRACE_SECONDS = 1;

/**
 * The main thread's stack under --memory. RLIMIT_DATA does not count it, so it gets a bound of
 * its own that the target cannot raise: Linux's usual 8 MiB, or the cap if that is smaller.
 */
export const STACK_UNDER_CAP = 8 * 1024 * 1024;

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
