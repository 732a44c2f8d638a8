#pragma once
#include <napi.h>

namespace worm {
Napi::Value Spawn(const Napi::CallbackInfo& info);
}
