/**
 * The subprocess filter's analysis, as pure functions: shell parsing, wrappers, the table,
 * rsync's remote forms, URLs, and name resolution through symlinks and PATH.
 */
import { mkdtempSync, rmSync, symlinkSync, writeFileSync, chmodSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type * as Commands from '../../src/guard/commands.cjs';
import type * as Protocol from '../../src/guard/protocol.cjs';
import type * as Config from '../../src/guard/config.cjs';

// The built files (what every run loads); `npx tsc -p .` first.
const load = createRequire(import.meta.url);
const {
  NETWORK_TOOLS, analyzeArgv, analyzeShellString, fileNames, findUrl, makePolicy, parseShell, rsyncIsRemote, splitWords,
} = load('../../dist/guard/commands.cjs') as typeof Commands;
const { GUARD_ENV } = load('../../dist/guard/protocol.cjs') as typeof Protocol;
const { GUARD_ENV_NAME } = load('../../dist/guard/config.cjs') as typeof Config;

const policy = makePolicy();
/** Names as written: no file system. */
const byName = (w: string) => [w.split('/').pop()!];
const blockedBy = (script: string, p = policy) => analyzeShellString(script, p, byName).blocked?.command ?? null;
const argvBlockedBy = (argv: string[], p = policy) => analyzeArgv(argv, p, byName).blocked?.command ?? null;

describe('parseShell', () => {
  const cmds = (s: string) => parseShell(s).commands.map((c) => c[0]);
  it('finds every command word of a list', () => {
    expect(cmds('ls -l; curl x && wget y || nc h 1 & ping z')).toEqual(['ls', 'curl', 'wget', 'nc', 'ping']);
    expect(cmds('a | b |& c\nd')).toEqual(['a', 'b', 'c', 'd']);
  });
  it('skips assignments, redirections and reserved words', () => {
    expect(parseShell('A=1 B="x y" curl -o out >log 2>&1 x').commands).toEqual([['curl', '-o', 'out', 'x']]);
    expect(cmds('if true; then curl x; elif a; then b; else c; fi')).toEqual(['true', 'curl', 'a', 'b', 'c']);
    expect(cmds('while read l; do wget $l; done < list')).toEqual(['read', 'wget']);
    expect(cmds('{ curl x; }; ( wget y )')).toEqual(['curl', 'wget']);
    expect(cmds('for u in curl wget; do echo $u; done')).toEqual(['echo']);
    expect(cmds('! curl x')).toEqual(['curl']);
    expect(cmds('f() { curl x; }; f')).toEqual(['curl', 'f']);
    expect(cmds('[[ -n $x ]] && curl y')).toEqual(['curl']);
  });
  it('removes quotes and escapes', () => {
    expect(parseShell(`"cu"'rl' c\\url $'\\x63url' "a b"`).commands).toEqual([['curl', 'curl', 'curl', 'a b']]);
    expect(cmds('# curl x\necho hi # curl y')).toEqual(['echo']);
    expect(cmds('echo "; curl x"')).toEqual(['echo']);
    expect(cmds("echo '$(curl x)'")).toEqual(['echo']);
    expect(parseShell("echo '$(curl x)'").substitutions).toEqual([]);
  });
  it('collects substitutions wherever they are', () => {
    expect(parseShell('echo $(curl a) "$(wget b)" `nc c` x=${y:-$(ping d)} <(dig e)').substitutions)
      .toEqual(['curl a', 'wget b', 'nc c', 'ping d', 'dig e']);
    expect(parseShell('echo $(echo $(curl x))').substitutions).toEqual(['echo $(curl x)']);
    expect(parseShell('cat <<EOF\n$(curl x)\nEOF\necho done').substitutions).toEqual(['curl x']);
    expect(parseShell("cat <<'EOF'\n$(curl x)\nEOF\necho done").substitutions).toEqual([]);
    expect(cmds("cat <<'EOF'\ncurl x\nEOF\necho done")).toEqual(['cat', 'echo']);
  });
  it('reads case patterns as data', () => {
    expect(cmds('case $x in curl) echo a;; wget|nc) ping h;; esac; ls')).toEqual(['echo', 'ping', 'ls']);
  });
  it('survives garbage', () => {
    for (const s of ['"unclosed', "'x", '$(', '`', '${', 'a <<', '((((', ')))', '\\']) {
      expect(() => parseShell(s)).not.toThrow();
    }
  });
  it('splits words as env -S does', () => {
    expect(splitWords(`curl -H 'a b' "c d"`)).toEqual(['curl', '-H', 'a b', 'c d']);
  });
});

describe('analyzeShellString', () => {
  it.each([
    ['ls; curl http://x/', 'curl'],
    ['ls\ncurl x', 'curl'],
    ['echo hi | nc 127.0.0.1 9', 'nc'],
    ['true && wget x', 'wget'],
    ['false || ssh host', 'ssh'],
    ['echo $(curl x)', 'curl'],
    ['echo `curl x`', 'curl'],
    ['x="$(dig example.com)"', 'dig'],
    ['(cd /tmp && curl x)', 'curl'],
    ['A=1 curl x', 'curl'],
    ['sh -c "curl x"', 'curl'],
    ["bash -c 'ls; wget x'", 'wget'],
    ["dash -ec 'nc h 1'", 'nc'],
    ['bash -l -c "ping h"', 'ping'],
    ['env -i PATH=/bin curl x', 'curl'],
    ['/usr/bin/curl x', 'curl'],
    ['busybox wget x', 'wget'],
    ['nohup curl x &', 'curl'],
    ['timeout 5 curl x', 'curl'],
    ['time -p curl x', 'curl'],
    ['sudo -u root curl x', 'curl'],
    ['xargs -n1 curl < urls', 'curl'],
    ['find . -name x -exec curl {} \\;', 'curl'],
    ['eval "curl x"', 'curl'],
    ['exec curl x', 'curl'],
    ['command curl x', 'curl'],
    ['nice -n 5 ionice -c 3 curl x', 'curl'],
    ['rsync -a src/ user@host:dst/', 'rsync'],
    ['c\\url x', 'curl'],
    ["'curl' x", 'curl'],
    ['if curl x; then :; fi', 'curl'],
    ['exec 3<>/dev/tcp/127.0.0.1/80', '/dev/tcp'],
    ['echo hi > /dev/udp/127.0.0.1/53', '/dev/udp'],
    ['cat </dev/tcp/h/1 | grep x', '/dev/tcp'],
  ])('%s -> %s', (script, tool) => {
    expect(blockedBy(script)).toBe(tool);
  });

  it.each([
    'ls -l; echo curl',
    'git clone git@github.com:a/b.git',
    'command -v curl',
    'which curl wget',
    'echo "curl x" > notes.txt',
    'rsync -a src/ dst/',
    'rsync -a ./a:b/ dst/',
    'man curl',
    'python3 -c "print(1)"',
    'grep -r ssh .',
    'for t in curl wget; do echo $t; done',
    'echo /dev/tcp/h/1 > notes.txt',
  ])('%s is allowed', (script) => {
    expect(blockedBy(script)).toBeNull();
  });

  it('notes the first URL given to an allowed command', () => {
    const r = analyzeShellString('ls; git clone https://example.com/r.git', policy, byName);
    expect(r.blocked).toBeNull();
    expect(r.url).toMatchObject({ command: 'git', reason: 'URL in command arguments', url: 'https://example.com/r.git' });
    expect(analyzeShellString('cat file:///etc/hosts', policy, byName).url).toBeNull();
  });

  it('honours --deny-command and --allow-command', () => {
    expect(blockedBy('git fetch', makePolicy(['git']))).toBe('git');
    expect(blockedBy('curl x', makePolicy([], ['curl']))).toBeNull();
    expect(blockedBy('ls; curl x; wget y', makePolicy([], ['curl']))).toBe('wget');
  });
});

describe('analyzeArgv', () => {
  it('refuses the tools of the table by name', () => {
    for (const tool of ['curl', 'wget', 'nc', 'netcat', 'ncat', 'socat', 'telnet', 'ssh', 'scp', 'sftp', 'ftp',
      'ping', 'nmap', 'nslookup', 'dig', 'host', 'ping6', 'aria2c', 'lftp', 'tftp', 'nc.openbsd', 'nc.traditional']) {
      expect(NETWORK_TOOLS[tool], tool).toBeTruthy();
      expect(argvBlockedBy([tool, 'x']), tool).toBe(tool);
      expect(argvBlockedBy([`/usr/bin/${tool}`, 'x']), tool).toBe(tool);
    }
  });
  it('looks through wrappers', () => {
    expect(argvBlockedBy(['env', '-u', 'HOME', '-C', '/tmp', 'A=1', 'curl', 'x'])).toBe('curl');
    expect(argvBlockedBy(['env', '-S', 'curl -s x'])).toBe('curl');
    expect(argvBlockedBy(['env', '--split-string=wget x'])).toBe('wget');
    expect(argvBlockedBy(['busybox', 'nc', 'h', '1'])).toBe('nc');
    expect(argvBlockedBy(['stdbuf', '-o', '0', 'curl'])).toBe('curl');
    expect(argvBlockedBy(['timeout', '--signal', 'KILL', '10', 'ssh', 'h'])).toBe('ssh');
    expect(argvBlockedBy(['setsid', '-f', 'curl'])).toBe('curl');
    expect(argvBlockedBy(['sh', '-c', 'curl x', 'arg0'])).toBe('curl');
    expect(argvBlockedBy(['bash', '--norc', '-c', 'ls && wget x'])).toBe('wget');
    expect(argvBlockedBy(['sudo', 'env', 'nohup', 'nice', 'curl'])).toBe('curl');
  });
  it('lets ordinary programs through', () => {
    expect(analyzeArgv(['ls', '-l'], policy, byName)).toEqual({ blocked: null, url: null });
    expect(argvBlockedBy(['sh', 'script.sh'])).toBeNull();
    expect(argvBlockedBy(['env'])).toBeNull();
    expect(argvBlockedBy(['timeout', '5'])).toBeNull();
    expect(argvBlockedBy(['echo', 'curl'])).toBeNull();
  });
});

describe('rsyncIsRemote and findUrl', () => {
  it('tells rsync remote forms from local ones', () => {
    expect(rsyncIsRemote(['-a', 'src/', 'host:dst/'])).toBe(true);
    expect(rsyncIsRemote(['-a', 'user@host:src/', '.'])).toBe(true);
    expect(rsyncIsRemote(['host::module', '.'])).toBe(true);
    expect(rsyncIsRemote(['rsync://host/m', '.'])).toBe(true);
    expect(rsyncIsRemote(['--daemon'])).toBe(true);
    expect(rsyncIsRemote(['-a', '-e', 'ssh -p 2', 'src/', 'dst/'])).toBe(false);
    expect(rsyncIsRemote(['-a', '/abs/a:b', './c:d', 'dst/'])).toBe(false);
    expect(rsyncIsRemote(['--exclude', 'x:y', 'a', 'b'])).toBe(false);
  });
  it('finds URLs of any scheme but file', () => {
    expect(findUrl(['-o', 'x', 'https://a/b'])).toBe('https://a/b');
    expect(findUrl(['--url=ftp://h/f'])).toBe('--url=ftp://h/f');
    expect(findUrl(['ws://h', 'x'])).toBe('ws://h');
    expect(findUrl(['file:///etc/hosts', 'plain', 'a:b'])).toBeNull();
  });
});

describe('fileNames (the default resolver)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'worm-names-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  symlinkSync('/usr/bin/curl', join(dir, 'fetch-tool'));
  symlinkSync(join(dir, 'fetch-tool'), join(dir, 'chain'));
  writeFileSync(join(dir, 'plain'), '#!/bin/sh\n');
  chmodSync(join(dir, 'plain'), 0o755);

  it('resolves symlinks, also through PATH and chains', () => {
    const names = fileNames(`${dir}:/usr/bin`, '/');
    expect(names(join(dir, 'fetch-tool'))).toEqual(['fetch-tool', 'curl']);
    expect(names('chain')).toEqual(['chain', 'curl']);
    expect(names('plain')).toEqual(['plain']);
    expect(names('no-such-command')).toEqual(['no-such-command']);
    expect(analyzeArgv(['chain', 'x'], policy, names).blocked?.command).toBe('curl');
    expect(analyzeShellString('ls; ./fetch-tool x', policy, fileNames('/usr/bin', dir)).blocked).toMatchObject({ command: 'curl', word: './fetch-tool' });
  });
});

it('config.cts carries the contract\'s environment variable name', () => {
  expect(GUARD_ENV_NAME).toBe(GUARD_ENV);
});
