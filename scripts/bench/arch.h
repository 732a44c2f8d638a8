/* The AUDIT_ARCH a filter checks first, for the C fixtures that build one. */
#ifndef WORM_BENCH_ARCH_H
#define WORM_BENCH_ARCH_H
#include <linux/audit.h>

#if defined(__x86_64__)
#define ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define ARCH AUDIT_ARCH_AARCH64
#else
#error "the bench's C fixtures: x86_64 or aarch64 only"
#endif

#endif
