/* tests/unit/test_cgroup.c - unit tests of client/cgroup.h on the machine
 * the tests run on (cgroup v1, v2 or hybrid; root needed for the limits,
 * which are skipped when a controller is missing):
 *   - a fork bomb in a 20-pid cgroup gets exactly 19 forks (itself + 19);
 *   - a child touching 200 MiB under a 64 MiB limit is OOM-killed and
 *     cli_cgroup_oom_killed() says so;
 *   - the cpu quota lands in cpu.max / cpu.cfs_quota_us;
 *   - destroy kills what is left and removes the directories; open finds
 *     the directories of a name again (crash recovery);
 *   - as an unprivileged user, every limit is a warning, never a failure;
 *   - bad names and limits are refused.
 * The test process is a child subreaper, so the fork bomb's orphans come
 * back to it and can be counted as killed by destroy.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "client/cgroup.h"

static int name_seq;

static void name_of(char *b, size_t n, const char *what)
{
  snprintf(b, n, "wharf-unit-%ld-%s-%d", (long)getpid(), what, ++name_seq);
}

static bool exists(const char *p)
{
  struct stat st;

  return stat(p, &st) == 0;
}

/* reads dir/file into b (trimmed); "" when unreadable */
static void read_file(const char *dir, const char *file, char *b, size_t n)
{
  char p[1200];
  ssize_t r = -1;
  int fd;

  snprintf(p, sizeof(p), "%s/%s", dir, file);
  b[0] = '\0';
  if ((fd = open(p, O_RDONLY | O_CLOEXEC)) < 0)
    return;
  r = read(fd, b, n - 1);
  close(fd);
  b[r > 0 ? r : 0] = '\0';
  while (r > 0 && (b[r - 1] == '\n' || b[r - 1] == ' '))
    b[--r] = '\0';
}

/* The directory of cg that has `file`, or NULL. */
static const char *dir_with(struct cli_cgroup *cg, const char *file)
{
  char p[1200];
  const char *d;

  for (size_t i = 0; (d = cli_cgroup_path(cg, i)) != NULL; i++) {
    snprintf(p, sizeof(p), "%s/%s", d, file);
    if (exists(p))
      return d;
  }
  return NULL;
}

/* Creates the cgroup, or skips the test with the reason when the limit
 * the test needs did not take (not root, no controller). */
static struct cli_cgroup *create_or_skip(const char *name, const struct cli_limits *l)
{
  struct cli_cgroup *cg = NULL;
  struct wh_err err = {0};
  char warn[2048];

  assert_int_equal(cli_cgroup_create(name, l, &cg, warn, sizeof(warn), &err), WH_OK);
  assert_non_null(cg);
  if (warn[0] != '\0') {
    print_message("# %s", warn);
    cli_cgroup_destroy(cg);
    return NULL;
  }
  assert_non_null(cli_cgroup_path(cg, 0));
  return cg;
}

#define NEED_ROOT()                                                                                          \
  do {                                                                                                       \
    if (geteuid() != 0) {                                                                                    \
      print_message("# not root: skipped\n");                                                                \
      skip();                                                                                                \
    }                                                                                                        \
  } while (0)

/* Forks a child that waits until it was moved into cg, then runs fn. */
static pid_t spawn_in(struct cli_cgroup *cg, void (*fn)(void))
{
  struct wh_err err = {0};
  int p[2];
  char c;
  pid_t pid;

  assert_int_equal(pipe2(p, O_CLOEXEC), 0);
  pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    close(p[1]);
    if (read(p[0], &c, 1) != 1)
      _exit(120);
    close(p[0]);
    fn();
    _exit(0);
  }
  close(p[0]);
  assert_int_equal(cli_cgroup_enter(cg, pid, &err), WH_OK);
  assert_int_equal(write(p[1], "x", 1), 1);
  close(p[1]);
  return pid;
}

/* ---- argument checks --------------------------------------------------------------- */

static void test_bad_args(void **state)
{
  struct cli_limits l = {0};
  struct cli_cgroup *cg = (struct cli_cgroup *)&l;
  struct wh_err err = {0};
  char long_name[CLI_CGROUP_NAME_MAX + 2];

  (void)state;
  memset(long_name, 'a', sizeof(long_name) - 1);
  long_name[sizeof(long_name) - 1] = '\0';
  assert_int_equal(cli_cgroup_create("", &l, &cg, NULL, 0, &err), WH_EINVALID);
  assert_int_equal(cli_cgroup_create("..", &l, &cg, NULL, 0, &err), WH_EINVALID);
  assert_int_equal(cli_cgroup_create("a/b", &l, &cg, NULL, 0, &err), WH_EINVALID);
  assert_int_equal(cli_cgroup_create("a b", &l, &cg, NULL, 0, &err), WH_EINVALID);
  assert_int_equal(cli_cgroup_create(long_name, &l, &cg, NULL, 0, &err), WH_EINVALID);
  assert_int_equal(cli_cgroup_open("../x", &cg, &err), WH_EINVALID);
  l.memory_bytes = -1;
  assert_int_equal(cli_cgroup_create("ok", &l, &cg, NULL, 0, &err), WH_EINVALID);
  l.memory_bytes = 0;
  l.pids_max = -5;
  assert_int_equal(cli_cgroup_create("ok", &l, &cg, NULL, 0, &err), WH_EINVALID);
  l.pids_max = 0;
  l.cpu_quota_us = 1000;
  l.cpu_period_us = 10;
  assert_int_equal(cli_cgroup_create("ok", &l, &cg, NULL, 0, &err), WH_EINVALID);
  assert_ptr_equal(cg, (struct cli_cgroup *)&l); /* *out untouched on failure */
}

static void test_no_limits(void **state)
{
  struct cli_limits l = {0};
  struct cli_cgroup *cg = NULL;
  struct wh_err err = {0};
  char warn[256] = "junk";
  char name[96];

  (void)state;
  name_of(name, sizeof(name), "none");
  assert_int_equal(cli_cgroup_create(name, &l, &cg, warn, sizeof(warn), &err), WH_OK);
  assert_string_equal(warn, "");
  assert_null(cli_cgroup_path(cg, 0)); /* nothing created */
  assert_int_equal(cli_cgroup_enter(cg, getpid(), &err), WH_OK);
  assert_int_equal(cli_cgroup_oom_killed(cg), -1);
  cli_cgroup_destroy(cg);
  cli_cgroup_destroy(NULL);
}

/* ---- pids ------------------------------------------------------------------------------- */

static void fork_bomb(void)
{
  int n = 0;

  for (int i = 0; i < 1000; i++) {
    pid_t p = fork();
    if (p == 0) {
      for (;;)
        pause(); /* until destroy kills it */
    }
    if (p < 0)
      _exit(errno == EAGAIN ? n : 122);
    n++;
  }
  _exit(123);
}

static void test_pids_limit(void **state)
{
  struct cli_limits l = {.pids_max = 20};
  struct cli_cgroup *cg;
  char name[96], v[64], paths[4][1100];
  int st = 0, reaped = 0, killed = 0;
  size_t np = 0;
  pid_t pid, w;

  (void)state;
  NEED_ROOT();
  name_of(name, sizeof(name), "pids");
  if ((cg = create_or_skip(name, &l)) == NULL)
    skip();
  for (const char *d; np < 4 && (d = cli_cgroup_path(cg, np)) != NULL; np++)
    snprintf(paths[np], sizeof(paths[np]), "%s", d);
  assert_non_null(dir_with(cg, "pids.max"));
  read_file(dir_with(cg, "pids.max"), "pids.max", v, sizeof(v));
  assert_string_equal(v, "20");
  assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), 0);
  pid = spawn_in(cg, fork_bomb);
  assert_int_equal(waitpid(pid, &st, 0), pid);
  assert_true(WIFEXITED(st));
  assert_int_equal(WEXITSTATUS(st), 19); /* itself + 19 = the limit */
  cli_cgroup_destroy(cg);                /* kills the 19 blocked children */
  while ((w = waitpid(-1, &st, 0)) > 0) {
    reaped++;
    killed += WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL;
  }
  prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0);
  assert_int_equal(reaped, 19);
  assert_int_equal(killed, 19);
  for (size_t i = 0; i < np; i++)
    assert_false(exists(paths[i]));
}

/* ---- memory --------------------------------------------------------------------------- */

static void hog(void)
{
  size_t n = 200u << 20;
  char *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

  if (p == MAP_FAILED)
    _exit(124);
  for (size_t i = 0; i < n; i += 4096)
    p[i] = 1;
  _exit(0); /* the limit did not hold */
}

static void test_memory_oom(void **state)
{
  struct cli_limits l = {.memory_bytes = 64 << 20};
  struct cli_cgroup *cg;
  char name[96], v[64];
  const char *d;
  int st = 0;
  pid_t pid;

  (void)state;
  NEED_ROOT();
  name_of(name, sizeof(name), "mem");
  if ((cg = create_or_skip(name, &l)) == NULL)
    skip();
  if ((d = dir_with(cg, "memory.max")) != NULL)
    read_file(d, "memory.max", v, sizeof(v));
  else if ((d = dir_with(cg, "memory.limit_in_bytes")) != NULL)
    read_file(d, "memory.limit_in_bytes", v, sizeof(v));
  assert_non_null(d);
  assert_string_equal(v, "67108864");
  assert_int_equal(cli_cgroup_oom_killed(cg), 0);
  pid = spawn_in(cg, hog);
  assert_int_equal(waitpid(pid, &st, 0), pid);
  if (!WIFSIGNALED(st))
    print_message("# the hog exited with %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
  assert_true(WIFSIGNALED(st));
  assert_int_equal(WTERMSIG(st), SIGKILL);
  assert_int_equal(cli_cgroup_oom_killed(cg), 1);
  cli_cgroup_destroy(cg);
  assert_false(exists(d));
}

/* ---- cpu ------------------------------------------------------------------------------- */

static void test_cpu_quota(void **state)
{
  struct cli_limits l = {.cpu_quota_us = 150000, .cpu_period_us = 100000};
  struct cli_cgroup *cg;
  char name[96], v[64];
  const char *d;

  (void)state;
  NEED_ROOT();
  name_of(name, sizeof(name), "cpu");
  if ((cg = create_or_skip(name, &l)) == NULL)
    skip();
  if ((d = dir_with(cg, "cpu.max")) != NULL) {
    read_file(d, "cpu.max", v, sizeof(v));
    assert_string_equal(v, "150000 100000");
  } else {
    assert_non_null(d = dir_with(cg, "cpu.cfs_quota_us"));
    read_file(d, "cpu.cfs_quota_us", v, sizeof(v));
    assert_string_equal(v, "150000");
    read_file(d, "cpu.cfs_period_us", v, sizeof(v));
    assert_string_equal(v, "100000");
  }
  assert_int_equal(cli_cgroup_oom_killed(cg), -1); /* no memory cgroup */
  cli_cgroup_destroy(cg);
  assert_false(exists(d));
}

/* ---- crash recovery: open a name again --------------------------------------------------- */

static void sleeper(void)
{
  pause();
}

static void test_open_after_crash(void **state)
{
  struct cli_limits l = {.pids_max = 50, .memory_bytes = 256 << 20};
  struct cli_cgroup *cg, *again = NULL;
  struct wh_err err = {0};
  char name[96], first[1100];
  int st = 0;
  pid_t pid;

  (void)state;
  NEED_ROOT();
  name_of(name, sizeof(name), "stale");
  if ((cg = create_or_skip(name, &l)) == NULL)
    skip();
  snprintf(first, sizeof(first), "%s", cli_cgroup_path(cg, 0));
  bool found = false;

  pid = spawn_in(cg, sleeper);
  /* wharf "crashed": a new process finds the directories by name */
  assert_int_equal(cli_cgroup_open(name, &again, &err), WH_OK);
  for (size_t i = 0; cli_cgroup_path(again, i); i++)
    found |= strcmp(cli_cgroup_path(again, i), first) == 0;
  assert_true(found);
  cli_cgroup_destroy(again); /* kills the sleeper, removes the directories */
  assert_int_equal(waitpid(pid, &st, 0), pid);
  assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
  assert_false(exists(first));
  cli_cgroup_destroy(cg); /* gone already: only frees */
}

/* ---- unprivileged: warnings, never a failure ------------------------------------------ */

static void test_unprivileged_warns(void **state)
{
  char name[96];
  int st = 0;
  pid_t pid;

  (void)state;
  name_of(name, sizeof(name), "unpriv");
  pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    struct cli_limits l = {.memory_bytes = 64 << 20, .pids_max = 10, .cpu_quota_us = 50000};
    struct cli_cgroup *cg = NULL;
    struct wh_err err = {0};
    char warn[4096];
    if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0))
      _exit(2);
    if (cli_cgroup_create(name, &l, &cg, warn, sizeof(warn), &err) != WH_OK)
      _exit(3);
    /* one line per limit, each saying it was not applied (or the whole
     * tree unwritable: a delegated subtree would make some work) */
    if (cli_cgroup_path(cg, 0) == NULL &&
        (strstr(warn, "--memory not applied") == NULL || strstr(warn, "--pids-limit not applied") == NULL ||
         strstr(warn, "--cpus not applied") == NULL))
      _exit(4);
    if (cli_cgroup_enter(cg, getpid(), &err) != WH_OK && cli_cgroup_path(cg, 0) == NULL)
      _exit(5);
    cli_cgroup_destroy(cg);
    _exit(0);
  }
  assert_int_equal(waitpid(pid, &st, 0), pid);
  assert_true(WIFEXITED(st));
  assert_int_equal(WEXITSTATUS(st), 0);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_bad_args),           cmocka_unit_test(test_no_limits),
      cmocka_unit_test(test_pids_limit),         cmocka_unit_test(test_memory_oom),
      cmocka_unit_test(test_cpu_quota),          cmocka_unit_test(test_open_after_crash),
      cmocka_unit_test(test_unprivileged_warns),
  };
  return cmocka_run_group_tests_name("cgroup", tests, NULL, NULL);
}
