/* common/err.h - error codes and caller-owned error detail.
 *
 * Every function that can fail returns an enum wh_code and, when given a
 * struct wh_err, fills it with one readable line (lower case, what failed
 * first, no trailing full stop).  Library code never prints: it returns.
 * Callers add context on the way up with wh_err_wrap().  `err` may be NULL
 * everywhere; then only the code travels.
 */
#ifndef WH_ERR_H
#define WH_ERR_H

#include <stddef.h>

/* Append new values at the end; never renumber (like CURLcode). */
enum wh_code {
  WH_OK = 0,
  WH_ENOMEM,        /* allocation failed */
  WH_EIO,           /* filesystem or pipe I/O failed (see sys_errno) */
  WH_EINVALID,      /* malformed input */
  WH_ENOTFOUND,     /* no such blob, manifest, tag, repository, session */
  WH_EDIGEST,       /* content does not match its digest */
  WH_ETOOBIG,       /* a size exceeds its cap */
  WH_ECONFLICT,     /* state changed meanwhile / already in use */
  WH_EUNAUTHORIZED, /* credentials missing or wrong */
  WH_EDENIED,       /* not allowed for these credentials or by policy */
  WH_EUNSUPPORTED,  /* valid but not supported (e.g. unknown digest algorithm) */
  WH_ENETWORK,      /* network failure talking to a peer */
  WH_EDATABASE,     /* SQLite failed */
  WH_EINTERNAL,     /* a bug or an impossible state */
  WH_ERANGE,        /* a byte range or offset that does not fit */
};

#define WH_ERR_MSG_MAX 512

struct wh_err {
  enum wh_code code;
  int sys_errno;            /* errno at the failure, 0 if none */
  char msg[WH_ERR_MSG_MAX]; /* one line, NUL terminated */
};

/* Sets code, errno and message; returns `code` so a failure is one line:
 *   return wh_err_set(err, WH_EIO, errno, "open \"%s\"", path);
 * When errnum != 0, ": strerror(errnum)" is appended. err may be NULL. */
enum wh_code wh_err_set(struct wh_err *err, enum wh_code code, int errnum, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Prefixes context to the existing message ("ctx: old message"), keeps the
 * code and errno, and returns the code. err may be NULL (returns WH_EINTERNAL
 * then, so only call it on a failure path with a set err). */
enum wh_code wh_err_wrap(struct wh_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

void wh_err_clear(struct wh_err *err);

/* Short stable name of a code: "ok", "out of memory", "i/o error", ... */
const char *wh_code_str(enum wh_code code);

#endif
