/**
 * Policy files (`--config FILE`, or WORM_RUN_CONFIG). The file is checked against the JSON
 * Schema shipped in schema/policy.schema.json by a small interpreter of the part of JSON Schema
 * that file uses, so every error names the setting: `policy.json: limits.memory: "12Q" is not a
 * size; ...`. Sizes and durations then go through the same parsers as the flags.
 *
 * worm-run never reads a policy implicitly (not from the current directory, not from the
 * target's): the code being launched must not be able to choose its own policy.
 */
import { closeSync, constants, fstatSync, openSync, readFileSync, readSync, type Stats } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { WormError, fileErrorReason } from './errors.js';
import { resolveIdentity } from './identity.js';
import { parseEnvOption } from './env.js';
import { defaultPolicy, type Policy } from './policy.js';
import { UnitError, parseCount, parseDuration, parseMemorySize, parseSize } from './units.js';

export const CONFIG_ENV = 'WORM_RUN_CONFIG';

/** The largest policy file read: a policy is a few hundred bytes of JSON. */
export const MAX_POLICY_BYTES = 1024 * 1024;

type Schema = {
  type?: string | string[];
  properties?: Record<string, Schema>;
  additionalProperties?: boolean | Schema;
  items?: Schema;
  enum?: unknown[];
  pattern?: string;
  minimum?: number;
  exclusiveMinimum?: number;
  minLength?: number;
  $ref?: string;
  $defs?: Record<string, Schema>;
};

let schemaCache: Schema | undefined;
export function policySchema(): Schema {
  schemaCache ??= JSON.parse(readFileSync(new URL('../schema/policy.schema.json', import.meta.url), 'utf8')) as Schema;
  return schemaCache;
}

function typeOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

function show(v: unknown): string {
  return JSON.stringify(v) ?? String(v);
}

const SEMANTIC: Record<string, (v: string | number) => unknown> = {
  size: parseSize,
  memorySize: parseMemorySize,
  duration: parseDuration,
  count: parseCount,
};

/** Checks value against schema; returns the first problem as "path: message", or null. */
export function validate(value: unknown, schema: Schema, root: Schema, path: string): string | null {
  const at = path || '(top level)';
  if (schema.$ref) {
    const name = schema.$ref.replace('#/$defs/', '');
    const target = root.$defs && Object.hasOwn(root.$defs, name) ? root.$defs[name] : undefined;
    if (!target) return `${at}: schema error: unknown $ref ${schema.$ref}`;
    const semantic = Object.hasOwn(SEMANTIC, name) ? SEMANTIC[name] : undefined;
    if (!semantic) return validate(value, target, root, path);
    // Sizes, durations and counts: the type from the schema, then the unit parser's own
    // message (clearer than a pattern mismatch). The parser accepts what the pattern does.
    // A memory size as a bare number is refused by type; its parser says why and what to write.
    const problem = name === 'memorySize' && typeof value === 'number'
      ? null : validate(value, { type: target.type }, root, path);
    if (problem) return problem;
    try {
      semantic(value as string | number);
    } catch (e) {
      if (e instanceof UnitError) return `${at}: ${e.message}`;
      throw e;
    }
    return null;
  }
  const t = typeOf(value);
  if (schema.type !== undefined) {
    const allowed = Array.isArray(schema.type) ? schema.type : [schema.type];
    const ok = allowed.includes(t) || (t === 'integer' && allowed.includes('number'));
    if (!ok) return `${at}: must be ${allowed.map((a) => (a === 'integer' ? 'a whole number' : /^[aeiou]/.test(a) ? `an ${a}` : `a ${a}`)).join(' or ')} (got ${show(value)})`;
  }
  if (schema.enum && !schema.enum.includes(value)) {
    return `${at}: must be one of ${schema.enum.map(show).join(', ')} (got ${show(value)})`;
  }
  if (typeof value === 'string') {
    if (schema.minLength !== undefined && value.length < schema.minLength) return `${at}: must not be empty`;
    if (schema.pattern && !new RegExp(schema.pattern).test(value)) {
      return `${at}: ${show(value)} is not allowed here (expected ${schema.pattern})`;
    }
  }
  if (typeof value === 'number') {
    if (schema.minimum !== undefined && value < schema.minimum) return `${at}: must be at least ${schema.minimum}`;
    if (schema.exclusiveMinimum !== undefined && value <= schema.exclusiveMinimum) return `${at}: must be greater than ${schema.exclusiveMinimum}`;
  }
  if (t === 'object' && schema.properties) {
    const obj = value as Record<string, unknown>;
    for (const [k, v] of Object.entries(obj)) {
      // Own properties only: a setting named `constructor` or `__proto__` is unknown, not
      // whatever Object.prototype holds under that name.
      const sub = Object.hasOwn(schema.properties, k) ? schema.properties[k] : undefined;
      const p = path ? `${path}.${k}` : k;
      if (!sub && typeof schema.additionalProperties === 'object') {
        const problem = validate(v, schema.additionalProperties, root, path ? `${path}.${k}` : k);
        if (problem) return problem;
        continue;
      }
      if (!sub) {
        if (schema.additionalProperties === false) {
          return `${p}: unknown setting (known here: ${Object.keys(schema.properties).filter((x) => x !== '$schema').join(', ')})`;
        }
        continue;
      }
      const problem = validate(v, sub, root, p);
      if (problem) return problem;
    }
  }
  if (t === 'array' && schema.items) {
    const arr = value as unknown[];
    for (let i = 0; i < arr.length; i++) {
      const problem = validate(arr[i], schema.items, root, `${path}[${i}]`);
      if (problem) return problem;
    }
  }
  return null;
}

export interface PolicyFile {
  network?: { allowUnix?: boolean };
  limits?: {
    cpu?: string | number; memory?: string | number; addressSpace?: string | number;
    timeout?: string | number; killAfter?: string | number; maxProcs?: number; maxFiles?: number;
    maxFileSize?: string | number; core?: boolean;
  };
  user?: string | number;
  group?: string | number;
  commands?: { deny?: string[]; allow?: string[] };
  guard?: { denyImports?: boolean };
  nodeOptions?: string[];
  audit?: { log?: string; key?: string; headFd?: number };
  mode?: 'supervised' | 'in-process';
  filesystem?: { mode?: 'default' | 'strict' | 'off'; write?: string[]; read?: string[]; hide?: string[]; keepTmp?: boolean };
  environment?: { mode?: 'scrub' | 'clear' | 'keep'; pass?: string[]; set?: Record<string, string> };
  namespaces?: 'auto' | 'require' | 'off';
}

function configError(label: string, message: string): WormError {
  return new WormError('ERR_WORM_CONFIG', `${label}: ${message}`);
}

/**
 * The document's own data, in objects without a prototype: what is validated is all that is
 * read afterwards (a library caller's `{ __proto__: { network: ... } }` must not slip settings
 * past the validation through inheritance), and no name resolves to Object.prototype.
 */
function ownData(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(ownData);
  if (typeof v !== 'object' || v === null) return v;
  const out: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  for (const k of Object.keys(v)) out[k] = ownData((v as Record<string, unknown>)[k]);
  return out;
}

/**
 * A policy from an already-parsed document. `label` names the source in errors; relative
 * audit paths are taken relative to `baseDir`.
 */
export function policyFromDocument(input: unknown, label: string, baseDir: string): Policy {
  const doc = ownData(input);
  const root = policySchema();
  const problem = validate(doc, root, root, '');
  if (problem) throw configError(label, problem);
  const f = doc as PolicyFile;
  const p = defaultPolicy();
  if (f.network?.allowUnix !== undefined) p.network.allowUnix = f.network.allowUnix;
  const l = f.limits ?? {};
  if (l.cpu !== undefined) p.limits.cpuMs = parseDuration(l.cpu);
  if (l.memory !== undefined) p.limits.memoryBytes = parseMemorySize(l.memory);
  if (l.addressSpace !== undefined) p.limits.addressSpaceBytes = parseMemorySize(l.addressSpace);
  if (l.timeout !== undefined) p.limits.timeoutMs = parseDuration(l.timeout);
  if (l.killAfter !== undefined) p.limits.killAfterMs = parseDuration(l.killAfter);
  if (l.maxProcs !== undefined) p.limits.maxProcs = l.maxProcs;
  if (l.maxFiles !== undefined) p.limits.maxFiles = l.maxFiles;
  if (l.maxFileSize !== undefined) p.limits.maxFileSizeBytes = parseSize(l.maxFileSize);
  if (l.core !== undefined) p.limits.core = l.core;
  if (f.group !== undefined && f.user === undefined) throw configError(label, 'group: needs user');
  if (f.user !== undefined) {
    try {
      p.identity = resolveIdentity(String(f.user), f.group === undefined ? undefined : String(f.group));
    } catch (e) {
      throw configError(label, (e as Error).message.replace(/^--(user|group)/, '$1'));
    }
  }
  p.guard.denyCommands = [...(f.commands?.deny ?? [])];
  p.guard.allowCommands = [...(f.commands?.allow ?? [])];
  if (f.guard?.denyImports !== undefined) p.guard.denyImports = f.guard.denyImports;
  p.nodeOptions = [...(f.nodeOptions ?? [])];
  if (f.audit?.log !== undefined) {
    const log = f.audit.log;
    p.audit.log = log === '-' || log.startsWith('/') ? log : resolve(baseDir, log);
  }
  if (f.audit?.key !== undefined) p.audit.key = resolve(baseDir, f.audit.key);
  if (f.audit?.headFd !== undefined) p.audit.headFd = f.audit.headFd;
  if (f.mode !== undefined) p.mode = f.mode;
  const fs = f.filesystem ?? {};
  if (fs.mode !== undefined) p.fs.mode = fs.mode;
  p.fs.write = (fs.write ?? []).map((d) => resolve(baseDir, d));
  p.fs.read = (fs.read ?? []).map((d) => resolve(baseDir, d));
  p.fs.hide = (fs.hide ?? []).map((d) => resolve(baseDir, d));
  if (fs.keepTmp !== undefined) p.fs.keepTmp = fs.keepTmp;
  const env = f.environment ?? {};
  if (env.mode !== undefined) p.env.mode = env.mode;
  try {
    for (const name of env.pass ?? []) parseEnvOption(name, p.env, 'environment.pass');
    for (const [name, value] of Object.entries(env.set ?? {})) parseEnvOption(`${name}=${value}`, p.env, 'environment.set');
  } catch (e) {
    throw configError(label, (e as Error).message);
  }
  if (f.namespaces !== undefined) p.namespaces = f.namespaces;
  return p;
}

function readError(path: string, why: string): WormError {
  return new WormError('ERR_WORM_CONFIG', `cannot read the policy file ${path}: ${why}`);
}

function kindOf(st: Stats): string {
  if (st.isFIFO()) return 'a FIFO';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSocket()) return 'a socket';
  if (st.isDirectory()) return 'a directory';
  return 'not a regular file';
}

/**
 * A policy file's text: a regular file of at most MAX_POLICY_BYTES. Opened without blocking
 * (a FIFO would wait for a writer for ever) and read no further than the bound (a file that
 * grows meanwhile, or /dev/zero, cannot make worm-run read without end).
 */
export function readPolicyText(path: string): string {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (e) {
    throw readError(path, fileErrorReason(e));
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw readError(path, `it is ${kindOf(st)}; a policy file must be a regular file`);
    if (st.size > MAX_POLICY_BYTES) throw readError(path, `it is larger than ${MAX_POLICY_BYTES / 1048576} MiB (${st.size} bytes)`);
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const chunk = Buffer.allocUnsafe(Math.min(st.size, MAX_POLICY_BYTES) + 1);
      const got = readSync(fd, chunk, 0, chunk.length, null);
      if (got === 0) break;
      chunks.push(chunk.subarray(0, got));
      total += got;
      if (total > MAX_POLICY_BYTES) throw readError(path, `it is larger than ${MAX_POLICY_BYTES / 1048576} MiB`);
    }
    return Buffer.concat(chunks, total).toString('utf8');
  } catch (e) {
    if (e instanceof WormError) throw e;
    throw readError(path, fileErrorReason(e));
  } finally {
    closeSync(fd);
  }
}

/** Reads and validates a policy file. */
export function loadPolicyFile(path: string): Policy {
  const text = readPolicyText(path);
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw configError(path, `not valid JSON: ${(e as Error).message}`);
  }
  return { ...policyFromDocument(doc, path, dirname(resolve(path))), source: resolve(path) };
}
