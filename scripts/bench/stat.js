// A syscall-heavy Node script: N fs.statSync calls (default 200000) on this file.
// Prints its own loop time as one JSON line, so start-up cost does not blur the per-call cost.
import { statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const calls = Number(process.argv[2] ?? 200000);
const path = fileURLToPath(import.meta.url);
const t0 = process.hrtime.bigint();
for (let i = 0; i < calls; i++) statSync(path);
const ns = Number(process.hrtime.bigint() - t0);
process.stdout.write(`${JSON.stringify({ calls, ns, nsPerCall: ns / calls })}\n`);
