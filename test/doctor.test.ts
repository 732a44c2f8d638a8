/** Issue 6, part 2: `worm-run doctor` tells the truth about this machine. */
import { describe, expect, it } from 'vitest';
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
    // What the probe's run got, as its target measured it.
    expect(check('kernel refusals recorded')).toMatchObject({ status: 'ok', detail: expect.stringMatching(/^yes: the probe's \d+ refused calls came back as records/) });
    expect(check('filesystem confinement')).toMatchObject({ status: 'ok', detail: expect.stringMatching(/^Landlock ABI \d+, exceptions kept by /) });
    expect(check('run namespaces')?.status).toMatch(/^(ok|warn)$/);
  });

  it('says which containment holds: its own PID namespace, or none with --namespaces off', async () => {
    const r = await worm(['doctor', '--json'], { cwd: '/' });
    const report = JSON.parse(r.stdout) as Report;
    const ns = report.checks.find((c) => c.name === 'run namespaces')!;
    if (ns.status === 'ok') expect(ns.detail).toMatch(/^PID and mount namespace.*the kernel ends every process in it/);
    else expect(ns.detail).toMatch(/^none .*subreaper/);
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
