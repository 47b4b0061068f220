/* common/crypto-lazy.c - binds libcrypto with dlopen on first use (see
 * common/crypto-lazy.h). The table is written once under pthread_once and
 * only read afterwards. */
#include "config.h"

#define WH_CRYPTO_LAZY_IMPL
#include "common/crypto-lazy.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/cleanup.h"

static struct wh_crypto_api api;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void load(void)
{
  static const char *const sonames[] = {"libcrypto.so.3", "libcrypto.so"};
  void *h = NULL;

  for (size_t i = 0; h == NULL && i < WH_ARRAY_LEN(sonames); i++)
    h = dlopen(sonames[i], RTLD_NOW | RTLD_LOCAL);
  if (h == NULL) {
    fprintf(stderr, "wharf: libcrypto is missing (Debian libssl3): %s\n", dlerror());
    exit(1);
  }
#define WH_CRYPTO_SYM(f)                                                                                      \
  if ((*(void **)&api.f = dlsym(h, #f)) == NULL) {                                                           \
    fprintf(stderr, "wharf: libcrypto is too old: no %s\n", #f);                                             \
    exit(1);                                                                                                 \
  }
  WH_CRYPTO_FUNCS(WH_CRYPTO_SYM)
#undef WH_CRYPTO_SYM
}

const struct wh_crypto_api *wh_crypto(void)
{
  pthread_once(&once, load);
  return &api;
}
