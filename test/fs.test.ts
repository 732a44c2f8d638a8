/**
 * Issue 12: the filesystem confinement, with real processes. Every case runs in each way worm-run
 * can start a target (its own namespaces or --namespaces off; root or --user nobody; worm-run
 * started by nobody, which makes an unprivileged user namespace; supervised or --in-process),
 * against a fresh world: a fake home (HOME points at it) holding credential files and shell
 * start-up files, a working directory with a .git, a directory outside both, and a second fake
 * home under /home that worm-run finds by scanning. Each case has a control: the same probe
 * without worm-run, as the same user, in an identical world, does everything the sandboxed run
 * must not; so a refusal is worm-run's, not the file permissions'.
 *
 * Errors are exact: EACCES where Landlock refuses; EROFS where a read-only bind holds (runs with
 * their own mount namespace); ENOENT for a file in a hidden directory when root looks into the
 * empty tmpfs that covers it.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync, accessSync, constants, readdirSync, chownSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { itWith } from './helpers/kernel.js';
import { ROOT, eventually } from './helpers/run.js';
import {
  control, envWith, expectResults, giveToNobody, hiddenInDirError, homeFiles, makeWorld, NOBODY, parseProbe, plant, probeCommand,
  readOnlyError, SECRET_FILES, startRecord, variants, wormAs, type Op, type Variant,
} from './helpers/fsworld.js';

const isRoot = process.getuid?.() === 0;

/**
 * A second home under /home, which worm-run scans (every /home/* is a home). Made only as root,
 * with a name of this process, and removed after the file (also stale ones of dead test runs).
 */
const OTHER = `/home/wr-fstest-${process.pid}`;
let otherMarker = '';
let otherMade = false;

beforeAll(() => {
  if (!isRoot) return;
  try {
    for (const e of readdirSync('/home')) {
      const m = /^wr-fstest-(\d+)$/.exec(e);
      if (!m) continue;
      let alive = true;
      try {
        process.kill(Number(m[1]), 0);
      } catch {
        alive = false;
      }
      if (!alive) rmSync(join('/home', e), { recursive: true, force: true });
    }
  } catch {
    // no /home
  }
  otherMarker = `OTHER-${Math.random().toString(36).slice(2)}`;
  mkdirSync('/home', { recursive: true });
  plant(OTHER, homeFiles(otherMarker));
  giveToNobody(OTHER);
  otherMade = true;
});

afterAll(() => {
  if (otherMade) rmSync(OTHER, { recursive: true, force: true });
});

/**
 * A container secret (Docker's and Compose's /run/secrets), planted as root when the machine has
 * none: /run/secrets is then made for this file, holding only a marker named after this process,
 * and removed after it (stale markers of dead test runs too). A machine with real secrets there
 * is left alone.
 */
const RUN_SECRETS = '/run/secrets';
const RUN_SECRET = join(RUN_SECRETS, `wr-fstest-${process.pid}`);
const staleOnly = () => readdirSync(RUN_SECRETS).every((e) => /^wr-fstest-\d+$/.test(e));
const runSecrets = {
  ok: isRoot && (!existsSync(RUN_SECRETS) || staleOnly()),
  reason: isRoot ? `${RUN_SECRETS} holds this machine's own secrets: nothing is planted there` : 'only root can plant a file in /run/secrets',
};
let runSecretMarker = '';

beforeAll(() => {
  if (!runSecrets.ok) return;
  mkdirSync(RUN_SECRETS, { recursive: true, mode: 0o700 });
  for (const e of readdirSync(RUN_SECRETS)) {
    try {
      process.kill(Number(e.slice('wr-fstest-'.length)), 0);
    } catch {
      rmSync(join(RUN_SECRETS, e), { force: true });
    }
  }
  runSecretMarker = `RUNSECRET-${Math.random().toString(36).slice(2)}`;
  writeFileSync(RUN_SECRET, `${runSecretMarker}\n`, { mode: 0o600 });
});

afterAll(() => {
  if (!runSecretMarker) return;
  rmSync(RUN_SECRET, { force: true });
  try {
    if (readdirSync(RUN_SECRETS).length === 0) rmSync(RUN_SECRETS, { recursive: true, force: true });
  } catch {
    // gone already
  }
});

const secretsIn = (home: string): Op[] => SECRET_FILES.map((s) => ({ op: 'read', path: join(home, s) }));

/** Runs the same ops sandboxed (in world a) and as the control (in world b); returns both results. */
async function sandboxedAndControl(v: Variant, ops: (w: ReturnType<typeof makeWorld>) => Op[], opts: {
  args?: string[]; cwd?: (w: ReturnType<typeof makeWorld>) => string; env?: (w: ReturnType<typeof makeWorld>) => Record<string, string>;
} = {}) {
  const a = makeWorld('sb');
  const b = makeWorld('ctl');
  try {
    const trail = join(a.root, 'trail.jsonl');
    writeFileSync(trail, '');
    if (isRoot && v.launcher === 'nobody') chownSync(trail, NOBODY, NOBODY);
    const env = (w: typeof a) => envWith({ HOME: w.home, ...(opts.env?.(w) ?? {}) });
    const r = await wormAs(v, ['--audit-log', trail, ...(opts.args ?? [])], probeCommand(v, ops(a)), { cwd: opts.cwd?.(a) ?? a.work, env: env(a) });
    const c = await control(v, ops(b), { cwd: opts.cwd?.(b) ?? b.work, env: env(b) });
    return { a, b, r, got: parseProbe(r), ctl: parseProbe(c), start: startRecord(trail) };
  } catch (e) {
    a.cleanup();
    b.cleanup();
    throw e;
  }
}

describe.each(variants())('filesystem confinement: $name', (v) => {
  const hidden = hiddenInDirError(v);
  const ro = readOnlyError(v);

  itWith(v.needs, 'writes outside the allowed places fail; reads of credentials fail; the run says how it holds', async () => {
    const tag = `wr-fstest-${process.pid}-${Math.random().toString(36).slice(2)}`;
    const etc = `/etc/${tag}`;
    const ops = (w: ReturnType<typeof makeWorld>): Op[] => [
      { op: 'append', path: join(w.home, '.bashrc') },
      { op: 'create', path: join(w.home, '.zshrc') },
      { op: 'create', path: join(w.work, '.git/hooks/pre-commit') },
      { op: 'append', path: join(w.work, '.git/config') },
      { op: 'create', path: join(w.outside, 'planted') },
      ...(isRoot ? [{ op: 'append', path: join(OTHER, 'proj/readme.txt') }, { op: 'create', path: join(OTHER, `planted-${tag}-${w.root.slice(-6)}`) }] : []),
      ...secretsIn(w.home),
      ...(isRoot ? secretsIn(OTHER) : []),
    ];
    const { a, b, got, ctl, start, r } = await sandboxedAndControl(v, ops);
    try {
      // The control: every operation works without worm-run, as the same user.
      expect(ctl.filter((x) => !x.ok)).toEqual([]);
      const want: (string | true)[] = [
        'EACCES', 'EACCES', ro, ro, 'EACCES',
        ...(isRoot ? ['EACCES', 'EACCES'] : []),
        // Hidden: directories (.ssh, .aws, .config/gh) and files (.netrc, .npmrc; a /dev/null
        // on a nodev mount, or no rule).
        hidden, hidden, 'EACCES', 'EACCES', hidden,
        ...(isRoot ? [hidden, hidden, 'EACCES', 'EACCES', hidden] : []),
      ];
      expectResults(ops(a), got, want);
      expect(r.stdout + r.stderr).not.toContain(a.marker);
      if (isRoot) expect(r.stdout + r.stderr).not.toContain(otherMarker);
      expect(readFileSync(join(a.home, '.bashrc'), 'utf8')).toBe('# bashrc\n');
      expect(existsSync(join(a.work, '.git/hooks/pre-commit'))).toBe(false);
      const fsum = start.filesystem;
      expect(fsum.via).toBe(v.mountNamespace ? 'landlock and mount namespace' : 'landlock');
      expect(fsum.hidden).toEqual(expect.arrayContaining([join(a.home, '.ssh'), join(a.home, '.netrc')]));
      expect(fsum.readOnly).toContain(join(a.work, '.git'));
      // /etc: refused for every target (nobody could not anyway; root could without worm-run).
      const e = await wormAs(v, [], probeCommand(v, [{ op: 'create', path: etc }]), { cwd: a.work, env: envWith({ HOME: a.home }) });
      expect(parseProbe(e)[0]).toEqual({ ok: false, code: 'EACCES' });
      expect(existsSync(etc)).toBe(false);
    } finally {
      rmSync(etc, { force: true });
      a.cleanup();
      b.cleanup();
    }
  });

  itWith([...v.needs, ...(v.target === 'root' ? [] : [{ ok: false, reason: 'nobody cannot read /etc/shadow without worm-run either' }])],
    'a root target cannot read /etc/shadow', async () => {
      const ops = (): Op[] => [{ op: 'read', path: '/etc/shadow' }, { op: 'read', path: '/etc/passwd' }];
      const { a, b, got, ctl } = await sandboxedAndControl(v, ops);
      try {
        expect(ctl.map((x) => x.ok)).toEqual([true, true]);
        expectResults(ops(), got, ['EACCES', true]);
      } finally {
        a.cleanup();
        b.cleanup();
      }
    });

  itWith([...v.needs, runSecrets, ...(v.target === 'root' ? [] : [{ ok: false, reason: 'only root reads the planted secret without worm-run' }])],
    'a root target cannot read a container secret (/run/secrets, also as /var/run/secrets)', async () => {
      const ops = (): Op[] => [{ op: 'read', path: RUN_SECRET }, { op: 'read', path: join('/var/run/secrets', `wr-fstest-${process.pid}`) }];
      const { a, b, r, got, ctl } = await sandboxedAndControl(v, ops);
      try {
        expect(ctl.map((x) => x.ok)).toEqual([true, true]);
        expect(got.map((x) => x.ok)).toEqual([false, false]);
        expect(r.stdout + r.stderr).not.toContain(runSecretMarker);
      } finally {
        a.cleanup();
        b.cleanup();
      }
    });

  itWith(v.needs, 'writes to the working directory and $TMPDIR work, and a cross-directory rename; the temp directory is gone after the run', async () => {
    const ops = (w: ReturnType<typeof makeWorld>): Op[] => [
      { op: 'write', path: join(w.work, 'a/out.txt') },
      { op: 'rename', path: join(w.work, 'a/f.txt'), to: join(w.work, 'b/f.txt') },
      { op: 'mkdir', path: join(w.work, 'a/deep/er'), recursive: true },
      { op: 'rename', path: join(w.work, 'a/deep'), to: join(w.work, 'b/deep') },
      { op: 'env', path: '', name: 'TMPDIR' },
      { op: 'write', path: join(w.work, 'data.txt'), data: 'changed\n' },
      { op: 'unlink', path: join(w.work, 'data.txt') },
      // New at the top of a working directory that holds a .git: with a mount namespace the
      // .git is a read-only bind and the directory stays whole; without one the directory is
      // split into a rule per entry, so nothing new can be made at its top (the cost).
      { op: 'create', path: join(w.work, 'top.txt') },
    ];
    const { a, b, got, ctl } = await sandboxedAndControl(v, ops);
    try {
      expect(ctl.filter((x) => !x.ok)).toEqual([]);
      const split = v.mountNamespace ? true : 'EACCES';
      expectResults(ops(a), got, [true, true, true, true, true, true, split, split]);
      const tmp = got[4]!.value!;
      expect(tmp).toMatch(/worm-run-tmp-/);
      // In-process, a helper started before the sandbox removes it once the process is gone,
      // a moment after worm-run's own exit.
      if (v.inProcess) expect(await eventually(() => !existsSync(tmp), 5000)).toBe(true);
      else expect(existsSync(tmp)).toBe(false);
      expect(readFileSync(join(a.work, 'b/f.txt'), 'utf8')).toBe('moved\n');
    } finally {
      a.cleanup();
      b.cleanup();
    }
  });

  if (v.inProcess) {
    it('in-process, the private temporary directory itself is removed too, once the process is gone', async () => {
      const w = makeWorld('tmpgone');
      try {
        const r = await wormAs(v, [], probeCommand(v, [{ op: 'env', path: '', name: 'TMPDIR' }]), { cwd: w.work, env: envWith({ HOME: w.home }) });
        const tmp = parseProbe(r)[0]!.value!;
        expect(tmp).toMatch(/worm-run-tmp-/);
        const gone = await eventually(() => !existsSync(tmp), 5000);
        rmSync(tmp, { recursive: true, force: true });
        expect(gone).toBe(true);
      } finally {
        w.cleanup();
      }
    });
  }

  itWith(v.needs, 'the private $TMPDIR is kept with --keep-tmp, and another run cannot write it', async () => {
    const w = makeWorld('tmp');
    let tmp = '';
    try {
      const env = envWith({ HOME: w.home });
      const r = await wormAs(v, ['--keep-tmp'], probeCommand(v, [
        { op: 'env', path: '', name: 'TMPDIR' },
        { op: 'write', path: '$TMPDIR/kept.txt' },
      ]), { cwd: w.work, env });
      const got = parseProbe(r);
      tmp = got[0]!.value!;
      expect(got[1]).toEqual({ ok: true, value: null });
      expect(readFileSync(join(tmp, 'kept.txt'), 'utf8')).toBe('worm-run probe\n');
      const r2 = await wormAs(v, [], probeCommand(v, [{ op: 'write', path: join(tmp, 'x') }, { op: 'read', path: join(tmp, 'kept.txt') }]), { cwd: w.work, env });
      // Another run may read it (reads are open by default) but not write it.
      expect(parseProbe(r2).map((x) => x.ok || x.code)).toEqual(['EACCES', true]);
    } finally {
      if (tmp) rmSync(tmp, { recursive: true, force: true });
      w.cleanup();
    }
  });

  itWith(v.needs, 'a home directory as the working directory: start-up files read-only, new top-level files refused, subdirectories writable', async () => {
    const ops = (w: ReturnType<typeof makeWorld>): Op[] => [
      { op: 'append', path: join(w.home, '.bashrc') },
      { op: 'append', path: join(w.home, '.profile') },
      { op: 'create', path: join(w.home, '.zshrc') },
      { op: 'create', path: join(w.home, 'newfile') },
      { op: 'mkdir', path: join(w.home, '.ssh2') },
      { op: 'write', path: join(w.home, 'proj/new.txt') },
      { op: 'mkdir', path: join(w.home, 'proj/sub') },
      { op: 'rename', path: join(w.home, 'proj/readme.txt'), to: join(w.home, 'proj/sub/readme.txt') },
      { op: 'read', path: join(w.home, '.bashrc') },
      { op: 'readdir', path: w.home },
      ...secretsIn(w.home),
    ];
    const { a, b, got, ctl } = await sandboxedAndControl(v, ops, { cwd: (w) => w.home });
    try {
      expect(ctl.filter((x) => !x.ok)).toEqual([]);
      // Split, whatever the machine offers: a start-up file that does not exist must not be made.
      expectResults(ops(a), got, ['EACCES', 'EACCES', 'EACCES', 'EACCES', 'EACCES', true, true, true, true, true,
        hidden, hidden, 'EACCES', 'EACCES', hidden]);
      expect(got.map((x) => x.value ?? '').join('')).not.toContain(a.marker);
    } finally {
      a.cleanup();
      b.cleanup();
    }
  });

  // worm-run refuses a trail that belongs to the target's user, and one of root's is closed to
  // nobody by its mode already: only a target of worm-run's own user shows the protection.
  itWith([...v.needs, ...(v.target === v.launcher ? [] : [{ ok: false, reason: "a trail of worm-run's user (root) is closed to a nobody target by its mode already" }])],
    'the trail is never writable, even in the working directory', async () => {
    const w = makeWorld('trail');
    try {
      const trail = join(w.work, 'trail.jsonl');
      writeFileSync(trail, '');
      if (isRoot && v.launcher === 'nobody') chownSync(trail, NOBODY, NOBODY);
      const ops: Op[] = [
        { op: 'append', path: trail, data: '{"forged":true}\n' },
        { op: 'truncate', path: trail },
        { op: 'unlink', path: trail },
        { op: 'rename', path: trail, to: join(w.work, 'moved.jsonl') },
        { op: 'write', path: join(w.work, 'a/ok.txt') },
      ];
      const r = await wormAs(v, ['--audit-log', trail], probeCommand(v, ops), { cwd: w.work, env: envWith({ HOME: w.home }) });
      // A read-only bind is a mount point: it cannot be removed or renamed (EBUSY).
      const gone = v.mountNamespace ? 'EBUSY' : 'EACCES';
      expectResults(ops, parseProbe(r), [ro, ro, gone, gone, true]);
      expect(readFileSync(trail, 'utf8').split('\n').filter(Boolean).map((l) => Object.keys(JSON.parse(l) as object))).not.toContainEqual(['forged']);
      expect(startRecord(trail).event).toBe('start');
    } finally {
      w.cleanup();
    }
  });

  itWith([...v.needs, ...(isRoot && v.target === 'root' ? [] : [{ ok: false, reason: 'only root can write the checkout without worm-run, so only a root target shows the protection' }])],
    "worm-run's installation is read-only when the working directory is the checkout", async () => {
      const tag = `wr-fstest-${process.pid}-${Math.random().toString(36).slice(2)}`;
      const ops: Op[] = [
        { op: 'create', path: join(ROOT, 'dist', tag) },
        { op: 'append', path: join(ROOT, 'package.json'), data: '' },
        { op: 'create', path: join(ROOT, 'node_modules', tag) },
        { op: 'create', path: join(ROOT, 'bin', tag) },
        { op: 'append', path: join(ROOT, 'dist/guard/preload.cjs'), data: '' },
      ];
      // The control, without writing: root may write every one of these places.
      for (const p of ['dist', 'package.json', 'node_modules', 'bin']) accessSync(join(ROOT, p), constants.W_OK);
      try {
        const r = await wormAs(v, [], probeCommand(v, ops), { cwd: ROOT });
        expectResults(ops, parseProbe(r), [ro, ro, ro, ro, ro]);
      } finally {
        for (const d of ['dist', 'node_modules', 'bin']) rmSync(join(ROOT, d, tag), { force: true });
      }
    });

  itWith(v.needs, '--write, --hide, --fs off', async () => {
    const w = makeWorld('flags');
    try {
      const env = envWith({ HOME: w.home });
      plant(w.outside, { 'sub/': '' });
      giveToNobody(w.outside);
      const wr = await wormAs(v, ['--write', w.outside, '--hide', join(w.work, 'data.txt'), '--hide', join(w.outside, 'notes.txt')], probeCommand(v, [
        { op: 'write', path: join(w.outside, 'sub/new.txt') },
        { op: 'read', path: join(w.work, 'data.txt') },
        { op: 'read', path: join(w.outside, 'notes.txt') },
        { op: 'read', path: join(w.home, '.ssh/id_ed25519') },
      ]), { cwd: w.work, env });
      expect(parseProbe(wr).map((x) => x.ok || x.code)).toEqual([true, 'EACCES', 'EACCES', hidden]);
      const off = await wormAs(v, ['--fs', 'off'], probeCommand(v, [
        { op: 'write', path: join(w.outside, 'off.txt') },
        { op: 'read', path: join(w.home, '.ssh/id_ed25519') },
        { op: 'append', path: join(w.work, '.git/config'), data: '' },
      ]), { cwd: w.work, env });
      expect(parseProbe(off).map((x) => x.ok || x.code)).toEqual([true, true, true]);
      // A --write that does not exist, or that would open the machine: one line, 125.
      const bad = await wormAs(v, ['--write', join(w.root, 'nope')], probeCommand(v, []), { cwd: w.work, env });
      expect(bad.code).toBe(125);
      expect(bad.stderr).toMatch(/^worm-run: --write .*nope: not an existing directory\n$/);
      const wide = await wormAs(v, ['--write', '/etc'], probeCommand(v, []), { cwd: w.work, env });
      expect(wide.code).toBe(125);
      expect(wide.stderr).toMatch(/^worm-run: --write \/etc would let the target write all of it/);
    } finally {
      w.cleanup();
    }
  });

  itWith(v.needs, '--fs strict: reads limited to the system, the target and the working directory (--read adds one); Node and Python targets run', async () => {
    const w = makeWorld('strict');
    try {
      const env = envWith({ HOME: w.home });
      const ops: Op[] = [
        { op: 'read', path: join(w.work, 'data.txt') },
        { op: 'read', path: '/etc/passwd' },
        { op: 'read', path: join(w.outside, 'notes.txt') },
        { op: 'read', path: join(w.home, '.profile') },
      ];
      const r = await wormAs(v, ['--fs', 'strict'], probeCommand(v, ops), { cwd: w.work, env });
      expectResults(ops, parseProbe(r), [true, true, 'EACCES', 'EACCES']);
      const r2 = await wormAs(v, ['--fs', 'strict', '--read', w.outside], probeCommand(v, ops), { cwd: w.work, env });
      expectResults(ops, parseProbe(r2), [true, true, true, 'EACCES']);
      if (!v.inProcess) {
        const py = await wormAs(v, ['--fs', 'strict'], ['--', '/usr/bin/python3', '-c', 'import json,os; print(json.dumps(sorted(os.listdir("."))))'], { cwd: w.work, env });
        expect(py.stderr).toBe('');
        expect(JSON.parse(py.stdout)).toContain('data.txt');
      }
    } finally {
      w.cleanup();
    }
  });
});
