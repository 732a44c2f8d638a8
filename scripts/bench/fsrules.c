// The kernel side of the filesystem confinement, timed alone (scripts/bench-fs.js):
//   fsrules ruleset RULES N     landlock_create_ruleset + one landlock_add_rule per line of RULES
//                               ("ACCESS PATH", as planFilesystem makes them; opened O_PATH as
//                               native/landlock.cc does), N times; prints the median in µs
//   fsrules mounts MOUNTS N     in a fresh mount namespace each time (unshare, root): the same
//                               mounts init makes (MS_PRIVATE on /, then "ro|hideDir|hideFile PATH"
//                               per line), N times; prints the median in µs of the mounts alone
// Each line of output: "<what> median_us p90_us count".
#define _GNU_SOURCE
#include <fcntl.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct attr { uint64_t fs, net, scoped; };
struct pb { uint64_t allowed; int32_t fd; } __attribute__((packed));

static double now_us(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static int cmp(const void* a, const void* b) {
  double x = *(const double*)a, y = *(const double*)b;
  return x < y ? -1 : x > y;
}

static char** lines(const char* file, int* n) {
  FILE* f = fopen(file, "r");
  if (!f) { perror(file); exit(2); }
  char** out = NULL;
  *n = 0;
  char* l = NULL;
  size_t cap = 0;
  ssize_t len;
  while ((len = getline(&l, &cap, f)) > 0) {
    if (l[len - 1] == '\n') l[len - 1] = 0;
    out = realloc(out, sizeof(char*) * (*n + 1));
    out[(*n)++] = strdup(l);
  }
  fclose(f);
  return out;
}

static void report(const char* what, double* t, int n) {
  qsort(t, n, sizeof *t, cmp);
  printf("%s %.1f %.1f %d\n", what, t[n / 2], t[(n * 9) / 10], n);
}

int main(int argc, char** argv) {
  if (argc < 4) return 2;
  int n;
  char** l = lines(argv[2], &n);
  int reps = atoi(argv[3]);
  double* t = calloc(reps, sizeof(double));
  if (!strcmp(argv[1], "ruleset")) {
    int abi = syscall(SYS_landlock_create_ruleset, NULL, 0, 1);
    uint64_t fs = (1ull << 13) - 1;
    if (abi >= 2) fs |= 1ull << 13;
    if (abi >= 3) fs |= 1ull << 14;
    if (abi >= 5) fs |= 1ull << 15;
    for (int r = 0; r < reps; r++) {
      double t0 = now_us();
      struct attr a = {fs, abi >= 4 ? 3 : 0, abi >= 6 ? 3 : 0};
      int rs = syscall(SYS_landlock_create_ruleset, &a, abi >= 6 ? sizeof a : abi >= 4 ? 16 : 8, 0);
      if (rs < 0) { perror("landlock_create_ruleset"); return 1; }
      for (int i = 0; i < n; i++) {
        char* sp = strchr(l[i], ' ');
        if (!sp) continue;
        uint64_t acc = strtoull(l[i], NULL, 10) & fs;
        int fd = open(sp + 1, O_PATH | O_CLOEXEC);
        if (fd < 0) continue;
        struct stat st;
        if (fstat(fd, &st) == 0 && !S_ISDIR(st.st_mode)) acc &= (1 | 2 | 4 | (1ull << 14) | (1ull << 15));
        struct pb p = {acc, fd};
        if (acc) syscall(SYS_landlock_add_rule, rs, 1, &p, 0);
        close(fd);
      }
      close(rs);
      t[r] = now_us() - t0;
    }
    report("ruleset", t, reps);
    return 0;
  }
  if (!strcmp(argv[1], "mounts")) {
    int pipefd[2];
    for (int r = 0; r < reps; r++) {
      if (pipe(pipefd) != 0) return 1;
      pid_t c = fork();
      if (c == 0) {
        if (unshare(CLONE_NEWNS) != 0) { perror("unshare"); _exit(1); }
        double t0 = now_us();
        mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL);
        for (int i = 0; i < n; i++) {
          char* sp = strchr(l[i], ' ');
          if (!sp) continue;
          *sp = 0;
          const char* p = sp + 1;
          int rc = 0;
          if (!strcmp(l[i], "ro")) {
            rc = mount(p, p, NULL, MS_BIND | MS_REC, NULL);
            if (!rc) rc = mount(NULL, p, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL);
          } else if (!strcmp(l[i], "hideDir")) {
            rc = mount("tmpfs", p, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=4k,nr_inodes=1,mode=000");
          } else if (!strcmp(l[i], "hideFile")) {
            rc = mount("/dev/null", p, NULL, MS_BIND, NULL);
            if (!rc) rc = mount(NULL, p, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
          }
          if (rc) { perror(p); _exit(1); }
        }
        double d = now_us() - t0;
        if (write(pipefd[1], &d, sizeof d) != sizeof d) _exit(1);
        _exit(0);
      }
      close(pipefd[1]);
      double d = -1;
      if (read(pipefd[0], &d, sizeof d) != sizeof d) return 1;
      close(pipefd[0]);
      int st;
      waitpid(c, &st, 0);
      t[r] = d;
    }
    report("mounts", t, reps);
    return 0;
  }
  return 2;
}
