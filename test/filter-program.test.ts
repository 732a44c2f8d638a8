/**
 * The filter's BPF program, run on chosen inputs by a small classic-BPF interpreter: the whole
 * deny set is pinned here (not derived from the table the program is built from), so a rule
 * removed or loosened in native/seccomp.cc fails a test even on a kernel where the attack
 * itself cannot run (an i386 syscall on a kernel without 32-bit support, a tun device without
 * root). The kernel's own enforcement of the same program is what test/filter.test.ts tries.
 */
import { describe, expect, it } from 'vitest';
import { native, type FilterDescription, type FilterOptions } from '../dist/native.js';

const AUDIT_ARCH_X86_64 = 0xc000003e;
const AUDIT_ARCH_I386 = 0x40000003;
const RET_ALLOW = 0x7fff0000;
const RET_ERRNO = 0x00050000;
const RET_USER_NOTIF = 0x7fc00000;
const EPERM = 1;
const ENOSYS = 38;

type Answer = 'allow' | 'EPERM' | 'ENOSYS' | 'notify';

/** Runs the program on one call, as the kernel would. */
function evaluate(d: FilterDescription, arch: number, nr: number, args: bigint[] = []): Answer {
  const data = Buffer.alloc(64);
  data.writeUInt32LE(nr >>> 0, 0);
  data.writeUInt32LE(arch >>> 0, 4);
  for (let i = 0; i < 6; i++) data.writeBigUInt64LE(BigInt.asUintN(64, args[i] ?? 0n), 16 + 8 * i);
  let a = 0;
  for (let pc = 0; pc < d.program.length;) {
    const [code, jt, jf, k] = d.program[pc]!;
    switch (code) {
      case 0x20: a = data.readUInt32LE(k); pc += 1; break; // ld [k]
      case 0x54: a = (a & k) >>> 0; pc += 1; break; // and #k
      case 0x15: pc += 1 + (a === (k >>> 0) ? jt : jf); break; // jeq
      case 0x35: pc += 1 + (a >= (k >>> 0) ? jt : jf); break; // jge
      case 0x45: pc += 1 + ((a & k) !== 0 ? jt : jf); break; // jset
      case 0x06: { // ret
        const r = k >>> 0;
        if (r === RET_ALLOW) return 'allow';
        if (r === RET_USER_NOTIF) return 'notify';
        if ((r & 0xffff0000) === RET_ERRNO) return (r & 0xffff) === ENOSYS ? 'ENOSYS' : (r & 0xffff) === EPERM ? 'EPERM' : 'allow';
        throw new Error(`unexpected return 0x${r.toString(16)}`);
      }
      default:
        throw new Error(`instruction 0x${code.toString(16)} at ${pc} is not one the filter uses`);
    }
  }
  throw new Error('fell off the end of the program');
}

const NR = {
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
const AF_UNIX = 1n;
const AF_INET = 2n;
const HI = 1n << 32n; // junk in the upper half of a 32-bit argument

/** Refused whatever the arguments, in every configuration a target gets. */
const ALWAYS: [keyof typeof NR, Answer][] = [
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
const CHECKS: [keyof typeof NR, bigint[], Answer][] = [
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
const PIDS: Record<'namespace' | 'self', [keyof typeof NR, bigint[], bigint[]][]> = {
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

function filter(opts: FilterOptions): FilterDescription {
  return native.describeFilter(opts);
}

describe('the target filter, evaluated instruction by instruction', () => {
  const configs: [string, FilterOptions][] = [
    ['in its own PID namespace', { pids: 'namespace' }],
    ['without a PID namespace', { pids: 'self' }],
    ['with refusals recorded (user notification)', { pids: 'namespace', notify: true }],
  ];
  for (const [name, opts] of configs) {
    const d = filter(opts);
    const refused = (a: Answer): Answer => (opts.notify && a !== 'allow' ? 'notify' : a);

    it(`${name}: every call of another ABI is refused (i386 int 0x80, x32), whatever its number`, () => {
      for (const nr of [0, 1, 20, 102, 359, 362, 4095]) expect(evaluate(d, AUDIT_ARCH_I386, nr), `i386 ${nr}`).toBe(refused('EPERM'));
      for (const nr of [0, 39, 41]) expect(evaluate(d, AUDIT_ARCH_X86_64, 0x40000000 | nr), `x32 ${nr}`).toBe(refused('EPERM'));
      expect(evaluate(d, 0x12345678, NR.read)).toBe(refused('EPERM'));
    });

    it(`${name}: the pinned deny set`, () => {
      for (const [call, answer] of ALWAYS) {
        // clone3 is a compatibility answer the kernel gives itself, never a recorded refusal.
        const want = call === 'clone3' ? answer : refused(answer);
        for (const args of [[], [0n, 1n, 2n], [AF_UNIX], [HI]]) expect(`${call}: ${evaluate(d, AUDIT_ARCH_X86_64, NR[call], args)}`).toBe(`${call}: ${want}`);
      }
      for (const [call, args, answer] of CHECKS) {
        expect(`${call}(${args.join(', ')}): ${evaluate(d, AUDIT_ARCH_X86_64, NR[call], args)}`).toBe(`${call}(${args.join(', ')}): ${refused(answer)}`);
      }
      for (const [call, no, yes] of PIDS[opts.pids as 'namespace' | 'self']) {
        expect(`${call}(${no.join(', ')}): ${evaluate(d, AUDIT_ARCH_X86_64, NR[call], no)}`).toBe(`${call}(${no.join(', ')}): ${refused('EPERM')}`);
        expect(`${call}(${yes.join(', ')}): ${evaluate(d, AUDIT_ARCH_X86_64, NR[call], yes)}`).toBe(`${call}(${yes.join(', ')}): allow`);
      }
      // mmap is looked at only under --memory.
      expect(evaluate(d, AUDIT_ARCH_X86_64, NR.mmap, [0n, 4096n, 3n, 0x100n | 0x22n])).toBe('allow');
    });
  }

  it('with --memory, a MAP_GROWSDOWN mapping is refused and every other mapping allowed', () => {
    const d = filter({ pids: 'namespace', memoryCap: true });
    expect(evaluate(d, AUDIT_ARCH_X86_64, NR.mmap, [0n, 4096n, 3n, 0x100n | 0x22n])).toBe('EPERM');
    expect(evaluate(d, AUDIT_ARCH_X86_64, NR.mmap, [0n, 4096n, 3n, 0x22n])).toBe('allow');
    expect(evaluate(d, AUDIT_ARCH_X86_64, NR.mmap, [0n, 4096n, 3n, 0x20022n])).toBe('allow'); // MAP_STACK
  });

  it('with --allow-unix: Unix sockets (and datagram pairs) allowed, every other family refused, the rest unchanged', () => {
    const d = filter({ pids: 'namespace', allowUnix: true });
    expect(evaluate(d, AUDIT_ARCH_X86_64, NR.socket, [AF_UNIX, 2n])).toBe('allow');
    for (const fam of [AF_INET, 10n, 16n, 17n, 40n, AF_UNIX | HI]) {
      expect(evaluate(d, AUDIT_ARCH_X86_64, NR.socket, [fam, 1n]), `family ${fam}`).toBe(fam === (AF_UNIX | HI) ? 'allow' : 'EPERM');
    }
    expect(evaluate(d, AUDIT_ARCH_X86_64, NR.socketpair, [AF_UNIX, 2n])).toBe('allow');
    for (const call of ['connect', 'bind', 'listen', 'accept4', 'sendto', 'recvfrom'] as const) {
      expect(evaluate(d, AUDIT_ARCH_X86_64, NR[call], [3n, 0x1000n, 16n, 0n, 0x1000n]), call).toBe('allow');
    }
    for (const call of ['ptrace', 'io_uring_setup', 'mount', 'bpf'] as const) expect(evaluate(d, AUDIT_ARCH_X86_64, NR[call]), call).not.toBe('allow');
  });

  it("worm-run's own filter (the supervisor, a run's init) also refuses execve, and keeps libuv's ring", () => {
    const d = filter({ supervisor: true });
    expect(evaluate(d, AUDIT_ARCH_X86_64, NR.execve)).toBe('EPERM');
    expect(evaluate(d, AUDIT_ARCH_X86_64, NR.execveat)).toBe('EPERM');
    expect(evaluate(d, AUDIT_ARCH_X86_64, NR.io_uring_enter)).toBe('allow');
    expect(evaluate(d, AUDIT_ARCH_X86_64, NR.io_uring_setup)).toBe('ENOSYS');
    expect(evaluate(d, AUDIT_ARCH_X86_64, NR.socket, [AF_INET])).toBe('EPERM');
    expect(evaluate(d, AUDIT_ARCH_I386, 102)).toBe('EPERM');
  });
});
