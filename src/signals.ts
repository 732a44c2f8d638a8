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

export function signalName(n: number): NodeJS.Signals | null {
  names ??= new Map(Object.entries(signalNumbers()).map(([name, num]) => [num, name as NodeJS.Signals]));
  return names.get(n) ?? null;
}
