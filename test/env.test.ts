/**
 * Issue 12: the environment filter, with real processes. Credential variables are absent in the
 * target and named (never their values) in the start record and once on stderr; ordinary
 * variables, and run nonces named ..._TOKEN such as the conformance runner's WORM_RT_TOKEN, are
 * kept; --env, --clear-env and --keep-env do what they say; their misuse is one line and 125.
 * In every way a target starts (see test/helpers/fsworld.ts), with a Node target and a binary
 * one (env(1)) where the mode runs binaries.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { itWith } from './helpers/kernel.js';
import { BIN, runProgram } from './helpers/run.js';
import { envWith, makeWorld, parseProbe, probeCommand, startRecord, variants, wormAs, type Op } from './helpers/fsworld.js';

const tag = Math.random().toString(36).slice(2);
/** Credential variables, each with a value that must never show anywhere. */
const SECRETS: Record<string, string> = {
  GITHUB_TOKEN: `ghp_${tag}1`, AWS_SECRET_ACCESS_KEY: `aws${tag}2`, AWS_ACCESS_KEY_ID: `AKIA${tag}3`, SECRET_TOKEN: `st${tag}4`,
  DB_PASSWORD: `db${tag}5`, OPENAI_API_KEY: `sk-${tag}6`, SSH_AUTH_SOCK: `/tmp/ssh-${tag}7/agent`, NPM_TOKEN: `npm_${tag}8`,
  HF_TOKEN: `hf_${tag}9`, ANTHROPIC_API_KEY: `sk-ant-${tag}10`, MY_SERVICE_PASSWORD: `pw${tag}11`, STRIPE_KEY: `sk_live_${tag}12`,
  npm_config__authToken: `npmtok${tag}13`, 'npm_config_//registry.example.org/:_authToken': `npmreg${tag}14`,
  'npm_config_//registry.example.org/:_password': `npmpw${tag}15`, npm_config__auth: `npmauth${tag}16`,
};
/** Ordinary variables that must reach the target unchanged. */
const ORDINARY: Record<string, string> = {
  LANG: 'C.UTF-8', TOKENIZERS_PARALLELISM: 'false', WORM_RT_TOKEN: `nonce-${tag}`, KEYBOARD_LAYOUT: 'us', PASSENGER_ENV: 'x',
  CUDA_VISIBLE_DEVICES: '0', LC_ALL: 'C.UTF-8', MY_FLAG: 'on',
  AWS_CA_BUNDLE: '/etc/ssl/certs/ca-certificates.crt', AWS_REGION: 'eu-west-1', npm_config_auth_type: 'web',
};
const names = Object.keys(SECRETS).sort();
const envOps = (list: string[]): Op[] => list.map((name) => ({ op: 'env', path: '', name }));
const values = (r: { stdout: string }) => parseProbe(r as never).map((x) => x.value ?? null);

describe.each(variants())('environment filter: $name', (v) => {
  itWith(v.needs, 'credential variables are absent in the target, named once on stderr and in the start record; ordinary ones are kept', async () => {
    const w = makeWorld('env');
    try {
      const trail = join(w.outside, 'trail.jsonl');
      const all = [...names, ...Object.keys(ORDINARY), 'PATH', 'HOME'];
      const r = await wormAs(v, ['--audit-log', trail], probeCommand(v, envOps(all)), { cwd: w.work, env: envWith({ ...SECRETS, ...ORDINARY, HOME: w.home }) });
      expect(r.code, r.stderr).toBe(0);
      const got = values(r);
      expect(got.slice(0, names.length)).toEqual(names.map(() => null));
      expect(got.slice(names.length, names.length + Object.keys(ORDINARY).length)).toEqual(Object.values(ORDINARY));
      expect(got.at(-2)).toBe(process.env.PATH);
      expect(got.at(-1)).toBe(w.home);
      // Named once on stderr, names only (supervised and in-process alike).
      const lines = r.stderr.split('\n').filter((l) => l.startsWith('worm-run: not passed to the target (credentials): '));
      expect(lines).toEqual([`worm-run: not passed to the target (credentials): ${names.join(', ')}; pass one with --env NAME`]);
      const text = readFileSync(trail, 'utf8');
      expect(startRecord(trail).environment).toEqual({ mode: 'scrub', removed: names });
      for (const value of Object.values(SECRETS)) {
        expect(r.stdout + r.stderr).not.toContain(value);
        expect(text).not.toContain(value);
      }
    } finally {
      w.cleanup();
    }
  });

  if (v.inProcess) {
    it('in-process too: the removed names are said on stderr, and the variables set are in the start record', async () => {
      const w = makeWorld('envgap');
      try {
        const trail = join(w.outside, 'trail.jsonl');
        const r = await wormAs(v, ['--audit-log', trail, '--env', 'KEPT=1'], probeCommand(v, []), { cwd: w.work, env: envWith({ ...SECRETS, HOME: w.home }) });
        expect(startRecord(trail).environment).toMatchObject({ set: ['KEPT'] });
        expect(r.stderr).toMatch(/^worm-run: not passed to the target \(credentials\): /m);
      } finally {
        w.cleanup();
      }
    });
  }

  itWith([...v.needs, ...(v.inProcess ? [{ ok: false, reason: 'in-process runs Node scripts only' }] : [])],
    'a binary target (env(1)) sees the same environment', async () => {
      const w = makeWorld('envbin');
      try {
        const r = await wormAs(v, [], ['--', 'env'], { cwd: w.work, env: envWith({ ...SECRETS, ...ORDINARY, HOME: w.home }) });
        expect(r.code, r.stderr).toBe(0);
        const seen = Object.fromEntries(r.stdout.split('\n').filter(Boolean).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
        for (const n of names) expect(seen[n], n).toBeUndefined();
        for (const [k, val] of Object.entries(ORDINARY)) expect(seen[k], k).toBe(val);
        expect(seen.TMPDIR).toMatch(/worm-run-tmp-/);
        expect(seen.TMP).toBe(seen.TMPDIR);
        expect(seen.TEMP).toBe(seen.TMPDIR);
      } finally {
        w.cleanup();
      }
    });

  itWith(v.needs, '--env NAME passes one, --env NAME=VALUE sets one; --keep-env passes all and names none', async () => {
    const w = makeWorld('envflags');
    try {
      const env = envWith({ ...SECRETS, HOME: w.home });
      const r = await wormAs(v, ['--env', 'GITHUB_TOKEN', '--env', 'DB_PASSWORD=override', '--env', 'NEW_ONE=a=b c'],
        probeCommand(v, envOps(['GITHUB_TOKEN', 'DB_PASSWORD', 'NEW_ONE', 'OPENAI_API_KEY'])), { cwd: w.work, env });
      expect(values(r)).toEqual([SECRETS.GITHUB_TOKEN, 'override', 'a=b c', null]);
      if (!v.inProcess) expect(r.stderr).toMatch(/^worm-run: not passed to the target \(credentials\): .*OPENAI_API_KEY/m);
      expect(r.stderr).not.toMatch(/credentials\): .*GITHUB_TOKEN/);
      const k = await wormAs(v, ['--keep-env'], probeCommand(v, envOps(names)), { cwd: w.work, env });
      expect(values(k)).toEqual(names.map((n) => SECRETS[n]));
      expect(k.stderr).not.toContain('not passed to the target');
    } finally {
      w.cleanup();
    }
  });

  itWith(v.needs, '--clear-env starts from PATH, HOME, LANG, LC_*, TERM, TZ, USER, TMPDIR and the --env ones', async () => {
    const w = makeWorld('envclear');
    try {
      const trail = join(w.outside, 'trail.jsonl');
      const env = envWith({ ...SECRETS, ...ORDINARY, HOME: w.home, TERM: 'xterm', TZ: 'UTC', USER: 'someone', LC_TIME: 'C' });
      const list = ['PATH', 'HOME', 'LANG', 'LC_ALL', 'LC_TIME', 'TERM', 'TZ', 'USER', 'TOKENIZERS_PARALLELISM', 'WORM_RT_TOKEN', 'MY_FLAG', 'GITHUB_TOKEN', 'KEPT'];
      const r = await wormAs(v, ['--clear-env', '--env', 'WORM_RT_TOKEN', '--env', 'KEPT=1', '--audit-log', trail], probeCommand(v, envOps(list)), { cwd: w.work, env });
      expect(values(r)).toEqual([process.env.PATH, w.home, 'C.UTF-8', 'C.UTF-8', 'C', 'xterm', 'UTC', 'someone', null, ORDINARY.WORM_RT_TOKEN, null, null, '1']);
      expect(startRecord(trail).environment).toMatchObject(v.inProcess ? { mode: 'clear' } : { mode: 'clear', set: ['KEPT'] });
      const tmp = await wormAs(v, ['--clear-env'], probeCommand(v, envOps(['TMPDIR'])), { cwd: w.work, env });
      expect(values(tmp)[0]).toMatch(/worm-run-tmp-/);
    } finally {
      w.cleanup();
    }
  });
});

describe('environment options refused', () => {
  const cases: [string[], RegExp][] = [
    [['--env', '1BAD'], /^worm-run: --env: "1BAD" is not a variable name \(letters, digits and _, not starting with a digit\)\n$/],
    [['--env', 'A-B=1'], /^worm-run: --env: "A-B" is not a variable name/],
    [['--env', '=x'], /^worm-run: --env: "" is not a variable name/],
    [['--env', ''], /^worm-run: --env: "" is not a variable name/],
    [['--env', 'A B'], /^worm-run: --env: "A B" is not a variable name/],
    [['--clear-env', '--keep-env'], /^worm-run: --clear-env and --keep-env contradict each other; choose one\n$/],
  ];
  for (const [args, re] of cases) {
    it.concurrent(`${JSON.stringify(args)}: one line, 125, nothing started`, async () => {
      const w = makeWorld('envbad');
      try {
        const r = await runProgram(process.execPath, [BIN, ...args, '--', 'sh', '-c', `touch ${w.work}/started`], { cwd: w.work });
        expect(r.code).toBe(125);
        expect(r.stderr).toMatch(re);
        expect(r.stderr.split('\n').filter(Boolean)).toHaveLength(1);
        expect(r.stdout).toBe('');
      } finally {
        w.cleanup();
      }
    });
  }

  // A NUL byte cannot reach worm-run through argv (the kernel ends each argument at the first
  // NUL) and the policy file has no environment section yet: the check in parseEnvOption has no
  // way in from the command line. What the shell does with one:
  it.concurrent('a NUL byte in --env cannot be passed through argv at all', async () => {
    await expect(runProgram(process.execPath, [BIN, '--env', 'A=b\0c', '--', 'true'])).rejects.toThrow(/null bytes/);
  });
});

describe('the environment of processes outside the target', () => {
  const v = variants();
  const inProcess = v.find((x) => x.inProcess && x.launcher === 'root');
  const nsRoot = v.find((x) => x.mountNamespace && x.target === 'root');
  const offRoot = v.find((x) => !x.mountNamespace && !x.inProcess && x.target === 'root');
  const nsNobody = v.find((x) => x.mountNamespace && x.target === 'nobody' && x.launcher === 'root');
  const secret = `leak${tag}`;
  const readInit = (x: NonNullable<typeof nsRoot>) => {
    const w = makeWorld('environ');
    // The run's init (the target's parent) is a copy of worm-run, whose environment still holds
    // every variable the filter removed.
    const script = join(w.work, 'environ.cjs');
    writeFileSync(script, "const fs=require('fs');let s='';try{s=fs.readFileSync('/proc/'+process.ppid+'/environ','utf8')}catch(e){s=e.code}process.stdout.write(s.includes(process.argv[2])?'LEAKED\\n':'kept: '+s.slice(0,20)+'\\n')");
    return wormAs(x, [], [script, secret], { cwd: w.work, env: envWith({ SECRET_TOKEN: secret, HOME: w.home }) }).finally(() => w.cleanup());
  };

  if (nsNobody) {
    itWith(nsNobody.needs, '--user nobody: the target cannot read the environment of the run\'s init (its parent)', async () => {
      const r = await readInit(nsNobody);
      expect(r.stdout).toBe('kept: EACCES\n');
    });
  }
  // Once a way through: a root target read /proc/<init>/environ (its parent, a copy of worm-run
  // made by clone) and, without a PID namespace, worm-run's own; the kernel lets CAP_SYS_ADMIN /
  // CAP_PERFMON past Landlock there. Init now zeroes its copy, and a root target runs without
  // those capabilities.
  if (nsRoot) {
    it('a root target cannot read the removed credentials from its init\'s environment (own namespaces)', async () => {
      const r = await readInit(nsRoot);
      expect(r.stdout).not.toBe('LEAKED\n');
    });
  }
  if (offRoot) {
    it('a root target cannot read the removed credentials from its init\'s environment (--namespaces off)', async () => {
      const r = await readInit(offRoot);
      expect(r.stdout).not.toBe('LEAKED\n');
    });
  }
  // Once a way through: in-process, the script runs in worm-run's own process, whose
  // /proc/self/environ is the environment it was started with; the removed variables are now
  // zeroed there.
  if (inProcess) {
    it('in-process: /proc/self/environ no longer holds the removed credentials', async () => {
      const w = makeWorld('selfenviron');
      try {
        const script = join(w.work, 'self.cjs');
        writeFileSync(script, "process.stdout.write(require('fs').readFileSync('/proc/self/environ','utf8').includes(process.argv[2])?'LEAKED\\n':'kept\\n')");
        const r = await wormAs(inProcess, [], [script, secret], { cwd: w.work, env: envWith({ SECRET_TOKEN: secret, HOME: w.home }) });
        expect(r.stdout).toBe('kept\n');
      } finally {
        w.cleanup();
      }
    });
  }
});
