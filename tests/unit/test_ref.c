/* tests/unit/test_ref.c - unit tests for common/ref.c.
 *
 * The table ports distribution/reference's reference_test.go
 * (TestReferenceParse, TestDomainAndPath, TestSerialization, TestWithTag)
 * to our contract. Where the two differ on purpose the row says so: we split
 * the domain off with docker's rule (first part has '.' or ':' or is
 * "localhost"), so "foo/foo_bar.com:8080" has no domain here, and the
 * repository name excludes the domain.
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

#include "common/cleanup.h"
#include "common/ref.h"

#define F64 "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
#define D256 "sha256:" F64
#define D512 "sha512:" F64 F64
#define D256B "sha256:1234567890098765432112345667890098765432112345667890098765432112"

struct ref_case {
  const char *in;
  enum wh_code want;
  const char *domain; /* expected parts when want == WH_OK (NULL = absent) */
  const char *name;
  const char *tag;
  const char *digest;
};

static const struct ref_case upstream_cases[] = {
    /* TestReferenceParse */
    {"test_com", WH_OK, NULL, "test_com", NULL, NULL},
    {"test.com:tag", WH_OK, NULL, "test.com", "tag", NULL},
    {"test.com:5000", WH_OK, NULL, "test.com", "5000", NULL},
    {"test.com/repo:tag", WH_OK, "test.com", "repo", "tag", NULL},
    {"test:5000/repo", WH_OK, "test:5000", "repo", NULL, NULL},
    {"test:5000/repo:tag", WH_OK, "test:5000", "repo", "tag", NULL},
    {"test:5000/repo@" D256, WH_OK, "test:5000", "repo", NULL, D256},
    {"test:5000/repo:tag@" D256, WH_OK, "test:5000", "repo", "tag", D256},
    {"", WH_EINVALID, NULL, NULL, NULL, NULL},
    {":justtag", WH_EINVALID, NULL, NULL, NULL, NULL},
    {"@" D256, WH_EINVALID, NULL, NULL, NULL, NULL},
    {"repo@sha256:ffffffffffffffffffffffffffffffffff", WH_EINVALID, NULL, NULL, NULL, NULL},
    {"validname@invaliddigest:" F64, WH_EUNSUPPORTED, NULL, NULL, NULL, NULL},
    {"Uppercase:tag", WH_EINVALID, NULL, NULL, NULL, NULL},
    {"Uppercase/lowercase:tag", WH_EINVALID, NULL, NULL, NULL, NULL}, /* upstream FIXME: we reject it */
    {"test:5000/Uppercase/lowercase:tag", WH_EINVALID, NULL, NULL, NULL, NULL},
    {"lowercase:Uppercase", WH_OK, NULL, "lowercase", "Uppercase", NULL},
    {"aa/asdf$$^/aa", WH_EINVALID, NULL, NULL, NULL, NULL},
    {"sub-dom1.foo.com/bar/baz/quux", WH_OK, "sub-dom1.foo.com", "bar/baz/quux", NULL, NULL},
    {"sub-dom1.foo.com/bar/baz/quux:some-long-tag", WH_OK, "sub-dom1.foo.com", "bar/baz/quux",
     "some-long-tag", NULL},
    {"b.gcr.io/test.example.com/my-app:test.example.com", WH_OK, "b.gcr.io", "test.example.com/my-app",
     "test.example.com", NULL},
    {"xn--n3h.com/myimage:xn--n3h.com", WH_OK, "xn--n3h.com", "myimage", "xn--n3h.com", NULL},
    {"xn--7o8h.com/myimage:xn--7o8h.com@" D512, WH_OK, "xn--7o8h.com", "myimage", "xn--7o8h.com", D512},
    {"foo_bar.com:8080", WH_OK, NULL, "foo_bar.com", "8080", NULL},
    {"foo/foo_bar.com:8080", WH_OK, NULL, "foo/foo_bar.com", "8080", NULL}, /* upstream: domain "foo" */
    {"192.168.1.1", WH_OK, NULL, "192.168.1.1", NULL, NULL},
    {"192.168.1.1:tag", WH_OK, NULL, "192.168.1.1", "tag", NULL},
    {"192.168.1.1:5000", WH_OK, NULL, "192.168.1.1", "5000", NULL},
    {"192.168.1.1/repo", WH_OK, "192.168.1.1", "repo", NULL, NULL},
    {"192.168.1.1:5000/repo", WH_OK, "192.168.1.1:5000", "repo", NULL, NULL},
    {"192.168.1.1:5000/repo:5050", WH_OK, "192.168.1.1:5000", "repo", "5050", NULL},
    {"[2001:db8::1]", WH_EINVALID, NULL, NULL, NULL, NULL},
    {"[2001:db8::1]:5000", WH_EINVALID, NULL, NULL, NULL, NULL},
    {"[2001:db8::1]:tag", WH_EINVALID, NULL, NULL, NULL, NULL},
    {"[2001:db8::1]/repo", WH_OK, "[2001:db8::1]", "repo", NULL, NULL},
    {"[2001:db8:1:2:3:4:5:6]/repo:tag", WH_OK, "[2001:db8:1:2:3:4:5:6]", "repo", "tag", NULL},
    {"[2001:db8::1]:5000/repo", WH_OK, "[2001:db8::1]:5000", "repo", NULL, NULL},
    {"[2001:db8::1]:5000/repo:tag", WH_OK, "[2001:db8::1]:5000", "repo", "tag", NULL},
    {"[2001:db8::1]:5000/repo@" D256, WH_OK, "[2001:db8::1]:5000", "repo", NULL, D256},
    {"[2001:db8::1]:5000/repo:tag@" D256, WH_OK, "[2001:db8::1]:5000", "repo", "tag", D256},
    {"[2001:db8::]:5000/repo", WH_OK, "[2001:db8::]:5000", "repo", NULL, NULL},
    {"[::1]:5000/repo", WH_OK, "[::1]:5000", "repo", NULL, NULL},
    {"[fe80::1%eth0]:5000/repo", WH_EINVALID, NULL, NULL, NULL, NULL},
    {"[fe80::1%@invalidzone]:5000/repo", WH_EINVALID, NULL, NULL, NULL, NULL},
    /* TestDomainAndPath */
    {"test.com/foo", WH_OK, "test.com", "foo", NULL, NULL},
    {"test_com/foo", WH_OK, NULL, "test_com/foo", NULL, NULL},
    {"test:8080/foo", WH_OK, "test:8080", "foo", NULL, NULL},
    {"test.com:8080/foo", WH_OK, "test.com:8080", "foo", NULL, NULL},
    {"test-com:8080/foo", WH_OK, "test-com:8080", "foo", NULL, NULL},
    {"xn--n3h.com:18080/foo", WH_OK, "xn--n3h.com:18080", "foo", NULL, NULL},
    /* TestSerialization, TestWithTag */
    {"example.com:8000/named", WH_OK, "example.com:8000", "named", NULL, NULL},
    {"example.com:8000/named:tagged", WH_OK, "example.com:8000", "named", "tagged", NULL},
    {"other.com/named@" D256B, WH_OK, "other.com", "named", NULL, D256B},
    {"test.com/foo:tag", WH_OK, "test.com", "foo", "tag", NULL},
    {"foo:tag2", WH_OK, NULL, "foo", "tag2", NULL},
    {"test.com:8000/foo:tag4", WH_OK, "test.com:8000", "foo", "tag4", NULL},
    {"test.com:8000/foo:TAG5", WH_OK, "test.com:8000", "foo", "TAG5", NULL},
    {"test.com:8000/foo:TAG5@sha256:1234567890098765432112345667890098765", WH_EINVALID, NULL, NULL, NULL,
     NULL}, /* short digest */
};

static const struct ref_case grammar_cases[] = {
    /* regexp_test.go name shapes */
    {"a", WH_OK, NULL, "a", NULL, NULL},
    {"a/a/a/a", WH_OK, NULL, "a/a/a/a", NULL, NULL},
    {"foo__bar", WH_OK, NULL, "foo__bar", NULL, NULL},
    {"foo---bar", WH_OK, NULL, "foo---bar", NULL, NULL},
    {"foo.bar_baz-qux", WH_OK, NULL, "foo.bar_baz-qux", NULL, NULL},
    {"foo___bar", WH_EINVALID, NULL, NULL, NULL, NULL},
    {"a.-a", WH_EINVALID, NULL, NULL, NULL, NULL},
    {"a-/a", WH_EINVALID, NULL, NULL, NULL, NULL},
    {"-a/a", WH_EINVALID, NULL, NULL, NULL, NULL},
    {"a/-a", WH_EINVALID, NULL, NULL, NULL, NULL},
    {"a._b", WH_EINVALID, NULL, NULL, NULL, NULL},
    {"a..b", WH_EINVALID, NULL, NULL, NULL, NULL},
    {"foo.com:8080/bar", WH_OK, "foo.com:8080", "bar", NULL, NULL},
    /* docker normalisation domains */
    {"localhost/foo", WH_OK, "localhost", "foo", NULL, NULL},
    {"localhost:5000/foo/bar:latest", WH_OK, "localhost:5000", "foo/bar", "latest", NULL},
    {"localhost", WH_OK, NULL, "localhost", NULL, NULL},
    {"docker.io/library/ubuntu:22.04", WH_OK, "docker.io", "library/ubuntu", "22.04", NULL},
    {"library/ubuntu@" D256, WH_OK, NULL, "library/ubuntu", NULL, D256},
    {"ubuntu:_x", WH_OK, NULL, "ubuntu", "_x", NULL},
};

static const struct ref_case hostile_cases[] = {
    /* separators, traversal, empty parts */
    {"foo//bar", WH_EINVALID, NULL, NULL, NULL, NULL},
    {"foo/", WH_EINVALID, NULL, NULL, NULL, NULL},
    {"/foo", WH_EINVALID, NULL, NULL, NULL, NULL},
    {"foo/../bar", WH_EINVALID, NULL, NULL, NULL, NULL},
    {"foo/./bar", WH_EINVALID, NULL, NULL, NULL, NULL},
    {"..", WH_EINVALID, NULL, NULL, NULL, NULL},
    {"example.com/../etc", WH_EINVALID, NULL, NULL, NULL, NULL},
    {"example.com//foo", WH_EINVALID, NULL, NULL, NULL, NULL},
    {"example.com/", WH_EINVALID, NULL, NULL, NULL, NULL},
    {"foo bar", WH_EINVALID, NULL, NULL, NULL, NULL},
    {"foo\tbar", WH_EINVALID, NULL, NULL, NULL, NULL},
    {"Foo/bar", WH_EINVALID, NULL, NULL, NULL, NULL},
    {"example.com/Foo", WH_EINVALID, NULL, NULL, NULL, NULL},
    /* tags and digests */
    {"foo:", WH_EINVALID, NULL, NULL, NULL, NULL},
    {"foo:-tag", WH_EINVALID, NULL, NULL, NULL, NULL},
    {"foo:.tag", WH_EINVALID, NULL, NULL, NULL, NULL},
    {"foo:..", WH_EINVALID, NULL, NULL, NULL, NULL},
    {"foo:a/b", WH_EINVALID, NULL, NULL, NULL, NULL},
    {"foo:bar:baz", WH_EINVALID, NULL, NULL, NULL, NULL},
    {"foo@", WH_EINVALID, NULL, NULL, NULL, NULL},
    {"foo:tag@", WH_EINVALID, NULL, NULL, NULL, NULL},
    {"foo@" D256 "@" D256, WH_EINVALID, NULL, NULL, NULL, NULL},
    {"foo@sha256:FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF", WH_EINVALID, NULL, NULL,
     NULL, NULL},
    {"foo@blake3:" F64, WH_EUNSUPPORTED, NULL, NULL, NULL, NULL},
    /* bad domains */
    {"test.com:/foo", WH_EINVALID, NULL, NULL, NULL, NULL},
    {"test.com:80a/foo", WH_EINVALID, NULL, NULL, NULL, NULL},
    {"-test.com/foo", WH_EINVALID, NULL, NULL, NULL, NULL},
    {"test-.com/foo", WH_EINVALID, NULL, NULL, NULL, NULL},
    {"test..com/foo", WH_EINVALID, NULL, NULL, NULL, NULL},
    {".test.com/foo", WH_EINVALID, NULL, NULL, NULL, NULL},
    {"foo_bar.com/repo", WH_EINVALID, NULL, NULL, NULL, NULL},
    {"[]/repo", WH_EINVALID, NULL, NULL, NULL, NULL},
    {"[::1/repo", WH_EINVALID, NULL, NULL, NULL, NULL},
    {"[::1]x/repo", WH_EINVALID, NULL, NULL, NULL, NULL},
    {"[zz::1]/repo", WH_EINVALID, NULL, NULL, NULL, NULL},
};

static void check_part(const char *what, const char *in, const char *got, const char *want)
{
  if (want == NULL && got == NULL)
    return;
  if (want == NULL || got == NULL || strcmp(want, got) != 0)
    fail_msg("\"%s\": %s: got \"%s\", want \"%s\"", in, what, got ? got : "(null)", want ? want : "(null)");
}

static void run_case(const struct ref_case *c)
{
  struct wh_ref r;
  struct wh_err e;
  enum wh_code rc = wh_ref_parse(c->in, &r, &e);
  char *s;

  if (rc != c->want)
    fail_msg("\"%s\": got %s (%s), want %s", c->in, wh_code_str(rc), rc ? e.msg : "", wh_code_str(c->want));
  if (rc != WH_OK)
    return;
  check_part("domain", c->in, r.domain, c->domain);
  check_part("name", c->in, r.name, c->name);
  check_part("tag", c->in, r.tag, c->tag);
  check_part("digest", c->in, r.has_digest ? r.digest.str : NULL, c->digest);
  s = wh_ref_format(&r);
  check_part("format", c->in, s, c->in);
  free(s);
  wh_ref_release(&r);
}

static void run_table(const struct ref_case *c, size_t n)
{
  for (size_t i = 0; i < n; i++)
    run_case(&c[i]);
}

static void parse_upstream_table(void **state)
{
  assert_true(WH_ARRAY_LEN(upstream_cases) >= 55);
  run_table(upstream_cases, WH_ARRAY_LEN(upstream_cases));
}

static void parse_grammar_table(void **state)
{
  run_table(grammar_cases, WH_ARRAY_LEN(grammar_cases));
}

static void parse_hostile_table(void **state)
{
  run_table(hostile_cases, WH_ARRAY_LEN(hostile_cases));
}

/* "a/" x n + "a" + suffix */
static char *repeat_name(int n, const char *suffix)
{
  size_t len = (size_t)n * 2 + 1 + strlen(suffix);
  char *s = malloc(len + 1);

  assert_non_null(s);
  for (int i = 0; i < n; i++)
    memcpy(s + 2 * i, "a/", 2);
  s[2 * n] = 'a';
  memcpy(s + 2 * n + 1, suffix, strlen(suffix) + 1);
  return s;
}

static void name_length_limit(void **state)
{
  char *too_long = repeat_name(128, ":tag");
  char *max = repeat_name(127, ":tag-puts-this-over-max");
  struct wh_ref r;

  assert_int_equal(wh_ref_parse(too_long, &r, NULL), WH_EINVALID);
  assert_int_equal(wh_ref_parse(max, &r, NULL), WH_OK);
  assert_null(r.domain);
  assert_int_equal(strlen(r.name), 255);
  assert_string_equal(r.tag, "tag-puts-this-over-max");
  wh_ref_release(&r);
  free(too_long);
  free(max);
}

static void tag_length_limit(void **state)
{
  char s[200] = "repo:";
  struct wh_ref r;

  memset(s + 5, 'T', 128);
  s[5 + 128] = '\0';
  assert_int_equal(wh_ref_parse(s, &r, NULL), WH_OK);
  assert_int_equal(strlen(r.tag), 128);
  wh_ref_release(&r);
  s[5 + 128] = 'T';
  s[5 + 129] = '\0';
  assert_int_equal(wh_ref_parse(s, &r, NULL), WH_EINVALID);
}

static void whole_ref_limit(void **state)
{
  char *s = malloc(WH_REF_MAX + 10);
  struct wh_ref r;

  assert_non_null(s);
  memset(s, 'a', WH_REF_MAX + 9);
  s[WH_REF_MAX + 9] = '\0';
  assert_int_equal(wh_ref_parse(s, &r, NULL), WH_EINVALID);
  assert_int_equal(wh_ref_parse(NULL, &r, NULL), WH_EINVALID);
  free(s);
}

static void failure_leaves_out(void **state)
{
  struct wh_ref r;

  memset(&r, 0x5a, sizeof(r));
  assert_int_equal(wh_ref_parse("Bad/Name", &r, NULL), WH_EINVALID);
  assert_int_equal(wh_ref_parse("example.com/foo:bad@tag", &r, NULL), WH_EINVALID);
  assert_int_equal(*(unsigned char *)&r, 0x5a);
}

static void release_is_idempotent(void **state)
{
  struct wh_ref r;

  assert_int_equal(wh_ref_parse("example.com/a/b:c@" D256, &r, NULL), WH_OK);
  assert_true(r.has_digest);
  wh_ref_release(&r);
  assert_null(r.name);
  assert_false(r.has_digest);
  wh_ref_release(&r);
  wh_ref_release(NULL);
}

static void format_without_optional(void **state)
{
  struct wh_ref r = {0};
  char *s;
  char name[] = "just/name";

  r.name = name;
  s = wh_ref_format(&r);
  assert_string_equal(s, "just/name");
  free(s);
}

struct valid_case {
  const char *s;
  size_t len; /* 0 = strlen */
  bool want;
};

static const struct valid_case names[] = {
    {"a", 0, true},
    {"library/ubuntu", 0, true},
    {"a0/b-1/c__d/e.f", 0, true},
    {"library/ubuntu/", 0, false},
    {"/library", 0, false},
    {"a//b", 0, false},
    {".", 0, false},
    {"..", 0, false},
    {"a/..", 0, false},
    {"../a", 0, false},
    {"a/./b", 0, false},
    {".a", 0, false},
    {"a.", 0, false},
    {"_a", 0, false},
    {"A", 0, false},
    {"a:b", 0, false},
    {"a@b", 0, false},
    {"a%2fb", 0, false},
    {"", 0, false},
    {"a\0b", 3, false},
    {"abc/def", 3, true},   /* only the first 3 bytes count */
    {"abc/def", 4, false},  /* "abc/" */
    {"_wharf/x", 0, false}, /* the extension prefix can never be a name */
};

static const struct valid_case tags[] = {
    {"latest", 0, true},      {"v1.2.3-rc.1_b", 0, true},
    {"_", 0, true},           {"A", 0, true},
    {"9", 0, true},           {".", 0, false},
    {"..", 0, false},         {".hidden", 0, false},
    {"-x", 0, false},         {"a/b", 0, false},
    {"a:b", 0, false},        {"a b", 0, false},
    {"", 0, false},           {"a\0", 2, false},
    {"sha256:abc", 0, false}, {"latest/../../x", 6, true},
};

static void run_valid(const struct valid_case *v, size_t n, bool (*fn)(const char *, size_t),
                      const char *what)
{
  for (size_t i = 0; i < n; i++) {
    size_t len = v[i].len ? v[i].len : strlen(v[i].s);
    if (fn(v[i].s, len) != v[i].want)
      fail_msg("%s \"%.*s\": want %d", what, (int)len, v[i].s, v[i].want);
  }
}

static void name_valid_table(void **state)
{
  run_valid(names, sizeof(names) / sizeof(names[0]), wh_name_valid, "name");
  assert_false(wh_name_valid(NULL, 0));
}

static void tag_valid_table(void **state)
{
  run_valid(tags, sizeof(tags) / sizeof(tags[0]), wh_tag_valid, "tag");
  assert_false(wh_tag_valid(NULL, 0));
}

static void name_valid_lengths(void **state)
{
  char *s255 = repeat_name(127, "");
  char *s257 = repeat_name(128, "");
  char t[130];

  assert_true(wh_name_valid(s255, 255));
  assert_false(wh_name_valid(s257, 257));
  assert_false(wh_name_valid(s257, 256)); /* ends in "/" and too long */
  memset(t, 'x', sizeof(t));
  assert_true(wh_tag_valid(t, 128));
  assert_false(wh_tag_valid(t, 129));
  free(s255);
  free(s257);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(parse_upstream_table),    cmocka_unit_test(parse_grammar_table),
      cmocka_unit_test(parse_hostile_table),     cmocka_unit_test(name_length_limit),
      cmocka_unit_test(tag_length_limit),        cmocka_unit_test(whole_ref_limit),
      cmocka_unit_test(failure_leaves_out),      cmocka_unit_test(release_is_idempotent),
      cmocka_unit_test(format_without_optional), cmocka_unit_test(name_valid_table),
      cmocka_unit_test(tag_valid_table),         cmocka_unit_test(name_valid_lengths),
  };

  return cmocka_run_group_tests_name("ref", tests, NULL, NULL);
}
