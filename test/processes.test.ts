/**
 * Issue 16 (the target touches no process outside its run: not the supervisor, not the caller,
 * not another run, not the terminal) and issue 10 §1-2 (nothing of a run outlives it; nothing
 * inside can stop the supervisor), tried as an attacker would, with test/fixtures/procs.c.
 *
 * Every attack runs under worm-run (it must be refused, with the errno, and with a `blocked`
 * record from the kernel filter where the filter is what refused it) and as a control without
 * worm-run (it must work there: otherwise it proves nothing). The runs: the target as root and
 * as `--user nobody`, worm-run itself started by nobody (a user namespace), each with its own
 * PID namespace (the default) and without (`--namespaces off`); `--in-process` (a Node script
 * that starts the C attacker, which inherits the process's filter); and `run()` from a Node
 * harness (test/fixtures/procs_harness.mjs).
 *
 * The attacks that change something use the value they just read ("same": harmless if it got
 * through) against processes that must not be disturbed (the test runner), and the damaging
 * form (RLIMIT_NOFILE and RLIMIT_FSIZE 0, nice 19, SCHED_IDLE on one CPU) against throw-away
 * victims started here, and against the run's own supervisor. Nothing here is measured by time;
 * every wait is bounded.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { native } from '../src/native.js';
import { buildC } from './helpers/cc.js';
import { itWith, nobodyCanRunWormRun, pidNamespaces, type Feature } from './helpers/kernel.js';
import {
  BIN, FIXTURES, IS_ROOT, PYTHON, ROOT, STACK_FRAME, alive, auditLines, eventually, pidsWithArgs, procStatus, runProgram,
  startProgram, steps, tempDir, type Outcome, type Running,
} from './helpers/run.js';

const NOBODY = 65534;

/** A world-readable directory with the attacker in it (the suite's build dir is root's alone). */
let PUB = '';
let PROCS = '';
let HARNESS = '';
let PTY = '';
beforeAll(() => {
  PUB = tempDir('worm-run-procs-');
  chmodSync(PUB, 0o755);
  PROCS = join(PUB, 'procs');
  copyFileSync(buildC('procs'), PROCS);
  chmodSync(PROCS, 0o755);
  for (const f of ['procs_harness.mjs', 'pty_shell.py']) {
    copyFileSync(join(FIXTURES, f), join(PUB, f));
    chmodSync(join(PUB, f), 0o644);
  }
  HARNESS = join(PUB, 'procs_harness.mjs');
  PTY = join(PUB, 'pty_shell.py');
});

/** Throw-away processes started here: killed at the end whatever happened. */
const started = new Set<number>();
afterAll(() => {
  for (const pid of started) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
});

/** A scratch directory everyone can enter (a target running as nobody works in it). */
function pubDir(prefix: string): string {
  const d = tempDir(`worm-run-procs-${prefix}-`);
  chmodSync(d, 0o755);
  return d;
}

function tag(kind: string): string {
  return `${kind}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
}

// ---- what the machine allows -------------------------------------------------------------

function rootTests(): Feature {
  return { ok: IS_ROOT, reason: IS_ROOT ? '' : 'the tests do not run as root: no --user, no second user to attack' };
}

const probes = new Map<string, Feature>();
/** worm-run started by nobody gets a PID namespace through an unprivileged user namespace. */
function nobodyNamespaces(): Feature {
  let f = probes.get('nobodyNs');
  if (!f) {
    const r = spawnSync('unshare', ['--user', '--map-root-user', '--pid', '--fork', '--mount-proc', 'true'], { uid: NOBODY, gid: NOBODY, cwd: '/', encoding: 'utf8', timeout: 10_000 });
    f = r.status === 0 ? { ok: true, reason: '' } : { ok: false, reason: `nobody gets no user namespace here (${(r.stderr ?? '').trim().split('\n')[0]})` };
    probes.set('nobodyNs', f);
  }
  return f;
}

/** perf_event_open(sigtrap) on another process works here without worm-run (as root). */
function perfSigtrap(): Feature {
  let f = probes.get('perf');
  if (!f) {
    const v = spawnSync('sh', ['-c', `"$0" busy perf-probe & v=$!; "$0" perf-sigtrap victim=$v; sleep 0.3; kill -9 $v 2>/dev/null; wait $v; echo "victim=$?"`, buildC('procs')], { encoding: 'utf8', timeout: 10_000 });
    const ok = /STEP victim-perf_event_open ok/.test(v.stdout) && /victim=133/.test(v.stdout);
    f = { ok, reason: ok ? '' : `perf_event_open(sigtrap) does not signal another process here without worm-run (${v.stdout.trim().split('\n').pop()})` };
    probes.set('perf', f);
  }
  return f;
}

/**
 * The supervisor's terminal guard (ignoring SIGTTOU/SIGTTIN, never blocking on the terminal,
 * putting the foreground group and modes back): built on another branch (native
 * guardTerminal, main a9d1c9e). Tests of what it fixes run where the addon has it.
 */
let abi: number | null = null;
/** The Landlock ABI of this kernel (signal scoping needs 6). */
function landlockAbi(): number {
  if (abi === null) {
    abi = native.landlockInfo().abi;
  }
  return abi;
}

function terminalGuard(): Feature {
  let f = probes.get('terminal');
  if (!f) {
    let ok = false;
    try {
      const addon = createRequire(import.meta.url)(join(ROOT, 'build/Release/worm_run.node')) as Record<string, unknown>;
      ok = typeof addon.guardTerminal === 'function';
    } catch {
      ok = false;
    }
    f = { ok, reason: ok ? '' : 'TODO(terminal): this build\'s supervisor has no terminal guard yet (native guardTerminal, on main since a9d1c9e)' };
    probes.set('terminal', f);
  }
  return f;
}

// ---- modes and users ---------------------------------------------------------------------

interface Mode {
  name: string;
  args: string[];
  ns: boolean;
}
const NS: Mode = { name: 'own PID namespace', args: [], ns: true };
const OFF: Mode = { name: 'no namespaces', args: ['--namespaces', 'off'], ns: false };
const MODES = [NS, OFF];

interface Who {
  name: string;
  /** worm-run's own options for it. */
  args: string[];
  /** worm-run itself runs as this user (else root, as the tests). */
  spawnAs?: number;
  /** The target's (and so the victims') user. */
  uid: number;
  /** Same user as the supervisor (what makes the kernel's own permission checks pass). */
  sameUser: boolean;
}
const ROOT_TARGET: Who = { name: 'root target', args: [], uid: 0, sameUser: true };
const NOBODY_TARGET: Who = { name: '--user nobody', args: ['--user', 'nobody'], uid: NOBODY, sameUser: false };
const NOBODY_WORM: Who = { name: 'worm-run run by nobody', args: [], spawnAs: NOBODY, uid: NOBODY, sameUser: true };
const USERS = [ROOT_TARGET, NOBODY_TARGET, NOBODY_WORM];

function needs(mode: Mode, who: Who): Feature[] {
  const f: Feature[] = [];
  if (who.spawnAs !== undefined) {
    f.push(rootTests(), nobodyCanRunWormRun());
    if (mode.ns) f.push(nobodyNamespaces());
  } else {
    f.push(rootTests());
    if (mode.ns) f.push(pidNamespaces());
  }
  return f;
}

/** --in-process has no --user: worm-run itself runs as root, or is started by nobody. */
const IN_PROCESS: { name: string; uid?: number; needs: () => Feature[] }[] = [
  { name: 'as root', needs: () => [rootTests()] },
  { name: 'run by nobody', uid: NOBODY, needs: () => [rootTests(), nobodyCanRunWormRun()] },
];

/** Whether policy documents (and so run()) can ask for a namespace mode: main since 9ab7368. */
function apiNamespacesSetting(): Feature {
  let f = probes.get('apiNs');
  if (!f) {
    let ok = false;
    try {
      const schema = JSON.parse(readFileSync(join(ROOT, 'schema/policy.schema.json'), 'utf8')) as { properties?: Record<string, unknown> };
      ok = schema.properties?.namespaces !== undefined;
    } catch {
      ok = false;
    }
    f = { ok, reason: ok ? '' : 'TODO(api): this build\'s policy documents have no `namespaces` setting, so run() cannot be asked for --namespaces off (main adds it in 9ab7368)' };
    probes.set('apiNs', f);
  }
  return f;
}

function apiNeeds(mode: Mode, who: Who): Feature[] {
  const f = who.spawnAs === undefined ? [rootTests()] : [rootTests(), nobodyCanRunWormRun()];
  if (mode.ns) f.push(who.spawnAs === undefined ? pidNamespaces() : nobodyNamespaces());
  else f.push(apiNamespacesSetting());
  return f;
}

function apiPolicy(mode: Mode): Record<string, unknown> {
  return mode.ns ? {} : { namespaces: 'off' };
}

// ---- starting things ---------------------------------------------------------------------

interface Worm extends Running {
  /** The audit trail (through descriptor 3, which the target never holds). */
  trail(): Record<string, unknown>[];
}

function asUser(uid: number | undefined): { uid?: number; gid?: number } {
  return uid === undefined ? {} : { uid, gid: uid };
}

/** `worm-run --audit-log /dev/fd/3 ARGS`, stdin left open for the test to write. */
function startWorm(args: string[], o: { uid?: number; cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Worm {
  const p = startProgram(process.execPath, [BIN, '--audit-log', '/dev/fd/3', ...args], {
    stdio: ['pipe', 'pipe', 'pipe', 'pipe'], cwd: o.cwd ?? PUB, ...asUser(o.uid),
    ...(o.env ? { env: o.env } : {}), timeoutMs: o.timeoutMs ?? 60_000,
  });
  let trail = '';
  (p.child.stdio[3] as Readable).on('data', (d) => (trail += d));
  return { ...p, trail: () => auditLines(trail) };
}

/** A throw-away victim: `procs busy|sleep TAG` as the given user, once it says READY. */
async function startVictim(kind: 'busy' | 'sleep', uid = 0, env?: NodeJS.ProcessEnv): Promise<{ pid: number; p: Running; tag: string }> {
  const t = tag(`victim-${kind}`);
  const p = startProgram(PROCS, [kind, t], { stdio: ['ignore', 'pipe', 'pipe'], cwd: PUB, ...asUser(uid || undefined), ...(env ? { env } : {}), timeoutMs: 120_000 });
  started.add(p.pid);
  await p.waitFor(/^READY \d+$/m);
  return { pid: p.pid, p, tag: t };
}

/** Live processes running the attacker whose argv holds every word (worm-run's own argv holds them too). */
function attackers(...words: string[]): number[] {
  return pidsWithArgs(...words).filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'latin1').split('\0')[0] === PROCS;
    } catch {
      return false;
    }
  });
}

/** The host pid of a run's target, found by its argv. */
async function hostPid(...words: string[]): Promise<number> {
  expect(await eventually(() => attackers(...words).length === 1, 10_000)).toBe(true);
  return attackers(...words)[0]!;
}

/** The children of a process, from /proc. */
function childrenOf(pid: number): number[] {
  const out: number[] = [];
  try {
    for (const t of readdirSync(`/proc/${pid}/task`)) {
      for (const c of readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8').trim().split(/\s+/)) if (c) out.push(Number(c));
    }
  } catch {
    // gone
  }
  return out;
}

/** What a pid-addressed call could change, read from outside. */
interface ProcState {
  nofile: string;
  fsize: string;
  nice: number;
  policy: number;
  cpus: string;
  ioprio: string;
}
function procState(pid: number): ProcState | null {
  try {
    const limits = readFileSync(`/proc/${pid}/limits`, 'utf8');
    const pick = (name: string) => (limits.split('\n').find((l) => l.startsWith(name)) ?? '').slice(26).trim().split(/\s+/).slice(0, 2).join(' ');
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const io = spawnSync('ionice', ['-p', String(pid)], { encoding: 'utf8' });
    return {
      nofile: pick('Max open files'), fsize: pick('Max file size'),
      nice: Number(f[16]), policy: Number(f[38]),
      cpus: /Cpus_allowed_list:\s*(\S+)/.exec(status)?.[1] ?? '?',
      ioprio: (io.stdout ?? '').trim(),
    };
  } catch {
    return null;
  }
}

const SETTERS = ['prlimit-set', 'setpriority', 'sched_setaffinity', 'sched_setparam', 'sched_setscheduler', 'sched_setattr', 'ioprio_set', 'migrate_pages', 'move_pages'];
const DAMAGERS = ['prlimit-nofile', 'prlimit-fsize', 'setpriority', 'sched_setaffinity', 'sched_setparam', 'sched_setscheduler', 'sched_setattr', 'ioprio_set', 'migrate_pages', 'move_pages'];
/** The kernel filter's names for what the setters call. */
const FILTERED = ['prlimit64', 'setpriority', 'sched_setaffinity', 'sched_setparam', 'sched_setscheduler', 'sched_setattr', 'ioprio_set', 'migrate_pages', 'move_pages'];

/** Every call that would change `label` got `errno` (the reads may differ: checked apart). */
function expectTouched(s: Record<string, string>, label: string, damage: boolean, errno: string, out: string) {
  for (const call of damage ? DAMAGERS : SETTERS) expect(`${label}-${call}: ${s[`${label}-${call}`]}`, out).toBe(`${label}-${call}: ${errno}`);
}

function kernelRecords(trail: Record<string, unknown>[]): Set<string> {
  return new Set(trail.filter((l) => l.event === 'blocked' && l.source === 'kernel').map((l) => String(l.syscall)));
}

function exitRecord(trail: Record<string, unknown>[]): Record<string, unknown> | undefined {
  return trail.find((l) => l.event === 'exit');
}

/** Resolves with the outcome, or null when stdout/stderr stay open past the bound. */
async function closedWithin(p: Running, ms: number): Promise<Outcome | null> {
  let timer: NodeJS.Timeout | undefined;
  const r = await Promise.race([p.done, new Promise<null>((res) => (timer = setTimeout(() => res(null), ms)))]);
  clearTimeout(timer);
  return r;
}

// ---- 1. resource limits, priority, affinity, I/O priority of processes outside the run ----

describe('1. limits, priority, affinity and I/O priority of processes outside the run', () => {
  for (const mode of MODES) {
    for (const who of USERS) {
      itWith(needs(mode, who), `${mode.name}, ${who.name}: the supervisor, the test runner, a second run and a victim are unchanged; init is refused`, async () => {
        const cwd = pubDir('touch');
        // Run B, a second concurrent run of the same kind, and a throw-away victim of the target's user.
        const tagB = tag('runB');
        const runB = startWorm([...mode.args, ...who.args, '--', PROCS, 'sleep', tagB], { uid: who.spawnAs, cwd });
        const victim = await startVictim('sleep', who.uid);
        try {
          await runB.waitFor(/^READY/m);
          const bTarget = await hostPid('sleep', tagB);
          const before = { runner: procState(process.pid), bTarget: procState(bTarget), bSup: procState(runB.pid), victim: procState(victim.pid) };

          // Run A: the damaging form against its own supervisor, its init, run B and the victim;
          // the harmless form against the test runner. The supervisor's and run B's pids reach
          // the target on stdin (inside a PID namespace it could not learn them).
          const a = startWorm([...mode.args, ...who.args, '--', PROCS, 'touch',
            'damage:init=ppid', 'damage:sup=-', 'damage:runB=-', `damage:victim=${victim.pid}`, `same:runner=${process.pid}`], { uid: who.spawnAs, cwd });
          a.child.stdin!.end(`${a.pid}\n${bTarget}\n`);
          const supDuring: (ProcState | null)[] = [];
          await a.waitFor(/^DONE$/m, { timeoutMs: 30_000 }).then(() => supDuring.push(procState(a.pid)), () => {});
          const ra = await a.done;
          const s = steps(ra.stdout);
          const out = `${ra.stdout}\n${ra.stderr}`;
          expect(ra.stderr).not.toMatch(STACK_FRAME);

          // The init: pid 1 in its namespace (refused by the filter), worm-run's child without one.
          const initPid = Number(/^VICTIM init (\d+)$/m.exec(ra.stdout)?.[1]);
          if (mode.ns) expect(initPid).toBe(1);
          expectTouched(s, 'init', true, 'EPERM', out);
          expect(s['init-prlimit-get'], out).toBe('EPERM');
          // Outside the run: out of sight in a PID namespace; refused by the filter without one.
          for (const label of ['sup', 'runB', 'victim', 'runner']) {
            const damage = label !== 'runner';
            if (mode.ns) {
              // The first call already finds no such process; so does every other.
              expect(s[`${label}-prlimit-get`], out).toBe('ESRCH');
              expectTouched(s, label, damage, 'ESRCH', out);
              expect(s[`${label}-kill0`], out).toBe('ESRCH');
            } else {
              expectTouched(s, label, damage, 'EPERM', out);
              expect(s[`${label}-prlimit-get`], out).toBe('EPERM');
              // Landlock (ABI 6+) scopes signals to the sandbox; older kernels leave kill(pid, 0) to the same user.
              if (landlockAbi() >= 6) expect(s[`${label}-kill0`], out).toBe('EPERM');
            }
          }
          // The filter's refusals are recorded as the kernel's.
          const recorded = kernelRecords(a.trail());
          for (const call of FILTERED) expect(recorded.has(call), `no kernel record for ${call}: ${[...recorded]}`).toBe(true);
          // Run A ended as its target did (1: some step failed), with its exit record.
          expect(ra.code, out).toBe(1);
          expect(exitRecord(a.trail())).toMatchObject({ status: 1, code: 1 });
          // Nobody outside was changed.
          expect(procState(process.pid)).toEqual(before.runner);
          expect(procState(bTarget)).toEqual(before.bTarget);
          expect(procState(runB.pid)).toEqual(before.bSup);
          expect(procState(victim.pid)).toEqual(before.victim);
          if (supDuring[0]) expect(supDuring[0]).toMatchObject({ nofile: before.bSup!.nofile, nice: before.bSup!.nice, policy: before.bSup!.policy, cpus: before.bSup!.cpus });
          // Run B is unharmed: it ends as asked, with its exit record.
          runB.kill('SIGTERM');
          const rb = await runB.done;
          expect(String(rb.signal ?? rb.code)).toMatch(/^(SIGTERM|143)$/);
          expect(exitRecord(runB.trail())).toMatchObject({ signal: 'SIGTERM', status: 143 });

          // Control: the same program without worm-run, as the target's user, against the
          // victim and run B's target (same user) damages them; as root it also reaches the test
          // runner (with the harmless form).
          const bare = await runProgram(PROCS, ['touch', `damage:victim=${victim.pid}`, ...(who.uid === 0 ? [`same:runner=${process.pid}`] : [])], { cwd: PUB, ...asUser(who.uid || undefined) });
          const b = steps(bare.stdout);
          expectTouched(b, 'victim', true, 'ok', bare.stdout);
          expect(b['victim-kill0']).toBe('ok');
          if (who.uid === 0) expectTouched(b, 'runner', false, 'ok', bare.stdout);
          expect(procState(victim.pid)).toMatchObject({ nofile: '0 0', fsize: '0 0', nice: 19, policy: 5 /* SCHED_IDLE */, cpus: '0' });
          expect(procState(process.pid)).toEqual(before.runner);
        } finally {
          runB.kill('SIGKILL');
          victim.p.kill('SIGKILL');
        }
      }, 90_000);
    }
  }

  for (const mode of MODES) {
    itWith(needs(mode, ROOT_TARGET), `${mode.name}: "my process group" and "my user" forms (setpriority, ioprio_set) reach nothing outside the run, nor the init`, async () => {
      const cwd = pubDir('group');
      const marker = join(cwd, 'done');
      const a = startWorm([...mode.args, '--timeout', '20', '--', 'sh', '-c', `"$0" group damage; touch "${marker}"; exec "$0" sleep group-target`, PROCS], { cwd });
      try {
        expect(await eventually(() => existsSync(marker), 15_000)).toBe(true);
        const init = childrenOf(a.pid)[0]!;
        const sup = procState(a.pid)!;
        const initState = procState(init)!;
        a.kill('SIGTERM');
        const r = await a.done;
        const s = steps(r.stdout);
        // worm-run and its init keep their priority and I/O class, whatever the target managed.
        expect({ sup: sup.nice, init: initState.nice }, r.stdout).toEqual({ sup: 0, init: 0 });
        expect(sup.ioprio).not.toMatch(/idle/);
        expect(initState.ioprio, r.stdout).not.toMatch(/idle/);
        // The filter refuses the group and user forms in both modes, and says so.
        for (const k of ['pgrp-setpriority', 'user-setpriority', 'pgrp-ioprio_set', 'user-ioprio_set']) expect(`${k}: ${s[k]}`).toBe(`${k}: EPERM`);
        const recorded = a.trail().filter((l) => l.event === 'blocked' && l.source === 'kernel').map((l) => `${l.syscall} ${l.which} ${l.who}`);
        expect(new Set(recorded)).toEqual(new Set(['setpriority 1 0', 'setpriority 2 0', 'ioprio_set 2 0', 'ioprio_set 3 0']));
        expect(exitRecord(a.trail())).toMatchObject({ signal: 'SIGTERM' });

        // Control: without worm-run the group form reaches every process of the group: here a
        // session of its own holding a victim (never the user form, which would reach every
        // process of the user on this machine, nor a group the test runner is in).
        const bare = await runProgram('setsid', ['-w', '/bin/sh', '-c', '"$0" sleep grp-victim > "$1" & while ! [ -s "$1" ]; do :; done; "$0" group damage pgrp; cut -d" " -f19 /proc/$!/stat; kill $!', PROCS, join(cwd, 'victim-ready')]);
        expect(steps(bare.stdout)).toMatchObject({ 'pgrp-setpriority': 'ok', 'pgrp-ioprio_set': 'ok' });
        expect(bare.stdout.trim().split('\n').pop()).toBe('19');
      } finally {
        a.kill('SIGKILL');
      }
    });
  }

  for (const mode of MODES) {
    for (const who of USERS) {
      itWith(needs(mode, who), `${mode.name}, ${who.name}: the knobs under /proc/PID (oom_score_adj, timerslack_ns, autogroup, coredump_filter) of the supervisor, the init and a victim cannot be written`, async () => {
        const victim = await startVictim('sleep', who.uid);
        try {
          const a = startWorm([...mode.args, ...who.args, '--', PROCS, 'procwrite', 'init=ppid', 'sup=-', `victim=${victim.pid}`], { uid: who.spawnAs });
          a.child.stdin!.end(`${a.pid}\n`);
          const r = await a.done;
          const s = steps(r.stdout);
          for (const f of ['oom_score_adj', 'timerslack_ns', 'autogroup', 'coredump_filter']) {
            // Landlock: no writes under /proc, whatever --fs says; in a PID namespace the others are not there.
            expect(`init ${f}: ${s[`init-write-${f}`]}`, r.stdout).toBe(`init ${f}: EACCES`);
            for (const label of ['sup', 'victim']) {
              expect(`${label} ${f}: ${s[`${label}-write-${f}`]}`, r.stdout).toBe(`${label} ${f}: ${mode.ns ? 'ENOENT' : 'EACCES'}`);
            }
          }
          expect(exitRecord(a.trail())).toMatchObject({ status: 1 });
          // Control: the same user writes the victim's knobs (the value it read) without worm-run.
          const bare = await runProgram(PROCS, ['procwrite', `victim=${victim.pid}`], { cwd: PUB, ...asUser(who.uid || undefined) });
          const b = steps(bare.stdout);
          for (const f of ['oom_score_adj', 'coredump_filter', 'autogroup']) expect(`${f}: ${b[`victim-write-${f}`]}`, bare.stdout).toBe(`${f}: ok`);
        } finally {
          victim.p.kill('SIGKILL');
        }
      });
    }
  }

  for (const who of IN_PROCESS) {
    itWith(who.needs(), `--in-process, ${who.name}: a child of the script can change neither the worm-run process, the test runner nor a victim`, async () => {
      const victim = await startVictim('sleep', who.uid ?? 0);
      try {
        const before = { runner: procState(process.pid), victim: procState(victim.pid) };
        const script = join(pubDir('inproc'), 'touch.cjs');
        writeFileSync(script, `
          const { spawnSync } = require('child_process');
          const fs = require('fs');
          const state = () => fs.readFileSync('/proc/self/limits', 'utf8').split('\\n').filter((l) => /open files|file size/.test(l)).join('|') + ' nice=' + fs.readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ')[16];
          const before = state();
          const r = spawnSync(${JSON.stringify(PROCS)}, ['touch', 'damage:wormrun=ppid', 'damage:victim=${victim.pid}', 'same:runner=${process.pid}'], { encoding: 'utf8' });
          process.stdout.write(r.stdout);
          console.log(before === state() ? 'SELF UNCHANGED' : 'SELF CHANGED ' + state());
        `);
        const r = await runProgram(process.execPath, [BIN, '--in-process', script], { cwd: PUB, ...asUser(who.uid) });
        const s = steps(r.stdout);
        expect(r.stderr).not.toMatch(/--in-process not used/);
        expect(Number(/^VICTIM wormrun (\d+)$/m.exec(r.stdout)?.[1])).toBeGreaterThan(1);
        for (const label of ['wormrun', 'victim']) expectTouched(s, label, true, 'EPERM', r.stdout);
        expectTouched(s, 'runner', false, 'EPERM', r.stdout);
        expect(r.stdout).toContain('SELF UNCHANGED');
        expect(procState(process.pid)).toEqual(before.runner);
        expect(procState(victim.pid)).toEqual(before.victim);
        expect(r.code).toBe(0);
      } finally {
        victim.p.kill('SIGKILL');
      }
    });
  }

  for (const mode of MODES) {
    for (const who of [ROOT_TARGET, NOBODY_WORM]) {
      itWith(apiNeeds(mode, who), `run() from a harness, ${mode.name}${who.spawnAs ? ', harness run by nobody' : ''}: the harness (its pid on stdin), the init and a victim are unchanged; the harness can still open files`, async () => {
        const victim = await startVictim('sleep', who.uid);
        try {
          const before = procState(victim.pid);
          const spec = { dist: join(ROOT, 'dist/index.js'), policy: apiPolicy(mode), command: [PROCS, 'touch', 'damage:harness=-', `damage:victim=${victim.pid}`, 'damage:init=ppid'], selfPidInput: true };
          const h = await runProgram(process.execPath, [HARNESS, JSON.stringify(spec)], { cwd: PUB, ...asUser(who.spawnAs) });
          const res = JSON.parse(/^HARNESS (.*)$/m.exec(h.stdout)?.[1] ?? 'null') as Record<string, any>;
          expect(res, h.stderr).not.toBeNull();
          const s = steps(res.stdout);
          expect(Number(/^VICTIM harness (\d+)$/m.exec(res.stdout)?.[1])).toBe(res.pid);
          // The harness is the run's supervisor here: out of sight, or refused by the filter.
          expectTouched(s, 'harness', true, mode.ns ? 'ESRCH' : 'EPERM', res.stdout);
          expectTouched(s, 'victim', true, mode.ns ? 'ESRCH' : 'EPERM', res.stdout);
          expectTouched(s, 'init', true, 'EPERM', res.stdout);
          expect(res.before).toEqual(res.after);
          expect(res.canOpen).toBe(true);
          expect(res.status).toBe(1);
          for (const call of FILTERED) expect(res.kernelRefusals, call).toContain(call);
          expect(procState(victim.pid)).toEqual(before);
        } finally {
          victim.p.kill('SIGKILL');
        }
      });

      itWith(apiNeeds(mode, who), `run() from a harness holding a secret, ${mode.name}${who.spawnAs ? ', harness run by nobody' : ''}: the target reads neither the secret nor the harness's descriptors, and cannot signal it (perf sigtrap, SIGIO)`, async () => {
        const token = `tok${Math.random().toString(36).slice(2, 10)}`;
        const script = 'read pid; "$0" procread "$1" harness=$pid; "$0" perf-sigtrap harness=$pid; "$0" sigio 9 harness=$pid; echo ATTACKS-DONE';
        const spec = { dist: join(ROOT, 'dist/index.js'), policy: apiPolicy(mode), command: ['/bin/sh', '-c', script, PROCS, token], selfPidInput: true };
        const h = await runProgram(process.execPath, [HARNESS, JSON.stringify(spec)], { cwd: PUB, ...asUser(who.spawnAs), env: { PATH: process.env.PATH ?? '', HARNESS_SECRET: `${token}-harness` } });
        expect(h.signal, h.stderr).toBeNull();
        const res = JSON.parse(/^HARNESS (.*)$/m.exec(h.stdout)?.[1] ?? 'null') as Record<string, any>;
        expect(res, h.stderr).not.toBeNull();
        const s = steps(res.stdout);
        expect(res.stdout).toMatch(/^ATTACKS-DONE$/m);
        expect(res.stdout.match(/^FOUND .*/gm) ?? [], res.stdout).toEqual([]);
        for (const f of ['environ', 'maps', 'auxv', 'fd/1']) expect(`${f}: ${s[`harness-open-${f}`]}`, res.stdout).toMatch(mode.ns ? /: ENOENT$/ : /: (EACCES|EPERM)$/);
        expect(s['harness-perf_event_open']).toBe('EPERM');
        expect(res.kernelRefusals).toContain('perf_event_open');
        expect(res.status).toBe(0);
      });
    }
  }
});

// ---- 6. the supervisor survives what the target can still do ------------------------------

describe('6. without namespaces, the supervisor survives whatever the target sets', () => {
  for (const who of [ROOT_TARGET, NOBODY_WORM]) {
    for (const ending of ['exit', 'timeout'] as const) {
      itWith(needs(OFF, who), `${who.name}: rlimits, priority, scheduling and affinity aimed at worm-run, init and the group; then ${ending === 'exit' ? 'exit 1' : 'busy past --timeout 1'}: the right status and the exit record`, async () => {
        const cwd = pubDir('survive');
        const script = `"$0" touch damage:sup=ppid3 damage:init=ppid2; "$0" group damage; ${ending === 'exit' ? 'exit 1' : 'PROCS_STAY=1 exec "$0" group same'}`;
        const a = startWorm([...OFF.args, '--timeout', ending === 'exit' ? '30' : '1', '--', 'sh', '-c', script, PROCS], { uid: who.spawnAs, cwd });
        a.child.stdin!.end();
        const r = await a.done;
        const s = steps(r.stdout);
        expectTouched(s, 'sup', true, 'EPERM', r.stdout);
        expectTouched(s, 'init', true, 'EPERM', r.stdout);
        for (const k of ['pgrp-setpriority', 'user-setpriority', 'pgrp-ioprio_set', 'user-ioprio_set']) expect(`${k}: ${s[k]}`).toBe(`${k}: EPERM`);
        const trail = a.trail();
        if (ending === 'exit') {
          expect(r.code).toBe(1);
          expect(exitRecord(trail)).toMatchObject({ status: 1 });
        } else {
          expect(r.code).toBe(124);
          expect(trail.find((l) => l.event === 'limit')).toMatchObject({ limit: 'timeout' });
          expect(exitRecord(trail)).toMatchObject({ status: 124, limit: 'timeout' });
        }
        expect(r.stderr).not.toMatch(STACK_FRAME);
      });
    }
  }
});

// ---- 2. signals without kill(): perf_event_open with sigtrap --------------------------------

describe('2. signals without kill(): perf_event_open(sigtrap)', () => {
  for (const mode of MODES) {
    for (const who of USERS) {
      itWith([...needs(mode, who), perfSigtrap()], `${mode.name}, ${who.name}: refused and recorded; worm-run, a busy victim of the same user and the test runner live on`, async () => {
        const victim = await startVictim('busy', who.uid);
        try {
          const a = startWorm([...mode.args, ...who.args, '--', PROCS, 'perf-sigtrap', 'init=ppid', 'sup=-', `victim=${victim.pid}`, `runner=${process.pid}`], { uid: who.spawnAs });
          a.child.stdin!.end(`${a.pid}\n`);
          const r = await a.done;
          const s = steps(r.stdout);
          for (const label of ['init', 'sup', 'victim', 'runner']) expect(`${label}: ${s[`${label}-perf_event_open`]}`, r.stdout).toBe(`${label}: EPERM`);
          expect(kernelRecords(a.trail()).has('perf_event_open')).toBe(true);
          expect(r.signal).toBeNull();
          expect(exitRecord(a.trail())).toMatchObject({ status: 1 });
          expect(alive(victim.pid)).toBe(true);

          // Control: the same program, as the same user, kills the busy victim with SIGTRAP
          // (nobody too: perf_event_paranoid 2 lets a user watch its own processes).
          const bare = await runProgram(PROCS, ['perf-sigtrap', `victim=${victim.pid}`], { cwd: PUB, ...asUser(who.uid || undefined) });
          expect(steps(bare.stdout)['victim-perf_event_open']).toBe('ok');
          const v = await closedWithin(victim.p, 10_000);
          expect(v?.signal).toBe('SIGTRAP');
        } finally {
          victim.p.kill('SIGKILL');
        }
      });
    }
  }

  for (const mode of MODES) {
    for (const who of USERS) {
      itWith(needs(mode, who), `${mode.name}, ${who.name}: SIGIO as SIGKILL (F_SETOWN, F_SETSIG, O_ASYNC) reaches neither worm-run, its init, a victim nor a victim's process group`, async () => {
        const victim = await startVictim('sleep', who.uid);
        const group = startProgram(PROCS, ['sleep', tag('victim-group')], { stdio: ['ignore', 'pipe', 'pipe'], cwd: PUB, ...asUser(who.uid || undefined), detached: true });
        started.add(group.pid);
        try {
          await group.waitFor(/^READY/m);
          const a = startWorm([...mode.args, ...who.args, '--', PROCS, 'sigio', '9', 'init=ppid', 'sup=-', `victim=${victim.pid}`, `group=-${group.pid}`], { uid: who.spawnAs });
          a.child.stdin!.end(`${a.pid}\n`);
          const r = await a.done;
          // worm-run was not killed: it ends as its target did, with its exit record.
          expect(r.signal, r.stdout).toBeNull();
          expect(r.stdout).toMatch(/^DONE$/m);
          expect(exitRecord(a.trail())).toMatchObject({ status: r.code });
          expect(alive(victim.pid) && alive(group.pid)).toBe(true);
          // Control: the same program, as the same user, kills the victim and the group.
          const bare = await runProgram(PROCS, ['sigio', '9', `victim=${victim.pid}`, `group=-${group.pid}`], { cwd: PUB, ...asUser(who.uid || undefined) });
          expect(steps(bare.stdout)).toMatchObject({ 'victim-write': 'ok', 'group-write': 'ok' });
          expect((await closedWithin(victim.p, 10_000))?.signal).toBe('SIGKILL');
          expect((await closedWithin(group, 10_000))?.signal).toBe('SIGKILL');
        } finally {
          victim.p.kill('SIGKILL');
          group.kill('SIGKILL');
        }
      });
    }
  }

  for (const who of IN_PROCESS) {
    itWith([...who.needs(), perfSigtrap()], `--in-process, ${who.name}: a child of the script is refused too (by the kernel, unrecorded in this mode)`, async () => {
      const victim = await startVictim('busy', who.uid ?? 0);
      try {
        const script = join(pubDir('inproc-perf'), 'perf.cjs');
        writeFileSync(script, `process.stdout.write(require('child_process').spawnSync(${JSON.stringify(PROCS)}, ['perf-sigtrap', 'wormrun=ppid', 'victim=${victim.pid}'], { encoding: 'utf8' }).stdout);\n`);
        const r = await runProgram(process.execPath, [BIN, '--in-process', script], { cwd: PUB, ...asUser(who.uid) });
        const s = steps(r.stdout);
        expect(s).toMatchObject({ 'wormrun-perf_event_open': 'EPERM', 'victim-perf_event_open': 'EPERM' });
        expect(r.code).toBe(0);
        expect(alive(victim.pid)).toBe(true);
      } finally {
        victim.p.kill('SIGKILL');
      }
    });
  }
});

// ---- 3. other processes' memory maps and environment --------------------------------------

describe("3. other processes' environment, memory maps, auxv and descriptors", () => {
  for (const mode of MODES) {
    for (const who of [ROOT_TARGET, NOBODY_TARGET, NOBODY_WORM]) {
      itWith(needs(mode, who), `${mode.name}, ${who.name}: no secret of the launcher, of worm-run (a credential it removed) or of another process can be read`, async () => {
        const token = `tok${Math.random().toString(36).slice(2, 10)}`;
        const victim = await startVictim('sleep', who.uid, { PATH: process.env.PATH ?? '/usr/bin:/bin', VICTIM_SECRET: `${token}-victim` });
        // The launcher: a shell with a secret it does not pass on; worm-run gets a credential
        // variable, which it removes from the target's environment.
        const wormArgs = [BIN, '--audit-log', '/dev/fd/3', ...mode.args, ...who.args, '--', PROCS, 'procread', token,
          'init=ppid', 'sup=-', 'launcher=-', `victim=${victim.pid}`];
        const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', LAUNCHER_SECRET: `${token}-launcher`, HOME: '/' };
        const launcher = startProgram('/bin/sh', ['-c', 'env -u LAUNCHER_SECRET AWS_SECRET_ACCESS_KEY="$0" "$@"; echo LAUNCHER-DONE', `${token}-credential`, process.execPath, ...wormArgs], {
          stdio: ['pipe', 'pipe', 'pipe', 'pipe'], cwd: PUB, env, ...asUser(who.spawnAs),
        });
        try {
          let trail = '';
          (launcher.child.stdio[3] as Readable).on('data', (d) => (trail += d));
          expect(await eventually(() => childrenOf(launcher.pid).length > 0, 10_000)).toBe(true);
          const sup = childrenOf(launcher.pid)[0]!;
          launcher.child.stdin!.end(`${sup}\n${launcher.pid}\n`);
          const r = await launcher.done;
          expect(r.stdout).toContain('LAUNCHER-DONE');
          const s = steps(r.stdout);
          // The promise: no secret read anywhere.
          expect(r.stdout.match(/^FOUND .*/gm) ?? [], r.stdout).toEqual([]);
          for (const label of ['sup', 'launcher', 'victim']) {
            for (const f of ['environ', 'maps', 'auxv', 'fd/1']) {
              const got = s[`${label}-open-${f}`];
              // In a PID namespace there is no such process; without one, the kernel or Landlock says no.
              if (mode.ns) expect(`${label} ${f}: ${got}`, r.stdout).toBe(`${label} ${f}: ENOENT`);
              else expect(`${label} ${f}: ${got}`, r.stdout).toMatch(/: (EACCES|EPERM)$/);
            }
          }
          expect(auditLines(trail).find((l) => l.event === 'exit')).toBeDefined();

          // Control: without worm-run, the same user reads the victim's secret.
          const bare = await runProgram(PROCS, ['procread', token, `victim=${victim.pid}`], { cwd: PUB, ...asUser(who.uid || undefined) });
          expect(bare.stdout).toMatch(/^FOUND victim environ$/m);
        } finally {
          launcher.kill('SIGKILL');
          victim.p.kill('SIGKILL');
        }
      });
    }
  }

  for (const who of IN_PROCESS) {
    itWith(who.needs(), `--in-process, ${who.name}: a credential removed from process.env cannot be read back from /proc/self/environ, by the script or its child`, async () => {
      const token = `tok${Math.random().toString(36).slice(2, 10)}`;
      const script = join(pubDir('inproc-env'), 'env.cjs');
      writeFileSync(script, `
        const fs = require('fs');
        console.log('env', process.env.AWS_SECRET_ACCESS_KEY === undefined ? 'removed' : 'present');
        let block = '';
        try {
          block = fs.readFileSync('/proc/self/environ', 'latin1');
        } catch (e) {
          block = e.code; // run by nobody: the process is not dumpable, its /proc files are root's
        }
        console.log('proc', block.includes(${JSON.stringify(token)}) ? 'FOUND' : block === 'EACCES' ? 'unreadable' : 'clean');
        const r = require('child_process').spawnSync(${JSON.stringify(PROCS)}, ['procread', ${JSON.stringify(token)}, 'wormrun=ppid'], { encoding: 'utf8' });
        process.stdout.write(r.stdout);
      `);
      const r = await runProgram(process.execPath, [BIN, '--in-process', script], { cwd: PUB, ...asUser(who.uid), env: { PATH: process.env.PATH ?? '/usr/bin:/bin', AWS_SECRET_ACCESS_KEY: `${token}-credential` } });
      expect(r.stdout).toMatch(/^env removed$/m);
      expect(r.stdout).toMatch(who.uid === undefined ? /^proc clean$/m : /^proc (clean|unreadable)$/m);
      expect(r.stdout).not.toMatch(/^FOUND/m);
    });
  }
});

// ---- 4. the terminal ------------------------------------------------------------------------

interface PtyResult {
  status: number | null;
  stopped: string | null;
  hung: boolean;
  fgBack: string | null;
  sidOk: boolean;
  ldisc: number | string;
  excl: boolean | string;
  tostop: boolean | null;
  echo: boolean | null;
  writeErr: string | null;
  wrote: boolean;
  typed: string | null;
  transcript: string;
  shellError?: string;
}

/** Runs cmd as the foreground job of a shell on a fresh pty (test/fixtures/pty_shell.py). */
async function inPty(cmd: string[], jobTimeoutS = 20): Promise<PtyResult> {
  const r = await runProgram(PYTHON, [PTY, String(jobTimeoutS), '--', ...cmd], { cwd: PUB, timeoutMs: (jobTimeoutS + 40) * 1000 });
  const line = r.stdout.trim().split('\n').pop() ?? '';
  let res: PtyResult;
  try {
    res = JSON.parse(line) as PtyResult;
  } catch {
    throw new Error(`pty_shell.py said: ${r.stdout} ${r.stderr}`);
  }
  expect(res.shellError, res.transcript).toBeUndefined();
  return res;
}

/** The terminal is as the shell left it: its own, in the foreground, working both ways. */
function expectTerminalIntact(t: PtyResult) {
  expect({ fgBack: t.fgBack, sidOk: t.sidOk, ldisc: t.ldisc, excl: t.excl, writeErr: t.writeErr, wrote: t.wrote, typed: t.typed }, t.transcript)
    .toEqual({ fgBack: null, sidOk: true, ldisc: 0, excl: false, writeErr: null, wrote: true, typed: 'typed-after-the-run' });
}

function wormCmd(args: string[]): string[] {
  return [process.execPath, BIN, ...args];
}

describe('4. the terminal (a pty made here, worm-run its foreground job)', () => {
  const IOCTLS = [
    { c: 'tiocsetd', step: 'tiocsetd', ioctl: 'TIOCSETD', bare: (t: PtyResult) => expect(t.ldisc).toBe(27) },
    { c: 'tcxonc', step: 'tcxonc', ioctl: 'TCXONC', bare: (t: PtyResult) => expect(t.writeErr).toBe('blocked') },
    { c: 'tiocexcl', step: 'tiocexcl', ioctl: 'TIOCEXCL', bare: (t: PtyResult) => expect(t.excl).toBe(true) },
    { c: 'tiocsti', step: 'tiocsti', ioctl: 'TIOCSTI', bare: (t: PtyResult) => expect(t.typed).toBe('echo INJECTED') },
    { c: 'vhangup', step: 'vhangup', syscall: 'vhangup', bare: (t: PtyResult) => expect(t.writeErr).toBe('EIO') },
  ];

  for (const a of IOCTLS) {
    itWith([rootTests()], `control: ${a.c} without worm-run leaves the terminal damaged`, async () => {
      const t = await inPty([PROCS, 'tty', a.c], 5);
      a.bare(t);
    });
  }

  for (const mode of MODES) {
    for (const who of [ROOT_TARGET, NOBODY_TARGET]) {
      itWith(needs(mode, who), `${mode.name}, ${who.name}: TIOCSETD, TCXONC, TIOCEXCL, TIOCSTI, TIOCCONS, TIOCVHANGUP, vhangup are refused and recorded; the terminal works after the run`, async () => {
        const log = join(pubDir('tty-log'), 'trail.jsonl');
        const t = await inPty(wormCmd([...mode.args, ...who.args, '--audit-log', log, '--', PROCS, 'tty', 'tiocsetd', 'tcxonc', 'tiocexcl', 'tiocsti', 'tioccons', 'tiocvhangup', 'vhangup']));
        const s = steps(t.transcript.replace(/\r/g, ''));
        for (const c of ['tiocsetd', 'tcxonc', 'tiocexcl', 'tiocsti', 'tioccons', 'tiocvhangup', 'vhangup']) expect(`${c}: ${s[c]}`, t.transcript).toBe(`${c}: EPERM`);
        const trail = auditLines(readFileSync(log, 'utf8'));
        const ioctls = new Set(trail.filter((l) => l.event === 'blocked' && l.syscall === 'ioctl').map((l) => l.request));
        expect(ioctls).toEqual(new Set(['TIOCSETD', 'TCXONC', 'TIOCEXCL', 'TIOCSTI', 'TIOCCONS', 'TIOCVHANGUP']));
        expect(kernelRecords(trail).has('vhangup')).toBe(true);
        expect(t.status).toBe(1);
        expect(exitRecord(trail)).toMatchObject({ status: 1 });
        expectTerminalIntact(t);
        expect(t.transcript).not.toContain('INJECTED\r\n');
      });
    }
  }

  for (const mode of MODES) {
    itWith([...needs(mode, NOBODY_TARGET), terminalGuard()], `${mode.name}: the target takes the foreground and sets TOSTOP, then stays busy: worm-run still ends at --timeout 2 with 124 and its exit record, and the terminal is the shell's again`, async () => {
      const log = join(pubDir('tty-tostop'), 'trail.jsonl');
      const t = await inPty(wormCmd([...mode.args, '--user', 'nobody', '--timeout', '2', '--audit-log', log, '--', PROCS, 'tty', 'takeover', 'busy']));
      const s = steps(t.transcript.replace(/\r/g, ''));
      expect(s, t.transcript).toMatchObject({ setpgid: 'ok', tcsetpgrp: 'ok', tostop: 'ok' });
      expect({ status: t.status, stopped: t.stopped, hung: t.hung }, t.transcript).toEqual({ status: 124, stopped: null, hung: false });
      const trail = auditLines(readFileSync(log, 'utf8'));
      expect(exitRecord(trail)).toMatchObject({ status: 124, limit: 'timeout' });
      expectTerminalIntact(t);
      expect(t.tostop).toBe(false);
    });
  }

  itWith([rootTests()], 'control: after the same takeover, a job that writes to the terminal is stopped (SIGTTOU)', async () => {
    // What the supervisor must withstand: its child took the foreground and set TOSTOP; the
    // job's next line on the terminal stops it.
    const t = await inPty(['/bin/sh', '-c', '"$0" tty takeover; echo from-the-job-that-lost-the-terminal', PROCS], 5);
    expect(t.transcript).toMatch(/STEP tostop ok/);
    expect(t.stopped).toBe('SIGTTOU');
    expect(t.transcript).not.toContain('from-the-job-that-lost-the-terminal');
  });

  for (const mode of MODES) {
    itWith(needs(mode, ROOT_TARGET), `${mode.name}: a target that leaves the terminal without echo and canonical mode does not leave it so after the run`, async () => {
      const t = await inPty(wormCmd([...mode.args, '--', PROCS, 'tty', 'raw']));
      expect(t.transcript).toMatch(/STEP tcsetattr-raw ok/);
      expect(t.echo).toBe(true);
      expectTerminalIntact(t);
    });
  }

  for (const mode of MODES) {
    itWith(needs(mode, ROOT_TARGET), `${mode.name}, root target: a new session cannot steal the terminal from the launching shell (TIOCSCTTY with force)`, async () => {
      const t = await inPty(wormCmd([...mode.args, '--', PROCS, 'tty', 'steal']));
      expect(t.transcript).toMatch(/STEP tiocsctty-steal err EPERM/);
      expect(t.transcript).toMatch(/worm-run: blocked ioctl\(TIOCSCTTY\) by procs/);
      expect(t.status).toBe(0);
      expectTerminalIntact(t);
    });

    itWith(needs(mode, ROOT_TARGET), `${mode.name}: a program that makes a pty of its own and its controlling terminal (TIOCSCTTY without force) still works`, async () => {
      const code = 'import os, pty\npid, fd = pty.fork()\nif pid == 0:\n    os.execvp("tty", ["tty"])\nout = b""\nwhile True:\n    try:\n        b = os.read(fd, 100)\n    except OSError:\n        break\n    if not b:\n        break\n    out += b\nos.waitpid(pid, 0)\nprint("CHILD", out.decode().strip())';
      const r = await runProgram(process.execPath, [BIN, ...mode.args, '--', PYTHON, '-c', code], { cwd: PUB });
      expect(r.stdout, r.stderr).toMatch(/^CHILD \/dev\/pts\/\d+$/m);
      expect(r.stderr).not.toMatch(/blocked/);
      expect(r.code).toBe(0);
    });
  }

  itWith([rootTests()], 'control: TIOCSCTTY with force, as root without worm-run, takes the terminal from the shell', async () => {
    const t = await inPty([PROCS, 'tty', 'steal'], 5);
    expect(t.transcript).toMatch(/STEP tiocsctty-steal ok/);
    expect({ sidOk: t.sidOk, fgBack: t.fgBack }).toEqual({ sidOk: false, fgBack: 'ENOTTY' });
  });

  for (const mode of MODES) {
    itWith(needs(mode, ROOT_TARGET), `${mode.name}: sharing worm-run's process group in a terminal, the target cannot renice worm-run through "my process group"`, async () => {
      const cwd = pubDir('tty-group');
      const marker = join(cwd, 'done');
      const id = tag('ttygroup');
      const pty = runProgram(PYTHON, [PTY, '20', '--', ...wormCmd([...mode.args, '--timeout', '15', '--', 'sh', '-c', `"$0" group damage; touch "${marker}"; exec "$0" sleep "$1"`, PROCS, id])], { cwd, timeoutMs: 60_000 });
      expect(await eventually(() => existsSync(marker), 20_000)).toBe(true);
      const target = await hostPid('sleep', id);
      // worm-run: the target's grandparent (target -> init -> worm-run).
      const init = Number(procStatus(target)?.PPid);
      const sup = Number(procStatus(init)?.PPid);
      const st = { sup: procState(sup), init: procState(init) };
      process.kill(sup, 'SIGTERM');
      const out = await pty;
      expect(st.sup?.nice, out.stdout).toBe(0);
      expect(st.sup?.ioprio).not.toMatch(/idle/);
      expect(st.init?.nice, out.stdout).toBe(0);
    });
  }
});

// ---- 5. containment: nothing of the run outlives it ----------------------------------------

/** Live tasks (any thread: a zombie leader's live thread counts) whose argv holds both words. */
function liveTasks(...words: string[]): string[] {
  const out: string[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    let tasks: string[];
    try {
      tasks = readdirSync(`/proc/${name}/task`);
    } catch {
      continue;
    }
    for (const t of tasks) {
      try {
        const stat = readFileSync(`/proc/${name}/task/${t}/stat`, 'latin1');
        const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
        if (state === 'Z' || state === 'X') continue;
        const argv = readFileSync(`/proc/${name}/task/${t}/cmdline`, 'latin1').split('\0');
        if (words.every((w) => argv.includes(w))) out.push(`${name}/${t}`);
      } catch {
        // gone
      }
    }
  }
  return out;
}

const KINDS = ['zombie', 'daemon', 'chain'];

/** After a run: none of the three kinds is left, now or a moment later (a chain that escaped would still be forking). */
async function expectNothingLeft(id: string) {
  for (let i = 0; i < 3; i++) {
    for (const k of KINDS) expect(`${k}: ${liveTasks('contain', id, k).join(',')}`).toBe(`${k}: `);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('5. containment: a zombie leader with a live thread, a fork-and-exit chain, a double-forked daemon', () => {
  const stopFile = () => join(PUB, `stop-${Math.random().toString(36).slice(2)}`);

  for (const kind of KINDS) {
    itWith([rootTests()], `control: without worm-run, ${kind === 'zombie' ? 'a zombie leader\'s live thread' : kind === 'daemon' ? 'a double-forked daemon' : 'a fork-and-exit chain'} outlives its parent and keeps its stdout open`, async () => {
      const id = tag('ctl');
      const stop = stopFile();
      const p = startProgram(PROCS, ['contain', id, kind, 'exit'], { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH ?? '', PROCS_STOP: stop }, detached: true });
      try {
        await p.waitFor(/^READY$/m);
        expect(await p.exited).toEqual({ code: 0, signal: null });
        if (kind === 'zombie') expect(p.stdout()).toMatch(/^ZOMBIE-LEADER \d+$/m);
        // The parent is gone, the pipe is not: its one kind of descendant still holds it.
        expect(await closedWithin(p, 1000)).toBeNull();
        // (A chain's processes live too briefly to be caught by a scan of /proc: the open pipe is the proof.)
        if (kind !== 'chain') expect(liveTasks('contain', id, kind).length).toBeGreaterThan(0);
      } finally {
        writeFileSync(stop, '');
        for (const m of p.stdout().matchAll(/^STARTED (zombie|daemon) (\d+)$/gm)) {
          try {
            process.kill(Number(m[2]), 'SIGKILL');
          } catch {
            // gone
          }
        }
        expect(await closedWithin(p, 10_000)).not.toBeNull();
      }
    });
  }

  for (const mode of MODES) {
    for (const who of USERS) {
      for (const ending of ['exit', 'timeout'] as const) {
        itWith(needs(mode, who), `${mode.name}, ${who.name}, ${ending === 'exit' ? 'the target exits' : '--timeout 1'}: none is left, and stdout closes (| cat does not wait)`, async () => {
          const id = tag('contain');
          const stop = stopFile();
          const a = startWorm([...mode.args, ...who.args, ...(ending === 'timeout' ? ['--timeout', '1'] : []), '--', PROCS, 'contain', id, 'zombie,daemon,chain', ending === 'exit' ? 'exit' : 'stay'],
            { uid: who.spawnAs, env: { PATH: process.env.PATH ?? '', PROCS_STOP: stop }, timeoutMs: 60_000 });
          a.child.stdin!.end();
          try {
            const exited = await a.exited;
            // The pipe closes with worm-run: nothing of the run holds it any more.
            const r = await closedWithin(a, 10_000);
            expect(r, `stdout still held after worm-run exited: ${liveTasks('contain', id).join(',')}`).not.toBeNull();
            expect(r!.stdout).toMatch(/^ZOMBIE-LEADER \d+$/m);
            expect(r!.stdout).toMatch(/^READY$/m);
            await expectNothingLeft(id);
            const exit = exitRecord(a.trail());
            if (ending === 'exit') {
              expect(exited.code).toBe(0);
              expect(exit).toMatchObject({ status: 0 });
            } else {
              expect(exited.code).toBe(124);
              expect(exit).toMatchObject({ status: 124, limit: 'timeout' });
            }
            // Killed at the end rather than by the timeout's SIGTERM: the three kinds.
            if (ending === 'exit') expect(Number(exit?.processesLeft)).toBeGreaterThanOrEqual(3);
          } finally {
            writeFileSync(stop, '');
            a.kill('SIGKILL');
          }
        });
      }
    }
  }

  for (const who of IN_PROCESS) {
    for (const ending of ['exit', 'timeout', 'busy'] as const) {
      itWith(who.needs(), `--in-process, ${who.name}, the script ${ending === 'exit' ? 'exits' : ending === 'timeout' ? 'waits past --timeout 1' : 'spins past --timeout 1'}: none of what its child started is left`, async () => {
        const id = tag('inproc');
        const stop = stopFile();
        const script = join(pubDir('inproc-contain'), 'contain.cjs');
        writeFileSync(script, `
          const c = require('child_process').spawn(${JSON.stringify(PROCS)}, ['contain', ${JSON.stringify(id)}, 'zombie,daemon,chain', 'exit'], { stdio: ['ignore', 'inherit', 'inherit'], detached: true });
          c.on('exit', () => {
            console.log('SCRIPT-CHILD-EXITED');
            if (${JSON.stringify(ending)} === 'timeout') setInterval(() => {}, 1000);
            if (${JSON.stringify(ending)} === 'busy') for (;;) {}
          });
        `);
        const p = startProgram(process.execPath, [BIN, '--in-process', ...(ending === 'exit' ? [] : ['--timeout', '1']), script], { stdio: ['ignore', 'pipe', 'pipe'], cwd: PUB, ...asUser(who.uid), env: { PATH: process.env.PATH ?? '', PROCS_STOP: stop } });
        try {
          const exited = await p.exited;
          const r = await closedWithin(p, 10_000);
          expect(r, `stdout still held: ${liveTasks('contain', id).join(',')}`).not.toBeNull();
          expect(r!.stdout).toMatch(/^SCRIPT-CHILD-EXITED$/m);
          expect(r!.stderr).not.toMatch(/--in-process not used/);
          await expectNothingLeft(id);
          if (ending === 'exit') expect(exited.code).toBe(0);
          else expect(String(exited.signal ?? exited.code)).toMatch(/^(SIGTERM|143)$/);
        } finally {
          writeFileSync(stop, '');
          p.kill('SIGKILL');
        }
      });
    }
  }

  for (const who of IN_PROCESS) {
    itWith(who.needs(), `--in-process, ${who.name}: the wall clock cannot be disarmed from inside (process.emit("exit"), the once-only record flag)`, async () => {
      const script = join(pubDir('inproc-disarm'), 'disarm.cjs');
      writeFileSync(script, `
        process.emit('exit', 0);
        for (const m of Object.values(require.cache)) {
          const e = m && m.exports;
          if (e && typeof e.claimExitRecord === 'function') console.log('claimed', e.claimExitRecord());
        }
        console.log('DISARMED');
        for (;;) {}
      `);
      const p = startProgram(process.execPath, [BIN, '--in-process', '--timeout', '1', script], { stdio: ['ignore', 'pipe', 'pipe'], cwd: PUB, ...asUser(who.uid), timeoutMs: 30_000 });
      const r = await p.done;
      expect(r.stdout).toMatch(/^DISARMED$/m);
      // Killed by the watchdog (SIGTERM, as --in-process documents), not by the test's bound.
      expect(String(r.signal ?? r.code)).toMatch(/^(SIGTERM|143)$/);
    });
  }

  for (const mode of MODES) {
    for (const who of [ROOT_TARGET, NOBODY_WORM]) {
      itWith(apiNeeds(mode, who), `run() aborted by its AbortSignal, ${mode.name}${who.spawnAs ? ', harness run by nobody' : ''}: none is left, and the harness's stdout closes`, async () => {
        const id = tag('api');
        const stop = stopFile();
        const spec = { dist: join(ROOT, 'dist/index.js'), policy: apiPolicy(mode), command: [PROCS, 'contain', id, 'zombie,daemon,chain', 'stay'], stdio: ['ignore', 'inherit', 'inherit'], abortOnLine: true };
        const h = startProgram(process.execPath, [HARNESS, JSON.stringify(spec)], { cwd: PUB, ...asUser(who.spawnAs), env: { PATH: process.env.PATH ?? '', PROCS_STOP: stop } });
        try {
          await h.waitFor(/^READY$/m, { timeoutMs: 20_000 });
          h.child.stdin!.end('abort\n');
          const exited = await h.exited;
          expect(exited.code).toBe(0);
          const r = await closedWithin(h, 10_000);
          expect(r, `stdout still held: ${liveTasks('contain', id).join(',')}`).not.toBeNull();
          const res = JSON.parse(/^HARNESS (.*)$/m.exec(r!.stdout)?.[1] ?? 'null') as Record<string, any>;
          expect(res.signal).toBe('SIGKILL');
          expect(res.processesLeft).toBeGreaterThanOrEqual(3);
          await expectNothingLeft(id);
        } finally {
          writeFileSync(stop, '');
          h.kill('SIGKILL');
        }
      });
    }
  }
});

describe('5a. worm-run itself SIGKILLed from outside', () => {
  for (const mode of MODES) {
    for (const who of USERS) {
      itWith(needs(mode, who), `${mode.name}, ${who.name}: the target dies with worm-run`, async () => {
        const id = tag('sigkill-target');
        const a = startWorm([...mode.args, ...who.args, '--', PROCS, 'sleep', id], { uid: who.spawnAs });
        a.child.stdin!.end();
        try {
          await a.waitFor(/^READY/m, { timeoutMs: 20_000 });
          const target = await hostPid('sleep', id);
          a.kill('SIGKILL');
          expect(await a.exited).toEqual({ code: null, signal: 'SIGKILL' });
          // Init dies of its parent-death signal, and the target of its own (which a change of
          // identity, --user, clears: it must be set again after setuid).
          expect(await eventually(() => !alive(target), 10_000), `target ${target} outlived worm-run`).toBe(true);
        } finally {
          for (const pid of attackers('sleep', id)) process.kill(pid, 'SIGKILL');
        }
      });
    }
  }

  itWith(needs(NS, ROOT_TARGET), 'own PID namespace: init dies with worm-run (PR_SET_PDEATHSIG) and the kernel ends everything in the namespace', async () => {
    const id = tag('sigkill');
    const stop = join(PUB, `stop-${Math.random().toString(36).slice(2)}`);
    const a = startWorm(['--', PROCS, 'contain', id, 'zombie,daemon,chain', 'stay'], { env: { PATH: process.env.PATH ?? '', PROCS_STOP: stop } });
    a.child.stdin!.end();
    try {
      await a.waitFor(/^READY$/m, { timeoutMs: 20_000 });
      a.kill('SIGKILL');
      expect(await a.exited).toEqual({ code: null, signal: 'SIGKILL' });
      expect(await closedWithin(a, 10_000), `stdout still held: ${liveTasks('contain', id).join(',')}`).not.toBeNull();
      await expectNothingLeft(id);
    } finally {
      writeFileSync(stop, '');
    }
  });
});

// ---- 5b. --cpu and a fork chain ---------------------------------------------------------------

describe('5b. what --cpu bounds: each process, not the run', () => {
  for (const mode of MODES) {
    itWith(needs(mode, ROOT_TARGET), `${mode.name}: a chain whose every process uses 0.4 s of CPU and forks runs 4 generations under --cpu 1 (documented: RLIMIT_CPU restarts with every fork; --timeout bounds the run)`, async () => {
      const a = startWorm([...mode.args, '--cpu', '1', '--', PROCS, 'cpu-chain', '4', '400'], { timeoutMs: 60_000 });
      a.child.stdin!.end();
      const r = await a.done;
      expect(r.stdout).toMatch(/^CHAIN-DONE gens=4$/m);
      expect(r.code).toBe(0);
      const exit = exitRecord(a.trail()) as { limit: unknown; runUsage: { userMs: number; systemMs: number } };
      expect(exit.limit).toBeNull();
      // The run used more CPU than the budget, and no process of it was over it.
      expect(exit.runUsage.userMs + exit.runUsage.systemMs).toBeGreaterThan(1000);
    });
  }

  for (const mode of MODES) {
    itWith(needs(mode, ROOT_TARGET), `${mode.name}: the same chain without end is ended, all of it, by --timeout`, async () => {
      const gens = String(1_000_000 + Math.floor(Math.random() * 1000));
      const a = startWorm([...mode.args, '--cpu', '1', '--timeout', '2', '--', PROCS, 'cpu-chain', gens, '300'], { timeoutMs: 60_000 });
      a.child.stdin!.end();
      const r = await closedWithin(a, 30_000);
      expect(r).not.toBeNull();
      expect(r!.code).toBe(124);
      expect(exitRecord(a.trail())).toMatchObject({ status: 124, limit: 'timeout' });
      expect(liveTasks('cpu-chain', gens)).toEqual([]);
    });
  }
});
