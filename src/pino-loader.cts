/**
 * pino, loaded on first use. A plain `require` here (CommonJS) lets the bundler put pino into
 * dist/worm-run.cjs while still evaluating it only when an audit destination asks for it.
 */
import type * as Pino from 'pino';

export function loadPino(): typeof Pino.pino {
  return (require('pino') as typeof Pino).pino;
}
