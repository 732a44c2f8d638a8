/**
 * The options that make a run's policy, shared by the run itself and `worm-run export` (so the
 * same command line gives the same filter). Each becomes a field of CliOptions (src/options.ts),
 * which turns them into a Policy.
 */
import { Option, type Command } from 'commander';
import { CONFIG_ENV } from '../config.js';
import type { CliOptions } from '../options.js';

interface PolicyOption {
  flags: string;
  description: string;
  /** Given more than once, every value is kept (else the last wins). */
  repeatable?: boolean;
}

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

export const POLICY_OPTIONS: readonly PolicyOption[] = [
  { flags: '--cpu <duration>', description: 'CPU time per process (30, 30s, 2m); SIGXCPU, then SIGKILL' },
  { flags: '--memory <size>', description: 'heap and private writable memory per process (512M, 2G)' },
  { flags: '--address-space <size>', description: 'raw virtual address space per process (RLIMIT_AS)' },
  { flags: '--timeout <duration>', description: 'wall-clock limit for the run; exit 124 when it is reached' },
  { flags: '--kill-after <duration>', description: 'grace between SIGTERM and SIGKILL at the timeout (default 2s)' },
  { flags: '--max-procs <n>', description: "processes of the target's user (needs --user when run as root)" },
  { flags: '--max-files <n>', description: 'open files per process' },
  { flags: '--max-file-size <size>', description: 'largest file the target may write' },
  { flags: '--core', description: 'allow core dumps (off by default)' },
  { flags: '--user <name|uid>', description: 'run the target as this user (worm-run must be root)' },
  { flags: '--group <name|gid>', description: "with --user: this group instead of the user's own" },
  { flags: '--allow-unix', description: 'allow AF_UNIX sockets (every other family stays refused)' },
  { flags: '--fs <mode>', description: "filesystem: 'default' (read all but credential stores; write the working directory and a private TMPDIR), 'strict' (read only the system, the target and the working directory), 'off'" },
  { flags: '--write <dir>', description: 'also let the target write this directory (repeatable)', repeatable: true },
  { flags: '--read <dir>', description: 'also let the target read this directory with --fs strict; un-hides it (repeatable)', repeatable: true },
  { flags: '--hide <path>', description: 'also hide this file or directory from the target (repeatable)', repeatable: true },
  { flags: '--keep-tmp', description: "keep the run's private temporary directory afterwards" },
  { flags: '--env <name[=value]>', description: 'pass a variable the credential filter would remove, or set one (repeatable)', repeatable: true },
  { flags: '--clear-env', description: 'start the environment from PATH, HOME, LANG, LC_*, TERM, TZ, USER, LOGNAME, TMPDIR and --env' },
  { flags: '--keep-env', description: 'pass the whole environment, credentials included' },
  { flags: '--namespaces <mode>', description: "the run's own PID and mount namespaces: 'auto' (where the machine allows), 'require', 'off'" },
  { flags: '--audit-log <path>', description: "append JSON audit records to a file (0600), '-' for stderr, /dev/fd/N for a descriptor" },
  { flags: '--audit-key <file>', description: "sign each run's head with this Ed25519 private key (PEM, 0600)" },
  { flags: '--audit-head-fd <n>', description: "write each run's head line (its last record's hash) to descriptor n" },
  { flags: '--deny-imports', description: 'Node targets: refuse network modules at require/import, not only at use' },
  { flags: '--deny-command <name>', description: 'Node targets: also refuse this command in child_process (repeatable)', repeatable: true },
  { flags: '--allow-command <name>', description: 'Node targets: lift a built-in command refusal (repeatable)', repeatable: true },
  { flags: '--node-option <option>', description: 'Node targets: pass an option to Node itself, e.g. --node-option=--enable-source-maps (repeatable)', repeatable: true },
  { flags: '--config <file>', description: `read the policy from a JSON file (or set ${CONFIG_ENV}); flags override it` },
];

/**
 * Adds the policy options to cmd. `shown(key)` picks those its help lists (all by default); the
 * rest are accepted all the same.
 */
export function addPolicyOptions(cmd: Command, shown: (key: keyof CliOptions) => boolean = () => true): void {
  for (const o of POLICY_OPTIONS) {
    const option = new Option(o.flags, o.description);
    if (o.repeatable) option.argParser(collect);
    if (!shown(option.attributeName() as keyof CliOptions)) option.hideHelp();
    cmd.addOption(option);
  }
}
