#!/usr/bin/env node
/**
 * `npm run bench`: what worm-run costs, measured against bare runs and against the floors any
 * launcher with the same protections must pay. Not a test: it never fails on a time. It exits
 * non-zero only when a command under test fails (wrong exit status), naming the command.
 *
 * Method: for each comparison, the variants are run alternately (A B C, B C A, C A B, ...) so
 * drift in machine load hits all of them alike; warm-up rounds are discarded; each process is
 * timed with process.hrtime.bigint() around spawnSync, stdio ignored (the loop fixtures print
 * one JSON line with their own in-loop time, read from a pipe). Everything runs twice: with the
 * environment as it is and with NODE_EXTRA_CA_CERTS removed (it makes every Node start slower).
 *
 * The library rows (issue 15) are measured inside long-lived host processes
 * (scripts/bench/library.js, one JSON line each): run() of /bin/true against
 * child_process.spawn awaited to 'close', interleaved, one at a time (in a small host and in one
 * holding 500 MB, alternately) and 8 in flight; 500 runs with 50 in flight, each `sleep 5` under
 * its own 0.2 s timeout and its own audit log (timeout overshoot, trails complete, the host's
 * RSS and descriptors before and after); the library's memory per run against the CLI
 * supervisor's resident memory. Ratios are the figures to read: absolute times drift with load.
 *
 * Usage: node scripts/bench.js [--quick] [--rounds N] [--json PATH] [--env as-is|clean|both]
 *                              [--worm-run PATH/TO/bin/worm-run.js]
 * Node built-ins only; C fixtures are compiled with gcc into a temporary directory.
 */
import { spawn, spawnSync } from 'node:child_process';
import { accessSync, constants, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, release, tmpdir } from 'node:os';
import { delimiter, dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '..');
const FIX = join(HERE, 'bench');
const NODE = process.execPath;
const GUARD = join(ROOT, 'dist/guard/preload.cjs');

// ---------------------------------------------------------------------------------- options

const USAGE = `usage: node scripts/bench.js [options]
  --quick              short smoke run (few rounds, small loops)
  --rounds N           rounds per process-start comparison (default 30; heavy ones get N/3, at least 3)
  --warmup N           warm-up rounds discarded before each comparison (default 3; 1 for heavy ones)
  --json PATH          where to write the results (default bench-results.json in the cwd)
  --env WHICH          as-is, clean or both (default both)
  --worm-run PATH      the CLI to measure (default ${relative(process.cwd(), join(ROOT, 'bin/worm-run.js')) || '.'})
  -h, --help           this text`;

function parseArgs(argv) {
  const o = { quick: false, rounds: undefined, warmup: undefined, json: 'bench-results.json', env: 'both', wormRun: join(ROOT, 'bin/worm-run.js') };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const [flag, inline] = a.startsWith('--') && a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    const value = () => {
      const v = inline ?? argv[++i];
      if (v === undefined) usageError(`${flag} needs a value`);
      return v;
    };
    const count = (min) => {
      const v = value();
      if (!/^\d+$/.test(v) || Number(v) < min) usageError(`${flag} takes an integer >= ${min}, not ${v}`);
      return Number(v);
    };
    switch (flag) {
      case '--quick': o.quick = true; break;
      case '--rounds': o.rounds = count(1); break;
      case '--warmup': o.warmup = count(0); break;
      case '--json': o.json = value(); break;
      case '--env': o.env = value(); if (!['as-is', 'clean', 'both'].includes(o.env)) usageError(`--env takes as-is, clean or both, not ${o.env}`); break;
      case '--worm-run': o.wormRun = resolve(value()); break;
      case '-h': case '--help': process.stdout.write(`${USAGE}\n`); process.exit(0); break;
      default: usageError(`unknown option ${a}`);
    }
  }
  return o;
}

function usageError(msg) {
  process.stderr.write(`bench: ${msg}\n${USAGE}\n`);
  process.exit(2);
}

const opts = parseArgs(process.argv.slice(2));
const START_ROUNDS = opts.rounds ?? (opts.quick ? 5 : 30);
const HEAVY_ROUNDS = opts.rounds !== undefined ? Math.max(3, Math.round(opts.rounds / 3)) : (opts.quick ? 3 : 10);
const START_WARMUP = opts.warmup ?? (opts.quick ? 1 : 3);
const HEAVY_WARMUP = opts.warmup ?? 1;
const STAT_CALLS = opts.quick ? 20000 : 200000;
const GETPPID_CALLS = opts.quick ? 500000 : 5000000;
const SENDRECV_ROUNDS = opts.quick ? 50000 : 500000;
const REFUSE_CALLS = opts.quick ? 10000 : 100000;
// The library rows (issue 15): run() next to child_process.spawn inside one host process.
const LIB = opts.quick
  ? { hostRounds: 1, pairs: 30, pairWarmup: 5, heapMb: 500, batches: 2, perBatch: 24, inflight: 8, stressRuns: 100, stressInflight: 50, stressControl: 4, memRuns: 50, cliRounds: 1 }
  : { hostRounds: 3, pairs: 150, pairWarmup: 10, heapMb: 500, batches: 6, perBatch: 64, inflight: 8, stressRuns: 500, stressInflight: 50, stressControl: 10, memRuns: 50, cliRounds: 3 };
const STRESS_TIMEOUT_MS = 200;
const STRESS_SLEEP_S = 5;
const MEM_SLEEP_S = 2;
const TARGET_RATIO = 1.15;

// ---------------------------------------------------------------------------------- helpers

const progress = (s) => process.stderr.write(s);

function which(cmd) {
  for (const dir of (process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin').split(delimiter)) {
    if (!dir) continue;
    const p = join(dir, cmd);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch { /* keep looking */ }
  }
  return undefined;
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

const show = (p) => {
  if (p === NODE) return 'node';
  if (tmp && p.startsWith(`${tmp}/`)) return `$TMP/${p.slice(tmp.length + 1)}`;
  const r = relative(process.cwd(), p);
  return r && !r.startsWith('..') ? r : p;
};
const quote = (s) => (/^[\w@%+=:,./$-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);
const commandLine = (file, args) => [file, ...args].map((a) => quote(show(a))).join(' ');

function cpuModel() {
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (m) return m[1].trim();
  } catch { /* fall through */ }
  return cpus()[0]?.model ?? 'unknown CPU';
}

// ---------------------------------------------------------------------------------- setup

let tmp;
const machine = {
  cpu: cpuModel(),
  cores: cpus().length,
  kernel: release(),
  node: process.version,
  date: new Date().toISOString(),
  loadavg: loadavg().map((x) => Math.round(x * 100) / 100),
};
const machineLine = `Machine: ${machine.cpu}, ${machine.cores} cores, Linux ${machine.kernel}, Node ${machine.node}, ${machine.date} (load ${machine.loadavg.join(' ')})`;

const failures = [];
const notes = [];

function build() {
  const gcc = which('gcc');
  if (!gcc) {
    notes.push('gcc not found: C fixtures (floor launcher, getppid, send/recv, refused socket loops) skipped');
    return {};
  }
  const out = {};
  for (const name of ['floor', 'getppid', 'sendrecv', 'refuse', 'protected-floor']) {
    const bin = join(tmp, name);
    const r = spawnSync(gcc, ['-O2', '-Wall', '-o', bin, join(FIX, `${name}.c`)], { encoding: 'utf8' });
    if (r.status !== 0) {
      notes.push(`gcc failed on scripts/bench/${name}.c: ${(r.stderr || r.error?.message || '').trim().split('\n')[0]}`);
      continue;
    }
    out[name] = bin;
  }
  return out;
}

function wormRunVersion() {
  const r = spawnSync(NODE, [opts.wormRun, '--version'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

function supportsInProcess() {
  const r = spawnSync(NODE, [opts.wormRun, '--help'], { encoding: 'utf8' });
  return r.status === 0 && /(^|\s)--in-process\b/.test(r.stdout);
}

// ---------------------------------------------------------------------------------- running

/**
 * One timed run. stdout is ignored, except for `loop` variants, whose JSON line is read from a
 * pipe; stderr is piped and kept only to show why a run failed. Returns
 * { ms, loop?, status, signal, error, stderr }.
 */
function runOnce(v, env) {
  const stdio = ['ignore', v.loop ? 'pipe' : 'ignore', 'pipe'];
  const t0 = process.hrtime.bigint();
  const r = spawnSync(v.file, v.args, { env, stdio, encoding: 'utf8', maxBuffer: 1 << 22 });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  let loop;
  if (v.loop && r.status === 0) {
    try {
      loop = JSON.parse(r.stdout.trim().split('\n').pop());
    } catch {
      loop = undefined;
    }
  }
  return { ms, loop, status: r.status, signal: r.signal, error: r.error, stderr: r.stderr ?? '', stdout: r.stdout ?? '' };
}

/** Why a run failed: its status and the tail of its stderr (and stdout, for a loop without result). */
function explain(res) {
  const how = res.error ? `could not start: ${res.error.message}`
    : res.signal ? `killed by ${res.signal}`
    : res.status === 0 ? 'exit status 0 but no JSON result line on stdout'
    : `exit status ${res.status}`;
  const tail = (s, n) => s.trim().split('\n').slice(-n).join('\n');
  return { how, stderr: tail(res.stderr, 12), stdout: tail(res.stdout, 3) };
}

function ok(res, v) {
  return !res.error && res.status === 0 && res.signal === null && (!v.loop || (res.loop && typeof res.loop.nsPerCall === 'number'));
}

/** Runs the variants of one comparison interleaved; failing variants are dropped and reported. */
function measure(group, envName, env) {
  progress(`  ${group.title}: `);
  const live = [];
  const results = new Map(group.variants.map((v) => [v.id, { ...v, samples: [], loopSamples: [], failed: undefined }]));
  for (const v of group.variants) {
    const res = runOnce(v, env); // sanity run, also a warm-up
    if (ok(res, v)) {
      live.push(v);
      continue;
    }
    const why = explain(res);
    const failure = { environment: envName, comparison: group.title, variant: v.label, command: commandLine(v.file, v.args), ...why };
    failures.push(failure);
    results.get(v.id).failed = why.how;
    progress(`[${v.label} FAILED] `);
  }
  const total = group.warmup + group.rounds;
  for (let round = 0; round < total && live.length > 0; round++) {
    const k = live.length;
    const order = live.map((_, i) => live[(i + round) % k]);
    for (const v of order) {
      if (!live.includes(v)) continue;
      const res = runOnce(v, env);
      if (!ok(res, v)) {
        const why = explain(res);
        failures.push({ environment: envName, comparison: group.title, variant: v.label, command: commandLine(v.file, v.args), round, ...why });
        results.get(v.id).failed = why.how;
        live.splice(live.indexOf(v), 1);
        progress(`[${v.label} FAILED] `);
        continue;
      }
      if (round >= group.warmup) {
        results.get(v.id).samples.push(res.ms);
        if (res.loop) results.get(v.id).loopSamples.push(res.loop.nsPerCall);
      }
    }
    progress(round < group.warmup ? 'w' : '.');
  }
  progress('\n');
  return summarize(group, [...results.values()]);
}

function summarize(group, variants) {
  const stat = (v) => (v.samples.length ? { median: median(v.samples), min: Math.min(...v.samples), max: Math.max(...v.samples) } : undefined);
  const base = variants.find((v) => v.id === group.baseline);
  const baseStat = base && stat(base);
  const baseLoop = base && base.loopSamples.length ? median(base.loopSamples) : undefined;
  const baseLoopMin = base && base.loopSamples.length ? Math.min(...base.loopSamples) : undefined;
  return {
    id: group.id,
    title: group.title,
    kind: group.loop ? 'loop' : 'start',
    baseline: group.baseline,
    baselineLabel: group.baselineLabel,
    rounds: group.rounds,
    warmup: group.warmup,
    calls: group.calls,
    variants: variants.map((v) => {
      const s = stat(v);
      const loopMedian = v.loopSamples.length ? median(v.loopSamples) : undefined;
      return {
        id: v.id,
        label: v.label,
        command: commandLine(v.file, v.args),
        failed: v.failed,
        samplesMs: v.samples.map((x) => Math.round(x * 1000) / 1000),
        medianMs: s?.median,
        minMs: s?.min,
        maxMs: s?.max,
        ratioToBaseline: s && baseStat ? s.median / baseStat.median : undefined,
        addedMs: s && baseStat ? s.median - baseStat.median : undefined,
        loopNsPerCall: v.loopSamples.length ? v.loopSamples.map((x) => Math.round(x * 1000) / 1000) : undefined,
        loopMedianNsPerCall: loopMedian,
        loopMinNsPerCall: v.loopSamples.length ? Math.min(...v.loopSamples) : undefined,
        loopMaxNsPerCall: v.loopSamples.length ? Math.max(...v.loopSamples) : undefined,
        addedNsPerCall: loopMedian !== undefined && baseLoop !== undefined ? loopMedian - baseLoop : undefined,
        // Minimum against minimum: the least-disturbed runs, a steadier estimate for CPU-bound loops.
        addedNsPerCallMin: v.loopSamples.length && baseLoopMin !== undefined ? Math.min(...v.loopSamples) - baseLoopMin : undefined,
      };
    }),
  };
}

// ---------------------------------------------------------------------------------- the plan

function plan(bins, inProcess, tools) {
  const W = (...args) => ({ file: NODE, args: [opts.wormRun, ...args] });
  const hello = join(FIX, 'hello.js');
  const stat = join(FIX, 'stat.js');
  const spawnJs = join(FIX, 'spawn.js');
  const floor = bins.floor;
  const wrappers = (target, nodeTarget) => {
    const argv = nodeTarget ? [NODE, ...target] : target;
    const out = [
      { id: 'worm-run', label: 'worm-run (supervised)', ...W(...target) },
    ];
    if (inProcess && nodeTarget) out.push({ id: 'worm-run-in-process', label: 'worm-run --in-process', ...W('--in-process', ...target) });
    out.push({ id: 'node-floor', label: 'Node launcher floor (spawn.js)', file: NODE, args: [spawnJs, ...argv] });
    if (floor) out.push({ id: 'c-floor', label: 'C launcher floor (seccomp+exec)', file: floor, args: argv });
    if (tools.bwrap) out.push({ id: 'bwrap', label: 'bwrap --unshare-net', file: tools.bwrap, args: ['--dev-bind', '/', '/', '--unshare-net', '--', ...argv] });
    if (tools.firejail) out.push({ id: 'firejail', label: 'firejail --net=none', file: tools.firejail, args: ['--quiet', '--noprofile', '--net=none', '--', ...argv] });
    return out;
  };
  const start = { rounds: START_ROUNDS, warmup: START_WARMUP };
  const heavy = { rounds: HEAVY_ROUNDS, warmup: HEAVY_WARMUP };
  const groups = [
    {
      id: 'hello', title: 'node hello.js', baseline: 'bare', ...start,
      variants: [{ id: 'bare', label: 'bare node', file: NODE, args: [hello] }, ...wrappers([hello], true),
        // What the guard alone costs a Node process: the in-process mode's floor (it must load
        // the guard before the script), and part of the supervised run (the guard is in the child).
        { id: 'guard-only', label: 'node -r guard (the guard alone)', file: NODE, args: ['-r', GUARD, hello] }],
    },
    {
      id: 'true', title: '/bin/true', baseline: 'bare', ...start,
      variants: [{ id: 'bare', label: 'bare', file: '/bin/true', args: [] }, ...wrappers(['/bin/true'], false),
        // The filesystem rules (Landlock ruleset, hidden credential stores, the private TMPDIR):
        // their cost per run is this row's distance from the supervised one.
        { id: 'worm-run-fs-off', label: 'worm-run --fs off (no filesystem rules)', ...W('--fs', 'off', '/bin/true') },
        // The run's own namespaces (a PID namespace with its /proc, a mount namespace for the
        // hidden credential stores): their cost is this row's distance from the supervised one.
        { id: 'worm-run-ns-off', label: 'worm-run --namespaces off (no PID or mount namespace)', ...W('--namespaces', 'off', '/bin/true') },
        { id: 'node-e0', label: 'node -e 0 (one Node start, for scale)', file: NODE, args: ['-e', '0'] }],
    },
    {
      id: 'stat', title: `${STAT_CALLS / 1000}k fs.statSync (Node)`, baseline: 'bare', loop: true, calls: STAT_CALLS, ...heavy,
      variants: [
        { id: 'bare', label: 'bare node', file: NODE, args: [stat, String(STAT_CALLS)], loop: true },
        { id: 'worm-run', label: 'worm-run (supervised)', ...W(stat, String(STAT_CALLS)), loop: true },
        ...(inProcess ? [{ id: 'worm-run-in-process', label: 'worm-run --in-process', ...W('--in-process', stat, String(STAT_CALLS)), loop: true }] : []),
      ],
    },
  ];
  if (bins.getppid) {
    const a = [String(GETPPID_CALLS)];
    groups.push({
      id: 'getppid', title: `${GETPPID_CALLS / 1e6}M getppid (C, filter decides by number: cached)`, baseline: 'bare', loop: true, calls: GETPPID_CALLS, ...heavy,
      variants: [
        { id: 'bare', label: 'bare', file: bins.getppid, args: a, loop: true },
        { id: 'worm-run', label: 'worm-run', ...W(bins.getppid, ...a), loop: true },
        ...(floor ? [{ id: 'c-floor', label: 'C launcher floor (number-only filter)', file: floor, args: [bins.getppid, ...a], loop: true }] : []),
      ],
    });
  }
  if (bins.sendrecv) {
    const a = [String(SENDRECV_ROUNDS)];
    groups.push({
      id: 'sendrecv', title: `${SENDRECV_ROUNDS / 1000}k send+recv on a socketpair (C, filter reads arguments)`, baseline: 'bare', loop: true, calls: 2 * SENDRECV_ROUNDS, ...heavy,
      variants: [
        { id: 'bare', label: 'bare', file: bins.sendrecv, args: a, loop: true },
        { id: 'worm-run', label: 'worm-run', ...W(bins.sendrecv, ...a), loop: true },
        ...(floor ? [{ id: 'c-floor', label: 'C launcher floor (number-only filter)', file: floor, args: [bins.sendrecv, ...a], loop: true }] : []),
      ],
    });
  }
  if (bins.refuse) {
    const a = [String(REFUSE_CALLS)];
    groups.push({
      id: 'refuse', title: `${REFUSE_CALLS / 1000}k refused socket(AF_INET) (C; under worm-run each refusal is a user notification)`,
      baseline: floor ? 'c-floor' : 'worm-run', baselineLabel: floor ? 'C floor' : 'worm-run', loop: true, calls: REFUSE_CALLS, ...heavy,
      variants: [
        ...(floor ? [{ id: 'c-floor', label: 'C launcher floor (the kernel answers EPERM)', file: floor, args: [bins.refuse, ...a, 'refused'], loop: true }] : []),
        { id: 'worm-run', label: 'worm-run (supervisor told of each, answers EPERM)', ...W(bins.refuse, ...a, 'refused'), loop: true },
        { id: 'worm-run-ns-off', label: 'worm-run --namespaces off', ...W('--namespaces', 'off', bins.refuse, ...a, 'refused'), loop: true },
        { id: 'bare', label: 'bare (the socket is made and closed, for scale)', file: bins.refuse, args: [...a, 'allowed'], loop: true },
      ],
    });
  }
  return groups;
}

// ---------------------------------------------------------------------------------- the library (issue 15)

const LIBJS = join(FIX, 'library.js');
const libPath = () => resolve(dirname(opts.wormRun), '../dist/index.js');

/** One library.js process: its JSON line, or a failure recorded (and undefined). */
function libFixture(envName, env, comparison, variant, args, nodeArgs = []) {
  const v = { file: NODE, args: [...nodeArgs, LIBJS, ...args, '--lib', libPath()] };
  const t0 = process.hrtime.bigint();
  const r = spawnSync(v.file, v.args, { env, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8', maxBuffer: 1 << 24 });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  let json;
  if (r.status === 0) {
    try {
      json = JSON.parse(r.stdout.trim().split('\n').pop());
    } catch { /* reported below */ }
  }
  if (!json) {
    const res = { status: r.status, signal: r.signal, error: r.error, stderr: r.stderr ?? '', stdout: r.stdout ?? '' };
    failures.push({ environment: envName, comparison, variant, command: commandLine(v.file, v.args), ...explain(res) });
    progress(`[${variant} FAILED] `);
    return undefined;
  }
  return { ...json, processMs: Math.round(ms) };
}

const kb = (file, field) => {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(file, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
};
const childPids = (pid) => {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
};
const memOf = (pid) => ({ vmRssKb: kb(`/proc/${pid}/status`, 'VmRSS'), rssAnonKb: kb(`/proc/${pid}/status`, 'RssAnon'), pssKb: kb(`/proc/${pid}/smaps_rollup`, 'Pss') });

/**
 * The CLI supervisor's resident memory: worm-run started on a target that sleeps, its
 * /proc/PID/status (and the run's init, its child) read about a second in. The variants run
 * at the same time, in their own job directory; each must exit 0.
 */
async function cliMemory(envName, env, inProcess) {
  const job = join(tmp, 'job');
  mkdirSync(job, { recursive: true });
  const sleepJs = join(FIX, 'sleep.js');
  const variants = [
    { id: 'binary', label: `worm-run -- sleep ${MEM_SLEEP_S}`, args: ['--', 'sleep', String(MEM_SLEEP_S)] },
    { id: 'node', label: `worm-run sleep.js ${MEM_SLEEP_S} (a Node target)`, args: [sleepJs, String(MEM_SLEEP_S)] },
    ...(inProcess ? [{ id: 'in-process', label: `worm-run --in-process sleep.js ${MEM_SLEEP_S} (the target itself)`, args: ['--in-process', sleepJs, String(MEM_SLEEP_S)] }] : []),
  ];
  const samples = new Map(variants.map((v) => [v.id, []]));
  for (let round = 0; round < LIB.cliRounds; round++) {
    const runs = variants.map((v) => {
      const args = [opts.wormRun, ...v.args];
      const child = spawn(NODE, args, { env, cwd: job, stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (d) => { stderr += d; });
      const done = new Promise((res) => {
        child.on('error', (error) => res({ status: null, signal: null, error }));
        child.on('close', (status, signal) => res({ status, signal, error: undefined }));
      });
      return { v, child, args, done, stderr: () => stderr };
    });
    await new Promise((r) => setTimeout(r, 1000));
    for (const r of runs) {
      const sup = memOf(r.child.pid);
      const kids = childPids(r.child.pid);
      const init = kids.length ? memOf(kids[0]) : {};
      r.sample = { supervisor: sup, init: kids.length ? init : null };
    }
    for (const r of runs) {
      const end = await r.done;
      if (end.error || end.status !== 0) {
        failures.push({ environment: envName, comparison: 'CLI resident memory', variant: r.v.label, command: commandLine(NODE, r.args), ...explain({ ...end, stderr: r.stderr(), stdout: '' }) });
        progress(`[${r.v.label} FAILED] `);
        continue;
      }
      if (r.sample.supervisor.vmRssKb !== undefined) samples.get(r.v.id).push(r.sample);
    }
    progress('.');
  }
  const mbOf = (xs) => (xs.length ? Math.round(median(xs) / 102.4) / 10 : undefined);
  return variants.map((v) => {
    const xs = samples.get(v.id);
    const inits = xs.filter((x) => x.init && x.init.vmRssKb !== undefined);
    return {
      id: v.id, label: v.label, command: commandLine(NODE, [opts.wormRun, ...v.args]), samples: xs,
      vmRssMb: mbOf(xs.map((x) => x.supervisor.vmRssKb)), rssAnonMb: mbOf(xs.map((x) => x.supervisor.rssAnonKb ?? 0)), pssMb: mbOf(xs.map((x) => x.supervisor.pssKb ?? 0)),
      initVmRssMb: mbOf(inits.map((x) => x.init.vmRssKb)), initPssMb: mbOf(inits.map((x) => x.init.pssKb ?? 0)),
    };
  });
}

/** The library rows of one environment. */
async function measureLibrary(envName, env, inProcess) {
  const out = {};
  const L = LIB;
  // 1 and 3: one at a time, in a small host and in a host holding L.heapMb MB, alternately.
  progress(`  library: run() vs spawn, one at a time, host small / ${L.heapMb} MB: `);
  const hosts = [0, L.heapMb];
  const serial = new Map(hosts.map((h) => [h, []]));
  for (let round = 0; round < L.hostRounds; round++) {
    for (const h of round % 2 ? [...hosts].reverse() : hosts) {
      const label = h ? `host with ${h} MB resident` : 'small host';
      const j = libFixture(envName, env, 'library: run() vs spawn, one at a time', label, ['serial', '--pairs', String(L.pairs), '--warmup', String(L.pairWarmup), '--heap-mb', String(h)]);
      if (j) serial.get(h).push(j);
      progress('.');
    }
  }
  progress('\n');
  out.serial = hosts.map((h) => {
    const procs = serial.get(h);
    if (!procs.length) return { heapMb: h, failed: true };
    const runs = procs.flatMap((p) => p.samples.runMs);
    const spawns = procs.flatMap((p) => p.samples.spawnMs);
    return {
      heapMb: h, processes: procs.length, pairsPerProcess: L.pairs,
      hostRssMb: median(procs.map((p) => p.rssMbAtEnd)),
      runMedianMs: median(runs), spawnMedianMs: median(spawns),
      runMeanMs: runs.reduce((a, b) => a + b, 0) / runs.length, spawnMeanMs: spawns.reduce((a, b) => a + b, 0) / spawns.length,
      ratio: median(runs) / median(spawns),
      ratioPerProcess: procs.map((p) => p.ratioMedian),
      runSyncMedianMs: median(procs.map((p) => p.runSync.medianMs)), spawnSyncMedianMs: median(procs.map((p) => p.spawnSync.medianMs)),
      fixtures: procs.map(({ samples, ...rest }) => ({ ...rest, samples })),
    };
  });
  // 2: 8 in flight.
  progress(`  library: run() vs spawn, ${L.inflight} in flight: `);
  out.pool = libFixture(envName, env, `library: run() vs spawn, ${L.inflight} in flight`, 'pool', ['pool', '--batches', String(L.batches), '--per-batch', String(L.perBatch), '--inflight', String(L.inflight)]);
  progress('.\n');
  // 4: many runs with their own timeouts and trails.
  progress(`  library: ${L.stressRuns} runs twice over, ${L.stressInflight} in flight, timeout ${STRESS_TIMEOUT_MS} ms each, a trail each: `);
  out.stress = libFixture(envName, env, `library: ${L.stressRuns} timed-out runs`, 'stress',
    ['stress', '--runs', String(L.stressRuns), '--inflight', String(L.stressInflight), '--timeout-ms', String(STRESS_TIMEOUT_MS), '--sleep', String(STRESS_SLEEP_S), '--control', String(LIB.stressControl), '--rounds', '2'], ['--expose-gc']);
  progress('.\n');
  // 5: resident memory, the library's growth per run and the CLI supervisor's.
  progress(`  memory: ${L.memRuns} runs at once in one host; the CLI supervisor: `);
  out.memory = libFixture(envName, env, 'library: memory per run', 'memory', ['memory', '--runs', String(L.memRuns), '--sleep', String(MEM_SLEEP_S)], ['--expose-gc']);
  progress('.');
  out.cli = await cliMemory(envName, env, inProcess);
  progress('\n');
  return out;
}

// ---------------------------------------------------------------------------------- report

const f1 = (x) => (x === undefined ? '—' : x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));
const sign = (x, fmt) => (x === undefined ? '—' : `${x >= 0 ? '+' : '−'}${fmt(Math.abs(x))}`);
const ratio = (x) => (x === undefined ? '—' : `${x.toFixed(2)}x`);

function table(g) {
  const loop = g.kind === 'loop';
  const head = ['variant', 'median ms', 'min–max ms', `vs ${g.baselineLabel ?? 'bare'}`, 'added ms'];
  if (loop) head.push('in-loop ns/call (min–max)', 'added ns/call');
  const lines = [`| ${head.join(' | ')} |`, `|${head.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`];
  for (const v of g.variants) {
    if (v.failed) {
      lines.push(`| ${v.label} | FAILED (${v.failed}) | | | |${loop ? ' | |' : ''}`);
      continue;
    }
    const row = [v.label, f1(v.medianMs), `${f1(v.minMs)}–${f1(v.maxMs)}`, v.id === g.baseline ? '1.00x' : ratio(v.ratioToBaseline), v.id === g.baseline ? '' : sign(v.addedMs, f1)];
    if (loop) {
      row.push(`${f1(v.loopMedianNsPerCall)} (${f1(v.loopMinNsPerCall)}–${f1(v.loopMaxNsPerCall)})`, v.id === g.baseline ? '' : sign(v.addedNsPerCall, f1));
    }
    lines.push(`| ${row.join(' | ')} |`);
  }
  return lines.join('\n');
}

const us = (ns) => (ns === undefined ? '—' : ns >= 1000 ? `${(ns / 1000).toFixed(2)} µs` : `${ns.toFixed(0)} ns`);
const wrTrue = (env) => env.comparisons.find((c) => c.id === 'true')?.variants.find((x) => x.id === 'worm-run' && !x.failed && x.medianMs !== undefined);

function headline(env) {
  const find = (g, v) => env.comparisons.find((c) => c.id === g)?.variants.find((x) => x.id === v && !x.failed && x.medianMs !== undefined);
  const out = [];
  const wr = find('hello', 'worm-run');
  const nf = find('hello', 'node-floor');
  const cf = find('hello', 'c-floor');
  const ip = find('hello', 'worm-run-in-process');
  if (wr && nf) out.push(`worm-run hello.js (supervised) / Node launcher floor: ${ratio(wr.medianMs / nf.medianMs)} (issue target: within 5%, i.e. <= 1.05x)`);
  if (wr) out.push(`worm-run hello.js (supervised) / bare node: ${ratio(wr.ratioToBaseline)}${nf ? `; Node floor / bare: ${ratio(nf.ratioToBaseline)}` : ''}${cf ? `; C floor / bare: ${ratio(cf.ratioToBaseline)}` : ''}`);
  const go = find('hello', 'guard-only');
  if (ip) out.push(`worm-run --in-process hello.js / bare node: ${ratio(ip.ratioToBaseline)} (issue target: <= 1.15x)${go ? `; the guard alone / bare node: ${ratio(go.ratioToBaseline)}; in-process / the guard alone: ${ratio(ip.medianMs / go.medianMs)}` : ''}`);
  const t = ['worm-run', 'node-floor', 'c-floor', 'node-e0'].map((id) => [id, find('true', id)]).filter(([, v]) => v);
  if (t.length) out.push(`/bin/true added ms: ${t.map(([id, v]) => `${id} ${sign(v.addedMs, f1)}`).join(', ')}`);
  const fsOff = find('true', 'worm-run-fs-off');
  if (wrTrue(env) && fsOff) out.push(`filesystem rules per run (worm-run /bin/true, default against --fs off): ${sign(wrTrue(env).medianMs - fsOff.medianMs, f1)} ms (${ratio(wrTrue(env).medianMs / fsOff.medianMs)})`);
  const nsOff = find('true', 'worm-run-ns-off');
  if (wrTrue(env) && nsOff) out.push(`the run's namespaces per run (worm-run /bin/true, default against --namespaces off): ${sign(wrTrue(env).medianMs - nsOff.medianMs, f1)} ms (${ratio(wrTrue(env).medianMs / nsOff.medianMs)})`);
  const rk = find('refuse', 'c-floor');
  const rw = find('refuse', 'worm-run');
  const rn = find('refuse', 'worm-run-ns-off');
  if (rw && rw.loopMedianNsPerCall !== undefined) {
    out.push(`per refused socket(): worm-run ${us(rw.loopMedianNsPerCall)}${rn ? `, --namespaces off ${us(rn.loopMedianNsPerCall)}` : ''}${rk ? `; the kernel alone (C floor) ${us(rk.loopMedianNsPerCall)}, so a recorded refusal adds ${us(rw.loopMedianNsPerCall - rk.loopMedianNsPerCall)}` : ''}`);
  }
  for (const g of ['getppid', 'sendrecv', 'stat']) {
    const rows = ['worm-run', 'worm-run-in-process', 'c-floor'].map((id) => [id, find(g, id)]).filter(([, v]) => v && v.addedNsPerCall !== undefined);
    if (rows.length) out.push(`${g} added ns/call, median vs median (min vs min): ${rows.map(([id, v]) => `${id} ${sign(v.addedNsPerCall, f1)} (${sign(v.addedNsPerCallMin, f1)})`).join(', ')}`);
  }
  return out;
}

const mbs = (x) => (x === undefined || x === null ? '—' : `${x.toFixed(x >= 100 ? 0 : 1)}`);
const verdict = (r) => (r === undefined ? '' : r <= TARGET_RATIO ? 'met' : 'not met');

/** The library rows as tables (markdown lines). */
// ---------------------------------------------------------------------------------- kernel floor

/** The variants of scripts/bench/protected-floor.c the report shows (namespaced ones need root). */
const FLOOR_VARIANTS = ['plain', 'seccomp+notify', '+landlock', '+init', '+init-tvfork', '+init-vm', 'single-clone-vfork'];

/**
 * The kernel's own floor for a protected run (protected-floor.c: no Node, no JavaScript),
 * /bin/true, against libuv's fork + exec + wait, in a launcher of 0 MB and of a Node host's
 * anonymous memory (16 MB): what a run() ratio to spawn can never go under.
 */
function kernelFloor(bins) {
  if (!bins['protected-floor']) return null;
  const root = process.geteuid?.() === 0;
  const only = root ? FLOOR_VARIANTS : FLOOR_VARIANTS.filter((v) => !/init(?!-no-ns)|single/.test(v));
  const rounds = opts.quick ? 40 : 200;
  const out = [];
  const job = mkdtempSync(join(tmp, 'floor-'));
  for (const hostMb of [0, 16]) {
    progress(`  kernel floor, launcher of ${hostMb} MB: `);
    const r = spawnSync(bins['protected-floor'], ['--rounds', String(rounds), '--warmup', '20', '--host-mb', String(hostMb), '--only', only.join(',')], { cwd: job, encoding: 'utf8', timeout: 600000 });
    progress('.\n');
    if (r.status !== 0) {
      notes.push(`protected-floor (host ${hostMb} MB) failed: ${(r.stderr || r.error?.message || '').trim().split('\n')[0]}`);
      continue;
    }
    const rows = [];
    for (const line of r.stdout.split('\n')) {
      const m = /^(\S+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+) \|/.exec(line);
      if (m && only.includes(m[1])) rows.push({ variant: m[1], medianMs: Number(m[2]), p90Ms: Number(m[3]), ratioToPlain: Number(m[4]) });
    }
    out.push({ hostMb, rounds, rows });
  }
  return out;
}

const FLOOR_LABELS = {
  plain: 'fork + exec + wait (libuv\'s spawn)',
  'seccomp+notify': '+ the filter, its listener to the launcher',
  '+landlock': '+ Landlock (a private tmp dir, the ruleset): the target\'s hardening, no containment',
  '+init': '+ init in PID and mount namespaces, /proc, hiding mounts (worm-run before: two copies of the host)',
  '+init-tvfork': 'the same, the target cloned CLONE_VM|CLONE_VFORK from init (worm-run now: one copy)',
  '+init-vm': 'the same, init sharing the host\'s memory (not taken: see the README)',
  'single-clone-vfork': 'the target as pid 1, one CLONE_VM|CLONE_VFORK clone (no init)',
};

function kernelFloorReport(floor) {
  if (!floor?.length) return [];
  const md = ['', '### The kernel\'s floor for a protected run (scripts/bench/protected-floor.c: C, no Node), /bin/true', ''];
  md.push(`| shape | ${floor.map((f) => `launcher ${f.hostMb} MB: median ms, x plain`).join(' | ')} |`, `|---|${floor.map(() => '---:').join('|')}|`);
  for (const v of FLOOR_VARIANTS) {
    const cells = floor.map((f) => f.rows.find((r) => r.variant === v)).map((r) => (r ? `${r.medianMs.toFixed(3)}, ${r.ratioToPlain.toFixed(2)}x` : '—'));
    if (cells.every((c) => c === '—')) continue;
    md.push(`| ${FLOOR_LABELS[v] ?? v} | ${cells.join(' | ')} |`);
  }
  return md;
}

function libraryReport(lib) {
  const md = [];
  const rows = [];
  for (const s of lib.serial) {
    const what = s.heapMb ? `one at a time, host holding ${s.heapMb} MB (RSS ${mbs(s.hostRssMb)} MB)` : 'one at a time, small host';
    if (s.failed) {
      rows.push(`| ${what} | FAILED | | | | |`);
      continue;
    }
    const range = s.ratioPerProcess.length > 1 ? ` (${ratio(Math.min(...s.ratioPerProcess))}–${ratio(Math.max(...s.ratioPerProcess))})` : '';
    rows.push(`| ${what} | ${f1(s.runMedianMs)} | ${f1(s.spawnMedianMs)} | ${ratio(s.ratio)}${range} | ${verdict(s.ratio)} | ${f1(s.runSyncMedianMs)} / ${f1(s.spawnSyncMedianMs)} |`);
  }
  const p = lib.pool;
  if (p) rows.push(`| ${p.inflight} in flight (wall / run, ${p.batches} batches of ${p.perBatch}) | ${f1(p.run.medianMs)} | ${f1(p.spawn.medianMs)} | ${ratio(p.ratioMedian)} | ${verdict(p.ratioMedian)} | |`);
  else rows.push(`| ${LIB.inflight} in flight | FAILED | | | | |`);
  md.push('', '### run() against child_process.spawn, /bin/true, in one long-lived host (library)', '',
    `Per run, medians; one-at-a-time pairs interleaved (run, spawn / spawn, run), ${LIB.pairs} pairs per host process after ${LIB.pairWarmup} discarded, ${LIB.hostRounds} host process(es) per row, small and big hosts alternately. Ratio in brackets: lowest–highest of the host processes. Issue target: <= ${TARGET_RATIO.toFixed(2)}x.`, '',
    '| comparison | run() ms | spawn ms | run()/spawn | target | event loop held per call, run() / spawn ms |', '|---|---:|---:|---:|---|---:|', ...rows);

  const st = lib.stress;
  md.push('', `### ${LIB.stressRuns} runs, ${LIB.stressInflight} in flight: \`sleep ${STRESS_SLEEP_S}\` each with its own timeout ${STRESS_TIMEOUT_MS} ms and its own audit log`, '');
  if (!st) {
    md.push('FAILED (see below)');
  } else {
    const o = (x) => `${f1(x.median)} / ${f1(x.p90)} / ${f1(x.max)} ms; ${x.over50} of ${st.runs} over +50 ms`;
    const h = st.host;
    const kinds = Object.entries(h.fdDiff).map(([k, d]) => `${k} ${d > 0 ? '+' : ''}${d}`).join(', ');
    md.push('| measure | value |', '|---|---|',
      `| wall time, all runs | ${f1(st.wallS)} s |`,
      ...(st.controlOvershootMs ? [`| control, ${st.controlOvershootMs.n} such runs one at a time: result.wallMs − ${st.timeoutMs}, median / max; the timer alone, median / max | ${f1(st.controlOvershootMs.median)} / ${f1(st.controlOvershootMs.max)} ms; ${st.controlTimerLateMs ? `${f1(st.controlTimerLateMs.median)} / ${f1(st.controlTimerLateMs.max)} ms` : '—'} |`] : []),
      `| result.wallMs − ${st.timeoutMs}: median / p90 / max | ${o(st.overshootMs)} |`,
      `| the timer alone (limit record − start record − ${st.timeoutMs}): median / p90 / max | ${st.timerLateMs ? o(st.timerLateMs) : '—'} |`,
      `| host event loop delay while running, first half / second half: p50 / p99 / max | ${st.eventLoopDelayMs.halves.map((l) => `${f1(l.p50)} / ${f1(l.p99)} / ${f1(l.max)}`).join(' ms; ')} ms |`,
      `| trails: auditComplete false / file unreadable / no start / no exit / no limit record | ${st.trails.auditCompleteFalse} / ${st.trails.unreadable} / ${st.trails.missingStart} / ${st.trails.missingExit} / ${st.trails.missingLimit} of ${st.trails.checked} |`,
      `| host RSS: fresh / after warm-up / after half / after all (settled${st.gcExposed ? ', gc' : ''}) | ${mbs(h.fresh.rssMb)} / ${mbs(h.before.rssMb)} / ${mbs(h.afterHalf.rssMb)} / ${mbs(h.after.rssMb)} MB (first half ${sign(h.rssGrowthFirstHalfMb, f1)}, second half ${sign(h.rssGrowthSecondHalfMb, f1)} MB) |`,
      ...(h.afterRounds ? [`| host RSS after each round of ${st.runs / st.rounds} runs (settled${st.gcExposed ? ', gc' : ''}); V8's young generation then | ${h.afterRounds.map((x) => mbs(x.rssMb)).join(' / ')} MB; ${h.afterRounds.map((x) => mbs(x.newSpaceMb)).join(' / ')} MB (${mbs(h.before.newSpaceMb)} MB after warm-up) |`] : []),
      `| host descriptors: fresh / after warm-up / after all | ${h.fresh.fds} / ${h.before.fds} / ${h.after.fds}${kinds ? ` (${kinds})` : ''} |`,
      `| left behind: children of the host / private TMPDIRs / result.processesLeft | ${h.childrenLeft.length} / ${h.leftoverTmpDirs} / ${st.processesLeft} |`);
  }

  const m = lib.memory;
  const cli = lib.cli ?? [];
  md.push('', `### Resident memory: the CLI supervisor and the library per run (\`sleep ${MEM_SLEEP_S}\`, sampled about 1 s in)`, '',
    '| what | VmRSS MB | PSS MB | the run\'s init, VmRSS / PSS MB |', '|---|---:|---:|---:|');
  for (const c of cli) md.push(`| CLI: ${c.label}${c.samples.length > 1 ? ` (median of ${c.samples.length})` : ''} | ${mbs(c.vmRssMb)} | ${mbs(c.pssMb)} | ${c.initVmRssMb === undefined ? '—' : `${mbs(c.initVmRssMb)} / ${mbs(c.initPssMb)}`} |`);
  if (m) {
    md.push(`| library: host growth per run, ${m.runningAtSample}/${m.runs} running (host ${mbs(m.idleRssMb)} MB idle, ${mbs(m.busyRssMb)} MB busy) | ${m.hostGrowthPerRunMb.toFixed(2)} | | ${mbs(m.initRssPerRunMb)} / ${mbs(m.initPssPerRunMb)} |`);
  } else {
    md.push('| library: host growth per run | FAILED | | |');
  }
  return md;
}

function libraryHeadline(lib) {
  const out = [];
  const [small, big] = lib.serial;
  if (small && !small.failed) out.push(`run()/spawn one at a time: ${ratio(small.ratio)} (${f1(small.runMedianMs)} against ${f1(small.spawnMedianMs)} ms; target <= ${TARGET_RATIO}x, ${verdict(small.ratio)})${big && !big.failed ? `; in a host holding ${big.heapMb} MB: ${ratio(big.ratio)} (${f1(big.runMedianMs)} against ${f1(big.spawnMedianMs)} ms)` : ''}`);
  if (lib.pool) out.push(`run()/spawn, ${lib.pool.inflight} in flight: ${ratio(lib.pool.ratioMedian)} (${f1(lib.pool.run.medianMs)} against ${f1(lib.pool.spawn.medianMs)} ms per run; target <= ${TARGET_RATIO}x, ${verdict(lib.pool.ratioMedian)})`);
  const st = lib.stress;
  if (st) {
    out.push(`${st.runs} runs, ${st.inflight} in flight, timeout ${st.timeoutMs} ms: wallMs overshoot median ${f1(st.overshootMs.median)}, max ${f1(st.overshootMs.max)} ms, ${st.overshootMs.over50} over +50 ms; trails incomplete ${st.trails.auditCompleteFalse + st.trails.unreadable + st.trails.missingStart + st.trails.missingExit}; host descriptors ${sign(st.host.fdGrowth, (x) => String(x))}, RSS ${sign(st.host.rssGrowthMb, f1)} MB`);
  }
  const sup = lib.cli?.find((c) => c.id === 'binary');
  if (sup && lib.memory) out.push(`resident memory: CLI supervisor ${mbs(sup.vmRssMb)} MB (PSS ${mbs(sup.pssMb)}) against the library's ${lib.memory.hostGrowthPerRunMb.toFixed(2)} MB of host growth per run (+ ${mbs(lib.memory.initPssPerRunMb)} MB PSS of the run's init)`);
  return out;
}

// ---------------------------------------------------------------------------------- main

async function main() {
  tmp = mkdtempSync(join(tmpdir(), 'worm-run-bench-'));
  try {
    const bins = build();
    const version = wormRunVersion();
    const inProcess = supportsInProcess();
    const tools = { bwrap: which('bwrap'), firejail: which('firejail') };
    if (!inProcess) notes.push(`${show(opts.wormRun)} --help does not list --in-process: that row is left out`);
    if (!tools.bwrap) notes.push('bwrap not installed: row left out');
    if (!tools.firejail) notes.push('firejail not installed: row left out');

    const envs = [];
    const hasCa = process.env.NODE_EXTRA_CA_CERTS !== undefined;
    if (opts.env !== 'clean') {
      envs.push({ name: 'as-is', description: hasCa ? `environment as is (NODE_EXTRA_CA_CERTS=${process.env.NODE_EXTRA_CA_CERTS})` : 'environment as is (NODE_EXTRA_CA_CERTS is not set)', env: { ...process.env } });
    }
    if (opts.env !== 'as-is') {
      if (!hasCa && opts.env === 'both') {
        notes.push('NODE_EXTRA_CA_CERTS is not set here: the clean environment equals the one as is, so it is run once');
      } else {
        const env = { ...process.env };
        delete env.NODE_EXTRA_CA_CERTS;
        envs.push({ name: 'clean', description: 'clean environment (NODE_EXTRA_CA_CERTS removed, everything else as is)', env });
      }
    }

    progress(`${machineLine}\nworm-run: ${show(opts.wormRun)} ${version ?? '(--version failed)'}; rounds ${START_ROUNDS} for starts, ${HEAVY_ROUNDS} for loops; warm-up ${START_WARMUP}/${HEAVY_WARMUP}\n`);
    const results = [];
    const t0 = Date.now();
    progress('the kernel\'s floor for a protected run (C, no Node):\n');
    const floor = kernelFloor(bins);
    for (const e of envs) {
      progress(`${e.description}\n`);
      const comparisons = plan(bins, inProcess, tools).map((g) => measure(g, e.name, e.env));
      const library = await measureLibrary(e.name, e.env, inProcess);
      results.push({ name: e.name, description: e.description, comparisons, library });
    }
    const seconds = (Date.now() - t0) / 1000;
    machine.loadavgAtEnd = loadavg().map((x) => Math.round(x * 100) / 100);
    const busiest = Math.max(machine.loadavg[0], machine.loadavg[1], machine.loadavgAtEnd[0]);
    if (busiest > machine.cores / 2) {
      notes.unshift(`the machine was busy (load average ${machine.loadavg[0]} at the start, ${machine.loadavgAtEnd[0]} at the end, ${machine.cores} cores): other work competed with the runs, so expect wide min–max ranges; re-run on a quiet machine for figures to quote`);
    }

    const md = [machineLine, ''];
    md.push(`worm-run ${version ?? ''} (${show(opts.wormRun)}). Interleaved runs, medians; rounds ${START_ROUNDS} for process starts, ${HEAVY_ROUNDS} for loops, after ${START_WARMUP}/${HEAVY_WARMUP} warm-up rounds. Wall time per process, spawnSync from Node; "in-loop" times are measured by the fixture around its own loop. ${seconds.toFixed(0)} s in all.`);
    md.push(...kernelFloorReport(floor));
    for (const r of results) {
      md.push('', `## ${r.description}`);
      for (const c of r.comparisons) md.push('', `### ${c.title}`, '', table(c));
      md.push(...libraryReport(r.library));
      const h = [...headline(r), ...libraryHeadline(r.library)];
      if (h.length) md.push('', ...h.map((l) => `- ${l}`));
    }
    if (notes.length) md.push('', 'Notes:', ...notes.map((n) => `- ${n}`));
    if (failures.length) {
      md.push('', `FAILED: ${failures.length} command(s) under test did not exit 0:`);
      for (const f of failures) {
        md.push(`- [${f.environment}] ${f.comparison} / ${f.variant}: ${f.how}`, `  \`${f.command}\``);
        const out = f.stderr ? ['stderr:', ...f.stderr.split('\n')] : f.stdout ? ['(no stderr) stdout:', ...f.stdout.split('\n')] : ['(no output)'];
        md.push(...out.map((l) => `    ${l}`));
      }
    }
    process.stdout.write(`${md.join('\n')}\n`);

    const doc = {
      machine,
      wormRun: { path: opts.wormRun, version, inProcess },
      tools: { gcc: Boolean(bins.floor), bwrap: tools.bwrap ?? null, firejail: tools.firejail ?? null },
      settings: {
        quick: opts.quick, startRounds: START_ROUNDS, heavyRounds: HEAVY_ROUNDS, startWarmup: START_WARMUP, heavyWarmup: HEAVY_WARMUP, statCalls: STAT_CALLS, getppidCalls: GETPPID_CALLS, sendrecvRounds: SENDRECV_ROUNDS,
        refuseCalls: REFUSE_CALLS, library: { ...LIB, stressTimeoutMs: STRESS_TIMEOUT_MS, stressSleepS: STRESS_SLEEP_S, memSleepS: MEM_SLEEP_S, targetRatio: TARGET_RATIO },
      },
      seconds,
      kernelFloor: floor,
      environments: results,
      notes,
      failures,
    };
    writeFileSync(opts.json, `${JSON.stringify(doc, null, 2)}\n`);
    progress(`results written to ${opts.json}\n`);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  if (failures.length) {
    process.stderr.write(`bench: ${failures.length} command(s) under test failed:\n${failures.map((f) => `  ${f.command}  (${f.how})`).join('\n')}\n`);
    process.exitCode = 1;
  }
}

await main();
