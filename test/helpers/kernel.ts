/**
 * What this machine's kernel lets a test exercise. An attack that cannot run here at all (no
 * 32-bit entry, no io_uring, no user namespaces ...) proves nothing either way, so a test that
 * needs one first runs the control without worm-run; when the control fails, the test is
 * skipped and its name says why.
 */
import { spawnSync } from 'node:child_process';
import { it } from 'vitest';
import { buildC, buildI386 } from './cc.js';
import { BIN, WRAPPER } from './run.js';

export interface Feature {
  ok: boolean;
  /** Why it is missing (shown in the skipped test's name). */
  reason: string;
}

const cache = new Map<string, Feature>();

function probe(name: string, check: () => Feature): Feature {
  let f = cache.get(name);
  if (!f) {
    try {
      f = check();
    } catch (e) {
      f = { ok: false, reason: `${name} probe failed: ${(e as Error).message.split('\n')[0]}` };
    }
    cache.set(name, f);
  }
  return f;
}

/**
 * Runs a probe where worm-run will run: through WORM_TEST_WRAPPER, if set (a container-like
 * helper may take away what the bare machine has: namespaces, io_uring, the i386 entry).
 */
function probeRun(file: string, args: string[], opts: { encoding: 'utf8'; timeout: number }) {
  return WRAPPER.length > 0 ? spawnSync(WRAPPER[0]!, [...WRAPPER.slice(1), file, ...args], opts) : spawnSync(file, args, opts);
}

function describeEnd(r: ReturnType<typeof spawnSync>): string {
  if (r.error) return (r.error as NodeJS.ErrnoException).code ?? r.error.message;
  return r.signal ? `killed by ${r.signal}` : `exit ${r.status}`;
}

/**
 * The i386 entry from a 64-bit program (`int $0x80`). Kernels built with IA32 emulation but
 * booted with it off (ia32_emulation=0) answer with SIGSEGV.
 */
export function int80(): Feature {
  return probe('int80', () => {
    const r = probeRun(buildC('attack'), ['int80', '9', 'probe'], { encoding: 'utf8', timeout: 10_000 });
    const ok = /^STEP i386-getpid ok/m.test(r.stdout ?? '');
    return { ok, reason: ok ? '' : `int $0x80 does not work on this kernel without worm-run (${describeEnd(r)})` };
  });
}

/** A static i386 program. Without IA32 emulation execve says "Exec format error". */
export function i386Exec(): Feature {
  return probe('i386Exec', () => {
    const r = probeRun(buildI386('i386net'), [], { encoding: 'utf8', timeout: 10_000 });
    const ok = (r.stdout ?? '') === 'W\n';
    return { ok, reason: ok ? '' : `this kernel does not run i386 programs without worm-run (${describeEnd(r)})` };
  });
}

/** io_uring_setup works without worm-run (it can be disabled by sysctl or absent). */
export function ioUring(): Feature {
  return probe('ioUring', () => {
    const r = probeRun(buildC('attack'), ['io_uring_setup'], { encoding: 'utf8', timeout: 10_000 });
    const ok = /^STEP io_uring_setup ok/m.test(r.stdout ?? '');
    return { ok, reason: ok ? '' : `io_uring is not available on this kernel (${(r.stdout ?? '').trim() || describeEnd(r)})` };
  });
}

/**
 * `it.concurrent` when every feature is there, else a skipped test whose name carries the
 * reason, so the report says what was not tried and why.
 */
export function itWith(features: Feature[], name: string, fn: () => Promise<void>, timeout?: number): void {
  const missing = features.filter((f) => !f.ok);
  if (missing.length === 0) it.concurrent(name, fn, timeout);
  else it.skip(`${name} [skipped: ${missing.map((f) => f.reason).join('; ')}]`, fn);
}

/**
 * Whether `nobody` can start worm-run from this checkout: the tests run as root, and a checkout
 * under /root (as CI may make it) is not readable by anyone else.
 */
export function nobodyCanRunWormRun(): Feature {
  return probe('nobodyCanRunWormRun', () => {
    if (process.getuid?.() !== 0) return { ok: false, reason: 'the tests do not run as root, so they cannot switch to nobody' };
    const r = spawnSync(process.execPath, [BIN, '--version'], { uid: 65534, gid: 65534, cwd: '/', encoding: 'utf8', timeout: 30_000 });
    const ok = r.status === 0;
    return { ok, reason: ok ? '' : `nobody cannot run worm-run from this checkout (${(r.stderr ?? '').trim().split('\n')[0] || describeEnd(r)})` };
  });
}

/**
 * Whether this machine lets worm-run give a run its own PID namespace: as root always (unless
 * a container forbids it), otherwise through an unprivileged user namespace.
 */
export function pidNamespaces(): Feature {
  return probe('pidNamespaces', () => {
    const root = process.getuid?.() === 0 && WRAPPER.length === 0;
    const r = probeRun('unshare', ['--pid', '--fork', '--mount-proc', ...(root ? [] : ['--user', '--map-root-user']), 'true'], { encoding: 'utf8', timeout: 10_000 });
    const ok = r.status === 0;
    return { ok, reason: ok ? '' : `this machine gives no PID namespace (${(r.stderr ?? '').trim().split('\n')[0] || describeEnd(r)})` };
  });
}
