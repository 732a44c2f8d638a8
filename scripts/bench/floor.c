/* The "C launcher floor": the least a launcher with worm-run's kernel protections can cost.
 * setrlimit (core dumps off), no-new-privs, a short seccomp filter that decides by syscall
 * number only (so the kernel caches every answer), then execvp(argv[1], argv+1).
 * Usage: floor CMD [ARGS...]   Exit: CMD's own status; 125 setup failed, 126/127 exec failed. */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "arch.h"

#define RET_ERRNO(e) BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ((e) & SECCOMP_RET_DATA))
#define DENY(nr, e) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 1), RET_ERRNO(e)

int main(int argc, char **argv) {
  if (argc < 2) { fprintf(stderr, "usage: floor CMD [ARGS...]\n"); return 125; }
  struct sock_filter filter[] = {
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ARCH, 1, 0),
    RET_ERRNO(EPERM),
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
#if defined(__x86_64__)
    BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000, 0, 1), /* x32 ABI */
    RET_ERRNO(EPERM),
#endif
    DENY(__NR_socket, EPERM),
    DENY(__NR_connect, EPERM),
    DENY(__NR_bind, EPERM),
    DENY(__NR_listen, EPERM),
    DENY(__NR_accept, EPERM),
    DENY(__NR_accept4, EPERM),
    DENY(__NR_sendmmsg, EPERM),
    DENY(__NR_recvmmsg, EPERM),
    DENY(__NR_ptrace, EPERM),
    DENY(__NR_process_vm_readv, EPERM),
    DENY(__NR_process_vm_writev, EPERM),
    DENY(__NR_pidfd_getfd, EPERM),
    DENY(__NR_io_uring_setup, ENOSYS),
    DENY(__NR_io_uring_enter, EPERM),
    DENY(__NR_io_uring_register, EPERM),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  struct sock_fprog prog = { .len = sizeof filter / sizeof filter[0], .filter = filter };
  struct rlimit core = { 0, 0 };
  if (setrlimit(RLIMIT_CORE, &core) != 0) { perror("floor: setrlimit"); return 125; }
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) { perror("floor: PR_SET_NO_NEW_PRIVS"); return 125; }
  if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0) { perror("floor: seccomp"); return 125; }
  execvp(argv[1], argv + 1);
  int e = errno;
  fprintf(stderr, "floor: %s: %s\n", argv[1], strerror(e));
  return e == ENOENT ? 127 : 126;
}
