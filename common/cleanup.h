/* common/cleanup.h - scope-bound cleanup helpers (crun style).
 *
 *   WH_AUTOFREE char *s = NULL;     freed at end of scope
 *   WH_AUTOCLOSE int fd = -1;       closed at end of scope if >= 0
 *   return wh_steal_ptr(&s);        hand ownership to the caller
 *
 * Typed helpers for library handles (sqlite3_stmt, CURL, EVP_MD_CTX, zstd
 * contexts) live next to the code that uses them; jansson's json_auto_t
 * covers JSON values.
 */
#ifndef WH_CLEANUP_H
#define WH_CLEANUP_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <dirent.h>

static inline void wh_cleanup_free(void *p)
{
  free(*(void **)p);
}
static inline void wh_cleanup_close(int *fd)
{
  if (*fd >= 0)
    close(*fd);
}
static inline void wh_cleanup_fclose(FILE **f)
{
  if (*f)
    fclose(*f);
}
static inline void wh_cleanup_closedir(DIR **d)
{
  if (*d)
    closedir(*d);
}

#define WH_AUTOFREE __attribute__((cleanup(wh_cleanup_free)))
#define WH_AUTOCLOSE __attribute__((cleanup(wh_cleanup_close)))
#define WH_AUTOFCLOSE __attribute__((cleanup(wh_cleanup_fclose)))
#define WH_AUTOCLOSEDIR __attribute__((cleanup(wh_cleanup_closedir)))

/* Returns *pp and sets *pp to NULL. */
static inline void *wh_steal_ptr(void *pp)
{
  void **p = (void **)pp;
  void *r = *p;
  *p = NULL;
  return r;
}

/* Returns *fd and sets *fd to -1. */
static inline int wh_steal_fd(int *fd)
{
  int r = *fd;
  *fd = -1;
  return r;
}

#define WH_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#endif
