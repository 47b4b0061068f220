/* client/archive-lazy.c - binds libarchive with dlopen on first use (see
 * client/archive-lazy.h). The table is written once under pthread_once and
 * only read afterwards. */
#include "config.h"

#define CLI_ARCHIVE_LAZY_IMPL
#include "client/archive-lazy.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>

#include "common/cleanup.h"
#include "common/lazy.h"

struct cli_archive_api cli_archive_api;

static pthread_once_t once = PTHREAD_ONCE_INIT;
static bool loaded;
static char failure[256];

static void load(void)
{
  static const char *const sonames[] = {"libarchive.so.13", "libarchive.so", NULL};
#define CLI_ARCHIVE_NAME(f) #f,
#define CLI_ARCHIVE_ADDR(f) (void **)&cli_archive_api.f,
  static const char *const names[] = {CLI_ARCHIVE_FUNCS(CLI_ARCHIVE_NAME)};
  void **const fields[] = {CLI_ARCHIVE_FUNCS(CLI_ARCHIVE_ADDR)};

  loaded = wh_lazy_bind("libarchive", "libarchive13", sonames, names, fields, WH_ARRAY_LEN(names), failure,
                        sizeof(failure));
}

enum wh_code cli_archive_load(struct wh_err *err)
{
  pthread_once(&once, load);
  return loaded ? WH_OK : wh_err_set(err, WH_EUNSUPPORTED, 0, "%s", failure);
}
