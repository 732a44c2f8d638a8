/**
 * The supervised spawn: exit statuses as env(1)/timeout(1) give them, signal forwarding, what
 * the child inherits (descriptors, stdin), scripts without a shebang, the process tree, and the
 * supervisor's own hardening (filtered, non-dumpable), observed from outside through /proc.
 */
import { chmodSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildC } from './helpers/cc.js';
import { itWith, nobodyCanRunWormRun } from './helpers/kernel.js';
import { startRecorder } from './helpers/recorder.js';
import {
  BIN, IS_ROOT, STACK_FRAME, alive, auditLines, eventually, pidsWithArgs, procStatus, runProgram,
  startProgram, startWorm, tempDir, worm,
} from './helpers/run.js';

let dir = '';
let ATTACK = '';
beforeAll(() => {
  dir = tempDir();
  ATTACK = buildC('attack');
});

/** Asserts a worm-run error: one `worm-run:` line on stderr, no stack, nothing on stdout. */
function expectError(r: { code: number | null; stdout: string; stderr: string }, code: number, message: RegExp) {
  expect(r.code, r.stderr).toBe(code);
  expect(r.stdout).toBe('');
  expect(r.stderr).toMatch(/^worm-run: [^\n]+\n$/);
  expect(r.stderr).toMatch(message);
  expect(r.stderr).not.toMatch(STACK_FRAME);
}

describe('exit status', () => {
  it.concurrent('0 for a clean run, and worm-run prints nothing of its own', async () => {
    const r = await worm(['--', 'true']);
    expect(r).toMatchObject({ code: 0, signal: null, stdout: '', stderr: '' });
  });

  it.concurrent("the target's own code (3)", async () => {
    const r = await worm(['--', 'sh', '-c', 'echo out; echo err >&2; exit 3']);
    expect(r).toMatchObject({ code: 3, stdout: 'out\n', stderr: 'err\n' });
  });

  it.concurrent('126 for a file that is not executable; it is not run', async () => {
    const file = join(dir, 'not-executable');
    writeFileSync(file, `touch ${join(dir, 'ran-126')}\n`, { mode: 0o644 });
    chmodSync(file, 0o644);
    expectError(await worm(['--', file]), 126, /cannot execute .*not-executable: Permission denied/);
    expect(() => statSync(join(dir, 'ran-126'))).toThrow();
  });

  it.concurrent('126 for a directory', async () => {
    const sub = join(dir, 'a-directory');
    mkdirSync(sub, { recursive: true });
    expectError(await worm(['--', sub]), 126, /cannot execute .*a-directory: Is a directory/);
  });

  it.concurrent('127 for a command not on PATH and for a missing path', async () => {
    expectError(await worm(['--', 'no-such-command-worm-run-test']), 127, /no-such-command-worm-run-test: command not found/);
    expectError(await worm(['--', './no/such/file']), 127, /\.\/no\/such\/file: No such file or directory/);
  });

  it.concurrent('127 for a script whose interpreter is missing (as env(1))', async () => {
    const file = join(dir, 'bad-interpreter');
    writeFileSync(file, '#!/nonexistent/interpreter\necho hi\n', { mode: 0o755 });
    expectError(await worm(['--', file]), 127, /bad-interpreter/);
  });

  for (const [sig, n] of [['TERM', 15], ['KILL', 9]] as const) {
    it.concurrent(`128+${n} when the target kills itself with SIG${sig}; worm-run dies of the same signal`, async () => {
      // What a shell sees...
      const viaShell = await runProgram('sh', ['-c', `"$0" "$1" -- sh -c 'kill -${sig} $$'; echo "status=$?"`, process.execPath, BIN]);
      expect(viaShell.stdout).toBe(`status=${128 + n}\n`);
      expect(viaShell.stderr).not.toMatch(STACK_FRAME);
      // ... and why: worm-run re-raised the signal on itself.
      const direct = await worm(['--', 'sh', '-c', `kill -${sig} $$`]);
      expect(direct.signal).toBe(`SIG${sig}`);
      expect(direct.code).toBeNull();
    });
  }

  it.concurrent('124 when the wall-clock timeout stops the target', async () => {
    const t0 = Date.now();
    const r = await worm(['--timeout', '300ms', '--', 'sleep', '20']);
    expect(r.code).toBe(124);
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(r.stderr).toMatch(/^worm-run: .*wall-clock limit/m);
  });
});

describe('signals sent to worm-run reach the target', () => {
  for (const sig of ['SIGTERM', 'SIGUSR1', 'SIGINT', 'SIGHUP', 'SIGUSR2', 'SIGQUIT'] as const) {
    it.concurrent(`${sig} is forwarded; the target's trap runs and its exit code comes back`, async () => {
      const marker = join(dir, `marker-${sig}`);
      const name = sig.slice(3);
      const p = startWorm(['--write', dir, '--', 'sh', '-c',
        `trap 'echo got-${name} > "${marker}"; exit 7' ${name}; echo ready; while :; do sleep 0.05; done`]);
      await p.waitFor(/ready/);
      process.kill(p.pid, sig);
      const r = await p.done;
      expect(r.code, r.stderr).toBe(7);
      expect(readFileSync(marker, 'utf8')).toBe(`got-${name}\n`);
    });
  }

  it.concurrent('an untrapped SIGTERM kills the target; worm-run then dies of SIGTERM too (143)', async () => {
    const log = join(dir, 'sigterm-audit.jsonl');
    const p = startWorm(['--audit-log', log, '--', 'sh', '-c', 'echo ready; exec sleep 20']);
    await p.waitFor(/ready/);
    process.kill(p.pid, 'SIGTERM');
    const r = await p.done;
    expect(r.signal).toBe('SIGTERM');
    const exit = auditLines(readFileSync(log, 'utf8')).find((l) => l.event === 'exit');
    expect(exit).toMatchObject({ signal: 'SIGTERM', status: 143, code: null });
  });
});

describe('what the child inherits', () => {
  it.concurrent("descriptors 3 and up are closed in the child: an inherited socket and pipes can't be used", async () => {
    const rec = await startRecorder();
    // Node marks the descriptors it inherits close-on-exec only up to the first gap past 15
    // (uv_disable_stdio_inheritance), so one pipe sits at 40, behind a gap: there only
    // worm-run's own clean-up stands between it and the target.
    const stdio = ['pipe', 'pipe', 'pipe', null, 'pipe', ...Array(35).fill('ignore'), 'pipe'];
    const run = async (jailed: boolean) => {
      const sock: Socket = connect(rec.port, '127.0.0.1');
      await new Promise((r) => sock.once('connect', r));
      const [file, ...argv] = jailed ? [process.execPath, BIN, '--', ATTACK, 'fds', '3', '4', '40'] : [ATTACK, 'fds', '3', '4', '40'];
      const p = startProgram(file!, argv, { stdio: stdio.map((s) => s ?? sock) as never });
      let extra = '';
      for (const i of [4, 40]) (p.child.stdio[i] as Readable).on('data', (d) => (extra += d));
      const out = await p.done;
      sock.destroy();
      return { out, extra };
    };
    try {
      const jailed = await run(true);
      expect(jailed.out.code, jailed.out.stderr).toBe(0);
      const fds = [...jailed.out.stdout.matchAll(/^FD (\d+) (.*)$/gm)].map((m) => [Number(m[1]), m[2]!] as const);
      // At most worm-run's own channel (a pipe) is left: never a socket, never our fds 4 or 40.
      expect(fds.length, jailed.out.stdout).toBeLessThanOrEqual(1);
      for (const [n, target] of fds) {
        expect(n).toBe(3);
        expect(target).toMatch(/^pipe:/);
      }
      await new Promise((r) => setTimeout(r, 200));
      expect(jailed.extra).toBe('');
      expect(rec.events.map((e) => e.data).join('')).not.toContain('LEAK');

      // Control: without worm-run the same program writes into all three.
      const bare = await run(false);
      expect(bare.out.stdout).toMatch(/^writable 3$/m);
      expect(bare.out.stdout).toMatch(/^writable 4$/m);
      expect(bare.out.stdout).toMatch(/^writable 40$/m);
      expect(await rec.waitFor('LEAK3')).toBe(true);
      await new Promise((r) => setTimeout(r, 100));
      expect(bare.extra.split('\n').sort()).toEqual(['', 'LEAK4', 'LEAK40']);
    } finally {
      await rec.close();
    }
  });

  it.concurrent('stdin passes through, byte for byte', async () => {
    const big = 'x'.repeat(300_000) + '\nlast line\n';
    const r = await worm(['--', 'sh', '-c', 'wc -c; echo done'], { input: big });
    expect(r.stdout.trim().split(/\s+/)).toEqual([String(big.length), 'done']);
    const cat = await worm(['--', 'cat'], { input: 'hello\nworld\n' });
    expect(cat).toMatchObject({ code: 0, stdout: 'hello\nworld\n' });
  });

  it.concurrent('a script without a shebang runs with /bin/sh, with its arguments and exit code', async () => {
    const file = join(dir, 'no-shebang');
    writeFileSync(file, 'echo "sh ran: $0 $1 $2"\nexit 5\n', { mode: 0o755 });
    const r = await worm(['--', file, 'a', 'b c']);
    expect(r.stdout).toBe(`sh ran: ${file} a b c\n`);
    expect(r.code).toBe(5);
  });

  it.concurrent('the target runs in the directory worm-run was started in', async () => {
    const r = await worm(['--', 'pwd'], { cwd: dir });
    expect(r.stdout).toBe(`${dir}\n`);
  });
});

describe('supervision of the process tree', () => {
  it.concurrent('a daemonised grandchild does not outlive the run', async () => {
    const tag = `${20 + Math.floor(Math.random() * 1000) / 1000}`;
    const script = `setsid sleep ${tag} </dev/null >/dev/null 2>&1 & echo "daemon $!"; sleep 0.2`;
    const p = startWorm(['--', 'sh', '-c', script]);
    // While the run lasts the daemon is there (its pid inside the run may be another number).
    expect(await eventually(() => pidsWithArgs('sleep', tag).length === 1, 3000)).toBe(true);
    const [daemon] = pidsWithArgs('sleep', tag);
    const r = await p.done;
    expect(r.code).toBe(0);
    try {
      expect(alive(daemon!)).toBe(false);
      expect(pidsWithArgs('sleep', tag)).toEqual([]);
    } finally {
      if (alive(daemon!)) process.kill(daemon!, 'SIGKILL');
    }
    // Control: without worm-run the grandchild stays (and is cleaned up here).
    const bare = await runProgram('sh', ['-c', script]);
    const left = Number(/daemon (\d+)/.exec(bare.stdout)![1]);
    try {
      expect(alive(left)).toBe(true);
      expect(pidsWithArgs('sleep', tag)).toEqual([left]);
    } finally {
      try {
        process.kill(left, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  });

  it.concurrent('when worm-run is SIGKILLed, the target dies with it', async () => {
    const tag = `${30 + Math.floor(Math.random() * 1000) / 1000}`;
    const p = startWorm(['--', 'sh', '-c', `echo ready; exec sleep ${tag}`]);
    await p.waitFor(/ready/);
    expect(await eventually(() => pidsWithArgs('sleep', tag).length === 1, 3000)).toBe(true);
    const pid = pidsWithArgs('sleep', tag)[0]!;
    try {
      p.kill('SIGKILL');
      expect(await p.exited).toEqual({ code: null, signal: 'SIGKILL' });
      // Not p.done: the target holds worm-run's stdout until it dies.
      expect(await eventually(() => !alive(pid), 3000)).toBe(true);
    } finally {
      if (alive(pid)) process.kill(pid, 'SIGKILL');
    }
  });
});

describe('the target does not outlive the run\'s init', () => {
  for (const who of [{ name: 'root target', args: [] as string[] }, { name: 'target as another user (--user)', args: ['--user', '64126', '--group', '64126'] }]) {
    const needs = who.args.length > 0 && !IS_ROOT ? [{ ok: false, reason: '--user needs worm-run to run as root' }] : [];
    itWith(needs, `without namespaces, ${who.name}: init SIGKILLed from outside takes the target with it (its parent-death signal, set again after every change of credentials)`, async () => {
      // init gets no chance to kill anything: only the target's own PR_SET_PDEATHSIG ends it.
      const tag = `${30 + Math.floor(Math.random() * 1000) / 1000}`;
      const p = startWorm(['--namespaces', 'off', '--fs', 'off', ...who.args, '--', 'sh', '-c', `echo "init $PPID"; exec sleep ${tag}`], { cwd: '/' });
      let target = 0;
      try {
        const init = Number((await p.waitFor(/init (\d+)/))[1]);
        expect(await eventually(() => pidsWithArgs('sleep', tag).length === 1, 3000)).toBe(true);
        target = pidsWithArgs('sleep', tag)[0]!;
        expect(procStatus(target)!.PPid).toBe(String(init));
        process.kill(init, 'SIGKILL');
        expect(await eventually(() => !alive(target), 5000), `target ${target} outlived its init`).toBe(true);
      } finally {
        if (target && alive(target)) process.kill(target, 'SIGKILL');
        p.kill('SIGKILL');
        await p.done;
      }
    });
  }
});

describe('the supervisor is hardened too', () => {
  it.concurrent('while the target runs, worm-run is under a seccomp filter with no_new_privs, and so are the run\'s init and the target', async () => {
    const tag = `${30 + Math.floor(Math.random() * 1000) / 1000}`;
    const p = startWorm(['--', 'sh', '-c', `echo ready; exec sleep ${tag}`]);
    try {
      await p.waitFor(/ready/);
      expect(await eventually(() => pidsWithArgs('sleep', tag).length === 1, 3000)).toBe(true);
      const pid = pidsWithArgs('sleep', tag)[0]!;
      // The supervisor filters itself right after the spawn: give it a moment.
      expect(await eventually(() => procStatus(p.pid)?.Seccomp === '2', 3000)).toBe(true);
      const sup = procStatus(p.pid)!;
      expect(sup.NoNewPrivs).toBe('1');
      expect(Number(sup.Seccomp_filters)).toBeGreaterThanOrEqual(1);
      const target = procStatus(pid)!;
      // The target's parent is the run's init, worm-run's child.
      expect(procStatus(Number(target.PPid))!.PPid).toBe(String(p.pid));
      // init filters itself too (it never starts a program nor needs the network).
      const init = procStatus(Number(target.PPid))!;
      expect(init.Seccomp).toBe('2');
      expect(init.NoNewPrivs).toBe('1');
      expect(target.Seccomp).toBe('2');
      expect(target.NoNewPrivs).toBe('1');
      expect(Number(target.Seccomp_filters)).toBeGreaterThanOrEqual(1);
      // Control: this test process is not filtered.
      expect(procStatus(process.pid)!.Seccomp).toBe('0');
    } finally {
      p.kill('SIGTERM');
      await p.done;
    }
  });

  itWith([nobodyCanRunWormRun()], 'worm-run is not dumpable: run as nobody, its /proc files belong to root, the target\'s to nobody', async () => {
    const tag = `${30 + Math.floor(Math.random() * 1000) / 1000}`;
    const p = startProgram(process.execPath, [BIN, '--fs', 'off', '--', 'sh', '-c', `echo ready; exec sleep ${tag}`], { uid: 65534, gid: 65534, cwd: '/' });
    try {
      await p.waitFor(/ready/);
      expect(await eventually(() => pidsWithArgs('sleep', tag).length === 1, 3000)).toBe(true);
      const pid = pidsWithArgs('sleep', tag)[0]!;
      expect(procStatus(p.pid)!.Uid.split(/\s+/)[0]).toBe('65534');
      // The kernel gives a non-dumpable process's /proc entries to root; nobody else of its
      // user can open /proc/<pid>/mem, environ or attach to it.
      expect(await eventually(() => statSync(`/proc/${p.pid}/environ`).uid === 0, 3000)).toBe(true);
      expect(statSync(`/proc/${pid}/environ`).uid).toBe(65534);
      // From the same user: the supervisor's environment cannot be read, the target's can.
      const peek = await runProgram('sh', ['-c', `cat /proc/${p.pid}/environ >/dev/null && echo sup-readable; cat /proc/${pid}/environ >/dev/null && echo target-readable`], { uid: 65534, gid: 65534, cwd: '/' });
      expect(peek.stdout).toBe('target-readable\n');
      expect(peek.stderr).toMatch(/Permission denied/);
    } finally {
      p.kill('SIGTERM');
      await p.done;
    }
  });
});

describe('started by an unprivileged user: the run\'s init and the target, measured from inside and outside', () => {
  /**
   * A uid of its own rather than nobody's (no passwd entry, as a pod's): tests that count
   * nobody's processes (--max-procs) run at the same time. It can run worm-run when nobody can.
   */
  const OTHER = 64125;
  itWith([nobodyCanRunWormRun()], 'the run\'s init (a copy of the supervisor) is not dumpable from its first instruction: its /proc files are root\'s, its own user cannot read them', async () => {
    // Without a PID namespace init keeps the supervisor's dumpable flag as it was at the
    // clone; the supervisor hardens itself only later. $PPID of the target shell is init.
    const tag = `${30 + Math.floor(Math.random() * 1000) / 1000}`;
    const p = startProgram(process.execPath, [BIN, '--fs', 'off', '--namespaces', 'off', '--', 'sh', '-c', `echo "init $PPID"; exec sleep ${tag}`], { uid: OTHER, gid: OTHER, cwd: '/' });
    try {
      const init = Number((await p.waitFor(/init (\d+)/))[1]);
      expect(init).not.toBe(p.pid);
      expect(procStatus(init)!.Uid.split(/\s+/)[0]).toBe(String(OTHER));
      expect(statSync(`/proc/${init}/environ`).uid).toBe(0);
      const peek = await runProgram('sh', ['-c', `cat /proc/${init}/environ >/dev/null && echo init-readable; head -c1 /proc/${init}/mem >/dev/null 2>&1 || echo mem-refused`], { uid: OTHER, gid: OTHER, cwd: '/' });
      expect(peek.stdout).toBe('mem-refused\n');
      expect(peek.stderr).toMatch(/Permission denied/);
    } finally {
      p.kill('SIGTERM');
      await p.done;
    }
  });
  itWith([nobodyCanRunWormRun()], 'no_new_privs, the filter and Landlock hold in the target also where the kernel would not insist on no_new_privs (a user namespace): the start record\'s measurements and the target\'s own /proc agree', async () => {
    // In its user namespace the target has every capability, so seccomp and Landlock would
    // install without no_new_privs: only its measurement shows it missing.
    const job = tempDir();
    const outside = tempDir();
    chmodSync(job, 0o777);
    chmodSync(outside, 0o777);
    const control = await runProgram('sh', ['-c', `touch ${outside}/control && echo wrote`], { uid: OTHER, gid: OTHER, cwd: job });
    expect(control.stdout).toBe('wrote\n');
    const r = await runProgram(process.execPath, [BIN, '--audit-log', '-', '--', 'sh', '-c',
      `grep -E '^(NoNewPrivs|Seccomp|Seccomp_filters):' /proc/self/status; touch ${outside}/x 2>/dev/null && echo wrote-outside; echo done`,
    ], { uid: OTHER, gid: OTHER, cwd: job });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^NoNewPrivs:\s+1$/m);
    expect(r.stdout).toMatch(/^Seccomp:\s+2$/m);
    expect(r.stdout).toMatch(/^Seccomp_filters:\s+1$/m);
    expect(r.stdout).not.toMatch(/wrote-outside/);
    expect(r.stdout).toMatch(/^done$/m);
    const start = auditLines(r.stderr).find((l) => l.event === 'start') as { protections: Record<string, unknown> };
    expect(start.protections).toMatchObject({
      noNewPrivs: true,
      seccomp: { installed: true, filters: 1 },
      landlock: { abi: expect.any(Number) },
      identity: { uid: OTHER },
    });
  });
});
