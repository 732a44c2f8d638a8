/** The one parser for sizes and durations on the command line and in policy files. */

const SIZE_UNITS: Record<string, number> = {
  '': 1, b: 1,
  k: 1024, kb: 1024, kib: 1024,
  m: 1024 ** 2, mb: 1024 ** 2, mib: 1024 ** 2,
  g: 1024 ** 3, gb: 1024 ** 3, gib: 1024 ** 3,
  t: 1024 ** 4, tb: 1024 ** 4, tib: 1024 ** 4,
};

const DURATION_UNITS: Record<string, number> = {
  '': 1000, s: 1000, sec: 1000, ms: 1, m: 60_000, min: 60_000, h: 3_600_000,
};

export class UnitError extends Error {}

/** The longest timer Node keeps (2^31-1 ms); a longer one would fire at once. */
export const MAX_DURATION_MS = 2 ** 31 - 1;

/** Bytes from `512M`, `2G`, `1.5g`, `4096` (binary units: K = 1024). */
export function parseSize(input: string | number): number {
  const text = String(input).trim();
  const m = /^(\d+(?:\.\d+)?)\s*([a-zA-Z]*)$/.exec(text);
  const mult = m ? SIZE_UNITS[m[2]!.toLowerCase()] : undefined;
  if (!m || mult === undefined) {
    throw new UnitError(`"${text}" is not a size; use a number with K, M or G (e.g. 512M)`);
  }
  const bytes = Math.floor(Number(m[1]) * mult);
  if (!Number.isSafeInteger(bytes) || bytes <= 0) {
    throw new UnitError(`"${text}" is not a size greater than zero`);
  }
  return bytes;
}

/**
 * A memory size: like parseSize, but a unit is required. `--memory 10` meaning ten bytes is a
 * trap nobody means to set; the message says how to write either intent.
 */
export function parseMemorySize(input: string | number): number {
  const text = String(input).trim();
  if (/^\d+(?:\.\d+)?$/.test(text)) {
    throw new UnitError(`"${text}" has no unit; write ${text}M for ${text} MiB (or ${text}B if you really mean bytes)`);
  }
  return parseSize(text);
}

/** Milliseconds from `30`, `30s`, `1.5s`, `500ms`, `2m`, `1h` (a bare number is seconds). */
export function parseDuration(input: string | number): number {
  const text = String(input).trim();
  const m = /^(\d+(?:\.\d+)?)\s*([a-zA-Z]*)$/.exec(text);
  const mult = m ? DURATION_UNITS[m[2]!.toLowerCase()] : undefined;
  if (!m || mult === undefined) {
    throw new UnitError(`"${text}" is not a duration; use seconds or a unit: 30, 30s, 500ms, 2m, 1h`);
  }
  const ms = Math.round(Number(m[1]) * mult);
  if (!Number.isSafeInteger(ms) || ms <= 0) {
    throw new UnitError(`"${text}" is not a duration greater than zero`);
  }
  if (ms > MAX_DURATION_MS) {
    throw new UnitError(`"${text}" is longer than worm-run can time (at most 596h, about 24 days)`);
  }
  return ms;
}

/** A whole count such as a number of processes or files. */
export function parseCount(input: string | number): number {
  const text = String(input).trim();
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(Number(text)) || Number(text) <= 0) {
    throw new UnitError(`"${text}" is not a whole number greater than zero`);
  }
  return Number(text);
}

export function formatSize(bytes: number): string {
  for (const [unit, mult] of [['G', 1024 ** 3], ['M', 1024 ** 2], ['K', 1024]] as const) {
    if (bytes >= mult && bytes % mult === 0) return `${bytes / mult}${unit}`;
  }
  return `${bytes}`;
}

export function formatDuration(ms: number): string {
  return `${Number((ms / 1000).toFixed(3))} s`;
}
