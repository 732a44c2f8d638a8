/**
 * What the trail says about a run: the policy as enforced, the protections the target actually
 * got (measured by the target itself just before execve, never assumed), and the human lines
 * for refusals.
 */
import type { FsSummary } from '../fs/plan.js';
import type { GuardRecord } from '../guard/protocol.cjs';
import type { TargetFacts } from '../native.js';
import { describeLimits, type Policy } from '../policy.js';

/** The policy as the audit trail and --print-policy show it. */
export function policyRecord(policy: Policy): Record<string, unknown> {
  return {
    mode: policy.mode,
    network: {
      allowUnix: policy.network.allowUnix,
      refused: policy.network.allowUnix
        ? 'every socket and socketpair family but AF_UNIX; connect, bind and the addressed calls allowed, for Unix sockets, the only kind that can be made'
        : 'every socket, connect, bind, listen, accept, addressed sendto/recvfrom, datagram socketpairs, sendmmsg, recvmmsg',
    },
    limits: describeLimits(policy.limits, policy.mode),
    identity: policy.identity ? { user: policy.identity.user, uid: policy.identity.uid, gid: policy.identity.gid } : null,
    filesystem: { mode: policy.fs.mode, write: policy.fs.write, read: policy.fs.read, hide: policy.fs.hide, keepTmp: policy.fs.keepTmp },
    environment: { mode: policy.env.mode, pass: policy.env.pass, set: Object.keys(policy.env.set) },
    namespaces: policy.namespaces,
    guard: policy.guard,
    nodeOptions: policy.nodeOptions,
    audit: policy.audit.log ?? 'stderr (refusals, warnings and limits only)',
  };
}

const EPERM_NAMES: Record<number, string> = { 1: 'EPERM', 16: 'EBUSY', 22: 'EINVAL', 38: 'ENOSYS', 13: 'EACCES' };

/** Why the kernel gave no listener, in words. */
function noListener(errno: number): string {
  const name = EPERM_NAMES[errno] ?? `errno ${errno}`;
  // The kernel allows one listener per filter chain: a container runtime's seccomp agent has it.
  return errno === 16 ? `${name}: a seccomp filter of an ancestor, e.g. a container runtime's, already has one` : name;
}

/** The start record's note when refusals are not recorded although worm-run asked (null otherwise). */
export function notificationNote(facts: TargetFacts): string | null {
  return !facts.notify && facts.notifyErrno
    ? `refusals of the kernel filter are not recorded: the kernel gave no user-notification listener (${noListener(facts.notifyErrno)}); they fail with their errno all the same`
    : null;
}

/**
 * The protections of a run, from what the target measured in itself before execve and what
 * init set up. Each claim here is a measurement; "not recorded" and the reasons say what the
 * machine did not give.
 */
export function protections(facts: TargetFacts, fs: FsSummary, extra: Record<string, unknown>): Record<string, unknown> {
  return {
    seccomp: {
      installed: facts.seccompMode === 2,
      filters: facts.seccompFilters,
      refusalsRecorded: facts.notify,
      ...(facts.notify ? {} : {
        notRecordedBecause: facts.notifyErrno
          ? `the kernel gave no user-notification listener (${noListener(facts.notifyErrno)}); refusals are answered by the kernel alone`
          : 'not asked for',
      }),
    },
    noNewPrivs: facts.noNewPrivs,
    landlock: facts.landlockApplied
      ? { abi: facts.landlockAbi, filesystem: fs.mode === 'off' ? 'writes under /proc and /sys refused only' : fs.via }
      : 'unavailable',
    namespaces: { pid: facts.pidNamespace, mount: facts.mountNamespace, user: facts.userNamespace, privateProc: facts.procPrivate },
    containment: facts.pidNamespace
      ? 'pid namespace: when the run ends the kernel ends every process in it'
      : 'child subreaper: init kills its whole tree until nothing is left',
    otherProcesses: facts.pidNamespace
      ? `in another PID namespace (invisible to every call)${facts.procPrivate ? '' : '; /proc is the host\'s (a fresh one could not be mounted)'}`
      : 'no PID namespace: pid-addressed calls (prlimit, setpriority, sched_*, ioprio) may name only the caller',
    identity: { uid: facts.ids[1], gid: facts.ids[4], groups: facts.groups },
    capabilities: facts.capEff,
    ...extra,
  };
}

export function humanGuardLine(r: GuardRecord): string {
  const where = r.file ? ` (at ${r.file}${r.line ? `:${r.line}` : ''})` : '';
  if (r.event === 'warning') return `warning: ${r.reason ?? r.op}${r.target ? `: ${r.target}` : ''}${where}`;
  const what = r.command && r.target && !r.target.startsWith(r.command) ? `${r.command}: ${r.target}` : (r.target ?? r.command);
  return `blocked ${r.op}${what ? ` ${what}` : ''}${where}`;
}
