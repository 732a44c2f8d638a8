#include "verdict.h"

#include <sys/resource.h>
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

bool ClaimExitRecord() { return !written.exchange(true); }

Fill UsageNow(const char* signal, int status) {
  Fill f{0, 0, 0, signal, status, 0, 0, 0, 0, 0};
  struct rusage ru;
  if (getrusage(RUSAGE_SELF, &ru) == 0) {
    f.rssKb = ru.ru_maxrss;
    f.userMs = ru.ru_utime.tv_sec * 1000LL + ru.ru_utime.tv_usec / 1000;
    f.sysMs = ru.ru_stime.tv_sec * 1000LL + ru.ru_stime.tv_usec / 1000;
  }
  return f;
}

size_t ExpandVerdict(const char* tmpl, size_t tmplLen, char* out, size_t cap, const Fill& fill) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  const long long nowMs = static_cast<long long>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
  struct Number {
    const char* name;
    long long value;
  };
  const Number numbers[] = {
      {"__TIME__", nowMs},          {"__RSS_MIB__", (fill.rssKb + 512) / 1024}, {"__RSS_KB__", fill.rssKb},
      {"__USER_MS__", fill.userMs}, {"__SYS_MS__", fill.sysMs},                 {"__STATUS__", fill.status},
      {"__SEQ__", fill.seq},        {"__WALL_MS__", fill.wallMs},               {"__BLOCKED__", fill.blocked},
      {"__WARNINGS__", fill.warnings}, {"__UNWRITTEN__", fill.unwritten},
  };
  static const char kSignal[] = "__SIGNAL__";
  static const char kCpu[] = "__CPU_S__";
  // The CPU used, in tenths of a second rounded as toFixed(1) does for the supervisor's records.
  const long long tenths = (fill.userMs + fill.sysMs + 50) / 100;
  const char* s = tmpl;
  const size_t n = tmplLen;
  size_t len = 0;
  for (size_t i = 0; i < n && len < cap;) {
    bool replaced = false;
    if (s[i] == '_' && n - i > 2 && s[i + 1] == '_') {
      for (const Number& num : numbers) {
        const size_t k = std::strlen(num.name);
        if (n - i >= k && std::memcmp(s + i, num.name, k) == 0) {
          len += Digits(num.value, out + len, cap - len);
          i += k;
          replaced = true;
          break;
        }
      }
      if (!replaced && n - i >= sizeof kSignal - 1 && std::memcmp(s + i, kSignal, sizeof kSignal - 1) == 0) {
        for (const char* c = fill.signal; *c != '\0' && len < cap; ++c) out[len++] = *c;
        i += sizeof kSignal - 1;
        replaced = true;
      }
      if (!replaced && n - i >= sizeof kCpu - 1 && std::memcmp(s + i, kCpu, sizeof kCpu - 1) == 0) {
        len += Digits(tenths / 10, out + len, cap - len);
        if (len + 2 <= cap) {
          out[len++] = '.';
          out[len++] = static_cast<char>('0' + tenths % 10);
        }
        i += sizeof kCpu - 1;
        replaced = true;
      }
    }
    if (!replaced) out[len++] = s[i++];
  }
  return len;
}

std::string LineOption(Napi::Object options, const char* key) {
  Napi::Value v = options.Get(key);
  return v.IsString() ? v.As<Napi::String>().Utf8Value() : std::string();
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

Napi::Value ClaimExitRecordJs(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), ClaimExitRecord());
}

}  // namespace worm
