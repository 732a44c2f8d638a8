#!/usr/bin/env node
// Measures the smallest RLIMIT_DATA under which a Node binary starts and prints a line, the way
// worm-run starts a Node target (its guard preloaded, a V8 heap of 75 % of the cap), by
// bisection. The result goes into NODE_MEMORY_FLOOR_MIB in src/limits.ts.
//
//   node scripts/node-memory-floor.js [path/to/node ...]     (default: this node)
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const guard = fileURLToPath(new URL('../dist/guard/preload.cjs', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'worm-run-floor-'));
const hello = join(dir, 'hello.js');
writeFileSync(hello, 'console.log("ok")\n');

/** Whether `node` starts under a data limit of mib MiB. */
export function startsUnder(node, mib) {
  const heap = Math.max(16, Math.floor(mib * 0.75));
  const r = spawnSync('prlimit', [`--data=${mib * 1048576}`, node, `--max-old-space-size=${heap}`, '-r', guard, hello], {
    encoding: 'utf8', timeout: 20_000, env: { PATH: process.env.PATH, HOME: process.env.HOME },
  });
  return r.status === 0 && r.stdout === 'ok\n';
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  for (const node of process.argv.length > 2 ? process.argv.slice(2) : [process.execPath]) {
    const version = spawnSync(node, ['--version'], { encoding: 'utf8' }).stdout.trim();
    let lo = 1;
    let hi = 4096;
    if (!startsUnder(node, hi)) {
      console.log(`${node} (${version}): does not start even under ${hi} MiB`);
      continue;
    }
    while (hi - lo > 1) {
      const mid = Math.floor((lo + hi) / 2);
      if (startsUnder(node, mid)) hi = mid;
      else lo = mid;
    }
    console.log(`${node} (${version}): starts under ${hi} MiB, not under ${lo} MiB`);
  }
}
