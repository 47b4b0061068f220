/* tests/unit/test_cli_challenge.c - unit tests for client/challenge.c: the
 * WWW-Authenticate parser (RFC 7235 grammar, as registries really send it)
 * and the token service answer parser.
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

#include "client/registry.h"
#include "common/cleanup.h"

struct ch_case {
  const char *hdr;
  enum wh_code want;
  enum cli_auth_scheme scheme;
  const char *realm, *service, *scope, *error;
};

static const struct ch_case cases[] = {
    /* Docker Hub, verbatim */
    {"Bearer realm=\"https://auth.docker.io/token\",service=\"registry.docker.io\","
     "scope=\"repository:library/alpine:pull\"",
     WH_OK, CLI_AUTH_BEARER, "https://auth.docker.io/token", "registry.docker.io",
     "repository:library/alpine:pull", NULL},
    /* distribution with htpasswd */
    {"Basic realm=\"wharf-test\"", WH_OK, CLI_AUTH_BASIC, "wharf-test", NULL, NULL, NULL},
    /* case-insensitive scheme and names, unquoted tokens */
    {"bearer REALM=https://a.example/t, Service=reg", WH_OK, CLI_AUTH_BEARER, "https://a.example/t", "reg",
     NULL, NULL},
    /* whitespace around "=" and ",", empty list elements */
    {"  Bearer  realm = \"r\" ,, service =\t\"s\" , ", WH_OK, CLI_AUTH_BEARER, "r", "s", NULL, NULL},
    {"Bearer ,,, realm=\"r\"", WH_OK, CLI_AUTH_BEARER, "r", NULL, NULL, NULL},
    /* several challenges: Bearer wins wherever it is */
    {"Basic realm=\"b\", Bearer realm=\"https://t/x\",service=\"s\"", WH_OK, CLI_AUTH_BEARER, "https://t/x",
     "s", NULL, NULL},
    {"Negotiate, Basic realm=\"x\"", WH_OK, CLI_AUTH_BASIC, "x", NULL, NULL, NULL},
    {"Negotiate abc==, Basic realm=\"x\"", WH_OK, CLI_AUTH_BASIC, "x", NULL, NULL, NULL},
    /* two headers joined by the client with ", " */
    {"Digest realm=\"d\", nonce=\"n\", Bearer realm=\"r\", scope=\"a b\"", WH_OK, CLI_AUTH_BEARER, "r", NULL,
     "a b", NULL},
    /* escapes in quoted strings */
    {"Bearer realm=\"https://t/a\\\"q\",service=\"s\\\\x\"", WH_OK, CLI_AUTH_BEARER, "https://t/a\"q", "s\\x",
     NULL, NULL},
    /* commas inside a quoted value, several scopes, error */
    {"Bearer realm=\"r\",error=\"insufficient_scope\",scope=\"repository:a:pull,push repository:b:pull\"",
     WH_OK, CLI_AUTH_BEARER, "r", NULL, "repository:a:pull,push repository:b:pull", "insufficient_scope"},
    /* the first of a repeated parameter is kept; unknown ones are ignored */
    {"Bearer realm=\"one\",realm=\"two\",foo=bar,charset=\"UTF-8\"", WH_OK, CLI_AUTH_BEARER, "one", NULL,
     NULL, NULL},
    /* Basic without realm is fine, Bearer is not */
    {"Basic", WH_OK, CLI_AUTH_BASIC, NULL, NULL, NULL, NULL},
    {"Bearer service=\"s\"", WH_EINVALID, 0, NULL, NULL, NULL, NULL},
    {"Bearer realm=\"\"", WH_EINVALID, 0, NULL, NULL, NULL, NULL},
    /* only schemes we do not speak */
    {"Negotiate", WH_EUNSUPPORTED, 0, NULL, NULL, NULL, NULL},
    {"Digest realm=\"x\", nonce=\"y\"", WH_EUNSUPPORTED, 0, NULL, NULL, NULL, NULL},
    {"", WH_EUNSUPPORTED, 0, NULL, NULL, NULL, NULL},
    /* broken */
    {"Bearer realm=\"unterminated", WH_EINVALID, 0, NULL, NULL, NULL, NULL},
    {"Bearer realm=", WH_EINVALID, 0, NULL, NULL, NULL, NULL},
    {"Bearer realm=\"a\nb\"", WH_EINVALID, 0, NULL, NULL, NULL, NULL},
    {"Bearer realm=\"r\" @", WH_EINVALID, 0, NULL, NULL, NULL, NULL},
    {"\"Bearer\" realm=\"r\"", WH_EINVALID, 0, NULL, NULL, NULL, NULL},
    {"Bearer;realm=\"r\"", WH_EINVALID, 0, NULL, NULL, NULL, NULL},
};

static void check_str(const char *got, const char *want, const char *hdr, const char *what)
{
  if (want == NULL && got == NULL)
    return;
  if (want == NULL || got == NULL || strcmp(got, want) != 0)
    fail_msg("%s: %s: got \"%s\", want \"%s\"", hdr, what, got ? got : "(null)", want ? want : "(null)");
}

static void test_table(void **state)
{
  (void)state;
  for (size_t i = 0; i < WH_ARRAY_LEN(cases); i++) {
    const struct ch_case *c = &cases[i];
    struct cli_challenge ch = {0};
    struct wh_err err = {0};
    enum wh_code rc = cli_challenge_parse(c->hdr, &ch, &err);

    if (rc != c->want)
      fail_msg("case %zu \"%s\": got %s (%s), want %s", i, c->hdr, wh_code_str(rc), err.msg,
               wh_code_str(c->want));
    if (rc != WH_OK) {
      assert_null(ch.realm);
      assert_true(err.msg[0] != '\0');
      continue;
    }
    assert_int_equal(ch.scheme, c->scheme);
    check_str(ch.realm, c->realm, c->hdr, "realm");
    check_str(ch.service, c->service, c->hdr, "service");
    check_str(ch.scope, c->scope, c->hdr, "scope");
    check_str(ch.error, c->error, c->hdr, "error");
    cli_challenge_release(&ch);
  }
}

static void test_caps(void **state)
{
  struct cli_challenge ch = {0};
  size_t n = CLI_HDR_VALUE_MAX + 100;
  WH_AUTOFREE char *big = malloc(n + 1);

  (void)state;
  assert_non_null(big);
  memset(big, 'a', n);
  memcpy(big, "Bearer realm=\"", 14);
  big[n - 1] = '"';
  big[n] = '\0';
  assert_int_equal(cli_challenge_parse(big, &ch, NULL), WH_ETOOBIG);
  assert_int_equal(cli_challenge_parse(NULL, &ch, NULL), WH_EINVALID);
  /* a value just under the cap is kept whole */
  n = CLI_HDR_VALUE_MAX - 32;
  memset(big, 'b', n);
  memcpy(big, "Bearer realm=\"", 14);
  big[n - 1] = '"';
  big[n] = '\0';
  assert_int_equal(cli_challenge_parse(big, &ch, NULL), WH_OK);
  assert_int_equal(strlen(ch.realm), n - 15);
  cli_challenge_release(&ch);
  cli_challenge_release(&ch); /* twice is harmless */
}

struct tok_case {
  const char *body;
  enum wh_code want;
  const char *token;
  int64_t expires;
};

static const struct tok_case tok_cases[] = {
    {"{\"token\":\"abc.def-ghi_\",\"expires_in\":300,\"issued_at\":\"2026-01-01T00:00:00Z\"}", WH_OK,
     "abc.def-ghi_", 300},
    {"{\"access_token\":\"x\"}", WH_OK, "x", 60},
    {"{\"token\":\"\",\"access_token\":\"y\"}", WH_OK, "y", 60},
    {"{\"token\":\"t\",\"expires_in\":-5}", WH_OK, "t", 60},
    {"{\"token\":\"t\",\"expires_in\":99999999}", WH_OK, "t", 86400},
    {"{\"token\":\"has space\"}", WH_EINVALID, NULL, 0},
    {"{\"token\":\"line\\nbreak\"}", WH_EINVALID, NULL, 0},
    {"{\"token\":42}", WH_EINVALID, NULL, 0},
    {"{}", WH_EINVALID, NULL, 0},
    {"[\"token\"]", WH_EINVALID, NULL, 0},
    {"not json", WH_EINVALID, NULL, 0},
    {"{\"token\":\"a\",\"token\":\"b\"}", WH_EINVALID, NULL, 0},
};

static void test_token(void **state)
{
  (void)state;
  for (size_t i = 0; i < WH_ARRAY_LEN(tok_cases); i++) {
    const struct tok_case *c = &tok_cases[i];
    char *tok = NULL;
    int64_t exp = 0;
    enum wh_code rc = cli_token_parse(c->body, strlen(c->body), &tok, &exp, NULL);

    if (rc != c->want)
      fail_msg("token case %zu: got %s, want %s", i, wh_code_str(rc), wh_code_str(c->want));
    if (rc == WH_OK) {
      assert_string_equal(tok, c->token);
      assert_int_equal(exp, c->expires);
    } else {
      assert_null(tok);
    }
    free(tok);
  }
  assert_int_equal(cli_token_parse("{}", CLI_TOKEN_MAX + 1, NULL, NULL, NULL), WH_ETOOBIG);
}

/* ---- Link: rel="next" ---------------------------------------------------- */

static const struct {
  const char *hdr, *want; /* want NULL: no next link */
} link_cases[] = {
    {"</v2/a/tags/list?n=2&last=b>; rel=\"next\"", "/v2/a/tags/list?n=2&last=b"},
    {"<http://h:5000/v2/a/tags/list?n=2&last=b,c>; rel=next", "http://h:5000/v2/a/tags/list?n=2&last=b,c"},
    {"<p1>; rel=\"prev\", <p2>;rel=\"next\"", "p2"},
    {"<p1>; rel=\"prev next\"", "p1"},
    {"<p1> ; REL = NEXT ; title=\"x\"", "p1"},
    {"<p1>; title=\"a, rel=next\"", NULL},
    {"<p1>; title=\"a \\\" rel=next\"", NULL},
    {"<p1>; rel=\"nextpage\"", NULL},
    {"<p1>; rel=prev", NULL},
    {"<>; rel=next", NULL},
    {"<a b>; rel=next", NULL},
    {"<a\tb>; rel=next", NULL},
    {"<p1; rel=next", NULL},
    {"rel=next", NULL},
    {"", NULL},
    {"<p1>; ;;, <p2>; rel=next", "p2"},
    {"<p1>; @@@; rel=next", "p1"},
};

static void test_link(void **state)
{
  (void)state;
  assert_null(cli_link_next(NULL));
  for (size_t i = 0; i < WH_ARRAY_LEN(link_cases); i++) {
    char *got = cli_link_next(link_cases[i].hdr);
    if (link_cases[i].want == NULL && got != NULL)
      fail_msg("link case %zu: got \"%s\", want none", i, got);
    if (link_cases[i].want != NULL && (got == NULL || strcmp(got, link_cases[i].want) != 0))
      fail_msg("link case %zu: got \"%s\", want \"%s\"", i, got ? got : "(none)", link_cases[i].want);
    free(got);
  }
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_table),
      cmocka_unit_test(test_caps),
      cmocka_unit_test(test_token),
      cmocka_unit_test(test_link),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
