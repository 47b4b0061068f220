/* tests/unit/test_dockerfile.c - unit tests for client/dockerfile.c,
 * client/dockerfile_lex.c and client/ignore.c.
 *
 * Most cases are ported from BuildKit's frontend/dockerfile tests
 * (shell/lex_test.go, its envVarTest and wordsTest tables, parser
 * parser_test.go, parser_heredoc_test.go, testfiles/, instructions
 * parse_test.go) and from moby/patternmatcher's patternmatcher_test.go.
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

#include "client/dockerfile-int.h"
#include "common/buf.h"
#include "common/cleanup.h"

/* ---- helpers ------------------------------------------------------------------------ */

static void env_of(struct cli_df_env *e, const char *const *kv)
{
  cli_df_env_init(e);
  for (; *kv; kv += 2)
    assert_int_equal(cli_df_env_set(e, kv[0], kv[1]), WH_OK);
}

/* Expands with the escape '\\'; NULL on error. */
static char *expand(const char *word, const struct cli_df_env *e)
{
  char *out = NULL;
  struct wh_err err = {0};

  if (cli_df_expand(word, e, '\\', 0, &out, &err) != WH_OK) {
    assert_true(err.msg[0] != '\0');
    return NULL;
  }
  return out;
}

/* Words joined with ",", or "error". */
static char *words_joined(const char *word, const struct cli_df_env *e, unsigned flags)
{
  struct cli_df_words w = {0};
  struct wh_buf b;
  char *s;

  if (cli_df_expand_words(word, e, '\\', flags, &w, NULL) != WH_OK)
    return strdup("error");
  assert_non_null(w.v);
  assert_null(w.v[w.n]);
  wh_buf_init(&b, 1 << 20);
  for (size_t i = 0; i < w.n; i++) {
    if (i)
      assert_int_equal(wh_buf_append(&b, ",", 1), WH_OK);
    assert_int_equal(wh_buf_appendz(&b, w.v[i]), WH_OK);
  }
  cli_df_words_release(&w);
  s = wh_buf_steal(&b, NULL);
  return s;
}

static void parse_ok(const char *text, struct cli_df_file *f)
{
  struct wh_err err = {0};
  enum wh_code rc = cli_df_parse("Dockerfile", text, strlen(text), f, &err);

  if (rc != WH_OK)
    fail_msg("parse failed: %s\n--- input:\n%s", err.msg, text);
}

static void parse_fails(const char *text, const char *want)
{
  struct cli_df_file f = {0};
  struct wh_err err = {0};
  enum wh_code rc = cli_df_parse("Dockerfile", text, strlen(text), &f, &err);

  if (rc == WH_OK) {
    cli_df_file_release(&f);
    fail_msg("parse of %s succeeded, want error %s", text, want);
  }
  if (strstr(err.msg, want) == NULL)
    fail_msg("parse of %s: error \"%s\" lacks \"%s\"", text, err.msg, want);
}

/* ---- environment ------------------------------------------------------------------ */

static void test_env(void **state)
{
  struct cli_df_env e, c;

  (void)state;
  cli_df_env_init(&e);
  cli_df_env_init(&c);
  assert_null(cli_df_env_get(&e, "A"));
  assert_int_equal(cli_df_env_set(&e, "A", "1"), WH_OK);
  assert_int_equal(cli_df_env_set(&e, "B", NULL), WH_OK);
  assert_int_equal(cli_df_env_set(&e, "C", "3"), WH_OK);
  assert_int_equal(cli_df_env_set(&e, "A", "one"), WH_OK);
  assert_int_equal(e.n, 3);
  assert_string_equal(e.v[0].key, "A");
  assert_string_equal(cli_df_env_get(&e, "A"), "one");
  assert_string_equal(cli_df_env_get(&e, "B"), "");
  assert_null(cli_df_env_get(&e, "a"));
  assert_int_equal(cli_df_env_copy(&c, &e), WH_OK);
  assert_true(cli_df_env_unset(&e, "B"));
  assert_false(cli_df_env_unset(&e, "B"));
  assert_int_equal(e.n, 2);
  assert_string_equal(e.v[1].key, "C");
  assert_int_equal(c.n, 3);
  assert_string_equal(cli_df_env_get(&c, "B"), "");
  cli_df_env_release(&e);
  cli_df_env_release(&c);
}

/* ---- lexer: envVarTest (A/U lines) -------------------------------------------------- */

struct xcase {
  const char *in, *want; /* want NULL: error */
};

static const struct xcase env_var_test[] = {
    {"hello", "hello"},
    {"he'll'o", "hello"},
    {"he'llo", NULL},
    {"he\\'llo", "he'llo"},
    {"he\\\\'llo", NULL},
    {"abc\\tdef", "abctdef"},
    {"\"abc\\tdef\"", "abc\\tdef"},
    {"\"abc\\\\tdef\"", "abc\\tdef"},
    {"'abc\\tdef'", "abc\\tdef"},
    {"hello\\", "hello"},
    {"hello\\\\", "hello\\"},
    {"\"hello", NULL},
    {"\"hello\\\"", NULL},
    {"\"hel'lo\"", "hel'lo"},
    {"'hello", NULL},
    {"'hello\\'", "hello\\"},
    {"'hello\\there'", "hello\\there"},
    {"'hello\\\\there'", "hello\\\\there"},
    {"\"''\"", "''"},
    {"$.", "$."},
    {"he$1x", "hex"},
    {"he$.x", "he$.x"},
    {"he$pwd.", "he."},
    {"he$PWD", "he/home"},
    {"he\\$PWD", "he$PWD"},
    {"he\\\\$PWD", "he\\/home"},
    {"\"he\\$PWD\"", "he$PWD"},
    {"\"he\\\\$PWD\"", "he\\/home"},
    {"\\${}", "${}"},
    {"\\${}aaa", "${}aaa"},
    {"he\\${}", "he${}"},
    {"he\\${}xx", "he${}xx"},
    {"${}", NULL},
    {"${}aaa", NULL},
    {"he${}", NULL},
    {"he${}xx", NULL},
    {"he${hi}", "he"},
    {"he${hi}xx", "hexx"},
    {"he${PWD}", "he/home"},
    {"he${.}", NULL},
    {"he${XXX:-000}xx", "he000xx"},
    {"he${PWD:-000}xx", "he/homexx"},
    {"he${XXX:-$PWD}xx", "he/homexx"},
    {"he${XXX:-${PWD:-yyy}}xx", "he/homexx"},
    {"he${XXX:-${YYY:-yyy}}xx", "heyyyxx"},
    {"he${XXX:YYY}", NULL},
    {"he${XXX?}", NULL},
    {"he${XXX:?}", NULL},
    {"he${PWD?}", "he/home"},
    {"he${PWD:?}", "he/home"},
    {"he${NULL?}", "he"},
    {"he${NULL:?}", NULL},
    {"he${XXX:+${PWD}}xx", "hexx"},
    {"he${PWD:+${XXX}}xx", "hexx"},
    {"he${PWD:+${SHELL}}xx", "hebashxx"},
    {"he${XXX:+000}xx", "hexx"},
    {"he${PWD:+000}xx", "he000xx"},
    {"'he${XX}'", "he${XX}"},
    {"\"he${PWD}\"", "he/home"},
    {"\"he'$PWD'\"", "he'/home'"},
    {"\"$PWD\"", "/home"},
    {"'$PWD'", "$PWD"},
    {"'\\$PWD'", "\\$PWD"},
    {"'\"hello\"'", "\"hello\""},
    {"he\\$PWD", "he$PWD"},
    {"\"he\\$PWD\"", "he$PWD"},
    {"'he\\$PWD'", "he\\$PWD"},
    {"he${PWD", NULL},
    {"he${PWD=000}xx", NULL},
    {"he${PWD|000}xx", NULL},
    {"he${PWD}xx", "he/homexx"},
    {"${XXX:-\\$PWD:}xx", "$PWD:xx"},
    {"he${XXX:-\\$\\$PWD:}xx", "he$$PWD:xx"},
    {"he${XXX:-\\${PWD}z}xx", "he${PWDz}xx"},
    {"\xec\x95\x88\xeb\x85\x95\xed\x95\x98\xec\x84\xb8\xec\x9a\x94", "\xec\x95\x88\xeb\x85\x95\xed\x95\x98\xec\x84\xb8\xec\x9a\x94"},
    {"\xec\x95\x88'\xeb\x85\x95'\xed\x95\x98\xec\x84\xb8\xec\x9a\x94", "\xec\x95\x88\xeb\x85\x95\xed\x95\x98\xec\x84\xb8\xec\x9a\x94"},
    {"\xec\x95\x88'\xeb\x85\x95\xed\x95\x98\xec\x84\xb8\xec\x9a\x94", NULL},
    {"\xec\x95\x88\xeb\x85\x95\\'\xed\x95\x98", "\xec\x95\x88\xeb\x85\x95'\xed\x95\x98"},
    {"\xec\x95\x88\xeb\x85\x95\\t\xed\x95\x98", "\xec\x95\x88\xeb\x85\x95t\xed\x95\x98"},
    {"\"\xec\x95\x88\xeb\x85\x95\\t\xed\x95\x98\"", "\xec\x95\x88\xeb\x85\x95\\t\xed\x95\x98"},
    {"\xec\x95\x88\xeb\x85\x95$1x", "\xec\x95\x88\xeb\x85\x95x"},
    {"\xec\x95\x88\xeb\x85\x95${PWD}", "\xec\x95\x88\xeb\x85\x95/home"},
    {"\xec\x95\x88\xeb\x85\x95${XXX:-${YYY:-yyy}}xx", "\xec\x95\x88\xeb\x85\x95yyyxx"},
    {"${KOREAN}", "\xed\x95\x9c\xea\xb5\xad\xec\x96\xb4"},
    {"\xec\x95\x88\xeb\x85\x95${KOREAN}", "\xec\x95\x88\xeb\x85\x95\xed\x95\x9c\xea\xb5\xad\xec\x96\xb4"},
    {"\xec\x95\x88\xeb\x85\x95$KOREAN", "\xec\x95\x88\xeb\x85\x95\xed\x95\x9c\xea\xb5\xad\xec\x96\xb4"},
    /* a Hangul letter continues the name: $KOREAN\xec\x95\x88 is unset */
    {"$KOREAN\xec\x95\x88", ""},
    {"${NULL:-x}", "x"},
    {"${NULL-x}", ""},
    {"${NULL+x}", "x"},
    {"${NULL:+x}", ""},
    {"$", "$"},
    {"${", NULL},
    {"${PWD:", NULL},
    {"${PWD:-", NULL},
};

static void test_env_var_table(void **state)
{
  static const char *const kv[] = {"PWD", "/home", "SHELL", "bash", "KOREAN", "\xed\x95\x9c\xea\xb5\xad\xec\x96\xb4",
                                   "NULL", "", NULL};
  struct cli_df_env e;

  (void)state;
  env_of(&e, kv);
  for (size_t i = 0; i < WH_ARRAY_LEN(env_var_test); i++) {
    const struct xcase *c = &env_var_test[i];
    WH_AUTOFREE char *got = expand(c->in, &e);
    if (c->want == NULL && got != NULL)
      fail_msg("%s: got \"%s\", want an error", c->in, got);
    if (c->want && (got == NULL || strcmp(got, c->want) != 0))
      fail_msg("%s: got \"%s\", want \"%s\"", c->in, got ? got : "(error)", c->want);
  }
  cli_df_env_release(&e);
}

/* ---- lexer: wordsTest ------------------------------------------------------------- */

static void test_words_table(void **state)
{
  static const char *const kv[] = {"hi", "hi", "space", "abc  def", "leading", "  ab c", "trailing", "ab c   ", NULL};
  static const struct xcase before[] = {{"hello", "hello"}, {"hello${hi}bye", "hellobye"}};
  static const struct xcase cases[] = {
      {"hello${hi}bye", "hellohibye"},
      {"hello${space}bye", "helloabc,defbye"},
      {"hello\"${space}\"bye", "helloabc  defbye"},
      {"hello \"${space}\"bye", "hello,abc  defbye"},
      {"hello${leading}def", "hello,ab,cdef"},
      {"hello\"${leading}\" def", "hello  ab c,def"},
      {"hello\"${leading}\"", "hello  ab c"},
      {"hello${leading}", "hello,ab,c"},
      {"hello${trailing}", "helloab,c"},
      {"hello${trailing}d", "helloab,c,d"},
      {"hello\"${trailing}\"d", "helloab c   d"},
      {"hel\"lo${trailing}\"", "helloab c   "},
      {"hello\" there  \"", "hello there  "},
      {"hello there     ", "hello,there"},
      {"hello\\ there", "hello there"},
      {"hello\" there", "error"},
      {"hello\\\" there", "hello\",there"},
      {"hello\"\\\\there\"", "hello\\there"},
      {"hello\"\\there\"", "hello\\there"},
      {"hello'\\\\there'", "hello\\\\there"},
      {"hello'\\there'", "hello\\there"},
      {"hello'$there'", "hello$there"},
      /* not in wordsTest: empty quotes make no word, as in BuildKit */
      {"a \"\" b", "a,b"},
      {"<<  EOF x", "<<  EOF,x"},
  };
  struct cli_df_env e;

  (void)state;
  cli_df_env_init(&e);
  for (size_t i = 0; i < WH_ARRAY_LEN(before); i++) {
    WH_AUTOFREE char *got = words_joined(before[i].in, &e, 0);
    assert_string_equal(got, before[i].want);
  }
  cli_df_env_release(&e);
  env_of(&e, kv);
  for (size_t i = 0; i < WH_ARRAY_LEN(cases); i++) {
    WH_AUTOFREE char *got = words_joined(cases[i].in, &e, 0);
    if (strcmp(got, cases[i].want) != 0)
      fail_msg("%s: got \"%s\", want \"%s\"", cases[i].in, got, cases[i].want);
  }
  cli_df_env_release(&e);
}

/* ---- lexer: TestShellParserMandatoryEnvVars, TestProcessWithMatches -------------- */

static void test_mandatory(void **state)
{
  static const char *const set[] = {"VAR", "plain", "ARG", "x", NULL};
  static const char *const empty[] = {"VAR", "", "ARG", "x", NULL};
  static const char *const unset[] = {"ARG", "x", NULL};
  struct cli_df_env s, e, u;
  struct wh_err err = {0};
  char *out = NULL;

  (void)state;
  env_of(&s, set);
  env_of(&e, empty);
  env_of(&u, unset);
  out = expand("${VAR:?message here$ARG}", &s);
  assert_string_equal(out, "plain");
  free(out);
  assert_int_equal(cli_df_expand("${VAR:?message here$ARG}", &e, '\\', 0, &out, &err), WH_EINVALID);
  assert_non_null(strstr(err.msg, "message herex"));
  assert_int_equal(cli_df_expand("${VAR:?message here$ARG}", &u, '\\', 0, &out, &err), WH_EINVALID);
  assert_non_null(strstr(err.msg, "message herex"));
  out = expand("${VAR?message here$ARG}", &s);
  assert_string_equal(out, "plain");
  free(out);
  out = expand("${VAR?message here$ARG}", &e);
  assert_string_equal(out, "");
  free(out);
  assert_int_equal(cli_df_expand("${VAR?message here$ARG}", &u, '\\', 0, &out, &err), WH_EINVALID);
  assert_non_null(strstr(err.msg, "message herex"));
  assert_int_equal(cli_df_expand("${VAR?}", &u, '\\', 0, &out, &err), WH_EINVALID);
  assert_non_null(strstr(err.msg, "VAR: is not allowed to be unset"));
  assert_int_equal(cli_df_expand("${VAR:?}", &e, '\\', 0, &out, &err), WH_EINVALID);
  assert_non_null(strstr(err.msg, "VAR: is not allowed to be empty"));
  cli_df_env_release(&s);
  cli_df_env_release(&e);
  cli_df_env_release(&u);
}

struct mcase {
  const char *in;
  const char *const env[8];
  const char *want; /* NULL: error */
};

static const struct mcase matches[] = {
    {"x", {"DUMMY", "dummy"}, "x"},
    {"x ${UNUSED}", {"DUMMY", "dummy"}, "x "},
    {"x ${FOO}", {"FOO", "y"}, "x y"},
    {"${FOO-aaa} ${BAR-bbb} ${BAZ-ccc}", {"FOO", "xxx", "BAR", ""}, "xxx  ccc"},
    {"${FOO:-aaa} ${BAR:-bbb} ${BAZ:-ccc}", {"FOO", "xxx", "BAR", ""}, "xxx bbb ccc"},
    {"${FOO:-}", {"FOO", "xxx", "BAR", ""}, "xxx"},
    {"${FOO:-}", {NULL}, ""},
    {"${FOO+aaa} ${BAR+bbb} ${BAZ+ccc}", {"FOO", "xxx", "BAR", ""}, "aaa bbb "},
    {"${FOO:+aaa} ${BAR:+bbb} ${BAZ:+ccc}", {"FOO", "xxx", "BAR", ""}, "aaa  "},
    {"${FOO?aaa}", {"FOO", "xxx", "BAR", ""}, "xxx"},
    {"${BAR?bbb}", {"FOO", "xxx", "BAR", ""}, ""},
    {"${BAZ?ccc}", {"FOO", "xxx", "BAR", ""}, NULL},
    {"${FOO:?aaa}", {"FOO", "xxx", "BAR", ""}, "xxx"},
    {"${BAR:?bbb}", {"FOO", "xxx", "BAR", ""}, NULL},
    {"${BAZ:?ccc}", {"FOO", "xxx", "BAR", ""}, NULL},
    {"${BAZ:?}", {"FOO", "xxx", "BAR", ""}, NULL},
    {"${FOO=aaa}", {"FOO", "xxx", "BAR", ""}, NULL},
    {"${FOO=:aaa}", {"FOO", "xxx", "BAR", ""}, NULL},
    {"${FOO=}", {NULL}, NULL},
    {"${FOO#()[]{\\}^$.\\*\\?|\\\\}", {"FOO", "()[]{}^$.*?|\\x"}, "x"},
    {"${FOO%%\\**}", {"FOO", "xx**"}, "xx"},
    {"${FOO#*x*y}", {"FOO", "xxyy"}, "y"},
    {"${FOO#*}", {"FOO", "xxyy"}, "xxyy"},
    {"${FOO#$BAR}", {"FOO", "xxyy", "BAR", "x"}, "xyy"},
    {"${FOO#$BAR}", {"FOO", "xxyy", "BAR", ""}, "xxyy"},
    {"${FOO#}", {"FOO", "xxyy"}, "xxyy"},
    {"${FOO##*x}", {"FOO", "xxyy"}, "yy"},
    {"${FOO##}", {"FOO", "xxyy"}, "xxyy"},
    {"${FOO#?\\?}", {"FOO", "???y"}, "?y"},
    {"${ABC:-.}${FOO%x}${ABC:-.}", {"FOO", "xxyy"}, ".xxyy."},
    {"${FOO%%\\**\\*}", {"FOO", "a***yy*"}, "a"},
    {"${FOO%}", {"FOO", "xxyy"}, "xxyy"},
    {"${FOO%%$BAR}", {"FOO", "xxyy", "BAR", ""}, "xxyy"},
    {"${FOO/$NEEDLE/.} - ${FOO//$NEEDLE/.}", {"FOO", "/foo*/*/*.txt", "NEEDLE", "\\*/"}, "/foo.*/*.txt - /foo..*.txt"},
    {"${FOO/$NEEDLE/} - ${FOO//$NEEDLE/}", {"FOO", "/tmp/tmp/bar.txt", "NEEDLE", "/tmp"}, "/tmp/bar.txt - /bar.txt"},
    {"${FOO/$NEEDLE/$REPLACEMENT} - ${FOO//$NEEDLE/$REPLACEMENT}",
     {"FOO", "/a/foo/b/c.txt", "NEEDLE", "/?/", "REPLACEMENT", "/"},
     "/foo/b/c.txt - /foo/c.txt"},
    {"${FOO/$NEEDLE/$REPLACEMENT}", {"FOO", "http://google.de", "NEEDLE", "http://", "REPLACEMENT", "https://"},
     "https://google.de"},
    {"${FOO//\\//\\/}", {"FOO", "/tmp/foo.txt"}, "\\/tmp\\/foo.txt"},
    {"${FOO/$BAR/ww}", {"FOO", "xxyy", "BAR", ""}, "wwxxyy"},
    {"${FOO//ww}", {"FOO", "xxyy"}, NULL},
    {"${FOO//}", {"FOO", "xxyy"}, NULL},
    {"${FOO///}", {"FOO", "xxyy"}, "xxyy"},
    {"${FOO///}", {NULL}, ""},
    /* shell pattern escapes (TestConvertShellPatternToRegex invalid list) */
    {"${FOO#\\x}", {"FOO", "x"}, NULL},
    {"${FOO#a\\}", {"FOO", "x"}, NULL},
    /* more of bash's behaviour */
    {"${FOO%.*}", {"FOO", "a.b.c"}, "a.b"},
    {"${FOO%%.*}", {"FOO", "a.b.c"}, "a"},
    {"${FOO##*/}", {"FOO", "/usr/local/bin"}, "bin"},
    {"${FOO#*/}", {"FOO", "/usr/local/bin"}, "usr/local/bin"},
    {"${FOO//o/0}", {"FOO", "foo boo"}, "f00 b00"},
    {"${FOO//?/-}", {"FOO", "ab"}, "--"},
};

static void test_process_matches(void **state)
{
  (void)state;
  for (size_t i = 0; i < WH_ARRAY_LEN(matches); i++) {
    const struct mcase *c = &matches[i];
    struct cli_df_env e;
    WH_AUTOFREE char *got = NULL;
    env_of(&e, c->env);
    got = expand(c->in, &e);
    cli_df_env_release(&e);
    if (c->want == NULL && got != NULL)
      fail_msg("%s: got \"%s\", want an error", c->in, got);
    if (c->want && (got == NULL || strcmp(got, c->want) != 0))
      fail_msg("%s: got \"%s\", want \"%s\"", c->in, got ? got : "(error)", c->want);
  }
}

static void test_platform_and_flags(void **state)
{
  static const char *const kv[] = {"VERSION", "v1.2.3", "TARGETOS", "linux", "TARGETARCH", "arm", "TARGETVARIANT",
                                   "v7", NULL};
  static const char *const kv2[] = {"VERSION", "v1.2.3", "TARGETOS", "linux", "TARGETARCH", "amd64", NULL};
  const char *rel = "something-${VERSION}.${TARGETOS}-${TARGETARCH}${TARGETVARIANT:+-${TARGETVARIANT}}.tar.gz";
  struct cli_df_env e;
  char *out;

  (void)state;
  env_of(&e, kv);
  out = expand(rel, &e);
  assert_string_equal(out, "something-v1.2.3.linux-arm-v7.tar.gz");
  free(out);
  cli_df_env_release(&e);
  env_of(&e, kv2);
  out = expand(rel, &e);
  assert_string_equal(out, "something-v1.2.3.linux-amd64.tar.gz");
  free(out);
  /* SKIP_UNSET keeps what is not set, RAW_QUOTES keeps the quotes */
  assert_int_equal(cli_df_expand("$NOPE ${NOPE} ${NOPE:-x} '$VERSION'", &e, '\\',
                                 CLI_DF_LEX_SKIP_UNSET | CLI_DF_LEX_RAW_QUOTES, &out, NULL),
                   WH_OK);
  assert_string_equal(out, "$NOPE ${NOPE} ${NOPE:-x} '$VERSION'");
  free(out);
  /* SKIP_QUOTES (heredoc bodies): quotes stay, $ inside them expands */
  assert_int_equal(cli_df_expand("echo '$VERSION' \"x\"", &e, '\\', CLI_DF_LEX_SKIP_QUOTES, &out, NULL), WH_OK);
  assert_string_equal(out, "echo 'v1.2.3' \"x\"");
  free(out);
  /* the backtick escape */
  assert_int_equal(cli_df_expand("a`$VERSION\\n", &e, '`', 0, &out, NULL), WH_OK);
  assert_string_equal(out, "a$VERSION\\n");
  free(out);
  cli_df_env_release(&e);
}

static void test_expand_limits(void **state)
{
  struct wh_buf b;
  struct cli_df_env e;
  char *out = NULL;
  struct wh_err err = {0};

  (void)state;
  /* nesting deeper than CLI_DF_NEST_MAX fails cleanly */
  wh_buf_init(&b, 1 << 20);
  for (int i = 0; i < 200; i++)
    assert_int_equal(wh_buf_appendz(&b, "${X:-"), WH_OK);
  for (int i = 0; i < 200; i++)
    assert_int_equal(wh_buf_appendz(&b, "}"), WH_OK);
  assert_int_equal(cli_df_expand(b.data, NULL, '\\', 0, &out, &err), WH_EINVALID);
  assert_non_null(strstr(err.msg, "nested"));
  wh_buf_release(&b);
  /* output capped: a 1 MiB value used 8 times */
  cli_df_env_init(&e);
  wh_buf_init(&b, 2 << 20);
  for (int i = 0; i < 1024; i++)
    assert_int_equal(wh_buf_appendz(&b, "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
                                        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
                                        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
                                        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
                                        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
                                        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
                                        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
                                        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
                                        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
                                        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
                                        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
                                        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
                                        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
                                        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
                                        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
                                        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"),
                     WH_OK);
  assert_int_equal(cli_df_env_set(&e, "BIG", b.data), WH_OK);
  assert_int_equal(cli_df_expand("$BIG$BIG$BIG$BIG$BIG", &e, '\\', 0, &out, &err), WH_ETOOBIG);
  assert_int_equal(cli_df_expand("$BIG", &e, '\\', 0, &out, &err), WH_OK);
  assert_int_equal(strlen(out), 1 << 20);
  free(out);
  wh_buf_release(&b);
  cli_df_env_release(&e);
}

/* ---- parser: AST dumps of BuildKit's testfiles --------------------------------- */

static void quote(struct wh_buf *b, const char *s)
{
  assert_int_equal(wh_buf_append(b, " \"", 2), WH_OK);
  for (; *s; s++) {
    const char *e = *s == '"' ? "\\\"" : *s == '\\' ? "\\\\" : *s == '\t' ? "\\t" : *s == '\n' ? "\\n" : NULL;
    assert_int_equal(e ? wh_buf_appendz(b, e) : wh_buf_append(b, s, 1), WH_OK);
  }
  assert_int_equal(wh_buf_append(b, "\"", 1), WH_OK);
}

/* Node.Dump() of BuildKit, for the shapes used by the testfiles. */
static char *dump(const struct cli_df_file *f)
{
  struct wh_buf b;

  wh_buf_init(&b, 1 << 20);
  for (size_t i = 0; i < f->ninsts; i++) {
    const struct cli_df_inst *in = &f->insts[i];
    char kw[16];
    size_t k;
    for (k = 0; cli_df_kind_name(in->kind)[k]; k++)
      kw[k] = (char)(cli_df_kind_name(in->kind)[k] | 0x20);
    kw[k] = '\0';
    assert_int_equal(wh_buf_printf(&b, "(%s", kw), WH_OK);
    for (size_t j = 0; j < in->nargs; j++)
      quote(&b, in->args[j]);
    for (size_t j = 0; j < in->npairs; j++) {
      quote(&b, in->pairs[j].key);
      quote(&b, in->pairs[j].value);
    }
    assert_int_equal(wh_buf_appendz(&b, ")\n"), WH_OK);
  }
  return wh_buf_steal(&b, NULL);
}

static void test_testfiles(void **state)
{
  static const char docker[] =
      "# This file describes the standard way to build Docker, using docker\n"
      "#\n"
      "# Usage:\n"
      "#\n"
      "# # Assemble the full dev environment. This is slow the first time.\n"
      "# docker build -t docker .\n"
      "#\n"
      "\n"
      "FROM\tubuntu:14.04\n"
      "LABEL\tmaintainer\tTianon Gravi <admwiggin@gmail.com> (@tianon)\n"
      "\n"
      "# Packaged dependencies\n"
      "RUN\tapt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -yq \\\n"
      "\tapt-utils \\\n"
      "\taufs-tools \\\n"
      "\ts3cmd=1.1.0* \\\n"
      "\t--no-install-recommends\n"
      "\n"
      "# Install Go\n"
      "RUN\tcurl -sSL https://golang.org/dl/go1.3.src.tar.gz | tar -v -C /usr/local -xz\n"
      "ENV\tPATH\t/usr/local/go/bin:$PATH\n"
      "ENV\tGOPATH\t/go:/go/src/github.com/docker/docker/vendor\n"
      "\n"
      "# Compile Go for cross compilation\n"
      "ENV\tDOCKER_CROSSPLATFORMS\t\\\n"
      "\tlinux/386 linux/arm \\\n"
      "\tdarwin/amd64 darwin/386 \\\n"
      "\tfreebsd/amd64 freebsd/386 freebsd/arm\n"
      "# (set an explicit GOARM of 5 for maximum compatibility)\n"
      "ENV\tGOARM\t5\n"
      "RUN\tcd /usr/local/go/src && bash -xc 'for platform in $DOCKER_CROSSPLATFORMS; do "
      "GOOS=${platform%/*} GOARCH=${platform##*/} ./make.bash --no-clean 2>&1; done'\n"
      "RUN\t/bin/echo -e '[default]\\naccess_key=$AWS_ACCESS_KEY\\nsecret_key=$AWS_SECRET_KEY' > /.s3cfg\n"
      "RUN groupadd -r docker\n"
      "VOLUME\t/var/lib/docker\n"
      "WORKDIR\t/go/src/github.com/docker/docker\n"
      "ENV\tDOCKER_BUILDTAGS\tapparmor selinux\n"
      "\n"
      "# Wrap all commands in the \"docker-in-docker\" script to allow nested containers\n"
      "ENTRYPOINT\t[\"hack/dind\"]\n"
      "\n"
      "# Upload docker source\n"
      "COPY\t.\t/go/src/github.com/docker/docker\n";
  static const char docker_result[] =
      "(from \"ubuntu:14.04\")\n"
      "(label \"maintainer\" \"Tianon Gravi <admwiggin@gmail.com> (@tianon)\")\n"
      "(run \"apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -yq \\tapt-utils \\taufs-tools "
      "\\ts3cmd=1.1.0* \\t--no-install-recommends\")\n"
      "(run \"curl -sSL https://golang.org/dl/go1.3.src.tar.gz | tar -v -C /usr/local -xz\")\n"
      "(env \"PATH\" \"/usr/local/go/bin:$PATH\")\n"
      "(env \"GOPATH\" \"/go:/go/src/github.com/docker/docker/vendor\")\n"
      "(env \"DOCKER_CROSSPLATFORMS\" \"linux/386 linux/arm \\tdarwin/amd64 darwin/386 \\tfreebsd/amd64 "
      "freebsd/386 freebsd/arm\")\n"
      "(env \"GOARM\" \"5\")\n"
      "(run \"cd /usr/local/go/src && bash -xc 'for platform in $DOCKER_CROSSPLATFORMS; do GOOS=${platform%/*} "
      "GOARCH=${platform##*/} ./make.bash --no-clean 2>&1; done'\")\n"
      "(run \"/bin/echo -e '[default]\\\\naccess_key=$AWS_ACCESS_KEY\\\\nsecret_key=$AWS_SECRET_KEY' > /.s3cfg\")\n"
      "(run \"groupadd -r docker\")\n"
      "(volume \"/var/lib/docker\")\n"
      "(workdir \"/go/src/github.com/docker/docker\")\n"
      "(env \"DOCKER_BUILDTAGS\" \"apparmor selinux\")\n"
      "(entrypoint \"hack/dind\")\n"
      "(copy \".\" \"/go/src/github.com/docker/docker\")\n";
  static const char influx[] =
      "FROM ubuntu:14.04\n\n"
      "RUN apt-get update && apt-get install --yes --force-yes apt-transport-https curl\n"
      "RUN /bin/bash -c 'source /etc/lsb-release && echo \"deb https://repos.influxdata.com/${DISTRIB_ID,,} "
      "${DISTRIB_CODENAME} stable\"' | tee \"/etc/apt/sources.list.d/influxdb.list\"\n\n"
      "CMD service influxdb start\n\n"
      "EXPOSE 8086\nEXPOSE 8088\nEXPOSE 8089/udp\n";
  static const char influx_result[] =
      "(from \"ubuntu:14.04\")\n"
      "(run \"apt-get update && apt-get install --yes --force-yes apt-transport-https curl\")\n"
      "(run \"/bin/bash -c 'source /etc/lsb-release && echo \\\"deb https://repos.influxdata.com/${DISTRIB_ID,,} "
      "${DISTRIB_CODENAME} stable\\\"' | tee \\\"/etc/apt/sources.list.d/influxdb.list\\\"\")\n"
      "(cmd \"service influxdb start\")\n"
      "(expose \"8086\")\n(expose \"8088\")\n(expose \"8089/udp\")\n";
  struct cli_df_file f;
  char *d;

  (void)state;
  parse_ok(docker, &f);
  d = dump(&f);
  assert_string_equal(d, docker_result);
  assert_true(f.insts[f.ninsts - 2].json);
  free(d);
  cli_df_file_release(&f);
  parse_ok(influx, &f);
  d = dump(&f);
  assert_string_equal(d, influx_result);
  free(d);
  cli_df_file_release(&f);
}

/* testfiles/health, line by line (the invalid lines fail in instructions/). */
static void test_health(void **state)
{
  struct cli_df_file f;
  const struct cli_df_inst *h;

  (void)state;
  parse_ok("FROM debian\nADD check.sh main.sh /app/\nCMD /app/main.sh\n"
           "HEALTHCHECK --interval=5s --timeout=3s --retries=3 \\\n  CMD /app/check.sh --quiet\n"
           "HEALTHCHECK   CMD   a b\n"
           "HEALTHCHECK --timeout=3s CMD [\"foo\"]\n"
           "HEALTHCHECK --start-period=0s --interval=5s --timeout=0s --retries=0 CMD [\"foo\"]\n"
           "HEALTHCHECK NONE\n"
           "HEALTHCHECK --start-interval=1m30.5s --interval=1h CMD true\n",
           &f);
  assert_int_equal(f.ninsts, 9);
  h = &f.insts[3];
  assert_int_equal(h->kind, CLI_DF_HEALTHCHECK);
  assert_int_equal(h->nargs, 1);
  assert_string_equal(h->args[0], "/app/check.sh --quiet");
  assert_true(h->health.shell);
  assert_true(h->health.interval_ns == 5000000000ll);
  assert_true(h->health.timeout_ns == 3000000000ll);
  assert_int_equal(h->health.retries, 3);
  assert_int_equal(h->line, 4);
  assert_int_equal(h->end_line, 5);
  h = &f.insts[4];
  assert_string_equal(h->args[0], "a b");
  h = &f.insts[5];
  assert_true(h->json);
  assert_false(h->health.shell);
  assert_string_equal(h->args[0], "foo");
  h = &f.insts[6];
  assert_true(h->health.start_period_ns == 0 && h->health.timeout_ns == 0 && h->health.retries == 0);
  assert_true(f.insts[7].health.none);
  assert_int_equal(f.insts[7].nargs, 0);
  assert_true(f.insts[8].health.start_interval_ns == 90500000000ll);
  assert_true(f.insts[8].health.interval_ns == 3600000000000ll);
  cli_df_file_release(&f);
  parse_fails("FROM debian\nHEALTHCHECK\n", "Dockerfile:2: HEALTHCHECK requires at least one argument");
  parse_fails("FROM debian\nHEALTHCHECK CMD\n", "Missing command after HEALTHCHECK CMD");
  parse_fails("FROM debian\nHEALTHCHECK CONNECT TCP 7000\n", "Unknown type \"CONNECT\" in HEALTHCHECK (try CMD)");
  parse_fails("FROM debian\nHEALTHCHECK NONE x\n", "HEALTHCHECK NONE takes no arguments");
  parse_fails("FROM debian\nHEALTHCHECK --interval=50ns CMD x\n", "cannot be less than 1ms");
  parse_fails("FROM debian\nHEALTHCHECK --interval=5 CMD x\n", "invalid duration");
  parse_fails("FROM debian\nHEALTHCHECK --retries=-1 CMD x\n", "--retries cannot be negative (-1)");
  parse_fails("FROM debian\nHEALTHCHECK --retries=x CMD x\n", "invalid syntax");
  parse_fails("FROM debian\nHEALTHCHECK --bogus=1 CMD x\n", "unknown flag: bogus");
}

/* ---- parser: words, forms, flags ----------------------------------------------- */

static void test_parse_words(void **state)
{
  static const struct {
    const char *in;
    const char *want[4];
  } cases[] = {
      {"foo", {"foo"}},
      {"foo bar", {"foo", "bar"}},
      {"foo\\ bar", {"foo\\ bar"}},
      {"foo=bar", {"foo=bar"}},
      {"foo bar 'abc xyz'", {"foo", "bar", "'abc xyz'"}},
      {"foo bar \"abc xyz\"", {"foo", "bar", "\"abc xyz\""}},
      {"\xc3\xa0\xc3\xb6\xc3\xbb", {"\xc3\xa0\xc3\xb6\xc3\xbb"}},
      {"f\xc3\xb6o b\xc3\xa0r \"\xc3\xa2" "bc x\xc3\xbfz\"", {"f\xc3\xb6o", "b\xc3\xa0r", "\"\xc3\xa2" "bc x\xc3\xbfz\""}},
  };

  (void)state;
  /* ARG arguments are parseWords' words */
  for (size_t i = 0; i < WH_ARRAY_LEN(cases); i++) {
    char text[256];
    struct cli_df_file f;
    const struct cli_df_inst *in;
    snprintf(text, sizeof(text), "FROM a\nARG %s\n", cases[i].in);
    parse_ok(text, &f);
    in = &f.insts[1];
    for (size_t j = 0; j < 4; j++) {
      if (cases[i].want[j] == NULL) {
        assert_int_equal(in->nargs, j);
        break;
      }
      assert_true(j < in->nargs);
      assert_string_equal(in->args[j], cases[i].want[j]);
    }
    cli_df_file_release(&f);
  }
}

static void test_forms(void **state)
{
  struct cli_df_file f;
  const struct cli_df_inst *in;

  (void)state;
  parse_ok("# syntax=docker/dockerfile:1.7\n"
           "ARG BASE=alpine VERSION\n"
           "ARG  other=\"x y\"\n"
           "from --platform=$BUILDPLATFORM ${BASE}:3 As Build\n"
           "run [\"sh\", \"-c\", \"echo hi\"]\n"
           "RUN echo \"a b\" \\\n    && echo c\n"
           "CMD [ \"a\" ]  \n"
           "ENTRYPOINT exec app\n"
           "SHELL [\"/bin/bash\", \"-o\", \"pipefail\", \"-c\"]\n"
           "ENV A=1 B=\"two words\" C=three\\ four\n"
           "ENV LEGACY some value here\n"
           "LABEL \"com.example.vendor\"=\"ACME Inc\" version=1.0 description=\"multi \\\n  line\"\n"
           "EXPOSE 8080/tcp 53/udp 80\n"
           "VOLUME [\"/data\", \"/logs\"]\n"
           "VOLUME /a /b\n"
           "USER app:app\n"
           "WORKDIR /srv/$NAME\n"
           "STOPSIGNAL SIGTERM\n"
           "MAINTAINER someone <a@b>\n"
           "ONBUILD RUN make\n"
           "ONBUILD COPY --from=build a b\n"
           "COPY [\"src dir\", \"/dst/\"]\n"
           "FROM scratch\n"
           "COPY --from=build --chown=1:2 --chmod=755 --link /out/app /app\n"
           "ADD --checksum=sha256:abc --link=false https://x/y.tar /z/\n"
           "RUN --mount=type=cache,target=/root/.cache --mount=type=bind,source=.,target=/src --network=none make\n",
           &f);
  assert_string_equal(f.syntax, "docker/dockerfile:1.7");
  assert_int_equal(f.escape, '\\');
  assert_int_equal(f.nmeta, 2);
  assert_int_equal(f.nstages, 2);
  assert_string_equal(f.stages[0].name, "build");
  assert_string_equal(f.stages[0].base, "${BASE}:3");
  assert_string_equal(f.stages[0].platform, "$BUILDPLATFORM");
  assert_int_equal(f.stages[0].from, 2);
  assert_int_equal(f.stages[0].count, 18);
  assert_null(f.stages[1].name);
  assert_string_equal(f.stages[1].base, "scratch");
  assert_int_equal(f.stages[1].count, 3);
  /* ARG */
  in = &f.insts[0];
  assert_int_equal(in->npairs, 2);
  assert_string_equal(in->pairs[0].key, "BASE");
  assert_string_equal(in->pairs[0].value, "alpine");
  assert_string_equal(in->pairs[1].key, "VERSION");
  assert_null(in->pairs[1].value);
  assert_string_equal(f.insts[1].pairs[0].value, "\"x y\"");
  /* RUN exec / shell */
  in = &f.insts[3];
  assert_int_equal(in->kind, CLI_DF_RUN);
  assert_true(in->json);
  assert_int_equal(in->nargs, 3);
  assert_string_equal(in->args[2], "echo hi");
  in = &f.insts[4];
  assert_false(in->json);
  assert_string_equal(in->args[0], "echo \"a b\"     && echo c");
  assert_int_equal(in->line, 6);
  assert_int_equal(in->end_line, 7);
  assert_true(f.insts[5].json);
  assert_string_equal(f.insts[5].args[0], "a");
  assert_false(f.insts[6].json);
  assert_string_equal(f.insts[6].args[0], "exec app");
  assert_int_equal(f.insts[7].nargs, 4);
  /* ENV */
  in = &f.insts[8];
  assert_int_equal(in->npairs, 3);
  assert_string_equal(in->pairs[1].key, "B");
  assert_string_equal(in->pairs[1].value, "\"two words\"");
  assert_string_equal(in->pairs[2].value, "three\\ four");
  in = &f.insts[9];
  assert_int_equal(in->npairs, 1);
  assert_string_equal(in->pairs[0].key, "LEGACY");
  assert_string_equal(in->pairs[0].value, "some value here");
  /* LABEL */
  in = &f.insts[10];
  assert_int_equal(in->npairs, 3);
  assert_string_equal(in->pairs[0].key, "\"com.example.vendor\"");
  assert_string_equal(in->pairs[0].value, "\"ACME Inc\"");
  assert_string_equal(in->pairs[2].value, "\"multi   line\"");
  /* EXPOSE sorted, VOLUME forms */
  in = &f.insts[11];
  assert_int_equal(in->nargs, 3);
  assert_string_equal(in->args[0], "53/udp");
  assert_string_equal(in->args[1], "80");
  assert_string_equal(in->args[2], "8080/tcp");
  assert_true(f.insts[12].json);
  assert_string_equal(f.insts[12].args[1], "/logs");
  assert_int_equal(f.insts[13].nargs, 2);
  assert_string_equal(f.insts[14].args[0], "app:app");
  assert_string_equal(f.insts[15].args[0], "/srv/$NAME");
  assert_string_equal(f.insts[16].args[0], "SIGTERM");
  assert_string_equal(f.insts[17].args[0], "someone <a@b>");
  /* ONBUILD */
  in = &f.insts[18];
  assert_int_equal(in->kind, CLI_DF_ONBUILD);
  assert_non_null(in->sub);
  assert_int_equal(in->sub->kind, CLI_DF_RUN);
  assert_string_equal(in->onbuild_expr, "RUN make");
  in = &f.insts[19];
  assert_int_equal(in->sub->kind, CLI_DF_COPY);
  assert_string_equal(cli_df_inst_flag(in->sub, "from"), "build");
  assert_string_equal(in->onbuild_expr, "COPY --from=build a b");
  in = &f.insts[20];
  assert_true(in->json);
  assert_string_equal(in->args[0], "src dir");
  assert_int_equal(in->arg_heredoc[0], -1);
  /* flags */
  in = &f.insts[22];
  assert_string_equal(cli_df_inst_flag(in, "from"), "build");
  assert_string_equal(cli_df_inst_flag(in, "chown"), "1:2");
  assert_string_equal(cli_df_inst_flag(in, "chmod"), "755");
  assert_string_equal(cli_df_inst_flag(in, "link"), "true");
  assert_null(cli_df_inst_flag(in, "parents"));
  assert_int_equal(in->nargs, 2);
  in = &f.insts[23];
  assert_string_equal(cli_df_inst_flag(in, "link"), "false");
  assert_string_equal(cli_df_inst_flag(in, "checksum"), "sha256:abc");
  in = &f.insts[24];
  assert_int_equal(in->nflags, 3);
  assert_string_equal(in->flags[0].name, "mount");
  assert_string_equal(in->flags[0].value, "type=cache,target=/root/.cache");
  assert_string_equal(in->flags[1].value, "type=bind,source=.,target=/src");
  assert_string_equal(cli_df_inst_flag(in, "network"), "none");
  assert_string_equal(in->args[0], "make");
  cli_df_file_release(&f);
}

static void test_directives(void **state)
{
  struct cli_df_file f;

  (void)state;
  /* backtick escape: continuation and literal backslashes */
  parse_ok("# escape=`\n\nFROM windows\nRUN dir c:\\ `\n  /s\nCOPY a\\b c:\\dst\\\n", &f);
  assert_int_equal(f.escape, '`');
  assert_string_equal(f.insts[1].args[0], "dir c:\\   /s");
  assert_string_equal(f.insts[2].args[1], "c:\\dst\\");
  cli_df_file_release(&f);
  /* keys are case-insensitive, spaces allowed; a BOM is skipped */
  parse_ok("\xef\xbb\xbf#  EScape = ` \nFROM a\n", &f);
  assert_int_equal(f.escape, '`');
  cli_df_file_release(&f);
  /* after a comment, blank line or instruction they are comments */
  parse_ok("# comment\n# escape=`\nFROM a\nRUN x \\\n y\n", &f);
  assert_int_equal(f.escape, '\\');
  assert_string_equal(f.insts[1].args[0], "x  y");
  cli_df_file_release(&f);
  parse_ok("\n# escape=`\nFROM a\n", &f);
  assert_int_equal(f.escape, '\\');
  cli_df_file_release(&f);
  parse_ok("# unknown=x\n# escape=`\nFROM a\n", &f);
  assert_int_equal(f.escape, '\\');
  cli_df_file_release(&f);
  /* syntax then check then escape: all directives */
  parse_ok("# syntax=x\n# check=skip=all\n# escape=`\nFROM a\n", &f);
  assert_int_equal(f.escape, '`');
  assert_string_equal(f.syntax, "x");
  cli_df_file_release(&f);
  parse_fails("# escape=`\n# escape=\\\nFROM a\n", "Dockerfile:2: only one escape parser directive can be used");
  parse_fails("# syntax=a\n# SYNTAX=b\nFROM a\n", "only one syntax parser directive can be used");
  parse_fails("# escape=x\nFROM a\n", "invalid escape token 'x' does not match ` or \\");
  parse_fails("# escape=\\\\\nFROM a\n", "invalid escape token");
}

static void test_continuations(void **state)
{
  struct cli_df_file f;

  (void)state;
  /* TestParseWarnsOnEmptyContinutationLine */
  parse_ok("\nFROM alpine:3.6\n\nRUN valid \\\n    continuation\n\nRUN something \\\n\n    following \\\n\n"
           "    more\n\nRUN another \\\n\n    thing\n\nRUN non-indented \\\n# this is a comment\n   after-comment\n\n"
           "RUN indented \\\n    # this is an indented comment\n    comment\n\t",
           &f);
  assert_int_equal(f.empty_continuations, 2);
  assert_string_equal(f.insts[1].args[0], "valid     continuation");
  assert_string_equal(f.insts[2].original, "RUN something     following     more");
  assert_string_equal(f.insts[3].original, "RUN another     thing");
  assert_string_equal(f.insts[4].args[0], "non-indented    after-comment");
  assert_string_equal(f.insts[5].args[0], "indented     comment");
  /* line numbers (TestParseIncludesLineNumbers in spirit) */
  assert_int_equal(f.insts[0].line, 2);
  assert_int_equal(f.insts[2].line, 7);
  assert_int_equal(f.insts[2].end_line, 11);
  assert_int_equal(f.insts[5].line, 21);
  assert_int_equal(f.insts[5].end_line, 23);
  cli_df_file_release(&f);
  /* an escaped escape at the end is no continuation; CRLF; a lone \ */
  parse_ok("FROM a\r\nRUN echo \\\\\r\nRUN x\\  \t\r\n  y\r\n\\\nRUN z\nRUN end \\", &f);
  assert_int_equal(f.ninsts, 5);
  assert_string_equal(f.insts[1].args[0], "echo \\\\");
  assert_string_equal(f.insts[2].args[0], "x  y");
  assert_string_equal(f.insts[3].args[0], "z");
  assert_string_equal(f.insts[4].args[0], "end");
  cli_df_file_release(&f);
  /* keywords are case-insensitive, leading blanks ignored */
  parse_ok("  from a\n\tRuN b\n  # indented comment\ncoPY x y\n", &f);
  assert_int_equal(f.insts[1].kind, CLI_DF_RUN);
  assert_int_equal(f.insts[2].kind, CLI_DF_COPY);
  cli_df_file_release(&f);
}

/* ---- parser: heredocs (parser_heredoc_test.go) --------------------------------- */

struct hd {
  const char *name, *content;
  bool expand, chomp;
  unsigned fd;
};

static void test_heredocs(void **state)
{
  static const char text[] =
      "\nFROM alpine:3.6\n\nENV NAME=me\n\nRUN ls\n\n"
      "RUN <<EMPTY\nEMPTY\n\n"
      "RUN 3<<EMPTY2\nEMPTY2\n\n"
      "RUN \"<<NOHEREDOC\"\n\n"
      "RUN <<INDENT\n\tfoo\n\tbar\nINDENT\n\n"
      "RUN <<-UNINDENT\n\tbaz\n\tquux\nUNINDENT\n\n"
      "RUN <<-UNINDENT2\n\tbaz\n\tquux\n\tUNINDENT2\n\n"
      "RUN <<-EXPAND\n\texpand $NAME\nEXPAND\n\n"
      "RUN <<-'NOEXPAND'\n\tdon't expand $NAME\nNOEXPAND\n\n"
      "RUN <<COPY\necho hello world\necho foo bar\nCOPY\n\n"
      "RUN <<COMMENT\n# internal comment\necho hello world\necho foo bar # trailing comment\nCOMMENT\n\n"
      "RUN --mount=type=cache,target=/foo <<MOUNT\necho hello\nMOUNT\n\n"
      "COPY <<FILE1 <<FILE2 /dest\ncontent 1\nFILE1\ncontent 2\nFILE2\n\n"
      "COPY <<EOF /quotes\n\"foo\"\n'bar'\nEOF\n\n"
      "COPY <<X <<Y /dest\nY\nX\nX\nY\n\n"
      "RUN <<COMPLEX python3\nprint('hello world')\nCOMPLEX\n\n"
      "COPY <<file.txt /dest\nhello world\nfile.txt\n\n"
      "RUN <<eo'f'\necho foo\neof\n\n"
      "RUN <<eo\\'f\necho foo\neo'f\n\n"
      "RUN <<'e'o\\'f\necho foo\neo'f\n\n"
      "RUN <<'one two'\necho bar\none two\n\n"
      "RUN <<$EOF\n$EOF\n\n"
      "RUN <<  EOF\nEOF\n\n"
      "RUN <<  EOF  > foo\nEOF\n\t";
  static const struct hd want[][2] = {
      {{NULL}},
      {{NULL}},
      {{"EMPTY", "", true, false, 0}},
      {{"EMPTY2", "", true, false, 3}},
      {{NULL}},
      {{"INDENT", "\tfoo\n\tbar\n", true, false, 0}},
      {{"UNINDENT", "\tbaz\n\tquux\n", true, true, 0}},
      {{"UNINDENT2", "\tbaz\n\tquux\n", true, true, 0}},
      {{"EXPAND", "\texpand $NAME\n", true, true, 0}},
      {{"NOEXPAND", "\tdon't expand $NAME\n", false, true, 0}},
      {{"COPY", "echo hello world\necho foo bar\n", true, false, 0}},
      {{"COMMENT", "# internal comment\necho hello world\necho foo bar # trailing comment\n", true, false, 0}},
      {{"MOUNT", "echo hello\n", true, false, 0}},
      {{"FILE1", "content 1\n", true, false, 0}, {"FILE2", "content 2\n", true, false, 0}},
      {{"EOF", "\"foo\"\n'bar'\n", true, false, 0}},
      {{"X", "Y\n", true, false, 0}, {"Y", "X\n", true, false, 0}},
      {{"COMPLEX", "print('hello world')\n", true, false, 0}},
      {{"file.txt", "hello world\n", true, false, 0}},
      {{"eof", "echo foo\n", false, false, 0}},
      {{"eo'f", "echo foo\n", true, false, 0}},
      {{"eo'f", "echo foo\n", false, false, 0}},
      {{"one two", "echo bar\n", false, false, 0}},
      {{"$EOF", "", true, false, 0}},
      {{"EOF", "", true, false, 0}},
      {{"EOF", "", true, false, 0}},
  };
  struct cli_df_file f;

  (void)state;
  parse_ok(text, &f);
  assert_int_equal(f.ninsts, WH_ARRAY_LEN(want) + 1);
  for (size_t i = 0; i < WH_ARRAY_LEN(want); i++) {
    const struct cli_df_inst *in = &f.insts[i + 1];
    size_t n = want[i][0].name == NULL ? 0 : want[i][1].name == NULL ? 1 : 2;
    if (in->nheredocs != n)
      fail_msg("instruction %zu (%s): %zu heredocs, want %zu", i + 1, in->original, in->nheredocs, n);
    for (size_t j = 0; j < n; j++) {
      const struct cli_df_heredoc *h = &in->heredocs[j];
      assert_string_equal(h->name, want[i][j].name);
      assert_string_equal(h->content, want[i][j].content);
      assert_int_equal(h->len, strlen(want[i][j].content));
      assert_int_equal(h->expand, want[i][j].expand);
      assert_int_equal(h->chomp, want[i][j].chomp);
      assert_int_equal(h->fd, want[i][j].fd);
    }
  }
  /* COPY sources point at their bodies */
  assert_int_equal(f.insts[14].arg_heredoc[0], 0);
  assert_int_equal(f.insts[14].arg_heredoc[1], 1);
  assert_int_equal(f.insts[14].arg_heredoc[2], -1);
  {
    WH_AUTOFREE char *t = cli_df_heredoc_text(&f.insts[7].heredocs[0]);
    assert_string_equal(t, "baz\nquux\n");
  }
  cli_df_file_release(&f);
}

static void test_heredoc_more(void **state)
{
  static const char *const valid[] = {"<<EOF", "<<'EOF'", "<<\"EOF\"", "<<-EOF", "<<-'EOF'", "<<-\"EOF\"",
                                      "<<EO\"F\"", "<< EOF", "<<- EOF"};
  static const char *const invalid[] = {"<<'EOF", "<<\"EOF", "<<EOF'", "<<EOF\""};
  static const char *const not[] = {"", "EOF", "<<", "<<-", "<EOF", "<<<EOF", "<<EOF sh"};
  struct cli_df_file f;

  (void)state;
  for (size_t i = 0; i < WH_ARRAY_LEN(valid); i++) {
    struct cli_df_heredoc h = {0};
    assert_int_equal(cli_df_heredoc_word(valid[i], &h, NULL), 1);
    assert_string_equal(h.name, "EOF");
    free(h.name);
  }
  for (size_t i = 0; i < WH_ARRAY_LEN(invalid); i++) {
    struct cli_df_heredoc h = {0};
    assert_int_equal(cli_df_heredoc_word(invalid[i], &h, NULL), -1);
  }
  for (size_t i = 0; i < WH_ARRAY_LEN(not); i++) {
    struct cli_df_heredoc h = {0};
    assert_int_equal(cli_df_heredoc_word(not[i], &h, NULL), 0);
  }
  /* TestParseJSONHeredoc */
  parse_ok("\nFROM alpine:3.6\n\nRUN [\"whoami\"]\nRUN [\"<<EOF\"]\nRUN [\"<<'EOF'\"]\n\t", &f);
  for (size_t i = 1; i <= 3; i++)
    assert_int_equal(f.insts[i].nheredocs, 0);
  cli_df_file_release(&f);
  /* TestHeredocsFromLine */
  parse_ok("FROM a\nRUN << -EOF\n-EOF\nRUN 4<<EOF\nEOF\nRUN <<EOF <<EOF2\nEOF\nEOF2\nRUN '<<EOF'\n"
           "RUN \"<<EOF\"\nONBUILD RUN <<EOT\n\tx\nEOT\nRUN <<EOF\r\nwin\r\nEOF\r\n",
           &f);
  assert_string_equal(f.insts[1].heredocs[0].name, "-EOF");
  assert_int_equal(f.insts[2].heredocs[0].fd, 4);
  assert_int_equal(f.insts[3].nheredocs, 2);
  assert_string_equal(f.insts[3].heredocs[1].name, "EOF2");
  assert_int_equal(f.insts[4].nheredocs, 0);
  assert_int_equal(f.insts[5].nheredocs, 0);
  assert_int_equal(f.insts[6].sub->nheredocs, 1);
  assert_string_equal(f.insts[6].onbuild_expr, "RUN <<EOT\n\tx\nEOT");
  assert_string_equal(f.insts[7].heredocs[0].content, "win\r\n");
  cli_df_file_release(&f);
  parse_fails("FROM a\nRUN <<EOF\nno end\n", "Dockerfile:2: unterminated heredoc");
  parse_fails("FROM a\nCOPY x <<EOF\nEOF\n", "COPY cannot accept a heredoc as a destination");
  /* a line that does not lex has no heredocs (BuildKit ignores the error) */
  parse_fails("FROM a\nRUN <<'EOF\nEOF\n", "Dockerfile:3: unknown instruction: EOF");
}

/* ---- parser: errors (instructions/parse_test.go and more) ------------------------ */

static void test_errors(void **state)
{
  static const struct {
    const char *text, *want;
  } cases[] = {
      {"FROM a\nMAINTAINER\n", "MAINTAINER requires exactly one argument"},
      {"FROM a\nWORKDIR\n", "WORKDIR requires exactly one argument"},
      {"FROM a\nUSER\n", "Dockerfile:2: USER requires exactly one argument"},
      {"FROM a\nSTOPSIGNAL\n", "STOPSIGNAL requires exactly one argument"},
      {"FROM a\nENV\n", "ENV requires at least one argument"},
      {"FROM a\nLABEL\n", "LABEL requires at least one argument"},
      {"FROM a\nONBUILD\n", "ONBUILD requires at least one argument"},
      {"FROM a\nEXPOSE\n", "EXPOSE requires at least one argument"},
      {"FROM a\nVOLUME\n", "VOLUME requires at least one argument"},
      {"FROM a\nARG\n", "ARG requires at least one argument"},
      {"FROM a\nADD arg1\n", "ADD requires at least two arguments, but only one was provided"},
      {"FROM a\nCOPY arg1\n", "COPY requires at least two arguments, but only one was provided"},
      {"FROM a\nCOPY\t\n\t\tquux \\\n      bar", "COPY requires at least two arguments"},
      {"FROM a\nENV =arg2\n", "ENV names can not be blank"},
      {"FROM a\nLABEL =arg2\n", "LABEL names can not be blank"},
      {"FROM a\nARG =x\n", "ARG names can not be blank"},
      {"FROM a\nENV a b=c\n", ""},
      {"FROM a\nENV a=b c\n", "Syntax error - can't find = in \"c\". Must be of the form: name=value"},
      {"FROM a\nENV onlykey\n", "ENV must have two arguments"},
      {"FROM a\nONBUILD FROM scratch\n", "FROM isn't allowed as an ONBUILD trigger"},
      {"FROM a\nONBUILD maintainer x\n", "MAINTAINER isn't allowed as an ONBUILD trigger"},
      {"FROM a\nMAINTAINER --boo joe@example.com\n", "unknown flag: boo"},
      {"FROM a\nONBUILD ONBUILD RUN touch foobar\n", "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"},
      {"FROM a\nONBUILD FOO bar\n", "unknown instruction: FOO"},
      {"FROM a\nFOO bar\n", "Dockerfile:2: unknown instruction: FOO"},
      {"FROM a\nfoo bar\n", "unknown instruction: foo"},
      {"RUN x\n", "Dockerfile:1: no build stage in current context"},
      {"ARG a\nENV b=c\nFROM x\n", "Dockerfile:2: no build stage in current context"},
      {"ARG a\n", "no stages to build"},
      {"", "Dockerfile:0: file with no instructions"},
      {"# only a comment\n\n", "file with no instructions"},
      {"FROM a AS one\nFROM b AS One\n", "Dockerfile:2: duplicate stage name \"one\""},
      {"FROM a AS 1x\n", "invalid name for build stage: \"1x\""},
      {"FROM a AS b c\n", "FROM requires either one or three arguments"},
      {"FROM\n", "FROM requires either one or three arguments"},
      {"FROM a b\n", "FROM requires either one or three arguments"},
      {"FROM a\nRUN [\"a\", 1]\n", "arrays must be comprised of strings only"},
      {"FROM a\nSHELL /bin/sh -c\n", "SHELL requires the arguments to be in JSON form"},
      {"FROM a\nSHELL []\n", "SHELL requires at least one argument"},
      {"FROM a\nVOLUME [\"\"]\n", "VOLUME specified can not be an empty string"},
      {"FROM a\nCOPY --from=a --from=b x y\n", "duplicate flag specified: from"},
      {"FROM a\nCOPY --from x y\n", "missing a value on flag: from"},
      {"FROM a\nCOPY --link= x y\n", "missing a value on flag: link"},
      {"FROM a\nCOPY --link=maybe x y\n", "expecting boolean value for flag link, not: maybe"},
      {"FROM a\nRUN --bogus x\n", "unknown flag: bogus"},
      {"FROM --platfrom=x a\n", "unknown flag: platfrom"},
      {"FROM a\nCMD --x y\n", "unknown flag: x"},
  };

  (void)state;
  for (size_t i = 0; i < WH_ARRAY_LEN(cases); i++) {
    if (cases[i].want[0] == '\0') {
      struct cli_df_file f;
      parse_ok(cases[i].text, &f);
      cli_df_file_release(&f);
      continue;
    }
    parse_fails(cases[i].text, cases[i].want);
  }
}

static void test_limits(void **state)
{
  struct wh_buf b;
  struct cli_df_file f;
  struct wh_err err = {0};

  (void)state;
  wh_buf_init(&b, 8u << 20);
  assert_int_equal(wh_buf_appendz(&b, "FROM a\n"), WH_OK);
  for (unsigned i = 0; i < CLI_DF_INST_MAX; i++)
    assert_int_equal(wh_buf_appendz(&b, "USER x\n"), WH_OK);
  assert_int_equal(cli_df_parse("Dockerfile", b.data, b.len, &f, &err), WH_ETOOBIG);
  assert_non_null(strstr(err.msg, "more than 10000 instructions"));
  wh_buf_reset(&b);
  assert_int_equal(wh_buf_appendz(&b, "FROM a\nRUN echo "), WH_OK);
  for (unsigned i = 0; i <= CLI_DF_LINE_MAX / 8; i++)
    assert_int_equal(wh_buf_appendz(&b, "xxxxxxxx"), WH_OK);
  assert_int_equal(cli_df_parse("Dockerfile", b.data, b.len, &f, &err), WH_ETOOBIG);
  assert_non_null(strstr(err.msg, "Dockerfile:2: line longer"));
  assert_int_equal(cli_df_parse("Dockerfile", b.data, CLI_DF_FILE_MAX + 1, &f, &err), WH_ETOOBIG);
  wh_buf_release(&b);
  /* NUL bytes are refused, not truncated */
  assert_int_equal(cli_df_parse("Dockerfile", "FROM a\nRUN a\0b\n", 15, &f, &err), WH_EINVALID);
  assert_non_null(strstr(err.msg, "Dockerfile:2: NUL byte"));
}

/* ---- ignore: patternmatcher_test.go ------------------------------------------------ */

static bool ign(const char *const *pats, size_t n, const char *path, enum wh_code *rc)
{
  struct wh_buf b;
  struct cli_ignore ig;
  bool m = false;

  wh_buf_init(&b, 1 << 20);
  for (size_t i = 0; i < n; i++) {
    assert_int_equal(wh_buf_appendz(&b, pats[i]), WH_OK);
    assert_int_equal(wh_buf_append(&b, "\n", 1), WH_OK);
  }
  *rc = cli_ignore_parse(b.data ? b.data : "", b.len, &ig, NULL);
  if (*rc == WH_OK) {
    m = cli_ignore_match(&ig, path);
    cli_ignore_release(&ig);
  }
  wh_buf_release(&b);
  return m;
}

static bool ign1(const char *pat, const char *path)
{
  enum wh_code rc;
  bool m = ign(&pat, 1, path, &rc);

  if (rc != WH_OK)
    fail_msg("pattern \"%s\" refused", pat);
  return m;
}

static void test_ignore_basic(void **state)
{
  enum wh_code rc;

  (void)state;
  assert_true(ign1("*", "fileutils.go"));
  assert_true(ign1("*.go", "fileutils.go"));
  assert_true(ign((const char *[]){"!fileutils.go", "*.go"}, 2, "fileutils.go", &rc));
  assert_false(ign((const char *[]){"docs", "!docs/README.md"}, 2, "docs/README.md", &rc));
  assert_false(ign((const char *[]){"docs/", "!docs/README.md"}, 2, "docs/README.md", &rc));
  assert_false(ign((const char *[]){"docs/*", "!docs/README.md"}, 2, "docs/README.md", &rc));
  assert_false(ign((const char *[]){"*.go", "!fileutils.go"}, 2, "fileutils.go", &rc));
  assert_false(ign1("*.go", "."));
  ign((const char *[]){"!"}, 1, "fileutils.go", &rc);
  assert_int_equal(rc, WH_EINVALID);
  assert_false(ign((const char *[]){NULL}, 0, "/any/path/there", &rc));
  assert_int_equal(rc, WH_OK);
  ign((const char *[]){"["}, 1, "/any/path/there", &rc);
  assert_int_equal(rc, WH_EINVALID);
}

struct mt {
  const char *pattern, *text;
  int pass; /* 0 fail, 1 exact, 2 inexact (matches through a parent) */
};

static const struct mt mtests[] = {
    {"**", "file", 1},
    {"**", "file/", 1},
    {"**/", "file", 1},
    {"**/", "file/", 1},
    {"**", "/", 1},
    {"**/", "/", 1},
    {"**", "dir/file", 1},
    {"**/", "dir/file", 1},
    {"**", "dir/file/", 1},
    {"**/", "dir/file/", 1},
    {"**/**", "dir/file", 1},
    {"**/**", "dir/file/", 1},
    {"dir/**", "dir/file", 1},
    {"dir/**", "dir/file/", 1},
    {"dir/**", "dir/dir2/file", 1},
    {"dir/**", "dir/dir2/file/", 1},
    {"**/dir", "dir", 1},
    {"**/dir", "dir/file", 2},
    {"**/dir2/*", "dir/dir2/file", 1},
    {"**/dir2/*", "dir/dir2/file/", 2},
    {"**/dir2/**", "dir/dir2/dir3/file", 1},
    {"**/dir2/**", "dir/dir2/dir3/file/", 1},
    {"**file", "file", 1},
    {"**file", "dir/file", 1},
    {"**/file", "dir/file", 1},
    {"**file", "dir/dir/file", 1},
    {"**/file", "dir/dir/file", 1},
    {"**/file*", "dir/dir/file", 1},
    {"**/file*", "dir/dir/file.txt", 1},
    {"**/file*txt", "dir/dir/file.txt", 1},
    {"**/file*.txt", "dir/dir/file.txt", 1},
    {"**/file*.txt*", "dir/dir/file.txt", 1},
    {"**/**/*.txt", "dir/dir/file.txt", 1},
    {"**/**/*.txt2", "dir/dir/file.txt", 0},
    {"**/*.txt", "file.txt", 1},
    {"**/**/*.txt", "file.txt", 1},
    {"a**/*.txt", "a/file.txt", 1},
    {"a**/*.txt", "a/dir/file.txt", 1},
    {"a**/*.txt", "a/dir/dir/file.txt", 1},
    {"a/*.txt", "a/dir/file.txt", 0},
    {"a/*.txt", "a/file.txt", 1},
    {"a/*.txt**", "a/file.txt", 1},
    {"a[b-d]e", "ae", 0},
    {"a[b-d]e", "ace", 1},
    {"a[b-d]e", "aae", 0},
    {"a[^b-d]e", "aze", 1},
    {".*", ".foo", 1},
    {".*", "foo", 0},
    {"abc.def", "abcdef", 0},
    {"abc.def", "abc.def", 1},
    {"abc.def", "abcZdef", 0},
    {"abc?def", "abcZdef", 1},
    {"abc?def", "abcdef", 0},
    {"**/foo/bar", "foo/bar", 1},
    {"**/foo/bar", "dir/foo/bar", 1},
    {"**/foo/bar", "dir/dir2/foo/bar", 1},
    {"abc/**", "abc", 0},
    {"abc/**", "abc/def", 1},
    {"abc/**", "abc/def/ghi", 1},
    {"**/.foo", ".foo", 1},
    {"**/.foo", "bar.foo", 0},
    {"a(b)c/def", "a(b)c/def", 1},
    {"a(b)c/def", "a(b)c/xyz", 0},
    {"a.|)$(}+{bc", "a.|)$(}+{bc", 1},
    {"dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
     1},
    {"dist/*.whl", "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", 1},
    {"a\\\\", "a\\", 1},
    {"a\\*b", "a*b", 1},
    /* leading '/' and cleaning */
    {"/abs", "abs", 1},
    {"./a/../b//c/", "b/c", 1},
    {"**]", "x]", 0},
};

static void test_ignore_table(void **state)
{
  (void)state;
  for (size_t i = 0; i < WH_ARRAY_LEN(mtests); i++) {
    bool got = ign1(mtests[i].pattern, mtests[i].text);
    if (got != (mtests[i].pass != 0))
      fail_msg("pattern \"%s\" path \"%s\": got %d, want %d", mtests[i].pattern, mtests[i].text, got,
               mtests[i].pass != 0);
  }
}

static void test_ignore_multi(void **state)
{
  enum wh_code rc;

  (void)state;
  assert_false(ign((const char *[]){"**", "!util/docker/web"}, 2, "util/docker/web/foo", &rc));
  assert_true(ign((const char *[]){"**", "!util/docker/web", "util/docker/web/foo"}, 3, "util/docker/web/foo", &rc));
  assert_false(ign((const char *[]){"**", "!dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl"}, 2,
                   "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", &rc));
  assert_false(ign((const char *[]){"**", "!dist/*.whl"}, 2, "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
                   &rc));
}

/* Go's filepath.Match tests, through patternmatcher (TestMatch). */
static void test_ignore_filepath_match(void **state)
{
  static const struct {
    const char *pattern, *s;
    int want; /* 1 match, 0 no match, -1 bad pattern */
  } t[] = {
      {"abc", "abc", 1},
      {"*", "abc", 1},
      {"*c", "abc", 1},
      {"a*", "a", 1},
      {"a*", "abc", 1},
      {"a*", "ab/c", 1},
      {"a*/b", "abc/b", 1},
      {"a*/b", "a/c/b", 0},
      {"a*b*c*d*e*/f", "axbxcxdxe/f", 1},
      {"a*b*c*d*e*/f", "axbxcxdxexxx/f", 1},
      {"a*b*c*d*e*/f", "axbxcxdxe/xxx/f", 0},
      {"a*b*c*d*e*/f", "axbxcxdxexxx/fff", 0},
      {"a*b?c*x", "abxbbxdbxebxczzx", 1},
      {"a*b?c*x", "abxbbxdbxebxczzy", 0},
      {"ab[c]", "abc", 1},
      {"ab[b-d]", "abc", 1},
      {"ab[e-g]", "abc", 0},
      {"ab[^c]", "abc", 0},
      {"ab[^b-d]", "abc", 0},
      {"ab[^e-g]", "abc", 1},
      {"a\\*b", "a*b", 1},
      {"a\\*b", "ab", 0},
      {"a?b", "a\xe2\x98\xba" "b", 1},
      {"a[^a]b", "a\xe2\x98\xba" "b", 1},
      {"a???b", "a\xe2\x98\xba" "b", 0},
      {"a[^a][^a][^a]b", "a\xe2\x98\xba" "b", 0},
      {"[a-\xce\xb6]*", "\xce\xb1", 1},
      {"*[a-\xce\xb6]", "A", 0},
      {"a?b", "a/b", 0},
      {"a*b", "a/b", 0},
      {"[\\]a]", "]", 1},
      {"[\\-]", "-", 1},
      {"[x\\-]", "x", 1},
      {"[x\\-]", "-", 1},
      {"[x\\-]", "z", 0},
      {"[\\-x]", "x", 1},
      {"[\\-x]", "-", 1},
      {"[\\-x]", "a", 0},
      {"[]a]", "]", -1},
      {"[-]", "-", -1},
      {"[x-]", "x", -1},
      {"[x-]", "-", -1},
      {"[x-]", "z", -1},
      {"[-x]", "x", -1},
      {"[-x]", "-", -1},
      {"[-x]", "a", -1},
      {"\\", "a", -1},
      {"[a-b-c]", "a", -1},
      {"[", "a", -1},
      {"[^", "a", -1},
      {"[^bc", "a", -1},
      {"a[", "a", -1},
      {"a[", "ab", -1},
      {"*x", "xxx", 1},
  };

  (void)state;
  for (size_t i = 0; i < WH_ARRAY_LEN(t); i++) {
    enum wh_code rc;
    bool got = ign(&t[i].pattern, 1, t[i].s, &rc);
    if (t[i].want < 0 ? rc != WH_EINVALID : (rc != WH_OK || got != (t[i].want == 1)))
      fail_msg("Match(%s, %s) = %d (%s), want %d", t[i].pattern, t[i].s, got, wh_code_str(rc), t[i].want);
  }
}

static void test_ignore_file(void **state)
{
  static const char text[] = "\xef\xbb\xbf# comment\n"
                             "  node_modules  \n"
                             "\n"
                             "/build/\r\n"
                             "*.log\n"
                             "!keep.log\n"
                             "  # not a comment once indented? (moby: it is a pattern)\n"
                             "docs\n"
                             "!docs/README.md\n"
                             "**/tmp\n"
                             "!  spaced\n";
  struct cli_ignore ig;
  struct wh_err err = {0};

  (void)state;
  assert_int_equal(cli_ignore_parse(text, strlen(text), &ig, &err), WH_OK);
  assert_true(ig.has_exceptions);
  assert_true(cli_ignore_match(&ig, "node_modules"));
  assert_true(cli_ignore_match(&ig, "node_modules/x/y.js"));
  assert_true(cli_ignore_match(&ig, "build/out.o"));
  assert_false(cli_ignore_match(&ig, "src/build/out.o"));
  assert_true(cli_ignore_match(&ig, "a.log"));
  assert_false(cli_ignore_match(&ig, "keep.log"));
  assert_false(cli_ignore_match(&ig, "sub/a.log"));
  assert_true(cli_ignore_match(&ig, "a/b/tmp/c"));
  assert_true(cli_ignore_match(&ig, "./docs/x"));
  assert_false(cli_ignore_match(&ig, "docs/README.md"));
  assert_false(cli_ignore_match(&ig, "."));
  assert_false(cli_ignore_match(&ig, "Dockerfile"));
  /* skipping directories */
  assert_true(cli_ignore_skip_dir(&ig, "node_modules"));
  assert_true(cli_ignore_skip_dir(&ig, "build"));
  assert_true(cli_ignore_skip_dir(&ig, "x/tmp"));
  assert_false(cli_ignore_skip_dir(&ig, "docs"));
  assert_false(cli_ignore_skip_dir(&ig, "src"));
  cli_ignore_release(&ig);
  assert_int_equal(cli_ignore_parse("ok\n[bad\n", 8, &ig, &err), WH_EINVALID);
  assert_non_null(strstr(err.msg, "line 2"));
  assert_int_equal(cli_ignore_parse("ok\nb\0d\n", 7, &ig, &err), WH_EINVALID);
  assert_non_null(strstr(err.msg, "line 2: NUL byte"));
}

static void test_ignore_skip_dir(void **state)
{
  static const struct {
    const char *pats;
    const char *dir;
    bool skip;
  } t[] = {
      {"vendor\n", "vendor", true},
      {"vendor\n", "other", false},
      {"vendor\n!vendor/keep\n", "vendor", false},
      {"vendor\n!other/keep\n", "vendor", true},
      {"vendor\n!**/keep\n", "vendor", false},
      {"vendor\n!*.md\n", "vendor", true},
      {"vendor\n!v*/x.md\n", "vendor", false},
      {"vendor\n!x*/x.md\n", "vendor", true},
      {"a/b\n!a/*/c/d\n", "a/b", false},
      {"a/b\n!a/x/c/d\n", "a/b", true},
      {"a\n!a/b[/]c\n", "a", false},
      {"**\n!src/**\n", "src", false},
      {"**\n!src/**\n", "lib", true},
      {"*\n!Dockerfile\n", "lib", true},
  };

  (void)state;
  for (size_t i = 0; i < WH_ARRAY_LEN(t); i++) {
    struct cli_ignore ig;
    assert_int_equal(cli_ignore_parse(t[i].pats, strlen(t[i].pats), &ig, NULL), WH_OK);
    if (cli_ignore_skip_dir(&ig, t[i].dir) != t[i].skip)
      fail_msg("patterns %s dir %s: skip %d, want %d", t[i].pats, t[i].dir, !t[i].skip, t[i].skip);
    cli_ignore_release(&ig);
  }
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_env),
      cmocka_unit_test(test_env_var_table),
      cmocka_unit_test(test_words_table),
      cmocka_unit_test(test_mandatory),
      cmocka_unit_test(test_process_matches),
      cmocka_unit_test(test_platform_and_flags),
      cmocka_unit_test(test_expand_limits),
      cmocka_unit_test(test_testfiles),
      cmocka_unit_test(test_health),
      cmocka_unit_test(test_parse_words),
      cmocka_unit_test(test_forms),
      cmocka_unit_test(test_directives),
      cmocka_unit_test(test_continuations),
      cmocka_unit_test(test_heredocs),
      cmocka_unit_test(test_heredoc_more),
      cmocka_unit_test(test_errors),
      cmocka_unit_test(test_limits),
      cmocka_unit_test(test_ignore_basic),
      cmocka_unit_test(test_ignore_table),
      cmocka_unit_test(test_ignore_multi),
      cmocka_unit_test(test_ignore_filepath_match),
      cmocka_unit_test(test_ignore_file),
      cmocka_unit_test(test_ignore_skip_dir),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
