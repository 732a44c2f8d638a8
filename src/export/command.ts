/**
 * `worm-run export --format oci|docker [policy options]`: prints the kernel filter of a run
 * under those options as a seccomp profile on stdout, and on stderr what the profile does not
 * carry. The policy options are the run's own (src/cli/policy-options.ts), so the same command
 * line gives the same filter; only --allow-unix, --memory and --namespaces (and the policy
 * file's equivalents) change it.
 */
import { Option, type Command } from 'commander';
import { writeLine } from '../audit.js';
import { act, usage, wormCommand } from '../cli/program.js';
import { addPolicyOptions } from '../cli/policy-options.js';
import { CONFIG_ENV, loadPolicyFile } from '../config.js';
import { policyFromOptions, type CliOptions } from '../options.js';
import { defaultPolicy } from '../policy.js';
import { PROFILE_FORMATS, exportProfile, type ProfileFormat } from './profile.js';

/** The run options that change the filter (the help lists these; the rest are accepted). */
const SHAPING = new Set<keyof CliOptions>(['allowUnix', 'memory', 'namespaces', 'config']);

const ABOUT = 'Print the kernel filter worm-run would install for these options as a seccomp profile for ' +
  'container runtimes (runc, crun, Docker, containerd, CRI-O). It is the kernel layer only: no guard, no audit ' +
  'trail, no limits, no Landlock, no namespaces of its own, and refusals are plain errno answers, never ' +
  'recorded. Every option of a run is accepted, so the same command line can be reused; only those listed ' +
  'change the filter.';

const AFTER = `
With --namespaces auto or require (the default), pid-addressed calls (prlimit, setpriority,
sched_*, ioprio_set ...) may not name pid 1, as in a run with its own PID namespace (a pod has
one); with --namespaces off they may name only the caller. Refused calls keep worm-run's errno
(EPERM; ENOSYS for io_uring_setup and clone3, so programs fall back). Export on the
architecture of the nodes that will use the profile.`;

/** The status of a program whose reader went away (128 + SIGPIPE), as `cmd | head` shows it. */
const EXIT_PIPE = 141;

/** Writes all of it before the caller exits (process.exit drops what a pipe has not taken yet). */
function writeOut(text: string): Promise<void> {
  return new Promise((resolve, reject) => {
    // The stream also emits the failure as an event, after the callback: kept as a rejection.
    process.stdout.on('error', reject);
    process.stdout.write(text, (e) => (e ? reject(e) : resolve()));
  });
}

export function exportCommand(): Command {
  const cmd = wormCommand('export', ABOUT, (c) => {
    c.summary('print the kernel filter as a seccomp profile for container runtimes')
      .usage('--format oci|docker [policy options]')
      .addOption(new Option('--format <format>', "'oci' (the linux.seccomp object of an OCI config.json) or 'docker' (a Docker/Kubernetes seccomp profile file)"));
    addPolicyOptions(c, (key) => SHAPING.has(key));
    c.addHelpText('after', AFTER);
  });
  act(cmd, async (opts: CliOptions & { format?: string }) => {
    const format = opts.format;
    if (format === undefined) throw usage('--format is required: oci or docker', 'worm-run export');
    if (!(PROFILE_FORMATS as readonly string[]).includes(format)) {
      throw usage(`--format: "${format}" is not one of ${PROFILE_FORMATS.join(', ')}`, 'worm-run export');
    }
    const configPath = opts.config ?? process.env[CONFIG_ENV];
    const policy = policyFromOptions(opts, configPath ? loadPolicyFile(configPath) : defaultPolicy());
    const { profile, notice } = exportProfile(policy, format as ProfileFormat);
    try {
      await writeOut(`${JSON.stringify(profile, null, 2)}\n`);
    } catch (e) {
      // The reader closed the pipe (`| head`): nothing to say, as a tool killed by SIGPIPE.
      if ((e as NodeJS.ErrnoException).code === 'EPIPE') return EXIT_PIPE;
      throw e;
    }
    for (const line of notice) writeLine(`worm-run: ${line}`);
    return 0;
  });
  return cmd;
}
