/* tests/unit/test_caps.c - unit tests of client/caps.h: names, Docker's
 * default set, and cli_caps_apply() in a forked child (as root; skipped
 * otherwise): the bounding and effective sets read back from
 * /proc/self/status, chown refused once CAP_CHOWN is gone, and a non-root
 * user left with no capability at all.
 *
 * A child reports the first check that failed as its exit status (its line
 * number modulo 200 + 50, never 0), so the parent's assertion names it.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <linux/capability.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "client/caps.h"
#include "tests/unit/child_check.h"

#define BIT(c) (UINT64_C(1) << (c))

/* "CapEff:\t000001fffeffffff" of /proc/self/status -> bits; UINT64_MAX when absent */
static uint64_t status_caps(const char *field)
{
  FILE *f = fopen("/proc/self/status", "re");
  char line[256];
  uint64_t v = UINT64_MAX;
  size_t n = strlen(field);

  if (f == NULL)
    return v;
  while (fgets(line, sizeof(line), f)) {
    if (strncmp(line, field, n) == 0 && line[n] == ':') {
      v = strtoull(line + n + 1, NULL, 16);
      break;
    }
  }
  fclose(f);
  return v;
}

/* ---- names and sets -------------------------------------------------------- */

static void test_parse(void **state)
{
  int c = -5;

  (void)state;
  assert_int_equal(cli_caps_parse("NET_RAW", &c), WH_OK);
  assert_int_equal(c, CAP_NET_RAW);
  c = -5;
  assert_int_equal(cli_caps_parse("CAP_NET_RAW", &c), WH_OK);
  assert_int_equal(c, CAP_NET_RAW);
  assert_int_equal(cli_caps_parse("cap_sys_admin", &c), WH_OK);
  assert_int_equal(c, CAP_SYS_ADMIN);
  assert_int_equal(cli_caps_parse("chown", &c), WH_OK);
  assert_int_equal(c, CAP_CHOWN);
  assert_int_equal(cli_caps_parse("CHECKPOINT_RESTORE", &c), WH_OK);
  assert_int_equal(c, 40);
  assert_int_equal(cli_caps_parse("ALL", &c), WH_OK);
  assert_int_equal(c, CLI_CAP_ALL);
  c = 7;
  assert_int_equal(cli_caps_parse("NET_RAWX", &c), WH_EINVALID);
  assert_int_equal(cli_caps_parse("CAP_", &c), WH_EINVALID);
  assert_int_equal(cli_caps_parse("", &c), WH_EINVALID);
  assert_int_equal(cli_caps_parse("CAP_CAP_CHOWN", &c), WH_EINVALID);
  assert_int_equal(cli_caps_parse(NULL, &c), WH_EINVALID);
  assert_int_equal(c, 7); /* untouched on failure */
  for (int i = 0; i <= 40; i++) {
    const char *n = cli_caps_name(i);
    assert_non_null(n);
    assert_int_equal(cli_caps_parse(n, &c), WH_OK);
    assert_int_equal(c, i);
  }
  assert_null(cli_caps_name(41));
  assert_null(cli_caps_name(-1));
  assert_string_equal(cli_caps_name(CAP_AUDIT_WRITE), "CAP_AUDIT_WRITE");
}

static void test_default_set(void **state)
{
  struct cli_capset s, all;
  static const int want[] = {CAP_CHOWN,   CAP_DAC_OVERRIDE, CAP_FSETID,           CAP_FOWNER,
                             CAP_MKNOD,   CAP_NET_RAW,      CAP_SETGID,           CAP_SETUID,
                             CAP_SETFCAP, CAP_SETPCAP,      CAP_NET_BIND_SERVICE, CAP_SYS_CHROOT,
                             CAP_KILL,    CAP_AUDIT_WRITE};
  uint64_t bits = 0;

  (void)state;
  cli_caps_default(&s);
  for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
    assert_true(cli_caps_has(&s, want[i]));
    bits |= BIT(want[i]);
  }
  assert_int_equal(s.bits, bits); /* nothing else */
  assert_false(cli_caps_has(&s, CAP_SYS_ADMIN));
  assert_false(cli_caps_has(&s, CAP_NET_ADMIN));
  cli_caps_drop(&s, CAP_NET_RAW);
  assert_false(cli_caps_has(&s, CAP_NET_RAW));
  cli_caps_add(&s, CAP_SYS_PTRACE);
  assert_true(cli_caps_has(&s, CAP_SYS_PTRACE));
  cli_caps_all(&all);
  assert_true(all.bits & BIT(CAP_CHOWN));
  assert_true(all.bits & BIT(CAP_SYS_ADMIN));
  assert_int_equal(all.bits & ~(BIT(CLI_CAP_MAX) | (BIT(CLI_CAP_MAX) - 1)), 0);
  cli_caps_add(&s, CLI_CAP_ALL);
  assert_int_equal(s.bits, all.bits);
  cli_caps_drop(&s, CLI_CAP_ALL);
  assert_int_equal(s.bits, 0);
  cli_caps_add(&s, 99); /* out of range: ignored */
  assert_int_equal(s.bits, 0);
  assert_false(cli_caps_has(&s, -1));
}

/* ---- applying (a forked child) ------------------------------------------------ */

struct apply_arg {
  char file[64];
  uint64_t keep;
  uint64_t permitted_before;
};

static void child_apply(void *p)
{
  struct apply_arg *a = p;
  struct cli_capset keep = {.bits = a->keep};
  struct wh_err err = {0};
  struct cli_capset all;

  cli_caps_all(&all);
  if (cli_caps_apply(&keep, &err) != WH_OK) {
    fprintf(stderr, "# child: %s\n", err.msg);
    _exit(3);
  }
  CHILD_CHECK(status_caps("CapBnd") == (a->keep & all.bits));
  CHILD_CHECK(status_caps("CapEff") == (a->keep & a->permitted_before));
  CHILD_CHECK(status_caps("CapPrm") == (a->keep & a->permitted_before));
  CHILD_CHECK(status_caps("CapInh") == 0);
  CHILD_CHECK(status_caps("CapAmb") == 0);
  CHILD_CHECK(prctl(PR_CAPBSET_READ, CAP_NET_RAW, 0, 0, 0) == 0);
  CHILD_CHECK(prctl(PR_CAPBSET_READ, CAP_SYS_ADMIN, 0, 0, 0) == 0);
  CHILD_CHECK(prctl(PR_CAPBSET_READ, CAP_KILL, 0, 0, 0) == 1);
  /* without CAP_CHOWN a file cannot be given away */
  errno = 0;
  CHILD_CHECK(chown(a->file, 1234, (gid_t)-1) == -1 && errno == EPERM);
  /* kept: CAP_FOWNER lets root chmod a file it does not own */
  CHILD_CHECK(chmod(a->file, 0640) == 0);
  /* applying again, a subset, still works (SETPCAP is kept) */
  keep.bits &= ~BIT(CAP_KILL);
  CHILD_CHECK(cli_caps_apply(&keep, &err) == WH_OK);
  CHILD_CHECK(prctl(PR_CAPBSET_READ, CAP_KILL, 0, 0, 0) == 0);
}

static void setup_file(struct apply_arg *a)
{
  int fd;

  snprintf(a->file, sizeof(a->file), "/tmp/test_caps.%ld", (long)getpid());
  fd = open(a->file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  assert_true(fd >= 0);
  close(fd);
  assert_int_equal(chown(a->file, 4321, 4321), 0); /* not root's: FOWNER needed */
  a->permitted_before = status_caps("CapPrm");
  assert_true(a->permitted_before != UINT64_MAX);
}

static void test_apply_drops(void **state)
{
  struct apply_arg a;
  struct cli_capset s;
  int st;

  (void)state;
  if (geteuid() != 0 || prctl(PR_CAPBSET_READ, CAP_SETPCAP, 0, 0, 0) != 1) {
    print_message("# not root with CAP_SETPCAP: skipped\n");
    skip();
  }
  setup_file(&a);
  cli_caps_default(&s);
  cli_caps_drop(&s, CAP_NET_RAW);
  cli_caps_drop(&s, CAP_CHOWN);
  a.keep = s.bits;
  st = run_child(child_apply, &a);
  unlink(a.file);
  assert_int_equal(st, 0);
}

static void child_nonroot(void *p)
{
  struct apply_arg *a = p;
  struct cli_capset keep = {.bits = a->keep};
  struct wh_err err = {0};

  CHILD_CHECK(cli_caps_apply(&keep, &err) == WH_OK);
  CHILD_CHECK(status_caps("CapEff") != 0);
  /* what the runtime does next: the container user, here 1000 */
  CHILD_CHECK(setgroups(0, NULL) == 0 && setgid(1000) == 0 && setuid(1000) == 0);
  CHILD_CHECK(status_caps("CapEff") == 0);
  CHILD_CHECK(status_caps("CapPrm") == 0);
  CHILD_CHECK(status_caps("CapAmb") == 0);
  CHILD_CHECK(status_caps("CapBnd") == a->keep);
  errno = 0;
  CHILD_CHECK(chown(a->file, 1000, (gid_t)-1) == -1 && errno == EPERM);
  CHILD_CHECK(setuid(0) == -1 && errno == EPERM);
}

static void test_apply_nonroot_user(void **state)
{
  struct apply_arg a;
  struct cli_capset s;
  int st;

  (void)state;
  if (geteuid() != 0 || prctl(PR_CAPBSET_READ, CAP_SETPCAP, 0, 0, 0) != 1) {
    print_message("# not root with CAP_SETPCAP: skipped\n");
    skip();
  }
  setup_file(&a);
  cli_caps_default(&s);
  a.keep = s.bits;
  st = run_child(child_nonroot, &a);
  unlink(a.file);
  assert_int_equal(st, 0);
}

static void child_no_setpcap(void *p)
{
  struct cli_capset keep = {.bits = BIT(CAP_KILL)};
  struct cli_capset less = {.bits = 0};
  struct wh_err err = {0};

  (void)p;
  CHILD_CHECK(cli_caps_apply(&keep, &err) == WH_OK);
  /* SETPCAP is gone: the bounding set can no longer shrink */
  CHILD_CHECK(cli_caps_apply(&less, &err) == WH_EDENIED);
  CHILD_CHECK(err.sys_errno == EPERM && strstr(err.msg, "bounding set") != NULL);
}

static void test_apply_needs_setpcap(void **state)
{
  (void)state;
  if (geteuid() != 0 || prctl(PR_CAPBSET_READ, CAP_SETPCAP, 0, 0, 0) != 1) {
    print_message("# not root with CAP_SETPCAP: skipped\n");
    skip();
  }
  assert_int_equal(run_child(child_no_setpcap, NULL), 0);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_parse),
      cmocka_unit_test(test_default_set),
      cmocka_unit_test(test_apply_drops),
      cmocka_unit_test(test_apply_nonroot_user),
      cmocka_unit_test(test_apply_needs_setpcap),
  };
  return cmocka_run_group_tests_name("caps", tests, NULL, NULL);
}
