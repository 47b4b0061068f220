/* tests/unit/test_cli_config.c - unit tests for client/auth.c: base64,
 * "auths" keys, reading docker's config.json, writing wharf's (mode 0600,
 * atomic, other keys kept) and removing entries.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "client/auth.h"
#include "common/cleanup.h"

static char dir[256];

static int setup(void **state)
{
  (void)state;
  snprintf(dir, sizeof(dir), "%s/wharf-cfg.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
  return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
  char cmd[512];

  (void)state;
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
  return system(cmd) == 0 ? 0 : -1;
}

static void path_of(char *out, size_t size, const char *name)
{
  snprintf(out, size, "%s/%s", dir, name);
}

static void write_file(const char *path, const char *text)
{
  FILE *f = fopen(path, "w");

  assert_non_null(f);
  fputs(text, f);
  fclose(f);
}

static json_t *load(const char *path)
{
  json_t *j = json_load_file(path, 0, NULL);

  assert_non_null(j);
  return j;
}

static void test_base64(void **state)
{
  static const char *const plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar", "alice:s3:cret"};
  static const char *const bad[] = {"Zm9", "Zm9v=", "Zm=v", "Z===", "Zm9v\n", "Zm9v!A==", "===="};

  (void)state;
  for (size_t i = 0; i < WH_ARRAY_LEN(plain); i++) {
    WH_AUTOFREE char *e = cli_base64_encode(plain[i], strlen(plain[i]));
    struct wh_buf b;
    assert_non_null(e);
    wh_buf_init(&b, 1024);
    assert_int_equal(cli_base64_decode(e, strlen(e), &b, NULL), WH_OK);
    assert_int_equal(b.len, strlen(plain[i]));
    assert_memory_equal(b.len ? b.data : "", plain[i], b.len);
    wh_buf_release(&b);
  }
  {
    WH_AUTOFREE char *e = cli_base64_encode("foobar", 6);
    assert_string_equal(e, "Zm9vYmFy");
  }
  for (size_t i = 0; i < WH_ARRAY_LEN(bad); i++) {
    struct wh_buf b;
    wh_buf_init(&b, 1024);
    if (cli_base64_decode(bad[i], strlen(bad[i]), &b, NULL) == WH_OK)
      fail_msg("bad base64 \"%s\" accepted", bad[i]);
    wh_buf_release(&b);
  }
}

static void test_key_host(void **state)
{
  static const char *const pairs[][2] = {
      {"https://index.docker.io/v1/", "docker.io"},
      {"index.docker.io", "docker.io"},
      {"registry-1.docker.io", "docker.io"},
      {"docker.io", "docker.io"},
      {"HTTP://Reg.Example.com:5000/v2/", "reg.example.com:5000"},
      {"127.0.0.1:5000", "127.0.0.1:5000"},
      {"https://[::1]:5000", "[::1]:5000"},
  };

  (void)state;
  for (size_t i = 0; i < WH_ARRAY_LEN(pairs); i++) {
    WH_AUTOFREE char *h = cli_auth_key_host(pairs[i][0]);
    assert_string_equal(h, pairs[i][1]);
  }
}

static void test_read_docker(void **state)
{
  char p[512];
  struct cli_creds c = {0};

  (void)state;
  path_of(p, sizeof(p), "docker.json");
  /* alice:s3:cret (a colon in the password), bob via username/password, a bad entry */
  write_file(p, "{\"auths\":{\"https://index.docker.io/v1/\":{\"auth\":\"YWxpY2U6czM6Y3JldA==\"},"
                "\"http://reg.example.com:5000\":{\"username\":\"bob\",\"password\":\"pw\"},"
                "\"bad.example\":{\"auth\":\"!!!\"},\"nocolon.example\":{\"auth\":\"Ym9i\"}},"
                "\"credsStore\":\"desktop\"}");
  assert_int_equal(cli_auth_lookup_in(p, "registry-1.docker.io", &c, NULL), WH_OK);
  assert_string_equal(c.user, "alice");
  assert_string_equal(c.pass, "s3:cret");
  cli_creds_release(&c);
  assert_int_equal(cli_auth_lookup_in(p, "docker.io", &c, NULL), WH_OK);
  cli_creds_release(&c);
  assert_int_equal(cli_auth_lookup_in(p, "reg.example.com:5000", &c, NULL), WH_OK);
  assert_string_equal(c.user, "bob");
  assert_string_equal(c.pass, "pw");
  cli_creds_release(&c);
  assert_int_equal(cli_auth_lookup_in(p, "reg.example.com", &c, NULL), WH_ENOTFOUND); /* the port matters */
  assert_int_equal(cli_auth_lookup_in(p, "bad.example", &c, NULL), WH_EINVALID);
  assert_int_equal(cli_auth_lookup_in(p, "nocolon.example", &c, NULL), WH_EINVALID);
  assert_null(c.user);
  path_of(p, sizeof(p), "missing.json");
  assert_int_equal(cli_auth_lookup_in(p, "docker.io", &c, NULL), WH_ENOTFOUND);
  path_of(p, sizeof(p), "broken.json");
  write_file(p, "{\"auths\":");
  assert_int_equal(cli_auth_lookup_in(p, "docker.io", &c, NULL), WH_EINVALID);
  write_file(p, "[1,2]");
  assert_int_equal(cli_auth_lookup_in(p, "docker.io", &c, NULL), WH_EINVALID);
}

static void test_store(void **state)
{
  char p[512];
  struct cli_creds c = {0};
  struct stat st;
  json_auto_t *j = NULL;

  (void)state;
  path_of(p, sizeof(p), "new/sub/config.json"); /* directories are created */
  assert_int_equal(cli_auth_store(p, "127.0.0.1:5000", "alice", "pw1", NULL), WH_OK);
  assert_int_equal(stat(p, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0600);
  assert_int_equal(cli_auth_lookup_in(p, "127.0.0.1:5000", &c, NULL), WH_OK);
  assert_string_equal(c.pass, "pw1");
  cli_creds_release(&c);
  /* replacing: one entry per host, whatever the spelling of the old key */
  assert_int_equal(cli_auth_store(p, "http://127.0.0.1:5000/v2/", "alice", "pw2", NULL), WH_OK);
  assert_int_equal(cli_auth_lookup_in(p, "127.0.0.1:5000", &c, NULL), WH_OK);
  assert_string_equal(c.pass, "pw2");
  cli_creds_release(&c);
  j = load(p);
  assert_int_equal(json_object_size(json_object_get(j, "auths")), 1);
  assert_string_equal(json_string_value(json_object_get(
                          json_object_get(json_object_get(j, "auths"), "127.0.0.1:5000"), "auth")),
                      "YWxpY2U6cHcy");
  /* docker hub is written under docker's own key */
  assert_int_equal(cli_auth_store(p, "docker.io", "hub", "x", NULL), WH_OK);
  json_decref(j);
  j = load(p);
  assert_non_null(json_object_get(json_object_get(j, "auths"), "https://index.docker.io/v1/"));
  assert_int_equal(cli_auth_lookup_in(p, "registry-1.docker.io", &c, NULL), WH_OK);
  assert_string_equal(c.user, "hub");
  cli_creds_release(&c);
  /* no temp files left next to it */
  path_of(p, sizeof(p), "new/sub");
  {
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "test $(ls -A '%s' | wc -l) = 1", p);
    assert_int_equal(system(cmd), 0);
  }
  assert_int_equal(cli_auth_store(p, "h", "us:er", "x", NULL), WH_EINVALID);
}

static void test_keeps_other_keys(void **state)
{
  char p[512];
  json_auto_t *j = NULL;

  (void)state;
  path_of(p, sizeof(p), "keep.json");
  write_file(
      p,
      "{\"credsStore\":\"x\",\"insecure_registries\":[\"r:1\"],\"auths\":{\"other:1\":{\"auth\":\"YTpi\"}},"
      "\"proxies\":{\"default\":{\"httpProxy\":\"p\"}}}");
  assert_int_equal(cli_auth_store(p, "mine:2", "u", "p", NULL), WH_OK);
  j = load(p);
  assert_string_equal(json_string_value(json_object_get(j, "credsStore")), "x");
  assert_non_null(json_object_get(j, "proxies"));
  assert_int_equal(json_array_size(json_object_get(j, "insecure_registries")), 1);
  assert_non_null(json_object_get(json_object_get(j, "auths"), "other:1"));
  assert_non_null(json_object_get(json_object_get(j, "auths"), "mine:2"));
  /* a broken file is refused, never replaced */
  write_file(p, "{broken");
  assert_int_equal(cli_auth_store(p, "mine:2", "u", "p", NULL), WH_EINVALID);
  json_decref(j);
  j = json_load_file(p, 0, NULL);
  assert_null(j);
  write_file(p, "{\"auths\":[]}");
  assert_int_equal(cli_auth_store(p, "mine:2", "u", "p", NULL), WH_EINVALID);
}

static void test_erase(void **state)
{
  char p[512];
  struct cli_creds c = {0};

  (void)state;
  path_of(p, sizeof(p), "erase.json");
  assert_int_equal(cli_auth_erase(p, "a:1", NULL), WH_ENOTFOUND); /* no file */
  assert_int_equal(cli_auth_store(p, "a:1", "u", "p", NULL), WH_OK);
  assert_int_equal(cli_auth_store(p, "b:1", "u", "p", NULL), WH_OK);
  assert_int_equal(cli_auth_erase(p, "https://a:1", NULL), WH_OK);
  assert_int_equal(cli_auth_lookup_in(p, "a:1", &c, NULL), WH_ENOTFOUND);
  assert_int_equal(cli_auth_lookup_in(p, "b:1", &c, NULL), WH_OK);
  cli_creds_release(&c);
  assert_int_equal(cli_auth_erase(p, "a:1", NULL), WH_ENOTFOUND);
}

static void test_env(void **state)
{
  char p[512], d[512];
  struct cli_creds c = {0};
  WH_AUTOFREE char *got = NULL;

  (void)state;
  path_of(p, sizeof(p), "env.json");
  path_of(d, sizeof(d), "dockercfg");
  mkdir(d, 0700);
  setenv("WHARF_CONFIG", p, 1);
  setenv("DOCKER_CONFIG", d, 1);
  assert_int_equal(cli_auth_config_path(&got, NULL), WH_OK);
  assert_string_equal(got, p);
  write_file(p, "{\"insecure_registries\":[\"plain.example:5000\",\"https://Other.example\"]}");
  assert_true(cli_auth_insecure("plain.example:5000"));
  assert_true(cli_auth_insecure("other.example"));
  assert_false(cli_auth_insecure("plain.example"));
  /* wharf's file first, then docker's */
  path_of(d, sizeof(d), "dockercfg/config.json");
  write_file(d, "{\"auths\":{\"both:1\":{\"auth\":\"ZDpk\"},\"dock:1\":{\"auth\":\"ZDpk\"}}}");
  assert_int_equal(cli_auth_store(p, "both:1", "w", "w", NULL), WH_OK);
  assert_int_equal(cli_auth_lookup("both:1", &c, NULL), WH_OK);
  assert_string_equal(c.user, "w");
  cli_creds_release(&c);
  assert_int_equal(cli_auth_lookup("dock:1", &c, NULL), WH_OK);
  assert_string_equal(c.user, "d");
  cli_creds_release(&c);
  assert_int_equal(cli_auth_lookup("none:1", &c, NULL), WH_ENOTFOUND);
  unsetenv("WHARF_CONFIG");
  unsetenv("DOCKER_CONFIG");
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_base64),
      cmocka_unit_test(test_key_host),
      cmocka_unit_test(test_read_docker),
      cmocka_unit_test(test_store),
      cmocka_unit_test(test_keeps_other_keys),
      cmocka_unit_test(test_erase),
      cmocka_unit_test(test_env),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
