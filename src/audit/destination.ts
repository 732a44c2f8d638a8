/**
 * Where the trail goes, opened before the target starts so that a bad or unsafe path fails
 * before anything runs: a file (created 0600, never through a symlink, never one someone else
 * made, never where the target could replace it: see safety.ts), `-` for stderr, or
 * `/dev/fd/N` for a descriptor the caller passed (a pipe only the harness reads is the strongest
 * choice: the target never holds it).
 *
 * A file is opened read-write and appended to: its last line is read (under a lock) to chain
 * the run's first record to it, and space for the closing records is reserved past its end.
 */
import { closeSync, constants, fstatSync, openSync, readFileSync, readSync, readdirSync, readlinkSync } from 'node:fs';
import { WormError, fileErrorReason } from '../errors.js';
import { native } from '../native.js';
import { endingHash } from './record.js';
import {
  checkOpenedTrail, checkTrailPath, descriptorExposure, type Exposure, type TargetAccess,
} from './safety.js';

/** Bytes kept allocated past the end of a trail file: room for many closing records. */
export const RESERVE_BYTES = 64 * 1024;

export type Destination =
  | { kind: 'none' }
  | {
    kind: 'stream';
    fd: number;
    /** How the start record and messages name it: the path, `stderr`, `descriptor N`. */
    label: string;
    /** worm-run opened it (a path) and closes it. */
    owned: boolean;
    /** A readable descriptor of the file, for its last record (-1: not a regular file). */
    tailFd: number;
    ownsTail: boolean;
    /** A regular file: flock it, and keep space reserved. */
    file: boolean;
    /** Whether space could be reserved: 'reserved', 'unsupported (EOPNOTSUPP)', 'not a file'. */
    reservation: string;
    /** Where the space reserved at the open ends (0: none). */
    reservedEnd: number;
    exposure: Exposure;
  };

function readOnly(fd: string | number): boolean {
  const flags = /^flags:\s+(\d+)$/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'latin1'))?.[1];
  return flags !== undefined && (parseInt(flags, 8) & 3) === constants.O_RDONLY;
}

/**
 * Whether descriptor fd can be one our caller handed us rather than one of Node's own, which
 * carry the same low numbers: Node's are event-loop objects (anon inodes) and pipes whose read
 * end it holds too. (Close-on-exec cannot tell: Node sets it on inherited descriptors up to 15.)
 */
export function passedByCaller(fd: number): boolean {
  let link: string;
  try {
    link = readlinkSync(`/proc/self/fd/${fd}`);
  } catch {
    return false;
  }
  if (link.startsWith('anon_inode:')) return false;
  if (link.startsWith('pipe:')) {
    if (readOnly(fd)) return false;
    return !readdirSync('/proc/self/fd').some((f) => {
      try {
        return readlinkSync(`/proc/self/fd/${f}`) === link && readOnly(f);
      } catch {
        return false;
      }
    });
  }
  return true;
}

function coded(code: string): Error {
  return Object.assign(new Error(code), { code });
}

/**
 * What ends the file: 'empty', 'record' (a whole chained line), or 'other'. Read a few times
 * before judging, in case another run is writing its line just now.
 */
function tailState(fd: number): 'empty' | 'record' | 'other' {
  for (let attempt = 0; ; attempt++) {
    const size = fstatSync(fd).size;
    if (size === 0) return 'empty';
    const n = Math.min(size, 512);
    const buf = Buffer.alloc(n);
    readSync(fd, buf, 0, n, size - n);
    // The window may start mid-line: the record's fixed ending is what is read (as chain.cc does).
    const text = buf.toString('latin1');
    if (text.endsWith('\n') && endingHash(text.slice(0, -1)) !== null) return 'record';
    if (attempt >= 2) return 'other';
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
  }
}

function reserve(fd: number, label: string): { reservation: string; reservedEnd: number } {
  const size = fstatSync(fd).size;
  try {
    native.reserveSpace(fd, size, RESERVE_BYTES);
    return { reservation: 'reserved', reservedEnd: size + RESERVE_BYTES };
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).errno === 28 ? 'ENOSPC' : undefined;
    if (code) {
      throw new WormError('ERR_WORM_AUDIT', `--audit-log ${label}: cannot reserve space for the trail's closing records: no space left on device; free some space or put the trail on another filesystem`);
    }
    return { reservation: `unsupported (${(e as Error).message.replace(/^.*failed: /, '')})`, reservedEnd: 0 };
  }
}

/** The file checks common to a path and a passed descriptor: a chained end, reserved space. */
function prepareFile(fd: number, label: string): { reservation: string; reservedEnd: number } {
  if (tailState(fd) === 'other') {
    throw new WormError('ERR_WORM_AUDIT', `--audit-log ${label}: refused: its last line is not a whole worm-run record (written by something else, or cut off); check it with worm-run audit verify, and start a new file`);
  }
  return reserve(fd, label);
}

/** Opens the destination now, so a bad or unsafe path fails before anything runs. */
export function openDestination(log: string | undefined, access: TargetAccess): Destination {
  if (log === undefined) return { kind: 'none' };
  if (log === '-') {
    return {
      kind: 'stream', fd: 2, label: 'stderr', owned: false, tailFd: -1, ownsTail: false, file: false,
      reservation: 'not a file', reservedEnd: 0, exposure: { protected: false, why: "stderr is shared with the target, which can write to it" },
    };
  }
  const fdPath = /^\/(?:dev|proc\/self)\/fd\/(\d+)$/.exec(log);
  let fd = -1;
  let owned = false;
  try {
    if (fdPath) {
      fd = Number(fdPath[1]);
      if (fd <= 2) throw coded('ESTDIO');
      if (!passedByCaller(fd)) throw coded('EBADF');
    } else {
      const exposure = checkTrailPath('--audit-log', log, access);
      // O_NONBLOCK: a FIFO planted at the path must not hang worm-run in open(). Read-write:
      // the last record is read to chain onto it.
      const flags = constants.O_RDWR | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW | constants.O_NONBLOCK;
      try {
        fd = openSync(log, flags, 0o600);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENXIO') throw coded('EFIFO');
        throw e;
      }
      owned = true;
      const st = fstatSync(fd);
      if (!st.isFile() && !st.isCharacterDevice()) throw coded(st.isFIFO() ? 'EFIFO' : 'EINVAL');
      checkOpenedTrail('--audit-log', log, fd, access, true);
      if (!st.isFile()) {
        return { kind: 'stream', fd, label: log, owned, tailFd: -1, ownsTail: false, file: false, reservation: 'not a file', reservedEnd: 0, exposure: { protected: true } };
      }
      return { kind: 'stream', fd, label: log, owned, tailFd: fd, ownsTail: false, file: true, ...prepareFile(fd, log), exposure };
    }
  } catch (e) {
    if (owned) closeSync(fd);
    if (e instanceof WormError) throw e;
    const err = e as NodeJS.ErrnoException;
    const why = {
      ELOOP: 'it is a symbolic link (refused: a planted link could redirect the trail); give the real path',
      EBADF: 'that descriptor was not passed to worm-run (open it in the shell, e.g. 3>trail.jsonl)',
      ESTDIO: "that is the target's own stdin/stdout/stderr, which it can write; use '-' for stderr knowingly, or a descriptor above 2",
      EFIFO: 'it is a FIFO; pass it as a descriptor instead (--audit-log /dev/fd/3 3>fifo)',
      EINVAL: 'not a regular file or a character device',
      ENOENT: 'no such directory (worm-run creates the file, not its directory)',
    }[err.code ?? ''] ?? fileErrorReason(err);
    throw new WormError('ERR_WORM_AUDIT', `--audit-log ${log}: cannot open: ${why}`);
  }
  // A caller's descriptor. A regular file is chained onto like a path: its end is read through a
  // read-only descriptor of its own (the caller's may be write-only).
  const label = `descriptor ${fd}`;
  const st = fstatSync(fd);
  if (!st.isFile()) {
    return { kind: 'stream', fd, label, owned: false, tailFd: -1, ownsTail: false, file: false, reservation: 'not a file', reservedEnd: 0, exposure: descriptorExposure(fd, access) };
  }
  checkOpenedTrail('--audit-log', log, fd, access, false);
  let tailFd: number;
  try {
    tailFd = openSync(`/proc/self/fd/${fd}`, constants.O_RDONLY);
  } catch (e) {
    throw new WormError('ERR_WORM_AUDIT', `--audit-log ${log}: cannot read the end of the file behind it to chain onto (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); pass a pipe, or a file worm-run's user can read`);
  }
  try {
    return { kind: 'stream', fd, label, owned: false, tailFd, ownsTail: true, file: true, ...prepareFile(tailFd, log), exposure: descriptorExposure(fd, access) };
  } catch (e) {
    closeSync(tailFd);
    throw e;
  }
}

/** Checks `--audit-head-fd N` as a descriptor the caller passed, above 2. */
export function checkHeadFd(fd: number): number {
  if (!Number.isInteger(fd) || fd < 0) {
    throw new WormError('ERR_WORM_USAGE', `--audit-head-fd: "${fd}" is not a descriptor number`);
  }
  if (fd <= 2) {
    throw new WormError('ERR_WORM_USAGE', `--audit-head-fd ${fd}: that is the target's own stdin/stdout/stderr, which it can write; use a descriptor above 2 (e.g. --audit-head-fd 3 3>head.json)`);
  }
  if (!passedByCaller(fd)) {
    throw new WormError('ERR_WORM_USAGE', `--audit-head-fd ${fd}: that descriptor was not passed to worm-run (open it in the shell, e.g. 3>head.json)`);
  }
  return fd;
}
