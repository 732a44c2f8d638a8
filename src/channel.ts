/**
 * The supervisor's end of the guard channel. What arrives here was written from inside the
 * sandbox, so it is validated field by field, bounded in size and count, and never trusted
 * to be well-formed: a garbage line is counted and dropped, never a crash.
 */
import { readSync } from 'node:fs';
import { createRequire } from 'node:module';
import { MAX_LINE_BYTES, type GuardRecord } from './guard/protocol.cjs';

/** Records beyond this many are counted but not written, so a target cannot flood the trail. */
export const MAX_GUARD_RECORDS = 1000;

export interface ChannelStats {
  accepted: number;
  dropped: number;
  garbage: number;
}

function str(v: unknown, max: number): string | undefined {
  return typeof v === 'string' ? v.slice(0, max) : undefined;
}

/** A record as the supervisor will write it, or null when the line is not one. */
export function parseGuardLine(line: string): GuardRecord | null {
  if (line.length === 0 || Buffer.byteLength(line) > MAX_LINE_BYTES) return null;
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return null;
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return null;
  const o = v as Record<string, unknown>;
  if (o.event !== 'blocked' && o.event !== 'warning') return null;
  const op = str(o.op, 200);
  if (!op) return null;
  const rec: GuardRecord = { event: o.event, op };
  const target = str(o.target, 2000);
  if (target !== undefined) rec.target = target;
  const command = str(o.command, 500);
  if (command !== undefined) rec.command = command;
  const reason = str(o.reason, 500);
  if (reason !== undefined) rec.reason = reason;
  const file = str(o.file, 1000);
  if (file !== undefined) rec.file = file;
  if (typeof o.line === 'number' && Number.isInteger(o.line) && o.line > 0) rec.line = o.line;
  return rec;
}

export interface Channel {
  /** Resolves once every writer has closed the pipe, or at close(). */
  done: Promise<ChannelStats>;
  /** Stops reading (a writer that escaped the run must not keep the supervisor waiting). */
  close(): void;
  /**
   * Reads what is left in the pipe right now, synchronously, and finishes (for the in-process
   * mode's 'exit' handler, when the event loop will not run again). Needs a non-blocking pipe.
   */
  drainSync(): ChannelStats;
  /** Starts reading in the event loop, once (for a channel opened with `deferred`). */
  listen(): void;
}

/** Splits what arrives on the channel into lines and hands each valid record on. */
export interface GuardLines {
  /** A piece of the channel, as read (a line, even a character, may be split between two). */
  feed(chunk: Buffer): void;
  /** The channel is at its end: the last line, if unterminated, counts too. */
  finish(): ChannelStats;
}

/**
 * The reading side of the protocol, wherever the bytes come from (the supervised run's monitor
 * thread, or readChannel below). Each valid record is handed to onRecord while fewer than
 * MAX_GUARD_RECORDS were accepted.
 */
export function guardLines(onRecord: (r: GuardRecord) => void): GuardLines {
  const stats: ChannelStats = { accepted: 0, dropped: 0, garbage: 0 };
  const text = new TextDecoder(); // a character split across two reads stays whole
  let buf = '';
  let skipping = false;
  let finished = false;
  const take = (line: string) => {
    const rec = parseGuardLine(line);
    if (!rec) stats.garbage += 1;
    else if (stats.accepted >= MAX_GUARD_RECORDS) stats.dropped += 1;
    else {
      stats.accepted += 1;
      onRecord(rec);
    }
  };
  return {
    feed(chunk: Buffer) {
      if (finished) return;
      buf += text.decode(chunk, { stream: true });
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (skipping) skipping = false;
        else take(line);
      }
      if (buf.length > MAX_LINE_BYTES) {
        // An endless line: drop what we have and everything up to the next newline.
        stats.garbage += skipping ? 0 : 1;
        skipping = true;
        buf = '';
      }
    },
    finish() {
      if (!finished) {
        finished = true;
        buf += text.decode();
        if (buf.length > 0 && !skipping) take(buf);
      }
      return stats;
    },
  };
}

/**
 * Reads the channel until every writer has closed it; resolves with the counts. Each valid
 * record is handed to onRecord while fewer than MAX_GUARD_RECORDS were accepted.
 */
export function readChannel(fd: number, onRecord: (r: GuardRecord) => void, opts: { keepAlive?: boolean; deferred?: boolean } = {}): Channel {
  const lines = guardLines(onRecord);
  let finished = false;
  let resolveDone: (s: ChannelStats) => void = () => {};
  const done = new Promise<ChannelStats>((resolve) => {
    resolveDone = resolve;
  });
  const finish = () => {
    if (finished) return;
    finished = true;
    resolveDone(lines.finish());
  };
  // A pipe handle (non-blocking, in the event loop), not a file stream: closing it never
  // waits for a read that may never complete.
  let stream: import('node:net').Socket | undefined;
  const listen = () => {
    if (stream || finished) return;
    // node:net on first use (a builtin: nothing read from disk), not at start-up.
    const { Socket } = createRequire(import.meta.url)('node:net') as typeof import('node:net');
    stream = new Socket({ fd, readable: true, writable: false });
    if (opts.keepAlive === false) stream.unref();
    stream.on('data', (chunk: Buffer) => lines.feed(chunk));
    stream.on('end', finish);
    stream.on('close', finish);
    stream.on('error', finish);
  };
  if (!opts.deferred) listen();
  return {
    done,
    listen,
    close: () => {
      if (stream) stream.destroy();
      else finish();
    },
    drainSync: () => {
      const chunk = Buffer.alloc(65536);
      for (;;) {
        let n = 0;
        try {
          n = readSync(fd, chunk, 0, chunk.length, null);
        } catch {
          break; // EAGAIN: nothing more now
        }
        if (n <= 0) break;
        lines.feed(chunk.subarray(0, n));
      }
      finish();
      return lines.finish();
    },
  };
}
