/* The loop fixtures' clock: CLOCK_MONOTONIC in nanoseconds, read around the timed loop. */
#ifndef WORM_BENCH_NOW_H
#define WORM_BENCH_NOW_H
#include <time.h>

static long long now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

#endif
