// Starting the target: everything is prepared before fork(); the child then runs only
// async-signal-safe calls, hardens itself step by step and execs. A failure before execve is
// written to a close-on-exec pipe as {stage, errno, detail} and turned into a JS error here.
#include "spawn.h"

#include <fcntl.h>
#include <grp.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <vector>

#include "errors.h"
#include "landlock.h"
#include "rlimit.h"
#include "seccomp.h"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

namespace worm {

namespace {

enum Stage {
  kStageSetpgid,
  kStageDup,
  kStageCloseRange,
  kStageChdir,
  kStagePdeathsig,
  kStageParentGone,
  kStageSetrlimit,
  kStageSetgroups,
  kStageSetgid,
  kStageSetuid,
  kStageNoNewPrivs,
  kStageLandlock,
  kStageSeccomp,
  kStageExecve,
};

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
  }
  return "?";
}

struct Failure {
  int stage;
  int err;
  int detail;
};

struct Plan {
  std::string file;
  std::vector<std::string> argv, envp;
  bool hasCwd = false;
  std::string cwd;
  std::vector<int> fds;  // child fd i is a copy of parent fd fds[i]
  std::vector<LimitSpec> limits;
  bool setIds = false;
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;
  bool newPgrp = false;
  FilterOptions filterOpts;
  bool landlock = false;
  bool shFallback = false;
};

// Everything the child touches, laid out before fork so the child never allocates.
struct Prepared {
  std::vector<char*> argv, envp, shArgv;
  std::vector<int> tmp;
  std::vector<sock_filter> prog;
  struct sock_fprog fprog = {0, nullptr};
  int rulesetFd = -1;
  pid_t parent = 0;
};

[[noreturn]] void Fail(int fd, int stage, int err, int detail = 0) {
  Failure f = {stage, err, detail};
  ssize_t n;
  do {
    n = write(fd, &f, sizeof f);
  } while (n < 0 && errno == EINTR);
  _exit(127);
}

[[noreturn]] void ChildMain(const Plan& p, Prepared& q, int errFd) {
  // Dispositions back to default while every signal is still blocked (the parent blocked them
  // before fork), so none of Node's handlers can run in this copy of the process.
  struct sigaction dfl = {};
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; sig++) {
    if (sig != SIGKILL && sig != SIGSTOP) sigaction(sig, &dfl, nullptr);
  }
  if (p.newPgrp && setpgid(0, 0) != 0) Fail(errFd, kStageSetpgid, errno);

  // Move the pipe and every source descriptor above the target range, then place them.
  const int n = static_cast<int>(p.fds.size());
  int err2 = fcntl(errFd, F_DUPFD_CLOEXEC, n);
  if (err2 < 0) Fail(errFd, kStageDup, errno);
  errFd = err2;
  if (q.rulesetFd >= 0) {
    int r2 = fcntl(q.rulesetFd, F_DUPFD_CLOEXEC, n);
    if (r2 < 0) Fail(errFd, kStageDup, errno);
    q.rulesetFd = r2;
  }
  for (int i = 0; i < n; i++) {
    q.tmp[i] = fcntl(p.fds[i], F_DUPFD_CLOEXEC, n);
    if (q.tmp[i] < 0) Fail(errFd, kStageDup, errno, i);
  }
  for (int i = 0; i < n; i++) {
    if (dup2(q.tmp[i], i) < 0) Fail(errFd, kStageDup, errno, i);
  }
  // Everything from n up is closed by execve; our pipe and the ruleset are needed until then.
  if (syscall(__NR_close_range, n, ~0U, CLOSE_RANGE_CLOEXEC) != 0) {
    if (errno != ENOSYS && errno != EINVAL) Fail(errFd, kStageCloseRange, errno);
    struct rlimit rl;
    long max = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY
                   ? static_cast<long>(rl.rlim_cur) : 65536;
    for (long fd = n; fd < max; fd++) fcntl(static_cast<int>(fd), F_SETFD, FD_CLOEXEC);
  }
  if (p.hasCwd && chdir(p.cwd.c_str()) != 0) Fail(errFd, kStageChdir, errno);

  // The target must not outlive the supervisor (a SIGKILLed supervisor cannot clean up).
  if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0) Fail(errFd, kStagePdeathsig, errno);
  if (getppid() != q.parent) Fail(errFd, kStageParentGone, ESRCH);

  size_t failed = 0;
  int e = ApplyLimits(p.limits.data(), p.limits.size(), &failed);
  if (e != 0) Fail(errFd, kStageSetrlimit, e, p.limits[failed].resource);

  if (p.setIds) {
    if (setgroups(p.groups.size(), p.groups.data()) != 0) Fail(errFd, kStageSetgroups, errno);
    if (setgid(p.gid) != 0) Fail(errFd, kStageSetgid, errno);
    if (setuid(p.uid) != 0) Fail(errFd, kStageSetuid, errno);
    if (p.uid != 0 && setuid(0) == 0) Fail(errFd, kStageSetuid, EPERM, 1);
  }
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) Fail(errFd, kStageNoNewPrivs, errno);
  if (q.rulesetFd >= 0) {
    int le = LandlockRestrictSelf(q.rulesetFd);
    if (le != 0) Fail(errFd, kStageLandlock, le);
  }
  // The filter goes last: from here on the child can only exec.
  if (syscall(__NR_seccomp, SECCOMP_SET_MODE_FILTER, 0, &q.fprog) != 0) {
    Fail(errFd, kStageSeccomp, errno);
  }
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  execve(p.file.c_str(), q.argv.data(), q.envp.data());
  if (errno == ENOEXEC && p.shFallback) {
    // A script without a shebang: run it with /bin/sh, as execvp(3) and env(1) do.
    execve("/bin/sh", q.shArgv.data(), q.envp.data());
  }
  Fail(errFd, kStageExecve, errno);
}

bool ReadStrings(Napi::Env env, Napi::Object o, const char* key, std::vector<std::string>* out,
                 bool required) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() && !required) return true;
  if (!v.IsArray()) {
    ThrowType(env, std::string("spawn: ") + key + " must be an array of strings");
    return false;
  }
  Napi::Array a = v.As<Napi::Array>();
  for (uint32_t i = 0; i < a.Length(); i++) {
    Napi::Value s = a.Get(i);
    if (!s.IsString()) {
      ThrowType(env, std::string("spawn: ") + key + " must be an array of strings");
      return false;
    }
    std::string str = s.As<Napi::String>().Utf8Value();
    if (str.find('\0') != std::string::npos) {
      ThrowType(env, std::string("spawn: ") + key + " contains a NUL byte");
      return false;
    }
    out->push_back(std::move(str));
  }
  return true;
}

bool ReadPlan(Napi::Env env, Napi::Value v, Plan* p) {
  if (!v.IsObject()) {
    ThrowType(env, "spawn: expected an options object");
    return false;
  }
  Napi::Object o = v.As<Napi::Object>();
  Napi::Value file = o.Get("file");
  if (!file.IsString()) {
    ThrowType(env, "spawn: file must be a string");
    return false;
  }
  p->file = file.As<Napi::String>().Utf8Value();
  if (!ReadStrings(env, o, "argv", &p->argv, true) || !ReadStrings(env, o, "env", &p->envp, true)) {
    return false;
  }
  Napi::Value cwd = o.Get("cwd");
  if (cwd.IsString()) {
    p->hasCwd = true;
    p->cwd = cwd.As<Napi::String>().Utf8Value();
  }
  Napi::Value fds = o.Get("fds");
  if (!fds.IsArray() || fds.As<Napi::Array>().Length() < 3) {
    ThrowType(env, "spawn: fds must be an array of at least 3 descriptors");
    return false;
  }
  Napi::Array fa = fds.As<Napi::Array>();
  for (uint32_t i = 0; i < fa.Length(); i++) {
    Napi::Value f = fa.Get(i);
    if (!f.IsNumber() || f.As<Napi::Number>().Int32Value() < 0) {
      ThrowType(env, "spawn: fds must hold open descriptors");
      return false;
    }
    p->fds.push_back(f.As<Napi::Number>().Int32Value());
  }
  if (!ReadLimits(env, o.Get("limits"), &p->limits)) return false;
  Napi::Value uid = o.Get("uid"), gid = o.Get("gid");
  if (uid.IsNumber() || gid.IsNumber()) {
    if (!uid.IsNumber() || !gid.IsNumber()) {
      ThrowType(env, "spawn: uid and gid go together");
      return false;
    }
    p->setIds = true;
    p->uid = static_cast<uid_t>(uid.As<Napi::Number>().Uint32Value());
    p->gid = static_cast<gid_t>(gid.As<Napi::Number>().Uint32Value());
    Napi::Value groups = o.Get("groups");
    if (groups.IsArray()) {
      Napi::Array ga = groups.As<Napi::Array>();
      for (uint32_t i = 0; i < ga.Length(); i++) {
        p->groups.push_back(static_cast<gid_t>(ga.Get(i).As<Napi::Number>().Uint32Value()));
      }
    }
  }
  p->newPgrp = o.Get("newProcessGroup").ToBoolean().Value();
  p->filterOpts.allowUnix = o.Get("allowUnix").ToBoolean().Value();
  p->landlock = o.Get("landlock").ToBoolean().Value();
  p->shFallback = o.Get("shFallback").ToBoolean().Value();
  return true;
}

Napi::Value ChildError(Napi::Env env, const Failure& f) {
  std::string call = StageName(f.stage);
  if (f.stage == kStageSetrlimit) call = std::string("setrlimit(") + RlimitName(f.detail) + ")";
  Napi::Error e = ErrnoError(env, call.c_str(), f.err);
  e.Set("code", Napi::String::New(env, f.stage == kStageExecve ? "ERR_WORM_EXEC"
                                                                 : "ERR_WORM_CHILD_SETUP"));
  e.ThrowAsJavaScriptException();
  return env.Undefined();
}

}  // namespace

// spawn(options) -> { pid, landlock: string }
Napi::Value Spawn(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Plan p;
  if (!ReadPlan(env, info[0], &p)) return env.Undefined();

  Prepared q;
  for (auto& s : p.argv) q.argv.push_back(const_cast<char*>(s.c_str()));
  q.argv.push_back(nullptr);
  for (auto& s : p.envp) q.envp.push_back(const_cast<char*>(s.c_str()));
  q.envp.push_back(nullptr);
  q.shArgv.push_back(const_cast<char*>("/bin/sh"));
  q.shArgv.push_back(const_cast<char*>(p.file.c_str()));
  for (size_t i = 1; i < p.argv.size(); i++) q.shArgv.push_back(const_cast<char*>(p.argv[i].c_str()));
  q.shArgv.push_back(nullptr);
  q.tmp.assign(p.fds.size(), -1);
  {
    std::string err;
    if (!BuildFilter(p.filterOpts, &q.prog, &err)) return ThrowType(env, err);
    q.fprog.len = static_cast<unsigned short>(q.prog.size());
    q.fprog.filter = q.prog.data();
  }
  LandlockPlan ll;
  if (p.landlock) {
    int abi = LandlockAbi();
    if (abi > 0) {
      ll = PlanLandlock(abi);
      q.rulesetFd = CreateLandlockRuleset(ll);
      if (q.rulesetFd < 0) return ThrowErrno(env, "landlock_create_ruleset", -q.rulesetFd);
    }
  }
  q.parent = getpid();

  int pipefd[2];
  if (pipe2(pipefd, O_CLOEXEC) != 0) {
    if (q.rulesetFd >= 0) close(q.rulesetFd);
    return ThrowErrno(env, "pipe2", errno);
  }
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  pid_t pid = fork();
  if (pid == 0) {
    close(pipefd[0]);
    ChildMain(p, q, pipefd[1]);
  }
  int forkErr = errno;
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  close(pipefd[1]);
  if (q.rulesetFd >= 0) close(q.rulesetFd);
  if (pid < 0) {
    close(pipefd[0]);
    return ThrowErrno(env, "fork", forkErr);
  }
  // Both sides set the group, so no signal sent to the group right after spawn can miss it.
  if (p.newPgrp) setpgid(pid, pid);

  Failure f;
  ssize_t got;
  do {
    got = read(pipefd[0], &f, sizeof f);
  } while (got < 0 && errno == EINTR);
  close(pipefd[0]);
  if (got == static_cast<ssize_t>(sizeof f)) {
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return ChildError(env, f);
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("pid", Napi::Number::New(env, pid));
  out.Set("landlock", Napi::String::New(env, DescribeLandlock(ll)));
  out.Set("landlockAbi", Napi::Number::New(env, ll.abi));
  return out;
}

}  // namespace worm
