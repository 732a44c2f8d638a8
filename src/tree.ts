/**
 * The processes of a run. Without cgroups, the run's tree is read from /proc: the target and
 * everything descended from it. The CLI is a child subreaper, so a grandchild that daemonises
 * is re-parented to worm-run and stays in the tree; children worm-run had before the target
 * started (a shell's process substitution runs as one) are not part of the run.
 */
import { readdirSync, readFileSync } from 'node:fs';

interface Proc {
  pid: number;
  ppid: number;
  /** Clock ticks since boot. */
  start: number;
  zombie: boolean;
}

function stat(pid: number): Proc | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'latin1');
    // "pid (comm) state ppid ... starttime(22)": comm may hold spaces and parentheses.
    const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return { pid, ppid: Number(f[1]), start: Number(f[19]), zombie: f[0] === 'Z' };
  } catch {
    return undefined;
  }
}

/** This process's children (every thread's), zombies included: a cheap read, no /proc scan. */
export function ownChildren(): number[] {
  const out: number[] = [];
  for (const tid of readdirSync('/proc/self/task')) {
    try {
      for (const c of readFileSync(`/proc/self/task/${tid}/children`, 'latin1').split(' ')) if (c) out.push(Number(c));
    } catch {
      // thread gone
    }
  }
  return out;
}

/** When a process started (clock ticks since boot), or undefined when it is gone. */
export function startTime(pid: number): number | undefined {
  return stat(pid)?.start;
}

/**
 * Live processes of the run: the target (if alive) and its descendants, and, when `adopter` is
 * given, every descendant of the adopter that started no earlier than the target.
 */
export function runProcesses(target: number, targetStart: number, adopter?: number): number[] {
  const children = new Map<number, Proc[]>();
  let self: Proc | undefined;
  for (const name of readdirSync('/proc')) {
    const pid = Number(name);
    if (!Number.isInteger(pid) || pid <= 0) continue;
    const p = stat(pid);
    if (!p) continue;
    if (pid === target) self = p;
    const list = children.get(p.ppid);
    if (list) list.push(p);
    else children.set(p.ppid, [p]);
  }
  const roots: Proc[] = self && self.start === targetStart ? [self] : [];
  if (adopter !== undefined) {
    for (const c of children.get(adopter) ?? []) if (c.pid !== target && c.start >= targetStart) roots.push(c);
  }
  const out: number[] = [];
  const stack = [...roots];
  while (stack.length > 0) {
    const p = stack.pop()!;
    if (!p.zombie) out.push(p.pid);
    stack.push(...(children.get(p.pid) ?? []));
  }
  return out;
}

export function signalPids(pids: number[], signal: NodeJS.Signals): void {
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}
