#include "landlock.h"

#include <sys/prctl.h>

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#ifndef __NR_landlock_create_ruleset
#define __NR_landlock_create_ruleset 444
#define __NR_landlock_add_rule 445
#define __NR_landlock_restrict_self 446
#endif

namespace worm {

namespace {
// The system headers on Debian 12 predate the net and scope fields, so the ABI is spelled here.
struct RulesetAttr {
  uint64_t handled_access_fs;
  uint64_t handled_access_net;
  uint64_t scoped;
};
struct PathBeneathAttr {
  uint64_t allowed_access;
  int32_t parent_fd;
} __attribute__((packed));
constexpr uint32_t kCreateRulesetVersion = 1u << 0;
constexpr int kRulePathBeneath = 1;
constexpr uint64_t kFsWriteFile = 1ull << 1;       // ABI 1
constexpr uint64_t kFsRefer = 1ull << 13;          // ABI 2
constexpr uint64_t kFsTruncate = 1ull << 14;       // ABI 3
// The rights a rule on a non-directory may carry.
constexpr uint64_t kFsFileRights = kFsWriteFile | kFsTruncate;
constexpr uint64_t kNetBindTcp = 1ull << 0;         // ABI 4
constexpr uint64_t kNetConnectTcp = 1ull << 1;      // ABI 4
constexpr uint64_t kScopeAbstractUnix = 1ull << 0;  // ABI 6
constexpr uint64_t kScopeSignal = 1ull << 1;        // ABI 6
}  // namespace

int LandlockAbi() {
  long v = syscall(__NR_landlock_create_ruleset, nullptr, 0, kCreateRulesetVersion);
  return v < 0 ? -errno : static_cast<int>(v);
}

LandlockPlan PlanLandlock(int abi) {
  LandlockPlan p;
  // ABI 1 handles only file access, which without REFER (ABI 2) would also refuse every rename
  // across directories: nothing usable, so it is treated as no Landlock.
  if (abi < 2) return p;
  p.abi = abi;
  // Writing files is refused under /proc and /sys only (every other top-level directory gets
  // a rule that allows it): as root, /proc/sys/kernel/core_pattern, /proc/sys/net and
  // /sys/class/net are ways to act outside the sandbox or configure a network without a
  // socket. Being in any domain is also what cuts ptrace-class access to the outside.
  // REFER is handled (and granted by the rules) too: a ruleset that handles file access
  // without it refuses every rename across directories (EXDEV).
  p.fs = kFsWriteFile | kFsRefer | (abi >= 3 ? kFsTruncate : 0);
  if (abi >= 4) p.net = kNetBindTcp | kNetConnectTcp;
  if (abi >= 6) p.scoped = kScopeAbstractUnix | kScopeSignal;
  return p;
}

int CreateLandlockRuleset(const LandlockPlan& plan) {
  RulesetAttr attr = {plan.fs, plan.net, plan.scoped};
  size_t size = plan.abi >= 6 ? sizeof attr : plan.abi >= 4 ? 16 : 8;
  long fd = syscall(__NR_landlock_create_ruleset, &attr, size, 0);
  if (fd < 0) return -errno;
  DIR* root = opendir("/");
  if (root == nullptr) {
    int err = errno;
    close(static_cast<int>(fd));
    return -err;
  }
  while (struct dirent* e = readdir(root)) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") || !strcmp(e->d_name, "proc") ||
        !strcmp(e->d_name, "sys")) {
      continue;
    }
    int dirfd = openat(::dirfd(root), e->d_name, O_PATH | O_CLOEXEC);
    if (dirfd < 0) continue;  // vanished or unreadable: then nothing is written there either
    struct stat st;
    bool dir = fstat(dirfd, &st) == 0 && S_ISDIR(st.st_mode);
    PathBeneathAttr rule = {dir ? plan.fs : (plan.fs & kFsFileRights), dirfd};
    syscall(__NR_landlock_add_rule, fd, kRulePathBeneath, &rule, 0);
    close(dirfd);
  }
  closedir(root);
  return static_cast<int>(fd);
}

int LandlockRestrictSelf(int ruleset_fd) {
  return syscall(__NR_landlock_restrict_self, ruleset_fd, 0) == 0 ? 0 : errno;
}

std::string DescribeLandlock(const LandlockPlan& plan) {
  if (plan.abi <= 0) return "unavailable";
  std::string s = "abi " + std::to_string(plan.abi) + ": no access to processes outside";
  if (plan.net) s += ", TCP bind/connect refused";
  if (plan.scoped) s += ", abstract unix sockets and signals scoped to the sandbox";
  if (plan.fs) s += ", no file writes under /proc and /sys";
  return s;
}

}  // namespace worm

// ---- bindings ------------------------------------------------------------------------------
#include "errors.h"

namespace worm {

// landlockSelf() -> description. The in-process mode's own domain. Landlock restricts the
// calling thread (and threads it creates later), not threads that already exist.
Napi::Value LandlockSelf(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int abi = LandlockAbi();
  if (abi <= 0) return Napi::String::New(env, "unavailable");
  LandlockPlan plan = PlanLandlock(abi);
  int fd = CreateLandlockRuleset(plan);
  if (fd < 0) return ThrowErrno(env, "landlock_create_ruleset", -fd);
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
    close(fd);
    return ThrowErrno(env, "prctl(PR_SET_NO_NEW_PRIVS)", errno);
  }
  int err = LandlockRestrictSelf(fd);
  close(fd);
  if (err != 0) return ThrowErrno(env, "landlock_restrict_self", err);
  return Napi::String::New(env, DescribeLandlock(plan) + " (main thread and threads it starts)");
}

}  // namespace worm
