/**
 * What the start record tells a reader about the run beyond the policy: the machine, who the
 * target runs as, and exactly which files ran (SHA-256 of the target file and of its
 * interpreter: the Node binary for a Node target, the `#!` interpreter for a script).
 *
 * Hashes are taken before the target starts. They name the file at that moment: a target that
 * can write its own executable could change it between the hash and the start (exec by
 * descriptor would close that gap). Large files cost time (the Node binary, ~100 MB, about
 * 80 ms), so a hash is remembered for a file whose device, inode, size, mtime and ctime are
 * unchanged: in this process, and in a cache directory of worm-run's user (digestCache()) that
 * the target cannot write (the caller keeps it read-only in the sandbox, and does not use it
 * when nothing keeps the target out of it).
 */
import { crypto } from '../crypto.js';
import {
  accessSync, closeSync, constants, existsSync, fstatSync, mkdirSync, realpathSync, openSync, readFileSync, readSync, renameSync, statSync, writeFileSync,
} from 'node:fs';
import { basename, delimiter, dirname, join, relative, resolve } from 'node:path';
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

// Digests by file identity, for a long-lived host that runs the same programs again and again;
// bounded (the oldest entries go first), since such a host may also see any number of them.
const cache = new Map<string, string>();
const CACHE_MAX = 4096;

function cacheDigest(key: string, sha256: string): void {
  cache.delete(key);
  cache.set(key, sha256);
  if (cache.size > CACHE_MAX) cache.delete(cache.keys().next().value as string);
}

/** Files at least this large are worth a persistent cache entry. */
const PERSIST_FROM = 1 << 20;

/**
 * worm-run's own digest cache ($XDG_CACHE_HOME/worm-run/sha256, or ~/.cache/...): made 0700 by
 * worm-run's user, and not used if it is anyone else's or others may write it. Null when there
 * is none to be had.
 */
export function digestCache(): string | null {
  const base = process.env.XDG_CACHE_HOME || (process.env.HOME ? join(process.env.HOME, '.cache') : null);
  if (!base) return null;
  const dir = join(base, 'worm-run', 'sha256');
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const st = statSync(dir);
    if (st.uid !== process.geteuid?.() || (st.mode & 0o077) !== 0) return null;
    return dir;
  } catch {
    return null;
  }
}

/**
 * The digest cache, unless it lies in a directory the target may write (`writable`): then a
 * target could plant a false digest, and the cache is not used (nor made).
 */
export function trustedDigestCache(writable: string[]): string | null {
  const base = process.env.XDG_CACHE_HOME || (process.env.HOME ? join(process.env.HOME, '.cache') : null);
  if (!base) return null;
  const target = resolve(base, 'worm-run', 'sha256');
  let probe = target;
  for (; !existsSync(probe) && dirname(probe) !== probe; probe = dirname(probe));
  let realTarget: string;
  try {
    realTarget = join(realpathSync(probe), relative(probe, target));
  } catch {
    return null;
  }
  if (writable.some((w) => realTarget === w || realTarget.startsWith(`${w}/`))) return null;
  return digestCache();
}

function remembered(dir: string | null, key: string): string | undefined {
  if (!dir) return undefined;
  try {
    const text = readFileSync(join(dir, key), 'latin1');
    return /^[0-9a-f]{64}$/.test(text) ? text : undefined;
  } catch {
    return undefined;
  }
}

function remember(dir: string | null, key: string, sha256: string): void {
  if (!dir) return;
  const tmp = join(dir, `.${key}.${process.pid}`);
  try {
    writeFileSync(tmp, sha256, { mode: 0o600 });
    renameSync(tmp, join(dir, key));
  } catch {
    // a cache: nothing lost but time
  }
}

/** SHA-256 of a file's contents, read in 4 MiB pieces; `persistent`: a digestCache() directory. */
export function hashFile(path: string, persistent: string | null = null): FileFacts {
  let fd: number | undefined;
  try {
    // Without blocking: an interpreter named by a `#!` line may be a FIFO a run planted.
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
    const st = fstatSync(fd, { bigint: true });
    if (!st.isFile()) return { path, sha256: null, error: 'not a regular file' };
    const key = `${st.dev}-${st.ino}-${st.size}-${st.mtimeNs}-${st.ctimeNs}`;
    const large = st.size >= BigInt(PERSIST_FROM);
    const known = cache.get(key) ?? (large ? remembered(persistent, key) : undefined);
    if (known) {
      cacheDigest(key, known);
      return { path, sha256: known };
    }
    const h = crypto().createHash('sha256');
    const buf = Buffer.allocUnsafe(4 << 20);
    for (let n; (n = readSync(fd, buf, 0, buf.length, null)) > 0;) h.update(buf.subarray(0, n));
    const sha256 = h.digest('hex');
    cacheDigest(key, sha256);
    if (large) remember(persistent, key, sha256);
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
function scriptInterpreter(path: string, pathEnv: string | undefined, cwd: string, persistent: string | null): TargetFacts['interpreter'] {
  const words = shebang(path);
  if (!words || words.length === 0 || !words[0]) return null;
  const interp = words[0];
  if (basename(interp) !== 'env') return hashFile(interp, persistent);
  const program = words.slice(1).find((w) => !w.startsWith('-'));
  if (!program) return hashFile(interp, persistent);
  const found = program.includes('/') ? resolve(cwd, program) : onPath(program, pathEnv, cwd);
  if (!found) return { path: program, sha256: null, error: 'not found on PATH', via: interp };
  return { ...hashFile(found, persistent), via: interp };
}

/**
 * The target as the start record describes it. `persistent`: a digest cache the target cannot
 * write (see digestCache), or null.
 */
export function describeTarget(target: Target, pathEnv: string | undefined = process.env.PATH, cwd = process.cwd(), persistent: string | null = null): TargetFacts {
  if (target.kind === 'node') {
    return { kind: 'node', ...hashFile(target.path, persistent), interpreter: hashFile(process.execPath, persistent), node: process.version };
  }
  return { kind: 'binary', ...hashFile(target.path, persistent), interpreter: scriptInterpreter(target.path, pathEnv, cwd, persistent) };
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
