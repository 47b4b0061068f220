/* common/digest.c - strict digest parsing and streaming hashes (OpenSSL EVP).
 *
 * Invariants: a struct wh_digest that came out of this file holds a
 * canonical "alg:hex" string with a supported algorithm and exactly the
 * right number of lowercase hex digits, so it is safe in paths and URLs.
 * Generic-grammar digests of other algorithms (OCI image-spec:
 *   algorithm := component (separator component)*, component := [a-z0-9]+,
 *   separator := [+._-], encoded := [a-zA-Z0-9=_-]+)
 * are WH_EUNSUPPORTED; anything else is WH_EINVALID.
 */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "common/cleanup.h"
#include "common/crypto-lazy.h"
#include "common/digest.h"

struct wh_hasher {
  enum wh_digest_alg alg;
  EVP_MD_CTX *ctx; /* owned */
};

static const EVP_MD *alg_md(enum wh_digest_alg alg)
{
  switch (alg) {
  case WH_DIGEST_SHA256:
    return EVP_sha256();
  case WH_DIGEST_SHA512:
    return EVP_sha512();
  }
  return NULL;
}

const char *wh_digest_alg_name(enum wh_digest_alg alg)
{
  switch (alg) {
  case WH_DIGEST_SHA256:
    return "sha256";
  case WH_DIGEST_SHA512:
    return "sha512";
  }
  return "unknown";
}

size_t wh_digest_alg_hexlen(enum wh_digest_alg alg)
{
  switch (alg) {
  case WH_DIGEST_SHA256:
    return 64;
  case WH_DIGEST_SHA512:
    return 128;
  }
  return 0;
}

static bool is_lower_hex(char c)
{
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

static bool is_alg_char(char c)
{
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool is_alg_sep(char c)
{
  return c == '+' || c == '.' || c == '_' || c == '-';
}

static bool is_encoded_char(char c)
{
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '=' || c == '_' ||
         c == '-';
}

/* algorithm := component (separator component)* */
static bool generic_alg_valid(const char *s, size_t n)
{
  bool need_char = true;

  if (n == 0)
    return false;
  for (size_t i = 0; i < n; i++) {
    if (is_alg_char(s[i]))
      need_char = false;
    else if (is_alg_sep(s[i]) && !need_char)
      need_char = true;
    else
      return false;
  }
  return !need_char;
}

static bool generic_encoded_valid(const char *s, size_t n)
{
  if (n == 0)
    return false;
  for (size_t i = 0; i < n; i++)
    if (!is_encoded_char(s[i]))
      return false;
  return true;
}

/* Classifies an algorithm name we do not implement. */
static enum wh_code reject_alg(const char *s, size_t alen, size_t len, struct wh_err *err)
{
  const char *enc = s + alen + 1;
  size_t elen = len - alen - 1;

  if (generic_alg_valid(s, alen) && generic_encoded_valid(enc, elen))
    return wh_err_set(err, WH_EUNSUPPORTED, 0, "digest \"%.*s\": unsupported algorithm",
                      (int)(alen > 32 ? 32 : alen), s);
  return wh_err_set(err, WH_EINVALID, 0, "invalid digest");
}

enum wh_code wh_digest_parse(const char *s, size_t len, struct wh_digest *out, struct wh_err *err)
{
  const char *colon;
  size_t alen, hexlen;
  enum wh_digest_alg alg;

  if (s == NULL || len == 0)
    return wh_err_set(err, WH_EINVALID, 0, "invalid digest: empty");
  colon = memchr(s, ':', len);
  if (colon == NULL)
    return wh_err_set(err, WH_EINVALID, 0, "invalid digest: missing ':'");
  alen = (size_t)(colon - s);
  if (alen == 6 && memcmp(s, "sha256", 6) == 0)
    alg = WH_DIGEST_SHA256;
  else if (alen == 6 && memcmp(s, "sha512", 6) == 0)
    alg = WH_DIGEST_SHA512;
  else
    return reject_alg(s, alen, len, err);
  hexlen = wh_digest_alg_hexlen(alg);
  if (len - alen - 1 != hexlen)
    return wh_err_set(err, WH_EINVALID, 0, "invalid digest: %s needs %zu hex digits", wh_digest_alg_name(alg),
                      hexlen);
  for (size_t i = alen + 1; i < len; i++)
    if (!is_lower_hex(s[i]))
      return wh_err_set(err, WH_EINVALID, 0, "invalid digest: not lowercase hex");
  out->alg = alg;
  memcpy(out->str, s, len);
  out->str[len] = '\0';
  return WH_OK;
}

enum wh_code wh_digest_parsez(const char *s, struct wh_digest *out, struct wh_err *err)
{
  if (s == NULL)
    return wh_err_set(err, WH_EINVALID, 0, "invalid digest: empty");
  return wh_digest_parse(s, strlen(s), out, err);
}

const char *wh_digest_hex(const struct wh_digest *d)
{
  const char *c = strchr(d->str, ':');

  return c ? c + 1 : d->str;
}

bool wh_digest_eq(const struct wh_digest *a, const struct wh_digest *b)
{
  return a->alg == b->alg && strcmp(a->str, b->str) == 0;
}

struct wh_hasher *wh_hasher_new(enum wh_digest_alg alg)
{
  const EVP_MD *md = alg_md(alg);
  struct wh_hasher *h;

  if (md == NULL)
    return NULL;
  h = calloc(1, sizeof(*h));
  if (h == NULL)
    return NULL;
  h->alg = alg;
  h->ctx = EVP_MD_CTX_new();
  if (h->ctx == NULL || EVP_DigestInit_ex(h->ctx, md, NULL) != 1) {
    wh_hasher_free(h);
    return NULL;
  }
  return h;
}

void wh_hasher_free(struct wh_hasher *h)
{
  if (h == NULL)
    return;
  EVP_MD_CTX_free(h->ctx);
  free(h);
}

void wh_hasher_update(struct wh_hasher *h, const void *p, size_t n)
{
  if (n)
    EVP_DigestUpdate(h->ctx, p, n);
}

struct wh_hasher *wh_hasher_dup(const struct wh_hasher *h)
{
  struct wh_hasher *c = calloc(1, sizeof(*c));

  if (c == NULL)
    return NULL;
  c->alg = h->alg;
  c->ctx = EVP_MD_CTX_new();
  if (c->ctx == NULL || EVP_MD_CTX_copy_ex(c->ctx, h->ctx) != 1) {
    wh_hasher_free(c);
    return NULL;
  }
  return c;
}

static void format_digest(enum wh_digest_alg alg, const unsigned char *md, unsigned int mdlen,
                          struct wh_digest *out)
{
  static const char hex[] = "0123456789abcdef";
  const char *name = wh_digest_alg_name(alg);
  size_t pos = strlen(name);

  memcpy(out->str, name, pos);
  out->str[pos++] = ':';
  for (unsigned int i = 0; i < mdlen && pos + 2 < sizeof(out->str); i++) {
    out->str[pos++] = hex[md[i] >> 4];
    out->str[pos++] = hex[md[i] & 0xf];
  }
  out->str[pos] = '\0';
  out->alg = alg;
}

void wh_hasher_final(struct wh_hasher *h, struct wh_digest *out)
{
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int mdlen = 0;

  EVP_DigestFinal_ex(h->ctx, md, &mdlen);
  format_digest(h->alg, md, mdlen, out);
}

enum wh_digest_alg wh_hasher_alg(const struct wh_hasher *h)
{
  return h->alg;
}

void wh_digest_buf(enum wh_digest_alg alg, const void *p, size_t n, struct wh_digest *out)
{
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int mdlen = 0;

  EVP_Digest(p, n, md, &mdlen, alg_md(alg), NULL);
  format_digest(alg, md, mdlen, out);
}

static void cleanup_hasher(struct wh_hasher **h)
{
  wh_hasher_free(*h);
}

enum wh_code wh_digest_fd(enum wh_digest_alg alg, int fd, struct wh_digest *out, uint64_t *size_out,
                          struct wh_err *err)
{
  __attribute__((cleanup(cleanup_hasher))) struct wh_hasher *h = wh_hasher_new(alg);
  WH_AUTOFREE unsigned char *chunk = malloc(64 * 1024);
  uint64_t total = 0;

  if (h == NULL || chunk == NULL)
    return wh_err_set(err, WH_ENOMEM, 0, "digest: out of memory");
  for (;;) {
    ssize_t r = read(fd, chunk, 64 * 1024);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0)
      return wh_err_set(err, WH_EIO, errno, "digest: read");
    if (r == 0)
      break;
    wh_hasher_update(h, chunk, (size_t)r);
    total += (uint64_t)r;
  }
  wh_hasher_final(h, out);
  if (size_out)
    *size_out = total;
  return WH_OK;
}
