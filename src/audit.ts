/**
 * The audit trail: JSON lines through pino, one `run` id and the target's `pid` on every line,
 * a `seq` number so a reader can tell a line was removed or inserted. Records from inside the
 * sandbox (the guard) say `source: "guard"`; everything else comes from the supervisor, which
 * the target cannot reach.
 *
 * Destinations: a file (opened before the target starts, appended, created 0600, never through
 * a symlink), `-` for stderr, `/dev/fd/N` for a descriptor the caller passed (a pipe only the
 * harness reads is the strongest choice: the target never holds it). Without a destination,
 * refusals, warnings and limits are printed as one human line each on stderr and nothing else.
 *
 * pino is loaded before the target starts (and only when a destination asks for it); records
 * are written synchronously, so none is lost when worm-run exits or is killed.
 */
import { closeSync, constants, fstatSync, openSync, readFileSync, readdirSync, readlinkSync, writeSync } from 'node:fs';
import { createRequire } from 'node:module';
import { WormError, fileErrorReason } from './errors.js';

export type AuditEvent = 'start' | 'blocked' | 'warning' | 'limit' | 'exit';
export type AuditLevel = 'info' | 'warn' | 'error';
export type AuditRecord = Record<string, unknown>;

export type AuditDestination =
  | { kind: 'none' }
  | { kind: 'stderr' }
  /** owned: worm-run opened it (a path) and closes it; else the caller's descriptor. */
  | { kind: 'fd'; fd: number; path: string; owned: boolean };

interface PinoLike {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
  flush(cb?: (err?: Error) => void): void;
}

function readOnly(fd: string | number): boolean {
  const flags = /^flags:\s+(\d+)$/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'latin1'))?.[1];
  return flags !== undefined && (parseInt(flags, 8) & 3) === constants.O_RDONLY;
}

/**
 * Whether descriptor fd can be one our caller handed us rather than one of Node's own, which
 * carry the same low numbers: Node's are event-loop objects (anon inodes) and pipes whose read
 * end it holds too. (Close-on-exec cannot tell: Node sets it on inherited descriptors up to 15.)
 */
function passedByCaller(fd: number): boolean {
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

/** Opens the destination now, so a bad path fails before anything runs. */
export function openAuditDestination(log: string | undefined): AuditDestination {
  if (log === undefined) return { kind: 'none' };
  if (log === '-') return { kind: 'stderr' };
  const fdPath = /^\/(?:dev|proc\/self)\/fd\/(\d+)$/.exec(log);
  try {
    if (fdPath) {
      const fd = Number(fdPath[1]);
      if (fd <= 2) throw Object.assign(new Error('x'), { code: 'ESTDIO' });
      if (!passedByCaller(fd)) throw Object.assign(new Error('x'), { code: 'EBADF' });
      return { kind: 'fd', fd, path: log, owned: false };
    }
    // O_NONBLOCK: a FIFO planted at the path must not hang worm-run in open().
    const flags = constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW | constants.O_NONBLOCK;
    let fd: number;
    try {
      fd = openSync(log, flags, 0o600);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENXIO') throw Object.assign(new Error('x'), { code: 'EFIFO' });
      throw e;
    }
    const st = fstatSync(fd);
    if (!st.isFile() && !st.isCharacterDevice()) {
      closeSync(fd);
      throw Object.assign(new Error('x'), { code: st.isFIFO() ? 'EFIFO' : 'EINVAL' });
    }
    return { kind: 'fd', fd, path: log, owned: true };
  } catch (e) {
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
}

export class AuditTrail {
  readonly run: string;
  private pid: number | null = null;
  private seq = 0;
  private logger: PinoLike | undefined;
  private writeFailed = false;

  /** human: print refusals, warnings and limits as one line on stderr (the CLI does; the API does not). */
  constructor(private readonly dest: AuditDestination, run: string, private readonly human = true) {
    this.run = run;
  }

  get structured(): boolean {
    return this.dest.kind !== 'none';
  }

  setPid(pid: number | null): void {
    this.pid = pid;
  }

  /**
   * Loads pino. Called before the target starts: nothing may be loaded from disk once it runs
   * (a target that can write the installation would run its code in the supervisor).
   */
  open(): void {
    if (this.dest.kind === 'none' || this.logger) return;
    // dist/pino-bundle.cjs is pino with its dependencies in one file (scripts/bundle.js, built
    // from pino-loader.cts): read here, before the target starts, and never from node_modules/.
    const { loadPino } = createRequire(import.meta.url)('./pino-bundle.cjs') as typeof import('./pino-loader.cjs');
    const pino = loadPino();
    const fd = this.dest.kind === 'stderr' ? 2 : this.dest.fd;
    const stream = pino.destination({ fd, sync: true });
    stream.on('error', (e: Error) => this.failed(e));
    this.logger = pino({ base: null }, stream) as unknown as PinoLike;
  }

  /**
   * human: the one-line form for stderr. Refusals and warnings are printed only when there is no
   * structured destination (a clean run with --audit-log prints nothing of worm-run's); a
   * verdict (`limit`) is printed unless the records themselves go to stderr.
   */
  write(level: AuditLevel, event: AuditEvent, fields: AuditRecord, human?: string): void {
    const show = event === 'limit' ? this.dest.kind !== 'stderr' : this.dest.kind === 'none';
    if (human !== undefined && this.human && show) {
      writeLine(`worm-run: ${human}`);
    }
    if (!this.logger) return;
    this.seq += 1;
    try {
      this.logger[level]({ run: this.run, pid: this.pid, seq: this.seq, event, ...fields }, event);
    } catch (e) {
      this.failed(e as Error);
    }
  }

  /** After the last record: closes a file worm-run opened (the library runs many trails). */
  close(): void {
    this.logger = undefined;
    if (this.dest.kind === 'fd' && this.dest.owned) {
      try {
        closeSync(this.dest.fd);
      } catch {
        // already closed
      }
    }
  }

  private failed(e: Error): void {
    if (this.writeFailed) return;
    this.writeFailed = true;
    writeLine(`worm-run: cannot write the audit log: ${e.message}`);
  }
}

/** A line on stderr that survives a closed or full pipe. */
export function writeLine(line: string): void {
  try {
    writeSync(2, line.endsWith('\n') ? line : `${line}\n`);
  } catch {
    // stderr is gone; nothing better to do
  }
}
