/* storage/scrub.c - store_scrub: re-hash every stored blob, quarantine the
 * bad ones.
 *
 * Blob rows are read in pages by digest (no read transaction stays open
 * while files are hashed). A bad blob (file missing, wrong size, wrong
 * digest) is reported; with quarantine it is taken out of service:
 *
 *   1. one write txn: manifests made of these bytes (tags with history
 *      rows, edges), its repository links, its row;      -> never served
 *   2. flock(LOCK_EX) on blobs/<alg>/<ab>, a write txn that finds no row
 *      again, and only while the name still points to the inode that was
 *      hashed: rename it to quarantine/<alg>-<hex>         -> healable
 *
 * Step 2 follows gc.c's rule (a row never outlives its file; a writer that
 * stored the same content meanwhile keeps its row and its file). After the
 * move, the next push of the content writes a fresh copy: the registry
 * heals. A kill between the steps leaves a file without a row, which
 * store_recover re-hashes and removes (it does not hash to its name).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "storage/store-int.h"

#define SCRUB_PAGE 64
#define SCRUB_WHO "scrub"
#define QUARANTINE_DIR "quarantine"

struct scrub_row {
  struct wh_digest d;
  uint64_t size;
};

/* Next page of blob rows after `after` (updated). *fetched: rows read. */
static enum wh_code scrub_page(struct store *s, char after[WH_DIGEST_STR_MAX], struct scrub_row *rows,
                               size_t *n, size_t *fetched, struct wh_err *err)
{
  STORE_AUTOCONN struct store_conn *c = NULL;
  STORE_AUTOFINALIZE sqlite3_stmt *st = NULL;
  enum wh_code rc = store_conn_get(s, &c, err);
  int r;

  *n = *fetched = 0;
  if (rc != WH_OK)
    return rc;
  r = sqlite3_prepare_v2(c->db, "SELECT digest, size FROM blobs WHERE digest > ?1 ORDER BY digest LIMIT 64",
                         -1, &st, NULL);
  if (r != SQLITE_OK)
    return store_db_error(c, r, "scrub: list blobs", err);
  store_bind_text(st, 1, after);
  while (*fetched < SCRUB_PAGE && (r = sqlite3_step(st)) == SQLITE_ROW) {
    const char *t = (const char *)sqlite3_column_text(st, 0);
    (*fetched)++;
    snprintf(after, WH_DIGEST_STR_MAX, "%s", t ? t : "");
    if (store_column_digest(st, 0, &rows[*n].d, NULL) == WH_OK)
      rows[(*n)++].size = (uint64_t)sqlite3_column_int64(st, 1);
  }
  return r == SQLITE_ROW || r == SQLITE_DONE ? WH_OK : store_db_error(c, r, "scrub: list blobs", err);
}

/* problem[0] stays '\0' when the file is intact. *seen: the file hashed. */
static enum wh_code hash_one(struct store *s, const struct scrub_row *row, char *problem, size_t psize,
                             struct stat *seen, uint64_t *hashed, struct wh_err *err)
{
  WH_AUTOCLOSE int fd = -1;
  struct wh_digest got;
  uint64_t n = 0;
  enum wh_code rc = store_blob_open_file(s, &row->d, &fd, err);

  problem[0] = '\0';
  memset(seen, 0, sizeof(*seen));
  if (rc == WH_ENOTFOUND) {
    snprintf(problem, psize, "file missing");
    return WH_OK;
  }
  if (rc != WH_OK)
    return rc;
  if (fstat(fd, seen) != 0)
    return wh_err_set(err, WH_EIO, errno, "scrub: stat blob %s", row->d.str);
  if ((rc = wh_digest_fd(row->d.alg, fd, &got, &n, err)) != WH_OK)
    return rc;
  *hashed += n;
  if (n != row->size)
    snprintf(problem, psize, "file has %llu bytes, index says %llu", (unsigned long long)n,
             (unsigned long long)row->size);
  else if (!wh_digest_eq(&got, &row->d))
    snprintf(problem, psize, "content hashes to %s", got.str);
  return WH_OK;
}

/* ---- quarantine -------------------------------------------------------- */

static enum wh_code exec_digest(struct store_conn *c, const char *sql, const char *digest, struct wh_err *err)
{
  STORE_AUTOFINALIZE sqlite3_stmt *st = NULL;
  int r = sqlite3_prepare_v2(c->db, sql, -1, &st, NULL);

  if (r != SQLITE_OK)
    return store_db_error(c, r, "scrub: quarantine", err);
  store_bind_text(st, 1, digest);
  return store_exec_stmt(c, st, "scrub: quarantine", err);
}

/* Step 1: manifests made of d (in any repository), links, row. */
static enum wh_code drop_txn(struct store_conn *c, void *ctx, struct wh_err *err)
{
  const char *digest = ctx;
  int64_t repos[SCRUB_PAGE];
  size_t n;
  enum wh_code rc;

  do {
    STORE_AUTOFINALIZE sqlite3_stmt *st = NULL;
    int r =
        sqlite3_prepare_v2(c->db, "SELECT repo_id FROM manifests WHERE digest = ?1 LIMIT 64", -1, &st, NULL);
    if (r != SQLITE_OK)
      return store_db_error(c, r, "scrub: quarantine", err);
    store_bind_text(st, 1, digest);
    for (n = 0; n < SCRUB_PAGE && sqlite3_step(st) == SQLITE_ROW; n++)
      repos[n] = sqlite3_column_int64(st, 0);
    sqlite3_finalize(wh_steal_ptr(&st));
    for (size_t i = 0; i < n; i++)
      if ((rc = store_manifest_drop(c, repos[i], digest, SCRUB_WHO, err)) != WH_OK)
        return rc;
  } while (n == SCRUB_PAGE);
  if ((rc = exec_digest(c, "DELETE FROM repo_blobs WHERE digest = ?1", digest, err)) != WH_OK)
    return rc;
  return exec_digest(c, "DELETE FROM blobs WHERE digest = ?1", digest, err);
}

struct move_args {
  const struct wh_digest *d;
  const struct stat *seen;
  int subfd, qfd;
  bool moved; /* output */
};

/* Step 2, inside a write txn under the fan-out directory's LOCK_EX. */
static enum wh_code move_txn(struct store_conn *c, void *ctx, struct wh_err *err)
{
  struct move_args *a = ctx;
  STORE_AUTORESET sqlite3_stmt *st = store_stmt(c, Q_BLOB_SIZE, err);
  const char *hex = wh_digest_hex(a->d);
  char qname[WH_DIGEST_STR_MAX + 8];
  struct stat now;
  enum wh_code rc;

  a->moved = false;
  if (st == NULL)
    return WH_EDATABASE;
  store_bind_text(st, 1, a->d->str);
  if ((rc = store_step_row(c, st, "scrub: look up blob", err)) != WH_ENOTFOUND)
    return rc; /* WH_OK: stored again meanwhile, the file is the new row's */
  if (fstatat(a->subfd, hex, &now, AT_SYMLINK_NOFOLLOW) != 0)
    return errno == ENOENT ? WH_OK : wh_err_set(err, WH_EIO, errno, "scrub: stat blob %s", a->d->str);
  if (now.st_dev != a->seen->st_dev || now.st_ino != a->seen->st_ino)
    return WH_OK; /* a writer put a fresh copy there */
  snprintf(qname, sizeof(qname), "%s-%s", wh_digest_alg_name(a->d->alg), hex);
  if (renameat(a->subfd, hex, a->qfd, qname) != 0)
    return wh_err_set(err, WH_EIO, errno, "scrub: move blob %s to quarantine", a->d->str);
  a->moved = true;
  return WH_OK;
}

static enum wh_code open_quarantine(struct store *s, int *out, struct wh_err *err)
{
  int fd;

  if (mkdirat(s->rootfd, QUARANTINE_DIR, 0700) != 0 && errno != EEXIST)
    return wh_err_set(err, WH_EIO, errno, "scrub: create " QUARANTINE_DIR "/");
  fd = openat(s->rootfd, QUARANTINE_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0)
    return wh_err_set(err, WH_EIO, errno, "scrub: open " QUARANTINE_DIR "/");
  *out = fd;
  return WH_OK;
}

static enum wh_code quarantine(struct store *s, const struct wh_digest *d, const struct stat *seen,
                               struct wh_err *err)
{
  const char *hex = wh_digest_hex(d);
  char sub[3] = {hex[0], hex[1], '\0'};
  WH_AUTOCLOSE int subfd = -1;
  WH_AUTOCLOSE int qfd = -1;
  struct move_args a = {.d = d, .seen = seen};
  enum wh_code rc = store_txn(s, 0, drop_txn, (void *)d->str, err);

  if (rc != WH_OK || seen->st_ino == 0) /* no file: the rows were all */
    return rc;
  if ((rc = open_quarantine(s, &qfd, err)) != WH_OK)
    return rc;
  rc = store_fanout_lock(s, d->alg, sub, LOCK_EX, &subfd, err);
  if (rc != WH_OK)
    return rc == WH_ENOTFOUND ? WH_OK : rc;
  a.subfd = subfd;
  a.qfd = qfd;
  if ((rc = store_txn(s, 0, move_txn, &a, err)) != WH_OK)
    return rc;
  if (a.moved && (rc = wh_fsync_fd(subfd, err)) == WH_OK)
    rc = wh_fsync_fd(qfd, err);
  return rc;
}

/* ---- public ------------------------------------------------------------ */

static enum wh_code scrub_one(struct store *s, const struct scrub_row *row, bool q, store_scrub_cb cb,
                              void *ctx, struct store_scrub_report *rep, struct wh_err *err)
{
  char problem[200];
  struct stat seen;
  enum wh_code rc = hash_one(s, row, problem, sizeof(problem), &seen, &rep->bytes, err);

  rep->blobs++;
  if (rc != WH_OK || problem[0] == '\0')
    return rc;
  rep->bad++;
  if (q && (rc = quarantine(s, &row->d, &seen, err)) != WH_OK)
    return rc;
  rep->quarantined += q;
  if (cb)
    cb(ctx, &row->d, problem, q);
  return WH_OK;
}

enum wh_code store_scrub(struct store *s, unsigned flags, store_scrub_cb cb, void *ctx,
                         struct store_scrub_report *out, struct wh_err *err)
{
  struct scrub_row rows[SCRUB_PAGE];
  struct store_scrub_report rep = {0};
  char after[WH_DIGEST_STR_MAX] = "";
  bool q = flags & STORE_SCRUB_QUARANTINE;
  size_t n, fetched;
  enum wh_code rc;

  if (q && (s->flags & STORE_READONLY))
    return wh_err_set(err, WH_EINVALID, 0, "scrub: cannot quarantine in a store opened read-only");
  do {
    if ((rc = scrub_page(s, after, rows, &n, &fetched, err)) != WH_OK)
      return wh_err_wrap(err, "scrub");
    for (size_t i = 0; i < n; i++)
      if ((rc = scrub_one(s, &rows[i], q, cb, ctx, &rep, err)) != WH_OK)
        return wh_err_wrap(err, "scrub %s", rows[i].d.str);
  } while (fetched == SCRUB_PAGE);
  if (out)
    *out = rep;
  return WH_OK;
}
