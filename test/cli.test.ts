/**
 * The command line itself: --help, --version, bad input (exit 125, one `worm-run:` line naming
 * the option, no stack trace, nothing started) and --print-policy, checked against the kernel's
 * own syscall numbers and against the rules the filter must contain.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { IS_ROOT, STACK_FRAME, VERSION, tempDir, worm } from './helpers/run.js';

let dir = '';
beforeAll(() => {
  dir = tempDir();
});

describe('help and version', () => {
  it.concurrent('--help prints the usage and every option, exit 0', async () => {
    for (const flag of ['--help', '-h']) {
      const r = await worm([flag]);
      expect(r.code).toBe(0);
      expect(r.stderr).toBe('');
      expect(r.stdout).toMatch(/^Usage: worm-run \[options\] \[--\] <command> \[args\.\.\.\]/);
      for (const opt of ['--cpu', '--memory', '--timeout', '--allow-unix', '--audit-log', '--print-policy', '--user', '--version']) {
        expect(r.stdout).toContain(opt);
      }
    }
  });

  it.concurrent("--version prints package.json's version, exit 0", async () => {
    for (const flag of ['--version', '-V']) {
      const r = await worm([flag]);
      expect(r).toMatchObject({ code: 0, stdout: `${VERSION}\n`, stderr: '' });
    }
  });
});

describe('the grammar: options before the command, the rest is the command', () => {
  it.concurrent('--opt=value and --opt value, repeatable options, the last of a repeated one wins', async () => {
    const r = await worm(['--cpu=2', '--cpu', '3', '--deny-command', 'a', '--deny-command=b', '--memory=64M', '--print-policy']);
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout) as { policy: { limits: { limit: string; value: string }[]; guard: { denyCommands: string[] } } };
    expect(doc.policy.limits).toEqual(expect.arrayContaining([
      expect.objectContaining({ limit: 'cpu', value: '3 s' }), expect.objectContaining({ limit: 'memory', value: '64M' }),
    ]));
    expect(doc.policy.guard.denyCommands).toEqual(['a', 'b']);
  });

  it.concurrent("the target's own options are its own, with or without --", async () => {
    const echo = ['-c', 'printf "%s|" "$@"', 'sh'];
    for (const argv of [['sh', ...echo, '--cpu', '-h', '--', 'x'], ['--', 'sh', ...echo, '--cpu', '-h', '--', 'x']]) {
      const r = await worm(argv);
      expect(r).toMatchObject({ code: 0, stdout: '--cpu|-h|--|x|', stderr: '' });
    }
  });

  it.concurrent('a value is the next word even when it starts with a dash', async () => {
    const r = await worm(['--timeout', '-5', '--', 'true']);
    expect(r.code).toBe(125);
    expect(r.stderr).toBe('worm-run: --timeout: "-5" is not a duration; use seconds or a unit: 30, 30s, 500ms, 2m, 1h\n');
  });

  it.concurrent('a mistyped option: one line with the nearest option, 125, nothing runs', async () => {
    const marker = join(dir, 'ran-typo');
    for (const [typo, meant] of [['--memroy', '--memory'], ['--timeot', '--timeout'], ['--alow-unix', '--allow-unix']]) {
      const r = await worm([typo!, '64M', '--', 'sh', '-c', `touch '${marker}'`]);
      expect(r).toMatchObject({ code: 125, stdout: '', stderr: `worm-run: unknown option '${typo}'; did you mean ${meant}? (see worm-run --help)\n` });
    }
    expect(existsSync(marker)).toBe(false);
  });

  it.concurrent("an error before the command wins over a -h that belongs to the target", async () => {
    const r = await worm(['--bogus', '--', 'sh', '-c', 'echo ran', '-h']);
    expect(r).toMatchObject({ code: 125, stdout: '', stderr: "worm-run: unknown option '--bogus' (see worm-run --help)\n" });
  });

  it.concurrent('a subcommand only as the first word: after options it is the name of a program', async () => {
    const r = await worm(['--cpu', '5', 'doctor']);
    expect(r).toMatchObject({ code: 127, stdout: '', stderr: 'worm-run: doctor: command not found\n' });
  });

  it.concurrent('the help lists the subcommands, from their own definitions', async () => {
    const r = await worm(['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/\nCommands:\n {2}doctor \[options\] +check what this machine provides and run a live\s+self-test\n/);
  });

  it.concurrent('doctor: its own help, and a clear error for what it does not take', async () => {
    const help = await worm(['doctor', '--help']);
    expect(help).toMatchObject({ code: 0, stderr: '' });
    expect(help.stdout).toMatch(/^Usage: worm-run doctor \[options\]\n[\s\S]*--json\s+print the report as JSON\n/);
    const extra = await worm(['doctor', 'now']);
    expect(extra).toMatchObject({ code: 125, stdout: '', stderr: "worm-run: doctor takes no arguments, not 'now' (see worm-run doctor --help)\n" });
    const bogus = await worm(['doctor', '--bogus']);
    expect(bogus).toMatchObject({ code: 125, stdout: '', stderr: "worm-run: unknown option '--bogus' (see worm-run doctor --help)\n" });
  });
});

describe('bad input: 125, one clear line, nothing runs', () => {
  const cases: [string, string[], RegExp][] = [
    ['no command', [], /no command given/],
    ['an unknown option', ['--bogus'], /unknown option '--bogus' \(see worm-run --help\)/],
    ['a bad size', ['--memory', '12Q'], /--memory: "12Q" is not a size/],
    ['a zero size', ['--max-file-size', '0'], /--max-file-size: "0" is not a size greater than zero/],
    ['a bad duration', ['--timeout', '10x'], /--timeout: "10x" is not a duration/],
    ['a negative duration', ['--timeout', '-1'], /--timeout: "-1" is not a duration/],
    ['a bad CPU time', ['--cpu', 'soon'], /--cpu: "soon" is not a duration/],
    ['a fractional count', ['--max-files', '1.5'], /--max-files: "1\.5" is not a whole number/],
    ['a missing option value', ['--cpu'], /--cpu <duration>' argument missing/],
    ['a value given to a switch', ['--core=yes'], /option '--core' does not take a value \(see worm-run --help\)/],
    ['an unknown option in the = form', ['--bogus=1'], /unknown option '--bogus=1'/],
    ['--group without --user', ['--group', 'root'], /--group needs --user/],
    ['an unknown user', ['--user', 'no-such-user-worm-run'], /--user: .*no-such-user-worm-run/],
  ];
  if (IS_ROOT) cases.push(['--max-procs as root', ['--max-procs', '10'], /--max-procs does not hold for root/]);

  for (const [name, args, message] of cases) {
    it.concurrent(name, async () => {
      const marker = join(dir, `ran-${name.replace(/\W+/g, '-')}`);
      // The option goes first, the would-be target after; a value-less option swallows nothing.
      const argv = args.length === 0 ? [] : args.at(-1) === '--cpu' ? args : [...args, '--', 'sh', '-c', `touch '${marker}'`];
      const r = await worm(argv);
      expect(r.code, r.stderr).toBe(125);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(/^worm-run: [^\n]+\n$/);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).not.toMatch(STACK_FRAME);
      expect(existsSync(marker)).toBe(false);
    });
  }
});

interface Rule {
  syscall: string;
  nr: number;
  errno: string;
  when: string;
  argsInspected: boolean;
  why: string;
}
interface Printed {
  policy: { network: { allowUnix: boolean } };
  filter: { arch: string; instructions: number; rules: Rule[] };
}

async function printPolicy(extra: string[] = []): Promise<Printed> {
  const r = await worm(['--print-policy', ...extra]);
  expect(r.code, r.stderr).toBe(0);
  expect(r.stderr).toBe('');
  return JSON.parse(r.stdout) as Printed;
}

/** __NR_* from the kernel's own header, when the machine has it. */
function kernelNumbers(): Map<string, number> | null {
  const header = '/usr/include/x86_64-linux-gnu/asm/unistd_64.h';
  if (process.arch !== 'x64' || !existsSync(header)) return null;
  const text = readFileSync(header, 'utf8');
  return new Map([...text.matchAll(/^#define __NR_(\w+) (\d+)$/gm)].map((m) => [m[1]!, Number(m[2])]));
}

describe('--print-policy', () => {
  it.concurrent('prints the rules: socket, connect, bind, listen, accept, io_uring, ptrace, ioctl ...', async () => {
    const p = await printPolicy();
    expect(p.policy.network.allowUnix).toBe(false);
    expect(p.filter.arch).toBe(process.arch === 'x64' ? 'x86_64' : 'aarch64');
    const by = new Map(p.filter.rules.map((r) => [r.syscall, r]));
    expect(by.size).toBe(p.filter.rules.length); // one rule per call
    for (const name of ['socket', 'connect', 'bind', 'listen', 'accept', 'accept4', 'sendmmsg', 'recvmmsg',
      'io_uring_enter', 'io_uring_register', 'ptrace', 'process_vm_readv', 'process_vm_writev', 'pidfd_getfd']) {
      expect(by.get(name), name).toMatchObject({ errno: 'EPERM', when: 'always', argsInspected: false });
    }
    expect(by.get('io_uring_setup')).toMatchObject({ errno: 'ENOSYS', when: 'always' });
    expect(by.get('ioctl')).toMatchObject({ errno: 'EPERM', argsInspected: true, when: expect.stringMatching(/^when args\[1\] in \{0x5412, 0x541c, .*0x5423.*\} or \(args\[1\] == 0x540e and args\[2\] == 0x1\)$/) });
    expect(by.get('sendto')).toMatchObject({ errno: 'EPERM', argsInspected: true, when: 'when args[4] != NULL' });
    expect(by.get('recvfrom')).toMatchObject({ errno: 'EPERM', argsInspected: true, when: 'when args[4] != NULL' });
    expect(by.get('socketpair')).toMatchObject({ errno: 'EPERM', argsInspected: true, when: 'when args[0] != 0x1 or (args[1] & 0xf) in {0x2, 0x3, 0x4, 0xa}' });
    // Calls that must stay allowed are not in the table.
    for (const name of ['sendmsg', 'recvmsg', 'read', 'write', 'pidfd_open', 'kill', 'mmap']) expect(by.has(name), name).toBe(false);
    // Arguments are read only where needed: every other number keeps the kernel's cache.
    expect(p.filter.rules.filter((r) => r.argsInspected).map((r) => r.syscall).sort())
      .toEqual(['clone', 'ioctl', 'ioprio_set', 'migrate_pages', 'move_pages', 'prlimit64', 'recvfrom', 'sched_setaffinity',
        'sched_setattr', 'sched_setparam', 'sched_setscheduler', 'sendto', 'setpriority', 'socketpair', 'unshare']);
    for (const r of p.filter.rules) {
      expect(['EPERM', 'ENOSYS']).toContain(r.errno);
      expect(r.why.length, r.syscall).toBeGreaterThan(10);
    }
    expect(p.filter.instructions).toBeGreaterThan(p.filter.rules.length);
    expect(p.filter.instructions).toBeLessThanOrEqual(4096);
  });

  it.concurrent('with --allow-unix: socket checks its domain, connect and the other network calls disappear', async () => {
    const p = await printPolicy(['--allow-unix']);
    expect(p.policy.network.allowUnix).toBe(true);
    const by = new Map(p.filter.rules.map((r) => [r.syscall, r]));
    expect(by.get('socket')).toMatchObject({ errno: 'EPERM', argsInspected: true, when: 'when args[0] != 0x1' });
    for (const name of ['connect', 'bind', 'listen', 'accept', 'accept4', 'sendto', 'recvfrom']) expect(by.has(name), name).toBe(false);
    expect(by.get('socketpair')).toMatchObject({ when: 'when args[0] != 0x1' });
    // What protects against reaching into other processes does not change.
    for (const name of ['io_uring_setup', 'io_uring_enter', 'ptrace', 'process_vm_readv', 'pidfd_getfd']) expect(by.has(name), name).toBe(true);
  });

  // Calls newer than the system headers of some build machines, with their x86_64 numbers.
  const NEWER_THAN_HEADERS: Record<string, number> = { open_tree_attr: 467 };
  const header = kernelNumbers();
  (header ? it.concurrent : it.skip)(`every rule's number is the kernel's number for that call${header ? '' : ' [skipped: no x86_64 kernel header on this machine]'}`, async () => {
    const nrs = header!;
    for (const extra of [[], ['--allow-unix'], ['--namespaces', 'off', '--memory', '1G']]) {
      const p = await printPolicy(extra);
      for (const r of p.filter.rules) {
        expect(`${r.syscall}=${r.nr}`).toBe(`${r.syscall}=${nrs.get(r.syscall) ?? NEWER_THAN_HEADERS[r.syscall]}`);
      }
    }
  });

  it.concurrent('--print-policy runs nothing, and shows the limits it was given', async () => {
    const marker = join(dir, 'ran-print-policy');
    const r = await worm(['--print-policy', '--cpu', '5', '--memory', '256M', '--', 'sh', '-c', `touch '${marker}'`]);
    expect(r.code).toBe(0);
    expect(existsSync(marker)).toBe(false);
    const limits = (JSON.parse(r.stdout) as { policy: { limits: { limit: string; value: string }[] } }).policy.limits;
    expect(limits).toEqual(expect.arrayContaining([
      expect.objectContaining({ limit: 'cpu', value: '5 s' }),
      expect.objectContaining({ limit: 'memory', value: '256M' }),
    ]));
  });
});
