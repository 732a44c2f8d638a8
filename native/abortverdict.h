#pragma once
#include <napi.h>

namespace worm {
Napi::Value ArmMemoryVerdict(const Napi::CallbackInfo& info);
}  // namespace worm
