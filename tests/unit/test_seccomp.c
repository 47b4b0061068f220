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
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "client/seccomp.h"

#define CHILD_CHECK(cond)                                                                                    \
  do {                                                                                                       \
    if (!(cond)) {                                                                                           \
      fprintf(stderr, "# child: check failed at line %d: %s (errno %d)\n", __LINE__, #cond, errno);          \
      _exit(50 + __LINE__ % 200);                                                                            \
    }                                                                                                        \
  } while (0)
/* the call fails with exactly this errno */
#define FAILS_WITH(call, e) (errno = 0, (call) == -1 && errno == (e))

static int run_child(void (*fn)(void *), void *arg)
{
  int st = 0;
  pid_t pid = fork();

  assert_true(pid >= 0);
  if (pid == 0) {
    fn(arg);
    _exit(0);
  }
  assert_int_equal(waitpid(pid, &st, 0), pid);
  if (!WIFEXITED(st))
    return 1000 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
  return WEXITSTATUS(st);
}

/* Whether the children load the filter compiled (cli_seccomp_compile +
 * cli_seccomp_load, as `wharf run` does) or built by libseccomp at once
 * (cli_seccomp_apply_default): every case runs both ways. */
static bool compiled;

static void apply(unsigned flags)
{
  struct wh_err err = {0};
  struct cli_seccomp_prog prog;

  if (compiled && cli_seccomp_compile(flags, &prog, &err) != WH_OK) {
    fprintf(stderr, "# child: %s\n", err.msg);
    _exit(3);
  }
  CHILD_CHECK(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0);
  if ((compiled ? cli_seccomp_load(&prog, &err) : cli_seccomp_apply_default(flags, &err)) != WH_OK) {
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
  compiled = false;
  assert_int_equal(run_child(child_refused, NULL), 0);
  compiled = true;
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
  compiled = false;
  assert_int_equal(run_child(child_ordinary, NULL), 0);
  compiled = true;
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
  for (int i = 0; i < 2; i++) {
    compiled = i == 1;
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
  };
  return cmocka_run_group_tests_name("seccomp", tests, NULL, NULL);
}
