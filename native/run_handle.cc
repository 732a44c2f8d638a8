#include "run_handle.h"

#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <time.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

#include "errors.h"
#include "spawn.h"

namespace worm {

namespace {

// After the grace of --kill-after, how long init gets to end the run before it is SIGKILLed.
constexpr long long kEndGraceNs = 2000LL * 1000000;

long long MonoNs() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

// A command to init. Its pipe takes a whole command or nothing (well under PIPE_BUF), so the
// monitor thread and JavaScript may both send; a full pipe drops it (kill() does not need init).
void SendCommand(int fd, uint32_t type, int32_t arg) {
  if (fd < 0) return;
  worm::Command c{type, arg};
  ssize_t n;
  do {
    n = write(fd, &c, sizeof c);
  } while (n < 0 && errno == EINTR);
}

// Once the run is over every writer of the guard channel is gone with it; one that holds the
// channel from outside the run gets this long before the channel is closed on it.
constexpr int kChannelGraceMs = 500;

// What one read of the guard channel takes (a pipe holds 64 KiB).
constexpr size_t kChannelChunk = 65536;
// At most this much of the channel waits for JavaScript; while it does, the channel is not read
// and the monitor looks again every kChannelPauseMs.
constexpr long long kChannelQueueMax = 1 << 20;
constexpr int kChannelPauseMs = 5;

// The monitor thread's stack: it holds a few path buffers and nothing recursive. glibc keeps
// the stacks of ended threads (up to 40 MiB) for reuse, resident: with many runs at once in one
// host, the default 8 MiB stacks made the host's RSS grow and stay grown.
constexpr size_t kMonitorStack = 256 * 1024;

// Runs being watched in this process. When the last one ends, memory the monitor threads freed is
// handed back to the system (glibc gives each busy thread an arena of its own and keeps what
// is freed there): a host that ran many runs at once is back to its size once they are over.
// (Only after a burst: one run at a time leaves nothing worth the walk over the arenas.)
std::atomic<int> watched{0};
std::atomic<int> watchedPeak{0};

struct AddonData {
  Napi::FunctionReference runHandle;
};

// What the monitor thread hands to JavaScript.
struct Event {
  enum Kind { kFacts, kFailed, kExec, kRefusals, kChannel, kExit, kTimeout, kEnd } kind;
  Facts facts{};      // kFacts
  Failure failure{};  // kFailed, kExec: what init or the target reported (type 0: nothing)
  const char* call = nullptr;  // kFailed without a report: what failed, with errno in failure.err
  std::shared_ptr<RunState> about;  // kFailed, kExec: the run's plan names a failed mount
  double elapsedMs = 0;  // kExit: since go(), by the monotonic clock
  std::vector<Refusal> refusals;
  std::string data;  // kChannel: bytes as read, lines split in JavaScript
  std::shared_ptr<RunState> queuedIn;  // kChannel: whose channelQueued counts data
  TargetExit exit{};
  RunEnd end{};
  int initStatus = 0;
  struct rusage initRu {};
  std::vector<long long> counts;
  long long total = 0, overflow = 0;
  std::shared_ptr<RunState> run;  // kEnd: its descriptors are closed when JavaScript hears of it
};

std::string Hex(uint64_t v) {
  char buf[24];
  snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

Napi::Object StatusObject(Napi::Env env, int status) {
  Napi::Object o = Napi::Object::New(env);
  if (WIFEXITED(status)) {
    o.Set("exitCode", Napi::Number::New(env, WEXITSTATUS(status)));
    o.Set("signal", env.Null());
  } else {
    o.Set("exitCode", env.Null());
    o.Set("signal", Napi::Number::New(env, WIFSIGNALED(status) ? WTERMSIG(status) : 0));
  }
  o.Set("coreDumped", Napi::Boolean::New(env, WIFSIGNALED(status) && WCOREDUMP(status)));
  return o;
}

Napi::Object RefusalObject(Napi::Env env, const Refusal& r) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("pid", Napi::Number::New(env, r.pid));
  o.Set("syscall", Napi::String::New(env, r.syscall));
  o.Set("nr", Napi::Number::New(env, r.nr));
  o.Set("arch", Napi::Number::New(env, r.arch));
  Napi::Array args = Napi::Array::New(env, 6);
  for (uint32_t i = 0; i < 6; i++) args.Set(i, Napi::String::New(env, Hex(r.args[i])));
  o.Set("args", args);
  if (!r.address.empty()) o.Set("address", Napi::String::New(env, r.address));
  if (r.family >= 0) o.Set("family", Napi::Number::New(env, r.family));
  o.Set("exe", Napi::String::New(env, r.exe));
  o.Set("argv", Napi::String::New(env, r.argv));
  o.Set("errno", Napi::Number::New(env, r.err));
  o.Set("count", Napi::Number::New(env, static_cast<double>(r.count)));
  o.Set("time", Napi::Number::New(env, r.firstMs));
  return o;
}

Napi::Object FactsObject(Napi::Env env, const Facts& f, int landlockAbi) {
  Napi::Object facts = Napi::Object::New(env);
  facts.Set("nsPid", Napi::Number::New(env, f.nsPid));
  facts.Set("noNewPrivs", Napi::Boolean::New(env, f.noNewPrivs == 1));
  facts.Set("seccompMode", Napi::Number::New(env, f.seccompMode));
  facts.Set("seccompFilters", Napi::Number::New(env, f.seccompFilters));
  facts.Set("notify", Napi::Boolean::New(env, f.notify == 1));
  facts.Set("notifyErrno", Napi::Number::New(env, f.notifyErrno));
  facts.Set("landlockAbi", Napi::Number::New(env, landlockAbi));
  facts.Set("landlockApplied", Napi::Boolean::New(env, f.landlockApplied == 1));
  Napi::Array ids = Napi::Array::New(env, 6);
  uint32_t idv[6] = {f.ruid, f.euid, f.suid, f.rgid, f.egid, f.sgid};
  for (uint32_t i = 0; i < 6; i++) ids.Set(i, Napi::Number::New(env, idv[i]));
  facts.Set("ids", ids);
  facts.Set("groups", Napi::Number::New(env, f.ngroups));
  facts.Set("capEff", Napi::String::New(env, Hex(f.capEff)));
  facts.Set("pidNamespace", Napi::Boolean::New(env, f.pidNamespace == 1));
  facts.Set("procPrivate", Napi::Boolean::New(env, f.procPrivate == 1));
  facts.Set("procErrno", Napi::Number::New(env, f.procErrno));
  facts.Set("mountNamespace", Napi::Boolean::New(env, f.mountNamespace == 1));
  facts.Set("userNamespace", Napi::Boolean::New(env, f.userNamespace == 1));
  return facts;
}

void Deliver(Napi::Env env, Napi::Function cb, Event* ev) {
  if (ev->run) {
    // The run is over: nothing more to send to init. Closed here, on the JavaScript thread that
    // also sends commands, so a run leaves no descriptor behind once its end is reported.
    if (ev->run->cmd >= 0) close(ev->run->cmd);
    ev->run->cmd = -1;
    if (ev->run->wake[1] >= 0) close(ev->run->wake[1]);
    ev->run->wake[1] = -1;
    ev->run->chunk = std::vector<char>();
    if (--watched == 0 && watchedPeak.exchange(0) >= 8) malloc_trim(0);
  }
  if (env != nullptr && cb != nullptr) {
    Napi::Object o = Napi::Object::New(env);
    if (ev->kind == Event::kFacts) {
      o.Set("type", Napi::String::New(env, "facts"));
      o.Set("pid", Napi::Number::New(env, ev->facts.hostPid));
      o.Set("facts", FactsObject(env, ev->facts, ev->about->plan->landlock.abi));
    } else if (ev->kind == Event::kFailed) {
      o.Set("type", Napi::String::New(env, "failed"));
      o.Set("error", ev->call != nullptr ? ErrnoError(env, ev->call, ev->failure.err).Value()
                                         : FailureError(env, ev->failure, *ev->about->plan).Value());
    } else if (ev->kind == Event::kExec) {
      o.Set("type", Napi::String::New(env, "exec"));
      if (ev->failure.type == kMsgFailure) o.Set("error", FailureError(env, ev->failure, *ev->about->plan).Value());
    } else if (ev->kind == Event::kRefusals) {
      o.Set("type", Napi::String::New(env, "refusals"));
      Napi::Array list = Napi::Array::New(env, ev->refusals.size());
      for (uint32_t i = 0; i < ev->refusals.size(); i++) list.Set(i, RefusalObject(env, ev->refusals[i]));
      o.Set("refusals", list);
    } else if (ev->kind == Event::kTimeout) {
      o.Set("type", Napi::String::New(env, "timeout"));
    } else if (ev->kind == Event::kChannel) {
      o.Set("type", Napi::String::New(env, "channel"));
      o.Set("data", Napi::Buffer<char>::Copy(env, ev->data.data(), ev->data.size()));
      if (ev->queuedIn) ev->queuedIn->channelQueued -= static_cast<long long>(ev->data.size());
    } else if (ev->kind == Event::kExit) {
      o.Set("type", Napi::String::New(env, "exit"));
      o.Set("elapsedMs", Napi::Number::New(env, ev->elapsedMs));
      o.Set("status", StatusObject(env, ev->exit.status));
      Napi::Object ru = Napi::Object::New(env);
      ru.Set("userMs", Napi::Number::New(env, ev->exit.userUs / 1000.0));
      ru.Set("systemMs", Napi::Number::New(env, ev->exit.systemUs / 1000.0));
      ru.Set("maxRssKb", Napi::Number::New(env, static_cast<double>(ev->exit.maxRssKb)));
      ru.Set("minorFaults", Napi::Number::New(env, static_cast<double>(ev->exit.minflt)));
      ru.Set("majorFaults", Napi::Number::New(env, static_cast<double>(ev->exit.majflt)));
      ru.Set("voluntarySwitches", Napi::Number::New(env, static_cast<double>(ev->exit.nvcsw)));
      ru.Set("involuntarySwitches", Napi::Number::New(env, static_cast<double>(ev->exit.nivcsw)));
      o.Set("rusage", ru);
    } else {
      o.Set("type", Napi::String::New(env, "end"));
      o.Set("killed", Napi::Number::New(env, ev->end.killed));
      o.Set("passes", Napi::Number::New(env, ev->end.passes));
      o.Set("targetSeen", Napi::Boolean::New(env, ev->end.targetSeen != 0));
      o.Set("init", StatusObject(env, ev->initStatus));
      Napi::Object ru = Napi::Object::New(env);
      ru.Set("userMs", Napi::Number::New(env, ev->initRu.ru_utime.tv_sec * 1000.0 + ev->initRu.ru_utime.tv_usec / 1000.0));
      ru.Set("systemMs", Napi::Number::New(env, ev->initRu.ru_stime.tv_sec * 1000.0 + ev->initRu.ru_stime.tv_usec / 1000.0));
      ru.Set("maxRssKb", Napi::Number::New(env, static_cast<double>(ev->initRu.ru_maxrss)));
      o.Set("runUsage", ru);
      Napi::Array counts = Napi::Array::New(env, ev->counts.size());
      for (uint32_t i = 0; i < ev->counts.size(); i++) counts.Set(i, Napi::Number::New(env, static_cast<double>(ev->counts[i])));
      o.Set("counts", counts);
      o.Set("total", Napi::Number::New(env, static_cast<double>(ev->total)));
      o.Set("overflow", Napi::Number::New(env, static_cast<double>(ev->overflow)));
    }
    cb.Call({o});
  }
  delete ev;
}

bool ReadExact(int fd, void* buf, size_t len) {
  char* p = static_cast<char*>(buf);
  while (len > 0) {
    ssize_t n = read(fd, p, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    len -= static_cast<size_t>(n);
  }
  return true;
}

// The control socket is the monitor's once it is watching; go() sends on it under the lock.
void CloseCtl(RunState* s) {
  std::lock_guard<std::mutex> lock(s->mu);
  if (s->ctl >= 0) close(s->ctl);
  s->ctl = -1;
}

void Monitor(std::shared_ptr<RunState> s, Napi::ThreadSafeFunction tsfn) {
  bool statusOpen = true;
  RunEnd end{};
  auto post = [&](Event* ev) {
    if (tsfn.BlockingCall(ev, Deliver) != napi_ok) delete ev;
  };
  // The start: what the target got (with the listener for its refusals), or why it has
  // nothing. On a failure init is killed here; the run then ends as any other.
  {
    alignas(8) char buf[sizeof(Facts) > sizeof(Failure) ? sizeof(Facts) : sizeof(Failure)];
    uint32_t type = 0;
    int listener = -1;
    ssize_t n = RecvMessage(s->ctl, buf, sizeof buf, &listener, kStartTimeoutMs);
    const int err = errno;
    if (n >= static_cast<ssize_t>(sizeof type)) memcpy(&type, buf, sizeof type);
    if (n == static_cast<ssize_t>(sizeof(Facts)) && type == kMsgFacts) {
      auto* ev = new Event{Event::kFacts};
      memcpy(&ev->facts, buf, sizeof(Facts));
      ev->about = s;
      if (listener >= 0) s->listener = std::make_unique<Listener>(listener, s->plan->filterOpts);
      post(ev);
    } else {
      if (listener >= 0) close(listener);
      auto* ev = new Event{Event::kFailed};
      ev->about = s;
      if (n == static_cast<ssize_t>(sizeof(Failure)) && type == kMsgFailure) {
        memcpy(&ev->failure, buf, sizeof(Failure));
      } else if (n < 0) {
        ev->call = err == ETIMEDOUT ? "starting the run (timed out)" : "recvmsg";
        ev->failure.err = err;
      } else {
        ev->call = "starting the run (init ended before the target reported)";
        ev->failure.err = EPIPE;
      }
      post(ev);
      CloseCtl(s.get());
      std::lock_guard<std::mutex> lock(s->mu);
      if (!s->reaped) kill(s->init, SIGKILL);
    }
  }
  bool listening = s->listener != nullptr;
  bool channelTaken = false;
  auto takeChannel = [&] {
    if (channelTaken) return;
    int c = s->pendingChannel.exchange(-1);
    if (c >= 0) {
      s->channel = c;
      channelTaken = true;
    }
  };
  auto postNew = [&] {
    if (!s->listener) return;
    std::vector<size_t> fresh = s->listener->TakeNew();
    if (fresh.empty()) return;
    auto* ev = new Event{Event::kRefusals};
    for (size_t i : fresh) ev->refusals.push_back(s->listener->entries[i]);
    post(ev);
  };
  // The guard channel: read here, in the thread that is waiting anyway, rather than through a
  // socket in the event loop (node:net and the stream modules are ~3 ms of every start).
  std::vector<char>& chunk = s->chunk;
  auto readChannel = [&] {
    ssize_t n = read(s->channel, chunk.data(), chunk.size());
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
    if (n <= 0) {
      close(s->channel);  // every writer is gone (or the channel broke)
      s->channel = -1;
      return;
    }
    auto* ev = new Event{Event::kChannel};
    ev->data.assign(chunk.data(), static_cast<size_t>(n));
    ev->queuedIn = s;
    s->channelQueued += n;
    post(ev);
  };
  auto channelPaused = [&] { return s->channelQueued.load() > kChannelQueueMax; };
  // The wall clock: SIGTERM to every process at the deadline, init told to end the run after
  // the grace, init SIGKILLed if it has not within kEndGraceNs.
  enum { kIdle, kArmed, kTermed, kEnding, kKilled } clock = kIdle;
  long long next = 0;
  bool targetExited = false;
  bool waking = s->wake[0] >= 0;
  while (statusOpen) {
    takeChannel();
    long long now = MonoNs();
    if (clock == kIdle && s->deadlineNs.load() > 0) {
      clock = kArmed;
      next = s->deadlineNs.load();
    }
    if (clock != kIdle && clock != kKilled && now >= next) {
      if (clock == kArmed) {
        SendCommand(s->cmd, kCmdSignalAll, SIGTERM);
        // After the target's own exit the run is already ending (init is collecting what it
        // left): the clock only hurries that along, and the verdict stays the target's.
        if (!targetExited) {
          post(new Event{Event::kTimeout});
        }
        clock = kTermed;
        next = now + s->killAfterNs.load();
      } else if (clock == kTermed) {
        SendCommand(s->cmd, kCmdEnd, 0);
        clock = kEnding;
        next = now + kEndGraceNs;
      } else {
        std::lock_guard<std::mutex> lock(s->mu);
        if (!s->reaped) kill(s->init, SIGKILL);
        clock = kKilled;
      }
      continue;
    }
    int wait = -1;
    if (clock != kIdle && clock != kKilled) wait = static_cast<int>((next - now + 999999) / 1000000);
    const bool paused = s->channel >= 0 && channelPaused();
    if (paused && (wait < 0 || wait > kChannelPauseMs)) wait = kChannelPauseMs;
    // (s->ctl changes only here, and in go() while it is open: read without the lock.)
    struct pollfd fds[5] = {{s->status, POLLIN, 0}, {listening ? s->listener->fd() : -1, POLLIN, 0},
                            {paused ? -1 : s->channel, POLLIN, 0}, {waking ? s->wake[0] : -1, POLLIN, 0},
                            {s->ctl, POLLIN, 0}};
    int r = poll(fds, 5, wait);
    if (r < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (fds[3].revents & POLLIN) {
      char buf[16];
      while (read(s->wake[0], buf, sizeof buf) > 0) {
      }
    } else if (fds[3].revents & (POLLHUP | POLLERR | POLLNVAL)) {
      waking = false;
    }
    if (fds[1].revents & POLLIN) {
      // A burst of refusals is answered before anything else is looked at.
      for (int i = 0; i < 64 && s->listener->HandleOne(); i++) {
        struct pollfd more = {s->listener->fd(), POLLIN, 0};
        if (poll(&more, 1, 0) != 1 || !(more.revents & POLLIN)) break;
      }
      postNew();
    } else if (fds[1].revents & (POLLHUP | POLLERR | POLLNVAL)) {
      listening = false;  // every process that used the filter is gone
    }
    if (fds[2].revents & (POLLIN | POLLHUP | POLLERR)) readChannel();
    // The exec's result, before the status pipe is read: the target's exit (which init reports
    // only once this socket is closed on its side) must come after it.
    if (fds[4].revents & (POLLIN | POLLHUP | POLLERR | POLLNVAL)) {
      Failure f{};
      f.type = 0;
      ssize_t got = recv(s->ctl, &f, sizeof f, MSG_DONTWAIT);
      if (!(got < 0 && (errno == EAGAIN || errno == EINTR))) {
        // EOF: execve succeeded (the socket is close-on-exec), or the target died on the way,
        // which its exit status will tell.
        auto* ev = new Event{Event::kExec};
        ev->failure.type = 0;  // (a Failure is born with its type set)
        if (got == static_cast<ssize_t>(sizeof f) && f.type == kMsgFailure) ev->failure = f;
        ev->about = s;
        post(ev);
        CloseCtl(s.get());
      }
    }
    if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      uint32_t type;
      if (!ReadExact(s->status, &type, sizeof type)) {
        statusOpen = false;  // init is gone
        continue;
      }
      if (type == kMsgTargetExit) {
        targetExited = true;
        auto* ev = new Event{Event::kExit};
        // (A target that died before go() never ran: no time.)
        const long long goNs = s->goNs.load();
        ev->elapsedMs = goNs > 0 ? (MonoNs() - goNs) / 1e6 : 0;
        ev->exit.type = type;
        if (!ReadExact(s->status, reinterpret_cast<char*>(&ev->exit) + sizeof type, sizeof(TargetExit) - sizeof type)) {
          delete ev;
          statusOpen = false;
          continue;
        }
        post(ev);
      } else if (type == kMsgRunEnd) {
        end.type = type;
        if (!ReadExact(s->status, reinterpret_cast<char*>(&end) + sizeof type, sizeof(RunEnd) - sizeof type)) statusOpen = false;
      } else {
        statusOpen = false;  // not ours: stop reading
      }
    }
  }
  // Init has closed its end: it is exiting. With a PID namespace the kernel first ends every
  // process left in it, so once init can be collected nothing of the run is left.
  auto* ev = new Event{Event::kEnd};
  ev->end = end;
  siginfo_t si;
  while (waitid(P_PID, s->init, &si, WEXITED | WNOWAIT | __WALL) < 0 && errno == EINTR) {
  }
  {
    std::lock_guard<std::mutex> lock(s->mu);
    while (wait4(s->init, &ev->initStatus, __WALL, &ev->initRu) < 0 && errno == EINTR) {
    }
    s->reaped = true;
  }
  if (s->listener) {
    postNew();
    ev->counts.reserve(s->listener->entries.size());
    for (const Refusal& r : s->listener->entries) ev->counts.push_back(r.count);
    ev->total = s->listener->total;
    ev->overflow = s->listener->overflow;
    s->listener.reset();  // closes the listener
  }
  CloseCtl(s.get());
  {
    std::lock_guard<std::mutex> lock(s->mu);
    takeChannel();
    s->monitorDone = true;
  }
  // What the run's processes wrote to the guard channel before they ended is still in it.
  timespec start{};
  clock_gettime(CLOCK_MONOTONIC, &start);
  while (s->channel >= 0) {
    timespec now{};
    clock_gettime(CLOCK_MONOTONIC, &now);
    long left = kChannelGraceMs - ((now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000);
    if (left > 0 && channelPaused()) {
      poll(nullptr, 0, kChannelPauseMs);
      continue;
    }
    struct pollfd pfd = {s->channel, POLLIN, 0};
    int r = left > 0 ? poll(&pfd, 1, static_cast<int>(left)) : 0;
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      close(s->channel);  // a writer outside the run: stop listening to it
      s->channel = -1;
      break;
    }
    readChannel();
  }
  close(s->status);
  s->status = -1;
  if (s->wake[0] >= 0) close(s->wake[0]);
  s->wake[0] = -1;
  ev->run = s;
  post(ev);
  tsfn.Release();
}

struct MonitorStart {
  std::shared_ptr<RunState> s;
  Napi::ThreadSafeFunction tsfn;
};

void* MonitorThread(void* arg) {
  std::unique_ptr<MonitorStart> start(static_cast<MonitorStart*>(arg));
  Monitor(std::move(start->s), std::move(start->tsfn));
  return nullptr;
}

}  // namespace

void RunHandle::Register(Napi::Env env, Napi::Object exports) {
  Napi::Function cls = DefineClass(env, "RunHandle", {
      InstanceMethod("go", &RunHandle::Go),
      InstanceMethod("signal", &RunHandle::Signal),
      InstanceMethod("end", &RunHandle::End),
      InstanceMethod("kill", &RunHandle::Kill),
      InstanceMethod("watch", &RunHandle::Watch),
      InstanceMethod("abandon", &RunHandle::Abandon),
      InstanceMethod("deadline", &RunHandle::Deadline),
  });
  auto* data = new AddonData();
  data->runHandle = Napi::Persistent(cls);
  env.SetInstanceData<AddonData>(data);
  (void)exports;
}

Napi::Value RunHandle::Create(Napi::Env env, std::unique_ptr<Plan> plan, pid_t init, int ctl, int cmd, int status) {
  Napi::Object o = env.GetInstanceData<AddonData>()->runHandle.New({});
  RunHandle* h = Unwrap(o);
  auto& s = h->state_;
  s->init = init;
  s->ctl = ctl;
  s->cmd = cmd;
  s->status = status;
  if (pipe2(s->wake, O_CLOEXEC | O_NONBLOCK) != 0) s->wake[0] = s->wake[1] = -1;
  s->plan = std::move(plan);
  o.Set("initPid", Napi::Number::New(env, init));
  return o;
}

RunHandle::RunHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<RunHandle>(info), state_(std::make_shared<RunState>()) {}

RunHandle::~RunHandle() {
  // Never watched (worm-run gave up between start and watch): end the run here.
  auto& s = state_;
  if (!s->watching && s->init > 0) {
    kill(s->init, SIGKILL);
    while (waitpid(s->init, nullptr, __WALL) < 0 && errno == EINTR) {
    }
    s->reaped = true;
  }
  if (!s->watching && s->ctl >= 0) close(s->ctl);
  if (s->cmd >= 0) close(s->cmd);
  if (!s->watching && s->status >= 0) close(s->status);
  if (!s->watching) s->ctl = -1;
  s->cmd = -1;
  if (!s->watching) {
    for (int& fd : s->wake) {
      if (fd >= 0) close(fd);
      fd = -1;
    }
  }
}

// go(channelFd?): the start record is written; let the target exec. Its result comes as an
// 'exec' event. Given the read end of the guard channel, the monitor thread reads it from now
// on (and closes it): everything in it is delivered before 'end'.
Napi::Value RunHandle::Go(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto& s = state_;
  if (!s->watching) return ThrowType(env, "go(): call watch() first");
  if (s->goSent) return ThrowType(env, "go(): the target was already told to go");
  if (!info[0].IsUndefined() && (!info[0].IsNumber() || info[0].As<Napi::Number>().Int32Value() < 0)) {
    return ThrowType(env, "go(channelFd?): channelFd must be an open descriptor");
  }
  std::lock_guard<std::mutex> lock(s->mu);
  if (info[0].IsNumber()) {
    const int channel = info[0].As<Napi::Number>().Int32Value();
    if (s->monitorDone) {
      close(channel);  // the run is over already (its target died before go): nobody would read it
    } else {
      // Sized here, on the JavaScript thread: from the main arena (see `watched`).
      s->chunk.resize(kChannelChunk);
      s->pendingChannel.store(channel);
    }
  }
  s->goSent = true;
  s->goNs = MonoNs();
  if (s->ctl >= 0) {
    worm::Go go{};
    ssize_t n;
    do {
      n = send(s->ctl, &go, sizeof go, MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
  }
  // The monitor picks up the channel (and a target gone already shows as the socket's end).
  if (s->wake[1] >= 0) {
    char b = 1;
    ssize_t n;
    do {
      n = write(s->wake[1], &b, 1);
    } while (n < 0 && errno == EINTR);
  }
  return env.Undefined();
}

void RunHandle::Command(uint32_t type, int32_t arg) { SendCommand(state_->cmd, type, arg); }

// deadline(timeoutMs, killAfterMs): from go(), the monitor thread ends the run at the wall-clock
// limit (SIGTERM to all, then init's end, then SIGKILL) and reports a 'timeout' event. Kept off
// the event loop: with many runs in one process, a timer there fires late.
Napi::Value RunHandle::Deadline(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsNumber() || !info[1].IsNumber()) return ThrowType(env, "deadline(timeoutMs, killAfterMs)");
  auto& s = state_;
  if (!s->watching || s->wake[1] < 0) return ThrowType(env, "deadline(): call watch() first");
  // From when the target was told to go, as wallMs counts: the exec's own time is in the budget.
  long long from = s->goNs.load() > 0 ? s->goNs.load() : MonoNs();
  s->killAfterNs = static_cast<long long>(info[1].As<Napi::Number>().DoubleValue() * 1e6);
  s->deadlineNs = from + static_cast<long long>(info[0].As<Napi::Number>().DoubleValue() * 1e6);
  char b = 1;
  ssize_t n;
  do {
    n = write(s->wake[1], &b, 1);
  } while (n < 0 && errno == EINTR);
  return env.Undefined();
}

// signal('target' | 'all', signo)
Napi::Value RunHandle::Signal(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString() || !info[1].IsNumber()) return ThrowType(env, "signal('target'|'all', signo)");
  std::string who = info[0].As<Napi::String>().Utf8Value();
  Command(who == "all" ? kCmdSignalAll : kCmdSignalTarget, info[1].As<Napi::Number>().Int32Value());
  return env.Undefined();
}

// end(): ask init to end the run now (everything killed, the target's status reported).
Napi::Value RunHandle::End(const Napi::CallbackInfo& info) {
  Command(kCmdEnd, 0);
  return info.Env().Undefined();
}

// kill(): SIGKILL init. With a PID namespace that ends every process of the run at once.
Napi::Value RunHandle::Kill(const Napi::CallbackInfo& info) {
  std::lock_guard<std::mutex> lock(state_->mu);
  if (!state_->reaped) kill(state_->init, SIGKILL);
  return info.Env().Undefined();
}

// abandon(): the run is not wanted (worm-run failed before go): end it and collect init now.
Napi::Value RunHandle::Abandon(const Napi::CallbackInfo& info) {
  auto& s = state_;
  if (s->watching) {
    // The monitor collects init and reports 'end'.
    std::lock_guard<std::mutex> lock(s->mu);
    if (!s->reaped) kill(s->init, SIGKILL);
  } else if (!s->reaped) {
    kill(s->init, SIGKILL);
    while (waitpid(s->init, nullptr, __WALL) < 0 && errno == EINTR) {
    }
    s->reaped = true;
  }
  return info.Env().Undefined();
}

// watch(callback(event)), right after startRun: events 'facts' (what the target got, its pid)
// or 'failed' (the error; init is killed), then after go() 'exec' (with the error if execve
// failed), 'refusals', 'channel' (bytes from the guard channel), 'exit' (the target ended), and
// last 'end' (nothing of the run is left; init collected; the channel read to its end). Keeps
// the event loop alive until 'end'.
Napi::Value RunHandle::Watch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto& s = state_;
  if (s->watching) return ThrowType(env, "watch(): already watching");
  if (!info[0].IsFunction()) return ThrowType(env, "watch(callback)");
  s->watching = true;
  auto tsfn = Napi::ThreadSafeFunction::New(env, info[0].As<Napi::Function>(), "worm-run monitor", 0, 1);
  auto* start = new MonitorStart{s, tsfn};
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, kMonitorStack);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_t t;
  int err = pthread_create(&t, &attr, MonitorThread, start);
  pthread_attr_destroy(&attr);
  if (err != 0) {
    delete start;
    tsfn.Release();
    s->watching = false;
    return ThrowErrno(env, "pthread_create(run monitor)", err);
  }
  int now = ++watched;
  for (int peak = watchedPeak.load(); now > peak && !watchedPeak.compare_exchange_weak(peak, now);) {
  }
  return env.Undefined();
}

}  // namespace worm
