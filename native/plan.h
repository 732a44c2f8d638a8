// What a run is started with: the plan read from JavaScript, and everything prepared from it
// before clone(), so that the run's init and the target (copies of this process that run only
// async-signal-safe code) never allocate, lock or call into libc's higher layers.
#pragma once
#include <linux/filter.h>
#include <sys/types.h>

#include <string>
#include <vector>

#include "landlock.h"
#include "protocol.h"
#include "rlimit.h"
#include "seccomp.h"

namespace worm {

// A change to the run's own view of the filesystem, made by init in its mount namespace.
struct MountSpec {
  enum Kind {
    kReadOnly,  // bind `target` onto itself, read-only
    kHideDir,   // an empty, read-only, mode-0 tmpfs over `target`
    kHideFile,  // /dev/null, read-only, over `target`
    kBind,      // bind `source` over `target` (a private directory over /tmp)
  } kind;
  std::string source, target;
};

struct Plan {
  std::string file;
  std::vector<std::string> argv, envp;
  bool hasCwd = false;
  std::string cwd;
  std::vector<int> fds;  // target fd i is a copy of supervisor fd fds[i]
  std::vector<LimitSpec> limits;
  bool setIds = false;
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;
  bool newPgrp = false;
  FilterOptions filterOpts;
  bool shFallback = false;
  // The run gets its own PID and mount namespaces (and a user namespace when worm-run is not
  // root); otherwise init is a child subreaper in worm-run's namespaces.
  bool namespaces = false;
  bool userNamespace = false;
  std::vector<MountSpec> mounts;
  LandlockSpec landlock;
};

// The target's filter, in the two forms tried in order: refusals reported to the supervisor's
// listener, or (when the kernel gives no listener) answered by the kernel alone.
struct Programs {
  std::vector<sock_filter> notify, plain, init;
  struct sock_fprog notifyProg = {0, nullptr}, plainProg = {0, nullptr}, initProg = {0, nullptr};
};

struct Prepared {
  std::vector<char*> argv, envp, shArgv;
  Programs filters;
  int rulesetFd = -1;
  pid_t supervisor = 0;
  uid_t mapUid = 0;
  gid_t mapGid = 0;
  char uidMap[64] = {0}, gidMap[64] = {0};
  // Descriptors handed to init (renumbered by init above everything it keeps).
  int ctl = -1;     // the child end of the control socket
  int cmd = -1;     // read end of the command pipe
  int status = -1;  // write end of the status pipe
  // The supervisor's environment block (fields 50 and 51 of /proc/self/stat), which init zeroes
  // in its copy; 0 when unknown.
  unsigned long envStart = 0, envEnd = 0;
  // Filled in by init before it starts the target.
  int oldProc = -1;  // worm-run's /proc, for the target's own pid as the supervisor sees it
  pid_t init = 0;
  Facts facts;
  std::vector<int> src;  // where init keeps the sources of the target's descriptors (sized fds.size())
  std::vector<int> tmp;  // scratch for the target's descriptor shuffle (sized fds.size())
  std::vector<int> keep; // scratch for init's list of descriptors to keep
};

// Async-signal-safe helpers shared by init and the target.
[[noreturn]] void ReportFailure(int fd, int stage, int err, int detail = 0);
long RawClone(unsigned long flags);
void WriteFull(int fd, const void* data, size_t len);

// What a target running as root keeps (target.cc): returns 0 or errno.
int DropRootCapabilities();

[[noreturn]] void InitMain(const Plan& p, Prepared& q);
// The target, from its clone until execve. It shares init's memory (CLONE_VM): it writes only
// its own stack and q.tmp, never anything init reads afterwards.
[[noreturn]] void TargetMain(const Plan& p, Prepared& q);

}  // namespace worm

#include <napi.h>
namespace worm {
Napi::Value DropRootCapabilitiesJs(const Napi::CallbackInfo& info);
}  // namespace worm
