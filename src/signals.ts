/**
 * Signal numbers and names. node:os is loaded on first use, not at start-up: a run needs them
 * only once the target has ended, and the in-process mode never does.
 */
import { createRequire } from 'node:module';

type Signals = typeof import('node:os').constants.signals;

let numbers: Signals | undefined;
let names: Map<number, NodeJS.Signals> | undefined;

export function signalNumbers(): Signals {
  return (numbers ??= (createRequire(import.meta.url)('node:os') as typeof import('node:os')).constants.signals);
}

/**
 * The name for a number that has two (6 is SIGABRT and SIGIOT, 29 SIGIO and SIGPOLL): the one
 * POSIX and the in-process mode's native records use.
 */
const PREFERRED = new Set(['SIGABRT', 'SIGIO', 'SIGCHLD', 'SIGSYS']);

export function signalName(n: number): NodeJS.Signals | null {
  if (!names) {
    names = new Map();
    for (const [name, num] of Object.entries(signalNumbers())) {
      if (!names.has(num) || PREFERRED.has(name)) names.set(num, name as NodeJS.Signals);
    }
  }
  return names.get(n) ?? null;
}
