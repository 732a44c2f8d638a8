// The library's cost inside one long-lived host process (issue 15), against what Node itself
// pays to start the same program: run() from worm-run's API next to
// child_process.spawn(file, args, { stdio: 'pipe' }) awaited to 'close'. Run by
// scripts/bench.js; prints one JSON line on stdout. A run that ends with the wrong status (or
// a trail that is not complete) is a failure: the fixture names the command and exits 1. It
// never fails on a time.
//
// Usage: node [--expose-gc] library.js MODE --lib PATH/dist/index.js [--key value ...]
//   serial  --pairs N --warmup W [--heap-mb M]
//           /bin/true one at a time, run() and spawn alternately (A B, B A, ...), W pairs
//           discarded; with --heap-mb the host first fills that much resident memory (JS
//           objects and ArrayBuffers), since a fork's cost grows with the host's page tables.
//   pool    --batches B --per-batch N --inflight K [--heap-mb M]
//           /bin/true with K in flight (a pool that starts the next as one ends), batches of N
//           runs, run() and spawn batches alternately; wall time of a batch / N.
//   stress  --runs N --inflight K --timeout-ms T --sleep S [--control C] [--rounds R]
//           N runs (R times over) of `sleep S` with K in flight, each with its own timeout T ms and its own
//           audit log: how exact each timeout is, whether every trail is complete, and the host's
//           RSS, descriptors, children and leftover private TMPDIRs before and after. First C
//           such runs one at a time (default 10), the control for the timeout's accuracy.
//   memory  --runs N --sleep S
//           N runs of `sleep S` at once: the host's RSS (and the runs' init processes' PSS)
//           about a second in, against the host idle.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { getHeapSpaceStatistics } from 'node:v8';

const [mode, ...rest] = process.argv.slice(2);
const args = {};
for (let i = 0; i < rest.length; i += 2) {
  if (!rest[i].startsWith('--') || rest[i + 1] === undefined) usage(`bad argument ${rest[i]}`);
  args[rest[i].slice(2)] = rest[i + 1];
}
const num = (k, d) => {
  const v = args[k] ?? d;
  if (v === undefined || !Number.isFinite(Number(v))) usage(`--${k} needs a number`);
  return Number(v);
};
function usage(msg) {
  process.stderr.write(`library.js: ${msg}\nusage: node library.js serial|pool|stress|memory --lib PATH/dist/index.js [--key value ...]\n`);
  process.exit(2);
}
if (!args.lib) usage('--lib is required');

class RunFailure extends Error {}

// The runs' own directories: a job directory (run() refuses a shared one such as /tmp as the
// working directory) and, for stress, one audit log per run. The host's TMPDIR points into it
// too, so private TMPDIRs a run leaves behind can be counted.
const work = mkdtempSync(join(tmpdir(), 'worm-run-bench-lib-'));
const job = join(work, 'job');
const runTmp = join(work, 'tmp');
const trails = join(work, 'audit');
for (const d of [job, runTmp, trails]) mkdirSync(d);
process.env.TMPDIR = runTmp;

const { run } = await import(args.lib);
const ENV = { PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin' };

const now = () => Number(process.hrtime.bigint()) / 1e6;
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length === 0 ? undefined : s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const quantile = (xs, q) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor(q * s.length))] : undefined;
};
const mean = (xs) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : undefined);
const r3 = (x) => (x === undefined ? undefined : Math.round(x * 1000) / 1000);
const summary = (xs) => ({ n: xs.length, medianMs: r3(median(xs)), meanMs: r3(mean(xs)), minMs: r3(Math.min(...xs)), p90Ms: r3(quantile(xs, 0.9)), maxMs: r3(Math.max(...xs)) });
const mb = (bytes) => Math.round((bytes / 1048576) * 10) / 10;

const describe = (r) => JSON.stringify({ status: r.status, exitCode: r.exitCode, signal: r.signal, limit: r.limit, error: r.error ? { code: r.error.code, message: r.error.message } : null, stderr: r.stderr?.slice(-400) });

/** One run() of argv; throws RunFailure naming the command unless check(result) holds. */
async function viaRun(argv, policy = {}, check = (r) => r.status === 0, expected = 'status 0') {
  const r = await run(argv, { env: ENV, cwd: job, policy });
  if (!check(r)) throw new RunFailure(`run(${JSON.stringify(argv)}, policy ${JSON.stringify(policy)}) returned ${describe(r)}; expected ${expected}`);
  return r;
}

/** One child_process.spawn(file, args, { stdio: 'pipe' }) awaited to 'close'; throws unless it exits 0. */
function viaSpawn(argv) {
  return new Promise((resolve, reject) => {
    const c = spawn(argv[0], argv.slice(1), { stdio: 'pipe', env: ENV, cwd: job });
    c.stdout.resume();
    c.stderr.resume();
    c.on('error', (e) => reject(new RunFailure(`spawn(${JSON.stringify(argv)}) failed: ${e.message}`)));
    c.on('close', (code, signal) => (code === 0 ? resolve() : reject(new RunFailure(`spawn(${JSON.stringify(argv)}) ended with code ${code}, signal ${signal}; expected 0`))));
  });
}

/** Runs n tasks with at most k in flight (the next starts as one ends); resolves to the results. */
async function pool(n, k, task) {
  const out = new Array(n);
  let next = 0;
  const worker = async () => {
    while (next < n) {
      const i = next++;
      out[i] = await task(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(k, n) }, worker));
  return out;
}

/** Fills about `target` MB of resident memory, half JS objects, half touched ArrayBuffers. */
const ballast = [];
function fillHeap(target) {
  if (!target) return { heapMb: 0 };
  const t0 = now();
  const rss0 = process.memoryUsage().rss;
  const goal = rss0 + target * 1048576;
  let buffers = 0;
  // (At most twice the target allocated, should the RSS not follow.)
  while (process.memoryUsage().rss < goal && buffers * 2 < 2 * target) {
    // 8 MB of objects (about 100k small objects in an array), then 8 MB of ArrayBuffer,
    // written once per page so every page is resident.
    const objs = new Array(100000);
    for (let i = 0; i < objs.length; i++) objs[i] = { i, d: i * 1.5, s: null, t: true };
    ballast.push(objs);
    const b = new Uint8Array(8 << 20);
    for (let j = 0; j < b.length; j += 4096) b[j] = 1;
    ballast.push(b);
    buffers += 8;
  }
  const m = process.memoryUsage();
  return { heapMb: target, fillMs: Math.round(now() - t0), rssMb: mb(m.rss), heapUsedMb: mb(m.heapUsed), arrayBuffersMb: mb(m.arrayBuffers), buffersMb: buffers };
}

function fds() {
  return readdirSync('/proc/self/fd');
}
function fdTargets() {
  const out = {};
  for (const fd of fds()) {
    let t;
    try {
      t = readlinkSync(`/proc/self/fd/${fd}`);
    } catch {
      continue; // the directory's own descriptor, gone already
    }
    const kind = t.replace(/\[\d+\]$/, '[]').replace(/^\/.*$/, (p) => (p.startsWith(work) ? '$WORK/...' : p));
    out[kind] = (out[kind] ?? 0) + 1;
  }
  return out;
}
function children() {
  const me = String(process.pid);
  const out = [];
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (f[1] === me) out.push({ pid: Number(p), state: f[0], comm: stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')) });
    } catch {
      // gone
    }
  }
  return out;
}
function kbField(file, field) {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(file, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}
async function settle(ms) {
  await sleep(ms);
  if (global.gc) {
    global.gc();
    await sleep(50);
    global.gc();
  }
}
function hostState() {
  const m = process.memoryUsage();
  // V8's young generation grows under a burst of allocation (up to twice --max-semi-space-size)
  // and keeps its pages: most of a host's RSS growth after many runs at once, used or not.
  const young = getHeapSpaceStatistics().find((x) => x.space_name === 'new_space');
  return {
    rssMb: mb(m.rss), heapTotalMb: mb(m.heapTotal), heapUsedMb: mb(m.heapUsed), newSpaceMb: young ? mb(young.space_size) : null,
    externalMb: mb(m.external), arrayBuffersMb: mb(m.arrayBuffers),
    fds: fds().length, children: children().length, leftoverTmpDirs: readdirSync(runTmp).length,
  };
}

const TRUE = ['/bin/true'];

async function serial() {
  const pairs = num('pairs', 100);
  const warmup = num('warmup', 10);
  const heap = fillHeap(num('heap-mb', 0));
  const t = { run: [], spawn: [], runSync: [], spawnSync: [] };
  for (let i = 0; i < warmup + pairs; i++) {
    for (const which of i % 2 ? ['spawn', 'run'] : ['run', 'spawn']) {
      const t0 = now();
      const p = which === 'run' ? viaRun(TRUE) : viaSpawn(TRUE);
      const sync = now() - t0; // how long the call held the event loop before returning
      await p;
      if (i >= warmup) {
        t[which].push(now() - t0);
        t[`${which}Sync`].push(sync);
      }
    }
  }
  const run_ = summary(t.run);
  const spawn_ = summary(t.spawn);
  return {
    pairs, warmup, ...heap, rssMbAtEnd: mb(process.memoryUsage().rss),
    run: run_, spawn: spawn_,
    // The part of each call that ran before it returned its promise: the host's event loop is
    // held that long per start (timers of other runs wait behind it).
    runSync: summary(t.runSync), spawnSync: summary(t.spawnSync),
    ratioMedian: run_.medianMs / spawn_.medianMs, ratioMean: run_.meanMs / spawn_.meanMs,
    samples: { runMs: t.run.map(r3), spawnMs: t.spawn.map(r3) },
  };
}

async function poolMode() {
  const batches = num('batches', 6);
  const per = num('per-batch', 64);
  const k = num('inflight', 8);
  const heap = fillHeap(num('heap-mb', 0));
  // One discarded batch of each first.
  await pool(Math.min(per, 2 * k), k, () => viaRun(TRUE));
  await pool(Math.min(per, 2 * k), k, () => viaSpawn(TRUE));
  const t = { run: [], spawn: [] };
  for (let b = 0; b < batches; b++) {
    for (const which of b % 2 ? ['spawn', 'run'] : ['run', 'spawn']) {
      const t0 = now();
      await pool(per, k, () => (which === 'run' ? viaRun(TRUE) : viaSpawn(TRUE)));
      t[which].push((now() - t0) / per);
    }
  }
  const run_ = summary(t.run);
  const spawn_ = summary(t.spawn);
  return {
    batches, perBatch: per, inflight: k, ...heap,
    run: run_, spawn: spawn_, // per-run ms: a batch's wall time / its runs
    ratioMedian: run_.medianMs / spawn_.medianMs, ratioMean: run_.meanMs / spawn_.meanMs,
  };
}

async function stress() {
  const n = num('runs', 500);
  const k = num('inflight', 50);
  const timeoutMs = num('timeout-ms', 200);
  const sleepS = String(num('sleep', 5));
  const fresh = hostState();
  // Warm-up (the addon, pino, the first trail), then the state the runs are measured against.
  await pool(10, 5, () => viaRun(TRUE));
  await settle(500);
  const before = { ...hostState(), fdKinds: fdTargets() };
  const argv = ['sleep', sleepS];
  const expectTimeout = [(x) => x.status === 124 && x.limit?.limit === 'timeout', `status 124 (the run's own timeout of ${timeoutMs} ms)`];
  // The timer alone: from the start record (written just before the target is let go and the
  // timer set) to the limit record, less the timeout; the records' millisecond clock.
  const timerLate = (log) => {
    const recs = readFileSync(log, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
    const start = recs.find((x) => x.event === 'start');
    const limit = recs.find((x) => x.event === 'limit');
    return { recs, start, limit, exit: recs.find((x) => x.event === 'exit'), late: start && limit ? limit.time - start.time - timeoutMs : undefined };
  };
  // The control: the same run one at a time, nothing else in flight.
  const control = [];
  const controlTimer = [];
  for (let i = 0; i < num('control', 10); i++) {
    const log = join(trails, `control-${i}.jsonl`);
    const r = await viaRun(argv, { limits: { timeout: timeoutMs / 1000 }, audit: { log } }, ...expectTimeout);
    control.push(r.wallMs - timeoutMs);
    const t = timerLate(log);
    if (t.late !== undefined) controlTimer.push(t.late);
  }
  // In two halves with a settle between: growth in the second half as well as the first is a
  // leak per run, growth in the first only a high-water mark. With --rounds R the whole batch is
  // run R times, and the host measured after each: a plateau shows as no growth after the first.
  const rounds = num('rounds', 1);
  const loops = [];
  const half = Math.ceil(n / 2);
  const results = [];
  const afterRounds = [];
  let wallMs = 0;
  let peak;
  let mid;
  const segments = [];
  for (let r = 0; r < rounds; r++) segments.push([r * n, r * n + half], [r * n + half, (r + 1) * n]);
  for (const [from, to] of segments) {
    const loop = monitorEventLoopDelay({ resolution: 10 }); // one per half: a re-enabled one counts the pause
    loop.enable();
    await sleep(25); // the monitor's timer starts with the loop: let it, so the first burst of starts is seen
    const t0 = now();
    results.push(...await pool(to - from, k, async (j) => {
      const i = from + j;
      const log = join(trails, `run-${i}.jsonl`);
      const policy = { limits: { timeout: timeoutMs / 1000 }, audit: { log } };
      const s = now();
      const r = await viaRun(argv, policy, ...expectTimeout);
      return { r, outerMs: now() - s, log };
    }));
    wallMs += now() - t0;
    loop.disable();
    loops.push({ p50: r3(loop.percentile(50) / 1e6), p99: r3(loop.percentile(99) / 1e6), max: r3(loop.max / 1e6) });
    peak ??= hostState();
    if (!mid) {
      await settle(1000);
      mid = hostState();
    }
    if (to % n === 0 && rounds > 1) {
      await settle(1000);
      afterRounds.push(hostState());
    }
  }
  const wallS = wallMs / 1000;
  // The trails: complete by the result's word, and a start and an exit record in each file.
  let incompleteResult = 0;
  let missingStart = 0;
  let missingExit = 0;
  let missingLimit = 0;
  let unreadable = 0;
  const late = [];
  const bad = [];
  for (const { r, log } of results) {
    if (r.auditComplete !== true) incompleteResult += 1;
    let t;
    try {
      t = timerLate(log);
    } catch (e) {
      unreadable += 1;
      if (bad.length < 5) bad.push(`${log}: ${e.message}`);
      continue;
    }
    if (!t.start) missingStart += 1;
    if (!t.exit) missingExit += 1;
    if (!t.limit) missingLimit += 1;
    if (t.late !== undefined) late.push(t.late);
    if ((!t.start || !t.exit) && bad.length < 5) bad.push(`${log}: events ${t.recs.map((x) => x.event).join(',')}`);
  }
  const over = results.map(({ r }) => r.wallMs - timeoutMs);
  const outerOver = results.map(({ outerMs }) => outerMs - timeoutMs);
  const processesLeft = results.reduce((a, { r }) => a + (r.processesLeft ?? 0), 0);
  await settle(1000);
  const after = { ...hostState(), fdKinds: fdTargets() };
  const fdDiff = {};
  for (const kind of new Set([...Object.keys(before.fdKinds), ...Object.keys(after.fdKinds)])) {
    const d = (after.fdKinds[kind] ?? 0) - (before.fdKinds[kind] ?? 0);
    if (d) fdDiff[kind] = d;
  }
  const leftChildren = children();
  const stat = (xs) => ({ median: r3(median(xs)), p90: r3(quantile(xs, 0.9)), max: r3(Math.max(...xs)), min: r3(Math.min(...xs)) });
  const out = {
    runs: n * rounds, rounds, inflight: k, timeoutMs, command: argv, gcExposed: Boolean(global.gc), wallS: r3(wallS),
    controlOvershootMs: control.length ? { ...stat(control), n: control.length } : null, // one at a time: result.wallMs - timeout
    controlTimerLateMs: controlTimer.length ? { ...stat(controlTimer), n: controlTimer.length } : null, // one at a time: limit record - start record - timeout
    overshootMs: { ...stat(over), over50: over.filter((x) => x > 50).length }, // result.wallMs - timeout
    outerOvershootMs: { ...stat(outerOver), over50: outerOver.filter((x) => x > 50).length }, // await run() as the host sees it - timeout
    timerLateMs: late.length ? { ...stat(late), over50: late.filter((x) => x > 50).length } : null, // limit record - start record - timeout
    trails: { checked: results.length, auditCompleteFalse: incompleteResult, unreadable, missingStart, missingExit, missingLimit, examples: bad },
    processesLeft,
    // How long the host's event loop was held up while the runs went on (timers fire late by as much).
    eventLoopDelayMs: { max: Math.max(...loops.map((l) => l.max)), halves: loops },
    host: {
      fresh, before, peak, afterHalf: mid, after, ...(rounds > 1 ? { afterRounds } : {}),
      rssGrowthMb: r3(after.rssMb - before.rssMb), rssGrowthFirstHalfMb: r3(mid.rssMb - before.rssMb), rssGrowthSecondHalfMb: r3(after.rssMb - mid.rssMb),
      fdGrowth: after.fds - before.fds, fdDiff, childrenLeft: leftChildren, leftoverTmpDirs: after.leftoverTmpDirs,
    },
  };
  delete out.host.before.fdKinds;
  delete out.host.after.fdKinds;
  return out;
}

async function memory() {
  const n = num('runs', 50);
  const sleepS = num('sleep', 2);
  await pool(6, 3, () => viaRun(TRUE));
  await settle(500);
  const idle = hostState();
  const t0 = now();
  const all = [];
  for (let i = 0; i < n; i++) all.push(viaRun(['sleep', String(sleepS)]));
  const startedMs = now() - t0; // run() is synchronous up to the clone: every run has started
  await sleep(Math.max(100, 1000 - startedMs));
  const m = process.memoryUsage();
  const kids = children();
  let initRssKb = 0;
  let initPssKb = 0;
  for (const c of kids) {
    initRssKb += kbField(`/proc/${c.pid}/status`, 'VmRSS') ?? 0;
    initPssKb += kbField(`/proc/${c.pid}/smaps_rollup`, 'Pss') ?? 0;
  }
  const sampledAtMs = now() - t0;
  await Promise.all(all);
  const growth = m.rss / 1048576 - idle.rssMb;
  return {
    runs: n, sleepS, startAllMs: r3(startedMs), sampledAtMs: r3(sampledAtMs), runningAtSample: kids.length,
    idleRssMb: idle.rssMb, busyRssMb: mb(m.rss), busyHeapUsedMb: mb(m.heapUsed),
    hostGrowthPerRunMb: r3(growth / n),
    initRssPerRunMb: kids.length ? r3(initRssKb / 1024 / kids.length) : null,
    initPssPerRunMb: kids.length ? r3(initPssKb / 1024 / kids.length) : null,
  };
}

const modes = { serial, pool: poolMode, stress, memory };
if (!modes[mode]) usage(`unknown mode ${mode}`);
try {
  const result = await modes[mode]();
  process.stdout.write(`${JSON.stringify({ mode, pid: process.pid, ...result })}\n`);
} catch (e) {
  process.stderr.write(`library.js ${mode}: FAILED: ${e instanceof RunFailure ? e.message : e.stack}\n`);
  process.exitCode = 1;
} finally {
  rmSync(work, { recursive: true, force: true });
}
