/** A kernel that cannot install seccomp filters: worm-run refuses to run anything (125). */
import { describe, expect, it } from 'vitest';
import { buildC } from './helpers/cc.js';
import { BIN, STACK_FRAME, runProgram } from './helpers/run.js';

describe('platform check', () => {
  it('refuses to run a target unprotected when seccomp filters are unavailable', async () => {
    const noseccomp = buildC('noseccomp');
    const r = await runProgram(noseccomp, [process.execPath, BIN, '--', 'sh', '-c', 'echo target ran']);
    expect(r.code).toBe(125);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe('worm-run: this kernel cannot install seccomp filters (errno 38); worm-run refuses to run anything unprotected\n');
    expect(r.stderr).not.toMatch(STACK_FRAME);
  });

  it('doctor says so and exits non-zero', async () => {
    const noseccomp = buildC('noseccomp');
    const r = await runProgram(noseccomp, [process.execPath, BIN, 'doctor']);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^ {2}fail  seccomp filter {13}unavailable \(errno 38\): worm-run refuses to run$/m);
    expect(r.stdout).toMatch(/^result: NOT protected here/m);
  });
});
