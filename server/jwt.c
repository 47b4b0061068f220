/* server/jwt.c - JSON Web Tokens (RFC 7519) for wharfd's bearer auth, and
 * the parser of Authorization header values.
 *
 * Signing and verification use OpenSSL's EVP with ES256 (P-256, the
 * signature as raw r||s per RFC 7518 3.4) or RS256 (PKCS#1 v1.5, RSA keys
 * of 2048 bits or more).
 *
 * Invariants (what verification never does):
 *  - accept an "alg" outside {ES256, RS256} ("none", HS*, PS*, ...), or one
 *    that differs from the key's own algorithm: an RSA or EC public key is
 *    never used as an HMAC secret;
 *  - take a key from the token: "jwk", "jku", "x5c", "x5u" are ignored and
 *    "kid" only selects among the keys configured for the token's issuer;
 *  - act on a claim before the signature over header.payload is verified;
 *  - read more than SRV_JWT_MAX bytes or allocate by a size the peer picks.
 * Nothing here prints or knows libmicrohttpd: tests/fuzz/fuzz_auth runs it.
 */
#include "config.h"

#include "server/auth-int.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <string.h>
#include <strings.h>

#include "common/buf.h"
#include "common/cleanup.h"
#include "common/fsutil.h"

#define PEM_MAX (64 * 1024)
#define SIG_MAX 1024 /* RSA 8192 bits */

/* ---- base64url --------------------------------------------------------- */

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

size_t srv_b64url_encode(const unsigned char *in, size_t n, char *out, size_t out_size)
{
  size_t o = 0;
  uint32_t v;

  if (out_size < (n + 2) / 3 * 4 + 1)
    return 0;
  for (size_t i = 0; i < n; i += 3) {
    v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0) | (i + 2 < n ? in[i + 2] : 0);
    out[o++] = b64url[(v >> 18) & 63];
    out[o++] = b64url[(v >> 12) & 63];
    if (i + 1 < n)
      out[o++] = b64url[(v >> 6) & 63];
    if (i + 2 < n)
      out[o++] = b64url[v & 63];
  }
  out[o] = '\0';
  return o;
}

static int b64_val(unsigned char c, bool url)
{
  if (c >= 'A' && c <= 'Z')
    return c - 'A';
  if (c >= 'a' && c <= 'z')
    return c - 'a' + 26;
  if (c >= '0' && c <= '9')
    return c - '0' + 52;
  if (c == (url ? '-' : '+'))
    return 62;
  if (c == (url ? '_' : '/'))
    return 63;
  return -1;
}

/* Decodes n characters (no padding) of either alphabet. */
static bool b64_decode(const char *in, size_t n, bool url, unsigned char *out, size_t out_size, size_t *n_out)
{
  size_t o = 0;
  uint32_t acc = 0;
  int bits = 0, v;

  if (n % 4 == 1)
    return false;
  if (n / 4 * 3 + 2 > out_size)
    return false;
  for (size_t i = 0; i < n; i++) {
    if ((v = b64_val((unsigned char)in[i], url)) < 0)
      return false;
    acc = acc << 6 | (uint32_t)v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (unsigned char)(acc >> bits);
      acc &= (1u << bits) - 1;
    }
  }
  if (acc != 0) /* non-canonical trailing bits */
    return false;
  *n_out = o;
  return true;
}

bool srv_b64url_decode(const char *in, size_t n, unsigned char *out, size_t out_size, size_t *n_out)
{
  return b64_decode(in, n, true, out, out_size, n_out);
}

/* ---- keys ------------------------------------------------------------------- */

static enum wh_code ossl_err(struct wh_err *err, enum wh_code code, const char *what)
{
  char buf[160];
  unsigned long e = ERR_get_error();

  ERR_error_string_n(e, buf, sizeof(buf));
  ERR_clear_error();
  return wh_err_set(err, code, 0, "%s: %s", what, e ? buf : "failed");
}

/* kid: the base64url of the first 18 bytes of the sha256 of the DER public key. */
static void derive_kid(EVP_PKEY *pkey, char kid[64])
{
  unsigned char *der = NULL, md[SHA256_DIGEST_LENGTH];
  int n = i2d_PUBKEY(pkey, &der);

  kid[0] = '\0';
  if (n <= 0)
    return;
  SHA256(der, (size_t)n, md);
  OPENSSL_free(der);
  srv_b64url_encode(md, 18, kid, 64);
}

static enum wh_code key_adopt(struct srv_jwt_key *k, EVP_PKEY *pkey, const char *kid, struct wh_err *err)
{
  char group[64];
  size_t glen = 0;

  memset(k, 0, sizeof(*k));
  if (EVP_PKEY_get_base_id(pkey) == EVP_PKEY_EC) {
    if (!EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group), &glen) ||
        strcmp(group, "prime256v1") != 0) {
      EVP_PKEY_free(pkey);
      return wh_err_set(err, WH_EUNSUPPORTED, 0, "EC key: only P-256 (ES256) is supported");
    }
    k->alg = SRV_JWT_ES256;
  } else if (EVP_PKEY_get_base_id(pkey) == EVP_PKEY_RSA) {
    if (EVP_PKEY_get_bits(pkey) < 2048) {
      EVP_PKEY_free(pkey);
      return wh_err_set(err, WH_EUNSUPPORTED, 0, "RSA key: at least 2048 bits");
    }
    k->alg = SRV_JWT_RS256;
  } else {
    EVP_PKEY_free(pkey);
    return wh_err_set(err, WH_EUNSUPPORTED, 0, "key type: expected EC P-256 or RSA");
  }
  k->pkey = pkey;
  if (kid && *kid)
    snprintf(k->kid, sizeof(k->kid), "%s", kid);
  else
    derive_kid(pkey, k->kid);
  return WH_OK;
}

enum wh_code srv_jwt_key_from_pem(struct srv_jwt_key *k, const char *pem, size_t len, bool private_key,
                                  const char *kid, struct wh_err *err)
{
  BIO *bio = BIO_new_mem_buf(pem, (int)len);
  EVP_PKEY *pkey = NULL;
  X509 *x = NULL;

  if (!bio || len > PEM_MAX) {
    BIO_free(bio);
    return wh_err_set(err, WH_EINVALID, 0, "PEM key: too large");
  }
  if (private_key) {
    pkey = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
  } else {
    pkey = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
    if (!pkey) {
      ERR_clear_error();
      (void)BIO_reset(bio);
      if ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
        pkey = X509_get_pubkey(x);
        X509_free(x);
      }
    }
  }
  BIO_free(bio);
  if (!pkey)
    return ossl_err(err, WH_EINVALID, private_key ? "PEM private key" : "PEM public key or certificate");
  return key_adopt(k, pkey, kid, err);
}

static enum wh_code read_pem(const char *path, struct wh_buf *b, struct wh_err *err)
{
  WH_AUTOCLOSE int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);

  if (fd < 0)
    return wh_err_set(err, WH_EIO, errno, "key \"%s\"", path);
  wh_buf_init(b, PEM_MAX);
  if (wh_read_fd(fd, b, err) != WH_OK) {
    wh_buf_release(b);
    return wh_err_wrap(err, "key \"%s\"", path);
  }
  return WH_OK;
}

static enum wh_code load_file(struct srv_jwt_key *k, const char *path, bool priv, const char *kid,
                              struct wh_err *err)
{
  struct wh_buf b;
  enum wh_code rc;

  if ((rc = read_pem(path, &b, err)) != WH_OK)
    return rc;
  rc = srv_jwt_key_from_pem(k, b.data ? b.data : "", b.len, priv, kid, err);
  OPENSSL_cleanse(b.data, b.len);
  wh_buf_release(&b);
  if (rc != WH_OK)
    return wh_err_wrap(err, "key \"%s\"", path);
  return WH_OK;
}

enum wh_code srv_jwt_key_load_private(struct srv_jwt_key *k, const char *path, struct wh_err *err)
{
  return load_file(k, path, true, NULL, err);
}

enum wh_code srv_jwt_key_load_public(struct srv_jwt_key *k, const char *path, const char *kid,
                                     struct wh_err *err)
{
  return load_file(k, path, false, kid, err);
}

enum wh_code srv_jwt_key_generate(struct srv_jwt_key *k, struct wh_err *err)
{
  EVP_PKEY *pkey = EVP_EC_gen("P-256");

  if (!pkey)
    return ossl_err(err, WH_EINTERNAL, "generate P-256 key");
  return key_adopt(k, pkey, NULL, err);
}

enum wh_code srv_jwt_key_public_copy(const struct srv_jwt_key *k, struct srv_jwt_key *out, struct wh_err *err)
{
  unsigned char *der = NULL;
  const unsigned char *p;
  int n = i2d_PUBKEY(k->pkey, &der);
  EVP_PKEY *pub;

  if (n <= 0)
    return ossl_err(err, WH_EINTERNAL, "export public key");
  p = der;
  pub = d2i_PUBKEY(NULL, &p, n);
  OPENSSL_free(der);
  if (!pub)
    return ossl_err(err, WH_EINTERNAL, "import public key");
  return key_adopt(out, pub, k->kid, err);
}

void srv_jwt_key_release(struct srv_jwt_key *k)
{
  EVP_PKEY_free(k->pkey);
  k->pkey = NULL;
}

void srv_jwt_trust_release(struct srv_jwt_trust *t)
{
  for (size_t i = 0; i < t->n_keys; i++)
    srv_jwt_key_release(&t->keys[i]);
  free(t->keys);
  free(t->issuer);
  free(t->audience);
  memset(t, 0, sizeof(*t));
}

/* ---- signatures ------------------------------------------------------------ */

/* ES256 DER signature -> raw r||s (64 bytes). */
static bool ecdsa_der_to_raw(const unsigned char *der, size_t n, unsigned char raw[64])
{
  const unsigned char *p = der;
  ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &p, (long)n);
  const BIGNUM *r, *s;
  bool ok;

  if (!sig)
    return false;
  ECDSA_SIG_get0(sig, &r, &s);
  ok = BN_bn2binpad(r, raw, 32) == 32 && BN_bn2binpad(s, raw + 32, 32) == 32;
  ECDSA_SIG_free(sig);
  return ok;
}

/* raw r||s -> DER (malloc'd by OpenSSL into *der). */
static int ecdsa_raw_to_der(const unsigned char raw[64], unsigned char **der)
{
  ECDSA_SIG *sig = ECDSA_SIG_new();
  BIGNUM *r = BN_bin2bn(raw, 32, NULL), *s = BN_bin2bn(raw + 32, 32, NULL);
  int n = -1;

  if (sig && r && s && ECDSA_SIG_set0(sig, r, s) == 1) {
    r = s = NULL; /* owned by sig now */
    n = i2d_ECDSA_SIG(sig, der);
  }
  BN_free(r);
  BN_free(s);
  ECDSA_SIG_free(sig);
  return n;
}

static bool sign_bytes(const struct srv_jwt_key *k, const char *data, size_t n, unsigned char *sig,
                       size_t *sig_len)
{
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  unsigned char der[SIG_MAX];
  size_t dlen = sizeof(der);
  bool ok = ctx && EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, k->pkey) == 1 &&
            EVP_DigestSign(ctx, der, &dlen, (const unsigned char *)data, n) == 1;

  EVP_MD_CTX_free(ctx);
  if (!ok)
    return false;
  if (k->alg == SRV_JWT_ES256) {
    *sig_len = 64;
    return ecdsa_der_to_raw(der, dlen, sig);
  }
  memcpy(sig, der, dlen);
  *sig_len = dlen;
  return true;
}

static bool verify_bytes(const struct srv_jwt_key *k, const char *data, size_t n, const unsigned char *sig,
                         size_t sig_len)
{
  EVP_MD_CTX *ctx;
  unsigned char *der = NULL;
  int dlen;
  bool ok;

  if (k->alg == SRV_JWT_ES256) {
    if (sig_len != 64 || (dlen = ecdsa_raw_to_der(sig, &der)) <= 0)
      return false;
    sig = der;
    sig_len = (size_t)dlen;
  }
  ctx = EVP_MD_CTX_new();
  ok = ctx && EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, k->pkey) == 1 &&
       EVP_DigestVerify(ctx, sig, sig_len, (const unsigned char *)data, n) == 1;
  EVP_MD_CTX_free(ctx);
  OPENSSL_free(der);
  ERR_clear_error();
  return ok;
}

static const char *alg_name(enum srv_jwt_alg a)
{
  return a == SRV_JWT_ES256 ? "ES256" : a == SRV_JWT_RS256 ? "RS256" : "none";
}

/* The allow-list: anything else (none, HS256, PS256, ...) is SRV_JWT_NONE. */
static enum srv_jwt_alg alg_parse(const char *s)
{
  if (s && strcmp(s, "ES256") == 0)
    return SRV_JWT_ES256;
  if (s && strcmp(s, "RS256") == 0)
    return SRV_JWT_RS256;
  return SRV_JWT_NONE;
}

/* Appends the base64url of j's compact serialisation. */
static enum wh_code append_json_b64(struct wh_buf *b, const json_t *j)
{
  WH_AUTOFREE char *text = json_dumps(j, JSON_COMPACT);
  WH_AUTOFREE char *enc = NULL;
  size_t n, cap;

  if (!text)
    return WH_ENOMEM;
  n = strlen(text);
  cap = (n + 2) / 3 * 4 + 1;
  if (!(enc = malloc(cap)))
    return WH_ENOMEM;
  srv_b64url_encode((const unsigned char *)text, n, enc, cap);
  return wh_buf_appendz(b, enc);
}

enum wh_code srv_jwt_sign(const struct srv_jwt_key *k, const json_t *claims, char **out, struct wh_err *err)
{
  json_auto_t *hdr = json_pack("{s:s,s:s,s:s}", "typ", "JWT", "alg", alg_name(k->alg), "kid", k->kid);

  if (!hdr)
    return wh_err_set(err, WH_ENOMEM, ENOMEM, "token");
  return srv_jwt_sign_header(k, hdr, claims, out, err);
}

enum wh_code srv_jwt_sign_header(const struct srv_jwt_key *k, const json_t *hdr, const json_t *claims,
                                 char **out, struct wh_err *err)
{
  unsigned char sig[SIG_MAX];
  char enc[SIG_MAX * 2];
  size_t sig_len;
  struct wh_buf b;

  wh_buf_init(&b, SRV_JWT_MAX);
  if (append_json_b64(&b, hdr) != WH_OK || wh_buf_appendz(&b, ".") != WH_OK ||
      append_json_b64(&b, claims) != WH_OK) {
    wh_buf_release(&b);
    return wh_err_set(err, WH_ETOOBIG, 0, "token: claims too large");
  }
  if (!sign_bytes(k, b.data, b.len, sig, &sig_len)) {
    wh_buf_release(&b);
    return ossl_err(err, WH_EINTERNAL, "sign token");
  }
  srv_b64url_encode(sig, sig_len, enc, sizeof(enc));
  if (wh_buf_appendz(&b, ".") != WH_OK || wh_buf_appendz(&b, enc) != WH_OK) {
    wh_buf_release(&b);
    return wh_err_set(err, WH_ETOOBIG, 0, "token: too large");
  }
  *out = wh_buf_steal(&b, NULL);
  return *out ? WH_OK : wh_err_set(err, WH_ENOMEM, ENOMEM, "token");
}

/* ---- verification ------------------------------------------------------------ */

/* Decodes one base64url JSON object part. */
static json_t *decode_part(const char *p, size_t n)
{
  unsigned char buf[SRV_JWT_MAX];
  size_t len;
  json_t *j;

  if (!srv_b64url_decode(p, n, buf, sizeof(buf), &len))
    return NULL;
  j = json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES, NULL);
  if (j && !json_is_object(j)) {
    json_decref(j);
    return NULL;
  }
  return j;
}

static bool aud_has(const json_t *aud, const char *want)
{
  size_t i;
  json_t *v;

  if (json_is_string(aud))
    return strcmp(json_string_value(aud), want) == 0;
  if (!json_is_array(aud))
    return false;
  json_array_foreach(aud, i, v)
  {
    if (json_is_string(v) && strcmp(json_string_value(v), want) == 0)
      return true;
  }
  return false;
}

static bool num_claim(const json_t *claims, const char *key, int64_t *out)
{
  const json_t *v = json_object_get(claims, key);

  if (json_is_integer(v)) {
    *out = (int64_t)json_integer_value(v);
    return true;
  }
  if (json_is_real(v) && json_real_value(v) > -9e15 && json_real_value(v) < 9e15) {
    *out = (int64_t)json_real_value(v);
    return true;
  }
  return false;
}

static enum wh_code check_claims(const json_t *claims, const struct srv_jwt_trust *t, int64_t now,
                                 struct wh_err *err)
{
  int64_t exp, nbf;

  if (!aud_has(json_object_get(claims, "aud"), t->audience))
    return wh_err_set(err, WH_EUNAUTHORIZED, 0, "token: wrong audience");
  if (!num_claim(claims, "exp", &exp))
    return wh_err_set(err, WH_EUNAUTHORIZED, 0, "token: no expiry");
  if (now > exp + SRV_JWT_LEEWAY_S)
    return wh_err_set(err, WH_EUNAUTHORIZED, 0, "token: expired");
  if (json_object_get(claims, "nbf") && (!num_claim(claims, "nbf", &nbf) || now + SRV_JWT_LEEWAY_S < nbf))
    return wh_err_set(err, WH_EUNAUTHORIZED, 0, "token: not valid yet");
  return WH_OK;
}

/* The trust named by "iss"; NULL when none. */
static const struct srv_jwt_trust *trust_for(const json_t *claims, const struct srv_jwt_trust *trusts,
                                             size_t n)
{
  const char *iss = json_string_value(json_object_get(claims, "iss"));

  for (size_t i = 0; iss && i < n; i++)
    if (trusts[i].issuer && strcmp(trusts[i].issuer, iss) == 0)
      return &trusts[i];
  return NULL;
}

/* Tries the trust's keys that match alg and (when given) kid. */
static bool signature_ok(const struct srv_jwt_trust *t, enum srv_jwt_alg alg, const char *kid,
                         const char *signed_part, size_t signed_len, const unsigned char *sig, size_t sig_len)
{
  for (size_t i = 0; i < t->n_keys; i++) {
    const struct srv_jwt_key *k = &t->keys[i];
    if (k->alg != alg || (kid && strcmp(kid, k->kid) != 0))
      continue;
    if (verify_bytes(k, signed_part, signed_len, sig, sig_len))
      return true;
  }
  return false;
}

enum wh_code srv_jwt_verify(const char *token, size_t len, const struct srv_jwt_trust *trusts,
                            size_t n_trusts, int64_t now, json_t **claims_out,
                            const struct srv_jwt_trust **trust_out, struct wh_err *err)
{
  json_auto_t *hdr = NULL;
  json_auto_t *claims = NULL;
  const char *dot1, *dot2, *kid;
  const struct srv_jwt_trust *t;
  unsigned char sig[SIG_MAX];
  size_t sig_len;
  enum srv_jwt_alg alg;

  if (len == 0 || len > SRV_JWT_MAX)
    return wh_err_set(err, WH_EUNAUTHORIZED, 0, "token: bad size");
  dot1 = memchr(token, '.', len);
  dot2 = dot1 ? memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - token)) : NULL;
  if (!dot2 || memchr(dot2 + 1, '.', len - (size_t)(dot2 + 1 - token)))
    return wh_err_set(err, WH_EUNAUTHORIZED, 0, "token: not a JWS compact serialisation");
  hdr = decode_part(token, (size_t)(dot1 - token));
  claims = decode_part(dot1 + 1, (size_t)(dot2 - dot1 - 1));
  if (!hdr || !claims)
    return wh_err_set(err, WH_EUNAUTHORIZED, 0, "token: malformed header or claims");
  alg = alg_parse(json_string_value(json_object_get(hdr, "alg")));
  if (alg == SRV_JWT_NONE)
    return wh_err_set(err, WH_EUNAUTHORIZED, 0, "token: algorithm not allowed");
  kid = json_string_value(json_object_get(hdr, "kid"));
  if (json_object_get(hdr, "kid") && !kid)
    return wh_err_set(err, WH_EUNAUTHORIZED, 0, "token: bad kid");
  if (!(t = trust_for(claims, trusts, n_trusts)))
    return wh_err_set(err, WH_EUNAUTHORIZED, 0, "token: issuer not trusted");
  if (!srv_b64url_decode(dot2 + 1, len - (size_t)(dot2 + 1 - token), sig, sizeof(sig), &sig_len) ||
      !signature_ok(t, alg, kid, token, (size_t)(dot2 - token), sig, sig_len))
    return wh_err_set(err, WH_EUNAUTHORIZED, 0, "token: bad signature");
  if (check_claims(claims, t, now, err) != WH_OK)
    return WH_EUNAUTHORIZED;
  *claims_out = wh_steal_ptr(&claims);
  if (trust_out)
    *trust_out = t;
  return WH_OK;
}

/* ---- Authorization header ------------------------------------------------------ */

void srv_authz_wipe(struct srv_authz *a)
{
  OPENSSL_cleanse(a->password, sizeof(a->password));
}

static void parse_basic(const char *p, struct srv_authz *out)
{
  unsigned char buf[512];
  size_t n = strlen(p), len, ulen;
  const unsigned char *colon;

  while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
    n--;
  while (n > 0 && p[n - 1] == '=') /* standard base64 keeps its padding */
    n--;
  if (n == 0 || n > 680 || !b64_decode(p, n, false, buf, sizeof(buf), &len) ||
      !(colon = memchr(buf, ':', len)))
    goto bad;
  ulen = (size_t)(colon - buf);
  if (ulen == 0 || ulen >= sizeof(out->user) || len - ulen - 1 >= sizeof(out->password) ||
      memchr(buf, '\0', len))
    goto bad;
  memcpy(out->user, buf, ulen);
  out->user[ulen] = '\0';
  memcpy(out->password, colon + 1, len - ulen - 1);
  out->password[len - ulen - 1] = '\0';
  out->kind = SRV_AUTHZ_BASIC;
  OPENSSL_cleanse(buf, sizeof(buf));
  return;
bad:
  OPENSSL_cleanse(buf, sizeof(buf));
  out->kind = SRV_AUTHZ_INVALID;
}

void srv_authz_parse(const char *value, struct srv_authz *out)
{
  const char *p;
  size_t n;

  memset(out, 0, sizeof(*out));
  if (!value)
    return;
  while (*value == ' ' || *value == '\t')
    value++;
  if (!*value)
    return;
  if (strncasecmp(value, "Basic ", 6) == 0) {
    for (p = value + 6; *p == ' '; p++)
      ;
    parse_basic(p, out);
    return;
  }
  if (strncasecmp(value, "Bearer ", 7) == 0) {
    for (p = value + 7; *p == ' '; p++)
      ;
    n = strcspn(p, " \t");
    if (n == 0 || n > SRV_JWT_MAX || p[n + strspn(p + n, " \t")] != '\0') {
      out->kind = SRV_AUTHZ_INVALID;
      return;
    }
    out->kind = SRV_AUTHZ_BEARER;
    out->token = p;
    out->token_len = n;
    return;
  }
  out->kind = SRV_AUTHZ_INVALID;
}
