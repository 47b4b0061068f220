/* server/rollback.c - the _wharf release extension: tag history, one-call
 * rollback, conditional and immutable tags, extension discovery.
 *
 *   GET  /v2/<name>/_wharf/history/<tag>?n=&last=   (pull)
 *        {"name","tag","moves":[{"id","time","old","new","who"}]} newest
 *        first; n capped by limits.max_tag_list_n; `last` is the id of the
 *        last move already seen; Link: <...?last=ID&n=N>; rel="next"
 *   POST /v2/<name>/_wharf/rollback/<tag>            (push)
 *        body: none, {"steps": N} or {"digest": "sha256:..."}
 *        200 {"name","tag","digest","previous"}; 404 unknown tag; 409
 *        MANIFEST_UNKNOWN when the target is gone or there is no such step;
 *        If-Match: "<digest>": 412 unless the tag points there
 *   GET  /v2/_oci/ext/discover                       (OCI extensions draft)
 *
 * Manifest PUT by tag with If-Match: "<digest>" (quoted or not) or `*`,
 * or If-None-Match: `*`: the condition is checked in the put's own write
 * transaction (store_tag_expect), and a failure answers 412 with the OCI
 * style code PRECONDITION_FAILED. Immutable tags (config
 * "immutable_tags") answer 403 DENIED "tag v1.2 is immutable" to a push
 * that would move them, a DELETE and a rollback.
 *
 * Invariants: every tag move here goes through the store in one write
 * transaction that also writes its history row; the tag history shown is
 * the store's, never rebuilt.
 */
#include "config.h"

#include "server/server.h"

#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/cleanup.h"

#define ROLLBACK_BODY_MAX 4096
#define ROLLBACK_STEPS_MAX 100000

/* ---- immutable tags (config) --------------------------------------------- */

static void rule_free(struct srv_immutable *m)
{
  for (size_t i = 0; i < m->n_tags; i++)
    free(m->tags[i]);
  free(m->tags);
  free(m->repository);
}

void srv_immutable_free(struct srv_config *c)
{
  for (size_t i = 0; i < c->n_immutable; i++)
    rule_free(&c->immutable[i]);
  free(c->immutable);
  c->immutable = NULL;
  c->n_immutable = 0;
}

static enum wh_code rule_parse(const json_t *o, size_t i, struct srv_immutable *m, struct wh_err *err)
{
  const json_t *repo = json_object_get(o, "repository"), *tags = json_object_get(o, "tags"), *t;
  size_t k;

  if (!json_is_object(o) || json_object_size(o) != 2 || !json_is_string(repo) || !json_is_array(tags) ||
      json_array_size(tags) == 0 || json_array_size(tags) > 256)
    return wh_err_set(err, WH_EINVALID, 0,
                      "\"immutable_tags\"[%zu]: expected {\"repository\": GLOB, \"tags\": [GLOB, ...]}", i);
  if ((m->repository = strdup(json_string_value(repo))) == NULL ||
      (m->tags = calloc(json_array_size(tags), sizeof(*m->tags))) == NULL)
    return wh_err_set(err, WH_ENOMEM, 0, "out of memory");
  json_array_foreach(tags, k, t)
  {
    if (!json_is_string(t) || json_string_length(t) == 0)
      return wh_err_set(err, WH_EINVALID, 0, "\"immutable_tags\"[%zu]: tags are non-empty strings", i);
    if ((m->tags[m->n_tags] = strdup(json_string_value(t))) == NULL)
      return wh_err_set(err, WH_ENOMEM, 0, "out of memory");
    m->n_tags++;
  }
  return WH_OK;
}

enum wh_code srv_immutable_parse(struct srv_config *c, const json_t *v, struct wh_err *err)
{
  size_t i;
  const json_t *o;

  if (!json_is_array(v) || json_array_size(v) > 1024)
    return wh_err_set(err, WH_EINVALID, 0, "\"immutable_tags\": expected an array (at most 1024 rules)");
  srv_immutable_free(c);
  if (json_array_size(v) && (c->immutable = calloc(json_array_size(v), sizeof(*c->immutable))) == NULL)
    return wh_err_set(err, WH_ENOMEM, 0, "out of memory");
  json_array_foreach(v, i, o)
  {
    c->n_immutable++;
    if (rule_parse(o, i, &c->immutable[i], err) != WH_OK) {
      srv_immutable_free(c);
      return err ? err->code : WH_EINVALID;
    }
  }
  return WH_OK;
}

bool srv_tag_immutable(const struct srv_config *c, const char *repo, const char *tag)
{
  for (size_t i = 0; i < c->n_immutable; i++) {
    if (fnmatch(c->immutable[i].repository, repo, 0) != 0)
      continue;
    for (size_t k = 0; k < c->immutable[i].n_tags; k++)
      if (fnmatch(c->immutable[i].tags[k], tag, 0) == 0)
        return true;
  }
  return false;
}

static bool repo_has_rules(const struct srv_config *c, const char *repo)
{
  for (size_t i = 0; i < c->n_immutable; i++)
    if (fnmatch(c->immutable[i].repository, repo, 0) == 0)
      return true;
  return false;
}

static void deny_immutable(struct srv_req *r, const char *tag)
{
  char msg[SRV_ARG_MAX + 32];

  snprintf(msg, sizeof(msg), "tag %s is immutable", tag);
  srv_reply_error(r, 403, "DENIED", msg, json_pack("{s:s}", "tag", tag));
}

/* ---- conditional puts ------------------------------------------------------- */

/* The path tag's condition from If-Match / If-None-Match; false: replied. */
static bool header_condition(struct srv_req *r, struct store_tag_expect *e)
{
  const char *im = srv_req_header(r, "If-Match"), *inm = srv_req_header(r, "If-None-Match");
  enum srv_cond a = srv_cond_parse(im, &e->digest), b;
  struct wh_digest unused;

  b = srv_cond_parse(inm, &unused);
  if (a == SRV_COND_INVALID || b == SRV_COND_INVALID || (a != SRV_COND_NONE && b != SRV_COND_NONE) ||
      (b != SRV_COND_NONE && b != SRV_COND_ANY)) {
    srv_reply_error(r, 400, "MANIFEST_INVALID",
                    "If-Match takes one \"digest\" or *, If-None-Match only *, not both", NULL);
    return false;
  }
  if ((a != SRV_COND_NONE || b != SRV_COND_NONE) && r->has_digest) {
    srv_reply_error(r, 400, "MANIFEST_INVALID", "If-Match and If-None-Match need a tag reference", NULL);
    return false;
  }
  if (a == SRV_COND_WEAK) { /* a weak tag never matches (RFC 9110 13.1.1) */
    srv_reply_error(r, 412, "PRECONDITION_FAILED", "If-Match: a weak entity tag never matches", NULL);
    return false;
  }
  e->kind = a == SRV_COND_DIGEST ? STORE_EXPECT_DIGEST
            : a == SRV_COND_ANY  ? STORE_EXPECT_EXISTS
            : b == SRV_COND_ANY  ? STORE_EXPECT_ABSENT
                                 : STORE_EXPECT_NONE;
  return true;
}

bool srv_put_conditions(struct srv_req *r, const char *const *tags, size_t n, struct store_tag_expect *out)
{
  memset(out, 0, n * sizeof(*out));
  for (size_t i = 0; i < n; i++)
    out[i].immutable = srv_tag_immutable(r->srv->cfg, r->path.name, tags[i]);
  if (n == 0 || r->has_digest) { /* no path tag: a condition is an error */
    struct store_tag_expect e = {0};
    return header_condition(r, &e);
  }
  return header_condition(r, &out[0]);
}

void srv_put_fail_reply(struct srv_req *r, const struct store_tag_expect *e, size_t n,
                        const struct wh_err *err)
{
  for (size_t i = 0; i < n; i++) {
    if (!e[i].failed)
      continue;
    srv_reply_error(r, 412, "PRECONDITION_FAILED", err->msg, NULL);
    return;
  }
  if (err->code == WH_EDENIED) {
    srv_reply_error(r, 403, "DENIED", err->msg, NULL);
    return;
  }
  srv_reply_werr(r, SRV_CTX_MANIFEST_PUT, err);
}

/* ---- deletes ----------------------------------------------------------------- */

struct imm_scan {
  struct srv_req *r;
  const struct wh_digest *d;
  char hit[WH_TAG_MAX + 1]; /* an immutable tag pointing at d */
};

static int scan_tag(void *ctx, const char *tag)
{
  struct imm_scan *x = ctx;
  struct store_manifest m;

  if (!srv_tag_immutable(x->r->srv->cfg, x->r->path.name, tag) ||
      store_manifest_get(x->r->srv->store, x->r->path.name, tag, &m, NULL, NULL) != WH_OK ||
      !wh_digest_eq(&m.digest, x->d))
    return 0;
  snprintf(x->hit, sizeof(x->hit), "%s", tag);
  return 1;
}

bool srv_delete_allowed(struct srv_req *r)
{
  struct imm_scan x = {r, &r->digest, ""};

  if (!repo_has_rules(r->srv->cfg, r->path.name))
    return true;
  if (!r->has_digest) {
    if (!srv_tag_immutable(r->srv->cfg, r->path.name, r->path.arg))
      return true;
    deny_immutable(r, r->path.arg);
    return false;
  }
  /* Deleting a manifest deletes its tags: not when one is immutable. */
  store_tag_list(r->srv->store, r->path.name, NULL, 0, scan_tag, &x, NULL, NULL);
  if (!x.hit[0])
    return true;
  deny_immutable(r, x.hit);
  return false;
}

/* ---- history ---------------------------------------------------------------- */

static void rfc3339_ms(int64_t ms, char *out, size_t size)
{
  time_t t = (time_t)(ms / 1000);
  struct tm tm;

  if (gmtime_r(&t, &tm) == NULL) {
    snprintf(out, size, "1970-01-01T00:00:00.000Z");
    return;
  }
  snprintf(out, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
           tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
}

struct hist_page {
  json_t *moves; /* borrowed */
  uint64_t n, seen;
  int64_t last_id;
  bool more, failed;
};

static int add_move(void *ctx, const struct store_tag_move *m)
{
  struct hist_page *p = ctx;
  char when[96];
  json_t *o;

  if (p->seen == p->n) {
    p->more = true;
    return 1;
  }
  rfc3339_ms(m->time_ms, when, sizeof(when));
  o = json_pack("{s:I,s:s,s:s?,s:s?,s:s?}", "id", (json_int_t)m->id, "time", when, "old",
                m->has_old ? m->old_digest.str : NULL, "new", m->has_new ? m->new_digest.str : NULL, "who",
                m->who);
  if (o == NULL || json_array_append_new(p->moves, o) != 0) {
    p->failed = true;
    return 1;
  }
  p->seen++;
  p->last_id = m->id;
  return 0;
}

static bool tag_arg_ok(struct srv_req *r)
{
  if (r->path.arg_len > 0 && r->path.arg_len <= WH_TAG_MAX && wh_tag_valid(r->path.arg, r->path.arg_len))
    return true;
  srv_reply_error(r, 400, "TAG_INVALID", "invalid tag", NULL);
  return false;
}

/* ?n= (capped) and ?last= (a move id); false: replied 400. */
static bool history_query(struct srv_req *r, uint64_t *n, uint64_t *before)
{
  const char *ns = srv_query(r, "n"), *ls = srv_query(r, "last");
  uint64_t max = r->srv->cfg->max_tag_list_n;

  *n = max;
  *before = 0;
  if ((ns && !srv_parse_count(ns, n)) ||
      (ls && *ls && (!srv_parse_count(ls, before) || *before > INT64_MAX))) {
    srv_reply_error(r, 400, "PAGINATION_NUMBER_INVALID", "invalid n or last", NULL);
    return false;
  }
  if (*n > max)
    *n = max;
  return true;
}

void srv_history_get(struct srv_req *r)
{
  json_auto_t *body = NULL;
  json_t *moves = json_array();
  struct hist_page p = {.moves = moves};
  uint64_t before;
  struct wh_err err;

  wh_err_clear(&err);
  body = json_pack("{s:s,s:s,s:o}", "name", r->path.name, "tag", r->path.arg, "moves", moves);
  if (!tag_arg_ok(r) || !history_query(r, &p.n, &before))
    return;
  if (!body) {
    srv_reply_error(r, 500, "UNKNOWN", "out of memory", NULL);
    return;
  }
  if (p.n > 0 && store_tag_history(r->srv->store, r->path.name, r->path.arg, (int64_t)before, (size_t)p.n + 1,
                                   add_move, &p, &err) != WH_OK) {
    srv_reply_werr(r, SRV_CTX_REPO, &err);
    return;
  }
  if (p.failed) {
    srv_reply_error(r, 500, "UNKNOWN", "out of memory", NULL);
    return;
  }
  if (p.seen == 0 && before == 0 && p.n > 0) {
    srv_reply_error(r, 404, "MANIFEST_UNKNOWN", "tag has no history", NULL);
    return;
  }
  srv_reply_json(r, 200, "application/json", body);
  if (p.more)
    srv_headerf(r, "Link", "</v2/%s/_wharf/history/%s?last=%lld&n=%llu>; rel=\"next\"", r->path.name,
                r->path.arg, (long long)p.last_id, (unsigned long long)p.n);
}

/* ---- rollback ----------------------------------------------------------------- */

void srv_rollback_post_begin(struct srv_req *r)
{
  if (!tag_arg_ok(r))
    return;
  if (srv_tag_immutable(r->srv->cfg, r->path.name, r->path.arg)) {
    deny_immutable(r, r->path.arg);
    return;
  }
  if (r->has_clen && r->clen > ROLLBACK_BODY_MAX) {
    srv_reply_error(r, 413, "SIZE_INVALID", "rollback body too large", NULL);
    return;
  }
  wh_buf_init(&r->body, ROLLBACK_BODY_MAX);
  r->body_mode = SRV_BODY_BUFFER;
  r->body_ctx = SRV_CTX_ANY;
}

/* The body: empty, {"steps": N} or {"digest": D}; false: replied 400. */
static bool rollback_args(struct srv_req *r, struct store_rollback *a, struct wh_digest *to)
{
  json_auto_t *j = NULL;
  const json_t *steps, *digest;

  a->steps = 1;
  if (r->body.len == 0)
    return true;
  j = json_loadb(r->body.data, r->body.len, JSON_REJECT_DUPLICATES, NULL);
  steps = json_object_get(j, "steps");
  digest = json_object_get(j, "digest");
  if (!json_is_object(j) || json_object_size(j) > 1 || (json_object_size(j) == 1 && !steps && !digest))
    goto bad;
  if (steps) {
    if (!json_is_integer(steps) || json_integer_value(steps) < 1 ||
        json_integer_value(steps) > ROLLBACK_STEPS_MAX)
      goto bad;
    a->steps = (unsigned)json_integer_value(steps);
  }
  if (digest) {
    if (!json_is_string(digest) || wh_digest_parsez(json_string_value(digest), to, NULL) != WH_OK) {
      srv_reply_error(r, 400, "DIGEST_INVALID", "rollback: invalid digest", NULL);
      return false;
    }
    a->to = to;
  }
  return true;
bad:
  srv_reply_error(r, 400, "UNSUPPORTED",
                  "rollback body: {\"steps\": 1..100000} or {\"digest\": \"sha256:...\"}", NULL);
  return false;
}

/* If-Match on a rollback: only while the tag points at that digest. */
static bool rollback_condition(struct srv_req *r, struct store_tag_expect *e)
{
  switch (srv_cond_parse(srv_req_header(r, "If-Match"), &e->digest)) {
  case SRV_COND_NONE:
    return true;
  case SRV_COND_ANY: /* a rollback needs the tag anyway */
    return true;
  case SRV_COND_DIGEST:
    e->kind = STORE_EXPECT_DIGEST;
    return true;
  case SRV_COND_WEAK:
    srv_reply_error(r, 412, "PRECONDITION_FAILED", "If-Match: a weak entity tag never matches", NULL);
    return false;
  case SRV_COND_INVALID:
    break;
  }
  srv_reply_error(r, 400, "UNSUPPORTED", "If-Match takes one \"digest\" or *", NULL);
  return false;
}

void srv_rollback_post_end(struct srv_req *r)
{
  struct store_tag_expect expect = {0};
  struct store_rollback a = {
      .repo = r->path.name, .tag = r->path.arg, .who = srv_req_who(r), .expect = &expect};
  struct wh_digest to, got, prev;
  json_auto_t *body = NULL;
  struct wh_err err;

  if (!rollback_condition(r, &expect) || !rollback_args(r, &a, &to))
    return;
  wh_err_clear(&err);
  if (store_tag_rollback(r->srv->store, &a, &got, &prev, &err) != WH_OK) {
    if (expect.failed)
      srv_reply_error(r, 412, "PRECONDITION_FAILED", err.msg, NULL);
    else if (err.code == WH_ECONFLICT)
      srv_reply_error(r, 409, "MANIFEST_UNKNOWN", err.msg, NULL);
    else
      srv_reply_werr(r, SRV_CTX_MANIFEST, &err);
    return;
  }
  body = json_pack("{s:s,s:s,s:s,s:s}", "name", r->path.name, "tag", r->path.arg, "digest", got.str,
                   "previous", prev.str);
  if (!body) {
    srv_reply_error(r, 500, "UNKNOWN", "out of memory", NULL);
    return;
  }
  srv_reply_json(r, 200, "application/json", body);
  srv_header(r, "Docker-Content-Digest", got.str);
  srv_events_kick(); /* the move wrote an outbox event (webhooks) */
}

/* ---- discovery ----------------------------------------------------------------- */

static const char discover_json[] =
    "{\"extensions\":["
    "{\"name\":\"_oci\",\"description\":\"extension discovery\","
    "\"endpoints\":[\"_oci/ext/discover\"]},"
    "{\"name\":\"_wharf\",\"description\":\"wharf: tag history, rollback, tokens, usage\","
    "\"endpoints\":[\"<name>/_wharf/history/<tag>\",\"<name>/_wharf/rollback/<tag>\","
    "\"_wharf/token\",\"_wharf/usage\"]}]}\n";

void srv_discover_get(struct srv_req *r)
{
  srv_reply_const(r, 200, "application/json", discover_json);
}
