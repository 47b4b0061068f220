/* client/archive-lazy.c - binds libarchive with dlopen on first use (see
 * client/archive-lazy.h). The table is written once under pthread_once and
 * only read afterwards. */
#include "config.h"

#define CLI_ARCHIVE_LAZY_IMPL
#include "client/archive-lazy.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>

#include "common/cleanup.h"

struct cli_archive_api cli_archive_api;

static pthread_once_t once = PTHREAD_ONCE_INIT;
static bool loaded;
static char failure[256];

static void load(void)
{
  static const char *const sonames[] = {"libarchive.so.13", "libarchive.so"};
  void *h = NULL;

  for (size_t i = 0; h == NULL && i < WH_ARRAY_LEN(sonames); i++)
    h = dlopen(sonames[i], RTLD_NOW | RTLD_LOCAL);
  if (h == NULL) {
    snprintf(failure, sizeof(failure), "layers need libarchive (Debian libarchive13): %s", dlerror());
    return;
  }
#define CLI_ARCHIVE_SYM(f)                                                                                    \
  if ((*(void **)&cli_archive_api.f = dlsym(h, #f)) == NULL) {                                               \
    snprintf(failure, sizeof(failure), "libarchive has no %s", #f);                                         \
    return;                                                                                                  \
  }
  CLI_ARCHIVE_FUNCS(CLI_ARCHIVE_SYM)
#undef CLI_ARCHIVE_SYM
  loaded = true;
}

enum wh_code cli_archive_load(struct wh_err *err)
{
  pthread_once(&once, load);
  return loaded ? WH_OK : wh_err_set(err, WH_EUNSUPPORTED, 0, "%s", failure);
}
