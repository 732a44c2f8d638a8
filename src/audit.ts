/**
 * The audit trail, for the rest of worm-run. The pieces live in src/audit/: trail.ts writes a
 * run's records, record.ts defines the line format and the chain (what a third-party verifier
 * needs), verify.ts checks a trail, keys.ts makes and loads signing keys, safety.ts judges where
 * a trail may live, destination.ts opens it, facts.ts describes what ran, escape.ts makes the
 * target's strings safe for a terminal.
 *
 * Integration (what the supervisor and the CLI call):
 * - A run: `AuditTrail.open(policy.audit, runId, { human, access: targetAccess(policy.identity,
 *   confinement) })` before the target starts (throws a WormError, exit 125, for an unsafe path
 *   or key); `write(level, event, fields, human?)` for each record (`human` is escaped here);
 *   `close()` after the exit record, which returns `{ head, complete, unwritten }` for the
 *   result (`auditHead`, `auditComplete`) and writes the head line to `policy.audit.headFd`.
 *   The filesystem confinement passes `{ writable(path), readable(path) }` to targetAccess: what
 *   the sandbox lets the target write (a file, or entries in a directory) and read; then a trail
 *   under a directory the sandbox makes writable is refused, and the signing key is allowed for
 *   a target running as worm-run's own user only when `readable(key)` is false.
 * - `describeTarget(target, PATH, cwd)` and `runFacts(identity)`: the start record's `target`
 *   and `host`/`targetUser` fields; hash before the target starts.
 * - `worm-run audit keygen [DIR]`: `generateKeyPair(DIR)` (or `{ privatePath, publicPath }`)
 *   -> `{ privatePath, publicPath, keyId }`; print the paths and the key id.
 * - `worm-run audit verify FILE [--key PUBLIC.pem] [--head FILE] [--json]`:
 *   `verifyTrail(FILE, { key, heads: parseHeads(readFileSync(headFile, 'utf8')) })`; print
 *   `formatReport(report)` (or the report as JSON), exit `report.status` (0 intact, 1 not);
 *   a WormError (unreadable trail or key) is the usual one line and 125.
 * - `--audit-key FILE` and `--audit-head-fd N` are policy.audit.key and policy.audit.headFd.
 */
export { AuditTrail, writeLine, type AuditEvent, type AuditLevel, type AuditRecord, type AuditSettings, type TrailOptions, type TrailSummary } from './audit/trail.js';
export { escapeForTerminal } from './audit/escape.js';
export { targetAccess, type TargetAccess } from './audit/safety.js';
export { describeTarget, digestCache, runFacts, trustedDigestCache } from './audit/facts.js';
export { verifyTrail, formatReport, parseHeads, type VerifyReport, type VerifyOptions, type Problem, type ProblemKind, type HeadLine, type RunReport } from './audit/verify.js';
export { generateKeyPair, loadPublicKey, keyId, type GeneratedKeyPair, type KeyPairPaths } from './audit/keys.js';
