#include "landlock.h"

#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

#ifndef __NR_landlock_create_ruleset
#define __NR_landlock_create_ruleset 444
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
constexpr uint32_t kCreateRulesetVersion = 1u << 0;
constexpr uint64_t kFsMakeBlock = 1ull << 11;      // ABI 1
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
  p.abi = abi;
  if (abi <= 0) return p;
  if (abi >= 4) {
    p.net = kNetBindTcp | kNetConnectTcp;
  } else {
    // A domain needs at least one handled right. Creating block devices is one nobody we run
    // needs, and being in any domain is what cuts ptrace-class access to the outside.
    p.fs = kFsMakeBlock;
  }
  if (abi >= 6) p.scoped = kScopeAbstractUnix | kScopeSignal;
  return p;
}

int CreateLandlockRuleset(const LandlockPlan& plan) {
  RulesetAttr attr = {plan.fs, plan.net, plan.scoped};
  size_t size = plan.abi >= 6 ? sizeof attr : plan.abi >= 4 ? 16 : 8;
  long fd = syscall(__NR_landlock_create_ruleset, &attr, size, 0);
  return fd < 0 ? -errno : static_cast<int>(fd);
}

int LandlockRestrictSelf(int ruleset_fd) {
  return syscall(__NR_landlock_restrict_self, ruleset_fd, 0) == 0 ? 0 : errno;
}

std::string DescribeLandlock(const LandlockPlan& plan) {
  if (plan.abi <= 0) return "unavailable";
  std::string s = "abi " + std::to_string(plan.abi) + ": no access to processes outside";
  if (plan.net) s += ", TCP bind/connect refused";
  if (plan.scoped) s += ", abstract unix sockets and signals scoped to the sandbox";
  if (plan.fs) s += ", block device creation refused";
  return s;
}

}  // namespace worm
