#include "contain.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>

namespace worm {

namespace {

constexpr int kMaxTree = 8192;

struct Tree {
  pid_t pids[kMaxTree];
  int n = 0;
};

void Append(Tree* t, pid_t p) {
  for (int i = 0; i < t->n; i++) {
    if (t->pids[i] == p) return;
  }
  if (t->n < kMaxTree) t->pids[t->n++] = p;
}

// "/proc/<pid>/task" without snprintf (not async-signal-safe).
void TaskDir(char* out, pid_t pid) {
  const char* head = "/proc/";
  char* o = out;
  while (*head) *o++ = *head++;
  char digits[16];
  int n = 0;
  unsigned v = static_cast<unsigned>(pid);
  do {
    digits[n++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0);
  while (n > 0) *o++ = digits[--n];
  const char* tail = "/task";
  while (*tail) *o++ = *tail++;
  *o = '\0';
}

// The children of every thread of pid, from /proc/<pid>/task/<tid>/children.
void AddChildren(Tree* t, pid_t pid) {
  char path[64];
  TaskDir(path, pid);
  int dir = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) return;
  char buf[2048];
  for (;;) {
    long n = syscall(SYS_getdents64, dir, buf, sizeof buf);
    if (n <= 0) break;
    for (long off = 0; off < n;) {
      auto* d = reinterpret_cast<struct dirent64*>(buf + off);
      off += d->d_reclen;
      if (d->d_name[0] < '0' || d->d_name[0] > '9') continue;
      char file[96];
      size_t k = 0;
      for (const char* c = d->d_name; *c && k < 64; ++c) file[k++] = *c;
      for (const char* c = "/children"; *c; ++c) file[k++] = *c;
      file[k] = '\0';
      int fd = openat(dir, file, O_RDONLY | O_CLOEXEC);
      if (fd < 0) continue;
      char list[4096];
      ssize_t len;
      pid_t cur = 0;
      bool in = false;
      while ((len = read(fd, list, sizeof list)) > 0) {
        for (ssize_t i = 0; i < len; i++) {
          char c = list[i];
          if (c >= '0' && c <= '9') {
            cur = cur * 10 + (c - '0');
            in = true;
          } else if (in) {
            Append(t, cur);
            cur = 0;
            in = false;
          }
        }
      }
      if (in) Append(t, cur);
      close(fd);
    }
  }
  close(dir);
}

// Every descendant of this process: breadth first, each process's children read before it is
// signalled (once it is dead they move to us, and are read again next pass).
void Collect(Tree* t) {
  t->n = 0;
  AddChildren(t, getpid());
  for (int i = 0; i < t->n; i++) AddChildren(t, t->pids[i]);
}

void SleepMs(long ms) {
  struct timespec ts = {0, ms * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

}  // namespace

int KillTreeOf(pid_t root) {
  // Static: this runs in a raw copy of a process whose stack may be small, and nothing else
  // in that copy uses it.
  static Tree t;
  int found = 0;
  for (int pass = 0; pass < 20; pass++) {
    t.n = 0;
    AddChildren(&t, root);
    for (int i = 0; i < t.n; i++) AddChildren(&t, t.pids[i]);
    if (t.n == 0) break;
    for (int i = 0; i < t.n; i++) kill(t.pids[i], SIGKILL);
    found = t.n > found ? t.n : found;
    SleepMs(5);
  }
  return found;
}

int SignalDescendants(int sig) {
  Tree t;
  Collect(&t);
  for (int i = 0; i < t.n; i++) kill(t.pids[i], sig);
  return t.n;
}

int KillDescendants(int* passes, pid_t keep, int* keptStatus) {
  Tree t;
  Tree seen;  // every process found, to count each once
  int pass = 0;
  for (;; ++pass) {
    Collect(&t);
    for (int i = 0; i < t.n; i++) {
      kill(t.pids[i], SIGKILL);
      if (t.pids[i] != keep) Append(&seen, t.pids[i]);
    }
    bool reaped = false;
    int status;
    pid_t p;
    while ((p = waitpid(-1, &status, WNOHANG | __WALL)) > 0) {
      reaped = true;
      if (p == keep && keptStatus) *keptStatus = status;
    }
    // No child at all: nothing of the run is left.
    if (p < 0 && errno == ECHILD) break;
    // Only zombies waiting for their threads, or processes in uninterruptible sleep: give
    // them a moment rather than spinning.
    if (t.n == 0 || !reaped) SleepMs(1);
  }
  if (passes) *passes = pass + 1;
  return seen.n;
}

}  // namespace worm

// ---- bindings ------------------------------------------------------------------------------
#include <sys/prctl.h>

#include <cstdlib>

#include "errors.h"

namespace worm {

namespace {
void KillAtExit() { KillDescendants(nullptr); }
}  // namespace

// containChildren(): for the in-process mode, where the script runs in worm-run's own process.
// It becomes a child subreaper (every orphan of the script is re-parented to it, so the tree
// stays whole), and whatever the script started is killed when the process exits: exit(),
// process.exit, process.reallyExit and an uncaught exception all run atexit handlers.
Napi::Value ContainChildren(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0) return ThrowErrno(env, "prctl(PR_SET_CHILD_SUBREAPER)", errno);
  if (atexit(KillAtExit) != 0) return ThrowErrno(env, "atexit", ENOMEM);
  return env.Undefined();
}

// killDescendants(): every process this one started, now (SIGKILL, until none is left).
Napi::Value KillDescendantsJs(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), KillDescendants(nullptr));
}

}  // namespace worm
