// fallocate(2) with FALLOC_FL_KEEP_SIZE: Node has no binding for it. The blocks it allocates past
// the end of the file belong to the file, so a target that fills the filesystem afterwards cannot
// take the space the trail's limit and exit records need.
#include "reserve.h"

#include <fcntl.h>
#include <linux/falloc.h>

#include <cerrno>

#include "errors.h"

namespace worm {

int ReserveSpace(int fd, off_t offset, off_t len) {
  for (;;) {
    if (fallocate(fd, FALLOC_FL_KEEP_SIZE, offset, len) == 0) return 0;
    if (errno != EINTR) return errno;
  }
}

Napi::Value ReserveSpaceJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsNumber() || !info[1].IsNumber() || !info[2].IsNumber()) {
    return ThrowType(env, "reserveSpace(fd, offset, length)");
  }
  const int fd = info[0].As<Napi::Number>().Int32Value();
  const off_t offset = static_cast<off_t>(info[1].As<Napi::Number>().Int64Value());
  const off_t len = static_cast<off_t>(info[2].As<Napi::Number>().Int64Value());
  if (fd < 0 || offset < 0 || len <= 0) return ThrowType(env, "reserveSpace: fd, offset >= 0 and length > 0");
  const int err = ReserveSpace(fd, offset, len);
  if (err != 0) return ThrowErrno(env, "fallocate(FALLOC_FL_KEEP_SIZE)", err);
  return env.Undefined();
}

}  // namespace worm
