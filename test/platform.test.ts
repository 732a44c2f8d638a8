/** A kernel that cannot install seccomp filters: worm-run refuses to run anything (125). */
import { describe, expect, it } from 'vitest';
import { buildC } from './helpers/cc.js';
import { BIN, STACK_FRAME, runProgram, tempDir } from './helpers/run.js';

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

describe('a kernel without Landlock', () => {
  // landlock_create_ruleset, landlock_add_rule, landlock_restrict_self answered with ENOSYS.
  const withoutLandlock = (args: string[], cwd: string) => runProgram(buildC('without'), ['444,445,446', '--', process.execPath, BIN, ...args], { cwd });

  it('refuses the default filesystem rules it cannot keep (125), and runs with --fs off', async () => {
    const cwd = tempDir();
    const r = await withoutLandlock(['--', 'sh', '-c', 'echo target ran'], cwd);
    expect(r.code).toBe(125);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe("worm-run: this kernel has no usable Landlock (none; ABI 2 or later is needed), so worm-run cannot keep the target's files confined; run with --fs off to go without filesystem rules (the target can then write wherever its user can)\n");
    const off = await withoutLandlock(['--fs', 'off', '--', 'sh', '-c', 'echo target ran'], cwd);
    expect(off.code).toBe(0);
    expect(off.stdout).toBe('target ran\n');
    // Control: the same wrapper without the Landlock calls removed runs the default.
    const control = await runProgram(buildC('without'), ['9999', '--', process.execPath, BIN, '--', 'sh', '-c', 'echo target ran'], { cwd });
    expect(control.stdout).toBe('target ran\n');
  });

  it('doctor says Landlock is unavailable and the machine does not give the default protection', async () => {
    const r = await withoutLandlock(['doctor'], tempDir());
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^ {2}warn {2}landlock {19}unavailable/m);
    expect(r.stdout).toMatch(/^ {2}fail {2}live probe .*no usable Landlock/m);
  });
});
