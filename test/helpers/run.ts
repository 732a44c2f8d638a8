/** Starting worm-run (and, for control cases, the bare program) as a user would. */
import { execFileSync, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isSecretName } from '../../src/env.js';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const BIN = `${ROOT}bin/worm-run.js`;
export const FIXTURES = `${ROOT}test/fixtures`;

export interface Outcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunOpts extends SpawnOptions {
  input?: string;
  timeoutMs?: number;
  /** Send this signal to the program once its stdout contains killWhen. */
  killWith?: NodeJS.Signals;
  killWhen?: string;
}

/**
 * The environment the tests run programs in: this one without proxy settings (curl and wget
 * must go straight to the loopback recorder), without NODE_OPTIONS from the test runner, and
 * without the machine's credential-looking variables (worm-run would name them on stderr; the
 * tests that check that set their own).
 */
export function testEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/_proxy$/i.test(k) || k === 'NODE_OPTIONS' || k === 'WORM_RUN_CONFIG' || isSecretName(k)) continue;
    env[k] = v;
  }
  return { ...env, ...extra };
}

/** Runs a program to completion (killed after timeoutMs) and collects its output. */
export function runProgram(file: string, args: string[], opts: RunOpts = {}): Promise<Outcome> {
  const { input, timeoutMs = 30_000, killWith, killWhen, ...spawnOpts } = opts;
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: ['pipe', 'pipe', 'pipe'], env: testEnv(), ...spawnOpts });
    let stdout = '';
    let stderr = '';
    let signalled = false;
    child.stdout?.on('data', (d) => {
      stdout += d;
      if (killWith && killWhen !== undefined && !signalled && stdout.includes(killWhen)) {
        signalled = true;
        child.kill(killWith);
      }
    });
    child.stderr?.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
    if (input !== undefined) child.stdin?.end(input);
    else child.stdin?.end();
  });
}

/**
 * A command prefix every start of worm-run goes through: WORM_TEST_WRAPPER, words separated by
 * spaces, e.g. the container-like helper (test/fixtures/containerlike.c) to run a test file as
 * if in a pod. Controls (programs started without worm-run) do not go through it.
 */
export const WRAPPER = (process.env.WORM_TEST_WRAPPER ?? '').split(' ').filter(Boolean);

/**
 * System calls the wrapper's own seccomp filter refuses, with its errno (WORM_TEST_OUTER_REFUSES:
 * `name=ERRNO,...`). A filter outside worm-run that answers with an errno takes precedence over
 * worm-run's user notification, so these refusals carry the wrapper's errno and leave no record.
 */
export const OUTER_REFUSES = new Map(
  (process.env.WORM_TEST_OUTER_REFUSES ?? '').split(',').filter(Boolean).map((kv) => kv.split('=') as [string, string]),
);

/** `worm-run ARGS...` with this Node (through the wrapper, if any), as [file, args]. */
export function wormCommand(args: string[]): [string, string[]] {
  const argv = [...WRAPPER, process.execPath, BIN, ...args];
  return [argv[0]!, argv.slice(1)];
}

/** `worm-run ARGS...` with this Node. */
export function worm(args: string[], opts: RunOpts = {}): Promise<Outcome> {
  return runProgram(...wormCommand(args), opts);
}

/** A program left running in the background: its output so far, and ways to wait on it. */
export interface Running {
  child: ChildProcess;
  pid: number;
  stdout(): string;
  stderr(): string;
  /** Resolves once stdout (or stderr) matches, rejects after timeoutMs or when the program ends first. */
  waitFor(re: RegExp, opts?: { timeoutMs?: number; stream?: 'stdout' | 'stderr' }): Promise<RegExpMatchArray>;
  /** Resolves when the program and every holder of its stdout/stderr are gone. */
  done: Promise<Outcome>;
  /** Resolves as soon as the program itself exits (its descendants may still hold its pipes). */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill(sig?: NodeJS.Signals): void;
}

export function startProgram(file: string, args: string[], opts: RunOpts = {}): Running {
  const { input, timeoutMs = 30_000, killWith, killWhen, ...spawnOpts } = opts;
  const child = spawn(file, args, { stdio: ['pipe', 'pipe', 'pipe'], env: testEnv(), ...spawnOpts });
  let out = '';
  let err = '';
  const waiters = new Set<() => void>();
  const poke = () => waiters.forEach((w) => w());
  child.stdout?.on('data', (d) => {
    out += d;
    poke();
  });
  child.stderr?.on('data', (d) => {
    err += d;
    poke();
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  let ended = false;
  const done = new Promise<Outcome>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      ended = true;
      poke();
      resolve({ code, signal, stdout: out, stderr: err });
    });
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  if (input !== undefined) child.stdin?.end(input);
  return {
    child,
    exited,
    pid: child.pid!,
    stdout: () => out,
    stderr: () => err,
    done,
    kill: (sig = 'SIGTERM') => {
      try {
        child.kill(sig);
      } catch {
        // gone
      }
    },
    waitFor(re, { timeoutMs: limit = 10_000, stream = 'stdout' } = {}) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const m = (stream === 'stdout' ? out : err).match(re);
          if (m) {
            cleanup();
            resolve(m);
          } else if (ended) {
            cleanup();
            reject(new Error(`program ended before ${re} appeared; stdout: ${out} stderr: ${err}`));
          }
        };
        const t = setTimeout(() => {
          cleanup();
          reject(new Error(`timed out waiting for ${re}; stdout: ${out} stderr: ${err}`));
        }, limit);
        const cleanup = () => {
          clearTimeout(t);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
  };
}

/** `worm-run ARGS...` in the background. */
export function startWorm(args: string[], opts: RunOpts = {}): Running {
  return startProgram(...wormCommand(args), opts);
}

/** Parses JSON-lines audit output, skipping anything that is not a JSON object. */
export function auditLines(text: string): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      out.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      // not ours
    }
  }
  return out;
}

/**
 * The STEP lines of test/fixtures/attack.c: step name -> 'ok' or the errno name. A step that
 * ran twice keeps its last result.
 */
export function steps(stdout: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of stdout.matchAll(/^STEP (\S+) (ok|err)(?: (\S*))?/gm)) {
    out[m[1]!] = m[2] === 'ok' ? 'ok' : m[3]!;
  }
  return out;
}

/** A node stack frame: no error output of worm-run may carry one. */
export const STACK_FRAME = /^\s+at .+/m;

/** A fresh private directory under the system temp dir. */
export function tempDir(prefix = 'worm-run-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  // Through a wrapper worm-run may run as another user (the container-like helper: nobody).
  if (WRAPPER.length > 0) chmodSync(dir, 0o1777);
  return dir;
}

/** Fields of /proc/<pid>/status, or null when the process is gone. */
export function procStatus(pid: number): Record<string, string> | null {
  try {
    const out: Record<string, string> = {};
    for (const line of readFileSync(`/proc/${pid}/status`, 'latin1').split('\n')) {
      const i = line.indexOf(':');
      if (i > 0) out[line.slice(0, i)] = line.slice(i + 1).trim();
    }
    return out;
  } catch {
    return null;
  }
}

/** Whether a process exists and is not a zombie. */
export function alive(pid: number): boolean {
  const st = procStatus(pid);
  return st !== null && !st.State?.startsWith('Z');
}

/** The descriptors of a process: fd number -> link target ("pipe:[123]", "socket:[456]", a path). */
export function procFds(pid: number): Map<number, string> {
  const out = new Map<number, string>();
  for (const name of readdirSync(`/proc/${pid}/fd`)) {
    try {
      out.set(Number(name), readlinkSync(`/proc/${pid}/fd/${name}`));
    } catch {
      // closed meanwhile
    }
  }
  return out;
}

/** Pids whose command line contains every one of the given words. */
export function pidsWithArgs(...words: string[]): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    const pid = Number(name);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    try {
      const argv = readFileSync(`/proc/${pid}/cmdline`, 'latin1').split('\0');
      if (words.every((w) => argv.includes(w)) && alive(pid)) out.push(pid);
    } catch {
      // gone
    }
  }
  return out;
}

/** Polls until check() is true or timeoutMs passes; returns the last value of check(). */
export async function eventually(check: () => boolean, timeoutMs = 3000, everyMs = 25): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (check()) return true;
    if (Date.now() >= end) return false;
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

function realPython(): string {
  try {
    return execFileSync('python3', ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8' }).trim() || 'python3';
  } catch {
    return 'python3';
  }
}

/**
 * python3 itself, not a version manager's shim (a shim costs a shell start per run). Through a
 * wrapper that switches user, the system's: a version manager's lives in root's home.
 */
export const PYTHON = WRAPPER.length > 0 && existsSync('/usr/bin/python3') ? '/usr/bin/python3' : realPython();

/** The machine's worm-run version, as package.json has it. */
export const VERSION = (JSON.parse(readFileSync(`${ROOT}package.json`, 'utf8')) as { version: string }).version;

/** True when the tests run as root (some checks need an unprivileged observer). */
export const IS_ROOT = process.getuid?.() === 0;
