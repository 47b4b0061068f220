/* storage/pushes.c - the client's record of what it pushed where.
 *
 * `wharf push` appends one client_pushes row per tag it sent to a
 * registry; `wharf rollback` reads them back, newest first, on registries
 * that keep no tag history of their own (docker-registry, zot, ...).
 *
 * Invariants: rows are only appended (ids grow, AUTOINCREMENT), so
 * "newest first" is "highest id first"; the statements are one-off
 * (prepared and finalized per call: a client makes a handful of them).
 */
#include "config.h"

#include <string.h>

#include "storage/store-int.h"

static enum wh_code record_txn(struct store_conn *c, void *ctx, struct wh_err *err)
{
  const struct store_push_rec *p = ctx;
  STORE_AUTOFINALIZE sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v2(c->db,
                              "INSERT INTO client_pushes(registry, repo, tag, digest, media_type, time_ms)"
                              " VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                              -1, &st, NULL);

  if (rc != SQLITE_OK)
    return store_db_error(c, rc, "record push", err);
  store_bind_text(st, 1, p->registry);
  store_bind_text(st, 2, p->repo);
  store_bind_text(st, 3, p->tag);
  store_bind_text(st, 4, p->digest.str);
  store_bind_text(st, 5, p->media_type ? p->media_type : "");
  store_bind_int(st, 6, store_now_ms());
  return store_exec_stmt(c, st, "record push", err);
}

enum wh_code store_push_record(struct store *s, const struct store_push_rec *p, struct wh_err *err)
{
  if (p == NULL || p->registry == NULL || p->repo == NULL || p->tag == NULL || p->digest.str[0] == '\0')
    return wh_err_set(err, WH_EINVALID, 0, "record push: bad arguments");
  return store_txn(s, 0, record_txn, (void *)p, err);
}

static enum wh_code push_row(sqlite3_stmt *st, struct store_push_rec *p, struct wh_err *err)
{
  p->id = sqlite3_column_int64(st, 0);
  p->media_type = (const char *)sqlite3_column_text(st, 2);
  p->time_ms = sqlite3_column_int64(st, 3);
  return store_column_digest(st, 1, &p->digest, err);
}

enum wh_code store_push_history(struct store *s, const char *registry, const char *repo, const char *tag,
                                size_t n, store_push_cb cb, void *ctx, struct wh_err *err)
{
  STORE_AUTOCONN struct store_conn *c = NULL;
  STORE_AUTOFINALIZE sqlite3_stmt *st = NULL;
  struct store_push_rec p = {.registry = registry, .repo = repo, .tag = tag};
  int step;
  enum wh_code rc;

  if (registry == NULL || repo == NULL || tag == NULL || cb == NULL)
    return wh_err_set(err, WH_EINVALID, 0, "push records: bad arguments");
  if ((rc = store_conn_get(s, &c, err)) != WH_OK)
    return rc;
  step = sqlite3_prepare_v2(c->db,
                            "SELECT id, digest, media_type, time_ms FROM client_pushes"
                            " WHERE registry = ?1 AND repo = ?2 AND tag = ?3 ORDER BY id DESC LIMIT ?4",
                            -1, &st, NULL);
  if (step != SQLITE_OK)
    return store_db_error(c, step, "read push records", err);
  store_bind_text(st, 1, registry);
  store_bind_text(st, 2, repo);
  store_bind_text(st, 3, tag);
  store_bind_int(st, 4, n == 0 || n > (size_t)INT64_MAX ? -1 : (int64_t)n);
  while ((step = sqlite3_step(st)) == SQLITE_ROW) {
    if ((rc = push_row(st, &p, err)) != WH_OK)
      return rc;
    if (cb(ctx, &p) != 0)
      return WH_OK;
  }
  return step == SQLITE_DONE ? WH_OK : store_db_error(c, step, "read push records", err);
}
