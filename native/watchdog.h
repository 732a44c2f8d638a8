#pragma once
#include <napi.h>

namespace worm {
Napi::Value StartWatchdog(const Napi::CallbackInfo& info);
Napi::Value WatchdogFired(const Napi::CallbackInfo& info);
}  // namespace worm
