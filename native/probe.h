#pragma once
#include <napi.h>

namespace worm {
Napi::Value SeccompSupport(const Napi::CallbackInfo& info);
Napi::Value ProbeKernel(const Napi::CallbackInfo& info);
Napi::Value ProbeSocket(const Napi::CallbackInfo& info);
Napi::Value ProbeIoUring(const Napi::CallbackInfo& info);
Napi::Value IoUringFds(const Napi::CallbackInfo& info);
}  // namespace worm
