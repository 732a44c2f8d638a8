// The in-process mode's verdicts, written natively when JavaScript cannot be trusted to run:
// by the watchdog thread (the event loop may be stuck) and by the SIGABRT handler (the process
// is dying). Everything here is async-signal-safe: no allocation, only write(2) and clocks.
#pragma once
#include <napi.h>

#include <cstddef>
#include <string>

namespace worm {

// True for the first caller only: one verdict per run, and the JS 'exit' record is then not
// written a second time.
bool ClaimVerdict();

// Copies tmpl into out (at most cap bytes, never more), replacing "__TIME__" with the epoch
// milliseconds now and "__RSS_MIB__" with rssMib; returns the length written.
size_t ExpandVerdict(const std::string& tmpl, char* out, size_t cap, long rssMib);

// write(2) until done, retrying EINTR; gives up silently on any other error (a verdict that
// cannot be written must not stop the process from ending).
void WriteAll(int fd, const char* data, size_t len);

// claimVerdict(): true for the first caller (then the JS 'exit' record is written), false when
// the watchdog or the abort handler has written its records already; either way nobody else
// writes an exit record after it.
Napi::Value ClaimVerdictJs(const Napi::CallbackInfo& info);

}  // namespace worm
