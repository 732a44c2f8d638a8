/**
 * The run's private temporary directory: made before the target starts (mode 0700, owned by the
 * target's user), TMPDIR/TMP/TEMP point at it, and it is removed once nothing of the run is
 * left, unless the policy keeps it. Removal never follows a link the target left behind.
 */
import { chownSync, mkdtempSync, realpathSync, rmdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface PrivateTmp {
  path: string;
  remove(): void;
}

export function makePrivateTmp(owner: { uid: number; gid: number } | undefined): PrivateTmp {
  const path = realpathSync.native(mkdtempSync(join(tmpdir(), 'worm-run-tmp-')));
  if (owner) chownSync(path, owner.uid, owner.gid);
  return {
    path,
    remove: () => {
      try {
        // Most runs leave it empty: one rmdir, without loading Node's recursive removal.
        rmdirSync(path);
        return;
      } catch (e) {
        // Gone already; anything else (not empty, not a directory): the recursive removal.
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
      }
      try {
        rmSync(path, { recursive: true, force: true });
      } catch {
        // left for the system's own clean-up; the run is over either way
      }
    },
  };
}

/**
 * The variables that point programs at the private temporary directory. npm's cache goes there
 * too unless the caller set one for the target (--env npm_config_cache=DIR; an inherited one is
 * overridden: npm sets npm_config_cache=~/.npm for every script it runs, worm-run among them):
 * the default one (~/.npm) is outside what
 * the target may write, and npm does not degrade without it (every install of a tarball fails
 * with EACCES, and a read-only cache that is warm fails too, ENOTCACHED), while a cache the
 * target could write is one it could poison for the next install outside the sandbox. pip
 * disables its own cache when it cannot write it, and node-gyp needs its headers where they
 * are (~/.cache/node-gyp, readable), so nothing else is redirected.
 */
export function tmpEnv(path: string, set: Record<string, string> = {}): Record<string, string> {
  const out: Record<string, string> = { TMPDIR: path, TMP: path, TEMP: path };
  if (!Object.keys(set).some((k) => k.toLowerCase() === 'npm_config_cache')) out.npm_config_cache = join(path, 'npm-cache');
  return out;
}
