/**
 * The command line's grammar, in commander: the root command (options, then the program to run)
 * and the subcommands. Help is generated from these definitions; every mistake commander finds
 * becomes one WormError (`ERR_WORM_USAGE`, exit 125) whose message the CLI prints as one
 * `worm-run: ...` line.
 *
 * The same grammar reads a shebang line: `#!/usr/bin/env -S worm-run --cpu 5` hands the kernel's
 * argv (`--cpu 5 /path/script args...`) to the same parser as a typed command line.
 *
 * Two rules commander does not give on its own:
 * - A subcommand is one only as the very first word. `worm-run -- doctor` and
 *   `worm-run --cpu 5 doctor` run a program called doctor. Commander dispatches on the first
 *   operand wherever it stands, so a subcommand is attached to the root only when argv[0] names
 *   it (and all of them for the help text): see `program()` in src/cli.ts.
 * - `-h, --help` is an ordinary option of each command, acted on when commander reads it (as
 *   it does --version). Commander's built-in help also scans the words it left unparsed, so
 *   `worm-run --bogus -- tool -h` would print help and exit 0 instead of failing.
 *
 * Adding a subcommand: write `src/cli/NAME-command.ts` exporting a function that returns its
 * Command, made with wormCommand() and act() (see doctor-command.ts), and add it to SUBCOMMANDS
 * in src/cli.ts. A command that only groups others (`audit verify`, `audit keygen`) is
 * groupCommand('audit', description, [verifyCommand(), keygenCommand()]).
 */
import { Command, CommanderError, Option } from 'commander';
import { WormError } from '../errors.js';

/** A usage mistake, with where to look (`see worm-run doctor --help`). */
export function usage(message: string, helpCommand: string): WormError {
  return new WormError('ERR_WORM_USAGE', `${message} (see ${helpCommand} --help)`);
}

/** The command's full name, as typed: `worm-run`, `worm-run doctor`, `worm-run audit verify`. */
export function commandPath(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

/** Commander's message, made into one line: "error: " dropped, its suggestion on the same line. */
function oneLine(message: string): string {
  return message
    .replace(/^error: /, '')
    .replace(/\n\(Did you mean (one of )?(.+)\?\)$/, (_, oneOf: string | undefined, what: string) => `; did you mean ${oneOf ?? ''}${what}?`)
    .replace(/\n/g, ' ');
}

/** The WormError for a mistake commander found in `cmd`'s part of the command line. */
function translate(err: CommanderError, cmd: Command): WormError {
  const help = commandPath(cmd);
  if (err.code === 'commander.unknownOption') {
    // `--core=yes`: commander reads a switch given a value as an unknown option.
    const word = /'([^']*)'/.exec(err.message)?.[1] ?? '';
    const eq = word.startsWith('--') ? word.indexOf('=') : -1;
    const known = eq > 0 ? cmd.options.find((o) => o.long === word.slice(0, eq)) : undefined;
    if (known && !known.required && !known.optional) {
      return usage(`option '${known.long}' does not take a value`, help);
    }
  }
  if (err.code === 'commander.excessArguments' && cmd.registeredArguments.length === 0) {
    return usage(`${cmd.name()} takes no arguments, not '${cmd.args[0] ?? ''}'`, help);
  }
  return usage(oneLine(err.message), help);
}

/**
 * A Command as worm-run's commands all are: errors thrown (not printed, not process.exit), help
 * and version on stdout, and a plain `-h, --help` option after the ones `define` adds (see the
 * note at the top); beforeHelp runs before the help text is made.
 */
export function wormCommand(name: string, description: string, define: (cmd: Command) => void, beforeHelp?: () => void): Command {
  const cmd = new Command(name);
  cmd
    .description(description)
    .helpOption(false)
    .configureOutput({
      writeOut: (s) => process.stdout.write(s),
      writeErr: (s) => process.stderr.write(s),
      outputError: () => {},
    })
    .exitOverride((err) => {
      // Help and version were printed: leave with their status (0).
      if (err.exitCode === 0) throw err;
      throw translate(err, cmd);
    });
  define(cmd);
  cmd.addOption(new Option('-h, --help', 'show this help'));
  cmd.on('option:help', () => {
    beforeHelp?.();
    process.stdout.write(cmd.helpInformation());
    throw new CommanderError(0, 'commander.helpDisplayed', '(outputHelp)');
  });
  return cmd;
}

/**
 * A command that only groups subcommands (`worm-run audit verify ...`): without one, or with
 * an unknown one, it says which there are, in one line.
 */
export function groupCommand(name: string, description: string, children: readonly Command[]): Command {
  const cmd = wormCommand(name, description, (c) => {
    for (const child of children) c.addCommand(child);
    // Its own options before the subcommand: `audit verify -h` is verify's help, not audit's.
    c.enablePositionalOptions().allowExcessArguments(true);
  });
  act(cmd, () => {
    const names = children.map((c) => c.name()).join(', ');
    const first = cmd.args[0];
    throw usage(first === undefined ? `${name} needs a command: ${names}` : `${name}: unknown command '${first}' (the commands are ${names})`, commandPath(cmd));
  });
  return cmd;
}

/**
 * The status the process leaves with, set by the action that ran; ranTarget: a target ran, so
 * worm-run leaves without Node's exit path, which resets the terminal's modes (the target's
 * business by then) and aborts when the terminal refuses.
 */
export const outcome = { status: 0, ranTarget: false };

/** cmd's action: fn's result becomes the exit status. */
export function act<A extends unknown[]>(cmd: Command, fn: (...args: A) => Promise<number> | number): void {
  cmd.action(async (...args: unknown[]) => {
    outcome.status = await fn(...(args as A));
  });
}

export { CommanderError };
