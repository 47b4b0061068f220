/* storage/gc.c - garbage collection (store_gc): blobs nothing references.
 *
 * A blob is live when a manifest of any repository is that blob (its own
 * bytes) or names it (an edge: config, layer, index child, subject), or
 * when its row or one of its repository links is younger than the grace
 * period (a push or pull between its blobs and its manifest). Everything
 * else goes, rows first, files after:
 *
 *   rows (one write txn per batch)          files (per fan-out directory of the batch)
 *   -------------------------------------   ----------------------------------------------
 *   BEGIN IMMEDIATE                         flock(LOCK_EX) blobs/<alg>/<ab>
 *   candidates: digest > last, not live,    BEGIN IMMEDIATE
 *     at most GC_BATCH, by digest             for each digest of the batch in <ab>:
 *   DELETE their links, then their rows         row again? keep the file
 *   COMMIT                                      else unlinkat
 *                                           COMMIT; fsync the directory; unlock
 *
 * Why a row never outlives its file, with writers in any process
 * (store-int.h, "File locks"): every blob row is inserted by
 * store_blob_record, which checks inside its own write transaction that
 * the file is there. The recheck-and-unlink above is a write transaction
 * too, and write transactions are serialised: if the writer commits first,
 * the recheck sees its row and keeps the file; if the unlink commits
 * first, the writer's check finds no file and it fails with WH_ECONFLICT
 * (its caller tries again and writes the file anew). The exclusive lock on
 * the fan-out directory keeps the unlink away from a writer renaming a
 * fresh copy into place (writers rename under LOCK_SH), as recovery does
 * for corrupt files.
 *
 * Beside store_recover: a file whose row went in the first step may be
 * registered again by recovery before its unlink; the recheck then keeps
 * it (the next collection takes it), and when the unlink came first
 * recovery's record fails with WH_ECONFLICT, which it reads as "gone".
 * A kill between the two steps leaves files without rows (never rows
 * without files): store_recover registers them again, and fsck reports
 * them until then.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "storage/store-int.h"

#define GC_BATCH 256

struct gc_victim {
  struct wh_digest d;
  uint64_t size;
};

struct gc_batch {
  /* inputs */
  const char *after; /* digest string: only candidates after it */
  int64_t cutoff;    /* live when created >= cutoff (row or link) */
  bool dry_run;      /* only look */
  /* outputs (rewritten by every attempt) */
  struct gc_victim v[GC_BATCH];
  size_t n;
};

/* ---- rows -------------------------------------------------------------- */

static enum wh_code find_candidates(struct store_conn *c, struct gc_batch *b, struct wh_err *err)
{
  STORE_AUTORESET sqlite3_stmt *st = store_stmt(c, Q_GC_CANDIDATES, err);
  int step;
  enum wh_code rc;

  b->n = 0;
  if (st == NULL)
    return WH_EDATABASE;
  store_bind_text(st, 1, b->after);
  store_bind_int(st, 2, b->cutoff);
  store_bind_int(st, 3, GC_BATCH);
  while ((step = sqlite3_step(st)) == SQLITE_ROW && b->n < GC_BATCH) {
    if ((rc = store_column_digest(st, 0, &b->v[b->n].d, err)) != WH_OK)
      return rc;
    b->v[b->n++].size = (uint64_t)sqlite3_column_int64(st, 1);
  }
  if (step != SQLITE_ROW && step != SQLITE_DONE)
    return store_db_error(c, step, "gc: find unreferenced blobs", err);
  return WH_OK;
}

static enum wh_code delete_rows(struct store_conn *c, const struct wh_digest *d, struct wh_err *err)
{
  static const enum store_stmt_id qs[] = {Q_GC_LINKS_DELETE, Q_GC_BLOB_DELETE};
  enum wh_code rc;

  for (size_t i = 0; i < WH_ARRAY_LEN(qs); i++) {
    STORE_AUTORESET sqlite3_stmt *st = store_stmt(c, qs[i], err);
    if (st == NULL)
      return WH_EDATABASE;
    store_bind_text(st, 1, d->str);
    if ((rc = store_exec_stmt(c, st, "gc: delete blob row", err)) != WH_OK)
      return rc;
  }
  return WH_OK;
}

/* The candidates are looked up and deleted in the same write transaction,
 * so nothing can start referencing one in between. */
static enum wh_code rows_txn(struct store_conn *c, void *ctx, struct wh_err *err)
{
  struct gc_batch *b = ctx;
  enum wh_code rc = find_candidates(c, b, err);

  for (size_t i = 0; rc == WH_OK && i < b->n; i++)
    rc = delete_rows(c, &b->v[i].d, err);
  return rc;
}

/* Dry run: the same lookup, read-only. */
static enum wh_code rows_look(struct store *s, struct gc_batch *b, struct wh_err *err)
{
  STORE_AUTOCONN struct store_conn *c = NULL;
  enum wh_code rc = store_conn_get(s, &c, err);

  return rc == WH_OK ? find_candidates(c, b, err) : rc;
}

/* ---- files ------------------------------------------------------------- */

struct unlink_args {
  struct store *s;
  int subfd;                 /* blobs/<alg>/<ab>, LOCK_EX held */
  const struct gc_victim *v; /* the batch's blobs in that directory */
  size_t n;
  uint64_t removed; /* output */
};

static enum wh_code row_exists(struct store_conn *c, const struct wh_digest *d, bool *out, struct wh_err *err)
{
  STORE_AUTORESET sqlite3_stmt *st = store_stmt(c, Q_BLOB_SIZE, err);
  enum wh_code rc;

  if (st == NULL)
    return WH_EDATABASE;
  store_bind_text(st, 1, d->str);
  rc = store_step_row(c, st, "gc: look up blob", err);
  if (rc != WH_OK && rc != WH_ENOTFOUND)
    return rc;
  *out = rc == WH_OK;
  return WH_OK;
}

/* Inside a write txn: see the top of the file for why that matters. */
static enum wh_code unlink_txn(struct store_conn *c, void *ctx, struct wh_err *err)
{
  struct unlink_args *a = ctx;
  bool again = false;
  enum wh_code rc;

  a->removed = 0;
  for (size_t i = 0; i < a->n; i++) {
    const struct wh_digest *d = &a->v[i].d;
    if ((rc = row_exists(c, d, &again, err)) != WH_OK)
      return rc;
    if (again) /* stored again meanwhile: the file is the new row's */
      continue;
    if (unlinkat(a->subfd, wh_digest_hex(d), 0) == 0)
      a->removed++;
    else if (errno != ENOENT)
      return wh_err_set(err, WH_EIO, errno, "gc: remove blob file %s", d->str);
  }
  return WH_OK;
}

/* Files of v[0..n), all in one fan-out directory. */
static enum wh_code unlink_files(struct store *s, const struct gc_victim *v, size_t n, uint64_t *removed,
                                 struct wh_err *err)
{
  const char *hex = wh_digest_hex(&v[0].d);
  char sub[3] = {hex[0], hex[1], '\0'};
  struct unlink_args a = {.s = s, .v = v, .n = n};
  WH_AUTOCLOSE int subfd = -1; /* closing it drops the lock */
  enum wh_code rc = store_fanout_lock(s, v[0].d.alg, sub, LOCK_EX, &subfd, err);

  if (rc == WH_ENOTFOUND)
    return WH_OK; /* no directory, no files */
  if (rc != WH_OK)
    return rc;
  a.subfd = subfd;
  if ((rc = store_txn(s, 0, unlink_txn, &a, err)) != WH_OK)
    return rc;
  *removed += a.removed;
  return a.removed > 0 ? wh_fsync_fd(subfd, err) : WH_OK;
}

static bool same_dir(const struct wh_digest *a, const struct wh_digest *b)
{
  return a->alg == b->alg && strncmp(wh_digest_hex(a), wh_digest_hex(b), 2) == 0;
}

/* The batch is sorted by digest string, so each directory's blobs are
 * consecutive (sha256 and sha512 names never interleave). */
static enum wh_code sweep_files(struct store *s, const struct gc_batch *b, uint64_t *removed,
                                struct wh_err *err)
{
  enum wh_code rc;

  for (size_t i = 0, j; i < b->n; i = j) {
    for (j = i + 1; j < b->n && same_dir(&b->v[i].d, &b->v[j].d); j++)
      ;
    if ((rc = unlink_files(s, &b->v[i], j - i, removed, err)) != WH_OK)
      return rc;
  }
  return WH_OK;
}

/* ---- public ------------------------------------------------------------ */

static void report_batch(const struct gc_batch *b, store_gc_cb cb, void *ctx, struct store_gc_report *rep)
{
  for (size_t i = 0; i < b->n; i++) {
    rep->blobs_removed++;
    rep->bytes_removed += b->v[i].size;
    if (cb)
      cb(ctx, &b->v[i].d, b->v[i].size);
  }
}

enum wh_code store_gc(struct store *s, int64_t grace_s, unsigned flags, store_gc_cb cb, void *ctx,
                      struct store_gc_report *out, struct wh_err *err)
{
  WH_AUTOFREE struct gc_batch *b = calloc(1, sizeof(*b));
  struct store_gc_report rep = {0};
  char after[WH_DIGEST_STR_MAX] = "";
  enum wh_code rc;

  if (b == NULL)
    return wh_err_set(err, WH_ENOMEM, 0, "gc: out of memory");
  if (s->flags & STORE_READONLY)
    return wh_err_set(err, WH_EINVALID, 0, "gc: the store is open read-only");
  if (grace_s < 0)
    return wh_err_set(err, WH_EINVALID, 0, "gc: negative grace period");
  b->cutoff = store_now_s() - grace_s + 1; /* grace 0: even this second's blobs */
  b->dry_run = flags & STORE_GC_DRY_RUN;
  do {
    b->after = after;
    rc = b->dry_run ? rows_look(s, b, err) : store_txn(s, 0, rows_txn, b, err);
    if (rc == WH_OK && !b->dry_run)
      rc = sweep_files(s, b, &rep.files_removed, err);
    if (rc != WH_OK)
      return wh_err_wrap(err, "garbage collection");
    report_batch(b, cb, ctx, &rep);
    if (b->n > 0)
      snprintf(after, sizeof(after), "%s", b->v[b->n - 1].d.str);
  } while (b->n == GC_BATCH);
  if (out)
    *out = rep;
  return WH_OK;
}
