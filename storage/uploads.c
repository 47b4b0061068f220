/* storage/uploads.c - upload sessions: resumable, hashed while streaming.
 *
 *          store_upload_start        store_upload_get / _write / _release
 *   (none) -----------------> OPEN <------------------------------------+
 *                               |  \----------------------------------/
 *           store_upload_finish |  store_upload_cancel, or purge by age
 *               (digest ok)     v          v
 *                          COMMITTED    (gone)
 *
 * A session is a row in `uploads` (id, repository) plus the file
 * uploads/<id>. Invariants:
 *  - the row is created after the file and removed before it, so a crash
 *    leaves at worst a file without a row (a stray: store_recover, purge
 *    and fsck remove it) or, after finish renamed the file, a row without a
 *    file (get answers WH_ENOTFOUND; store_recover, purge and fsck remove
 *    it);
 *  - whenever a session file may lack its row it is flock'd by the process
 *    at work (start holds the lock until its row is committed; ends delete
 *    the row under the lock), and stray removal looks for the row again
 *    after taking the lock, so it never removes a live session's file;
 *  - while a handle is out the session is "in use" in this process's
 *    parked table and its file is flock'd, so a second handle (from this or
 *    another process), cancel and purge all back off;
 *  - a handle's hasher has seen exactly the file's bytes [0, size): a
 *    failed write truncates the file back to size;
 *  - while parked, the table keeps the running sha256 so the next get goes
 *    on without re-reading; when absent (restart, other process) or stale
 *    (file size differs) get re-hashes the file.
 * The last activity of a session is its file's mtime (writes touch it), so
 * a PATCH costs no database write.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "storage/store-int.h"

struct store_upload {
  struct store *s; /* not owned */
  char id[STORE_UPLOAD_ID_LEN + 1];
  int64_t repo_id;
  int fd;              /* owned; flock'd while the handle lives */
  struct wh_hasher *h; /* owned: sha256 of bytes [0, size) */
  uint64_t size;
  uint64_t flushing; /* writeback started for bytes [0, flushing) (see kick_writeback) */
};

static void hasher_cleanup(struct wh_hasher **h)
{
  wh_hasher_free(*h);
}
#define AUTOHASHER __attribute__((cleanup(hasher_cleanup)))

static bool id_valid(const char *id)
{
  size_t i;

  if (id == NULL)
    return false;
  for (i = 0; i < STORE_UPLOAD_ID_LEN; i++)
    if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
      return false;
  return id[i] == '\0';
}

/* ---- parked table (s->lock) -------------------------------------------- */

static size_t bucket_of(const char *id)
{
  size_t h = 2166136261u;

  for (; *id; id++)
    h = (h ^ (unsigned char)*id) * 16777619u;
  return h % STORE_UPLOAD_BUCKETS;
}

static struct store_parked **parked_slot(struct store *s, const char *id)
{
  struct store_parked **pp = &s->parked[bucket_of(id)];

  while (*pp && strcmp((*pp)->id, id) != 0)
    pp = &(*pp)->next;
  return pp;
}

/* Marks id in use and hands over its hasher (NULL when none is cached). */
static enum wh_code parked_take(struct store *s, const char *id, struct wh_hasher **h_out, uint64_t *size_out,
                                struct wh_err *err)
{
  struct store_parked **pp, *e;
  enum wh_code rc = WH_OK;

  pthread_mutex_lock(&s->lock);
  pp = parked_slot(s, id);
  e = *pp;
  if (e == NULL && (e = calloc(1, sizeof(*e))) != NULL) {
    memcpy(e->id, id, sizeof(e->id));
    *pp = e;
  }
  if (e == NULL)
    rc = wh_err_set(err, WH_ENOMEM, 0, "upload %s: out of memory", id);
  else if (e->in_use)
    rc = wh_err_set(err, WH_ECONFLICT, 0, "upload %s: already in use", id);
  if (rc == WH_OK) {
    e->in_use = true;
    *h_out = wh_steal_ptr(&e->hasher);
    *size_out = e->size;
  }
  pthread_mutex_unlock(&s->lock);
  return rc;
}

/* Parks id again (not in use), keeping h (owned by the table afterwards). */
static void parked_return(struct store *s, const char *id, struct wh_hasher *h, uint64_t size)
{
  struct store_parked *e;

  pthread_mutex_lock(&s->lock);
  e = *parked_slot(s, id);
  if (e != NULL) {
    wh_hasher_free(e->hasher);
    e->hasher = wh_steal_ptr(&h);
    e->size = size;
    e->in_use = false;
  }
  pthread_mutex_unlock(&s->lock);
  wh_hasher_free(h);
}

static void parked_drop(struct store *s, const char *id)
{
  struct store_parked **pp, *e;

  pthread_mutex_lock(&s->lock);
  pp = parked_slot(s, id);
  e = *pp;
  if (e != NULL)
    *pp = e->next;
  pthread_mutex_unlock(&s->lock);
  if (e != NULL) {
    wh_hasher_free(e->hasher);
    free(e);
  }
}

/* A fresh session: cached with an empty hasher (best effort). */
static void parked_add(struct store *s, const char *id)
{
  struct store_parked *e = calloc(1, sizeof(*e));
  struct store_parked **pp;

  if (e == NULL || (e->hasher = wh_hasher_new(WH_DIGEST_SHA256)) == NULL) {
    free(e);
    return;
  }
  memcpy(e->id, id, sizeof(e->id));
  pthread_mutex_lock(&s->lock);
  pp = &s->parked[bucket_of(id)];
  e->next = *pp;
  *pp = e;
  pthread_mutex_unlock(&s->lock);
}

bool store_upload_in_use(struct store *s, const char *id)
{
  struct store_parked *e;
  bool r;

  pthread_mutex_lock(&s->lock);
  e = *parked_slot(s, id);
  r = e != NULL && e->in_use;
  pthread_mutex_unlock(&s->lock);
  return r;
}

void store_parked_free(struct store *s)
{
  for (size_t i = 0; i < STORE_UPLOAD_BUCKETS; i++) {
    struct store_parked *e, *next;
    for (e = s->parked[i]; e != NULL; e = next) {
      next = e->next;
      wh_hasher_free(e->hasher);
      free(e);
    }
    s->parked[i] = NULL;
  }
}

/* ---- session files and rows -------------------------------------------- */

/* Opens uploads/<id> and takes its lock without waiting. *size_out: length.
 * WH_ECONFLICT when someone holds it, WH_ENOTFOUND when it is gone. */
static enum wh_code session_open(struct store *s, const char *id, int *fd_out, struct stat *st_out,
                                 struct wh_err *err)
{
  WH_AUTOCLOSE int fd = openat(s->uploadsfd, id, O_RDWR | O_CLOEXEC | O_NOFOLLOW);

  /* A finish that died between its chmod 0444 and the rename. */
  if (fd < 0 && errno == EACCES && fchmodat(s->uploadsfd, id, 0644, 0) == 0)
    fd = openat(s->uploadsfd, id, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0)
    return wh_err_set(err, errno == ENOENT ? WH_ENOTFOUND : WH_EIO, errno, "upload %s: open", id);
  if (flock(fd, LOCK_EX | LOCK_NB) != 0)
    return errno == EWOULDBLOCK ? wh_err_set(err, WH_ECONFLICT, 0, "upload %s: already in use", id)
                                : wh_err_set(err, WH_EIO, errno, "upload %s: lock", id);
  if (fstat(fd, st_out) != 0)
    return wh_err_set(err, WH_EIO, errno, "upload %s: stat", id);
  if (st_out->st_nlink == 0) /* removed while we waited for the lock */
    return wh_err_set(err, WH_ENOTFOUND, 0, "upload %s: not found", id);
  *fd_out = wh_steal_fd(&fd);
  return WH_OK;
}

/* Digest (alg) of the first `size` bytes of fd, read with pread. */
static enum wh_code hash_file(int fd, enum wh_digest_alg alg, struct wh_hasher **h_out, uint64_t *size_out,
                              struct wh_err *err)
{
  AUTOHASHER struct wh_hasher *h = wh_hasher_new(alg);
  WH_AUTOFREE unsigned char *buf = malloc(STORE_IO_CHUNK);
  uint64_t off = 0;

  if (h == NULL || buf == NULL)
    return wh_err_set(err, WH_ENOMEM, 0, "hash upload: out of memory");
  for (;;) {
    ssize_t r = pread(fd, buf, STORE_IO_CHUNK, (off_t)off);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0)
      return wh_err_set(err, WH_EIO, errno, "hash upload: read");
    if (r == 0)
      break;
    wh_hasher_update(h, buf, (size_t)r);
    off += (uint64_t)r;
  }
  *h_out = wh_steal_ptr(&h);
  *size_out = off;
  return WH_OK;
}

/* *deleted (optional): whether the row was there. */
static enum wh_code delete_row(struct store *s, const char *id, bool *deleted, struct wh_err *err)
{
  STORE_AUTOCONN struct store_conn *c = NULL;
  STORE_AUTORESET sqlite3_stmt *st = NULL;
  enum wh_code rc = store_conn_get(s, &c, err);

  if (rc != WH_OK)
    return rc;
  if ((st = store_stmt(c, Q_UPLOAD_DELETE, err)) == NULL)
    return WH_EDATABASE;
  store_bind_text(st, 1, id);
  if ((rc = store_exec_stmt(c, st, "delete upload session", err)) == WH_OK && deleted)
    *deleted = sqlite3_changes(c->db) > 0;
  return rc;
}

/* Row first, file after: a crash in between leaves only a stray file. */
static enum wh_code session_end(struct store *s, const char *id, struct wh_err *err)
{
  enum wh_code rc = delete_row(s, id, NULL, err);

  if (rc != WH_OK) {
    /* A full disk can refuse even the delete (SQLite needs room in its
     * WAL): free the session's bytes first, then try once more. The
     * session stays valid meanwhile, only empty. */
    int fd = openat(s->uploadsfd, id, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
      return rc;
    int t = ftruncate(fd, 0);
    close(fd);
    if (t != 0)
      return rc;
    parked_drop(s, id);
    if ((rc = delete_row(s, id, NULL, err)) != WH_OK)
      return rc;
  }
  if (unlinkat(s->uploadsfd, id, 0) != 0 && errno != ENOENT)
    return wh_err_set(err, WH_EIO, errno, "upload %s: remove", id);
  parked_drop(s, id);
  return WH_OK;
}

/* The session's repository id when `id` belongs to `repo`. */
static enum wh_code session_lookup(struct store *s, const char *repo, const char *id, int64_t *repo_id,
                                   struct wh_err *err)
{
  STORE_AUTOCONN struct store_conn *c = NULL;
  STORE_AUTORESET sqlite3_stmt *st = NULL;
  enum wh_code rc;

  if (!id_valid(id) || repo == NULL)
    return wh_err_set(err, WH_ENOTFOUND, 0, "upload: not found");
  if ((rc = store_conn_get(s, &c, err)) != WH_OK)
    return rc;
  if ((st = store_stmt(c, Q_UPLOAD_LOOKUP, err)) == NULL)
    return WH_EDATABASE;
  store_bind_text(st, 1, id);
  store_bind_text(st, 2, repo);
  rc = store_step_row(c, st, "look up upload session", err);
  if (rc == WH_ENOTFOUND)
    return wh_err_set(err, WH_ENOTFOUND, 0, "upload %s: not found", id);
  if (rc == WH_OK)
    *repo_id = sqlite3_column_int64(st, 0);
  return rc;
}

/* ---- start ------------------------------------------------------------- */

struct start_args {
  const char *repo;
  const char *id;
};

static enum wh_code start_txn(struct store_conn *c, void *ctx, struct wh_err *err)
{
  const struct start_args *a = ctx;
  STORE_AUTORESET sqlite3_stmt *st = NULL;
  int64_t repo_id;
  enum wh_code rc = store_repo_id(c, a->repo, true, &repo_id, err);

  if (rc != WH_OK)
    return rc;
  if ((st = store_stmt(c, Q_UPLOAD_INSERT, err)) == NULL)
    return WH_EDATABASE;
  store_bind_text(st, 1, a->id);
  store_bind_int(st, 2, repo_id);
  store_bind_int(st, 3, store_now_s());
  return store_exec_stmt(c, st, "create upload session", err);
}

enum wh_code store_upload_start(struct store *s, const char *repo, char id_out[STORE_UPLOAD_ID_LEN + 1],
                                struct wh_err *err)
{
  char id[STORE_UPLOAD_ID_LEN + 1];
  struct start_args a = {.repo = repo, .id = id};
  WH_AUTOCLOSE int fd = -1; /* holds the lock until the row exists */
  enum wh_code rc = store_repo_name_check(repo, err);

  if (rc != WH_OK)
    return rc;
  if ((rc = store_tmp_create(s, "", id, sizeof(id), &fd, err)) != WH_OK)
    return wh_err_wrap(err, "start upload");
  if ((rc = store_txn(s, 0, start_txn, &a, err)) != WH_OK) {
    unlinkat(s->uploadsfd, id, 0);
    return rc;
  }
  parked_add(s, id);
  memcpy(id_out, id, sizeof(id));
  return WH_OK;
}

/* ---- handles ----------------------------------------------------------- */

/* Opens the file and brings the hasher up to its length. */
static enum wh_code handle_fill(struct store_upload *u, struct wh_hasher *cached, uint64_t cached_size,
                                struct wh_err *err)
{
  struct stat st;
  enum wh_code rc = session_open(u->s, u->id, &u->fd, &st, err);

  if (rc != WH_OK) {
    wh_hasher_free(cached);
    return rc;
  }
  if (cached != NULL && cached_size == (uint64_t)st.st_size) {
    u->h = cached;
    u->size = cached_size;
    return WH_OK;
  }
  wh_hasher_free(cached);
  return hash_file(u->fd, WH_DIGEST_SHA256, &u->h, &u->size, err);
}

enum wh_code store_upload_get(struct store *s, const char *repo, const char *id, struct store_upload **out,
                              struct wh_err *err)
{
  struct store_upload *u;
  struct wh_hasher *cached = NULL;
  uint64_t cached_size = 0;
  int64_t repo_id;
  enum wh_code rc = session_lookup(s, repo, id, &repo_id, err);

  if (rc != WH_OK)
    return rc;
  if ((rc = parked_take(s, id, &cached, &cached_size, err)) != WH_OK)
    return rc;
  if ((u = calloc(1, sizeof(*u))) == NULL) {
    parked_return(s, id, cached, cached_size);
    return wh_err_set(err, WH_ENOMEM, 0, "upload %s: out of memory", id);
  }
  u->s = s;
  u->fd = -1;
  u->repo_id = repo_id;
  memcpy(u->id, id, sizeof(u->id));
  if ((rc = handle_fill(u, cached, cached_size, err)) != WH_OK) {
    parked_return(s, id, NULL, 0);
    if (u->fd >= 0)
      close(u->fd);
    free(u);
    return rc;
  }
  u->flushing = u->size;
  *out = u;
  return WH_OK;
}

const char *store_upload_id(const struct store_upload *u)
{
  return u->id;
}

uint64_t store_upload_size(const struct store_upload *u)
{
  return u->size;
}

/* Starts the disk writes of what came since the last call, once that is
 * STORE_WRITEBACK_STEP bytes, without waiting for them: finish's fsync
 * then finds little left to write, instead of a whole big blob at once
 * (which would stall everything else the caller does meanwhile). Only a
 * hint: an error here changes nothing (finish's fsync reports it). */
static void kick_writeback(struct store_upload *u)
{
  if (u->size - u->flushing < STORE_WRITEBACK_STEP)
    return;
  sync_file_range(u->fd, (off_t)u->flushing, (off_t)(u->size - u->flushing), SYNC_FILE_RANGE_WRITE);
  u->flushing = u->size;
}

enum wh_code store_upload_write(struct store_upload *u, const void *p, size_t n, struct wh_err *err)
{
  uint64_t max = __atomic_load_n(&u->s->max_blob, __ATOMIC_RELAXED);
  enum wh_code rc;

  if (n == 0)
    return WH_OK;
  if (n > max || u->size > max - n)
    return wh_err_set(err, WH_ETOOBIG, 0, "upload %s: over the %llu byte limit", u->id,
                      (unsigned long long)max);
  rc = store_write_at(u->s, u->fd, p, n, u->size, err);
  if (rc != WH_OK) {
    if (ftruncate(u->fd, (off_t)u->size) != 0) /* keep file == hashed bytes */
      return wh_err_wrap(err, "upload %s (and truncating back failed)", u->id);
    return wh_err_wrap(err, "upload %s", u->id);
  }
  wh_hasher_update(u->h, p, n);
  u->size += n;
  kick_writeback(u);
  return WH_OK;
}

static void handle_free(struct store_upload *u)
{
  if (u->fd >= 0)
    close(u->fd); /* drops the flock */
  wh_hasher_free(u->h);
  free(u);
}

void store_upload_release(struct store_upload *u)
{
  if (u == NULL)
    return;
  parked_return(u->s, u->id, wh_steal_ptr(&u->h), u->size);
  handle_free(u);
}

/* ---- finish ------------------------------------------------------------ */

/* What the received bytes hash to with expected's algorithm. */
static enum wh_code actual_digest(struct store_upload *u, enum wh_digest_alg alg, struct wh_digest *out,
                                  struct wh_err *err)
{
  AUTOHASHER struct wh_hasher *h = NULL;
  uint64_t size = 0;
  enum wh_code rc;

  if (alg == wh_hasher_alg(u->h)) {
    if ((h = wh_hasher_dup(u->h)) == NULL)
      return wh_err_set(err, WH_ENOMEM, 0, "upload %s: out of memory", u->id);
  } else {
    if ((rc = hash_file(u->fd, alg, &h, &size, err)) != WH_OK)
      return rc;
    if (size != u->size)
      return wh_err_set(err, WH_EIO, 0, "upload %s: file changed under us", u->id);
  }
  wh_hasher_final(h, out);
  return WH_OK;
}

struct commit_args {
  const struct store_upload *u;
  const struct wh_digest *d;
};

/* Between store_blob_place (the bytes leave uploads/<id>) and this commit
 * the session has a row and no file. store_recover (in any process) may
 * delete that row meanwhile: the session cannot resume anyway (get answers
 * WH_ENOTFOUND without its file), and the DELETE below does not need the
 * row to be there, so the blob row and link commit all the same. A kill in
 * between leaves the blob file without a row, which recovery registers. */
static enum wh_code commit_txn(struct store_conn *c, void *ctx, struct wh_err *err)
{
  const struct commit_args *a = ctx;
  STORE_AUTORESET sqlite3_stmt *st = NULL;
  enum wh_code rc = store_blob_record(c, a->u->repo_id, a->d, a->u->size, err);

  if (rc != WH_OK)
    return rc;
  if ((st = store_stmt(c, Q_UPLOAD_DELETE, err)) == NULL)
    return WH_EDATABASE;
  store_bind_text(st, 1, a->u->id);
  return store_exec_stmt(c, st, "end upload session", err);
}

static enum wh_code finish_inner(struct store_upload *u, const struct wh_digest *expected, struct wh_err *err)
{
  struct store *s = u->s;
  struct wh_digest d;
  struct commit_args a = {.u = u, .d = &d};
  enum wh_code rc = actual_digest(u, expected->alg, &d, err);

  if (rc != WH_OK)
    goto keep;
  if (!wh_digest_eq(&d, expected)) {
    rc = wh_err_set(err, WH_EDIGEST, 0, "upload %s: content has digest %s, not %s", u->id, d.str,
                    expected->str);
    session_end(s, u->id, NULL);
    return rc;
  }
  if ((rc = store_blob_place(s, s->uploadsfd, u->id, u->fd, &d, u->size, err)) != WH_OK)
    goto keep;
  /* From here the bytes are in blobs/: the session cannot resume. */
  rc = store_txn(s, STORE_TXN_RECORDS_BLOB, commit_txn, &a, err);
  if (rc != WH_OK)
    delete_row(s, u->id, NULL, NULL);
  parked_drop(s, u->id);
  return rc;
keep:
  parked_return(s, u->id, wh_steal_ptr(&u->h), u->size); /* resumable */
  return rc;
}

enum wh_code store_upload_finish(struct store_upload *u, const struct wh_digest *expected, uint64_t *size_out,
                                 struct wh_err *err)
{
  uint64_t size;
  enum wh_code rc;

  if (u == NULL)
    return wh_err_set(err, WH_EINVALID, 0, "finish upload: no handle");
  size = u->size;
  if (expected == NULL || (expected->alg != WH_DIGEST_SHA256 && expected->alg != WH_DIGEST_SHA512)) {
    rc = wh_err_set(err, WH_EINVALID, 0, "upload %s: bad expected digest", u->id);
    parked_return(u->s, u->id, wh_steal_ptr(&u->h), u->size);
  } else {
    rc = finish_inner(u, expected, err);
  }
  handle_free(u);
  if (rc == WH_OK && size_out)
    *size_out = size;
  return rc;
}

/* ---- cancel / purge ---------------------------------------------------- */

/* Ends session id unless it is in use. *ended: whether it was removed.
 * cutoff: only when its file was last touched before it (INT64_MAX: any). */
static enum wh_code try_end(struct store *s, const char *id, int64_t cutoff, bool *ended, struct wh_err *err)
{
  WH_AUTOCLOSE int fd = -1;
  struct wh_hasher *h = NULL;
  uint64_t size = 0;
  struct stat st;
  enum wh_code rc = parked_take(s, id, &h, &size, err);

  *ended = false;
  if (rc != WH_OK)
    return rc;
  rc = session_open(s, id, &fd, &st, err);
  if (rc == WH_OK && st.st_mtime >= cutoff) {
    parked_return(s, id, h, size);
    return WH_OK;
  }
  wh_hasher_free(h);
  if (rc != WH_OK && rc != WH_ENOTFOUND) {
    parked_return(s, id, NULL, 0);
    return rc;
  }
  if ((rc = session_end(s, id, err)) != WH_OK) /* we hold the lock: nobody else writes */
    parked_return(s, id, NULL, 0);
  *ended = rc == WH_OK;
  return rc;
}

enum wh_code store_upload_cancel(struct store *s, const char *repo, const char *id, struct wh_err *err)
{
  int64_t repo_id;
  bool ended;
  enum wh_code rc = session_lookup(s, repo, id, &repo_id, err);

  if (rc != WH_OK)
    return rc;
  return try_end(s, id, INT64_MAX, &ended, err);
}

/* Ids of sessions created before cutoff (malloc'd array of ids). */
static enum wh_code old_sessions(struct store *s, int64_t cutoff, char (**ids)[STORE_UPLOAD_ID_LEN + 1],
                                 size_t *n, struct wh_err *err)
{
  STORE_AUTOCONN struct store_conn *c = NULL;
  STORE_AUTORESET sqlite3_stmt *st = NULL;
  size_t cap = 0;
  int r;
  enum wh_code rc = store_conn_get(s, &c, err);

  *ids = NULL;
  *n = 0;
  if (rc != WH_OK)
    return rc;
  if ((st = store_stmt(c, Q_UPLOAD_OLD, err)) == NULL)
    return WH_EDATABASE;
  store_bind_int(st, 1, cutoff);
  while ((r = sqlite3_step(st)) == SQLITE_ROW) {
    const char *id = (const char *)sqlite3_column_text(st, 0);
    if (!id_valid(id))
      continue;
    if (*n == cap) {
      size_t ncap = cap ? cap * 2 : 64;
      void *p = realloc(*ids, ncap * sizeof(**ids));
      if (p == NULL)
        return wh_err_set(err, WH_ENOMEM, 0, "purge uploads: out of memory");
      *ids = p;
      cap = ncap;
    }
    memcpy((*ids)[(*n)++], id, STORE_UPLOAD_ID_LEN + 1);
  }
  return r == SQLITE_DONE ? WH_OK : store_db_error(c, r, "list upload sessions", err);
}

static bool session_row_exists(struct store_conn *c, const char *id)
{
  STORE_AUTORESET sqlite3_stmt *st = store_stmt(c, Q_UPLOAD_EXISTS, NULL);

  if (st == NULL)
    return true; /* when in doubt, keep the file */
  store_bind_text(st, 1, id);
  return store_step_row(c, st, "look up upload session", NULL) != WH_ENOTFOUND;
}

/* Is uploads/<name> a file without a session, older than cutoff, that
 * nobody writes? On true *fd_out holds its lock: unlink before closing it,
 * so a writer that took the lock after us sees st_nlink == 0.
 * The row is looked up again under the lock: store_upload_start holds the
 * lock on a new session's file until its row is committed, so a row that
 * appeared after the first look is seen by the second. */
static bool stray_lock(struct store *s, struct store_conn *c, const char *name, int64_t cutoff, int *fd_out)
{
  WH_AUTOCLOSE int fd = -1;
  bool session_name = id_valid(name);
  struct stat st;

  if (session_name && session_row_exists(c, name))
    return false;
  fd = openat(s->uploadsfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_mtime >= cutoff)
    return false;
  if (flock(fd, LOCK_EX | LOCK_NB) != 0)
    return false;
  if (fstat(fd, &st) != 0 || st.st_nlink == 0) /* its writer removed it meanwhile */
    return false;
  if (session_name && session_row_exists(c, name))
    return false;
  *fd_out = wh_steal_fd(&fd);
  return true;
}

enum wh_code store_uploads_strays(struct store *s, int64_t cutoff, bool remove, store_stray_fn fn, void *ctx,
                                  struct wh_err *err)
{
  STORE_AUTOCONN struct store_conn *c = NULL;
  WH_AUTOCLOSEDIR DIR *dir = NULL;
  int dfd = openat(s->uploadsfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  struct dirent *de;
  enum wh_code rc;

  if (dfd >= 0 && (dir = fdopendir(dfd)) == NULL)
    close(dfd);
  if (dir == NULL)
    return wh_err_set(err, WH_EIO, errno, "read uploads directory");
  if ((rc = store_conn_get(s, &c, err)) != WH_OK)
    return rc;
  while ((de = readdir(dir)) != NULL) {
    WH_AUTOCLOSE int fd = -1;
    bool removed;
    if (de->d_name[0] == '.' || !stray_lock(s, c, de->d_name, cutoff, &fd))
      continue;
    removed = remove && unlinkat(s->uploadsfd, de->d_name, 0) == 0;
    fn(ctx, de->d_name, removed);
  }
  return WH_OK;
}

static void count_stray(void *ctx, const char *name, bool removed)
{
  (void)name;
  if (removed)
    (*(uint64_t *)ctx)++;
}

enum wh_code store_upload_purge(struct store *s, int64_t max_age_s, uint64_t *n_out, struct wh_err *err)
{
  WH_AUTOFREE char(*ids)[STORE_UPLOAD_ID_LEN + 1] = NULL;
  int64_t cutoff = store_now_s() - (max_age_s > 0 ? max_age_s : 0);
  uint64_t n = 0;
  size_t n_ids;
  enum wh_code rc = old_sessions(s, cutoff, &ids, &n_ids, err);

  if (rc != WH_OK)
    return rc;
  for (size_t i = 0; i < n_ids; i++) {
    bool ended = false;
    rc = try_end(s, ids[i], cutoff, &ended, err);
    if (rc != WH_OK && rc != WH_ECONFLICT)
      return rc;
    n += ended;
  }
  if ((rc = store_uploads_strays(s, cutoff, true, count_stray, &n, err)) != WH_OK)
    return rc;
  if (n_out)
    *n_out = n;
  return WH_OK;
}

/* ---- recovery ---------------------------------------------------------- */

#define FILELESS_PAGE 64

/* Next page of session ids after `after` (updated to the last one read). */
static enum wh_code session_page(struct store *s, char after[STORE_UPLOAD_ID_LEN + 1],
                                 char ids[FILELESS_PAGE][STORE_UPLOAD_ID_LEN + 1], size_t *n, size_t *fetched,
                                 struct wh_err *err)
{
  STORE_AUTOCONN struct store_conn *c = NULL;
  STORE_AUTORESET sqlite3_stmt *st = NULL;
  enum wh_code rc = store_conn_get(s, &c, err);
  int r = SQLITE_DONE;

  *n = *fetched = 0;
  if (rc != WH_OK)
    return rc;
  if ((st = store_stmt(c, Q_UPLOAD_PAGE, err)) == NULL)
    return WH_EDATABASE;
  store_bind_text(st, 1, after);
  store_bind_int(st, 2, FILELESS_PAGE);
  while (*fetched < FILELESS_PAGE && (r = sqlite3_step(st)) == SQLITE_ROW) {
    const char *id = (const char *)sqlite3_column_text(st, 0);
    (*fetched)++;
    if (id == NULL || strlen(id) != STORE_UPLOAD_ID_LEN)
      return wh_err_set(err, WH_EINTERNAL, 0, "list upload sessions: bad id");
    /* the query returns 32-byte ids only; others are no names of ours */
    memcpy(after, id, STORE_UPLOAD_ID_LEN + 1);
    if (id_valid(id))
      memcpy(ids[(*n)++], id, STORE_UPLOAD_ID_LEN + 1);
  }
  return r == SQLITE_ROW || r == SQLITE_DONE ? WH_OK : store_db_error(c, r, "list upload sessions", err);
}

enum wh_code store_uploads_fileless(struct store *s, uint64_t *n_out, struct wh_err *err)
{
  char after[STORE_UPLOAD_ID_LEN + 1] = "";
  char ids[FILELESS_PAGE][STORE_UPLOAD_ID_LEN + 1];
  uint64_t ended = 0;
  size_t n, fetched;
  struct stat st;
  enum wh_code rc;

  do {
    if ((rc = session_page(s, after, ids, &n, &fetched, err)) != WH_OK)
      return rc;
    for (size_t i = 0; i < n; i++) {
      bool deleted = false;
      /* the file comes before the row and goes after it: it never returns */
      if (fstatat(s->uploadsfd, ids[i], &st, AT_SYMLINK_NOFOLLOW) == 0 || errno != ENOENT ||
          store_upload_in_use(s, ids[i]))
        continue;
      if ((rc = delete_row(s, ids[i], &deleted, err)) != WH_OK)
        return rc;
      parked_drop(s, ids[i]);
      ended += deleted;
    }
  } while (fetched == FILELESS_PAGE);
  *n_out = ended;
  return WH_OK;
}
