/**
 * The audit trail, for the rest of worm-run: see src/audit/ (trail.ts writes a run's records,
 * record.ts defines the format and the chain, verify.ts checks a trail, keys.ts makes and loads
 * signing keys, safety.ts judges where a trail may live, facts.ts describes the target).
 */
export { AuditTrail, writeLine, type AuditEvent, type AuditLevel, type AuditRecord, type AuditSettings, type TrailOptions, type TrailSummary } from './audit/trail.js';
export { escapeForTerminal } from './audit/escape.js';
export { targetAccess, type TargetAccess } from './audit/safety.js';
export { describeTarget, runFacts } from './audit/facts.js';
export { verifyTrail, formatReport, parseHeads, type VerifyReport, type VerifyOptions, type Problem, type ProblemKind, type HeadLine, type RunReport } from './audit/verify.js';
export { generateKeyPair, loadPublicKey, keyId, type GeneratedKeyPair, type KeyPairPaths } from './audit/keys.js';
