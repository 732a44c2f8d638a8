// The in-process mode's private temporary directory, removed after the process is gone. Once
// Landlock restricts the process, it may empty the directory but not remove it (that takes a
// right on /tmp itself), so a helper started before the restriction, outside the process's tree
// and its Landlock domain, removes it once the process is gone.
#pragma once
#include <napi.h>

namespace worm {
// removeWhenGone(path): starts the helper, which waits on this process's pidfd (or, on kernels
// without pidfd_open, a pipe); throws with the call's name and errno on failure.
Napi::Value RemoveWhenGone(const Napi::CallbackInfo& info);
}  // namespace worm
