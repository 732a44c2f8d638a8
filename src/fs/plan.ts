/**
 * The run's filesystem: what the target may read, write and execute, as Landlock rules and,
 * where the run has its own mount namespace, binds that hide credential stores and keep files
 * read-only inside directories the target may otherwise write.
 *
 * Landlock grants; it cannot deny below a grant. "Everything except X" is therefore made one
 * of two ways: with a mount namespace, X is covered (an empty read-only tmpfs, /dev/null, or a
 * read-only bind of itself) and the grant stays whole; without one, the grant is split into a
 * rule for every sibling along the path to X. A split grant has a cost: entries created later
 * directly in a split directory get no rule (a new file at the top of a home directory used as
 * the working directory cannot be made). The summary says which way each protection holds.
 */
import { existsSync, lstatSync, readdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { dirname, join, resolve, sep } from 'node:path';
import { WormError, usageError } from '../errors.js';
import { native } from '../native.js';
import { HOME_SECRETS, STARTUP_FILES, SYSTEM_SECRETS } from './credentials.js';
import { DEVICE, HANDLED, READ, WRITE } from './rights.js';

export type FsMode = 'default' | 'strict' | 'off';

export interface FsPolicy {
  mode: FsMode;
  /** More directories the target may write (--write). */
  write: string[];
  /** More directories the target may read in strict mode (--read). */
  read: string[];
  /** More paths hidden from the target (--hide). */
  hide: string[];
  /** Keep the private temporary directory after the run (--keep-tmp). */
  keepTmp: boolean;
}

export function defaultFsPolicy(): FsPolicy {
  return { mode: 'default', write: [], read: [], hide: [], keepTmp: false };
}

export interface FsContext {
  cwd: string;
  /** The run's private temporary directory (real path), writable. */
  tmp: string | null;
  /** The run has a private mount namespace, so binds are possible. */
  mountNamespace: boolean;
  /** Paths that must stay read-only even inside a writable directory (the trail, the policy, worm-run). */
  protect: string[];
  /** Strict mode: what the target needs to run (its file, its interpreter). */
  needed: string[];
  /** The credential stores, when already looked up (secretsPresent). */
  hidden?: string[];
}

export interface MountRule {
  kind: 'ro' | 'hideDir' | 'hideFile' | 'bind';
  target: string;
  source?: string;
}

export interface LandlockRule {
  path: string;
  access: number;
}

export interface FsSummary {
  mode: FsMode;
  /** How the exceptions hold: binds in the run's mount namespace, or split Landlock rules. */
  via: 'landlock and mount namespace' | 'landlock' | 'off';
  read: string[];
  write: string[];
  readOnly: string[];
  hidden: string[];
  tmp: string | null;
  notes: string[];
}

export interface FsPlan {
  landlock: { fs: number; rules: LandlockRule[] };
  mounts: MountRule[];
  summary: FsSummary;
}

/** The nodes of /dev programs need, and GPUs (ML jobs). Never the ones through which the kernel connects (nvme-fabrics, rdma_cm). */
const DEVICES = ['/dev/null', '/dev/zero', '/dev/full', '/dev/random', '/dev/urandom', '/dev/tty', '/dev/ptmx', '/dev/pts',
  '/dev/shm', '/dev/dri', '/dev/kfd', '/dev/nvidiactl', '/dev/nvidia-uvm', '/dev/nvidia-uvm-tools', '/dev/nvidia-modeset'];

/**
 * Device nodes through which the kernel itself opens connections, or that carry packets: never
 * writable, even with --fs off (as root, writing /dev/nvme-fabrics connects to an NVMe-over-TCP
 * target, rdma_cm makes RDMA connections, tun/tap and vhost devices put packets on the host's
 * network).
 */
const NETWORK_DEVICES = ['/dev/nvme-fabrics', '/dev/infiniband', '/dev/net', '/dev/vhost-net', '/dev/vhost-vsock', '/dev/vsock', '/dev/ppp'];

/** Strict mode's system: where programs and their libraries live. */
const SYSTEM_READ = ['/usr', '/lib', '/lib32', '/lib64', '/libx32', '/bin', '/sbin', '/etc', '/proc', '/sys', '/opt'];

/** A working directory (or --write) that would open the machine to the target. */
const TOO_WIDE = new Set(['/', '/tmp', '/var/tmp', '/etc', '/usr', '/bin', '/sbin', '/lib', '/lib64', '/boot', '/dev', '/proc', '/sys', '/var', '/home', '/root']);

function real(p: string): string | null {
  try {
    return realpathSync(p);
  } catch {
    return null;
  }
}

function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

function under(p: string, root: string): boolean {
  return p === root || p.startsWith(root === '/' ? '/' : root + sep);
}

/** Home directories worth checking: root's, /home/*, $HOME, and every account's with a uid of 1000 or more. */
export function homeDirectories(): string[] {
  const out = new Set<string>(['/root']);
  try {
    for (const e of readdirSync('/home', { withFileTypes: true })) if (e.isDirectory()) out.add(join('/home', e.name));
  } catch {
    // no /home
  }
  if (process.env.HOME) out.add(process.env.HOME);
  try {
    for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
      const f = line.split(':');
      if (f.length >= 6 && Number(f[2]) >= 1000 && f[5]) out.add(f[5]);
    }
  } catch {
    // no passwd
  }
  return [...out].map(real).filter((p): p is string => p !== null && p !== '/' && isDir(p));
}

function expand(pattern: string): string[] {
  if (!pattern.includes('*')) return existsSync(pattern) ? [pattern] : [];
  const dir = dirname(pattern);
  const re = new RegExp(`^${pattern.slice(dir.length + 1).split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('[^/]*')}$`);
  try {
    return readdirSync(dir).filter((n) => re.test(n)).map((n) => join(dir, n));
  } catch {
    return [];
  }
}

/** The credential stores present on this machine, plus --hide, as real paths. */
export function secretsPresent(extra: string[], homes = homeDirectories()): string[] {
  const out = new Set<string>();
  const add = (p: string) => {
    out.add(p);
    const r = real(p);
    if (r) out.add(r);
  };
  for (const home of homes) {
    let names: Set<string>;
    try {
      names = new Set(readdirSync(home));
    } catch {
      continue;
    }
    for (const s of HOME_SECRETS) {
      const first = s.split('/')[0]!;
      if (!names.has(first)) continue;
      const p = join(home, s);
      if (s === first || existsSync(p)) add(p);
    }
  }
  for (const s of SYSTEM_SECRETS) for (const p of expand(s)) add(p);
  for (const h of extra) {
    const p = resolve(h);
    if (existsSync(p)) add(p);
  }
  return [...out];
}

/**
 * Rules granting `access` on everything below root except the paths in `except` (which get the
 * access mapped there instead, or nothing). Directories on the way to an exception are split
 * into one rule per entry; everything else is one rule.
 */
function grant(root: string, access: number, except: Map<string, number>, out: LandlockRule[]): void {
  const inside = [...except.keys()].filter((e) => e !== root && under(e, root));
  if (except.has(root)) {
    const a = except.get(root)!;
    if (a) out.push({ path: root, access: a });
    if (inside.length === 0) return;
  }
  if (inside.length === 0) {
    out.push({ path: root, access });
    return;
  }
  let entries: string[];
  try {
    entries = readdirSync(root);
  } catch {
    return; // unreadable for worm-run: no rule, so nothing there for the target either
  }
  for (const name of entries) {
    const p = join(root, name);
    if (except.has(p)) {
      const a = except.get(p)!;
      if (a) out.push({ path: p, access: a });
      if (!inside.some((e) => e !== p && under(e, p))) continue;
    }
    let st;
    try {
      st = lstatSync(p);
    } catch {
      continue;
    }
    if (st.isSymbolicLink()) {
      // A rule on a link is a rule on what it points to: none for links into an exception.
      const t = real(p);
      if (t === null || [...except.keys()].some((e) => under(t, e) || under(e, t))) continue;
      out.push({ path: p, access });
    } else if (st.isDirectory() && inside.some((e) => under(e, p))) {
      grant(p, access, except, out);
    } else if (!except.has(p)) {
      out.push({ path: p, access });
    }
  }
}

function checkWide(what: string, p: string): void {
  if (TOO_WIDE.has(p)) {
    throw usageError(`${what} ${p} would let the target write all of it; run worm-run from the job's own directory` +
      (what === 'the working directory' ? ', or use --fs off' : ''));
  }
}

/**
 * What must stay out of the target's hands inside the directories it may write: a file of
 * worm-run's (the trail) directly in a writable directory is kept read-only itself (a read-only
 * bind is a mount point, which cannot be renamed over or removed); one deeper down is kept
 * read-only with the whole directory below the writable one that holds it, since a directory on
 * the way could otherwise be renamed away and replaced.
 */
export function protectedPaths(paths: string[], writable: string[]): string[] {
  const out: string[] = [];
  for (const p of paths) {
    const r = real(p) ?? resolve(p);
    const root = writable.find((w) => r !== w && under(r, w));
    if (!root) continue;
    const rel = r.slice(root.length + (root === '/' ? 0 : 1)).split(sep);
    out.push(rel.length === 1 ? r : join(root, rel[0]!));
  }
  return out;
}

/** The writable directories of a policy, as real paths (throws for a --write that does not exist). */
export function writableRoots(policy: FsPolicy, cwd: string, tmp: string | null): string[] {
  return [cwd, ...(tmp ? [tmp] : []), ...policy.write.map((d) => real(resolve(cwd, d)) ?? resolve(cwd, d))];
}

/**
 * What the target may touch, as answers for the trail's and the key's safety checks
 * (src/audit/safety.ts): `writable(p)`: may it write the file p, or create, rename or remove
 * entries in the directory p; `readable(p)`: may it read p. Null with --fs off: nothing is
 * known beyond ownership and mode.
 */
export function confinement(policy: FsPolicy, cwd: string, tmp: string | null, protect: string[], hidden: string[]):
  { writable(path: string): boolean; readable(path: string): boolean } | null {
  if (policy.mode === 'off') return null;
  const roots = writableRoots(policy, cwd, tmp);
  const kept = protectedPaths(protect, roots);
  const homeCwd = homeDirectories().includes(cwd);
  return {
    writable(path: string): boolean {
      const p = real(path) ?? resolve(path);
      if (kept.some((k) => under(p, k))) return false;
      // A directory that holds a kept entry: that entry cannot be replaced in it.
      if (kept.some((k) => dirname(k) === p)) return false;
      if (homeCwd && p === cwd) return false; // split: no rule on the home directory itself
      return roots.some((w) => under(p, w));
    },
    readable(path: string): boolean {
      const p = real(path) ?? resolve(path);
      return !hidden.some((h) => under(p, h));
    },
  };
}

/**
 * The filesystem rules need Landlock (ABI 2 or later: rename across directories). A kernel
 * without it cannot keep them, and worm-run never pretends: 125 unless --fs off.
 */
export function checkLandlock(mode: FsMode): void {
  if (mode === 'off') return;
  const abi = native.landlockInfo().abi;
  if (abi < 2) {
    throw new WormError('ERR_WORM_PLATFORM', `this kernel has no usable Landlock (${abi ? `ABI ${abi}` : 'none'}; ABI 2 or later is needed), so worm-run cannot keep the target's files confined; run with --fs off to go without filesystem rules (the target can then write wherever its user can)`);
  }
}

export function planFilesystem(policy: FsPolicy, ctx: FsContext, homes = homeDirectories()): FsPlan {
  if (policy.mode === 'off') {
    // No filesystem rules: Landlock only refuses writes under /proc and /sys (kernel knobs a
    // root target could use to act outside the sandbox) and scopes processes.
    const rules: LandlockRule[] = [];
    const none = new Map([['/proc', 0], ['/sys', 0], ...NETWORK_DEVICES.filter((d) => existsSync(d)).map((d): [string, number] => [d, 0])]);
    grant('/', WRITE | READ, none, rules);
    return {
      landlock: { fs: WRITE, rules },
      mounts: [],
      summary: {
        mode: 'off', via: 'off', read: ['/'], write: [`/ (but /proc, /sys and ${NETWORK_DEVICES.join(', ')})`],
        readOnly: [], hidden: [], tmp: ctx.tmp, notes: [],
      },
    };
  }
  const cwd = ctx.cwd;
  checkWide('the working directory', cwd);
  const explicit = (list: string[], flag: string) => list.map((d) => {
    const r = real(resolve(cwd, d));
    if (r === null || !isDir(r)) throw usageError(`${flag} ${d}: not an existing directory`);
    checkWide(flag, r);
    return r;
  });
  const extraWrite = explicit(policy.write, '--write');
  const extraRead = explicit(policy.read, '--read');
  const writable = [cwd, ...(ctx.tmp ? [ctx.tmp] : []), ...extraWrite];
  // What the user names explicitly is theirs to give: it is not hidden.
  const hidden = (ctx.hidden ?? secretsPresent(policy.hide, homes))
    .filter((h) => ![...extraWrite, ...extraRead].some((x) => under(x, h) || under(h, x)));
  const notes: string[] = [];

  // Read-only inside writable directories: .git (hooks and config run later, outside),
  // shell start-up files when working in a home directory, and worm-run's own files.
  const readOnly = new Set<string>();
  for (const w of writable) {
    if (existsSync(join(w, '.git'))) readOnly.add(join(w, '.git'));
  }
  const homeCwd = homes.includes(cwd);
  for (const p of protectedPaths(ctx.protect, writable)) readOnly.add(p);

  const rules: LandlockRule[] = [];
  const mounts: MountRule[] = [];
  const except = new Map<string, number>();
  const hideWith = (p: string) => {
    if (ctx.mountNamespace) {
      mounts.push({ kind: isDir(p) ? 'hideDir' : 'hideFile', target: p });
    } else {
      except.set(p, 0);
    }
  };
  for (const h of hidden) hideWith(h);

  // Reading.
  if (policy.mode === 'default') {
    grant('/', READ, except, rules);
  } else {
    const reads = [...SYSTEM_READ, ...ctx.needed, ...extraRead].map((p) => real(p)).filter((p): p is string => p !== null);
    for (const r of new Set(reads)) grant(r, READ, except, rules);
  }

  // Writing. A home directory as the working directory is split whatever the machine offers:
  // its start-up files must stay read-only, and one that does not exist yet must not be made.
  for (const w of writable) {
    const wExcept = new Map(except);
    for (const r of readOnly) {
      if (!under(r, w)) continue;
      if (ctx.mountNamespace && !(homeCwd && w === cwd)) mounts.push({ kind: 'ro', target: r });
      else wExcept.set(r, READ);
    }
    if (homeCwd && w === cwd) {
      for (const f of STARTUP_FILES) wExcept.set(join(w, f), existsSync(join(w, f)) ? READ : 0);
      // Entries of the working directory itself get rules; the directory does not.
      wExcept.set(w, READ);
      notes.push(`the working directory ${w} is a home directory: new files can be made in its subdirectories, not at its top`);
    }
    grant(w, READ | WRITE, wExcept, rules);
  }
  for (const d of DEVICES) {
    if (existsSync(d)) rules.push({ path: d, access: d === '/dev/shm' ? READ | WRITE : DEVICE });
  }
  for (const d of expand('/dev/nvidia*')) if (!rules.some((r) => r.path === d)) rules.push({ path: d, access: DEVICE });

  if (!ctx.mountNamespace && (hidden.some((h) => writable.some((w) => under(h, w))) || [...readOnly].length > 0)) {
    notes.push('no private mount namespace: read-only and hidden paths inside writable directories are kept by split Landlock rules (new entries at those levels cannot be made)');
  }
  return {
    landlock: { fs: HANDLED, rules },
    mounts,
    summary: {
      mode: policy.mode,
      via: ctx.mountNamespace ? 'landlock and mount namespace' : 'landlock',
      read: policy.mode === 'default' ? ['/'] : [...new Set([...SYSTEM_READ, ...ctx.needed, ...extraRead])],
      write: writable,
      readOnly: [...readOnly, ...(homeCwd ? STARTUP_FILES.map((f) => join(cwd, f)).filter((p) => existsSync(p)) : [])],
      hidden,
      tmp: ctx.tmp,
      notes,
    },
  };
}
