/**
 * Ed25519 keys for signing each run's head (node:crypto; no other dependency). The private key
 * is PKCS#8 PEM, written 0600; the public key SPKI PEM, for whoever verifies.
 */
import type { KeyObject } from 'node:crypto';
import { closeSync, constants, existsSync, openSync, readFileSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { crypto } from '../crypto.js';
import { WormError, fileErrorReason } from '../errors.js';
import { signedMessage } from './record.js';

export const PRIVATE_KEY_FILE = 'worm-run-audit.key';
export const PUBLIC_KEY_FILE = 'worm-run-audit.pub';

export interface KeyPairPaths {
  privatePath: string;
  publicPath: string;
}

export interface GeneratedKeyPair extends KeyPairPaths {
  /** What exit records name as their `signer`. */
  keyId: string;
}

/** `ed25519:` and the first 16 hex digits of SHA-256 over the public key's DER (SPKI) form. */
export function keyId(key: KeyObject): string {
  const pub = key.type === 'private' ? crypto().createPublicKey(key) : key;
  const der = pub.export({ type: 'spki', format: 'der' });
  return `ed25519:${crypto().createHash('sha256').update(der).digest('hex').slice(0, 16)}`;
}

function writeNew(path: string, text: string, mode: number): void {
  let fd: number;
  try {
    fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, mode);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'EEXIST' ? 'it exists already (worm-run never overwrites a key)'
      : code === 'ENOENT' ? 'no such directory (create it first)' : fileErrorReason(e);
    throw new WormError('ERR_WORM_AUDIT', `cannot write the key ${path}: ${why}`);
  }
  try {
    writeSync(fd, text);
  } finally {
    closeSync(fd);
  }
}

/**
 * Makes a key pair. `out` is a directory (the pair becomes worm-run-audit.key, 0600, and
 * worm-run-audit.pub, 0644, in it) or the two paths. Existing files are never overwritten.
 */
export function generateKeyPair(out: string | KeyPairPaths): GeneratedKeyPair {
  const paths: KeyPairPaths = typeof out === 'string'
    ? { privatePath: join(out, PRIVATE_KEY_FILE), publicPath: join(out, PUBLIC_KEY_FILE) }
    : out;
  for (const p of [paths.privatePath, paths.publicPath]) {
    if (existsSync(p)) throw new WormError('ERR_WORM_AUDIT', `cannot write the key ${p}: it exists already (worm-run never overwrites a key)`);
  }
  const { privateKey, publicKey } = crypto().generateKeyPairSync('ed25519');
  writeNew(paths.privatePath, privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, 0o600);
  writeNew(paths.publicPath, publicKey.export({ type: 'spki', format: 'pem' }) as string, 0o644);
  return { ...paths, keyId: keyId(publicKey) };
}

function keyError(option: string, path: string, why: string): WormError {
  return new WormError('ERR_WORM_AUDIT', `${option} ${path}: ${why}`);
}

function readPem(option: string, path: string): string {
  try {
    if (statSync(path).size > 64 * 1024) throw keyError(option, path, 'too large to be a PEM key');
    return readFileSync(path, 'utf8');
  } catch (e) {
    if (e instanceof WormError) throw e;
    throw keyError(option, path, `cannot read the key: ${fileErrorReason(e)}`);
  }
}

export interface Signer {
  keyId: string;
  /** The base64 signature of a run's head. */
  sign(hash: string): string;
}

/** The signer of --audit-key FILE: an Ed25519 private key in PEM (checked by checkKeyFile first). */
export function loadSigner(path: string, option = '--audit-key'): Signer {
  let key: KeyObject;
  try {
    key = crypto().createPrivateKey(readPem(option, path));
  } catch (e) {
    if (e instanceof WormError) throw e;
    throw keyError(option, path, 'not a PEM private key (make a pair with worm-run audit keygen)');
  }
  if (key.asymmetricKeyType !== 'ed25519') {
    throw keyError(option, path, `an ${key.asymmetricKeyType ?? 'unknown'} key; worm-run signs with Ed25519 (make a pair with worm-run audit keygen)`);
  }
  return { keyId: keyId(key), sign: (hash) => crypto().sign(null, signedMessage(hash), key).toString('base64') };
}

/** The public key a verifier is given: a public PEM, or the private PEM (its public half is used). */
export function loadPublicKey(path: string, option = '--key'): KeyObject {
  let key: KeyObject;
  try {
    key = crypto().createPublicKey(readPem(option, path));
  } catch (e) {
    if (e instanceof WormError) throw e;
    throw keyError(option, path, 'not a PEM Ed25519 key');
  }
  if (key.asymmetricKeyType !== 'ed25519') {
    throw keyError(option, path, `an ${key.asymmetricKeyType ?? 'unknown'} key, not Ed25519`);
  }
  return key;
}

export function verifyHead(key: KeyObject, hash: string, sig: string): boolean {
  try {
    return crypto().verify(null, signedMessage(hash), key, Buffer.from(sig, 'base64'));
  } catch {
    return false;
  }
}
