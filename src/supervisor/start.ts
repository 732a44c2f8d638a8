/**
 * Starting the run's init and the target, with the run's own namespaces where the machine
 * allows them. `auto` falls back to a run without them (init as a child subreaper, pid-scoped
 * calls limited to the caller by the filter, split Landlock rules) and remembers that this
 * process cannot make them, so later runs of a library caller do not pay for the attempt.
 *
 * The start does not hold the event loop while init and the target set themselves up: init is
 * cloned synchronously, and the target's report (what it got, or why it failed) arrives from
 * the run's monitor thread. A library host starts its next run meanwhile.
 */
import { isSyscallError } from '../errors.js';
import { WormError } from '../errors.js';
import type { FsPlan } from '../fs/plan.js';
import { native, type RunEvent, type RunHandle, type TargetFacts } from '../native.js';
import type { NamespacesMode } from '../policy.js';
import type { Prepared } from './prepare.js';

let unavailable: string | null = null;

/**
 * The calls whose failure means "no namespaces here", not "this run is broken". A bind of one
 * of the run's paths counts only when mounting itself is refused (EPERM, EACCES: a container's
 * policy): a bind that fails for its path (ENOENT, ENOTDIR, ELOOP) is about the run's own files,
 * which a previous run may have planted (a link that resolves only outside the new namespaces),
 * and must never turn namespaces off for every later run of a library host.
 */
const NAMESPACE_STEPS = new Set(['clone(new namespaces)', "writing the user namespace's uid_map", 'mount(/, MS_PRIVATE)']);
const MOUNT_REFUSED = new Set([1, 13]); // EPERM, EACCES

function namespaceFailure(e: unknown): string | null {
  if (!isSyscallError(e)) return null;
  const step = (e as { stage?: string }).stage ?? e.syscall ?? '';
  if (NAMESPACE_STEPS.has(step)) return e.message;
  return step === 'mount' && MOUNT_REFUSED.has(e.errno ?? 0) ? e.message : null;
}

export interface Started {
  handle: RunHandle;
  /** The target's pid as worm-run sees it. */
  pid: number;
  /** What the target measured in itself before it waits for go(). */
  facts: TargetFacts;
  fs: FsPlan;
  /** Why the run has no namespaces although they were wanted (auto). */
  note?: string;
}

/**
 * One attempt: resolves once the target has reported, rejects (once nothing of the attempt is
 * left) with the error init or the target reported. Every later event goes to onEvent.
 */
function attempt(spec: Parameters<typeof native.startRun>[0], onEvent: (ev: RunEvent) => void): Promise<Omit<Started, 'fs' | 'note'>> {
  const handle = native.startRun(spec);
  return new Promise((resolve, reject) => {
    let failure: Error | null = null;
    let live = false;
    try {
      handle.watch((ev) => {
        if (live) onEvent(ev);
        else if (ev.type === 'facts') {
          live = true;
          resolve({ handle, pid: ev.pid, facts: ev.facts });
        } else if (ev.type === 'failed') {
          failure = ev.error;
        } else if (ev.type === 'end') {
          reject(failure ?? new Error('the run ended before its target reported'));
        }
      });
    } catch (e) {
      handle.abandon();
      reject(e);
    }
  });
}

export async function startRun(prepared: Prepared, mode: NamespacesMode, onEvent: (ev: RunEvent) => void): Promise<Started> {
  if (mode === 'require' || (mode === 'auto' && unavailable === null)) {
    const { spec, fs } = prepared.spec(true);
    try {
      return { ...(await attempt(spec, onEvent)), fs };
    } catch (e) {
      const why = namespaceFailure(e);
      if (why === null) throw e;
      if (mode === 'require') {
        throw new WormError('ERR_WORM_PLATFORM', `cannot give the run its own namespaces (${why}); drop --namespaces require to run without them`, 125, { cause: e });
      }
      unavailable = why;
    }
  }
  const { spec, fs } = prepared.spec(false);
  const started = { ...(await attempt(spec, onEvent)), fs };
  return mode === 'auto' && unavailable !== null ? { ...started, note: `no namespaces on this machine: ${unavailable}` } : started;
}
