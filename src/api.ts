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
   * Aborting kills the target, its process group and every descendant it still has. (A process
   * that daemonised out of both before the abort is out of the library's reach: only the CLI is
   * a subreaper.)
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

export async function run(command: string[], options: RunOptions = {}): Promise<ApiRunResult> {
  if (!Array.isArray(command) || command.length === 0 || !command.every((c) => typeof c === 'string')) {
    throw new WormError('ERR_WORM_USAGE', 'run(command): command must be a non-empty array of strings');
  }
  const cwd = options.cwd ?? process.cwd();
  const policy = policyFromDocument(options.policy ?? {}, 'options.policy', cwd);
  if (policy.mode === 'in-process') {
    throw new WormError('ERR_WORM_USAGE', 'options.policy.mode: in-process runs inside the worm-run CLI only; the API always supervises');
  }
  checkPolicy(policy);
  const errno = native.seccompSupport();
  if (errno !== 0) {
    throw new WormError('ERR_WORM_PLATFORM', `this kernel cannot install seccomp filters (errno ${errno})`);
  }

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

  let abort: (() => void) | undefined;
  let result: RunResult;
  try {
    result = await execute(command, policy, {
      cwd,
      env: options.env ?? process.env,
      stdio: childFds as [number, number, number],
      hardenSupervisor: false,
      humanLines: false,
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
