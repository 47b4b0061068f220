/* storage/manifests.c - manifests: put (with reference checks, edges and
 * tag moves in one transaction), get by tag or digest, list, delete,
 * referrers.
 *
 * Invariants:
 *  - a manifests row exists only when the manifest's exact bytes are a
 *    blob (file + blobs row): the file is written before the transaction,
 *    the row inside it;
 *  - when the row is committed, every config and layer it needs (all but
 *    non-distributable layers) was linked to the repository and, unless the
 *    put was sparse, every index child was a manifest of the repository:
 *    both checked inside the same write transaction;
 *  - manifest_refs holds one edge per referenced digest (config, layers,
 *    children, subject), written with the row and removed with it;
 *  - deleting a manifest removes its tags, each with a history row;
 *  - the outbox rows of a put (push, tag moves) or a delete are written in
 *    its transaction (outbox.c), the delete's before the row goes.
 */
#include "config.h"

#include <errno.h>
#include <jansson.h>
#include <string.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/manifest.h"
#include "common/ref.h"
#include "storage/store-int.h"

/* ---- reference checks and edges --------------------------------------- */

static enum wh_code manifest_exists(struct store_conn *c, int64_t repo_id, const char *digest, bool *out,
                                    struct wh_err *err)
{
  STORE_AUTORESET sqlite3_stmt *st = store_stmt(c, Q_MANIFEST_EXISTS, err);
  enum wh_code rc;

  if (st == NULL)
    return WH_EDATABASE;
  store_bind_int(st, 1, repo_id);
  store_bind_text(st, 2, digest);
  rc = store_step_row(c, st, "look up manifest", err);
  if (rc != WH_OK && rc != WH_ENOTFOUND)
    return rc;
  *out = rc == WH_OK;
  return WH_OK;
}

static enum wh_code need_blob(struct store_conn *c, int64_t repo_id, const char *repo,
                              const struct wh_descriptor *desc, struct wh_err *err)
{
  bool linked = false;
  enum wh_code rc;

  if (wh_media_type_is_nondistributable(desc->media_type))
    return WH_OK;
  if ((rc = store_blob_linked(c, repo_id, &desc->digest, &linked, err)) != WH_OK)
    return rc;
  if (!linked)
    return wh_err_set(err, WH_ENOTFOUND, 0, "manifest references blob %s, not found in \"%s\"",
                      desc->digest.str, repo);
  return WH_OK;
}

/* Everything m needs is in repo (repo_id 0: repo does not exist yet). */
static enum wh_code check_refs(struct store_conn *c, int64_t repo_id, const char *repo,
                               const struct wh_manifest *m, unsigned flags, struct wh_err *err)
{
  bool found;
  enum wh_code rc;

  if (m == NULL)
    return WH_OK;
  if (m->kind == WH_MANIFEST_IMAGE) {
    if ((rc = need_blob(c, repo_id, repo, &m->config, err)) != WH_OK)
      return rc;
    for (size_t i = 0; i < m->n_layers; i++)
      if ((rc = need_blob(c, repo_id, repo, &m->layers[i], err)) != WH_OK)
        return rc;
  }
  if (m->kind != WH_MANIFEST_INDEX || (flags & STORE_MANIFEST_SPARSE_INDEX))
    return WH_OK;
  for (size_t i = 0; i < m->n_manifests; i++) {
    if ((rc = manifest_exists(c, repo_id, m->manifests[i].digest.str, &found, err)) != WH_OK)
      return rc;
    if (!found)
      return wh_err_set(err, WH_ENOTFOUND, 0, "index references manifest %s, not found in \"%s\"",
                        m->manifests[i].digest.str, repo);
  }
  return WH_OK;
}

static enum wh_code add_edge(struct store_conn *c, int64_t repo_id, const char *digest,
                             const struct wh_digest *child, enum store_edge_kind kind, struct wh_err *err)
{
  STORE_AUTORESET sqlite3_stmt *st = store_stmt(c, Q_EDGE_INSERT, err);

  if (st == NULL)
    return WH_EDATABASE;
  store_bind_int(st, 1, repo_id);
  store_bind_text(st, 2, digest);
  store_bind_text(st, 3, child->str);
  store_bind_int(st, 4, kind);
  return store_exec_stmt(c, st, "record manifest reference", err);
}

static enum wh_code add_edges(struct store_conn *c, int64_t repo_id, const char *digest,
                              const struct wh_manifest *m, struct wh_err *err)
{
  enum wh_code rc = WH_OK;

  if (m == NULL)
    return WH_OK;
  if (m->kind == WH_MANIFEST_IMAGE)
    rc = add_edge(c, repo_id, digest, &m->config.digest, STORE_EDGE_CONFIG, err);
  for (size_t i = 0; rc == WH_OK && m->kind == WH_MANIFEST_IMAGE && i < m->n_layers; i++)
    rc = add_edge(c, repo_id, digest, &m->layers[i].digest,
                  wh_media_type_is_nondistributable(m->layers[i].media_type) ? STORE_EDGE_LAYER_FOREIGN
                                                                             : STORE_EDGE_LAYER,
                  err);
  for (size_t i = 0; rc == WH_OK && m->kind == WH_MANIFEST_INDEX && i < m->n_manifests; i++)
    rc = add_edge(c, repo_id, digest, &m->manifests[i].digest, STORE_EDGE_CHILD, err);
  if (rc == WH_OK && m->subject)
    rc = add_edge(c, repo_id, digest, &m->subject->digest, STORE_EDGE_SUBJECT, err);
  return rc;
}

/* ---- put --------------------------------------------------------------- */

struct put_ctx {
  const struct store_manifest_put *a;
  const char *media_type;
  const struct wh_digest *d;
  const char *artifact_type; /* borrowed from a->parsed, may be NULL */
  const char *annotations;   /* JSON text, may be NULL */
};

static enum wh_code upsert_row(struct store_conn *c, int64_t repo_id, const struct put_ctx *p,
                               struct wh_err *err)
{
  STORE_AUTORESET sqlite3_stmt *st = store_stmt(c, Q_MANIFEST_UPSERT, err);
  const struct wh_manifest *m = p->a->parsed;

  if (st == NULL)
    return WH_EDATABASE;
  store_bind_int(st, 1, repo_id);
  store_bind_text(st, 2, p->d->str);
  store_bind_text(st, 3, p->media_type);
  store_bind_int(st, 4, (int64_t)p->a->len);
  store_bind_text(st, 5, p->artifact_type);
  store_bind_text(st, 6, m && m->subject ? m->subject->digest.str : NULL);
  store_bind_text(st, 7, p->annotations);
  store_bind_int(st, 8, store_now_s());
  return store_exec_stmt(c, st, "record manifest", err);
}

/* The push event (outbox.c); tag moves add their own in store_tag_move. */
static enum wh_code put_event(struct store_conn *c, int64_t repo_id, const struct put_ctx *p,
                              struct wh_err *err)
{
  struct store_event_add e = {.kind = STORE_EV_PUSH,
                              .target = "manifest",
                              .tag = p->a->n_tags ? p->a->tags[0] : NULL,
                              .digest = p->d->str,
                              .who = p->a->who};

  return store_outbox_add(c, repo_id, &e, err);
}

static enum wh_code put_txn(struct store_conn *c, void *ctx, struct wh_err *err)
{
  const struct put_ctx *p = ctx;
  const struct store_manifest_put *a = p->a;
  int64_t repo_id;
  enum wh_code rc;

  if ((rc = store_repo_id(c, a->repo, true, &repo_id, err)) != WH_OK ||
      (rc = check_refs(c, repo_id, a->repo, a->parsed, a->flags, err)) != WH_OK ||
      (rc = store_blob_record(c, 0, p->d, a->len, err)) != WH_OK ||
      (rc = upsert_row(c, repo_id, p, err)) != WH_OK ||
      (rc = add_edges(c, repo_id, p->d->str, a->parsed, err)) != WH_OK)
    return rc;
  if ((rc = put_event(c, repo_id, p, err)) != WH_OK)
    return rc;
  for (size_t i = 0; a->expect && i < a->n_tags; i++) /* conditions (rollback.c) */
    if ((rc = store_tag_expect_check(c, repo_id, a->tags[i], p->d, &a->expect[i], err)) != WH_OK)
      return rc;
  for (size_t i = 0; i < a->n_tags; i++)
    if ((rc = store_tag_move(c, repo_id, a->tags[i], p->d, a->who, err)) != WH_OK)
      return rc;
  return WH_OK;
}

/* Same checks outside the transaction, so that a push that is going to be
 * refused leaves no manifest file behind. */
static enum wh_code precheck(struct store *s, const struct store_manifest_put *a, const struct wh_digest *d,
                             struct wh_err *err)
{
  STORE_AUTOCONN struct store_conn *c = NULL;
  struct wh_err e;
  int64_t repo_id = 0;
  enum wh_code rc = store_conn_get(s, &c, err);

  if (rc != WH_OK)
    return rc;
  rc = store_repo_id(c, a->repo, false, &repo_id, &e);
  if (rc != WH_OK && rc != WH_ENOTFOUND) {
    if (err)
      *err = e;
    return rc;
  }
  repo_id = rc == WH_OK ? repo_id : 0;
  if ((rc = check_refs(c, repo_id, a->repo, a->parsed, a->flags, err)) != WH_OK)
    return rc;
  for (size_t i = 0; a->expect && i < a->n_tags; i++) /* tag conditions (rollback.c), again in put_txn */
    if ((rc = store_tag_expect_check(c, repo_id, a->tags[i], d, &a->expect[i], err)) != WH_OK)
      return rc;
  return WH_OK;
}

static enum wh_code put_args_check(const struct store_manifest_put *a, const char *mt, struct wh_err *err)
{
  enum wh_code rc = store_repo_name_check(a->repo, err);

  if (rc != WH_OK)
    return rc;
  if (a->body == NULL || a->len == 0)
    return wh_err_set(err, WH_EINVALID, 0, "put manifest: empty body");
  if (a->len > WH_MANIFEST_MAX)
    return wh_err_set(err, WH_ETOOBIG, 0, "put manifest: %zu bytes is over the limit", a->len);
  if (mt == NULL || mt[0] == '\0' || strlen(mt) >= sizeof(((struct store_manifest *)0)->media_type))
    return wh_err_set(err, WH_EINVALID, 0, "put manifest: bad media type");
  if (a->digest && a->digest->alg != WH_DIGEST_SHA256 && a->digest->alg != WH_DIGEST_SHA512)
    return wh_err_set(err, WH_EINVALID, 0, "put manifest: bad digest");
  for (size_t i = 0; i < a->n_tags; i++)
    if (a->tags[i] == NULL || !wh_tag_valid(a->tags[i], strlen(a->tags[i])))
      return wh_err_set(err, WH_EINVALID, 0, "put manifest: invalid tag");
  return WH_OK;
}

enum wh_code store_manifest_put(struct store *s, const struct store_manifest_put *a, struct wh_digest *out,
                                struct wh_err *err)
{
  WH_AUTOFREE char *annotations = NULL;
  struct wh_digest d;
  struct put_ctx p = {.a = a, .d = &d};
  enum wh_code rc;

  if (a == NULL)
    return wh_err_set(err, WH_EINVALID, 0, "put manifest: no arguments");
  p.media_type = a->media_type && a->media_type[0] ? a->media_type : a->parsed ? a->parsed->media_type : NULL;
  if ((rc = put_args_check(a, p.media_type, err)) != WH_OK)
    return rc;
  wh_digest_buf(a->digest ? a->digest->alg : WH_DIGEST_SHA256, a->body, a->len, &d);
  if (a->digest && !wh_digest_eq(a->digest, &d))
    return wh_err_set(err, WH_EDIGEST, 0, "put manifest %s: body has digest %s", a->digest->str, d.str);
  if (a->parsed) {
    p.artifact_type = wh_manifest_effective_artifact_type(a->parsed);
    if (a->parsed->annotations && (annotations = json_dumps(a->parsed->annotations, JSON_COMPACT)) == NULL)
      return wh_err_set(err, WH_ENOMEM, 0, "put manifest: out of memory");
    p.annotations = annotations;
  }
  if ((rc = precheck(s, a, &d, err)) != WH_OK || (rc = store_blob_write(s, a->body, a->len, &d, err)) != WH_OK)
    return rc;
  if ((rc = store_txn(s, STORE_TXN_RECORDS_BLOB, put_txn, &p, err)) != WH_OK)
    return rc;
  if (out)
    *out = d;
  return WH_OK;
}

/* ---- get --------------------------------------------------------------- */

static enum wh_code lookup(struct store_conn *c, const char *repo, const char *reference,
                           struct store_manifest *m, struct wh_err *err)
{
  STORE_AUTORESET sqlite3_stmt *st = NULL;
  struct wh_digest d;
  bool by_digest = strchr(reference, ':') != NULL;
  const char *mt;
  enum wh_code rc;

  if (by_digest && (rc = wh_digest_parsez(reference, &d, err)) != WH_OK)
    return rc;
  if ((st = store_stmt(c, by_digest ? Q_MANIFEST_BY_DIGEST : Q_MANIFEST_BY_TAG, err)) == NULL)
    return WH_EDATABASE;
  store_bind_text(st, 1, repo);
  store_bind_text(st, 2, by_digest ? d.str : reference);
  rc = store_step_row(c, st, "look up manifest", err);
  if (rc == WH_ENOTFOUND)
    return wh_err_set(err, WH_ENOTFOUND, 0, "manifest \"%s\": not found in \"%s\"", reference, repo);
  if (rc != WH_OK || (rc = store_column_digest(st, 0, &m->digest, err)) != WH_OK)
    return rc;
  mt = (const char *)sqlite3_column_text(st, 1);
  snprintf(m->media_type, sizeof(m->media_type), "%s", mt ? mt : "");
  m->size = (uint64_t)sqlite3_column_int64(st, 2);
  return WH_OK;
}

enum wh_code store_manifest_get(struct store *s, const char *repo, const char *reference,
                                struct store_manifest *out, int *fd_out, struct wh_err *err)
{
  STORE_AUTOCONN struct store_conn *c = NULL;
  struct store_manifest m;
  enum wh_code rc;

  if (repo == NULL || reference == NULL)
    return wh_err_set(err, WH_EINVALID, 0, "get manifest: bad arguments");
  if ((rc = store_conn_get(s, &c, err)) != WH_OK)
    return rc;
  rc = lookup(c, repo, reference, &m, err);
  store_conn_put(wh_steal_ptr(&c)); /* the file open needs no connection */
  if (rc != WH_OK)
    return rc;
  if (fd_out && (rc = store_blob_open_file(s, &m.digest, fd_out, err)) != WH_OK)
    return rc == WH_ENOTFOUND ? wh_err_set(err, WH_EIO, ENOENT, "manifest %s: file missing", m.digest.str)
                              : rc;
  if (out)
    *out = m;
  return WH_OK;
}

/* ---- list -------------------------------------------------------------- */

static enum wh_code info_row(sqlite3_stmt *st, struct store_manifest_info *m, struct wh_err *err)
{
  const char *mt = (const char *)sqlite3_column_text(st, 1);
  enum wh_code rc = store_column_digest(st, 0, &m->digest, err);

  if (rc != WH_OK)
    return rc;
  m->media_type = mt ? mt : "";
  m->size = (uint64_t)sqlite3_column_int64(st, 2);
  m->created = sqlite3_column_int64(st, 3);
  m->n_tags = (uint64_t)sqlite3_column_int64(st, 4);
  m->is_child = sqlite3_column_int(st, 5) != 0;
  m->has_subject = sqlite3_column_int(st, 6) != 0;
  return WH_OK;
}

enum wh_code store_manifest_list(struct store *s, const char *repo, store_manifest_cb cb, void *ctx,
                                 struct wh_err *err)
{
  STORE_AUTOCONN struct store_conn *c = NULL;
  STORE_AUTORESET sqlite3_stmt *st = NULL;
  struct store_manifest_info m;
  int64_t repo_id;
  int step;
  enum wh_code rc;

  if (repo == NULL || cb == NULL)
    return wh_err_set(err, WH_EINVALID, 0, "list manifests: bad arguments");
  if ((rc = store_conn_get(s, &c, err)) != WH_OK ||
      (rc = store_repo_id(c, repo, false, &repo_id, err)) != WH_OK)
    return rc;
  if ((st = store_stmt(c, Q_MANIFEST_LIST, err)) == NULL)
    return WH_EDATABASE;
  store_bind_int(st, 1, repo_id);
  while ((step = sqlite3_step(st)) == SQLITE_ROW) {
    if ((rc = info_row(st, &m, err)) != WH_OK)
      return rc;
    if (cb(ctx, &m) != 0)
      return WH_OK;
  }
  return step == SQLITE_DONE ? WH_OK : store_db_error(c, step, "list manifests", err);
}

/* ---- delete ------------------------------------------------------------ */

static enum wh_code run_drop(struct store_conn *c, enum store_stmt_id q, int64_t repo_id, const char *digest,
                             const char *who, const char *what, struct wh_err *err)
{
  STORE_AUTORESET sqlite3_stmt *st = store_stmt(c, q, err);

  if (st == NULL)
    return WH_EDATABASE;
  store_bind_int(st, 1, repo_id);
  store_bind_text(st, 2, digest);
  if (q == Q_TAGS_DROP_HISTORY) {
    store_bind_int(st, 3, store_now_ms());
    store_bind_text(st, 4, who);
  }
  return store_exec_stmt(c, st, what, err);
}

enum wh_code store_manifest_drop(struct store_conn *c, int64_t repo_id, const char *digest, const char *who,
                                 struct wh_err *err)
{
  enum wh_code rc;

  if ((rc = run_drop(c, Q_TAGS_DROP_HISTORY, repo_id, digest, who, "record tag history", err)) != WH_OK ||
      (rc = run_drop(c, Q_TAGS_DROP, repo_id, digest, who, "delete tags", err)) != WH_OK ||
      (rc = run_drop(c, Q_EDGES_DELETE, repo_id, digest, who, "delete manifest references", err)) != WH_OK)
    return rc;
  return run_drop(c, Q_MANIFEST_DELETE, repo_id, digest, who, "delete manifest", err);
}

struct delete_args {
  const char *repo, *who;
  const struct wh_digest *d;
};

static enum wh_code delete_txn(struct store_conn *c, void *ctx, struct wh_err *err)
{
  const struct delete_args *a = ctx;
  struct store_event_add ev = {
      .kind = STORE_EV_DELETE, .target = "manifest", .digest = a->d->str, .who = a->who};
  int64_t repo_id;
  bool found = false;
  enum wh_code rc = store_repo_id(c, a->repo, false, &repo_id, err);

  if (rc == WH_OK)
    rc = manifest_exists(c, repo_id, a->d->str, &found, err);
  if (rc == WH_OK && !found)
    rc = wh_err_set(err, WH_ENOTFOUND, 0, "manifest %s: not found in \"%s\"", a->d->str, a->repo);
  if (rc != WH_OK || (rc = store_outbox_add(c, repo_id, &ev, err)) != WH_OK)
    return rc;
  return store_manifest_drop(c, repo_id, a->d->str, a->who, err);
}

enum wh_code store_manifest_delete(struct store *s, const char *repo, const struct wh_digest *d,
                                   const char *who, struct wh_err *err)
{
  struct delete_args a = {.repo = repo, .who = who, .d = d};

  if (repo == NULL || d == NULL)
    return wh_err_set(err, WH_EINVALID, 0, "delete manifest: bad arguments");
  return store_txn(s, 0, delete_txn, &a, err);
}

/* ---- referrers --------------------------------------------------------- */

enum wh_code store_referrers(struct store *s, const char *repo, const struct wh_digest *subject,
                             const char *artifact_type, store_referrer_cb cb, void *ctx, struct wh_err *err)
{
  STORE_AUTOCONN struct store_conn *c = NULL;
  STORE_AUTORESET sqlite3_stmt *st = NULL;
  struct store_referrer r;
  int step;
  enum wh_code rc;

  if (repo == NULL || subject == NULL || cb == NULL)
    return wh_err_set(err, WH_EINVALID, 0, "referrers: bad arguments");
  if ((rc = store_conn_get(s, &c, err)) != WH_OK)
    return rc;
  if ((st = store_stmt(c, Q_REFERRERS, err)) == NULL)
    return WH_EDATABASE;
  store_bind_text(st, 1, repo);
  store_bind_text(st, 2, subject->str);
  store_bind_text(st, 3, artifact_type);
  while ((step = sqlite3_step(st)) == SQLITE_ROW) {
    if ((rc = store_column_digest(st, 0, &r.digest, err)) != WH_OK)
      return rc;
    r.media_type = (const char *)sqlite3_column_text(st, 1);
    r.size = (uint64_t)sqlite3_column_int64(st, 2);
    r.artifact_type = (const char *)sqlite3_column_text(st, 3);
    r.annotations_json = (const char *)sqlite3_column_text(st, 4);
    if (cb(ctx, &r) != 0)
      return WH_OK;
  }
  return step == SQLITE_DONE ? WH_OK : store_db_error(c, step, "list referrers", err);
}
