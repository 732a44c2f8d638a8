/**
 * Kernel refusals as the trail records them: the call and its arguments decoded (family, type
 * and protocol of a socket, the destination of a connect or sendto), who made it (pid,
 * executable, argv), and how often (repeats of the same call by the same process are folded
 * into one counted record).
 */
import type { KernelRefusal } from '../native.js';

const FAMILIES: Record<number, string> = {
  0: 'AF_UNSPEC', 1: 'AF_UNIX', 2: 'AF_INET', 3: 'AF_AX25', 4: 'AF_IPX', 5: 'AF_APPLETALK', 9: 'AF_X25', 10: 'AF_INET6',
  16: 'AF_NETLINK', 17: 'AF_PACKET', 21: 'AF_RDS', 26: 'AF_LLC', 29: 'AF_CAN', 30: 'AF_TIPC', 31: 'AF_BLUETOOTH',
  38: 'AF_ALG', 40: 'AF_VSOCK', 42: 'AF_QIPCRTR', 44: 'AF_XDP', 45: 'AF_MCTP',
};
const TYPES: Record<number, string> = { 1: 'SOCK_STREAM', 2: 'SOCK_DGRAM', 3: 'SOCK_RAW', 4: 'SOCK_RDM', 5: 'SOCK_SEQPACKET', 6: 'SOCK_DCCP', 10: 'SOCK_PACKET' };
const ERRNOS: Record<number, string> = { 1: 'EPERM', 38: 'ENOSYS' };
const IOCTLS: Record<number, string> = {
  0x5412: 'TIOCSTI', 0x541c: 'TIOCLINUX', 0x5423: 'TIOCSETD', 0x541d: 'TIOCCONS', 0x5437: 'TIOCVHANGUP', 0x540a: 'TCXONC',
  0x540c: 'TIOCEXCL', 0x5457: 'TIOCSLCKTRMIOS', 0x540e: 'TIOCSCTTY', 0x400454ca: 'TUNSETIFF', 0x400454d9: 'TUNSETQUEUE',
};

function low32(hex: string | undefined): number {
  return hex === undefined ? 0 : Number(BigInt(hex) & 0xffffffffn);
}

function family(n: number): string {
  return FAMILIES[n] ?? `family ${n}`;
}

function sockType(n: number): string {
  const base = TYPES[n & 0xf] ?? `type ${n & 0xf}`;
  const flags = [n & 0x800 ? 'SOCK_NONBLOCK' : '', n & 0x80000 ? 'SOCK_CLOEXEC' : ''].filter(Boolean);
  return [base, ...flags].join('|');
}

/** The call as a person reads it: `socket(AF_INET, SOCK_STREAM)`, `connect to 127.0.0.1:9`. */
export function describeCall(r: KernelRefusal): { call: string; args: Record<string, unknown> } {
  const a = r.args;
  if (r.syscall.startsWith('i386:') || r.syscall.startsWith('x32:')) {
    const abi = r.syscall.split(':')[0]!;
    return { call: `${abi} syscall ${r.syscall.split(':')[1]}`, args: { abi } };
  }
  switch (r.syscall) {
    case 'socket':
    case 'socketpair': {
      const args = { family: family(low32(a[0])), type: sockType(low32(a[1])), protocol: low32(a[2]) };
      return { call: `${r.syscall}(${args.family}, ${TYPES[low32(a[1]) & 0xf] ?? args.type})`, args };
    }
    case 'connect':
    case 'bind':
    case 'sendto': {
      const dest = r.address ?? 'an unreadable address';
      return { call: `${r.syscall} ${r.syscall === 'bind' ? 'on' : 'to'} ${dest}`, args: { address: r.address ?? null, family: r.family === undefined ? null : family(r.family) } };
    }
    case 'ioctl': {
      const req = low32(a[1]);
      const name = IOCTLS[req] ?? `0x${req.toString(16)}`;
      return { call: `ioctl(${name})`, args: { request: name } };
    }
    case 'prlimit64':
    case 'sched_setaffinity':
    case 'sched_setscheduler':
    case 'sched_setparam':
    case 'sched_setattr':
    case 'kill': {
      const pid = low32(a[0]) | 0;
      return { call: `${r.syscall}(pid ${pid})`, args: { pid } };
    }
    case 'setpriority':
    case 'ioprio_set': {
      const which = low32(a[0]);
      const who = low32(a[1]) | 0;
      return { call: `${r.syscall}(which ${which}, who ${who})`, args: { which, who } };
    }
    case 'clone':
    case 'unshare':
      return { call: `${r.syscall}(flags 0x${low32(a[0]).toString(16)})`, args: { flags: `0x${low32(a[0]).toString(16)}` } };
    default:
      return { call: r.syscall, args: {} };
  }
}

function programName(r: KernelRefusal): string {
  const exe = r.exe.split('/').pop() || r.argv.split(' ')[0] || 'the target';
  return exe;
}

/** The `blocked` record's fields. */
export function refusalRecord(r: KernelRefusal): Record<string, unknown> {
  const { call, args } = describeCall(r);
  return {
    source: 'kernel', layer: 'seccomp', op: call, syscall: r.syscall, nr: r.nr, ...args,
    errno: ERRNOS[r.errno] ?? r.errno, by: { pid: r.pid, exe: r.exe, argv: r.argv },
    count: r.count,
  };
}

/**
 * glibc looks for nscd through an AF_UNIX socket on every user or group lookup (`ls -l`, `id`),
 * and syslog(3) through /dev/log: recorded, but no line on the terminal for them. Every other
 * refusal is an attempt worth a line.
 */
export function isQuiet(r: KernelRefusal): boolean {
  // libuv (Node 22+) asks for io_uring at every start and falls back: recorded, not shouted.
  return (r.syscall === 'socket' && low32(r.args[0]) === 1) || r.syscall === 'io_uring_setup';
}

export function humanRefusalLine(r: KernelRefusal): string {
  return `blocked ${describeCall(r).call} by ${programName(r)} (pid ${r.pid})`;
}
