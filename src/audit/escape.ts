/**
 * Human lines on stderr carry strings the target chose (a refused command, a URL, a file name).
 * Each is made printable on one line: a newline cannot start a line that looks like worm-run's
 * own, and no control sequence reaches the terminal.
 */

/**
 * C0 controls, DEL, C1 controls, the Unicode line and paragraph separators, and the bidirectional
 * overrides and isolates (which reorder what a terminal shows); also the backslash, so that an
 * escape in the output can only have come from here.
 */
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069\\]/g;

const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t', '\\': '\\\\' };

export function escapeForTerminal(s: string): string {
  return s.replace(UNSAFE, (c) => NAMED[c] ?? (c.charCodeAt(0) <= 0xff
    ? `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`
    : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`));
}

/** Control characters and the reordering marks only: for worm-run's own messages, which quote
 * names the operator gave (a command, a path) and keep their backslashes. */
// eslint-disable-next-line no-control-regex
const CONTROLS = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

export function escapeControls(s: string): string {
  return s.replace(CONTROLS, (c) => NAMED[c] ?? (c.charCodeAt(0) <= 0xff
    ? `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`
    : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`));
}
