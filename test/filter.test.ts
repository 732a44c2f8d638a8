/**
 * The kernel filter, tested the way an attacker would test it: every way out is tried under
 * worm-run (it must fail, with the errno the filter table names, and the loopback recorder must
 * see nothing) and, as a control, without worm-run (the same case must get through: otherwise
 * the attack proves nothing). Then the things that must keep working.
 *
 * With WORM_TEST_WRAPPER every worm-run starts through that prefix (test/container.test.ts runs
 * this file inside the container-like helper); the kernel probes go through it too, so what the
 * wrapper takes away (namespaces, io_uring) is skipped by name, and WORM_TEST_OUTER_REFUSES names
 * the calls its own filter answers first (they carry its errno and leave no record).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { buildC, buildI386 } from './helpers/cc.js';
import { i386Exec, int80, ioUring, itWith, pidNamespaces, type Feature } from './helpers/kernel.js';
import { freePort, probeTcp, startRecorder, startUnixRecorder, type Recorder } from './helpers/recorder.js';
import {
  BIN, FIXTURES, OUTER_REFUSES, PYTHON, STACK_FRAME, WRAPPER, runProgram, startProgram, startWorm, steps, tempDir, worm, type Outcome,
} from './helpers/run.js';

let ATTACK = '';
let I386 = '';
beforeAll(() => {
  ATTACK = buildC('attack');
  I386 = buildI386('i386net');
});

interface Run extends Outcome {
  pid: number;
  steps: Record<string, string>;
}

/**
 * Runs `attack ARGS` bare or under worm-run. With `launch`, a socket (or io_uring) of that kind
 * is created outside and handed in as descriptor 0, the way a harness could pass one.
 */
async function attack(args: string[], o: { jailed: boolean; wormArgs?: string[]; launch?: string; viaShell?: boolean }): Promise<Run> {
  let cmd = [ATTACK, ...args];
  if (o.viaShell) cmd = ['/bin/sh', '-c', '"$0" "$@"; exit $?', ...cmd];
  if (o.jailed) cmd = [...WRAPPER, process.execPath, BIN, ...(o.wormArgs ?? []), '--', ...cmd];
  if (o.launch) cmd = [ATTACK, 'launch', o.launch, '--', ...cmd];
  const p = startProgram(cmd[0]!, cmd.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  const out = await p.done;
  expect(out.stderr, 'no stack trace from worm-run').not.toMatch(STACK_FRAME);
  return { ...out, pid: p.pid, steps: steps(out.stdout) };
}

type Expect = Record<string, string> | ((s: Record<string, string>, r: Run) => void);

function check(e: Expect, r: Run, label: string) {
  if (typeof e === 'function') e(r.steps, r);
  else expect(r.steps, `${label}: ${r.stdout} ${r.stderr}`).toEqual(e);
}

interface NetCase {
  name: string;
  /** The attack's arguments, given the recorder (token is what must not arrive). */
  args: (rec: Recorder, token: string) => string[];
  launch?: string;
  jailed: Expect;
  bare: Expect;
  /** Does the control case deliver the token to the recorder? */
  delivers: boolean;
  /** What the kernel must provide for the attack to run at all (proved without worm-run). */
  needs?: () => Feature[];
}

const NET_CASES: NetCase[] = [
  {
    name: 'C: socket(AF_INET) + connect + write',
    args: (r, t) => ['tcp', String(r.port), t],
    jailed: { socket: 'EPERM' },
    bare: { socket: 'ok', connect: 'ok', write: 'ok' },
    delivers: true,
  },
  {
    name: 'C: socket(AF_INET, SOCK_DGRAM) + sendto with a destination',
    args: (r, t) => ['udp', String(r.udpPort), t],
    jailed: { socket: 'EPERM' },
    bare: { socket: 'ok', sendto: 'ok' },
    delivers: true,
  },
  {
    name: 'C: socket(AF_INET, SOCK_DGRAM) + sendmmsg',
    args: (r, t) => ['sendmmsg', String(r.udpPort), t],
    jailed: { socket: 'EPERM' },
    bare: { socket: 'ok', sendmmsg: 'ok' },
    delivers: true,
  },
  // socket() is refused above, so each per-call rule is also tested on a real network socket
  // handed in as descriptor 0: the rule itself must hold, not only the socket() rule.
  {
    name: 'connect() on a TCP socket handed in as stdin',
    launch: 'tcp',
    args: (r, t) => ['fd', 'connect', String(r.port), t],
    jailed: { connect: 'EPERM' },
    bare: { connect: 'ok', write: 'ok' },
    delivers: true,
  },
  {
    name: 'sendto() with a destination on a UDP socket handed in as stdin',
    launch: 'udp',
    args: (r, t) => ['fd', 'sendto', String(r.udpPort), t],
    jailed: { sendto: 'EPERM' },
    bare: { sendto: 'ok' },
    delivers: true,
  },
  {
    name: 'sendmmsg() on a UDP socket handed in as stdin',
    launch: 'udp',
    args: (r, t) => ['fd', 'sendmmsg', String(r.udpPort), t],
    jailed: { sendmmsg: 'EPERM' },
    bare: { sendmmsg: 'ok' },
    delivers: true,
  },
  {
    name: 'sendto() whose destination pointer has only its upper 32 bits set (the filter reads both halves)',
    launch: 'udp',
    args: (r, t) => ['fd', 'sendto-hiptr', String(r.udpPort), t],
    jailed: { sendto: 'EPERM' },
    bare: { sendto: 'EFAULT' },
    delivers: false,
  },
  {
    name: 'recvfrom() asking for the source address on a UDP socket handed in',
    launch: 'udp',
    args: () => ['fd', 'recvfrom'],
    jailed: { recvfrom: 'EPERM' },
    bare: { recvfrom: 'EAGAIN' },
    delivers: false,
  },
  {
    name: 'recvmmsg() on a UDP socket handed in',
    launch: 'udp',
    args: () => ['fd', 'recvmmsg'],
    jailed: { recvmmsg: 'EPERM' },
    bare: { recvmmsg: 'EAGAIN' },
    delivers: false,
  },
  {
    name: 'bind() on a TCP socket handed in',
    launch: 'tcp',
    args: () => ['fd', 'bind'],
    jailed: { bind: 'EPERM' },
    bare: { bind: 'ok' },
    delivers: false,
  },
  {
    name: 'listen() on a TCP socket handed in (it would auto-bind a port)',
    launch: 'tcp',
    args: () => ['fd', 'listen'],
    jailed: { listen: 'EPERM' },
    bare: { listen: 'ok' },
    delivers: false,
  },
  {
    name: 'accept() and accept4() on a listening socket handed in',
    launch: 'tcp-listen',
    args: () => ['fd', 'accept'],
    jailed: { accept: 'EPERM', accept4: 'EPERM' },
    bare: { accept: 'EAGAIN', accept4: 'EAGAIN' },
    delivers: false,
  },
  {
    name: 'a 64-bit program using int $0x80: i386 socket(359), socketcall(SYS_SOCKET), connect',
    args: (r, t) => ['int80', String(r.port), t],
    jailed: { 'i386-getpid': 'EPERM', 'i386-socket': 'EPERM', 'i386-socketcall': 'EPERM' },
    bare: (s) => {
      expect(s['i386-getpid']).toBe('ok');
      expect(s['i386-socket']).toBe('ok');
      expect(s['i386-socketcall']).toBe('ok');
      expect(s['i386-connect']).toBe('ok');
      expect(s['i386-write']).toBe('ok');
    },
    delivers: true,
    needs: () => [int80()],
  },
];

describe('network attacks: refused under worm-run, real without it', () => {
  for (const c of NET_CASES) {
    itWith(c.needs?.() ?? [], c.name, async () => {
      const rec = await startRecorder();
      try {
        const token = `TOKEN-${Math.random().toString(36).slice(2, 10)}`;
        const jailed = await attack(c.args(rec, token), { jailed: true, launch: c.launch });
        check(c.jailed, jailed, 'under worm-run');
        expect(jailed.code).toBe(1);
        expect(await rec.settle(250)).toEqual([]);

        const bare = await attack(c.args(rec, token), { jailed: false, launch: c.launch });
        check(c.bare, bare, 'without worm-run');
        if (c.delivers) expect(await rec.waitFor(token)).toBe(true);
      } finally {
        await rec.close();
      }
    });
  }

  it.concurrent('curl: cannot connect; the request never arrives', async () => {
    const rec = await startRecorder();
    try {
      const url = `http://127.0.0.1:${rec.port}/curl-attack`;
      const jailed = await worm(['--', 'curl', '-sS', '--max-time', '5', url]);
      expect(jailed.code).toBe(7); // CURLE_COULDNT_CONNECT
      expect(jailed.stderr).toMatch(/Failed to connect|Couldn't connect/);
      expect(jailed.stdout).toBe('');
      expect(await rec.settle(250)).toEqual([]);

      const bare = await runProgram('curl', ['-sS', '--max-time', '5', url]);
      expect(bare.code).toBe(0);
      expect(bare.stdout).toBe('RECORDED');
      expect(rec.events.map((e) => e.data).join('')).toMatch(/^GET \/curl-attack HTTP/);
    } finally {
      await rec.close();
    }
  });

  it.concurrent('wget: cannot connect; the request never arrives', async () => {
    const rec = await startRecorder();
    try {
      const url = `http://127.0.0.1:${rec.port}/wget-attack`;
      const args = ['-q', '-O', '-', '--tries=1', '--timeout=5', url];
      const jailed = await worm(['--', 'wget', ...args]);
      expect(jailed.code).toBe(4); // network failure
      expect(jailed.stdout).toBe('');
      expect(await rec.settle(250)).toEqual([]);

      const bare = await runProgram('wget', args);
      expect(bare.code).toBe(0);
      expect(bare.stdout).toBe('RECORDED');
      expect(rec.events.map((e) => e.data).join('')).toMatch(/^GET \/wget-attack HTTP/);
    } finally {
      await rec.close();
    }
  });

  for (const proto of ['tcp', 'udp'] as const) {
    it.concurrent(`python3: ${proto === 'tcp' ? 'TCP connect' : 'UDP sendto'} raises PermissionError`, async () => {
      const rec = await startRecorder();
      try {
        const port = String(proto === 'tcp' ? rec.port : rec.udpPort);
        const token = `PY-${proto}-${process.pid}`;
        const script = `${FIXTURES}/net.py`;
        const jailed = await worm(['--', PYTHON, script, proto, port, token]);
        expect(jailed.code).toBe(1);
        expect(jailed.stderr).toContain('REFUSED PermissionError errno=1');
        expect(jailed.stdout).toBe('');
        expect(await rec.settle(250)).toEqual([]);

        const bare = await runProgram(PYTHON, [script, proto, port, token]);
        expect(bare.code).toBe(0);
        expect(bare.stdout).toBe('SENT\n');
        expect(await rec.waitFor(token)).toBe(true);
      } finally {
        await rec.close();
      }
    });
  }

  it.concurrent('python3 listening server: bind/listen refused, nothing accepts connections', async () => {
    const port = await freePort();
    const script = `${FIXTURES}/net.py`;
    const jailed = startWorm(['--', PYTHON, script, 'server', String(port)]);
    // While it runs (and after), nobody may be listening on the port.
    const during = await probeTcp(port);
    const out = await jailed.done;
    expect(out.code).toBe(1);
    expect(out.stderr).toContain('REFUSED PermissionError errno=1');
    expect(out.stdout).not.toContain('LISTENING');
    expect(during).toBe('ECONNREFUSED');
    expect(await probeTcp(port)).toBe('ECONNREFUSED');

    const udp = await worm(['--', PYTHON, script, 'udp-server', String(port)]);
    expect(udp.code).toBe(1);
    expect(udp.stderr).toContain('REFUSED PermissionError errno=1');

    // Control: the same server without worm-run accepts our connection.
    const bare = startProgram(PYTHON, [script, 'server', String(port)]);
    await bare.waitFor(/LISTENING/);
    expect(await probeTcp(port)).toBe('connected');
    const b = await bare.done;
    expect(b.code).toBe(0);
    expect(b.stdout).toContain('ACCEPTED');
  });

  itWith([i386Exec()], 'a static i386 program (int 0x80 only): nothing printed, nothing sent, the run ends', async () => {
    const rec = await startRecorder();
    try {
      const jailed = await worm(['--', I386, String(rec.port)], { timeoutMs: 10_000 });
      // Every i386 call is refused, write(1) and exit(2) included: no output, and the refused
      // exit falls through to ud2 (SIGILL). Whatever the status, it is not a clean exit.
      expect(jailed.stdout).toBe('');
      expect(jailed.code === 0 && jailed.signal === null).toBe(false);
      expect(jailed.code === 132 || jailed.signal === 'SIGILL').toBe(true);
      expect(jailed.stderr).not.toMatch(STACK_FRAME);
      expect(await rec.settle(250)).toEqual([]);

      const bare = await runProgram(I386, [String(rec.port)]);
      expect(bare.stdout).toBe('W\n');
      expect(bare.code).toBe(0);
      expect(await rec.waitFor('I386-ATTACK')).toBe(true);
    } finally {
      await rec.close();
    }
  });
});

describe('other sockets and kernel interfaces', () => {
  const families = ['inet', 'inet-dgram', 'inet-raw', 'inet6', 'netlink', 'packet', 'vsock', 'unix', 'unix-dgram', 'inet-hibits'];
  for (const f of families) {
    it.concurrent(`socket(${f}) is refused; it works without worm-run`, async () => {
      const jailed = await attack(['family', f], { jailed: true });
      expect(jailed.steps).toEqual({ socket: 'EPERM' });
      const bare = await attack(['family', f], { jailed: false });
      // AF_VSOCK exists only where the vsock transport is loaded (it is in a VM like this one).
      if (f === 'vsock') expect(bare.steps.socket).toMatch(/^(ok|EAFNOSUPPORT)$/);
      else expect(bare.steps, bare.stdout).toEqual({ socket: 'ok' });
    });
  }

  it.concurrent('socketpair(AF_INET) is refused (only AF_UNIX pairs are allowed)', async () => {
    expect((await attack(['socketpair-inet'], { jailed: true })).steps).toEqual({ socketpair: 'EPERM' });
    expect((await attack(['socketpair-inet'], { jailed: false })).steps).toEqual({ socketpair: 'EOPNOTSUPP' });
  });

  itWith([ioUring()], 'io_uring_setup fails with ENOSYS (so libraries fall back)', async () => {
    expect((await attack(['io_uring_setup'], { jailed: true })).steps).toEqual({ io_uring_setup: 'ENOSYS' });
    expect((await attack(['io_uring_setup'], { jailed: false })).steps).toEqual({ io_uring_setup: 'ok' });
  });

  for (const call of ['io_uring_enter', 'io_uring_register']) {
    itWith([ioUring()], `${call} on a ring handed in from outside is refused with EPERM`, async () => {
      const jailed = await attack([call, '0'], { jailed: true, launch: 'ring' });
      expect(jailed.steps).toEqual({ [call]: 'EPERM' });
      const bare = await attack([call, '0'], { jailed: false, launch: 'ring' });
      expect(bare.steps).toEqual({ [call]: 'ok' });
    });
  }

  it.concurrent('ioctl(TIOCSTI) cannot push keystrokes into a terminal; TIOCLINUX refused; other ioctls work', async () => {
    const jailed = await attack(['tiocsti'], { jailed: true });
    expect(jailed.steps).toEqual({
      'tiocsti-stdin': 'EPERM', openpt: 'ok', 'open-slave': 'ok',
      'tiocsti-pty': 'EPERM', 'tiocsti-hibits': 'EPERM', tioclinux: 'EPERM', tiocgwinsz: 'ok',
    });
    expect(jailed.stdout).toContain('INJECTED none');
    // Control: the same program pushes "Z\n" and, with junk in the command's upper 32 bits
    // (the kernel reads an unsigned int), "H\n" into its own pty.
    const bare = await attack(['tiocsti'], { jailed: false });
    expect(bare.steps['tiocsti-stdin']).toBe('ENOTTY');
    expect(bare.steps['tiocsti-pty']).toBe('ok');
    expect(bare.steps['tiocsti-hibits']).toBe('ok');
    expect(bare.steps.tioclinux).not.toBe('EPERM');
    expect(bare.stdout).toContain('INJECTED Z.H.');
  });

  it.concurrent('x32 system calls (number | 0x40000000) are refused with EPERM', async () => {
    const jailed = await attack(['x32'], { jailed: true });
    expect(jailed.steps).toEqual({ 'x32-getpid': 'EPERM', 'x32-socket': 'EPERM' });
    // Without worm-run: ENOSYS on a kernel without x32, success with it; never EPERM.
    const bare = await attack(['x32'], { jailed: false });
    expect(bare.steps['x32-getpid']).toMatch(/^(ok|ENOSYS)$/);
  });
});

/**
 * The run's modes: its own PID namespace (where the machine gives one), and none. The target's
 * parent is the run's init either way: pid 1 of the namespace, or worm-run's child.
 */
const MODES = [
  { name: 'own PID namespace', args: [] as string[], needs: () => [pidNamespaces()] },
  { name: 'no namespaces', args: ['--namespaces', 'off'], needs: () => [] },
];

describe('the target cannot reach into its parent (the run\'s init)', () => {
  // `filter`: the kernel filter refuses it, and says so on stderr (a recorded refusal).
  const cases: { what: string; jailed: Record<string, string>; bare: Record<string, string>; filter?: string }[] = [
    { what: 'ptrace', jailed: { 'ptrace-attach': 'EPERM' }, bare: { 'ptrace-attach': 'ok' }, filter: 'ptrace' },
    { what: 'seize', jailed: { 'ptrace-seize': 'EPERM' }, bare: { 'ptrace-seize': 'ok' }, filter: 'ptrace' },
    { what: 'vm-readv', jailed: { process_vm_readv: 'EPERM' }, bare: { process_vm_readv: 'ok' }, filter: 'process_vm_readv' },
    { what: 'vm-writev', jailed: { process_vm_writev: 'EPERM' }, bare: { process_vm_writev: 'ok' }, filter: 'process_vm_writev' },
    {
      what: 'pidfd', filter: 'pidfd_getfd',
      jailed: { pidfd_open: 'ok', pidfd_getfd: 'EPERM', pidfd_send_signal: 'EPERM' },
      bare: { pidfd_open: 'ok', pidfd_getfd: 'ok', pidfd_send_signal: 'ok' },
    },
    // Landlock: signals and /proc/PID/mem of processes outside the sandbox's domain.
    { what: 'kill', jailed: { kill: 'EPERM' }, bare: { kill: 'ok' } },
    { what: 'mem', jailed: { 'open-mem-rw': 'EACCES', 'open-mem-ro': 'EACCES' }, bare: { 'open-mem-rw': 'ok', 'open-mem-ro': 'ok' } },
  ];
  for (const mode of MODES) {
    for (const c of cases) {
      itWith(mode.needs(), `${mode.name}: parent ${c.what} is refused; it works against an ordinary parent`, async () => {
        const jailed = await attack(['parent', c.what], { jailed: true, wormArgs: mode.args });
        expect(jailed.steps, jailed.stdout).toEqual(c.jailed);
        const parent = Number(/^PARENT (\d+)$/m.exec(jailed.stdout)![1]);
        if (mode.args.length === 0) expect(parent).toBe(1);
        else expect(parent).not.toBe(1);
        // (A refusal the wrapper's own filter answers first leaves no record: see OUTER_REFUSES.)
        if (c.filter && !OUTER_REFUSES.has(c.filter)) expect(jailed.stderr).toMatch(new RegExp(`^worm-run: blocked ${c.filter} by attack \\(pid \\d+\\)$`, 'm'));
        // Control: the parent is a throw-away shell.
        const bare = await attack(['parent', c.what], { jailed: false, viaShell: true });
        expect(bare.steps, bare.stdout).toEqual(c.bare);
      });
    }
  }
});

describe('the target cannot reach other processes outside the sandbox either', () => {
  // The victim is this test process: not the target's parent, same user. In its own PID
  // namespace the target cannot even name it (ESRCH, no /proc entry); without one every way is
  // refused. (No ptrace control here: it would stop the test runner.)
  const cases: { what: string; ns: Record<string, string>; off: Record<string, string>; bare: Record<string, string> }[] = [
    { what: 'kill', ns: { kill: 'ESRCH' }, off: { kill: 'EPERM' }, bare: { kill: 'ok' } },
    { what: 'vm-readv', ns: { process_vm_readv: 'EPERM' }, off: { process_vm_readv: 'EPERM' }, bare: { process_vm_readv: 'ok' } },
    {
      what: 'pidfd', ns: { pidfd_open: 'ESRCH' },
      off: { pidfd_open: 'ok', pidfd_getfd: 'EPERM', pidfd_send_signal: 'EPERM' },
      bare: { pidfd_open: 'ok', pidfd_getfd: 'ok', pidfd_send_signal: 'ok' },
    },
    {
      what: 'mem', ns: { 'open-mem-rw': 'ENOENT', 'open-mem-ro': 'ENOENT' },
      off: { 'open-mem-rw': 'EACCES', 'open-mem-ro': 'EACCES' }, bare: { 'open-mem-rw': 'ok', 'open-mem-ro': 'ok' },
    },
  ];
  for (const mode of MODES) {
    for (const c of cases) {
      itWith(mode.needs(), `${mode.name}: ${c.what} against the test runner (a process outside, not the parent)`, async () => {
        const args = ['pid', c.what, String(process.pid)];
        const jailed = await attack(args, { jailed: true, wormArgs: mode.args });
        expect(jailed.steps, jailed.stdout).toEqual(mode.args.length === 0 ? c.ns : c.off);
        const bare = await attack(args, { jailed: false });
        expect(bare.steps, bare.stdout).toEqual(c.bare);
      });
    }
  }
});

describe('every rule --print-policy shows is what the kernel enforces', () => {
  it('each unconditional rule answers with its errno', async () => {
    const printed = await worm(['--print-policy']);
    expect(printed.code).toBe(0);
    const rules = (JSON.parse(printed.stdout) as { filter: { rules: { syscall: string; nr: number; errno: string; argsInspected: boolean }[] } }).filter.rules;
    const always = rules.filter((r) => !r.argsInspected);
    expect(always.length).toBeGreaterThan(10);
    const run = await worm(['--', ATTACK, 'raw', ...always.map((r) => String(r.nr))]);
    const got = new Map([...run.stdout.matchAll(/^RAW (\d+) (\S+)$/gm)].map((m) => [Number(m[1]), m[2]]));
    for (const r of always) expect(`${r.syscall}: ${got.get(r.nr)}`).toBe(`${r.syscall}: ${OUTER_REFUSES.get(r.syscall) ?? r.errno}`);
    // Control for the network calls: without the filter none of them says EPERM.
    const net = always.filter((r) => ['socket', 'connect', 'bind', 'listen', 'accept', 'accept4', 'sendmmsg', 'recvmmsg'].includes(r.syscall));
    expect(net).toHaveLength(8);
    const bare = await runProgram(ATTACK, ['raw', ...net.map((r) => String(r.nr))]);
    for (const r of net) expect(bare.stdout).toMatch(new RegExp(`^RAW ${r.nr} (?!EPERM)`, 'm'));
  });
});

describe('a datagram socketpair, a way to host sockets without socket()', () => {
  for (const type of ['plain', 'cloexec', 'hibits']) {
    it.concurrent(`socketpair(AF_UNIX, SOCK_DGRAM${type === 'plain' ? '' : `, ${type}`}) is refused; without worm-run it reaches a host datagram socket by path`, async () => {
      const dir = tempDir();
      const sock = `${dir}/log.sock`;
      const token = `DGRAM-${Math.random().toString(36).slice(2, 10)}`;
      // A host daemon's datagram socket (a syslog or notify socket), recording what arrives.
      const server = startProgram(PYTHON, ['-c', `import socket,sys\ns=socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\ns.bind(sys.argv[1])\nprint("READY", flush=True)\ns.settimeout(3)\ntry:\n  while True: print("GOT", s.recv(100).decode(), flush=True)\nexcept Exception: pass`, sock]);
      await server.waitFor(/READY/);
      const jailed = await attack(['dgram-pair', sock, token, type], { jailed: true, wormArgs: ['--write', dir] });
      expect(jailed.steps).toEqual({ socketpair: 'EPERM' });
      const bare = await attack(['dgram-pair', sock, token, type], { jailed: false });
      expect(bare.steps).toEqual({ socketpair: 'ok', 'sendmsg-to-path': 'ok' });
      const out = await server.done;
      expect(out.stdout.match(/^GOT .*/gm)).toEqual([`GOT ${token}`]);
    });
  }
});

describe('--allow-unix', () => {
  let dir = '';
  beforeAll(() => {
    dir = tempDir();
  });

  it.concurrent('a Unix socket by path: refused by default, reachable with --allow-unix', async () => {
    const rec = await startUnixRecorder({ dir });
    try {
      const args = ['unix-connect', rec.address, 'UNIX-TOKEN'];
      const refused = await attack(args, { jailed: true });
      expect(refused.steps).toEqual({ socket: 'EPERM' });
      expect(await rec.settle(200)).toEqual([]);
      const allowed = await attack(args, { jailed: true, wormArgs: ['--allow-unix'] });
      expect(allowed.steps).toEqual({ socket: 'ok', connect: 'ok', write: 'ok' });
      expect(await rec.waitFor('UNIX-TOKEN')).toBe(true);
    } finally {
      await rec.close();
    }
  });

  it.concurrent('with --allow-unix an abstract Unix socket outside the sandbox stays out of reach', async () => {
    const rec = await startUnixRecorder({ abstract: true });
    try {
      const args = ['unix-abstract', rec.address, 'ABSTRACT-TOKEN'];
      const jailed = await attack(args, { jailed: true, wormArgs: ['--allow-unix'] });
      expect(jailed.steps).toEqual({ socket: 'ok', connect: 'EPERM' });
      expect(await rec.settle(200)).toEqual([]);
      const bare = await attack(args, { jailed: false });
      expect(bare.steps).toEqual({ socket: 'ok', connect: 'ok', write: 'ok' });
      expect(await rec.waitFor('ABSTRACT-TOKEN')).toBe(true);
    } finally {
      await rec.close();
    }
  });

  it.concurrent('with --allow-unix every other family stays refused, and a Unix server inside works', async () => {
    const others = ['inet', 'inet-dgram', 'inet-raw', 'inet6', 'netlink', 'packet', 'vsock', 'inet-hibits', 'unix-hibits-inet'];
    const results = await Promise.all(others.map((f) => attack(['family', f], { jailed: true, wormArgs: ['--allow-unix'] })));
    results.forEach((r, i) => expect(`${others[i]}: ${r.steps.socket}`).toBe(`${others[i]}: EPERM`));
    expect((await attack(['family', 'unix'], { jailed: true, wormArgs: ['--allow-unix'] })).steps).toEqual({ socket: 'ok' });
    const server = await attack(['unix-server'], { jailed: true, wormArgs: ['--allow-unix'] });
    expect(server.steps).toEqual({ socket: 'ok', bind: 'ok', listen: 'ok', connect: 'ok', accept: 'ok', send: 'ok', recv: 'ok' });
    expect(server.code).toBe(0);
  });

  it.concurrent('with --allow-unix curl and a TCP socket handed in still reach nothing', async () => {
    const rec = await startRecorder();
    try {
      const curl = await worm(['--allow-unix', '--', 'curl', '-sS', '--max-time', '5', `http://127.0.0.1:${rec.port}/`]);
      expect(curl.code).toBe(7);
      const handed = await attack(['fd', 'connect', String(rec.port), 'HANDED'], { jailed: true, launch: 'tcp', wormArgs: ['--allow-unix'] });
      // seccomp lets connect through with --allow-unix; Landlock refuses TCP connect.
      expect(handed.steps.connect).toMatch(/^(EPERM|EACCES)$/);
      expect(await rec.settle(250)).toEqual([]);
    } finally {
      await rec.close();
    }
  });
});

describe('what must keep working under worm-run', () => {
  it.concurrent('C: socketpair(AF_UNIX) with send/recv, sendmsg/recvmsg and fd passing', async () => {
    const jailed = await attack(['socketpair'], { jailed: true });
    // A datagram pair is refused (it reaches datagram sockets on the host by path: see the
    // attack above); the stream pair and everything on it works.
    const expected = {
      socketpair: 'ok', send: 'ok', recv: 'ok', sendmsg: 'ok', recvmsg: 'ok', 'fd-passing': 'ok',
      'socketpair-dgram': 'EPERM',
    };
    expect(jailed.steps, jailed.stdout).toEqual(expected);
    expect(jailed.stdout).toContain('STEP recv ok ping');
  });

  it.concurrent('a Python asyncio program (self-pipe send/recv, streams on a socketpair, a subprocess)', async () => {
    const r = await worm(['--', PYTHON, `${FIXTURES}/asyncio_pair.py`]);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('ASYNCIO OK thread executor ping pong sub\n');
    expect(r.code).toBe(0);
  });

  it.concurrent('child_process.fork IPC with messages', async () => {
    const r = await worm(['--', process.execPath, `${FIXTURES}/fork_ipc.cjs`]);
    expect(r.stdout).toBe('FORK OK m0,m1,m2\n');
    expect(r.code).toBe(0);
    expect(r.stderr).not.toMatch(STACK_FRAME);
  });

  it.concurrent('plain sh with a pipeline, and stdin passed through', async () => {
    const r = await worm(['--', 'sh', '-c', 'read line; echo "$line" | tr a-z A-Z | sed "s/^/got: /"; printf "%s\\n" one two | wc -l'], { input: 'hello world\n' });
    expect(r.stdout).toBe('got: HELLO WORLD\n2\n');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  });
});

