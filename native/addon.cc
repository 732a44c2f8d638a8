// The addon's surface. src/native.ts is the only module that loads it.
#include <napi.h>

#include "chain.h"
#include "cleanup.h"
#include "contain.h"
#include "exitrecord.h"
#include "landlock.h"
#include "plan.h"
#include "probe.h"
#include "reserve.h"
#include "run_handle.h"
#include "rlimit.h"
#include "seccomp.h"
#include "terminal.h"
#include "self.h"
#include "spawn.h"
#include "verdict.h"
#include "watchdog.h"

namespace worm {

// Bumped whenever the functions below change, and checked by src/native.ts: a stale build or
// prebuild fails with a clear message instead of a missing function halfway through a run.
constexpr int kAddonAbi = 18;

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("abi", Napi::Number::New(env, kAddonAbi));
  RunHandle::Register(env, exports);
  exports.Set("startRun", Napi::Function::New(env, StartRun, "startRun"));
  exports.Set("describeFilter", Napi::Function::New(env, DescribeFilter, "describeFilter"));
  exports.Set("hardenSelf", Napi::Function::New(env, HardenSelf, "hardenSelf"));
  exports.Set("setNonDumpable", Napi::Function::New(env, SetNonDumpable, "setNonDumpable"));
  exports.Set("dropRootCapabilities", Napi::Function::New(env, DropRootCapabilitiesJs, "dropRootCapabilities"));
  exports.Set("containChildren", Napi::Function::New(env, ContainChildren, "containChildren"));
  exports.Set("watchFromOutside", Napi::Function::New(env, WatchFromOutside, "watchFromOutside"));
  exports.Set("killDescendants", Napi::Function::New(env, KillDescendantsJs, "killDescendants"));
  exports.Set("isForegroundTty", Napi::Function::New(env, IsForegroundTty, "isForegroundTty"));
  exports.Set("guardTerminal", Napi::Function::New(env, GuardTerminal, "guardTerminal"));
  exports.Set("restoreTerminal", Napi::Function::New(env, RestoreTerminal, "restoreTerminal"));
  exports.Set("terminalWriter", Napi::Function::New(env, TerminalWriter, "terminalWriter"));
  exports.Set("exitNow", Napi::Function::New(env, ExitNow, "exitNow"));
  exports.Set("reraise", Napi::Function::New(env, Reraise, "reraise"));
  exports.Set("pipe", Napi::Function::New(env, Pipe, "pipe"));
  exports.Set("setRlimits", Napi::Function::New(env, SetRlimits, "setRlimits"));
  exports.Set("seccompSupport", Napi::Function::New(env, SeccompSupport, "seccompSupport"));
  exports.Set("probeKernel", Napi::Function::New(env, ProbeKernel, "probeKernel"));
  exports.Set("probeSocket", Napi::Function::New(env, ProbeSocket, "probeSocket"));
  exports.Set("probeIoUring", Napi::Function::New(env, ProbeIoUring, "probeIoUring"));
  exports.Set("ioUringFds", Napi::Function::New(env, IoUringFds, "ioUringFds"));
  exports.Set("landlockSelf", Napi::Function::New(env, LandlockSelf, "landlockSelf"));
  exports.Set("landlockInfo", Napi::Function::New(env, LandlockInfo, "landlockInfo"));
  exports.Set("startWatchdog", Napi::Function::New(env, StartWatchdog, "startWatchdog"));
  exports.Set("claimExitRecord", Napi::Function::New(env, ClaimExitRecordJs, "claimExitRecord"));
  exports.Set("armExitRecord", Napi::Function::New(env, ArmExitRecord, "armExitRecord"));
  exports.Set("chainAppend", Napi::Function::New(env, ChainAppendJs, "chainAppend"));
  exports.Set("shareTrail", Napi::Function::New(env, ShareTrailJs, "shareTrail"));
  exports.Set("sha256Hex", Napi::Function::New(env, Sha256HexJs, "sha256Hex"));
  exports.Set("reserveSpace", Napi::Function::New(env, ReserveSpaceJs, "reserveSpace"));
  exports.Set("rlimits", RlimitConstants(env));
  return exports;
}

}  // namespace worm

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) {
  return worm::Init(env, exports);
}

NODE_API_MODULE(worm_run, InitAddon)
