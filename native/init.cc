// The run's init: the first process of the run, cloned by the supervisor. It sets up the run's
// own view of the system (with namespaces: its PID namespace, of which it is pid 1, a private
// /proc and the filesystem binds), starts the target, reaps every process of the run, and ends
// the run when the target exits or the supervisor says so. With a PID namespace the kernel
// itself ends every process in it when init exits; without one init is a child subreaper and
// kills its whole tree until nothing is left.
//
// Init runs only our own code (no execve), under its own filter once the target is started,
// and cannot be signalled by the target: in its PID namespace the kernel drops signals from
// inside to pid 1 that it has no handler for, and init has none (it reads SIGCHLD from a
// signalfd); Landlock scoping and the target's filter cover the rest.
#include <fcntl.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "contain.h"
#include "plan.h"

namespace worm {

const char* StageName(int stage) {
  switch (stage) {
    case kStageSetpgid: return "setpgid";
    case kStageDup: return "dup2";
    case kStageCloseRange: return "close_range";
    case kStageChdir: return "chdir";
    case kStagePdeathsig: return "prctl(PR_SET_PDEATHSIG)";
    case kStageParentGone: return "getppid";
    case kStageSetrlimit: return "setrlimit";
    case kStageSetgroups: return "setgroups";
    case kStageSetgid: return "setgid";
    case kStageSetuid: return "setuid";
    case kStageNoNewPrivs: return "prctl(PR_SET_NO_NEW_PRIVS)";
    case kStageLandlock: return "landlock_restrict_self";
    case kStageSeccomp: return "seccomp(SECCOMP_SET_MODE_FILTER)";
    case kStageExecve: return "execve";
    case kStageUidMap: return "writing the user namespace's uid_map";
    case kStageMountPrivate: return "mount(/, MS_PRIVATE)";
    case kStageMountProc: return "mount(proc)";
    case kStageMountBind: return "mount";
    case kStageCloneTarget: return "clone";
    case kStageSubreaper: return "prctl(PR_SET_CHILD_SUBREAPER)";
    case kStageInitFilter: return "seccomp(init's own filter)";
    case kStageSignalfd: return "signalfd";
    case kStageCapabilities: return "dropping capabilities (prctl(PR_CAPBSET_DROP), capset)";
  }
  return "?";
}

void WriteFull(int fd, const void* data, size_t len) {
  const char* p = static_cast<const char*>(data);
  while (len > 0) {
    ssize_t n = write(fd, p, len);
    if (n < 0) {
      if (errno == EINTR) continue;
      return;
    }
    p += n;
    len -= static_cast<size_t>(n);
  }
}

[[noreturn]] void ReportFailure(int fd, int stage, int err, int detail) {
  Failure f;
  f.stage = stage;
  f.err = err;
  f.detail = detail;
  ssize_t n;
  do {
    n = send(fd, &f, sizeof f, MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  _exit(127);
}

// fork() without glibc's fork handlers: this process is a copy of a multithreaded one, and the
// handlers (and malloc's locks they reset) belong to threads that do not exist here.
long RawClone(unsigned long flags) {
  return syscall(SYS_clone, flags, nullptr, nullptr, nullptr, nullptr);
}

namespace {

// The target's stack from its clone to execve (path buffers in MeasureSelf, the rest small).
constexpr size_t kTargetStackBytes = 256 * 1024;

struct TargetArgs {
  const Plan* p;
  Prepared* q;
  int sfd;
};

int TargetEntry(void* arg) {
  auto* a = static_cast<TargetArgs*>(arg);
  close(a->sfd);
  TargetMain(*a->p, *a->q);
}

// kill(-1) reaches every process of init's PID namespace, and only there is that the run: a
// namespace that was asked for but is not in force (init is not pid 1) must never turn it into
// every process of the caller's user on the machine.
bool OwnPidNamespace(const Plan& p) { return p.namespaces && syscall(SYS_getpid) == 1; }

// Closes every descriptor but those in keep (sorted, unique): this is a copy of worm-run's
// process, which may hold the pipes of other runs (the library) that must not stay open here.
void CloseAllExcept(std::vector<int>& keep) {
  std::sort(keep.begin(), keep.end());
  keep.erase(std::unique(keep.begin(), keep.end()), keep.end());
  unsigned from = 0;
  bool fallback = false;
  for (int k : keep) {
    if (k < 0) continue;
    if (static_cast<unsigned>(k) > from && syscall(__NR_close_range, from, k - 1, 0) != 0) fallback = true;
    from = static_cast<unsigned>(k) + 1;
  }
  if (syscall(__NR_close_range, from, ~0U, 0) != 0) fallback = true;
  if (!fallback) return;
  // Kernels before 5.9: every number up to the descriptor limit.
  struct rlimit rl;
  long max = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY ? static_cast<long>(rl.rlim_cur) : 65536;
  for (long fd = 0; fd < max; fd++) {
    if (!std::binary_search(keep.begin(), keep.end(), static_cast<int>(fd))) close(static_cast<int>(fd));
  }
}

bool WriteFile(const char* path, const char* text) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  ssize_t len = static_cast<ssize_t>(strlen(text));
  ssize_t n = write(fd, text, static_cast<size_t>(len));
  int err = errno;
  close(fd);
  errno = err;
  return n == len;
}

// Init is a copy of worm-run's process, and so is the block of memory the kernel shows as
// /proc/<pid>/environ: every variable worm-run was started with, the credentials it keeps from
// the target among them. A root target can read it (the kernel lets CAP_PERFMON/CAP_SYS_ADMIN
// read another process's environ, maps and auxv past Landlock's scoping), and init is the one
// process outside the target it can always name (pid 1, or its parent). Init never reads its
// environment (the target's is prepared apart): the block is zeroed. Its bounds are fields 50
// and 51 of /proc/self/stat, read by the supervisor (EnvironmentBounds): the same in this copy.
void WipeEnvironment(const Prepared& q) {
  if (q.envStart != 0 && q.envEnd > q.envStart && q.envEnd - q.envStart < (64ul << 20)) {
    memset(reinterpret_cast<void*>(q.envStart), 0, q.envEnd - q.envStart);
  }
}

// The run's own namespaces, as init (pid 1) sees them right after clone.
void SetUpNamespaces(const Plan& p, Prepared& q) {
  if (p.userNamespace) {
    // An unprivileged user may map only its own ids, and gid_map only after setgroups is off.
    // The supervisor is not dumpable, and neither is this copy of it: its /proc files belong
    // to root until it is made dumpable, for just as long as the maps take.
    prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
    bool ok = WriteFile("/proc/self/setgroups", "deny") && WriteFile("/proc/self/uid_map", q.uidMap) &&
              WriteFile("/proc/self/gid_map", q.gidMap);
    int err = errno;
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    if (!ok) ReportFailure(q.ctl, kStageUidMap, err);
  }
  // Nothing done below may reach worm-run's mount namespace (the host's mounts are often shared).
  if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) ReportFailure(q.ctl, kStageMountPrivate, errno);
  q.oldProc = open("/proc", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) == 0) {
    q.facts.procPrivate = 1;
  } else {
    // A container may not let a fresh /proc be mounted; outside pids stay out of reach of
    // every call (another PID namespace), only their /proc files remain (Landlock's scoping).
    q.facts.procErrno = errno;
  }
  for (size_t i = 0; i < p.mounts.size(); i++) {
    const MountSpec& m = p.mounts[i];
    const char* t = m.target.c_str();
    int r = 0;
    switch (m.kind) {
      case MountSpec::kReadOnly:
        r = mount(t, t, nullptr, MS_BIND | MS_REC, nullptr);
        if (r == 0) r = mount(nullptr, t, nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, nullptr);
        break;
      case MountSpec::kHideDir:
        r = mount("tmpfs", t, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=4k,nr_inodes=1,mode=000");
        break;
      case MountSpec::kHideFile:
        r = mount("/dev/null", t, nullptr, MS_BIND, nullptr);
        if (r == 0) r = mount(nullptr, t, nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr);
        break;
      case MountSpec::kBind:
        r = mount(m.source.c_str(), t, nullptr, MS_BIND, nullptr);
        break;
    }
    if (r != 0) ReportFailure(q.ctl, kStageMountBind, errno, static_cast<int>(i));
  }
  q.facts.mountNamespace = 1;
  q.facts.pidNamespace = 1;
  q.facts.userNamespace = p.userNamespace ? 1 : 0;
}

void SendTargetExit(int fd, int status, const struct rusage& ru) {
  TargetExit m;
  m.status = status;
  m.userUs = ru.ru_utime.tv_sec * 1000000LL + ru.ru_utime.tv_usec;
  m.systemUs = ru.ru_stime.tv_sec * 1000000LL + ru.ru_stime.tv_usec;
  m.maxRssKb = ru.ru_maxrss;
  m.minflt = ru.ru_minflt;
  m.majflt = ru.ru_majflt;
  m.nvcsw = ru.ru_nvcsw;
  m.nivcsw = ru.ru_nivcsw;
  WriteFull(fd, &m, sizeof m);
}

struct State {
  pid_t target = 0;
  bool targetDone = false;
};

// Reaps what has exited; reports the target's end.
void Reap(const Prepared& q, State& s) {
  int status;
  struct rusage ru;
  pid_t p;
  while ((p = wait4(-1, &status, WNOHANG | __WALL, &ru)) > 0) {
    if (p == s.target && !s.targetDone) {
      s.targetDone = true;
      SendTargetExit(q.status, status, ru);
    }
  }
}

[[noreturn]] void EndRun(const Plan& p, const Prepared& q, State& s) {
  RunEnd end;
  int status = 0;
  struct rusage ru;
  if (OwnPidNamespace(p)) {
    // Everything in the namespace but init itself. Loop: a fork racing the first kill may add
    // one; the kernel also kills whatever is left when init exits.
    int found = 0;
    for (;;) {
      kill(-1, SIGKILL);
      pid_t r = wait4(-1, &status, __WALL, &ru);
      if (r < 0) {
        if (errno == EINTR) continue;
        break;  // ECHILD: nothing of the run is left
      }
      if (r == s.target) {
        if (!s.targetDone) {
          s.targetDone = true;
          SendTargetExit(q.status, status, ru);
        }
      } else {
        ++found;
      }
    }
    end.killed = found;
    end.passes = 1;
  } else {
    int targetStatus = -1;
    end.killed = KillDescendants(&end.passes, s.targetDone ? 0 : s.target, &targetStatus);
    if (!s.targetDone && targetStatus != -1) {
      s.targetDone = true;
      memset(&ru, 0, sizeof ru);
      SendTargetExit(q.status, targetStatus, ru);
    }
  }
  end.targetSeen = s.targetDone ? 1 : 0;
  WriteFull(q.status, &end, sizeof end);
  _exit(0);
}

}  // namespace

[[noreturn]] void InitMain(const Plan& p, Prepared& q) {
  // Every signal is still blocked (the supervisor blocked them before clone). Back to the
  // defaults, so none of worm-run's handlers can ever run in this copy.
  struct sigaction dfl = {};
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; sig++) {
    if (sig != SIGKILL && sig != SIGSTOP) sigaction(sig, &dfl, nullptr);
  }
  q.keep.clear();
  q.keep.push_back(q.ctl);
  q.keep.push_back(q.cmd);
  q.keep.push_back(q.status);
  q.keep.push_back(q.rulesetFd);
  for (int fd : p.fds) q.keep.push_back(fd);
  CloseAllExcept(q.keep);
  for (size_t i = 0; i < p.fds.size(); i++) q.src[i] = p.fds[i];
  WipeEnvironment(q);

  if (p.newPgrp && setpgid(0, 0) != 0) ReportFailure(q.ctl, kStageSetpgid, errno);
  if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0) ReportFailure(q.ctl, kStagePdeathsig, errno);
  // The supervisor may have died before the line above: its end of the command pipe is gone.
  struct pollfd alive = {q.cmd, POLLIN, 0};
  if (poll(&alive, 1, 0) == 1 && (alive.revents & (POLLHUP | POLLERR))) _exit(127);

  if (p.namespaces) {
    SetUpNamespaces(p, q);
  } else if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0) {
    ReportFailure(q.ctl, kStageSubreaper, errno);
  }
  q.init = getpid();

  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  int sfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
  if (sfd < 0) ReportFailure(q.ctl, kStageSignalfd, errno);

  State s;
  // The target shares init's memory until it execs (CLONE_VM | CLONE_VFORK, as posix_spawn
  // does), on a stack of its own. Init is a copy of the whole supervisor (the library's host may
  // be a large process): a second copy of those page tables for a process that only execs was
  // the largest part of a run's start there. Init waits meanwhile, with nothing to do: until
  // the target runs, the supervisor reaches the run only by SIGKILL to init, which ends a
  // vfork wait too.
  void* stack = mmap(nullptr, kTargetStackBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (stack == MAP_FAILED) ReportFailure(q.ctl, kStageCloneTarget, errno);
  TargetArgs args{&p, &q, sfd};
  long t = clone(TargetEntry, static_cast<char*>(stack) + kTargetStackBytes, CLONE_VM | CLONE_VFORK | SIGCHLD, &args);
  if (t < 0) ReportFailure(q.ctl, kStageCloneTarget, errno);
  munmap(stack, kTargetStackBytes);
  s.target = static_cast<pid_t>(t);

  // Init never starts a program and never needs the network.
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
      syscall(__NR_seccomp, SECCOMP_SET_MODE_FILTER, 0, &q.filters.initProg) != 0) {
    int err = errno;
    kill(s.target, SIGKILL);
    ReportFailure(q.ctl, kStageInitFilter, err);
  }
  // Only the target reports on the control socket from here on.
  close(q.ctl);
  for (int fd : q.src) close(fd);
  if (q.rulesetFd >= 0) close(q.rulesetFd);
  if (q.oldProc >= 0) close(q.oldProc);

  struct pollfd fds[2] = {{sfd, POLLIN, 0}, {q.cmd, POLLIN, 0}};
  for (;;) {
    int r = poll(fds, 2, -1);
    if (r < 0) {
      if (errno == EINTR) continue;
      EndRun(p, q, s);
    }
    if (fds[0].revents) {
      struct signalfd_siginfo si;
      while (read(sfd, &si, sizeof si) == sizeof si) {
      }
      Reap(q, s);
      if (s.targetDone) EndRun(p, q, s);
    }
    if (fds[1].revents & POLLIN) {
      Command c;
      ssize_t n = read(q.cmd, &c, sizeof c);
      if (n == static_cast<ssize_t>(sizeof c)) {
        if (c.type == kCmdSignalTarget && !s.targetDone) {
          kill(s.target, c.arg);
        } else if (c.type == kCmdSignalAll) {
          if (OwnPidNamespace(p)) kill(-1, c.arg);
          else SignalDescendants(c.arg);
        } else if (c.type == kCmdEnd) {
          EndRun(p, q, s);
        }
      } else if (n == 0) {
        EndRun(p, q, s);  // the supervisor is gone
      }
    } else if (fds[1].revents & (POLLHUP | POLLERR)) {
      EndRun(p, q, s);
    }
  }
}

}  // namespace worm
