#pragma once
#include <napi.h>

namespace worm {
Napi::Value WaitChild(const Napi::CallbackInfo& info);
Napi::Value ReapChild(const Napi::CallbackInfo& info);
}
