/* storage/outbox.c - the event outbox behind wharfd's webhooks.
 *
 * Tables (migration 2 -> 3 in db.c):
 *   outbox(id AUTOINCREMENT, uid, time_ms, action, target, repo, tag,
 *          digest, old_digest, media_type, size, who)
 *   outbox_cursors(consumer, last_id)
 *
 * Invariants:
 *  - an outbox row is written by store_outbox_add() inside the write
 *    transaction of the change it describes (manifests.c, tags.c,
 *    blobs.c), so it commits or rolls back with it: no event without its
 *    change, no committed change of a recorded kind without its event;
 *  - ids only grow (AUTOINCREMENT never reuses one, even after a trim),
 *    which is what makes a cursor ("everything up to id is done") sound;
 *  - nothing is written while the store's event mask is 0 (the default):
 *    stores without webhooks (the client's, wharfd without webhooks) pay
 *    one relaxed atomic load per change.
 * Statements here are prepared per call (not cached): they run at most
 * once per change, next to a transaction commit that dominates the cost.
 */
#include "config.h"

#include <string.h>

#include "common/cleanup.h"
#include "storage/store-int.h"

#define CONSUMER_MAX 1024

static const char *const kind_names[] = {"push", "pull", "delete", "tag"};

const char *store_event_kind_name(enum store_event_kind kind)
{
  for (size_t i = 0; i < WH_ARRAY_LEN(kind_names); i++)
    if (kind == (enum store_event_kind)(1u << i))
      return kind_names[i];
  return NULL;
}

static enum store_event_kind kind_of(const char *name)
{
  for (size_t i = 0; name && i < WH_ARRAY_LEN(kind_names); i++)
    if (strcmp(name, kind_names[i]) == 0)
      return (enum store_event_kind)(1u << i);
  return 0;
}

void store_set_events(struct store *s, unsigned mask)
{
  __atomic_store_n(&s->events, mask, __ATOMIC_RELAXED);
}

bool store_events_on(struct store *s, enum store_event_kind kind)
{
  return (__atomic_load_n(&s->events, __ATOMIC_RELAXED) & (unsigned)kind) != 0;
}

static enum wh_code prepare(struct store_conn *c, const char *sql, sqlite3_stmt **out, struct wh_err *err)
{
  int rc = sqlite3_prepare_v2(c->db, sql, -1, out, NULL);

  return rc == SQLITE_OK ? WH_OK : store_db_error(c, rc, "prepare outbox statement", err);
}

/* ---- writing ------------------------------------------------------------ */

/* Media type and size come from the rows the digest names (a manifest of
 * the repository, the blob): read inside the same transaction. */
static const char add_sql[] =
    "INSERT INTO outbox(uid, time_ms, action, target, repo, tag, digest, old_digest, media_type, size, who)"
    " SELECT lower(hex(randomblob(12))), ?1, ?2, ?3, r.name, ?5, ?6, ?7,"
    " (SELECT media_type FROM manifests WHERE repo_id = r.id AND digest = ?6),"
    " (SELECT size FROM blobs WHERE digest = ?6), ?8 FROM repos r WHERE r.id = ?4";

enum wh_code store_outbox_add(struct store_conn *c, int64_t repo_id, const struct store_event_add *e,
                              struct wh_err *err)
{
  STORE_AUTOFINALIZE sqlite3_stmt *st = NULL;
  enum wh_code rc;

  if (!store_events_on(c->s, e->kind))
    return WH_OK;
  if ((rc = prepare(c, add_sql, &st, err)) != WH_OK)
    return rc;
  store_bind_int(st, 1, store_now_ms());
  store_bind_text(st, 2, store_event_kind_name(e->kind));
  store_bind_text(st, 3, e->target);
  store_bind_int(st, 4, repo_id);
  store_bind_text(st, 5, e->tag);
  store_bind_text(st, 6, e->digest);
  store_bind_text(st, 7, e->old_digest);
  store_bind_text(st, 8, e->who);
  return store_exec_stmt(c, st, "record event", err);
}

struct pull_args {
  const char *repo, *tag, *digest, *who;
};

static enum wh_code pull_txn(struct store_conn *c, void *ctx, struct wh_err *err)
{
  const struct pull_args *a = ctx;
  struct store_event_add e = {
      .kind = STORE_EV_PULL, .target = "manifest", .tag = a->tag, .digest = a->digest, .who = a->who};
  int64_t repo_id;
  enum wh_code rc = store_repo_id(c, a->repo, false, &repo_id, err);

  return rc != WH_OK ? rc : store_outbox_add(c, repo_id, &e, err);
}

enum wh_code store_event_pull(struct store *s, const char *repo, const char *tag, const struct wh_digest *d,
                              const char *who, struct wh_err *err)
{
  struct pull_args a = {.repo = repo, .tag = tag, .digest = d ? d->str : NULL, .who = who};

  if (!store_events_on(s, STORE_EV_PULL))
    return WH_OK;
  if (repo == NULL || d == NULL)
    return wh_err_set(err, WH_EINVALID, 0, "record pull: bad arguments");
  return store_txn(s, 0, pull_txn, &a, err);
}

/* ---- reading ------------------------------------------------------------ */

static const char *col_text(sqlite3_stmt *st, int i)
{
  return (const char *)sqlite3_column_text(st, i);
}

static void event_row(sqlite3_stmt *st, struct store_event *e)
{
  e->id = sqlite3_column_int64(st, 0);
  e->uid = col_text(st, 1);
  e->time_ms = sqlite3_column_int64(st, 2);
  e->kind = kind_of(col_text(st, 3));
  e->target = col_text(st, 4);
  e->repo = col_text(st, 5);
  e->tag = col_text(st, 6);
  e->digest = col_text(st, 7);
  e->old_digest = col_text(st, 8);
  e->media_type = col_text(st, 9);
  e->size = sqlite3_column_type(st, 10) == SQLITE_NULL ? -1 : sqlite3_column_int64(st, 10);
  e->who = col_text(st, 11);
}

enum wh_code store_outbox_read(struct store *s, int64_t after_id, size_t n, store_event_cb cb, void *ctx,
                               struct wh_err *err)
{
  STORE_AUTOCONN struct store_conn *c = NULL;
  STORE_AUTOFINALIZE sqlite3_stmt *st = NULL;
  struct store_event e;
  int step;
  enum wh_code rc;

  if (cb == NULL)
    return wh_err_set(err, WH_EINVALID, 0, "read outbox: bad arguments");
  if ((rc = store_conn_get(s, &c, err)) != WH_OK ||
      (rc = prepare(c,
                    "SELECT id, uid, time_ms, action, target, repo, tag, digest, old_digest, media_type,"
                    " size, who FROM outbox WHERE id > ?1 ORDER BY id LIMIT ?2",
                    &st, err)) != WH_OK)
    return rc;
  store_bind_int(st, 1, after_id);
  store_bind_int(st, 2, n == 0 || n > (size_t)INT64_MAX ? -1 : (int64_t)n);
  while ((step = sqlite3_step(st)) == SQLITE_ROW) {
    event_row(st, &e);
    if (cb(ctx, &e) != 0)
      return WH_OK;
  }
  return step == SQLITE_DONE ? WH_OK : store_db_error(c, step, "read outbox", err);
}

/* ---- cursors -------------------------------------------------------------- */

struct cursor_args {
  const char *consumer;
  int64_t id; /* in: the new value (set); out: the value (get) */
  bool set;
};

static enum wh_code cursor_txn(struct store_conn *c, void *ctx, struct wh_err *err)
{
  struct cursor_args *a = ctx;
  STORE_AUTOFINALIZE sqlite3_stmt *st = NULL;
  enum wh_code rc;

  if (a->set) {
    if ((rc = prepare(c,
                      "INSERT INTO outbox_cursors(consumer, last_id) VALUES (?1, ?2)"
                      " ON CONFLICT(consumer) DO UPDATE SET last_id = excluded.last_id",
                      &st, err)) != WH_OK)
      return rc;
    store_bind_text(st, 1, a->consumer);
    store_bind_int(st, 2, a->id);
    return store_exec_stmt(c, st, "move outbox cursor", err);
  }
  /* New consumers start after the newest row (sqlite_sequence remembers
   * the largest id ever given, also after a trim emptied the table). */
  if ((rc = prepare(c,
                    "INSERT INTO outbox_cursors(consumer, last_id) SELECT ?1, max(coalesce((SELECT seq"
                    " FROM sqlite_sequence WHERE name = 'outbox'), 0), coalesce((SELECT max(id) FROM outbox),"
                    " 0)) ON CONFLICT(consumer) DO NOTHING",
                    &st, err)) != WH_OK)
    return rc;
  store_bind_text(st, 1, a->consumer);
  if ((rc = store_exec_stmt(c, st, "create outbox cursor", err)) != WH_OK)
    return rc;
  sqlite3_finalize(wh_steal_ptr(&st));
  if ((rc = prepare(c, "SELECT last_id FROM outbox_cursors WHERE consumer = ?1", &st, err)) != WH_OK)
    return rc;
  store_bind_text(st, 1, a->consumer);
  if ((rc = store_step_row(c, st, "read outbox cursor", err)) != WH_OK)
    return rc == WH_ENOTFOUND ? wh_err_set(err, WH_EINTERNAL, 0, "outbox cursor vanished") : rc;
  a->id = sqlite3_column_int64(st, 0);
  return WH_OK;
}

static enum wh_code consumer_check(const char *consumer, struct wh_err *err)
{
  if (consumer == NULL || consumer[0] == '\0' || strnlen(consumer, CONSUMER_MAX + 1) > CONSUMER_MAX)
    return wh_err_set(err, WH_EINVALID, 0, "outbox cursor: bad consumer name");
  return WH_OK;
}

enum wh_code store_outbox_cursor(struct store *s, const char *consumer, int64_t *id_out, struct wh_err *err)
{
  struct cursor_args a = {.consumer = consumer};
  enum wh_code rc = consumer_check(consumer, err);

  if (rc == WH_OK && (rc = store_txn(s, 0, cursor_txn, &a, err)) == WH_OK)
    *id_out = a.id;
  return rc;
}

enum wh_code store_outbox_cursor_set(struct store *s, const char *consumer, int64_t id, struct wh_err *err)
{
  struct cursor_args a = {.consumer = consumer, .id = id, .set = true};
  enum wh_code rc = consumer_check(consumer, err);

  return rc != WH_OK ? rc : store_txn(s, 0, cursor_txn, &a, err);
}

static enum wh_code trim_txn(struct store_conn *c, void *ctx, struct wh_err *err)
{
  STORE_AUTOFINALIZE sqlite3_stmt *st = NULL;
  enum wh_code rc = prepare(c, "DELETE FROM outbox WHERE id <= ?1", &st, err);

  if (rc != WH_OK)
    return rc;
  store_bind_int(st, 1, *(const int64_t *)ctx);
  return store_exec_stmt(c, st, "trim outbox", err);
}

enum wh_code store_outbox_trim(struct store *s, int64_t upto_id, struct wh_err *err)
{
  return store_txn(s, 0, trim_txn, &upto_id, err);
}
