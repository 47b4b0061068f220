/* storage/rollback.c - conditional tag moves and tag rollback.
 *
 *   condition (store_tag_expect)   holds when the tag, before the move,
 *   STORE_EXPECT_DIGEST D          points at D
 *   STORE_EXPECT_EXISTS            exists
 *   STORE_EXPECT_ABSENT            does not exist
 *   immutable                      does not exist, or already points at
 *                                  the new target (no move)
 *
 * Rollback walks the tag's history newest first and lists the targets it
 * had (new_digest of each row, deletions and repeats in a row skipped):
 * target 0 is the current one, target N is N steps back.
 *
 * Invariants: every check reads the tag inside the write transaction that
 * moves it (BEGIN IMMEDIATE serialises writers), so a condition that held
 * still holds at COMMIT; a rollback moves the tag with store_tag_move, so
 * its history row and outbox event commit with it.
 */
#include "config.h"

#include <string.h>

#include "common/ref.h"
#include "storage/store-int.h"

#define ROLLBACK_MAX_STEPS 100000u

static enum wh_code expect_failed(struct store_tag_expect *e, const char *tag, const char *cur,
                                  struct wh_err *err)
{
  e->failed = true;
  if (e->kind == STORE_EXPECT_ABSENT)
    return wh_err_set(err, WH_ECONFLICT, 0, "tag \"%s\" exists (points at %s)", tag, cur);
  if (!cur[0])
    return wh_err_set(err, WH_ECONFLICT, 0, "tag \"%s\" does not exist", tag);
  return wh_err_set(err, WH_ECONFLICT, 0, "tag \"%s\" points at %s, not %s", tag, cur, e->digest.str);
}

enum wh_code store_tag_expect_check(struct store_conn *c, int64_t repo_id, const char *tag,
                                    const struct wh_digest *d, struct store_tag_expect *e, struct wh_err *err)
{
  char cur[WH_DIGEST_STR_MAX];
  enum wh_code rc = store_tag_current(c, repo_id, tag, cur, err);
  bool ok = true;

  if (rc != WH_OK)
    return rc;
  if (e->immutable && cur[0] && strcmp(cur, d->str) != 0)
    return wh_err_set(err, WH_EDENIED, 0, "tag %s is immutable", tag);
  switch (e->kind) {
  case STORE_EXPECT_NONE:
    break;
  case STORE_EXPECT_DIGEST:
    ok = strcmp(cur, e->digest.str) == 0;
    break;
  case STORE_EXPECT_EXISTS:
    ok = cur[0] != '\0';
    break;
  case STORE_EXPECT_ABSENT:
    ok = cur[0] == '\0';
    break;
  }
  return ok ? WH_OK : expect_failed(e, tag, cur, err);
}

/* Target `steps` back in the tag's history into out. */
static enum wh_code target_back(struct store_conn *c, int64_t repo_id, const struct store_rollback *a,
                                const char *cur, struct wh_digest *out, struct wh_err *err)
{
  STORE_AUTORESET sqlite3_stmt *st = store_stmt(c, Q_HISTORY_LIST, err);
  char last[WH_DIGEST_STR_MAX];
  unsigned k = 0;
  int step;

  if (st == NULL)
    return WH_EDATABASE;
  snprintf(last, sizeof(last), "%s", cur); /* target 0 */
  store_bind_int(st, 1, repo_id);
  store_bind_text(st, 2, a->tag);
  store_bind_int(st, 3, INT64_MAX);
  store_bind_int(st, 4, -1);
  while ((step = sqlite3_step(st)) == SQLITE_ROW) {
    const char *nd = (const char *)sqlite3_column_text(st, 2);
    if (nd == NULL || strcmp(nd, last) == 0)
      continue;
    snprintf(last, sizeof(last), "%s", nd);
    if (++k == a->steps)
      return wh_digest_parsez(last, out, err);
  }
  if (step != SQLITE_DONE)
    return store_db_error(c, step, "read tag history", err);
  return wh_err_set(err, WH_ECONFLICT, 0, "tag \"%s\" has %u earlier target%s, not %u", a->tag, k,
                    k == 1 ? "" : "s", a->steps);
}

struct rb_ctx {
  const struct store_rollback *a;
  struct wh_digest to, prev; /* results */
};

static enum wh_code manifest_there(struct store_conn *c, int64_t repo_id, const char *repo,
                                   const struct wh_digest *d, struct wh_err *err)
{
  STORE_AUTORESET sqlite3_stmt *st = store_stmt(c, Q_MANIFEST_EXISTS, err);
  enum wh_code rc;

  if (st == NULL)
    return WH_EDATABASE;
  store_bind_int(st, 1, repo_id);
  store_bind_text(st, 2, d->str);
  rc = store_step_row(c, st, "look up manifest", err);
  if (rc == WH_ENOTFOUND)
    return wh_err_set(err, WH_ECONFLICT, 0, "manifest %s is gone from \"%s\"", d->str, repo);
  return rc;
}

static enum wh_code rollback_txn(struct store_conn *c, void *ctx, struct wh_err *err)
{
  struct rb_ctx *x = ctx;
  const struct store_rollback *a = x->a;
  char cur[WH_DIGEST_STR_MAX];
  int64_t repo_id;
  enum wh_code rc = store_repo_id(c, a->repo, false, &repo_id, err);

  if (rc != WH_OK || (rc = store_tag_current(c, repo_id, a->tag, cur, err)) != WH_OK)
    return rc;
  if (!cur[0])
    return wh_err_set(err, WH_ENOTFOUND, 0, "tag \"%s\": not found in \"%s\"", a->tag, a->repo);
  if ((rc = wh_digest_parsez(cur, &x->prev, err)) != WH_OK)
    return rc;
  /* the condition first (against the current target; immutability is the caller's) */
  if (a->expect && (rc = store_tag_expect_check(c, repo_id, a->tag, &x->prev, a->expect, err)) != WH_OK)
    return rc;
  if (a->to)
    x->to = *a->to;
  else if ((rc = target_back(c, repo_id, a, cur, &x->to, err)) != WH_OK)
    return rc;
  if ((rc = manifest_there(c, repo_id, a->repo, &x->to, err)) != WH_OK)
    return rc;
  return store_tag_move(c, repo_id, a->tag, &x->to, a->who, err);
}

enum wh_code store_tag_rollback(struct store *s, const struct store_rollback *a, struct wh_digest *to_out,
                                struct wh_digest *prev_out, struct wh_err *err)
{
  struct rb_ctx x = {.a = a};
  enum wh_code rc;

  if (a == NULL || a->repo == NULL || a->tag == NULL || (a->to == NULL && a->steps == 0))
    return wh_err_set(err, WH_EINVALID, 0, "rollback: bad arguments");
  if (!wh_tag_valid(a->tag, strlen(a->tag)))
    return wh_err_set(err, WH_EINVALID, 0, "rollback: invalid tag");
  if (a->steps > ROLLBACK_MAX_STEPS)
    return wh_err_set(err, WH_EINVALID, 0, "rollback: more than %u steps", ROLLBACK_MAX_STEPS);
  if ((rc = store_txn(s, 0, rollback_txn, &x, err)) != WH_OK)
    return rc;
  if (to_out)
    *to_out = x.to;
  if (prev_out)
    *prev_out = x.prev;
  return WH_OK;
}
