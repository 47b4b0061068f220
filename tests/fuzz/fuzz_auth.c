/* tests/fuzz/fuzz_auth.c - libFuzzer target for wharfd's credential parsers
 * (server/jwt.c): the Authorization header and JSON Web Tokens.
 *
 * The first line of the input is an Authorization header value; the rest is
 * a token verified against a fixed trust (a key made once per process, so
 * no input can carry a valid signature). Checked: a parsed Basic header has
 * a non-empty user and both parts are NUL-terminated within their buffers;
 * a Bearer token span lies inside the header; verification never accepts;
 * base64url decoding round-trips what it accepts.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/auth-int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok)
{
  if (!ok)
    abort();
}

static struct srv_jwt_trust *trust(void)
{
  static struct srv_jwt_trust t;
  static struct srv_jwt_key k;
  static bool done;

  if (!done) {
    check(srv_jwt_key_generate(&k, NULL) == WH_OK);
    t.issuer = (char *)"wharfd";
    t.audience = (char *)"wharf";
    t.keys = &k;
    t.n_keys = 1;
    done = true;
  }
  return &t;
}

static void header(const char *value)
{
  struct srv_authz z;
  size_t vlen = strlen(value);

  srv_authz_parse(value, &z);
  if (z.kind == SRV_AUTHZ_BASIC) {
    check(z.user[0] != '\0');
    check(memchr(z.user, '\0', sizeof(z.user)) && memchr(z.password, '\0', sizeof(z.password)));
  }
  if (z.kind == SRV_AUTHZ_BEARER)
    check(z.token >= value && z.token + z.token_len <= value + vlen && z.token_len > 0);
  srv_authz_wipe(&z);
}

static void b64_roundtrip(const char *s, size_t n)
{
  unsigned char raw[1024];
  char back[1400];
  size_t len;

  if (n > 1300 || !srv_b64url_decode(s, n, raw, sizeof(raw), &len))
    return;
  check(srv_b64url_encode(raw, len, back, sizeof(back)) == n && memcmp(back, s, n) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  const char *p = (const char *)data, *nl = memchr(p, '\n', size);
  size_t hlen = nl ? (size_t)(nl - p) : size;
  char *hdr = malloc(hlen + 1);
  json_t *claims = NULL;
  const char *tok = nl ? nl + 1 : p + size;
  size_t tlen = size - (size_t)(tok - p);

  check(hdr != NULL);
  memcpy(hdr, p, hlen);
  hdr[hlen] = '\0';
  header(hdr);
  free(hdr);
  b64_roundtrip(tok, tlen);
  check(srv_jwt_verify(tok, tlen, trust(), 1, 1700000000, &claims, NULL, NULL) != WH_OK);
  check(claims == NULL);
  return 0;
}
