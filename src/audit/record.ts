/**
 * The audit trail's record format: what a line holds, which bytes its hash covers, and what a
 * signature signs. Everything a third-party verifier needs is here (and in the README).
 *
 * A line is a JSON object on one line, as pino writes it (`base: null`): `level` (30 info, 40
 * warn, 50 error) and `time` (epoch milliseconds) first, `msg` (the event's name) after the
 * fields, then the chain:
 *
 *     {"level":30,"time":1764540000000,"run":"…","pid":4711,"seq":1,"event":"start",…,"msg":"start","prev":"<64 hex>","hash":"<64 hex>"}
 *
 * - `prev` is the `hash` of the line before it in the file (64 zeros for a file's first line).
 * - `hash` is SHA-256, in lowercase hex, over the line's **canonical bytes**: the UTF-8 bytes of
 *   the line from its first byte up to, and not including, the `,"hash":"` that ends it (so
 *   `prev` is covered, and the hash chains every line to all lines before it).
 * - An `exit` record of a signed run ends with `,"sig":"<base64>"` after the hash: Ed25519 over
 *   the ASCII bytes of `worm-run audit head ` followed by the hash in hex. Its `signer` field
 *   (covered by the hash) names the key: `ed25519:` and the first 16 hex digits of SHA-256 over
 *   the public key's DER (SPKI) encoding.
 *
 * The end of every line is therefore exactly
 * `,"prev":"<64 hex>","hash":"<64 hex>"}` or `,"prev":"<64 hex>","hash":"<64 hex>","sig":"<base64>"}`.
 * A verifier reads the chain from that fixed tail, never from a JSON parser's choice among
 * duplicate keys. native/chain.cc writes the same bytes for the in-process mode's native records.
 */
import { crypto } from '../crypto.js';

export const GENESIS = '0'.repeat(64);

export const LEVELS = { info: 30, warn: 40, error: 50 } as const;

/** Keys worm-run writes itself on every line; a record's fields cannot set them. */
export const RESERVED_KEYS = new Set(['level', 'time', 'msg', 'prev', 'hash', 'sig', 'run', 'pid', 'seq', 'event']);

/** The prefix of the message a run's head signature signs. */
export const SIGNED_PREFIX = 'worm-run audit head ';

export function signedMessage(hash: string): Buffer {
  return Buffer.from(`${SIGNED_PREFIX}${hash}`, 'latin1');
}

const TAIL = /,"prev":"([0-9a-f]{64})","hash":"([0-9a-f]{64})"(?:,"sig":"([A-Za-z0-9+/]+={0,2})")?\}$/;

/** The hash a text ends with when its last line ends like a record (the line's start need not be in it). */
export function endingHash(text: string): string | null {
  return TAIL.exec(text)?.[2] ?? null;
}

export interface ChainedLine {
  /** The bytes the hash covers, as a string (the line up to `,"hash":"`). */
  canonical: string;
  prev: string;
  hash: string;
  sig?: string;
}

/** The chain fields of one line (without its newline), or null when it does not end like a record. */
export function parseChained(line: string): ChainedLine | null {
  const m = TAIL.exec(line);
  if (!m || !line.startsWith('{')) return null;
  const cut = m.index + ',"prev":"'.length + 64 + 1;
  const out: ChainedLine = { canonical: line.slice(0, cut), prev: m[1]!, hash: m[2]! };
  if (m[3] !== undefined) out.sig = m[3];
  return out;
}

export function sha256Hex(data: string | Buffer): string {
  return crypto().createHash('sha256').update(data).digest('hex');
}

/**
 * A record's body split around its sequence number, as the writer (native/chain.cc) takes it:
 * `before` + N + `after` is the line up to `,"prev":`.
 */
export interface RecordBody {
  before: string;
  after: string;
}

/**
 * The body of a record: `{"level":L,"time":T,"run":…,"pid":…,"seq":` N `,"event":…,<fields>,"msg":"<event>"`.
 * Fields that would set a reserved key are left out; values are JSON (undefined dropped).
 */
export function recordBody(level: number, time: number, run: string, pid: number | null, event: string, fields: Record<string, unknown>): RecordBody {
  const rest: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(fields)) if (!RESERVED_KEYS.has(k)) rest[k] = v;
  const inner = JSON.stringify(rest).slice(1, -1);
  return {
    before: `{"level":${level},"time":${time},"run":${JSON.stringify(run)},"pid":${JSON.stringify(pid)},"seq":`,
    after: `,"event":${JSON.stringify(event)}${inner ? `,${inner}` : ''},"msg":${JSON.stringify(event)}`,
  };
}
