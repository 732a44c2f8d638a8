// The target's last steps before execve, in the child init cloned: descriptors placed, working
// directory, limits, identity, no-new-privs, Landlock, and the seccomp filter last. Then it
// measures what it got, reports it to the supervisor and waits for the word to go (the start
// record is written in between, so no instruction of the target runs before it). Only
// async-signal-safe calls: this is a copy of a multithreaded process.
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "plan.h"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif
#ifndef SECCOMP_FILTER_FLAG_NEW_LISTENER
#define SECCOMP_FILTER_FLAG_NEW_LISTENER (1UL << 3)
#endif

namespace worm {

namespace {

int ParseInt(const char* s, const char* end) {
  int v = 0;
  bool any = false;
  for (; s < end && *s >= '0' && *s <= '9'; ++s) {
    v = v * 10 + (*s - '0');
    any = true;
  }
  return any ? v : -1;
}

// The value after "Key:\t" in /proc/self/status, or nullptr.
const char* StatusField(const char* buf, const char* key) {
  const char* at = strstr(buf, key);
  if (at == nullptr) return nullptr;
  at += strlen(key);
  while (*at == ' ' || *at == '\t') ++at;
  return at;
}

void MeasureSelf(Facts* f) {
  f->noNewPrivs = prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0);
  f->seccompMode = prctl(PR_GET_SECCOMP, 0, 0, 0, 0);
  getresuid(&f->ruid, &f->euid, &f->suid);
  getresgid(&f->rgid, &f->egid, &f->sgid);
  f->ngroups = getgroups(0, nullptr);
  f->seccompFilters = -1;
  f->capEff = ~0ull;
  char buf[4096];
  int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return;
  buf[n] = '\0';
  if (const char* v = StatusField(buf, "\nSeccomp_filters:")) f->seccompFilters = ParseInt(v, buf + n);
  if (const char* v = StatusField(buf, "\nCapEff:")) {
    uint64_t caps = 0;
    for (; (*v >= '0' && *v <= '9') || (*v >= 'a' && *v <= 'f'); ++v) {
      caps = caps * 16 + static_cast<uint64_t>(*v <= '9' ? *v - '0' : *v - 'a' + 10);
    }
    f->capEff = caps;
  }
}

// Facts, with the listener descriptor attached when there is one.
bool SendFacts(int ctl, const Facts& f, int listener) {
  struct iovec iov = {const_cast<Facts*>(&f), sizeof f};
  struct msghdr msg = {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(int))];
  if (listener >= 0) {
    memset(control, 0, sizeof control);
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &listener, sizeof(int));
  }
  ssize_t r;
  do {
    r = sendmsg(ctl, &msg, MSG_NOSIGNAL);
  } while (r < 0 && errno == EINTR);
  return r == static_cast<ssize_t>(sizeof f);
}

// What a target running as root keeps: the capabilities a container runtime gives a container's
// root (Docker's default set) but for MKNOD and NET_RAW. Everything else is dropped from the
// bounding set too, so nothing it executes gets it back. Without this a root target could
// raise its own hard limits (SYS_RESOURCE: --cpu and --memory would not hold), read every
// process's environment and memory maps past Landlock (SYS_ADMIN, PERFMON), renice or starve
// the host (SYS_NICE), reboot it, or read raw devices and memory (SYS_RAWIO, MKNOD).
constexpr uint64_t kRootKeeps = (1ull << CAP_CHOWN) | (1ull << CAP_DAC_OVERRIDE) | (1ull << CAP_FOWNER) |
                                (1ull << CAP_FSETID) | (1ull << CAP_KILL) | (1ull << CAP_SETGID) | (1ull << CAP_SETUID) |
                                (1ull << CAP_SETPCAP) | (1ull << CAP_NET_BIND_SERVICE) | (1ull << CAP_SYS_CHROOT) |
                                (1ull << CAP_AUDIT_WRITE) | (1ull << CAP_SETFCAP);

}  // namespace

// Returns 0 or errno.
int DropRootCapabilities() {
  for (int cap = 0; cap < 64; cap++) {
    if (kRootKeeps & (1ull << cap)) continue;
    if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL) return errno;  // EINVAL: past the last cap
  }
  struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2];
  if (syscall(SYS_capget, &header, data) != 0) return errno;
  for (int i = 0; i < 2; i++) {
    uint32_t keep = static_cast<uint32_t>(kRootKeeps >> (32 * i));
    data[i].effective &= keep;
    data[i].permitted &= keep;
    data[i].inheritable &= keep;
  }
  if (syscall(SYS_capset, &header, data) != 0) return errno;
  prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
  return 0;
}

[[noreturn]] void TargetMain(const Plan& p, Prepared& q) {
  int ctl = q.ctl;
  Facts facts = q.facts;
  facts.nsPid = static_cast<int32_t>(getpid());
  facts.hostPid = facts.nsPid;
  if (q.oldProc >= 0) {
    // worm-run's own /proc resolves "self" to this process's pid in worm-run's namespace.
    char buf[32];
    ssize_t n = readlinkat(q.oldProc, "self", buf, sizeof buf - 1);
    if (n > 0) facts.hostPid = ParseInt(buf, buf + n);
  }

  // Everything that must survive the shuffle goes above the target's range first.
  const int n = static_cast<int>(p.fds.size());
  int moved = fcntl(ctl, F_DUPFD_CLOEXEC, n);
  if (moved < 0) ReportFailure(ctl, kStageDup, errno);
  ctl = moved;
  // (A local: init's own copy of q.rulesetFd, in the memory this process shares with it, is
  // what init closes once the target has exec'd.)
  int rulesetFd = q.rulesetFd;
  if (rulesetFd >= 0) {
    rulesetFd = fcntl(rulesetFd, F_DUPFD_CLOEXEC, n);
    if (rulesetFd < 0) ReportFailure(ctl, kStageDup, errno);
  }
  for (int i = 0; i < n; i++) {
    q.tmp[i] = fcntl(q.src[i], F_DUPFD_CLOEXEC, n);
    if (q.tmp[i] < 0) ReportFailure(ctl, kStageDup, errno, i);
  }
  for (int i = 0; i < n; i++) {
    if (dup2(q.tmp[i], i) < 0) ReportFailure(ctl, kStageDup, errno, i);
  }
  // Everything from n up is closed by execve; the control socket and the ruleset are needed
  // until then.
  if (syscall(__NR_close_range, n, ~0U, CLOSE_RANGE_CLOEXEC) != 0) {
    if (errno != ENOSYS && errno != EINVAL) ReportFailure(ctl, kStageCloseRange, errno);
    for (int fd = n; fd < 65536; fd++) fcntl(fd, F_SETFD, FD_CLOEXEC);
  }
  if (p.hasCwd && chdir(p.cwd.c_str()) != 0) ReportFailure(ctl, kStageChdir, errno);

  // The target must not outlive its init (in a PID namespace init's end kills everything
  // anyway; without one this is what keeps a SIGKILLed init from leaving the target running).
  if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0) ReportFailure(ctl, kStagePdeathsig, errno);
  if (getppid() != (p.namespaces ? 1 : q.init)) ReportFailure(ctl, kStageParentGone, ESRCH);

  size_t failed = 0;
  int e = ApplyLimits(p.limits.data(), p.limits.size(), &failed);
  if (e != 0) ReportFailure(ctl, kStageSetrlimit, e, p.limits[failed].resource);

  if (p.setIds) {
    // The system calls themselves, not glibc's wrappers: this process is a raw clone of a
    // multithreaded one, and glibc's setuid family takes its thread-list lock and signals every
    // thread it believes exists. A lock some thread of worm-run held at the clone is never
    // released here: the target hung (1 run in ~60 while threads came and went).
    if (syscall(SYS_setgroups, p.groups.size(), p.groups.data()) != 0) ReportFailure(ctl, kStageSetgroups, errno);
    if (syscall(SYS_setresgid, p.gid, p.gid, p.gid) != 0) ReportFailure(ctl, kStageSetgid, errno);
    if (syscall(SYS_setresuid, p.uid, p.uid, p.uid) != 0) ReportFailure(ctl, kStageSetuid, errno);
    if (p.uid != 0 && syscall(SYS_setresuid, 0, 0, 0) == 0) ReportFailure(ctl, kStageSetuid, EPERM, 1);
    // A change of identity clears the parent-death signal (prctl(2)): without it a target
    // running as another user outlived a SIGKILLed worm-run (and its init) when the run has no
    // PID namespace. Set it again, and check again that init is still there.
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0) ReportFailure(ctl, kStagePdeathsig, errno);
    if (getppid() != (p.namespaces ? 1 : q.init)) ReportFailure(ctl, kStageParentGone, ESRCH);
  }
  if (geteuid() == 0 && !p.userNamespace) {
    int err = DropRootCapabilities();
    if (err != 0) ReportFailure(ctl, kStageCapabilities, err);
  }
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) ReportFailure(ctl, kStageNoNewPrivs, errno);
  if (rulesetFd >= 0) {
    int le = LandlockRestrictSelf(rulesetFd);
    if (le != 0) ReportFailure(ctl, kStageLandlock, le);
    facts.landlockApplied = 1;
  }
  // The filter goes last: from here on the target only measures, reports and execs.
  int listener = -1;
  if (p.filterOpts.notify) {
    long l = syscall(__NR_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &q.filters.notifyProg);
    if (l >= 0) listener = static_cast<int>(l);
    else facts.notifyErrno = errno;
  }
  if (listener < 0 && syscall(__NR_seccomp, SECCOMP_SET_MODE_FILTER, 0, &q.filters.plainProg) != 0) {
    ReportFailure(ctl, kStageSeccomp, errno);
  }
  facts.notify = listener >= 0 ? 1 : 0;
  MeasureSelf(&facts);
  if (!SendFacts(ctl, facts, listener)) _exit(127);
  if (listener >= 0) close(listener);

  Go go{};
  ssize_t got;
  do {
    got = recv(ctl, &go, sizeof go, 0);
  } while (got < 0 && errno == EINTR);
  if (got != static_cast<ssize_t>(sizeof go) || go.type != kMsgGo) _exit(127);

  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  execve(p.file.c_str(), q.argv.data(), q.envp.data());
  if (errno == ENOEXEC && p.shFallback) {
    // A script without a shebang: run it with /bin/sh, as execvp(3) and env(1) do.
    execve("/bin/sh", q.shArgv.data(), q.envp.data());
  }
  ReportFailure(ctl, kStageExecve, errno);
}

}  // namespace worm

// ---- bindings ------------------------------------------------------------------------------
#include "errors.h"

namespace worm {

// dropRootCapabilities(): the in-process mode's root keeps what a root target keeps (the calling
// thread, and the threads and processes it starts afterwards).
Napi::Value DropRootCapabilitiesJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (geteuid() != 0) return env.Undefined();
  int err = DropRootCapabilities();
  if (err != 0) return ThrowErrno(env, "capset", err);
  return env.Undefined();
}

}  // namespace worm
