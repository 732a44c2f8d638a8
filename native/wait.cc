// Waiting for the target off the JavaScript thread: one thread per child blocks in waitid()
// with WNOWAIT, so the target is left a zombie: its pid and process group cannot be reused
// while the supervisor cleans up the rest of the run. reapChild() then collects the status and
// resource usage with wait4().
#include "wait.h"

#include <sys/resource.h>
#include <sys/wait.h>

#include <cerrno>
#include <thread>

#include "errors.h"

namespace worm {

namespace {

struct Outcome {
  int pid;
  int status;
  int err;
  struct rusage ru;
};

double Ms(const struct timeval& tv) { return tv.tv_sec * 1000.0 + tv.tv_usec / 1000.0; }

Napi::Object ToObject(Napi::Env env, const Outcome& o) {
  Napi::Object r = Napi::Object::New(env);
  r.Set("pid", Napi::Number::New(env, o.pid));
  if (WIFEXITED(o.status)) {
    r.Set("exitCode", Napi::Number::New(env, WEXITSTATUS(o.status)));
    r.Set("signal", env.Null());
  } else {
    r.Set("exitCode", env.Null());
    r.Set("signal", Napi::Number::New(env, WTERMSIG(o.status)));
  }
  r.Set("coreDumped", Napi::Boolean::New(env, WIFSIGNALED(o.status) && WCOREDUMP(o.status)));
  Napi::Object ru = Napi::Object::New(env);
  ru.Set("userMs", Napi::Number::New(env, Ms(o.ru.ru_utime)));
  ru.Set("systemMs", Napi::Number::New(env, Ms(o.ru.ru_stime)));
  ru.Set("maxRssKb", Napi::Number::New(env, static_cast<double>(o.ru.ru_maxrss)));
  ru.Set("minorFaults", Napi::Number::New(env, static_cast<double>(o.ru.ru_minflt)));
  ru.Set("majorFaults", Napi::Number::New(env, static_cast<double>(o.ru.ru_majflt)));
  ru.Set("voluntarySwitches", Napi::Number::New(env, static_cast<double>(o.ru.ru_nvcsw)));
  ru.Set("involuntarySwitches", Napi::Number::New(env, static_cast<double>(o.ru.ru_nivcsw)));
  r.Set("rusage", ru);
  return r;
}

// The exit is announced (callback(null)) with the target still a zombie; errors as callback(err).
void Deliver(Napi::Env env, Napi::Function cb, Outcome* o) {
  if (env != nullptr && cb != nullptr) {
    if (o->err != 0) {
      cb.Call({ErrnoError(env, "waitid", o->err).Value()});
    } else {
      cb.Call({env.Null()});
    }
  }
  delete o;
}

}  // namespace

// waitChild(pid, callback(err)): keeps the event loop alive until the child has exited.
Napi::Value WaitChild(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsNumber() || !info[1].IsFunction()) {
    return ThrowType(env, "waitChild(pid, callback)");
  }
  int pid = info[0].As<Napi::Number>().Int32Value();
  auto tsfn = Napi::ThreadSafeFunction::New(env, info[1].As<Napi::Function>(), "worm-run wait4", 0, 1);
  std::thread([pid, tsfn]() mutable {
    Outcome* o = new Outcome{pid, 0, 0, {}};
    siginfo_t si;
    while (waitid(P_PID, pid, &si, WEXITED | WNOWAIT) < 0) {
      if (errno != EINTR) {
        o->err = errno;
        break;
      }
    }
    if (tsfn.BlockingCall(o, Deliver) != napi_ok) delete o;
    tsfn.Release();
  }).detach();
  return env.Undefined();
}

// reapChild(pid) -> the result waitChild's callback describes. Call once the exit was announced.
Napi::Value ReapChild(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsNumber()) return ThrowType(env, "reapChild(pid)");
  Outcome o{info[0].As<Napi::Number>().Int32Value(), 0, 0, {}};
  while (wait4(o.pid, &o.status, 0, &o.ru) < 0) {
    if (errno != EINTR) return ThrowErrno(env, "wait4", errno);
  }
  return ToObject(env, o);
}

}  // namespace worm
