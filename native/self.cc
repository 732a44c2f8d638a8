// Things worm-run does to its own process. The CLI calls hardenSelf() once the target runs;
// the library API never does (it must not filter the process it is loaded into).
#include "self.h"

#include <fcntl.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <vector>

#include "errors.h"
#include "seccomp.h"

namespace worm {

// hardenSelf({allowUnix, supervisor}): the network filter on every thread of this process (TSYNC), and
// non-dumpable so that no process of the same user can open /proc/<pid>/mem or ptrace it.
// io_uring_enter/register stay allowed here for libuv's existing ring (see FilterOptions).
Napi::Value HardenSelf(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  FilterOptions opts;
  ReadFilterOptions(info[0], &opts);
  opts.keepExistingRings = true;
  std::vector<sock_filter> prog;
  std::string err;
  if (!BuildFilter(opts, &prog, &err)) return ThrowType(env, err);
  struct sock_fprog fprog = {static_cast<unsigned short>(prog.size()), prog.data()};
  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) return ThrowErrno(env, "prctl(PR_SET_DUMPABLE)", errno);
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
    return ThrowErrno(env, "prctl(PR_SET_NO_NEW_PRIVS)", errno);
  }
  long r = syscall(__NR_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &fprog);
  if (r != 0) {
    // A positive result is the id of a thread that could not be synchronised.
    return ThrowErrno(env, "seccomp(SECCOMP_SET_MODE_FILTER, TSYNC)", r > 0 ? ESRCH : errno);
  }
  return env.Undefined();
}

// setNonDumpable(): before the target is started, so there is no moment in which a process of
// the same user could open /proc/<pid>/mem of the supervisor. (The target becomes dumpable
// again at execve, as usual.)
Napi::Value SetNonDumpable(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) return ThrowErrno(env, "prctl(PR_SET_DUMPABLE)", errno);
  return env.Undefined();
}

// isForegroundTty(fd): is fd a terminal whose foreground process group is ours? Then the
// target stays in our process group so that it can read the terminal and get ^C like any
// foreground program.
Napi::Value IsForegroundTty(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = info[0].IsNumber() ? info[0].As<Napi::Number>().Int32Value() : 0;
  bool fg = isatty(fd) && tcgetpgrp(fd) == getpgrp();
  return Napi::Boolean::New(env, fg);
}

// reraise(signal): die of the same signal the target died of, without a core dump. Returns
// only when the signal does not kill (the caller then exits with 128+N).
Napi::Value Reraise(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsNumber()) return ThrowType(env, "reraise(signal)");
  int sig = info[0].As<Napi::Number>().Int32Value();
  struct rlimit none = {0, 0};
  setrlimit(RLIMIT_CORE, &none);
  struct sigaction dfl = {};
  dfl.sa_handler = SIG_DFL;
  sigaction(sig, &dfl, nullptr);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, sig);
  pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
  raise(sig);
  return env.Undefined();
}

// pipe(nonblocking) -> [readFd, writeFd], both close-on-exec (Node has no pipe(2)). The guard
// channel; non-blocking for the in-process mode, whose reader is the process's own event loop.
Napi::Value Pipe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fds[2];
  int flags = O_CLOEXEC | (info[0].ToBoolean().Value() ? O_NONBLOCK : 0);
  if (pipe2(fds, flags) != 0) return ThrowErrno(env, "pipe2", errno);
  Napi::Array a = Napi::Array::New(env, 2);
  a.Set(0u, Napi::Number::New(env, fds[0]));
  a.Set(1u, Napi::Number::New(env, fds[1]));
  return a;
}

}  // namespace worm
