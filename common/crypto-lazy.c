/* common/crypto-lazy.c - binds libcrypto with dlopen on first use (see
 * common/crypto-lazy.h). The table is written once under pthread_once and
 * only read afterwards. */
#include "config.h"

#define WH_CRYPTO_LAZY_IMPL
#include "common/crypto-lazy.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/cleanup.h"
#include "common/lazy.h"

static struct wh_crypto_api api;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void load(void)
{
  static const char *const sonames[] = {"libcrypto.so.3", "libcrypto.so", NULL};
#define WH_CRYPTO_NAME(f) #f,
#define WH_CRYPTO_ADDR(f) (void **)&api.f,
  static const char *const names[] = {WH_CRYPTO_FUNCS(WH_CRYPTO_NAME)};
  void **const fields[] = {WH_CRYPTO_FUNCS(WH_CRYPTO_ADDR)};
  char why[256];

  if (!wh_lazy_bind("libcrypto", "libssl3", sonames, names, fields, WH_ARRAY_LEN(names), why, sizeof(why))) {
    fprintf(stderr, "wharf: %s\n", why);
    exit(1);
  }
}

const struct wh_crypto_api *wh_crypto(void)
{
  pthread_once(&once, load);
  return &api;
}
