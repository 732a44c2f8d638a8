#pragma once
#include <napi.h>

namespace worm {
Napi::Value WaitChild(const Napi::CallbackInfo& info);
}
