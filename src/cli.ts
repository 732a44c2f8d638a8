/**
 * The command line: parses argv with the commander tree (src/cli/), runs the action it names,
 * and leaves with its status. Every failure is one `worm-run: ...` line on stderr: a WormError
 * with its own exit status (125 bad input, 126 cannot execute, 127 not found), anything else an
 * internal error with its stack (a bug in worm-run, not a user mistake).
 */
import type { Command } from 'commander';
import { writeLine } from './audit.js';
import { EXIT_WORM_FAILED, WormError } from './errors.js';
import { native } from './native.js';
import { auditCommand } from './cli/audit-command.js';
import { doctorCommand } from './cli/doctor-command.js';
import { CommanderError, outcome } from './cli/program.js';
import { runCommand } from './cli/run-command.js';
import { exportCommand } from './export/command.js';

/**
 * The subcommands, by name: each a function that builds its Command. To add one, write
 * src/cli/NAME-command.ts like doctor-command.ts and add a line here.
 */
const SUBCOMMANDS: ReadonlyMap<string, () => Command> = new Map([
  ['doctor', doctorCommand],
  ['export', exportCommand],
  ['audit', auditCommand],
]);

/**
 * The tree for this argv. A subcommand is one only as the first word (`worm-run -- doctor` runs
 * a program called doctor), so only that one is attached; the help text attaches them all.
 */
function program(argv: readonly string[]): Command {
  const root = runCommand((r) => {
    for (const [name, make] of SUBCOMMANDS) if (!r.commands.some((c) => c.name() === name)) r.addCommand(make());
  });
  const make = argv[0] === undefined ? undefined : SUBCOMMANDS.get(argv[0]);
  if (make) root.addCommand(make());
  return root;
}

function fail(e: unknown): number {
  if (e instanceof CommanderError) return e.exitCode; // help or version, already printed
  if (e instanceof WormError) {
    writeLine(`worm-run: ${e.message}`);
    return e.exitCode;
  }
  writeLine(`worm-run: internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
  return EXIT_WORM_FAILED;
}

async function main(argv: string[]): Promise<number> {
  try {
    await program(argv).parseAsync(argv, { from: 'user' });
    return outcome.status;
  } catch (e) {
    return fail(e);
  }
}

void main(process.argv.slice(2)).then((code) => (outcome.ranTarget ? native.exitNow(code) : process.exit(code)));
