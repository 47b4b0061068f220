/* storage/recover.c - crash recovery: what a killed writer left behind.
 *
 * The write orders of blobs.c and uploads.c mean a kill -9 can only leave
 * these four kinds of residue, none of them visible to readers (a blob or
 * manifest is visible only through its committed row); store_recover()
 * clears each so that store_fsck() finds nothing:
 *
 *   residue                         left by a kill in                action
 *   ------------------------------  -------------------------------  ----------------------
 *   uploads/tmp-<rnd>, unlocked     blob or manifest put, before     remove
 *                                   its rename
 *   uploads/<id> without a row,     upload start before its row;     remove
 *   unlocked                        a session end between row and
 *                                   file
 *   session row, uploads/<id>       upload finish between its        delete the row
 *   missing                         rename and its commit
 *   blobs/<alg>/<ab>/<hex>, no      any blob commit, after the       hashes to <hex>: insert
 *   blobs row                       rename and before the commit     its row, link it to no
 *                                                                    repository (no client
 *                                                                    was told it was stored);
 *                                                                    else remove the file
 *
 * Safe beside live processes on the same root (a second wharfd, a client):
 *  - uploads/: a writer holds flock(LOCK_EX) on its file for as long as
 *    the file may lack a row; a file is removed only under its lock and
 *    after a second look for its row (store_uploads_strays);
 *  - session rows: a row without its file exists only after finish moved
 *    the bytes out; deleting it early cannot hurt that finish (see
 *    commit_txn in uploads.c);
 *  - blobs/: a file that hashes to its name is never removed, only given
 *    the row its writer is about to commit (INSERT .. ON CONFLICT DO
 *    NOTHING, so both orders give the same row; the writer adds its link).
 *    One that does not hash to its name is no writer's (they rename only
 *    complete, hashed, fsynced files) and is removed under the fan-out
 *    directory's exclusive lock, only while its name still points to the
 *    inode that was hashed (store_blob_remove_corrupt).
 * Safe beside a garbage collection (store_gc, gc.c): it deletes a blob's
 * row first and unlinks the file later, under the fan-out directory's
 * exclusive lock and inside a write transaction that finds no row again.
 * A file recovery registers in between keeps its row (the recheck sees
 * it: the next collection takes it); a file unlinked before recovery's
 * own transaction makes store_blob_record answer WH_ECONFLICT, which here
 * means "gone meanwhile".
 *
 * Cost on a store without residue: one readdir of uploads/ and of every
 * fan-out directory, one indexed lookup per file; no file with a row is
 * opened. Only row-less blob files are read (hashed).
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "storage/store-int.h"

struct recover {
  struct store *s;
  struct store_conn *c; /* owned: the row lookups */
  struct store_recover_report rep;
};

static bool is_hex(const char *p, size_t n)
{
  for (size_t i = 0; i < n; i++)
    if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f')))
      return false;
  return p[n] == '\0';
}

/* ---- uploads/ ---------------------------------------------------------- */

static void count_removed(void *ctx, const char *name, bool removed)
{
  (void)name;
  if (removed)
    ((struct store_recover_report *)ctx)->temp_removed++;
}

/* ---- blobs/ ------------------------------------------------------------ */

static enum wh_code row_exists(struct recover *r, const struct wh_digest *d, bool *out, struct wh_err *err)
{
  STORE_AUTORESET sqlite3_stmt *st = store_stmt(r->c, Q_BLOB_SIZE, err);
  enum wh_code rc;

  if (st == NULL)
    return WH_EDATABASE;
  store_bind_text(st, 1, d->str);
  rc = store_step_row(r->c, st, "look up blob", err);
  if (rc != WH_OK && rc != WH_ENOTFOUND)
    return rc;
  *out = rc == WH_OK;
  return WH_OK;
}

struct record_args {
  const struct wh_digest *d;
  uint64_t size;
};

static enum wh_code record_txn(struct store_conn *c, void *ctx, struct wh_err *err)
{
  const struct record_args *a = ctx;

  return store_blob_record(c, 0, a->d, a->size, err); /* no repository link */
}

/* blobs/.../<hex> has no row: register it when it hashes to d, else remove it. */
static enum wh_code adopt(struct recover *r, int subfd, const struct wh_digest *d, struct wh_err *err)
{
  WH_AUTOCLOSE int fd = openat(subfd, wh_digest_hex(d), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  struct record_args a = {.d = d};
  struct wh_digest got;
  struct stat st;
  bool removed = false;
  enum wh_code rc;

  if (fd < 0 && (errno == ENOENT || errno == ELOOP))
    return WH_OK; /* gone meanwhile, or a symlink: fsck's business */
  if (fd < 0 || fstat(fd, &st) != 0)
    return wh_err_set(err, WH_EIO, errno, "recover: open blob file %s", d->str);
  if (!S_ISREG(st.st_mode))
    return WH_OK;
  if ((rc = wh_digest_fd(d->alg, fd, &got, &a.size, err)) != WH_OK)
    return wh_err_wrap(err, "recover: blob file %s", d->str);
  if (wh_digest_eq(&got, d)) {
    if ((rc = store_txn(r->s, 0, record_txn, &a, err)) == WH_ECONFLICT)
      return WH_OK; /* a garbage collection removed the file meanwhile */
    if (rc != WH_OK)
      return wh_err_wrap(err, "recover: register blob %s", d->str);
    r->rep.blobs_registered++;
    return WH_OK;
  }
  if ((rc = store_blob_remove_corrupt(r->s, d, &st, &removed, err)) != WH_OK)
    return wh_err_wrap(err, "recover");
  r->rep.blobs_removed += removed;
  return WH_OK;
}

/* One file of blobs/<alg>/<sub>: names that are not blob names are left
 * alone (no writer makes them; fsck reports them). */
static enum wh_code blob_entry(struct recover *r, int subfd, enum wh_digest_alg alg, const char *sub,
                               const struct dirent *de, struct wh_err *err)
{
  char name[WH_DIGEST_STR_MAX];
  struct wh_digest d;
  bool has_row = false;
  enum wh_code rc;

  if (de->d_type != DT_REG && de->d_type != DT_UNKNOWN)
    return WH_OK;
  if (!is_hex(de->d_name, wh_digest_alg_hexlen(alg)) || strncmp(de->d_name, sub, 2) != 0)
    return WH_OK;
  snprintf(name, sizeof(name), "%s:%.128s", wh_digest_alg_name(alg), de->d_name);
  if (wh_digest_parsez(name, &d, NULL) != WH_OK)
    return WH_OK;
  r->rep.blob_files++;
  if ((rc = row_exists(r, &d, &has_row, err)) != WH_OK || has_row)
    return rc;
  return adopt(r, subfd, &d, err);
}

static enum wh_code scan_fanout(struct recover *r, enum wh_digest_alg alg, const char *sub,
                                struct wh_err *err)
{
  WH_AUTOCLOSEDIR DIR *dir = wh_opendir_at(r->s->algfd[alg], sub);
  struct dirent *de;
  enum wh_code rc;

  if (dir == NULL)
    return errno == ENOENT || errno == ENOTDIR
               ? WH_OK
               : wh_err_set(err, WH_EIO, errno, "recover: read blobs/%s/%s", wh_digest_alg_name(alg), sub);
  while ((de = readdir(dir)) != NULL)
    if ((rc = blob_entry(r, dirfd(dir), alg, sub, de, err)) != WH_OK)
      return rc;
  return WH_OK;
}

static enum wh_code scan_alg(struct recover *r, enum wh_digest_alg alg, struct wh_err *err)
{
  WH_AUTOCLOSEDIR DIR *dir = wh_opendir_at(r->s->algfd[alg], ".");
  struct dirent *de;
  enum wh_code rc;

  if (dir == NULL)
    return wh_err_set(err, WH_EIO, errno, "recover: read blobs/%s", wh_digest_alg_name(alg));
  while ((de = readdir(dir)) != NULL) {
    if (!is_hex(de->d_name, 2) || (de->d_type != DT_DIR && de->d_type != DT_UNKNOWN))
      continue;
    if ((rc = scan_fanout(r, alg, de->d_name, err)) != WH_OK)
      return rc;
  }
  return WH_OK;
}

/* ---- public ------------------------------------------------------------ */

enum wh_code store_recover(struct store *s, struct store_recover_report *out, struct wh_err *err)
{
  struct recover r = {.s = s};
  enum wh_code rc;

  if (s->flags & STORE_READONLY)
    return wh_err_set(err, WH_EINVALID, 0, "recover: the store is open read-only");
  if ((rc = store_uploads_strays(s, INT64_MAX, true, count_removed, &r.rep, err)) != WH_OK)
    return wh_err_wrap(err, "recover");
  if ((rc = store_uploads_fileless(s, &r.rep.sessions_ended, err)) != WH_OK)
    return wh_err_wrap(err, "recover");
  if ((rc = store_conn_get(s, &r.c, err)) != WH_OK)
    return rc;
  if ((rc = scan_alg(&r, WH_DIGEST_SHA256, err)) == WH_OK)
    rc = scan_alg(&r, WH_DIGEST_SHA512, err);
  store_conn_put(r.c);
  if (rc == WH_OK && out)
    *out = r.rep;
  return rc;
}
