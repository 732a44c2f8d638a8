/**
 * Issue 11, part 3: the trail is a hash chain that verifyTrail checks line by line. Trails are
 * made by real runs (supervised and in-process, one after the other and at the same time), then
 * damaged the ways an editor of the file would: each damage is named by line and kind.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { beforeAll, describe, expect, it } from 'vitest';
import { native } from '../dist/native.js';
import { parseChained, recordBody, sha256Hex } from '../dist/audit/record.js';
import { parseHeads, verifyTrail, formatReport } from '../dist/audit/verify.js';
import { run } from '../dist/index.js';
import { auditLines, startWorm, tempDir, worm } from './helpers/run.js';

const dir = tempDir('worm-run-chain-');
let n = 0;
const fresh = (name: string) => join(dir, `${++n}-${name}`);

function script(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

/** Three guard refusals, spaced so that concurrent runs interleave their records. */
let refuses = '';
beforeAll(() => {
  refuses = script('refuses.js', `
    const net = require('net');
    let i = 0;
    const next = () => { if (i++ < 3) { net.connect(9, '127.0.0.1').on('error', () => {}); setTimeout(next, 60); } };
    next();
  `);
});

const linesOf = (path: string) => readFileSync(path, 'utf8').split('\n').slice(0, -1);
const write = (path: string, lines: string[]) => writeFileSync(path, lines.map((l) => `${l}\n`).join(''));

/** The record as an editor who knows the format would rewrite it: content changed, hash recomputed. */
function rehash(line: string, edit: (canonical: string) => string): string {
  const c = parseChained(line)!;
  const canonical = edit(c.canonical);
  return `${canonical},"hash":"${sha256Hex(canonical)}"}`;
}

/** A trail of two runs, each start, three refusals, exit: 10 lines. */
async function twoRuns(): Promise<string> {
  const log = fresh('two.jsonl');
  for (let i = 0; i < 2; i++) {
    const r = await worm(['--audit-log', log, refuses]);
    expect(r.code, r.stderr).toBe(0);
  }
  expect(linesOf(log)).toHaveLength(10);
  return log;
}

describe('the record format', () => {
  it('the addon\'s own SHA-256 agrees with node:crypto, at every block boundary and on a large input', () => {
    const inputs = [Buffer.alloc(0), Buffer.from('abc'), randomBytes(1 << 20)];
    for (const len of [55, 56, 57, 63, 64, 65, 119, 120, 128]) inputs.push(randomBytes(len));
    for (const b of inputs) expect(native.sha256Hex(b), `length ${b.length}`).toBe(createHash('sha256').update(b).digest('hex'));
    expect(native.sha256Hex(Buffer.from('abc'))).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });

  it('each line ends with prev and hash; the hash covers the line up to ,"hash": and the first line chains to zeros', async () => {
    const log = await twoRuns();
    const lines = linesOf(log);
    let prev = '0'.repeat(64);
    for (const [i, line] of lines.entries()) {
      expect(line).toMatch(/,"prev":"[0-9a-f]{64}","hash":"[0-9a-f]{64}"\}$/);
      const cut = line.lastIndexOf(',"hash":"');
      const hash = JSON.parse(line).hash as string;
      expect(createHash('sha256').update(line.slice(0, cut)).digest('hex'), `line ${i + 1}`).toBe(hash);
      expect(JSON.parse(line).prev, `line ${i + 1}`).toBe(prev);
      prev = hash;
    }
    // pino's shape: level and time first, msg after the fields.
    const rec = JSON.parse(lines[0]!);
    expect(Object.keys(rec).slice(0, 2)).toEqual(['level', 'time']);
    expect(Object.keys(rec).slice(-3)).toEqual(['msg', 'prev', 'hash']);
  });

  it('a record cannot set the keys worm-run writes itself', () => {
    const b = recordBody(40, 5, 'r', 7, 'blocked', { run: 'forged', hash: 'x', prev: 'y', msg: 'z', seq: 99, op: 'net.connect' });
    const line = `${b.before}1${b.after}`;
    const o = JSON.parse(`${line}}`);
    expect(o).toEqual({ level: 40, time: 5, run: 'r', pid: 7, seq: 1, event: 'blocked', op: 'net.connect', msg: 'blocked' });
  });
});

describe('verifyTrail', () => {
  it('an intact trail of two runs: status 0, both runs complete', async () => {
    const log = await twoRuns();
    const r = verifyTrail(log);
    expect(r.problems).toEqual([]);
    expect(r).toMatchObject({ status: 0, ok: true, lines: 10, first: null });
    expect(r.runs.map((x) => [x.firstLine, x.lastLine, x.records, x.exitLine])).toEqual([[1, 5, 5, 5], [6, 10, 5, 10]]);
    expect(formatReport(r)).toMatch(/: intact: 10 lines, 2 runs, signatures not checked/);
  });

  it('each kind of damage is named at its line', async () => {
    const log = await twoRuns();
    const good = linesOf(log);
    const cases: [string, string[] | string, number, string][] = [
      ['one byte edited', good.map((l, i) => (i === 2 ? l.replace('net.connect', 'net.connecT') : l)), 3, 'edited'],
      ['edited and rehashed', good.map((l, i) => (i === 2 ? rehash(l, (c) => c.replace('net.connect', 'fs.readFile')) : l)), 3, 'edited'],
      ['a line removed', good.filter((_, i) => i !== 2), 3, 'removed'],
      ['the first line removed', good.slice(1), 1, 'removed'],
      ['a foreign line inserted', [...good.slice(0, 3), '{"level":30,"time":1,"event":"exit","status":0}', ...good.slice(3)], 4, 'inserted'],
      ['a chained line forged and inserted', (() => {
        const forged = rehash(good[2]!.replace(/"prev":"[0-9a-f]{64}"/, `"prev":"${JSON.parse(good[2]!).hash}"`), (c) => c.replace('net.connect', 'fs.readFile'));
        return [...good.slice(0, 3), forged, ...good.slice(3)];
      })(), 4, 'inserted'],
      ['a line copied', [...good.slice(0, 4), good[3]!, ...good.slice(4)], 5, 'inserted'],
      ['two lines swapped', [good[0]!, good[1]!, good[3]!, good[2]!, ...good.slice(4)], 3, 'reordered'],
      ['the last run cut mid-run (no exit record)', good.slice(0, 9), 10, 'truncated'],
    ];
    for (const [what, lines, line, kind] of cases) {
      const p = fresh('damaged.jsonl');
      write(p, lines as string[]);
      const r = verifyTrail(p);
      expect(r.status, what).toBe(1);
      expect(r.first, `${what}: ${JSON.stringify(r.problems)}`).toMatchObject({ line, kind });
      expect(formatReport(r), what).toMatch(new RegExp(`: line ${line}: ${kind}: `));
    }
    // Cut in the middle of a line.
    const p = fresh('cut.jsonl');
    writeFileSync(p, readFileSync(log).subarray(0, readFileSync(log).length - 40));
    expect(verifyTrail(p).first).toMatchObject({ line: 10, kind: 'truncated', message: expect.stringMatching(/cut off in the middle/) });
  });

  it('cut at a record boundary: intact on its own, truncated against the head kept from --audit-head-fd', async () => {
    const log = fresh('heads.jsonl');
    let kept = '';
    for (let i = 0; i < 2; i++) {
      const p = startWorm(['--audit-log', log, '--audit-head-fd', '3', '--', 'true'], { stdio: ['pipe', 'pipe', 'pipe', 'pipe'] });
      (p.child.stdio[3] as Readable).on('data', (d) => (kept += d));
      expect((await p.done).code).toBe(0);
    }
    const heads = parseHeads(kept);
    expect(heads).toHaveLength(2);
    const records = auditLines(readFileSync(log, 'utf8'));
    // The head is the exit record's hash, and says which run it is.
    expect(heads.map((h) => h.head)).toEqual([records[1]!.hash, records[3]!.hash]);
    expect(heads.map((h) => h.run)).toEqual([records[1]!.run, records[3]!.run]);
    expect(verifyTrail(log, { heads })).toMatchObject({ status: 0, heads: 2 });

    const cut = fresh('cut-boundary.jsonl');
    write(cut, linesOf(log).slice(0, 2));
    expect(verifyTrail(cut).status).toBe(0);
    const r = verifyTrail(cut, { heads });
    expect(r.first).toMatchObject({ line: 3, kind: 'truncated', run: heads[1]!.run });
  });

  it('the API result carries the head; it matches the exit record', async () => {
    const log = fresh('api.jsonl');
    const r = await run(['sh', '-c', 'exit 5'], { policy: { audit: { log } } });
    expect(r.status).toBe(5);
    expect(r.auditComplete).toBe(true);
    const exit = auditLines(readFileSync(log, 'utf8')).at(-1)!;
    expect(exit).toMatchObject({ event: 'exit', hash: r.auditHead });
    expect(verifyTrail(log, { heads: [{ run: r.runId, head: r.auditHead! }] }).status).toBe(0);
    const none = await run(['true']);
    expect(none).toMatchObject({ auditHead: null, auditComplete: true });
  });

  it('concurrent runs appending to one file (supervised and in-process) keep one chain in file order', async () => {
    const log = fresh('concurrent.jsonl');
    const runs = await Promise.all([
      ...Array.from({ length: 4 }, () => worm(['--audit-log', log, refuses])),
      ...Array.from({ length: 2 }, () => worm(['--in-process', '--audit-log', log, refuses])),
    ]);
    for (const r of runs) expect(r.code, r.stderr).toBe(0);
    const report = verifyTrail(log);
    expect(report.problems).toEqual([]);
    expect(report.runs).toHaveLength(6);
    for (const x of report.runs) expect(x.records).toBe(5);
    // They did overlap: some run's records are not all next to each other.
    expect(report.runs.some((x) => x.lastLine - x.firstLine > 4)).toBe(true);
    // seq counts each run's own records, in file order.
    const lines = auditLines(readFileSync(log, 'utf8'));
    for (const x of report.runs) expect(lines.filter((l) => l.run === x.run).map((l) => l.seq)).toEqual([1, 2, 3, 4, 5]);
  });

  it('in-process: records written by JavaScript and natively (watchdog, signal handler) are one chain', async () => {
    const log = fresh('inprocess.jsonl');
    const busy = script('busy.js', "require('net').connect(9, '127.0.0.1').on('error', () => {}); setTimeout(() => { for (;;) {} }, 50);\n");
    const r = await worm(['--in-process', '--cpu', '1', '--audit-log', log, busy]);
    expect(r.signal).toBe('SIGXCPU');
    const abort = script('abort.js', 'process.abort();\n');
    expect((await worm(['--in-process', '--audit-log', log, abort])).signal).toBe('SIGABRT');
    const lines = auditLines(readFileSync(log, 'utf8'));
    expect(lines.map((l) => [l.event, l.seq])).toEqual([['start', 1], ['blocked', 2], ['limit', 3], ['exit', 4], ['start', 1], ['exit', 2]]);
    expect(lines[3]).toMatchObject({ blocked: 1, warnings: 0, unwritten: 0, limit: 'cpu' });
    expect(lines[3]!.wallMs).toBeGreaterThan(500); // counted from the trail's opening, the CPU from the process's start
    expect(verifyTrail(log).problems).toEqual([]);
  });

  it('in-process: the head line comes from JavaScript at exit, or natively when a signal ends the run', async () => {
    const plain = script('plain.js', 'process.exitCode = 2;\n');
    const abort = script('abort2.js', 'process.abort();\n');
    for (const p of [plain, abort]) {
      const log = fresh('inprocess-head.jsonl');
      const w = startWorm(['--in-process', '--audit-log', log, '--audit-head-fd', '3', p], { stdio: ['pipe', 'pipe', 'pipe', 'pipe'] });
      let head = '';
      (w.child.stdio[3] as Readable).on('data', (d) => (head += d));
      await w.done;
      const exit = auditLines(readFileSync(log, 'utf8')).at(-1)!;
      expect(exit.event, p).toBe('exit');
      expect(JSON.parse(head), p).toMatchObject({ run: exit.run, seq: exit.seq, head: exit.hash });
      expect(verifyTrail(log, { heads: parseHeads(head) }).status).toBe(0);
    }
  });
});
