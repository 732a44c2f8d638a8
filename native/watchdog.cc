// The in-process mode's clock: a native thread, because a JavaScript timer in a process that
// runs the untrusted script can be starved by a busy loop. When the wall-clock or CPU budget
// runs out it writes the prepared audit lines itself (the event loop may be stuck), then
// signals the process: SIGTERM and, after the grace, SIGKILL for the wall clock; SIGXCPU and,
// one second later, SIGKILL for CPU.
//
// At the wall clock the script's descendants are killed first, outright: once this process is
// gone nothing could stop them, and a helper left running would outlive the limit. The process
// is a child subreaper (set by the caller), so a grandchild whose parent exited is still ours.
#include "watchdog.h"

#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <thread>

#include "chain.h"
#include "contain.h"
#include "errors.h"
#include "verdict.h"

namespace worm {

namespace {

double Now(clockid_t clock) {
  struct timespec ts;
  clock_gettime(clock, &ts);
  return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}

struct Plan {
  double timeoutMs, killAfterMs, cpuMs;
  std::string timeoutLines, cpuLines, timeoutHuman, cpuHuman;
};

// The records are written only by whoever claims the exit record first; the kill happens
// whatever the script did to that claim (it can take it, by emitting 'exit' or calling the
// addon, but it cannot stop the clock).
void Fire(const Plan& p, const std::string& lines, const std::string& human, int first, const char* firstName, double graceMs, bool tree) {
  if (ClaimExitRecord()) {
    if (!lines.empty()) AppendPrepared(lines, UsageNow(firstName, 128 + first));
    if (!human.empty()) WriteAll(2, human.data(), human.size());
  }
  if (tree) KillDescendants(nullptr);
  kill(getpid(), first);
  usleep(static_cast<useconds_t>(graceMs * 1000));
  if (tree) KillDescendants(nullptr);  // what the script started during its grace
  kill(getpid(), SIGKILL);
}

void Run(Plan p) {
  const double start = Now(CLOCK_MONOTONIC);
  for (;;) {
    usleep(10000);
    if (p.timeoutMs > 0 && Now(CLOCK_MONOTONIC) - start >= p.timeoutMs) {
      Fire(p, p.timeoutLines, p.timeoutHuman, SIGTERM, "SIGTERM", p.killAfterMs, true);
      return;
    }
    if (p.cpuMs > 0 && Now(CLOCK_PROCESS_CPUTIME_ID) >= p.cpuMs) {
      Fire(p, p.cpuLines, p.cpuHuman, SIGXCPU, "SIGXCPU", 1000, false);
      return;
    }
  }
}

double Num(Napi::Object o, const char* key) {
  Napi::Value v = o.Get(key);
  return v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : 0;
}

}  // namespace

// startWatchdog({timeoutMs, killAfterMs, cpuMs, timeoutLines, cpuLines, timeoutHuman, cpuHuman});
// the lines are record bodies chained onto the shared trail (chain.h).
Napi::Value StartWatchdog(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsObject()) return ThrowType(env, "startWatchdog(options)");
  Napi::Object o = info[0].As<Napi::Object>();
  Plan p{Num(o, "timeoutMs"), Num(o, "killAfterMs"), Num(o, "cpuMs"),
         LineOption(o, "timeoutLines"), LineOption(o, "cpuLines"), LineOption(o, "timeoutHuman"), LineOption(o, "cpuHuman")};
  if (p.timeoutMs <= 0 && p.cpuMs <= 0) return env.Undefined();
  std::thread(Run, std::move(p)).detach();
  return env.Undefined();
}

}  // namespace worm
