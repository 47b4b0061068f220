/* client/libs-lazy.c - binds libzstd, zlib and libseccomp with dlopen on
 * first use (see client/libs-lazy.h). Each table is written once under
 * pthread_once and only read afterwards. */
#include "config.h"

#include <pthread.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <zlib.h>
#include <zstd.h>

#define CLI_LIBS_LAZY_IMPL
#include "client/libs-lazy.h"
#include "common/cleanup.h"
#include "common/lazy.h"

#define CLI_LAZY_NAME(f) #f,

static void bind_or_exit(const char *lib, const char *pkg, const char *const *sonames, const char *const *names,
                         void **const *fields, size_t n)
{
  char why[256];

  if (!wh_lazy_bind(lib, pkg, sonames, names, fields, n, why, sizeof(why))) {
    fprintf(stderr, "wharf: %s\n", why);
    exit(1);
  }
}

static struct cli_zstd_api zstd_api;
static pthread_once_t zstd_once = PTHREAD_ONCE_INIT;

static void zstd_load(void)
{
  static const char *const sonames[] = {"libzstd.so.1", "libzstd.so", NULL};
  static const char *const names[] = {CLI_ZSTD_FUNCS(CLI_LAZY_NAME)};
#define CLI_ZSTD_ADDR(f) (void **)&zstd_api.f,
  void **const fields[] = {CLI_ZSTD_FUNCS(CLI_ZSTD_ADDR)};

  bind_or_exit("libzstd", "libzstd1", sonames, names, fields, WH_ARRAY_LEN(names));
}

const struct cli_zstd_api *cli_zstd(void)
{
  pthread_once(&zstd_once, zstd_load);
  return &zstd_api;
}

static struct cli_zlib_api zlib_api;
static pthread_once_t zlib_once = PTHREAD_ONCE_INIT;

static void zlib_load(void)
{
  static const char *const sonames[] = {"libz.so.1", "libz.so", NULL};
  static const char *const names[] = {CLI_ZLIB_FUNCS(CLI_LAZY_NAME)};
#define CLI_ZLIB_ADDR(f) (void **)&zlib_api.f,
  void **const fields[] = {CLI_ZLIB_FUNCS(CLI_ZLIB_ADDR)};

  bind_or_exit("zlib", "zlib1g", sonames, names, fields, WH_ARRAY_LEN(names));
}

const struct cli_zlib_api *cli_zlib(void)
{
  pthread_once(&zlib_once, zlib_load);
  return &zlib_api;
}

static struct cli_scmp_api scmp_api;
static pthread_once_t scmp_once = PTHREAD_ONCE_INIT;

static void scmp_load(void)
{
  static const char *const sonames[] = {"libseccomp.so.2", "libseccomp.so", NULL};
  static const char *const names[] = {CLI_SCMP_FUNCS(CLI_LAZY_NAME)};
#define CLI_SCMP_ADDR(f) (void **)&scmp_api.f,
  void **const fields[] = {CLI_SCMP_FUNCS(CLI_SCMP_ADDR)};

  bind_or_exit("libseccomp", "libseccomp2", sonames, names, fields, WH_ARRAY_LEN(names));
}

const struct cli_scmp_api *cli_scmp(void)
{
  pthread_once(&scmp_once, scmp_load);
  return &scmp_api;
}
