// What the kernel provides, measured rather than assumed: used by the start-up check, the
// `start` audit record and `worm-run doctor`.
#include "probe.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "errors.h"
#include "landlock.h"

#ifndef SECCOMP_GET_ACTION_AVAIL
#define SECCOMP_GET_ACTION_AVAIL 2
#endif
#ifndef SECCOMP_GET_NOTIF_SIZES
#define SECCOMP_GET_NOTIF_SIZES 3
#endif

namespace worm {

namespace {

// 0 when a seccomp filter that returns ERRNO can be installed, else the errno.
int SeccompFilterSupport() {
  if (prctl(PR_GET_SECCOMP, 0, 0, 0, 0) < 0) return errno;
  uint32_t action = SECCOMP_RET_ERRNO;
  if (syscall(__NR_seccomp, SECCOMP_GET_ACTION_AVAIL, 0, &action) != 0) return errno;
  return 0;
}

// Installs an allow-all filter with TSYNC in a throw-away child: the only sure test.
int TsyncSupport() {
  pid_t pid = fork();
  if (pid < 0) return errno;
  if (pid == 0) {
    struct sock_filter allow = BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    struct sock_fprog prog = {1, &allow};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) _exit(1);
    long r = syscall(__NR_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &prog);
    _exit(r == 0 ? 0 : 2);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : EINVAL;
}

bool NotifSupport() {
  struct {
    uint16_t a, b, c;
  } sizes;
  return syscall(__NR_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &sizes) == 0;
}

// io_uring_setup with an invalid argument: EFAULT/EINVAL means the call exists.
const char* IoUring() {
  long r = syscall(__NR_io_uring_setup, 0, nullptr);
  if (r >= 0) {
    close(static_cast<int>(r));
    return "present";
  }
  if (errno == ENOSYS) return "absent";
  if (errno == EPERM) return "disabled";
  return "present";
}

}  // namespace

// seccompSupport() -> 0 or errno (fast: two syscalls, run on every start).
Napi::Value SeccompSupport(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), SeccompFilterSupport());
}

// probeKernel() -> { seccomp, tsync, userNotif, landlockAbi, ioUring }
Napi::Value ProbeKernel(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  int s = SeccompFilterSupport();
  o.Set("seccomp", Napi::Boolean::New(env, s == 0));
  o.Set("seccompErrno", Napi::Number::New(env, s));
  o.Set("tsync", Napi::Boolean::New(env, s == 0 && TsyncSupport() == 0));
  o.Set("userNotif", Napi::Boolean::New(env, NotifSupport()));
  int abi = LandlockAbi();
  o.Set("landlockAbi", Napi::Number::New(env, abi > 0 ? abi : 0));
  o.Set("ioUring", Napi::String::New(env, IoUring()));
  return o;
}

// probeSocket(family, type) -> 0 when the socket could be created (it is closed again), else
// errno. The doctor's live self-test runs this inside a target to see the filter answer.
Napi::Value ProbeSocket(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsNumber() || !info[1].IsNumber()) return ThrowType(env, "probeSocket(family, type)");
  int fd = socket(info[0].As<Napi::Number>().Int32Value(), info[1].As<Napi::Number>().Int32Value(), 0);
  if (fd >= 0) {
    close(fd);
    return Napi::Number::New(env, 0);
  }
  return Napi::Number::New(env, errno);
}

// probeIoUring() -> errno of io_uring_setup(1, params): ENOSYS under the filter.
Napi::Value ProbeIoUring(const Napi::CallbackInfo& info) {
  struct {
    uint32_t w[30];
  } params = {};
  long fd = syscall(__NR_io_uring_setup, 1, &params);
  if (fd >= 0) {
    close(static_cast<int>(fd));
    return Napi::Number::New(info.Env(), 0);
  }
  return Napi::Number::New(info.Env(), errno);
}

// ioUringFds() -> how many io_uring instances this process holds (libuv on Node 22+ sets some
// up at start). A native scan: the in-process mode asks on every start, and readlink from JS
// costs a quarter of a millisecond here.
Napi::Value IoUringFds(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  DIR* d = opendir("/proc/self/fd");
  if (d == nullptr) return ThrowErrno(env, "opendir(/proc/self/fd)", errno);
  const int self = dirfd(d);
  int rings = 0;
  char link[64];
  while (struct dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    ssize_t n = readlinkat(self, e->d_name, link, sizeof link - 1);
    if (n < 0) continue;  // closed meanwhile, or the directory's own descriptor
    link[n] = '\0';
    if (std::strcmp(link, "anon_inode:[io_uring]") == 0) ++rings;
  }
  closedir(d);
  return Napi::Number::New(env, rings);
}

}  // namespace worm
