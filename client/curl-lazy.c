/* client/curl-lazy.c - binds libcurl with dlopen on first use (see
 * client/curl-lazy.h). The table is written once under pthread_once and
 * only read afterwards. */
#include "config.h"

#define CLI_CURL_LAZY_IMPL
#include "client/curl-lazy.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/cleanup.h"
#include "common/lazy.h"

static struct cli_curl_api api;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void load(void)
{
  static const char *const sonames[] = {"libcurl.so.4", "libcurl.so", NULL};
#define CLI_CURL_NAME(f) #f,
#define CLI_CURL_ADDR(f) (void **)&api.f,
  static const char *const names[] = {CLI_CURL_FUNCS(CLI_CURL_NAME)};
  void **const fields[] = {CLI_CURL_FUNCS(CLI_CURL_ADDR)};
  char why[256];

  if (!wh_lazy_bind("libcurl", "libcurl4", sonames, names, fields, WH_ARRAY_LEN(names), why, sizeof(why))) {
    fprintf(stderr, "wharf: %s\n", why);
    exit(1);
  }
}

const struct cli_curl_api *cli_curl(void)
{
  pthread_once(&once, load);
  return &api;
}
