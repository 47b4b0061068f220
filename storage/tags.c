/* storage/tags.c - tags, their history, and the tag and repository lists.
 *
 *   tag state          transition (function)                history row
 *   (none) -> D        store_tag_set / manifest put         old NULL, new D
 *   D -> E  (E != D)   store_tag_set / manifest put         old D,    new E
 *   D -> D             store_tag_set / manifest put         none (no move)
 *   D -> (none)        store_tag_delete / manifest delete   old D,    new NULL
 *
 * Invariants: every change of a tags row, its tag_history row and its
 * outbox event (tag move, tag delete; outbox.c) commit in the same
 * transaction; history ids only grow (AUTOINCREMENT), so "newest
 * first" is "highest id first". Lists are in byte order (BINARY collation).
 */
#include "config.h"

#include <string.h>

#include "common/ref.h"
#include "storage/store-int.h"

/* ---- moves ------------------------------------------------------------- */

enum wh_code store_tag_current(struct store_conn *c, int64_t repo_id, const char *tag,
                               char cur[WH_DIGEST_STR_MAX], struct wh_err *err)
{
  STORE_AUTORESET sqlite3_stmt *st = store_stmt(c, Q_TAG_GET, err);
  const char *t;
  enum wh_code rc;

  cur[0] = '\0';
  if (st == NULL)
    return WH_EDATABASE;
  store_bind_int(st, 1, repo_id);
  store_bind_text(st, 2, tag);
  rc = store_step_row(c, st, "look up tag", err);
  if (rc == WH_ENOTFOUND)
    return WH_OK;
  if (rc == WH_OK && (t = (const char *)sqlite3_column_text(st, 0)) != NULL)
    snprintf(cur, WH_DIGEST_STR_MAX, "%s", t);
  return rc;
}

static enum wh_code add_history(struct store_conn *c, int64_t repo_id, const char *tag,
                                const char *old_digest, const char *new_digest, const char *who,
                                struct wh_err *err)
{
  STORE_AUTORESET sqlite3_stmt *st = store_stmt(c, Q_HISTORY_INSERT, err);

  if (st == NULL)
    return WH_EDATABASE;
  store_bind_int(st, 1, repo_id);
  store_bind_text(st, 2, tag);
  store_bind_text(st, 3, old_digest);
  store_bind_text(st, 4, new_digest);
  store_bind_int(st, 5, store_now_ms());
  store_bind_text(st, 6, who);
  return store_exec_stmt(c, st, "record tag history", err);
}

enum wh_code store_tag_move(struct store_conn *c, int64_t repo_id, const char *tag, const struct wh_digest *d,
                            const char *who, struct wh_err *err)
{
  STORE_AUTORESET sqlite3_stmt *st = NULL;
  char cur[WH_DIGEST_STR_MAX];
  struct store_event_add ev = {
      .kind = STORE_EV_TAG, .target = "tag", .tag = tag, .digest = d->str, .who = who};
  enum wh_code rc = store_tag_current(c, repo_id, tag, cur, err);

  if (rc != WH_OK || strcmp(cur, d->str) == 0)
    return rc;
  ev.old_digest = cur[0] ? cur : NULL;
  if ((st = store_stmt(c, Q_TAG_UPSERT, err)) == NULL)
    return WH_EDATABASE;
  store_bind_int(st, 1, repo_id);
  store_bind_text(st, 2, tag);
  store_bind_text(st, 3, d->str);
  store_bind_int(st, 4, store_now_s());
  if ((rc = store_exec_stmt(c, st, "move tag", err)) != WH_OK ||
      (rc = store_outbox_add(c, repo_id, &ev, err)) != WH_OK)
    return rc;
  return add_history(c, repo_id, tag, cur[0] ? cur : NULL, d->str, who, err);
}

struct tag_args {
  const char *repo, *tag, *who;
  const struct wh_digest *d; /* NULL: delete */
};

static enum wh_code set_txn(struct store_conn *c, void *ctx, struct wh_err *err)
{
  const struct tag_args *a = ctx;
  STORE_AUTORESET sqlite3_stmt *st = NULL;
  int64_t repo_id;
  enum wh_code rc = store_repo_id(c, a->repo, false, &repo_id, err);

  if (rc != WH_OK)
    return rc;
  if ((st = store_stmt(c, Q_MANIFEST_EXISTS, err)) == NULL)
    return WH_EDATABASE;
  store_bind_int(st, 1, repo_id);
  store_bind_text(st, 2, a->d->str);
  rc = store_step_row(c, st, "look up manifest", err);
  if (rc == WH_ENOTFOUND)
    return wh_err_set(err, WH_ENOTFOUND, 0, "manifest %s: not found in \"%s\"", a->d->str, a->repo);
  if (rc != WH_OK)
    return rc;
  sqlite3_reset(st);
  return store_tag_move(c, repo_id, a->tag, a->d, a->who, err);
}

enum wh_code store_tag_set(struct store *s, const char *repo, const char *tag, const struct wh_digest *d,
                           const char *who, struct wh_err *err)
{
  struct tag_args a = {.repo = repo, .tag = tag, .who = who, .d = d};

  if (repo == NULL || d == NULL || tag == NULL)
    return wh_err_set(err, WH_EINVALID, 0, "set tag: bad arguments");
  if (!wh_tag_valid(tag, strlen(tag)))
    return wh_err_set(err, WH_EINVALID, 0, "set tag: invalid tag");
  return store_txn(s, 0, set_txn, &a, err);
}

static enum wh_code delete_txn(struct store_conn *c, void *ctx, struct wh_err *err)
{
  const struct tag_args *a = ctx;
  STORE_AUTORESET sqlite3_stmt *st = NULL;
  char cur[WH_DIGEST_STR_MAX];
  struct store_event_add ev = {.kind = STORE_EV_DELETE, .target = "tag", .tag = a->tag, .who = a->who};
  int64_t repo_id;
  enum wh_code rc = store_repo_id(c, a->repo, false, &repo_id, err);

  if (rc != WH_OK || (rc = store_tag_current(c, repo_id, a->tag, cur, err)) != WH_OK)
    return rc;
  if (cur[0] == '\0')
    return wh_err_set(err, WH_ENOTFOUND, 0, "tag \"%s\": not found in \"%s\"", a->tag, a->repo);
  ev.digest = cur;
  if ((rc = store_outbox_add(c, repo_id, &ev, err)) != WH_OK)
    return rc;
  if ((st = store_stmt(c, Q_TAG_DELETE, err)) == NULL)
    return WH_EDATABASE;
  store_bind_int(st, 1, repo_id);
  store_bind_text(st, 2, a->tag);
  if ((rc = store_exec_stmt(c, st, "delete tag", err)) != WH_OK)
    return rc;
  return add_history(c, repo_id, a->tag, cur, NULL, a->who, err);
}

enum wh_code store_tag_delete(struct store *s, const char *repo, const char *tag, const char *who,
                              struct wh_err *err)
{
  struct tag_args a = {.repo = repo, .tag = tag, .who = who};

  if (repo == NULL || tag == NULL)
    return wh_err_set(err, WH_EINVALID, 0, "delete tag: bad arguments");
  return store_txn(s, 0, delete_txn, &a, err);
}

/* ---- lists ------------------------------------------------------------- */

/* SQLite LIMIT for "at most n, plus one to know whether more follow". */
static int64_t limit_of(size_t n)
{
  return n == 0 || n >= (size_t)INT64_MAX - 1 ? -1 : (int64_t)n + 1;
}

/* Feeds column 0 of each row to cb, at most n (0: all). */
static enum wh_code feed_names(struct store_conn *c, sqlite3_stmt *st, size_t n, store_name_cb cb, void *ctx,
                               bool *more_out, const char *what, struct wh_err *err)
{
  size_t seen = 0;
  bool more = false;
  int step;

  while ((step = sqlite3_step(st)) == SQLITE_ROW) {
    if (n != 0 && seen == n) {
      more = true;
      break;
    }
    seen++;
    if (cb(ctx, (const char *)sqlite3_column_text(st, 0)) != 0) {
      step = sqlite3_step(st); /* stopped early: do more follow? */
      more = step == SQLITE_ROW;
      break;
    }
  }
  if (step != SQLITE_ROW && step != SQLITE_DONE)
    return store_db_error(c, step, what, err);
  if (more_out)
    *more_out = more;
  return WH_OK;
}

enum wh_code store_tag_list(struct store *s, const char *repo, const char *last, size_t n, store_name_cb cb,
                            void *ctx, bool *more_out, struct wh_err *err)
{
  STORE_AUTOCONN struct store_conn *c = NULL;
  STORE_AUTORESET sqlite3_stmt *st = NULL;
  int64_t repo_id;
  enum wh_code rc;

  if (repo == NULL || cb == NULL)
    return wh_err_set(err, WH_EINVALID, 0, "list tags: bad arguments");
  if ((rc = store_conn_get(s, &c, err)) != WH_OK ||
      (rc = store_repo_id(c, repo, false, &repo_id, err)) != WH_OK)
    return rc;
  if ((st = store_stmt(c, Q_TAG_LIST, err)) == NULL)
    return WH_EDATABASE;
  store_bind_int(st, 1, repo_id);
  store_bind_text(st, 2, last ? last : "");
  store_bind_int(st, 3, limit_of(n));
  return feed_names(c, st, n, cb, ctx, more_out, "list tags", err);
}

enum wh_code store_repo_list(struct store *s, const char *last, size_t n, store_name_cb cb, void *ctx,
                             bool *more_out, struct wh_err *err)
{
  STORE_AUTOCONN struct store_conn *c = NULL;
  STORE_AUTORESET sqlite3_stmt *st = NULL;
  enum wh_code rc;

  if (cb == NULL)
    return wh_err_set(err, WH_EINVALID, 0, "list repositories: bad arguments");
  if ((rc = store_conn_get(s, &c, err)) != WH_OK)
    return rc;
  if ((st = store_stmt(c, Q_REPO_LIST, err)) == NULL)
    return WH_EDATABASE;
  store_bind_text(st, 1, last ? last : "");
  store_bind_int(st, 2, limit_of(n));
  return feed_names(c, st, n, cb, ctx, more_out, "list repositories", err);
}

/* ---- history ----------------------------------------------------------- */

static enum wh_code history_row(sqlite3_stmt *st, struct store_tag_move *m, struct wh_err *err)
{
  enum wh_code rc;

  m->id = sqlite3_column_int64(st, 0);
  m->has_old = sqlite3_column_type(st, 1) != SQLITE_NULL;
  m->has_new = sqlite3_column_type(st, 2) != SQLITE_NULL;
  if (m->has_old && (rc = store_column_digest(st, 1, &m->old_digest, err)) != WH_OK)
    return rc;
  if (m->has_new && (rc = store_column_digest(st, 2, &m->new_digest, err)) != WH_OK)
    return rc;
  m->time_ms = sqlite3_column_int64(st, 3);
  m->who = (const char *)sqlite3_column_text(st, 4);
  return WH_OK;
}

enum wh_code store_tag_history(struct store *s, const char *repo, const char *tag, int64_t before_id,
                               size_t n, store_tag_move_cb cb, void *ctx, struct wh_err *err)
{
  STORE_AUTOCONN struct store_conn *c = NULL;
  STORE_AUTORESET sqlite3_stmt *st = NULL;
  struct store_tag_move m = {.repo = repo, .tag = tag};
  int64_t repo_id;
  int step;
  enum wh_code rc;

  if (repo == NULL || tag == NULL || cb == NULL)
    return wh_err_set(err, WH_EINVALID, 0, "tag history: bad arguments");
  if ((rc = store_conn_get(s, &c, err)) != WH_OK ||
      (rc = store_repo_id(c, repo, false, &repo_id, err)) != WH_OK)
    return rc;
  if ((st = store_stmt(c, Q_HISTORY_LIST, err)) == NULL)
    return WH_EDATABASE;
  store_bind_int(st, 1, repo_id);
  store_bind_text(st, 2, tag);
  store_bind_int(st, 3, before_id > 0 ? before_id : INT64_MAX);
  store_bind_int(st, 4, n == 0 || n > (size_t)INT64_MAX ? -1 : (int64_t)n);
  while ((step = sqlite3_step(st)) == SQLITE_ROW) {
    if ((rc = history_row(st, &m, err)) != WH_OK)
      return rc;
    if (cb(ctx, &m) != 0)
      return WH_OK;
  }
  return step == SQLITE_DONE ? WH_OK : store_db_error(c, step, "read tag history", err);
}
