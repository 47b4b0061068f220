/* storage/robots.c - CI robot tokens: rows of the robots table.
 *
 * A robot is a name, the sha256 of its secret, a repository pattern and a
 * list of actions, with an expiry and a revoked flag (see store.h for the
 * state machine). The secret itself is never stored: the caller hashes it.
 *
 * Invariants: one row per name; a row is replaced only when it is revoked
 * or expired (store_robot_create), inside one write transaction; revoking
 * keeps the row so that `wharfd token list` still shows it.
 */
#include "config.h"

#include <string.h>

#include "storage/store-int.h"

static enum wh_code prepare(struct store_conn *c, const char *sql, sqlite3_stmt **out, struct wh_err *err)
{
  int rc = sqlite3_prepare_v2(c->db, sql, -1, out, NULL);

  if (rc != SQLITE_OK)
    return store_db_error(c, rc, "prepare robot query", err);
  return WH_OK;
}

static enum wh_code check_robot(const struct store_robot *r, struct wh_err *err)
{
  if (!r->name || !*r->name || strlen(r->name) > STORE_ROBOT_NAME_MAX)
    return wh_err_set(err, WH_EINVALID, 0, "robot name: 1 to %d characters", STORE_ROBOT_NAME_MAX);
  if (!r->secret_sha256 || strlen(r->secret_sha256) != 64 || !r->pattern || !r->actions)
    return wh_err_set(err, WH_EINVALID, 0, "robot \"%s\": bad arguments", r->name);
  return WH_OK;
}

static enum wh_code create_txn(struct store_conn *c, void *ctx, struct wh_err *err)
{
  const struct store_robot *r = ctx;
  STORE_AUTOFINALIZE sqlite3_stmt *q = NULL;
  STORE_AUTOFINALIZE sqlite3_stmt *ins = NULL;
  enum wh_code rc;

  if ((rc = prepare(c,
                    "SELECT 1 FROM robots WHERE name = ?1 AND revoked = 0"
                    " AND (expires = 0 OR expires > ?2)",
                    &q, err)) != WH_OK)
    return rc;
  store_bind_text(q, 1, r->name);
  store_bind_int(q, 2, store_now_s());
  rc = store_step_row(c, q, "look up robot", err);
  if (rc == WH_OK)
    return wh_err_set(err, WH_ECONFLICT, 0, "robot \"%s\" exists (revoke it first)", r->name);
  if (rc != WH_ENOTFOUND)
    return rc;
  if ((rc = prepare(c,
                    "INSERT OR REPLACE INTO robots(name, secret_sha256, pattern, actions, created, expires,"
                    " revoked) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0)",
                    &ins, err)) != WH_OK)
    return rc;
  store_bind_text(ins, 1, r->name);
  store_bind_text(ins, 2, r->secret_sha256);
  store_bind_text(ins, 3, r->pattern);
  store_bind_text(ins, 4, r->actions);
  store_bind_int(ins, 5, r->created ? r->created : store_now_s());
  store_bind_int(ins, 6, r->expires);
  return store_exec_stmt(c, ins, "store robot", err);
}

enum wh_code store_robot_create(struct store *s, const struct store_robot *r, struct wh_err *err)
{
  enum wh_code rc = check_robot(r, err);

  if (rc != WH_OK)
    return rc;
  return store_txn(s, 0, create_txn, (void *)r, err);
}

static const char *col_text(sqlite3_stmt *st, int i)
{
  const char *t = (const char *)sqlite3_column_text(st, i);

  return t ? t : "";
}

/* Feeds every row of st (name, sha, pattern, actions, created, expires,
 * revoked) to cb. *n_out counts the rows. */
static enum wh_code feed(struct store_conn *c, sqlite3_stmt *st, store_robot_cb cb, void *ctx, size_t *n_out,
                         struct wh_err *err)
{
  struct store_robot r;
  int rc;

  *n_out = 0;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    r.name = col_text(st, 0);
    r.secret_sha256 = col_text(st, 1);
    r.pattern = col_text(st, 2);
    r.actions = col_text(st, 3);
    r.created = sqlite3_column_int64(st, 4);
    r.expires = sqlite3_column_int64(st, 5);
    r.revoked = sqlite3_column_int(st, 6) != 0;
    (*n_out)++;
    if (cb(ctx, &r) != 0)
      return WH_OK;
  }
  if (rc != SQLITE_DONE)
    return store_db_error(c, rc, "read robots", err);
  return WH_OK;
}

#define ROBOT_COLUMNS "SELECT name, secret_sha256, pattern, actions, created, expires, revoked FROM robots"

enum wh_code store_robot_get(struct store *s, const char *name, store_robot_cb cb, void *ctx,
                             struct wh_err *err)
{
  STORE_AUTOCONN struct store_conn *c = NULL;
  STORE_AUTOFINALIZE sqlite3_stmt *st = NULL;
  enum wh_code rc;
  size_t n;

  if (!name || !cb)
    return wh_err_set(err, WH_EINVALID, 0, "robot: bad arguments");
  if ((rc = store_conn_get(s, &c, err)) != WH_OK ||
      (rc = prepare(c, ROBOT_COLUMNS " WHERE name = ?1", &st, err)))
    return rc;
  store_bind_text(st, 1, name);
  if ((rc = feed(c, st, cb, ctx, &n, err)) != WH_OK)
    return rc;
  if (n == 0)
    return wh_err_set(err, WH_ENOTFOUND, 0, "robot \"%s\" not known", name);
  return WH_OK;
}

enum wh_code store_robot_list(struct store *s, store_robot_cb cb, void *ctx, struct wh_err *err)
{
  STORE_AUTOCONN struct store_conn *c = NULL;
  STORE_AUTOFINALIZE sqlite3_stmt *st = NULL;
  enum wh_code rc;
  size_t n;

  if (!cb)
    return wh_err_set(err, WH_EINVALID, 0, "robot list: bad arguments");
  if ((rc = store_conn_get(s, &c, err)) != WH_OK ||
      (rc = prepare(c, ROBOT_COLUMNS " ORDER BY name", &st, err)))
    return rc;
  return feed(c, st, cb, ctx, &n, err);
}

static enum wh_code revoke_txn(struct store_conn *c, void *ctx, struct wh_err *err)
{
  const char *name = ctx;
  STORE_AUTOFINALIZE sqlite3_stmt *st = NULL;
  enum wh_code rc;

  if ((rc = prepare(c, "UPDATE robots SET revoked = 1 WHERE name = ?1 AND revoked = 0", &st, err)) != WH_OK)
    return rc;
  store_bind_text(st, 1, name);
  if ((rc = store_exec_stmt(c, st, "revoke robot", err)) != WH_OK)
    return rc;
  if (sqlite3_changes(c->db) == 0)
    return wh_err_set(err, WH_ENOTFOUND, 0, "robot \"%s\" not known or already revoked", name);
  return WH_OK;
}

enum wh_code store_robot_revoke(struct store *s, const char *name, struct wh_err *err)
{
  if (!name || !*name)
    return wh_err_set(err, WH_EINVALID, 0, "robot revoke: bad arguments");
  return store_txn(s, 0, revoke_txn, (void *)name, err);
}
