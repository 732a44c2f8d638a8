/**
 * Starting the run's init and the target, with the run's own namespaces where the machine
 * allows them. `auto` falls back to a run without them (init as a child subreaper, pid-scoped
 * calls limited to the caller by the filter, split Landlock rules) and remembers that this
 * process cannot make them, so later runs of a library caller do not pay for the attempt.
 */
import { WormError, isSyscallError } from '../errors.js';
import type { FsPlan } from '../fs/plan.js';
import { native, type RunHandle } from '../native.js';
import type { NamespacesMode } from '../policy.js';
import type { Prepared } from './prepare.js';

let unavailable: string | null = null;

/** The calls whose failure means "no namespaces here", not "this run is broken". */
const NAMESPACE_STEPS = new Set(['clone(new namespaces)', "writing the user namespace's uid_map", 'mount(/, MS_PRIVATE)', 'mount']);

function namespaceFailure(e: unknown): string | null {
  if (!isSyscallError(e)) return null;
  const step = (e as { stage?: string }).stage ?? e.syscall ?? '';
  if (!NAMESPACE_STEPS.has(step) && !(e.syscall ?? '').startsWith('mount(')) return null;
  return e.message;
}

export interface Started {
  handle: RunHandle;
  fs: FsPlan;
  /** Why the run has no namespaces although they were wanted (auto). */
  note?: string;
}

export function startRun(prepared: Prepared, mode: NamespacesMode): Started {
  if (mode === 'require' || (mode === 'auto' && unavailable === null)) {
    const { spec, fs } = prepared.spec(true);
    try {
      return { handle: native.startRun(spec), fs };
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
  const handle = native.startRun(spec);
  return mode === 'auto' && unavailable !== null ? { handle, fs, note: `no namespaces on this machine: ${unavailable}` } : { handle, fs };
}
