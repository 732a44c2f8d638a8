// The kernel filter. Everything the kernel refuses is listed once, in FilterRules(); the BPF
// program, `worm-run --print-policy`, `worm-run export` and the tests are all derived from
// that table.
#include "seccomp.h"

#include <linux/audit.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <functional>

namespace worm {

#if defined(__x86_64__)
#define WORM_AUDIT_ARCH AUDIT_ARCH_X86_64
// x32 syscalls arrive with the x86_64 audit arch and this bit set in the number.
#define WORM_X32_BIT 0x40000000u
#elif defined(__aarch64__)
#define WORM_AUDIT_ARCH AUDIT_ARCH_AARCH64
#else
#error "worm-run's filter knows x86_64 and aarch64 only"
#endif

#ifndef SECCOMP_RET_USER_NOTIF
#define SECCOMP_RET_USER_NOTIF 0x7fc00000U
#endif
#ifndef TIOCLINUX
#define TIOCLINUX 0x541C
#endif
// From <linux/if_tun.h>: creating or attaching to a tun/tap device (root) gives a way to put
// packets on the host's network stack without a socket.
#define WORM_TUNSETIFF 0x400454caU
#define WORM_TUNSETQUEUE 0x400454d9U
// Newer than the system headers of some build machines; the numbers are the same on x86_64
// and aarch64 (the common table from 424 on).
#ifndef __NR_open_tree
#define __NR_open_tree 428
#define __NR_move_mount 429
#define __NR_fsopen 430
#define __NR_fsconfig 431
#define __NR_fsmount 432
#define __NR_fspick 433
#endif
#ifndef __NR_clone3
#define __NR_clone3 435
#endif
#ifndef __NR_process_madvise
#define __NR_process_madvise 440
#endif
#ifndef __NR_mount_setattr
#define __NR_mount_setattr 442
#endif
#ifndef __NR_open_tree_attr
#define __NR_open_tree_attr 467
#endif
#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif
#ifndef CLONE_NEWCGROUP
#define CLONE_NEWCGROUP 0x02000000
#endif

namespace {
// Every namespace a clone/unshare flag can create.
constexpr uint32_t kNamespaceFlags = CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC |
                                     CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWTIME;
constexpr uint32_t kIoprioWhoProcess = 1;  // <linux/ioprio.h>
constexpr uint32_t kSockTypeMask = 0xf;    // SOCK_TYPE_MASK in the kernel
}  // namespace

const char* ArchName() {
#if defined(__x86_64__)
  return "x86_64";
#else
  return "aarch64";
#endif
}

uint32_t AuditArch() { return WORM_AUDIT_ARCH; }

const char* VerdictName(Verdict v) { return v == Verdict::Enosys ? "ENOSYS" : "EPERM"; }

namespace {

Test In(int arg, std::vector<uint32_t> values) { return {arg, Op::In, 0, std::move(values)}; }
Test NotEq(int arg, uint32_t value) { return {arg, Op::NotEq, 0, {value}}; }
Test HasBits(int arg, uint32_t mask) { return {arg, Op::HasBits, mask, {}}; }
Test MaskedIn(int arg, uint32_t mask, std::vector<uint32_t> values) {
  return {arg, Op::MaskedIn, mask, std::move(values)};
}
Test NonNull(int arg) { return {arg, Op::NonNull, 0, {}}; }
// Holds when both hold.
Test Both(Test first, Test second) {
  first.also.push_back(std::move(second));
  return first;
}

// A call that addresses a process by its first argument (or, for setpriority/ioprio_set, by
// "which" and "who").
void PidRules(std::vector<Rule>& r, PidScope scope) {
  if (scope == PidScope::None) return;
  const Verdict P = Verdict::Eperm;
  const char* g = "processes";
  const bool ns = scope == PidScope::Namespace;
  const char* why = ns ? "pid 1 is the run's init (worm-run's own); every process outside the run is in another PID namespace"
                       : "only the calling process itself (pid 0) may be addressed: there is no PID namespace to hide the others";
  struct PidCall {
    const char* name;
    int nr;
  };
  const PidCall byFirst[] = {
      {"prlimit64", __NR_prlimit64},
      {"sched_setaffinity", __NR_sched_setaffinity},
      {"sched_setscheduler", __NR_sched_setscheduler},
      {"sched_setparam", __NR_sched_setparam},
      {"sched_setattr", __NR_sched_setattr},
      {"migrate_pages", __NR_migrate_pages},
      {"move_pages", __NR_move_pages},
  };
  for (const PidCall& c : byFirst) {
    if (ns) r.push_back({c.name, c.nr, P, Kind::IfAny, {In(0, {1})}, g, why});
    else r.push_back({c.name, c.nr, P, Kind::UnlessAll, {In(0, {0})}, g, why});
  }
  if (ns) {
    // Only the process form, and not pid 1: "my process group" and "my user" (who = 0) reach
    // init, which shares the target's process group and (as root) its user, and the group form
    // reaches every process of that group in any namespace: worm-run itself, and whatever
    // shares its terminal job (`worm-run ... | cat`), when the run stays in worm-run's group.
    const char* whyGroup = "pid 1 is the run's init; the process-group and user forms reach init, and the group form worm-run's own process group";
    r.push_back({"setpriority", __NR_setpriority, P, Kind::IfAny, {NotEq(0, PRIO_PROCESS), In(1, {1})}, g, whyGroup});
    r.push_back({"ioprio_set", __NR_ioprio_set, P, Kind::IfAny, {NotEq(0, kIoprioWhoProcess), In(1, {1})}, g, whyGroup});
  } else {
    // who = 0 means "the caller" only with PRIO_PROCESS / IOPRIO_WHO_PROCESS: with the user or
    // group forms it means every process of the caller's user or process group.
    r.push_back({"setpriority", __NR_setpriority, P, Kind::UnlessAll, {In(0, {PRIO_PROCESS}), In(1, {0})}, g, why});
    r.push_back({"ioprio_set", __NR_ioprio_set, P, Kind::UnlessAll, {In(0, {kIoprioWhoProcess}), In(1, {0})}, g, why});
    r.push_back({"kill", __NR_kill, P, Kind::IfAny, {In(0, {0xffffffffu})}, g,
                 "kill(-1) signals every process of the user, worm-run's included"});
  }
}

}  // namespace

std::vector<Rule> FilterRules(const FilterOptions& opts) {
  const Verdict P = Verdict::Eperm;
  const Verdict N = Verdict::Enosys;
  std::vector<Rule> r;
  // Rules that read arguments come first, the busiest calls at the front: for their numbers
  // the kernel runs the program on every call, so they should reach their check in few
  // instructions. Every other number gets a constant answer that the kernel caches (see
  // seccomp_cache_prepare in kernel/seccomp.c).
  r.push_back({"ioctl", __NR_ioctl, P, Kind::IfAny,
               {In(1, {TIOCSTI, TIOCLINUX, TIOCSETD, TIOCCONS, TIOCVHANGUP, TCXONC, TIOCEXCL, TIOCSLCKTRMIOS,
                       WORM_TUNSETIFF, WORM_TUNSETQUEUE}),
                Both(In(1, {TIOCSCTTY}), In(2, {1}))},
               "terminal",
               "TIOCSTI/TIOCLINUX push keystrokes into the launching terminal; TIOCSETD, TIOCCONS, TIOCVHANGUP, "
               "TCXONC, TIOCEXCL, TIOCSLCKTRMIOS leave it dead, stopped, redirected or locked after the run; "
               "TIOCSCTTY with force (as root) takes the terminal away from the launching shell's session for good "
               "(without force, as a program making its own pty does, it stays allowed); "
               "TUNSETIFF/TUNSETQUEUE make a tun/tap device (as root) that sends packets without a socket"});
  if (!opts.allowUnix) {
    r.push_back({"sendto", __NR_sendto, P, Kind::IfAny, {NonNull(4)}, "network",
                 "a destination address means a datagram to the network; send() stays allowed"});
    r.push_back({"recvfrom", __NR_recvfrom, P, Kind::IfAny, {NonNull(4)}, "network",
                 "asking for the source address is the network form; recv() stays allowed"});
  }
  if (opts.memoryCap) {
    r.push_back({"mmap", __NR_mmap, P, Kind::IfAny, {HasBits(3, MAP_GROWSDOWN)}, "memory",
                 "--memory: a MAP_GROWSDOWN mapping grows outside RLIMIT_DATA"});
  }
  r.push_back({"clone", __NR_clone, P, Kind::IfAny, {HasBits(0, kNamespaceFlags)}, "namespaces",
               "new namespaces would give the target capabilities inside them (and their kernel surface)"});
  r.push_back({"unshare", __NR_unshare, P, Kind::IfAny, {HasBits(0, kNamespaceFlags)}, "namespaces",
               "new namespaces would give the target capabilities inside them (and their kernel surface)"});
  PidRules(r, opts.pids);
  if (opts.allowUnix) {
    r.push_back({"socket", __NR_socket, P, Kind::IfAny, {NotEq(0, AF_UNIX)}, "network",
                 "--allow-unix: only AF_UNIX sockets; every other family is refused"});
    r.push_back({"socketpair", __NR_socketpair, P, Kind::IfAny, {NotEq(0, AF_UNIX)}, "network",
                 "only AF_UNIX pairs"});
  } else {
    // A stream or seqpacket pair only talks to its other end; a datagram pair can send to any
    // datagram socket on the host by path (sendmsg's msg_name), and become a two-way channel.
    r.push_back({"socketpair", __NR_socketpair, P, Kind::IfAny,
                 {NotEq(0, AF_UNIX), MaskedIn(1, kSockTypeMask, {SOCK_DGRAM, SOCK_RAW, SOCK_RDM, SOCK_PACKET})},
                 "network", "only AF_UNIX stream and seqpacket pairs (pipes between processes)"});
    r.push_back({"socket", __NR_socket, P, Kind::Always, {}, "network",
                 "every address family (INET, INET6, NETLINK, PACKET, VSOCK, UNIX ...)"});
    const char* net = "no socket can exist to use it on; refused as a second line";
    for (auto [name, nr] : {std::pair{"connect", __NR_connect}, {"bind", __NR_bind}, {"listen", __NR_listen},
                            {"accept", __NR_accept}, {"accept4", __NR_accept4}, {"sendmmsg", __NR_sendmmsg},
                            {"recvmmsg", __NR_recvmmsg}}) {
      r.push_back({name, nr, P, Kind::Always, {}, "network", net});
    }
  }
  r.push_back({"io_uring_setup", __NR_io_uring_setup, N, Kind::Always, {}, "io_uring",
               "io_uring can open and connect sockets without the calls above; ENOSYS makes "
               "libuv and liburing fall back to ordinary calls"});
  if (!opts.keepExistingRings) {
    r.push_back({"io_uring_enter", __NR_io_uring_enter, P, Kind::Always, {}, "io_uring", "io_uring (a ring passed in from outside)"});
    r.push_back({"io_uring_register", __NR_io_uring_register, P, Kind::Always, {}, "io_uring", "io_uring (a ring passed in from outside)"});
  }
  const char* reach = "would reach into another process (the supervisor included)";
  r.push_back({"ptrace", __NR_ptrace, P, Kind::Always, {}, "processes", reach});
  r.push_back({"process_vm_readv", __NR_process_vm_readv, P, Kind::Always, {}, "processes", reach});
  r.push_back({"process_vm_writev", __NR_process_vm_writev, P, Kind::Always, {}, "processes", reach});
  r.push_back({"pidfd_getfd", __NR_pidfd_getfd, P, Kind::Always, {}, "processes",
               "would copy another process's descriptors (an open connection) into the target"});
  r.push_back({"process_madvise", __NR_process_madvise, P, Kind::Always, {}, "processes", reach});
  r.push_back({"kcmp", __NR_kcmp, P, Kind::Always, {}, "processes", "compares the kernel objects of other processes"});
  r.push_back({"perf_event_open", __NR_perf_event_open, P, Kind::Always, {}, "processes",
               "performance events can watch other processes and, with sigtrap, signal them without kill()"});
  r.push_back({"vhangup", __NR_vhangup, P, Kind::Always, {}, "terminal", "hangs up the launching terminal (as root)"});
  r.push_back({"clone3", __NR_clone3, N, Kind::Always, {}, "namespaces",
               "its flags are out of the filter's sight; ENOSYS makes libc fall back to clone (answered by the kernel, not recorded)",
               true});
  r.push_back({"setns", __NR_setns, P, Kind::Always, {}, "namespaces", "entering another namespace"});
  const char* mount = "mounting (a network filesystem connects from inside the kernel) or changing the mount tree";
  for (auto [name, nr] : {std::pair{"mount", __NR_mount}, {"umount2", __NR_umount2}, {"pivot_root", __NR_pivot_root},
                          {"fsopen", __NR_fsopen}, {"fsconfig", __NR_fsconfig}, {"fsmount", __NR_fsmount},
                          {"fspick", __NR_fspick}, {"move_mount", __NR_move_mount}, {"open_tree", __NR_open_tree},
                          {"mount_setattr", __NR_mount_setattr}, {"open_tree_attr", __NR_open_tree_attr}}) {
    r.push_back({name, nr, P, Kind::Always, {}, "mount", mount});
  }
  if (opts.denyExec) {
    const char* exec = "worm-run's own processes start nothing once the target runs";
    r.push_back({"execve", __NR_execve, P, Kind::Always, {}, "exec", exec});
    r.push_back({"execveat", __NR_execveat, P, Kind::Always, {}, "exec", exec});
  }
  r.push_back({"bpf", __NR_bpf, P, Kind::Always, {}, "kernel",
               "BPF programs (as root) can inject packets (XDP live frames) or redirect others' traffic"});
  const char* keys = "a key request can make the kernel start a helper outside the sandbox (dns_resolver does DNS)";
  r.push_back({"request_key", __NR_request_key, P, Kind::Always, {}, "kernel", keys});
  r.push_back({"add_key", __NR_add_key, P, Kind::Always, {}, "kernel", keys});
  r.push_back({"keyctl", __NR_keyctl, P, Kind::Always, {}, "kernel", keys});
  r.push_back({"open_by_handle_at", __NR_open_by_handle_at, P, Kind::Always, {}, "kernel",
               "opens files by handle (as root), around the paths the filesystem rules see"});
  const char* kernel = "loading kernel code (as root) would void every other rule";
  r.push_back({"init_module", __NR_init_module, P, Kind::Always, {}, "kernel", kernel});
  r.push_back({"finit_module", __NR_finit_module, P, Kind::Always, {}, "kernel", kernel});
  r.push_back({"kexec_load", __NR_kexec_load, P, Kind::Always, {}, "kernel", kernel});
  r.push_back({"kexec_file_load", __NR_kexec_file_load, P, Kind::Always, {}, "kernel", kernel});
#if defined(__x86_64__)
  r.push_back({"iopl", __NR_iopl, P, Kind::Always, {}, "kernel", "raw I/O ports (as root) drive hardware directly"});
  r.push_back({"ioperm", __NR_ioperm, P, Kind::Always, {}, "kernel", "raw I/O ports (as root) drive hardware directly"});
#endif
  return r;
}

int RefusalErrno(const FilterOptions& opts, uint32_t arch, int nr) {
  if (arch != WORM_AUDIT_ARCH) return EPERM;
  for (const Rule& r : FilterRules(opts)) {
    if (r.nr == nr) return r.verdict == Verdict::Enosys ? ENOSYS : EPERM;
  }
  return EPERM;
}

const char* SyscallName(int nr) {
  FilterOptions all;
  all.denyExec = true;
  all.memoryCap = true;
  all.pids = PidScope::SelfOnly;
  static const std::vector<Rule> known = [&] {
    std::vector<Rule> v = FilterRules(all);
    all.allowUnix = true;
    for (Rule& r : FilterRules(all)) v.push_back(std::move(r));
    return v;
  }();
  for (const Rule& r : known) {
    if (r.nr == nr) return r.syscall;
  }
  return nullptr;
}

namespace {

std::string Hex(uint32_t v) {
  char buf[16];
  snprintf(buf, sizeof buf, "0x%x", v);
  return buf;
}

std::string DescribeTest(const Test& t) {
  if (!t.also.empty()) {
    Test first = t;
    first.also.clear();
    std::string s = "(" + DescribeTest(first);
    for (const Test& x : t.also) s += " and " + DescribeTest(x);
    return s + ")";
  }
  std::string a = "args[" + std::to_string(t.arg) + "]";
  auto list = [&] {
    std::string s;
    for (size_t i = 0; i < t.values.size(); i++) s += (i ? ", " : "") + Hex(t.values[i]);
    return s;
  };
  switch (t.op) {
    case Op::In:
      return t.values.size() == 1 ? a + " == " + Hex(t.values[0]) : a + " in {" + list() + "}";
    case Op::NotEq:
      return a + " != " + Hex(t.values[0]);
    case Op::HasBits:
      return a + " & " + Hex(t.mask) + " != 0";
    case Op::MaskedIn:
      return "(" + a + " & " + Hex(t.mask) + ") in {" + list() + "}";
    case Op::NonNull:
      return a + " != NULL";
  }
  return "?";
}

}  // namespace

std::string DescribeCondition(const Rule& r) {
  if (r.kind == Kind::Always) return "always";
  std::string s = r.kind == Kind::IfAny ? "when " : "unless ";
  for (size_t i = 0; i < r.tests.size(); i++) {
    s += (i ? (r.kind == Kind::IfAny ? " or " : " and ") : "") + DescribeTest(r.tests[i]);
  }
  return s;
}

namespace {

// A tiny assembler: jumps name labels, and Finish() resolves them to the 8-bit forward offsets
// classic BPF needs, refusing the program if one does not fit.
class Assembler {
 public:
  int NewLabel() {
    labels_.push_back(-1);
    return static_cast<int>(labels_.size()) - 1;
  }
  void Bind(int label) { labels_[label] = static_cast<int>(code_.size()); }
  void Load(uint32_t offset) { Emit(BPF_LD | BPF_W | BPF_ABS, offset, -1, -1); }
  void And(uint32_t k) { Emit(BPF_ALU | BPF_AND | BPF_K, k, -1, -1); }
  void Ret(uint32_t k) { Emit(BPF_RET | BPF_K, k, -1, -1); }
  void JumpEq(uint32_t k, int jt, int jf) { Emit(BPF_JMP | BPF_JEQ | BPF_K, k, jt, jf); }
  void JumpGe(uint32_t k, int jt, int jf) { Emit(BPF_JMP | BPF_JGE | BPF_K, k, jt, jf); }
  void JumpSet(uint32_t k, int jt, int jf) { Emit(BPF_JMP | BPF_JSET | BPF_K, k, jt, jf); }
  // A label for the instruction that follows the one about to be emitted.
  int Next() {
    int l = NewLabel();
    pending_.push_back(l);
    return l;
  }

  bool Finish(std::vector<sock_filter>* out, std::string* err) {
    out->clear();
    for (size_t i = 0; i < code_.size(); i++) {
      sock_filter f = code_[i].f;
      if (!Resolve(i, code_[i].jt, &f.jt, err) || !Resolve(i, code_[i].jf, &f.jf, err)) return false;
      out->push_back(f);
    }
    return true;
  }

 private:
  struct Ins {
    sock_filter f;
    int jt, jf;
  };
  void Emit(uint16_t op, uint32_t k, int jt, int jf) {
    for (int l : pending_) labels_[l] = static_cast<int>(code_.size()) + 1;
    pending_.clear();
    code_.push_back({BPF_STMT(op, k), jt, jf});
  }
  bool Resolve(size_t at, int label, uint8_t* off, std::string* err) {
    if (label < 0) {
      *off = 0;
      return true;
    }
    long d = static_cast<long>(labels_[label]) - static_cast<long>(at) - 1;
    if (labels_[label] < 0 || d < 0 || d > 255) {
      *err = "BPF jump out of range at instruction " + std::to_string(at);
      return false;
    }
    *off = static_cast<uint8_t>(d);
    return true;
  }
  std::vector<Ins> code_;
  std::vector<int> labels_;
  std::vector<int> pending_;
};

constexpr uint32_t kNr = offsetof(struct seccomp_data, nr);
constexpr uint32_t kArch = offsetof(struct seccomp_data, arch);
// Little-endian: the low word of args[i] comes first.
uint32_t ArgLo(int i) { return offsetof(struct seccomp_data, args) + 8 * i; }
uint32_t ArgHi(int i) { return ArgLo(i) + 4; }

// Jumps to t when the test holds, else to f (both labels).
void EmitTest(Assembler& a, const Test& t, int yes, int no) {
  if (!t.also.empty()) {
    Test first = t;
    first.also.clear();
    int next = a.NewLabel();
    EmitTest(a, first, next, no);
    for (size_t i = 0; i < t.also.size(); i++) {
      a.Bind(next);
      next = i + 1 == t.also.size() ? yes : a.NewLabel();
      EmitTest(a, t.also[i], next, no);
    }
    return;
  }
  switch (t.op) {
    case Op::In:
    case Op::MaskedIn:
      a.Load(ArgLo(t.arg));
      if (t.op == Op::MaskedIn) a.And(t.mask);
      for (size_t i = 0; i < t.values.size(); i++) {
        a.JumpEq(t.values[i], yes, i + 1 == t.values.size() ? no : a.Next());
      }
      break;
    case Op::NotEq:
      a.Load(ArgLo(t.arg));
      a.JumpEq(t.values[0], no, yes);
      break;
    case Op::HasBits:
      a.Load(ArgLo(t.arg));
      a.JumpSet(t.mask, yes, no);
      break;
    case Op::NonNull:
      a.Load(ArgLo(t.arg));
      a.JumpEq(0, a.Next(), yes);
      a.Load(ArgHi(t.arg));
      a.JumpEq(0, no, yes);
      break;
  }
}

}  // namespace

bool BuildFilter(const FilterOptions& opts, std::vector<sock_filter>* out, std::string* err) {
  std::vector<Rule> rules = FilterRules(opts);
  auto refusal = [&](Verdict v, bool unrecorded = false) -> uint32_t {
    if (opts.notify && !unrecorded) return SECCOMP_RET_USER_NOTIF;
    return SECCOMP_RET_ERRNO | ((v == Verdict::Enosys ? ENOSYS : EPERM) & SECCOMP_RET_DATA);
  };

  // Another ABI (i386 via int 0x80, which includes socketcall) is refused as a whole: its
  // numbers mean different calls, so no rule below would apply to it.
  Assembler b;
  int archOk = b.NewLabel();
  b.Load(kArch);
  b.JumpEq(WORM_AUDIT_ARCH, archOk, b.Next());
  b.Ret(refusal(Verdict::Eperm));
  b.Bind(archOk);
  b.Load(kNr);
#ifdef WORM_X32_BIT
  int native = b.NewLabel();
  b.JumpGe(WORM_X32_BIT, b.Next(), native);
  b.Ret(refusal(Verdict::Eperm));
  b.Bind(native);
#endif
  // A chain, one link per rule: a link compares the number and either refuses at once, or
  // looks at the arguments and returns; a number no rule names runs to the end: allowed.
  for (const Rule& r : rules) {
    int skip = b.NewLabel();
    b.JumpEq(static_cast<uint32_t>(r.nr), b.Next(), skip);
    if (r.kind == Kind::Always) {
      b.Ret(refusal(r.verdict, r.unrecorded));
    } else {
      int refuse = b.NewLabel(), allow = b.NewLabel();
      for (const Test& t : r.tests) {
        int next = b.NewLabel();
        if (r.kind == Kind::IfAny) EmitTest(b, t, refuse, next);
        else EmitTest(b, t, next, refuse);
        b.Bind(next);
      }
      b.Bind(allow);
      b.Ret(SECCOMP_RET_ALLOW);
      b.Bind(refuse);
      b.Ret(refusal(r.verdict, r.unrecorded));
    }
    b.Bind(skip);
    // Every path through the link above returned, so the accumulator still holds the number.
  }
  b.Ret(SECCOMP_RET_ALLOW);
  return b.Finish(out, err);
}

}  // namespace worm

// ---- bindings ------------------------------------------------------------------------------
#include "errors.h"

namespace worm {

// {allowUnix, self, supervisor, notify, memoryCap, pids: 'none'|'namespace'|'self'}: `self` is
// the filter worm-run puts on its own process (libuv's ring kept), `supervisor` that of the
// CLI's supervisor and the run's init (also no execve).
bool ReadFilterOptions(Napi::Value v, FilterOptions* out) {
  if (!v.IsObject()) return true;
  Napi::Object o = v.As<Napi::Object>();
  out->allowUnix = o.Get("allowUnix").ToBoolean().Value();
  out->denyExec = o.Get("supervisor").ToBoolean().Value();
  out->keepExistingRings = out->denyExec || o.Get("self").ToBoolean().Value();
  out->notify = o.Get("notify").ToBoolean().Value();
  out->memoryCap = o.Get("memoryCap").ToBoolean().Value();
  Napi::Value pids = o.Get("pids");
  if (pids.IsString()) {
    std::string p = pids.As<Napi::String>().Utf8Value();
    out->pids = p == "namespace" ? PidScope::Namespace : p == "self" ? PidScope::SelfOnly : PidScope::None;
  }
  return true;
}

namespace {

const char* OpName(Op op) {
  switch (op) {
    case Op::In: return "in";
    case Op::NotEq: return "ne";
    case Op::HasBits: return "hasBits";
    case Op::MaskedIn: return "maskedIn";
    case Op::NonNull: return "nonNull";
  }
  return "?";
}

const char* KindName(Kind k) {
  switch (k) {
    case Kind::Always: return "always";
    case Kind::IfAny: return "ifAny";
    case Kind::UnlessAll: return "unlessAll";
  }
  return "?";
}

}  // namespace

// describeFilter(options) -> { arch, auditArch, otherAbis, instructions, program, rules: [...] }
Napi::Value DescribeFilter(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  FilterOptions opts;
  ReadFilterOptions(info[0], &opts);
  std::vector<sock_filter> prog;
  std::string err;
  if (!BuildFilter(opts, &prog, &err)) return ThrowType(env, err);
  Napi::Object o = Napi::Object::New(env);
  o.Set("arch", Napi::String::New(env, ArchName()));
  o.Set("auditArch", Napi::Number::New(env, WORM_AUDIT_ARCH));
  o.Set("otherAbis", Napi::String::New(env,
#ifdef WORM_X32_BIT
                                       "every syscall from another ABI (i386 int 0x80, x32) -> EPERM"
#else
                                       "every syscall from another ABI (compat) -> EPERM"
#endif
                                       ));
  o.Set("instructions", Napi::Number::New(env, static_cast<double>(prog.size())));
  // The program itself, [code, jt, jf, k] per instruction: tests run it on chosen inputs.
  Napi::Array program = Napi::Array::New(env, prog.size());
  for (uint32_t i = 0; i < prog.size(); i++) {
    Napi::Array ins = Napi::Array::New(env, 4);
    ins.Set(0u, Napi::Number::New(env, prog[i].code));
    ins.Set(1u, Napi::Number::New(env, prog[i].jt));
    ins.Set(2u, Napi::Number::New(env, prog[i].jf));
    ins.Set(3u, Napi::Number::New(env, prog[i].k));
    program.Set(i, ins);
  }
  o.Set("program", program);
  Napi::Array rules = Napi::Array::New(env);
  uint32_t i = 0;
  for (const Rule& r : FilterRules(opts)) {
    Napi::Object x = Napi::Object::New(env);
    x.Set("syscall", Napi::String::New(env, r.syscall));
    x.Set("nr", Napi::Number::New(env, r.nr));
    x.Set("errno", Napi::String::New(env, VerdictName(r.verdict)));
    x.Set("group", Napi::String::New(env, r.group));
    x.Set("kind", Napi::String::New(env, KindName(r.kind)));
    std::function<Napi::Object(const Test&)> describe = [&](const Test& t) {
      Napi::Object to = Napi::Object::New(env);
      to.Set("arg", Napi::Number::New(env, t.arg));
      to.Set("op", Napi::String::New(env, OpName(t.op)));
      if (t.op == Op::HasBits || t.op == Op::MaskedIn) to.Set("mask", Napi::Number::New(env, t.mask));
      Napi::Array vals = Napi::Array::New(env, t.values.size());
      for (uint32_t k = 0; k < t.values.size(); k++) vals.Set(k, Napi::Number::New(env, t.values[k]));
      to.Set("values", vals);
      if (!t.also.empty()) {
        Napi::Array also = Napi::Array::New(env, t.also.size());
        for (uint32_t k = 0; k < t.also.size(); k++) also.Set(k, describe(t.also[k]));
        to.Set("and", also);
      }
      return to;
    };
    Napi::Array tests = Napi::Array::New(env, r.tests.size());
    for (uint32_t j = 0; j < r.tests.size(); j++) tests.Set(j, describe(r.tests[j]));
    x.Set("tests", tests);
    x.Set("when", Napi::String::New(env, DescribeCondition(r)));
    x.Set("argsInspected", Napi::Boolean::New(env, r.kind != Kind::Always));
    x.Set("recorded", Napi::Boolean::New(env, !r.unrecorded));
    x.Set("why", Napi::String::New(env, r.why));
    rules.Set(i++, x);
  }
  o.Set("rules", rules);
  return o;
}

}  // namespace worm
