/**
 * The subprocess filter's knowledge: which commands are network tools, how wrappers (env,
 * busybox, nohup, sudo, xargs, ...) and shells (`sh -c`, `bash -c`) hide the command they run,
 * and every command word of a shell string (`ls; curl x`, pipes, `&&`, `$(...)`, backticks,
 * subshells, `VAR=x cmd`).
 *
 * Pure functions apart from the default name resolver (PATH search and realpath), so the
 * analysis is unit-tested directly. Loaded on the first child_process call, not at start-up.
 */
import fs = require('node:fs');
import path = require('node:path');

/** The network tools: name -> what it is (the audit record's reason). One table. */
export const NETWORK_TOOLS: Readonly<Record<string, string>> = {
  curl: 'HTTP client', wget: 'HTTP client', wget2: 'HTTP client', aria2c: 'download client', axel: 'download client',
  http: 'HTTP client (HTTPie)', https: 'HTTP client (HTTPie)', httpie: 'HTTP client', xh: 'HTTP client', xhs: 'HTTP client',
  lynx: 'web browser', links: 'web browser', elinks: 'web browser', w3m: 'web browser',
  nc: 'raw TCP/UDP client', netcat: 'raw TCP/UDP client', ncat: 'raw TCP/UDP client',
  'nc.openbsd': 'raw TCP/UDP client', 'nc.traditional': 'raw TCP/UDP client', socat: 'raw socket relay',
  telnet: 'remote terminal', ssh: 'remote shell', scp: 'remote copy', sftp: 'remote file transfer',
  sshpass: 'remote shell', autossh: 'remote shell', mosh: 'remote shell', rsh: 'remote shell', rlogin: 'remote shell', rcp: 'remote copy',
  ftp: 'file transfer client', lftp: 'file transfer client', tftp: 'file transfer client', ncftp: 'file transfer client',
  rsync: 'remote sync (remote forms only)',
  ping: 'ICMP', ping4: 'ICMP', ping6: 'ICMP', arping: 'ARP', traceroute: 'route tracer', traceroute6: 'route tracer',
  tracepath: 'route tracer', mtr: 'route tracer', nmap: 'port scanner', masscan: 'port scanner', hping3: 'packet generator',
  nslookup: 'DNS client', dig: 'DNS client', host: 'DNS client', drill: 'DNS client', kdig: 'DNS client', whois: 'whois client',
  smbclient: 'SMB client', iperf: 'network benchmark', iperf3: 'network benchmark',
  proxychains: 'proxy wrapper', proxychains4: 'proxy wrapper', torsocks: 'proxy wrapper', tsocks: 'proxy wrapper',
};

/** Shells whose `-c STRING` is a script to analyse. */
const SHELLS = new Set(['sh', 'bash', 'dash', 'ash', 'zsh', 'ksh', 'mksh', 'pdksh', 'yash', 'posh', 'rbash', 'busybox-sh']);

interface WrapperSpec {
  /** Options that take the next word as their value (`-n 5`, `--user root`). */
  arg?: string[];
  /** Words before the command that are not options (timeout's DURATION, chroot's DIR). */
  positional?: number;
}

/** Programs that run the command given after their own options. */
const WRAPPERS: Readonly<Record<string, WrapperSpec>> = {
  nohup: {},
  setsid: {},
  exec: { arg: ['-a'] },
  nice: { arg: ['-n', '--adjustment'] },
  timeout: { arg: ['-s', '--signal', '-k', '--kill-after'], positional: 1 },
  stdbuf: { arg: ['-i', '-o', '-e', '--input', '--output', '--error'] },
  time: { arg: ['-f', '--format', '-o', '--output'] },
  xargs: { arg: ['-a', '--arg-file', '-d', '--delimiter', '-E', '-I', '-L', '-n', '--max-args', '-P', '--max-procs', '-s', '--max-chars', '--process-slot-var'] },
  sudo: { arg: ['-u', '--user', '-g', '--group', '-C', '--close-from', '-D', '--chdir', '-h', '--host', '-p', '--prompt', '-r', '--role', '-t', '--type', '-U', '--other-user', '-T', '--command-timeout', '-R', '--chroot'] },
  doas: { arg: ['-u', '-C'] },
  runuser: { arg: ['-u', '--user', '-g', '--group', '-G', '--supp-group'] },
  chroot: { arg: ['--userspec', '--groups'], positional: 1 },
  ionice: { arg: ['-c', '--class', '-n', '--classdata'] },
  taskset: { positional: 1 },
  chrt: { positional: 1 },
  flock: { arg: ['-w', '--timeout', '-E', '--conflict-exit-code'], positional: 1 },
  strace: { arg: ['-e', '-o', '-s', '-u', '-E', '-a', '-b', '-I', '-O', '-P', '-S', '-X'] },
  ltrace: { arg: ['-e', '-o', '-s', '-u', '-a', '-n'] },
  firejail: {},
  caffeinate: {},
  unbuffer: {},
  catchsegv: {},
  proxychains: { arg: ['-f'] },
  proxychains4: { arg: ['-f'] },
  torsocks: { arg: ['-u', '-p', '-a', '-P'] },
  tsocks: {},
};

export interface CommandPolicy {
  deny: ReadonlySet<string>;
  allow: ReadonlySet<string>;
}

export function makePolicy(denyCommands: readonly string[] = [], allowCommands: readonly string[] = []): CommandPolicy {
  return { deny: new Set([...Object.keys(NETWORK_TOOLS), ...denyCommands]), allow: new Set(allowCommands) };
}

/** The names a command word goes by: its basename, and the basename of what it really runs. */
export type NameResolver = (word: string) => string[];

export interface Finding {
  /** The refused name (`curl`), or the allowed command that got a URL. */
  command: string;
  /** The word as written (`/usr/bin/curl`, `mycurl`). */
  word: string;
  reason: string;
}

export interface Analysis {
  blocked: Finding | null;
  /** First allowed command given a URL argument, for the warning. */
  url: (Finding & { url: string }) | null;
}

const MAX_DEPTH = 12;
const URL_RE = /(?:^|[^A-Za-z0-9+.-])([A-Za-z][A-Za-z0-9+.-]*):\/\/[^\s'"]/g;

/** The first URL-looking argument (any scheme but file://), or null. */
export function findUrl(args: readonly string[]): string | null {
  for (const a of args) {
    URL_RE.lastIndex = 0;
    let m: RegExpExecArray | null;
    while ((m = URL_RE.exec(a)) !== null) {
      if (m[1]!.toLowerCase() !== 'file') return a;
    }
  }
  return null;
}

/** rsync reaches the network only in its remote forms: host:path, user@host:, host::module, rsync://. */
export function rsyncIsRemote(args: readonly string[]): boolean {
  let options = true;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (options && a === '--') {
      options = false;
      continue;
    }
    if (options && a.startsWith('-')) {
      if (a === '--daemon') return true;
      if (/^-[a-zA-Z]*e$/.test(a) || a === '--rsh' || a === '--rsync-path' || a === '-f' || a === '--filter' ||
          a === '--exclude' || a === '--include' || a === '--port' || a === '--address' || a === '--password-file') i++;
      continue;
    }
    if (/^rsync:\/\//i.test(a) || /^[^/]+::/.test(a) || /^[^/]+:/.test(a)) return true;
  }
  return false;
}

function denied(name: string, policy: CommandPolicy): boolean {
  return policy.deny.has(name) && !policy.allow.has(name);
}

/** Skips a wrapper's own options (and positional words); returns the index of its command. */
function skipOptions(args: readonly string[], spec: WrapperSpec): number {
  let i = 0;
  while (i < args.length) {
    const a = args[i]!;
    if (a === '--') {
      i++;
      break;
    }
    if (!a.startsWith('-') || a === '-') break;
    i += spec.arg?.includes(a) ? 2 : 1;
  }
  return i + (spec.positional ?? 0);
}

/** env [-i] [-u NAME] [-C DIR] [-S STRING] [NAME=VALUE]... COMMAND */
function envCommand(args: readonly string[]): string[] {
  const out = [...args];
  let i = 0;
  while (i < out.length) {
    const a = out[i]!;
    if (a === '--') {
      i++;
      break;
    }
    if (a === '-S' || a === '--split-string') {
      out.splice(i, 2, ...splitWords(out[i + 1] ?? ''));
      continue;
    }
    const split = /^(?:-S|--split-string=)(.+)$/s.exec(a);
    if (split) {
      out.splice(i, 1, ...splitWords(split[1]!));
      continue;
    }
    if (a === '-u' || a === '--unset' || a === '-C' || a === '--chdir' || a === '-P') {
      i += 2;
      continue;
    }
    if (a.startsWith('-') && a !== '-') {
      i++;
      continue;
    }
    if (a === '-') {
      i++;
      continue;
    }
    break;
  }
  while (i < out.length && /^[A-Za-z_][A-Za-z0-9_]*=/.test(out[i]!)) i++;
  return out.slice(i);
}

/** A shell's argument list: the script of `-c` (or `-xec`, `-lc`, ...), or null. */
function shellScript(args: readonly string[]): string | null {
  let c = false;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--' || a === '-') return c ? (args[i + 1] ?? null) : null;
    if (/^[-+][A-Za-z]+$/.test(a)) {
      if (a.startsWith('-') && a.includes('c')) c = true;
      if (a === '-o' || a === '+o' || a === '-O' || a === '+O') i++;
      continue;
    }
    if (a.startsWith('--')) {
      if (a === '--rcfile' || a === '--init-file') i++;
      continue;
    }
    return c ? a : null;
  }
  return null;
}

/** Analyses one command line given as words (what execve would get). */
export function analyzeArgv(argv: readonly string[], policy: CommandPolicy, names: NameResolver, depth = 0): Analysis {
  const none: Analysis = { blocked: null, url: null };
  if (depth > MAX_DEPTH || argv.length === 0) return none;
  const word = argv[0]!;
  const rest = argv.slice(1);
  const known = names(word);
  for (const n of known) {
    if (!denied(n, policy)) continue;
    if (n === 'rsync' && !rsyncIsRemote(rest)) continue;
    return { blocked: { command: n, word, reason: `network tool (${NETWORK_TOOLS[n] ?? 'denied by --deny-command'})` }, url: null };
  }
  const inner = (words: readonly string[]): Analysis => analyzeArgv(words, policy, names, depth + 1);
  const script = (s: string): Analysis => analyzeShellString(s, policy, names, depth + 1);
  for (const n of known) {
    if (SHELLS.has(n)) {
      const s = shellScript(rest);
      if (s !== null) return script(s);
      break;
    }
    if (n === 'busybox' || n === 'toybox') return inner(rest);
    if (n === 'env') return inner(envCommand(rest));
    if (n === 'command' || n === 'builtin') {
      let i = 0;
      while (i < rest.length && /^-[pvV]+$/.test(rest[i]!)) {
        if (/[vV]/.test(rest[i]!)) return none; // `command -v curl` only looks it up
        i++;
      }
      return inner(rest.slice(i));
    }
    if (n === 'eval') return script(rest.join(' '));
    if (n === 'su' || n === 'script') {
      const i = rest.findIndex((a) => a === '-c' || a === '--command');
      if (i >= 0 && rest[i + 1] !== undefined) return script(rest[i + 1]!);
      break;
    }
    if (n === 'watch') {
      const i = skipOptions(rest, { arg: ['-n', '--interval', '-q', '--equexit'] });
      return script(rest.slice(i).join(' '));
    }
    if (n === 'find') {
      // find ... -exec CMD ... ; / -execdir / -ok / -okdir
      let found: Analysis | null = null;
      for (let i = 0; i < rest.length; i++) {
        if (!/^-(exec|execdir|ok|okdir)$/.test(rest[i]!)) continue;
        let j = i + 1;
        while (j < rest.length && rest[j] !== ';' && rest[j] !== '+') j++;
        const r = inner(rest.slice(i + 1, j));
        if (r.blocked) return r;
        found ??= r.url ? r : null;
        i = j;
      }
      return found ?? none;
    }
    const spec = WRAPPERS[n];
    if (spec) {
      const r = inner(rest.slice(skipOptions(rest, spec)));
      if (r.blocked || r.url) return r;
      break;
    }
  }
  const url = findUrl(rest);
  return url ? { blocked: null, url: { command: path.basename(word), word, reason: 'URL in command arguments', url } } : none;
}

/** Analyses a shell script: every command word, including substitutions and nested `sh -c`. */
export function analyzeShellString(script: string, policy: CommandPolicy, names: NameResolver, depth = 0): Analysis {
  let url: Analysis['url'] = null;
  if (depth > MAX_DEPTH) return { blocked: null, url };
  let parsed: ParsedScript;
  try {
    parsed = parseShell(script);
  } catch {
    return { blocked: null, url };
  }
  // bash opens sockets itself for these: `exec 3<>/dev/tcp/host/80`, `echo x >/dev/udp/host/53`.
  const dev = parsed.redirects.find((r) => /^\/dev\/(tcp|udp)\//.test(r));
  if (dev && !policy.allow.has('/dev/tcp')) {
    return { blocked: { command: dev.slice(0, 8), word: dev, reason: 'network redirection of the shell' }, url: null };
  }
  for (const sub of parsed.substitutions) {
    const r = analyzeShellString(sub, policy, names, depth + 1);
    if (r.blocked) return r;
    url ??= r.url;
  }
  for (const cmd of parsed.commands) {
    const r = analyzeArgv(cmd, policy, names, depth + 1);
    if (r.blocked) return r;
    url ??= r.url;
  }
  return { blocked: null, url };
}

// ---------------------------------------------------------------------------------------------
// Shell parsing: a tokenizer for the POSIX/bash grammar good enough to find command words. It
// errs on the side of seeing more commands (a word after an operator is a command word).

interface Word {
  kind: 'word';
  /** After quote removal; expansions kept as written. */
  value: string;
  /** Quoted or escaped anywhere: never a reserved word. */
  quoted: boolean;
  /** The literal text before any quote, escape or expansion (`B=` of `B="x y"`). */
  plain: string;
  open: boolean;
}
interface Op {
  kind: 'op';
  value: string;
}
type Token = Word | Op;

export interface ParsedScript {
  /** Each simple command's words, in order. */
  commands: string[][];
  /** Bodies of $(...), `...`, <(...), >(...), found anywhere (also inside words and quotes). */
  substitutions: string[];
  /** Targets of redirections (`>out`, `<>/dev/tcp/host/80`). */
  redirects: string[];
}

const OPERATORS = ['&&', '||', ';;&', ';;', ';&', '|&', '<<<', '<<-', '&>>', '<<', '>>', '<&', '>&', '<>', '>|', '&>', ';', '&', '|', '(', ')', '<', '>', '\n'];
const REDIRECTS = new Set(['<', '>', '>>', '<<', '<<-', '<<<', '<&', '>&', '<>', '>|', '&>', '&>>']);
const SEPARATORS = new Set(['&&', '||', ';', ';;', ';&', ';;&', '&', '|', '|&', '(', ')', '\n']);
const RESERVED_BEFORE_COMMAND = new Set(['if', 'then', 'else', 'elif', 'do', 'while', 'until', '!', '{']);
const RESERVED_END = new Set(['fi', 'done', '}', 'esac']);

/**
 * From i (just after an opening `(` or `{`), the index of the matching close, skipping quotes,
 * escapes, nested substitutions and (in a `$(` body) comments. Substitutions found inside go to
 * subs (`${x:-$(curl y)}`).
 */
function matchClose(s: string, i: number, open: '(' | '{', subs: string[] | null): number {
  const close = open === '(' ? ')' : '}';
  let depth = 1;
  while (i < s.length) {
    const ch = s[i]!;
    if (ch === '\\') {
      i += 2;
      continue;
    }
    if (ch === "'") {
      const e = s.indexOf("'", i + 1);
      i = e < 0 ? s.length : e + 1;
      continue;
    }
    if (ch === '"') {
      i = matchDouble(s, i + 1, subs) + 1;
      continue;
    }
    if (ch === '$' && s[i + 1] === '(') {
      const e = matchClose(s, i + 2, '(', subs);
      subs?.push(s.slice(i + 2, e));
      i = e + 1;
      continue;
    }
    if (ch === '`') {
      const e = matchBacktick(s, i + 1);
      subs?.push(unescapeBacktick(s.slice(i + 1, e)));
      i = e + 1;
      continue;
    }
    if (open === '(' && ch === '#' && (i === 0 || /[\s;&|(]/.test(s[i - 1]!))) {
      const e = s.indexOf('\n', i);
      i = e < 0 ? s.length : e;
      continue;
    }
    if (ch === open) depth++;
    else if (ch === close && --depth === 0) return i;
    i++;
  }
  return s.length;
}

/** The end of a `$(`/`<(` body starting at i (just after the open paren): the index of its `)`. */
function matchParen(s: string, i: number): number {
  return matchClose(s, i, '(', null);
}

function matchBacktick(s: string, i: number): number {
  while (i < s.length) {
    if (s[i] === '\\') i += 2;
    else if (s[i] === '`') return i;
    else i++;
  }
  return s.length;
}

/**
 * Scans a double-quoted string from i (after the opening quote) to its closing quote; collects
 * substitutions found inside. Returns the index of the closing quote.
 */
function matchDouble(s: string, i: number, subs: string[] | null, out?: { text: string }): number {
  while (i < s.length) {
    const ch = s[i]!;
    if (ch === '"') return i;
    if (ch === '\\') {
      const next = s[i + 1];
      if (out) out.text += next !== undefined && '$`"\\\n'.includes(next) ? (next === '\n' ? '' : next) : `\\${next ?? ''}`;
      i += 2;
      continue;
    }
    if (ch === '$' && s[i + 1] === '(' && s[i + 2] !== '(') {
      const e = matchParen(s, i + 2);
      subs?.push(s.slice(i + 2, e));
      if (out) out.text += s.slice(i, e + 1);
      i = e + 1;
      continue;
    }
    if (ch === '$' && s[i + 1] === '{') {
      const e = matchBrace(s, i + 2, subs);
      if (out) out.text += s.slice(i, e + 1);
      i = e + 1;
      continue;
    }
    if (ch === '`') {
      const e = matchBacktick(s, i + 1);
      subs?.push(unescapeBacktick(s.slice(i + 1, e)));
      if (out) out.text += s.slice(i, e + 1);
      i = e + 1;
      continue;
    }
    if (out) out.text += ch;
    i++;
  }
  return s.length;
}

/** `${...}`: to its closing brace, collecting substitutions inside. */
function matchBrace(s: string, i: number, subs: string[] | null): number {
  return matchClose(s, i, '{', subs);
}

function unescapeBacktick(body: string): string {
  return body.replace(/\\([`$\\])/g, '$1');
}

const ANSI_C: Record<string, string> = { n: '\n', t: '\t', r: '\r', a: '\x07', b: '\b', e: '\x1b', E: '\x1b', f: '\f', v: '\v', '\\': '\\', "'": "'", '"': '"', '?': '?' };

/** The body of $'...' with its escapes applied; returns [text, index of the closing quote]. */
function ansiC(s: string, i: number): [string, number] {
  let text = '';
  while (i < s.length && s[i] !== "'") {
    if (s[i] === '\\' && i + 1 < s.length) {
      const c = s[i + 1]!;
      const hex = /^x([0-9a-fA-F]{1,2})/.exec(s.slice(i + 1));
      const oct = /^([0-7]{1,3})/.exec(s.slice(i + 1));
      if (hex) {
        text += String.fromCharCode(parseInt(hex[1]!, 16));
        i += 1 + hex[0].length;
      } else if (oct) {
        text += String.fromCharCode(parseInt(oct[1]!, 8));
        i += 1 + oct[0].length;
      } else {
        text += ANSI_C[c] ?? `\\${c}`;
        i += 2;
      }
      continue;
    }
    text += s[i];
    i++;
  }
  return [text, i];
}

/** Splits a shell string into tokens; substitution bodies go to subs. */
export function tokenize(s: string, subs: string[] = []): Token[] {
  const tokens: Token[] = [];
  const heredocs: { delim: string; expand: boolean }[] = [];
  let i = 0;
  let cur: Word | null = null;
  const flush = () => {
    if (cur) tokens.push(cur);
    cur = null;
  };
  /** Adds to the current word; literal text extends its plain prefix until anything else comes. */
  const append = (text: string, quoted: boolean, literal = false) => {
    const w: Word = (cur ??= { kind: 'word', value: '', quoted: false, plain: '', open: true });
    w.value += text;
    if (quoted) w.quoted = true;
    if (literal && w.open) w.plain += text;
    else w.open = false;
  };
  while (i < s.length) {
    const ch = s[i]!;
    if (ch === ' ' || ch === '\t' || ch === '\r') {
      flush();
      i++;
      continue;
    }
    if (ch === '\\') {
      if (s[i + 1] === '\n') {
        i += 2;
        continue;
      }
      append(s[i + 1] ?? '', true);
      i += 2;
      continue;
    }
    if (ch === '#' && cur === null) {
      const e = s.indexOf('\n', i);
      i = e < 0 ? s.length : e;
      continue;
    }
    if (ch === "'") {
      const e = s.indexOf("'", i + 1);
      const end = e < 0 ? s.length : e;
      append(s.slice(i + 1, end), true);
      i = end + 1;
      continue;
    }
    if (ch === '$' && s[i + 1] === "'") {
      const [text, end] = ansiC(s, i + 2);
      append(text, true);
      i = end + 1;
      continue;
    }
    if (ch === '"' || (ch === '$' && s[i + 1] === '"')) {
      const start = ch === '$' ? i + 2 : i + 1;
      const out = { text: '' };
      const end = matchDouble(s, start, subs, out);
      append(out.text, true);
      i = end + 1;
      continue;
    }
    if (ch === '$' && s[i + 1] === '(' && s[i + 2] === '(') {
      // $(( arithmetic )): may still hide $(...) inside
      const e = matchParen(s, i + 2);
      const inner = s.slice(i + 3, Math.max(i + 3, e - 1));
      tokenize(inner, subs);
      append(s.slice(i, e + 1), false);
      i = e + 1;
      continue;
    }
    if (ch === '$' && s[i + 1] === '(') {
      const e = matchParen(s, i + 2);
      subs.push(s.slice(i + 2, e));
      append(s.slice(i, e + 1), false);
      i = e + 1;
      continue;
    }
    if (ch === '$' && s[i + 1] === '{') {
      const e = matchBrace(s, i + 2, subs);
      append(s.slice(i, e + 1), false);
      i = e + 1;
      continue;
    }
    if (ch === '`') {
      const e = matchBacktick(s, i + 1);
      subs.push(unescapeBacktick(s.slice(i + 1, e)));
      append(s.slice(i, e + 1), false);
      i = e + 1;
      continue;
    }
    if ((ch === '<' || ch === '>') && s[i + 1] === '(') {
      flush();
      const e = matchParen(s, i + 2);
      subs.push(s.slice(i + 2, e));
      tokens.push({ kind: 'word', value: s.slice(i, e + 1), quoted: true, plain: '', open: false });
      i = e + 1;
      continue;
    }
    // An fd number right before a redirection belongs to it: `2>&1`.
    if (cur !== null && /^\d+$/.test((cur as Word).value) && !(cur as Word).quoted && (ch === '<' || ch === '>')) {
      cur = null;
    }
    const op = OPERATORS.find((o) => s.startsWith(o, i));
    if (op) {
      flush();
      tokens.push({ kind: 'op', value: op });
      i += op.length;
      if (op === '<<' || op === '<<-') {
        // Read the delimiter word now; the body starts after the end of this line.
        while (s[i] === ' ' || s[i] === '\t') i++;
        let delim = '';
        let quoted = false;
        while (i < s.length && !/[\s;&|<>()]/.test(s[i]!)) {
          if (s[i] === '"' || s[i] === "'") {
            quoted = true;
            const q = s[i]!;
            const e = s.indexOf(q, i + 1);
            delim += s.slice(i + 1, e < 0 ? s.length : e);
            i = e < 0 ? s.length : e + 1;
          } else if (s[i] === '\\') {
            quoted = true;
            delim += s[i + 1] ?? '';
            i += 2;
          } else {
            delim += s[i];
            i++;
          }
        }
        tokens.push({ kind: 'word', value: delim, quoted: true, plain: '', open: false });
        heredocs.push({ delim, expand: !quoted });
      }
      if (op === '\n' && heredocs.length > 0) {
        for (const h of heredocs.splice(0)) {
          let body = '';
          while (i < s.length) {
            const e = s.indexOf('\n', i);
            const line = s.slice(i, e < 0 ? s.length : e);
            i = e < 0 ? s.length : e + 1;
            if (line.replace(/^\t+/, '') === h.delim) break;
            body += `${line}\n`;
          }
          if (h.expand) matchDouble(`${body}"`, 0, subs);
        }
      }
      continue;
    }
    append(ch, false, true);
    i++;
  }
  flush();
  return tokens;
}

/** Finds every simple command of a script. */
export function parseShell(script: string): ParsedScript {
  const substitutions: string[] = [];
  const tokens = tokenize(script, substitutions);
  const commands: string[][] = [];
  const redirects: string[] = [];
  let words: string[] = [];
  let atStart = true;
  let skipUntil: ((t: Token) => boolean) | null = null;
  let caseState: 'none' | 'subject' | 'pattern' | 'body' = 'none';
  const end = () => {
    if (words.length > 0) commands.push(words);
    words = [];
    atStart = true;
  };
  for (let k = 0; k < tokens.length; k++) {
    const t = tokens[k]!;
    if (skipUntil) {
      if (skipUntil(t)) skipUntil = null;
      continue;
    }
    if (caseState === 'subject') {
      if (t.kind === 'word' && t.value === 'in' && !t.quoted) caseState = 'pattern';
      continue;
    }
    if (caseState === 'pattern') {
      if (t.kind === 'word' && t.value === 'esac' && !t.quoted) {
        caseState = 'none';
        end();
      } else if (t.kind === 'op' && t.value === ')') {
        caseState = 'body';
        atStart = true;
      }
      continue;
    }
    if (t.kind === 'op') {
      if (REDIRECTS.has(t.value)) {
        k++; // the redirection's target is not a command word
        const target = tokens[k];
        if (target?.kind === 'word' && t.value !== '<<' && t.value !== '<<-') redirects.push(target.value);
        continue;
      }
      if (caseState === 'body' && (t.value === ';;' || t.value === ';&' || t.value === ';;&')) {
        end();
        caseState = 'pattern';
        continue;
      }
      // name() { ...; } : a function definition, not a command
      if (t.value === '(' && words.length === 1 && tokens[k + 1]?.kind === 'op' && tokens[k + 1]!.value === ')') {
        words = [];
        atStart = true;
        k++;
        continue;
      }
      if (SEPARATORS.has(t.value)) end();
      continue;
    }
    // VAR=x (also VAR="x y", VAR=$(...)) before the command
    if (atStart && /^[A-Za-z_][A-Za-z0-9_]*(\[[^\]]*\])?\+?=/.test(t.plain)) continue;
    if (atStart && !t.quoted) {
      if (RESERVED_BEFORE_COMMAND.has(t.value)) continue;
      if (RESERVED_END.has(t.value)) {
        if (t.value === 'esac') caseState = 'none';
        continue;
      }
      if (t.value === 'for' || t.value === 'select') {
        // for NAME in WORDS ; do ... : the words are data
        skipUntil = (x) => (x.kind === 'op' && (x.value === ';' || x.value === '\n')) || (x.kind === 'word' && x.value === 'do' && !x.quoted);
        continue;
      }
      if (t.value === 'case') {
        caseState = 'subject';
        continue;
      }
      if (t.value === 'function') {
        k++; // the function's name
        continue;
      }
      if (t.value === '[[' || t.value === '((') {
        const close = t.value === '[[' ? ']]' : '))';
        skipUntil = (x) => x.kind === 'word' && x.value === close;
        continue;
      }
    }
    words.push(t.value);
    atStart = false;
  }
  end();
  return { commands, substitutions, redirects };
}

/** Splits a string into words as a shell would (quotes, escapes), without expansions. */
export function splitWords(s: string): string[] {
  try {
    return tokenize(s).filter((t): t is Word => t.kind === 'word').map((t) => t.value);
  } catch {
    return s.split(/\s+/).filter(Boolean);
  }
}

// ---------------------------------------------------------------------------------------------
// Resolution of command words to the names they really run under.

function searchPath(word: string, pathEnv: string | undefined, cwd: string): string | null {
  for (const dir of (pathEnv ?? '/usr/local/bin:/usr/bin:/bin').split(':')) {
    const candidate = path.resolve(cwd, dir || '.', word);
    try {
      if (fs.statSync(candidate).isFile()) return candidate;
    } catch {
      // not here
    }
  }
  return null;
}

/**
 * The default resolver: the word's basename and, when the file exists, the basename of its
 * real path (a symlink to curl, /etc/alternatives/nc -> nc.openbsd).
 */
export function fileNames(pathEnv: string | undefined, cwd: string): NameResolver {
  return (word: string) => {
    const base = path.basename(word);
    const out = [base];
    if (word === '' || word.includes('$') || word.includes('`')) return out;
    const file = word.includes('/') ? path.resolve(cwd, word) : searchPath(word, pathEnv, cwd);
    if (file) {
      try {
        const real = path.basename(fs.realpathSync(file));
        if (real !== base) out.push(real);
      } catch {
        // dangling: the name is all there is
      }
    }
    return out;
  };
}
