// The in-process mode's clock: a native thread, because a JavaScript timer in a process that
// runs the untrusted script can be starved by a busy loop. When the wall-clock or CPU budget
// runs out it writes the prepared audit lines itself (the event loop may be stuck), then
// signals the process: SIGTERM and, after the grace, SIGKILL for the wall clock; SIGXCPU and,
// one second later, SIGKILL for CPU.
#include "watchdog.h"

#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <string>
#include <thread>

#include "errors.h"

namespace worm {

namespace {

std::atomic<bool> fired{false};

double Now(clockid_t clock) {
  struct timespec ts;
  clock_gettime(clock, &ts);
  return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}

void WriteAll(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    ssize_t n = write(fd, s.data() + off, s.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    off += static_cast<size_t>(n);
  }
}

// Lines carry "__TIME__" where the epoch milliseconds of the event go.
std::string Stamp(std::string line) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  std::string now = std::to_string(static_cast<long long>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000);
  for (size_t at; (at = line.find("__TIME__")) != std::string::npos;) line.replace(at, 8, now);
  return line;
}

struct Plan {
  double timeoutMs, killAfterMs, cpuMs;
  int auditFd;
  std::string timeoutLines, cpuLines, timeoutHuman, cpuHuman;
};

void Fire(const Plan& p, const std::string& lines, const std::string& human, int first, double graceMs) {
  if (fired.exchange(true)) return;
  if (p.auditFd >= 0 && !lines.empty()) WriteAll(p.auditFd, Stamp(lines));
  if (!human.empty()) WriteAll(2, human);
  kill(getpid(), first);
  usleep(static_cast<useconds_t>(graceMs * 1000));
  kill(getpid(), SIGKILL);
}

void Run(Plan p) {
  const double start = Now(CLOCK_MONOTONIC);
  for (;;) {
    usleep(10000);
    if (p.timeoutMs > 0 && Now(CLOCK_MONOTONIC) - start >= p.timeoutMs) {
      Fire(p, p.timeoutLines, p.timeoutHuman, SIGTERM, p.killAfterMs);
      return;
    }
    if (p.cpuMs > 0 && Now(CLOCK_PROCESS_CPUTIME_ID) >= p.cpuMs) {
      Fire(p, p.cpuLines, p.cpuHuman, SIGXCPU, 1000);
      return;
    }
  }
}

std::string Str(Napi::Object o, const char* key) {
  Napi::Value v = o.Get(key);
  return v.IsString() ? v.As<Napi::String>().Utf8Value() : std::string();
}

double Num(Napi::Object o, const char* key) {
  Napi::Value v = o.Get(key);
  return v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : 0;
}

}  // namespace

// startWatchdog({timeoutMs, killAfterMs, cpuMs, auditFd, timeoutLines, cpuLines, timeoutHuman, cpuHuman})
Napi::Value StartWatchdog(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsObject()) return ThrowType(env, "startWatchdog(options)");
  Napi::Object o = info[0].As<Napi::Object>();
  Plan p{Num(o, "timeoutMs"), Num(o, "killAfterMs"), Num(o, "cpuMs"),
         o.Get("auditFd").IsNumber() ? o.Get("auditFd").As<Napi::Number>().Int32Value() : -1,
         Str(o, "timeoutLines"), Str(o, "cpuLines"), Str(o, "timeoutHuman"), Str(o, "cpuHuman")};
  if (p.timeoutMs <= 0 && p.cpuMs <= 0) return env.Undefined();
  std::thread(Run, std::move(p)).detach();
  return env.Undefined();
}

// watchdogFired(): true once the watchdog has written its records (the JS exit record is then
// not written a second time).
Napi::Value WatchdogFired(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), fired.load());
}

}  // namespace worm
