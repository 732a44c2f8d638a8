/** Builds the C (and i386 assembly) fixtures with the machine's toolchain, once per run. */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { ROOT } from './run.js';

const outDir = mkdtempSync(join(tmpdir(), 'worm-run-fixtures-'));
// The fixtures also run as another user (--user nobody, the container-like helper).
chmodSync(outDir, 0o755);
const built = new Map<string, string>();

/** Compiles test/fixtures/<name>.c (extra gcc flags allowed) and returns the binary's path. */
export function buildC(name: string, flags: string[] = []): string {
  const key = `${name} ${flags.join(' ')}`;
  const hit = built.get(key);
  if (hit) return hit;
  mkdirSync(outDir, { recursive: true });
  const out = join(outDir, `${basename(name)}${flags.length ? `-${built.size}` : ''}`);
  execFileSync('gcc', ['-O1', '-Wall', '-o', out, join(ROOT, 'test/fixtures', `${name}.c`), ...flags], { stdio: 'pipe' });
  built.set(key, out);
  return out;
}

/** Assembles and links test/fixtures/<name>.S as a 32-bit static program (no libc needed). */
export function buildI386(name: string): string {
  const hit = built.get(name);
  if (hit) return hit;
  const obj = join(outDir, `${name}.o`);
  const out = join(outDir, name);
  execFileSync('as', ['--32', '-o', obj, join(ROOT, 'test/fixtures', `${name}.S`)], { stdio: 'pipe' });
  execFileSync('ld', ['-m', 'elf_i386', '-o', out, obj], { stdio: 'pipe' });
  built.set(name, out);
  return out;
}
