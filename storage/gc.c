/* storage/gc.c - garbage collection (store_gc, store_gc_run): untagged
 * manifests nothing keeps (optional) and blobs nothing references.
 *
 * A manifest is kept (store_gc_run with delete_untagged) when a tag points
 * at it, when it was created in the grace window, when it is one of the
 * rollback targets of a tag (the keep_history + 1 newest distinct digests
 * of the tag's history), or when a kept manifest lists it (index child) or
 * it refers to a kept manifest (subject), transitively. The others lose
 * their rows and edges first, in write transactions of GC_BATCH manifests
 * that compute the kept set and delete in the same transaction, so a tag
 * push either lands before (and keeps its manifest) or waits. Each removed
 * manifest gets its "delete" outbox event (webhooks, who "gc") in that
 * transaction too.
 *
 * A blob is live when a manifest of any repository is that blob (its own
 * bytes) or names it (an edge: config, layer, index child, subject), or
 * when its row or one of its repository links is younger than the grace
 * period (or the recent window), or a client HEAD-checked it in the recent
 * window (blobs.checked, store_blob_touch). Everything else goes, rows
 * first, files after:
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
 *
 * Dry runs: without delete_untagged the candidate query runs on a read
 * connection; with it, the manifest deletions must be seen by the blob
 * query, so one write transaction does both and is rolled back.
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
#define GC_WHO "gc"

struct gc_victim {
  struct wh_digest d;
  uint64_t size;
};

struct gc_mvictim {
  int64_t repo_id;
  char repo[STORE_REPO_MAX + 1];
  struct wh_digest d;
  uint64_t size;
};

/* One collection: inputs, then the batches it reuses. */
struct gc_ctx {
  struct store *s;
  int64_t cutoff;         /* live when created >= cutoff (row, link, manifest) */
  int64_t checked_cutoff; /* live when blobs.checked >= checked_cutoff */
  int64_t keep_rank;      /* rollback targets per tag: keep_history + 1 */
  bool dry_run, delete_untagged;
  store_gc_item_cb cb;
  void *ctx;
  struct store_gc_report rep;
  char after[WH_DIGEST_STR_MAX]; /* blob cursor: only candidates after it */
  struct gc_victim v[GC_BATCH];
  size_t n;
  struct gc_mvictim mv[GC_BATCH];
  size_t mn;
};

/* ---- manifests --------------------------------------------------------- */

/* ?1 keep_rank, ?2 cutoff, ?3 STORE_EDGE_CHILD, ?4 limit. */
static const char manifest_candidates_sql[] =
    "WITH RECURSIVE"
    " h AS (SELECT repo_id, tag, new_digest AS digest, max(id) AS last FROM tag_history"
    "  WHERE new_digest IS NOT NULL GROUP BY repo_id, tag, new_digest),"
    " hk AS (SELECT repo_id, digest FROM (SELECT repo_id, digest, row_number() OVER"
    "  (PARTITION BY repo_id, tag ORDER BY last DESC) AS rn FROM h) WHERE rn <= ?1),"
    " keep(repo_id, digest) AS ("
    "  SELECT repo_id, digest FROM tags"
    "  UNION SELECT repo_id, digest FROM hk"
    "  UNION SELECT repo_id, digest FROM manifests WHERE created >= ?2"
    "  UNION SELECT e.repo_id, e.child_digest FROM manifest_refs e JOIN keep k"
    "   ON e.repo_id = k.repo_id AND e.digest = k.digest WHERE e.kind = ?3"
    "  UNION SELECT m.repo_id, m.digest FROM manifests m JOIN keep k"
    "   ON m.repo_id = k.repo_id AND m.subject = k.digest)"
    " SELECT m.repo_id, r.name, m.digest, m.size FROM manifests m JOIN repos r ON r.id = m.repo_id"
    " WHERE (m.repo_id, m.digest) NOT IN (SELECT repo_id, digest FROM keep)"
    " ORDER BY m.repo_id, m.digest LIMIT ?4";

static enum wh_code find_manifests(struct store_conn *c, struct gc_ctx *g, struct wh_err *err)
{
  STORE_AUTOFINALIZE sqlite3_stmt *st = NULL;
  int step = sqlite3_prepare_v2(c->db, manifest_candidates_sql, -1, &st, NULL);
  enum wh_code rc;

  g->mn = 0;
  if (step != SQLITE_OK)
    return store_db_error(c, step, "gc: find untagged manifests", err);
  store_bind_int(st, 1, g->keep_rank);
  store_bind_int(st, 2, g->cutoff);
  store_bind_int(st, 3, STORE_EDGE_CHILD);
  store_bind_int(st, 4, GC_BATCH);
  while ((step = sqlite3_step(st)) == SQLITE_ROW && g->mn < GC_BATCH) {
    struct gc_mvictim *m = &g->mv[g->mn];
    const char *name = (const char *)sqlite3_column_text(st, 1);
    m->repo_id = sqlite3_column_int64(st, 0);
    snprintf(m->repo, sizeof(m->repo), "%s", name ? name : "");
    if ((rc = store_column_digest(st, 2, &m->d, err)) != WH_OK)
      return rc;
    m->size = (uint64_t)sqlite3_column_int64(st, 3);
    g->mn++;
  }
  if (step != SQLITE_ROW && step != SQLITE_DONE)
    return store_db_error(c, step, "gc: find untagged manifests", err);
  return WH_OK;
}

/* Marks and deletes in one write transaction (see the top). */
static enum wh_code manifests_txn(struct store_conn *c, void *ctx, struct wh_err *err)
{
  struct gc_ctx *g = ctx;
  enum wh_code rc = find_manifests(c, g, err);

  for (size_t i = 0; rc == WH_OK && i < g->mn; i++) {
    struct store_event_add ev = {
        .kind = STORE_EV_DELETE, .target = "manifest", .digest = g->mv[i].d.str, .who = GC_WHO};
    /* the webhook event commits with the deletion (read before the row goes) */
    if ((rc = store_outbox_add(c, g->mv[i].repo_id, &ev, err)) == WH_OK)
      rc = store_manifest_drop(c, g->mv[i].repo_id, g->mv[i].d.str, GC_WHO, err);
  }
  return rc;
}

static void report_manifests(struct gc_ctx *g)
{
  for (size_t i = 0; i < g->mn; i++) {
    struct store_gc_item it = {
        .is_manifest = true, .repo = g->mv[i].repo, .digest = g->mv[i].d, .size = g->mv[i].size};
    g->rep.manifests_removed++;
    if (g->cb)
      g->cb(g->ctx, &it);
  }
}

/* ---- blob rows --------------------------------------------------------- */

static enum wh_code find_candidates(struct store_conn *c, struct gc_ctx *g, struct wh_err *err)
{
  STORE_AUTORESET sqlite3_stmt *st = store_stmt(c, Q_GC_CANDIDATES, err);
  int step;
  enum wh_code rc;

  g->n = 0;
  if (st == NULL)
    return WH_EDATABASE;
  store_bind_text(st, 1, g->after);
  store_bind_int(st, 2, g->cutoff);
  store_bind_int(st, 3, GC_BATCH);
  store_bind_int(st, 4, g->checked_cutoff);
  while ((step = sqlite3_step(st)) == SQLITE_ROW && g->n < GC_BATCH) {
    if ((rc = store_column_digest(st, 0, &g->v[g->n].d, err)) != WH_OK)
      return rc;
    g->v[g->n++].size = (uint64_t)sqlite3_column_int64(st, 1);
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
  struct gc_ctx *g = ctx;
  enum wh_code rc = find_candidates(c, g, err);

  for (size_t i = 0; rc == WH_OK && i < g->n; i++)
    rc = delete_rows(c, &g->v[i].d, err);
  return rc;
}

/* ---- files ------------------------------------------------------------- */

struct unlink_args {
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
  struct unlink_args a = {.v = v, .n = n};
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
static enum wh_code sweep_files(struct gc_ctx *g, struct wh_err *err)
{
  enum wh_code rc;

  for (size_t i = 0, j; i < g->n; i = j) {
    for (j = i + 1; j < g->n && same_dir(&g->v[i].d, &g->v[j].d); j++)
      ;
    if ((rc = unlink_files(g->s, &g->v[i], j - i, &g->rep.files_removed, err)) != WH_OK)
      return rc;
  }
  return WH_OK;
}

/* ---- runs -------------------------------------------------------------- */

static void report_blobs(struct gc_ctx *g)
{
  for (size_t i = 0; i < g->n; i++) {
    struct store_gc_item it = {.digest = g->v[i].d, .size = g->v[i].size};
    g->rep.blobs_removed++;
    g->rep.bytes_removed += g->v[i].size;
    if (g->cb)
      g->cb(g->ctx, &it);
  }
  if (g->n > 0)
    snprintf(g->after, sizeof(g->after), "%s", g->v[g->n - 1].d.str);
}

static enum wh_code collect(struct gc_ctx *g, struct wh_err *err)
{
  enum wh_code rc;

  do {
    if (!g->delete_untagged)
      break;
    if ((rc = store_txn(g->s, 0, manifests_txn, g, err)) != WH_OK)
      return rc;
    report_manifests(g);
  } while (g->mn == GC_BATCH);
  do {
    if ((rc = store_txn(g->s, 0, rows_txn, g, err)) != WH_OK || (rc = sweep_files(g, err)) != WH_OK)
      return rc;
    report_blobs(g);
  } while (g->n == GC_BATCH);
  return WH_OK;
}

static enum wh_code run_simple(struct store_conn *c, enum store_stmt_id q, struct wh_err *err)
{
  STORE_AUTORESET sqlite3_stmt *st = store_stmt(c, q, err);

  return st == NULL ? WH_EDATABASE : store_exec_stmt(c, st, "gc: dry run", err);
}

/* Everything a real run would do to rows, on one connection, then undone. */
static enum wh_code dry_run_inner(struct store_conn *c, struct gc_ctx *g, struct wh_err *err)
{
  enum wh_code rc;

  do {
    if (!g->delete_untagged)
      break;
    if ((rc = manifests_txn(c, g, err)) != WH_OK)
      return rc;
    report_manifests(g);
  } while (g->mn == GC_BATCH);
  do {
    if ((rc = find_candidates(c, g, err)) != WH_OK)
      return rc;
    report_blobs(g);
  } while (g->n == GC_BATCH);
  return WH_OK;
}

static enum wh_code dry_run(struct gc_ctx *g, struct wh_err *err)
{
  STORE_AUTOCONN struct store_conn *c = NULL;
  enum wh_code rc = store_conn_get(g->s, &c, err);

  if (rc != WH_OK)
    return rc;
  if (!g->delete_untagged) /* a read is enough */
    return dry_run_inner(c, g, err);
  if ((rc = run_simple(c, Q_BEGIN, err)) != WH_OK)
    return rc;
  rc = dry_run_inner(c, g, err);
  if (run_simple(c, Q_ROLLBACK, rc == WH_OK ? err : NULL) != WH_OK && rc == WH_OK)
    rc = WH_EDATABASE;
  return rc;
}

/* The later of the two cutoffs is the stricter one: live when newer than
 * either window. 0 s windows: even this second's rows go. */
static void set_cutoffs(struct gc_ctx *g, const struct store_gc_opts *o)
{
  int64_t now = o->now > 0 ? o->now : store_now_s();
  int64_t by_grace = now - o->grace_s + 1;
  int64_t by_recent = o->recent_s > 0 ? now - o->recent_s + 1 : INT64_MAX;

  g->cutoff = by_grace < by_recent ? by_grace : by_recent;
  g->checked_cutoff = by_recent;
}

enum wh_code store_gc_run(struct store *s, const struct store_gc_opts *o, store_gc_item_cb item_cb, void *ctx,
                          struct store_gc_report *out, struct wh_err *err)
{
  WH_AUTOFREE struct gc_ctx *g = calloc(1, sizeof(*g));
  enum wh_code rc;

  if (g == NULL)
    return wh_err_set(err, WH_ENOMEM, 0, "gc: out of memory");
  if (s->flags & STORE_READONLY)
    return wh_err_set(err, WH_EINVALID, 0, "gc: the store is open read-only");
  if (o == NULL || o->grace_s < 0 || o->recent_s < 0 || o->keep_history > 1000000)
    return wh_err_set(err, WH_EINVALID, 0, "gc: negative grace period or bad options");
  g->s = s;
  set_cutoffs(g, o);
  g->keep_rank = (int64_t)o->keep_history + 1;
  g->dry_run = o->flags & STORE_GC_DRY_RUN;
  g->delete_untagged = o->delete_untagged;
  g->cb = item_cb;
  g->ctx = ctx;
  rc = g->dry_run ? dry_run(g, err) : collect(g, err);
  if (rc != WH_OK)
    return wh_err_wrap(err, "garbage collection");
  if (out)
    *out = g->rep;
  return WH_OK;
}

/* ---- store_gc: the blob-only collection of `wharf prune` ---------------- */

struct legacy_cb {
  store_gc_cb cb;
  void *ctx;
};

static void legacy_item(void *ctx, const struct store_gc_item *it)
{
  struct legacy_cb *l = ctx;

  if (!it->is_manifest && l->cb)
    l->cb(l->ctx, &it->digest, it->size);
}

enum wh_code store_gc(struct store *s, int64_t grace_s, unsigned flags, store_gc_cb cb, void *ctx,
                      struct store_gc_report *out, struct wh_err *err)
{
  struct store_gc_opts o = {.grace_s = grace_s, .flags = flags};
  struct legacy_cb l = {.cb = cb, .ctx = ctx};

  return store_gc_run(s, &o, legacy_item, &l, out, err);
}

/* ---- HEAD checks ------------------------------------------------------- */

enum wh_code store_blob_touch(struct store *s, const struct wh_digest *d, struct wh_err *err)
{
  STORE_AUTOCONN struct store_conn *c = NULL;
  STORE_AUTOFINALIZE sqlite3_stmt *st = NULL;
  int64_t now = store_now_s();
  enum wh_code rc;
  int r;

  if (s->flags & STORE_READONLY)
    return WH_OK;
  if ((rc = store_conn_get(s, &c, err)) != WH_OK)
    return rc;
  /* A read first: most checks need no write (and no write lock). */
  if ((r = sqlite3_prepare_v2(c->db, "SELECT checked FROM blobs WHERE digest = ?1", -1, &st, NULL)) !=
      SQLITE_OK)
    return store_db_error(c, r, "touch blob", err);
  store_bind_text(st, 1, d->str);
  rc = store_step_row(c, st, "touch blob", err);
  if (rc == WH_ENOTFOUND || (rc == WH_OK && sqlite3_column_int64(st, 0) > now - STORE_TOUCH_EVERY_S))
    return WH_OK;
  if (rc != WH_OK)
    return rc;
  sqlite3_finalize(wh_steal_ptr(&st));
  r = sqlite3_prepare_v2(c->db, "UPDATE blobs SET checked = ?2 WHERE digest = ?1 AND checked < ?2", -1, &st,
                         NULL);
  if (r != SQLITE_OK)
    return store_db_error(c, r, "touch blob", err);
  store_bind_text(st, 1, d->str);
  store_bind_int(st, 2, now);
  return store_exec_stmt(c, st, "touch blob", err);
}
