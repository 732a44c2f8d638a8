/** Issue 6, part 2: `worm-run doctor` tells the truth about this machine. */
import { tmpdir } from 'node:os';
import { describe, expect, it } from 'vitest';
import { pidNamespaces } from './helpers/kernel.js';
import { worm } from './helpers/run.js';

interface Report {
  version: string;
  protected: boolean;
  checks: { name: string; status: string; detail: string }[];
}

describe('worm-run doctor', () => {
  it('--json: this machine provides seccomp, TSYNC, Landlock, and the live probe is refused', async () => {
    const r = await worm(['doctor', '--json']);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as Report;
    const check = (name: string) => report.checks.find((c) => c.name === name);
    expect(report.protected).toBe(true);
    expect(check('seccomp filter')?.status).toBe('ok');
    expect(check('seccomp TSYNC')?.status).toBe('ok');
    expect(check('landlock')).toMatchObject({ status: 'ok', detail: expect.stringMatching(/^ABI \d+/) });
    expect(check('io_uring')?.detail).toMatch(/^(present|absent|disabled) on this kernel/);
    expect(check('cgroup v2')?.status).toBe('info');
    expect(check('addon')?.detail).toMatch(/^(local build|prebuild) \//);
    expect(check('node')?.detail).toBe(process.version);
    expect(check('live probe')).toMatchObject({
      status: 'ok',
      detail: 'sockets of every family refused (EPERM), io_uring_setup ENOSYS; guard refused net.connect (ERR_WORM_BLOCKED)',
    });
    // Measured on the probe's own run (its start record and its recorded refusals).
    expect(check('refusals recorded')).toMatchObject({ status: 'ok', detail: expect.stringMatching(/^the kernel filter's refusals reach the supervisor \(user notification\): [1-9]\d* recorded from the probe$/) });
    expect(check('namespaces')?.detail).toMatch(pidNamespaces().ok ? /^each run gets its own PID and mount namespace$/ : /^none here \(.*\): runs fall back to a child subreaper/);
  });

  it('runs its probe in a directory of its own, so it works from / and /tmp (shared directories worm-run refuses as a working directory)', async () => {
    for (const cwd of ['/', tmpdir()]) {
      const r = await worm(['doctor', '--json'], { cwd });
      const report = JSON.parse(r.stdout) as Report;
      expect(report.checks.find((c) => c.name === 'live probe')?.status, `${cwd}: ${r.stdout}`).toBe('ok');
      expect(r.code).toBe(0);
    }
  });

  it("says what the probe's run got: filesystem confinement, and how its exceptions hold", async () => {
    const r = await worm(['doctor', '--json']);
    const report = JSON.parse(r.stdout) as Report;
    expect(report.checks.find((c) => c.name === 'filesystem confinement')).toMatchObject({
      status: 'ok', detail: expect.stringMatching(/^Landlock ABI \d+; read-only and hidden paths kept by (landlock and mount namespace|landlock)$/),
    });
  });

  it('prints a human report by default', async () => {
    const r = await worm(['doctor']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^worm-run doctor \d+\.\d+\.\d+\n/);
    expect(r.stdout).toMatch(/^ {2}ok {4}live probe {17}sockets of every family refused/m);
    expect(r.stdout).toMatch(/^result: this machine provides the protection worm-run promises$/m);
  });

  it('is a subcommand only in first position: `worm-run -- doctor` runs a program called doctor', async () => {
    const r = await worm(['--', 'doctor']);
    expect(r.code).toBe(127);
    expect(r.stderr).toBe('worm-run: doctor: command not found\n');
  });
});
