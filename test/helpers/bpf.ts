/**
 * Classic-BPF seccomp programs run on chosen inputs, as the kernel would run them, and the
 * pinned deny set they are checked against. The deny set is written out here, not derived
 * from the table the filter is built from, so a rule removed or loosened in native/seccomp.cc
 * fails a test. Used by test/filter-program.test.ts (worm-run's own program) and
 * test/export.test.ts (the exported profile as libseccomp compiles it).
 */

export const AUDIT_ARCH_X86_64 = 0xc000003e;
export const AUDIT_ARCH_I386 = 0x40000003;
export const X32_BIT = 0x40000000;
export const RET_KILL_PROCESS = 0x80000000;
export const RET_KILL_THREAD = 0x00000000;
export const RET_TRAP = 0x00030000;
export const RET_ERRNO = 0x00050000;
export const RET_USER_NOTIF = 0x7fc00000;
export const RET_TRACE = 0x7ff00000;
export const RET_LOG = 0x7ffc0000;
export const RET_ALLOW = 0x7fff0000;
export const EPERM = 1;
export const ENOSYS = 38;

/** [code, jt, jf, k] per instruction. */
export type Program = [number, number, number, number][];

/** A program as libseccomp's seccomp_export_bpf writes it (struct sock_filter, host order). */
export function parseProgram(bytes: Buffer): Program {
  const out: Program = [];
  for (let i = 0; i + 8 <= bytes.length; i += 8) {
    out.push([bytes.readUInt16LE(i), bytes[i + 2]!, bytes[i + 3]!, bytes.readUInt32LE(i + 4)]);
  }
  return out;
}

/** The struct seccomp_data of one call. */
function seccompData(arch: number, nr: number, args: bigint[]): Buffer {
  const data = Buffer.alloc(64);
  data.writeUInt32LE(nr >>> 0, 0);
  data.writeUInt32LE(arch >>> 0, 4);
  for (let i = 0; i < 6; i++) data.writeBigUInt64LE(BigInt.asUintN(64, args[i] ?? 0n), 16 + 8 * i);
  return data;
}

/**
 * Runs a program on one call and returns its 32-bit answer. Every classic-BPF instruction a
 * seccomp filter may use (the kernel's seccomp_check_filter list) is implemented; anything
 * else throws.
 */
export function run(program: Program, arch: number, nr: number, args: bigint[] = []): number {
  const data = seccompData(arch, nr, args);
  const mem = new Uint32Array(16);
  let a = 0;
  let x = 0;
  for (let pc = 0; pc < program.length;) {
    const [code, jt, jf, k] = program[pc]!;
    const cls = code & 0x07;
    pc += 1;
    if (cls === 0x00 || cls === 0x01) { // ld, ldx
      const mode = code & 0xe0;
      let v: number;
      if (mode === 0x20 && (code & 0x18) === 0x00) v = data.readUInt32LE(k); // abs, word
      else if (mode === 0x00) v = k >>> 0; // imm
      else if (mode === 0x60) v = mem[k]!; // mem
      else if (mode === 0x80) v = 64; // len
      else throw new Error(`load 0x${code.toString(16)} at ${pc - 1}`);
      if (cls === 0x00) a = v;
      else x = v;
    } else if (cls === 0x02) mem[k] = a; // st
    else if (cls === 0x03) mem[k] = x; // stx
    else if (cls === 0x04) { // alu
      const src = code & 0x08 ? x : k >>> 0;
      switch (code & 0xf0) {
        case 0x00: a = (a + src) >>> 0; break;
        case 0x10: a = (a - src) >>> 0; break;
        case 0x20: a = Math.imul(a, src) >>> 0; break;
        case 0x30: if (src === 0) return RET_KILL_THREAD; a = Math.floor(a / src) >>> 0; break;
        case 0x40: a = (a | src) >>> 0; break;
        case 0x50: a = (a & src) >>> 0; break;
        case 0x60: a = src >= 32 ? 0 : (a << src) >>> 0; break;
        case 0x70: a = src >= 32 ? 0 : a >>> src; break;
        case 0x80: a = (-a) >>> 0; break;
        case 0x90: if (src === 0) return RET_KILL_THREAD; a = (a % src) >>> 0; break;
        case 0xa0: a = (a ^ src) >>> 0; break;
        default: throw new Error(`alu 0x${code.toString(16)} at ${pc - 1}`);
      }
    } else if (cls === 0x05) { // jmp
      const src = code & 0x08 ? x : k >>> 0;
      switch (code & 0xf0) {
        case 0x00: pc += k; break; // ja
        case 0x10: pc += a === src ? jt : jf; break;
        case 0x20: pc += a > src ? jt : jf; break;
        case 0x30: pc += a >= src ? jt : jf; break;
        case 0x40: pc += (a & src) !== 0 ? jt : jf; break;
        default: throw new Error(`jump 0x${code.toString(16)} at ${pc - 1}`);
      }
    } else if (cls === 0x06) return (code & 0x18) === 0x10 ? a : k >>> 0; // ret A / ret K
    else if (code === 0x07) x = a; // tax
    else if (code === 0x87) a = x; // txa
    else throw new Error(`instruction 0x${code.toString(16)} at ${pc - 1}`);
  }
  throw new Error('fell off the end of the program');
}

/** An answer in words: 'allow', an errno name, 'notify', 'kill' ... */
export type Answer = 'allow' | 'EPERM' | 'ENOSYS' | 'notify' | 'kill' | 'trap' | 'trace' | 'log' | `errno ${number}`;

export function answer(ret: number): Answer {
  const r = ret >>> 0;
  const action = (r & 0xffff0000) >>> 0;
  if (r === RET_ALLOW) return 'allow';
  if (action === RET_KILL_PROCESS || action === RET_KILL_THREAD) return 'kill';
  if (action === RET_ERRNO) {
    const e = r & 0xffff;
    return e === EPERM ? 'EPERM' : e === ENOSYS ? 'ENOSYS' : `errno ${e}`;
  }
  if (action === RET_USER_NOTIF) return 'notify';
  if (action === RET_TRAP) return 'trap';
  if (action === RET_TRACE) return 'trace';
  if (action === RET_LOG) return 'log';
  throw new Error(`unexpected return 0x${r.toString(16)}`);
}

export function evaluate(program: Program, arch: number, nr: number, args: bigint[] = []): Answer {
  return answer(run(program, arch, nr, args));
}

// ---- the pinned deny set (x86_64 numbers) ----------------------------------------------------

export const NR = {
  read: 0, write: 1, mmap: 9, ioctl: 16, socket: 41, connect: 42, accept: 43, sendto: 44, recvfrom: 45, sendmsg: 46,
  recvmsg: 47, bind: 49, listen: 50, socketpair: 53, clone: 56, fork: 57, execve: 59, kill: 62, ptrace: 101,
  getppid: 110, setpriority: 141, sched_setparam: 142, sched_setscheduler: 144, vhangup: 153, pivot_root: 155,
  iopl: 172, ioperm: 173, mount: 165, umount2: 166, init_module: 175, sched_setaffinity: 203, kexec_load: 246,
  add_key: 248, request_key: 249, keyctl: 250, ioprio_set: 251, migrate_pages: 256, unshare: 272, move_pages: 279,
  accept4: 288, perf_event_open: 298, recvmmsg: 299, prlimit64: 302, open_by_handle_at: 304, sendmmsg: 307, setns: 308,
  process_vm_readv: 310, process_vm_writev: 311, kcmp: 312, finit_module: 313, sched_setattr: 314, execveat: 322,
  bpf: 321, kexec_file_load: 320, io_uring_setup: 425, io_uring_enter: 426, io_uring_register: 427, open_tree: 428,
  move_mount: 429, fsopen: 430, fsconfig: 431, fsmount: 432, fspick: 433, pidfd_open: 434, clone3: 435, pidfd_getfd: 438,
  process_madvise: 440, mount_setattr: 442, open_tree_attr: 467,
};
export type Call = keyof typeof NR;
export const AF_UNIX = 1n;
export const AF_INET = 2n;
/** Junk in the upper half of a 32-bit argument. */
export const HI = 1n << 32n;

/** Refused whatever the arguments, in every configuration a target gets. */
export const ALWAYS: [Call, Answer][] = [
  ['socket', 'EPERM'], ['connect', 'EPERM'], ['bind', 'EPERM'], ['listen', 'EPERM'], ['accept', 'EPERM'], ['accept4', 'EPERM'],
  ['sendmmsg', 'EPERM'], ['recvmmsg', 'EPERM'], ['io_uring_setup', 'ENOSYS'], ['io_uring_enter', 'EPERM'], ['io_uring_register', 'EPERM'],
  ['ptrace', 'EPERM'], ['process_vm_readv', 'EPERM'], ['process_vm_writev', 'EPERM'], ['pidfd_getfd', 'EPERM'],
  ['process_madvise', 'EPERM'], ['kcmp', 'EPERM'], ['perf_event_open', 'EPERM'], ['vhangup', 'EPERM'], ['clone3', 'ENOSYS'],
  ['setns', 'EPERM'], ['mount', 'EPERM'], ['umount2', 'EPERM'], ['pivot_root', 'EPERM'], ['fsopen', 'EPERM'], ['fsconfig', 'EPERM'],
  ['fsmount', 'EPERM'], ['fspick', 'EPERM'], ['move_mount', 'EPERM'], ['open_tree', 'EPERM'], ['mount_setattr', 'EPERM'],
  ['open_tree_attr', 'EPERM'], ['bpf', 'EPERM'], ['request_key', 'EPERM'], ['add_key', 'EPERM'], ['keyctl', 'EPERM'],
  ['open_by_handle_at', 'EPERM'], ['init_module', 'EPERM'], ['finit_module', 'EPERM'], ['kexec_load', 'EPERM'],
  ['kexec_file_load', 'EPERM'], ['iopl', 'EPERM'], ['ioperm', 'EPERM'],
];
/** [call, arguments, answer]: the argument checks, both ways. */
export const CHECKS: [Call, bigint[], Answer][] = [
  ['ioctl', [0n, 0x5412n], 'EPERM'], ['ioctl', [0n, 0x5412n | HI], 'EPERM'], ['ioctl', [0n, 0x541cn], 'EPERM'],
  ['ioctl', [0n, 0x5423n], 'EPERM'], ['ioctl', [0n, 0x541dn], 'EPERM'], ['ioctl', [0n, 0x5437n], 'EPERM'],
  ['ioctl', [0n, 0x540an], 'EPERM'], ['ioctl', [0n, 0x540cn], 'EPERM'], ['ioctl', [0n, 0x5457n], 'EPERM'],
  ['ioctl', [0n, 0x400454can], 'EPERM'], ['ioctl', [0n, 0x400454d9n], 'EPERM'],
  ['ioctl', [0n, 0x5401n], 'allow'], ['ioctl', [0n, 0x5413n], 'allow'], ['ioctl', [0n, 0x5410n], 'allow'], // TCGETS, TIOCGWINSZ, TIOCSPGRP
  // TIOCSCTTY: with force (arg 1, as root) it takes the terminal from another session; without, a pty of one's own.
  ['ioctl', [0n, 0x540en, 1n], 'EPERM'], ['ioctl', [0n, 0x540en | HI, 1n], 'EPERM'], ['ioctl', [0n, 0x540en, 0n], 'allow'],
  ['ioctl', [0n, 0x5401n, 1n], 'allow'], ['ioctl', [0n, 0x540en, 2n], 'allow'],
  ['sendto', [3n, 0n, 1n, 0n, 0x1000n], 'EPERM'], ['sendto', [3n, 0n, 1n, 0n, HI], 'EPERM'], ['sendto', [3n, 0n, 1n, 0n, 0n], 'allow'],
  ['recvfrom', [3n, 0n, 1n, 0n, 0x1000n], 'EPERM'], ['recvfrom', [3n, 0n, 1n, 0n, 0n], 'allow'],
  ['socketpair', [AF_UNIX, 1n], 'allow'], ['socketpair', [AF_UNIX, 5n | 0x80800n], 'allow'],
  ['socketpair', [AF_UNIX, 2n], 'EPERM'], ['socketpair', [AF_UNIX, 2n | 0x80000n], 'EPERM'], ['socketpair', [AF_UNIX, 2n | HI], 'EPERM'],
  ['socketpair', [AF_INET, 1n], 'EPERM'], ['socketpair', [AF_UNIX | HI, 2n], 'EPERM'],
  ['clone', [0x11n], 'allow'], ['clone', [0x10000000n], 'EPERM'], ['clone', [0x20000000n | 0x11n], 'EPERM'], ['clone', [0x40000000n], 'EPERM'],
  ['unshare', [0x400n], 'allow'], ['unshare', [0x20000n], 'EPERM'], ['unshare', [0x80n], 'EPERM'],
  ['sendmsg', [3n, 0x1000n, 0n], 'allow'], ['recvmsg', [3n, 0x1000n, 0n], 'allow'], ['read', [], 'allow'], ['getppid', [], 'allow'],
  ['pidfd_open', [1n], 'allow'], ['fork', [], 'allow'], ['execve', [], 'allow'],
];
/** pid-addressed calls: [call, refused args, allowed args] per confinement. */
export const PIDS: Record<'namespace' | 'self', [Call, bigint[], bigint[]][]> = {
  namespace: [
    ['prlimit64', [1n], [2n]], ['sched_setaffinity', [1n], [0n]], ['sched_setscheduler', [1n], [5n]], ['sched_setparam', [1n], [0n]],
    ['sched_setattr', [1n], [0n]], ['migrate_pages', [1n], [0n]], ['move_pages', [1n], [0n]],
    ['setpriority', [0n, 1n], [0n, 2n]], ['ioprio_set', [1n, 1n], [1n, 0n]],
    // "my process group" / "my user" (who 0) reach init, and the group form worm-run's own group.
    ['setpriority', [1n, 0n], [0n, 0n]], ['setpriority', [2n, 0n], [0n, 0n]], ['setpriority', [1n, 1234n], [0n, 1234n]],
    ['ioprio_set', [2n, 0n], [1n, 0n]], ['ioprio_set', [3n, 0n], [1n, 0n]], ['ioprio_set', [2n, 1234n], [1n, 1234n]],
  ],
  self: [
    ['prlimit64', [1234n], [0n]], ['prlimit64', [HI + 1n], [HI]], ['sched_setaffinity', [1234n], [0n]],
    ['sched_setscheduler', [1234n], [0n]], ['sched_setparam', [1234n], [0n]], ['sched_setattr', [1234n], [0n]],
    ['migrate_pages', [1234n], [0n]], ['move_pages', [1234n], [0n]],
    ['setpriority', [0n, 1234n], [0n, 0n]], ['setpriority', [2n, 0n], [0n, 0n]], ['setpriority', [1n, 0n], [0n, 0n]],
    ['ioprio_set', [1n, 1234n], [1n, 0n]], ['ioprio_set', [3n, 0n], [1n, 0n]], ['kill', [0xffffffffn], [1234n]],
  ],
};
