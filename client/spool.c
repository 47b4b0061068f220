/* client/spool.c - a writer thread between a download and its upload
 * session, so that the transfer loop only receives and copies while the
 * disk write and the digest (the bulk of a big pull's CPU) run on another
 * core, one thread per big blob.
 *
 *   loop thread: cli_spool_put --copy--> ring (SPOOL_RING bytes) --> writer thread:
 *                (waits while full)                                 store_upload_write
 *   cli_spool_close: no more bytes; waits for the writer; its first error.
 *
 * Invariants: the bytes reach the session in the order they came; the
 * session handle belongs to the writer from cli_spool_new to
 * cli_spool_close (nobody else touches it meanwhile); a writer failure
 * stops it and is reported by the next cli_spool_put and by close; the
 * ring is the only memory a spool holds.
 */
#include "config.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "client/remote.h"

#define SPOOL_RING (1024u * 1024)

struct cli_spool {
  pthread_t th;
  pthread_mutex_t mu;
  pthread_cond_t data, room;
  char *ring; /* owned */
  size_t head, len;
  bool closing;           /* mu: no more bytes will come */
  bool failed;            /* mu: the writer stopped on rc/err */
  struct store_upload *u; /* the writer's while it runs */
  enum wh_code rc;
  struct wh_err err;
};

/* The next contiguous readable part, waiting for it; 0: closed and empty. */
static size_t next_chunk(struct cli_spool *sp)
{
  size_t n;

  pthread_mutex_lock(&sp->mu);
  while (sp->len == 0 && !sp->closing)
    pthread_cond_wait(&sp->data, &sp->mu);
  n = sp->len < SPOOL_RING - sp->head ? sp->len : SPOOL_RING - sp->head;
  pthread_mutex_unlock(&sp->mu);
  return n;
}

static void *writer(void *arg)
{
  struct cli_spool *sp = arg;
  size_t n;

  while ((n = next_chunk(sp)) > 0) {
    enum wh_code rc = store_upload_write(sp->u, sp->ring + sp->head, n, &sp->err);
    pthread_mutex_lock(&sp->mu);
    if (rc != WH_OK) {
      sp->rc = rc;
      sp->failed = true;
      pthread_cond_broadcast(&sp->room);
      pthread_mutex_unlock(&sp->mu);
      return NULL;
    }
    sp->head = (sp->head + n) % SPOOL_RING;
    sp->len -= n;
    pthread_cond_signal(&sp->room);
    pthread_mutex_unlock(&sp->mu);
  }
  return NULL;
}

enum wh_code cli_spool_new(struct store_upload *u, struct cli_spool **out, struct wh_err *err)
{
  struct cli_spool *sp = calloc(1, sizeof(*sp));

  if (sp == NULL || (sp->ring = malloc(SPOOL_RING)) == NULL) {
    free(sp);
    return wh_err_set(err, WH_ENOMEM, 0, "out of memory");
  }
  sp->u = u;
  pthread_mutex_init(&sp->mu, NULL);
  pthread_cond_init(&sp->data, NULL);
  pthread_cond_init(&sp->room, NULL);
  if (pthread_create(&sp->th, NULL, writer, sp) != 0) {
    pthread_cond_destroy(&sp->data);
    pthread_cond_destroy(&sp->room);
    pthread_mutex_destroy(&sp->mu);
    free(sp->ring);
    free(sp);
    return wh_err_set(err, WH_ENOMEM, 0, "cannot start a writer thread");
  }
  *out = sp;
  return WH_OK;
}

enum wh_code cli_spool_put(struct cli_spool *sp, const char *p, size_t n, struct wh_err *err)
{
  bool failed;

  pthread_mutex_lock(&sp->mu);
  while (n > 0 && !sp->failed) {
    size_t tail = (sp->head + sp->len) % SPOOL_RING, room = SPOOL_RING - sp->len, k;
    if (room == 0) {
      pthread_cond_wait(&sp->room, &sp->mu);
      continue;
    }
    k = n < room ? n : room;
    if (k > SPOOL_RING - tail)
      k = SPOOL_RING - tail; /* up to the end of the ring; the rest next turn */
    memcpy(sp->ring + tail, p, k);
    sp->len += k;
    p += k;
    n -= k;
    pthread_cond_signal(&sp->data);
  }
  failed = sp->failed;
  pthread_mutex_unlock(&sp->mu);
  if (failed) /* the writer is done: its fields are ours to read */
    return err ? (*err = sp->err, sp->rc) : sp->rc;
  return WH_OK;
}

enum wh_code cli_spool_close(struct cli_spool *sp, struct wh_err *err)
{
  enum wh_code rc;

  if (sp == NULL)
    return WH_OK;
  pthread_mutex_lock(&sp->mu);
  sp->closing = true;
  pthread_cond_signal(&sp->data);
  pthread_mutex_unlock(&sp->mu);
  pthread_join(sp->th, NULL);
  rc = sp->rc;
  if (rc != WH_OK && err)
    *err = sp->err;
  pthread_cond_destroy(&sp->data);
  pthread_cond_destroy(&sp->room);
  pthread_mutex_destroy(&sp->mu);
  free(sp->ring);
  free(sp);
  return rc;
}
