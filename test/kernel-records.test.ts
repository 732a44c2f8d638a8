/**
 * Issue 11, part 1: every refusal of the kernel filter becomes a record, whoever made the call
 * (C, Python, a shell, a renamed curl: programs the Node guard never sees). The supervisor
 * receives each refused call through seccomp user notification, answers it at once with the
 * rule's errno and records what was tried (decoded), by whom and where to; repeats are folded
 * and counted, a flood cannot delay the clock or fill the disk, and once nobody listens the
 * kernel answers ENOSYS: the call still fails.
 */
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildC } from './helpers/cc.js';
import { startRecorder } from './helpers/recorder.js';
import {
  BIN, PYTHON, alive, auditLines, eventually, pidsWithArgs, startProgram, startWorm, tempDir, worm,
} from './helpers/run.js';

let ATTACK = '';
beforeAll(() => {
  ATTACK = buildC('attack');
});

type Line = Record<string, unknown>;

function kernelRecords(trail: string): Line[] {
  return auditLines(trail).filter((l) => l.event === 'blocked' && l.source === 'kernel');
}

function exitRecord(trail: string): Line {
  return auditLines(trail).find((l) => l.event === 'exit')!;
}

describe('refusals of programs the guard never sees are recorded', () => {
  it.concurrent('C: socket() is recorded with its family and type, who made it, and one line on stderr', async () => {
    const rec = await startRecorder();
    const log = join(tempDir(), 'c.jsonl');
    try {
      const r = await worm(['--audit-log', log, '--', ATTACK, 'tcp', String(rec.port), 'C-TOKEN']);
      expect(r.code).toBe(1);
      expect(await rec.settle(200)).toEqual([]);
      const [k] = kernelRecords(readFileSync(log, 'utf8'));
      expect(k).toMatchObject({
        level: 40, layer: 'seccomp', op: 'socket(AF_INET, SOCK_STREAM)', syscall: 'socket',
        family: 'AF_INET', type: 'SOCK_STREAM', protocol: 0, errno: 'EPERM', count: 1,
        by: { exe: ATTACK, argv: `${ATTACK} tcp ${rec.port} C-TOKEN` },
      });
      expect(exitRecord(readFileSync(log, 'utf8'))).toMatchObject({ blocked: 1, blockedBy: { guard: 0, kernel: 1 } });
      // Without a trail, the same refusal is one human line.
      const human = await worm(['--', ATTACK, 'tcp', String(rec.port), 'C-TOKEN']);
      expect(human.stderr).toMatch(/^worm-run: blocked socket\(AF_INET, SOCK_STREAM\) by attack \(pid \d+\)$/m);
    } finally {
      await rec.close();
    }
  });

  for (const [what, record] of [
    ['connect', /^worm-run: blocked connect to 127\.0\.0\.1:(\d+) by attack \(pid \d+\)$/m],
    ['sendto', /^worm-run: blocked sendto to 127\.0\.0\.1:(\d+) by attack \(pid \d+\)$/m],
  ] as const) {
    it.concurrent(`C: ${what} on a socket handed in names its destination`, async () => {
      const rec = await startRecorder();
      const log = join(tempDir(), `${what}.jsonl`);
      try {
        const kind = what === 'sendto' ? 'udp' : 'tcp';
        const port = what === 'sendto' ? rec.udpPort : rec.port;
        const launch = startProgram(ATTACK, ['launch', kind, '--', process.execPath, BIN, '--audit-log', log, '--', ATTACK, 'fd', what, String(port), 'T'], { stdio: ['ignore', 'pipe', 'pipe'] });
        const out = await launch.done;
        expect(out.stdout).toMatch(new RegExp(`^STEP ${what} err EPERM$`, 'm'));
        expect(await rec.settle(200)).toEqual([]);
        const [k] = kernelRecords(readFileSync(log, 'utf8'));
        expect(k).toMatchObject({ syscall: what, address: `127.0.0.1:${port}`, family: 'AF_INET', op: `${what} to 127.0.0.1:${port}` });
        const human = startProgram(ATTACK, ['launch', kind, '--', process.execPath, BIN, '--', ATTACK, 'fd', what, String(port), 'T'], { stdio: ['ignore', 'pipe', 'pipe'] });
        expect(Number(record.exec((await human.done).stderr)?.[1])).toBe(port);
      } finally {
        await rec.close();
      }
    });
  }

  it.concurrent('Python, bash /dev/tcp and a renamed curl: each refusal names the program that made it', async () => {
    const rec = await startRecorder();
    const dir = tempDir();
    const renamed = join(dir, 'innocent-tool');
    copyFileSync('/usr/bin/curl', renamed);
    const log = join(dir, 'many.jsonl');
    try {
      const py = await worm(['--audit-log', log, '--', PYTHON, '-c', `import socket; socket.create_connection(("127.0.0.1", ${rec.port}))`]);
      expect(py.code).toBe(1);
      const sh = await worm(['--audit-log', log, '--', 'bash', '-c', `echo hi > /dev/tcp/127.0.0.1/${rec.port}`]);
      expect(sh.code).toBe(1);
      const curl = await worm(['--audit-log', log, '--', renamed, '-sS', '--max-time', '3', `http://127.0.0.1:${rec.port}/`]);
      expect(curl.code).toBe(7);
      expect(await rec.settle(200)).toEqual([]);
      const exes = kernelRecords(readFileSync(log, 'utf8')).filter((k) => k.family === 'AF_INET' || k.family === 'AF_INET6')
        .map((k) => (k.by as { exe: string }).exe.split('/').pop());
      expect(exes).toEqual(expect.arrayContaining([expect.stringMatching(/^python3/), 'bash', 'innocent-tool']));
    } finally {
      await rec.close();
    }
  });

  it.concurrent('a process that execs another program is named by the program that made each call; a thread by its process', async () => {
    const log = join(tempDir(), 'exec.jsonl');
    const perl = "use Socket; socket(my $s, PF_INET, SOCK_STREAM, 0) ? print qq(made\\n) : print qq(perl refused\\n);";
    const py = [
      'import os, socket, sys, threading',
      'def try_(t):',
      '  try: socket.socket(socket.AF_INET, t)',
      '  except OSError as e: print("refused", e.errno, flush=True)',
      'try_(socket.SOCK_STREAM)',
      'th = threading.Thread(target=try_, args=(socket.SOCK_DGRAM,)); th.start(); th.join()',
      `os.execv("/usr/bin/perl", ["perl", "-e", ${JSON.stringify(perl)}])`,
    ].join('\n');
    const r = await worm(['--audit-log', log, '--', PYTHON, '-c', py]);
    expect(r.stdout).toBe('refused 1\nrefused 1\nperl refused\n');
    const k = kernelRecords(readFileSync(log, 'utf8')).filter((x) => x.family === 'AF_INET');
    const seen = k.map((x) => `${String(x.type).replace("|SOCK_CLOEXEC", "")} ${(x.by as { exe: string }).exe.split('/').pop()!.replace(/[\d.]+$/, '')} ${x.count}`);
    expect(seen).toEqual(['SOCK_STREAM python 1', 'SOCK_DGRAM python 1', 'SOCK_STREAM perl 1']);
    const pids = new Set(k.map((x) => (x.by as { pid: number }).pid));
    expect(pids.size, JSON.stringify(k.map((x) => x.by))).toBe(1);
    expect((k[2]!.by as { argv: string }).argv).toMatch(/^perl -e use Socket/);
  });

  it.concurrent('a long path is named whole, not as a prefix that is another program; a long argv says it was cut', async () => {
    const base = tempDir();
    const deep = join(base, 'd'.repeat(200), 'd'.repeat(200), 'd'.repeat(80));
    mkdirSync(join(deep, 'python3-evil'), { recursive: true });
    // A harmless program whose path is a prefix of the attacker's (the old 511-byte cut).
    copyFileSync('/bin/true', join(deep, 'python3'));
    const evil = join(deep, 'python3-evil', 'attack');
    copyFileSync(ATTACK, evil);
    chmodSync(evil, 0o755);
    const log = join(base, 'long.jsonl');
    const longArg = 'A'.repeat(600);
    await worm(['--audit-log', log, '--', evil, 'tcp', '9', longArg]);
    const [k] = kernelRecords(readFileSync(log, 'utf8'));
    expect((k!.by as { exe: string }).exe).toBe(evil);
    const argv = (k!.by as { argv: string }).argv;
    expect(argv.endsWith('...(cut)')).toBe(true);
    expect(argv.length).toBe(512 + '...(cut)'.length);
    expect(`${evil} tcp 9 ${longArg}`.startsWith(argv.slice(0, 512))).toBe(true);
  });

  it.concurrent("a Node refusal the guard makes is one record (the guard's): the kernel never sees the call", async () => {
    const dir = tempDir();
    const log = join(dir, 'node.jsonl');
    const script = join(dir, 'connect.cjs');
    writeFileSync(script, "require('net').connect(9, '127.0.0.1').on('error', (e) => { console.log(e.code); });\n");
    const r = await worm(['--audit-log', log, script]);
    expect(r.stdout).toBe('ERR_WORM_BLOCKED\n');
    const blocked = auditLines(readFileSync(log, 'utf8')).filter((l) => l.event === 'blocked');
    expect(blocked.map((b) => `${b.source} ${b.op}`)).toEqual(['guard net.connect']);
    expect(exitRecord(readFileSync(log, 'utf8'))).toMatchObject({ blocked: 1, blockedBy: { guard: 1, kernel: 0 } });
  });
});

describe('floods', () => {
  it.concurrent('a target refusing calls as fast as it can is folded into one counted record and stops at --timeout', async () => {
    const dir = tempDir();
    const log = join(dir, 'flood.jsonl');
    const t0 = Date.now();
    const r = await worm(['--timeout', '1500ms', '--audit-log', log, '--', ATTACK, 'flood', '0']);
    const took = Date.now() - t0;
    expect(r.code).toBe(124);
    // The clock is not held up: well within the kill-after grace.
    expect(took).toBeLessThan(1500 + 2000 + 3000);
    const trail = readFileSync(log, 'utf8');
    const kernel = kernelRecords(trail);
    expect(kernel.length).toBeLessThanOrEqual(2); // the first one, then the same with its final count
    const total = exitRecord(trail).blocked as number;
    expect(total).toBeGreaterThan(10_000);
    expect(kernel.at(-1)).toMatchObject({ op: 'socket(AF_INET, SOCK_STREAM)', count: total, repeated: true });
    expect(statSync(log).size).toBeLessThan(64 * 1024);
  });

  it.concurrent('many different refusals: at most 256 are written, the rest counted in the exit record', async () => {
    const log = join(tempDir(), 'distinct.jsonl');
    // 400 different x32 system call numbers: each is its own kind of refusal.
    const nrs = Array.from({ length: 400 }, (_, i) => String(0x40000000 + i));
    const r = await worm(['--audit-log', log, '--', ATTACK, 'raw', ...nrs]);
    expect(r.stdout.match(/^RAW \d+ EPERM$/gm)).toHaveLength(400);
    const trail = readFileSync(log, 'utf8');
    expect(kernelRecords(trail)).toHaveLength(256);
    expect(exitRecord(trail)).toMatchObject({ blocked: 400, kernelRefusalsNotRecorded: 144 });
    expect(kernelRecords(trail)[0]).toMatchObject({ op: 'x32 syscall 0', abi: 'x32' });
  });
});

describe('when nobody listens any more', () => {
  it.concurrent('a refused call still fails (ENOSYS) once the supervisor is gone', async () => {
    // Without namespaces a daemon the target started outlives a SIGKILLed worm-run (a documented
    // limit); its filter stays, and with no listener the kernel answers ENOSYS.
    const dir = tempDir();
    // The run's init may still catch the daemon as the supervisor dies (then there is nothing
    // left to ask, which is better still): try again until one daemon outlives the run.
    let answered = '';
    for (let attempt = 0; attempt < 5 && answered !== 'ENOSYS\n'; attempt++) {
      const file = join(dir, `errno-${attempt}`);
      const p = startWorm(['--namespaces', 'off', '--write', dir, '--', 'sh', '-c', `"$0" orphan ${file}; echo started; sleep 30`, ATTACK]);
      await p.waitFor(/started/);
      expect(await eventually(() => existsSync(file) && readFileSync(file, 'utf8') === 'EPERM\n', 5000)).toBe(true);
      p.kill('SIGKILL');
      await p.exited;
      try {
        // Generous: under a loaded suite the kernel may take a while to drop the last listener.
        await eventually(() => {
          answered = readFileSync(file, 'utf8');
          return answered === 'ENOSYS\n' || pidsWithArgs(ATTACK, 'orphan', file).length === 0;
        }, 15000);
      } finally {
        for (const pid of pidsWithArgs(ATTACK, 'orphan', file)) if (alive(pid)) process.kill(pid, 'SIGKILL');
      }
    }
    expect(answered).toBe('ENOSYS\n');
    const file = join(dir, 'errno');
    // With its own PID namespace nothing of the run is left to ask.
    const q = startWorm(['--write', dir, '--', 'sh', '-c', `"$0" orphan ${file}2; echo started; sleep 30`, ATTACK]);
    await q.waitFor(/started/);
    expect(await eventually(() => pidsWithArgs(ATTACK, 'orphan', `${file}2`).length > 0, 5000)).toBe(true);
    q.kill('SIGKILL');
    await q.exited;
    expect(await eventually(() => pidsWithArgs(ATTACK, 'orphan', `${file}2`).length === 0, 5000)).toBe(true);
  }, 120_000);
});

describe('the in-process mode', () => {
  it.concurrent('says in its start record that kernel refusals are not recorded there', async () => {
    const dir = tempDir();
    const log = join(dir, 'inproc.jsonl');
    const script = join(dir, 'x.js');
    writeFileSync(script, '');
    const r = await worm(['--in-process', '--audit-log', log, script]);
    expect(r.code).toBe(0);
    const start = auditLines(readFileSync(log, 'utf8'))[0]!;
    expect((start.protections as Record<string, string>).seccomp).toMatch(/not recorded in this mode/);
  });
});

