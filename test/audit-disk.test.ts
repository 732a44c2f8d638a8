/**
 * Issue 11, part 2: a full disk loses nothing silently. The trail keeps space reserved past its
 * end for the closing records, never leaves half a line, and when a record still cannot be
 * written the exit record counts it, the API result says `auditComplete: false` and worm-run's
 * last line on stderr says the trail is incomplete.
 *
 * The filesystem is a small tmpfs the test mounts in a private mount namespace (root, `unshare
 * -m`), filled by a target running as nobody that writes many files, each under
 * --max-file-size. Without root or mount, those tests are skipped, saying why.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { verifyTrail } from '../dist/audit/verify.js';
import { run } from '../dist/index.js';
import { BIN, IS_ROOT, ROOT, auditLines, runProgram, worm } from './helpers/run.js';

const NOBODY = 65534;

/** A directory everyone can read, for what the target (nobody) runs. */
const shared = mkdtempSync(join(tmpdir(), 'worm-run-disk-'));
chmodSync(shared, 0o755);
afterAll(() => rmSync(shared, { recursive: true, force: true }));

function cannotMount(): string | null {
  if (!IS_ROOT) return 'needs root to mount a small tmpfs';
  const probe = join(shared, 'probe');
  const r = spawnSync('unshare', ['-m', 'sh', '-c', `mkdir -p ${probe} && mount -t tmpfs -o size=64k tmpfs ${probe}`]);
  if (r.status !== 0) return `cannot mount a tmpfs in a private mount namespace here: ${r.stderr.toString().trim() || `status ${r.status}`}`;
  if (spawnSync('/bin/sh', ['-c', 'cd / && true'], { uid: NOBODY, gid: NOBODY }).status !== 0) return 'user nobody cannot run /bin/sh';
  return null;
}
const noMount = cannotMount();
const withTmpfs = noMount ? it.skip : it;
if (noMount) console.log(`skipping the full-disk tests: ${noMount}`);

/**
 * Runs worm-run with `args` in a private mount namespace where $M is a fresh 1 MiB tmpfs with a
 * trail directory only root can write ($M/trail) and one the target fills ($M/play); the trail
 * is copied out before the namespace goes.
 */
async function onSmallDisk(name: string, args: string[]) {
  const m = join(shared, `${name}-mnt`);
  const copy = join(shared, `${name}.jsonl`);
  const quoted = args.map((a) => `'${a}'`).join(' ');
  const script = `
    set -u
    mkdir -p ${m} && mount -t tmpfs -o size=1m,mode=755 tmpfs ${m} || exit 99
    mkdir -m 700 ${m}/trail && mkdir -m 777 ${m}/play
    cd ${m}/play
    M=${m} ${process.execPath} ${BIN} --audit-log ${m}/trail/t.jsonl --write ${m}/play ${quoted}
    echo "status $?" >&2
    df -k ${m} | tail -1 | awk '{print "free " $4}' >&2
    cp ${m}/trail/t.jsonl ${copy}
  `;
  const r = await runProgram('unshare', ['-m', 'sh', '-c', script], { timeoutMs: 60_000 });
  expect(r.code, r.stderr).toBe(0);
  const status = Number(/^status (\d+)$/m.exec(r.stderr)?.[1]);
  const free = Number(/^free (\d+)$/m.exec(r.stderr)?.[1]);
  return { ...r, status, free, trail: readFileSync(copy, 'utf8'), copy };
}

/** Why nobody cannot run a Node target from this checkout, or null. */
function cannotRunNode(): string | null {
  const r = spawnSync('/bin/sh', ['-c', `test -r '${ROOT}dist/guard/preload.cjs' && test -r '${BIN}'`], { uid: NOBODY, gid: NOBODY });
  return r.status === 0 ? null : 'user nobody cannot read this checkout, so it cannot run a Node target';
}
const noNode = noMount ?? cannotRunNode();
const withNodeOnTmpfs = noNode ? it.skip : it;
if (noNode && !noMount) console.log(`skipping the full-disk tests with a Node target: ${noNode}`);

/** Fills $M/play with files under 64K each, then makes `refusals` refused connections, then waits. */
function filler(name: string, refusals: number, wait: boolean): string {
  const p = join(shared, name);
  writeFileSync(p, `
    const fs = require('fs'); const net = require('net');
    let i = 0;
    try { for (;; i++) fs.writeFileSync(process.env.M + '/play/f' + i, Buffer.alloc(60000)); } catch (e) { console.log('filled', i, e.code); }
    for (let j = 0; j < ${refusals}; j++) net.connect(9, '127.0.0.1').on('error', () => {});
    ${wait ? 'setTimeout(() => {}, 30000);' : ''}
  `, { mode: 0o644 });
  return p;
}

describe('a target that fills the filesystem', () => {
  withNodeOnTmpfs('its refusals after that, and the limit and exit records, are written whole, into the space reserved for them', async () => {
    // 30 refusals and the closing records: several pages more than the slack after the start record.
    const r = await onSmallDisk('fill', ['--user', 'nobody', '--max-file-size', '64K', '--timeout', '1500ms', '--', filler('fill.js', 30, true)]);
    expect(r.stdout).toMatch(/^filled \d+ ENOSPC\n$/);
    expect(r.free).toBe(0);
    expect(r.status).toBe(124);
    expect(r.trail.endsWith('}\n')).toBe(true);
    const lines = auditLines(r.trail);
    expect(r.trail.split('\n').slice(0, -1)).toHaveLength(lines.length);
    expect(lines.map((l) => l.event)).toEqual(['start', ...Array(30).fill('blocked'), 'limit', 'exit']);
    expect(lines.at(-1)).toMatchObject({ limit: 'timeout', status: 124, blocked: 30, unwritten: 0 });
    expect(verifyTrail(r.copy)).toMatchObject({ status: 0, notes: [] });
    expect(r.stderr).not.toMatch(/incomplete/);
  });

  withNodeOnTmpfs('then floods it with refusals: those that no longer fit are counted, the exit record says so, and so does the last line', async () => {
    const r = await onSmallDisk('flood', ['--user', 'nobody', '--max-file-size', '64K', '--', filler('flood.js', 400, false)]);
    expect(r.stdout).toMatch(/^filled \d+ ENOSPC\n$/);
    expect(r.status).toBe(0);
    expect(r.trail.endsWith('}\n')).toBe(true);
    const lines = auditLines(r.trail);
    const exit = lines.at(-1)!;
    expect(exit).toMatchObject({ event: 'exit', blocked: 400 });
    const written = lines.filter((l) => l.event === 'blocked').length;
    expect(written).toBeGreaterThan(30);
    expect(written).toBeLessThan(400);
    expect(exit.unwritten).toBe(400 - written);
    const last = r.stderr.split('\n').filter((l) => l.startsWith('worm-run:')).at(-1);
    expect(last).toMatch(new RegExp(`^worm-run: the audit trail .*t\\.jsonl is incomplete: ${400 - written} records of run ${exit.run} could not be written \\(ENOSPC .*\\); its exit record counts them$`));
    const report = verifyTrail(r.copy);
    expect(report.status).toBe(0);
    expect(report.notes.join('\n')).toMatch(new RegExp(`${400 - written} records could not be written`));
  });
});

describe('a trail that cannot be written at all', () => {
  it.concurrent('the CLI\'s last line says the trail is incomplete, and has no exit record', async () => {
    const r = await worm(['--audit-log', '/dev/full', '--', 'sh', '-c', 'exit 6']);
    expect(r.code).toBe(6);
    expect(r.stderr).toMatch(/^worm-run: the audit trail \/dev\/full is incomplete: 2 records of run [0-9a-f-]{36} could not be written \(ENOSPC\); it has no exit record\n$/);
  });

  it.concurrent('the API says auditComplete: false', async () => {
    const fd = openSync('/dev/full', 'w');
    try {
      const r = await run(['true'], { policy: { audit: { log: `/dev/fd/${fd}` } } });
      expect(r.status).toBe(0);
      expect(r).toMatchObject({ auditComplete: false, auditHead: null });
    } finally {
      closeSync(fd);
    }
  });

  it.concurrent('a filesystem already full: refused before anything runs', async () => {
    if (noMount) return;
    const m = join(shared, 'full-mnt');
    const marker = join(shared, 'ran-full');
    const r = await runProgram('unshare', ['-m', 'sh', '-c', `
      mkdir -p ${m} && mount -t tmpfs -o size=64k,mode=755 tmpfs ${m} && mkdir -m 700 ${m}/trail &&
      head -c 1000000 /dev/zero > ${m}/filler 2>/dev/null;
      exec ${process.execPath} ${BIN} --audit-log ${m}/trail/t.jsonl -- touch ${marker}`]);
    expect(r.code).toBe(125);
    expect(r.stderr).toMatch(/^worm-run: --audit-log .*t\.jsonl: cannot reserve space for the trail's closing records: no space left on device; [^\n]+\n$/);
    expect(existsSync(marker)).toBe(false);
  });
});
