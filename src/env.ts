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
 * A name that marks a credential. Matching is on whole parts of the name (split at `_`), so
 * TOKENIZERS_PARALLELISM, KEYBOARD or PASSENGER_ENV stay. TOKEN counts with a word that makes
 * it an authentication token (ACCESS_TOKEN, AUTH_TOKEN, API_TOKEN ...) or a known provider's
 * name (GITHUB_TOKEN, NPM_TOKEN, HF_TOKEN ...), not alone: harnesses pass run nonces as
 * ..._TOKEN (the conformance runner's WORM_RT_TOKEN among them), and removing those would break
 * the programs they run. `--clear-env` is the strict form.
 */
const SECRET_PARTS = new Set(['SECRET', 'SECRETS', 'PASSWORD', 'PASSWORDS', 'PASSWD', 'PASSPHRASE', 'CREDENTIAL',
  'CREDENTIALS', 'APIKEY', 'PRIVATEKEY', 'COOKIE', 'COOKIES', 'BEARER', 'AUTHTOKEN', 'NPMAUTHTOKEN', 'NPMAUTHIDENT']);
const SECRET_PAIRS = [['API', 'KEY'], ['ACCESS', 'KEY'], ['SECRET', 'KEY'], ['PRIVATE', 'KEY'], ['CLIENT', 'SECRET'],
  ['ENCRYPTION', 'KEY'], ['SIGNING', 'KEY'], ['MASTER', 'KEY'], ['ACCESS', 'TOKEN'], ['AUTH', 'TOKEN'], ['API', 'TOKEN'],
  ['REFRESH', 'TOKEN'], ['ID', 'TOKEN'], ['BOT', 'TOKEN'], ['SESSION', 'TOKEN'], ['BEARER', 'TOKEN'], ['OAUTH', 'TOKEN'],
  ['SECURITY', 'TOKEN'], ['PERSONAL', 'ACCESS'], ['DEPLOY', 'KEY'], ['DEPLOY', 'TOKEN'], ['REGISTRY', 'TOKEN']];
const SECRET_PREFIXES = ['AWS_', 'AZURE_', 'ARM_CLIENT_', 'GOOGLE_APPLICATION_CREDENTIALS', 'GOOGLE_API_KEY', 'GCLOUD_', 'CLOUDSDK_AUTH',
  'GH_', 'GITHUB_TOKEN', 'GITHUB_PAT', 'GITLAB_TOKEN', 'CI_JOB_TOKEN', 'CI_REGISTRY_PASSWORD', 'NPM_TOKEN', 'NODE_AUTH_TOKEN',
  'YARN_NPM_AUTH', 'HF_TOKEN', 'HUGGING_FACE_HUB_TOKEN', 'HUGGINGFACE', 'OPENAI_', 'ANTHROPIC_', 'COHERE_', 'MISTRAL_', 'GROQ_',
  'REPLICATE_', 'KAGGLE_KEY', 'KAGGLE_USERNAME', 'WANDB_API_KEY', 'COMET_API_KEY', 'SSH_AUTH_SOCK', 'SSH_AGENT_PID', 'GPG_AGENT_INFO',
  'VAULT_', 'DOCKER_AUTH', 'DOCKER_PASSWORD', 'KUBECONFIG', 'DATABASE_URL', 'REDIS_URL', 'MONGODB_URI', 'PGPASSWORD', 'MYSQL_PWD',
  'SENTRY_DSN', 'SENTRY_AUTH', 'SLACK_', 'DISCORD_TOKEN', 'TELEGRAM_BOT', 'STRIPE_', 'TWILIO_', 'SENDGRID_', 'CLOUDFLARE_API',
  'DIGITALOCEAN_', 'HEROKU_API', 'NETLIFY_AUTH', 'VERCEL_TOKEN', 'CODECOV_TOKEN', 'CARGO_REGISTRY_TOKEN', 'PYPI_', 'TWINE_',
  'NGROK_', 'KRB5CCNAME'];
/** Never removed: the run needs them, and none holds a secret. */
const ALWAYS = new Set(['PATH', 'HOME', 'USER', 'LOGNAME', 'SHELL', 'LANG', 'TERM', 'TZ', 'TMPDIR', 'PWD',
  // Under a credential prefix but not secret, and programs fail without them (a CA bundle's path, a region).
  'AWS_CA_BUNDLE', 'AWS_REGION', 'AWS_DEFAULT_REGION']);
/**
 * npm's and yarn's settings from the environment, where TOKEN alone and a last part AUTH are
 * credentials: `npm_config_//host/:_auth`, `YARN_..._TOKEN` (`_authToken` and `_password` are
 * caught by the general parts).
 */
const PACKAGE_MANAGER_CONFIG = ['NPM_CONFIG_', 'YARN_'];

// The lists above as one test each: every variable of every run is checked once, in code that
// has not warmed up yet, where a hundred startsWith calls per name were ~0.5 ms of each start.
const startsWithOne = (prefixes: string[]): RegExp => new RegExp(`^(?:${prefixes.map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|')})`);
const SECRET_PREFIX = startsWithOne(SECRET_PREFIXES);
const PACKAGE_MANAGER_PREFIX = startsWithOne(PACKAGE_MANAGER_CONFIG);
/** Two adjacent parts, joined by a NUL (which no part holds). */
const SECRET_PAIR_KEYS = new Set(SECRET_PAIRS.map(([a, b]) => `${a}\0${b}`));

export function isSecretName(name: string): boolean {
  const up = name.toUpperCase();
  if (ALWAYS.has(up)) return false;
  if (SECRET_PREFIX.test(up)) return true;
  const parts = up.split(/[_\-./:]/).filter(Boolean);
  if (PACKAGE_MANAGER_PREFIX.test(up) && (parts.includes('TOKEN') || parts[parts.length - 1] === 'AUTH')) return true;
  if (parts.some((p) => SECRET_PARTS.has(p) || p.endsWith('PASSWORD') || p.endsWith('SECRET'))) return true;
  if (parts.length === 1 && (parts[0] === 'TOKEN' || parts[0] === 'PASS' || parts[0] === 'AUTH')) return true;
  // KEY as the last part: SSH_KEY, STRIPE_KEY, LICENSE_KEY (not KEYBOARD, not KEY_LAYOUT).
  if (parts.length > 1 && parts[parts.length - 1] === 'KEY') return true;
  for (let i = 0; i + 1 < parts.length; i++) {
    if (SECRET_PAIR_KEYS.has(`${parts[i]}\0${parts[i + 1]}`)) return true;
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
