#pragma once
#include <napi.h>

namespace worm {
Napi::Value StartWatchdog(const Napi::CallbackInfo& info);

}  // namespace worm
