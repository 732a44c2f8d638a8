// The messages between the supervisor, the run's init and the target while the target is
// being started and once it runs. Fixed-size structs on local sockets and pipes: nothing to
// parse, and every message is written with one call, so none arrives in pieces.
//
//   supervisor --clone--> init --clone--> target
//
//   target -> supervisor (control socket, SOCK_SEQPACKET): Facts (with the seccomp listener
//     descriptor attached) once hardened, then waits for Go; a Failure if a step or execve fails.
//   init -> supervisor (control socket): a Failure when setting up the run fails.
//   supervisor -> target (control socket): Go, once the start record is written.
//   supervisor -> init (command pipe): Command.
//   init -> supervisor (status pipe): TargetExit when the target ends, RunEnd when nothing of
//     the run is left (then init exits).
#pragma once
#include <cstdint>

namespace worm {

enum MsgType : uint32_t {
  kMsgFacts = 1,
  kMsgFailure = 2,
  kMsgGo = 3,
  kMsgTargetExit = 4,
  kMsgRunEnd = 5,
};

// Where a start failed: the call that failed, by name in StageName().
enum Stage : int32_t {
  kStageSetpgid,
  kStageDup,
  kStageCloseRange,
  kStageChdir,
  kStagePdeathsig,
  kStageParentGone,
  kStageSetrlimit,
  kStageSetgroups,
  kStageSetgid,
  kStageSetuid,
  kStageNoNewPrivs,
  kStageLandlock,
  kStageSeccomp,
  kStageExecve,
  kStageUidMap,
  kStageMountPrivate,
  kStageMountProc,
  kStageMountBind,
  kStageCloneTarget,
  kStageSubreaper,
  kStageInitFilter,
  kStageSignalfd,
  kStageCapabilities,
};

const char* StageName(int stage);

struct Failure {
  uint32_t type = kMsgFailure;
  int32_t stage;
  int32_t err;
  int32_t detail;  // e.g. the resource of a failed setrlimit, the index of a failed mount
};

// What the target measured about itself just before execve: what the start record claims.
struct Facts {
  uint32_t type = kMsgFacts;
  int32_t hostPid;        // its pid as the supervisor sees it
  int32_t nsPid;          // getpid() inside: 2 in the run's own PID namespace
  int32_t noNewPrivs;     // prctl(PR_GET_NO_NEW_PRIVS)
  int32_t seccompMode;    // prctl(PR_GET_SECCOMP): 2 = filter
  int32_t seccompFilters; // "Seccomp_filters:" of /proc/self/status (-1 unknown)
  int32_t notify;         // 1: refusals go to the supervisor's listener (descriptor attached)
  int32_t notifyErrno;    // why not, when the kernel refused a listener
  int32_t landlockAbi;    // the ABI the ruleset was made for (0: none)
  int32_t landlockApplied;
  uint32_t ruid, euid, suid, rgid, egid, sgid;
  int32_t ngroups;
  uint64_t capEff;        // "CapEff:" of /proc/self/status
  int32_t pidNamespace;   // 1 when the run has its own PID namespace
  int32_t procPrivate;    // 1 when /proc shows only the run's processes
  int32_t procErrno;      // why not
  int32_t mountNamespace; // 1 when the binds below were applied in a private mount namespace
  int32_t userNamespace;  // 1 when a user namespace was needed for the above
};

struct Go {
  uint32_t type = kMsgGo;
};

enum CommandType : uint32_t {
  kCmdSignalTarget = 1,  // forward arg to the target
  kCmdSignalAll = 2,     // arg to every process of the run
  kCmdEnd = 3,           // end the run now: everything is killed
};

struct Command {
  uint32_t type;
  int32_t arg;
};

struct TargetExit {
  uint32_t type = kMsgTargetExit;
  int32_t status;  // as wait4 reports it
  int64_t userUs, systemUs, maxRssKb, minflt, majflt, nvcsw, nivcsw;
};

struct RunEnd {
  uint32_t type = kMsgRunEnd;
  int32_t killed;     // processes still running when the run ended, killed by init
  int32_t passes;     // kill passes it took (no PID namespace)
  int32_t targetSeen; // 1 when a TargetExit was sent before
};

}  // namespace worm
