/**
 * Checking a trail (`worm-run audit verify FILE [--key PUBLIC.pem] [--head FILE] [--json]`):
 * every line's hash against its canonical bytes, every `prev` against the line before it, every
 * run for an exit record, every exit record's signature when a key is given, and each head the
 * caller kept (from the API result or --audit-head-fd) for presence in the file.
 *
 * The first bad line is named by number and kind:
 * - `edited`: a line's content does not match its hash, or it no longer has the chain fields, or
 *   (when its hash was recomputed) the next line chains to a different record;
 * - `removed`: a line chains to a record that is not in the file (and a run's `seq` shows a gap,
 *   or the file's first records are gone);
 * - `inserted`: a line that the next record chains past, or a copy of an earlier line;
 * - `reordered`: a line that chains to a line after it, or to a line other than its predecessor;
 * - `truncated`: a line cut off mid-record, a run with no `exit` record (named at the line after
 *   its last record), or a head the caller kept that is not in the file (the trail was cut off
 *   at a record boundary);
 * - `signature`: with a key, an exit record without a signature or with one that does not verify.
 *
 * What no verifier can see without a key or a kept head: someone who can write the file
 * rewriting it from some line to its end with a fresh chain. The signature (a key the target
 * never sees) and the head handed out where the target cannot touch it are what catch that.
 */
import { readFileSync } from 'node:fs';
import type { KeyObject } from 'node:crypto';
import { WormError, fileErrorReason } from '../errors.js';
import { keyId, loadPublicKey, verifyHead } from './keys.js';
import { GENESIS, parseChained, sha256Hex, type ChainedLine } from './record.js';

export type ProblemKind = 'edited' | 'removed' | 'inserted' | 'reordered' | 'truncated' | 'signature';

export interface Problem {
  /** 1-based line number in the file (one past the last line for what is missing at its end). */
  line: number;
  kind: ProblemKind;
  message: string;
  run?: string;
}

/** A head line, as --audit-head-fd writes it; or just the hash. */
export interface HeadLine {
  run?: string;
  seq?: number;
  head: string;
  sig?: string;
  complete?: boolean;
}

export interface RunReport {
  run: string;
  firstLine: number;
  lastLine: number;
  records: number;
  exitLine: number | null;
  /** The hash of the exit record. */
  head: string | null;
  signature: 'valid' | 'invalid' | 'missing' | 'unchecked' | 'none';
  /** Records the run's exit record says could not be written. */
  unwritten: number;
}

export interface VerifyReport {
  path: string;
  /** 0: intact; 1: a problem was found (the CLI's exit status). */
  status: 0 | 1;
  ok: boolean;
  lines: number;
  runs: RunReport[];
  /** The first bad line, or null. */
  first: Problem | null;
  problems: Problem[];
  /** What a reader should know about an intact trail (records worm-run could not write, an unprotected trail). */
  notes: string[];
  /** Whether signatures were checked (a key was given). */
  signatures: 'checked' | 'not checked (no key given)';
  keyId: string | null;
  /** How many kept heads were checked. */
  heads: number;
}

export interface VerifyOptions {
  /** The public key (a path to a PEM file, or a KeyObject); every exit record must carry a valid signature. */
  key?: string | KeyObject;
  /** Heads kept from the API result or --audit-head-fd: each must be in the file. */
  heads?: (string | HeadLine)[];
}

interface Line {
  n: number;
  partial: boolean;
  chained: ChainedLine | null;
  obj: Record<string, unknown> | null;
  selfOk: boolean;
}

/** The head lines of a --audit-head-fd capture (one JSON object per line; bare hashes accepted). */
export function parseHeads(text: string): HeadLine[] {
  const out: HeadLine[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line) continue;
    if (/^[0-9a-f]{64}$/.test(line)) {
      out.push({ head: line });
      continue;
    }
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch {
      throw new WormError('ERR_WORM_USAGE', `not a head line: ${line.slice(0, 80)}`);
    }
    const o = v as Record<string, unknown>;
    if (typeof o !== 'object' || o === null || typeof o.head !== 'string' || !/^[0-9a-f]{64}$/.test(o.head)) {
      throw new WormError('ERR_WORM_USAGE', `not a head line: ${line.slice(0, 80)}`);
    }
    out.push({
      head: o.head,
      ...(typeof o.run === 'string' ? { run: o.run } : {}),
      ...(typeof o.seq === 'number' ? { seq: o.seq } : {}),
      ...(typeof o.sig === 'string' ? { sig: o.sig } : {}),
      ...(typeof o.complete === 'boolean' ? { complete: o.complete } : {}),
    });
  }
  return out;
}

function splitLines(buf: Buffer): Line[] {
  const out: Line[] = [];
  let start = 0;
  for (let n = 1; start < buf.length; n++) {
    const nl = buf.indexOf(0x0a, start);
    const end = nl < 0 ? buf.length : nl;
    const text = buf.toString('utf8', start, end);
    const chained = parseChained(text);
    let obj: Record<string, unknown> | null = null;
    try {
      const v = JSON.parse(text) as unknown;
      if (typeof v === 'object' && v !== null && !Array.isArray(v)) obj = v as Record<string, unknown>;
    } catch {
      // not JSON
    }
    // The hash is over the bytes as they are in the file: a line that is not valid UTF-8 does
    // not survive the round trip, and fails as edited.
    const canonicalBytes = chained ? Buffer.from(chained.canonical, 'utf8') : null;
    const sameBytes = canonicalBytes !== null && buf.subarray(start, start + canonicalBytes.length).equals(canonicalBytes);
    out.push({
      n, partial: nl < 0, chained: chained && obj ? chained : null, obj,
      selfOk: chained !== null && sameBytes && sha256Hex(canonicalBytes!) === chained.hash,
    });
    start = end + 1;
  }
  return out;
}

const short = (h: string) => `${h.slice(0, 12)}…`;

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

export function verifyTrail(path: string, opts: VerifyOptions = {}): VerifyReport {
  let buf: Buffer;
  try {
    buf = readFileSync(path);
  } catch (e) {
    throw new WormError('ERR_WORM_AUDIT', `cannot read the trail ${path}: ${fileErrorReason(e)}`);
  }
  const key = typeof opts.key === 'string' ? loadPublicKey(opts.key) : opts.key;
  const lines = splitLines(buf);
  const problems: Problem[] = [];
  const flagged = new Set<number>();
  const add = (i: number, kind: ProblemKind, message: string, run?: string) => {
    problems.push({ line: i + 1, kind, message, ...(run ? { run } : {}) });
    flagged.add(i);
  };
  const runOf = (i: number) => str(lines[i]?.obj?.run);
  const seqOf = (i: number) => (typeof lines[i]?.obj?.seq === 'number' ? lines[i]!.obj!.seq as number : undefined);

  // Where each hash first appears (lines whose hash matches their content).
  const byHash = new Map<string, number>();
  lines.forEach((l, i) => {
    if (l.chained && l.selfOk && !byHash.has(l.chained.hash)) byHash.set(l.chained.hash, i);
  });
  // Each run's lines, in file order.
  const runLines = new Map<string, number[]>();
  lines.forEach((l, i) => {
    const run = l.chained ? runOf(i) : undefined;
    if (run !== undefined) runLines.set(run, [...(runLines.get(run) ?? []), i]);
  });

  /** A sign that a record is missing between line `from` (exclusive) and line `i`: a seq gap, or a run left without its exit. */
  const missingBetween = (from: number, i: number): string | null => {
    for (const [run, idx] of runLines) {
      const before = idx.filter((j) => j <= from);
      const after = idx.filter((j) => j >= i);
      const last = before.length > 0 ? seqOf(before.at(-1)!) : 0;
      const next = after.length > 0 ? seqOf(after[0]!) : undefined;
      if (last !== undefined && next !== undefined && next > last + 1) return `run ${run} skips from seq ${last} to ${next}`;
      const ended = idx.some((j) => j <= from && lines[j]!.obj?.event === 'exit');
      if (before.length > 0 && after.length === 0 && !ended) return `run ${run} has no record after line ${before.at(-1)! + 1} and no exit record`;
    }
    return null;
  };

  // The chain, line by line.
  let expected = GENESIS;
  let lastGood = -1;
  const seen = new Set<string>();
  const nextChained = (i: number) => {
    for (let j = i + 1; j < lines.length; j++) if (lines[j]!.chained) return j;
    return -1;
  };
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i]!;
    if (l.partial) {
      add(i, 'truncated', `line ${l.n} is cut off in the middle of a record`);
      continue;
    }
    if (!l.chained) {
      const next = nextChained(i);
      if (next >= 0 && lines[next]!.chained!.prev === expected) {
        add(i, 'inserted', `line ${l.n} is not a worm-run record, and the record after it chains past it: it was inserted`);
      } else {
        add(i, 'edited', `line ${l.n} is not a whole worm-run record: its JSON or its chain fields were changed`);
      }
      continue;
    }
    const { prev, hash } = l.chained;
    const run = runOf(i);
    if (!l.selfOk) {
      add(i, 'edited', `line ${l.n} was edited: its content no longer matches its hash`, run);
      expected = hash;
      lastGood = i;
      continue;
    }
    if (seen.has(hash)) {
      add(i, 'inserted', `line ${l.n} is a copy of line ${byHash.get(hash)! + 1}: it was inserted`, run);
      continue;
    }
    seen.add(hash);
    if (prev === expected) {
      expected = hash;
      lastGood = i;
      continue;
    }
    const target = byHash.get(prev);
    const next = nextChained(i);
    if (target !== undefined && target > i) {
      add(i, 'reordered', `line ${l.n} chains to line ${target + 1}, which comes after it: lines were reordered`, run);
    } else if (next >= 0 && lines[next]!.chained!.prev === expected) {
      add(i, 'inserted', `line ${l.n} does not chain to the record before it, and the record after it does: it was inserted`, run);
      continue;
    } else if (target !== undefined) {
      // Line i chains past the lines between it and its predecessor: inserted there, unless a
      // later line chains to one of them (then they were moved).
      const between: number[] = [];
      for (let k = target + 1; k < i; k++) if (lines[k]!.chained && !flagged.has(k)) between.push(k);
      const chainedToLater = between.some((k) => lines.some((m, j) => j > i && m.chained?.prev === lines[k]!.chained!.hash));
      if (between.length > 0 && !chainedToLater) {
        const [a, b] = [between[0]! + 1, between.at(-1)! + 1];
        add(between[0]!, 'inserted', `${a === b ? `line ${a} is` : `lines ${a}–${b} are`} not on the chain (line ${l.n} chains past ${a === b ? 'it' : 'them'} to line ${target + 1}): inserted`, runOf(between[0]!));
      } else {
        add(i, 'reordered', `line ${l.n} chains to line ${target + 1}, not to the record before it: lines were reordered`, run);
      }
    } else if (lastGood < 0) {
      add(i, 'removed', `line ${l.n} chains to a record that is not in the file: the trail's first records were removed`, run);
    } else {
      const gap = missingBetween(lastGood, i);
      if (gap) add(i, 'removed', `a record was removed before line ${l.n}: ${gap}`, run);
      else add(lastGood, 'edited', `line ${lastGood + 1} was edited and its hash recomputed: line ${l.n} chains to a different record`, runOf(lastGood));
    }
    expected = hash;
    lastGood = i;
  }

  // Runs: numbered from 1 without gaps, each ending with an exit record; signatures.
  const runs: RunReport[] = [];
  const notes: string[] = [];
  for (const [run, idx] of runLines) {
    let expectSeq = 1;
    for (const i of idx) {
      const seq = seqOf(i);
      if (seq !== undefined && seq !== expectSeq && !flagged.has(i)) {
        if (seq > expectSeq) add(i, 'removed', `run ${run}'s records ${expectSeq}${seq - 1 > expectSeq ? `–${seq - 1}` : ''} are missing before line ${i + 1}`, run);
        else add(i, 'reordered', `line ${i + 1} has run ${run}'s seq ${seq} where ${expectSeq} belongs`, run);
      }
      if (seq !== undefined) expectSeq = seq + 1;
    }
    const exitIdx = idx.find((i) => lines[i]!.obj?.event === 'exit');
    const first = idx[0]!;
    const last = idx.at(-1)!;
    if (exitIdx === undefined) {
      // Named where its exit record is missing: after its last record.
      add(last + 1, 'truncated', `run ${run} (lines ${first + 1}–${last + 1}) has no exit record: the trail was cut off after line ${last + 1}, or the run is still going`, run);
    }
    const report: RunReport = {
      run, firstLine: first + 1, lastLine: last + 1, records: idx.length,
      exitLine: exitIdx === undefined ? null : exitIdx + 1,
      head: exitIdx === undefined ? null : lines[exitIdx]!.chained!.hash,
      signature: 'none',
      unwritten: 0,
    };
    if (exitIdx !== undefined) {
      const exit = lines[exitIdx]!;
      const sig = exit.chained!.sig;
      const unwritten = exit.obj?.unwritten;
      if (typeof unwritten === 'number' && unwritten > 0) {
        report.unwritten = unwritten;
        notes.push(`run ${run}: ${unwritten} record${unwritten === 1 ? '' : 's'} could not be written (the exit record on line ${exitIdx + 1} counts them): the trail is incomplete by worm-run's own account`);
      }
      if (key) {
        if (!sig) {
          report.signature = 'missing';
          add(exitIdx, 'signature', `line ${exitIdx + 1}: run ${run}'s exit record is not signed`, run);
        } else if (!verifyHead(key, exit.chained!.hash, sig)) {
          report.signature = 'invalid';
          const signer = str(exit.obj?.signer);
          const mine = keyId(key);
          add(exitIdx, 'signature', `line ${exitIdx + 1}: the signature of run ${run}'s head does not verify with the key given (${mine})${signer && signer !== mine ? `; it names the key ${signer}` : ''}`, run);
        } else {
          report.signature = 'valid';
        }
      } else {
        report.signature = sig ? 'unchecked' : 'none';
      }
    }
    const start = idx.map((i) => lines[i]!.obj).find((o) => o?.event === 'start');
    const trail = start?.trail as Record<string, unknown> | undefined;
    if (trail && trail.protected === false && typeof trail.unprotected === 'string') {
      notes.push(`run ${run}: its trail was not protected from the target: ${trail.unprotected}`);
    }
    runs.push(report);
  }

  // Heads kept elsewhere: each must be in the file.
  const heads = (opts.heads ?? []).map((h) => (typeof h === 'string' ? { head: h } : h));
  for (const h of heads) {
    const at = byHash.get(h.head);
    const runIdx = h.run ? runLines.get(h.run) : undefined;
    if (at === undefined) {
      const after = runIdx ? runIdx.at(-1)! + 1 : lines.length;
      const what = h.run ? `run ${h.run}'s head ${short(h.head)}${h.seq ? ` (seq ${h.seq})` : ''}` : `the head ${short(h.head)}`;
      add(after, 'truncated', `${what} is not in the trail: ${runIdx ? `its records after line ${after} were cut off` : 'the run is missing (cut off, or this is another trail)'}`, h.run);
    } else if (h.run && runOf(at) !== h.run) {
      add(at, 'edited', `line ${at + 1} has the head kept for run ${h.run}, but names run ${runOf(at) ?? '?'}`, h.run);
    }
  }

  problems.sort((a, b) => a.line - b.line);
  const ok = problems.length === 0;
  return {
    path, status: ok ? 0 : 1, ok, lines: lines.length, runs, first: problems[0] ?? null, problems, notes,
    signatures: key ? 'checked' : 'not checked (no key given)',
    keyId: key ? keyId(key) : null,
    heads: heads.length,
  };
}

/** The report as a person reads it: the verdict first, then what else was found. */
export function formatReport(r: VerifyReport): string {
  const out: string[] = [];
  const signed = r.runs.filter((x) => x.signature === 'valid').length;
  if (r.ok) {
    out.push(`${r.path}: intact: ${r.lines} line${r.lines === 1 ? '' : 's'}, ${r.runs.length} run${r.runs.length === 1 ? '' : 's'}` +
      (r.keyId ? `, ${signed} signed by ${r.keyId}` : ', signatures not checked (no key given)') +
      (r.heads ? `, ${r.heads} kept head${r.heads === 1 ? '' : 's'} found` : ''));
  } else {
    const f = r.first!;
    out.push(`${r.path}: line ${f.line}: ${f.kind}: ${f.message}`);
    const more = r.problems.slice(1);
    for (const p of more.slice(0, 9)) out.push(`  also line ${p.line}: ${p.kind}: ${p.message}`);
    if (more.length > 9) out.push(`  and ${more.length - 9} more`);
  }
  for (const n of r.notes) out.push(`  note: ${n}`);
  return `${out.join('\n')}\n`;
}
