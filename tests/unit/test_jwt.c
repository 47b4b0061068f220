/* tests/unit/test_jwt.c - unit tests for server/jwt.c and server/access.c:
 * ES256 and RS256 sign + verify, and every forgery verification must
 * refuse: alg "none", HS256 keyed with the public key (algorithm
 * confusion), expired and not-yet-valid tokens (and the leeway), wrong
 * issuer and audience, a flipped signature, a kid that is not configured,
 * a key embedded in the header (jwk); plus Authorization header parsing,
 * repository globs, actions and rule evaluation.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include "server/auth-int.h"

#define ISS "wharfd-test"
#define AUD "wharf-test"

struct fixture {
  struct srv_jwt_key key;     /* signing key (EC P-256) */
  struct srv_jwt_trust trust; /* ISS/AUD with key's public half */
  int64_t now;
};

static int setup(void **state)
{
  struct fixture *f = calloc(1, sizeof(*f));

  assert_non_null(f);
  assert_int_equal(srv_jwt_key_generate(&f->key, NULL), WH_OK);
  f->trust.issuer = strdup(ISS);
  f->trust.audience = strdup(AUD);
  f->trust.keys = calloc(1, sizeof(*f->trust.keys));
  f->trust.n_keys = 1;
  assert_int_equal(srv_jwt_key_public_copy(&f->key, &f->trust.keys[0], NULL), WH_OK);
  f->now = (int64_t)time(NULL);
  *state = f;
  return 0;
}

static int teardown(void **state)
{
  struct fixture *f = *state;

  srv_jwt_key_release(&f->key);
  srv_jwt_trust_release(&f->trust);
  free(f);
  return 0;
}

static json_t *claims(const struct fixture *f, const char *iss, const char *aud, int64_t exp_delta)
{
  return json_pack("{s:s,s:s,s:s,s:I,s:I,s:[{s:s,s:s,s:[s]}]}", "iss", iss, "sub", "alice", "aud", aud, "exp",
                   (json_int_t)(f->now + exp_delta), "iat", (json_int_t)f->now, "access", "type",
                   "repository", "name", "team/app", "actions", "pull");
}

static enum wh_code verify(const struct fixture *f, const char *token)
{
  json_t *c = NULL;
  struct wh_err err;
  enum wh_code rc;

  wh_err_clear(&err);
  rc = srv_jwt_verify(token, strlen(token), &f->trust, 1, f->now, &c, NULL, &err);
  if (rc == WH_OK)
    assert_non_null(c);
  else
    assert_true(err.msg[0] != '\0');
  json_decref(c);
  return rc;
}

static char *sign(const struct srv_jwt_key *k, json_t *c)
{
  char *t = NULL;

  assert_int_equal(srv_jwt_sign(k, c, &t, NULL), WH_OK);
  json_decref(c);
  return t;
}

/* header and claims base64url'd and joined with sig_b64 (may be ""). */
static char *raw_token(const char *hdr, const json_t *c, const char *sig_b64)
{
  char h[1024], p[4096], *cs = json_dumps(c, JSON_COMPACT), *out = malloc(8192);

  srv_b64url_encode((const unsigned char *)hdr, strlen(hdr), h, sizeof(h));
  srv_b64url_encode((const unsigned char *)cs, strlen(cs), p, sizeof(p));
  snprintf(out, 8192, "%s.%s.%s", h, p, sig_b64);
  free(cs);
  return out;
}

static void test_es256_roundtrip(void **state)
{
  struct fixture *f = *state;
  char *t = sign(&f->key, claims(f, ISS, AUD, 300));
  json_t *c = NULL;
  const struct srv_jwt_trust *tr = NULL;

  assert_int_equal(srv_jwt_verify(t, strlen(t), &f->trust, 1, f->now, &c, &tr, NULL), WH_OK);
  assert_ptr_equal(tr, &f->trust);
  assert_string_equal(json_string_value(json_object_get(c, "sub")), "alice");
  json_decref(c);
  free(t);
}

static void test_rs256_roundtrip(void **state)
{
  struct fixture *f = *state;
  struct srv_jwt_key rsa, pub;
  struct srv_jwt_trust trust = {(char *)ISS, (char *)AUD, &pub, 1};
  EVP_PKEY *pk = EVP_RSA_gen(2048);
  BIO *bio = BIO_new(BIO_s_mem());
  char *pem, *t;
  long n;
  json_t *c = NULL;

  assert_non_null(pk);
  assert_int_equal(PEM_write_bio_PrivateKey(bio, pk, NULL, NULL, 0, NULL, NULL), 1);
  n = BIO_get_mem_data(bio, &pem);
  assert_int_equal(srv_jwt_key_from_pem(&rsa, pem, (size_t)n, true, NULL, NULL), WH_OK);
  assert_int_equal(rsa.alg, SRV_JWT_RS256);
  assert_int_equal(srv_jwt_key_public_copy(&rsa, &pub, NULL), WH_OK);
  t = sign(&rsa, claims(f, ISS, AUD, 300));
  assert_int_equal(srv_jwt_verify(t, strlen(t), &trust, 1, f->now, &c, NULL, NULL), WH_OK);
  json_decref(c);
  /* an RS256 token against the EC trust: no key of that algorithm */
  assert_int_equal(verify(f, t), WH_EUNAUTHORIZED);
  free(t);
  srv_jwt_key_release(&rsa);
  srv_jwt_key_release(&pub);
  EVP_PKEY_free(pk);
  BIO_free(bio);
}

static void test_alg_none(void **state)
{
  struct fixture *f = *state;
  json_t *c = claims(f, ISS, AUD, 300);
  char *t = raw_token("{\"alg\":\"none\",\"typ\":\"JWT\"}", c, "");
  char *t2 = raw_token("{\"alg\":\"None\"}", c, "");

  assert_int_equal(verify(f, t), WH_EUNAUTHORIZED);
  assert_int_equal(verify(f, t2), WH_EUNAUTHORIZED);
  free(t);
  free(t2);
  json_decref(c);
}

/* HS256 keyed with the PEM text of the (public) verification key. */
static void test_hs256_confusion(void **state)
{
  struct fixture *f = *state;
  BIO *bio = BIO_new(BIO_s_mem());
  json_t *c = claims(f, ISS, AUD, 300);
  char *pem, *t, *signing, sigb64[128], *dot;
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned maclen = 0;
  long n;

  assert_int_equal(PEM_write_bio_PUBKEY(bio, f->trust.keys[0].pkey), 1);
  n = BIO_get_mem_data(bio, &pem);
  t = raw_token("{\"alg\":\"HS256\",\"typ\":\"JWT\"}", c, "");
  signing = strdup(t);
  dot = strrchr(signing, '.');
  *dot = '\0';
  HMAC(EVP_sha256(), pem, (int)n, (const unsigned char *)signing, strlen(signing), mac, &maclen);
  srv_b64url_encode(mac, maclen, sigb64, sizeof(sigb64));
  free(t);
  n = (long)(strlen(signing) + strlen(sigb64) + 2);
  t = malloc((size_t)n);
  snprintf(t, (size_t)n, "%s.%s", signing, sigb64);
  assert_int_equal(verify(f, t), WH_EUNAUTHORIZED);
  free(t);
  free(signing);
  json_decref(c);
  BIO_free(bio);
}

static void test_expiry(void **state)
{
  struct fixture *f = *state;
  char *old = sign(&f->key, claims(f, ISS, AUD, -(SRV_JWT_LEEWAY_S + 60)));
  char *fresh_past = sign(&f->key, claims(f, ISS, AUD, -(SRV_JWT_LEEWAY_S / 2)));
  json_t *noexp = claims(f, ISS, AUD, 0);
  char *t;

  assert_int_equal(verify(f, old), WH_EUNAUTHORIZED);
  assert_int_equal(verify(f, fresh_past), WH_OK); /* within the leeway */
  json_object_del(noexp, "exp");
  t = sign(&f->key, noexp);
  assert_int_equal(verify(f, t), WH_EUNAUTHORIZED);
  free(old);
  free(fresh_past);
  free(t);
}

static void test_nbf(void **state)
{
  struct fixture *f = *state;
  json_t *c = claims(f, ISS, AUD, 3600);
  json_t *c2 = claims(f, ISS, AUD, 3600);
  char *later, *soon;

  json_object_set_new(c, "nbf", json_integer(f->now + 600));
  json_object_set_new(c2, "nbf", json_integer(f->now + SRV_JWT_LEEWAY_S / 2));
  later = sign(&f->key, c);
  soon = sign(&f->key, c2);
  assert_int_equal(verify(f, later), WH_EUNAUTHORIZED);
  assert_int_equal(verify(f, soon), WH_OK);
  free(later);
  free(soon);
}

static void test_iss_aud(void **state)
{
  struct fixture *f = *state;
  char *bad_iss = sign(&f->key, claims(f, "someone-else", AUD, 300));
  char *bad_aud = sign(&f->key, claims(f, ISS, "other-service", 300));
  json_t *arr = claims(f, ISS, AUD, 300);
  char *aud_list;

  json_object_set_new(arr, "aud", json_pack("[s,s]", "x", AUD));
  aud_list = sign(&f->key, arr);
  assert_int_equal(verify(f, bad_iss), WH_EUNAUTHORIZED);
  assert_int_equal(verify(f, bad_aud), WH_EUNAUTHORIZED);
  assert_int_equal(verify(f, aud_list), WH_OK);
  free(bad_iss);
  free(bad_aud);
  free(aud_list);
}

static void test_bad_signature(void **state)
{
  struct fixture *f = *state;
  char *t = sign(&f->key, claims(f, ISS, AUD, 300));
  char *last = t + strlen(t) - 5;
  char *dot;

  *last = *last == 'A' ? 'B' : 'A';
  assert_int_equal(verify(f, t), WH_EUNAUTHORIZED);
  free(t);
  /* claims changed after signing */
  t = sign(&f->key, claims(f, ISS, AUD, 300));
  dot = strchr(t, '.');
  dot[2] = dot[2] == 'a' ? 'b' : 'a';
  assert_int_equal(verify(f, t), WH_EUNAUTHORIZED);
  free(t);
  assert_int_equal(verify(f, "a.b"), WH_EUNAUTHORIZED);
  assert_int_equal(verify(f, "a.b.c.d"), WH_EUNAUTHORIZED);
  assert_int_equal(verify(f, "..."), WH_EUNAUTHORIZED);
}

static void test_kid(void **state)
{
  struct fixture *f = *state;
  struct srv_jwt_key k = f->key; /* same key, another kid */
  char *t;

  snprintf(k.kid, sizeof(k.kid), "not-configured");
  t = sign(&k, claims(f, ISS, AUD, 300));
  assert_int_equal(verify(f, t), WH_EUNAUTHORIZED);
  free(t);
}

/* An attacker's key in the header ("jwk", with a matching kid, and "x5c"):
 * never used, so the signature does not verify. */
static void test_embedded_jwk(void **state)
{
  struct fixture *f = *state;
  struct srv_jwt_key evil;
  json_t *hdr;
  char *t = NULL;

  assert_int_equal(srv_jwt_key_generate(&evil, NULL), WH_OK);
  hdr = json_pack("{s:s,s:s,s:{s:s,s:s,s:s,s:s},s:[s]}", "alg", "ES256", "kid", evil.kid, "jwk", "kty", "EC",
                  "crv", "P-256", "x", "AAAA", "y", "AAAA", "x5c", "MIIB");
  json_t *c = claims(f, ISS, AUD, 300);
  assert_int_equal(srv_jwt_sign_header(&evil, hdr, c, &t, NULL), WH_OK);
  assert_int_equal(verify(f, t), WH_EUNAUTHORIZED);
  free(t);
  json_object_set_new(hdr, "kid", json_string(f->key.kid)); /* our kid, their signature */
  assert_int_equal(srv_jwt_sign_header(&evil, hdr, c, &t, NULL), WH_OK);
  assert_int_equal(verify(f, t), WH_EUNAUTHORIZED);
  free(t);
  json_decref(c);
  json_decref(hdr);
  srv_jwt_key_release(&evil);
}

static void test_authz_parse(void **state)
{
  struct srv_authz z;

  srv_authz_parse(NULL, &z);
  assert_int_equal(z.kind, SRV_AUTHZ_NONE);
  srv_authz_parse("Basic YWxpY2U6cHc6eA==", &z); /* alice:pw:x */
  assert_int_equal(z.kind, SRV_AUTHZ_BASIC);
  assert_string_equal(z.user, "alice");
  assert_string_equal(z.password, "pw:x");
  srv_authz_parse("basic YWxpY2U6cHc", &z); /* unpadded, any case */
  assert_int_equal(z.kind, SRV_AUTHZ_BASIC);
  srv_authz_parse("Basic bm9jb2xvbg==", &z); /* "nocolon" */
  assert_int_equal(z.kind, SRV_AUTHZ_INVALID);
  srv_authz_parse("Basic !!!", &z);
  assert_int_equal(z.kind, SRV_AUTHZ_INVALID);
  srv_authz_parse("Bearer abc.def.ghi", &z);
  assert_int_equal(z.kind, SRV_AUTHZ_BEARER);
  assert_int_equal(z.token_len, 11);
  srv_authz_parse("Bearer a b", &z);
  assert_int_equal(z.kind, SRV_AUTHZ_INVALID);
  srv_authz_parse("Digest x", &z);
  assert_int_equal(z.kind, SRV_AUTHZ_INVALID);
  srv_authz_wipe(&z);
}

static void test_glob_actions(void **state)
{
  unsigned a;
  char buf[64];

  assert_true(srv_glob_match("team/*", "team/app"));
  assert_false(srv_glob_match("team/*", "team/a/b"));
  assert_true(srv_glob_match("team/**", "team/a/b"));
  assert_false(srv_glob_match("team/**", "team"));
  assert_false(srv_glob_match("team/*", "teamx/app"));
  assert_true(srv_glob_match("*", "app"));
  assert_false(srv_glob_match("*", "a/b"));
  assert_true(srv_glob_match("**", "a/b/c"));
  assert_true(srv_glob_match("a?c", "abc"));
  assert_false(srv_glob_match("a?c", "a/c"));
  assert_true(srv_actions_parse("pull,push", 9, true, &a));
  assert_int_equal(a, SRV_ACT_PULL | SRV_ACT_PUSH);
  assert_false(srv_actions_parse("pull,fly", 8, true, &a));
  assert_true(srv_actions_parse("pull,fly", 8, false, &a));
  assert_int_equal(a, SRV_ACT_PULL);
  assert_true(srv_actions_parse("*", 1, true, &a));
  assert_int_equal(a, SRV_ACT_ALL);
  srv_actions_format(SRV_ACT_DELETE | SRV_ACT_PULL, buf, sizeof(buf));
  assert_string_equal(buf, "pull,delete");
}

static void test_policy(void **state)
{
  json_t *j = json_loads("{\"groups\":{\"devs\":[\"bob\"]},\"rules\":["
                         "{\"repository\":\"team/*\",\"users\":[\"alice\"],\"actions\":[\"pull\",\"push\"]},"
                         "{\"repository\":\"team/*\",\"groups\":[\"devs\"],\"actions\":[\"pull\"]},"
                         "{\"repository\":\"public/**\",\"anonymous\":true,\"actions\":[\"pull\"]}]}",
                         0, NULL);
  json_t *bad = json_loads(
      "{\"rules\":[{\"repository\":\"x\",\"groups\":[\"nope\"],\"actions\":[\"pull\"]}]}", 0, NULL);
  json_t *unknown = json_loads("{\"rulez\":[]}", 0, NULL);
  struct srv_policy p;

  assert_int_equal(srv_policy_parse(j, &p, NULL), WH_OK);
  assert_int_equal(srv_policy_rights(&p, "alice", "team/app"), SRV_ACT_PULL | SRV_ACT_PUSH);
  assert_int_equal(srv_policy_rights(&p, "bob", "team/app"), SRV_ACT_PULL);
  assert_int_equal(srv_policy_rights(&p, "carol", "team/app"), 0);
  assert_int_equal(srv_policy_rights(&p, NULL, "team/app"), 0);
  assert_int_equal(srv_policy_rights(&p, NULL, "public/x/y"), SRV_ACT_PULL);
  assert_int_equal(srv_policy_rights(&p, "alice", "public/x"), SRV_ACT_PULL);
  assert_true(srv_policy_has_anonymous(&p));
  srv_policy_release(&p);
  assert_int_equal(srv_policy_parse(bad, &p, NULL), WH_EINVALID);
  assert_int_equal(srv_policy_parse(unknown, &p, NULL), WH_EINVALID);
  json_decref(j);
  json_decref(bad);
  json_decref(unknown);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_es256_roundtrip, setup, teardown),
      cmocka_unit_test_setup_teardown(test_rs256_roundtrip, setup, teardown),
      cmocka_unit_test_setup_teardown(test_alg_none, setup, teardown),
      cmocka_unit_test_setup_teardown(test_hs256_confusion, setup, teardown),
      cmocka_unit_test_setup_teardown(test_expiry, setup, teardown),
      cmocka_unit_test_setup_teardown(test_nbf, setup, teardown),
      cmocka_unit_test_setup_teardown(test_iss_aud, setup, teardown),
      cmocka_unit_test_setup_teardown(test_bad_signature, setup, teardown),
      cmocka_unit_test_setup_teardown(test_kid, setup, teardown),
      cmocka_unit_test_setup_teardown(test_embedded_jwk, setup, teardown),
      cmocka_unit_test(test_authz_parse),
      cmocka_unit_test(test_glob_actions),
      cmocka_unit_test(test_policy),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
