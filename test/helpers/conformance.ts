/**
 * The public conformance set (../shared/conformance: a runner, attack cases and benign programs
 * against a loopback recorder) and libseccomp's Python binding, both of which a machine may
 * lack: a test that needs one is skipped, saying why (see kernel.ts).
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Feature } from './kernel.js';
import { ROOT } from './run.js';

/** Where the conformance runner is: WORM_CONFORMANCE_DIR, or ../shared/conformance from the checkout or its parent. */
export function conformanceDir(): Feature & { dir: string } {
  const candidates = [
    process.env.WORM_CONFORMANCE_DIR,
    resolve(ROOT, '../shared/conformance'),
    resolve(ROOT, '../../shared/conformance'),
  ].filter((d): d is string => typeof d === 'string' && d !== '');
  const dir = candidates.find((d) => existsSync(join(d, 'run.sh')));
  return dir
    ? { ok: true, reason: '', dir }
    : { ok: false, reason: `no conformance set at ${candidates.join(' or ')} (set WORM_CONFORMANCE_DIR)`, dir: '' };
}

/** The Python that has libseccomp's binding (Debian's python3-seccomp is for /usr/bin/python3). */
export const SECCOMP_PYTHON = '/usr/bin/python3';

let seccompBinding: Feature | undefined;

export function libseccompPython(): Feature {
  if (!seccompBinding) {
    const r = spawnSync(SECCOMP_PYTHON, ['-c', 'import seccomp'], { encoding: 'utf8', timeout: 10_000 });
    seccompBinding = r.status === 0
      ? { ok: true, reason: '' }
      : { ok: false, reason: `libseccomp's Python binding is missing (apt-get install python3-seccomp): ${(r.stderr ?? r.error?.message ?? '').trim().split('\n').pop()}` };
  }
  return seccompBinding;
}

/** Parses the conformance runner's output: case name -> verdict, and its last line. */
export function conformanceResults(stdout: string): { verdicts: Map<string, string>; summary: string } {
  const verdicts = new Map<string, string>();
  for (const m of stdout.matchAll(/^(PASS blocked|FAIL leaked|ERROR|OK works|BROKEN)\s+(\S+)/gm)) verdicts.set(m[2]!, m[1]!);
  const lines = stdout.trim().split('\n');
  return { verdicts, summary: lines[lines.length - 1] ?? '' };
}
