// Space for the audit trail's closing records, reserved when the trail is opened.
#pragma once
#include <napi.h>
#include <sys/types.h>

namespace worm {

// Allocates [offset, offset + len) of fd's file without changing its size (fallocate with
// FALLOC_FL_KEEP_SIZE), so later appends into that range need no new blocks. 0 or an errno
// (ENOSPC: the filesystem is full; EOPNOTSUPP: it cannot reserve). Async-signal-safe.
int ReserveSpace(int fd, off_t offset, off_t len);

// reserveSpace(fd, offset, length): throws an error naming fallocate and the errno.
Napi::Value ReserveSpaceJs(const Napi::CallbackInfo& info);

}  // namespace worm
