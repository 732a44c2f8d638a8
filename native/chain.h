// Appending a record to the audit trail's hash chain: under the process's writer lock and an
// exclusive flock on the file, the newest record's hash is read from the end of the file, the
// record is completed with `,"prev":"<that hash>","hash":"<its own>"}` (and a signature, when
// asked) and written whole, or not at all (a short write is truncated away).
//
// The canonical bytes of a record (what its hash covers) are the bytes of its line up to, and
// not including, the `,"hash":"` that ends it: its body followed by `,"prev":"<previous hash>"`.
// The first record of a file chains to 64 zeros. src/audit/record.ts says the same for
// JavaScript; the two are checked against each other by test/chain.test.ts.
#pragma once
#include <napi.h>

#include <string>

#include "verdict.h"

namespace worm {

// The in-process mode's prepared records, written by the watchdog thread or a signal handler:
// one record per '\n'-separated line of tmpl (each a JSON object without its closing brace, with
// the placeholders of verdict.h, "__SEQ__" among them), chained onto the trail that
// shareTrail() described, then the head line on the head descriptor, and a line on stderr if
// the trail lost anything. Async-signal-safe; nothing happens before shareTrail().
void AppendPrepared(const std::string& tmpl, Fill fill);

// chainAppend({fd, tailFd, lock, prev, reserve, before, after, seq, share, blocked, warnings,
// unwritten, sign}) -> {err, hash, prev, seq, size, reserveErr, truncErr}
Napi::Value ChainAppendJs(const Napi::CallbackInfo& info);
// shareTrail({fd, tailFd, lock, headFd, run, incomplete}): the trail the native writers append to.
Napi::Value ShareTrailJs(const Napi::CallbackInfo& info);
// sha256Hex(buffer) -> 64 hex digits (this file's SHA-256, for tests against node:crypto).
Napi::Value Sha256HexJs(const Napi::CallbackInfo& info);

}  // namespace worm
