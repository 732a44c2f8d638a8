/**
 * Issue 11, part 2: a hostile target can neither rewrite nor silence the trail. worm-run refuses
 * (125, one line) a trail the target could write or replace, never appends to a file someone
 * else planted, and signs with a key only when the target cannot read it. What it cannot refuse
 * (a target running as worm-run's own user) it says in the start record, and verifyTrail shows.
 *
 * The forgeries need a second user: worm-run runs as root and the target as nobody. Those tests
 * are skipped, saying why, when that is not possible.
 *
 * Most checks here are the ones that hold without filesystem confinement (--fs off): ownership
 * and mode. With the default confinement the target cannot touch a directory it was not given
 * at all, and a trail inside one it was given is kept read-only: the last part of this file.
 */
import { spawnSync } from 'node:child_process';
import {
  chmodSync, chownSync, existsSync, lchownSync, mkdirSync, readFileSync, statSync, symlinkSync, writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { generateKeyPair } from '../dist/audit/keys.js';
import { verifyTrail } from '../dist/audit/verify.js';
import { IS_ROOT, STACK_FRAME, auditLines, startWorm, tempDir, worm } from './helpers/run.js';

const NOBODY = 65534;
const dir = tempDir('worm-run-safety-');
let n = 0;
const fresh = (name: string) => join(dir, `${++n}-${name}`);

/** Why the target cannot be run as another user here, or null. */
function noOtherUser(): string | null {
  if (!IS_ROOT) return 'needs root: worm-run must run the target as another user (--user nobody)';
  const r = spawnSync('/bin/sh', ['-c', 'cd / && exec true'], { uid: NOBODY, gid: NOBODY });
  if (r.status !== 0) return 'user nobody (65534) cannot run /bin/sh here';
  return null;
}
const otherUser = noOtherUser();
const asNobody = otherUser ? it.skip : it;
if (otherUser) console.log(`skipping the --user tests: ${otherUser}`);

/** A directory owned by nobody, which a target running as nobody can change. */
function nobodysDir(mode = 0o755): string {
  const d = fresh('nobodys');
  mkdirSync(d);
  chownSync(d, NOBODY, NOBODY);
  chmodSync(d, mode);
  return d;
}

/** A run that must be refused before anything starts: 125, one line, no marker. */
async function expectRefused(args: string[], reason: RegExp) {
  const marker = fresh('ran');
  const r = await worm(['--fs', 'off', ...args, '--', 'sh', '-c', `touch '${marker}'`], { cwd: '/' });
  expect(r.code, r.stderr).toBe(125);
  expect(r.stderr).toMatch(/^worm-run: [^\n]+\n$/);
  expect(r.stderr).toMatch(reason);
  expect(r.stderr).not.toMatch(STACK_FRAME);
  expect(existsSync(marker)).toBe(false);
  return r;
}

describe('a trail the target could write or replace is refused', () => {
  asNobody('(a) in a directory the target can write, where it could rename a forged file over the trail', async () => {
    const d = nobodysDir();
    const log = join(d, 'trail.jsonl');
    await expectRefused(['--user', 'nobody', '--audit-log', log],
      new RegExp(`--audit-log ${log}: refused: the target's user \\(uid 65534\\) can change the directory ${d} `));
    expect(existsSync(log)).toBe(false);
  });

  asNobody('(a) below such a directory too: the target could rename the directory on the way', async () => {
    const d = nobodysDir();
    const sub = join(d, 'logs');
    mkdirSync(sub, { mode: 0o700 });
    await expectRefused(['--user', 'nobody', '--audit-log', join(sub, 'trail.jsonl')], new RegExp(`can change the directory ${d} .*could replace logs`));
  });

  asNobody('(a) through a symbolic link the target owns, which it could re-point at a forged trail', async () => {
    const sticky = fresh('sticky-links');
    mkdirSync(sticky);
    chmodSync(sticky, 0o1777);
    const real = fresh('real-dir');
    mkdirSync(real, { mode: 0o700 });
    const link = join(sticky, 'logs');
    symlinkSync(real, link);
    lchownSync(link, NOBODY, NOBODY);
    await expectRefused(['--user', 'nobody', '--audit-log', join(link, 'trail.jsonl')], new RegExp(`can change the directory ${sticky} .*could replace logs`));
    // The same link owned by root: the target cannot replace it.
    lchownSync(link, 0, 0);
    const r = await worm(['--fs', 'off', '--user', 'nobody', '--audit-log', join(link, 'trail.jsonl'), '--', 'true'], { cwd: '/' });
    expect(r.code, r.stderr).toBe(0);
    expect(existsSync(join(real, 'trail.jsonl'))).toBe(true);
  });

  asNobody('a sticky directory the target can write is fine: the trail is worm-run\'s, and the rename over it fails', async () => {
    const d = fresh('sticky');
    mkdirSync(d);
    chmodSync(d, 0o1777);
    const log = join(d, 'trail.jsonl');
    const r = await worm(['--fs', 'off', '--user', 'nobody', '--audit-log', log, '--', 'sh', '-c',
      `echo '{"level":30,"event":"exit","status":0}' > ${d}/forged; mv -f ${d}/forged ${log} && echo replaced; rm -f ${log} && echo removed; exit 3`], { cwd: '/' });
    expect(r.code).toBe(3);
    expect(r.stdout).toBe('');
    expect(auditLines(readFileSync(log, 'utf8')).map((l) => l.event)).toEqual(['start', 'exit']);
    expect(auditLines(readFileSync(log, 'utf8'))[0]!.trail).toMatchObject({ protected: true });
    expect(verifyTrail(log).status).toBe(0);
  });

  asNobody('(b) an existing file owned by the target, mode 0666, is never appended to', async () => {
    const log = fresh('planted-0666.jsonl');
    writeFileSync(log, '');
    chownSync(log, NOBODY, NOBODY);
    chmodSync(log, 0o666);
    await expectRefused(['--user', 'nobody', '--audit-log', log], /refused: it belongs to uid 65534, not to worm-run's user \(uid 0\): worm-run never appends to a trail it did not make/);
    expect(readFileSync(log, 'utf8')).toBe('');
  });

  it.concurrent('an existing file writable by group or others is refused, whoever owns it', async () => {
    const log = fresh('shared.jsonl');
    writeFileSync(log, '');
    chmodSync(log, 0o666);
    await expectRefused(['--audit-log', log], /refused: it is writable by group or others \(mode 0666\); chmod 600 it/);
  });

  it.concurrent('a pre-planted file of worm-run\'s user that does not end with a worm-run record is refused', async () => {
    const log = fresh('preplanted.jsonl');
    writeFileSync(log, '{"level":30,"time":1,"event":"exit","status":0,"msg":"exit"}\n', { mode: 0o600 });
    await expectRefused(['--audit-log', log], /refused: its last line is not a whole worm-run record/);
  });

  asNobody('a pre-planted file of another user is refused even when nobody else may write it', async () => {
    const log = fresh('theirs.jsonl');
    writeFileSync(log, '', { mode: 0o600 });
    chownSync(log, NOBODY, NOBODY);
    await expectRefused(['--audit-log', log], /it belongs to uid 65534/);
  });

  it.concurrent('a target running as worm-run\'s own user without confinement (--fs off): the start record says the trail is unprotected, and a forgery shows', async () => {
    const log = fresh('same-user.jsonl');
    const r = await worm(['--fs', 'off', '--audit-log', log, '--', 'sh', '-c',
      `echo '{"level":30,"time":1,"event":"exit","status":0,"msg":"exit"}' >> '${log}'; exit 137`]);
    expect(r.code).toBe(137);
    const lines = auditLines(readFileSync(log, 'utf8'));
    expect(lines[0]!.trail).toMatchObject({ protected: false, unprotected: expect.stringMatching(/runs as worm-run's own user/) });
    const report = verifyTrail(log);
    expect(report.first).toMatchObject({ line: 2, kind: 'inserted' });
    expect(report.notes.join('\n')).toMatch(/not protected from the target/);
  });
});

describe('--audit-key', () => {
  it.concurrent('keygen writes a pair: private 0600, public 0644, and never overwrites', () => {
    const d = fresh('keys');
    mkdirSync(d);
    const k = generateKeyPair(d);
    expect(statSync(k.privatePath).mode & 0o777).toBe(0o600);
    expect(statSync(k.publicPath).mode & 0o777).toBe(0o644);
    expect(readFileSync(k.privatePath, 'utf8')).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    expect(k.keyId).toMatch(/^ed25519:[0-9a-f]{16}$/);
    expect(() => generateKeyPair(d)).toThrow(/exists already/);
  });

  asNobody('signs each run\'s head; verify checks it with the public key, and names a wrong key or a missing signature', async () => {
    const d = fresh('signing');
    mkdirSync(d);
    const k = generateKeyPair(d);
    const other = generateKeyPair({ privatePath: join(d, 'other.key'), publicPath: join(d, 'other.pub') });
    const log = fresh('signed.jsonl');
    for (const cmd of ['exit 0', 'exit 4']) {
      const r = await worm(['--user', 'nobody', '--audit-key', k.privatePath, '--audit-log', log, '--', 'sh', '-c', cmd], { cwd: tempDir() });
      expect(r.stderr).toBe('');
    }
    const lines = auditLines(readFileSync(log, 'utf8'));
    expect(lines[0]!.trail).toMatchObject({ protected: true, signer: k.keyId });
    expect(lines[1]).toMatchObject({ event: 'exit', signer: k.keyId, sig: expect.stringMatching(/^[A-Za-z0-9+/]{86}==$/) });
    expect(verifyTrail(log, { key: k.publicPath })).toMatchObject({ status: 0, keyId: k.keyId });
    expect(verifyTrail(log, { key: k.privatePath }).status).toBe(0);
    expect(verifyTrail(log).runs.map((x) => x.signature)).toEqual(['unchecked', 'unchecked']);

    expect(verifyTrail(log, { key: other.publicPath }).first).toMatchObject({ line: 2, kind: 'signature', message: expect.stringContaining(`names the key ${k.keyId}`) });
    // The signature is outside the hash: stripped, the chain still holds, and only the key shows it.
    const stripped = fresh('stripped.jsonl');
    writeFileSync(stripped, readFileSync(log, 'utf8').replace(/,"sig":"[^"]+"/, ''));
    expect(verifyTrail(stripped).status).toBe(0);
    expect(verifyTrail(stripped, { key: k.publicPath }).first).toMatchObject({ line: 2, kind: 'signature', message: expect.stringMatching(/not signed/) });
    // A run appended by someone without the key: a valid chain, and no signature.
    const forged = fresh('forged-run.jsonl');
    writeFileSync(forged, readFileSync(log));
    const unsigned = await worm(['--audit-log', forged, '--', 'true']);
    expect(unsigned.code).toBe(0);
    expect(verifyTrail(forged).status).toBe(0);
    expect(verifyTrail(forged, { key: k.publicPath }).first).toMatchObject({ line: 6, kind: 'signature' });
  });

  it.concurrent('refused when the target could read the key, when others can, and in-process', async () => {
    const d = fresh('refused-keys');
    mkdirSync(d);
    const k = generateKeyPair(d);
    const log = fresh('unsigned.jsonl');
    await expectRefused(['--audit-key', k.privatePath, '--audit-log', log], /--audit-key .*: refused: the target runs as worm-run's own user \(uid \d+\) and could read the key/);
    chmodSync(k.privatePath, 0o640);
    await expectRefused(['--audit-key', k.privatePath, '--audit-log', log], /refused: group or others can read or write it \(mode 0640\); chmod 600 it/);
    const script = join(d, 'x.js');
    writeFileSync(script, '');
    const r = await worm(['--in-process', '--audit-key', k.publicPath, '--audit-log', log, script]);
    expect(r.code).toBe(125);
    expect(r.stderr).toBe('worm-run: --audit-key needs the supervised mode: in-process, the key would be in the memory of the process that runs the script\n');
    expect(await worm(['--audit-key', k.privatePath, '--', 'true'])).toMatchObject({ code: 125, stderr: 'worm-run: --audit-key needs --audit-log (the trail whose head it signs or hands out)\n' });
  });
});

describe('--audit-head-fd', () => {
  it.concurrent('writes the head line (run, seq, head, complete) after the exit record; the target never holds it', async () => {
    const log = fresh('head.jsonl');
    const p = startWorm(['--audit-log', log, '--audit-head-fd', '3', '--', 'sh', '-c', 'ls -l /proc/$$/fd'], { stdio: ['pipe', 'pipe', 'pipe', 'pipe'] });
    let head = '';
    (p.child.stdio[3] as Readable).on('data', (c) => (head += c));
    const r = await p.done;
    expect(r.code).toBe(0);
    const exit = auditLines(readFileSync(log, 'utf8')).at(-1)!;
    expect(JSON.parse(head)).toEqual({ run: exit.run, seq: exit.seq, head: exit.hash, complete: true });
    // Our descriptor 3 is a socket (Node's 'pipe'); the target has no socket above 2.
    const above = [...r.stdout.matchAll(/ (\d+) -> (.*)$/gm)].filter((m) => Number(m[1]) > 2);
    for (const m of above) expect(m[2]).not.toMatch(/^socket:/);
  });

  it.concurrent('refuses the target\'s own descriptors, one it was not given, and a head without a trail', async () => {
    await expectRefused(['--audit-log', fresh('h.jsonl'), '--audit-head-fd', '1'], /--audit-head-fd 1: that is the target's own stdin\/stdout\/stderr/);
    await expectRefused(['--audit-log', fresh('h.jsonl'), '--audit-head-fd', '9'], /--audit-head-fd 9: that descriptor was not passed to worm-run/);
    await expectRefused(['--audit-log', fresh('h.jsonl'), '--audit-head-fd', 'x'], /--audit-head-fd: "x" is not a descriptor number/);
  });
});

describe('with the default filesystem confinement', () => {
  const forge = (log: string) => `echo '{"level":30,"time":1,"event":"exit","status":0,"msg":"exit"}' > forged; ` +
    `mv -f forged '${log}' && echo replaced; rm -f '${log}' && echo removed; echo x >> '${log}' && echo appended; ` +
    `mkdir fresh && echo made-a-directory; exit 3`;

  for (const ns of [[], ['--namespaces', 'off']]) {
    it.concurrent(`${ns.length ? 'without namespaces' : 'in its own namespaces'}: a trail in the working directory is kept read-only; the target still works there`, async () => {
      const cwd = tempDir();
      const log = join(cwd, 'trail.jsonl');
      const r = await worm([...ns, '--audit-log', log, '--', 'sh', '-c', forge(log)], { cwd });
      expect(r.code, r.stderr).toBe(3);
      // Neither renamed over, removed nor appended to. New entries: in its own namespaces the
      // trail is a read-only mount point and the directory stays writable; without them the
      // directory is split (each entry gets a rule) and nothing new can be made at its top.
      expect(r.stdout).toBe(ns.length ? '' : 'made-a-directory\n');
      const lines = auditLines(readFileSync(log, 'utf8'));
      expect(lines.map((l) => l.event)).toEqual(['start', 'exit']);
      expect(lines[0]!.trail).toMatchObject({ protected: true });
      expect(verifyTrail(log).status).toBe(0);
    });
  }

  for (const ns of [[], ['--namespaces', 'off']]) {
    it.concurrent(`${ns.length ? 'without namespaces' : 'in its own namespaces'}: a trail reached through a link in the working directory is refused (the target could point the link at a forged trail)`, async () => {
      const cwd = tempDir();
      const elsewhere = tempDir();
      chmodSync(elsewhere, 0o700);
      symlinkSync(elsewhere, join(cwd, 'ln'));
      const r = await worm([...ns, '--audit-log', './ln/t.jsonl', '--', 'true'], { cwd });
      expect(r.code).toBe(125);
      expect(r.stderr).toMatch(/^worm-run: --audit-log \.\/ln\/t\.jsonl: refused: the target's user \(uid \d+\) can change the directory .* and could replace ln; /);
      expect(existsSync(join(elsewhere, 't.jsonl'))).toBe(false);
      // The same directory named by its real path is fine.
      const ok = await worm([...ns, '--audit-log', join(elsewhere, 't.jsonl'), '--', 'true'], { cwd });
      expect(ok.code, ok.stderr).toBe(0);
    });
  }

  it.concurrent('a trail deeper in the working directory: the directory holding it is read-only to the target', async () => {
    const cwd = tempDir();
    mkdirSync(join(cwd, 'logs'));
    const log = join(cwd, 'logs', 'trail.jsonl');
    const r = await worm(['--audit-log', log, '--', 'sh', '-c',
      `mv logs old && echo moved; echo x > logs/other && echo wrote; echo y > ok && echo ok; exit 3`], { cwd });
    expect(r.code).toBe(3);
    expect(r.stdout).toBe('ok\n');
    expect(verifyTrail(log).status).toBe(0);
  });

  it.concurrent('the signing key is hidden from a target running as worm-run\'s own user, so it may sign', async () => {
    const d = fresh('hidden-key');
    mkdirSync(d);
    const k = generateKeyPair(d);
    const log = fresh('signed-same-user.jsonl');
    const r = await worm(['--audit-key', k.privatePath, '--audit-log', log, '--', 'sh', '-c', `cat '${k.privatePath}' || exit 5`], { cwd: tempDir() });
    expect(r.code).toBe(5);
    expect(r.stdout).toBe('');
    expect(verifyTrail(log, { key: k.publicPath }).status).toBe(0);
  });
});
