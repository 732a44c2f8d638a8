// Landlock: the filesystem rules of a run (which hierarchies the target may read, write or
// execute), TCP bind/connect refused a second time (ABI >= 4), and, by being in a domain at
// all, no ptrace-class access to processes outside it; on ABI >= 6 no signals to them and no
// abstract Unix sockets outside it either.
//
// The rules come from JavaScript (src/fs/ decides them); this file only turns them into a
// ruleset the target joins just before its seccomp filter.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace worm {

// The kernel's Landlock ABI version, or a negative errno when Landlock is unavailable.
int LandlockAbi();

// Every filesystem right the given ABI knows.
uint64_t LandlockFsRights(int abi);
// The rights a rule on a non-directory may carry.
uint64_t LandlockFileRights();

struct LandlockRule {
  std::string path;
  uint64_t access;  // LANDLOCK_ACCESS_FS_* bits; masked to what the ABI handles
};

struct LandlockSpec {
  int abi = 0;      // 0: no Landlock
  uint64_t fs = 0;  // handled filesystem rights (0: the ruleset only scopes processes)
  uint64_t net = 0;
  uint64_t scoped = 0;
  std::vector<LandlockRule> rules;
};

// The plan for this kernel: `fs` rights handled (masked to the ABI), TCP and scoping as the ABI
// allows. abi < 2 is treated as no Landlock: without REFER every rename across directories
// would fail.
LandlockSpec PlanLandlock(int abi, uint64_t fs);

// Creates the ruleset (close-on-exec) and adds every rule. Returns the fd, or -errno with
// *failedPath naming the rule that failed (a path that does not exist is skipped).
int CreateLandlockRuleset(const LandlockSpec& spec, std::string* failedPath, int* skipped);

// Async-signal-safe. Returns 0 or errno.
int LandlockRestrictSelf(int ruleset_fd);

std::string DescribeLandlock(const LandlockSpec& spec);

}  // namespace worm

#include <napi.h>
namespace worm {
// Reads {fs: number, rules: [{path, access}]} into a plan for this kernel.
bool ReadLandlockSpec(Napi::Env env, Napi::Value v, LandlockSpec* out);
Napi::Value LandlockSelf(const Napi::CallbackInfo& info);
Napi::Value LandlockInfo(const Napi::CallbackInfo& info);
}  // namespace worm
