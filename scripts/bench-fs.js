#!/usr/bin/env node
/**
 * What the filesystem confinement costs at start-up (issue 12: under 1 ms), part by part:
 *   - in this process, with performance.now() around each function of dist/fs/plan.js (many
 *     repetitions after a warm-up; median and 90th percentile): homeDirectories, secretsPresent
 *     (the scan for credential stores, their links and bind-mount aliases), planFilesystem;
 *   - the kernel side, timed by scripts/bench/fsrules.c: the Landlock ruleset built from the
 *     plan's rules (create + add_rule per rule, as native/landlock.cc does), and the binds of a
 *     mount namespace (as init makes them), each in a fresh namespace (root only);
 *   - end to end: `worm-run -- /bin/true` with --fs default against --fs off, both namespace
 *     modes, interleaved rounds, medians.
 * For three working directories: a job directory, this checkout (a .git, worm-run's own
 * files), and a home directory. They are made under $TMPDIR: without a mount namespace every
 * entry of the directories above a credential store or a read-only path gets a rule of its own,
 * so a crowded /tmp above the home directory shows in the numbers (a real home in /home or
 * /root splits only those). Usage: node scripts/bench-fs.js [--quick]
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const quick = process.argv.includes('--quick');
const REPS = quick ? 50 : 500;
const KREPS = quick ? 20 : 200;
const E2E = quick ? 5 : 20;
const { homeDirectories, secretsPresent, planFilesystem, defaultFsPolicy } = await import(join(ROOT, 'dist/fs/plan.js'));
const { INSTALL_CODE } = await import(join(ROOT, 'dist/paths.js'));

const work = mkdtempSync(join(tmpdir(), 'wr-bench-fs-'));
const job = join(work, 'job');
const home = join(work, 'home');
mkdirSync(join(job, 'data'), { recursive: true });
for (const d of ['.ssh', '.aws', '.config/gh', 'proj', '.local/bin']) mkdirSync(join(home, d), { recursive: true });
for (const f of ['.ssh/id_ed25519', '.aws/credentials', '.netrc', '.npmrc', '.bashrc', '.profile']) writeFileSync(join(home, f), 'x\n');
const tmpDir = join(work, 'run-tmp');
mkdirSync(tmpDir);
const fsrules = join(work, 'fsrules');
execFileSync('gcc', ['-O2', '-o', fsrules, join(ROOT, 'scripts/bench/fsrules.c')]);

function time(fn, reps = REPS) {
  for (let i = 0; i < Math.min(50, reps); i++) fn();
  const t = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    fn();
    t.push((performance.now() - t0) * 1000);
  }
  t.sort((a, b) => a - b);
  return { median: t[Math.floor(t.length / 2)], p90: t[Math.floor(t.length * 0.9)] };
}
const us = (x) => `${x.median.toFixed(0).padStart(6)} µs (p90 ${x.p90.toFixed(0)})`;

const isRoot = process.getuid() === 0;
const results = {};
for (const [name, cwd, extraHome] of [['job directory', job, null], ['this checkout', ROOT.replace(/\/$/, ''), null], ['home directory', home, home]]) {
  const env0 = process.env.HOME;
  if (extraHome) process.env.HOME = extraHome;
  const policy = defaultFsPolicy();
  const protect = [...INSTALL_CODE, process.execPath];
  const r = { homes: time(() => homeDirectories()) };
  const homes = homeDirectories();
  r.secrets = time(() => secretsPresent([], homes));
  const hidden = secretsPresent([], homes);
  const ctx = (ns) => ({ cwd, tmp: tmpDir, mountNamespace: ns, protect, needed: [], hidden });
  r.planNs = time(() => planFilesystem(policy, ctx(true), homes));
  r.planOff = time(() => planFilesystem(policy, ctx(false), homes));
  const ns = planFilesystem(policy, ctx(true), homes);
  const off = planFilesystem(policy, ctx(false), homes);
  r.rulesNs = ns.landlock.rules.length;
  r.rulesOff = off.landlock.rules.length;
  r.mounts = ns.mounts.length;
  const kernel = (what, list) => {
    const f = join(work, `${what}.txt`);
    writeFileSync(f, list.join('\n') + '\n');
    const out = spawnSync(fsrules, [what, f, String(KREPS)], { encoding: 'utf8' });
    const m = /(\S+) ([\d.]+) ([\d.]+)/.exec(out.stdout);
    return m ? { median: Number(m[2]), p90: Number(m[3]) } : null;
  };
  r.rulesetNs = kernel('ruleset', ns.landlock.rules.map((x) => `${x.access} ${x.path}`));
  r.rulesetOff = kernel('ruleset', off.landlock.rules.map((x) => `${x.access} ${x.path}`));
  r.binds = isRoot ? kernel('mounts', ns.mounts.map((m) => `${m.kind} ${m.target}`)) : null;
  if (extraHome) process.env.HOME = env0;
  results[name] = r;
  console.log(`\n${name} (${cwd}): ${hidden.length} credential paths hidden, ${r.rulesNs} rules + ${r.mounts} binds with a mount namespace, ${r.rulesOff} rules without`);
  console.log(`  homeDirectories             ${us(r.homes)}`);
  console.log(`  secretsPresent              ${us(r.secrets)}`);
  console.log(`  planFilesystem, namespace   ${us(r.planNs)}`);
  console.log(`  planFilesystem, none        ${us(r.planOff)}`);
  if (r.rulesetNs) console.log(`  Landlock ruleset, namespace ${us(r.rulesetNs)}`);
  if (r.rulesetOff) console.log(`  Landlock ruleset, none      ${us(r.rulesetOff)}`);
  if (r.binds) console.log(`  binds in a new mount ns     ${us(r.binds)}`);
  const sum = (...xs) => xs.reduce((a, x) => a + (x ? x.median : 0), 0);
  console.log(`  total, with namespace       ${sum(r.homes, r.secrets, r.planNs, r.rulesetNs, r.binds).toFixed(0).padStart(6)} µs`);
  console.log(`  total, without              ${sum(r.homes, r.secrets, r.planOff, r.rulesetOff).toFixed(0).padStart(6)} µs`);
}

// End to end: the same run with and without filesystem rules, interleaved.
console.log(`\nend to end, worm-run -- /bin/true, ${E2E} interleaved rounds (median ms):`);
const variants = [['--fs', 'default', '--namespaces', 'auto'], ['--fs', 'off', '--namespaces', 'auto'], ['--fs', 'default', '--namespaces', 'off'], ['--fs', 'off', '--namespaces', 'off']];
const times = variants.map(() => []);
for (let round = 0; round < E2E + 2; round++) {
  for (let i = 0; i < variants.length; i++) {
    const k = (i + round) % variants.length;
    const t0 = process.hrtime.bigint();
    const r = spawnSync(process.execPath, [join(ROOT, 'bin/worm-run.js'), ...variants[k], '--', '/bin/true'], { cwd: job, stdio: 'ignore' });
    if (r.status !== 0) throw new Error(`worm-run ${variants[k].join(' ')} failed: ${r.status}`);
    if (round >= 2) times[k].push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
}
const med = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
variants.forEach((v, i) => console.log(`  ${v.join(' ').padEnd(36)} ${med(times[i]).toFixed(1)} ms`));
console.log(`  filesystem rules add, with namespace ${(med(times[0]) - med(times[1])).toFixed(1)} ms, without ${(med(times[2]) - med(times[3])).toFixed(1)} ms`);
rmSync(work, { recursive: true, force: true });
