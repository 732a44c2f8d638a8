/**
 * `worm-run audit keygen` and `worm-run audit verify` as a user types them: a key pair made, a
 * signed trail written by real runs, verified whole, then verified again after an edit, with the
 * wrong key, and against a kept head the file no longer holds.
 */
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { STACK_FRAME, startWorm, tempDir, worm } from './helpers/run.js';

const dir = tempDir('worm-run-cli-audit-');

describe('worm-run audit', () => {
  it('keygen writes a pair (0600 private), says where, and never overwrites', async () => {
    const d = join(dir, 'keys1');
    mkdirSync(d);
    const r = await worm(['audit', 'keygen', d]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^private key: ${d}/worm-run-audit\\.key .*\\npublic key: +${d}/worm-run-audit\\.pub .*\\nkey id: +ed25519:[0-9a-f]{16}\\n$`));
    expect(statSync(join(d, 'worm-run-audit.key')).mode & 0o777).toBe(0o600);
    const again = await worm(['audit', 'keygen', d]);
    expect(again).toMatchObject({ code: 125, stdout: '' });
    expect(again.stderr).toBe(`worm-run: cannot write the key ${d}/worm-run-audit.key: it exists already (worm-run never overwrites a key)\n`);
    const missing = await worm(['audit', 'keygen', join(dir, 'no-such-dir')]);
    expect(missing.code).toBe(125);
    expect(missing.stderr).toMatch(/^worm-run: cannot write the key .*no-such-dir\/worm-run-audit\.key: no such directory \(create it first\)\n$/);
  });

  it('verify: a signed trail and its kept heads are intact (0); an edit, a wrong key, a lost run are not (1)', async () => {
    const d = join(dir, 'keys2');
    const other = join(dir, 'keys3');
    mkdirSync(d);
    mkdirSync(other);
    expect((await worm(['audit', 'keygen', d])).code).toBe(0);
    expect((await worm(['audit', 'keygen', other])).code).toBe(0);
    const key = join(d, 'worm-run-audit.key');
    const pub = join(d, 'worm-run-audit.pub');
    const log = join(dir, 'signed.jsonl');
    let kept = '';
    for (const status of [0, 3]) {
      // The target may not read the private key: hidden from it, so the same user can sign.
      const p = startWorm(['--audit-log', log, '--audit-key', key, '--hide', d, '--audit-head-fd', '3', '--', 'sh', '-c', `exit ${status}`],
        { stdio: ['pipe', 'pipe', 'pipe', 'pipe'], cwd: tempDir() });
      (p.child.stdio[3] as Readable).on('data', (b) => (kept += b));
      const r = await p.done;
      expect(r.code, r.stderr).toBe(status);
    }
    const heads = join(dir, 'heads.jsonl');
    writeFileSync(heads, kept);

    const ok = await worm(['audit', 'verify', log, '--key', pub, '--head', heads]);
    expect(ok.stderr).toBe('');
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/: intact: 4 lines, 2 runs, 2 signed by ed25519:[0-9a-f]{16}, 2 kept heads found\n$/);
    const json = await worm(['audit', 'verify', '--json', log, '--key', pub]);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({ status: 0, ok: true, lines: 4, signatures: 'checked' });

    const wrongKey = await worm(['audit', 'verify', log, '--key', join(other, 'worm-run-audit.pub')]);
    expect(wrongKey.code).toBe(1);
    expect(wrongKey.stdout).toMatch(/line 2: /);

    const lines = readFileSync(log, 'utf8').split('\n');
    const edited = join(dir, 'edited.jsonl');
    writeFileSync(edited, [lines[0], lines[1]!.replace('"status":0', '"status":1'), ...lines.slice(2)].join('\n'));
    const e = await worm(['audit', 'verify', edited, '--key', pub]);
    expect(e.code).toBe(1);
    expect(e.stdout).toMatch(/^.*edited\.jsonl: line 2: /);

    const cut = join(dir, 'cut.jsonl');
    writeFileSync(cut, `${lines.slice(0, 2).join('\n')}\n`);
    expect((await worm(['audit', 'verify', cut, '--key', pub])).code).toBe(0);
    const lost = await worm(['audit', 'verify', cut, '--key', pub, '--head', heads]);
    expect(lost.code).toBe(1);
    expect(lost.stdout).toMatch(/line 3: truncated: /);
  });

  it('mistakes: one line, exit 125, no stack', async () => {
    for (const [args, msg] of [
      [['audit'], 'worm-run: audit needs a command: verify, keygen (see worm-run audit --help)\n'],
      [['audit', 'verify'], "worm-run: missing required argument 'trail' (see worm-run audit verify --help)\n"],
      [['audit', 'verify', join(dir, 'none.jsonl')], `worm-run: cannot read the trail ${join(dir, 'none.jsonl')}: no such file\n`],
      [['audit', 'verify', join(dir, 'none.jsonl'), '--head', join(dir, 'none')], `worm-run: --head ${join(dir, 'none')}: cannot read it: no such file\n`],
      [['audit', 'verify', 'x', '--kee', 'y'], "worm-run: unknown option '--kee'; did you mean --key? (see worm-run audit verify --help)\n"],
    ] as [string[], string][]) {
      const r = await worm(args);
      expect(r.stderr).not.toMatch(STACK_FRAME);
      expect({ code: r.code, stderr: r.stderr, stdout: r.stdout }).toEqual({ code: 125, stderr: msg, stdout: '' });
    }
  });
});
