/* What each refused system call costs: N socket(AF_INET, SOCK_STREAM) calls (default 100000),
 * timed inside the loop. Under worm-run every one is refused through a seccomp user
 * notification (the supervisor is told, records it and answers EPERM); under the C launcher
 * floor the kernel's filter answers EPERM itself; bare, the socket is made (and closed).
 * Usage: refuse N refused|allowed — refused: every call must fail (EPERM or EACCES); allowed:
 * every call must succeed. Anything else exits 1, naming what happened.
 * Prints one JSON line: {"calls":N,"ns":T,"nsPerCall":T/N,"errno":E}. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "now.h"

int main(int argc, char **argv) {
  long calls = argc > 1 ? atol(argv[1]) : 100000L;
  int expectRefused = argc > 2 ? strcmp(argv[2], "allowed") != 0 : 1;
  long refused = 0, made = 0;
  int lastErrno = 0;
  long long t0 = now_ns();
  for (long i = 0; i < calls; i++) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd >= 0) {
      made++;
      close(fd);
    } else {
      lastErrno = errno;
      if (errno == EPERM || errno == EACCES) refused++;
    }
  }
  long long ns = now_ns() - t0;
  if (expectRefused ? refused != calls : made != calls) {
    fprintf(stderr, "refuse: expected every socket() to be %s: %ld refused, %ld made, %ld other failures (last errno %d: %s)\n",
            expectRefused ? "refused" : "allowed", refused, made, calls - refused - made, lastErrno, strerror(lastErrno));
    return 1;
  }
  printf("{\"calls\":%ld,\"ns\":%lld,\"nsPerCall\":%.3f,\"errno\":%d}\n", calls, ns, (double)ns / calls, lastErrno);
  return 0;
}
