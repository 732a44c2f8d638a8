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
 * Usage: node scripts/bench.js [--quick] [--rounds N] [--json PATH] [--env as-is|clean|both]
 *                              [--worm-run PATH/TO/bin/worm-run.js]
 * Node built-ins only; C fixtures are compiled with gcc into a temporary directory.
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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
    notes.push('gcc not found: C fixtures (floor launcher, getppid, send/recv loops) skipped');
    return {};
  }
  const out = {};
  for (const name of ['floor', 'getppid', 'sendrecv']) {
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
  return groups;
}

// ---------------------------------------------------------------------------------- report

const f1 = (x) => (x === undefined ? '—' : x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));
const sign = (x, fmt) => (x === undefined ? '—' : `${x >= 0 ? '+' : '−'}${fmt(Math.abs(x))}`);
const ratio = (x) => (x === undefined ? '—' : `${x.toFixed(2)}x`);

function table(g) {
  const loop = g.kind === 'loop';
  const head = ['variant', 'median ms', 'min–max ms', 'vs bare', 'added ms'];
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
  for (const g of ['getppid', 'sendrecv', 'stat']) {
    const rows = ['worm-run', 'worm-run-in-process', 'c-floor'].map((id) => [id, find(g, id)]).filter(([, v]) => v && v.addedNsPerCall !== undefined);
    if (rows.length) out.push(`${g} added ns/call, median vs median (min vs min): ${rows.map(([id, v]) => `${id} ${sign(v.addedNsPerCall, f1)} (${sign(v.addedNsPerCallMin, f1)})`).join(', ')}`);
  }
  return out;
}

// ---------------------------------------------------------------------------------- main

function main() {
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
    for (const e of envs) {
      progress(`${e.description}\n`);
      const comparisons = plan(bins, inProcess, tools).map((g) => measure(g, e.name, e.env));
      results.push({ name: e.name, description: e.description, comparisons });
    }
    const seconds = (Date.now() - t0) / 1000;
    machine.loadavgAtEnd = loadavg().map((x) => Math.round(x * 100) / 100);
    const busiest = Math.max(machine.loadavg[0], machine.loadavg[1], machine.loadavgAtEnd[0]);
    if (busiest > machine.cores / 2) {
      notes.unshift(`the machine was busy (load average ${machine.loadavg[0]} at the start, ${machine.loadavgAtEnd[0]} at the end, ${machine.cores} cores): other work competed with the runs, so expect wide min–max ranges; re-run on a quiet machine for figures to quote`);
    }

    const md = [machineLine, ''];
    md.push(`worm-run ${version ?? ''} (${show(opts.wormRun)}). Interleaved runs, medians; rounds ${START_ROUNDS} for process starts, ${HEAVY_ROUNDS} for loops, after ${START_WARMUP}/${HEAVY_WARMUP} warm-up rounds. Wall time per process, spawnSync from Node; "in-loop" times are measured by the fixture around its own loop. ${seconds.toFixed(0)} s in all.`);
    for (const r of results) {
      md.push('', `## ${r.description}`);
      for (const c of r.comparisons) md.push('', `### ${c.title}`, '', table(c));
      const h = headline(r);
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
      settings: { quick: opts.quick, startRounds: START_ROUNDS, heavyRounds: HEAVY_ROUNDS, startWarmup: START_WARMUP, heavyWarmup: HEAVY_WARMUP, statCalls: STAT_CALLS, getppidCalls: GETPPID_CALLS, sendrecvRounds: SENDRECV_ROUNDS },
      seconds,
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

main();
