/**
 * Issue 12, part 2: the filesystem confinement attacked as a target would attack it, to persist
 * (plant code that runs later, outside the sandbox) or to read credentials. Every case runs in
 * the variants of test/fs.test.ts that it applies to and has a control without worm-run where
 * one makes sense. Each case names the way it once went through, when it did (see the report of
 * the fstests branch): the fixes are in src/fs/plan.ts and src/fs/credentials.ts.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildC } from './helpers/cc.js';
import { itWith, type Feature } from './helpers/kernel.js';
import { BIN, auditLines, runProgram, startProgram } from './helpers/run.js';
import {
  control, envWith, expectResults, giveToNobody, hiddenInDirError, makeWorld, NOBODY, parseProbe, plant, probeCommand, PROBE,
  readOnlyError, variants, wormAs, type Op, type Variant, type World,
} from './helpers/fsworld.js';

const isRoot = process.getuid?.() === 0;
const all = variants();
const supervised = all.filter((v) => !v.inProcess);

/** Runs ops sandboxed in world a and as the control in world b (both prepared by setup). */
async function attack(v: Variant, setup: (w: World) => void, ops: (w: World) => Op[], opts: {
  args?: (w: World) => string[]; cwd?: (w: World) => string; env?: (w: World) => Record<string, string>; noControl?: boolean;
} = {}) {
  const a = makeWorld('atk');
  const b = makeWorld('ctl');
  try {
    setup(a);
    setup(b);
    giveToNobody(a.root);
    giveToNobody(b.root);
    const env = (w: World) => envWith({ HOME: w.home, ...(opts.env?.(w) ?? {}) });
    const trail = join(a.outside, 'trail.jsonl');
    const r = await wormAs(v, ['--audit-log', trail, ...(opts.args?.(a) ?? [])], probeCommand(v, ops(a)), { cwd: opts.cwd?.(a) ?? a.work, env: env(a) });
    const got = parseProbe(r);
    const ctl = opts.noControl ? null : parseProbe(await control(v, ops(b), { cwd: opts.cwd?.(b) ?? b.work, env: env(b) }));
    return { a, b, r, got, ctl, trail, cleanup: () => { a.cleanup(); b.cleanup(); } };
  } catch (e) {
    a.cleanup();
    b.cleanup();
    throw e;
  }
}

const allOk = (ctl: { ok: boolean }[] | null) => expect((ctl ?? []).filter((x) => !x.ok)).toEqual([]);
const nothing = () => {};

describe.each(all)('attacks: $name', (v) => {
  const hidden = hiddenInDirError(v);
  const ro = readOnlyError(v);
  const gone = v.mountNamespace ? 'EBUSY' : 'EACCES';

  itWith(v.needs, 'symlinks and hard links from the working directory to hidden and read-only files', async () => {
    const setup = (w: World) => {
      // An accomplice's links, made before the run.
      symlinkSync(join(w.home, '.ssh/id_ed25519'), join(w.work, 'key'));
      symlinkSync(join(w.home, '.ssh'), join(w.work, 'sshdir'));
      symlinkSync('.git/hooks', join(w.work, 'hooks'));
      symlinkSync(join(w.home, '.netrc'), join(w.work, 'netrc'));
    };
    const ops = (w: World): Op[] => [
      { op: 'read', path: join(w.work, 'key') },
      { op: 'read', path: join(w.work, 'sshdir/id_ed25519') },
      { op: 'read', path: join(w.work, 'netrc') },
      { op: 'create', path: join(w.work, 'hooks/pre-commit') },
      // The target's own links, in a subdirectory (the top of the working directory is split
      // without a mount namespace, so nothing new can be made there).
      { op: 'symlink', path: join(w.work, 'a/k2'), target: join(w.home, '.aws/credentials') },
      { op: 'read', path: join(w.work, 'a/k2') },
      { op: 'link', path: join(w.home, '.aws/credentials'), to: join(w.work, 'a/hard') },
      { op: 'link', path: join(w.work, '.git/config'), to: join(w.work, 'a/cfg') },
      { op: 'link', path: join(w.home, '.netrc'), to: join(w.work, 'a/hard-netrc') },
    ];
    const { got, ctl, r, a, cleanup } = await attack(v, setup, ops);
    try {
      allOk(ctl);
      // A hard link to a hidden file: with a mount namespace its path leads into the empty
      // tmpfs (or onto /dev/null, another mount: EXDEV); without, Landlock refuses a link that
      // would give the file more rights than it has where it is (EXDEV).
      const hardHidden = v.mountNamespace ? hidden : 'EXDEV';
      expectResults(ops(a), got, [hidden, hidden, 'EACCES', ro, true, hidden, hardHidden, 'EXDEV', 'EXDEV']);
      expect(r.stdout + r.stderr).not.toContain(a.marker);
    } finally {
      cleanup();
    }
  });

  itWith(v.needs, 'renames of directories that hold a protected entry', async () => {
    const setup = (w: World) => plant(w.work, { 'logs/': '' });
    const ops = (w: World): Op[] => [
      { op: 'rename', path: join(w.work, '.git'), to: join(w.work, 'git2') },
      { op: 'rename', path: join(w.work, 'logs'), to: join(w.work, 'a/logs') },
      { op: 'rename', path: join(w.work, 'a'), to: join(w.work, 'b/a') },
    ];
    const { got, ctl, a, cleanup } = await attack(v, setup, ops, { args: (w) => ['--audit-log', join(w.work, 'logs/t.jsonl')] });
    try {
      allOk(ctl);
      // Without a mount namespace the working directory is split: nothing at its top can be
      // renamed (a is at the top too).
      expectResults(ops(a), got, [gone, gone, v.mountNamespace ? true : 'EACCES']);
      expect(existsSync(join(a.work, '.git/config'))).toBe(true);
    } finally {
      cleanup();
    }
  });

  itWith(v.needs, 'renames in a home directory used as the working directory', async () => {
    const ops = (w: World): Op[] => [
      { op: 'rename', path: join(w.home, '.ssh'), to: join(w.home, 'proj/ssh') },
      { op: 'rename', path: join(w.home, '.config'), to: join(w.home, 'proj/config') },
      { op: 'rename', path: join(w.home, 'proj'), to: join(w.home, 'proj2') },
    ];
    const { got, ctl, a, r, cleanup } = await attack(v, nothing, ops, { cwd: (w) => w.home });
    try {
      allOk(ctl);
      expectResults(ops(a), got, ['EACCES', 'EACCES', 'EACCES']);
      expect(r.stdout).not.toContain(a.marker);
    } finally {
      cleanup();
    }
  });

  itWith(v.needs, '.., /proc/self/root and /proc/self/cwd lead to the same refusals', async () => {
    const tag = `wr-fstest-${process.pid}-${Math.random().toString(36).slice(2)}`;
    const ops = (w: World): Op[] => [
      { op: 'read', path: `/proc/self/root${w.home}/.ssh/id_ed25519` },
      { op: 'read', path: '/proc/self/cwd/../home/.netrc' },
      { op: 'read', path: join(w.work, '../home/.aws/credentials') },
      { op: 'create', path: '/proc/self/cwd/.git/hooks/post-checkout' },
      { op: 'create', path: `/proc/self/root/etc/${tag}` },
      { op: 'create', path: '/proc/self/cwd/../outside/planted' },
    ];
    const { got, a, r, cleanup } = await attack(v, nothing, ops, { noControl: true });
    try {
      expectResults(ops(a), got, [hidden, 'EACCES', hidden, ro, 'EACCES', 'EACCES']);
      expect(r.stdout).not.toContain(a.marker);
    } finally {
      rmSync(`/etc/${tag}`, { force: true });
      cleanup();
    }
  });

  // Once a way through: a root target without a PID namespace read the environment of every
  // other root process (the kernel lets CAP_SYS_ADMIN/CAP_PERFMON past Landlock there); a root
  // target now runs without those capabilities.
  itWith(v.needs, '/proc/<pid>/root and /proc/<pid>/environ of another process of the same user', async () => {
    const w = makeWorld('proc');
    const secret = `ENVSECRET-${Math.random().toString(36).slice(2)}`;
    const id = v.target === 'nobody' ? { uid: NOBODY, gid: NOBODY } : {};
    const sleeper = startProgram('sleep', ['60'], { ...id, env: { PATH: process.env.PATH, DB_PASSWORD: secret } });
    try {
      const ops: Op[] = [
        { op: 'read', path: `/proc/${sleeper.pid}/root${w.home}/.ssh/id_ed25519` },
        { op: 'read', path: `/proc/${sleeper.pid}/environ` },
      ];
      const c = parseProbe(await control(v, ops, { cwd: w.work, env: envWith({ HOME: w.home }) }));
      expect(c.map((x) => x.ok)).toEqual([true, true]);
      expect(c[1]!.value).toContain(secret);
      const r = await wormAs(v, [], probeCommand(v, ops), { cwd: w.work, env: envWith({ HOME: w.home }) });
      // Another PID namespace: the process is not there. Without one, Landlock refuses access
      // to processes outside the sandbox.
      const err = v.mountNamespace ? 'ENOENT' : 'EACCES';
      expectResults(ops, parseProbe(r), [err, err]);
      expect(r.stdout).not.toContain(secret);
    } finally {
      sleeper.kill('SIGKILL');
      w.cleanup();
    }
  });

  itWith(v.needs, 'files that appear later in a split directory get no rule (the cost of splitting)', async () => {
    const w = makeWorld('late');
    try {
      const ops: Op[] = [
        { op: 'mark', path: '', name: 'ready' },
        { op: 'wait', path: join(w.work, 'go') },
        { op: 'read', path: join(w.work, 'late.txt') },
        { op: 'append', path: join(w.work, 'late.txt') },
        { op: 'read', path: join(w.work, 'a/late.txt') },
      ];
      const p = startProgram(process.execPath, [BIN, ...v.args, ...probeCommand(v, ops)], {
        cwd: w.work, env: envWith({ HOME: w.home }), ...(v.launcher === 'nobody' ? { uid: NOBODY, gid: NOBODY } : {}),
      });
      await p.waitFor(/^MARK ready$/m, { timeoutMs: 20_000 });
      writeFileSync(join(w.work, 'late.txt'), 'late\n');
      writeFileSync(join(w.work, 'a/late.txt'), 'late\n');
      if (isRoot) {
        chownSync(join(w.work, 'late.txt'), NOBODY, NOBODY);
        chownSync(join(w.work, 'a/late.txt'), NOBODY, NOBODY);
      }
      writeFileSync(join(w.work, 'go'), '');
      const got = parseProbe(await p.done);
      // With a mount namespace the working directory keeps one rule; without one, a new entry
      // at its top (beside the .git kept read-only) has none, and cannot be read or written.
      // (Reading it works: the read rules are split only on the way to credential stores.)
      const top = v.mountNamespace ? true : 'EACCES';
      expectResults(ops, got, [true, true, true, top, true]);
    } finally {
      w.cleanup();
    }
  });

  itWith(v.needs, 'paths with odd names (spaces, newlines) are protected and confined the same way', async () => {
    const odd = makeWorld('odd');
    try {
      const work = join(odd.root, 'wo rk\nwith newline');
      const home = join(odd.root, 'ho me\n$(touch pwned)');
      plant(work, { '.git/config': '[core]\n', '.git/hooks/': '', 'a b/\n.txt': 'x\n' });
      plant(home, { '.ssh/id_ed25519': `${odd.marker}\n`, '.netrc': `${odd.marker}\n`, '.bashrc': '#\n' });
      giveToNobody(odd.root);
      const ops: Op[] = [
        { op: 'read', path: join(home, '.ssh/id_ed25519') },
        { op: 'read', path: join(home, '.netrc') },
        { op: 'append', path: join(home, '.bashrc') },
        { op: 'append', path: join(work, '.git/config') },
        { op: 'write', path: join(work, 'a b/\nnew.txt') },
      ];
      const c = parseProbe(await control(v, ops, { cwd: work, env: envWith({ HOME: home }) }));
      allOk(c);
      rmSync(join(work, 'a b/\nnew.txt'));
      const r = await wormAs(v, [], probeCommand(v, ops), { cwd: work, env: envWith({ HOME: home }) });
      expectResults(ops, parseProbe(r), [hidden, 'EACCES', 'EACCES', ro, true]);
      expect(existsSync(join(odd.root, 'pwned'))).toBe(false);
    } finally {
      odd.cleanup();
    }
  });

  itWith(v.needs, 'a home directory reached through a symlink ($HOME is a link) keeps its credentials hidden', async () => {
    const ops = (w: World): Op[] => [
      { op: 'read', path: join(w.root, 'homelink/.ssh/id_ed25519') },
      { op: 'read', path: join(w.home, '.ssh/id_ed25519') },
      { op: 'read', path: join(w.root, 'homelink/.netrc') },
    ];
    const setup = (w: World) => symlinkSync(w.home, join(w.root, 'homelink'));
    const { got, ctl, a, cleanup } = await attack(v, setup, ops, { env: (w) => ({ HOME: join(w.root, 'homelink') }) });
    try {
      allOk(ctl);
      expectResults(ops(a), got, [hidden, hidden, 'EACCES']);
    } finally {
      cleanup();
    }
  });

  itWith(v.needs, 'a credential that is a symlink to elsewhere is hidden where it points (was: readable through the link and at its target)', async () => {
    const setup = (w: World) => {
      plant(w.outside, { 'vault/aws-creds': `${w.marker} aws\n`, 'vault/keys/id_rsa': `${w.marker} rsa\n`, 'vault/netrc': `${w.marker} netrc\n` });
      rmSync(join(w.home, '.aws/credentials'));
      symlinkSync(join(w.outside, 'vault/aws-creds'), join(w.home, '.aws/credentials'));
      symlinkSync(join(w.outside, 'vault/keys/id_rsa'), join(w.home, '.ssh/id_rsa'));
      rmSync(join(w.home, '.netrc'));
      symlinkSync(join(w.outside, 'vault/netrc'), join(w.home, '.netrc'));
    };
    const ops = (w: World): Op[] => [
      { op: 'read', path: join(w.home, '.aws/credentials') },
      { op: 'read', path: join(w.outside, 'vault/aws-creds') },
      { op: 'read', path: join(w.outside, 'vault/keys/id_rsa') },
      { op: 'read', path: join(w.outside, 'vault/netrc') },
      { op: 'read', path: join(w.outside, 'notes.txt') },
    ];
    const { got, ctl, a, r, cleanup } = await attack(v, setup, ops);
    try {
      allOk(ctl);
      expectResults(ops(a), got, [hidden, 'EACCES', 'EACCES', 'EACCES', true]);
      expect(r.stdout).not.toContain(a.marker);
    } finally {
      cleanup();
    }
  });

  itWith(v.needs, 'a credential link that leads nowhere (a store on a volume not mounted now) does not stop the run or its namespaces; the stores that exist stay hidden', async () => {
    const setup = (w: World) => {
      rmSync(join(w.home, '.netrc'));
      symlinkSync(join(w.outside, 'unmounted/netrc'), join(w.home, '.netrc'));
    };
    const ops = (w: World): Op[] => [
      { op: 'read', path: join(w.home, '.aws/credentials') },
      { op: 'read', path: join(w.outside, 'notes.txt') },
    ];
    const { got, ctl, a, r, cleanup } = await attack(v, setup, ops);
    try {
      allOk(ctl);
      expect(r.code, r.stderr).toBe(0);
      expectResults(ops(a), got, [hidden, true]);
      const start = auditLines(readFileSync(join(a.outside, 'trail.jsonl'), 'utf8')).find((l) => l.event === 'start') as { notes?: string[] } | undefined;
      expect(JSON.stringify(start?.notes ?? [])).not.toMatch(/no namespaces on this machine/);
    } finally {
      cleanup();
    }
  });

  itWith(v.needs, 'a home as the working directory: credential stores and start-up files that do not exist cannot be made', async () => {
    const setup = (w: World) => {
      rmSync(join(w.home, '.ssh'), { recursive: true });
      rmSync(join(w.home, '.bashrc'));
    };
    const ops = (w: World): Op[] => [
      { op: 'mkdir', path: join(w.home, '.ssh') },
      { op: 'create', path: join(w.home, '.bashrc') },
      { op: 'mkdir', path: join(w.home, '.config/autostart') },
      { op: 'write', path: join(w.home, 'proj/ok.txt') },
    ];
    const { got, ctl, a, cleanup } = await attack(v, setup, ops, { cwd: (w) => w.home });
    try {
      allOk(ctl);
      expectResults(ops(a), got, ['EACCES', 'EACCES', 'EACCES', true]);
    } finally {
      cleanup();
    }
  });

  itWith(v.needs, 'a home as the working directory: code that runs later stays read-only, also through a dotfile symlink (was: writable)', async () => {
    const setup = (w: World) => {
      plant(w.home, {
        'dotfiles/bashrc': '# real bashrc\n', '.gitconfig': '[user]\n', '.local/lib/python3.11/site-packages/': '', '.toolbin/tool': '#!/bin/sh\n',
        '.pyenv/shims/python3': '#!/bin/sh\n', '.npm/_cacache/': '', '.config/git/config': '[user]\n', '.config/git/credentials': `${w.marker} git\n`,
      });
      rmSync(join(w.home, '.bashrc'));
      symlinkSync('dotfiles/bashrc', join(w.home, '.bashrc'));
      symlinkSync('dotfiles/zshrc', join(w.home, '.zshrc')); // dangling: its target must not be made either
    };
    const ops = (w: World): Op[] => [
      { op: 'append', path: join(w.home, '.bashrc') },
      { op: 'append', path: join(w.home, 'dotfiles/bashrc') },
      { op: 'create', path: join(w.home, 'dotfiles/zshrc') },
      { op: 'append', path: join(w.home, '.gitconfig'), data: '[core]\n\tfsmonitor = /tmp/x\n' },
      { op: 'create', path: join(w.home, '.local/lib/python3.11/site-packages/evil.pth') },
      { op: 'create', path: join(w.home, '.toolbin/python3') },
      { op: 'append', path: join(w.home, '.pyenv/shims/python3') },
      { op: 'mkdir', path: join(w.home, '.npm/_cacache/index-v5') },
      { op: 'write', path: join(w.home, 'proj/ok.txt') },
      { op: 'write', path: join(w.home, 'dotfiles/notes.txt') },
      // A credential store inside a directory kept read-only (.config/git holds git's config
      // and its credential file): read-only must not mean readable there.
      { op: 'append', path: join(w.home, '.config/git/config') },
      { op: 'read', path: join(w.home, '.config/git/credentials') },
      { op: 'read', path: join(w.home, '.config/git/config') },
    ];
    const { got, ctl, a, cleanup } = await attack(v, setup, ops, {
      cwd: (w) => w.home, env: (w) => ({ PATH: `${join(w.home, '.toolbin')}:${process.env.PATH}` }),
    });
    try {
      allOk(ctl);
      // dotfiles/ itself holds an exception, so it is split: its new entries cannot be made.
      expectResults(ops(a), got, ['EACCES', 'EACCES', 'EACCES', 'EACCES', 'EACCES', 'EACCES', 'EACCES', 'EACCES', true, 'EACCES', 'EACCES', 'EACCES', true]);
    } finally {
      cleanup();
    }
  });

  itWith(v.needs, 'a home inside the working directory, and --write of a home, get the home treatment (was: start-up files writable, credentials un-hidden)', async () => {
    const ops = (w: World): Op[] => [
      { op: 'append', path: join(w.home, '.bashrc') },
      { op: 'create', path: join(w.home, '.zshrc') },
      { op: 'read', path: join(w.home, '.ssh/id_ed25519') },
      { op: 'mkdir', path: join(w.home, '.docker') },
      { op: 'write', path: join(w.home, 'proj/ok.txt') },
      { op: 'write', path: join(w.work, 'a/ok.txt') },
    ];
    const inside = await attack(v, nothing, ops, { cwd: (w) => w.root });
    try {
      allOk(inside.ctl);
      expectResults(ops(inside.a), inside.got, ['EACCES', 'EACCES', hidden, 'EACCES', true, true]);
    } finally {
      inside.cleanup();
    }
    const written = await attack(v, nothing, ops, { args: (w) => ['--write', w.home] });
    try {
      allOk(written.ctl);
      expectResults(ops(written.a), written.got, ['EACCES', 'EACCES', hidden, 'EACCES', true, true]);
      expect(written.r.stdout).not.toContain(written.a.marker);
    } finally {
      written.cleanup();
    }
  });

  itWith(v.needs, '--write or --read of a directory that holds a credential store does not un-hide it; naming the store does (was: un-hidden)', async () => {
    const ops = (w: World): Op[] => [
      { op: 'read', path: join(w.home, '.config/gh/hosts.yml') },
      { op: 'write', path: join(w.home, '.config/app/new.txt') },
      { op: 'read', path: join(w.home, '.ssh/id_ed25519') },
    ];
    const app = (w: World) => plant(w.home, { '.config/app/': '' });
    const r1 = await attack(v, app, ops, { args: (w) => ['--write', join(w.home, '.config')] });
    try {
      allOk(r1.ctl);
      expectResults(ops(r1.a), r1.got, [hidden, true, hidden]);
    } finally {
      r1.cleanup();
    }
    const r2 = await attack(v, app, ops, { args: (w) => ['--fs', 'strict', '--read', w.home, '--read', join(w.home, '.ssh')], noControl: true });
    try {
      // In strict mode, reading the home does not un-hide .config/gh; naming .ssh does.
      expectResults(ops(r2.a), r2.got, [hidden, 'EACCES', true]);
    } finally {
      r2.cleanup();
    }
  });

  itWith(v.needs, '.git that is a symlink, and .git of a repository one level down, stay read-only (was: writable)', async () => {
    const setup = (w: World) => {
      rmSync(join(w.work, '.git'), { recursive: true });
      plant(w.work, { 'gitdir/config': '[core]\n', 'gitdir/hooks/': '', 'sub/.git/config': '[core]\n', 'sub/.git/hooks/': '', 'sub/src.txt': 'x\n' });
      symlinkSync('gitdir', join(w.work, '.git'));
    };
    const ops = (w: World): Op[] => [
      { op: 'create', path: join(w.work, '.git/hooks/pre-commit') },
      { op: 'create', path: join(w.work, 'gitdir/hooks/pre-push') },
      { op: 'create', path: join(w.work, 'sub/.git/hooks/post-checkout') },
      { op: 'append', path: join(w.work, 'sub/.git/config') },
      { op: 'write', path: join(w.work, 'sub/src.txt') },
    ];
    const { got, ctl, a, cleanup } = await attack(v, setup, ops);
    try {
      allOk(ctl);
      expectResults(ops(a), got, [ro, ro, ro, ro, true]);
    } finally {
      cleanup();
    }
  });

  itWith([...v.needs, ...(isRoot && v.launcher === 'root' ? [] : [{ ok: false, reason: 'needs root to make a bind mount for the test' }])],
    'a second mount of a home (a bind mount elsewhere) does not lead around the hiding (was: readable through it)', async () => {
      const w = makeWorld('alias');
      try {
        mkdirSync(join(w.root, 'alias'));
        const ops: Op[] = [
          { op: 'read', path: join(w.root, 'alias/.ssh/id_ed25519') },
          { op: 'read', path: join(w.root, 'alias/.netrc') },
          { op: 'read', path: join(w.home, '.ssh/id_ed25519') },
          { op: 'read', path: join(w.root, 'alias/.profile') },
        ];
        // The bind exists only in a private mount namespace made for the test, and ends with it.
        const inNs = (cmd: string[]) => runProgram('unshare', ['--mount', '--propagation', 'private', 'sh', '-c',
          'mount --bind "$1" "$2" && shift 2 && exec "$@"', 'sh', w.home, join(w.root, 'alias'), ...cmd], { cwd: w.work, env: envWith({ HOME: w.home }) });
        const c = parseProbe(await inNs([process.execPath, PROBE, JSON.stringify(ops)]));
        expect(c.map((x) => x.ok)).toEqual([true, true, true, true]);
        const r = await inNs([process.execPath, BIN, ...v.args, ...probeCommand(v, ops)]);
        expectResults(ops, parseProbe(r), [hidden, 'EACCES', hidden, true]);
        expect(r.stdout).not.toContain(w.marker);
      } finally {
        w.cleanup();
      }
    });
});

describe.each(supervised.filter((v) => v.target === 'root' || v.launcher === 'nobody'))('attacks with system calls: $name', (v) => {
  const hidden = hiddenInDirError(v);

  itWith([...v.needs, ...(v.target === 'root' ? [] : [{ ok: false, reason: 'open_by_handle_at needs CAP_DAC_READ_SEARCH, which only a root target has' }])],
    'open_by_handle_at with a handle taken outside is refused by the filter', async () => {
      const w = makeWorld('handle');
      try {
        const bin = join(w.outside, 'fsattack');
        copyFileSync(buildC('fsattack'), bin);
        giveToNobody(w.outside);
        chmodSync(bin, 0o755);
        const h = spawnSync(bin, ['handle', join(w.home, '.ssh/id_ed25519')], { encoding: 'utf8' });
        const handle = /^HANDLE (\S+)$/m.exec(h.stdout)?.[1];
        expect(handle, h.stdout + h.stderr).toBeTruthy();
        const c = spawnSync(bin, ['open-handle', handle!, '/'], { encoding: 'utf8' });
        expect(c.stdout).toContain(`STEP open_by_handle_at ok ${w.marker}`);
        const r = await wormAs(v, [], ['--', bin, 'open-handle', handle!, '/'], { cwd: w.work, env: envWith({ HOME: w.home }) });
        expect(r.stdout).toMatch(/^STEP open_by_handle_at errno 1$/m);
        expect(r.stdout).not.toContain(w.marker);
      } finally {
        w.cleanup();
      }
    });

  itWith(v.needs, 'mount and umount are refused (also with capabilities in a user namespace): the hiding stays', async () => {
    const w = makeWorld('mount');
    try {
      const bin = join(w.outside, 'fsattack');
      copyFileSync(buildC('fsattack'), bin);
      giveToNobody(w.outside);
      chmodSync(bin, 0o755);
      const env = envWith({ HOME: w.home });
      const um = await wormAs(v, [], ['--', 'sh', '-c', `"$0" umount "$1"; "$0" bind "$1" "$2"; cat "$1/id_ed25519"; true`, bin, join(w.home, '.ssh'), join(w.work, 'b')], { cwd: w.work, env });
      expect(um.stdout).toMatch(/^STEP umount2 errno 1$/m);
      expect(um.stdout).toMatch(/^STEP mount errno 1$/m);
      expect(um.stdout + um.stderr).not.toContain(w.marker);
      expect(um.stderr).toContain(hidden === 'ENOENT' ? 'No such file or directory' : 'Permission denied');
    } finally {
      w.cleanup();
    }
  });
});

describe('the library API', () => {
  // run({ cwd }) takes the working directory as given: one named through a link to a home
  // directory once skipped the home treatment (new top-level files, writable .profile).
  it.concurrent('a working directory named through a link to a home directory gets the home treatment (was: not)', async () => {
    const w = makeWorld('apicwd');
    try {
      symlinkSync(w.home, join(w.root, 'homelink'));
      const script = join(w.outside, 'api.mjs');
      writeFileSync(script, `import { run } from ${JSON.stringify(join(BIN, '../../dist/index.js'))};
const ops = ${JSON.stringify([{ op: 'create', path: 'newtop' }, { op: 'append', path: '.profile' }, { op: 'write', path: 'proj/ok.txt' }])};
const r = await run([process.execPath, ${JSON.stringify(PROBE)}, JSON.stringify(ops)], { cwd: process.argv[2] });
process.stdout.write(r.stdout);`);
      const r = await runProgram(process.execPath, [script, join(w.root, 'homelink')], { env: envWith({ HOME: w.home }) });
      expect(parseProbe(r).map((x) => x.ok || x.code)).toEqual(['EACCES', 'EACCES', true]);
    } finally {
      w.cleanup();
    }
  });
});

describe('attacks: known ways through, not fixed here (see the report)', () => {
  const v = all.find((x) => x.name.includes('own namespaces')) ?? all[0]!;

  // A .git made by the target where none was: git run later in that directory (by the
  // harness, outside the sandbox) takes its hooks and config (core.fsmonitor runs a command).
  // Landlock cannot refuse one name in a directory it grants whole; a bind needs the path to
  // exist. Fixing it costs every run without a .git the right to make anything at the top of
  // its working directory (without a mount namespace), or a mount point left in the user's
  // directory. The supervisor could instead report a .git that appeared.
  it.fails('a .git that did not exist can be made by the target', async () => {
    const w = makeWorld('newgit');
    try {
      rmSync(join(w.work, '.git'), { recursive: true });
      const ops: Op[] = [{ op: 'mkdir', path: join(w.work, '.git/hooks'), recursive: true }, { op: 'write', path: join(w.work, '.git/hooks/pre-commit') }];
      const r = await wormAs(v, [], probeCommand(v, ops), { cwd: w.work, env: envWith({ HOME: w.home }) });
      expect(parseProbe(r).map((x) => x.ok)).toEqual([false, false]);
    } finally {
      w.cleanup();
    }
  });

  // What the supervisor does about it: it looks again after the run and says so, in the trail
  // and (without one) on stderr, so the harness can check before it runs git there.
  it('a .git the target made is reported after the run (trail and stderr)', async () => {
    const w = makeWorld('newgit-report');
    try {
      rmSync(join(w.work, '.git'), { recursive: true });
      const trail = join(w.outside, 'git-trail.jsonl');
      const script = `mkdir -p .git/hooks && printf '#!/bin/sh\\n' > .git/hooks/pre-commit`;
      const r = await runProgram(process.execPath, [BIN, '--audit-log', trail, '--', 'sh', '-c', script], { cwd: w.work });
      expect(r.code, r.stderr).toBe(0);
      const warning = auditLines(readFileSync(trail, 'utf8')).find((l) => l.event === 'warning');
      expect(warning).toMatchObject({ source: 'supervisor', layer: 'filesystem', created: join(w.work, '.git') });
      expect(auditLines(readFileSync(trail, 'utf8')).at(-1)).toMatchObject({ event: 'exit', warnings: 1 });
      rmSync(join(w.work, '.git'), { recursive: true });
      const plain = await runProgram(process.execPath, [BIN, '--', 'sh', '-c', script], { cwd: w.work });
      expect(plain.stderr).toBe(`worm-run: warning: the target made ${join(w.work, '.git')}: a git command run there later would run its hooks and config (core.fsmonitor, hooks/*); inspect or remove it first\n`);
      // A .git that was there before is the user's own, kept read-only: nothing to report.
      const again = await runProgram(process.execPath, [BIN, '--', 'sh', '-c', 'true'], { cwd: w.work });
      expect(again.stderr).toBe('');
    } finally {
      w.cleanup();
    }
  });

  // With a mount namespace a credential store is hidden by a mount over it, made at start: one
  // that appears during the run (`aws configure` in another terminal) is not covered. Without
  // one the home is split and a new entry gets no rule, so it is refused.
  it.fails('a credential store created during the run is readable (with a mount namespace)', async () => {
    const w = makeWorld('latesecret');
    try {
      rmSync(join(w.home, '.aws'), { recursive: true });
      const ops: Op[] = [{ op: 'mark', path: '', name: 'ready' }, { op: 'wait', path: join(w.work, 'go') }, { op: 'read', path: join(w.home, '.aws/credentials') }];
      const p = startProgram(process.execPath, [BIN, ...v.args, ...probeCommand(v, ops)], { cwd: w.work, env: envWith({ HOME: w.home }) });
      await p.waitFor(/^MARK ready$/m, { timeoutMs: 20_000 });
      plant(w.home, { '.aws/credentials': `${w.marker}\n` });
      writeFileSync(join(w.work, 'go'), '');
      const got = parseProbe(await p.done);
      expect(got[2]!.ok).toBe(false);
    } finally {
      w.cleanup();
    }
  });
});

// Case-insensitive directories (ext4/tmpfs casefold) would let ~/.SSH be what ssh opens as
// ~/.ssh; worm-run matches the names without regard to case (test/fs-plan.test.ts checks the matching).
// This kernel has no casefold support, so no real process can show it here.
const casefold: Feature = existsSync('/sys/fs/unicode')
  ? { ok: false, reason: 'needs a casefold filesystem made for the test (not written yet)' }
  : { ok: false, reason: 'this kernel has no casefold support (no /sys/fs/unicode): a case-insensitive directory cannot be made here' };
itWith([casefold], 'a credential store named in another case on a case-insensitive directory is hidden', async () => {});

