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
};

// This process's resource use now, for a Fill.
Fill UsageNow(const char* signal, int status);

// Copies tmpl into out (at most cap bytes, never more), replacing "__TIME__" with the epoch
// milliseconds now, "__RSS_MIB__", "__RSS_KB__", "__USER_MS__", "__SYS_MS__", "__SIGNAL__" and
// "__STATUS__" with the fill; returns the length written.
size_t ExpandVerdict(const std::string& tmpl, char* out, size_t cap, const Fill& fill);

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
