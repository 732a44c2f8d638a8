// The in-process mode's record of an abort. When the script's process aborts (SIGABRT) no
// JavaScript runs again, so the JS 'exit' record would be lost; a SIGABRT handler writes one.
//
// It is also where the memory verdict comes from: a running Node cannot have its V8 heap
// resized, so under --memory the script's own process meets RLIMIT_DATA directly, an allocation
// fails and Node aborts ("JavaScript heap out of memory"). When the evidence holds (peak RSS at
// or above the threshold, the supervisor's rule) the handler writes the `limit` record, an
// `exit` record naming the limit and the human line; otherwise an `exit` record without a limit.
// Then it lets the abort finish.
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
  long thresholdKb;  // 0: no memory cap, never a verdict
  std::string verdictLines, plainLines, human;
};

// Set once, before the handler is installed, and never freed: the handler may run at any time
// until the process ends.
const Plan* plan = nullptr;

void OnAbort(int) {
  const int saved = errno;
  struct rusage ru;
  if (plan != nullptr && ClaimVerdict()) {
    const bool memory = plan->thresholdKb > 0 && getrusage(RUSAGE_SELF, &ru) == 0 && ru.ru_maxrss >= plan->thresholdKb;
    const long rssMib = memory ? (ru.ru_maxrss + 512) / 1024 : 0;
    char buf[4096];
    if (plan->auditFd >= 0) {
      const std::string& lines = memory ? plan->verdictLines : plan->plainLines;
      WriteAll(plan->auditFd, buf, ExpandVerdict(lines, buf, sizeof buf, rssMib));
    }
    if (memory) WriteAll(2, buf, ExpandVerdict(plan->human, buf, sizeof buf, rssMib));
  }
  errno = saved;
  // SA_RESETHAND has put the default action back: when abort() raised this signal it raises it
  // again on return; a SIGABRT sent by someone else is delivered again here and ends the process
  // as it would have without the handler.
  raise(SIGABRT);
}

std::string Str(Napi::Object o, const char* key) {
  Napi::Value v = o.Get(key);
  return v.IsString() ? v.As<Napi::String>().Utf8Value() : std::string();
}

}  // namespace

// armAbortRecord({auditFd, thresholdKb, verdictLines, plainLines, human}); the lines carry
// "__TIME__" and "__RSS_MIB__", filled in when the handler runs. Arming twice is refused.
Napi::Value ArmAbortRecord(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsObject()) return ThrowType(env, "armAbortRecord(options)");
  Napi::Object o = info[0].As<Napi::Object>();
  if (!o.Get("thresholdKb").IsNumber() || !o.Get("auditFd").IsNumber()) {
    return ThrowType(env, "armAbortRecord({auditFd, thresholdKb, verdictLines, plainLines, human})");
  }
  if (plan != nullptr) return ThrowType(env, "armAbortRecord: already armed");
  plan = new Plan{o.Get("auditFd").As<Napi::Number>().Int32Value(),
                  static_cast<long>(o.Get("thresholdKb").As<Napi::Number>().Int64Value()),
                  Str(o, "verdictLines"), Str(o, "plainLines"), Str(o, "human")};
  struct sigaction sa {};
  sa.sa_handler = OnAbort;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESETHAND;
  if (sigaction(SIGABRT, &sa, nullptr) != 0) return ThrowErrno(env, "sigaction(SIGABRT)", errno);
  return env.Undefined();
}

}  // namespace worm
