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
import { execute } from '../supervisor/execute.js';
import { policyRecord } from '../supervisor/records.js';
import { VERSION } from '../version.js';
import { addPolicyOptions } from './policy-options.js';
import { act, outcome, wormCommand } from './program.js';

const FORWARDED: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'];

const USAGE_ERROR = 'no command given; usage: worm-run [options] [--] <command> [args...]';

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
        .argument('[command...]', 'the program (a Node script or any executable) and its arguments');
      addPolicyOptions(cmd);
      cmd
        .option('--in-process', 'Node scripts: run inside this hardened process (one Node start; the trail after start is written from inside the sandbox)')
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

function omitProgram<T extends { program: unknown }>(d: T): Omit<T, 'program'> {
  const { program: _program, ...rest } = d;
  return rest;
}

function printPolicy(policy: Policy): void {
  const doc = {
    policy: policyRecord(policy),
    filter: omitProgram(native.describeFilter({
      allowUnix: policy.network.allowUnix, memoryCap: policy.limits.memoryBytes !== undefined,
      pids: policy.namespaces === 'off' ? 'self' : 'namespace',
    })),
    // What worm-run's own supervisor and each run's init refuse once the target runs.
    supervisorFilter: omitProgram(native.describeFilter({ supervisor: true })),
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
    const unsafe = inProcessUnsafe(command);
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
  // The target may take the terminal's foreground, stop its output or change its modes: none of
  // that may stop worm-run, and none of it outlives the run.
  const terminal = native.guardTerminal();
  outcome.ranTarget = true;
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
  if (terminal) native.restoreTerminal();
  if (result.error) throw result.error;
  if (result.signal !== null && result.limit?.limit !== 'timeout') {
    for (const sig of FORWARDED) process.removeAllListeners(sig);
    native.reraise(result.status - 128);
  }
  return result.status;
}
