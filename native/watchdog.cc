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

#include <dirent.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "chain.h"
#include "errors.h"
#include "verdict.h"

namespace worm {

namespace {

double Now(clockid_t clock) {
  struct timespec ts;
  clock_gettime(clock, &ts);
  return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}

// Children of pid, all of its threads' (from /proc/<pid>/task/<tid>/children).
std::vector<pid_t> ChildrenOf(pid_t pid) {
  std::vector<pid_t> out;
  std::string dir = "/proc/" + std::to_string(pid) + "/task";
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return out;
  while (struct dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    FILE* f = fopen((dir + "/" + e->d_name + "/children").c_str(), "re");
    if (f == nullptr) continue;
    for (int c; fscanf(f, "%d", &c) == 1;) out.push_back(c);
    fclose(f);
  }
  closedir(d);
  return out;
}

bool IsZombie(pid_t pid) {
  char path[64], buf[512];
  snprintf(path, sizeof path, "/proc/%d/stat", static_cast<int>(pid));
  FILE* f = fopen(path, "re");
  if (f == nullptr) return true;  // gone
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  // "pid (comm) S ...": comm may hold spaces and parentheses, the state follows the last ')'.
  const char* close = strrchr(buf, ')');
  return close == nullptr || close[1] == '\0' || close[2] == 'Z' || close[2] == 'X';
}

// SIGKILLs every descendant of this process, again until a pass finds none (a process may fork
// while its parent is being killed); at most a few passes.
void KillDescendants() {
  for (int pass = 0; pass < 20; ++pass) {
    std::set<pid_t> seen;
    std::vector<pid_t> todo = ChildrenOf(getpid());
    bool live = false;
    while (!todo.empty()) {
      pid_t p = todo.back();
      todo.pop_back();
      if (!seen.insert(p).second) continue;
      // Children first, read before the kill: once it is dead its children move to us.
      for (pid_t c : ChildrenOf(p)) todo.push_back(c);
      if (!IsZombie(p) && kill(p, SIGKILL) == 0) live = true;
    }
    if (!live) return;
    usleep(1000);
  }
}

struct Plan {
  double timeoutMs, killAfterMs, cpuMs;
  std::string timeoutLines, cpuLines, timeoutHuman, cpuHuman;
};

void Fire(const Plan& p, const std::string& lines, const std::string& human, int first, const char* firstName, double graceMs, bool tree) {
  if (!ClaimExitRecord()) return;
  if (!lines.empty()) AppendPrepared(lines, UsageNow(firstName, 128 + first));
  if (!human.empty()) WriteAll(2, human.data(), human.size());
  if (tree) KillDescendants();
  kill(getpid(), first);
  usleep(static_cast<useconds_t>(graceMs * 1000));
  if (tree) KillDescendants();  // what the script started during its grace
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
