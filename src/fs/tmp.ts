/**
 * The run's private temporary directory: made before the target starts (mode 0700, owned by the
 * target's user), TMPDIR/TMP/TEMP point at it, and it is removed once nothing of the run is
 * left, unless the policy keeps it. Removal never follows a link the target left behind.
 */
import { chownSync, mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface PrivateTmp {
  path: string;
  remove(): void;
}

export function makePrivateTmp(owner: { uid: number; gid: number } | undefined): PrivateTmp {
  const path = realpathSync(mkdtempSync(join(tmpdir(), 'worm-run-tmp-')));
  if (owner) chownSync(path, owner.uid, owner.gid);
  return {
    path,
    remove: () => {
      try {
        rmSync(path, { recursive: true, force: true });
      } catch {
        // left for the system's own clean-up; the run is over either way
      }
    },
  };
}

export function tmpEnv(path: string): Record<string, string> {
  return { TMPDIR: path, TMP: path, TEMP: path };
}
