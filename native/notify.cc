#include "notify.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/seccomp.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>

#ifndef SECCOMP_IOCTL_NOTIF_RECV
#define SECCOMP_IOC_MAGIC '!'
#define SECCOMP_IO(nr) _IO(SECCOMP_IOC_MAGIC, nr)
#define SECCOMP_IOWR(nr, type) _IOWR(SECCOMP_IOC_MAGIC, nr, type)
#define SECCOMP_IOW(nr, type) _IOW(SECCOMP_IOC_MAGIC, nr, type)
#define SECCOMP_IOCTL_NOTIF_RECV SECCOMP_IOWR(0, struct seccomp_notif)
#define SECCOMP_IOCTL_NOTIF_SEND SECCOMP_IOWR(1, struct seccomp_notif_resp)
#define SECCOMP_IOCTL_NOTIF_ID_VALID SECCOMP_IOW(2, __u64)
#endif

#ifndef SECCOMP_IOCTL_NOTIF_SET_FLAGS
#define SECCOMP_IOCTL_NOTIF_SET_FLAGS _IOW('!', 4, __u64)
#endif
#ifndef SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP
#define SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP (1UL << 0)
#endif

namespace worm {

namespace {

constexpr size_t kArgvCap = 512;

double NowMs() {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}

std::string ReadSmall(const std::string& path, size_t cap) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "";
  std::string out(cap, '\0');
  ssize_t n = read(fd, out.data(), cap);
  close(fd);
  out.resize(n > 0 ? static_cast<size_t>(n) : 0);
  return out;
}

bool IsAddressCall(int nr) { return nr == __NR_connect || nr == __NR_bind || nr == __NR_sendto; }

}  // namespace

Listener::Listener(int fd, const FilterOptions& opts) : fd_(fd), opts_(opts) {
  // The caller waits for each answer, so wake this thread on the caller's CPU (Linux 6.6+):
  // a refusal costs a few microseconds less than a cross-CPU wake-up. Older kernels say
  // EINVAL or ENOTTY, and nothing changes but the cost.
  ioctl(fd_, SECCOMP_IOCTL_NOTIF_SET_FLAGS, SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP);
}

Listener::~Listener() {
  if (fd_ >= 0) close(fd_);
}

namespace {

// Nothing about a process is cached between notifications: a pid's program changes at execve
// and a pid is reused after exit, and a record must name the program that made the call.
// A path or argv cut short says so: a prefix of a long path can be another program's.
const char kCut[] = "...(cut)";

std::string ExeOf(int tid) {
  char link[PATH_MAX + 1];
  ssize_t n = readlink(("/proc/" + std::to_string(tid) + "/exe").c_str(), link, sizeof link);
  if (n <= 0) return "";
  if (static_cast<size_t>(n) == sizeof link) return std::string(link, PATH_MAX) + kCut;
  return std::string(link, static_cast<size_t>(n));
}

std::string ArgvOf(int tid) {
  std::string argv = ReadSmall("/proc/" + std::to_string(tid) + "/cmdline", kArgvCap + 1);
  const bool cut = argv.size() > kArgvCap;
  if (cut) argv.resize(kArgvCap);
  while (!argv.empty() && argv.back() == '\0') argv.pop_back();
  for (char& c : argv) {
    if (c == '\0') c = ' ';
  }
  return cut ? argv + kCut : argv;
}

// The notification names the calling thread; the record names its process.
int TgidOf(int tid) {
  std::string status = ReadSmall("/proc/" + std::to_string(tid) + "/status", 1024);
  size_t at = status.find("\nTgid:");
  if (at == std::string::npos) return tid;
  int tgid = atoi(status.c_str() + at + 6);
  return tgid > 0 ? tgid : tid;
}

}  // namespace

// The socket address the refused call points at, read from the caller's memory while it
// waits for the answer. Only for the record: the call is refused whatever it says.
std::string Listener::ReadAddress(int tid, uint64_t ptr, uint64_t len, int* family) {
  if (ptr == 0 || len < sizeof(sa_family_t)) return "";
  int mem = open(("/proc/" + std::to_string(tid) + "/mem").c_str(), O_RDONLY | O_CLOEXEC);
  if (mem < 0) return "";
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  size_t want = len < sizeof ss ? static_cast<size_t>(len) : sizeof ss;
  ssize_t got = pread(mem, &ss, want, static_cast<off_t>(ptr));
  close(mem);
  if (got < static_cast<ssize_t>(sizeof(sa_family_t))) return "";
  *family = ss.ss_family;
  char buf[INET6_ADDRSTRLEN + 16];
  if (ss.ss_family == AF_INET && got >= static_cast<ssize_t>(sizeof(sockaddr_in))) {
    auto* a = reinterpret_cast<sockaddr_in*>(&ss);
    inet_ntop(AF_INET, &a->sin_addr, buf, sizeof buf);
    return std::string(buf) + ":" + std::to_string(ntohs(a->sin_port));
  }
  if (ss.ss_family == AF_INET6 && got >= static_cast<ssize_t>(sizeof(sockaddr_in6))) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
    inet_ntop(AF_INET6, &a->sin6_addr, buf, sizeof buf);
    return "[" + std::string(buf) + "]:" + std::to_string(ntohs(a->sin6_port));
  }
  if (ss.ss_family == AF_UNIX) {
    auto* a = reinterpret_cast<sockaddr_un*>(&ss);
    size_t plen = static_cast<size_t>(got) - offsetof(sockaddr_un, sun_path);
    if (plen == 0) return "unix:(unnamed)";
    if (a->sun_path[0] == '\0') return "unix:@" + std::string(a->sun_path + 1, strnlen(a->sun_path + 1, plen - 1));
    return "unix:" + std::string(a->sun_path, strnlen(a->sun_path, plen));
  }
  return "family " + std::to_string(ss.ss_family);
}

bool Listener::HandleOne() {
  struct seccomp_notif req;
  memset(&req, 0, sizeof req);
  if (ioctl(fd_, SECCOMP_IOCTL_NOTIF_RECV, &req) != 0) {
    // EINTR/ENOENT: the caller was killed while we looked; anything else: the listener is done.
    return errno == EINTR || errno == ENOENT;
  }
  Refusal r;
  r.tid = static_cast<int>(req.pid);
  r.pid = r.tid;
  r.arch = req.data.arch;
  r.nr = req.data.nr;
  for (int i = 0; i < 6; i++) r.args[i] = req.data.args[i];
  r.err = RefusalErrno(opts_, r.arch, r.nr);
  bool native = r.arch == AuditArch();
#ifdef __x86_64__
  const bool x32 = native && (static_cast<uint32_t>(r.nr) & 0x40000000u);
#else
  const bool x32 = false;
#endif
  if (!native) {
    r.syscall = "i386:" + std::to_string(r.nr);
  } else if (x32) {
    r.syscall = "x32:" + std::to_string(r.nr & ~0x40000000);
  } else {
    const char* name = SyscallName(r.nr);
    r.syscall = name ? name : "syscall:" + std::to_string(r.nr);
  }
  if (native && !x32 && IsAddressCall(r.nr)) {
    uint64_t ptr = r.nr == __NR_sendto ? r.args[4] : r.args[1];
    uint64_t len = r.nr == __NR_sendto ? r.args[5] : r.args[2];
    r.address = ReadAddress(r.tid, ptr, len, &r.family);
  }
  // Who asked: read while the caller still waits for the answer, so it is the program that
  // made the call (checked below: the call is still waiting once everything is read).
  r.exe = ExeOf(r.tid);
  // Fold: the arguments that say what was tried (not buffers, whose addresses change).
  std::string key = std::to_string(r.tid) + "|" + r.exe + "|" + r.syscall + "|" + r.address;
  if (native && !x32) {
    auto lo = [&](int i) { return std::to_string(static_cast<uint32_t>(r.args[i])); };
    if (r.nr == __NR_socket || r.nr == __NR_socketpair) key += "|" + lo(0) + "," + lo(1) + "," + lo(2);
    else if (r.nr == __NR_ioctl) key += "|" + lo(1);
    else if (r.nr == __NR_mmap) key += "|" + lo(3);
    else if (!IsAddressCall(r.nr)) key += "|" + lo(0) + "," + lo(1);
  }
  auto it = index_.find(key);
  const bool fresh = it == index_.end() && entries.size() < kMaxEntries;
  if (fresh) {
    // A new entry: the rest of who asked, also while the caller waits.
    r.argv = ArgvOf(r.tid);
    r.pid = TgidOf(r.tid);
  }
  // Another thread's execve ends the waiting call: what /proc said may then be the new program.
  uint64_t id = req.id;
  if (fresh && ioctl(fd_, SECCOMP_IOCTL_NOTIF_ID_VALID, &id) != 0) {
    r.exe = "(gone before it could be read)";
    r.argv.clear();
  }

  // The answer: the rule's errno; the call never runs.
  struct seccomp_notif_resp resp;
  memset(&resp, 0, sizeof resp);
  resp.id = req.id;
  resp.error = -r.err;
  resp.val = 0;
  resp.flags = 0;
  ioctl(fd_, SECCOMP_IOCTL_NOTIF_SEND, &resp);

  ++total;
  if (it != index_.end()) {
    ++entries[it->second].count;
    return true;
  }
  if (!fresh) {
    ++overflow;
    return true;
  }
  r.count = 1;
  r.firstMs = NowMs();
  index_.emplace(std::move(key), entries.size());
  fresh_.push_back(entries.size());
  entries.push_back(std::move(r));
  return true;
}

std::vector<size_t> Listener::TakeNew() {
  std::vector<size_t> out;
  out.swap(fresh_);
  return out;
}

}  // namespace worm
