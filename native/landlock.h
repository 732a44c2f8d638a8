// Landlock as a second wall: it makes the target unable to reach processes outside its own
// domain (ptrace-class access, which covers writing /proc/PID/mem of the supervisor or of the
// shell that launched it, and on ABI >= 6 sending them signals), and on ABI >= 4 refuses TCP
// bind/connect. It restricts nothing on the filesystem.
#pragma once
#include <cstdint>
#include <string>

namespace worm {

// The kernel's Landlock ABI version, or a negative errno when Landlock is unavailable.
int LandlockAbi();

struct LandlockPlan {
  int abi = 0;
  uint64_t fs = 0, net = 0, scoped = 0;
};

LandlockPlan PlanLandlock(int abi);

// Creates the ruleset (close-on-exec). Returns the fd, or -errno.
int CreateLandlockRuleset(const LandlockPlan& plan);

// Async-signal-safe. Returns 0 or errno.
int LandlockRestrictSelf(int ruleset_fd);

std::string DescribeLandlock(const LandlockPlan& plan);

}  // namespace worm

#include <napi.h>
namespace worm {
Napi::Value LandlockSelf(const Napi::CallbackInfo& info);

}  // namespace worm
