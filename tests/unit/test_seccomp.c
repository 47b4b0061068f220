/* tests/unit/test_seccomp.c - unit tests of client/seccomp.h. Each test
 * forks a child that sets no_new_privs, loads the default filter and then
 * checks syscalls one by one: the refused ones fail with EPERM (clone3 with
 * ENOSYS) before the kernel could even look at their arguments, ordinary
 * ones (files, fork, execve of /bin/true) work, foreign ABIs (x32 numbers,
 * i386 int 0x80) kill the process with SIGSYS, and a relaxation flag lifts
 * exactly its rules.
 *
 * A child reports the first failed check as its exit status (50 + its line
 * number modulo 200) and prints it; a child killed by a signal shows as
 * 1000 + the signal.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/sched.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "client/seccomp.h"
#include "tests/unit/child_check.h"

/* the call fails with exactly this errno */
#define FAILS_WITH(call, e) (errno = 0, (call) == -1 && errno == (e))

/* How the children get the filter: built and loaded by libseccomp at once
 * (cli_seccomp_apply_default), compiled then loaded (cli_seccomp_compile +
 * cli_seccomp_load, as `wharf run` does on a first start), or read back
 * from the file cli_seccomp_compile_kept() keeps (every later start).
 * The cases that check what the filter refuses run all three ways. */
enum how { BUILT, COMPILED, KEPT, N_HOW };
static enum how how;
static char kept_dir[] = "/tmp/test_seccomp_kept.XXXXXX";

static void apply(unsigned flags)
{
  struct wh_err err = {0};
  struct cli_seccomp_prog prog;
  bool from_file = false;
  enum wh_code rc = WH_OK;

  if (how == COMPILED)
    rc = cli_seccomp_compile(flags, &prog, &err);
  else if (how == KEPT &&
           (rc = cli_seccomp_compile_kept(kept_dir, flags, &prog, &from_file, &err)) == WH_OK && !from_file) {
    /* the first use wrote the file: read it back */
    cli_seccomp_prog_release(&prog);
    rc = cli_seccomp_compile_kept(kept_dir, flags, &prog, &from_file, &err);
    CHILD_CHECK(rc != WH_OK || from_file);
  }
  if (rc != WH_OK) {
    fprintf(stderr, "# child: %s\n", err.msg);
    _exit(3);
  }
  CHILD_CHECK(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0);
  if ((how == BUILT ? cli_seccomp_apply_default(flags, &err) : cli_seccomp_load(&prog, &err)) != WH_OK) {
    fprintf(stderr, "# child: %s\n", err.msg);
    _exit(3);
  }
}

static int status_seccomp_mode(void)
{
  FILE *f = fopen("/proc/self/status", "re");
  char line[256];
  int v = -1;

  if (f == NULL)
    return -1;
  while (fgets(line, sizeof(line), f)) {
    if (strncmp(line, "Seccomp:", 8) == 0)
      v = atoi(line + 8);
  }
  fclose(f);
  return v;
}

/* ---- refused calls ---------------------------------------------------------- */

static void child_refused(void *p)
{
  struct clone_args ca;
  char dir[] = "/tmp/test_seccomp.XXXXXX";

  (void)p;
  CHILD_CHECK(mkdtemp(dir) != NULL);
  /* a private mount namespace where possible: a filter that let mount
   * through must not leave a mount on the host */
  if (unshare(CLONE_NEWNS) == 0)
    CHILD_CHECK(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0);
  apply(0);
  CHILD_CHECK(status_seccomp_mode() == 2);
  /* mounts: EPERM even for a call that would otherwise be EINVAL/ENOENT */
  CHILD_CHECK(FAILS_WITH(mount("none", dir, "tmpfs", 0, NULL), EPERM));
  CHILD_CHECK(FAILS_WITH(umount2(dir, MNT_DETACH), EPERM));
  CHILD_CHECK(FAILS_WITH(syscall(SYS_pivot_root, dir, dir), EPERM));
  CHILD_CHECK(FAILS_WITH(syscall(SYS_open_tree, AT_FDCWD, dir, 0), EPERM));
  CHILD_CHECK(FAILS_WITH(syscall(SYS_fsopen, "tmpfs", 0), EPERM));
  /* namespaces */
  CHILD_CHECK(FAILS_WITH(unshare(CLONE_NEWUSER), EPERM));
  CHILD_CHECK(FAILS_WITH(unshare(CLONE_NEWNS), EPERM));
  CHILD_CHECK(FAILS_WITH(unshare(CLONE_NEWNET | CLONE_FILES), EPERM));
  CHILD_CHECK(FAILS_WITH(unshare(CLONE_NEWTIME), EPERM));
  CHILD_CHECK(unshare(CLONE_FILES) == 0); /* not a namespace: fine */
  CHILD_CHECK(FAILS_WITH(syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0), EPERM));
  CHILD_CHECK(FAILS_WITH(syscall(SYS_clone, CLONE_NEWPID | SIGCHLD, 0, 0, 0, 0), EPERM));
  CHILD_CHECK(FAILS_WITH(setns(0, 0), EPERM));
  memset(&ca, 0, sizeof(ca));
  ca.exit_signal = SIGCHLD;
  CHILD_CHECK(FAILS_WITH(syscall(SYS_clone3, &ca, sizeof(ca)), ENOSYS));
  /* keyrings, bpf, perf, userfaultfd, modules, time, io_uring */
  CHILD_CHECK(FAILS_WITH(syscall(SYS_keyctl, 0 /* KEYCTL_GET_KEYRING_ID */, -3, 0), EPERM));
  CHILD_CHECK(FAILS_WITH(syscall(SYS_add_key, "user", "x", "y", 1, -3), EPERM));
  CHILD_CHECK(FAILS_WITH(syscall(SYS_request_key, "user", "x", NULL, 0), EPERM));
  CHILD_CHECK(FAILS_WITH(syscall(SYS_bpf, 0, NULL, 0), EPERM));
  CHILD_CHECK(FAILS_WITH(syscall(SYS_perf_event_open, NULL, 0, -1, -1, 0), EPERM));
  CHILD_CHECK(FAILS_WITH(syscall(SYS_userfaultfd, 0), EPERM));
  CHILD_CHECK(FAILS_WITH(syscall(SYS_init_module, NULL, 0, ""), EPERM));
  CHILD_CHECK(FAILS_WITH(syscall(SYS_kexec_load, 0, 0, NULL, 0), EPERM));
  CHILD_CHECK(FAILS_WITH(syscall(SYS_settimeofday, NULL, NULL), EPERM));
  CHILD_CHECK(FAILS_WITH(syscall(SYS_io_uring_setup, 1, NULL), EPERM));
  CHILD_CHECK(FAILS_WITH(syscall(SYS_process_vm_readv, getppid(), NULL, 0, NULL, 0, 0), EPERM));
  CHILD_CHECK(FAILS_WITH(syscall(SYS_kcmp, getpid(), getppid(), 0, 0, 0), EPERM));
  CHILD_CHECK(FAILS_WITH(syscall(SYS_open_by_handle_at, AT_FDCWD, NULL, 0), EPERM));
  CHILD_CHECK(FAILS_WITH(syscall(SYS_syslog, 3, NULL, 0), EPERM));
  /* personality: no ASLR switch, also not hidden behind bit 31 */
  CHILD_CHECK(FAILS_WITH(personality(ADDR_NO_RANDOMIZE), EPERM));
  CHILD_CHECK(FAILS_WITH(personality(READ_IMPLIES_EXEC), EPERM));
  CHILD_CHECK(FAILS_WITH(syscall(SYS_personality, 0x80000000UL | ADDR_NO_RANDOMIZE), EPERM));
  CHILD_CHECK(FAILS_WITH(syscall(SYS_personality, 0x7fffffffUL), EPERM));
  CHILD_CHECK(personality(0xffffffff) >= 0);
  CHILD_CHECK(personality(PER_LINUX32) >= 0 && personality(0xffffffff) == PER_LINUX32);
  CHILD_CHECK(personality(PER_LINUX) >= 0);
  /* TIOCSTI, also with high bits set in the request */
  CHILD_CHECK(FAILS_WITH(ioctl(0, TIOCSTI, "x"), EPERM));
  CHILD_CHECK(FAILS_WITH(syscall(SYS_ioctl, 0, 0x100000000UL | TIOCSTI, "x"), EPERM));
  rmdir(dir);
}

static void test_refused(void **state)
{
  (void)state;
  for (how = 0; how < N_HOW; how++)
    assert_int_equal(run_child(child_refused, NULL), 0);
}

/* The compiled program is what libseccomp loads: a classic BPF program of
 * plausible size, stable from one build to the next. */
static void test_compiled(void **state)
{
  struct cli_seccomp_prog a, b;
  struct wh_err err = {0};

  (void)state;
  assert_int_equal(cli_seccomp_compile(0, &a, &err), WH_OK);
  assert_int_equal(cli_seccomp_compile(0, &b, &err), WH_OK);
  assert_true(a.len > 20 && a.len < 4096);
  assert_int_equal(a.len, b.len);
  assert_memory_equal(a.insns, b.insns, a.len * sizeof(*a.insns));
  cli_seccomp_prog_release(&b);
  assert_int_equal(cli_seccomp_compile(CLI_SECCOMP_SYS_ADMIN, &b, &err), WH_OK);
  assert_true(b.len < a.len); /* the lifted rules are gone */
  cli_seccomp_prog_release(&a);
  cli_seccomp_prog_release(&b);
  assert_null(b.insns);
}

/* The kept file: written by the first compile, read back by the next (the
 * same program), one per set of flags; compiled again (and rewritten)
 * when it is damaged, cut short, a symlink, or was written under another
 * LD_LIBRARY_PATH (which could load another libseccomp). */
static void kept_path(char *b, size_t n, unsigned flags)
{
  snprintf(b, n, "%s/" CLI_SECCOMP_KEPT_PREFIX "%x", kept_dir, flags);
}

static void assert_same(const struct cli_seccomp_prog *a, const struct cli_seccomp_prog *b)
{
  assert_int_equal(a->len, b->len);
  assert_memory_equal(a->insns, b->insns, a->len * sizeof(*a->insns));
}

/* compile_kept(flags) must say from_file == want and give ref's program */
static void kept_is(unsigned flags, bool want, const struct cli_seccomp_prog *ref)
{
  struct cli_seccomp_prog p;
  struct wh_err err = {0};
  bool from_file = !want;

  assert_int_equal(cli_seccomp_compile_kept(kept_dir, flags, &p, &from_file, &err), WH_OK);
  assert_int_equal(from_file, want);
  assert_same(&p, ref);
  cli_seccomp_prog_release(&p);
}

static void test_kept(void **state)
{
  struct cli_seccomp_prog ref, admin;
  struct wh_err err = {0};
  char path[256], other[300];
  bool from_file = true;
  struct stat st;
  int fd;

  (void)state;
  assert_int_equal(cli_seccomp_compile(0, &ref, &err), WH_OK);
  assert_int_equal(cli_seccomp_compile(CLI_SECCOMP_SYS_ADMIN, &admin, &err), WH_OK);
  kept_path(path, sizeof(path), 0);
  unlink(path);
  kept_is(0, false, &ref);
  assert_int_equal(stat(path, &st), 0);
  assert_true(S_ISREG(st.st_mode) && (size_t)st.st_size > ref.len * sizeof(*ref.insns));
  kept_is(0, true, &ref);
  kept_is(0, true, &ref);
  /* another set of flags: its own file */
  kept_path(other, sizeof(other), CLI_SECCOMP_SYS_ADMIN);
  unlink(other);
  kept_is(CLI_SECCOMP_SYS_ADMIN, false, &admin);
  kept_is(CLI_SECCOMP_SYS_ADMIN, true, &admin);
  kept_is(0, true, &ref);

  /* one bit flipped in the last instruction */
  assert_true((fd = open(path, O_RDWR | O_CLOEXEC)) >= 0);
  unsigned char c;
  assert_int_equal(pread(fd, &c, 1, st.st_size - 1), 1);
  c ^= 0x10;
  assert_int_equal(pwrite(fd, &c, 1, st.st_size - 1), 1);
  close(fd);
  kept_is(0, false, &ref);
  kept_is(0, true, &ref);
  /* cut short by one instruction, then to the header alone */
  assert_int_equal(truncate(path, st.st_size - (off_t)sizeof(*ref.insns)), 0);
  kept_is(0, false, &ref);
  assert_int_equal(truncate(path, st.st_size - (off_t)(ref.len * sizeof(*ref.insns))), 0);
  kept_is(0, false, &ref);
  kept_is(0, true, &ref);
  /* writable by others: not used, written again (not so) */
  assert_int_equal(chmod(path, 0666), 0);
  kept_is(0, false, &ref);
  assert_int_equal(stat(path, &st), 0);
  assert_int_equal(st.st_mode & 022, 0);
  kept_is(0, true, &ref);
  /* another LD_LIBRARY_PATH: compiled again, then kept for it */
  assert_int_equal(setenv("LD_LIBRARY_PATH", "/nonexistent/wharf-test", 1), 0);
  kept_is(0, false, &ref);
  kept_is(0, true, &ref);
  assert_int_equal(unsetenv("LD_LIBRARY_PATH"), 0);
  kept_is(0, false, &ref);
  /* a symlink in its place is not followed, and replaced by a file */
  assert_int_equal(unlink(path), 0);
  assert_int_equal(symlink(other, path), 0);
  kept_is(0, false, &ref);
  assert_int_equal(lstat(path, &st), 0);
  assert_true(S_ISREG(st.st_mode));
  kept_is(CLI_SECCOMP_SYS_ADMIN, true, &admin); /* the symlink's target was not written */
  /* no directory, or none given: compiled each time */
  cli_seccomp_prog_release(&admin);
  assert_int_equal(cli_seccomp_compile_kept("/nonexistent/wharf-test", 0, &admin, &from_file, &err), WH_OK);
  assert_false(from_file);
  assert_same(&admin, &ref);
  cli_seccomp_prog_release(&admin);
  from_file = true;
  assert_int_equal(cli_seccomp_compile_kept(NULL, 0, &admin, &from_file, &err), WH_OK);
  assert_false(from_file);
  assert_same(&admin, &ref);
  cli_seccomp_prog_release(&admin);
  cli_seccomp_prog_release(&ref);
}

/* ---- ordinary calls ------------------------------------------------------------ */

static void child_ordinary(void *p)
{
  char path[] = "/tmp/test_seccomp.XXXXXX";
  char buf[8] = {0};
  int fd, st = -1;
  pid_t pid;

  (void)p;
  apply(0);
  fd = mkstemp(path);
  CHILD_CHECK(fd >= 0);
  CHILD_CHECK(write(fd, "hello", 5) == 5);
  CHILD_CHECK(close(fd) == 0);
  fd = open(path, O_RDONLY | O_CLOEXEC);
  CHILD_CHECK(fd >= 0 && read(fd, buf, sizeof(buf)) == 5 && memcmp(buf, "hello", 5) == 0);
  close(fd);
  CHILD_CHECK(unlink(path) == 0);
  /* fork (glibc: clone3 -> ENOSYS -> clone) and a plain clone */
  pid = fork();
  CHILD_CHECK(pid >= 0);
  if (pid == 0)
    _exit(7);
  CHILD_CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 7);
  /* execve of /bin/true: the filter is inherited, true still runs */
  pid = fork();
  CHILD_CHECK(pid >= 0);
  if (pid == 0) {
    char *argv[] = {"true", NULL}, *envp[] = {NULL};
    execve("/bin/true", argv, envp);
    _exit(99);
  }
  CHILD_CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0);
  CHILD_CHECK(unshare(0) == 0);
  CHILD_CHECK(getpid() > 0 && getppid() > 0);
  /* ptrace is allowed, as in Docker on kernels >= 4.8 */
  pid = fork();
  CHILD_CHECK(pid >= 0);
  if (pid == 0)
    _exit(ptrace(PTRACE_TRACEME, 0, NULL, NULL) == 0 ? 0 : 9);
  CHILD_CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static void test_ordinary(void **state)
{
  (void)state;
  for (how = 0; how < N_HOW; how++)
    assert_int_equal(run_child(child_ordinary, NULL), 0);
}

/* ---- foreign ABIs ------------------------------------------------------------------ */

#if defined(__x86_64__)
static void child_x32(void *p)
{
  (void)p;
  apply(0);
  /* getpid through the x32 ABI: not the filter's architecture */
  syscall(0x40000000L | SYS_getpid);
  _exit(1); /* not reached */
}

static void child_i386(void *p)
{
  long ret = 20; /* __NR_getpid of i386 */

  (void)p;
  apply(0);
  __asm__ volatile("int $0x80" : "+a"(ret) : : "memory");
  _exit(1); /* not reached */
}

static void test_foreign_abi_killed(void **state)
{
  (void)state;
  for (how = 0; how < N_HOW; how++) {
    assert_int_equal(run_child(child_x32, NULL), 1000 + SIGSYS);
    assert_int_equal(run_child(child_i386, NULL), 1000 + SIGSYS);
  }
}
#else
static void test_foreign_abi_killed(void **state)
{
  (void)state;
  skip();
}
#endif

/* ---- relaxations ---------------------------------------------------------------------- */

static void child_relaxed(void *p)
{
  struct clone_args ca;

  (void)p;
  apply(cli_seccomp_flags_for_caps(UINT64_C(1) << 21 /* CAP_SYS_ADMIN */));
  /* clone3 reaches the kernel: a bad size is EINVAL now, not ENOSYS */
  memset(&ca, 0, sizeof(ca));
  CHILD_CHECK(FAILS_WITH(syscall(SYS_clone3, &ca, 1), EINVAL));
  /* mount reaches the kernel: a missing target is ENOENT */
  CHILD_CHECK(FAILS_WITH(mount("none", "/nonexistent/wharf-test", "tmpfs", 0, NULL), ENOENT));
  CHILD_CHECK(FAILS_WITH(setns(-1, 0), EBADF));
  /* still refused: keyrings, kexec */
  CHILD_CHECK(FAILS_WITH(syscall(SYS_keyctl, 0, -3, 0), EPERM));
  CHILD_CHECK(FAILS_WITH(syscall(SYS_kexec_load, 0, 0, NULL, 0), EPERM));
  CHILD_CHECK(FAILS_WITH(personality(ADDR_NO_RANDOMIZE), EPERM));
}

static void test_relaxed_sys_admin(void **state)
{
  (void)state;
  if (geteuid() != 0) {
    print_message("# not root: mount would fail with EPERM anyway: skipped\n");
    skip();
  }
  for (how = 0; how < N_HOW; how++)
    assert_int_equal(run_child(child_relaxed, NULL), 0);
}

static void test_flags_for_caps(void **state)
{
  uint64_t docker_default = 0x00000000a80425fbULL; /* Docker's 14 default capabilities */

  (void)state;
  assert_int_equal(cli_seccomp_flags_for_caps(0), 0);
  assert_int_equal(cli_seccomp_flags_for_caps(docker_default), 0);
  assert_int_equal(cli_seccomp_flags_for_caps(UINT64_C(1) << 21),
                   CLI_SECCOMP_SYS_ADMIN | CLI_SECCOMP_BPF | CLI_SECCOMP_PERFMON);
  assert_int_equal(cli_seccomp_flags_for_caps(UINT64_C(1) << 19), CLI_SECCOMP_SYS_PTRACE);
  assert_int_equal(cli_seccomp_flags_for_caps(UINT64_C(1) << 39), CLI_SECCOMP_BPF);
  /* every relaxation removes rules, none adds any */
  int base = cli_seccomp_rule_count(0);
  assert_true(base > 100);
  assert_true(cli_seccomp_rule_count(CLI_SECCOMP_SYS_ADMIN) < base);
  assert_true(cli_seccomp_rule_count(CLI_SECCOMP_SYS_PTRACE) < base);
  assert_true(cli_seccomp_rule_count(~0u) < cli_seccomp_rule_count(CLI_SECCOMP_SYS_ADMIN));
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_flags_for_caps), cmocka_unit_test(test_refused),
      cmocka_unit_test(test_ordinary),       cmocka_unit_test(test_foreign_abi_killed),
      cmocka_unit_test(test_compiled),       cmocka_unit_test(test_relaxed_sys_admin),
      cmocka_unit_test(test_kept),
  };
  int failed;

  if (mkdtemp(kept_dir) == NULL) {
    perror("mkdtemp");
    return 1;
  }
  failed = cmocka_run_group_tests_name("seccomp", tests, NULL, NULL);
  DIR *d = opendir(kept_dir);
  for (struct dirent *e; d && (e = readdir(d)) != NULL;) {
    if (e->d_name[0] != '.' ||
        strncmp(e->d_name, CLI_SECCOMP_KEPT_PREFIX, strlen(CLI_SECCOMP_KEPT_PREFIX)) == 0)
      unlinkat(dirfd(d), e->d_name, 0);
  }
  if (d)
    closedir(d);
  if (rmdir(kept_dir) < 0) {
    perror(kept_dir);
    failed++;
  }
  return failed;
}
