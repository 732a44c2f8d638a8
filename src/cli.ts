/**
 * The command line: parses argv with the commander tree (src/cli/), runs the action it names,
 * and leaves with its status. Every failure is one `worm-run: ...` line on stderr: a WormError
 * with its own exit status (125 bad input, 126 cannot execute, 127 not found), anything else an
 * internal error with its stack (a bug in worm-run, not a user mistake).
 */
import type { Command } from 'commander';
import { writeLine } from './audit.js';
import { escapeControls } from './audit/escape.js';
import { EXIT_WORM_FAILED, WormError } from './errors.js';
import { native } from './native.js';
import { CommanderError, outcome } from './cli/program.js';
import { runCommand } from './cli/run-command.js';

/**
 * The subcommands, by name: each loads the function that builds its Command (a run loads none
 * of them). To add one, write src/cli/NAME-command.ts like doctor-command.ts and add a line here.
 */
const SUBCOMMANDS: ReadonlyMap<string, () => Promise<() => Command>> = new Map([
  ['doctor', async () => (await import('./cli/doctor-command.js')).doctorCommand],
  ['export', async () => (await import('./export/command.js')).exportCommand],
  ['audit', async () => (await import('./cli/audit-command.js')).auditCommand],
]);

/**
 * The tree for this argv. A subcommand is one only as the first word (`worm-run -- doctor` runs
 * a program called doctor), so only that one is attached; the root's help lists them all, so
 * with a help option anywhere all are loaded.
 */
async function program(argv: readonly string[]): Promise<Command> {
  const all = argv.some((a) => a === '-h' || a === '--help')
    ? await Promise.all([...SUBCOMMANDS.values()].map((load) => load())) : [];
  const root = runCommand((r) => {
    for (const make of all) {
      const sub = make();
      if (!r.commands.some((c) => c.name() === sub.name())) r.addCommand(sub);
    }
  });
  const load = argv[0] === undefined ? undefined : SUBCOMMANDS.get(argv[0]);
  if (load) root.addCommand((await load())());
  return root;
}

function fail(e: unknown): number {
  if (e instanceof CommanderError) return e.exitCode; // help or version, already printed
  if (e instanceof WormError) {
    writeLine(`worm-run: ${escapeControls(e.message)}`);
    return e.exitCode;
  }
  writeLine(`worm-run: internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
  return EXIT_WORM_FAILED;
}

async function main(argv: string[]): Promise<number> {
  try {
    await (await program(argv)).parseAsync(argv, { from: 'user' });
    return outcome.status;
  } catch (e) {
    return fail(e);
  }
}

void main(process.argv.slice(2)).then((code) => (outcome.ranTarget ? native.exitNow(code) : process.exit(code)));
