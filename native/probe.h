#pragma once
#include <napi.h>

namespace worm {
Napi::Value SeccompSupport(const Napi::CallbackInfo& info);
Napi::Value ProbeKernel(const Napi::CallbackInfo& info);
}  // namespace worm
