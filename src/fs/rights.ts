/**
 * Landlock's filesystem rights (include/uapi/linux/landlock.h), grouped the way the run's rules
 * grant them. The native side masks them to what the kernel's ABI knows.
 */
export const FS = {
  EXECUTE: 1 << 0,
  WRITE_FILE: 1 << 1,
  READ_FILE: 1 << 2,
  READ_DIR: 1 << 3,
  REMOVE_DIR: 1 << 4,
  REMOVE_FILE: 1 << 5,
  MAKE_CHAR: 1 << 6,
  MAKE_DIR: 1 << 7,
  MAKE_REG: 1 << 8,
  MAKE_SOCK: 1 << 9,
  MAKE_FIFO: 1 << 10,
  MAKE_BLOCK: 1 << 11,
  MAKE_SYM: 1 << 12,
  REFER: 1 << 13, // ABI 2: rename and link across directories
  TRUNCATE: 1 << 14, // ABI 3
  IOCTL_DEV: 1 << 15, // ABI 5
} as const;

/** Everything worm-run's rules handle: what is not granted somewhere is refused everywhere. */
export const HANDLED = Object.values(FS).reduce((a, b) => a | b, 0);

export const READ = FS.READ_FILE | FS.READ_DIR | FS.EXECUTE;

/**
 * Making, changing and removing files and directories. Not device nodes: a root target that
 * could make one in its working directory would read the raw disk around every rule.
 */
export const WRITE = FS.WRITE_FILE | FS.REMOVE_DIR | FS.REMOVE_FILE | FS.MAKE_DIR | FS.MAKE_REG | FS.MAKE_SOCK |
  FS.MAKE_FIFO | FS.MAKE_SYM | FS.REFER | FS.TRUNCATE;

/** A device node programs write to and configure (a terminal, /dev/null). */
export const DEVICE = READ | FS.WRITE_FILE | FS.TRUNCATE | FS.IOCTL_DEV;
