// The network filter: one table of rules, one assembler that turns it into a BPF program.
#pragma once
#include <linux/filter.h>

#include <cstdint>
#include <string>
#include <vector>

namespace worm {

struct FilterOptions {
  bool allowUnix = false;
  // For worm-run's own process (the supervisor, the in-process mode): libuv on Node 22+ has
  // already set up an io_uring ring for its event loop and aborts if io_uring_enter fails. New
  // rings stay refused; the existing one is left to libuv. Targets never get this.
  bool keepExistingRings = false;
  // For the supervisor only: it never starts a program once the target runs, so even code that
  // got into it could not start a helper outside the filter's view.
  bool denyExec = false;
};

enum class Verdict { Eperm, Enosys };

// How a rule looks at the call's arguments. Only rules with a condition other than Always make
// the kernel run the program for that syscall number; every other number gets a constant answer
// the kernel caches (see seccomp_cache_prepare in kernel/seccomp.c).
enum class Cond {
  Always,       // refuse every call
  UnlessArgEq,  // refuse unless the low 32 bits of args[arg] == values[0]
  IfPtrArg,     // refuse when the 64-bit pointer args[arg] is not NULL
  IfArgIn,      // refuse when the low 32 bits of args[arg] is one of values[0..nvalues)
};

struct Rule {
  const char* syscall;
  int nr;
  Verdict verdict;
  Cond cond;
  int arg;
  uint32_t values[4];
  int nvalues;
  const char* why;
};

std::vector<Rule> FilterRules(const FilterOptions& opts);

// Builds the program; on failure (a jump too long for BPF) returns false and sets *err.
bool BuildFilter(const FilterOptions& opts, std::vector<sock_filter>* out, std::string* err);

std::string DescribeCondition(const Rule& r);
const char* VerdictName(Verdict v);
const char* ArchName();

}  // namespace worm

#include <napi.h>
namespace worm {
bool ReadFilterOptions(Napi::Value v, FilterOptions* out);
Napi::Value DescribeFilter(const Napi::CallbackInfo& info);
}  // namespace worm
