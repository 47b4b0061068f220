/* common/buf.h - bounded growable byte buffer (curl's dynbuf).
 *
 * Invariants: data is NULL or NUL-terminated at data[len]; len <= max;
 * growth beyond `max` bytes fails with WH_ETOOBIG and leaves the buffer as
 * it was, so a peer can never decide an allocation's size.
 */
#ifndef WH_BUF_H
#define WH_BUF_H

#include <stddef.h>
#include "common/err.h"

struct wh_buf {
  char *data; /* owned; NULL until the first append */
  size_t len; /* bytes used, not counting the trailing NUL */
  size_t cap; /* bytes allocated */
  size_t max; /* hard limit on len */
};

void wh_buf_init(struct wh_buf *b, size_t max);
void wh_buf_release(struct wh_buf *b); /* frees data, keeps max, len = 0 */
void wh_buf_reset(struct wh_buf *b);   /* len = 0, keeps memory */
enum wh_code wh_buf_append(struct wh_buf *b, const void *p, size_t n);
enum wh_code wh_buf_appendz(struct wh_buf *b, const char *s);
enum wh_code wh_buf_printf(struct wh_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Hands data to the caller (never NULL on success: "" for empty); the buffer
 * is left empty. *len_out (optional) gets the length. Returns NULL on ENOMEM. */
char *wh_buf_steal(struct wh_buf *b, size_t *len_out);

#endif
