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
import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync, realpathSync, statSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { WormError, usageError } from '../errors.js';
import { native } from '../native.js';
import { GUARD_PRELOAD } from '../paths.js';
import { HOME_SECRETS, LATER_CODE, STARTUP_FILES, SYSTEM_SECRETS } from './credentials.js';
import { DEVICE, FS, HANDLED, READ, WRITE } from './rights.js';

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

// Most paths asked about do not exist (credential stores a machine does not have): checked
// without an exception first, since a thrown error costs more than the look-up itself. The
// C library's realpath, not Node's JavaScript one (an lstat per component from JavaScript,
// three times slower): a split directory such as /etc asks this of every link in it.
function real(p: string): string | null {
  if (!existsSync(p)) return null;
  try {
    return realpathSync.native(p);
  } catch {
    return null;
  }
}

function isDir(p: string): boolean {
  return statSync(p, { throwIfNoEntry: false })?.isDirectory() ?? false;
}

function under(p: string, root: string): boolean {
  return p === root || p.startsWith(root === '/' ? '/' : root + sep);
}

/**
 * Where a path leads: its real path, or for a dangling symbolic link the path its chain of links
 * ends at (a file the target could make, which then becomes what the link names).
 */
function leadsTo(p: string): string | null {
  const r = real(p);
  if (r) return r;
  let cur = p;
  for (let i = 0; i < 40; i++) {
    if (!lstatSync(cur, { throwIfNoEntry: false })?.isSymbolicLink()) {
      // Not a link (or not there): the nearest existing directory, resolved, and the rest.
      const dir = real(dirname(cur));
      return dir ? join(dir, relative(dirname(cur), cur)) : null;
    }
    const target = readlinkSync(cur);
    cur = isAbsolute(target) ? target : resolve(dirname(cur), target);
  }
  return null;
}

interface MountEntry {
  dev: string;
  root: string;
  point: string;
}

function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/** This process's mounts (/proc/self/mountinfo): device, root within the filesystem, mount point. */
function mountTable(): MountEntry[] {
  try {
    return readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter(Boolean).map((l) => {
      const f = l.split(' ');
      return { dev: f[2]!, root: unescapeMount(f[3]!), point: unescapeMount(f[4]!) };
    });
  } catch {
    return [];
  }
}

/**
 * The other paths of a file through other mounts of its filesystem (a bind mount of a home, or
 * of a directory above it). Landlock rules belong to inodes, and a mount over one path does not
 * cover another: each such path must be hidden too, or it leads around the hiding.
 */
export function mountAliases(p: string, table: MountEntry[] = mountTable()): string[] {
  let best: MountEntry | null = null;
  for (const m of table) if (under(p, m.point) && (!best || m.point.length >= best.point.length)) best = m;
  if (!best) return [];
  let st;
  try {
    st = statSync(p);
  } catch {
    return [];
  }
  const rel = relative(best.point, p);
  const inFs = rel ? join(best.root, rel) : best.root;
  const out: string[] = [];
  for (const m of table) {
    if (m === best || m.dev !== best.dev || !under(inFs, m.root)) continue;
    const r2 = relative(m.root, inFs);
    const a = r2 ? join(m.point, r2) : m.point;
    if (a === p) continue;
    try {
      const s2 = statSync(a);
      if (s2.ino === st.ino && s2.dev === st.dev) out.push(a);
    } catch {
      // covered by another mount, or gone
    }
  }
  return out;
}

/** Where a credential's own symbolic links may lead without being hidden there: the system's code. */
const NOT_HIDDEN_THROUGH_LINKS = ['/usr', '/lib', '/lib32', '/lib64', '/libx32', '/bin', '/sbin', '/proc', '/sys', '/dev', '/nix/store', '/snap'];

/**
 * Symbolic links inside a credential store that lead out of it (~/.ssh/id_rsa -> /vault/key):
 * hiding the store hides the link, not the file it names.
 */
function linksOut(store: string, add: (p: string) => void): void {
  let budget = 256;
  const walk = (dir: string, depth: number) => {
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      if (--budget < 0) return;
      const p = join(dir, e.name);
      if (e.isSymbolicLink()) {
        const t = real(p);
        if (t && !under(t, store) && !TOO_WIDE.has(t) && !NOT_HIDDEN_THROUGH_LINKS.some((d) => under(t, d))) add(t);
      } else if (e.isDirectory() && depth > 0) {
        walk(p, depth - 1);
      }
    }
  };
  walk(store, 3);
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
    // Matched without regard to case: on a case-insensitive directory ~/.SSH is what ssh opens
    // as ~/.ssh (elsewhere hiding it as well costs nothing).
    const names = new Map<string, string[]>();
    try {
      for (const n of readdirSync(home)) {
        const k = n.toLowerCase();
        names.set(k, [...(names.get(k) ?? []), n]);
      }
    } catch {
      continue;
    }
    for (const s of HOME_SECRETS) {
      const [first, ...rest] = s.split('/');
      for (const name of names.get(first!.toLowerCase()) ?? []) {
        const p = join(home, name, ...rest);
        if (rest.length === 0 || existsSync(p)) add(p);
      }
    }
  }
  for (const s of SYSTEM_SECRETS) for (const p of expand(s)) add(p);
  for (const h of extra) {
    const p = resolve(h);
    if (existsSync(p)) add(p);
  }
  for (const p of [...out]) {
    try {
      if (lstatSync(p).isDirectory()) linksOut(p, add);
    } catch {
      // gone
    }
  }
  const table = mountTable();
  for (const p of [...out]) for (const a of mountAliases(p, table)) out.add(a);
  return [...out];
}

/**
 * Rules granting `access` on everything below root except the paths in `except` (which get the
 * access mapped there instead, or nothing). Directories on the way to an exception are split
 * into one rule per entry; everything else is one rule.
 */
/** What a rule on a file can grant (Landlock refuses directory rights there). */
const FILE_RIGHTS = FS.EXECUTE | FS.WRITE_FILE | FS.READ_FILE | FS.TRUNCATE | FS.IOCTL_DEV;

function grant(root: string, access: number, except: Map<string, number>, out: LandlockRule[]): void {
  // Every directory above an exception: those are split; everything else gets one rule.
  const above = new Set<string>();
  for (const e of except.keys()) {
    for (let d = dirname(e); !above.has(d); d = dirname(d)) {
      above.add(d);
      if (d === '/') break;
    }
  }
  // A path is an exception, or lies below one.
  const excepted = (t: string) => {
    for (let d = t; ; d = dirname(d)) {
      if (except.has(d)) return true;
      if (d === '/') return false;
    }
  };
  const walk = (dir: string, a: number) => {
    if (except.has(dir)) a = except.get(dir)!;
    if (!above.has(dir)) {
      if (a) out.push({ path: dir, access: a });
      return;
    }
    // A split directory: a rule on it would hold for everything below it, the exceptions too.
    // It gets only the right to list it (so `ls /`, `ls ~` work), which also lists the
    // directories below it, hidden ones included: their names show, never their contents.
    // Its entries get the access it would have had, each its own rule.
    if (a & FS.READ_DIR) out.push({ path: dir, access: FS.READ_DIR });
    let entries;
    try {
      // The types come with the names (d_type): no lstat per entry, which is most of the cost
      // of a split directory such as /etc.
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return; // unreadable for worm-run: no rule, so nothing there for the target either
    }
    for (const e of entries) {
      const p = join(dir, e.name);
      let link = e.isSymbolicLink();
      let isDirectory = e.isDirectory();
      if (!link && !isDirectory && !e.isFile() && !e.isCharacterDevice() && !e.isBlockDevice() && !e.isFIFO() && !e.isSocket()) {
        // DT_UNKNOWN (some filesystems): ask.
        const st = lstatSync(p, { throwIfNoEntry: false });
        if (!st) continue;
        link = st.isSymbolicLink();
        isDirectory = st.isDirectory();
      }
      if (link) {
        // A rule on a link is a rule on what it points to: the exception's own for a link that
        // is one, none for a link into an exception or above one.
        if (except.has(p)) {
          const x = except.get(p)!;
          if (x) out.push({ path: p, access: x });
          continue;
        }
        const t = real(p);
        if (t === null || excepted(t) || above.has(t)) continue;
        if (a) out.push({ path: p, access: a });
      } else if (isDirectory && (above.has(p) || except.has(p))) {
        walk(p, a);
      } else {
        const x = (except.has(p) ? except.get(p)! : a) & (isDirectory ? ~0 : FILE_RIGHTS);
        if (x) out.push({ path: p, access: x });
      }
    }
  };
  walk(root, access);
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
    // A file that is not there yet is named through its directory's real path: a link on the
    // way (one the target could replace) must not make a path outside look kept inside.
    const r = real(p) ?? join(real(dirname(resolve(p))) ?? dirname(resolve(p)), basename(p));
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
export function confinement(policy: FsPolicy, cwd: string, tmp: string | null, protect: string[], hidden: string[],
  homes = homeDirectories()): { writable(path: string): boolean; readable(path: string): boolean } | null {
  if (policy.mode === 'off') return null;
  cwd = real(cwd) ?? cwd;
  const roots = writableRoots(policy, cwd, tmp);
  const kept = protectedPaths(protect, roots);
  const splitHomes = homes.filter((h) => roots.some((w) => under(h, w)));
  return {
    writable(path: string): boolean {
      const p = real(path) ?? resolve(path);
      if (kept.some((k) => under(p, k))) return false;
      // A directory that holds a kept entry: that entry cannot be replaced in it.
      if (kept.some((k) => dirname(k) === p)) return false;
      if (splitHomes.includes(p)) return false; // split: no rule on a writable home directory itself
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
  // The working directory as the kernel sees it (a library caller may name it through a link).
  const cwd = real(ctx.cwd) ?? ctx.cwd;
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
  // What the user names explicitly is theirs to give: a credential store named by --write or
  // --read (or one of its directories), or the working directory itself being in one, is not
  // hidden. A directory that merely holds one (--write ~/.config, --read ~) un-hides nothing.
  const hidden = (ctx.hidden ?? secretsPresent(policy.hide, homes))
    .filter((h) => ![cwd, ...extraWrite, ...extraRead].some((x) => under(x, h)));
  const notes: string[] = [];

  // Read-only inside writable directories: .git (hooks and config run later, outside) at the
  // top of a writable directory and one level down (a job directory holding a checkout), and
  // worm-run's own files. A .git that is a link is kept read-only where it leads.
  const readOnly = new Set<string>();
  for (const w of writable) {
    for (const g of gitDirectories(w)) readOnly.add(g);
  }
  for (const p of protectedPaths(ctx.protect, writable)) readOnly.add(p);

  // A home directory that the target may write (the working directory, --write, or below
  // one): its start-up files and the code it runs later must stay as they are, and one that
  // does not exist yet must not be made. That needs rules per entry whatever the machine
  // offers: a bind cannot cover a path that does not exist.
  const homesIn = (w: string) => homes.filter((h) => under(h, w));
  const pathDirs = (process.env.PATH ?? '').split(':').filter((d) => isAbsolute(d)).map((d) => resolve(d));

  const rules: LandlockRule[] = [];
  const mounts: MountRule[] = [];
  const except = new Map<string, number>();
  const hideWith = (p: string) => {
    if (ctx.mountNamespace) {
      // A link that leads nowhere (a store on a volume not mounted now) hides nothing and cannot
      // be bound over: the bind follows it and would fail the run.
      if (!existsSync(p)) return;
      mounts.push({ kind: isDir(p) ? 'hideDir' : 'hideFile', target: p });
    } else {
      except.set(p, 0);
    }
  };
  // A path below a hidden directory is hidden with it: its own bind would find the directory's
  // empty tmpfs in its way and fail, and the run with it (`--hide DIR` with the signing key in DIR).
  const hiddenDirs = ctx.mountNamespace ? hidden.filter((h) => isDir(h)) : [];
  const inHiddenDir = (p: string) => hiddenDirs.some((d) => d !== p && under(p, d));
  for (const h of hidden) if (!inHiddenDir(h)) hideWith(h);

  // Reading.
  if (policy.mode === 'default') {
    grant('/', READ, except, rules);
  } else {
    // Strict: the system, the target and its interpreter, --read, and worm-run's guard (which
    // every Node process of the run loads).
    const reads = [...SYSTEM_READ, ...ctx.needed, ...extraRead, dirname(GUARD_PRELOAD)].map((p) => real(p)).filter((p): p is string => p !== null);
    for (const r of new Set(reads)) grant(r, READ, except, rules);
  }

  // Writing.
  const homeReadOnly: string[] = [];
  const mounted = new Set<string>();
  for (const w of writable) {
    const wExcept = new Map(except);
    const keepAs = (p: string, access: number) => {
      // The path itself, and where it leads when that is elsewhere in this writable directory.
      wExcept.set(p, access);
      const t = leadsTo(p);
      if (t && t !== p && under(t, w)) wExcept.set(t, access);
    };
    const homesHere = homesIn(w);
    for (const r of readOnly) {
      if (!under(r, w)) continue;
      if (ctx.mountNamespace && homesHere.length === 0) {
        if (inHiddenDir(r)) continue; // hidden whole already
        // The bind follows links: it covers what the path leads to.
        const t = real(r);
        if (t && !mounted.has(t)) {
          mounted.add(t);
          mounts.push({ kind: 'ro', target: r });
        }
      } else {
        keepAs(r, READ);
      }
    }
    for (const h of homesHere) {
      const later = [...STARTUP_FILES, ...LATER_CODE].map((f) => join(h, f));
      for (const d of pathDirs) if (under(d, h) && d !== h) later.push(d);
      for (const p of later) {
        const there = existsSync(p);
        keepAs(p, there ? READ : 0);
        if (there) homeReadOnly.push(p);
      }
      // The exceptions split the home directory: its entries get rules, the directory itself
      // only the right to list it (see grant).
      notes.push(`${h} is a home directory the target may write: new files can be made in its subdirectories, not at its top; its start-up files and the code it runs later are read-only`);
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
      readOnly: [...readOnly, ...homeReadOnly],
      hidden,
      tmp: ctx.tmp,
      notes,
    },
  };
}

/**
 * The writable directories (not the private TMPDIR) without a .git: one the target makes there
 * is code a later git command runs (hooks, core.fsmonitor). Landlock cannot refuse one name in a
 * directory it grants whole, so the supervisor looks again after the run and says so
 * (newGitDirectories).
 */
export function withoutGit(policy: FsPolicy, cwd: string): string[] {
  if (policy.mode === 'off') return [];
  return writableRoots(policy, cwd, null).filter((w) => !lstatSync(join(w, '.git'), { throwIfNoEntry: false }));
}

/** Of those, the ones that have a .git now. */
export function newGitDirectories(roots: string[]): string[] {
  return roots.map((w) => join(w, '.git')).filter((g) => lstatSync(g, { throwIfNoEntry: false }));
}

/** The .git of a writable directory and of its subdirectories (one level down, a bounded look). */
function gitDirectories(w: string): string[] {
  const out: string[] = [];
  if (existsSync(join(w, '.git'))) out.push(join(w, '.git'));
  let entries;
  try {
    entries = readdirSync(w, { withFileTypes: true });
  } catch {
    return out;
  }
  if (entries.length > 4096) return out;
  for (const e of entries) {
    if (!e.isDirectory() || e.name === '.git' || e.name === 'node_modules') continue;
    const g = join(w, e.name, '.git');
    if (lstatSync(g, { throwIfNoEntry: false })) out.push(g);
  }
  return out;
}
