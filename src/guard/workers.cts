/**
 * Workers get the guard too. A Worker loads the preload from the NODE_OPTIONS of its own
 * environment, so one created with a custom `env` (or after NODE_OPTIONS was removed) would run
 * unguarded. The Worker class installed by install.cts passes its options through withGuard,
 * which puts `--require <preload>` first in the NODE_OPTIONS of a custom environment (copied),
 * else first in the worker's execArgv when one is given, else makes it the execArgv. (A Worker
 * refuses process-wide flags such as --max-old-space-size in execArgv, so the parent's execArgv
 * cannot simply be repeated.) The configuration travels as worker environment data (set by
 * install.cts), so it reaches the worker whatever its environment.
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
  const pre = `--require ${quoteOpt(PRELOAD)}`;
  // The guard must be the first preload: one of the caller's that ran before it could keep the
  // originals it is about to wrap. A worker reads the NODE_OPTIONS of a custom env first, then
  // its execArgv.
  if (custom) {
    if (!nodeOptions.startsWith(pre)) o.env = { ...o.env, NODE_OPTIONS: nodeOptions ? `${pre} ${nodeOptions}` : pre };
  } else if (Array.isArray(o.execArgv)) {
    if (o.execArgv[0] !== '--require' || o.execArgv[1] !== PRELOAD) o.execArgv = ['--require', PRELOAD, ...o.execArgv];
  } else if (state.inProcess) {
    // This process loaded the guard itself, not through its start-up options: nothing of it
    // is inherited, whatever NODE_OPTIONS now says.
    o.execArgv = ['--require', PRELOAD];
  } else if (!nodeOptions.includes(PRELOAD)) {
    o.execArgv = ['--require', PRELOAD];
  }
  return o;
}
