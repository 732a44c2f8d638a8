// The audit trail's writer (see chain.h). Everything on the write path is async-signal-safe:
// the in-process mode's signal handlers and watchdog thread use it with stack buffers, and
// JavaScript uses it with a buffer it allocates before taking the locks.
#include "chain.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include "errors.h"
#include "reserve.h"
#include "sha256.h"

namespace worm {

namespace {

constexpr char kGenesis[] = "0000000000000000000000000000000000000000000000000000000000000000";
// Longest wait for the file lock or the writer lock, in 100 µs steps: 2 s. A holder that keeps
// either longer (a target that opened the trail and flocked it) costs one record, never a hang.
constexpr int kLockSteps = 20000;
// Room after a body for ,"prev":"…","hash":"…","sig":"…"}\n (75 + 74 + 96 + 2 bytes).
constexpr size_t kTailRoom = 320;

void SleepUs(long us) {
  struct timespec ts = {0, us * 1000};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

double MonotonicMs() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}

bool IsHex(const char* p, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f'))) return false;
  }
  return true;
}

// The trail the in-process mode's native writers append to; set once by shareTrail(), then
// changed only under the writer lock.
struct Shared {
  int fd = -1;
  int tailFd = -1;
  int headFd = -1;
  bool lock = false;
  char prev[65] = {};
  long long seq = 0, blocked = 0, warnings = 0, unwritten = 0;
  double startMs = 0;
  std::string run;
  std::string incomplete;  // the stderr line that says the trail lost records
};
Shared shared;
std::atomic<bool> sharedSet{false};

// One writer at a time in this process (JavaScript, the watchdog thread, a signal handler).
// Signals are blocked while it is held, so no handler runs on top of a write on the same thread;
// abort() unblocks SIGABRT, and a handler that finds its own thread holding the lock goes on
// (the write it interrupted is abandoned with the process).
std::atomic<bool> busy{false};
std::atomic<pid_t> owner{0};
static_assert(std::atomic<bool>::is_always_lock_free && std::atomic<pid_t>::is_always_lock_free,
              "the writer lock is taken in signal handlers");

class WriterLock {
 public:
  WriterLock() {
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &saved_);
    const pid_t me = static_cast<pid_t>(syscall(SYS_gettid));
    if (owner.load() == me) {
      held_ = true;
      return;
    }
    for (int step = 0; step < kLockSteps; ++step) {
      bool expected = false;
      if (busy.compare_exchange_strong(expected, true)) {
        owner.store(me);
        held_ = mine_ = true;
        return;
      }
      SleepUs(100);
    }
  }
  ~WriterLock() {
    if (mine_) {
      owner.store(0);
      busy.store(false);
    }
    pthread_sigmask(SIG_SETMASK, &saved_, nullptr);
  }
  bool held() const { return held_; }

 private:
  sigset_t saved_;
  bool held_ = false;
  bool mine_ = false;
};

// flock(LOCK_EX) without blocking for ever; 0 or an errno. A filesystem that has no locks
// (ENOLCK, EOPNOTSUPP) is written without one: only concurrent runs could fork its chain, and
// the verifier would show where.
int LockFile(int fd) {
  for (int step = 0; step < kLockSteps; ++step) {
    if (flock(fd, LOCK_EX | LOCK_NB) == 0) return 0;
    if (errno == ENOLCK || errno == EOPNOTSUPP) return 0;
    if (errno != EWOULDBLOCK && errno != EINTR) return errno;
    SleepUs(100);
  }
  return EWOULDBLOCK;
}

enum Tail { kTailEmpty = 0, kTailRecord = 1, kTailOther = 2 };

// The hash of the record that ends the file: kTailRecord (out filled), kTailEmpty, kTailOther
// (the file does not end with a whole chained record), or -errno.
int ReadTail(int fd, char out[65]) {
  struct stat st;
  if (fstat(fd, &st) != 0) return -errno;
  if (st.st_size == 0) return kTailEmpty;
  char buf[512];
  const size_t n = st.st_size < static_cast<off_t>(sizeof buf) ? static_cast<size_t>(st.st_size) : sizeof buf;
  size_t got = 0;
  while (got < n) {
    ssize_t r = pread(fd, buf + got, n - got, st.st_size - static_cast<off_t>(n) + static_cast<off_t>(got));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return -errno;
    if (r == 0) return kTailOther;  // shrank meanwhile
    got += static_cast<size_t>(r);
  }
  // ...,"prev":"<64 hex>","hash":"<64 hex>"}\n  or  ...,"hash":"<64 hex>","sig":"<base64>"}\n
  if (n < 2 || buf[n - 1] != '\n' || buf[n - 2] != '}') return kTailOther;
  static const char kHash[] = ",\"hash\":\"";
  static const char kPrev[] = ",\"prev\":\"";
  const size_t hl = sizeof kHash - 1, pl = sizeof kPrev - 1;
  for (size_t i = n - 2; i-- > 0;) {
    if (i + hl + 65 > n - 1 || std::memcmp(buf + i, kHash, hl) != 0) continue;
    const char* h = buf + i + hl;
    if (!IsHex(h, 64) || h[64] != '"') return kTailOther;
    if (i < pl + 65 || std::memcmp(buf + i - pl - 65, kPrev, pl) != 0 || !IsHex(buf + i - 65, 64) || buf[i - 1] != '"') {
      return kTailOther;
    }
    const char* rest = h + 65;
    const size_t restLen = static_cast<size_t>(buf + n - 2 - rest);  // between the hash and the '}'
    static const char kSig[] = ",\"sig\":\"";
    const size_t sl = sizeof kSig - 1;
    if (restLen != 0 && !(restLen > sl + 1 && std::memcmp(rest, kSig, sl) == 0 && rest[restLen - 1] == '"')) return kTailOther;
    std::memcpy(out, h, 64);
    out[64] = '\0';
    return kTailRecord;
  }
  return kTailOther;
}

// write(2) until done; on failure a regular file is cut back to where the line began, so it
// never ends in half a record. 0 or an errno (*truncErr: ftruncate's own errno, if that failed).
int WriteWhole(int fd, const char* p, size_t len, int* truncErr) {
  struct stat st;
  const bool regular = fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
  size_t done = 0;
  int err = 0;
  for (int waits = 0; done < len;) {
    ssize_t w = write(fd, p + done, len - done);
    if (w > 0) {
      done += static_cast<size_t>(w);
      continue;
    }
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && errno == EAGAIN && waits++ < 100) {  // a caller's non-blocking pipe: up to ~10 s
      struct pollfd pfd = {fd, POLLOUT, 0};
      poll(&pfd, 1, 100);
      continue;
    }
    err = w < 0 ? errno : EIO;
    break;
  }
  if (err != 0 && regular && done > 0) {
    while (ftruncate(fd, st.st_size) != 0) {
      if (errno != EINTR) {
        *truncErr = errno;
        break;
      }
    }
  }
  return err;
}

size_t Put(char* out, size_t at, size_t cap, const char* s, size_t n) {
  if (at + n > cap) return cap + 1;
  std::memcpy(out + at, s, n);
  return at + n;
}

// Decimal digits of v into out; the count, 0 when they do not fit.
size_t PutNumber(char* out, size_t cap, long long v) {
  char tmp[24];
  size_t n = 0;
  const bool neg = v < 0;
  unsigned long long u = neg ? 0ULL - static_cast<unsigned long long>(v) : static_cast<unsigned long long>(v);
  do {
    tmp[n++] = static_cast<char>('0' + u % 10);
    u /= 10;
  } while (u != 0);
  const size_t len = n + (neg ? 1 : 0);
  if (len > cap) return 0;
  size_t at = 0;
  if (neg) out[at++] = '-';
  while (n > 0) out[at++] = tmp[--n];
  return len;
}

// Writes a record's body for sequence number seq into out (at most cap bytes); its length, or
// 0 when it does not fit.
typedef size_t (*BodyFn)(void* ctx, long long seq, char* out, size_t cap);
// The signature (base64, NUL-terminated) of a record whose hash is given, or null/"" for none.
typedef const char* (*SignFn)(void* ctx, const char* hash);

struct AppendSpec {
  int fd;
  int tailFd;         // where to read the newest record's hash from; -1: use prev
  bool lock;          // flock the file
  const char* prev;   // 64 hex: the chain's head when the file cannot tell (or is not a file)
  off_t reserve;      // after a write, keep this many bytes allocated past the end (0: no)
  long long seq;      // -1: the shared trail's next number
  bool share;         // the shared trail: prev from it, and its state updated
  bool counters;      // with share: set its blocked/warnings/unwritten from below
  long long blocked, warnings, unwritten;
  BodyFn body;
  void* bodyCtx;
  SignFn sign;
  void* signCtx;
  char* buf;
  size_t cap;
};

struct Appended {
  int err = 0;
  int reserveErr = -1;  // -1: not tried
  int truncErr = 0;
  long long seq = 0;
  off_t size = -1;
  char hash[65] = {};
  char prev[65] = {};
};

Appended AppendRecord(const AppendSpec& a) {
  Appended r;
  WriterLock writer;
  if (!writer.held()) {
    r.err = EWOULDBLOCK;
    return r;
  }
  const char* fallback = a.share ? (shared.prev[0] != '\0' ? shared.prev : kGenesis) : a.prev;
  std::memcpy(r.prev, fallback, 64);
  if (a.lock) r.err = LockFile(a.fd);
  if (r.err == 0) {
    if (a.tailFd >= 0) {
      char tail[65];
      const int t = ReadTail(a.tailFd, tail);
      if (t == kTailRecord) std::memcpy(r.prev, tail, 64);
      if (t == kTailEmpty) std::memcpy(r.prev, kGenesis, 64);
      // Anything else (not a chained record, unreadable): chain to the head we know; the
      // verifier names the foreign line.
    }
    r.seq = a.seq >= 0 ? a.seq : shared.seq + 1;
    size_t n = a.body(a.bodyCtx, r.seq, a.buf, a.cap > kTailRoom ? a.cap - kTailRoom : 0);
    if (n == 0) r.err = E2BIG;
    if (r.err == 0) {
      static const char kPrev[] = ",\"prev\":\"";
      static const char kHash[] = ",\"hash\":\"";
      n = Put(a.buf, n, a.cap, kPrev, sizeof kPrev - 1);
      n = Put(a.buf, n, a.cap, r.prev, 64);
      n = Put(a.buf, n, a.cap, "\"", 1);
      if (n <= a.cap) {
        // The canonical bytes: everything so far.
        Sha256 s;
        uint8_t digest[32];
        Sha256Init(&s);
        Sha256Update(&s, a.buf, n);
        Sha256Final(&s, digest);
        HexDigest(digest, r.hash);
      }
      n = Put(a.buf, n, a.cap, kHash, sizeof kHash - 1);
      n = Put(a.buf, n, a.cap, r.hash, 64);
      n = Put(a.buf, n, a.cap, "\"", 1);
      const char* sig = a.sign != nullptr ? a.sign(a.signCtx, r.hash) : nullptr;
      if (sig != nullptr && sig[0] != '\0') {
        static const char kSig[] = ",\"sig\":\"";
        n = Put(a.buf, n, a.cap, kSig, sizeof kSig - 1);
        n = Put(a.buf, n, a.cap, sig, std::strlen(sig));
        n = Put(a.buf, n, a.cap, "\"", 1);
      }
      n = Put(a.buf, n, a.cap, "}\n", 2);
      if (n > a.cap) r.err = E2BIG;
      if (r.err == 0) r.err = WriteWhole(a.fd, a.buf, n, &r.truncErr);
    }
  }
  struct stat st;
  if (fstat(a.fd, &st) == 0 && S_ISREG(st.st_mode)) {
    r.size = st.st_size;
    if (r.err == 0 && a.reserve > 0) r.reserveErr = ReserveSpace(a.fd, st.st_size, a.reserve);
  }
  if (a.share) {
    if (r.err == 0) {
      std::memcpy(shared.prev, r.hash, 65);
      shared.seq = r.seq;
    }
    if (a.counters) {
      shared.blocked = a.blocked;
      shared.warnings = a.warnings;
      shared.unwritten = a.unwritten + (r.err != 0 ? 1 : 0);
    } else if (r.err != 0) {
      shared.unwritten += 1;
    }
  }
  if (a.lock) flock(a.fd, LOCK_UN);
  return r;
}

// ---- JavaScript's records ---------------------------------------------------------------------

struct JsBody {
  const std::string* before;
  const std::string* after;
};

size_t JsBodyFn(void* ctx, long long seq, char* out, size_t cap) {
  const JsBody* b = static_cast<const JsBody*>(ctx);
  size_t n = Put(out, 0, cap, b->before->data(), b->before->size());
  if (n > cap) return 0;
  const size_t d = PutNumber(out + n, cap - n, seq);
  if (d == 0) return 0;
  n += d;
  n = Put(out, n, cap, b->after->data(), b->after->size());
  return n > cap ? 0 : n;
}

struct JsSigner {
  Napi::Env env;
  Napi::Function fn;
  std::string sig;
};

const char* JsSignFn(void* ctx, const char* hash) {
  JsSigner* s = static_cast<JsSigner*>(ctx);
  Napi::Value v = s->fn.Call({Napi::String::New(s->env, hash, 64)});
  if (s->env.IsExceptionPending() || !v.IsString()) return nullptr;
  s->sig = v.As<Napi::String>().Utf8Value();
  // Only base64 goes into the line.
  for (char c : s->sig) {
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/' || c == '=')) return nullptr;
  }
  return s->sig.c_str();
}

int Int(Napi::Object o, const char* key, int fallback) {
  Napi::Value v = o.Get(key);
  return v.IsNumber() ? v.As<Napi::Number>().Int32Value() : fallback;
}

long long Long(Napi::Object o, const char* key, long long fallback) {
  Napi::Value v = o.Get(key);
  return v.IsNumber() ? v.As<Napi::Number>().Int64Value() : fallback;
}

// ---- the native writers' records --------------------------------------------------------------

struct PreparedBody {
  const char* tmpl;
  size_t len;
  Fill* fill;
};

// Runs under the writer lock, so the shared counts and the clock are read as of the write.
size_t PreparedBodyFn(void* ctx, long long seq, char* out, size_t cap) {
  PreparedBody* p = static_cast<PreparedBody*>(ctx);
  p->fill->seq = seq;
  p->fill->wallMs = static_cast<long long>(MonotonicMs() - shared.startMs + 0.5);
  p->fill->blocked = shared.blocked;
  p->fill->warnings = shared.warnings;
  p->fill->unwritten = shared.unwritten;
  const size_t n = ExpandVerdict(p->tmpl, p->len, out, cap, *p->fill);
  return n >= cap ? 0 : n;
}

void WriteText(int fd, const char* s, size_t n) {
  int ignored = 0;
  if (fd >= 0 && n > 0) WriteWhole(fd, s, n, &ignored);
}

}  // namespace

void AppendPrepared(const std::string& tmpl, Fill fill) {
  if (!sharedSet.load() || shared.fd < 0) return;
  char buf[8192];
  bool lost = false;
  bool wroteLast = false;
  char head[65] = {};
  long long headSeq = 0;
  const char* s = tmpl.data();
  const char* end = s + tmpl.size();
  while (s < end) {
    const char* nl = static_cast<const char*>(std::memchr(s, '\n', static_cast<size_t>(end - s)));
    const char* stop = nl != nullptr ? nl : end;
    if (stop > s) {
      PreparedBody body = {s, static_cast<size_t>(stop - s), &fill};
      AppendSpec a = {shared.fd, shared.tailFd, shared.lock, kGenesis, 0, -1, true, false, 0, 0, 0,
                      PreparedBodyFn, &body, nullptr, nullptr, buf, sizeof buf};
      Appended r = AppendRecord(a);
      wroteLast = r.err == 0;
      lost = lost || r.err != 0;
      if (r.err == 0) {
        std::memcpy(head, r.hash, 65);
        headSeq = r.seq;
      }
    }
    s = stop + 1;
  }
  if (wroteLast && shared.headFd >= 0) {
    // {"run":"<id>","seq":N,"head":"<hash>"}
    size_t n = Put(buf, 0, sizeof buf, "{\"run\":\"", 8);
    n = Put(buf, n, sizeof buf, shared.run.data(), shared.run.size());
    n = Put(buf, n, sizeof buf, "\",\"seq\":", 8);
    if (n <= sizeof buf) n += PutNumber(buf + n, sizeof buf - n, headSeq);
    n = Put(buf, n, sizeof buf, ",\"head\":\"", 9);
    n = Put(buf, n, sizeof buf, head, 64);
    n = Put(buf, n, sizeof buf, "\"}\n", 3);
    if (n <= sizeof buf) WriteText(shared.headFd, buf, n);
  }
  if (lost || shared.unwritten > 0) WriteText(2, shared.incomplete.data(), shared.incomplete.size());
}

Napi::Value ChainAppendJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsObject()) return ThrowType(env, "chainAppend(options)");
  Napi::Object o = info[0].As<Napi::Object>();
  if (!o.Get("fd").IsNumber() || !o.Get("before").IsString() || !o.Get("after").IsString()) {
    return ThrowType(env, "chainAppend({fd, before, after, ...})");
  }
  const std::string before = o.Get("before").As<Napi::String>().Utf8Value();
  const std::string after = o.Get("after").As<Napi::String>().Utf8Value();
  std::string prev = o.Get("prev").IsString() ? o.Get("prev").As<Napi::String>().Utf8Value() : kGenesis;
  if (prev.size() != 64 || !IsHex(prev.data(), 64)) return ThrowType(env, "chainAppend: prev must be 64 hex digits");
  JsBody body = {&before, &after};
  JsSigner signer = {env, Napi::Function(), std::string()};
  const bool sign = o.Get("sign").IsFunction();
  if (sign) signer.fn = o.Get("sign").As<Napi::Function>();
  std::string buf(before.size() + after.size() + 24 + kTailRoom, '\0');
  const bool share = o.Get("share").ToBoolean().Value();
  AppendSpec a = {Int(o, "fd", -1), Int(o, "tailFd", -1), o.Get("lock").ToBoolean().Value(), prev.c_str(),
                  static_cast<off_t>(Long(o, "reserve", 0)), Long(o, "seq", -1), share, share,
                  Long(o, "blocked", 0), Long(o, "warnings", 0), Long(o, "unwritten", 0),
                  JsBodyFn, &body, sign ? JsSignFn : nullptr, &signer, &buf[0], buf.size()};
  if (a.fd < 0) return ThrowType(env, "chainAppend: fd must be an open descriptor");
  if (share && !sharedSet.load()) return ThrowType(env, "chainAppend: share before shareTrail()");
  Appended r = AppendRecord(a);
  if (env.IsExceptionPending()) return env.Undefined();  // the signer threw
  Napi::Object out = Napi::Object::New(env);
  out.Set("err", Napi::Number::New(env, r.err));
  out.Set("hash", Napi::String::New(env, r.err == 0 ? r.hash : ""));
  out.Set("prev", Napi::String::New(env, r.prev, 64));
  out.Set("seq", Napi::Number::New(env, static_cast<double>(r.seq)));
  out.Set("size", Napi::Number::New(env, static_cast<double>(r.size)));
  out.Set("reserveErr", Napi::Number::New(env, r.reserveErr));
  out.Set("truncErr", Napi::Number::New(env, r.truncErr));
  return out;
}

Napi::Value ShareTrailJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsObject()) return ThrowType(env, "shareTrail(options)");
  Napi::Object o = info[0].As<Napi::Object>();
  if (sharedSet.load()) return ThrowType(env, "shareTrail: already shared");
  shared.fd = Int(o, "fd", -1);
  shared.tailFd = Int(o, "tailFd", -1);
  shared.headFd = Int(o, "headFd", -1);
  shared.lock = o.Get("lock").ToBoolean().Value();
  std::memcpy(shared.prev, kGenesis, 65);
  shared.run = LineOption(o, "run");
  shared.incomplete = LineOption(o, "incomplete");
  shared.startMs = MonotonicMs();
  sharedSet.store(true);
  return env.Undefined();
}

Napi::Value Sha256HexJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsBuffer()) return ThrowType(env, "sha256Hex(buffer)");
  Napi::Buffer<uint8_t> b = info[0].As<Napi::Buffer<uint8_t>>();
  Sha256 s;
  uint8_t digest[32];
  char hex[64];
  Sha256Init(&s);
  Sha256Update(&s, b.Data(), b.Length());
  Sha256Final(&s, digest);
  HexDigest(digest, hex);
  return Napi::String::New(env, hex, 64);
}

}  // namespace worm
