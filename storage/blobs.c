/* storage/blobs.c - content-addressed blob files and their index rows.
 *
 * Invariants:
 *  - blobs/<alg>/<2 hex>/<hex> holds exactly the bytes of that digest, mode
 *    0444. It gets there only by renameat() of a complete, hashed, fsynced
 *    file from uploads/, followed by an fsync of its directory; the blobs
 *    row is committed after that (file first, row after);
 *  - the rename happens under flock(LOCK_SH) on the fan-out directory, and
 *    a file that does not hash to its name is removed only under LOCK_EX
 *    (store_blob_remove_corrupt), so a complete blob a writer has just
 *    renamed into place is never mistaken for the corrupt file it replaced;
 *  - a temp file (uploads/tmp-<random>) is flock'd by its writer for its
 *    whole life and is unlinked on every failure path, so a leftover one
 *    only comes from a crash (store_recover, fsck --repair and purge
 *    remove it);
 *  - repo_blobs rows say which repository may read which blob; a link is
 *    only inserted when the blobs row exists (foreign key).
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

static bool digest_ok(const struct wh_digest *d)
{
  return d != NULL && (d->alg == WH_DIGEST_SHA256 || d->alg == WH_DIGEST_SHA512);
}

void store_blob_rel(const struct wh_digest *d, char out[STORE_BLOB_REL_MAX])
{
  const char *hex = wh_digest_hex(d);

  snprintf(out, STORE_BLOB_REL_MAX, "%.2s/%s", hex, hex);
}

/* ---- files ------------------------------------------------------------- */

enum wh_code store_tmp_create(struct store *s, const char *prefix, char *name_out, size_t name_size,
                              int *fd_out, struct wh_err *err)
{
  char rnd[33];
  struct stat st;
  enum wh_code rc;

  for (int attempt = 0; attempt < 8; attempt++) {
    WH_AUTOCLOSE int fd = -1;

    if ((rc = wh_random_hex(rnd, 16, err)) != WH_OK)
      return rc;
    snprintf(name_out, name_size, "%s%s", prefix, rnd);
    fd = openat(s->uploadsfd, name_out, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0)
      return wh_err_set(err, WH_EIO, errno, "create temp file");
    /* fsck may have taken the lock and removed the file in between. */
    if (flock(fd, LOCK_EX) != 0 || fstat(fd, &st) != 0)
      return wh_err_set(err, WH_EIO, errno, "lock temp file");
    if (st.st_nlink == 0)
      continue;
    *fd_out = wh_steal_fd(&fd);
    return WH_OK;
  }
  return wh_err_set(err, WH_EIO, 0, "create temp file: removed under us repeatedly");
}

enum wh_code store_write_at(struct store *s, int fd, const void *p, size_t n, uint64_t off,
                            struct wh_err *err)
{
  if (s->fault == STORE_FAULT_ENOSPC_WRITE && n > 0)
    return wh_err_set(err, WH_EIO, ENOSPC, "write blob data");
  return wh_pwrite_all(fd, p, n, off, err);
}

/* Same name already complete in place? (A digest names one content, so
 * the right size means the same bytes unless the disk lies; fsck checks.) */
static bool intact_copy(int dirfd, const char *rel, uint64_t size)
{
  struct stat st;

  return fstatat(dirfd, rel, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode) &&
         (uint64_t)st.st_size == size;
}

/* blobs/<alg>/<2 hex>: created on first use, its parent fsynced then. */
static enum wh_code ensure_fanout(int algfd, const char *sub, struct wh_err *err)
{
  if (mkdirat(algfd, sub, 0755) == 0)
    return wh_fsync_fd(algfd, err);
  if (errno != EEXIST)
    return wh_err_set(err, WH_EIO, errno, "create blob directory \"%s\"", sub);
  return WH_OK;
}

enum wh_code store_fanout_lock(struct store *s, enum wh_digest_alg alg, const char *sub, int lock_op,
                               int *fd_out, struct wh_err *err)
{
  WH_AUTOCLOSE int fd = openat(s->algfd[alg], sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);

  if (fd < 0)
    return wh_err_set(err, errno == ENOENT ? WH_ENOTFOUND : WH_EIO, errno, "open blob directory \"%s\"", sub);
  while (flock(fd, lock_op) != 0)
    if (errno != EINTR)
      return wh_err_set(err, WH_EIO, errno, "lock blob directory \"%s\"", sub);
  *fd_out = wh_steal_fd(&fd);
  return WH_OK;
}

enum wh_code store_blob_place(struct store *s, int srcdir, const char *src, int fd, const struct wh_digest *d,
                              uint64_t size, struct wh_err *err)
{
  const char *hex = wh_digest_hex(d);
  char sub[3] = {hex[0], hex[1], '\0'};
  WH_AUTOCLOSE int subfd = -1; /* LOCK_SH while the name changes: see the top */
  enum wh_code rc;

  if ((rc = ensure_fanout(s->algfd[d->alg], sub, err)) != WH_OK)
    return rc;
  if (fsync(fd) != 0)
    return wh_err_set(err, WH_EIO, errno, "fsync blob %s", d->str);
  if (fchmod(fd, 0444) != 0)
    return wh_err_set(err, WH_EIO, errno, "chmod blob %s", d->str);
  store_fault_point(s, STORE_FAULT_KILL_BEFORE_RENAME);
  if ((rc = store_fanout_lock(s, d->alg, sub, LOCK_SH, &subfd, err)) != WH_OK)
    return rc;
  if (intact_copy(subfd, hex, size)) {
    unlinkat(srcdir, src, 0);
    return WH_OK;
  }
  if (renameat(srcdir, src, subfd, hex) != 0) {
    int e = errno;
    fchmod(fd, 0644);
    return wh_err_set(err, WH_EIO, e, "move blob %s into place", d->str);
  }
  if ((rc = wh_fsync_fd(subfd, err)) != WH_OK)
    return rc;
  store_fault_point(s, STORE_FAULT_KILL_AFTER_RENAME);
  return WH_OK;
}

enum wh_code store_blob_remove_corrupt(struct store *s, const struct wh_digest *d, const struct stat *seen,
                                       bool *removed_out, struct wh_err *err)
{
  const char *hex = wh_digest_hex(d);
  char sub[3] = {hex[0], hex[1], '\0'};
  WH_AUTOCLOSE int subfd = -1;
  struct stat now;
  enum wh_code rc = store_fanout_lock(s, d->alg, sub, LOCK_EX, &subfd, err);

  *removed_out = false;
  if (rc != WH_OK)
    return rc == WH_ENOTFOUND ? WH_OK : rc;
  if (fstatat(subfd, hex, &now, AT_SYMLINK_NOFOLLOW) != 0)
    return errno == ENOENT ? WH_OK : wh_err_set(err, WH_EIO, errno, "stat blob file %s", d->str);
  if (now.st_dev != seen->st_dev || now.st_ino != seen->st_ino)
    return WH_OK; /* a writer renamed a complete copy over it */
  if (unlinkat(subfd, hex, 0) != 0)
    return wh_err_set(err, WH_EIO, errno, "remove corrupt blob file %s", d->str);
  *removed_out = true;
  return wh_fsync_fd(subfd, err);
}

enum wh_code store_blob_write(struct store *s, const void *data, size_t len, const struct wh_digest *d,
                              struct wh_err *err)
{
  char rel[STORE_BLOB_REL_MAX], tmp[64];
  WH_AUTOCLOSE int fd = -1;
  enum wh_code rc;

  store_blob_rel(d, rel);
  if (intact_copy(s->algfd[d->alg], rel, len))
    return WH_OK;
  if ((rc = store_tmp_create(s, STORE_TMP_PREFIX, tmp, sizeof(tmp), &fd, err)) != WH_OK)
    return rc;
  rc = store_write_at(s, fd, data, len, 0, err);
  if (rc == WH_OK)
    rc = store_blob_place(s, s->uploadsfd, tmp, fd, d, len, err);
  if (rc != WH_OK)
    unlinkat(s->uploadsfd, tmp, 0); /* gone already when it was moved */
  return rc;
}

enum wh_code store_blob_open_file(struct store *s, const struct wh_digest *d, int *fd_out, struct wh_err *err)
{
  char rel[STORE_BLOB_REL_MAX];
  int fd;

  store_blob_rel(d, rel);
  fd = openat(s->algfd[d->alg], rel, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0)
    return wh_err_set(err, errno == ENOENT ? WH_ENOTFOUND : WH_EIO, errno, "open blob %s", d->str);
  *fd_out = fd;
  return WH_OK;
}

/* ---- rows -------------------------------------------------------------- */

enum wh_code store_blob_link(struct store_conn *c, int64_t repo_id, const struct wh_digest *d,
                             struct wh_err *err)
{
  STORE_AUTORESET sqlite3_stmt *st = store_stmt(c, Q_LINK_INSERT, err);

  if (st == NULL)
    return WH_EDATABASE;
  store_bind_int(st, 1, repo_id);
  store_bind_text(st, 2, d->str);
  store_bind_int(st, 3, store_now_s());
  return store_exec_stmt(c, st, "link blob", err);
}

/* Inside the write txn that records d: garbage collection unlinks a blob
 * file only inside a write txn that finds no row (gc.c), so a file seen
 * here stays as long as the row this txn commits. */
static enum wh_code file_in_place(struct store *s, const struct wh_digest *d, uint64_t size,
                                  struct wh_err *err)
{
  char rel[STORE_BLOB_REL_MAX];

  store_blob_rel(d, rel);
  if (intact_copy(s->algfd[d->alg], rel, size))
    return WH_OK;
  return wh_err_set(err, WH_ECONFLICT, 0,
                    "blob %s: its file was removed meanwhile (garbage collection): try again", d->str);
}

enum wh_code store_blob_record(struct store_conn *c, int64_t repo_id, const struct wh_digest *d,
                               uint64_t size, struct wh_err *err)
{
  STORE_AUTORESET sqlite3_stmt *st = store_stmt(c, Q_BLOB_INSERT, err);
  enum wh_code rc;

  if (st == NULL)
    return WH_EDATABASE;
  store_bind_text(st, 1, d->str);
  store_bind_int(st, 2, (int64_t)size);
  store_bind_int(st, 3, store_now_s());
  if ((rc = store_exec_stmt(c, st, "record blob", err)) != WH_OK)
    return rc;
  if (sqlite3_changes(c->db) > 0 && (rc = file_in_place(c->s, d, size, err)) != WH_OK)
    return rc;
  return repo_id > 0 ? store_blob_link(c, repo_id, d, err) : WH_OK;
}

enum wh_code store_blob_linked(struct store_conn *c, int64_t repo_id, const struct wh_digest *d, bool *out,
                               struct wh_err *err)
{
  STORE_AUTORESET sqlite3_stmt *st = store_stmt(c, Q_LINK_EXISTS, err);
  enum wh_code rc;

  if (st == NULL)
    return WH_EDATABASE;
  store_bind_int(st, 1, repo_id);
  store_bind_text(st, 2, d->str);
  rc = store_step_row(c, st, "look up blob link", err);
  if (rc != WH_OK && rc != WH_ENOTFOUND)
    return rc;
  *out = rc == WH_OK;
  return WH_OK;
}

/* ---- public ------------------------------------------------------------ */

enum wh_code store_blob_stat(struct store *s, const char *repo, const struct wh_digest *d, uint64_t *size_out,
                             struct wh_err *err)
{
  STORE_AUTOCONN struct store_conn *c = NULL;
  STORE_AUTORESET sqlite3_stmt *st = NULL;
  enum wh_code rc;

  if (!digest_ok(d))
    return wh_err_set(err, WH_EINVALID, 0, "stat blob: bad digest");
  if ((rc = store_conn_get(s, &c, err)) != WH_OK)
    return rc;
  if ((st = store_stmt(c, repo ? Q_BLOB_SIZE_REPO : Q_BLOB_SIZE, err)) == NULL)
    return WH_EDATABASE;
  if (repo) {
    store_bind_text(st, 1, repo);
    store_bind_text(st, 2, d->str);
  } else {
    store_bind_text(st, 1, d->str);
  }
  rc = store_step_row(c, st, "look up blob", err);
  if (rc == WH_ENOTFOUND)
    return wh_err_set(err, WH_ENOTFOUND, 0, "blob %s: not found", d->str);
  if (rc == WH_OK && size_out)
    *size_out = (uint64_t)sqlite3_column_int64(st, 0);
  return rc;
}

enum wh_code store_blob_open(struct store *s, const char *repo, const struct wh_digest *d, int *fd_out,
                             uint64_t *size_out, struct wh_err *err)
{
  WH_AUTOCLOSE int fd = -1;
  uint64_t size = 0;
  struct stat st;
  enum wh_code rc = store_blob_stat(s, repo, d, &size, err);

  if (rc != WH_OK)
    return rc;
  if ((rc = store_blob_open_file(s, d, &fd, err)) != WH_OK)
    return rc == WH_ENOTFOUND ? wh_err_set(err, WH_EIO, ENOENT, "blob %s: file missing", d->str) : rc;
  if (fstat(fd, &st) != 0)
    return wh_err_set(err, WH_EIO, errno, "stat blob %s", d->str);
  if ((uint64_t)st.st_size != size)
    return wh_err_set(err, WH_EIO, 0, "blob %s: file has the wrong size", d->str);
  *fd_out = wh_steal_fd(&fd);
  if (size_out)
    *size_out = size;
  return WH_OK;
}

struct mount_args {
  const char *repo, *from;
  const struct wh_digest *d;
};

static enum wh_code mount_txn(struct store_conn *c, void *ctx, struct wh_err *err)
{
  const struct mount_args *a = ctx;
  STORE_AUTORESET sqlite3_stmt *any = NULL;
  int64_t from_id, repo_id;
  bool linked = false;
  enum wh_code rc;

  if (a->from != NULL) {
    if ((rc = store_repo_id(c, a->from, false, &from_id, err)) == WH_OK)
      rc = store_blob_linked(c, from_id, a->d, &linked, err);
    if (rc != WH_OK && rc != WH_ENOTFOUND)
      return rc;
  } else {
    if ((any = store_stmt(c, Q_LINK_ANY, err)) == NULL)
      return WH_EDATABASE;
    store_bind_text(any, 1, a->d->str);
    if ((rc = store_step_row(c, any, "look up blob", err)) != WH_OK && rc != WH_ENOTFOUND)
      return rc;
    linked = rc == WH_OK;
  }
  if (!linked)
    return wh_err_set(err, WH_ENOTFOUND, 0, "mount blob %s: not found in source", a->d->str);
  if ((rc = store_repo_id(c, a->repo, true, &repo_id, err)) != WH_OK)
    return rc;
  return store_blob_link(c, repo_id, a->d, err);
}

enum wh_code store_blob_mount(struct store *s, const char *repo, const struct wh_digest *d, const char *from,
                              struct wh_err *err)
{
  struct mount_args a = {.repo = repo, .from = from, .d = d};
  enum wh_code rc;

  if (!digest_ok(d))
    return wh_err_set(err, WH_EINVALID, 0, "mount blob: bad digest");
  if ((rc = store_repo_name_check(repo, err)) != WH_OK)
    return rc;
  return store_txn(s, 0, mount_txn, &a, err);
}

struct unlink_args {
  const char *repo;
  const struct wh_digest *d;
  bool changed; /* out */
};

/* The link goes and, when deletes are recorded, its outbox event comes in
 * the same transaction (outbox.c). */
static enum wh_code unlink_txn(struct store_conn *c, void *ctx, struct wh_err *err)
{
  struct unlink_args *a = ctx;
  STORE_AUTORESET sqlite3_stmt *st = store_stmt(c, Q_LINK_DELETE, err);
  struct store_event_add ev = {.kind = STORE_EV_DELETE, .target = "blob", .digest = a->d->str};
  int64_t repo_id;
  enum wh_code rc;

  if (st == NULL)
    return WH_EDATABASE;
  store_bind_text(st, 1, a->repo);
  store_bind_text(st, 2, a->d->str);
  if ((rc = store_exec_stmt(c, st, "unlink blob", err)) != WH_OK)
    return rc;
  a->changed = sqlite3_changes(c->db) > 0;
  if (!a->changed || !store_events_on(c->s, STORE_EV_DELETE))
    return WH_OK;
  if ((rc = store_repo_id(c, a->repo, false, &repo_id, err)) != WH_OK)
    return rc;
  return store_outbox_add(c, repo_id, &ev, err);
}

enum wh_code store_blob_unlink(struct store *s, const char *repo, const struct wh_digest *d,
                               struct wh_err *err)
{
  struct unlink_args a = {.repo = repo, .d = d};
  enum wh_code rc;

  if (!digest_ok(d) || repo == NULL)
    return wh_err_set(err, WH_EINVALID, 0, "unlink blob: bad arguments");
  if ((rc = store_txn(s, 0, unlink_txn, &a, err)) != WH_OK)
    return rc;
  if (!a.changed) {
    uint64_t size;
    /* Still linked: a manifest of repo needs it (Q_LINK_DELETE spares it). */
    if (store_blob_stat(s, repo, d, &size, NULL) == WH_OK)
      return wh_err_set(err, WH_ECONFLICT, 0,
                        "blob %s: used by a manifest of \"%s\": delete the manifest first", d->str, repo);
    return wh_err_set(err, WH_ENOTFOUND, 0, "blob %s: not found in \"%s\"", d->str, repo);
  }
  return WH_OK;
}

struct put_args {
  const char *repo;
  const struct wh_digest *d;
  uint64_t size;
};

static enum wh_code put_txn(struct store_conn *c, void *ctx, struct wh_err *err)
{
  const struct put_args *a = ctx;
  int64_t repo_id = 0;
  enum wh_code rc;

  if (a->repo && (rc = store_repo_id(c, a->repo, true, &repo_id, err)) != WH_OK)
    return rc;
  return store_blob_record(c, repo_id, a->d, a->size, err);
}

/* Row (and link, for repo) present and the file intact: nothing to write. */
static bool already_there(struct store *s, const char *repo, const struct wh_digest *d, uint64_t len)
{
  char rel[STORE_BLOB_REL_MAX];
  uint64_t size;

  if (store_blob_stat(s, repo, d, &size, NULL) != WH_OK || size != len)
    return false;
  store_blob_rel(d, rel);
  return intact_copy(s->algfd[d->alg], rel, len);
}

enum wh_code store_blob_put(struct store *s, const char *repo, const void *data, size_t len,
                            const struct wh_digest *expected, struct wh_digest *out, struct wh_err *err)
{
  struct wh_digest d;
  struct put_args a = {.repo = repo, .d = &d, .size = len};
  enum wh_code rc;

  if (expected && !digest_ok(expected))
    return wh_err_set(err, WH_EINVALID, 0, "put blob: bad digest");
  if (data == NULL && len > 0)
    return wh_err_set(err, WH_EINVALID, 0, "put blob: no data");
  if (repo && (rc = store_repo_name_check(repo, err)) != WH_OK)
    return rc;
  if (len > __atomic_load_n(&s->max_blob, __ATOMIC_RELAXED))
    return wh_err_set(err, WH_ETOOBIG, 0, "put blob: %zu bytes is over the limit", len);
  wh_digest_buf(expected ? expected->alg : WH_DIGEST_SHA256, data ? data : "", len, &d);
  if (expected && !wh_digest_eq(expected, &d))
    return wh_err_set(err, WH_EDIGEST, 0, "put blob %s: content has digest %s", expected->str, d.str);
  if (already_there(s, repo, &d, len)) {
    if (out)
      *out = d;
    return WH_OK;
  }
  if ((rc = store_blob_write(s, data, len, &d, err)) != WH_OK)
    return rc;
  if ((rc = store_txn(s, STORE_TXN_RECORDS_BLOB, put_txn, &a, err)) != WH_OK)
    return rc;
  if (out)
    *out = d;
  return WH_OK;
}
