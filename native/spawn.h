#pragma once
#include <napi.h>

namespace worm {
Napi::Value StartRun(const Napi::CallbackInfo& info);
}
