/* storage/usage.c - storage accounting: bytes per repository, shared bytes,
 * totals (store_usage, wharfd du, GET /v2/_wharf/usage) and the sums over
 * a repository pattern that quotas compare against (store_usage_glob).
 *
 * What a repository "uses": the distinct blobs it may read (repo_blobs)
 * plus the bytes of its manifests, each blob counted once per repository.
 * A blob used by more than one repository is "shared": it appears in the
 * bytes of each, and once in the total. Everything is read in one read
 * transaction, so the numbers agree with each other.
 */
#include "config.h"

#include <string.h>

#include "common/cleanup.h"
#include "storage/store-int.h"

static const char repos_sql[] =
    "WITH rb AS (SELECT repo_id, digest FROM repo_blobs UNION SELECT repo_id, digest FROM manifests),"
    " users AS (SELECT digest, count(*) AS n FROM rb GROUP BY digest)"
    " SELECT r.name, coalesce(sum(b.size), 0),"
    "  coalesce(sum(CASE WHEN u.n > 1 THEN b.size ELSE 0 END), 0), count(b.digest),"
    "  (SELECT count(*) FROM manifests m WHERE m.repo_id = r.id),"
    "  (SELECT count(*) FROM tags t WHERE t.repo_id = r.id)"
    " FROM repos r LEFT JOIN rb ON rb.repo_id = r.id LEFT JOIN blobs b ON b.digest = rb.digest"
    " LEFT JOIN users u ON u.digest = rb.digest GROUP BY r.id ORDER BY r.name";

static const char totals_sql[] =
    "WITH rb AS (SELECT repo_id, digest FROM repo_blobs UNION SELECT repo_id, digest FROM manifests),"
    " users AS (SELECT digest, count(*) AS n FROM rb GROUP BY digest HAVING count(*) > 1)"
    " SELECT (SELECT coalesce(sum(size), 0) FROM blobs), (SELECT count(*) FROM blobs),"
    "  (SELECT coalesce(sum(b.size), 0) FROM blobs b JOIN users u ON u.digest = b.digest),"
    "  (SELECT count(*) FROM repos)";

static const char glob_sql[] = "WITH rs AS (SELECT id FROM repos WHERE name GLOB ?1),"
                               " d AS (SELECT digest FROM repo_blobs WHERE repo_id IN rs"
                               "  UNION SELECT digest FROM manifests WHERE repo_id IN rs)"
                               " SELECT (SELECT coalesce(sum(size), 0) FROM blobs WHERE digest IN d),"
                               "  (SELECT count(*) FROM tags WHERE repo_id IN rs)";

static enum wh_code prep(struct store_conn *c, const char *sql, sqlite3_stmt **st, struct wh_err *err)
{
  int r = sqlite3_prepare_v2(c->db, sql, -1, st, NULL);

  return r == SQLITE_OK ? WH_OK : store_db_error(c, r, "storage usage", err);
}

static uint64_t col_u64(sqlite3_stmt *st, int i)
{
  sqlite3_int64 v = sqlite3_column_int64(st, i);

  return v > 0 ? (uint64_t)v : 0;
}

static enum wh_code each_repo(struct store_conn *c, store_usage_cb cb, void *ctx, struct wh_err *err)
{
  STORE_AUTOFINALIZE sqlite3_stmt *st = NULL;
  enum wh_code rc = prep(c, repos_sql, &st, err);
  int r;

  if (rc != WH_OK)
    return rc;
  while ((r = sqlite3_step(st)) == SQLITE_ROW) {
    const char *name = (const char *)sqlite3_column_text(st, 0);
    struct store_repo_usage u = {.name = name ? name : "",
                                 .bytes = col_u64(st, 1),
                                 .shared_bytes = col_u64(st, 2),
                                 .blobs = col_u64(st, 3),
                                 .manifests = col_u64(st, 4),
                                 .tags = col_u64(st, 5)};
    if (cb && cb(ctx, &u) != 0)
      return WH_OK;
  }
  return r == SQLITE_DONE ? WH_OK : store_db_error(c, r, "storage usage", err);
}

static enum wh_code totals(struct store_conn *c, struct store_usage_total *out, struct wh_err *err)
{
  STORE_AUTOFINALIZE sqlite3_stmt *st = NULL;
  enum wh_code rc = prep(c, totals_sql, &st, err);

  if (rc != WH_OK)
    return rc;
  if ((rc = store_step_row(c, st, "storage usage", err)) != WH_OK)
    return rc == WH_ENOTFOUND ? wh_err_set(err, WH_EINTERNAL, 0, "storage usage: no totals") : rc;
  out->bytes = col_u64(st, 0);
  out->blobs = col_u64(st, 1);
  out->shared_bytes = col_u64(st, 2);
  out->repos = col_u64(st, 3);
  return WH_OK;
}

enum wh_code store_usage(struct store *s, store_usage_cb cb, void *ctx, struct store_usage_total *out,
                         struct wh_err *err)
{
  STORE_AUTOCONN struct store_conn *c = NULL;
  struct store_usage_total t = {0};
  enum wh_code rc = store_conn_get(s, &c, err);

  if (rc != WH_OK)
    return rc;
  if (sqlite3_exec(c->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
    return store_db_error(c, SQLITE_ERROR, "storage usage", err);
  rc = each_repo(c, cb, ctx, err);
  if (rc == WH_OK)
    rc = totals(c, &t, err);
  sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL); /* read only: nothing to lose */
  if (rc == WH_OK && out)
    *out = t;
  return rc;
}

enum wh_code store_usage_glob(struct store *s, const char *glob, uint64_t *bytes_out, uint64_t *tags_out,
                              struct wh_err *err)
{
  STORE_AUTOCONN struct store_conn *c = NULL;
  STORE_AUTOFINALIZE sqlite3_stmt *st = NULL;
  enum wh_code rc;

  if (glob == NULL)
    return wh_err_set(err, WH_EINVALID, 0, "storage usage: no pattern");
  if ((rc = store_conn_get(s, &c, err)) != WH_OK || (rc = prep(c, glob_sql, &st, err)) != WH_OK)
    return rc;
  store_bind_text(st, 1, glob);
  if ((rc = store_step_row(c, st, "storage usage", err)) != WH_OK)
    return rc == WH_ENOTFOUND ? wh_err_set(err, WH_EINTERNAL, 0, "storage usage: no row") : rc;
  if (bytes_out)
    *bytes_out = col_u64(st, 0);
  if (tags_out)
    *tags_out = col_u64(st, 1);
  return WH_OK;
}
