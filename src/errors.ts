/**
 * Errors worm-run reports. Each has a stable `code` and the exit status the CLI uses for it
 * (125: worm-run failed, 126: target found but not runnable, 127: target not found), following
 * env(1) and timeout(1).
 */
export type WormErrorCode =
  | 'ERR_WORM_USAGE'
  | 'ERR_WORM_CONFIG'
  | 'ERR_WORM_PLATFORM'
  | 'ERR_WORM_ADDON'
  | 'ERR_WORM_AUDIT'
  | 'ERR_WORM_NOT_FOUND'
  | 'ERR_WORM_NOT_EXECUTABLE'
  | 'ERR_WORM_SETUP'
  | 'ERR_WORM_SYSCALL'
  /** Library: the caller's AbortSignal fired while the run was starting; its target never ran. */
  | 'ERR_WORM_ABORTED';

export const EXIT_WORM_FAILED = 125;
export const EXIT_CANNOT_EXECUTE = 126;
export const EXIT_NOT_FOUND = 127;

export class WormError extends Error {
  readonly code: WormErrorCode;
  readonly exitCode: number;

  constructor(code: WormErrorCode, message: string, exitCode = EXIT_WORM_FAILED, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'WormError';
    this.code = code;
    this.exitCode = exitCode;
  }
}

export function usageError(message: string): WormError {
  return new WormError('ERR_WORM_USAGE', message);
}

/** The fields the addon sets on a failed system call. */
export interface SyscallError extends Error {
  code?: string;
  syscall?: string;
  errno?: number;
}

export function isSyscallError(e: unknown): e is SyscallError {
  return e instanceof Error && typeof (e as SyscallError).errno === 'number';
}

const FILE_REASONS: Record<string, string> = {
  ENOENT: 'no such file',
  ENOTDIR: 'a part of the path is not a directory',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EISDIR: 'it is a directory',
  ELOOP: 'too many levels of symbolic links',
  ENAMETOOLONG: 'the name is too long',
  EROFS: 'read-only file system',
  ENOSPC: 'no space left on the device',
  EMFILE: 'too many open files',
  ENXIO: 'no such device or address',
};

/**
 * Why a file operation failed, in words (`no such file`), for messages that name the file
 * once themselves: Node's own message repeats the call and the path
 * ("ENOENT: no such file or directory, open '/x'").
 */
export function fileErrorReason(e: unknown): string {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  if (code !== undefined && Object.hasOwn(FILE_REASONS, code)) return FILE_REASONS[code]!;
  if (code !== undefined) return code;
  return e instanceof Error ? e.message : String(e);
}
