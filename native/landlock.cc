#include "landlock.h"

#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#ifndef __NR_landlock_create_ruleset
#define __NR_landlock_create_ruleset 444
#define __NR_landlock_add_rule 445
#define __NR_landlock_restrict_self 446
#endif

namespace worm {

namespace {
// The system headers on Debian 12 predate the net and scope fields, so the ABI is spelled here.
struct RulesetAttr {
  uint64_t handled_access_fs;
  uint64_t handled_access_net;
  uint64_t scoped;
};
struct PathBeneathAttr {
  uint64_t allowed_access;
  int32_t parent_fd;
} __attribute__((packed));
constexpr uint32_t kCreateRulesetVersion = 1u << 0;
constexpr int kRulePathBeneath = 1;
constexpr uint64_t kFsExecute = 1ull << 0;
constexpr uint64_t kFsWriteFile = 1ull << 1;
constexpr uint64_t kFsReadFile = 1ull << 2;
constexpr uint64_t kFsAbi1 = (1ull << 13) - 1;   // EXECUTE .. MAKE_SYM
constexpr uint64_t kFsRefer = 1ull << 13;        // ABI 2
constexpr uint64_t kFsTruncate = 1ull << 14;     // ABI 3
constexpr uint64_t kFsIoctlDev = 1ull << 15;     // ABI 5
constexpr uint64_t kNetBindTcp = 1ull << 0;         // ABI 4
constexpr uint64_t kNetConnectTcp = 1ull << 1;      // ABI 4
constexpr uint64_t kScopeAbstractUnix = 1ull << 0;  // ABI 6
constexpr uint64_t kScopeSignal = 1ull << 1;        // ABI 6
}  // namespace

int LandlockAbi() {
  long v = syscall(__NR_landlock_create_ruleset, nullptr, 0, kCreateRulesetVersion);
  return v < 0 ? -errno : static_cast<int>(v);
}

uint64_t LandlockFsRights(int abi) {
  if (abi < 1) return 0;
  uint64_t r = kFsAbi1;
  if (abi >= 2) r |= kFsRefer;
  if (abi >= 3) r |= kFsTruncate;
  if (abi >= 5) r |= kFsIoctlDev;
  return r;
}

uint64_t LandlockFileRights() {
  return kFsExecute | kFsWriteFile | kFsReadFile | kFsTruncate | kFsIoctlDev;
}

LandlockSpec PlanLandlock(int abi, uint64_t fs) {
  LandlockSpec p;
  if (abi < 2) return p;
  p.abi = abi;
  p.fs = fs & LandlockFsRights(abi);
  if (abi >= 4) p.net = kNetBindTcp | kNetConnectTcp;
  if (abi >= 6) p.scoped = kScopeAbstractUnix | kScopeSignal;
  // Before ABI 4 a ruleset must handle some filesystem right to exist at all (and being in a
  // domain is what cuts ptrace-class access to the outside): writing, granted where allowed.
  if (p.fs == 0 && p.net == 0) p.fs = kFsWriteFile;
  return p;
}

int CreateLandlockRuleset(const LandlockSpec& spec, std::string* failedPath, int* skipped) {
  RulesetAttr attr = {spec.fs, spec.net, spec.scoped};
  size_t size = spec.abi >= 6 ? sizeof attr : spec.abi >= 4 ? 16 : 8;
  long fd = syscall(__NR_landlock_create_ruleset, &attr, size, 0);
  if (fd < 0) return -errno;
  if (skipped) *skipped = 0;
  for (const LandlockRule& r : spec.rules) {
    uint64_t access = r.access & spec.fs;
    if (access == 0) continue;
    int dirfd = open(r.path.c_str(), O_PATH | O_CLOEXEC);
    if (dirfd < 0) {
      // Gone since the rules were made: nothing can be done there, which is what a missing
      // rule means too.
      if (errno == ENOENT || errno == ENOTDIR) {
        if (skipped) ++*skipped;
        continue;
      }
      int err = errno;
      if (failedPath) *failedPath = r.path;
      close(static_cast<int>(fd));
      return -err;
    }
    struct stat st;
    if (fstat(dirfd, &st) == 0 && !S_ISDIR(st.st_mode)) access &= LandlockFileRights();
    PathBeneathAttr rule = {access, dirfd};
    long ok = syscall(__NR_landlock_add_rule, fd, kRulePathBeneath, &rule, 0);
    int err = errno;
    close(dirfd);
    if (ok != 0) {
      if (failedPath) *failedPath = r.path;
      close(static_cast<int>(fd));
      return -err;
    }
  }
  return static_cast<int>(fd);
}

int LandlockRestrictSelf(int ruleset_fd) {
  return syscall(__NR_landlock_restrict_self, ruleset_fd, 0) == 0 ? 0 : errno;
}

std::string DescribeLandlock(const LandlockSpec& p) {
  if (p.abi <= 0) return "unavailable";
  std::string s = "abi " + std::to_string(p.abi) + ": no access to processes outside";
  if (p.net) s += ", TCP bind/connect refused";
  if (p.scoped) s += ", abstract unix sockets and signals scoped to the sandbox";
  if (p.fs) s += ", filesystem rules (" + std::to_string(p.rules.size()) + ")";
  return s;
}

}  // namespace worm

// ---- bindings ------------------------------------------------------------------------------
#include "errors.h"

namespace worm {

bool ReadLandlockSpec(Napi::Env env, Napi::Value v, LandlockSpec* out) {
  if (!v.IsObject()) {
    ThrowType(env, "landlock must be an object {fs, rules}");
    return false;
  }
  Napi::Object o = v.As<Napi::Object>();
  int abi = LandlockAbi();
  Napi::Value fs = o.Get("fs");
  *out = PlanLandlock(abi, fs.IsNumber() ? static_cast<uint64_t>(fs.As<Napi::Number>().Int64Value()) : 0);
  if (out->abi == 0) return true;
  Napi::Value rules = o.Get("rules");
  if (!rules.IsArray()) return true;
  Napi::Array a = rules.As<Napi::Array>();
  for (uint32_t i = 0; i < a.Length(); i++) {
    Napi::Value e = a.Get(i);
    if (!e.IsObject() || !e.As<Napi::Object>().Get("path").IsString() || !e.As<Napi::Object>().Get("access").IsNumber()) {
      ThrowType(env, "landlock.rules[" + std::to_string(i) + "] must be {path: string, access: number}");
      return false;
    }
    Napi::Object r = e.As<Napi::Object>();
    std::string path = r.Get("path").As<Napi::String>().Utf8Value();
    if (path.find('\0') != std::string::npos) {
      ThrowType(env, "landlock.rules: a path contains a NUL byte");
      return false;
    }
    out->rules.push_back({std::move(path), static_cast<uint64_t>(r.Get("access").As<Napi::Number>().Int64Value())});
  }
  return true;
}

// landlockInfo() -> { abi, fsRights } for this kernel (abi 0: none usable).
Napi::Value LandlockInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int abi = LandlockAbi();
  Napi::Object o = Napi::Object::New(env);
  o.Set("abi", Napi::Number::New(env, abi > 0 ? abi : 0));
  o.Set("fsRights", Napi::Number::New(env, static_cast<double>(LandlockFsRights(abi > 0 ? abi : 0))));
  return o;
}

// landlockSelf({fs, rules}) -> description. The in-process mode's own domain. Landlock restricts
// the calling thread (and threads it creates later), not threads that already exist.
Napi::Value LandlockSelf(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  LandlockSpec spec;
  if (!ReadLandlockSpec(env, info[0], &spec)) return env.Undefined();
  if (spec.abi == 0) return Napi::String::New(env, "unavailable");
  std::string failed;
  int fd = CreateLandlockRuleset(spec, &failed, nullptr);
  if (fd < 0) {
    std::string call = failed.empty() ? "landlock_create_ruleset" : "landlock_add_rule(" + failed + ")";
    return ThrowErrno(env, call.c_str(), -fd);
  }
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
    close(fd);
    return ThrowErrno(env, "prctl(PR_SET_NO_NEW_PRIVS)", errno);
  }
  int err = LandlockRestrictSelf(fd);
  close(fd);
  if (err != 0) return ThrowErrno(env, "landlock_restrict_self", err);
  return Napi::String::New(env, DescribeLandlock(spec) + " (main thread and threads it starts)");
}

}  // namespace worm
