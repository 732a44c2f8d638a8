/**
 * What the user asked to run: a Node script (run with this Node and the guard) or any other
 * executable. Resolution happens here, before anything starts, so a missing or unrunnable
 * target is reported plainly (127 / 126) instead of as a failed execve.
 */
import { accessSync, constants, openSync, readSync, closeSync, statSync } from 'node:fs';
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
}

const NODE_EXTENSIONS = new Set(['.js', '.mjs', '.cjs']);

/** The first line's `#!` words, or undefined when the file has none. */
export function shebang(path: string): string[] | undefined {
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    const buf = Buffer.alloc(256);
    const n = readSync(fd, buf, 0, buf.length, 0);
    const line = buf.subarray(0, n).toString('latin1').split('\n', 1)[0]!;
    return line.startsWith('#!') ? line.slice(2).trim().split(/\s+/) : undefined;
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** First line names node or worm-run: `#!/usr/bin/env node`, `#!/usr/bin/env -S worm-run --cpu 5`. */
export function shebangIsNode(path: string): boolean {
  const words = shebang(path);
  if (!words) return false;
  const interp = words[0]?.split('/').pop();
  const prog = interp === 'env' ? words.slice(1).find((w) => !w.startsWith('-')) : interp;
  return prog !== undefined && (/^node(js)?(\d+)?$/.test(prog) || prog === 'worm-run');
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
  const direct = command.includes('/') || (NODE_EXTENSIONS.has(extname(command)) && isRegularFile(join(cwd, command)));
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
  } else {
    const found = searchPath(command, pathEnv, cwd);
    if (!found) throw notFound(command, 'command not found');
    path = found;
  }
  if (NODE_EXTENSIONS.has(extname(path)) || shebangIsNode(path)) {
    try {
      accessSync(path, constants.R_OK);
    } catch {
      throw notExecutable(command, 'Permission denied (cannot read the script)');
    }
    return { kind: 'node', command, path, args };
  }
  try {
    accessSync(path, constants.X_OK);
  } catch {
    throw notExecutable(command, 'Permission denied');
  }
  return { kind: 'binary', command, path, args };
}
