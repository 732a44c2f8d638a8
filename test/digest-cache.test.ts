/**
 * The start record's SHA-256 of the Node binary comes from a cache of worm-run's user (hashing
 * ~100 MB costs ~80 ms a run). The cache is trusted only where the target cannot write it:
 * outside every directory the sandbox lets it write; with --fs off (and the same user) it is
 * not used at all.
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

/** A cache directory holding a false digest for this Node binary. */
function poisoned(base: string): void {
  const d = join(base, 'worm-run', 'sha256');
  mkdirSync(d, { recursive: true, mode: 0o700 });
  const st = statSync(process.execPath, { bigint: true });
  writeFileSync(join(d, `${st.dev}-${st.ino}-${st.size}-${st.mtimeNs}-${st.ctimeNs}`), 'f'.repeat(64));
}

describe('the digest cache', () => {
  it('outside the writable directories: used, run after run, with the true digest', async () => {
    const cache = tempDir();
    const dir = tempDir();
    writeFileSync(join(dir, 'x.js'), '');
    for (const i of [1, 2]) {
      const log = join(tempDir(), `run${i}.jsonl`);
      await worm(['--audit-log', log, join(dir, 'x.js')], { env: testEnv({ XDG_CACHE_HOME: cache }), cwd: dir });
      expect(interpreterSha(log)).toBe(nodeSha);
    }
    expect(statSync(join(cache, 'worm-run', 'sha256')).mode & 0o777).toBe(0o700);
  });

  it('inside a directory the target may write: not used (a target could have planted a false digest there)', async () => {
    const dir = tempDir();
    poisoned(join(dir, 'cache'));
    writeFileSync(join(dir, 'x.js'), '');
    const log = join(tempDir(), 'in.jsonl');
    await worm(['--audit-log', log, join(dir, 'x.js')], { env: testEnv({ XDG_CACHE_HOME: join(dir, 'cache') }), cwd: dir });
    expect(interpreterSha(log)).toBe(nodeSha);
  });

  it('is not used with --fs off, where a target of the same user could have written it', async () => {
    const cache = tempDir();
    poisoned(cache);
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
