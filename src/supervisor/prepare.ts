/**
 * Everything decided before the run starts: the program and its arguments, the environment
 * (credentials removed, the guard's preload, the private TMPDIR), the limits, and the
 * filesystem rules, turned into the spec the native side starts the run from.
 */
import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import { targetEnvironment } from '../env.js';
import { planFilesystem, type FsPlan } from '../fs/plan.js';
import { tmpEnv, type PrivateTmp } from '../fs/tmp.js';
import { GUARD_ENV, type GuardConfig } from '../guard/protocol.cjs';
import { rlimitsFor } from '../limits.js';
import type { RunSpec } from '../native.js';
import { GUARD_PRELOAD, INSTALL_CODE } from '../paths.js';
import type { Policy } from '../policy.js';
import type { Target } from '../target.js';

/** How much of the memory cap V8's old space may use: the rest is code, stacks and buffers. */
const HEAP_SHARE = 0.75;

/**
 * Options for every Node process of the run, through NODE_OPTIONS: a V8 heap that fits the
 * per-process memory cap, so running out is Node's clear heap-out-of-memory error.
 */
export function nodeEnvOptions(policy: Policy): string[] {
  const mem = policy.limits.memoryBytes;
  if (mem === undefined || policy.nodeOptions.some((o) => o.startsWith('--max-old-space-size'))) return [];
  return [`--max-old-space-size=${Math.max(16, Math.floor((mem * HEAP_SHARE) / 1048576))}`];
}

function quoteNodeOption(s: string): string {
  return /[\s"\\]/.test(s) ? `"${s.replace(/(["\\])/g, '\\$1')}"` : s;
}

/** The environment that makes every Node process of the run load the guard and find the channel. */
export function guardEnv(env: NodeJS.ProcessEnv, policy: Policy, fd: number | null, ino: number | null): NodeJS.ProcessEnv {
  const config: GuardConfig = {
    v: 1, fd, ino,
    denyImports: policy.guard.denyImports,
    denyCommands: policy.guard.denyCommands,
    allowCommands: policy.guard.allowCommands,
    allowUnix: policy.network.allowUnix,
  };
  const ours = [`--require ${quoteNodeOption(GUARD_PRELOAD)}`, ...nodeEnvOptions(policy)].join(' ');
  return {
    ...env,
    [GUARD_ENV]: JSON.stringify(config),
    NODE_OPTIONS: env.NODE_OPTIONS ? `${ours} ${env.NODE_OPTIONS}` : ours,
  };
}

export function targetCommand(target: Target, policy: Policy): { file: string; argv: string[] } {
  if (target.kind === 'node') {
    return { file: process.execPath, argv: [process.execPath, ...policy.nodeOptions, target.path, ...target.args] };
  }
  return { file: target.path, argv: [target.command, ...target.args] };
}

function envArray(env: NodeJS.ProcessEnv): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries(env)) if (v !== undefined) out.push(`${k}=${v}`);
  return out;
}

export interface Prepared {
  /** The spec for a run with or without its own namespaces. */
  spec(namespaces: boolean): { spec: RunSpec; fs: FsPlan };
  /** Credential variables removed from the environment (names only). */
  removedEnv: string[];
}

export interface PrepareInput {
  target: Target;
  policy: Policy;
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** Parent descriptors for the target's 0, 1, 2 and the guard channel (3). */
  fds: number[];
  channel: { fd: number; ino: number };
  tmp: PrivateTmp | null;
  newProcessGroup: boolean;
  /** Files of worm-run's own the target must not change (the trail, the policy file). */
  protect: string[];
  /** The filesystem policy for this run (the policy's, with the signing key hidden too). */
  fs: Policy['fs'];
  hidden: string[];
  /** The accounts' home directories, looked up once for the run. */
  homes: string[];
}

export function prepare(i: PrepareInput): Prepared {
  const { target, policy } = i;
  const { file, argv } = targetCommand(target, policy);
  const scrubbed = targetEnvironment(i.env, policy.env);
  const env = guardEnv({ ...scrubbed.env, ...(i.tmp ? tmpEnv(i.tmp.path, policy.env.set) : {}) }, policy, i.channel.fd, i.channel.ino);
  const limits = rlimitsFor(policy.limits);
  const protect = [...i.protect, ...INSTALL_CODE.filter((p) => existsSync(p)), process.execPath];
  const needed = [target.path, process.execPath, dirname(dirname(process.execPath))];
  const root = process.getuid?.() === 0;
  return {
    removedEnv: scrubbed.removed,
    spec(namespaces: boolean) {
      const fs = planFilesystem(i.fs, { cwd: i.cwd, tmp: i.tmp?.path ?? null, mountNamespace: namespaces, protect, needed, hidden: i.hidden }, i.homes);
      const spec: RunSpec = {
        file, argv, env: envArray(env), cwd: i.cwd,
        fds: i.fds,
        limits,
        newProcessGroup: i.newProcessGroup,
        filter: { allowUnix: policy.network.allowUnix, notify: true, memoryCap: policy.limits.memoryBytes !== undefined },
        namespaces,
        userNamespace: namespaces && !root,
        mounts: fs.mounts,
        landlock: fs.landlock,
        shFallback: target.shFallback,
        ...(policy.identity ? { uid: policy.identity.uid, gid: policy.identity.gid, groups: [] } : {}),
      };
      return { spec, fs };
    },
  };
}
