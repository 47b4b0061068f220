/* storage/fsck.c - consistency check (and repair) of files against rows.
 *
 * Passes, in order:
 *   1. every blobs row has its file, of the right size and digest (re-hash);
 *      repair: drop the row with its links and the manifests made of those
 *      bytes (their tags get history rows), delete a corrupt file;
 *   2. rows pointing to missing rows: manifests without their blob,
 *      repo_blobs without blob, tags without manifest, edges without their
 *      manifest; repair: delete them (tags with history rows);
 *      config/layer edges whose blob the repository lacks are reported but
 *      kept: pushing the blob again heals the manifest;
 *   3. upload sessions without repository or file; repair: drop the row;
 *   4. files under blobs/ without a row: one that hashes to its name is
 *      registered again by repair, anything else is deleted;
 *   5. stray files in uploads/ (not a session, not being written);
 *      repair: delete;
 *   6. SQLite's own quick_check (report only).
 * Blob rows are read in pages, so no read transaction stays open while
 * files are hashed. Running it beside writers is safe (writers hold flocks
 * on their temp files, and a file renamed but not yet recorded is only
 * ever registered, never deleted); do not run --repair beside GC, which
 * deletes rows before files.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "storage/store-int.h"

#define FSCK_PAGE 64
#define FSCK_WHO "fsck"

struct fsck {
  struct store *s;
  bool repair;
  store_fsck_cb cb;
  void *ctx;
  struct store_fsck_report rep;
  struct store_conn *c; /* owned: reads */
};

static void problem(struct fsck *f, bool repaired, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void problem(struct fsck *f, bool repaired, const char *fmt, ...)
{
  char line[768];
  va_list ap;

  va_start(ap, fmt);
  vsnprintf(line, sizeof(line), fmt, ap);
  va_end(ap);
  f->rep.problems++;
  if (repaired) {
    f->rep.repaired++;
    size_t n = strlen(line);
    snprintf(line + n, sizeof(line) - n, "; repaired");
  }
  if (f->cb)
    f->cb(f->ctx, line);
}

static enum wh_code prep(struct fsck *f, const char *sql, sqlite3_stmt **st, struct wh_err *err)
{
  int rc = sqlite3_prepare_v2(f->c->db, sql, -1, st, NULL);

  return rc == SQLITE_OK ? WH_OK : store_db_error(f->c, rc, "fsck query", err);
}

/* ---- pass 1: blob rows against files ---------------------------------- */

enum blob_state { BLOB_OK, BLOB_MISSING, BLOB_SIZE, BLOB_CORRUPT };

/* *detail gets what was found, for the message. */
static enum wh_code blob_state(struct store *s, const struct wh_digest *d, uint64_t size,
                               enum blob_state *out, char *detail, size_t dsize, struct wh_err *err)
{
  WH_AUTOCLOSE int fd = -1;
  struct wh_digest got;
  struct stat st;
  uint64_t n = 0;
  enum wh_code rc = store_blob_open_file(s, d, &fd, err);

  *out = BLOB_OK;
  if (rc == WH_ENOTFOUND) {
    *out = BLOB_MISSING;
    return WH_OK;
  }
  if (rc != WH_OK)
    return rc;
  if (fstat(fd, &st) != 0)
    return wh_err_set(err, WH_EIO, errno, "fsck: stat blob %s", d->str);
  if ((uint64_t)st.st_size != size) {
    snprintf(detail, dsize, "file has %llu bytes, index says %llu", (unsigned long long)st.st_size,
             (unsigned long long)size);
    *out = BLOB_SIZE;
    return WH_OK;
  }
  if ((rc = wh_digest_fd(d->alg, fd, &got, &n, err)) != WH_OK)
    return rc;
  if (!wh_digest_eq(&got, d)) {
    snprintf(detail, dsize, "content hashes to %s", got.str);
    *out = BLOB_CORRUPT;
  }
  return WH_OK;
}

static enum wh_code exec_digest(struct store_conn *c, const char *sql, const char *digest, struct wh_err *err)
{
  STORE_AUTOFINALIZE sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v2(c->db, sql, -1, &st, NULL);

  if (rc != SQLITE_OK)
    return store_db_error(c, rc, "fsck repair", err);
  store_bind_text(st, 1, digest);
  return store_exec_stmt(c, st, "fsck repair", err);
}

/* Drops blob row d, its links and the manifests made of it. */
static enum wh_code drop_blob_txn(struct store_conn *c, void *ctx, struct wh_err *err)
{
  const char *digest = ctx;
  int64_t repos[FSCK_PAGE];
  size_t n;
  enum wh_code rc;

  do { /* manifests with these bytes, in any repository */
    STORE_AUTOFINALIZE sqlite3_stmt *st = NULL;
    int r =
        sqlite3_prepare_v2(c->db, "SELECT repo_id FROM manifests WHERE digest = ?1 LIMIT 64", -1, &st, NULL);
    if (r != SQLITE_OK)
      return store_db_error(c, r, "fsck repair", err);
    store_bind_text(st, 1, digest);
    for (n = 0; n < FSCK_PAGE && (r = sqlite3_step(st)) == SQLITE_ROW; n++)
      repos[n] = sqlite3_column_int64(st, 0);
    sqlite3_finalize(wh_steal_ptr(&st));
    for (size_t i = 0; i < n; i++)
      if ((rc = store_manifest_drop(c, repos[i], digest, FSCK_WHO, err)) != WH_OK)
        return rc;
  } while (n == FSCK_PAGE);
  if ((rc = exec_digest(c, "DELETE FROM repo_blobs WHERE digest = ?1", digest, err)) != WH_OK)
    return rc;
  return exec_digest(c, "DELETE FROM blobs WHERE digest = ?1", digest, err);
}

static enum wh_code fix_blob(struct fsck *f, const struct wh_digest *d, enum blob_state state,
                             struct wh_err *err)
{
  char rel[STORE_BLOB_REL_MAX];
  enum wh_code rc = store_txn(f->s, 0, drop_blob_txn, (void *)d->str, err);

  if (rc != WH_OK || state == BLOB_MISSING)
    return rc;
  store_blob_rel(d, rel); /* row first, file after */
  if (unlinkat(f->s->algfd[d->alg], rel, 0) != 0 && errno != ENOENT)
    return wh_err_set(err, WH_EIO, errno, "fsck: remove blob %s", d->str);
  return WH_OK;
}

static enum wh_code check_blob(struct fsck *f, const struct wh_digest *d, uint64_t size, struct wh_err *err)
{
  char detail[256] = "file missing";
  enum blob_state state;
  enum wh_code rc = blob_state(f->s, d, size, &state, detail, sizeof(detail), err);

  f->rep.blobs++;
  if (rc != WH_OK || state == BLOB_OK)
    return rc;
  if (f->repair && (rc = fix_blob(f, d, state, err)) != WH_OK)
    return rc;
  problem(f, f->repair, "blob %s: %s", d->str, detail);
  return WH_OK;
}

struct blob_row {
  struct wh_digest d;
  uint64_t size;
};

/* Next page of blob rows after `after` (digest order; updated to the last
 * row read). *fetched: rows read, *n: of which valid. */
static enum wh_code blob_page(struct fsck *f, char after[WH_DIGEST_STR_MAX], struct blob_row *rows, size_t *n,
                              size_t *fetched, struct wh_err *err)
{
  STORE_AUTOFINALIZE sqlite3_stmt *st = NULL;
  enum wh_code rc =
      prep(f, "SELECT digest, size FROM blobs WHERE digest > ?1 ORDER BY digest LIMIT 64", &st, err);
  int r = SQLITE_DONE;

  *n = *fetched = 0;
  if (rc != WH_OK)
    return rc;
  store_bind_text(st, 1, after);
  while (*fetched < FSCK_PAGE && (r = sqlite3_step(st)) == SQLITE_ROW) {
    const char *t = (const char *)sqlite3_column_text(st, 0);
    (*fetched)++;
    snprintf(after, WH_DIGEST_STR_MAX, "%s", t ? t : "");
    if (store_column_digest(st, 0, &rows[*n].d, NULL) != WH_OK) {
      problem(f, false, "blob row \"%.140s\": invalid digest", t ? t : "");
      continue;
    }
    rows[(*n)++].size = (uint64_t)sqlite3_column_int64(st, 1);
  }
  return r == SQLITE_ROW || r == SQLITE_DONE ? WH_OK : store_db_error(f->c, r, "fsck blobs", err);
}

static enum wh_code pass_blob_rows(struct fsck *f, struct wh_err *err)
{
  struct blob_row rows[FSCK_PAGE];
  char after[WH_DIGEST_STR_MAX] = "";
  size_t n, fetched;
  enum wh_code rc;

  do {
    if ((rc = blob_page(f, after, rows, &n, &fetched, err)) != WH_OK)
      return rc;
    for (size_t i = 0; i < n; i++)
      if ((rc = check_blob(f, &rows[i].d, rows[i].size, err)) != WH_OK)
        return rc;
  } while (fetched == FSCK_PAGE);
  return WH_OK;
}

/* ---- pass 2 and 3: rows pointing to missing rows ----------------------- */

struct dangling {
  const char *select; /* columns: description text */
  const char *fix;    /* SQL run in one transaction when repairing; NULL: report only */
  const char *what;
};

static const struct dangling dangling_checks[] = {
    {"SELECT 'manifest ' || m.digest || ' in \"' || r.name || '\": blob row missing' FROM manifests m"
     " JOIN repos r ON r.id = m.repo_id WHERE NOT EXISTS (SELECT 1 FROM blobs b WHERE b.digest = m.digest)",
     "INSERT INTO tag_history(repo_id, tag, old_digest, new_digest, time_ms, who)"
     " SELECT t.repo_id, t.name, t.digest, NULL, ?1, 'fsck' FROM tags t JOIN manifests m"
     " ON m.repo_id = t.repo_id AND m.digest = t.digest"
     " WHERE NOT EXISTS (SELECT 1 FROM blobs b WHERE b.digest = m.digest);"
     "DELETE FROM tags WHERE EXISTS (SELECT 1 FROM manifests m WHERE m.repo_id = tags.repo_id"
     " AND m.digest = tags.digest AND NOT EXISTS (SELECT 1 FROM blobs b WHERE b.digest = m.digest));"
     "DELETE FROM manifests WHERE NOT EXISTS (SELECT 1 FROM blobs b WHERE b.digest = manifests.digest);",
     "manifests"},
    {"SELECT 'manifest ' || digest || ' in repository id ' || repo_id || ': repository missing'"
     " FROM manifests m WHERE NOT EXISTS (SELECT 1 FROM repos r WHERE r.id = m.repo_id)",
     NULL, "manifests"},
    {"SELECT 'link of blob ' || rb.digest || ' in repository id ' || rb.repo_id || ': blob row missing'"
     " FROM repo_blobs rb WHERE NOT EXISTS (SELECT 1 FROM blobs b WHERE b.digest = rb.digest)",
     "DELETE FROM repo_blobs WHERE NOT EXISTS (SELECT 1 FROM blobs b WHERE b.digest = repo_blobs.digest)",
     "blob links"},
    {"SELECT 'tag \"' || t.name || '\" in repository id ' || t.repo_id || ': manifest ' || t.digest ||"
     " ' missing' FROM tags t WHERE NOT EXISTS (SELECT 1 FROM manifests m WHERE m.repo_id = t.repo_id"
     " AND m.digest = t.digest)",
     "INSERT INTO tag_history(repo_id, tag, old_digest, new_digest, time_ms, who)"
     " SELECT t.repo_id, t.name, t.digest, NULL, ?1, 'fsck' FROM tags t WHERE NOT EXISTS"
     " (SELECT 1 FROM manifests m WHERE m.repo_id = t.repo_id AND m.digest = t.digest);"
     "DELETE FROM tags WHERE NOT EXISTS (SELECT 1 FROM manifests m WHERE m.repo_id = tags.repo_id"
     " AND m.digest = tags.digest);",
     "tags"},
    {"SELECT 'reference ' || e.digest || ' -> ' || e.child_digest || ': manifest missing'"
     " FROM manifest_refs e WHERE NOT EXISTS (SELECT 1 FROM manifests m WHERE m.repo_id = e.repo_id"
     " AND m.digest = e.digest)",
     "DELETE FROM manifest_refs WHERE NOT EXISTS (SELECT 1 FROM manifests m"
     " WHERE m.repo_id = manifest_refs.repo_id AND m.digest = manifest_refs.digest)",
     "manifest references"},
    {"SELECT 'manifest ' || e.digest || ' in \"' || r.name || '\": references blob ' || e.child_digest ||"
     " ' that the repository lacks (push it again)' FROM manifest_refs e JOIN repos r ON r.id = e.repo_id"
     " WHERE e.kind IN (1, 2) AND NOT EXISTS (SELECT 1 FROM repo_blobs rb WHERE rb.repo_id = e.repo_id"
     " AND rb.digest = e.child_digest)",
     NULL, "manifest references"},
    {"SELECT 'upload ' || u.id || ': repository missing' FROM uploads u"
     " WHERE NOT EXISTS (SELECT 1 FROM repos r WHERE r.id = u.repo_id)",
     "DELETE FROM uploads WHERE NOT EXISTS (SELECT 1 FROM repos r WHERE r.id = uploads.repo_id)", "uploads"},
};

struct fix_args {
  const char *sql;
  int64_t now_ms;
};

/* Runs every statement of a->sql (binding ?1 to the time when used). */
static enum wh_code fix_txn(struct store_conn *c, void *ctx, struct wh_err *err)
{
  const struct fix_args *a = ctx;
  const char *sql = a->sql;

  while (sql && *sql) {
    STORE_AUTOFINALIZE sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(c->db, sql, -1, &st, &sql);
    if (rc != SQLITE_OK)
      return store_db_error(c, rc, "fsck repair", err);
    if (st == NULL)
      break;
    if (sqlite3_bind_parameter_count(st) > 0)
      store_bind_int(st, 1, a->now_ms);
    if ((rc = sqlite3_step(st)) != SQLITE_DONE)
      return store_db_error(c, rc, "fsck repair", err);
  }
  return WH_OK;
}

static enum wh_code run_dangling(struct fsck *f, const struct dangling *chk, struct wh_err *err)
{
  STORE_AUTOFINALIZE sqlite3_stmt *st = NULL;
  bool repair = f->repair && chk->fix != NULL;
  struct fix_args a = {.sql = chk->fix, .now_ms = store_now_ms()};
  uint64_t found = 0;
  enum wh_code rc = prep(f, chk->select, &st, err);
  int r;

  if (rc != WH_OK)
    return rc;
  while ((r = sqlite3_step(st)) == SQLITE_ROW) {
    found++;
    problem(f, false, "%s%s", (const char *)sqlite3_column_text(st, 0), repair ? "; repaired" : "");
  }
  if (r != SQLITE_DONE)
    return store_db_error(f->c, r, chk->what, err);
  sqlite3_finalize(wh_steal_ptr(&st));
  if (!repair || found == 0)
    return WH_OK;
  if ((rc = store_txn(f->s, 0, fix_txn, &a, err)) != WH_OK)
    return wh_err_wrap(err, "fsck: repair %s", chk->what);
  f->rep.repaired += found;
  return WH_OK;
}

static bool drop_upload_row(struct store *s, const char *id)
{
  STORE_AUTOCONN struct store_conn *c = NULL;
  STORE_AUTORESET sqlite3_stmt *st = NULL;

  if (store_conn_get(s, &c, NULL) != WH_OK || (st = store_stmt(c, Q_UPLOAD_DELETE, NULL)) == NULL)
    return false;
  store_bind_text(st, 1, id);
  return store_exec_stmt(c, st, "fsck", NULL) == WH_OK;
}

/* Sessions whose file is gone (a crash after finish's rename). */
static enum wh_code pass_upload_rows(struct fsck *f, struct wh_err *err)
{
  STORE_AUTOFINALIZE sqlite3_stmt *st = NULL;
  enum wh_code rc = prep(f, "SELECT id FROM uploads ORDER BY id", &st, err);
  struct stat sb;
  int r;

  if (rc != WH_OK)
    return rc;
  while ((r = sqlite3_step(st)) == SQLITE_ROW) {
    const char *id = (const char *)sqlite3_column_text(st, 0);
    if (id == NULL || strchr(id, '/') != NULL || id[0] == '.' || id[0] == '\0')
      continue;
    if (fstatat(f->s->uploadsfd, id, &sb, AT_SYMLINK_NOFOLLOW) == 0 || errno != ENOENT ||
        store_upload_in_use(f->s, id))
      continue;
    problem(f, f->repair && drop_upload_row(f->s, id), "upload %s: file missing", id);
  }
  return r == SQLITE_DONE ? WH_OK : store_db_error(f->c, r, "fsck uploads", err);
}

/* ---- pass 4: files under blobs/ ---------------------------------------- */

static bool is_hex(const char *s, size_t n)
{
  for (size_t i = 0; i < n; i++)
    if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
      return false;
  return s[n] == '\0';
}

static bool has_row(struct fsck *f, const struct wh_digest *d)
{
  STORE_AUTORESET sqlite3_stmt *st = store_stmt(f->c, Q_BLOB_SIZE, NULL);

  if (st == NULL)
    return true; /* when in doubt, keep the file */
  store_bind_text(st, 1, d->str);
  return store_step_row(f->c, st, "fsck", NULL) != WH_ENOTFOUND;
}

struct record_args {
  const struct wh_digest *d;
  uint64_t size;
};

static enum wh_code record_txn(struct store_conn *c, void *ctx, struct wh_err *err)
{
  const struct record_args *a = ctx;

  return store_blob_record(c, 0, a->d, a->size, err);
}

/* A blob file without a row: register it when it hashes right, else delete. */
static enum wh_code orphan_blob(struct fsck *f, int subfd, const char *path, const struct wh_digest *d,
                                struct wh_err *err)
{
  WH_AUTOCLOSE int fd = openat(subfd, wh_digest_hex(d), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  struct wh_digest got;
  struct record_args a = {.d = d};
  struct stat st;
  bool fixed = false;
  enum wh_code rc;

  if (fd < 0 || fstat(fd, &st) != 0)
    return WH_OK; /* gone meanwhile */
  if ((rc = wh_digest_fd(d->alg, fd, &got, &a.size, err)) != WH_OK)
    return rc;
  if (!wh_digest_eq(&got, d)) {
    /* not by name: a writer may rename a complete copy over it meanwhile */
    if (f->repair && (rc = store_blob_remove_corrupt(f->s, d, &st, &fixed, err)) != WH_OK)
      return rc;
    problem(f, fixed, "file %s: no index row, content hashes to %s", path, got.str);
    return WH_OK;
  }
  if (f->repair && (rc = store_txn(f->s, 0, record_txn, &a, err)) == WH_ECONFLICT)
    return WH_OK; /* a garbage collection removed it meanwhile */
  if (rc != WH_OK)
    return rc;
  problem(f, f->repair, "blob file %s: no index row%s", path, f->repair ? " (registered again)" : "");
  return WH_OK;
}

static void stray_entry(struct fsck *f, int dirfd, const char *name, const char *path)
{
  struct stat st;
  bool fixed = false;

  if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
    return;
  if (f->repair && !S_ISDIR(st.st_mode))
    fixed = unlinkat(dirfd, name, 0) == 0;
  problem(f, fixed, "stray %s %s", S_ISDIR(st.st_mode) ? "directory" : "file", path);
}

static enum wh_code scan_fanout(struct fsck *f, int algfd, enum wh_digest_alg alg, const char *sub,
                                struct wh_err *err)
{
  WH_AUTOCLOSEDIR DIR *dir = wh_opendir_at(algfd, sub);
  size_t hexlen = wh_digest_alg_hexlen(alg);
  char path[320], name[160];
  struct dirent *de;
  enum wh_code rc;

  if (dir == NULL)
    return wh_err_set(err, WH_EIO, errno, "fsck: read blobs/%s/%s", wh_digest_alg_name(alg), sub);
  while ((de = readdir(dir)) != NULL) {
    struct wh_digest d;
    if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
      continue;
    snprintf(path, sizeof(path), "blobs/%s/%.2s/%.140s", wh_digest_alg_name(alg), sub, de->d_name);
    snprintf(name, sizeof(name), "%s:%.140s", wh_digest_alg_name(alg), de->d_name);
    if (!is_hex(de->d_name, hexlen) || strncmp(de->d_name, sub, 2) != 0 || de->d_type == DT_DIR ||
        wh_digest_parsez(name, &d, NULL) != WH_OK) {
      stray_entry(f, dirfd(dir), de->d_name, path);
      continue;
    }
    if (!has_row(f, &d) && (rc = orphan_blob(f, dirfd(dir), path, &d, err)) != WH_OK)
      return rc;
  }
  return WH_OK;
}

static enum wh_code scan_alg(struct fsck *f, enum wh_digest_alg alg, struct wh_err *err)
{
  int algfd = f->s->algfd[alg];
  WH_AUTOCLOSEDIR DIR *dir = wh_opendir_at(algfd, ".");
  char path[64];
  struct dirent *de;
  enum wh_code rc;

  if (dir == NULL)
    return wh_err_set(err, WH_EIO, errno, "fsck: read blobs/%s", wh_digest_alg_name(alg));
  while ((de = readdir(dir)) != NULL) {
    struct stat st;
    if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
      continue;
    snprintf(path, sizeof(path), "blobs/%s/%.32s", wh_digest_alg_name(alg), de->d_name);
    if (!is_hex(de->d_name, 2) || fstatat(algfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
        !S_ISDIR(st.st_mode)) {
      stray_entry(f, algfd, de->d_name, path);
      continue;
    }
    if ((rc = scan_fanout(f, algfd, alg, de->d_name, err)) != WH_OK)
      return rc;
  }
  return WH_OK;
}

/* ---- pass 5 and 6 ------------------------------------------------------ */

static void on_stray_upload(void *ctx, const char *name, bool removed)
{
  problem(ctx, removed, "stray file uploads/%.64s", name);
}

static enum wh_code pass_quick_check(struct fsck *f, struct wh_err *err)
{
  STORE_AUTOFINALIZE sqlite3_stmt *st = NULL;
  enum wh_code rc = prep(f, "PRAGMA quick_check", &st, err);
  int r;

  if (rc != WH_OK)
    return rc;
  while ((r = sqlite3_step(st)) == SQLITE_ROW) {
    const char *line = (const char *)sqlite3_column_text(st, 0);
    if (line && strcmp(line, "ok") != 0)
      problem(f, false, "index: %s", line);
  }
  return r == SQLITE_DONE ? WH_OK : store_db_error(f->c, r, "fsck quick_check", err);
}

static enum wh_code count_manifests(struct fsck *f, struct wh_err *err)
{
  STORE_AUTOFINALIZE sqlite3_stmt *st = NULL;
  enum wh_code rc = prep(f, "SELECT count(*) FROM manifests", &st, err);

  if (rc != WH_OK)
    return rc;
  if ((rc = store_step_row(f->c, st, "fsck count", err)) != WH_OK)
    return rc == WH_ENOTFOUND ? WH_EINTERNAL : rc;
  f->rep.manifests = (uint64_t)sqlite3_column_int64(st, 0);
  return WH_OK;
}

static enum wh_code run_passes(struct fsck *f, struct wh_err *err)
{
  enum wh_code rc;

  if ((rc = pass_blob_rows(f, err)) != WH_OK || (rc = count_manifests(f, err)) != WH_OK)
    return rc;
  for (size_t i = 0; i < WH_ARRAY_LEN(dangling_checks); i++)
    if ((rc = run_dangling(f, &dangling_checks[i], err)) != WH_OK)
      return rc;
  if ((rc = pass_upload_rows(f, err)) != WH_OK || (rc = scan_alg(f, WH_DIGEST_SHA256, err)) != WH_OK ||
      (rc = scan_alg(f, WH_DIGEST_SHA512, err)) != WH_OK)
    return rc;
  if ((rc = store_uploads_strays(f->s, INT64_MAX, f->repair, on_stray_upload, f, err)) != WH_OK)
    return rc;
  return pass_quick_check(f, err);
}

enum wh_code store_fsck(struct store *s, unsigned flags, store_fsck_cb cb, void *ctx,
                        struct store_fsck_report *report, struct wh_err *err)
{
  struct fsck f = {.s = s, .repair = flags & STORE_FSCK_REPAIR, .cb = cb, .ctx = ctx};
  enum wh_code rc;

  if (f.repair && (s->flags & STORE_READONLY))
    return wh_err_set(err, WH_EINVALID, 0, "fsck: cannot repair a store opened read-only");
  if ((rc = store_conn_get(s, &f.c, err)) != WH_OK)
    return rc;
  rc = run_passes(&f, err);
  store_conn_put(f.c);
  if (report)
    *report = f.rep;
  return rc;
}
