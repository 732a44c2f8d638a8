// Starting a run: the plan is read from JavaScript and everything the run's init and the
// target will touch is laid out before clone(); init and the target then run only
// async-signal-safe code (see init.cc, target.cc). startRun() returns as soon as init is
// cloned: the target's report of what it got (or why it failed) reaches JavaScript through the
// run's monitor thread (run_handle.cc), and the target then waits, not yet exec'd, for
// RunHandle.go().
#include "spawn.h"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "errors.h"
#include "plan.h"
#include "run_handle.h"

namespace worm {

namespace {

bool ReadStrings(Napi::Env env, Napi::Object o, const char* key, std::vector<std::string>* out, bool required) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() && !required) return true;
  if (!v.IsArray()) {
    ThrowType(env, std::string("startRun: ") + key + " must be an array of strings");
    return false;
  }
  Napi::Array a = v.As<Napi::Array>();
  for (uint32_t i = 0; i < a.Length(); i++) {
    Napi::Value s = a.Get(i);
    if (!s.IsString()) {
      ThrowType(env, std::string("startRun: ") + key + " must be an array of strings");
      return false;
    }
    std::string str = s.As<Napi::String>().Utf8Value();
    if (str.find('\0') != std::string::npos) {
      ThrowType(env, std::string("startRun: ") + key + " contains a NUL byte");
      return false;
    }
    out->push_back(std::move(str));
  }
  return true;
}

bool ReadString(Napi::Env env, Napi::Value v, const char* what, std::string* out) {
  if (!v.IsString()) {
    ThrowType(env, std::string("startRun: ") + what + " must be a string");
    return false;
  }
  *out = v.As<Napi::String>().Utf8Value();
  if (out->find('\0') != std::string::npos) {
    ThrowType(env, std::string("startRun: ") + what + " contains a NUL byte");
    return false;
  }
  return true;
}

bool ReadMounts(Napi::Env env, Napi::Value v, std::vector<MountSpec>* out) {
  if (v.IsUndefined()) return true;
  if (!v.IsArray()) {
    ThrowType(env, "startRun: mounts must be an array");
    return false;
  }
  Napi::Array a = v.As<Napi::Array>();
  for (uint32_t i = 0; i < a.Length(); i++) {
    if (!a.Get(i).IsObject()) return ThrowType(env, "startRun: mounts[] must be objects"), false;
    Napi::Object m = a.Get(i).As<Napi::Object>();
    MountSpec s;
    std::string kind = m.Get("kind").IsString() ? m.Get("kind").As<Napi::String>().Utf8Value() : "";
    if (kind == "ro") s.kind = MountSpec::kReadOnly;
    else if (kind == "hideDir") s.kind = MountSpec::kHideDir;
    else if (kind == "hideFile") s.kind = MountSpec::kHideFile;
    else if (kind == "bind") s.kind = MountSpec::kBind;
    else return ThrowType(env, "startRun: unknown mount kind '" + kind + "'"), false;
    if (!ReadString(env, m.Get("target"), "mounts[].target", &s.target)) return false;
    if (s.kind == MountSpec::kBind && !ReadString(env, m.Get("source"), "mounts[].source", &s.source)) return false;
    out->push_back(std::move(s));
  }
  return true;
}

bool ReadPlan(Napi::Env env, Napi::Value v, Plan* p) {
  if (!v.IsObject()) return ThrowType(env, "startRun: expected an options object"), false;
  Napi::Object o = v.As<Napi::Object>();
  if (!ReadString(env, o.Get("file"), "file", &p->file)) return false;
  if (!ReadStrings(env, o, "argv", &p->argv, true) || !ReadStrings(env, o, "env", &p->envp, true)) return false;
  if (!o.Get("cwd").IsUndefined()) {
    if (!ReadString(env, o.Get("cwd"), "cwd", &p->cwd)) return false;
    p->hasCwd = true;
  }
  Napi::Value fds = o.Get("fds");
  if (!fds.IsArray() || fds.As<Napi::Array>().Length() < 3) {
    return ThrowType(env, "startRun: fds must be an array of at least 3 descriptors"), false;
  }
  Napi::Array fa = fds.As<Napi::Array>();
  for (uint32_t i = 0; i < fa.Length(); i++) {
    Napi::Value f = fa.Get(i);
    if (!f.IsNumber() || f.As<Napi::Number>().Int32Value() < 0) {
      return ThrowType(env, "startRun: fds must hold open descriptors"), false;
    }
    p->fds.push_back(f.As<Napi::Number>().Int32Value());
  }
  if (!ReadLimits(env, o.Get("limits"), &p->limits)) return false;
  Napi::Value uid = o.Get("uid"), gid = o.Get("gid");
  if (uid.IsNumber() || gid.IsNumber()) {
    if (!uid.IsNumber() || !gid.IsNumber()) return ThrowType(env, "startRun: uid and gid go together"), false;
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
  ReadFilterOptions(o.Get("filter"), &p->filterOpts);
  p->namespaces = o.Get("namespaces").ToBoolean().Value();
  p->userNamespace = p->namespaces && o.Get("userNamespace").ToBoolean().Value();
  p->filterOpts.pids = p->namespaces ? PidScope::Namespace : PidScope::SelfOnly;
  p->filterOpts.denyExec = false;
  p->filterOpts.keepExistingRings = false;
  if (!ReadMounts(env, o.Get("mounts"), &p->mounts)) return false;
  if (!p->mounts.empty() && !p->namespaces) return ThrowType(env, "startRun: mounts need namespaces"), false;
  if (!o.Get("landlock").IsUndefined() && !ReadLandlockSpec(env, o.Get("landlock"), &p->landlock)) return false;
  p->shFallback = o.Get("shFallback").ToBoolean().Value();
  return true;
}

// Built programs by their options: a run's three filters are the same for every run of a host
// with the same policy, and building them was a tenth of a run's start.
std::mutex builtMu;
std::map<unsigned, std::vector<sock_filter>> built;

// Every field of FilterOptions is in the key: a field left out would hand one policy's filter to
// another. (A new field changes the size: add it to the key, then to this check.)
static_assert(sizeof(FilterOptions) == 12, "FilterOptions changed: put the new field in OptionsKey");

unsigned OptionsKey(const FilterOptions& o) {
  return (o.allowUnix ? 1u : 0u) | (o.keepExistingRings ? 2u : 0u) | (o.denyExec ? 4u : 0u) | (o.notify ? 8u : 0u) |
         (o.memoryCap ? 16u : 0u) | (static_cast<unsigned>(o.pids) << 5);
}

bool Build(const FilterOptions& opts, std::vector<sock_filter>* prog, struct sock_fprog* fprog, std::string* err) {
  const unsigned key = OptionsKey(opts);
  {
    std::lock_guard<std::mutex> lock(builtMu);
    auto it = built.find(key);
    if (it != built.end()) *prog = it->second;
  }
  if (prog->empty()) {
    if (!BuildFilter(opts, prog, err)) return false;
    std::lock_guard<std::mutex> lock(builtMu);
    built.emplace(key, *prog);
  }
  fprog->len = static_cast<unsigned short>(prog->size());
  fprog->filter = prog->data();
  return true;
}

// The bounds of this process's environment block: fixed once it runs, so read once.
void EnvironmentBounds(unsigned long* start, unsigned long* end) {
  static unsigned long s = 0, e = 0;
  static bool read = false;
  if (!read) {
    read = true;
    int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
    char buf[2048];
    ssize_t n = fd < 0 ? -1 : ::read(fd, buf, sizeof buf - 1);
    if (fd >= 0) close(fd);
    if (n > 0) {
      buf[n] = '\0';
      const char* p = strrchr(buf, ')');  // the command name before it may hold spaces
      if (p != nullptr && p[1] == ' ') {
        int field = 3;
        for (const char* q = p + 2; *q != '\0' && field <= 51; ++field) {
          unsigned long v = 0;
          for (; *q >= '0' && *q <= '9'; ++q) v = v * 10 + static_cast<unsigned long>(*q - '0');
          if (field == 50) s = v;
          if (field == 51) e = v;
          while (*q != '\0' && *q != ' ') ++q;
          if (*q == ' ') ++q;
        }
      }
    }
  }
  *start = s;
  *end = e;
}

}  // namespace

Napi::Error FailureError(Napi::Env env, const Failure& f, const Plan& p) {
  std::string call = StageName(f.stage);
  if (f.stage == kStageSetrlimit) call = std::string("setrlimit(") + RlimitName(f.detail) + ")";
  if (f.stage == kStageMountBind && f.detail >= 0 && static_cast<size_t>(f.detail) < p.mounts.size()) {
    call = "mount(" + p.mounts[static_cast<size_t>(f.detail)].target + ")";
  }
  Napi::Error e = ErrnoError(env, call.c_str(), f.err);
  e.Set("code", Napi::String::New(env, f.stage == kStageExecve ? "ERR_WORM_EXEC" : "ERR_WORM_CHILD_SETUP"));
  e.Set("stage", Napi::String::New(env, StageName(f.stage)));
  return e;
}

ssize_t RecvMessage(int ctl, void* buf, size_t len, int* fd, int timeoutMs) {
  struct pollfd pfd = {ctl, POLLIN, 0};
  int r;
  do {
    r = poll(&pfd, 1, timeoutMs);
  } while (r < 0 && errno == EINTR);
  if (r == 0) {
    errno = ETIMEDOUT;
    return -1;
  }
  if (r < 0) return -1;
  struct iovec iov = {buf, len};
  struct msghdr msg = {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(int))];
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t n;
  do {
    n = recvmsg(ctl, &msg, MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  if (fd) *fd = -1;
  for (struct cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
      int got;
      memcpy(&got, CMSG_DATA(c), sizeof got);
      if (fd) *fd = got;
      else close(got);
    }
  }
  return n;
}

// startRun(spec) -> RunHandle: the target has hardened itself and waits for handle.go().
Napi::Value StartRun(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto p = std::make_unique<Plan>();
  if (!ReadPlan(env, info[0], p.get())) return env.Undefined();

  Prepared q;
  for (auto& s : p->argv) q.argv.push_back(const_cast<char*>(s.c_str()));
  q.argv.push_back(nullptr);
  for (auto& s : p->envp) q.envp.push_back(const_cast<char*>(s.c_str()));
  q.envp.push_back(nullptr);
  q.shArgv.push_back(const_cast<char*>("/bin/sh"));
  q.shArgv.push_back(const_cast<char*>(p->file.c_str()));
  for (size_t i = 1; i < p->argv.size(); i++) q.shArgv.push_back(const_cast<char*>(p->argv[i].c_str()));
  q.shArgv.push_back(nullptr);
  q.src.assign(p->fds.size(), -1);
  q.tmp.assign(p->fds.size(), -1);
  q.keep.reserve(p->fds.size() + 8);
  q.facts = Facts{};
  {
    std::string err;
    FilterOptions notify = p->filterOpts, plain = p->filterOpts, init;
    notify.notify = true;
    plain.notify = false;
    init.denyExec = true;
    init.allowUnix = false;
    if ((p->filterOpts.notify && !Build(notify, &q.filters.notify, &q.filters.notifyProg, &err)) ||
        !Build(plain, &q.filters.plain, &q.filters.plainProg, &err) ||
        !Build(init, &q.filters.init, &q.filters.initProg, &err)) {
      return ThrowType(env, err);
    }
  }
  if (p->landlock.abi > 0) {
    std::string failed;
    q.rulesetFd = CreateLandlockRuleset(p->landlock, &failed, nullptr);
    if (q.rulesetFd < 0) {
      std::string call = failed.empty() ? "landlock_create_ruleset" : "landlock_add_rule(" + failed + ")";
      return ThrowErrno(env, call.c_str(), -q.rulesetFd);
    }
  }
  q.supervisor = getpid();
  EnvironmentBounds(&q.envStart, &q.envEnd);
  q.mapUid = geteuid();
  q.mapGid = getegid();
  snprintf(q.uidMap, sizeof q.uidMap, "%u %u 1\n", q.mapUid, q.mapUid);
  snprintf(q.gidMap, sizeof q.gidMap, "%u %u 1\n", q.mapGid, q.mapGid);

  int ctl[2], cmd[2], status[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ctl) != 0) {
    int err = errno;
    if (q.rulesetFd >= 0) close(q.rulesetFd);
    return ThrowErrno(env, "socketpair", err);
  }
  if (pipe2(cmd, O_CLOEXEC) != 0 || pipe2(status, O_CLOEXEC) != 0) {
    int err = errno;
    close(ctl[0]);
    close(ctl[1]);
    if (q.rulesetFd >= 0) close(q.rulesetFd);
    return ThrowErrno(env, "pipe2", err);
  }
  q.ctl = ctl[1];
  q.cmd = cmd[0];
  q.status = status[1];

  unsigned long flags = SIGCHLD;
  if (p->namespaces) flags |= CLONE_NEWPID | CLONE_NEWNS | (p->userNamespace ? CLONE_NEWUSER : 0);
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  long pid = RawClone(flags);
  if (pid == 0) {
    close(ctl[0]);
    close(cmd[1]);
    close(status[0]);
    InitMain(*p, q);
  }
  int cloneErr = errno;
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  close(ctl[1]);
  close(cmd[0]);
  close(status[1]);
  if (q.rulesetFd >= 0) close(q.rulesetFd);
  if (pid < 0) {
    close(ctl[0]);
    close(cmd[1]);
    close(status[0]);
    return ThrowErrno(env, p->namespaces ? "clone(new namespaces)" : "clone", cloneErr);
  }
  const pid_t init = static_cast<pid_t>(pid);
  fcntl(cmd[1], F_SETFL, O_NONBLOCK);
  return RunHandle::Create(env, std::move(p), init, ctl[0], cmd[1], status[0]);
}

}  // namespace worm
