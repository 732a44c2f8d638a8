// The launching terminal, from the supervisor's side. The target may take the terminal's
// foreground, set TOSTOP, change its modes or stop its output; none of that may stop or block
// worm-run's clock and clean-up, and none of it may outlive the run:
// - SIGTTOU and SIGTTIN are ignored by the supervisor, so writing to (or configuring) the
//   terminal from the background neither stops it nor fails for that reason;
// - the terminal's modes and foreground process group are saved before the run and put back
//   after it when the target changed them (a shell does the same for the jobs it runs);
// - worm-run's own lines go through a non-blocking descriptor of their own (terminalWriter), so
//   a terminal whose output is stopped drops them instead of holding the supervisor.
#include "terminal.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "errors.h"

namespace worm {

namespace {

struct Saved {
  int fd = -1;
  bool haveModes = false;
  struct termios modes {};
  pid_t foreground = -1;
};
Saved saved;

bool SameModes(const struct termios& a, const struct termios& b) {
  return a.c_iflag == b.c_iflag && a.c_oflag == b.c_oflag && a.c_cflag == b.c_cflag && a.c_lflag == b.c_lflag &&
         memcmp(a.c_cc, b.c_cc, sizeof a.c_cc) == 0;
}

}  // namespace

// guardTerminal() -> true when worm-run has a controlling terminal whose state was saved.
Napi::Value GuardTerminal(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  struct sigaction ign = {};
  ign.sa_handler = SIG_IGN;
  sigaction(SIGTTOU, &ign, nullptr);
  sigaction(SIGTTIN, &ign, nullptr);
  if (saved.fd >= 0) return Napi::Boolean::New(env, true);
  int fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return Napi::Boolean::New(env, false);
  saved.fd = fd;
  saved.haveModes = tcgetattr(fd, &saved.modes) == 0;
  saved.foreground = tcgetpgrp(fd);
  return Napi::Boolean::New(env, true);
}

// restoreTerminal() -> what was put back: { foreground, modes, output } (booleans).
Napi::Value RestoreTerminal(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object out = Napi::Object::New(env);
  bool fg = false, modes = false;
  if (saved.fd >= 0) {
    if (saved.foreground > 0 && tcgetpgrp(saved.fd) != saved.foreground) {
      fg = tcsetpgrp(saved.fd, saved.foreground) == 0;
    }
    struct termios now;
    if (saved.haveModes && tcgetattr(saved.fd, &now) == 0 && !SameModes(now, saved.modes)) {
      modes = tcsetattr(saved.fd, TCSANOW, &saved.modes) == 0;
    }
    // Output suspended (^S, or tcflow from a process the filter did not cover) is resumed.
    tcflow(saved.fd, TCOON);
  }
  out.Set("foreground", Napi::Boolean::New(env, fg));
  out.Set("modes", Napi::Boolean::New(env, modes));
  return out;
}

// terminalWriter(fd) -> a descriptor for worm-run's own lines to fd (2): for a terminal, a pipe
// or a FIFO, a fresh open file description of the same file in non-blocking mode (the
// descriptor worm-run shares with the target stays as it is); for anything else fd itself.
Napi::Value TerminalWriter(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = info[0].IsNumber() ? info[0].As<Napi::Number>().Int32Value() : 2;
  struct stat st;
  if (fstat(fd, &st) != 0) return Napi::Number::New(env, fd);
  if (!S_ISCHR(st.st_mode) && !S_ISFIFO(st.st_mode)) return Napi::Number::New(env, fd);
  char path[64];
  snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
  int own = open(path, O_WRONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  return Napi::Number::New(env, own >= 0 ? own : fd);
}

// exitNow(code): ends worm-run at once, without Node's exit path, which resets the terminal's
// modes and aborts if the terminal refuses (its state belongs to the target by then).
Napi::Value ExitNow(const Napi::CallbackInfo& info) {
  int code = info[0].IsNumber() ? info[0].As<Napi::Number>().Int32Value() : 125;
  _exit(code);
  return info.Env().Undefined();
}

}  // namespace worm
