/**
 * The command line: a thin layer over `execute`. It parses options into a policy, refuses to
 * run on a system that cannot enforce it, forwards signals to the target and leaves with the
 * target's status (128+N after re-raising a signal the target died of).
 */
import { opt, optionRows, parse, table, usage, wrapText, type OptionSpec } from './args.js';
import { writeLine } from './audit.js';
import { EXIT_WORM_FAILED, WormError } from './errors.js';
import { native } from './native.js';
import { CONFIG_ENV, loadPolicyFile } from './config.js';
import { checkPolicy, policyFromOptions, type CliOptions } from './options.js';
import { defaultPolicy, type Policy } from './policy.js';
import { execute } from './supervisor/execute.js';
import { policyRecord } from './supervisor/records.js';
import { VERSION } from './version.js';

const FORWARDED: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'];

const OPTIONS: OptionSpec[] = [
  opt('-V, --version', 'print the version'),
  opt('--cpu <duration>', 'CPU time per process (30, 30s, 2m); SIGXCPU, then SIGKILL'),
  opt('--memory <size>', 'heap and private writable memory per process (512M, 2G)'),
  opt('--address-space <size>', 'raw virtual address space per process (RLIMIT_AS)'),
  opt('--timeout <duration>', 'wall-clock limit for the run; exit 124 when it is reached'),
  opt('--kill-after <duration>', 'grace between SIGTERM and SIGKILL at the timeout (default 2s)'),
  opt('--max-procs <n>', "processes of the target's user (needs --user when run as root)"),
  opt('--max-files <n>', 'open files per process'),
  opt('--max-file-size <size>', 'largest file the target may write'),
  opt('--core', 'allow core dumps (off by default)'),
  opt('--user <name|uid>', 'run the target as this user (worm-run must be root)'),
  opt('--group <name|gid>', "with --user: this group instead of the user's own"),
  opt('--allow-unix', 'allow AF_UNIX sockets (every other family stays refused)'),
  opt('--fs <mode>', "filesystem: 'default' (read all but credential stores; write the working directory and a private TMPDIR), 'strict' (read only the system, the target and the working directory), 'off'"),
  opt('--write <dir>', 'also let the target write this directory (repeatable)', true),
  opt('--read <dir>', "also let the target read this directory with --fs strict; un-hides it (repeatable)", true),
  opt('--hide <path>', 'also hide this file or directory from the target (repeatable)', true),
  opt('--keep-tmp', "keep the run's private temporary directory afterwards"),
  opt('--env <name[=value]>', 'pass a variable the credential filter would remove, or set one (repeatable)', true),
  opt('--clear-env', 'start the environment from PATH, HOME, LANG, LC_*, TERM, TZ, USER, TMPDIR and --env'),
  opt('--keep-env', 'pass the whole environment, credentials included'),
  opt('--namespaces <mode>', "the run's own PID and mount namespaces: 'auto' (where the machine allows), 'require', 'off'"),
  opt('--audit-log <path>', "append JSON audit records to a file (0600), '-' for stderr, /dev/fd/N for a descriptor"),
  opt('--audit-key <file>', "sign each run's head with this Ed25519 private key (PEM, 0600)"),
  opt('--audit-head-fd <n>', "write each run's head line (its last record's hash) to descriptor n"),
  opt('--deny-imports', 'Node targets: refuse network modules at require/import, not only at use'),
  opt('--deny-command <name>', 'Node targets: also refuse this command in child_process (repeatable)', true),
  opt('--allow-command <name>', 'Node targets: lift a built-in command refusal (repeatable)', true),
  opt('--node-option <option>', 'Node targets: pass an option to Node itself, e.g. --node-option=--enable-source-maps (repeatable)', true),
  opt('--in-process', 'Node scripts: run inside this hardened process (one Node start; the trail after start is written from inside the sandbox)'),
  opt('--config <file>', `read the policy from a JSON file (or set ${CONFIG_ENV}); flags override it`),
  opt('--print-policy', 'print the effective policy and the kernel filter as JSON, then exit'),
  opt('-h, --help', 'show this help'),
];

// Made when asked for, not on every run.
const help = (): string => `Usage: worm-run [options] [--] <command> [args...]
       worm-run [options] <script.js> [args...]

${wrapText('Run a program with no network access, within CPU and memory budgets, leaving an audit trail it cannot forge.', 0)}

Arguments:
${table([['command', 'the program (a Node script or any executable) and its arguments']])}

Options:
${table(optionRows(OPTIONS))}

Other commands:
  worm-run doctor [--json]   check what this machine provides and run a live self-test
  worm-run export --format oci|docker [options]   the kernel filter as a seccomp profile

Exit status: the target's own; 128+N when a signal killed it; 124 at the --timeout;
125 worm-run failed (bad option or policy); 126 target not executable; 127 not found.
`;

const DOCTOR_OPTIONS: OptionSpec[] = [opt('--json', 'print the report as JSON'), opt('-h, --help', 'show this help')];

const doctorHelp = (): string => `Usage: worm-run doctor [options]

Check what this machine provides and run a live self-test.

Options:
${table(optionRows(DOCTOR_OPTIONS))}
`;

function fail(e: unknown): number {
  if (e instanceof WormError) {
    writeLine(`worm-run: ${e.message}`);
    return e.exitCode;
  }
  // A bug in worm-run, not a user mistake: keep the stack.
  writeLine(`worm-run: internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
  return EXIT_WORM_FAILED;
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

async function doctorCommand(argv: string[]): Promise<number> {
  let json = false;
  try {
    const parsed = parse(argv, DOCTOR_OPTIONS, 'worm-run doctor');
    if (parsed.action === 'help') {
      process.stdout.write(doctorHelp());
      return 0;
    }
    if (parsed.operands.length > 0) {
      throw usage(`doctor takes no arguments, not '${parsed.operands[0]}'`, 'worm-run doctor');
    }
    json = parsed.options.json === true;
  } catch (e) {
    return fail(e);
  }
  const { doctor, formatReport } = await import('./doctor.js');
  try {
    const report = await doctor();
    process.stdout.write(json ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report));
    return report.protected ? 0 : 1;
  } catch (e) {
    return fail(e);
  }
}

async function main(argv: string[]): Promise<number> {
  // Subcommands only in first position: `worm-run -- doctor` or `./export` runs a program.
  if (argv[0] === 'doctor') return doctorCommand(argv.slice(1));
  if (argv[0] === 'export') return (await import('./export/command.js')).exportCommand(argv.slice(1), OPTIONS);
  let opts: CliOptions;
  let command: string[];
  try {
    const parsed = parse(argv, OPTIONS, 'worm-run');
    if (parsed.action !== 'run') {
      process.stdout.write(parsed.action === 'help' ? help() : `${VERSION}\n`);
      return 0;
    }
    opts = parsed.options as CliOptions;
    command = parsed.operands;
  } catch (e) {
    return fail(e);
  }
  let policy: Policy;
  try {
    const configPath = opts.config ?? process.env[CONFIG_ENV];
    const base = configPath ? loadPolicyFile(configPath) : defaultPolicy();
    policy = policyFromOptions(opts, base);
    checkPolicy(policy);
    checkPlatform();
  } catch (e) {
    return fail(e);
  }
  if (opts.printPolicy) {
    printPolicy(policy);
    return 0;
  }
  if (command.length === 0) {
    return fail(new WormError('ERR_WORM_USAGE', 'no command given; usage: worm-run [options] [--] <command> [args...]'));
  }
  let cwd: string;
  try {
    cwd = process.cwd();
  } catch {
    return fail(new WormError('ERR_WORM_USAGE', 'the current directory no longer exists; cd to one that does'));
  }
  let note: string | undefined;
  if (policy.mode === 'in-process') {
    const { inProcessUnsafe, runInProcess } = await import('./inprocess.js');
    const unsafe = inProcessUnsafe(command);
    if (unsafe === null) {
      try {
        return await runInProcess(command, policy);
      } catch (e) {
        return fail(e);
      }
    }
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
  ranTarget = true;
  try {
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
    if (result.error) return fail(result.error);
    if (result.signal !== null && result.limit?.limit !== 'timeout') {
      for (const sig of FORWARDED) process.removeAllListeners(sig);
      native.reraise(result.status - 128);
    }
    return result.status;
  } catch (e) {
    return fail(e);
  }
}

/** A target ran: worm-run then leaves without Node's exit path, which resets the terminal's modes (the target's business by then) and aborts when the terminal refuses. */
let ranTarget = false;

void main(process.argv.slice(2)).then((code) => (ranTarget ? native.exitNow(code) : process.exit(code)));
