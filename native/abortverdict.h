#pragma once
#include <napi.h>

namespace worm {
Napi::Value ArmAbortRecord(const Napi::CallbackInfo& info);
}  // namespace worm
