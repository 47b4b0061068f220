/* tests/unit/test_cli_ref.c - unit tests for client/refs.c (docker's
 * reference defaults) and client/platform.c (platform strings and the
 * choice of an index entry).
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "client/cli.h"
#include "common/cleanup.h"

#define D256 "sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"

struct ref_case {
  const char *in;
  unsigned flags;
  enum wh_code want;
  const char *domain, *path, *repo, *tag; /* tag NULL: none */
  bool digest;
};

static const struct ref_case cases[] = {
    {"alpine", 0, WH_OK, "docker.io", "library/alpine", "docker.io/library/alpine", "latest", false},
    {"alpine:3.19", 0, WH_OK, "docker.io", "library/alpine", "docker.io/library/alpine", "3.19", false},
    {"user/app:v2", 0, WH_OK, "docker.io", "user/app", "docker.io/user/app", "v2", false},
    {"docker.io/alpine", 0, WH_OK, "docker.io", "library/alpine", "docker.io/library/alpine", "latest",
     false},
    {"index.docker.io/alpine", 0, WH_OK, "docker.io", "library/alpine", "docker.io/library/alpine", "latest",
     false},
    {"registry-1.docker.io/library/x:1", 0, WH_OK, "docker.io", "library/x", "docker.io/library/x", "1",
     false},
    {"docker.io/library/a/b", 0, WH_OK, "docker.io", "library/a/b", "docker.io/library/a/b", "latest", false},
    {"127.0.0.1:5000/app", 0, WH_OK, "127.0.0.1:5000", "app", "127.0.0.1:5000/app", "latest", false},
    {"localhost/app:1", 0, WH_OK, "localhost", "app", "localhost/app", "1", false},
    {"reg.example.com/team/app:v1", 0, WH_OK, "reg.example.com", "team/app", "reg.example.com/team/app", "v1",
     false},
    {"[::1]:5000/app:v1", 0, WH_OK, "[::1]:5000", "app", "[::1]:5000/app", "v1", false},
    {"localhost:5000/a/b@" D256, 0, WH_OK, "localhost:5000", "a/b", "localhost:5000/a/b", NULL, true},
    {"app:v1@" D256, 0, WH_OK, "docker.io", "library/app", "docker.io/library/app", "v1", true},
    /* flags */
    {"alpine", CLI_REF_NO_DEFAULT_TAG, WH_OK, "docker.io", "library/alpine", "docker.io/library/alpine", NULL,
     false},
    {"alpine:1", CLI_REF_NO_DEFAULT_TAG, WH_OK, "docker.io", "library/alpine", "docker.io/library/alpine",
     "1", false},
    {"127.0.0.1:5000/app", CLI_REF_NO_TAG, WH_OK, "127.0.0.1:5000", "app", "127.0.0.1:5000/app", NULL, false},
    {"127.0.0.1:5000/app:1", CLI_REF_NO_TAG, WH_EINVALID, NULL, NULL, NULL, NULL, false},
    {"app@" D256, CLI_REF_NO_TAG, WH_EINVALID, NULL, NULL, NULL, NULL, false},
    /* refused */
    {"", 0, WH_EINVALID, NULL, NULL, NULL, NULL, false},
    {"UPPER", 0, WH_EINVALID, NULL, NULL, NULL, NULL, false},
    {"a//b", 0, WH_EINVALID, NULL, NULL, NULL, NULL, false},
    {":tag", 0, WH_EINVALID, NULL, NULL, NULL, NULL, false},
    {"app:", 0, WH_EINVALID, NULL, NULL, NULL, NULL, false},
    {"app@sha256:abc", 0, WH_EINVALID, NULL, NULL, NULL, NULL, false},
    {"../etc/passwd", 0, WH_EINVALID, NULL, NULL, NULL, NULL, false},
};

static void test_parse(void **state)
{
  (void)state;
  for (size_t i = 0; i < WH_ARRAY_LEN(cases); i++) {
    const struct ref_case *c = &cases[i];
    struct cli_ref r = {0};
    struct wh_err err = {0};
    enum wh_code rc = cli_ref_parse(c->in, c->flags, &r, &err);

    if (rc != c->want)
      fail_msg("\"%s\": got %s (%s), want %s", c->in, wh_code_str(rc), err.msg, wh_code_str(c->want));
    if (rc != WH_OK) {
      assert_null(r.repo);
      continue;
    }
    assert_string_equal(r.domain, c->domain);
    assert_string_equal(r.path, c->path);
    assert_string_equal(r.repo, c->repo);
    if (c->tag)
      assert_string_equal(r.tag, c->tag);
    else
      assert_null(r.tag);
    assert_int_equal(r.has_digest, c->digest);
    if (c->digest || c->tag)
      assert_string_equal(cli_ref_reference(&r), c->digest ? D256 : c->tag);
    else
      assert_null(cli_ref_reference(&r));
    cli_ref_release(&r);
  }
}

static void test_names(void **state)
{
  size_t dl;
  const char *path;

  (void)state;
  assert_string_equal(cli_repo_familiar("docker.io/library/alpine"), "alpine");
  assert_string_equal(cli_repo_familiar("docker.io/user/app"), "user/app");
  assert_string_equal(cli_repo_familiar("docker.io/library/a/b"), "library/a/b");
  assert_string_equal(cli_repo_familiar("127.0.0.1:5000/app"), "127.0.0.1:5000/app");
  assert_string_equal(cli_registry_host("docker.io"), "registry-1.docker.io");
  assert_string_equal(cli_registry_host("index.docker.io"), "registry-1.docker.io");
  assert_string_equal(cli_registry_host("127.0.0.1:5000"), "127.0.0.1:5000");
  assert_true(cli_repo_split("127.0.0.1:5000/a/b", &dl, &path));
  assert_int_equal(dl, 14);
  assert_string_equal(path, "a/b");
  assert_false(cli_repo_split("noslash", &dl, &path));
  assert_false(cli_repo_split("/x", &dl, &path));
}

static void test_platform_parse(void **state)
{
  struct cli_platform p;
  char s[128];
  static const char *const bad[] = {"linux",        "linux/",         "/amd64",       "LINUX/amd64",
                                    "linux/amd64/", "linux/arm/v7/x", "linux/am d64", ""};

  (void)state;
  assert_int_equal(cli_platform_parse("linux/amd64", &p, NULL), WH_OK);
  assert_string_equal(p.os, "linux");
  assert_string_equal(p.arch, "amd64");
  assert_string_equal(p.variant, "");
  assert_int_equal(cli_platform_parse("linux/arm64", &p, NULL), WH_OK);
  assert_string_equal(p.variant, "v8");
  assert_int_equal(cli_platform_parse("linux/arm/v7", &p, NULL), WH_OK);
  assert_string_equal(p.variant, "v7");
  cli_platform_format(&p, s, sizeof(s));
  assert_string_equal(s, "linux/arm/v7");
  for (size_t i = 0; i < WH_ARRAY_LEN(bad); i++)
    if (cli_platform_parse(bad[i], &p, NULL) != WH_EINVALID)
      fail_msg("platform \"%s\" accepted", bad[i]);
  cli_platform_host(&p);
  assert_string_equal(p.os, "linux");
  assert_true(p.arch[0] != '\0');
}

#define ENTRY(d, plat)                                                                                       \
  "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"size\":10,\"digest\":\"sha256:" d         \
  "\"" plat "}"
#define H(c)                                                                                                 \
#c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c

static void test_platform_pick(void **state)
{
  static const char idx[] = "{\"schemaVersion\":2,\"mediaType\":\"application/"
                            "vnd.oci.image.index.v1+json\",\"manifests\":[" ENTRY(H(0), "") "," ENTRY(H(1), ",\"platform\":{\"os\":\"unknown\",\"architecture\":\"unknown\"}") "," ENTRY(H(2), ",\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\"}") "," ENTRY(
                                H(3), ",\"platform\":{\"os\":\"linux\",\"architecture\":\"arm\",\"variant\":"
                                      "\"v6\"}") "," ENTRY(H(4), ",\"platform\":{\"os\":\"linux\","
                                                                 "\"architecture\":\"arm\",\"variant\":"
                                                                 "\"v7\"}") "," ENTRY(H(5),
                                                                                      ",\"platform\":{\"os\":"
                                                                                      "\"linux\","
                                                                                      "\"architecture\":"
                                                                                      "\"arm64\"}") "," ENTRY(H(6),
                                                                                                              ",\"platform\":{\"os\":\"windows\",\"architecture\":\"amd64\"}") "]}";
  struct wh_manifest m;
  struct cli_platform p;
  size_t i;

  (void)state;
  assert_int_equal(wh_manifest_parse(idx, strlen(idx), NULL, &m, NULL), WH_OK);
  assert_int_equal(cli_platform_parse("linux/amd64", &p, NULL), WH_OK);
  assert_int_equal(cli_platform_pick(&m, &p, &i, NULL), WH_OK);
  assert_int_equal(i, 2);
  assert_int_equal(cli_platform_parse("linux/arm/v7", &p, NULL), WH_OK);
  assert_int_equal(cli_platform_pick(&m, &p, &i, NULL), WH_OK);
  assert_int_equal(i, 4);
  assert_int_equal(cli_platform_parse("linux/arm64/v8", &p, NULL), WH_OK);
  assert_int_equal(cli_platform_pick(&m, &p, &i, NULL), WH_OK);
  assert_int_equal(i, 5);
  assert_int_equal(cli_platform_parse("windows/amd64", &p, NULL), WH_OK);
  assert_int_equal(cli_platform_pick(&m, &p, &i, NULL), WH_OK);
  assert_int_equal(i, 6);
  assert_int_equal(cli_platform_parse("linux/s390x", &p, NULL), WH_OK);
  assert_int_equal(cli_platform_pick(&m, &p, &i, NULL), WH_ENOTFOUND);
  assert_int_equal(cli_platform_parse("linux/arm/v5", &p, NULL), WH_OK);
  assert_int_equal(cli_platform_pick(&m, &p, &i, NULL), WH_ENOTFOUND);
  assert_int_equal(cli_platform_parse("unknown/unknown", &p, NULL), WH_OK);
  assert_int_equal(cli_platform_pick(&m, &p, &i, NULL), WH_OK); /* asked for by name: fine */
  wh_manifest_release(&m);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_parse),
      cmocka_unit_test(test_names),
      cmocka_unit_test(test_platform_parse),
      cmocka_unit_test(test_platform_pick),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
