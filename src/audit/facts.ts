/**
 * What the start record tells a reader about the run beyond the policy: the machine, who the
 * target runs as, and exactly which files ran (SHA-256 of the target file and of its
 * interpreter: the Node binary for a Node target, the `#!` interpreter for a script).
 *
 * Hashes are taken before the target starts. They name the file at that moment: a target that
 * can write its own executable could change it between the hash and the start (exec by
 * descriptor would close that gap). Large files cost time (the Node binary, ~100 MB, about
 * 80 ms), so a hash is remembered in this process for a file whose device, inode, size, mtime
 * and ctime are unchanged.
 */
import { createHash } from 'node:crypto';
import { accessSync, closeSync, constants, fstatSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { basename, delimiter, resolve } from 'node:path';
import type { Identity } from '../policy.js';
import { shebang, type Target } from '../target.js';

export interface FileFacts {
  path: string;
  /** Lowercase hex, or null when the file could not be read (then `error` says why). */
  sha256: string | null;
  error?: string;
}

export interface TargetFacts extends FileFacts {
  kind: Target['kind'];
  /** The program that runs the target file: Node for a Node target, the `#!` line's for a script. */
  interpreter: (FileFacts & { via?: string }) | null;
  /** The Node version that runs a Node target. */
  node?: string;
}

const cache = new Map<string, string>();

/** SHA-256 of a file's contents, read in 4 MiB pieces. */
export function hashFile(path: string): FileFacts {
  let fd: number | undefined;
  try {
    fd = openSync(path, constants.O_RDONLY);
    const st = fstatSync(fd, { bigint: true });
    const key = `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
    const known = cache.get(key);
    if (known) return { path, sha256: known };
    const h = createHash('sha256');
    const buf = Buffer.allocUnsafe(4 << 20);
    for (let n; (n = readSync(fd, buf, 0, buf.length, null)) > 0;) h.update(buf.subarray(0, n));
    const sha256 = h.digest('hex');
    cache.set(key, sha256);
    return { path, sha256 };
  } catch (e) {
    return { path, sha256: null, error: (e as NodeJS.ErrnoException).code ?? (e as Error).message };
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

function onPath(name: string, pathEnv: string | undefined, cwd: string): string | undefined {
  for (const dir of (pathEnv ?? '/usr/local/bin:/usr/bin:/bin').split(delimiter)) {
    const candidate = resolve(cwd, dir || '.', name);
    try {
      if (!statSync(candidate).isFile()) continue;
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** The `#!` interpreter of a script; through env(1), the program env finds on PATH. */
function scriptInterpreter(path: string, pathEnv: string | undefined, cwd: string): TargetFacts['interpreter'] {
  const words = shebang(path);
  if (!words || words.length === 0 || !words[0]) return null;
  const interp = words[0];
  if (basename(interp) !== 'env') return hashFile(interp);
  const program = words.slice(1).find((w) => !w.startsWith('-'));
  if (!program) return hashFile(interp);
  const found = program.includes('/') ? resolve(cwd, program) : onPath(program, pathEnv, cwd);
  if (!found) return { path: program, sha256: null, error: 'not found on PATH', via: interp };
  return { ...hashFile(found), via: interp };
}

/** The target as the start record describes it. */
export function describeTarget(target: Target, pathEnv: string | undefined = process.env.PATH, cwd = process.cwd()): TargetFacts {
  if (target.kind === 'node') {
    return { kind: 'node', ...hashFile(target.path), interpreter: hashFile(process.execPath), node: process.version };
  }
  return { kind: 'binary', ...hashFile(target.path), interpreter: scriptInterpreter(target.path, pathEnv, cwd) };
}

function hostname(): string {
  try {
    return readFileSync('/proc/sys/kernel/hostname', 'utf8').trim();
  } catch {
    return '';
  }
}

/** The machine and the identity the target runs as, for the start record. */
export function runFacts(identity: Pick<Identity, 'uid' | 'gid'> | undefined): Record<string, unknown> {
  return {
    host: hostname(),
    targetUser: identity
      ? { uid: identity.uid, gid: identity.gid, groups: [] }
      : { uid: process.geteuid?.() ?? null, gid: process.getegid?.() ?? null, groups: process.getgroups?.() ?? [] },
  };
}
