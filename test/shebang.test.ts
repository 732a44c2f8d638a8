/**
 * Issue 3: `#!/usr/bin/env worm-run` and `#!/usr/bin/env -S worm-run --cpu 5` as the first line
 * of an executable script, run directly with worm-run's bin on PATH.
 */
import { chmodSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRecorder, type Recorder } from './helpers/recorder.js';
import { BIN, runProgram, tempDir, testEnv } from './helpers/run.js';

const dir = tempDir('worm-run-shebang-');
const binDir = join(dir, 'bin');
let rec: Recorder;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  rec = await startRecorder();
  // The same `node` that runs the tests comes first, then worm-run itself.
  mkdirSync(binDir);
  symlinkSync(BIN, join(binDir, 'worm-run'));
  symlinkSync(process.execPath, join(binDir, 'node'));
  env = testEnv({ PATH: `${binDir}:${process.env.PATH ?? ''}` });
});
afterAll(async () => {
  await rec.close();
});

function script(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  chmodSync(p, 0o755);
  return p;
}

describe('shebang', () => {
  it('#!/usr/bin/env worm-run runs the file as a guarded Node script with its own argv', async () => {
    rec.reset();
    const p = script('tool', `#!/usr/bin/env worm-run
console.log(JSON.stringify(process.argv.slice(1)));
require('net').connect(${rec.port}, '127.0.0.1').on('error', (e) => { console.log(e.code); process.exitCode = 4; });
`);
    const r = await runProgram(p, ['one', 'two'], { env });
    // Without --audit-log, the refusal is also one human line on stderr.
    expect(r.stderr).toBe(`worm-run: blocked net.connect 127.0.0.1:${rec.port} (at ${p}:3)\n`);
    expect(r.stdout).toBe(`${JSON.stringify([p, 'one', 'two'])}\nERR_WORM_BLOCKED\n`);
    expect(r.code).toBe(4);
    expect(await rec.settle()).toEqual([]);
  });

  it('#!/usr/bin/env -S worm-run --cpu 1 --max-files 40 passes options', async () => {
    const p = script('limited', `#!/usr/bin/env -S worm-run --cpu 1 --max-files 40
const limits = require('fs').readFileSync('/proc/self/limits', 'utf8');
console.log(/^Max open files\\s+40\\s+40/m.test(limits) ? 'limits applied' : limits);
for (;;) {}
`);
    const r = await runProgram(p, [], { env });
    expect(r.stdout).toBe('limits applied\n');
    expect(r.signal).toBe('SIGXCPU');
    expect(r.stderr).toMatch(/worm-run: stopped .*limited: CPU limit of 1 s reached/);
  });

  it('the shebang line has the command line\'s grammar: --opt=value, and the same one-line error for a typo', async () => {
    const ok = script('eq-form', `#!/usr/bin/env -S worm-run --max-files=40 --cpu=5
console.log(/^Max open files\\s+40\\s+40/m.test(require('fs').readFileSync('/proc/self/limits', 'utf8')) ? 'limits applied' : 'no limit');
`);
    expect(await runProgram(ok, [], { env })).toMatchObject({ code: 0, stdout: 'limits applied\n', stderr: '' });
    const typo = script('typo', `#!/usr/bin/env -S worm-run --max-fils 40
console.log('ran');
`);
    const r = await runProgram(typo, [], { env });
    expect(r).toMatchObject({ code: 125, stdout: '', stderr: "worm-run: unknown option '--max-fils'; did you mean --max-files? (see worm-run --help)\n" });
  });

  it('#!/usr/bin/env -S worm-run python3 runs another interpreter under worm-run', async () => {
    const p = script('py-tool', `#!/usr/bin/env -S worm-run /usr/bin/python3
import socket
try:
    socket.create_connection(("127.0.0.1", ${rec.port}), timeout=2)
    print("connected")
except OSError as e:
    print("refused", e.errno)
`);
    const r = await runProgram(p, [], { env });
    expect(r.stdout).toBe('refused 1\n');
    expect(await rec.settle()).toEqual([]);
  });
});
