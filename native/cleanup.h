// The in-process mode's watcher outside the sandbox: a helper started before the restriction,
// outside the process's tree and its Landlock domain (so the script can neither signal nor
// trace it), that (1) ends the process at the last resort of the wall clock, which a process
// stopped by SIGSTOP could not keep itself, and (2) removes the private temporary directory once
// the process is gone (confined, it may empty the directory but not remove it from /tmp).
#pragma once
#include <napi.h>

namespace worm {
// watchFromOutside(path | null, killAfterMs): starts the helper, which waits on this process's
// pidfd (or, on kernels without pidfd_open, a pipe), SIGKILLs the process if it is still there
// killAfterMs from now (> 0; pidfd only), and removes path once it is gone. Throws with the
// call's name and errno on failure.
Napi::Value WatchFromOutside(const Napi::CallbackInfo& info);
}  // namespace worm
