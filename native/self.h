#pragma once
#include <napi.h>

namespace worm {
Napi::Value HardenSelf(const Napi::CallbackInfo& info);
Napi::Value SetNonDumpable(const Napi::CallbackInfo& info);
Napi::Value IsForegroundTty(const Napi::CallbackInfo& info);
Napi::Value Reraise(const Napi::CallbackInfo& info);
Napi::Value Pipe(const Napi::CallbackInfo& info);
}  // namespace worm
