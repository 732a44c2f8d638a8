/* The path where worm-run's filter reads arguments: send()/recv() on an AF_UNIX socketpair
 * (seqpacket: worm-run refuses datagram pairs, which could address other sockets by path),
 * which are sendto/recvfrom with NULL addresses (allowed; only the address-carrying forms are
 * refused, so the filter must look at argument 5 on every call). N round trips (default
 * 200000), 2 syscalls each, timed inside the loop.
 * Prints one JSON line: {"calls":2N,"ns":T,"nsPerCall":T/(2N)}. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "now.h"

int main(int argc, char **argv) {
  long rounds = argc > 1 ? atol(argv[1]) : 200000L;
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) != 0) { perror("sendrecv: socketpair"); return 1; }
  char out[64], in[64];
  memset(out, 'x', sizeof out);
  long long t0 = now_ns();
  for (long i = 0; i < rounds; i++) {
    /* Raw syscalls with NULL address arguments: exactly what glibc's send()/recv() issue. */
    if (syscall(SYS_sendto, sv[0], out, sizeof out, 0, NULL, 0) != (long)sizeof out) { perror("sendrecv: sendto"); return 1; }
    if (syscall(SYS_recvfrom, sv[1], in, sizeof in, 0, NULL, NULL) != (long)sizeof in) { perror("sendrecv: recvfrom"); return 1; }
  }
  long long ns = now_ns() - t0;
  long calls = 2 * rounds;
  printf("{\"calls\":%ld,\"ns\":%lld,\"nsPerCall\":%.3f}\n", calls, ns, (double)ns / calls);
  return 0;
}
