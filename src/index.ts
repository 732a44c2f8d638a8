/** worm-run as a library: `import { run } from 'worm-run'`. */
export { run, AbortError, type ApiRunResult, type RunOptions, type StdioOption } from './api.js';
export type { RunResult } from './supervisor/execute.js';
export type { LimitHit, LimitName } from './verdict.js';
export type { PolicyFile } from './config.js';
export type { KernelRefusal, Rusage } from './native.js';
export type { GuardRecord } from './guard/protocol.cjs';
export { WormError, type WormErrorCode } from './errors.js';
export {
  verifyTrail, formatReport, parseHeads, generateKeyPair,
  type VerifyReport, type VerifyOptions, type Problem, type ProblemKind, type HeadLine, type RunReport,
  type GeneratedKeyPair, type KeyPairPaths,
} from './audit.js';
