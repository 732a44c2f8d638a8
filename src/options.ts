/**
 * From command-line options to a Policy. Values are validated here with messages that name the
 * option (`--memory: "12Q" is not a size; ...`), before anything is started.
 */
import { usageError } from './errors.js';
import { resolveIdentity } from './identity.js';
import { parseEnvOption } from './env.js';
import { defaultPolicy, type Policy } from './policy.js';
import { UnitError, parseCount, parseDuration, parseMemorySize, parseSize } from './units.js';

export interface CliOptions {
  cpu?: string;
  memory?: string;
  addressSpace?: string;
  timeout?: string;
  killAfter?: string;
  maxProcs?: string;
  maxFiles?: string;
  maxFileSize?: string;
  core?: boolean;
  user?: string;
  group?: string;
  allowUnix?: boolean;
  auditLog?: string;
  auditKey?: string;
  auditHeadFd?: string;
  printPolicy?: boolean;
  config?: string;
  inProcess?: boolean;
  denyImports?: boolean;
  denyCommand?: string[];
  allowCommand?: string[];
  nodeOption?: string[];
  fs?: string;
  write?: string[];
  read?: string[];
  hide?: string[];
  keepTmp?: boolean;
  env?: string[];
  clearEnv?: boolean;
  keepEnv?: boolean;
  namespaces?: string;
}

function value<T>(option: string, raw: string | undefined, parse: (s: string) => T): T | undefined {
  if (raw === undefined) return undefined;
  try {
    return parse(raw);
  } catch (e) {
    if (e instanceof UnitError) throw usageError(`${option}: ${e.message}`);
    throw e;
  }
}

export function policyFromOptions(o: CliOptions, base: Policy = defaultPolicy()): Policy {
  const p = structuredClone(base);
  const set = <K extends keyof Policy['limits']>(key: K, v: Policy['limits'][K] | undefined) => {
    if (v !== undefined) p.limits[key] = v;
  };
  set('cpuMs', value('--cpu', o.cpu, parseDuration));
  set('memoryBytes', value('--memory', o.memory, parseMemorySize));
  set('addressSpaceBytes', value('--address-space', o.addressSpace, parseMemorySize));
  set('timeoutMs', value('--timeout', o.timeout, parseDuration));
  set('killAfterMs', value('--kill-after', o.killAfter, parseDuration));
  set('maxProcs', value('--max-procs', o.maxProcs, parseCount));
  set('maxFiles', value('--max-files', o.maxFiles, parseCount));
  set('maxFileSizeBytes', value('--max-file-size', o.maxFileSize, parseSize));
  if (o.core) p.limits.core = true;
  if (o.allowUnix) p.network.allowUnix = true;
  if (o.inProcess) p.mode = 'in-process';
  if (o.auditLog !== undefined) p.audit.log = o.auditLog;
  if (o.auditKey !== undefined) p.audit.key = o.auditKey;
  if (o.auditHeadFd !== undefined) p.audit.headFd = descriptor('--audit-head-fd', o.auditHeadFd);
  if (o.denyImports) p.guard.denyImports = true;
  for (const c of o.denyCommand ?? []) p.guard.denyCommands.push(commandName('--deny-command', c));
  for (const c of o.allowCommand ?? []) p.guard.allowCommands.push(commandName('--allow-command', c));
  for (const n of o.nodeOption ?? []) p.nodeOptions.push(nodeOption(n));
  if (o.fs !== undefined) p.fs.mode = oneOf('--fs', o.fs, ['default', 'strict', 'off'] as const);
  p.fs.write.push(...(o.write ?? []));
  p.fs.read.push(...(o.read ?? []));
  p.fs.hide.push(...(o.hide ?? []));
  if (o.keepTmp) p.fs.keepTmp = true;
  if (o.clearEnv && o.keepEnv) throw usageError('--clear-env and --keep-env contradict each other; choose one');
  if (o.clearEnv) p.env.mode = 'clear';
  if (o.keepEnv) p.env.mode = 'keep';
  for (const e of o.env ?? []) parseEnvOption(e, p.env);
  if (o.namespaces !== undefined) p.namespaces = oneOf('--namespaces', o.namespaces, ['auto', 'require', 'off'] as const);
  if (o.group !== undefined && o.user === undefined) throw usageError('--group needs --user');
  if (o.user !== undefined) p.identity = resolveIdentity(o.user, o.group);
  return p;
}

function oneOf<T extends string>(option: string, v: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(v)) throw usageError(`${option}: "${v}" is not one of ${allowed.join(', ')}`);
  return v as T;
}

function descriptor(option: string, raw: string): number {
  if (!/^\d+$/.test(raw) || Number(raw) > 0x7fffffff) throw usageError(`${option}: "${raw}" is not a descriptor number (e.g. 3, with 3>head.json)`);
  return Number(raw);
}

function commandName(option: string, c: string): string {
  if (!/^[A-Za-z0-9._+-]+$/.test(c)) {
    throw usageError(`${option}: "${c}" is not a command name (a bare name such as curl, no path or spaces)`);
  }
  return c;
}

function nodeOption(n: string): string {
  if (!n.startsWith('-')) throw usageError(`--node-option: "${n}" is not a Node option (it must start with -)`);
  if (/^--inspect(?:-brk|-wait|-port)?(?:=|$)/.test(n)) {
    throw usageError(`--node-option: ${n} starts the inspector, which listens on a socket: the sandbox refuses it (debug the script outside worm-run)`);
  }
  return n;
}

/** Refusals that depend on more than one setting. */
export function checkPolicy(p: Policy): void {
  const root = process.getuid?.() === 0;
  if (p.limits.maxProcs !== undefined && root && (p.identity === undefined || p.identity.uid === 0)) {
    throw usageError('--max-procs does not hold for root (the kernel does not enforce RLIMIT_NPROC for it); ' +
      'add --user <name> to run the target as an unprivileged user');
  }
}
