/**
 * Whether the target could write, replace or pre-plant the trail, or read the signing key.
 *
 * The target is judged as the user it runs as (`--user`, else worm-run's own). Ownership and
 * mode decide what a user may do; the filesystem confinement, when the caller knows it, narrows
 * that further (`writable`/`readable`: what the sandbox lets the target touch at all).
 *
 * Refused, whoever the target is:
 * - an existing trail not owned by worm-run's user (someone else made it: worm-run never
 *   appends to a file it did not make), or writable by group or others;
 * - a trail whose directory, or any directory above it, the target could change (create,
 *   rename or remove entries): it could rename a forged file over the trail. A sticky directory
 *   (like /tmp) is fine when neither it nor the entry below it belongs to the target.
 * When the target runs as worm-run's own user and no confinement is known, ownership and mode
 * cannot tell worm-run from the target: the trail is not refused (that would refuse every run
 * without --user) but marked unprotected, with the reason, in the start record.
 */
import { fstatSync, lstatSync, realpathSync, statSync, type Stats } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { WormError, fileErrorReason } from '../errors.js';

export interface TargetAccess {
  /** The uid the target runs as. */
  uid: number;
  /** Its groups (primary and supplementary). */
  gids: number[];
  /**
   * From the filesystem confinement: whether the sandbox lets the target write the file at
   * `path`, or create, rename or remove entries in the directory at `path`. Absent: no
   * confinement is known, and ownership and mode decide alone.
   */
  writable?: (path: string) => boolean;
  /** From the filesystem confinement: whether the sandbox lets the target read `path`. */
  readable?: (path: string) => boolean;
}

/** What the start record says about the trail's protection. */
export interface Exposure {
  protected: boolean;
  /** Why not, when it is not. */
  why?: string;
}

function me(): number {
  return process.geteuid?.() ?? -1;
}

/** The target as a policy describes it: `identity` when it changes users, else this process's user. */
export function targetAccess(identity?: { uid: number; gid: number }, confinement: Pick<TargetAccess, 'writable' | 'readable'> = {}): TargetAccess {
  const uid = identity?.uid ?? me();
  const gids = identity ? [identity.gid] : [...new Set([process.getegid?.() ?? -1, ...(process.getgroups?.() ?? [])])];
  return { uid, gids, ...confinement };
}

function octal(mode: number): string {
  return `0${(mode & 0o7777).toString(8)}`;
}

/** Ownership and mode: may uid/gids create, rename or remove entries in (or write) what st describes? */
function modeAllowsWrite(st: Stats, access: TargetAccess): boolean {
  if (access.uid === 0) return true;
  if (st.uid === access.uid) return (st.mode & 0o200) !== 0;
  if (access.gids.includes(st.gid)) return (st.mode & 0o020) !== 0;
  return (st.mode & 0o002) !== 0;
}

/** Could anyone but worm-run's user (and root) change the directory st describes? */
function othersMayWrite(st: Stats): boolean {
  return (st.uid !== me() && st.uid !== 0) || (st.mode & 0o022) !== 0;
}

function refuse(option: string, path: string, why: string): WormError {
  return new WormError('ERR_WORM_AUDIT', `${option} ${path}: refused: ${why}`);
}

/** Whether the target runs as worm-run's own user with no confinement known: ownership cannot separate them. */
function unjudged(access: TargetAccess): boolean {
  return access.uid === me() && access.writable === undefined;
}

function unprotectedWhy(access: TargetAccess): string {
  return `the target runs as worm-run's own user (uid ${access.uid}) and no filesystem confinement is known for this path, so ownership and mode cannot keep it from the trail; run the target with --user, or confine it`;
}

/**
 * Each entry on the way from the trail up to /, with the directory that holds it: along the path
 * as given (a symbolic link on the way is an entry whose owner could re-point it) and along the
 * real path.
 */
function entriesOnTheWay(abs: string, realDir: string): [entry: string, dir: string][] {
  const out = new Map<string, string>();
  for (const start of [abs, join(realDir, basename(abs))]) {
    for (let p = start; dirname(p) !== p; p = dirname(p)) out.set(p, dirname(p));
  }
  return [...out];
}

/**
 * No entry on the way may be replaceable by the target (or, when the target cannot be judged
 * apart from worm-run, by anyone else): whoever can create, rename or remove entries in its
 * directory could swap in a forged trail or directory.
 */
function checkDirectories(option: string, path: string, abs: string, realDir: string, access: TargetAccess): void {
  for (const [entry, dir] of entriesOnTheWay(abs, realDir)) {
    const st = statSync(dir);
    let entryUid = me(); // the trail itself, before the open creates it
    try {
      entryUid = lstatSync(entry).uid;
    } catch {
      // not there yet
    }
    const child = basename(entry);
    const sticky = (st.mode & 0o1000) !== 0;
    if (unjudged(access)) {
      const protectedBySticky = sticky && (entryUid === me() || entryUid === 0) && (st.uid === me() || st.uid === 0);
      if (othersMayWrite(st) && !protectedBySticky) {
        throw refuse(option, path, `the directory ${dir} (owner uid ${st.uid}, mode ${octal(st.mode)}) can be changed by users other than worm-run's, who could replace ${child}; put the trail in a directory only worm-run's user can write (e.g. mkdir -m 700 ~/audit)`);
      }
    } else {
      const byTarget = modeAllowsWrite(st, access) && (access.writable?.(dir) ?? true);
      const protectedBySticky = sticky && entryUid !== access.uid && st.uid !== access.uid;
      if (byTarget && !protectedBySticky) {
        throw refuse(option, path, `the target's user (uid ${access.uid}) can change the directory ${dir} (owner uid ${st.uid}, mode ${octal(st.mode)}) and could replace ${child}; put the trail in a directory it cannot write (e.g. one owned by uid ${me()} with mode 0700 or 0755)`);
      }
    }
  }
}

/** The rules for an existing trail file (st from lstat or fstat). */
function checkFile(option: string, path: string, st: Stats, access: TargetAccess): void {
  if (!st.isFile()) return; // devices, FIFOs, links: the open decides
  if (st.uid !== me()) {
    throw refuse(option, path, `it belongs to uid ${st.uid}, not to worm-run's user (uid ${me()}): worm-run never appends to a trail it did not make; move it away or choose another path`);
  }
  if ((st.mode & 0o022) !== 0) {
    throw refuse(option, path, `it is writable by group or others (mode ${octal(st.mode)}); chmod 600 it, or start a new file`);
  }
  if (!unjudged(access) && modeAllowsWrite(st, access) && (access.writable?.(path) ?? true)) {
    throw refuse(option, path, `the target's user (uid ${access.uid}) can write it; put the trail where the target cannot write`);
  }
}

/**
 * Before the trail is opened: refuses (ERR_WORM_AUDIT) a path the target could write, replace or
 * plant, and says whether the trail is protected. A path whose directory does not exist is left
 * to the open, which fails with its own message.
 */
export function checkTrailPath(option: string, path: string, access: TargetAccess): Exposure {
  const abs = resolve(path);
  let realDir: string;
  try {
    realDir = realpathSync(dirname(abs));
  } catch {
    return { protected: false, why: 'not opened' };
  }
  let existing: Stats | undefined;
  try {
    existing = lstatSync(join(realDir, basename(abs)));
  } catch {
    // created by the open, as worm-run's user
  }
  if (existing) checkFile(option, path, existing, access);
  checkDirectories(option, path, abs, realDir, access);
  return unjudged(access) ? { protected: false, why: unprotectedWhy(access) } : { protected: true };
}

/**
 * After the open: the descriptor is a file worm-run's user owns, not writable by others, and
 * (for a path) still the one the path names, so nothing was swapped in between.
 */
export function checkOpenedTrail(option: string, path: string, fd: number, access: TargetAccess, byPath: boolean): void {
  const st = fstatSync(fd);
  if (!st.isFile()) return;
  checkFile(option, path, st, access);
  if (byPath) {
    let now: Stats | undefined;
    try {
      now = lstatSync(resolve(path));
    } catch {
      // gone
    }
    if (!now || now.ino !== st.ino || now.dev !== st.dev) {
      throw refuse(option, path, 'the file was replaced while it was being opened; try again, and look at who else writes that directory');
    }
  }
}

/** A caller's descriptor: only the file rules apply; it is protected unless it is a file the target can reach. */
export function descriptorExposure(fd: number, access: TargetAccess): Exposure {
  const st = fstatSync(fd);
  if (!st.isFile()) return { protected: true };
  return unjudged(access) ? { protected: false, why: unprotectedWhy(access) } : { protected: true };
}

/**
 * The signing key: a file of worm-run's user that no one else can read, and that the target
 * cannot read either. A key the target could read would sign whatever it forged.
 */
export function checkKeyFile(option: string, path: string, access: TargetAccess): void {
  let st: Stats;
  try {
    st = statSync(path);
  } catch (e) {
    throw new WormError('ERR_WORM_AUDIT', `${option} ${path}: cannot read the key: ${fileErrorReason(e)}`);
  }
  if (!st.isFile()) throw refuse(option, path, 'not a regular file');
  if (st.uid !== me()) {
    throw refuse(option, path, `it belongs to uid ${st.uid}, not to worm-run's user (uid ${me()}); a key someone else controls proves nothing`);
  }
  if ((st.mode & 0o077) !== 0) {
    throw refuse(option, path, `group or others can read or write it (mode ${octal(st.mode)}); chmod 600 it`);
  }
  if (access.uid === me() && access.readable === undefined) {
    throw refuse(option, path, `the target runs as worm-run's own user (uid ${access.uid}) and could read the key, then sign a forged trail; run it with --user <name>, or confine it so the key is hidden`);
  }
  if (access.uid === me() && access.readable?.(path)) {
    throw refuse(option, path, 'the filesystem confinement lets the target read it; hide the key from the target');
  }
}
