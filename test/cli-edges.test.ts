/**
 * Edges found in review: nothing is loaded from disk into the supervisor once the target runs,
 * audit destinations that would hang or be shared with the target, a removed working directory.
 */
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { Script } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { ROOT, STACK_FRAME, auditLines, procStatus, runProgram, startWorm, tempDir, worm } from './helpers/run.js';

describe('the supervisor loads no code from the installation once the target runs', () => {
  it('a planted node_modules/pino is never loaded (pino is bundled; the trail opens before the target starts)', async () => {
    // An installation the target could write: a copy of worm-run whose node_modules/pino would
    // announce itself if anything loaded it.
    const inst = tempDir('worm-run-inst-');
    for (const f of ['package.json', 'bin', 'dist', 'schema']) cpSync(join(ROOT, f), join(inst, f), { recursive: true });
    // The local build, or the prebuild where `npm pack` (prebuildify) left only that.
    if (existsSync(join(ROOT, 'build/Release/worm_run.node'))) {
      mkdirSync(join(inst, 'build/Release'), { recursive: true });
      cpSync(join(ROOT, 'build/Release/worm_run.node'), join(inst, 'build/Release/worm_run.node'));
    } else {
      cpSync(join(ROOT, 'prebuilds'), join(inst, 'prebuilds'), { recursive: true });
    }
    const marker = join(inst, 'pino-was-loaded');
    mkdirSync(join(inst, 'node_modules/pino'), { recursive: true });
    writeFileSync(join(inst, 'node_modules/pino/package.json'), '{"name":"pino","main":"pino.js"}');
    writeFileSync(join(inst, 'node_modules/pino/pino.js'), `require('fs').writeFileSync(${JSON.stringify(marker)}, 'loaded'); module.exports = {};\n`);
    const log = join(inst, 'trail.jsonl');
    const r = await runProgram(process.execPath, [join(inst, 'bin/worm-run.js'), '--audit-log', log, '--', 'sh', '-c', 'exit 3']);
    expect(r.code).toBe(3);
    expect(existsSync(marker)).toBe(false);
    expect(auditLines(readFileSync(log, 'utf8')).map((l) => l.event)).toEqual(['start', 'exit']);
  });
});

describe('start-up', () => {
  it('the CLI bundle has a code cache made at build time, and V8 takes it', () => {
    // Compiling the bundle is a large share of every run's start; the build step that makes the
    // cache once silently wrote none (the CLI leaves through _exit, which it did not watch).
    const file = join(ROOT, 'dist/worm-run.cjs');
    const script = new Script(readFileSync(file, 'utf8'), { filename: file, cachedData: readFileSync(`${file}.cache`) });
    expect(script.cachedDataRejected).toBe(false);
  });
});

describe('audit destinations', () => {
  it('a FIFO at the path is refused at once instead of hanging worm-run', async () => {
    const fifo = join(tempDir('worm-run-fifo-'), 'trail');
    execFileSync('mkfifo', [fifo]);
    const t0 = Date.now();
    const r = await worm(['--audit-log', fifo, '--', 'sh', '-c', 'echo ran']);
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(r.code).toBe(125);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(`worm-run: --audit-log ${fifo}: cannot open: it is a FIFO; pass it as a descriptor instead (--audit-log /dev/fd/3 3>fifo)\n`);
  });

  it('a path whose directory does not exist: the reason, not Node\'s "ENOENT: ..., open \'...\'"', async () => {
    const base = tempDir('worm-run-nodir-');
    const path = join(base, 'missing', 'trail.jsonl');
    const r = await worm(['--audit-log', path, '--', 'true']);
    rmSync(base, { recursive: true, force: true });
    expect(r).toMatchObject({
      code: 125, stdout: '',
      stderr: `worm-run: --audit-log ${path}: cannot open: no such directory (worm-run creates the file, not its directory)\n`,
    });
  });

  it("the target's own stdout or stderr is refused as a descriptor destination", async () => {
    for (const fd of [0, 1, 2]) {
      const r = await worm(['--audit-log', `/dev/fd/${fd}`, '--', 'true']);
      expect(r.code).toBe(125);
      expect(r.stderr).toMatch(/that is the target's own stdin\/stdout\/stderr/);
    }
  });
});

describe('working directory', () => {
  it('a removed working directory is one clear line, not a stack trace', async () => {
    const gone = tempDir('worm-run-gone-');
    const r = await runProgram('sh', ['-c', `cd ${gone} && rmdir ${gone} && exec "$0" "$@"`, process.execPath, join(ROOT, 'bin/worm-run.js'), '--', 'true']);
    expect(r.code).toBe(125);
    expect(r.stderr).toBe('worm-run: the current directory no longer exists; cd to one that does\n');
    expect(r.stderr).not.toMatch(STACK_FRAME);
  });
});

describe("the supervisor's own filter", () => {
  interface Rule { syscall: string; errno: string }
  it('is printed by --print-policy: the network rules plus execve refused, libuv\'s io_uring ring kept', async () => {
    const r = await worm(['--print-policy']);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout) as { filter: { rules: Rule[] }; supervisorFilter: { rules: Rule[] } };
    const names = (rules: Rule[]) => rules.map((x) => x.syscall);
    const sup = names(doc.supervisorFilter.rules);
    const target = names(doc.filter.rules);
    for (const call of ['socket', 'connect', 'io_uring_setup', 'ptrace', 'execve', 'execveat']) expect(sup).toContain(call);
    expect(sup).not.toContain('io_uring_enter');
    expect(target).toContain('io_uring_enter');
    expect(target).not.toContain('execve');
  });
});

describe('the guard channel', () => {
  it("a target flooding it fills the pipe and blocks itself, not the supervisor's memory; the run still ends with its exit record", async () => {
    const dir = tempDir('worm-run-flood-');
    const script = join(dir, 'flood.cjs');
    // fd 3 is the channel a Node target's guard reports on; the target may write anything to it.
    writeFileSync(script, `
      const fs = require('fs');
      const b = Buffer.alloc(65536, 'x');
      const end = Date.now() + 3000;
      let n = 0;
      while (Date.now() < end) { fs.writeSync(3, b); n++; }
      console.log('wrote', n);
    `);
    const log = join(dir, 'trail.jsonl');
    const p = startWorm(['--audit-log', log, script], { cwd: dir });
    let peakKb = 0;
    for (let i = 0; i < 25; i++) {
      await new Promise((r) => setTimeout(r, 100));
      const rss = /^(\d+) kB$/.exec(procStatus(p.pid)?.VmRSS ?? '');
      if (rss) peakKb = Math.max(peakKb, Number(rss[1]));
    }
    const out = await p.done;
    expect(out.code, out.stderr).toBe(0);
    expect(out.stdout).toMatch(/^wrote \d+$/m);
    // Unbounded, the supervisor held the flood: over 1 GB after 4 s.
    expect(peakKb).toBeGreaterThan(0);
    expect(peakKb).toBeLessThan(300 * 1024);
    const exit = auditLines(readFileSync(log, 'utf8')).find((l) => l.event === 'exit');
    expect(exit).toMatchObject({ status: 0, guardChannel: { garbage: expect.any(Number) } });
  });
});
