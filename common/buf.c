/* common/buf.c - bounded growable byte buffer.
 *
 * Invariants: data is NULL or NUL-terminated at data[len]; len <= max;
 * cap > len whenever data != NULL. A failed append leaves the buffer as it
 * was (no partial writes), so callers may report and carry on.
 */
#include "config.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"

#define BUF_MIN_CAP 64

void wh_buf_init(struct wh_buf *b, size_t max)
{
  b->data = NULL;
  b->len = 0;
  b->cap = 0;
  b->max = max;
}

void wh_buf_release(struct wh_buf *b)
{
  free(b->data);
  b->data = NULL;
  b->len = 0;
  b->cap = 0;
}

void wh_buf_reset(struct wh_buf *b)
{
  b->len = 0;
  if (b->data)
    b->data[0] = '\0';
}

/* Makes room for `extra` more bytes plus the NUL. */
static enum wh_code grow(struct wh_buf *b, size_t extra)
{
  size_t need, ncap;
  char *p;

  if (extra > b->max - b->len) /* len <= max always, so no underflow */
    return WH_ETOOBIG;
  need = b->len + extra + 1;
  if (need <= b->cap)
    return WH_OK;
  ncap = b->cap ? b->cap : BUF_MIN_CAP;
  while (ncap < need)
    ncap = ncap > SIZE_MAX / 2 ? need : ncap * 2;
  /* Never allocate much more than the cap allows. */
  if (b->max < SIZE_MAX && ncap > b->max + 1)
    ncap = b->max + 1;
  if (ncap < need)
    ncap = need;
  p = realloc(b->data, ncap);
  if (p == NULL)
    return WH_ENOMEM;
  b->data = p;
  b->cap = ncap;
  return WH_OK;
}

enum wh_code wh_buf_append(struct wh_buf *b, const void *p, size_t n)
{
  enum wh_code rc = grow(b, n);

  if (rc != WH_OK)
    return rc;
  if (n)
    memcpy(b->data + b->len, p, n);
  b->len += n;
  b->data[b->len] = '\0';
  return WH_OK;
}

enum wh_code wh_buf_appendz(struct wh_buf *b, const char *s)
{
  return wh_buf_append(b, s, strlen(s));
}

enum wh_code wh_buf_printf(struct wh_buf *b, const char *fmt, ...)
{
  va_list ap;
  int n;
  enum wh_code rc;

  va_start(ap, fmt);
  n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0)
    return WH_EINVALID;
  rc = grow(b, (size_t)n);
  if (rc != WH_OK)
    return rc;
  va_start(ap, fmt);
  vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
  return WH_OK;
}

char *wh_buf_steal(struct wh_buf *b, size_t *len_out)
{
  char *p = b->data;
  size_t len = b->len;

  if (p == NULL) {
    p = strdup("");
    if (p == NULL)
      return NULL;
    len = 0;
  }
  b->data = NULL;
  b->len = 0;
  b->cap = 0;
  if (len_out)
    *len_out = len;
  return p;
}
