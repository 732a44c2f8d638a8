#pragma once
#include <napi.h>

namespace worm {
Napi::Value ArmExitRecord(const Napi::CallbackInfo& info);
}  // namespace worm
