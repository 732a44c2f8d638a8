// Waiting for the target off the JavaScript thread: one thread per child blocks in wait4() and
// hands the status and resource usage back through a thread-safe function.
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

void Deliver(Napi::Env env, Napi::Function cb, Outcome* o) {
  if (env != nullptr && cb != nullptr) {
    if (o->err != 0) {
      cb.Call({ErrnoError(env, "wait4", o->err).Value(), env.Null()});
    } else {
      Napi::Object r = Napi::Object::New(env);
      r.Set("pid", Napi::Number::New(env, o->pid));
      if (WIFEXITED(o->status)) {
        r.Set("exitCode", Napi::Number::New(env, WEXITSTATUS(o->status)));
        r.Set("signal", env.Null());
      } else {
        r.Set("exitCode", env.Null());
        r.Set("signal", Napi::Number::New(env, WTERMSIG(o->status)));
      }
      r.Set("coreDumped", Napi::Boolean::New(env, WIFSIGNALED(o->status) && WCOREDUMP(o->status)));
      Napi::Object ru = Napi::Object::New(env);
      ru.Set("userMs", Napi::Number::New(env, Ms(o->ru.ru_utime)));
      ru.Set("systemMs", Napi::Number::New(env, Ms(o->ru.ru_stime)));
      ru.Set("maxRssKb", Napi::Number::New(env, static_cast<double>(o->ru.ru_maxrss)));
      ru.Set("minorFaults", Napi::Number::New(env, static_cast<double>(o->ru.ru_minflt)));
      ru.Set("majorFaults", Napi::Number::New(env, static_cast<double>(o->ru.ru_majflt)));
      ru.Set("voluntarySwitches", Napi::Number::New(env, static_cast<double>(o->ru.ru_nvcsw)));
      ru.Set("involuntarySwitches", Napi::Number::New(env, static_cast<double>(o->ru.ru_nivcsw)));
      r.Set("rusage", ru);
      cb.Call({env.Null(), r});
    }
  }
  delete o;
}

}  // namespace

// waitChild(pid, callback(err, result)): keeps the event loop alive until the child is reaped.
Napi::Value WaitChild(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsNumber() || !info[1].IsFunction()) {
    return ThrowType(env, "waitChild(pid, callback)");
  }
  int pid = info[0].As<Napi::Number>().Int32Value();
  auto tsfn = Napi::ThreadSafeFunction::New(env, info[1].As<Napi::Function>(), "worm-run wait4", 0, 1);
  std::thread([pid, tsfn]() mutable {
    Outcome* o = new Outcome{pid, 0, 0, {}};
    while (wait4(pid, &o->status, 0, &o->ru) < 0) {
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

}  // namespace worm
