/* A syscall-heavy C program: N getppid() system calls (default 5000000), timed inside the loop.
 * getppid's answer never depends on arguments, so a seccomp filter that decides it by number
 * alone is served from the kernel's per-syscall cache: what remains is the filter's fixed cost.
 * Prints one JSON line: {"calls":N,"ns":T,"nsPerCall":T/N}. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "now.h"

int main(int argc, char **argv) {
  long calls = argc > 1 ? atol(argv[1]) : 5000000L;
  long sum = 0;
  long long t0 = now_ns();
  for (long i = 0; i < calls; i++) sum += syscall(SYS_getppid);
  long long ns = now_ns() - t0;
  if (sum <= 0) { fprintf(stderr, "getppid: unexpected result\n"); return 1; }
  printf("{\"calls\":%ld,\"ns\":%lld,\"nsPerCall\":%.3f}\n", calls, ns, (double)ns / calls);
  return 0;
}
