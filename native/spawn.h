#pragma once
#include <napi.h>
#include <sys/types.h>

#include "plan.h"

namespace worm {

// How long setting up the run may take before worm-run gives up on it (a bind of a path on a
// hung network filesystem could otherwise hold it for ever).
constexpr int kStartTimeoutMs = 30000;

Napi::Value StartRun(const Napi::CallbackInfo& info);

// One message from the control socket (with a descriptor, if one is attached): the bytes
// received, 0 at EOF, -1 on error or timeout (errno says which).
ssize_t RecvMessage(int ctl, void* buf, size_t len, int* fd, int timeoutMs);

// The JavaScript error for a failure init or the target reported: the call and its errno.
Napi::Error FailureError(Napi::Env env, const Failure& f, const Plan& p);

}  // namespace worm
