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

static void bind_or_exit(const char *lib, const char *pkg, const char *const *sonames,
                         const char *const *names, void **const *fields, size_t n)
{
  char why[256];

  if (!wh_lazy_bind(lib, pkg, sonames, names, fields, n, why, sizeof(why))) {
    fprintf(stderr, "wharf: %s\n", why);
    exit(1);
  }
}

/* One table: its struct, the pthread_once that fills it, and the accessor
 * cli_<name>() of client/libs-lazy.h. */
#define CLI_LAZY_TABLE(name, FUNCS, lib, pkg, ...)                                                           \
  static struct cli_##name##_api name##_api;                                                                 \
  static pthread_once_t name##_once = PTHREAD_ONCE_INIT;                                                     \
  static void name##_load(void)                                                                              \
  {                                                                                                          \
    static const char *const sonames[] = {__VA_ARGS__, NULL};                                                \
    static const char *const names[] = {FUNCS(CLI_LAZY_NAME)};                                               \
    void **const fields[] = {FUNCS(CLI_LAZY_ADDR_##name)};                                                   \
    bind_or_exit(lib, pkg, sonames, names, fields, WH_ARRAY_LEN(names));                                     \
  }                                                                                                          \
  const struct cli_##name##_api *cli_##name(void)                                                            \
  {                                                                                                          \
    pthread_once(&name##_once, name##_load);                                                                 \
    return &name##_api;                                                                                      \
  }

#define CLI_LAZY_ADDR_zstd(f) (void **)&zstd_api.f,
#define CLI_LAZY_ADDR_zlib(f) (void **)&zlib_api.f,
#define CLI_LAZY_ADDR_scmp(f) (void **)&scmp_api.f,
CLI_LAZY_TABLE(zstd, CLI_ZSTD_FUNCS, "libzstd", "libzstd1", "libzstd.so.1", "libzstd.so")
CLI_LAZY_TABLE(zlib, CLI_ZLIB_FUNCS, "zlib", "zlib1g", "libz.so.1", "libz.so")
CLI_LAZY_TABLE(scmp, CLI_SCMP_FUNCS, "libseccomp", "libseccomp2", "libseccomp.so.2", "libseccomp.so")
