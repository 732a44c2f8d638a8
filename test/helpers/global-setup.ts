/**
 * One temporary directory for the whole run: every test's scratch files, built fixtures and
 * worm-run's own temporary files go below it (TMPDIR), and it is removed at the end, so a test
 * run leaves nothing in /tmp.
 */
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export default function setup(): () => void {
  const dir = mkdtempSync(join(tmpdir(), 'worm-run-suite-'));
  // Like /tmp itself: tests that run targets as another user (--user nobody) make their own
  // directories below it and open them up as they need.
  chmodSync(dir, 0o1777);
  const previous = process.env.TMPDIR;
  process.env.TMPDIR = dir;
  return () => {
    if (previous === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = previous;
    if (!process.env.WORM_TEST_KEEP_TMP) rmSync(dir, { recursive: true, force: true });
  };
}
