// The kernel filter: one table of rules, one assembler that turns it into a BPF program. The
// table is also what `--print-policy`, `worm-run export` and the tests read, so what is printed
// is what is enforced.
#pragma once
#include <linux/filter.h>

#include <cstdint>
#include <string>
#include <vector>

namespace worm {

// How pid-addressed calls (prlimit64, setpriority, sched_setaffinity ...) are confined.
enum class PidScope {
  // Not checked: worm-run's own processes (the supervisor, the run's init).
  None,
  // The run has its own PID namespace: every outside process is invisible already; only pid 1
  // (the run's init, worm-run's own) is refused.
  Namespace,
  // No PID namespace: only the calling process itself (pid 0) may be addressed.
  SelfOnly,
};

struct FilterOptions {
  bool allowUnix = false;
  // For worm-run's own process (the supervisor, the in-process mode): libuv on Node 22+ has
  // already set up an io_uring ring for its event loop and aborts if io_uring_enter fails. New
  // rings stay refused; the existing one is left to libuv. Targets never get this.
  bool keepExistingRings = false;
  // For the supervisor and the run's init: they never start a program once the target runs, so
  // even code that got into them could not start a helper outside the filter's view.
  bool denyExec = false;
  // Refusals go to a user-notification listener (the supervisor records them and answers with
  // the rule's errno) instead of being answered by the kernel.
  bool notify = false;
  // --memory is set: refuse MAP_GROWSDOWN mappings, which RLIMIT_DATA does not count.
  bool memoryCap = false;
  PidScope pids = PidScope::None;
};

enum class Verdict { Eperm, Enosys };

// One look at an argument. Only the low 32 bits are compared, except by NonNull: the kernel
// reads these arguments as int or unsigned int, so the upper half is whatever the caller left
// in the register and must not decide anything.
enum class Op {
  In,        // the argument is one of values
  NotEq,     // the argument is not values[0]
  HasBits,   // (argument & mask) != 0
  MaskedIn,  // (argument & mask) is one of values
  NonNull,   // the 64-bit pointer is not NULL
};

struct Test {
  int arg;
  Op op;
  uint32_t mask;
  std::vector<uint32_t> values;
  // More tests that must hold with this one (a conjunction: ioctl TIOCSCTTY *with force*).
  std::vector<Test> also = {};
};

enum class Kind {
  Always,     // refuse every call
  IfAny,      // refuse when any test holds
  UnlessAll,  // refuse unless every test holds
};

struct Rule {
  const char* syscall;
  int nr;
  Verdict verdict;
  Kind kind;
  std::vector<Test> tests;
  const char* group;
  const char* why;
  // Answered by the kernel even when refusals are recorded: not an attempt to get out but a
  // compatibility answer every program gets (clone3 -> ENOSYS, so libc uses clone).
  bool unrecorded = false;
};

std::vector<Rule> FilterRules(const FilterOptions& opts);

// Builds the program; on failure (a jump too long for BPF) returns false and sets *err.
bool BuildFilter(const FilterOptions& opts, std::vector<sock_filter>* out, std::string* err);

// The errno a refused call gets: the rule's for a known number, EPERM for another ABI.
int RefusalErrno(const FilterOptions& opts, uint32_t arch, int nr);
// The name of a syscall of this architecture that the table knows, else nullptr.
const char* SyscallName(int nr);

std::string DescribeCondition(const Rule& r);
const char* VerdictName(Verdict v);
const char* ArchName();
uint32_t AuditArch();

}  // namespace worm

#include <napi.h>
namespace worm {
bool ReadFilterOptions(Napi::Value v, FilterOptions* out);
Napi::Value DescribeFilter(const Napi::CallbackInfo& info);
}  // namespace worm
