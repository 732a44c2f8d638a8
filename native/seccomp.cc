// The network filter. Everything the kernel refuses is listed once, in FilterRules(); the BPF
// program, `worm-run --print-policy` and the tests are all derived from that table.
#include "seccomp.h"

#include <linux/audit.h>
#include <linux/seccomp.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/ioctl.h>

#include <cerrno>
#include <cstddef>
#include <cstdio>

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

#ifndef TIOCLINUX
#define TIOCLINUX 0x541C
#endif
// From <linux/if_tun.h>: creating or attaching to a tun/tap device (root) gives a way to put
// packets on the host's network stack without a socket.
#define WORM_TUNSETIFF 0x400454caU
#define WORM_TUNSETQUEUE 0x400454d9U

const char* ArchName() {
#if defined(__x86_64__)
  return "x86_64";
#else
  return "aarch64";
#endif
}

const char* VerdictName(Verdict v) { return v == Verdict::Enosys ? "ENOSYS" : "EPERM"; }

std::vector<Rule> FilterRules(const FilterOptions& opts) {
  const Verdict P = Verdict::Eperm;
  std::vector<Rule> r;
  // Calls whose answer depends on arguments come first: they are the only ones the kernel runs
  // the program for on every call, so they should reach their check in few instructions.
  r.push_back({"ioctl", __NR_ioctl, P, Cond::IfArgIn, 1, {TIOCSTI, TIOCLINUX, WORM_TUNSETIFF, WORM_TUNSETQUEUE}, 4,
               "TIOCSTI/TIOCLINUX would push keystrokes into the launching terminal; "
               "TUNSETIFF/TUNSETQUEUE would make a tun/tap device (as root) to send packets without a socket"});
  if (!opts.allowUnix) {
    r.push_back({"sendto", __NR_sendto, P, Cond::IfPtrArg, 4, {0, 0}, 0,
                 "a destination address means a datagram to the network; send() stays allowed"});
    r.push_back({"recvfrom", __NR_recvfrom, P, Cond::IfPtrArg, 4, {0, 0}, 0,
                 "asking for the source address is the network form; recv() stays allowed"});
  }
  r.push_back({"socketpair", __NR_socketpair, P, Cond::UnlessArgEq, 0, {AF_UNIX, 0, 0, 0}, 1,
               "only AF_UNIX pairs (pipes between processes) are allowed"});
  if (opts.allowUnix) {
    r.push_back({"socket", __NR_socket, P, Cond::UnlessArgEq, 0, {AF_UNIX, 0, 0, 0}, 1,
                 "--allow-unix: only AF_UNIX sockets; every other family is refused"});
  } else {
    r.push_back({"socket", __NR_socket, P, Cond::Always, 0, {0, 0}, 0,
                 "every address family (INET, INET6, NETLINK, PACKET, VSOCK, UNIX ...)"});
    const char* net = "no socket can exist to use it on; refused as a second line";
    r.push_back({"connect", __NR_connect, P, Cond::Always, 0, {0, 0}, 0, net});
    r.push_back({"bind", __NR_bind, P, Cond::Always, 0, {0, 0}, 0, net});
    r.push_back({"listen", __NR_listen, P, Cond::Always, 0, {0, 0}, 0, net});
    r.push_back({"accept", __NR_accept, P, Cond::Always, 0, {0, 0}, 0, net});
    r.push_back({"accept4", __NR_accept4, P, Cond::Always, 0, {0, 0}, 0, net});
    r.push_back({"sendmmsg", __NR_sendmmsg, P, Cond::Always, 0, {0, 0}, 0, net});
    r.push_back({"recvmmsg", __NR_recvmmsg, P, Cond::Always, 0, {0, 0}, 0, net});
  }
  r.push_back({"io_uring_setup", __NR_io_uring_setup, Verdict::Enosys, Cond::Always, 0, {0, 0}, 0,
               "io_uring can open and connect sockets without the calls above; ENOSYS makes "
               "libuv and liburing fall back to ordinary calls"});
  if (!opts.keepExistingRings) {
    r.push_back({"io_uring_enter", __NR_io_uring_enter, P, Cond::Always, 0, {0, 0}, 0,
                 "io_uring (a ring passed in from outside)"});
    r.push_back({"io_uring_register", __NR_io_uring_register, P, Cond::Always, 0, {0, 0}, 0,
                 "io_uring (a ring passed in from outside)"});
  }
  const char* reach = "would reach into another process (the supervisor included)";
  r.push_back({"ptrace", __NR_ptrace, P, Cond::Always, 0, {0, 0}, 0, reach});
  r.push_back({"process_vm_readv", __NR_process_vm_readv, P, Cond::Always, 0, {0, 0}, 0, reach});
  r.push_back({"process_vm_writev", __NR_process_vm_writev, P, Cond::Always, 0, {0, 0}, 0, reach});
  r.push_back({"pidfd_getfd", __NR_pidfd_getfd, P, Cond::Always, 0, {0, 0}, 0,
               "would copy another process's descriptors (an open connection) into the target"});
  if (opts.denyExec) {
    r.push_back({"execve", __NR_execve, P, Cond::Always, 0, {0, 0}, 0, "the supervisor starts nothing once the target runs"});
    r.push_back({"execveat", __NR_execveat, P, Cond::Always, 0, {0, 0}, 0, "the supervisor starts nothing once the target runs"});
  }
  r.push_back({"bpf", __NR_bpf, P, Cond::Always, 0, {0, 0}, 0,
               "BPF programs (as root) can inject packets (XDP live frames) or redirect others' traffic"});
  r.push_back({"request_key", __NR_request_key, P, Cond::Always, 0, {0, 0}, 0,
               "a key request can make the kernel start a helper outside the sandbox (dns_resolver does DNS)"});
  const char* kernel = "loading kernel code (as root) would void every other rule";
  r.push_back({"init_module", __NR_init_module, P, Cond::Always, 0, {0, 0}, 0, kernel});
  r.push_back({"finit_module", __NR_finit_module, P, Cond::Always, 0, {0, 0}, 0, kernel});
  r.push_back({"kexec_load", __NR_kexec_load, P, Cond::Always, 0, {0, 0}, 0, kernel});
  r.push_back({"kexec_file_load", __NR_kexec_file_load, P, Cond::Always, 0, {0, 0}, 0, kernel});
  return r;
}

std::string DescribeCondition(const Rule& r) {
  std::string a = "args[" + std::to_string(r.arg) + "]";
  switch (r.cond) {
    case Cond::Always:
      return "always";
    case Cond::UnlessArgEq:
      return "unless " + a + " == " + std::to_string(r.values[0]);
    case Cond::IfPtrArg:
      return "when " + a + " != NULL";
    case Cond::IfArgIn: {
      std::string s = "when " + a + " in {";
      for (int i = 0; i < r.nvalues; i++) {
        char buf[16];
        snprintf(buf, sizeof buf, "%s0x%x", i ? ", " : "", r.values[i]);
        s += buf;
      }
      return s + "}";
    }
  }
  return "?";
}

namespace {

// A tiny assembler: jumps name labels, and Finish() resolves them to the 8-bit forward offsets
// classic BPF needs, refusing the program if one does not fit.
class Assembler {
 public:
  static constexpr int kNext = -1;  // "fall through to the next instruction"

  int NewLabel() {
    labels_.push_back(-1);
    return static_cast<int>(labels_.size()) - 1;
  }
  void Bind(int label) { labels_[label] = static_cast<int>(code_.size()); }
  void Load(uint32_t offset) { Emit(BPF_LD | BPF_W | BPF_ABS, offset, kNext, kNext); }
  void Ret(uint32_t k) { Emit(BPF_RET | BPF_K, k, kNext, kNext); }
  void JumpEq(uint32_t k, int jt, int jf) { Emit(BPF_JMP | BPF_JEQ | BPF_K, k, jt, jf); }
  void JumpGe(uint32_t k, int jt, int jf) { Emit(BPF_JMP | BPF_JGE | BPF_K, k, jt, jf); }

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
    code_.push_back({BPF_STMT(op, k), jt, jf});
  }
  bool Resolve(size_t at, int label, uint8_t* off, std::string* err) {
    if (label == kNext) {
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
};

constexpr uint32_t kNr = offsetof(struct seccomp_data, nr);
constexpr uint32_t kArch = offsetof(struct seccomp_data, arch);
// Little-endian: the low word of args[i] comes first.
uint32_t ArgLo(int i) { return offsetof(struct seccomp_data, args) + 8 * i; }
uint32_t ArgHi(int i) { return ArgLo(i) + 4; }

}  // namespace

bool BuildFilter(const FilterOptions& opts, std::vector<sock_filter>* out, std::string* err) {
  std::vector<Rule> rules = FilterRules(opts);
  Assembler a;
  const int allow = a.NewLabel(), eperm = a.NewLabel(), enosys = a.NewLabel();
  auto verdict = [&](const Rule& r) { return r.verdict == Verdict::Enosys ? enosys : eperm; };

  // Another ABI (i386 via int 0x80, which includes socketcall) is refused as a whole: its
  // numbers mean different calls, so no rule below would apply to it.
  a.Load(kArch);
  a.JumpEq(WORM_AUDIT_ARCH, Assembler::kNext, eperm);
  a.Load(kNr);
#ifdef WORM_X32_BIT
  a.JumpGe(WORM_X32_BIT, eperm, Assembler::kNext);
#endif
  std::vector<int> body(rules.size(), -1);
  for (size_t i = 0; i < rules.size(); i++) {
    body[i] = rules[i].cond == Cond::Always ? verdict(rules[i]) : a.NewLabel();
    a.JumpEq(static_cast<uint32_t>(rules[i].nr), body[i], Assembler::kNext);
  }
  a.Ret(SECCOMP_RET_ALLOW);

  for (size_t i = 0; i < rules.size(); i++) {
    const Rule& r = rules[i];
    if (r.cond == Cond::Always) continue;
    a.Bind(body[i]);
    switch (r.cond) {
      case Cond::UnlessArgEq:
        a.Load(ArgLo(r.arg));
        a.JumpEq(r.values[0], allow, verdict(r));
        break;
      case Cond::IfPtrArg:
        a.Load(ArgLo(r.arg));
        a.JumpEq(0, Assembler::kNext, verdict(r));
        a.Load(ArgHi(r.arg));
        a.JumpEq(0, allow, verdict(r));
        break;
      case Cond::IfArgIn:
        a.Load(ArgLo(r.arg));
        for (int v = 0; v < r.nvalues; v++) {
          a.JumpEq(r.values[v], verdict(r), v + 1 == r.nvalues ? allow : Assembler::kNext);
        }
        break;
      case Cond::Always:
        break;
    }
  }
  a.Bind(allow);
  a.Ret(SECCOMP_RET_ALLOW);
  a.Bind(eperm);
  a.Ret(SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA));
  a.Bind(enosys);
  a.Ret(SECCOMP_RET_ERRNO | (ENOSYS & SECCOMP_RET_DATA));
  return a.Finish(out, err);
}

}  // namespace worm

// ---- bindings ------------------------------------------------------------------------------
#include "errors.h"

namespace worm {

// {allowUnix, self, supervisor}: `self` is the filter worm-run puts on its own process (libuv's
// ring kept), `supervisor` that of the CLI's supervisor (also no execve).
bool ReadFilterOptions(Napi::Value v, FilterOptions* out) {
  if (v.IsObject()) {
    Napi::Object o = v.As<Napi::Object>();
    out->allowUnix = o.Get("allowUnix").ToBoolean().Value();
    out->denyExec = o.Get("supervisor").ToBoolean().Value();
    out->keepExistingRings = out->denyExec || o.Get("self").ToBoolean().Value();
  }
  return true;
}

// describeFilter({allowUnix, self, supervisor}) -> { arch, otherAbis, instructions, rules: [...] }
Napi::Value DescribeFilter(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  FilterOptions opts;
  ReadFilterOptions(info[0], &opts);
  std::vector<sock_filter> prog;
  std::string err;
  if (!BuildFilter(opts, &prog, &err)) return ThrowType(env, err);
  Napi::Object o = Napi::Object::New(env);
  o.Set("arch", Napi::String::New(env, ArchName()));
  o.Set("otherAbis", Napi::String::New(env,
#ifdef WORM_X32_BIT
                                       "every syscall from another ABI (i386 int 0x80, x32) -> EPERM"
#else
                                       "every syscall from another ABI (compat) -> EPERM"
#endif
                                       ));
  o.Set("instructions", Napi::Number::New(env, static_cast<double>(prog.size())));
  Napi::Array rules = Napi::Array::New(env);
  uint32_t i = 0;
  for (const Rule& r : FilterRules(opts)) {
    Napi::Object x = Napi::Object::New(env);
    x.Set("syscall", Napi::String::New(env, r.syscall));
    x.Set("nr", Napi::Number::New(env, r.nr));
    x.Set("errno", Napi::String::New(env, VerdictName(r.verdict)));
    x.Set("when", Napi::String::New(env, DescribeCondition(r)));
    x.Set("argsInspected", Napi::Boolean::New(env, r.cond != Cond::Always));
    x.Set("why", Napi::String::New(env, r.why));
    rules.Set(i++, x);
  }
  o.Set("rules", rules);
  return o;
}

}  // namespace worm
