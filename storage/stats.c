/* storage/stats.c - figures about a store for monitoring, and a health probe.
 *
 * Invariants: read-only (one read statement each, on a pooled connection);
 * blob count and bytes live in the one-row table blob_totals, kept exact by
 * triggers on blobs (migration 4 -> 5 in db.c), so reading them is O(1);
 * counting upload sessions is bounded by the number of open sessions.
 */
#include "config.h"

#include "common/cleanup.h"
#include "storage/store-int.h"

/* Runs a one-row query of up to two integer columns. */
static enum wh_code query_ints(struct store *s, const char *sql, int64_t *a, int64_t *b, struct wh_err *err)
{
  STORE_AUTOCONN struct store_conn *c = NULL;
  STORE_AUTOFINALIZE sqlite3_stmt *st = NULL;
  enum wh_code rc = store_conn_get(s, &c, err);
  int prc;

  if (rc != WH_OK)
    return rc;
  if ((prc = sqlite3_prepare_v2(c->db, sql, -1, &st, NULL)) != SQLITE_OK)
    return store_db_error(c, prc, "prepare statistics query", err);
  if ((rc = store_step_row(c, st, "read statistics", err)) != WH_OK)
    return rc == WH_ENOTFOUND ? wh_err_set(err, WH_EINTERNAL, 0, "statistics query gave no row") : rc;
  if (a)
    *a = sqlite3_column_int64(st, 0);
  if (b)
    *b = sqlite3_column_int64(st, 1);
  return WH_OK;
}

enum wh_code store_blob_totals(struct store *s, uint64_t *count_out, uint64_t *bytes_out, struct wh_err *err)
{
  int64_t n = 0, bytes = 0;
  enum wh_code rc = query_ints(s, "SELECT count, bytes FROM blob_totals WHERE id = 1", &n, &bytes, err);

  if (rc != WH_OK)
    return rc;
  if (count_out)
    *count_out = n < 0 ? 0 : (uint64_t)n;
  if (bytes_out)
    *bytes_out = bytes < 0 ? 0 : (uint64_t)bytes;
  return WH_OK;
}

enum wh_code store_upload_count(struct store *s, uint64_t *n_out, struct wh_err *err)
{
  int64_t n = 0;
  enum wh_code rc = query_ints(s, "SELECT count(*) FROM uploads", &n, NULL, err);

  if (rc == WH_OK && n_out)
    *n_out = n < 0 ? 0 : (uint64_t)n;
  return rc;
}

enum wh_code store_ping(struct store *s, struct wh_err *err)
{
  /* Touches the schema (a real page read), not just the connection. */
  return query_ints(s, "SELECT count(*) FROM (SELECT 1 FROM repos LIMIT 1)", NULL, NULL, err);
}
