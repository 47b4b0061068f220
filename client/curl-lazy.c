/* client/curl-lazy.c - binds libcurl with dlopen on first use (see
 * client/curl-lazy.h). The table is written once under pthread_once and
 * only read afterwards. */
#include "config.h"

#define CLI_CURL_LAZY_IMPL
#include "client/curl-lazy.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/cleanup.h"

static struct cli_curl_api api;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void load(void)
{
  static const char *const sonames[] = {"libcurl.so.4", "libcurl.so"};
  void *h = NULL;

  for (size_t i = 0; h == NULL && i < WH_ARRAY_LEN(sonames); i++)
    h = dlopen(sonames[i], RTLD_NOW | RTLD_LOCAL);
  if (h == NULL) {
    fprintf(stderr, "wharf: libcurl is missing (Debian libcurl4): %s\n", dlerror());
    exit(1);
  }
#define CLI_CURL_SYM(f)                                                                                       \
  if ((*(void **)&api.f = dlsym(h, #f)) == NULL) {                                                           \
    fprintf(stderr, "wharf: libcurl is too old: no %s\n", #f);                                               \
    exit(1);                                                                                                 \
  }
  CLI_CURL_FUNCS(CLI_CURL_SYM)
#undef CLI_CURL_SYM
}

const struct cli_curl_api *cli_curl(void)
{
  pthread_once(&once, load);
  return &api;
}
