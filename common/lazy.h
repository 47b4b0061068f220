/* common/lazy.h - a shared library bound on first use (dlopen), for the
 * libraries most wharf commands never call (libcurl, libarchive,
 * libcrypto: client/curl-lazy.h, client/archive-lazy.h, client/layout.c,
 * common/crypto-lazy.h). Each keeps its table of function pointers, filled
 * once by wh_lazy_bind() under its own pthread_once (or equivalent).
 */
#ifndef WH_LAZY_H
#define WH_LAZY_H

#include <stdbool.h>
#include <stddef.h>

/* Loads the first of the NULL-terminated sonames that loads (RTLD_NOW |
 * RTLD_LOCAL) and stores the address of names[i] into *fields[i] for each
 * i < n (fields: the table's function pointers, as void **). false, with
 * why in failure, when none loads ("LIB is missing (Debian PKG): ...") or
 * a name is not there ("LIB is too old: no NAME"); the table is then not
 * to be used. */
bool wh_lazy_bind(const char *lib, const char *pkg, const char *const *sonames, const char *const *names,
                  void **const *fields, size_t n, char *failure, size_t size);

#endif
