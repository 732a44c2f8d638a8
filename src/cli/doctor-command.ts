/** `worm-run doctor [--json]`: the wiring; the checks are in src/doctor.ts, loaded when it runs. */
import type { Command } from 'commander';
import { act, wormCommand } from './program.js';

export function doctorCommand(): Command {
  const cmd = wormCommand('doctor', 'Check what this machine provides and run a live self-test.', (c) => {
    c.summary('check what this machine provides and run a live self-test')
      .option('--json', 'print the report as JSON');
  });
  act(cmd, async (opts: { json?: boolean }) => {
    const { doctor, formatReport } = await import('../doctor.js');
    const report = await doctor();
    process.stdout.write(opts.json ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report));
    return report.protected ? 0 : 1;
  });
  return cmd;
}
