// Resource limits: the spec JavaScript hands over, and applying it.
#pragma once
#include <napi.h>
#include <sys/resource.h>

#include <vector>

namespace worm {

struct LimitSpec {
  int resource;
  rlim_t soft;
  rlim_t hard;
};

// Reads [{resource, soft, hard}] (soft/hard: number, bigint, or null for unlimited).
// On a bad value sets a pending TypeError and returns false.
bool ReadLimits(Napi::Env env, Napi::Value v, std::vector<LimitSpec>* out);

// Async-signal-safe; returns 0 or the errno of the first failure, its index in *failed.
int ApplyLimits(const LimitSpec* limits, size_t n, size_t* failed);

const char* RlimitName(int resource);

Napi::Value SetRlimits(const Napi::CallbackInfo& info);
Napi::Object RlimitConstants(Napi::Env env);

}  // namespace worm
