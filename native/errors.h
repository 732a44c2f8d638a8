// Turning failures into JavaScript errors. Nothing here throws C++ exceptions: the addon is
// built with NAPI_DISABLE_CPP_EXCEPTIONS, so every failure becomes a pending JS exception and
// the binding returns undefined.
#pragma once
#include <napi.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace worm {

// An Error carrying the failed call's name and errno, e.g.
// "seccomp(SECCOMP_SET_MODE_FILTER) failed: Invalid argument (errno 22)".
inline Napi::Error ErrnoError(Napi::Env env, const char* call, int err) {
  std::string msg = std::string(call) + " failed: " + std::strerror(err) + " (errno " +
                    std::to_string(err) + ")";
  Napi::Error e = Napi::Error::New(env, msg);
  e.Set("code", Napi::String::New(env, "ERR_WORM_SYSCALL"));
  e.Set("syscall", Napi::String::New(env, call));
  e.Set("errno", Napi::Number::New(env, err));
  return e;
}

inline Napi::Value ThrowErrno(Napi::Env env, const char* call, int err) {
  ErrnoError(env, call, err).ThrowAsJavaScriptException();
  return env.Undefined();
}

inline Napi::Value ThrowType(Napi::Env env, const std::string& msg) {
  Napi::TypeError e = Napi::TypeError::New(env, msg);
  e.Set("code", Napi::String::New(env, "ERR_WORM_INVALID_ARGUMENT"));
  e.ThrowAsJavaScriptException();
  return env.Undefined();
}

}  // namespace worm
