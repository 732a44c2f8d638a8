/**
 * The commander tree's building blocks (src/cli/program.ts), as a subcommand with its own
 * subcommands will use them (`worm-run audit verify ...`): a group command, a leaf with options
 * and an argument, and every mistake as one WormError naming where to look.
 */
import type { Command } from 'commander';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { CommanderError, act, groupCommand, outcome, wormCommand } from '../dist/cli/program.js';

const calls: unknown[] = [];

function tree(): Command {
  const verify = wormCommand('verify', 'Check a trail.', (c) => {
    c.argument('<trail>', 'the trail').option('--key <file>', 'the public key');
  });
  act(verify, (trail: string, opts: { key?: string }) => {
    calls.push(['verify', trail, opts.key]);
    return 3;
  });
  const keygen = wormCommand('keygen', 'Make a key pair.', () => {});
  act(keygen, () => {
    calls.push(['keygen']);
    return 0;
  });
  const root = wormCommand('worm-run', 'root', (c) => c.enablePositionalOptions());
  root.addCommand(groupCommand('audit', 'Audit trails.', [verify, keygen]));
  return root;
}

async function parse(argv: string[]): Promise<{ status?: number; error?: { code?: string; message: string } }> {
  try {
    await tree().parseAsync(argv, { from: 'user' });
    return { status: outcome.status };
  } catch (e) {
    // Help and version end the parse with commander's own error, exit code 0 (src/cli.ts).
    if (e instanceof CommanderError && e.exitCode === 0) return { status: 0 };
    return { error: e as { code?: string; message: string } };
  }
}

afterEach(() => {
  calls.length = 0;
  vi.restoreAllMocks();
});

describe('a group command and its subcommands', () => {
  it('dispatches with options and arguments, and the action\'s result is the status', async () => {
    expect(await parse(['audit', 'verify', 'trail.jsonl', '--key=k.pem'])).toEqual({ status: 3 });
    expect(calls).toEqual([['verify', 'trail.jsonl', 'k.pem']]);
  });

  it('without a subcommand, or with an unknown one: one line naming the commands', async () => {
    expect((await parse(['audit'])).error).toMatchObject({
      code: 'ERR_WORM_USAGE', message: 'audit needs a command: verify, keygen (see worm-run audit --help)',
    });
    expect((await parse(['audit', 'frob'])).error).toMatchObject({
      code: 'ERR_WORM_USAGE', message: "audit: unknown command 'frob' (the commands are verify, keygen) (see worm-run audit --help)",
    });
    expect(calls).toEqual([]);
  });

  it('mistakes in a subcommand name it in the pointer to its help', async () => {
    expect((await parse(['audit', 'verify', 't', '--kee', 'x'])).error).toMatchObject({
      code: 'ERR_WORM_USAGE', message: "unknown option '--kee'; did you mean --key? (see worm-run audit verify --help)",
    });
    expect((await parse(['audit', 'verify'])).error).toMatchObject({
      code: 'ERR_WORM_USAGE', message: "missing required argument 'trail' (see worm-run audit verify --help)",
    });
    expect((await parse(['audit', 'keygen', 'extra'])).error).toMatchObject({
      code: 'ERR_WORM_USAGE', message: "keygen takes no arguments, not 'extra' (see worm-run audit keygen --help)",
    });
  });

  it('--help of the group lists its commands; of a leaf, its usage', async () => {
    const out: string[] = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => {
      out.push(String(s));
      return true;
    });
    expect(await parse(['audit', '--help'])).toEqual({ status: 0 });
    expect(out.join('')).toMatch(/^Usage: worm-run audit \[options\] \[command\]\n[\s\S]*Commands:\n {2}verify \[options\] <trail> +Check a trail\.\n {2}keygen \[options\] +Make a key pair\.\n/);
    out.length = 0;
    expect(await parse(['audit', 'verify', '-h'])).toEqual({ status: 0 });
    expect(out.join('')).toMatch(/^Usage: worm-run audit verify \[options\] <trail>\n/);
    expect(calls).toEqual([]);
  });
});
