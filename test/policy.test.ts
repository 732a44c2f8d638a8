/**
 * Issue 6, part 1: policy files. Validation against the shipped JSON Schema with errors that
 * name the setting, flags overriding the file, WORM_RUN_CONFIG, and no implicit discovery.
 */
import Ajv2020 from 'ajv/dist/2020.js';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { run, type PolicyFile } from '../dist/index.js';
import { ROOT, STACK_FRAME, auditLines, tempDir, testEnv, worm } from './helpers/run.js';

const dir = tempDir('worm-run-policy-');
let n = 0;
function policyFile(doc: unknown): string {
  const p = join(dir, `policy-${n++}.json`);
  writeFileSync(p, typeof doc === 'string' ? doc : JSON.stringify(doc));
  return p;
}

interface Printed {
  policy: { network: { allowUnix: boolean }; limits: { limit: string; value: string }[]; audit: string; mode: string; guard: { denyCommands: string[] } };
  filter: { rules: { syscall: string }[] };
}
async function printed(args: string[], env?: Record<string, string>): Promise<Printed> {
  const r = await worm([...args, '--print-policy'], env ? { env: testEnv(env) } : {});
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout) as Printed;
}
const limit = (p: Printed, name: string) => p.policy.limits.find((l) => l.limit === name)?.value;

describe('policy file', () => {
  it('applies every section', async () => {
    const p = policyFile({
      network: { allowUnix: true },
      limits: { cpu: '30s', memory: '512M', timeout: 120, killAfter: '5s', maxFiles: 256, maxFileSize: '10M', core: true },
      commands: { deny: ['docker'], allow: ['ping'] },
      guard: { denyImports: true },
      audit: { log: 'trail.jsonl' },
    });
    const got = await printed(['--config', p]);
    expect(got.policy.network.allowUnix).toBe(true);
    expect(limit(got, 'cpu')).toBe('30 s');
    expect(limit(got, 'memory')).toBe('512M');
    expect(limit(got, 'timeout')).toBe('120 s');
    expect(limit(got, 'max-files')).toBe('256');
    expect(limit(got, 'core')).toBe('allowed');
    expect(got.policy.guard.denyCommands).toEqual(['docker']);
    // Relative audit paths are relative to the policy file, not to wherever worm-run runs.
    expect(got.policy.audit).toBe(join(dir, 'trail.jsonl'));
    expect(got.filter.rules.some((r) => r.syscall === 'connect')).toBe(false);
  });

  it('filesystem, environment and namespaces: applied, paths relative to the file, the file itself kept read-only', async () => {
    const work = tempDir();
    const p = policyFile({
      filesystem: { mode: 'default', write: ['out'], hide: ['secrets'] },
      environment: { mode: 'scrub', pass: ['GITHUB_TOKEN'], set: { JOB: 'grading' } },
      namespaces: 'auto',
    });
    const got = (await printed(['--config', p])) as unknown as { policy: Record<string, Record<string, unknown>> };
    expect(got.policy.filesystem).toMatchObject({ mode: 'default', write: [join(dir, 'out')], hide: [join(dir, 'secrets')] });
    expect(got.policy.environment).toMatchObject({ mode: 'scrub', pass: ['GITHUB_TOKEN'], set: ['JOB'] });
    expect(got.policy.namespaces).toBe('auto');
    // A run: the variable set, the token passed, and the policy file itself not writable even
    // though it sits in a directory the target may write (the target must not loosen the next run).
    const q = join(work, 'policy.json');
    writeFileSync(q, JSON.stringify({ environment: { pass: ['GITHUB_TOKEN'], set: { JOB: 'grading' } } }));
    const r = await worm(['--config', q, '--', 'sh', '-c', 'echo "$JOB $GITHUB_TOKEN"; echo "{}" > policy.json || echo kept; echo ok > new'],
      { cwd: work, env: testEnv({ GITHUB_TOKEN: 'passed-on-purpose' }) });
    expect(r.stdout).toBe('grading passed-on-purpose\nkept\n');
    expect(readFileSync(q, 'utf8')).toContain('grading');
    expect(readFileSync(join(work, 'new'), 'utf8')).toBe('ok\n');
    const bad = policyFile({ environment: { set: { '1BAD': 'x' } } });
    const e = await worm(['--config', bad, '--', 'true']);
    expect(e.code).toBe(125);
    expect(e.stderr).toBe(`worm-run: ${bad}: environment.set: "1BAD" is not a variable name (letters, digits and _, not starting with a digit)\n`);
  });

  it('is overridden by flags', async () => {
    const p = policyFile({ limits: { cpu: 30, memory: '1G' }, audit: { log: '-' } });
    const got = await printed(['--config', p, '--cpu', '5', '--audit-log', join(dir, 'x.jsonl')]);
    expect(limit(got, 'cpu')).toBe('5 s');
    expect(limit(got, 'memory')).toBe('1G');
    expect(got.policy.audit).toBe(join(dir, 'x.jsonl'));
  });

  it('is read from WORM_RUN_CONFIG when --config is absent, and --config wins over it', async () => {
    const a = policyFile({ limits: { cpu: 11 } });
    const b = policyFile({ limits: { cpu: 22 } });
    expect(limit(await printed([], { WORM_RUN_CONFIG: a }), 'cpu')).toBe('11 s');
    expect(limit(await printed(['--config', b], { WORM_RUN_CONFIG: a }), 'cpu')).toBe('22 s');
  });

  it('is enforced, not only printed: the limit and the audit destination hold', async () => {
    const log = join(dir, 'enforced.jsonl');
    const p = policyFile({ limits: { maxFileSize: '1K' }, audit: { log } });
    const r = await worm(['--config', p, '--', 'sh', '-c', 'cat /proc/self/limits']);
    expect(r.stdout).toMatch(/^Max file size\s+1024\s+1024\s+bytes/m);
    expect(auditLines(readFileSync(log, 'utf8')).map((l) => l.event)).toEqual(['start', 'exit']);
  });

  it('is never discovered implicitly: a policy in the working directory or beside the target is ignored', async () => {
    const cwd = tempDir('worm-run-nodiscovery-');
    for (const name of ['worm-run.json', '.worm-run.json', 'worm-run.config.json', '.wormrc']) {
      writeFileSync(join(cwd, name), JSON.stringify({ network: { allowUnix: true } }));
    }
    const got = await printed([], {});
    expect(got.policy.network.allowUnix).toBe(false);
    const r = await worm(['--', '/usr/bin/python3', '-c', 'import socket\ntry:\n  socket.socket(socket.AF_UNIX)\n  print("unix allowed")\nexcept OSError as e:\n  print("unix refused", e.errno)'], { cwd });
    expect(r.stdout).toBe('unix refused 1\n');
  });
});

describe('policy file errors: exit 125, one line naming the file and the setting', () => {
  const cases: [unknown, string][] = [
    [{ limits: { memory: '12Q' } }, 'limits.memory: "12Q" is not a size; use a number with K, M or G (e.g. 512M)'],
    [{ limits: { memory: 512 } }, 'limits.memory: "512" has no unit; write 512M for 512 MiB (or 512B if you really mean bytes)'],
    [{ limits: { addressSpace: '4096' } }, 'limits.addressSpace: "4096" has no unit; write 4096M for 4096 MiB (or 4096B if you really mean bytes)'],
    [{ limits: { cpu: 'soon' } }, 'limits.cpu: "soon" is not a duration; use seconds or a unit: 30, 30s, 500ms, 2m, 1h'],
    [{ limits: { cpuu: 1 } }, 'limits.cpuu: unknown setting (known here: cpu, memory, addressSpace, timeout, killAfter, maxProcs, maxFiles, maxFileSize, core)'],
    [{ network: { allowUnix: 'yes' } }, 'network.allowUnix: must be a boolean (got "yes")'],
    [{ limits: { maxFiles: 2.5 } }, 'limits.maxFiles: must be a whole number (got 2.5)'],
    [{ limits: { maxFiles: 0 } }, 'limits.maxFiles: "0" is not a whole number greater than zero'],
    [{ mode: 'turbo' }, 'mode: must be one of "supervised", "in-process" (got "turbo")'],
    [{ commands: { deny: ['rm -rf'] } }, 'commands.deny[0]: "rm -rf" is not allowed here (expected ^[A-Za-z0-9._+-]+$)'],
    [{ nope: true }, 'nope: unknown setting (known here: network, limits, user, group, commands, guard, nodeOptions, audit, filesystem, environment, namespaces, mode)'],
    [[1, 2], '(top level): must be an object (got [1,2])'],
    ['{"limits": ', 'not valid JSON: Unexpected end of JSON input'],
  ];
  for (const [doc, message] of cases) {
    it(message, async () => {
      const p = policyFile(doc);
      const r = await worm(['--config', p, '--', 'true']);
      expect(r.code).toBe(125);
      expect(r.stderr).toBe(`worm-run: ${p}: ${message}\n`);
      expect(r.stderr).not.toMatch(STACK_FRAME);
    });
  }

  it('a missing file', async () => {
    const r = await worm(['--config', join(dir, 'absent.json'), '--', 'true']);
    expect(r.code).toBe(125);
    expect(r.stderr).toBe(`worm-run: cannot read the policy file ${join(dir, 'absent.json')}: no such file\n`);
  });
});

describe('hostile policy files: one line, 125, nothing runs, never a hang', () => {
  const marker = join(dir, 'hostile-ran');
  const cases: [string, () => string, string][] = [
    ['a FIFO nobody writes to', () => {
      const p = join(dir, 'policy.fifo');
      execFileSync('mkfifo', [p]);
      return p;
    }, 'it is a FIFO; a policy file must be a regular file'],
    ['/dev/zero', () => '/dev/zero', 'it is a character device; a policy file must be a regular file'],
    ['a directory', () => dir, 'it is a directory; a policy file must be a regular file'],
    ['a file over 1 MiB', () => policyFile(`{"limits": {}}${' '.repeat(1024 * 1024)}`), `it is larger than 1 MiB (${1024 * 1024 + 14} bytes)`],
  ];
  for (const [name, make, why] of cases) {
    it(`${name}, by --config and by WORM_RUN_CONFIG`, async () => {
      const p = make();
      for (const how of ['flag', 'env'] as const) {
        const t0 = Date.now();
        const argv = ['--', 'sh', '-c', `touch '${marker}'`];
        const r = how === 'flag'
          ? await worm(['--config', p, ...argv], { timeoutMs: 20_000 })
          : await worm(argv, { env: testEnv({ WORM_RUN_CONFIG: p }), timeoutMs: 20_000 });
        expect(Date.now() - t0).toBeLessThan(10_000);
        expect(r).toMatchObject({ code: 125, stdout: '', stderr: `worm-run: cannot read the policy file ${p}: ${why}\n` });
      }
      expect(existsSync(marker)).toBe(false);
    });
  }
});

describe('settings named like Object.prototype members are unknown settings, at any level', () => {
  const names = ['constructor', 'toString', 'hasOwnProperty', 'valueOf', '__proto__'];
  const known = {
    top: 'network, limits, user, group, commands, guard, nodeOptions, audit, filesystem, environment, namespaces, mode',
    limits: 'cpu, memory, addressSpace, timeout, killAfter, maxProcs, maxFiles, maxFileSize, core',
    network: 'allowUnix',
  };
  for (const name of names) {
    it(name, async () => {
      // Written as JSON text: JSON.parse makes even "__proto__" an own property.
      const docs: [string, string][] = [
        [`{${JSON.stringify(name)}: {}}`, `${name}: unknown setting (known here: ${known.top})`],
        [`{"limits": {${JSON.stringify(name)}: 1}}`, `limits.${name}: unknown setting (known here: ${known.limits})`],
        [`{"network": {${JSON.stringify(name)}: true}}`, `network.${name}: unknown setting (known here: ${known.network})`],
      ];
      for (const [text, message] of docs) {
        const p = policyFile(text);
        const r = await worm(['--config', p, '--print-policy']);
        expect(r).toMatchObject({ code: 125, stdout: '', stderr: `worm-run: ${p}: ${message}\n` });
        await expect(run(['true'], { policy: JSON.parse(text) as PolicyFile })).rejects.toMatchObject({
          code: 'ERR_WORM_CONFIG', message: `options.policy: ${message}`,
        });
      }
    });
  }

  it('the library reads only what it validated: an inherited setting is not applied', async () => {
    const inherited = Object.create({ network: { allowUnix: true } }) as PolicyFile;
    const r = await run(['/usr/bin/python3', '-c', 'import socket\ntry:\n  socket.socket(socket.AF_UNIX)\n  print("unix allowed")\nexcept OSError as e:\n  print("unix refused", e.errno)'],
      { policy: inherited, env: testEnv() });
    expect(r.stdout).toBe('unix refused 1\n');
  });
});

describe('the shipped schema', () => {
  const schema = JSON.parse(readFileSync(join(ROOT, 'schema/policy.schema.json'), 'utf8')) as object;
  const ajv = new Ajv2020.default({ allErrors: true, strict: false });
  const check = ajv.compile(schema);

  it('is a valid JSON Schema (2020-12) and agrees with worm-run on good and bad documents', async () => {
    const good = [{}, { limits: { cpu: 30, memory: '2G' } }, { network: { allowUnix: true }, mode: 'in-process' }, { user: 'nobody', limits: { maxProcs: 5 } }];
    const bad = [{ limits: { memory: '12Q' } }, { limits: { memory: 512 } }, { limits: { addressSpace: '100' } }, { limits: { cpuu: 1 } }, { mode: 'x' }, { audit: { log: '' } }, { nodeOptions: ['no-dash'] }];
    for (const doc of good) {
      expect(check(doc), JSON.stringify(check.errors)).toBe(true);
      const r = await worm(['--config', policyFile(doc), '--print-policy']);
      expect(r.code, r.stderr).toBe(0);
    }
    for (const doc of bad) {
      expect(check(doc)).toBe(false);
      const r = await worm(['--config', policyFile(doc), '--print-policy']);
      expect(r.code).toBe(125);
    }
  });
});
