/**
 * node:crypto, loaded at first use. Loading it costs about 2 ms of every start (OpenSSL's
 * bindings, the cipher and stream modules), and only a run with an audit trail (the target's
 * digest, a signing key) or `audit verify` and `keygen` use it: a plain run never does.
 * A built-in: nothing is read from disk when it loads.
 */
import { createRequire } from 'node:module';

type Crypto = typeof import('node:crypto');

let mod: Crypto | undefined;

export function crypto(): Crypto {
  mod ??= createRequire(import.meta.url)('node:crypto') as Crypto;
  return mod;
}
