/** Starting worm-run (and, for control cases, the bare program) as a user would. */
import { spawn, type SpawnOptions } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const BIN = `${ROOT}bin/worm-run.js`;

export interface Outcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunOpts extends SpawnOptions {
  input?: string;
  timeoutMs?: number;
}

/** Runs a program to completion (killed after timeoutMs) and collects its output. */
export function runProgram(file: string, args: string[], opts: RunOpts = {}): Promise<Outcome> {
  const { input, timeoutMs = 30_000, ...spawnOpts } = opts;
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: ['pipe', 'pipe', 'pipe'], ...spawnOpts });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d) => (stdout += d));
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

/** `worm-run ARGS...` with this Node. */
export function worm(args: string[], opts: RunOpts = {}): Promise<Outcome> {
  return runProgram(process.execPath, [BIN, ...args], opts);
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
