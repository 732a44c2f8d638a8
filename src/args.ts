/**
 * The command line's grammar: one table of options, the parser and the help text made from it.
 *
 * Hand-written rather than a library because every run pays for it before the target starts:
 * commander was half of the CLI bundle and about 1.5 ms of each start. The rules are the usual
 * ones: options come before the command (the first word that is not an option, or whatever
 * follows `--`, starts it, so the target's own options are never read as worm-run's); a value
 * is `--opt value` or `--opt=value`, and the next word is taken as the value even when it
 * starts with a dash; a repeated option keeps its last value unless it is repeatable.
 */
import { WormError } from './errors.js';

export interface OptionSpec {
  /** The long flag, e.g. `--cpu`. */
  flag: string;
  /** An alias, e.g. `-h`. */
  short?: string;
  /** The value's placeholder, e.g. `<duration>`; absent for a switch. */
  value?: string;
  /** The key in the parsed options (camelCase of the flag). */
  key: string;
  help: string;
  repeatable?: boolean;
}

export interface Parsed {
  /** What was asked: run the command, or print help or the version. */
  action: 'run' | 'help' | 'version';
  options: Record<string, string | boolean | string[]>;
  /** The command and its arguments (everything from the first non-option word, or after `--`). */
  operands: string[];
}

function camel(flag: string): string {
  return flag.replace(/^--/, '').replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

/** An option of the table: `opt('--cpu <duration>', 'help')`, `opt('-h, --help', 'help')`. */
export function opt(spec: string, help: string, repeatable = false): OptionSpec {
  const m = /^(?:(-[a-zA-Z]), )?(--[a-z][a-z-]*)(?: (<[^>]+>))?$/.exec(spec);
  if (!m) throw new Error(`bad option spec: ${spec}`);
  const o: OptionSpec = { flag: m[2]!, key: camel(m[2]!), help };
  if (m[1]) o.short = m[1];
  if (m[3]) o.value = m[3];
  if (repeatable) o.repeatable = true;
  return o;
}

/** A mistake on the command line: the message and where to look (`worm-run doctor --help`). */
export function usage(message: string, helpCommand: string): WormError {
  return new WormError('ERR_WORM_USAGE', `${message} (see ${helpCommand} --help)`);
}

/**
 * Parses argv (without node and the script). `--help`/`-h` and `--version`/`-V` win over
 * everything else before the command, as they do in most tools.
 */
export function parse(argv: readonly string[], specs: readonly OptionSpec[], helpCommand: string): Parsed {
  const byName = new Map<string, OptionSpec>();
  for (const s of specs) {
    byName.set(s.flag, s);
    if (s.short) byName.set(s.short, s);
  }
  const options: Parsed['options'] = {};
  let action: Parsed['action'] = 'run';
  let i = 0;
  for (; i < argv.length; i++) {
    const word = argv[i]!;
    if (word === '--') {
      i += 1;
      break;
    }
    if (!word.startsWith('-') || word === '-') break;
    const eq = word.startsWith('--') ? word.indexOf('=') : -1;
    const name = eq > 0 ? word.slice(0, eq) : word;
    const spec = byName.get(name);
    if (!spec) throw usage(`unknown option '${word}'`, helpCommand);
    if (spec.key === 'help' || spec.key === 'version') {
      if (eq > 0) throw usage(`option '${spec.flag}' does not take a value`, helpCommand);
      if (action === 'run') action = spec.key;
      continue;
    }
    if (!spec.value) {
      if (eq > 0) throw usage(`option '${spec.flag}' does not take a value`, helpCommand);
      options[spec.key] = true;
      continue;
    }
    let value: string | undefined;
    if (eq > 0) value = word.slice(eq + 1);
    else {
      value = argv[i + 1];
      i += 1;
    }
    if (value === undefined) throw usage(`option '${spec.flag} ${spec.value}' argument missing`, helpCommand);
    if (spec.repeatable) options[spec.key] = [...((options[spec.key] as string[] | undefined) ?? []), value];
    else options[spec.key] = value;
  }
  return { action, options, operands: argv.slice(i) };
}

const WIDTH = 80;

export function wrapText(text: string, indent: number, width = WIDTH): string {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line && indent + line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  lines.push(line);
  return lines.join(`\n${' '.repeat(indent)}`);
}

/** Two columns, the descriptions wrapped at 80 characters. */
export function table(rows: readonly [string, string][]): string {
  const col = Math.max(...rows.map(([term]) => term.length)) + 2;
  return rows.map(([term, help]) => `  ${term.padEnd(col)}${wrapText(help, col + 2)}`).join('\n');
}

/** The option rows of a help text, in table order. */
export function optionRows(specs: readonly OptionSpec[]): [string, string][] {
  return specs.map((s) => [`${s.short ? `${s.short}, ` : ''}${s.flag}${s.value ? ` ${s.value}` : ''}`, s.help]);
}

