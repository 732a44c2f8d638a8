/**
 * The guard's configuration in this process (or thread), read once at start-up. Kept apart and
 * tiny: with install.cts it is what every Node process of a run loads (bundled into
 * dist/guard/start.cjs, see preload.cts); the modules loaded later share this instance.
 */
import fs = require('node:fs');
import type { GuardConfig } from './protocol.cjs';

/** = GUARD_ENV of protocol.cts (copied, not imported: protocol.cts is not part of the start-up; a test checks it). */
export const GUARD_ENV_NAME = 'WORM_RUN_GUARD';
/** Worker environment data key: the configuration reaches workers whatever their `env`. */
export const ENV_DATA_KEY = 'worm-run.guard';

/** The guard's own directory: frames from here are never "the user's line". */
export const GUARD_DIR = __dirname;
/**
 * Nor are frames of the start-up script (install.cts and this file, see preload.cts), which
 * show this name. = SCRIPT_NAME of preload.cts (copied: preload.cts loads this module, not the
 * other way round; a test checks it).
 */
export const START_SCRIPT = 'worm-run/dist/guard/start.cjs';
export const PRELOAD = `${__dirname}/preload.cjs`;

export const config: GuardConfig = {
  v: 1, fd: null, ino: null, denyImports: false, denyCommands: [], allowCommands: [], allowUnix: false,
};

/**
 * The configuration as JSON, handed on to child processes; and whether this guard was loaded by
 * worm-run's in-process mode (it then reports through a hook, and this process was not started
 * with the preload, so workers must be given it explicitly).
 */
export const state = { text: '', inProcess: false, bindings: {} as HandleClasses };

/**
 * Node's socket handle classes, taken from its bindings before the guard wraps
 * process.binding: a refused socket gets a handle of the kind Node's own connect would give it.
 */
export interface HandleClasses {
  TCP?: new (type: number) => object;
  TCPConstants?: { SOCKET: number };
  Pipe?: new (type: number) => object;
  PipeConstants?: { SOCKET: number };
}

/** Set by worm-run's in-process mode before it loads the guard (see src/inprocess.ts). */
export const REPORT_HOOK = Symbol.for('worm-run.guard.report');

/**
 * Set by the in-process mode too: it reads the channel (where workers report) only once a
 * worker exists, so a script without workers never pays for the reader. Called before a
 * Worker is constructed.
 */
export const CHANNEL_HOOK = Symbol.for('worm-run.guard.channel');

/** Reads the configuration; anything malformed leaves the safe defaults (no reporting). */
export function setConfig(text: unknown): void {
  if (typeof text !== 'string' || text === '') return;
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return;
  }
  if (typeof v !== 'object' || v === null) return;
  const o = v as Record<string, unknown>;
  const strings = (x: unknown): string[] => (Array.isArray(x) ? x.filter((s): s is string => typeof s === 'string') : []);
  config.fd = Number.isInteger(o.fd) && (o.fd as number) >= 0 ? (o.fd as number) : null;
  config.ino = typeof o.ino === 'number' ? o.ino : null;
  config.denyImports = o.denyImports === true;
  config.denyCommands = strings(o.denyCommands);
  config.allowCommands = strings(o.allowCommands);
  config.allowUnix = o.allowUnix === true;
  state.text = text;
}

const { fstatSync } = fs;

/** The channel is usable here: the descriptor is the very pipe the supervisor made. */
export function channelOk(): boolean {
  try {
    return config.fd !== null && config.ino !== null && fstatSync(config.fd).ino === config.ino;
  } catch {
    return false;
  }
}
