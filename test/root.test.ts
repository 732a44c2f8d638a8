/**
 * A target running as root (no --user) must still not reach the network without a socket:
 * kernel knobs under /proc and /sys are not writable (Landlock), BPF, tun/tap devices and key
 * requests (whose kernel upcall runs a helper outside the sandbox) are refused (seccomp), and
 * so is mount (Landlock), through which a network filesystem would connect from the kernel. The
 * same program without worm-run shows each step is real. Nothing here leaves a trace: files are
 * opened, never written; the tun device is not persistent.
 */
import { describe, expect, it } from 'vitest';
import { buildC } from './helpers/cc.js';
import { BIN, IS_ROOT, PYTHON, runProgram, tempDir, worm } from './helpers/run.js';

function steps(out: string): Record<string, number> {
  return Object.fromEntries(out.trim().split('\n').map((l) => {
    const [k, v] = l.split(' ');
    return [k!, Number(v)];
  }));
}

describe.runIf(IS_ROOT)('root target without --user', () => {
  it('cannot write kernel knobs, load BPF, make a tun device, request a key or mount', async () => {
    const prog = buildC('rootpaths');
    const bare = steps((await runProgram(prog, [])).stdout);
    expect(bare).toMatchObject({ core_pattern: 0, route_localnet: 0, sys_net_flags: 0, bpf: 0, tun_open: 0, mount: 0, fsopen: 0 });
    const r = await worm(['--', prog]);
    expect(r.code).toBe(0);
    expect(steps(r.stdout)).toEqual({
      core_pattern: 13, route_localnet: 13, sys_net_flags: 13, // EACCES (Landlock: no writes under /proc, /sys)
      tun_open: 13, // EACCES (Landlock: /dev/net/tun is not a device the target may write)
      bpf: 1, request_key: 1, mount: 1, fsopen: 1, // EPERM (seccomp)
    });
    // The kernel filter's refusals are recorded: that is how a reader tells the layers apart.
    for (const call of ['bpf', 'request_key', 'mount', 'fsopen']) expect(r.stderr).toMatch(new RegExp(`^worm-run: blocked ${call} by rootpaths`, 'm'));
    // Without filesystem rules the network devices stay unwritable.
    const off = await worm(['--fs', 'off', '--', prog]);
    expect(steps(off.stdout)).toMatchObject({ core_pattern: 13, tun_open: 13, mount: 1, fsopen: 1 });
    // A tun device opened outside and handed in: the filter refuses making an interface on it.
    const handed = await runProgram(PYTHON, ['-c', `import os,sys; fd=os.open('/dev/net/tun', os.O_RDWR); os.dup2(fd, 0); os.execv(sys.argv[1], sys.argv[1:])`,
      process.execPath, BIN, '--', prog, 'tun-fd']);
    expect(steps(handed.stdout)).toEqual({ tunsetiff: 1 });
    expect(handed.stderr).toMatch(/^worm-run: blocked ioctl\(TUNSETIFF\) by rootpaths/m);
    const bareTun = await runProgram(PYTHON, ['-c', `import os,sys; fd=os.open('/dev/net/tun', os.O_RDWR); os.dup2(fd, 0); os.execv(sys.argv[1], sys.argv[1:])`, prog, 'tun-fd']);
    expect(steps(bareTun.stdout)).toEqual({ tunsetiff: 0 });
  });

  it('still writes where the run may (its private TMPDIR, the working directory, /dev/null)', async () => {
    const cwd = tempDir('worm-run-root-');
    const r = await worm(['--', 'sh', '-c', 'f=$(mktemp) && echo ok > "$f" && cat "$f" && rm "$f" && echo here > here.txt && cat here.txt && echo x > /dev/null'], { cwd });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('ok\nhere\n');
  });
});

describe('files, under the Landlock rules', () => {
  it('renames and hard links across directories work (the rules grant REFER)', async () => {
    const cwd = tempDir('worm-run-rename-');
    const script = 'mkdir -p a b && echo one > a/f && mv a/f b/f && ln b/f a/g && mv b "$(mktemp -d)/moved" && cat a/g && ls a';
    const r = await worm(['--', 'sh', '-c', script], { cwd });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('one\ng\n');
  });
});
