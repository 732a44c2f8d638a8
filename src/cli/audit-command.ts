/**
 * `worm-run audit verify TRAIL [--key PUBLIC.pem] [--head FILE] [--json]` and
 * `worm-run audit keygen [DIR]`: the wiring; the checks are in src/audit/verify.ts and the keys
 * in src/audit/keys.ts, loaded when the command runs.
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { WormError, fileErrorReason } from '../errors.js';
import { act, groupCommand, wormCommand } from './program.js';

function verifyCommand(): Command {
  const cmd = wormCommand('verify', 'Check that a trail is whole: every line chained to the one before, every run ended, signatures and kept heads matching.', (c) => {
    c.summary('check a trail: the chain, the signatures, the kept heads')
      .argument('<trail>', 'the audit trail (a --audit-log file)')
      .option('--key <public.pem>', "the public key of --audit-key: every run's exit record must carry a valid signature")
      .option('--head <file>', 'heads kept from --audit-head-fd (or the API result): each must be in the trail')
      .option('--json', 'print the report as JSON');
  });
  act(cmd, async (trail: string, opts: { key?: string; head?: string; json?: boolean }) => {
    const { verifyTrail, formatReport, parseHeads } = await import('../audit/verify.js');
    let heads;
    if (opts.head !== undefined) {
      try {
        heads = parseHeads(readFileSync(opts.head, 'utf8'));
      } catch (e) {
        throw new WormError('ERR_WORM_AUDIT', `--head ${opts.head}: cannot read it: ${fileErrorReason(e)}`);
      }
    }
    const report = verifyTrail(trail, { ...(opts.key !== undefined ? { key: opts.key } : {}), ...(heads ? { heads } : {}) });
    process.stdout.write(opts.json ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report));
    return report.status;
  });
  return cmd;
}

function keygenCommand(): Command {
  const cmd = wormCommand('keygen', 'Make an Ed25519 key pair for --audit-key: worm-run-audit.key (private, 0600) and worm-run-audit.pub (public) in DIR. Existing files are never overwritten.', (c) => {
    c.summary('make a key pair for --audit-key')
      .argument('[dir]', 'where to write the pair', '.');
  });
  act(cmd, async (dir: string) => {
    const { generateKeyPair } = await import('../audit/keys.js');
    const pair = generateKeyPair(dir);
    process.stdout.write(`private key: ${pair.privatePath} (give it to --audit-key; keep it from the targets)\n` +
      `public key:  ${pair.publicPath} (give it to worm-run audit verify --key)\n` +
      `key id:      ${pair.keyId}\n`);
    return 0;
  });
  return cmd;
}

export function auditCommand(): Command {
  return groupCommand('audit', 'Check audit trails and make signing keys.', [verifyCommand(), keygenCommand()])
    .summary('check audit trails (verify) and make signing keys (keygen)');
}
