// SHA-256 (FIPS 180-4), for the audit chain records written natively (the in-process mode's
// watchdog and signal handlers). No allocation, no locks, no library calls: safe in a signal
// handler. JavaScript uses node:crypto; test/chain.test.ts checks the two agree.
#pragma once
#include <cstddef>
#include <cstdint>

namespace worm {

struct Sha256 {
  uint32_t state[8];
  uint64_t bytes;     // message length so far
  uint8_t block[64];  // the partial block
  size_t used;        // bytes in block
};

void Sha256Init(Sha256* s);
void Sha256Update(Sha256* s, const void* data, size_t len);
// The 32-byte digest; s must be initialised again before reuse.
void Sha256Final(Sha256* s, uint8_t out[32]);
// 64 lowercase hex digits of a digest, no terminator.
void HexDigest(const uint8_t digest[32], char out[64]);

}  // namespace worm
