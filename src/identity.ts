/**
 * `--user` / `--group`: the identity the target runs as when worm-run is root. Names are read
 * from /etc/passwd and /etc/group (Node has no getpwnam); numbers are taken as they are.
 */
import { readFileSync } from 'node:fs';
import { WormError } from './errors.js';
import type { Identity } from './policy.js';

function table(path: string): string[][] {
  try {
    return readFileSync(path, 'utf8').split('\n').filter((l) => l && !l.startsWith('#')).map((l) => l.split(':'));
  } catch {
    return [];
  }
}

function bad(message: string): WormError {
  return new WormError('ERR_WORM_USAGE', message);
}

export function resolveIdentity(user: string, group: string | undefined): Identity {
  let uid: number;
  let gid: number | undefined;
  if (/^\d+$/.test(user)) {
    uid = Number(user);
    const row = table('/etc/passwd').find((r) => r[2] === user);
    if (row) gid = Number(row[3]);
  } else {
    const row = table('/etc/passwd').find((r) => r[0] === user);
    if (!row) throw bad(`--user: no user named "${user}" in /etc/passwd; give a name or a numeric uid`);
    uid = Number(row[2]);
    gid = Number(row[3]);
  }
  if (group !== undefined) {
    if (/^\d+$/.test(group)) {
      gid = Number(group);
    } else {
      const row = table('/etc/group').find((r) => r[0] === group);
      if (!row) throw bad(`--group: no group named "${group}" in /etc/group; give a name or a numeric gid`);
      gid = Number(row[2]);
    }
  }
  if (gid === undefined) throw bad(`--user ${user}: uid ${uid} has no entry in /etc/passwd; give --group too`);
  if (uid > 0xfffffffe || gid > 0xfffffffe) throw bad('--user/--group: id out of range');
  const me = process.getuid?.() ?? -1;
  if (me !== 0 && (uid !== me || gid !== process.getgid?.())) {
    throw bad(`--user/--group: changing identity needs root (worm-run runs as uid ${me})`);
  }
  return { uid, gid, user, ...(group !== undefined ? { group } : {}) };
}
