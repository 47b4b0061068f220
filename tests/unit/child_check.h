/* tests/unit/child_check.h - checks made in a forked child (test_caps,
 * test_seccomp): run_child() runs fn(arg) in a child and returns its exit
 * status (1000 + the signal when one killed it); CHILD_CHECK(cond) ends
 * the child at the first failed check with 50 + its line number modulo
 * 200 (never 0), printed with errno, so the parent's assertion names it.
 * Include after <cmocka.h>. */
#ifndef WH_TESTS_CHILD_CHECK_H
#define WH_TESTS_CHILD_CHECK_H

#include <errno.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#define CHILD_CHECK(cond)                                                                                    \
  do {                                                                                                       \
    if (!(cond)) {                                                                                           \
      fprintf(stderr, "# child: check failed at line %d: %s (errno %d)\n", __LINE__, #cond, errno);          \
      _exit(50 + __LINE__ % 200);                                                                            \
    }                                                                                                        \
  } while (0)

static inline int run_child(void (*fn)(void *), void *arg)
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

#endif
