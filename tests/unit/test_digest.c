/* tests/unit/test_digest.c - unit tests for common/digest.c: strict parsing
 * (accepted and rejected forms, error codes) and hashing against published
 * vectors (FIPS 180-2 / NIST examples), streaming, dup and fd hashing.
 */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/digest.h"
#include "common/fsutil.h"

#define SHA256_EMPTY "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define SHA256_ABC "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define SHA256_448 "sha256:248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
#define SHA256_MILLION_A "sha256:cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"
#define SHA512_ABC                                                                                           \
  "sha512:"                                                                                                  \
  "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4"    \
  "423643ce80e2a9ac94fa54ca49f"
#define SHA512_EMPTY                                                                                         \
  "sha512:"                                                                                                  \
  "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b93"    \
  "1bd47417a81a538327af927da3e"
#define HEX64 "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"

struct parse_case {
  const char *in;
  enum wh_code want;
};

static const struct parse_case parse_cases[] = {
    {SHA256_EMPTY, WH_OK},
    {SHA256_ABC, WH_OK},
    {SHA512_ABC, WH_OK},
    {"sha256:" HEX64, WH_OK},
    {"sha256:0000000000000000000000000000000000000000000000000000000000000000", WH_OK},
    /* other algorithms that fit the generic grammar */
    {"sha384:" HEX64, WH_EUNSUPPORTED},
    {"blake3:" HEX64, WH_EUNSUPPORTED},
    {"md5:d41d8cd98f00b204e9800998ecf8427e", WH_EUNSUPPORTED},
    {"sha256+b64u:LCa0a2j_xo_5m0U8HTBBNBNCLXBkg7-g-YpeiGJm564", WH_EUNSUPPORTED},
    {"multihash+base58:QmRZxt2b1FVZPNqd8hsiykDL3TdBDeTSPX9Kv46HmX4Gx8", WH_EUNSUPPORTED},
    {"a.b:abc", WH_EUNSUPPORTED},
    {"invaliddigest:" HEX64, WH_EUNSUPPORTED},
    {"sha1:=", WH_EUNSUPPORTED},
    /* malformed */
    {"", WH_EINVALID},
    {":", WH_EINVALID},
    {"sha256", WH_EINVALID},
    {HEX64, WH_EINVALID},
    {"sha256:", WH_EINVALID},
    {":" HEX64, WH_EINVALID},
    {"sha256:FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF", WH_EINVALID},
    {"sha256:fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffF", WH_EINVALID},
    {"sha256:fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", WH_EINVALID},
    {"sha256:" HEX64 "f", WH_EINVALID},
    {"sha256:ffffffffffffffffffffffffffffffffffff", WH_EINVALID},
    {"sha256:" HEX64 " ", WH_EINVALID},
    {" sha256:" HEX64, WH_EINVALID},
    {"sha256:gfffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", WH_EINVALID},
    {"sha256:" HEX64 ":", WH_EINVALID},
    {"sha256::" HEX64, WH_EINVALID},
    {"SHA256:" HEX64, WH_EINVALID},
    {"sha512:" HEX64, WH_EINVALID},
    {"sha256:../../../../etc/passwd", WH_EINVALID},
    {"sha256:" HEX64 "/", WH_EINVALID},
    {"foo:", WH_EINVALID},
    {"foo-:abc", WH_EINVALID},
    {"-foo:abc", WH_EINVALID},
    {"a..b:abc", WH_EINVALID},
    {"Foo:abc", WH_EINVALID},
    {"foo:abc/def", WH_EINVALID},
    {"foo:abc def", WH_EINVALID},
    {"foo bar:abc", WH_EINVALID},
};

static void parse_table(void **state)
{
  for (size_t i = 0; i < sizeof(parse_cases) / sizeof(parse_cases[0]); i++) {
    const struct parse_case *c = &parse_cases[i];
    struct wh_digest d;
    struct wh_err e;
    enum wh_code rc = wh_digest_parsez(c->in, &d, &e);

    if (rc != c->want)
      fail_msg("digest \"%s\": got %s, want %s", c->in, wh_code_str(rc), wh_code_str(c->want));
    if (rc == WH_OK)
      assert_string_equal(d.str, c->in);
    else
      assert_true(strlen(e.msg) > 0);
  }
}

static void parse_fields(void **state)
{
  struct wh_digest d;

  assert_int_equal(wh_digest_parsez(SHA256_ABC, &d, NULL), WH_OK);
  assert_int_equal(d.alg, WH_DIGEST_SHA256);
  assert_string_equal(wh_digest_hex(&d), SHA256_ABC + 7);
  assert_int_equal(wh_digest_parsez(SHA512_ABC, &d, NULL), WH_OK);
  assert_int_equal(d.alg, WH_DIGEST_SHA512);
  assert_int_equal(strlen(wh_digest_hex(&d)), 128);
  assert_int_equal(strlen(d.str), WH_DIGEST_STR_MAX - 1);
}

static void parse_respects_len(void **state)
{
  struct wh_digest d;
  const char *s = SHA256_ABC "/extra";

  assert_int_equal(wh_digest_parse(s, strlen(SHA256_ABC), &d, NULL), WH_OK);
  assert_string_equal(d.str, SHA256_ABC);
  assert_int_equal(wh_digest_parse(s, strlen(s), &d, NULL), WH_EINVALID);
  assert_int_equal(wh_digest_parse(s, strlen(SHA256_ABC) - 1, &d, NULL), WH_EINVALID);
  assert_int_equal(wh_digest_parse(s, 0, &d, NULL), WH_EINVALID);
  assert_int_equal(wh_digest_parse(NULL, 0, &d, NULL), WH_EINVALID);
  assert_int_equal(wh_digest_parsez(NULL, &d, NULL), WH_EINVALID);
}

static void parse_nul_inside(void **state)
{
  char s[80];
  struct wh_digest d;

  memcpy(s, SHA256_ABC, 72);
  s[40] = '\0';
  assert_int_equal(wh_digest_parse(s, 71, &d, NULL), WH_EINVALID);
  memcpy(s, SHA256_ABC, 72);
  s[3] = '\0';
  assert_int_equal(wh_digest_parse(s, 71, &d, NULL), WH_EINVALID);
  memcpy(s, SHA256_ABC, 72);
  s[70] = '\0';
  assert_int_equal(wh_digest_parse(s, 71, &d, NULL), WH_EINVALID);
}

static void parse_failure_leaves_out(void **state)
{
  struct wh_digest d;

  memset(&d, 0x5a, sizeof(d));
  assert_int_not_equal(wh_digest_parsez("sha256:abc", &d, NULL), WH_OK);
  assert_int_equal((unsigned char)d.str[0], 0x5a);
  assert_int_not_equal(wh_digest_parsez("blake3:abc", &d, NULL), WH_OK);
  assert_int_equal((unsigned char)d.str[0], 0x5a);
}

static void alg_helpers(void **state)
{
  assert_string_equal(wh_digest_alg_name(WH_DIGEST_SHA256), "sha256");
  assert_string_equal(wh_digest_alg_name(WH_DIGEST_SHA512), "sha512");
  assert_int_equal(wh_digest_alg_hexlen(WH_DIGEST_SHA256), 64);
  assert_int_equal(wh_digest_alg_hexlen(WH_DIGEST_SHA512), 128);
  assert_int_equal(wh_digest_alg_hexlen((enum wh_digest_alg)0), 0);
}

static void equality(void **state)
{
  struct wh_digest a, b, c;

  assert_int_equal(wh_digest_parsez(SHA256_ABC, &a, NULL), WH_OK);
  assert_int_equal(wh_digest_parsez(SHA256_ABC, &b, NULL), WH_OK);
  assert_int_equal(wh_digest_parsez(SHA256_EMPTY, &c, NULL), WH_OK);
  assert_true(wh_digest_eq(&a, &b));
  assert_false(wh_digest_eq(&a, &c));
}

static void vectors_buf(void **state)
{
  struct wh_digest d;
  const char *msg448 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";

  wh_digest_buf(WH_DIGEST_SHA256, "", 0, &d);
  assert_string_equal(d.str, SHA256_EMPTY);
  wh_digest_buf(WH_DIGEST_SHA256, "abc", 3, &d);
  assert_string_equal(d.str, SHA256_ABC);
  assert_int_equal(d.alg, WH_DIGEST_SHA256);
  wh_digest_buf(WH_DIGEST_SHA256, msg448, strlen(msg448), &d);
  assert_string_equal(d.str, SHA256_448);
  wh_digest_buf(WH_DIGEST_SHA512, "abc", 3, &d);
  assert_string_equal(d.str, SHA512_ABC);
  assert_int_equal(d.alg, WH_DIGEST_SHA512);
  wh_digest_buf(WH_DIGEST_SHA512, "", 0, &d);
  assert_string_equal(d.str, SHA512_EMPTY);
}

static void hashed_output_parses(void **state)
{
  struct wh_digest d, p;

  wh_digest_buf(WH_DIGEST_SHA512, "x", 1, &d);
  assert_int_equal(wh_digest_parsez(d.str, &p, NULL), WH_OK);
  assert_true(wh_digest_eq(&d, &p));
}

static void hasher_streaming(void **state)
{
  struct wh_hasher *h = wh_hasher_new(WH_DIGEST_SHA256);
  struct wh_digest d;
  char *chunk = malloc(1000);

  assert_non_null(h);
  assert_non_null(chunk);
  assert_int_equal(wh_hasher_alg(h), WH_DIGEST_SHA256);
  memset(chunk, 'a', 1000);
  for (int i = 0; i < 1000; i++)
    wh_hasher_update(h, chunk, 1000);
  wh_hasher_final(h, &d);
  assert_string_equal(d.str, SHA256_MILLION_A);
  wh_hasher_free(h);
  free(chunk);
}

static void hasher_bytewise(void **state)
{
  struct wh_hasher *h = wh_hasher_new(WH_DIGEST_SHA512);
  struct wh_digest d;

  assert_non_null(h);
  wh_hasher_update(h, "a", 1);
  wh_hasher_update(h, "", 0);
  wh_hasher_update(h, "b", 1);
  wh_hasher_update(h, "c", 1);
  wh_hasher_final(h, &d);
  assert_string_equal(d.str, SHA512_ABC);
  wh_hasher_free(h);
  wh_hasher_free(NULL);
}

static void hasher_dup_is_independent(void **state)
{
  struct wh_hasher *h = wh_hasher_new(WH_DIGEST_SHA256);
  struct wh_hasher *c;
  struct wh_digest d1, d2;

  assert_non_null(h);
  wh_hasher_update(h, "ab", 2);
  c = wh_hasher_dup(h);
  assert_non_null(c);
  assert_int_equal(wh_hasher_alg(c), WH_DIGEST_SHA256);
  wh_hasher_final(c, &d1); /* snapshot of "ab" */
  wh_hasher_update(h, "c", 1);
  wh_hasher_final(h, &d2);
  assert_string_equal(d2.str, SHA256_ABC);
  wh_digest_buf(WH_DIGEST_SHA256, "ab", 2, &d2);
  assert_string_equal(d1.str, d2.str);
  wh_hasher_free(c);
  wh_hasher_free(h);
}

static void hasher_invalid_alg(void **state)
{
  assert_null(wh_hasher_new((enum wh_digest_alg)0));
  assert_null(wh_hasher_new((enum wh_digest_alg)7));
}

static void digest_fd_pipe(void **state)
{
  int p[2];
  struct wh_digest d;
  uint64_t size = 0;

  assert_int_equal(pipe(p), 0);
  assert_int_equal(wh_write_all(p[1], "abc", 3, NULL), WH_OK);
  close(p[1]);
  assert_int_equal(wh_digest_fd(WH_DIGEST_SHA256, p[0], &d, &size, NULL), WH_OK);
  assert_string_equal(d.str, SHA256_ABC);
  assert_int_equal(size, 3);
  close(p[0]);
}

static void digest_fd_offset(void **state)
{
  FILE *f = tmpfile();
  struct wh_digest d;
  uint64_t size = 0;

  assert_non_null(f);
  assert_int_equal(wh_write_all(fileno(f), "xxabc", 5, NULL), WH_OK);
  assert_int_equal(lseek(fileno(f), 2, SEEK_SET), 2);
  assert_int_equal(wh_digest_fd(WH_DIGEST_SHA256, fileno(f), &d, &size, NULL), WH_OK);
  assert_string_equal(d.str, SHA256_ABC);
  assert_int_equal(size, 3);
  assert_int_equal(wh_digest_fd(WH_DIGEST_SHA256, fileno(f), &d, NULL, NULL), WH_OK);
  assert_string_equal(d.str, SHA256_EMPTY); /* at EOF now */
  fclose(f);
}

static void digest_fd_bad(void **state)
{
  struct wh_digest d;
  struct wh_err e;

  memset(&d, 0, sizeof(d));
  assert_int_equal(wh_digest_fd(WH_DIGEST_SHA256, -1, &d, NULL, &e), WH_EIO);
  assert_int_equal(e.sys_errno, EBADF);
  assert_string_equal(d.str, "");
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(parse_table),
      cmocka_unit_test(parse_fields),
      cmocka_unit_test(parse_respects_len),
      cmocka_unit_test(parse_nul_inside),
      cmocka_unit_test(parse_failure_leaves_out),
      cmocka_unit_test(alg_helpers),
      cmocka_unit_test(equality),
      cmocka_unit_test(vectors_buf),
      cmocka_unit_test(hashed_output_parses),
      cmocka_unit_test(hasher_streaming),
      cmocka_unit_test(hasher_bytewise),
      cmocka_unit_test(hasher_dup_is_independent),
      cmocka_unit_test(hasher_invalid_alg),
      cmocka_unit_test(digest_fd_pipe),
      cmocka_unit_test(digest_fd_offset),
      cmocka_unit_test(digest_fd_bad),
  };

  return cmocka_run_group_tests_name("digest", tests, NULL, NULL);
}
