// Kernel refusals, recorded: the target's filter hands each refused call to the supervisor
// (seccomp user notification), which answers it at once with the rule's errno (never
// CONTINUE: nothing refused ever runs, so there is no argument race to lose) and keeps a
// record of what was tried, by whom, and where to.
#pragma once
#include <sys/types.h>

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "seccomp.h"

namespace worm {

// One kind of refused call: the same process, call and arguments are folded into one entry.
struct Refusal {
  int pid = 0;             // the calling process (thread group), as the supervisor sees it
  int tid = 0;             // the calling thread
  uint32_t arch = 0;
  int nr = 0;
  std::string syscall;     // "socket", or "i386:102" for another ABI's number
  uint64_t args[6] = {0};
  std::string address;     // decoded destination: "127.0.0.1:9", "[::1]:80", "unix:/run/x", ""
  int family = -1;         // of that address
  std::string exe;         // /proc/<pid>/exe
  std::string argv;        // /proc/<pid>/cmdline, NULs turned into spaces, capped
  int err = 0;             // the errno it was answered with
  long long count = 0;
  double firstMs = 0;      // epoch ms of the first one
};

class Listener {
 public:
  Listener(int fd, const FilterOptions& opts);
  ~Listener();
  int fd() const { return fd_; }
  // Receives one notification, answers it, folds it in. Returns false when the listener is
  // finished (every process that used the filter is gone) or broken.
  bool HandleOne();
  // Entries beyond the cap are only counted.
  static constexpr size_t kMaxEntries = 256;
  std::vector<Refusal> entries;
  long long total = 0;
  long long overflow = 0;
  // Entries added since the last call (their indices), for the caller to deliver.
  std::vector<size_t> TakeNew();

 private:
  std::string ReadAddress(int tid, uint64_t ptr, uint64_t len, int* family);
  int fd_;
  FilterOptions opts_;
  std::unordered_map<std::string, size_t> index_;
  std::vector<size_t> fresh_;
};

}  // namespace worm
