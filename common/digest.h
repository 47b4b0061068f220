/* common/digest.h - content digests: strict parsing and streaming hashes.
 *
 * A digest string is "<alg>:<hex>" with alg sha256 (64 hex) or sha512 (128
 * hex), lowercase hex of exactly that length (OCI image-spec descriptor
 * rules). Anything else is rejected: other algorithms with WH_EUNSUPPORTED
 * when they match the generic grammar, everything else with WH_EINVALID.
 * A parsed digest is therefore safe to use in a path or a URL.
 */
#ifndef WH_DIGEST_H
#define WH_DIGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "common/err.h"

enum wh_digest_alg {
  WH_DIGEST_SHA256 = 1,
  WH_DIGEST_SHA512 = 2,
};

/* "sha512:" + 128 hex + NUL */
#define WH_DIGEST_STR_MAX 136

struct wh_digest {
  enum wh_digest_alg alg;
  char str[WH_DIGEST_STR_MAX]; /* canonical "alg:hex", NUL terminated */
};

/* Parses s[0..len). Out is written only on success. */
enum wh_code wh_digest_parse(const char *s, size_t len, struct wh_digest *out, struct wh_err *err);
/* Same for a NUL-terminated string. */
enum wh_code wh_digest_parsez(const char *s, struct wh_digest *out, struct wh_err *err);

const char *wh_digest_alg_name(enum wh_digest_alg alg); /* "sha256" */
size_t wh_digest_alg_hexlen(enum wh_digest_alg alg);    /* 64 / 128 */
const char *wh_digest_hex(const struct wh_digest *d);   /* points into d->str */
bool wh_digest_eq(const struct wh_digest *a, const struct wh_digest *b);

/* Streaming hash (OpenSSL EVP underneath). */
struct wh_hasher;
struct wh_hasher *wh_hasher_new(enum wh_digest_alg alg); /* NULL on ENOMEM */
void wh_hasher_free(struct wh_hasher *h);                /* NULL is a no-op */
void wh_hasher_update(struct wh_hasher *h, const void *p, size_t n);
/* Copy of the running state, to keep hashing independently (NULL on ENOMEM). */
struct wh_hasher *wh_hasher_dup(const struct wh_hasher *h);
/* Writes the digest of everything fed so far; h can no longer be updated. */
void wh_hasher_final(struct wh_hasher *h, struct wh_digest *out);
enum wh_digest_alg wh_hasher_alg(const struct wh_hasher *h);

/* Digest of a memory buffer. */
void wh_digest_buf(enum wh_digest_alg alg, const void *p, size_t n, struct wh_digest *out);
/* Digest of everything readable from fd (read from its current offset to EOF);
 * *size_out (optional) gets the byte count. */
enum wh_code wh_digest_fd(enum wh_digest_alg alg, int fd, struct wh_digest *out, uint64_t *size_out,
                          struct wh_err *err);

#endif
