/**
 * `worm-run doctor`: what this machine provides, measured, and a live self-test: a probe
 * started under the default policy through the real supervisor tries to open sockets and
 * io_uring and must be refused. Exit 0 only when the protection worm-run promises holds here.
 */
import { accessSync, constants, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { arch, release, tmpdir } from 'node:os';
import { run } from './api.js';
import { addonOrigin, native } from './native.js';
import { VERSION } from './version.js';

export type CheckStatus = 'ok' | 'warn' | 'fail' | 'info';

export interface Check {
  name: string;
  status: CheckStatus;
  detail: string;
}

export interface DoctorReport {
  version: string;
  protected: boolean;
  checks: Check[];
}

const EPERM = 1;
const ENOSYS = 38;

function cgroupV2(): Check {
  const name = 'cgroup v2';
  const mount = readFileSync('/proc/mounts', 'utf8').split('\n').map((l) => l.split(' '))
    .find((f) => f[2] === 'cgroup2')?.[1];
  if (!mount || !existsSync(`${mount}/cgroup.controllers`)) {
    return { name, status: 'info', detail: 'not mounted (not used: limits are rlimits)' };
  }
  const controllers = readFileSync(`${mount}/cgroup.controllers`, 'utf8').trim() || 'none';
  const self = /^0::(.*)$/m.exec(readFileSync('/proc/self/cgroup', 'utf8'))?.[1] ?? '/';
  let writable = false;
  try {
    accessSync(`${mount}${self}`, constants.W_OK);
    writable = true;
  } catch {
    // not delegated to us
  }
  return {
    name, status: 'info',
    detail: `at ${mount}, controllers: ${controllers}; own cgroup ${writable ? 'writable' : 'not writable'} (not used: limits are rlimits)`,
  };
}

// The probe runs as a target: a Node process with the guard, under the kernel filter.
const PROBE = `
const a = require(process.argv[1]);
const out = {
  inet: a.probeSocket(2, 1), inet6: a.probeSocket(10, 1), unix: a.probeSocket(1, 1),
  netlink: a.probeSocket(16, 3), packet: a.probeSocket(17, 3), vsock: a.probeSocket(40, 1),
  ioUring: a.probeIoUring(),
};
try { require('net').connect(9, '127.0.0.1').on('error', (e) => { out.guard = e.code; done(); }); }
catch (e) { out.guard = e.code; done(); }
function done() { process.stdout.write(JSON.stringify(out)); }
`;

interface Live {
  checks: Check[];
}

/**
 * The live self-test: a probe started under the default policy through the real supervisor.
 * What the run got (namespaces, refusals recorded, Landlock's filesystem rules) is what its
 * target measured in itself before execve, as the start record says.
 */
async function liveProbe(): Promise<Live> {
  const name = 'live probe';
  // In a directory of its own: the working directory is writable for a run, and doctor may be
  // started anywhere (/, /tmp) that worm-run would refuse to open up.
  const cwd = mkdtempSync(join(tmpdir(), 'worm-run-doctor-'));
  let r;
  try {
    r = await run([process.execPath, '-e', PROBE, addonOrigin().path], { stdio: ['ignore', 'pipe', 'pipe'], cwd });
  } finally {
    rmSync(cwd, { recursive: true, force: true });
  }
  let got: Record<string, number | string>;
  try {
    got = JSON.parse(r.stdout ?? '') as Record<string, number | string>;
  } catch {
    const why = r.error?.message ?? (r.stderr ?? '').trim().split('\n').pop() ?? '';
    return { checks: [{ name, status: 'fail', detail: `the probe did not run (status ${r.status}): ${why}` }] };
  }
  const checks: Check[] = [];
  const want: Record<string, number> = { inet: EPERM, inet6: EPERM, unix: EPERM, netlink: EPERM, packet: EPERM, vsock: EPERM, ioUring: ENOSYS };
  const wrong = Object.entries(want).filter(([k, v]) => got[k] !== v).map(([k]) => `${k}: errno ${got[k]}`);
  const guardOk = got.guard === 'ERR_WORM_BLOCKED';
  const p = (r.protections ?? {}) as {
    seccomp?: { refusalsRecorded?: boolean; notRecordedBecause?: string };
    namespaces?: { pid?: boolean; mount?: boolean; user?: boolean; privateProc?: boolean };
    containment?: string; otherProcesses?: string; landlock?: { abi: number; filesystem: string } | string;
    notes?: string[];
  };
  const kernelRecorded = r.kernelRefusals.length > 0;
  checks.push(p.seccomp?.refusalsRecorded && kernelRecorded
    ? { name: 'kernel refusals recorded', status: 'ok', detail: `yes: the probe's ${r.kernelRefusals.length} refused calls came back as records (seccomp user notification)` }
    : { name: 'kernel refusals recorded', status: 'warn', detail: `no: ${p.seccomp?.notRecordedBecause ?? 'the listener reported nothing'}; refusals still fail (EPERM), without a record` });
  const ns = p.namespaces ?? {};
  checks.push(ns.pid
    ? { name: 'run namespaces', status: 'ok', detail: `PID${ns.mount ? ' and mount' : ''} namespace${ns.user ? ' (in a user namespace)' : ''}${ns.privateProc ? ', private /proc' : ', /proc of the host'}: ${p.containment}; other processes ${p.otherProcesses}` }
    : { name: 'run namespaces', status: 'warn', detail: `none (${(p.notes ?? []).find((n) => n.startsWith('no namespaces')) ?? 'not available'}): ${p.containment}; ${p.otherProcesses}` });
  checks.push(typeof p.landlock === 'object'
    ? { name: 'filesystem confinement', status: 'ok', detail: `Landlock ABI ${p.landlock.abi}, exceptions kept by ${p.landlock.filesystem}` }
    : { name: 'filesystem confinement', status: 'fail', detail: 'no Landlock: the default filesystem policy cannot be kept (worm-run refuses to run without --fs off)' });
  if (wrong.length > 0) {
    checks.push({ name, status: 'fail', detail: `NOT refused: ${wrong.join(', ')}` });
  } else {
    checks.push({
      name, status: guardOk ? 'ok' : 'warn',
      detail: `sockets of every family refused (EPERM), io_uring_setup ENOSYS; guard ${guardOk ? 'refused net.connect (ERR_WORM_BLOCKED)' : `did not answer as expected (${String(got.guard)})`}`,
    });
  }
  return { checks };
}

export async function doctor(): Promise<DoctorReport> {
  const checks: Check[] = [];
  checks.push({ name: 'platform', status: 'info', detail: `linux ${release()} ${arch()}` });
  checks.push({ name: 'node', status: 'ok', detail: process.version });
  const origin = addonOrigin();
  checks.push({ name: 'addon', status: 'ok', detail: `${origin.prebuild ? 'prebuild' : 'local build'} ${origin.path}` });
  const k = native.probeKernel();
  checks.push(k.seccomp
    ? { name: 'seccomp filter', status: 'ok', detail: 'available (SECCOMP_RET_ERRNO)' }
    : { name: 'seccomp filter', status: 'fail', detail: `unavailable (errno ${k.seccompErrno}): worm-run refuses to run` });
  checks.push({ name: 'seccomp TSYNC', status: k.tsync ? 'ok' : 'fail', detail: k.tsync ? 'available (the supervisor filters all its threads)' : 'unavailable: the supervisor cannot filter itself' });
  checks.push({ name: 'seccomp user notification', status: k.userNotif ? 'ok' : 'warn', detail: k.userNotif ? 'available: the supervisor records every refused call' : 'unavailable: refused calls fail without a record' });
  checks.push(k.landlockAbi > 0
    ? { name: 'landlock', status: 'ok', detail: `ABI ${k.landlockAbi}: targets cannot reach processes outside the sandbox${k.landlockAbi >= 4 ? ', TCP refused a second time' : ''}${k.landlockAbi >= 6 ? ', signals and abstract sockets scoped' : ''}` }
    : { name: 'landlock', status: 'warn', detail: 'unavailable: a target can open /proc/PID/mem of processes of its own user; use --user' });
  checks.push({ name: 'io_uring', status: 'info', detail: `${k.ioUring} on this kernel (refused in targets: io_uring_setup -> ENOSYS)` });
  checks.push(cgroupV2());
  let yama = 'absent';
  try {
    yama = `ptrace_scope ${readFileSync('/proc/sys/kernel/yama/ptrace_scope', 'utf8').trim()}`;
  } catch {
    // no Yama
  }
  checks.push({ name: 'yama', status: 'info', detail: yama });
  if (process.getuid?.() === 0) {
    checks.push({ name: 'identity', status: 'warn', detail: 'running as root: a target keeps root\'s other powers; pass --user <name> to drop them' });
  }
  if (k.seccomp) checks.push(...(await liveProbe()).checks);
  const ok = checks.every((c) => c.status !== 'fail');
  return { version: VERSION, protected: ok, checks };
}

export function formatReport(r: DoctorReport): string {
  const lines = [`worm-run doctor ${r.version}`];
  for (const c of r.checks) lines.push(`  ${c.status.padEnd(5)} ${c.name.padEnd(26)} ${c.detail}`);
  lines.push(r.protected ? 'result: this machine provides the protection worm-run promises'
    : 'result: NOT protected here; see the failed checks above');
  return `${lines.join('\n')}\n`;
}
