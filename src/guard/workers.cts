/**
 * Workers get the guard too. A Worker loads the preload from the NODE_OPTIONS of its own
 * environment, so one created with a custom `env` (or after NODE_OPTIONS was removed) would run
 * unguarded. The Worker class installed by preload.cts passes its options through withGuard,
 * which adds `--require <preload>` to the worker's execArgv when one is given, else to
 * NODE_OPTIONS of the worker's (copied) environment. (A Worker refuses process-wide flags such as
 * --max-old-space-size in execArgv, so the parent's execArgv cannot simply be repeated.) The
 * configuration travels as worker environment data (set by preload.cts), so it reaches the
 * worker whatever its environment.
 */
import type * as WT from 'node:worker_threads';
import { PRELOAD, state } from './config.cjs';

function quoteOpt(s: string): string {
  return /[\s"\\]/.test(s) ? `"${s.replace(/(["\\])/g, '\\$1')}"` : s;
}

export function withGuard(options: unknown, wt: typeof WT): unknown {
  if (options !== undefined && (options === null || typeof options !== 'object')) return options; // Node reports it
  const o: Record<string, any> = { ...(options as object | undefined) };
  const custom = o.env !== undefined && o.env !== null && o.env !== wt.SHARE_ENV && typeof o.env === 'object';
  const env = (custom ? o.env : process.env) as Record<string, unknown>;
  const nodeOptions = typeof env.NODE_OPTIONS === 'string' ? env.NODE_OPTIONS : '';
  if (Array.isArray(o.execArgv)) {
    if (o.execArgv.includes(PRELOAD)) return options;
    o.execArgv = [...o.execArgv, '--require', PRELOAD];
  } else if (state.inProcess) {
    // This process loaded the guard itself, not through its start-up options: nothing of it
    // is inherited, whatever NODE_OPTIONS now says.
    o.execArgv = ['--require', PRELOAD];
  } else if (nodeOptions.includes(PRELOAD)) {
    return options;
  } else if (custom) {
    const pre = `--require ${quoteOpt(PRELOAD)}`;
    o.env = { ...o.env, NODE_OPTIONS: nodeOptions ? `${pre} ${nodeOptions}` : pre };
  } else {
    o.execArgv = ['--require', PRELOAD];
  }
  return o;
}
