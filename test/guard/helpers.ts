/**
 * Running guard fixtures under worm-run on the Node line under test.
 *
 * WORM_TEST_NODE names the Node binary (default: the one running vitest); worm-run runs on it,
 * so the target does too. The audit trail goes to a temporary file and comes back parsed.
 * WORM_TEST_MODE=in-process runs everything through `worm-run --in-process`.
 */
import { chmodSync, mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BIN, WRAPPER, auditLines, runProgram, type Outcome, type RunOpts } from '../helpers/run.js';

export const NODE = process.env.WORM_TEST_NODE || process.execPath;
/** The suite runs through `worm-run --in-process` (WORM_TEST_MODE=in-process). */
export const IN_PROCESS = process.env.WORM_TEST_MODE === 'in-process';
export const FIXTURES = fileURLToPath(new URL('./fixtures/', import.meta.url));
export const fixture = (name: string): string => join(FIXTURES, name);
/** The major version of the Node under test. */
export const NODE_MAJOR = Number(/^v(\d+)/.exec(
  (await runProgram(NODE, ['--version'])).stdout.trim())?.[1] ?? 0);


export interface GuardedOutcome extends Outcome {
  /** Every audit record of the run. */
  audit: Record<string, unknown>[];
  /** The records written by the guard (source: 'guard'). */
  guard: Record<string, unknown>[];
  /** The guard's `blocked` records. */
  blocked: Record<string, unknown>[];
  /** Lines of stdout that are JSON objects (what the fixtures report). */
  results: Record<string, unknown>[];
}

export interface GuardedOpts extends RunOpts {
  /** worm-run options before the script (`--deny-imports`, `--allow-unix`, ...). */
  options?: string[];
}

/** `worm-run [options] --audit-log <tmp> <script> [args]` on the Node under test. */
export async function runGuarded(script: string, args: string[] = [], opts: GuardedOpts = {}): Promise<GuardedOutcome> {
  const { options = [], ...runOpts } = opts;
  const dir = mkdtempSync(join(tmpdir(), 'worm-guard-'));
  // Through a wrapper worm-run may run as another user (WORM_TEST_WRAPPER: the container-like helper).
  if (WRAPPER.length > 0) chmodSync(dir, 0o1777);
  const log = join(dir, 'audit.jsonl');
  // WORM_TEST_MODE=in-process runs the same suite through the in-process fast path.
  const mode = IN_PROCESS ? ['--in-process'] : [];
  // worm-run itself runs on the Node under test, so the target does too.
  const argv = [BIN, ...mode, ...options, '--audit-log', log, script, ...args];
  try {
    const [file, ...rest] = [...WRAPPER, NODE, ...argv];
    const out = await runProgram(file!, rest, { timeoutMs: 45_000, ...runOpts });
    const audit = existsSync(log) ? auditLines(readFileSync(log, 'utf8')) : [];
    const guard = audit.filter((r) => r.source === 'guard');
    return {
      ...out,
      audit,
      guard,
      blocked: guard.filter((r) => r.event === 'blocked'),
      results: auditLines(out.stdout),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The fixture's reported result for one case (fails the test if missing). */
export function result(out: GuardedOutcome, name: string): Record<string, unknown> {
  const r = out.results.find((x) => x.case === name);
  if (!r) throw new Error(`no result for case ${name}\nstdout:\n${out.stdout}\nstderr:\n${out.stderr}`);
  return r;
}

/** A readable dump for assertion messages. */
export function dump(out: Outcome): string {
  return `exit ${out.code} signal ${out.signal}\n--- stdout\n${out.stdout}\n--- stderr\n${out.stderr}`;
}

export const BLOCKED_PREFIX = 'worm-run: network access is blocked: ';

/**
 * The exit record's count of the guard's refusals. On Node 22+ libuv asks for io_uring at every
 * start (and in every worker); the kernel refuses it and the trail records it as a quiet kernel
 * refusal, so the exit record's total is the guard's count plus those probes and nothing else.
 */
export function guardBlockedAtExit(out: GuardedOutcome): unknown {
  const exit = out.audit.find((r) => r.event === 'exit');
  if (!exit) return undefined;
  const kernel = out.audit.filter((r) => r.event === 'blocked' && r.source === 'kernel');
  const other = kernel.filter((r) => r.syscall !== 'io_uring_setup');
  if (other.length > 0) throw new Error(`unexpected kernel refusals: ${JSON.stringify(other)}`);
  const by = exit.blockedBy as { guard?: unknown; kernel?: unknown } | undefined;
  if (typeof exit.blocked !== 'number') return exit.blocked;
  if (exit.blocked !== (by?.guard as number) + ((by?.kernel as number | null) ?? 0)) {
    throw new Error(`exit record's blocked ${exit.blocked} is not guard + kernel: ${JSON.stringify(by)}`);
  }
  const recorded = kernel.reduce((n, r) => n + (typeof r.count === 'number' ? r.count : 1), 0);
  if (((by?.kernel as number | null) ?? 0) !== recorded) {
    throw new Error(`exit record counts ${String(by?.kernel)} kernel refusals, the trail has ${recorded}`);
  }
  return by?.guard;
}
