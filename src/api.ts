/**
 * The library API: `run(command, options)` starts a program under a policy through the same
 * supervisor as the CLI and resolves to one result shape. It never filters or otherwise
 * changes the process it is called from; it only adds a child.
 */
import { closeSync, openSync } from 'node:fs';
import { Socket } from 'node:net';
import { policyFromDocument, type PolicyFile } from './config.js';
import { WormError } from './errors.js';
import { native } from './native.js';
import { checkPolicy } from './options.js';
import { execute, type RunResult } from './supervisor/execute.js';

export type StdioOption = 'inherit' | 'pipe' | 'ignore';

export interface RunOptions {
  /** The policy, in the policy file's shape (see schema/policy.schema.json). */
  policy?: PolicyFile;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Default 'pipe': stdout and stderr are collected into the result. */
  stdio?: StdioOption | [StdioOption, StdioOption, StdioOption];
  /** Written to the target's standard input when stdin is 'pipe'. */
  input?: string | Buffer;
  /**
   * Aborting kills the target, its process group and every descendant it still has, and run()
   * resolves with what the run did (status 137); a process that daemonised out of both is still
   * the run's init's, and ends with it. A signal aborted
   * before run() is called starts nothing: run() rejects with an AbortError, as Node's promise
   * APIs do.
   */
  signal?: AbortSignal;
  /** Most bytes kept of stdout and of stderr each (stdio 'pipe'); the rest is read and dropped. Default 64 MiB. */
  maxBuffer?: number;
}

export interface ApiRunResult extends RunResult {
  /** Collected standard output (stdio 'pipe'), else null. */
  stdout: string | null;
  stderr: string | null;
  /** The output went past maxBuffer and was cut there. */
  stdoutTruncated: boolean;
  stderrTruncated: boolean;
}

export const DEFAULT_MAX_BUFFER = 64 * 1024 * 1024;

interface Collected {
  text: string;
  truncated: boolean;
}

/** Reads a pipe to its end, keeping at most max bytes: the target cannot exhaust the caller's memory. */
function collect(fd: number, max: number): { result: Promise<Collected>; close(): void } {
  const s = new Socket({ fd, readable: true, writable: false });
  const chunks: Buffer[] = [];
  let kept = 0;
  let truncated = false;
  const result = new Promise<Collected>((resolve) => {
    s.on('data', (d: Buffer) => {
      if (kept >= max) {
        truncated = true;
        return;
      }
      const part = kept + d.length > max ? d.subarray(0, max - kept) : d;
      truncated ||= part.length < d.length;
      chunks.push(part);
      kept += part.length;
    });
    const done = () => resolve({ text: Buffer.concat(chunks).toString('utf8'), truncated });
    s.on('end', done);
    s.on('close', done);
    s.on('error', done);
  });
  return { result, close: () => s.destroy() };
}

function isStringArray(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((x) => typeof x === 'string');
}

function isOptions(v: unknown): v is RunOptions {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * The two call shapes, as one argv and the options: `run([file, ...args], options?)` and, as
 * Node's execFile and spawn take them, `run(file, args?, options?)` (args may be left out).
 */
function callShape(a: unknown, b: unknown, c: unknown): { command: string[]; options: RunOptions } {
  let command: unknown[];
  let options: unknown;
  if (typeof a === 'string') {
    if (a === '') usageThrow('file must not be empty');
    if (b === undefined || Array.isArray(b)) {
      if (b !== undefined && !isStringArray(b)) usageThrow('args must be an array of strings');
      command = [a, ...(b ?? [])];
      options = c;
    } else {
      if (!isOptions(b)) usageThrow('the second argument must be an array of strings (args) or an object (options)');
      if (c !== undefined) usageThrow('run(file, options) takes nothing after the options');
      command = [a];
      options = b;
    }
  } else {
    if (!isStringArray(a) || a.length === 0) {
      usageThrow('command must be a non-empty array of strings ([file, ...args]) or a file name');
    }
    if (c !== undefined) usageThrow('run(command, options) takes nothing after the options');
    command = [...a];
    options = b;
  }
  if (options !== undefined && !isOptions(options)) usageThrow('options must be an object');
  return { command: command as string[], options: options ?? {} };
}

/** A call run() cannot make sense of: refused before anything starts. */
function usageThrow(message: string): never {
  throw new WormError('ERR_WORM_USAGE', `run(): ${message}`);
}

/** A NUL byte would cut the string where the kernel reads it (argv, the environment, chdir). */
function refuseNul(command: string[], options: RunOptions, cwd: string): void {
  if (command.some((c) => c.includes('\0'))) usageThrow('the command contains a NUL byte');
  if (cwd.includes('\0')) usageThrow('options.cwd contains a NUL byte');
  for (const [k, v] of Object.entries(options.env ?? {})) {
    if (k.includes('\0') || (typeof v === 'string' && v.includes('\0'))) usageThrow(`options.env: ${JSON.stringify(k)} contains a NUL byte`);
  }
}

/**
 * Node's AbortError, as its promise APIs reject with for a signal aborted before they start
 * (fs.promises, timers/promises, events.once): name 'AbortError', code 'ABORT_ERR', the
 * signal's reason as the cause.
 */
export class AbortError extends Error {
  readonly code = 'ABORT_ERR';

  constructor(message = 'The operation was aborted', options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AbortError';
  }
}

/**
 * Runs a program under a policy: `run([file, ...args], options?)` or `run(file, args?, options?)`.
 * Rejects with WormError (`code`) for bad arguments or a bad policy and with AbortError when
 * options.signal is already aborted (nothing is started); resolves otherwise, also when the
 * target cannot start (`error`, status 126/127) or is stopped by a limit or an abort.
 */
export function run(command: readonly string[], options?: RunOptions): Promise<ApiRunResult>;
export function run(file: string, args?: readonly string[], options?: RunOptions): Promise<ApiRunResult>;
export function run(file: string, options?: RunOptions): Promise<ApiRunResult>;
export async function run(a: string | readonly string[], b?: readonly string[] | RunOptions, c?: RunOptions): Promise<ApiRunResult> {
  const { command, options } = callShape(a, b, c);
  const cwd = options.cwd ?? process.cwd();
  if (typeof cwd !== 'string') usageThrow('options.cwd must be a string');
  refuseNul(command, options, cwd);
  const { signal } = options;
  if (signal !== undefined && (typeof signal !== 'object' || signal === null || typeof signal.aborted !== 'boolean' ||
    typeof signal.addEventListener !== 'function')) {
    usageThrow('options.signal must be an AbortSignal');
  }
  const policy = policyFromDocument(options.policy ?? {}, 'options.policy', cwd);
  if (policy.mode === 'in-process') {
    throw new WormError('ERR_WORM_USAGE', 'options.policy.mode: in-process runs inside the worm-run CLI only; the API always supervises');
  }
  checkPolicy(policy);
  const errno = native.seccompSupport();
  if (errno !== 0) {
    throw new WormError('ERR_WORM_PLATFORM', `this kernel cannot install seccomp filters (errno ${errno})`);
  }
  // Aborted now: nothing is started. Aborted while the run starts (execute() awaits the target's
  // report): execute() asks before go(), and the target never runs. Aborted later: onStarted
  // ends the run.
  if (signal?.aborted) throw new AbortError(undefined, { cause: signal.reason });

  const modes = typeof options.stdio === 'string' || options.stdio === undefined
    ? [options.stdio ?? 'pipe', options.stdio ?? 'pipe', options.stdio ?? 'pipe'] as StdioOption[]
    : options.stdio;
  const childFds: number[] = [];
  const toClose: number[] = [];
  const maxBuffer = options.maxBuffer ?? DEFAULT_MAX_BUFFER;
  if (!Number.isSafeInteger(maxBuffer) || maxBuffer < 0) {
    throw new WormError('ERR_WORM_USAGE', 'run(): maxBuffer must be a whole number of bytes');
  }
  const readers: ({ result: Promise<Collected>; close(): void } | null)[] = [null, null, null];
  let stdinWrite: number | null = null;
  try {
    for (let i = 0; i < 3; i++) {
      const mode = modes[i] ?? 'pipe';
      if (mode === 'inherit') {
        childFds.push(i);
      } else if (mode === 'ignore') {
        const fd = openSync('/dev/null', i === 0 ? 'r' : 'w');
        childFds.push(fd);
        toClose.push(fd);
      } else {
        const [r, w] = native.pipe();
        if (i === 0) {
          childFds.push(r);
          toClose.push(r);
          stdinWrite = w;
        } else {
          childFds.push(w);
          toClose.push(w);
          readers[i] = collect(r, maxBuffer);
        }
      }
    }
  } catch (e) {
    // Out of descriptors half-way (EMFILE): what was opened is closed, and no reader keeps the
    // host's event loop alive.
    readers.forEach((r) => r?.close());
    for (const fd of toClose) closeSync(fd);
    if (stdinWrite !== null) closeSync(stdinWrite);
    throw e;
  }

  let abort: (() => void) | undefined;
  let result: RunResult;
  try {
    result = await execute(command, policy, {
      cwd,
      env: options.env ?? process.env,
      stdio: childFds as [number, number, number],
      hardenSupervisor: false,
      humanLines: false,
      aborted: () => options.signal?.aborted === true,
      onStarted: (_pid, _signal, endRun) => {
        for (const fd of toClose.splice(0)) closeSync(fd);
        if (stdinWrite !== null) {
          // Written from the event loop: a target that fills stdout before reading stdin
          // must not deadlock against a blocking write here.
          const sink = new Socket({ fd: stdinWrite, readable: false, writable: true });
          stdinWrite = null;
          sink.on('error', () => {}); // the target closed its stdin early
          sink.end(options.input ?? '');
        }
        abort = endRun;
        if (options.signal?.aborted) abort();
        else options.signal?.addEventListener('abort', abort, { once: true });
      },
    });
  } finally {
    for (const fd of toClose) closeSync(fd);
    if (stdinWrite !== null) closeSync(stdinWrite);
    if (abort) options.signal?.removeEventListener('abort', abort);
  }
  if (result.error?.code === 'ERR_WORM_ABORTED') {
    // Aborted while it was starting: nothing ran, as for a signal aborted before the call.
    readers.forEach((r) => r?.close());
    throw new AbortError(undefined, { cause: options.signal?.reason });
  }
  // Output ends when the last writer does; anything the run left behind was killed already.
  const grace = setTimeout(() => readers.forEach((r) => r?.close()), 500);
  const [out, err] = await Promise.all([readers[1]?.result ?? null, readers[2]?.result ?? null]);
  clearTimeout(grace);
  return {
    ...result,
    stdout: out?.text ?? null, stderr: err?.text ?? null,
    stdoutTruncated: out?.truncated ?? false, stderrTruncated: err?.truncated ?? false,
  };
}
