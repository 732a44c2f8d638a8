#include "cleanup.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "contain.h"
#include "errors.h"

namespace worm {

namespace {

// A fork without glibc's bookkeeping: this process is multithreaded, so the copy runs only
// async-signal-safe code (raw system calls, memory prepared before the copy).
long RawFork() { return syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0); }

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif

// Waits until the process is gone: its pidfd becomes readable when it exits, or (kernels
// before pidfd_open) the pipe it holds reaches EOF. The pidfd is the helper's own: nothing the
// script does can end the wait early, short of exiting.
[[noreturn]] void Helper(int waitFd, bool isPidfd, pid_t watched, long long killAtNs, char* const argv[], char* const envp[]) {
  // Nothing of the process but what it waits on: no terminal, no caller's pipe held open.
  if (waitFd != 0) {
    syscall(SYS_dup3, waitFd, 0, 0);
  }
  syscall(SYS_close_range, 1, ~0U, 0);
  int null = static_cast<int>(syscall(SYS_openat, AT_FDCWD, "/dev/null", O_RDWR));
  if (null >= 0 && null != 1) syscall(SYS_dup3, null, 1, 0);
  if (null >= 0 && null != 2) syscall(SYS_dup3, null, 2, 0);
  syscall(SYS_chdir, "/");
  // Its own session: the caller's terminal signals (Ctrl-C) do not end it before its work.
  syscall(SYS_setsid);
  if (isPidfd) {
    for (;;) {
      struct pollfd pfd = {0, POLLIN, 0};
      struct timespec left;
      struct timespec* timeout = nullptr;
      if (killAtNs > 0) {
        struct timespec now;
        syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &now);
        long long ns = killAtNs - (now.tv_sec * 1000000000LL + now.tv_nsec);
        if (ns < 0) ns = 0;
        left.tv_sec = ns / 1000000000LL;
        left.tv_nsec = ns % 1000000000LL;
        timeout = &left;
      }
      long r = syscall(SYS_ppoll, &pfd, 1, timeout, nullptr, 0);
      if (r > 0 || (r < 0 && errno != EINTR)) break;
      if (r == 0) {
        // The wall clock's last resort, from outside: a process stopped (SIGSTOP from itself or
        // its child) or otherwise deaf to its own watchdog is killed, stopped or not, what it
        // started first (while it is still their subreaper, so none slips out to pid 1).
        KillTreeOf(watched);
        syscall(SYS_pidfd_send_signal, 0, SIGKILL, nullptr, 0);
        killAtNs = 0;
      }
    }
  } else {
    char buf[64];
    for (;;) {
      long n = syscall(SYS_read, 0, buf, sizeof buf);
      if (n == 0 || (n < 0 && errno != EINTR)) break;
    }
  }
  if (argv != nullptr) syscall(SYS_execve, argv[0], argv, envp);
  syscall(SYS_exit_group, argv != nullptr ? 127 : 0);
  __builtin_unreachable();
}

}  // namespace

Napi::Value WatchFromOutside(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!(info[0].IsString() || info[0].IsNull()) || !info[1].IsNumber()) {
    return ThrowType(env, "watchFromOutside(path | null, killAfterMs)");
  }
  const bool remove = info[0].IsString();
  std::string path = remove ? info[0].As<Napi::String>().Utf8Value() : "";
  if (remove && (path.empty() || path[0] != '/')) return ThrowType(env, "watchFromOutside(path): an absolute path");
  const double killAfterMs = info[1].As<Napi::Number>().DoubleValue();
  long long killAtNs = 0;
  if (killAfterMs > 0) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    killAtNs = now.tv_sec * 1000000000LL + now.tv_nsec + static_cast<long long>(killAfterMs * 1e6);
  }
  std::string rm = "/bin/rm", flags = "-rf", end = "--";
  char* rmArgv[] = {rm.data(), flags.data(), end.data(), path.data(), nullptr};
  char* const* argv = remove ? rmArgv : nullptr;
  char* envp[] = {nullptr};
  // What the helper waits on: this process's pidfd, or a pipe this process holds.
  const pid_t self = getpid();
  int pidfd = static_cast<int>(syscall(SYS_pidfd_open, self, 0));
  int fds[2] = {-1, -1};
  if (pidfd < 0 && pipe2(fds, O_CLOEXEC) != 0) return ThrowErrno(env, "pipe2", errno);
  const int waitFd = pidfd >= 0 ? pidfd : fds[0];
  long child = RawFork();
  if (child < 0) {
    int err = errno;
    for (int fd : {pidfd, fds[0], fds[1]}) {
      if (fd >= 0) close(fd);
    }
    return ThrowErrno(env, "clone", err);
  }
  if (child == 0) {
    // The middle process exits at once, so the helper is nobody's child here: not in this
    // process's tree (which it kills at its end) and not its to collect.
    if (fds[1] >= 0) syscall(SYS_close, fds[1]);
    if (RawFork() == 0) Helper(waitFd, pidfd >= 0, self, pidfd >= 0 ? killAtNs : 0, argv, envp);
    syscall(SYS_exit_group, 0);
  }
  if (waitFd >= 0) close(waitFd);
  int status;
  while (waitpid(static_cast<pid_t>(child), &status, __WALL) < 0 && errno == EINTR) {
  }
  // The pipe's end (without a pidfd) stays open, close-on-exec, until the process is gone.
  return Napi::Number::New(env, fds[1]);
}

}  // namespace worm
