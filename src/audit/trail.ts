/**
 * The audit trail of one run: JSON lines in pino's shape, one `run` id and the target's `pid` on
 * every line, a `seq` number, and a hash chain (record.ts) that makes any edit, removal,
 * insertion or reordering visible to `verifyTrail`. Records from inside the sandbox (the guard)
 * say `source: "guard"`; the others say who wrote them (`supervisor`, or `in-process`).
 *
 * Every record is appended by native/chain.cc: under an exclusive lock on the file, chained to
 * the record the file ends with (so concurrent runs appending to one file keep one chain in file
 * order), written whole or not at all. Space for the closing records is kept reserved past the
 * end of the file; when it can no longer be renewed (the filesystem is full) refusals and
 * warnings that would eat into it are counted instead of written, so the `limit` and `exit`
 * records still fit. Anything not written makes the trail incomplete: the `exit` record counts
 * it (`unwritten`), the result says `complete: false`, and the last line worm-run prints says so.
 *
 * The run's head (the hash of its exit record, signed when a key is given) is handed out where
 * the target cannot touch it: close()'s result, and a line on the caller's descriptor.
 *
 * Without a destination, refusals, warnings and limits are printed as one human line each on
 * stderr (control characters escaped) and nothing else.
 */
import { closeSync, writeSync } from 'node:fs';
import { getSystemErrorName } from 'node:util';
import { WormError } from '../errors.js';
import { native, type ChainAppended } from '../native.js';
import { checkHeadFd, openDestination, RESERVE_BYTES, type Destination } from './destination.js';
import { escapeForTerminal } from './escape.js';
import { checkKeyFile, type TargetAccess } from './safety.js';
import { loadSigner, type Signer } from './keys.js';
import { GENESIS, LEVELS, recordBody } from './record.js';

export type AuditEvent = 'start' | 'blocked' | 'warning' | 'limit' | 'exit';
export type AuditLevel = 'info' | 'warn' | 'error';
export type AuditRecord = Record<string, unknown>;

/** What the policy says about the trail (policy.audit). */
export interface AuditSettings {
  /** A file path, '-' for stderr, /dev/fd/N; undefined: human lines only. */
  log?: string;
  /** An Ed25519 private key (PEM) that signs each run's head. */
  key?: string;
  /** A descriptor of the caller's that receives the head line after the exit record. */
  headFd?: number;
}

export interface TrailOptions {
  /** Print refusals, warnings and limits as human lines on stderr (the CLI does; the API does not). */
  human: boolean;
  /** Who the target runs as, and what the sandbox lets it write (safety.ts). */
  access: TargetAccess;
  /**
   * The in-process mode: the native writers (watchdog, signal handlers) share the chain, so
   * every record is numbered and chained natively. Nothing is signed in this mode.
   */
  inProcess?: boolean;
}

export interface TrailSummary {
  /** The hash of the run's last record written (its exit record's, when that was written). */
  head: string | null;
  /** Every record of the run was written. */
  complete: boolean;
  /** Records that could not be written. */
  unwritten: number;
}

/** Space kept for the closing records when the reservation can no longer be renewed. */
const CLOSING_BYTES = 8 * 1024;

let lineFd: number | undefined;

/**
 * Where worm-run's own lines go: stderr, through a descriptor of its own that never blocks when
 * stderr is a terminal or a pipe (a target that stops the terminal's output, or fills the pipe,
 * must not hold the supervisor; a line that cannot be written now is dropped).
 */
function lineDescriptor(): number {
  if (lineFd === undefined) {
    try {
      lineFd = native.terminalWriter(2);
    } catch {
      lineFd = 2; // the addon could not be loaded: that is what is being reported
    }
  }
  return lineFd;
}

/** A line on stderr that survives a closed, full or stopped terminal or pipe. */
export function writeLine(line: string): void {
  try {
    writeSync(lineDescriptor(), line.endsWith('\n') ? line : `${line}\n`);
  } catch {
    // stderr is gone, or would block: nothing better to do than drop the line
  }
}

function errnoName(err: number): string {
  try {
    return getSystemErrorName(-err);
  } catch {
    return `errno ${err}`;
  }
}

export class AuditTrail {
  readonly run: string;
  private pid: number | null = null;
  private seq = 0;
  /** The chain's head as this trail knows it (the file's own end wins, see chain.cc). */
  private prev = GENESIS;
  private headHash: string | null = null;
  private headSeq = 0;
  private sig: string | undefined;
  private exitWritten = false;
  private blocked = 0;
  private warnings = 0;
  private unwritten = 0;
  private lastError = '';
  /** The file's size and the end of the space known to be reserved. */
  private size = 0;
  private reservedEnd = 0;
  private lowSpace = false;
  private reserving: boolean;
  private closed = false;

  private constructor(
    private readonly dest: Destination,
    run: string,
    private readonly opts: TrailOptions,
    private readonly signer: Signer | undefined,
    private readonly headFd: number | undefined,
  ) {
    this.run = run;
    this.reserving = dest.kind === 'stream' && dest.file && dest.reservation === 'reserved';
    if (dest.kind === 'stream') this.reservedEnd = dest.reservedEnd;
  }

  /**
   * Opens the trail the settings describe, before the target starts: checks the path, the key
   * and the head descriptor (ERR_WORM_AUDIT / ERR_WORM_USAGE, exit 125) and reserves space.
   */
  static open(settings: AuditSettings, run: string, opts: TrailOptions): AuditTrail {
    if (settings.log === undefined && (settings.key !== undefined || settings.headFd !== undefined)) {
      throw new WormError('ERR_WORM_USAGE', `${settings.key !== undefined ? '--audit-key' : '--audit-head-fd'} needs --audit-log (the trail whose head it signs or hands out)`);
    }
    if (opts.inProcess && settings.key !== undefined) {
      throw new WormError('ERR_WORM_USAGE', '--audit-key needs the supervised mode: in-process, the key would be in the memory of the process that runs the script');
    }
    const headFd = settings.headFd === undefined ? undefined : checkHeadFd(settings.headFd);
    let signer: Signer | undefined;
    if (settings.key !== undefined) {
      checkKeyFile('--audit-key', settings.key, opts.access);
      signer = loadSigner(settings.key);
    }
    const dest = openDestination(settings.log, opts.access);
    const trail = new AuditTrail(dest, run, opts, signer, headFd);
    if (opts.inProcess && dest.kind === 'stream') {
      native.shareTrail({
        fd: dest.fd, tailFd: dest.tailFd, lock: dest.file, headFd: headFd ?? -1, run,
        incomplete: `worm-run: ${escapeForTerminal(`the audit trail ${dest.label} is incomplete: a record could not be written`)}\n`,
      });
    }
    return trail;
  }

  get structured(): boolean {
    return this.dest.kind !== 'none';
  }

  setPid(pid: number | null): void {
    this.pid = pid;
  }

  /** What the start record says about the trail itself. */
  private describe(): Record<string, unknown> {
    if (this.dest.kind !== 'stream') return {};
    return {
      destination: this.dest.label,
      protected: this.dest.exposure.protected,
      ...(this.dest.exposure.why ? { unprotected: this.dest.exposure.why } : {}),
      reservation: this.dest.reservation === 'reserved' ? `${RESERVE_BYTES} bytes kept past the end for the closing records` : this.dest.reservation,
      signer: this.signer?.keyId ?? null,
      headFd: this.headFd ?? null,
    };
  }

  /**
   * human: the one-line form for stderr. Refusals and warnings are printed only when there is no
   * structured destination (a clean run with --audit-log prints nothing of worm-run's); a
   * verdict (`limit`) is printed unless the records themselves go to stderr. Strings in it that
   * came from the target are escaped here.
   *
   * Added by the trail itself: `source` (unless the fields say), `isoTime` and `trail` on the
   * start record, `unwritten` and `signer` on the exit record.
   */
  write(level: AuditLevel, event: AuditEvent, fields: AuditRecord, human?: string): void {
    const toStderr = this.dest.kind === 'stream' && this.dest.label === 'stderr';
    const show = event === 'limit' ? !toStderr : this.dest.kind === 'none';
    if (human !== undefined && this.opts.human && show) {
      writeLine(`worm-run: ${escapeForTerminal(human)}`);
    }
    const count = typeof fields.count === 'number' && fields.count > 0 ? fields.count : 1;
    if (event === 'blocked') this.blocked += count;
    if (event === 'warning') this.warnings += count;
    if (this.dest.kind !== 'stream' || this.closed) return;

    const closing = event === 'limit' || event === 'exit';
    const time = Date.now();
    const extra: AuditRecord = {};
    if (event === 'start') Object.assign(extra, { isoTime: new Date(time).toISOString(), trail: this.describe() });
    if (event === 'exit') Object.assign(extra, { unwritten: this.unwritten, ...(this.signer ? { signer: this.signer.keyId } : {}) });
    const body = recordBody(LEVELS[level], time, this.run, this.pid, event,
      { source: this.opts.inProcess ? 'in-process' : 'supervisor', ...fields, ...extra });

    // Low on space: keep what is left for the closing records.
    if (!closing && this.lowSpace && this.size + Buffer.byteLength(body.before) + Buffer.byteLength(body.after) + 400 > this.reservedEnd - CLOSING_BYTES) {
      this.lost('ENOSPC (the space left was kept for the closing records)');
      return;
    }
    const signer = event === 'exit' ? this.signer : undefined;
    let r: ChainAppended;
    try {
      r = native.chainAppend({
        fd: this.dest.fd, tailFd: this.dest.tailFd, lock: this.dest.file, prev: this.prev,
        reserve: this.reserving ? RESERVE_BYTES : 0,
        before: body.before, after: body.after,
        seq: this.opts.inProcess ? -1 : this.seq + 1,
        share: this.opts.inProcess === true,
        blocked: this.blocked, warnings: this.warnings, unwritten: this.unwritten,
        ...(signer ? { sign: (hash: string) => this.signHead(signer, hash) } : {}),
      });
    } catch (e) {
      this.lost((e as Error).message);
      return;
    }
    if (r.err !== 0) {
      this.lost(`${errnoName(r.err)}${r.truncErr ? `; a partial line could not be removed (${errnoName(r.truncErr)})` : ''}`);
      return;
    }
    this.prev = r.hash;
    this.seq = r.seq;
    this.headHash = r.hash;
    this.headSeq = r.seq;
    if (event === 'exit') this.exitWritten = true;
    if (r.size >= 0) this.size = r.size;
    if (r.reserveErr === 0) {
      this.lowSpace = false;
      this.reservedEnd = r.size + RESERVE_BYTES;
    } else if (r.reserveErr === 28) {
      this.lowSpace = true;
    } else if (r.reserveErr > 0) {
      this.reserving = false;
    }
  }

  private signHead(signer: Signer, hash: string): string {
    try {
      this.sig = signer.sign(hash);
      return this.sig;
    } catch (e) {
      this.lastError ||= `cannot sign: ${(e as Error).message}`;
      return '';
    }
  }

  private lost(why: string): void {
    this.unwritten += 1;
    this.lastError ||= why;
  }

  /**
   * After the last record: hands out the head (the result, and the head line on --audit-head-fd),
   * says on stderr when the trail is incomplete, and closes what worm-run opened.
   */
  close(): TrailSummary {
    if (this.closed) return this.summary();
    this.closed = true;
    const summary = this.summary();
    if (this.headFd !== undefined && this.headHash !== null) {
      const line = JSON.stringify({ run: this.run, seq: this.headSeq, head: this.headHash, complete: summary.complete, ...(this.sig ? { sig: this.sig } : {}) });
      try {
        writeSync(this.headFd, `${line}\n`);
      } catch (e) {
        if (this.opts.human) writeLine(`worm-run: cannot write the audit head to descriptor ${this.headFd}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      }
    }
    if (this.dest.kind === 'stream') {
      if (!summary.complete && this.opts.human) {
        const n = this.unwritten;
        writeLine(`worm-run: ${escapeForTerminal(`the audit trail ${this.dest.label} is incomplete: ${n} record${n === 1 ? '' : 's'} of run ${this.run} could not be written (${this.lastError || 'no exit record'}); ${this.exitWritten ? 'its exit record counts them' : 'it has no exit record'}`)}`);
      }
      for (const [fd, owned] of [[this.dest.fd, this.dest.owned], [this.dest.tailFd, this.dest.ownsTail]] as const) {
        if (!owned || fd < 0) continue;
        try {
          closeSync(fd);
        } catch {
          // already closed
        }
      }
    }
    return summary;
  }

  private summary(): TrailSummary {
    const structured = this.dest.kind === 'stream';
    return {
      head: this.headHash,
      complete: !structured || (this.unwritten === 0 && this.exitWritten),
      unwritten: this.unwritten,
    };
  }
}

