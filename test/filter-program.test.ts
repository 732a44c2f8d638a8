/**
 * The filter's BPF program, run on chosen inputs by a small classic-BPF interpreter: the whole
 * deny set is pinned here (not derived from the table the program is built from), so a rule
 * removed or loosened in native/seccomp.cc fails a test even on a kernel where the attack
 * itself cannot run (an i386 syscall on a kernel without 32-bit support, a tun device without
 * root). The kernel's own enforcement of the same program is what test/filter.test.ts tries.
 * The deny set itself is in test/helpers/bpf.ts (test/export.test.ts checks the exported
 * profile against it too).
 */
import { describe, expect, it } from 'vitest';
import { native, type FilterDescription, type FilterOptions } from '../dist/native.js';
import { ALWAYS, AF_INET, AF_UNIX, AUDIT_ARCH_I386, AUDIT_ARCH_X86_64, CHECKS, HI, NR, PIDS } from './helpers/bpf.js';

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
