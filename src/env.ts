/**
 * The target's environment. By default every variable whose name marks a credential is
 * removed (the names, never the values, are reported); `--env NAME` passes one anyway,
 * `--env NAME=VALUE` sets one, `--clear-env` starts from a small base, `--keep-env` passes
 * everything as it is.
 */
import { usageError } from './errors.js';

export type EnvMode = 'scrub' | 'clear' | 'keep';

export interface EnvPolicy {
  mode: EnvMode;
  /** Names passed even when they would be removed. */
  pass: string[];
  /** Variables set for the target (applied last). */
  set: Record<string, string>;
}

export function defaultEnvPolicy(): EnvPolicy {
  return { mode: 'scrub', pass: [], set: {} };
}

/**
 * A name that marks a credential: parts of the name (split at `_`) or known names. Matching
 * is on whole parts so that e.g. TOKENIZERS_PARALLELISM or KEYBOARD stay.
 */
const SECRET_PARTS = new Set(['TOKEN', 'TOKENS', 'SECRET', 'SECRETS', 'PASSWORD', 'PASSWD', 'PASS', 'PASSPHRASE', 'CREDENTIAL',
  'CREDENTIALS', 'APIKEY', 'AUTH', 'COOKIE', 'BEARER', 'OAUTH']);
const SECRET_PAIRS = [['API', 'KEY'], ['ACCESS', 'KEY'], ['SECRET', 'KEY'], ['PRIVATE', 'KEY'], ['CLIENT', 'SECRET'], ['ENCRYPTION', 'KEY'], ['SIGNING', 'KEY'], ['MASTER', 'KEY']];
const SECRET_PREFIXES = ['AWS_', 'AZURE_', 'ARM_CLIENT', 'GOOGLE_APPLICATION_CREDENTIALS', 'GCLOUD_', 'CLOUDSDK_AUTH', 'GH_', 'GITHUB_TOKEN',
  'GITLAB_TOKEN', 'CI_JOB_TOKEN', 'NPM_TOKEN', 'NODE_AUTH_TOKEN', 'HF_TOKEN', 'HUGGING_FACE_HUB_TOKEN', 'OPENAI_', 'ANTHROPIC_',
  'KAGGLE_KEY', 'SSH_AUTH_SOCK', 'SSH_AGENT_PID', 'GPG_AGENT_INFO', 'VAULT_', 'DOCKER_AUTH', 'KUBECONFIG', 'DATABASE_URL', 'REDIS_URL', 'MONGODB_URI',
  'TWINE_PASSWORD', 'PGPASSWORD', 'MYSQL_PWD', 'SENTRY_DSN', 'SLACK_WEBHOOK', 'STRIPE_'];
/** Never removed: the run needs them, and none holds a secret. */
const ALWAYS = new Set(['PATH', 'HOME', 'USER', 'LOGNAME', 'SHELL', 'LANG', 'TERM', 'TZ', 'TMPDIR', 'PWD']);

export function isSecretName(name: string): boolean {
  const up = name.toUpperCase();
  if (ALWAYS.has(up)) return false;
  if (SECRET_PREFIXES.some((p) => up.startsWith(p))) return true;
  const parts = up.split(/[_\-.]/).filter(Boolean);
  if (parts.some((p) => SECRET_PARTS.has(p) || p.endsWith('TOKEN') || p.endsWith('PASSWORD') || p.endsWith('SECRET'))) return true;
  // KEY as the last part: SSH_KEY, STRIPE_KEY, LICENSE_KEY (not KEYBOARD, not KEY_LAYOUT).
  if (parts.length > 1 && parts[parts.length - 1] === 'KEY') return true;
  for (let i = 0; i + 1 < parts.length; i++) {
    if (SECRET_PAIRS.some(([a, b]) => parts[i] === a && parts[i + 1] === b)) return true;
  }
  return false;
}

/** What --clear-env keeps. */
const CLEAR_BASE = ['PATH', 'HOME', 'LANG', 'TERM', 'TZ', 'USER', 'LOGNAME', 'TMPDIR'];

export interface EnvResult {
  env: NodeJS.ProcessEnv;
  /** Names removed (never values). */
  removed: string[];
}

export function targetEnvironment(env: NodeJS.ProcessEnv, policy: EnvPolicy): EnvResult {
  const out: NodeJS.ProcessEnv = {};
  const removed: string[] = [];
  const pass = new Set(policy.pass);
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined) continue;
    const keep = policy.mode === 'keep' || pass.has(k) ||
      (policy.mode === 'clear' ? CLEAR_BASE.includes(k) || k.startsWith('LC_') : !isSecretName(k));
    if (keep) out[k] = v;
    else if (policy.mode === 'scrub') removed.push(k);
  }
  for (const [k, v] of Object.entries(policy.set)) out[k] = v;
  return { env: out, removed: removed.sort() };
}

/** `--env NAME` or `--env NAME=VALUE`. */
export function parseEnvOption(spec: string, policy: EnvPolicy, label = '--env'): void {
  const eq = spec.indexOf('=');
  const name = eq < 0 ? spec : spec.slice(0, eq);
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
    throw usageError(`${label}: "${name}" is not a variable name (letters, digits and _, not starting with a digit)`);
  }
  if (eq < 0) policy.pass.push(name);
  else {
    const value = spec.slice(eq + 1);
    if (value.includes('\0')) throw usageError(`${label}: the value of ${name} contains a NUL byte`);
    policy.set[name] = value;
  }
}
