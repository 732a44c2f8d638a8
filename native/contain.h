// Ending every process of a run when there is no PID namespace to do it. The caller is a child
// subreaper (the run's init, or the in-process mode's own process), so every orphan of the run
// is re-parented to it and stays in its tree: walking its descendants finds them all.
//
// Async-signal-safe (raw syscalls, stack buffers, no allocation): the run's init is a copy of
// a multithreaded process and must not touch malloc.
#pragma once
#include <sys/types.h>

namespace worm {

// Sends sig to every descendant of this process once (zombie thread-group leaders included: a
// leader that exited before its threads still answers for them). Returns how many were found.
int SignalDescendants(int sig);

// SIGKILLs every descendant, again and again, reaping as it goes, until this process has no
// child left at all. Each pass reads the whole tree, so a process that forks and exits at once
// is caught by a later pass (its child is re-parented here). Every exit status is collected
// (only `keep`'s is kept): the caller is init, or a process that is about to end. Returns the
// number of processes found besides `keep`; *passes the passes it took.
int KillDescendants(int* passes, pid_t keep = 0, int* keptStatus = nullptr);

// SIGKILLs every descendant of another process (root stays), pass after pass while it has any
// that are not yet zombies it has not collected (at most 20 passes). For a watcher outside the
// process's tree, before it kills root itself. Returns the most found in one pass.
int KillTreeOf(pid_t root);

}  // namespace worm

#include <napi.h>
namespace worm {
Napi::Value ContainChildren(const Napi::CallbackInfo& info);
Napi::Value KillDescendantsJs(const Napi::CallbackInfo& info);
}  // namespace worm
