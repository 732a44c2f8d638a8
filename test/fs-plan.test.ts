/**
 * The parts of src/fs/plan.ts that no real process on this machine can show: credential store
 * names in another case (a case-insensitive directory needs casefold support in the kernel),
 * and bind-mount aliases read from a mount table given to the function.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { mountAliases, secretsPresent } from '../src/fs/plan.js';

describe('secretsPresent', () => {
  it('matches credential store names without regard to case (~/.SSH is ~/.ssh on a case-insensitive directory)', () => {
    const home = mkdtempSync(join(tmpdir(), 'wr-plan-'));
    try {
      mkdirSync(join(home, '.SSH'));
      mkdirSync(join(home, '.Config/gh'), { recursive: true });
      writeFileSync(join(home, '.NetRC'), 'x');
      const found = secretsPresent([], [home]);
      expect(found).toEqual(expect.arrayContaining([join(home, '.SSH'), join(home, '.Config/gh'), join(home, '.NetRC')]));
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });
});

describe('mountAliases', () => {
  it('takes a mount table entry as an alias only where it leads to the same inode (the real bind is in fs-attacks.test.ts)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'wr-plan-'));
    try {
      mkdirSync(join(dir, 'home/.ssh'), { recursive: true });
      mkdirSync(join(dir, 'elsewhere/.ssh'), { recursive: true });
      // A table where the filesystem holding dir is also mounted at dir/elsewhere from its
      // dir/home: the path exists there but is another inode here (no real bind), so it is not
      // an alias; the same table pointing at the real directory is.
      const table = [{ dev: '1:1', root: '/', point: '/' }, { dev: '1:1', root: join(dir, 'home'), point: join(dir, 'elsewhere') }];
      expect(mountAliases(join(dir, 'home/.ssh'), table)).toEqual([]);
      const same = [{ dev: '1:1', root: '/', point: '/' }, { dev: '1:1', root: join(dir, 'home'), point: join(dir, 'home') }];
      expect(mountAliases(join(dir, 'home/.ssh'), same)).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
