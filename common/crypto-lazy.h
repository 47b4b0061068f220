/* common/crypto-lazy.h - the libcrypto functions of common/ and the client,
 * bound on first use (dlopen). Included after <openssl/evp.h> by every
 * source that calls them: each becomes a call through a table that
 * wh_crypto() fills once.
 *
 * Why: libcrypto costs every process that links it thousands of symbol
 * relocations at start (it is built with -z now), a millisecond here, and
 * a larger address space for each fork; `wharf run` of a local image
 * never hashes. wharf is not linked with -lcrypto, so a libcrypto call
 * not listed here fails to link instead of silently loading it at start.
 * wharfd links libcrypto (tokens, TLS): there dlopen finds it loaded.
 */
#ifndef WH_CRYPTO_LAZY_H
#define WH_CRYPTO_LAZY_H

#include <openssl/evp.h>

/* clang-format off */
#define WH_CRYPTO_FUNCS(X)                                                                                    \
  X(EVP_DecodeBlock) X(EVP_EncodeBlock) X(EVP_Digest) X(EVP_DigestInit_ex) X(EVP_DigestUpdate)               \
  X(EVP_DigestFinal_ex) X(EVP_MD_CTX_new) X(EVP_MD_CTX_free) X(EVP_MD_CTX_copy_ex) X(EVP_sha256)            \
  X(EVP_sha512)
/* clang-format on */

struct wh_crypto_api {
#define WH_CRYPTO_FIELD(f) __typeof__(&f) f;
  WH_CRYPTO_FUNCS(WH_CRYPTO_FIELD)
#undef WH_CRYPTO_FIELD
};

/* The bound table (loads libcrypto on the first call; thread-safe). A
 * missing libcrypto is a broken installation: one line on stderr, exit 1. */
const struct wh_crypto_api *wh_crypto(void);

#ifndef WH_CRYPTO_LAZY_IMPL
#define EVP_DecodeBlock(...) (wh_crypto()->EVP_DecodeBlock(__VA_ARGS__))
#define EVP_EncodeBlock(...) (wh_crypto()->EVP_EncodeBlock(__VA_ARGS__))
#define EVP_Digest(...) (wh_crypto()->EVP_Digest(__VA_ARGS__))
#define EVP_DigestInit_ex(...) (wh_crypto()->EVP_DigestInit_ex(__VA_ARGS__))
#define EVP_DigestUpdate(...) (wh_crypto()->EVP_DigestUpdate(__VA_ARGS__))
#define EVP_DigestFinal_ex(...) (wh_crypto()->EVP_DigestFinal_ex(__VA_ARGS__))
#define EVP_MD_CTX_new(...) (wh_crypto()->EVP_MD_CTX_new(__VA_ARGS__))
#define EVP_MD_CTX_free(...) (wh_crypto()->EVP_MD_CTX_free(__VA_ARGS__))
#define EVP_MD_CTX_copy_ex(...) (wh_crypto()->EVP_MD_CTX_copy_ex(__VA_ARGS__))
#define EVP_sha256(...) (wh_crypto()->EVP_sha256(__VA_ARGS__))
#define EVP_sha512(...) (wh_crypto()->EVP_sha512(__VA_ARGS__))
#endif

#endif
