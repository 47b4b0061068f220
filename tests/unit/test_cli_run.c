/* tests/unit/test_cli_run.c - unit tests for the parsers of `wharf run`'s
 * untrusted or user-given strings: published ports (client/slirp.c) and
 * container names and their state records (client/container.c).
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "client/container.h"
#include "client/run.h"
#include "common/cleanup.h"

static void test_ports(void **state)
{
  static const struct {
    const char *in;
    enum wh_code want;
    const char *ip;
    unsigned hp, cp;
    bool udp;
  } cases[] = {
      {"8080:80", WH_OK, "0.0.0.0", 8080, 80, false},
      {"127.0.0.1:8080:80", WH_OK, "127.0.0.1", 8080, 80, false},
      {"53:53/udp", WH_OK, "0.0.0.0", 53, 53, true},
      {"1:65535/tcp", WH_OK, "0.0.0.0", 1, 65535, false},
      {"80", WH_EINVALID, NULL, 0, 0, false},
      {"0:80", WH_EINVALID, NULL, 0, 0, false},
      {"80:65536", WH_EINVALID, NULL, 0, 0, false},
      {"80:80/sctp", WH_EINVALID, NULL, 0, 0, false},
      {"a:80", WH_EINVALID, NULL, 0, 0, false},
      {"80:-1", WH_EINVALID, NULL, 0, 0, false},
      {"::1:80:80", WH_EINVALID, NULL, 0, 0, false},
      {"host.example:80:80", WH_EINVALID, NULL, 0, 0, false},
      {"80:80:80:80", WH_EINVALID, NULL, 0, 0, false},
      {"", WH_EINVALID, NULL, 0, 0, false},
      {"8080:", WH_EINVALID, NULL, 0, 0, false},
  };
  (void)state;
  for (size_t i = 0; i < WH_ARRAY_LEN(cases); i++) {
    struct cli_port p;
    struct wh_err err = {0};
    enum wh_code rc = cli_port_parse(cases[i].in, &p, &err);
    if (rc != cases[i].want)
      fail_msg("\"%s\": got %d want %d (%s)", cases[i].in, rc, cases[i].want, err.msg);
    if (rc != WH_OK)
      continue;
    assert_string_equal(p.host_ip, cases[i].ip);
    assert_int_equal(p.host_port, cases[i].hp);
    assert_int_equal(p.ctr_port, cases[i].cp);
    assert_int_equal(p.udp, cases[i].udp);
  }
  char big[300];
  memset(big, '1', sizeof(big) - 1);
  big[sizeof(big) - 1] = '\0';
  struct cli_port p;
  assert_int_equal(cli_port_parse(big, &p, NULL), WH_EINVALID);
}

static void test_names(void **state)
{
  char long_ok[129], too_long[130];
  (void)state;
  assert_true(cli_container_name_valid("web"));
  assert_true(cli_container_name_valid("Web_1.a-b"));
  assert_true(cli_container_name_valid("0"));
  assert_false(cli_container_name_valid(""));
  assert_false(cli_container_name_valid("-web"));
  assert_false(cli_container_name_valid(".web"));
  assert_false(cli_container_name_valid("a/b"));
  assert_false(cli_container_name_valid(".."));
  assert_false(cli_container_name_valid("a b"));
  assert_false(cli_container_name_valid("a\nb"));
  memset(long_ok, 'a', 128), long_ok[128] = '\0';
  memset(too_long, 'a', 129), too_long[129] = '\0';
  assert_true(cli_container_name_valid(long_ok));
  assert_false(cli_container_name_valid(too_long));
}

/* create, find by name and prefix, state round trip, name conflict, remove */
static void test_container_dir(void **state)
{
  char root[] = "/tmp/wharf-test-cli-run.XXXXXX", id[65], found[65], *dir = NULL, *dir2 = NULL;
  struct wh_err err = {0};
  struct cli_container c;
  (void)state;
  assert_non_null(mkdtemp(root));
  assert_int_equal(cli_container_create(root, "web", id, &dir, &err), WH_OK);
  assert_int_equal(strlen(id), 64);
  assert_int_equal(cli_container_create(root, "web", found, &dir2, &err), WH_ECONFLICT);
  assert_int_equal(cli_container_find(root, "web", found, &err), WH_OK);
  assert_string_equal(found, id);
  char prefix[8];
  snprintf(prefix, sizeof(prefix), "%.6s", id);
  assert_int_equal(cli_container_find(root, prefix, found, &err), WH_OK);
  assert_string_equal(found, id);
  assert_int_equal(cli_container_find(root, "nope", found, &err), WH_ENOTFOUND);
  assert_int_equal(cli_container_find(root, "../..", found, &err), WH_ENOTFOUND);
  json_t *cfg = json_pack("{s:s, s:s}", "id", id, "name", "web");
  assert_int_equal(cli_container_write_config(dir, cfg, &err), WH_OK);
  json_decref(cfg);
  struct cli_container_state st = {.pid = getpid(), .pid_start = cli_pid_start_time(getpid()), .started = 5};
  snprintf(st.status, sizeof(st.status), "running");
  assert_int_equal(cli_container_write_state(dir, &st, &err), WH_OK);
  assert_int_equal(cli_container_read(root, id, &c, &err), WH_OK);
  assert_string_equal(c.name, "web");
  assert_string_equal(c.state.status, "running");
  assert_true(cli_container_alive(&c));
  cli_container_release(&c);
  /* a reused pid (same pid, other start time) is not alive */
  st.pid_start += 1;
  assert_int_equal(cli_container_write_state(dir, &st, &err), WH_OK);
  assert_int_equal(cli_container_read(root, id, &c, &err), WH_OK);
  assert_false(cli_container_alive(&c));
  assert_string_equal(c.state.status, "exited");
  cli_container_release(&c);
  assert_int_equal(cli_container_remove(root, id, false, &err), WH_OK);
  assert_int_equal(cli_container_find(root, "web", found, &err), WH_ENOTFOUND);
  free(dir);
  /* unnamed: no name link, found by its default name (the id's first 12
   * digits); trashed out of sight, then removed */
  assert_int_equal(cli_container_create(root, NULL, id, &dir, &err), WH_OK);
  char shortid[16], names[PATH_MAX];
  snprintf(shortid, sizeof(shortid), "%.12s", id);
  snprintf(names, sizeof(names), "%s/containers/names/%s", root, shortid);
  assert_int_equal(access(names, F_OK), -1);
  assert_int_equal(cli_container_find(root, shortid, found, &err), WH_OK);
  assert_string_equal(found, id);
  assert_int_equal(cli_container_trash(root, id, NULL, &err), WH_OK);
  assert_int_equal(cli_container_find(root, shortid, found, &err), WH_ENOTFOUND);
  assert_int_equal(cli_container_trash_remove(root, id, &err), WH_OK);
  snprintf(names, sizeof(names), "%s/containers/.trash-%s", root, id);
  assert_int_equal(access(names, F_OK), -1);
  free(dir);
  /* named: trash drops the name with the directory */
  assert_int_equal(cli_container_create(root, "api", id, &dir, &err), WH_OK);
  assert_int_equal(cli_container_trash(root, id, "api", &err), WH_OK);
  assert_int_equal(cli_container_find(root, "api", found, &err), WH_ENOTFOUND);
  assert_int_equal(cli_container_create(root, "api", found, &dir2, &err), WH_OK);
  free(dir2);
  assert_int_equal(cli_container_trash_remove(root, id, &err), WH_OK);
  free(dir);
  char cmd[128];
  snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
  assert_int_equal(system(cmd), 0);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_ports),
      cmocka_unit_test(test_names),
      cmocka_unit_test(test_container_dir),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
