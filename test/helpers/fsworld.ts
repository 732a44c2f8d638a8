/**
 * Worlds for the filesystem tests: a fake home with credential files and shell start-up files,
 * a working directory with a .git, and places outside both; the probe that tries operations in
 * them (test/fixtures/fsprobe.cjs); and the ways worm-run is run (namespaces or not, root or
 * nobody, supervised or in-process).
 *
 * Every world is owned by nobody with modes 755/644, secrets included, so that the controls
 * (the same probe without worm-run, as the same user) can do everything the sandboxed run is
 * expected not to: a refusal then comes from worm-run, not from file permissions.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { expect } from 'vitest';
import { nobodyCanRunWormRun, pidNamespaces, type Feature } from './kernel.js';
import { BIN, FIXTURES, runProgram, testEnv, type Outcome, type RunOpts } from './run.js';

export const PROBE = `${FIXTURES}/fsprobe.cjs`;
export const NOBODY = 65534;
const isRoot = process.getuid?.() === 0;

/** The credential files the tests plant, relative to a home, with their fake contents. */
export const SECRET_FILES = ['.ssh/id_ed25519', '.aws/credentials', '.netrc', '.npmrc', '.config/gh/hosts.yml'];

export interface World {
  root: string;
  home: string;
  work: string;
  /** A directory outside the home and the working directory. */
  outside: string;
  /** The marker each secret file holds (never to be seen in a sandboxed run's output). */
  marker: string;
  cleanup(): void;
}

/** Makes the tree `files` (relative path -> contents; a trailing / makes a directory) under dir. */
export function plant(dir: string, files: Record<string, string>): void {
  for (const [rel, content] of Object.entries(files)) {
    const p = join(dir, rel);
    if (rel.endsWith('/')) {
      mkdirSync(p, { recursive: true });
    } else {
      mkdirSync(dirname(p), { recursive: true });
      writeFileSync(p, content);
    }
  }
}

/** Every file 644, every directory 755, all owned by nobody (when root). */
export function giveToNobody(dir: string): void {
  const walk = (p: string) => {
    const st = lstatSync(p);
    if (st.isSymbolicLink()) {
      if (isRoot) spawnSync('chown', ['-h', `${NOBODY}:${NOBODY}`, p]);
      return;
    }
    chmodSync(p, st.isDirectory() ? 0o755 : 0o644);
    if (isRoot) chownSync(p, NOBODY, NOBODY);
    if (st.isDirectory()) for (const e of readdirSync(p)) walk(join(p, e));
  };
  walk(dir);
}

export function homeFiles(marker: string): Record<string, string> {
  const out: Record<string, string> = {
    '.bashrc': '# bashrc\n', '.profile': '# profile\n', 'proj/readme.txt': 'a project\n',
  };
  for (const s of SECRET_FILES) out[s] = `${marker} ${s}\n`;
  return out;
}

export function makeWorld(label = 'w'): World {
  const root = mkdtempSync(join(tmpdir(), `wr-fs-${label}-`));
  const marker = `SECRET-${Math.random().toString(36).slice(2)}`;
  const home = join(root, 'home');
  const work = join(root, 'work');
  const outside = join(root, 'outside');
  plant(home, homeFiles(marker));
  plant(work, {
    '.git/config': '[core]\n\tbare = false\n', '.git/hooks/': '', '.git/HEAD': 'ref: refs/heads/main\n',
    'data.txt': 'data\n', 'a/f.txt': 'moved\n', 'b/': '',
  });
  plant(outside, { 'notes.txt': 'outside\n' });
  giveToNobody(root);
  return { root, home, work, outside, marker, cleanup: () => rmSync(root, { recursive: true, force: true }) };
}

export interface Result {
  ok: boolean;
  code?: string;
  value?: string | null;
}

export interface Op {
  op: string;
  path: string;
  to?: string;
  target?: string;
  data?: string;
  recursive?: boolean;
  name?: string;
  mode?: number;
}

export function parseProbe(r: Outcome): Result[] {
  const line = r.stdout.split('\n').find((l) => l.startsWith('FSPROBE '));
  if (!line) throw new Error(`the probe printed no result (exit ${r.code}); stdout: ${r.stdout} stderr: ${r.stderr}`);
  return JSON.parse(line.slice('FSPROBE '.length)) as Result[];
}

/** How worm-run is started for a test. */
export interface Variant {
  name: string;
  /** worm-run's own options for this variant. */
  args: string[];
  /** Who starts worm-run. */
  launcher: 'root' | 'nobody';
  /** Who the target runs as. */
  target: 'root' | 'nobody';
  inProcess: boolean;
  /** The run has its own mount namespace (read-only binds and hiding mounts). */
  mountNamespace: boolean;
  /** What the variant needs from this machine. */
  needs: Feature[];
}

const nsFeature = (): Feature => pidNamespaces();

/** The variants: both namespace modes, root and nobody, supervised and in-process. */
export function variants(): Variant[] {
  const out: Variant[] = [];
  if (isRoot) {
    out.push({ name: 'root, own namespaces (default)', args: [], launcher: 'root', target: 'root', inProcess: false, mountNamespace: true, needs: [nsFeature()] });
    out.push({ name: 'root, --namespaces off', args: ['--namespaces', 'off'], launcher: 'root', target: 'root', inProcess: false, mountNamespace: false, needs: [] });
    out.push({ name: '--user nobody, own namespaces', args: ['--user', 'nobody'], launcher: 'root', target: 'nobody', inProcess: false, mountNamespace: true, needs: [nsFeature()] });
    out.push({ name: '--user nobody, --namespaces off', args: ['--user', 'nobody', '--namespaces', 'off'], launcher: 'root', target: 'nobody', inProcess: false, mountNamespace: false, needs: [] });
    out.push({ name: 'root, --in-process', args: ['--in-process'], launcher: 'root', target: 'root', inProcess: true, mountNamespace: false, needs: [] });
    out.push({ name: 'started by nobody, user namespace', args: [], launcher: 'nobody', target: 'nobody', inProcess: false, mountNamespace: true, needs: [nobodyCanRunWormRun(), userNamespaceForNobody()] });
    out.push({ name: 'started by nobody, --in-process', args: ['--in-process'], launcher: 'nobody', target: 'nobody', inProcess: true, mountNamespace: false, needs: [nobodyCanRunWormRun()] });
  } else {
    out.push({ name: 'own namespaces (default)', args: [], launcher: 'root', target: 'root', inProcess: false, mountNamespace: true, needs: [nsFeature()] });
    out.push({ name: '--namespaces off', args: ['--namespaces', 'off'], launcher: 'root', target: 'root', inProcess: false, mountNamespace: false, needs: [] });
    out.push({ name: '--in-process', args: ['--in-process'], launcher: 'root', target: 'root', inProcess: true, mountNamespace: false, needs: [] });
  }
  return out;
}

let userNsNobody: Feature | null = null;
/** Whether nobody can make a user namespace here (what worm-run started by nobody needs for its own namespaces). */
export function userNamespaceForNobody(): Feature {
  if (!userNsNobody) {
    const r = spawnSync('unshare', ['--user', '--map-root-user', '--mount', '--pid', '--fork', 'true'], { uid: NOBODY, gid: NOBODY, encoding: 'utf8', timeout: 10_000 });
    userNsNobody = { ok: r.status === 0, reason: r.status === 0 ? '' : `nobody cannot make a user namespace here (${(r.stderr ?? '').trim().split('\n')[0] || `exit ${r.status}`})` };
  }
  return userNsNobody;
}

export interface WormRun extends RunOpts {
  env?: NodeJS.ProcessEnv;
}

/** worm-run [variant args] [args] -- node PROBE ops, as the variant's launcher. */
export function wormAs(v: Variant, args: string[], command: string[], opts: WormRun = {}): Promise<Outcome> {
  const id = v.launcher === 'nobody' ? { uid: NOBODY, gid: NOBODY } : {};
  return runProgram(process.execPath, [BIN, ...v.args, ...args, ...command], { timeoutMs: 90_000, ...id, ...opts });
}

export function probeCommand(v: Variant, ops: Op[]): string[] {
  // A Node script as the target, as users run one (supervised or in-process by the variant's flags).
  void v;
  return [PROBE, JSON.stringify(ops)];
}

/** The same probe without worm-run, as the variant's target user: the control. */
export function control(v: Variant, ops: Op[], opts: WormRun = {}): Promise<Outcome> {
  const id = v.target === 'nobody' ? { uid: NOBODY, gid: NOBODY } : {};
  return runProgram(process.execPath, [PROBE, JSON.stringify(ops)], { timeoutMs: 90_000, ...id, ...opts });
}

export function envWith(extra: Record<string, string>): NodeJS.ProcessEnv {
  return testEnv(extra);
}

/** The errno a target gets for a file inside a hidden directory. */
export function hiddenInDirError(v: Variant): string {
  // With a mount namespace a hidden directory is an empty read-only tmpfs of mode 000: root
  // (which passes permission checks) finds nothing there, anyone else is refused.
  return v.mountNamespace && v.target === 'root' ? 'ENOENT' : 'EACCES';
}

/** The errno for a write to a file kept read-only inside a writable directory. */
export function readOnlyError(v: Variant): string {
  return v.mountNamespace ? 'EROFS' : 'EACCES';
}

/** Asserts results one by one, naming the operation that differs. */
export function expectResults(ops: Op[], got: Result[], want: (string | true)[]): void {
  const seen = ops.map((o, i) => `${o.op} ${o.path}${o.to ? ` -> ${o.to}` : ''}: ${got[i]?.ok ? 'ok' : got[i]?.code}`);
  const expected = ops.map((o, i) => `${o.op} ${o.path}${o.to ? ` -> ${o.to}` : ''}: ${want[i] === true ? 'ok' : want[i]}`);
  expect(seen).toEqual(expected);
}

/** The start record of a trail. */
export function startRecord(trail: string): Record<string, any> {
  const lines = readFileSync(trail, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, any>);
  const s = lines.find((l) => l.event === 'start' || l.msg === 'start');
  if (!s) throw new Error(`no start record in ${trail}`);
  return s;
}

export { existsSync };
