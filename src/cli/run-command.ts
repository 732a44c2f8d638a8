/**
 * The root command, `worm-run [options] [--] <command> [args...]`: its options, and the run
 * itself. Options are read up to the first word that is not one (or up to `--`); everything from
 * there belongs to the target, so its own options are never read as worm-run's. A value is
 * `--opt value` or `--opt=value`, and the word after `--opt` is its value even when it starts
 * with a dash; a repeated option keeps its last value unless it is repeatable.
 */
import type { Command } from 'commander';
import { writeLine } from '../audit.js';
import { WormError } from '../errors.js';
import { native } from '../native.js';
import { CONFIG_ENV, loadPolicyFile } from '../config.js';
import { checkPolicy, policyFromOptions, type CliOptions } from '../options.js';
import { defaultPolicy, type Policy } from '../policy.js';
import { execute, policyRecord } from '../run.js';
import { VERSION } from '../version.js';
import { act, wormCommand } from './program.js';

const FORWARDED: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'];

const USAGE_ERROR = 'no command given; usage: worm-run [options] [--] <command> [args...]';

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/**
 * The root command. listSubcommands attaches every subcommand, for the help text only (see
 * program.ts on why they are not attached otherwise).
 */
export function runCommand(listSubcommands: (root: Command) => void): Command {
  const root: Command = wormCommand('worm-run',
    'Run a program with no network access, within CPU and memory budgets, leaving an audit trail it cannot forge.',
    (cmd) => {
      cmd
        .usage('[options] [--] <command> [args...]\n       worm-run [options] <script.js> [args...]')
        .version(VERSION, '-V, --version', 'print the version')
        .argument('[command...]', 'the program (a Node script or any executable) and its arguments')
        .option('--cpu <duration>', 'CPU time per process (30, 30s, 2m); SIGXCPU, then SIGKILL')
        .option('--memory <size>', 'heap and private writable memory per process (512M, 2G)')
        .option('--address-space <size>', 'raw virtual address space per process (RLIMIT_AS)')
        .option('--timeout <duration>', 'wall-clock limit for the run; exit 124 when it is reached')
        .option('--kill-after <duration>', 'grace between SIGTERM and SIGKILL at the timeout (default 2s)')
        .option('--max-procs <n>', "processes of the target's user (needs --user when run as root)")
        .option('--max-files <n>', 'open files per process')
        .option('--max-file-size <size>', 'largest file the target may write')
        .option('--core', 'allow core dumps (off by default)')
        .option('--user <name|uid>', 'run the target as this user (worm-run must be root)')
        .option('--group <name|gid>', "with --user: this group instead of the user's own")
        .option('--allow-unix', 'allow AF_UNIX sockets (every other family stays refused)')
        .option('--audit-log <path>', "append JSON audit records to a file (0600), '-' for stderr, /dev/fd/N for a descriptor")
        .option('--deny-imports', 'Node targets: refuse network modules at require/import, not only at use')
        .option('--deny-command <name>', 'Node targets: also refuse this command in child_process (repeatable)', collect)
        .option('--allow-command <name>', 'Node targets: lift a built-in command refusal (repeatable)', collect)
        .option('--node-option <option>', 'Node targets: pass an option to Node itself, e.g. --node-option=--enable-source-maps (repeatable)', collect)
        .option('--in-process', 'Node scripts: run inside this hardened process (one Node start; the trail after start is written from inside the sandbox)')
        .option('--config <file>', `read the policy from a JSON file (or set ${CONFIG_ENV}); flags override it`)
        .option('--print-policy', 'print the effective policy and the kernel filter as JSON, then exit')
        .enablePositionalOptions()
        .passThroughOptions()
        .addHelpText('after', `
Exit status: the target's own; 128+N when a signal killed it; 124 at the --timeout;
125 worm-run failed (bad option or policy); 126 target not executable; 127 not found.`);
    },
    () => listSubcommands(root));
  act(root, (command: string[], opts: CliOptions) => runTarget(command, opts));
  return root;
}

function printPolicy(policy: Policy): void {
  const doc = {
    policy: policyRecord(policy),
    filter: native.describeFilter(policy.network.allowUnix),
    // What worm-run's own supervisor refuses once the target runs (the CLI, supervised mode).
    supervisorFilter: native.describeFilter(false, true),
  };
  process.stdout.write(`${JSON.stringify(doc, null, 2)}\n`);
}

function checkPlatform(): void {
  const err = native.seccompSupport();
  if (err !== 0) {
    throw new WormError('ERR_WORM_PLATFORM',
      `this kernel cannot install seccomp filters (errno ${err}); worm-run refuses to run anything unprotected`);
  }
}

/** The run: policy from the file and the flags, then the target, supervised or in-process. */
async function runTarget(command: string[], opts: CliOptions): Promise<number> {
  const configPath = opts.config ?? process.env[CONFIG_ENV];
  const base = configPath ? loadPolicyFile(configPath) : defaultPolicy();
  let policy = policyFromOptions(opts, base);
  checkPolicy(policy);
  checkPlatform();
  if (opts.printPolicy) {
    printPolicy(policy);
    return 0;
  }
  if (command.length === 0) throw new WormError('ERR_WORM_USAGE', USAGE_ERROR);
  let cwd: string;
  try {
    cwd = process.cwd();
  } catch {
    throw new WormError('ERR_WORM_USAGE', 'the current directory no longer exists; cd to one that does');
  }
  let note: string | undefined;
  if (policy.mode === 'in-process') {
    const { inProcessUnsafe, runInProcess } = await import('../inprocess.js');
    const unsafe = inProcessUnsafe();
    if (unsafe === null) return runInProcess(command, policy);
    note = `--in-process not used: ${unsafe}; running supervised`;
    writeLine(`worm-run: ${note}`);
    policy = { ...policy, mode: 'supervised' };
  }

  // Signals are caught before the target starts, so none is lost in between.
  let send: ((sig: NodeJS.Signals) => void) | undefined;
  const pending: NodeJS.Signals[] = [];
  const sharedGroup = native.isForegroundTty(0);
  for (const sig of FORWARDED) {
    process.on(sig, () => {
      // A terminal already delivers ^C and ^\ to the target when it shares our group.
      if (sharedGroup && (sig === 'SIGINT' || sig === 'SIGQUIT')) return;
      if (send) send(sig);
      else pending.push(sig);
    });
  }
  const result = await execute(command, policy, {
    cwd,
    env: process.env,
    stdio: [0, 1, 2],
    hardenSupervisor: true,
    shareProcessGroup: sharedGroup,
    humanLines: true,
    ...(note ? { note } : {}),
    onStarted: (_pid, signal) => {
      send = signal;
      for (const sig of pending.splice(0)) signal(sig);
    },
  });
  if (result.error) throw result.error;
  if (result.signal !== null && result.limit?.limit !== 'timeout') {
    for (const sig of FORWARDED) process.removeAllListeners(sig);
    native.reraise(result.status - 128);
  }
  return result.status;
}
