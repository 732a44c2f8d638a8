#include "verdict.h"

#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

namespace worm {

namespace {

// Lock-free, so reading and setting it from a signal handler is safe.
std::atomic<bool> written{false};
static_assert(std::atomic<bool>::is_always_lock_free, "the verdict flag is used in a signal handler");

// Decimal digits of v at out (no allocation); returns how many, 0 if they do not fit.
size_t Digits(long long v, char* out, size_t cap) {
  char tmp[24];
  size_t n = 0;
  bool neg = v < 0;
  unsigned long long u = neg ? 0ULL - static_cast<unsigned long long>(v) : static_cast<unsigned long long>(v);
  do {
    tmp[n++] = static_cast<char>('0' + u % 10);
    u /= 10;
  } while (u != 0 && n < sizeof tmp);
  size_t len = n + (neg ? 1 : 0);
  if (len > cap) return 0;
  size_t at = 0;
  if (neg) out[at++] = '-';
  while (n > 0) out[at++] = tmp[--n];
  return len;
}

}  // namespace

bool ClaimVerdict() { return !written.exchange(true); }

size_t ExpandVerdict(const std::string& tmpl, char* out, size_t cap, long rssMib) {
  static const char kTime[] = "__TIME__";
  static const char kRss[] = "__RSS_MIB__";
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  const long long nowMs = static_cast<long long>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
  const char* s = tmpl.data();
  const size_t n = tmpl.size();
  size_t len = 0;
  for (size_t i = 0; i < n && len < cap;) {
    if (n - i >= sizeof kTime - 1 && std::memcmp(s + i, kTime, sizeof kTime - 1) == 0) {
      len += Digits(nowMs, out + len, cap - len);
      i += sizeof kTime - 1;
    } else if (n - i >= sizeof kRss - 1 && std::memcmp(s + i, kRss, sizeof kRss - 1) == 0) {
      len += Digits(rssMib, out + len, cap - len);
      i += sizeof kRss - 1;
    } else {
      out[len++] = s[i++];
    }
  }
  return len;
}

void WriteAll(int fd, const char* data, size_t len) {
  size_t off = 0;
  while (off < len) {
    ssize_t n = write(fd, data + off, len - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    off += static_cast<size_t>(n);
  }
}

Napi::Value ClaimVerdictJs(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), ClaimVerdict());
}

}  // namespace worm
