/**
 * The contract between the supervisor and the guard inside a Node target.
 *
 * The supervisor passes the configuration as JSON in the environment variable GUARD_ENV and a
 * pipe as descriptor `fd`. The guard writes one JSON object per line to that pipe for every
 * refusal or warning. Everything on the pipe is untrusted (the target can write there too):
 * the supervisor validates each line (src/channel.ts) and marks the records `source: "guard"`.
 */
export const GUARD_ENV = 'WORM_RUN_GUARD';

/** Longest line the supervisor accepts; longer ones are dropped as garbage. */
export const MAX_LINE_BYTES = 8192;

export interface GuardConfig {
  v: 1;
  /** Descriptor of the channel in the target, or null for no reporting. */
  fd: number | null;
  /** Inode of the channel: a descriptor with the same number in a grandchild may be something else. */
  ino: number | null;
  /** Refuse network modules at require/import time instead of at use. */
  denyImports: boolean;
  /** Extra command names the subprocess filter refuses. */
  denyCommands: string[];
  /** Command names lifted from the built-in deny table. */
  allowCommands: string[];
  /** AF_UNIX sockets are allowed by the kernel filter: let Unix-socket paths through. */
  allowUnix: boolean;
}

export type GuardEvent = 'blocked' | 'warning';

export interface GuardRecord {
  event: GuardEvent;
  /** The API or operation: `net.connect`, `fetch`, `child_process.exec`, `require`. */
  op: string;
  /** What it was aimed at: `127.0.0.1:80`, a URL, a command line, a module name. */
  target?: string;
  /** For the subprocess filter: the command word that was refused or warned about. */
  command?: string;
  /** Why, in a few words. */
  reason?: string;
  /** Where in the user's program, when cheap to know. */
  file?: string;
  line?: number;
}
