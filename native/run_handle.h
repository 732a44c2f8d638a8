// A started run, as JavaScript holds it: watch() starts a thread that waits for the target's
// report of what it got, answers the target's refused calls (recording them), reads the guard
// channel, waits for the run to end and reports all of it to a callback; go() lets the target
// exec (its result comes as an event too); signal()/end()/kill() reach every process of the run
// through its init. The thread never waits on JavaScript: refusals are answered natively, at
// once, and no part of a run's start holds the host's event loop while the children work.
#pragma once

#include <atomic>
#include <napi.h>
#include <sys/resource.h>

#include <memory>
#include <mutex>
#include <vector>

#include "notify.h"
#include "plan.h"

namespace worm {

struct RunState {
  std::unique_ptr<Plan> plan;
  pid_t init = 0;
  int ctl = -1, cmd = -1, status = -1;
  // The read end of the guard channel: handed over by go() (pendingChannel), then the monitor
  // thread's alone.
  int channel = -1;
  std::atomic<int> pendingChannel{-1};
  // go() was called (the target told to exec, or found gone already).
  bool goSent = false;
  // The monitor has taken its last look at pendingChannel (under mu): a channel handed over
  // after that is closed by go() itself.
  bool monitorDone = false;
  // The monitor's buffer for reading the channel.
  std::vector<char> chunk;
  // Bytes of the channel read but not yet handed to JavaScript: reading stops above a bound, so
  // a target flooding the channel fills the pipe (and blocks itself), not worm-run's memory.
  std::atomic<long long> channelQueued{0};
  std::unique_ptr<Listener> listener;
  std::mutex mu;
  bool reaped = false;   // init collected: its pid may be reused, never signal it again
  bool watching = false;
  // The wall clock, kept by the monitor thread so that a busy event loop cannot delay it.
  // deadline() arms it and writes a byte to wake[1]; CLOCK_MONOTONIC nanoseconds.
  std::atomic<long long> goNs{0};
  std::atomic<long long> deadlineNs{0};
  std::atomic<long long> killAfterNs{0};
  int wake[2] = {-1, -1};
};

class RunHandle : public Napi::ObjectWrap<RunHandle> {
 public:
  static void Register(Napi::Env env, Napi::Object exports);
  static Napi::Value Create(Napi::Env env, std::unique_ptr<Plan> plan, pid_t init, int ctl, int cmd, int status);
  explicit RunHandle(const Napi::CallbackInfo& info);
  ~RunHandle() override;

 private:
  Napi::Value Go(const Napi::CallbackInfo& info);
  Napi::Value Signal(const Napi::CallbackInfo& info);
  Napi::Value End(const Napi::CallbackInfo& info);
  Napi::Value Kill(const Napi::CallbackInfo& info);
  Napi::Value Watch(const Napi::CallbackInfo& info);
  Napi::Value Abandon(const Napi::CallbackInfo& info);
  Napi::Value Deadline(const Napi::CallbackInfo& info);
  void Command(uint32_t type, int32_t arg);

  std::shared_ptr<RunState> state_;
};

}  // namespace worm
