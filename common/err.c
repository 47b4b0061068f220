/* common/err.c - error codes and caller-owned error detail.
 *
 * Invariants: err->msg is always NUL terminated and at most one line
 * (truncated, never overflowed); every function accepts err == NULL.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/err.h"

static const char *const code_names[] = {
    [WH_OK] = "ok",
    [WH_ENOMEM] = "out of memory",
    [WH_EIO] = "i/o error",
    [WH_EINVALID] = "invalid",
    [WH_ENOTFOUND] = "not found",
    [WH_EDIGEST] = "digest mismatch",
    [WH_ETOOBIG] = "too big",
    [WH_ECONFLICT] = "conflict",
    [WH_EUNAUTHORIZED] = "unauthorized",
    [WH_EDENIED] = "denied",
    [WH_EUNSUPPORTED] = "unsupported",
    [WH_ENETWORK] = "network error",
    [WH_EDATABASE] = "database error",
    [WH_EINTERNAL] = "internal error",
    [WH_ERANGE] = "range not satisfiable",
};

const char *wh_code_str(enum wh_code code)
{
  if ((size_t)code >= sizeof(code_names) / sizeof(code_names[0]) || code_names[code] == NULL)
    return "unknown error";
  return code_names[code];
}

/* Newlines would break the one-line promise (and log records). */
static void flatten(char *s)
{
  for (; *s; s++)
    if (*s == '\n' || *s == '\r')
      *s = ' ';
}

/* Appends s to dst (size bytes, NUL terminated), truncating. */
static void cat_trunc(char *dst, size_t size, const char *s)
{
  size_t used = strlen(dst);
  size_t n = strlen(s);

  if (used + 1 >= size)
    return;
  if (n > size - used - 1)
    n = size - used - 1;
  memcpy(dst + used, s, n);
  dst[used + n] = '\0';
}

enum wh_code wh_err_set(struct wh_err *err, enum wh_code code, int errnum, const char *fmt, ...)
{
  char msg[WH_ERR_MSG_MAX];
  va_list ap;

  if (err == NULL)
    return code;
  /* Format aside first: the arguments may point into err->msg. */
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  err->code = code;
  err->sys_errno = errnum;
  err->msg[0] = '\0';
  cat_trunc(err->msg, sizeof(err->msg), msg);
  if (errnum != 0) {
    char ebuf[128];
    /* GNU strerror_r (we build with _GNU_SOURCE): thread safe. */
    cat_trunc(err->msg, sizeof(err->msg), ": ");
    cat_trunc(err->msg, sizeof(err->msg), strerror_r(errnum, ebuf, sizeof(ebuf)));
  }
  flatten(err->msg);
  return code;
}

enum wh_code wh_err_wrap(struct wh_err *err, const char *fmt, ...)
{
  char old[WH_ERR_MSG_MAX];
  char prefix[WH_ERR_MSG_MAX];
  va_list ap;

  if (err == NULL)
    return WH_EINTERNAL;
  /* Format aside first: the arguments may point into err->msg. */
  va_start(ap, fmt);
  vsnprintf(prefix, sizeof(prefix), fmt, ap);
  va_end(ap);
  memcpy(old, err->msg, sizeof(old));
  old[sizeof(old) - 1] = '\0';
  err->msg[0] = '\0';
  cat_trunc(err->msg, sizeof(err->msg), prefix);
  cat_trunc(err->msg, sizeof(err->msg), ": ");
  cat_trunc(err->msg, sizeof(err->msg), old[0] != '\0' ? old : wh_code_str(err->code));
  flatten(err->msg);
  return err->code;
}

void wh_err_clear(struct wh_err *err)
{
  if (err == NULL)
    return;
  err->code = WH_OK;
  err->sys_errno = 0;
  err->msg[0] = '\0';
}
