// The in-process mode's exit record when the process dies of a signal. No JavaScript runs then
// (an abort, or SIGINT/SIGTERM/SIGHUP... with no listener: Node's own handler resets the terminal
// and re-raises), so the JS 'exit' record would be lost; a handler for each of these signals
// writes a prepared one, then puts the previous action back and re-raises, so the process ends
// exactly as it would have. A script that listens for a signal replaces this handler (libuv
// installs its own): then it decides, and its exit goes through the JS record as usual.
//
// The memory verdict comes from here too. A running Node cannot have its V8 heap resized, so
// under --memory the script's own process meets RLIMIT_DATA directly: an allocation fails and
// Node aborts ("JavaScript heap out of memory"). When the evidence holds (peak RSS at or above
// the threshold, the supervisor's rule) a SIGABRT writes the `limit` record, an `exit` record
// naming the limit and the human line instead.
//
// SIGKILL cannot be caught; SIGSEGV, SIGBUS, SIGILL, SIGFPE and SIGTRAP are left to Node and V8
// (WebAssembly bounds checks use SIGSEGV); SIGPIPE and SIGXFSZ are ignored by Node; SIGUSR1
// starts Node's inspector; SIGPROF belongs to the profiler.
#include "exitrecord.h"

#include <signal.h>

#include <cerrno>
#include <string>

#include "chain.h"
#include "contain.h"
#include "errors.h"
#include "verdict.h"

namespace worm {

namespace {

struct Caught {
  int signo;
  const char* name;
  struct sigaction previous;
};

Caught caught[] = {
    {SIGHUP, "SIGHUP", {}},   {SIGINT, "SIGINT", {}},   {SIGQUIT, "SIGQUIT", {}}, {SIGTERM, "SIGTERM", {}},
    {SIGUSR2, "SIGUSR2", {}}, {SIGALRM, "SIGALRM", {}}, {SIGABRT, "SIGABRT", {}},
};

struct Plan {
  long thresholdKb;  // 0: no memory cap, never a verdict
  std::string exitLine, memoryLines, human;
};

// Set once, before the handlers are installed, and never freed: a handler may run at any time
// until the process ends.
const Plan* plan = nullptr;

void OnSignal(int signo) {
  const int saved = errno;
  Caught* c = nullptr;
  for (Caught& each : caught) {
    if (each.signo == signo) c = &each;
  }
  if (c == nullptr) {
    errno = saved;
    return;
  }
  if (plan != nullptr && ClaimExitRecord()) {
    const Fill fill = UsageNow(c->name, 128 + signo);
    const bool memory = signo == SIGABRT && plan->thresholdKb > 0 && fill.rssKb >= plan->thresholdKb;
    // Chained onto the trail (a no-op without one); the verdict's human line after the records.
    AppendPrepared(memory ? plan->memoryLines : plan->exitLine, fill);
    if (memory) {
      char buf[4096];
      WriteAll(2, buf, ExpandVerdict(plan->human.data(), plan->human.size(), buf, sizeof buf, fill));
    }
  }
  // The process is about to end: nothing the script started may outlive it (a death by signal
  // runs no atexit handler, so the sweep is done here).
  KillDescendants(nullptr);
  // The signal is blocked while this runs: raised again, it reaches the previous action (Node's
  // handler or the default) as soon as this returns. abort() ends the process either way.
  sigaction(signo, &c->previous, nullptr);
  raise(signo);
  errno = saved;
}

// Whether the action found in place ends the process: the default, or Node's own exit handler
// for SIGINT/SIGTERM (one-shot, SA_RESETHAND, it resets the terminal and re-raises). A libuv
// handler (SA_RESTART, not one-shot) means JavaScript listens for the signal already, and an
// ignored signal stays ignored: those are left alone.
bool EndsTheProcess(const struct sigaction& a) {
  if (!(a.sa_flags & SA_SIGINFO) && a.sa_handler == SIG_DFL) return true;
  if (!(a.sa_flags & SA_SIGINFO) && a.sa_handler == SIG_IGN) return false;
  return (a.sa_flags & SA_RESETHAND) && !(a.sa_flags & SA_RESTART);
}

}  // namespace

// armExitRecord({thresholdKb, exitLine, memoryLines, human}). The lines are record bodies with
// placeholders (see verdict.h and chain.h), filled in and chained onto the shared trail when a
// handler runs. Arming twice is refused. A signal that is ignored (SIG_IGN) stays ignored.
Napi::Value ArmExitRecord(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsObject()) return ThrowType(env, "armExitRecord(options)");
  Napi::Object o = info[0].As<Napi::Object>();
  if (!o.Get("thresholdKb").IsNumber() || !o.Get("exitLine").IsString()) {
    return ThrowType(env, "armExitRecord({thresholdKb, exitLine, memoryLines, human})");
  }
  if (plan != nullptr) return ThrowType(env, "armExitRecord: already armed");
  plan = new Plan{static_cast<long>(o.Get("thresholdKb").As<Napi::Number>().Int64Value()),
                  LineOption(o, "exitLine"), LineOption(o, "memoryLines"), LineOption(o, "human")};
  for (Caught& c : caught) {
    if (sigaction(c.signo, nullptr, &c.previous) != 0) return ThrowErrno(env, "sigaction", errno);
    if (!EndsTheProcess(c.previous)) continue;
    struct sigaction sa {};
    sa.sa_handler = OnSignal;
    // Every other signal waits while a record is written, so none cuts it short.
    sigfillset(&sa.sa_mask);
    if (sigaction(c.signo, &sa, nullptr) != 0) return ThrowErrno(env, "sigaction", errno);
  }
  return env.Undefined();
}

}  // namespace worm
