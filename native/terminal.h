#pragma once
#include <napi.h>

namespace worm {
Napi::Value GuardTerminal(const Napi::CallbackInfo& info);
Napi::Value RestoreTerminal(const Napi::CallbackInfo& info);
Napi::Value TerminalWriter(const Napi::CallbackInfo& info);
Napi::Value ExitNow(const Napi::CallbackInfo& info);
}  // namespace worm
