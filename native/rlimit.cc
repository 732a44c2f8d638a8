#include "rlimit.h"

#include <cerrno>
#include <string>

#include "errors.h"

namespace worm {

namespace {

struct Named {
  const char* name;
  int resource;
};
const Named kResources[] = {
    {"RLIMIT_CPU", RLIMIT_CPU},       {"RLIMIT_FSIZE", RLIMIT_FSIZE},
    {"RLIMIT_DATA", RLIMIT_DATA},     {"RLIMIT_STACK", RLIMIT_STACK},
    {"RLIMIT_CORE", RLIMIT_CORE},     {"RLIMIT_RSS", RLIMIT_RSS},
    {"RLIMIT_NPROC", RLIMIT_NPROC},   {"RLIMIT_NOFILE", RLIMIT_NOFILE},
    {"RLIMIT_MEMLOCK", RLIMIT_MEMLOCK}, {"RLIMIT_AS", RLIMIT_AS},
};

bool ReadValue(Napi::Env env, Napi::Value v, rlim_t* out) {
  if (v.IsNull() || v.IsUndefined()) {
    *out = RLIM_INFINITY;
    return true;
  }
  if (v.IsBigInt()) {
    bool lossless = true;
    uint64_t x = v.As<Napi::BigInt>().Uint64Value(&lossless);
    if (!lossless) return false;
    *out = static_cast<rlim_t>(x);
    return true;
  }
  if (v.IsNumber()) {
    double d = v.As<Napi::Number>().DoubleValue();
    if (!(d >= 0) || d > 9007199254740991.0 || d != static_cast<double>(static_cast<uint64_t>(d))) {
      return false;
    }
    *out = static_cast<rlim_t>(d);
    return true;
  }
  (void)env;
  return false;
}

}  // namespace

const char* RlimitName(int resource) {
  for (const Named& n : kResources) {
    if (n.resource == resource) return n.name;
  }
  return "RLIMIT_?";
}

bool ReadLimits(Napi::Env env, Napi::Value v, std::vector<LimitSpec>* out) {
  if (v.IsUndefined() || v.IsNull()) return true;
  if (!v.IsArray()) {
    ThrowType(env, "limits must be an array");
    return false;
  }
  Napi::Array a = v.As<Napi::Array>();
  for (uint32_t i = 0; i < a.Length(); i++) {
    Napi::Value e = a.Get(i);
    if (!e.IsObject()) {
      ThrowType(env, "limits[" + std::to_string(i) + "] must be an object");
      return false;
    }
    Napi::Object o = e.As<Napi::Object>();
    Napi::Value r = o.Get("resource");
    LimitSpec s{};
    if (!r.IsNumber()) {
      ThrowType(env, "limits[" + std::to_string(i) + "].resource must be a number");
      return false;
    }
    s.resource = r.As<Napi::Number>().Int32Value();
    if (!ReadValue(env, o.Get("soft"), &s.soft) || !ReadValue(env, o.Get("hard"), &s.hard) ||
        (s.hard != RLIM_INFINITY && s.soft > s.hard)) {
      ThrowType(env, std::string("limits: bad value for ") + RlimitName(s.resource));
      return false;
    }
    out->push_back(s);
  }
  return true;
}

int ApplyLimits(const LimitSpec* limits, size_t n, size_t* failed) {
  for (size_t i = 0; i < n; i++) {
    struct rlimit rl = {limits[i].soft, limits[i].hard};
    if (setrlimit(limits[i].resource, &rl) != 0) {
      *failed = i;
      return errno;
    }
  }
  return 0;
}

// setRlimits(limits): applies to the calling process (the in-process mode hardens itself).
Napi::Value SetRlimits(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::vector<LimitSpec> limits;
  if (!ReadLimits(env, info[0], &limits)) return env.Undefined();
  size_t failed = 0;
  int err = ApplyLimits(limits.data(), limits.size(), &failed);
  if (err != 0) {
    std::string call = std::string("setrlimit(") + RlimitName(limits[failed].resource) + ")";
    return ThrowErrno(env, call.c_str(), err);
  }
  return env.Undefined();
}

Napi::Object RlimitConstants(Napi::Env env) {
  Napi::Object o = Napi::Object::New(env);
  for (const Named& n : kResources) o.Set(n.name, Napi::Number::New(env, n.resource));
  return o;
}

}  // namespace worm
