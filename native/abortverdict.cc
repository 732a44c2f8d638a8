// The in-process mode's memory verdict. A running Node cannot have its V8 heap resized, so
// under --memory the script's own process meets RLIMIT_DATA directly: an allocation fails and
// Node aborts ("JavaScript heap out of memory", SIGABRT). No JavaScript runs after that, so a
// SIGABRT handler writes the prepared records when the evidence holds (peak RSS at or above the
// threshold, the same rule the supervisor applies), then lets the abort finish.
#include "abortverdict.h"

#include <signal.h>
#include <sys/resource.h>

#include <cerrno>
#include <string>

#include "errors.h"
#include "verdict.h"

namespace worm {

namespace {

struct Plan {
  int auditFd;
  long thresholdKb;
  std::string lines, human;
};

// Set once, before the handler is installed, and never freed: the handler may run at any time
// until the process ends.
const Plan* plan = nullptr;

void OnAbort(int) {
  const int saved = errno;
  struct rusage ru;
  if (plan != nullptr && getrusage(RUSAGE_SELF, &ru) == 0 && ru.ru_maxrss >= plan->thresholdKb && ClaimVerdict()) {
    char buf[4096];
    const long rssMib = (ru.ru_maxrss + 512) / 1024;
    if (plan->auditFd >= 0) WriteAll(plan->auditFd, buf, ExpandVerdict(plan->lines, buf, sizeof buf, rssMib));
    WriteAll(2, buf, ExpandVerdict(plan->human, buf, sizeof buf, rssMib));
  }
  errno = saved;
  // SA_RESETHAND has put the default action back: when abort() raised this signal it raises it
  // again on return; a SIGABRT sent by someone else is delivered again here and ends the process
  // as it would have without the handler.
  raise(SIGABRT);
}

}  // namespace

// armMemoryVerdict({auditFd, thresholdKb, lines, human}); the lines carry "__TIME__" and
// "__RSS_MIB__", filled in when the handler runs. Arming twice is refused.
Napi::Value ArmMemoryVerdict(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsObject()) return ThrowType(env, "armMemoryVerdict(options)");
  Napi::Object o = info[0].As<Napi::Object>();
  if (!o.Get("thresholdKb").IsNumber() || !o.Get("auditFd").IsNumber() || !o.Get("lines").IsString() || !o.Get("human").IsString()) {
    return ThrowType(env, "armMemoryVerdict({auditFd, thresholdKb, lines, human})");
  }
  if (plan != nullptr) return ThrowType(env, "armMemoryVerdict: already armed");
  plan = new Plan{o.Get("auditFd").As<Napi::Number>().Int32Value(),
                  static_cast<long>(o.Get("thresholdKb").As<Napi::Number>().Int64Value()),
                  o.Get("lines").As<Napi::String>().Utf8Value(), o.Get("human").As<Napi::String>().Utf8Value()};
  struct sigaction sa {};
  sa.sa_handler = OnAbort;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESETHAND;
  if (sigaction(SIGABRT, &sa, nullptr) != 0) return ThrowErrno(env, "sigaction(SIGABRT)", errno);
  return env.Undefined();
}

}  // namespace worm
