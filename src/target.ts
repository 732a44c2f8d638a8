/**
 * What the user asked to run: a Node script (run with this Node and the guard) or any other
 * executable. Resolution happens here, before anything starts, so a missing or unrunnable
 * target is reported plainly (127 / 126) instead of as a failed execve.
 */
import { accessSync, constants, fstatSync, openSync, readSync, closeSync, statSync } from 'node:fs';
import { delimiter, extname, isAbsolute, join, resolve } from 'node:path';
import { EXIT_CANNOT_EXECUTE, EXIT_NOT_FOUND, WormError } from './errors.js';

export type TargetKind = 'node' | 'binary';

export interface Target {
  kind: TargetKind;
  /** As the user wrote it. */
  command: string;
  /** Absolute path of the script (node) or executable (binary). */
  path: string;
  args: string[];
  /**
   * When the kernel refuses the file as an executable format (ENOEXEC), run it with /bin/sh,
   * as execvp and shells do for a script without a `#!` line. Only for a file that reads as
   * text: an ELF file the kernel cannot run (another architecture, i386 with 32-bit
   * emulation off) or any other binary must fail with "Exec format error", not be read by sh.
   */
  shFallback: boolean;
}

const NODE_EXTENSIONS = new Set(['.js', '.mjs', '.cjs']);
const TYPESCRIPT_EXTENSIONS = new Set(['.ts', '.mts', '.cts']);

const isScriptExtension = (ext: string): boolean => NODE_EXTENSIONS.has(ext) || TYPESCRIPT_EXTENSIONS.has(ext);

/**
 * The file's first bytes (up to 256), or undefined when it cannot be read or is not a regular
 * file. Opened without blocking: a FIFO a run planted must not hold the host's event loop.
 */
function head(path: string): Buffer | undefined {
  let fd: number | undefined;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
    if (!fstatSync(fd).isFile()) return undefined;
    const buf = Buffer.alloc(256);
    return buf.subarray(0, readSync(fd, buf, 0, buf.length, 0));
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

function shebangWords(bytes: Buffer | undefined): string[] | undefined {
  if (!bytes) return undefined;
  const line = bytes.toString('latin1').split('\n', 1)[0]!;
  return line.startsWith('#!') ? line.slice(2).trim().split(/\s+/) : undefined;
}

/** The first line's `#!` words, or undefined when the file has none. */
export function shebang(path: string): string[] | undefined {
  return shebangWords(head(path));
}

function namesNode(words: string[] | undefined): boolean {
  if (!words) return false;
  const interp = words[0]?.split('/').pop();
  const prog = interp === 'env' ? words.slice(1).find((w) => !w.startsWith('-')) : interp;
  return prog !== undefined && (/^node(js)?(\d+)?$/.test(prog) || prog === 'worm-run');
}

/** First line names node or worm-run: `#!/usr/bin/env node`, `#!/usr/bin/env -S worm-run --cpu 5`. */
export function shebangIsNode(path: string): boolean {
  return namesNode(shebang(path));
}

/**
 * Whether a file the kernel refuses to execute may be handed to /bin/sh: not when it starts
 * with the ELF magic, nor when its first bytes hold a NUL (bash's test for a binary file).
 */
export function readsAsScript(bytes: Buffer | undefined): boolean {
  if (!bytes) return true;
  if (bytes[0] === 0x7f && bytes[1] === 0x45 && bytes[2] === 0x4c && bytes[3] === 0x46) return false; // \x7fELF
  return !bytes.subarray(0, 80).includes(0);
}

/**
 * Whether this Node runs TypeScript: Node 22.18+ and 23.6+ strip types by default
 * (`process.features.typescript` is 'strip' or 'transform'; false when turned off, absent
 * before 22.10). The target runs with the Node that runs worm-run, with the same NODE_OPTIONS.
 */
export function nodeRunsTypeScript(): boolean {
  return Boolean((process.features as { typescript?: string | false }).typescript);
}

function notFound(command: string, why: string): WormError {
  return new WormError('ERR_WORM_NOT_FOUND', `${command}: ${why}`, EXIT_NOT_FOUND);
}

function notExecutable(command: string, why: string): WormError {
  return new WormError('ERR_WORM_NOT_EXECUTABLE', `cannot execute ${command}: ${why}`, EXIT_CANNOT_EXECUTE);
}

function isRegularFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

function searchPath(command: string, pathEnv: string | undefined, cwd: string): string | undefined {
  for (const dir of (pathEnv ?? '/usr/local/bin:/usr/bin:/bin').split(delimiter)) {
    const candidate = resolve(cwd, dir || '.', command);
    if (!isRegularFile(candidate)) continue;
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not executable for us: keep looking, as execvp does
    }
  }
  return undefined;
}

export function resolveTarget(argv: string[], cwd: string, pathEnv: string | undefined): Target {
  const command = argv[0];
  if (command === undefined || command === '') {
    throw new WormError('ERR_WORM_USAGE', 'no command given; usage: worm-run [options] [--] <command> [args...]');
  }
  const args = argv.slice(1);
  const direct = command.includes('/') || (isScriptExtension(extname(command)) && isRegularFile(join(cwd, command)));
  let path: string;
  if (direct) {
    path = isAbsolute(command) ? command : resolve(cwd, command);
    let st;
    try {
      st = statSync(path);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') throw notFound(command, 'No such file or directory');
      throw notExecutable(command, (e as Error).message);
    }
    if (st.isDirectory()) throw notExecutable(command, 'Is a directory');
    // execve(2) refuses anything else (a FIFO, a device, a socket) with EACCES.
    if (!st.isFile()) throw notExecutable(command, 'Permission denied (not a regular file)');
  } else {
    const found = searchPath(command, pathEnv, cwd);
    if (!found) {
      // As a shell would not, but a new user needs: the file is right here, and PATH is not
      // searched in the current directory.
      const here = isRegularFile(resolve(cwd, command)) ? `; did you mean ./${command}?` : '';
      throw notFound(command, `command not found${here}`);
    }
    path = found;
  }
  const bytes = head(path);
  const ext = extname(path);
  if (TYPESCRIPT_EXTENSIONS.has(ext) && !nodeRunsTypeScript()) {
    throw notExecutable(command, `Node ${process.version} does not run TypeScript; ` +
      'run worm-run with Node 22.18+ or 23.6+ (they strip types by default), or compile it to JavaScript and run the .js');
  }
  if (isScriptExtension(ext) || namesNode(shebangWords(bytes))) {
    try {
      accessSync(path, constants.R_OK);
    } catch {
      throw notExecutable(command, 'Permission denied (cannot read the script)');
    }
    return { kind: 'node', command, path, args, shFallback: false };
  }
  try {
    accessSync(path, constants.X_OK);
  } catch {
    throw notExecutable(command, 'Permission denied');
  }
  return { kind: 'binary', command, path, args, shFallback: readsAsScript(bytes) };
}
