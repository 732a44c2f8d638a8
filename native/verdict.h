// The in-process mode's verdicts, written natively when JavaScript cannot be trusted to run:
// by the watchdog thread (the event loop may be stuck) and by the SIGABRT handler (the process
// is dying). Everything here is async-signal-safe: no allocation, only write(2) and clocks.
#pragma once
#include <napi.h>

#include <cstddef>
#include <string>

namespace worm {

// True for the first caller only: a run has one exit record, whoever writes it (the watchdog,
// a signal handler, or JavaScript at 'exit').
bool ClaimExitRecord();

// What a prepared line is filled in with when it is written.
struct Fill {
  long long rssKb, userMs, sysMs;  // this process's resource use (getrusage)
  const char* signal;              // the signal's name, or "" when there is none
  int status;                      // what a shell would see
  // Set by the chain writer (chain.cc) as the record is written: the trail's state then.
  long long seq, wallMs, blocked, warnings, unwritten;
};

// This process's resource use now, for a Fill.
Fill UsageNow(const char* signal, int status);

// Copies tmpl (len bytes) into out (at most cap bytes, never more), replacing "__TIME__" with
// the epoch milliseconds now, "__RSS_MIB__", "__RSS_KB__", "__USER_MS__", "__SYS_MS__",
// "__SIGNAL__", "__STATUS__", "__SEQ__", "__WALL_MS__", "__BLOCKED__", "__WARNINGS__" and
// "__UNWRITTEN__" with the fill, and "__CPU_S__" with its CPU seconds to one decimal (as the
// supervisor writes them); returns the length written.
size_t ExpandVerdict(const char* tmpl, size_t len, char* out, size_t cap, const Fill& fill);

// A prepared line handed in from JavaScript (options[key]), or "" when it is not a string.
std::string LineOption(Napi::Object options, const char* key);

// write(2) until done, retrying EINTR; gives up silently on any other error (a verdict that
// cannot be written must not stop the process from ending).
void WriteAll(int fd, const char* data, size_t len);

// claimExitRecord(): true for the first caller (then the JS 'exit' record is written), false when
// the watchdog or the abort handler has written its records already; either way nobody else
// writes an exit record after it.
Napi::Value ClaimExitRecordJs(const Napi::CallbackInfo& info);

}  // namespace worm
