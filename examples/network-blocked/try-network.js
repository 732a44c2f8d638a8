// Tries three ways out; under worm-run each is refused with ERR_WORM_BLOCKED (the guard) or
// EPERM (the kernel filter). Exits 0 when all three were refused by worm-run, 1 otherwise
// (including when they merely failed because this machine has no network).
//   worm-run examples/network-blocked/try-network.js
import { execFile } from 'node:child_process';
import net from 'node:net';

const host = process.argv[2] ?? 'example.com';
const attempts = [
  ['net.connect', () => new Promise((resolve, reject) => {
    const s = net.connect(80, host, () => { s.destroy(); resolve('connected'); });
    s.on('error', reject);
  })],
  ['fetch', async () => `HTTP ${(await fetch(`http://${host}/`)).status}`],
  ['curl', () => new Promise((resolve, reject) => {
    execFile('curl', ['-sS', '-m', '5', `http://${host}/`], (err, out) => (err ? reject(err) : resolve(`${out.length} bytes`)));
  })],
];

const byWormRun = (e) => e?.code === 'ERR_WORM_BLOCKED' || e?.code === 'EPERM' || e?.cause?.code === 'ERR_WORM_BLOCKED' || e?.cause?.code === 'EPERM';
let refused = 0;
for (const [name, attempt] of attempts) {
  try {
    const got = await attempt();
    console.log(`${name.padEnd(12)} GOT THROUGH: ${got}`);
  } catch (e) {
    const by = byWormRun(e);
    if (by) refused += 1;
    // fetch fails as Node's does, TypeError 'fetch failed'; its cause says why.
    const why = e?.cause instanceof Error ? e.cause : e;
    console.log(`${name.padEnd(12)} ${by ? 'refused' : 'failed (not by worm-run)'}: ${why.code ?? ''} ${why.message.split('\n')[0]}`);
  }
}
process.exitCode = refused === attempts.length ? 0 : 1;
