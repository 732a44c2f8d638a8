// The kernel's floor for one protected run, with no Node or JavaScript in the way: /bin/true
// started by a launcher that makes the system calls a worm-run run makes (native/spawn.cc,
// init.cc, target.cc, run_handle.cc), next to the fork + exec + wait libuv 1.46 makes for
// child_process.spawn. The variants climb from one to the other a step at a time and are run
// interleaved, a round at a time in a rotating order, so that drift in the machine (frequency,
// other load) falls on all of them alike.
//
//   gcc -O2 -Wall -o protected-floor scripts/bench/protected-floor.c
//   sudo ./protected-floor [--rounds N] [--warmup W] [--host-mb M] [--only NAME,NAME] [--filter FILE]
//
// Root is needed for the namespace variants (worm-run as root makes no user namespace); as
// another user, pick the others with --only.
// --only picks variants by name (plain is always run, for the ratio); --init is internal
// (+init-exec's init). `gcc -static` makes +init-exec's exec of init cheaper.
// --host-mb M fills M MB of the launcher's memory first (4 KiB pages, as V8's heap): fork
// copies the page tables, and init's own fork of the target copies them again; a Node host
// running worm-run holds ~14 MB of anonymous memory. --filter FILE: worm-run's own program (raw
// struct sock_filter) instead of the built-in one of the same shape and length. From a build:
//   node --input-type=module -e "const {native}=await import('./dist/native.js');
//     const p=native.describeFilter({notify:true,pids:'namespace'}).program,b=Buffer.alloc(8*p.length);
//     p.forEach(([c,t,f,k],i)=>{b.writeUInt16LE(c,8*i);b[8*i+2]=t;b[8*i+3]=f;b.writeUInt32LE(k>>>0,8*i+4)});
//     (await import('node:fs')).writeFileSync('filter.bpf',b)"
// Prints per variant the median and p90 of a whole run (ms), the median's ratio to `plain`,
// and the medians (µs) of the steps the launcher sees: prep+clone (its own work up to and with
// its clone), harden (until the target reported, hardened), exec (until the target's execve
// closed the control socket), exit (until its exit status came), teardown (until init is
// reaped and all closed). Then, for the variants that report, the steps inside the run up to
// the facts: each from the mark before it, by the monotonic clock all processes share.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "arch.h"
#include "now.h"
#ifndef __NR_open_tree_attr
#define __NR_open_tree_attr 467
#endif
#ifndef SECCOMP_FILTER_FLAG_NEW_LISTENER
#define SECCOMP_FILTER_FLAG_NEW_LISTENER (1UL << 3)
#endif
#ifndef SECCOMP_RET_USER_NOTIF
#define SECCOMP_RET_USER_NOTIF 0x7fc00000U
#endif
#ifndef SECCOMP_IOCTL_NOTIF_SET_FLAGS
#define SECCOMP_IOCTL_NOTIF_SET_FLAGS _IOW('!', 4, uint64_t)
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif
#ifndef __NR_landlock_create_ruleset
#define __NR_landlock_create_ruleset 444
#define __NR_landlock_add_rule 445
#define __NR_landlock_restrict_self 446
#endif

// ---- what a variant does ---------------------------------------------------------------------
enum {
  HARDEN = 1 << 0,    // the target: descriptors, cwd, RLIMIT_CORE, root's capabilities cut, no_new_privs, filter
  NOTIFY = 1 << 1,    // the filter's listener goes to the launcher, which then says "go"
  LANDLOCK = 1 << 2,  // a private tmp dir and a ruleset made by the launcher for each run
  INIT = 1 << 3,      // two levels: the launcher clones init, init clones the target
  NEWPID = 1 << 4,
  NEWNS = 1 << 5,     // a mount namespace, / private in it
  MOUNTS = 1 << 6,    // a fresh /proc and the mounts that hide credentials
  VM = 1 << 7,        // no page tables copied: the first clone shares the launcher's memory
                      // (CLONE_VM; CLONE_VFORK too when it execs), init's clone of the target
                      // is CLONE_VM|CLONE_VFORK
  EXEC_INIT = 1 << 8, // no page tables copied, no memory shared: CLONE_VM|CLONE_VFORK, then init
                      // is a program of its own (this one, run again with --init)
  TVFORK = 1 << 9,    // only init's clone of the target is CLONE_VM|CLONE_VFORK: one copy of the
                      // launcher's page tables (init's), not two
};
#define TARGET (HARDEN | NOTIFY | LANDLOCK)
#define NS (NEWPID | NEWNS | MOUNTS)

static const struct variant {
  const char* name;
  unsigned flags;
} variants[] = {
    {"plain", 0},                                     // libuv 1.46's uv_spawn: fork, exec, wait
    {"plain-vfork", VM},                              // as posix_spawn does it
    {"seccomp", HARDEN},                              // the target's hardening, the filter answering alone
    {"seccomp+notify", HARDEN | NOTIFY},              // its listener to the launcher, "go"
    {"+landlock", TARGET},                            // the whole target, as a child of the launcher
    {"+init-no-ns", TARGET | INIT},                   // worm-run's shape without namespaces (subreaper)
    {"+init-pidns", TARGET | INIT | NEWPID},          // (decomposition: PID namespace only)
    {"+init-ns-bare", TARGET | INIT | NEWPID | NEWNS}, // (decomposition: no /proc, no hiding mounts)
    {"+init", TARGET | INIT | NS},                    // what worm-run did as root (two copies)
    {"+init-tvfork", TARGET | INIT | NS | TVFORK},    // what worm-run does as root since (one copy)
    {"+init-vm", TARGET | INIT | NS | VM},
    {"+init-exec", TARGET | INIT | NS | EXEC_INIT},
    {"single-clone", TARGET | NS},                    // the target is pid 1 and does init's part
    {"single-clone-vfork", TARGET | NS | VM},         // the same, "go" sent before the clone
};
#define NVARIANTS (int)(sizeof variants / sizeof variants[0])

// ---- the filter: worm-run's shape (native/seccomp.cc), about as long -----------------------------
enum { ALWAYS, IN, HASBITS, NONNULL };
struct rule {
  int nr, op, arg, pids;  // pids: a rule about other processes (not in init's own filter)
  uint32_t v[11];
  int n;
};
#define R_ALWAYS(nr) {nr, ALWAYS, 0, 0, {0}, 0}
#define R_IN(nr, arg, ...) {nr, IN, arg, 0, {__VA_ARGS__}, sizeof((uint32_t[]){__VA_ARGS__}) / 4}
#define R_PID(nr, arg) {nr, IN, arg, 1, {1}, 1}
#define NSFLAGS (CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET | 0x80)
static const struct rule rules[] = {
    R_IN(__NR_ioctl, 1, TIOCSTI, TIOCLINUX, TIOCSETD, TIOCCONS, TIOCVHANGUP, TCXONC, TIOCEXCL, TIOCSLCKTRMIOS, 0x400454ca,
         0x400454d9, TIOCSCTTY),
    {__NR_sendto, NONNULL, 4, 0, {0}, 0},
    {__NR_recvfrom, NONNULL, 4, 0, {0}, 0},
    {__NR_clone, HASBITS, 0, 0, {NSFLAGS}, 1},
    {__NR_unshare, HASBITS, 0, 0, {NSFLAGS}, 1},
    R_PID(__NR_prlimit64, 0), R_PID(__NR_sched_setaffinity, 0), R_PID(__NR_sched_setscheduler, 0),
    R_PID(__NR_sched_setparam, 0), R_PID(__NR_sched_setattr, 0), R_PID(__NR_migrate_pages, 0),
    R_PID(__NR_move_pages, 0), R_PID(__NR_setpriority, 1), R_PID(__NR_ioprio_set, 1),
    R_IN(__NR_socketpair, 1, SOCK_DGRAM, SOCK_RAW, SOCK_RDM, SOCK_PACKET),
    R_ALWAYS(__NR_socket), R_ALWAYS(__NR_connect), R_ALWAYS(__NR_bind), R_ALWAYS(__NR_listen),
    R_ALWAYS(__NR_accept), R_ALWAYS(__NR_accept4), R_ALWAYS(__NR_sendmmsg), R_ALWAYS(__NR_recvmmsg),
    R_ALWAYS(__NR_io_uring_setup), R_ALWAYS(__NR_io_uring_enter), R_ALWAYS(__NR_io_uring_register),
    R_ALWAYS(__NR_ptrace), R_ALWAYS(__NR_process_vm_readv), R_ALWAYS(__NR_process_vm_writev),
    R_ALWAYS(__NR_pidfd_getfd), R_ALWAYS(__NR_process_madvise), R_ALWAYS(__NR_kcmp), R_ALWAYS(__NR_perf_event_open),
    R_ALWAYS(__NR_vhangup), R_ALWAYS(__NR_clone3), R_ALWAYS(__NR_setns), R_ALWAYS(__NR_mount), R_ALWAYS(__NR_umount2),
    R_ALWAYS(__NR_pivot_root), R_ALWAYS(__NR_fsopen), R_ALWAYS(__NR_fsconfig), R_ALWAYS(__NR_fsmount),
    R_ALWAYS(__NR_fspick), R_ALWAYS(__NR_move_mount), R_ALWAYS(__NR_open_tree), R_ALWAYS(__NR_mount_setattr),
    R_ALWAYS(__NR_open_tree_attr), R_ALWAYS(__NR_bpf), R_ALWAYS(__NR_request_key), R_ALWAYS(__NR_add_key),
    R_ALWAYS(__NR_keyctl), R_ALWAYS(__NR_open_by_handle_at), R_ALWAYS(__NR_init_module), R_ALWAYS(__NR_finit_module),
    R_ALWAYS(__NR_kexec_load), R_ALWAYS(__NR_kexec_file_load),
#if defined(__x86_64__)
    R_ALWAYS(__NR_iopl), R_ALWAYS(__NR_ioperm),
#endif
};

#define LD(off) BPF_STMT(BPF_LD | BPF_W | BPF_ABS, (off))
#define RET(k) BPF_STMT(BPF_RET | BPF_K, (k))
#define JEQ(k, t, f) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (k), (t), (f))
#define ARG_LO(i) (offsetof(struct seccomp_data, args) + 8 * (i))

// A chain, one link per rule, as worm-run's assembler lays it out: numbers no rule names run
// to the end, and get a constant answer the kernel caches (which it works out at attach time
// by running the program for every number: that is part of what a filter costs).
static int build_filter(struct sock_filter* out, uint32_t refuse, int for_init) {
  int n = 0;
  out[n++] = (struct sock_filter)LD(offsetof(struct seccomp_data, arch));
  out[n++] = (struct sock_filter)JEQ(ARCH, 1, 0);
  out[n++] = (struct sock_filter)RET(refuse);
  out[n++] = (struct sock_filter)LD(offsetof(struct seccomp_data, nr));
#if defined(__x86_64__)
  out[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000, 0, 1);  // x32
  out[n++] = (struct sock_filter)RET(refuse);
#endif
  for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++) {
    const struct rule* r = &rules[i];
    if (for_init && r->pids) continue;
    switch (r->op) {
      case ALWAYS:
        out[n++] = (struct sock_filter)JEQ(r->nr, 0, 1);
        break;
      case IN:
        out[n++] = (struct sock_filter)JEQ(r->nr, 0, r->n + 3);
        out[n++] = (struct sock_filter)LD(ARG_LO(r->arg));
        for (int j = 0; j < r->n; j++) out[n++] = (struct sock_filter)JEQ(r->v[j], r->n - j, 0);
        out[n++] = (struct sock_filter)RET(SECCOMP_RET_ALLOW);
        break;
      case HASBITS:
        out[n++] = (struct sock_filter)JEQ(r->nr, 0, 4);
        out[n++] = (struct sock_filter)LD(ARG_LO(r->arg));
        out[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, r->v[0], 1, 0);
        out[n++] = (struct sock_filter)RET(SECCOMP_RET_ALLOW);
        break;
      case NONNULL:
        out[n++] = (struct sock_filter)JEQ(r->nr, 0, 6);
        out[n++] = (struct sock_filter)LD(ARG_LO(r->arg));
        out[n++] = (struct sock_filter)JEQ(0, 0, 3);
        out[n++] = (struct sock_filter)LD(ARG_LO(r->arg) + 4);
        out[n++] = (struct sock_filter)JEQ(0, 0, 1);
        out[n++] = (struct sock_filter)RET(SECCOMP_RET_ALLOW);
        break;
    }
    out[n++] = (struct sock_filter)RET(refuse);
  }
  if (for_init) {  // init never starts a program
    out[n++] = (struct sock_filter)JEQ(__NR_execve, 0, 1);
    out[n++] = (struct sock_filter)RET(refuse);
    out[n++] = (struct sock_filter)JEQ(__NR_execveat, 0, 1);
    out[n++] = (struct sock_filter)RET(refuse);
  }
  out[n++] = (struct sock_filter)RET(SECCOMP_RET_ALLOW);
  return n;
}

// ---- state prepared once ----------------------------------------------------------------------
static struct sock_filter notify_prog[4096], plain_prog[4096], init_prog[512];
static struct sock_fprog notify_fp, plain_fp, init_fp;
static char cwd[4096];
static char* const true_argv[] = {"/bin/true", NULL};
static char** target_env;  // prepared apart, as worm-run does: init wipes its copy of environ
static uint64_t ll_fs, ll_net, ll_scoped;  // what the Landlock ABI of this kernel handles
static size_t ll_size;
static int ll_abi;
static struct hide {
  const char* path;
  int dir;
} hides[8];
static int nhides;
static char* stacks;  // two stacks for the VM variants (runs are one at a time)
static const char* filter_file;
#define STACK_SIZE (256 << 10)


static void die(const char* what) {
  fprintf(stderr, "protected-floor: %s: %s\n", what, strerror(errno));
  exit(1);
}

// ---- one run -------------------------------------------------------------------------------
enum { MSG_FACTS = 1, MSG_FAIL, MSG_GO, MSG_EXIT, MSG_END };
// Where a run is, by the monotonic clock (the same in every process): the launcher's marks and
// those init and the target send back with the facts. The table of steps is made from them.
enum { M_BEGIN, M_CLONE, M_START, M_INIT_PREP, M_MOUNTS, M_TARGET, M_FDS, M_CAPS, M_LANDLOCK, M_SECCOMP, M_MEASURED, M_FACTS, NMARK };
static const char* step_names[NMARK] = {"", "prep", "->child", "init-prep", "mounts", "->target", "fds+cwd",
                                        "rlim+caps", "nnp+ll", "seccomp", "measure", "->launcher"};
struct msg {  // the facts are about this size in worm-run (protocol.h)
  uint32_t type;
  int32_t stage, err, status;
  int64_t mark[NMARK];
  int64_t pad[2];
};

struct run {
  unsigned flags;
  int ctl[2], errp[2], cmd[2], status[2];  // ctl: SEQPACKET; errp: libuv's exec-error pipe
  int ruleset, old_proc;
  pid_t parent;  // what the target's getppid() must say
  char tmp[64];
  long long mark[NMARK];
};

static void send_msg(int fd, uint32_t type, int stage, int err, int status) {
  struct msg m = {type, stage, err, status, {0}, {0}};
  while (write(fd, &m, sizeof m) < 0 && errno == EINTR) {
  }
}

// Ends a child that failed at `stage` (1..): the launcher reports it and stops the benchmark.
static void fail(const struct run* r, int stage) {
  send_msg(r->flags & NOTIFY ? r->ctl[1] : r->errp[1], MSG_FAIL, stage, errno, 0);
  _exit(127);
}

static int drop_root_capabilities(void) {
  // What worm-run's root target keeps: Docker's default set less MKNOD and NET_RAW.
  const uint64_t keep = (1ull << CAP_CHOWN) | (1ull << CAP_DAC_OVERRIDE) | (1ull << CAP_FOWNER) |
                        (1ull << CAP_FSETID) | (1ull << CAP_KILL) | (1ull << CAP_SETGID) | (1ull << CAP_SETUID) |
                        (1ull << CAP_SETPCAP) | (1ull << CAP_NET_BIND_SERVICE) | (1ull << CAP_SYS_CHROOT) |
                        (1ull << CAP_AUDIT_WRITE) | (1ull << CAP_SETFCAP);
  for (int cap = 0; cap < 64; cap++) {
    if (!(keep & (1ull << cap)) && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL) return -1;
  }
  struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct d[2];
  if (syscall(SYS_capget, &h, d) != 0) return -1;
  for (int i = 0; i < 2; i++) {
    d[i].effective &= (uint32_t)(keep >> (32 * i));
    d[i].permitted &= (uint32_t)(keep >> (32 * i));
    d[i].inheritable &= (uint32_t)(keep >> (32 * i));
  }
  if (syscall(SYS_capset, &h, d) != 0) return -1;
  prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
  return 0;
}

// No handler of the launcher's may run in its copy.
static void reset_handlers(int upto) {
  struct sigaction dfl = {.sa_handler = SIG_DFL};
  for (int s = 1; s < upto; s++)
    if (s != SIGKILL && s != SIGSTOP) sigaction(s, &dfl, NULL);
}

// Init (or a single-clone target): the run's private /, fresh /proc and hiding binds.
static void set_up_mounts(struct run* r) {
  if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) fail(r, 20);
  if (!(r->flags & MOUNTS)) return;
  r->old_proc = open("/proc", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) != 0) fail(r, 21);
  for (int i = 0; i < nhides; i++) {
    const char* t = hides[i].path;
    if (hides[i].dir) {
      if (mount("tmpfs", t, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=4k,nr_inodes=1,mode=000") != 0)
        fail(r, 22);
    } else if (mount("/dev/null", t, NULL, MS_BIND, NULL) != 0 ||
               mount(NULL, t, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) != 0) {
      fail(r, 23);
    }
  }
}

// The target's last steps before execve (native/target.cc). Only the hardening flags matter;
// without them this is libuv's child.
static int target_main(void* arg) {
  struct run* r = arg;
  const unsigned f = r->flags;
  r->mark[f & INIT ? M_TARGET : M_START] = now_ns();
  if (!(f & INIT) && f & NEWPID) {
    reset_handlers(NSIG);  // single clone: the target is pid 1 and does init's part itself
    set_up_mounts(r);
    r->mark[M_MOUNTS] = now_ns();
  } else if (!(f & INIT)) {
    reset_handlers(32);  // libuv's child
  }
  if (f & HARDEN) {
    struct msg facts = {MSG_FACTS, 0, 0, 0, {0}, {0}};
    char buf[4096];
    if (r->old_proc >= 0) readlinkat(r->old_proc, "self", buf, sizeof buf);  // the pid the launcher sees
    // Stdio from copies (worm-run hands the run pipes), everything else closed at exec.
    int tmp[3];
    for (int i = 0; i < 3; i++)
      if ((tmp[i] = fcntl(i, F_DUPFD_CLOEXEC, 3)) < 0) fail(r, 1);
    for (int i = 0; i < 3; i++)
      if (dup2(tmp[i], i) < 0) fail(r, 1);
    if (syscall(__NR_close_range, 3, ~0U, CLOSE_RANGE_CLOEXEC) != 0) fail(r, 2);
    if (chdir(cwd) != 0) fail(r, 3);
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0 || getppid() != r->parent) fail(r, 4);
    r->mark[M_FDS] = now_ns();
    struct rlimit core = {0, 0};
    if (setrlimit(RLIMIT_CORE, &core) != 0) fail(r, 5);
    if (geteuid() == 0 && drop_root_capabilities() != 0) fail(r, 6);
    r->mark[M_CAPS] = now_ns();
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) fail(r, 7);
    if (f & LANDLOCK && syscall(__NR_landlock_restrict_self, r->ruleset, 0) != 0) fail(r, 8);
    r->mark[M_LANDLOCK] = now_ns();
    int listener = -1;
    if (f & NOTIFY) {
      listener = syscall(__NR_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &notify_fp);
      if (listener < 0) fail(r, 9);
    } else if (syscall(__NR_seccomp, SECCOMP_SET_MODE_FILTER, 0, &plain_fp) != 0) {
      fail(r, 9);
    }
    r->mark[M_SECCOMP] = now_ns();
    // What the target got, as worm-run measures it for the start record.
    facts.pad[0] = prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) + prctl(PR_GET_SECCOMP, 0, 0, 0, 0) + getgroups(0, NULL);
    uid_t u[3];
    getresuid(&u[0], &u[1], &u[2]);
    gid_t g[3];
    getresgid(&g[0], &g[1], &g[2]);
    int sfd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
    if (sfd >= 0) {
      facts.pad[1] = read(sfd, buf, sizeof buf);
      close(sfd);
    }
    r->mark[M_MEASURED] = now_ns();
    memcpy(facts.mark, r->mark, sizeof facts.mark);
    if (f & NOTIFY) {
      char control[CMSG_SPACE(sizeof(int))] = {0};
      struct iovec iov = {&facts, sizeof facts};
      struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof control};
      struct cmsghdr* c = CMSG_FIRSTHDR(&mh);
      c->cmsg_level = SOL_SOCKET;
      c->cmsg_type = SCM_RIGHTS;
      c->cmsg_len = CMSG_LEN(sizeof(int));
      memcpy(CMSG_DATA(c), &listener, sizeof(int));
      if (sendmsg(r->ctl[1], &mh, MSG_NOSIGNAL) != sizeof facts) _exit(127);
      close(listener);
      struct msg go;
      if (recv(r->ctl[1], &go, sizeof go, 0) != sizeof go || go.type != MSG_GO) _exit(127);
    }
  }
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  execve(true_argv[0], true_argv, target_env);
  fail(r, 10);
  return 127;
}

// Init zeroes its copy of the launcher's environment (worm-run's holds credentials). Its
// bounds, fields 50 and 51 of /proc/self/stat, are the launcher's for good: read once by the
// launcher (as native/spawn.cc does), used by every init. Skipped when init shares its memory.
static unsigned long env_start, env_end;

static void read_environment_bounds(void) {
  char buf[2048];
  int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return;
  buf[n] = '\0';
  char* p = strrchr(buf, ')');
  unsigned long v[52] = {0};
  for (int field = 3; p && field <= 51; field++) {
    p = strchr(p + 1, ' ');
    if (p) v[field] = strtoul(p + 1, NULL, 10);
  }
  env_start = v[50];
  env_end = v[51];
}

static void wipe_environment(void) {
  if (env_start && env_end > env_start && env_end - env_start < (64ul << 20)) memset((void*)env_start, 0, env_end - env_start);
}

// Without a PID namespace init kills the tree it can find in /proc (native/contain.cc): here
// one look, since the target is already reaped and nothing else was started.
static void kill_descendants(void) {
  char path[64], list[4096];
  snprintf(path, sizeof path, "/proc/%d/task/%d/children", getpid(), getpid());
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    while (read(fd, list, sizeof list) > 0) {
    }
    close(fd);
  }
  while (waitpid(-1, NULL, WNOHANG | __WALL) > 0) {
  }
}

// The run's init (native/init.cc): sets up the run's view, starts the target, reaps, ends.
static int init_main(void* arg) {
  struct run* shared = arg;
  struct run r = *shared;  // the launcher's copy may be its own memory (VM)
  r.mark[M_START] = now_ns();
  reset_handlers(NSIG);
  close(r.ctl[0]);  // the launcher's ends
  close(r.cmd[1]);
  close(r.status[0]);
  int keep = r.status[1] > r.cmd[0] ? r.status[1] : r.cmd[0];
  if (r.ctl[1] > keep) keep = r.ctl[1];
  if (r.ruleset > keep) keep = r.ruleset;
  syscall(__NR_close_range, keep + 1, ~0U, 0);
  if (!(r.flags & VM)) wipe_environment();
  if (setpgid(0, 0) != 0 || prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0) fail(&r, 11);
  struct pollfd alive = {r.cmd[0], POLLIN, 0};
  if (poll(&alive, 1, 0) == 1 && (alive.revents & (POLLHUP | POLLERR))) _exit(127);
  r.mark[M_INIT_PREP] = now_ns();
  if (r.flags & NEWNS) {
    set_up_mounts(&r);
    r.mark[M_MOUNTS] = now_ns();
  }
  if (!(r.flags & NEWPID) && prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0) fail(&r, 12);
  r.parent = r.flags & NEWPID ? 1 : getpid();
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  int sfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
  if (sfd < 0) fail(&r, 13);

  long target;
  if (r.flags & (VM | TVFORK)) {
    target = clone(target_main, stacks + 2 * STACK_SIZE, CLONE_VM | CLONE_VFORK | SIGCHLD, &r);
  } else {
    target = syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
    if (target == 0) _exit(target_main(&r));
  }
  if (target < 0) fail(&r, 14);
  // Only the target reports on the control socket from here on: its EOF is the target's execve.
  close(r.ctl[1]);
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || syscall(__NR_seccomp, SECCOMP_SET_MODE_FILTER, 0, &init_fp) != 0) {
    kill(target, SIGKILL);
    send_msg(r.status[1], MSG_FAIL, 15, errno, 0);
    _exit(127);
  }
  if (r.ruleset >= 0) close(r.ruleset);
  if (r.old_proc >= 0) close(r.old_proc);

  struct pollfd p[2] = {{sfd, POLLIN, 0}, {r.cmd[0], POLLIN, 0}};
  for (int done = 0; !done;) {
    if (poll(p, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (p[0].revents) {
      struct signalfd_siginfo si;
      while (read(sfd, &si, sizeof si) == sizeof si) {
      }
      int st;
      struct rusage ru;
      pid_t w;
      while ((w = wait4(-1, &st, WNOHANG | __WALL, &ru)) > 0) {
        if (w == target) {
          send_msg(r.status[1], MSG_EXIT, 0, 0, st);
          done = 1;
        }
      }
    }
    if (p[1].revents & (POLLHUP | POLLERR)) break;  // the launcher is gone
  }
  if (r.flags & NEWPID && getpid() == 1) {
    // Everything left in the namespace (nothing, for /bin/true): kill(-1), then reap to ECHILD.
    // Only as pid 1: anywhere else kill(-1) is every process of the machine.
    for (;;) {
      kill(-1, SIGKILL);
      if (wait4(-1, NULL, __WALL, NULL) < 0 && errno != EINTR) break;
    }
  } else {
    kill_descendants();
  }
  send_msg(r.status[1], MSG_END, 0, 0, 0);
  _exit(0);
}

// The launcher's CLONE_VM|CLONE_VFORK child for +init-exec: init's descriptors survive the exec,
// the launcher's own ends close with it.
static int exec_init(void* arg) {
  const struct run* r = arg;
  char nums[5][16];
  const int fds[] = {r->ctl[1], r->cmd[0], r->status[1], r->ruleset};
  for (int i = 0; i < 4; i++) {
    fcntl(fds[i], F_SETFD, 0);
    snprintf(nums[i], sizeof nums[i], "%d", fds[i]);
  }
  snprintf(nums[4], sizeof nums[4], "%u", r->flags & ~EXEC_INIT);
  char* argv[] = {"protected-floor", "--init", nums[4], nums[0], nums[1], nums[2], nums[3],
                  (char*)filter_file, NULL};
  execve("/proc/self/exe", argv, target_env);
  fail(r, 16);
  return 127;
}

// main() for +init-exec's init: the run's descriptors and flags from the command line.
static int init_program(char** argv) {
  struct run r = {(unsigned)atoi(argv[2]), {-1, atoi(argv[3])}, {-1, -1}, {atoi(argv[4]), -1}, {-1, atoi(argv[5])},
                  atoi(argv[6]), -1, 0, "", {0}};
  return init_main(&r);
}

// A Landlock ruleset like worm-run's default for a run in `cwd` with private tmp dir `tmp`
// (src/fs: read everywhere, write the job and tmp dirs, the usual devices).
static int make_ruleset(const char* tmp) {
  struct {
    uint64_t fs, net, scoped;
  } attr = {ll_fs, ll_net, ll_scoped};
  struct {
    uint64_t access;
    int32_t parent_fd;
  } __attribute__((packed)) rule;
  const struct {
    const char* path;
    uint64_t access;
  } rules[] = {{"/", 13},           {cwd, 30655},         {tmp, 30655},         {"/dev/null", 49167},
               {"/dev/zero", 49167}, {"/dev/full", 49167}, {"/dev/random", 49167}, {"/dev/urandom", 49167},
               {"/dev/tty", 49167},  {"/dev/ptmx", 49167}, {"/dev/pts", 49167},    {"/dev/shm", 30655}};
  const uint64_t file_rights = 1 | 2 | 4 | (1 << 14) | (1 << 15);  // EXECUTE WRITE_FILE READ_FILE TRUNCATE IOCTL_DEV
  int fd = syscall(__NR_landlock_create_ruleset, &attr, ll_size, 0);
  if (fd < 0) die("landlock_create_ruleset");
  for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++) {
    int dir = open(rules[i].path, O_PATH | O_CLOEXEC);
    if (dir < 0) continue;
    struct stat st;
    rule.access = rules[i].access & ll_fs;
    if (fstat(dir, &st) == 0 && !S_ISDIR(st.st_mode)) rule.access &= file_rights;
    rule.parent_fd = dir;
    if (syscall(__NR_landlock_add_rule, fd, 1, &rule, 0) != 0) die(rules[i].path);
    close(dir);
  }
  return fd;
}

enum { SEG_CLONE, SEG_HARDEN, SEG_EXEC, SEG_EXIT, SEG_TEARDOWN, NSEG };
static const char* seg_names[NSEG] = {"prep+clone", "harden", "exec", "exit", "teardown"};

static void check_fail(const struct variant* v, const struct msg* m) {
  if (m->type == MSG_FAIL) {
    fprintf(stderr, "protected-floor: %s: stage %d failed: %s\n", v->name, m->stage, strerror(m->err));
    exit(1);
  }
}

static int read_full(int fd, void* buf, size_t len) {
  ssize_t n;
  do n = read(fd, buf, len);
  while (n < 0 && errno == EINTR);
  return n == (ssize_t)len;
}

// One run of /bin/true; the time of each step the launcher sees into seg, the marks into mark (ns).
static void run_once(const struct variant* v, long long* seg, long long* mark) {
  const unsigned f = v->flags;
  memset(mark, 0, NMARK * sizeof *mark);
  struct run r = {f, {-1, -1}, {-1, -1}, {-1, -1}, {-1, -1}, -1, -1, getpid(), "", {0}};
  long long t0 = now_ns();
  if (f & LANDLOCK) {
    strcpy(r.tmp, "/tmp/protected-floor-tmp-XXXXXX");
    if (!mkdtemp(r.tmp)) die("mkdtemp");
    r.ruleset = make_ruleset(r.tmp);
  }
  if (f & NOTIFY ? socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, r.ctl) : pipe2(r.errp, O_CLOEXEC)) die("socketpair/pipe");
  if (f & INIT && (pipe2(r.cmd, O_CLOEXEC) != 0 || pipe2(r.status, O_CLOEXEC) != 0)) die("pipe2");
  if (f & NEWPID && !(f & INIT)) r.parent = 0;  // pid 1's parent is outside its namespace
  if (f & VM && !(f & INIT) && f & NOTIFY) send_msg(r.ctl[0], MSG_GO, 0, 0, 0);  // the launcher is frozen until exec

  sigset_t all, old;
  sigfillset(&all);
  if (!(f & (INIT | NEWPID))) {  // libuv: program-failure signals stay deliverable
    sigdelset(&all, SIGKILL), sigdelset(&all, SIGSTOP), sigdelset(&all, SIGTRAP), sigdelset(&all, SIGSEGV);
    sigdelset(&all, SIGBUS), sigdelset(&all, SIGILL), sigdelset(&all, SIGSYS), sigdelset(&all, SIGABRT);
  }
  pthread_sigmask(SIG_BLOCK, &all, &old);
  long long t_clone = now_ns();
  const int ns = (f & NEWPID ? CLONE_NEWPID : 0) | (f & NEWNS ? CLONE_NEWNS : 0);
  int (*child)(void*) = f & INIT ? init_main : target_main;
  long pid;
  if (f & EXEC_INIT) {
    pid = clone(exec_init, stacks + STACK_SIZE, CLONE_VM | CLONE_VFORK | ns | SIGCHLD, &r);
  } else if (f & VM) {
    pid = clone(child, stacks + STACK_SIZE, CLONE_VM | (f & INIT ? 0 : CLONE_VFORK) | ns | SIGCHLD, &r);
  } else if (!(f & (INIT | NEWPID))) {
    pid = fork();  // what libuv calls
    if (pid == 0) _exit(target_main(&r));
  } else {
    pid = syscall(SYS_clone, ns | SIGCHLD, 0, 0, 0, 0);  // what worm-run calls
    if (pid == 0) _exit(child(&r));
  }
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (pid < 0) die("clone");
  const int child_ends[] = {r.ctl[1], r.errp[1], r.cmd[0], r.status[1], r.ruleset};
  for (int i = 0; i < 5; i++)
    if (child_ends[i] >= 0) close(child_ends[i]);
  long long t1 = now_ns(), t2 = t1, t3;

  int listener = -1;
  struct msg m = {0};
  if (f & NOTIFY) {
    char control[CMSG_SPACE(sizeof(int))];
    struct iovec iov = {&m, sizeof m};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof control};
    struct pollfd p = {r.ctl[0], POLLIN, 0};
    if (poll(&p, 1, 30000) != 1 || recvmsg(r.ctl[0], &mh, MSG_CMSG_CLOEXEC) != sizeof m) die("recvmsg(facts)");
    check_fail(v, &m);
    struct cmsghdr* c = CMSG_FIRSTHDR(&mh);
    if (c && c->cmsg_type == SCM_RIGHTS) memcpy(&listener, CMSG_DATA(c), sizeof(int));
    if (listener < 0) die("no listener");
    ioctl(listener, SECCOMP_IOCTL_NOTIF_SET_FLAGS, 1);  // SYNC_WAKE_UP, as worm-run's listener asks
    t2 = now_ns();
    memcpy(mark, m.mark, sizeof m.mark);
    mark[M_FACTS] = t2;
    if (!(f & VM && !(f & INIT))) send_msg(r.ctl[0], MSG_GO, 0, 0, 0);
    poll(&p, 1, 60000);
    if (recv(r.ctl[0], &m, sizeof m, 0) != 0) check_fail(v, &m);  // EOF: execve done
    close(r.ctl[0]);
  } else {
    if (read(r.errp[0], &m, sizeof m) != 0) check_fail(v, &m);  // libuv: EOF means exec'd
    close(r.errp[0]);
  }
  t3 = now_ns();

  int status = -1;
  long long t4;
  if (f & INIT) {
    if (!read_full(r.status[0], &m, sizeof m)) die("the target's exit");
    check_fail(v, &m);
    status = m.status;
    t4 = now_ns();
    if (!read_full(r.status[0], &m, sizeof m) || m.type != MSG_END) die("the run's end");
    while (read(r.status[0], &m, sizeof m) > 0) {
    }
    siginfo_t si;  // run_handle.cc looks before it reaps
    waitid(P_PID, pid, &si, WEXITED | WNOWAIT | __WALL);
    int init_status;
    if (wait4(pid, &init_status, __WALL, NULL) != pid || init_status != 0) die("init");
    close(r.status[0]);
    close(r.cmd[1]);
  } else {
    if (wait4(pid, &status, __WALL, NULL) != pid) die("wait4");
    t4 = now_ns();
  }
  if (listener >= 0) close(listener);
  if (f & LANDLOCK && rmdir(r.tmp) != 0) die("rmdir");
  long long t5 = now_ns();
  if (status != 0) {
    fprintf(stderr, "protected-floor: %s: /bin/true ended with status 0x%x\n", v->name, status);
    exit(1);
  }
  long long t[] = {t0, t1, t2, t3, t4, t5};
  for (int i = 0; i < NSEG; i++) seg[i] = t[i + 1] - t[i];
  mark[M_BEGIN] = t0;
  mark[M_CLONE] = t_clone;
}

// ---- the benchmark -------------------------------------------------------------------------
static int cmp_ll(const void* a, const void* b) {
  long long x = *(const long long*)a, y = *(const long long*)b;
  return x < y ? -1 : x > y;
}
static long long pct(long long* v, int n, double p) {
  qsort(v, n, sizeof *v, cmp_ll);
  return v[(int)(p * (n - 1) + 0.5)];
}

static void prepare(void) {
  read_environment_bounds();
  extern char** environ;
  if (!getcwd(cwd, sizeof cwd)) die("getcwd");
  int nenv = 0;
  while (environ[nenv]) nenv++;
  target_env = calloc(nenv + 1, sizeof *target_env);
  for (int i = 0; i < nenv; i++) target_env[i] = strdup(environ[i]);
  int n = build_filter(notify_prog, SECCOMP_RET_USER_NOTIF, 0);
  if (filter_file) {
    FILE* fp = fopen(filter_file, "rb");
    if (!fp) die(filter_file);
    n = fread(notify_prog, sizeof notify_prog[0], 4096, fp);
    fclose(fp);
    if (n == 0) die("empty filter");
  }
  // The same program answering by itself: every notify return becomes EPERM.
  for (int i = 0; i < n; i++) {
    plain_prog[i] = notify_prog[i];
    if (plain_prog[i].code == (BPF_RET | BPF_K) && plain_prog[i].k == SECCOMP_RET_USER_NOTIF)
      plain_prog[i].k = SECCOMP_RET_ERRNO | EPERM;
  }
  notify_fp = (struct sock_fprog){n, notify_prog};
  plain_fp = (struct sock_fprog){n, plain_prog};
  init_fp = (struct sock_fprog){build_filter(init_prog, SECCOMP_RET_ERRNO | EPERM, 1), init_prog};

  ll_abi = syscall(__NR_landlock_create_ruleset, NULL, 0, 1);
  if (ll_abi < 2) die("Landlock ABI 2 or later");
  ll_fs = ((1ull << 14) - 1) /* ABI 1 and REFER */ | (ll_abi >= 3 ? 1ull << 14 : 0) | (ll_abi >= 5 ? 1ull << 15 : 0);
  ll_net = ll_abi >= 4 ? 3 : 0;
  ll_scoped = ll_abi >= 6 ? 3 : 0;
  ll_size = ll_abi >= 6 ? 24 : ll_abi >= 4 ? 16 : 8;

  // The credential files worm-run hides by default, those that exist here.
  static char npmrc[4200];
  snprintf(npmrc, sizeof npmrc, "%s/.npmrc", getenv("HOME") ? getenv("HOME") : "/root");
  const struct hide all[] = {{npmrc, 0},         {"/etc/shadow", 0},   {"/etc/shadow-", 0},
                             {"/etc/gshadow", 0}, {"/etc/gshadow-", 0}, {"/etc/ssl/private", 1}};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
    struct stat st;
    if (stat(all[i].path, &st) == 0 && S_ISDIR(st.st_mode) == all[i].dir) hides[nhides++] = all[i];
  }
  stacks = mmap(NULL, 2 * STACK_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (stacks == MAP_FAILED) die("mmap(stacks)");
}

int main(int argc, char** argv) {
  int rounds = 300, warmup = 30;
  long host_mb = 0;
  const char* only = NULL;
  if (argc >= 7 && !strcmp(argv[1], "--init")) {
    filter_file = argv[7];
    prepare();
    return init_program(argv);
  }
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--rounds")) rounds = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--warmup")) warmup = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--host-mb")) host_mb = atol(argv[i + 1]);
    else if (!strcmp(argv[i], "--only")) only = argv[i + 1];
    else if (!strcmp(argv[i], "--filter")) filter_file = argv[i + 1];
    else {
      fprintf(stderr, "usage: %s [--rounds N] [--warmup W] [--host-mb M] [--only NAME,NAME] [--filter FILE]\n", argv[0]);
      return 2;
    }
  }
  if (argc % 2 == 0) return fprintf(stderr, "%s: an option without its value\n", argv[0]), 2;
  prepare();
  if (host_mb > 0) {
    // 4 KiB pages, as V8's heap has them: with huge pages fork would copy 512 times fewer entries.
    size_t len = (size_t)host_mb << 20;
    char* mem = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED) die("mmap(host)");
    madvise(mem, len, MADV_NOHUGEPAGE);
    memset(mem, 1, len);
  }

  int chosen[NVARIANTS], nv = 0;
  for (int i = 0; i < NVARIANTS; i++) {
    char key[64];
    snprintf(key, sizeof key, ",%s,", variants[i].name);
    char list[1024];
    snprintf(list, sizeof list, ",%s,", only ? only : "");
    if (!only || strstr(list, key) || i == 0) chosen[nv++] = i;  // plain always, for the ratio
  }
  long long(*seg)[NSEG] = calloc((size_t)rounds * nv, sizeof *seg);
  long long(*marks)[NMARK] = calloc((size_t)rounds * nv, sizeof *marks);
  long long* total = calloc((size_t)rounds * nv, sizeof *total);
  long long scratch[NSEG], scratch_marks[NMARK];
  for (int round = -warmup; round < rounds; round++) {
    for (int k = 0; k < nv; k++) {
      int j = (k + (round + warmup)) % nv;  // a rotating order
      long long* s = round < 0 ? scratch : seg[(size_t)j * rounds + round];
      run_once(&variants[chosen[j]], s, round < 0 ? scratch_marks : marks[(size_t)j * rounds + round]);
      if (round >= 0) {
        total[(size_t)j * rounds + round] = 0;
        for (int q = 0; q < NSEG; q++) total[(size_t)j * rounds + round] += s[q];
      }
    }
  }

  printf("rounds %d (after %d warm-up), host %ld MB, filter %d instructions (init's %d), Landlock ABI %d, %d hiding mounts, uid %d\n",
         rounds, warmup, host_mb, notify_fp.len, init_fp.len, ll_abi, nhides, getuid());
  printf("%-20s %8s %8s %7s |", "variant", "median", "p90", "x plain");
  for (int q = 0; q < NSEG; q++) printf(" %10s", seg_names[q]);
  printf("\n%-20s %8s %8s %7s |%55s\n", "", "ms", "ms", "", "µs, medians of each step");
  double plain = 0;
  for (int j = 0; j < nv; j++) {
    long long* t = total + (size_t)j * rounds;
    double med = pct(t, rounds, 0.5) / 1e6, p90 = pct(t, rounds, 0.9) / 1e6;
    if (j == 0) plain = med;
    printf("%-20s %8.3f %8.3f %7.2f |", variants[chosen[j]].name, med, p90, med / plain);
    long long col[rounds];
    for (int q = 0; q < NSEG; q++) {
      for (int i = 0; i < rounds; i++) col[i] = seg[(size_t)j * rounds + i][q];
      printf(" %10.0f", pct(col, rounds, 0.5) / 1e3);
    }
    printf("\n");
  }

  // Inside the run, up to the launcher's receipt of the facts: each step from the mark before it.
  printf("\n%-20s", "steps to 'harden'");
  for (int i = M_CLONE; i < NMARK; i++) printf(" %9s", step_names[i]);
  printf("\n%-20s %s\n", "", "µs, medians");
  for (int j = 0; j < nv; j++) {
    if (!(variants[chosen[j]].flags & NOTIFY)) continue;
    printf("%-20s", variants[chosen[j]].name);
    long long col[rounds];
    for (int i = M_CLONE; i < NMARK; i++) {
      int n = 0;
      for (int k = 0; k < rounds; k++) {
        long long* m = marks[(size_t)j * rounds + k];
        int prev = i - 1;
        while (prev > 0 && m[prev] == 0) prev--;
        if (m[i] != 0) col[n++] = m[i] - m[prev];
      }
      if (n == 0) printf(" %9s", "-");
      else printf(" %9.0f", pct(col, n, 0.5) / 1e3);
    }
    printf("\n");
  }
  return 0;
}
