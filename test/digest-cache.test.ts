/**
 * The start record's SHA-256 of the Node binary comes from a cache of worm-run's user (hashing
 * ~100 MB costs ~80 ms a run). The cache is trusted only where the target cannot write it: with
 * filesystem rules it is outside what the sandbox may write; with --fs off (and the same user)
 * it is not used at all.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { auditLines, tempDir, testEnv, worm } from './helpers/run.js';

const nodeSha = createHash('sha256').update(readFileSync(process.execPath)).digest('hex');

function interpreterSha(log: string): string {
  const start = auditLines(readFileSync(log, 'utf8'))[0]!;
  return ((start.target as { interpreter: { sha256: string } }).interpreter).sha256;
}

describe('the digest cache', () => {
  it('gives the true hash, run after run, and the target cannot write it even inside its working directory', async () => {
    const dir = tempDir();
    // The cache sits in the directory the target may write: only worm-run's protection of it
    // (a read-only bind, or split rules) keeps the target out.
    const cache = join(dir, 'cache');
    const env = testEnv({ XDG_CACHE_HOME: cache });
    const script = join(dir, 'poison.js');
    // The target tries to plant a false digest for every entry it can see.
    writeFileSync(script, `
      const fs = require('fs'); const d = process.argv[2];
      let wrote = 0;
      try { for (const f of fs.readdirSync(d)) { try { fs.writeFileSync(d + '/' + f, '0'.repeat(64)); wrote++; } catch {} } } catch {}
      try { fs.writeFileSync(d + '/planted', '0'.repeat(64)); wrote++; } catch {}
      console.log('wrote', wrote);
    `);
    const d = join(cache, 'worm-run', 'sha256');
    for (const i of [1, 2]) {
      const log = join(tempDir(), `run${i}.jsonl`);
      const r = await worm(['--audit-log', log, script, d], { env, cwd: dir });
      expect(r.stdout).toBe('wrote 0\n');
      expect(interpreterSha(log)).toBe(nodeSha);
    }
    expect(statSync(d).mode & 0o777).toBe(0o700);
  });

  it('is not used with --fs off, where a target of the same user could have written it', async () => {
    const cache = tempDir();
    const d = join(cache, 'worm-run', 'sha256');
    mkdirSync(d, { recursive: true, mode: 0o700 });
    // An entry for this Node binary that lies.
    const st = statSync(process.execPath, { bigint: true });
    writeFileSync(join(d, `${st.dev}-${st.ino}-${st.size}-${st.mtimeNs}-${st.ctimeNs}`), 'f'.repeat(64));
    const env = testEnv({ XDG_CACHE_HOME: cache });
    const dir = tempDir();
    writeFileSync(join(dir, 'x.js'), '');
    const off = join(tempDir(), 'off.jsonl');
    await worm(['--fs', 'off', '--audit-log', off, join(dir, 'x.js')], { env, cwd: dir });
    expect(interpreterSha(off)).toBe(nodeSha);
    // Control: with the filesystem rules the (user's own) entry is believed.
    const on = join(tempDir(), 'on.jsonl');
    await worm(['--audit-log', on, join(dir, 'x.js')], { env, cwd: dir });
    expect(interpreterSha(on)).toBe('f'.repeat(64));
  });
});
