/* server/manifests.c - /v2/<name>/manifests/<reference> (end-3, end-7, end-9).
 *
 * A reference is a tag (wh_tag_valid) or, when it holds a ':', a digest.
 * PUT bodies are buffered up to limits.max_manifest_bytes (refused early
 * from Content-Length, else when the buffer would overflow), parsed
 * strictly by wh_manifest_parse() and stored exactly as received, with the
 * media type GET will answer. GET never converts: it serves the stored type.
 * DELETE by digest removes the manifest (and its tags); by tag, the tag only.
 */
#include "config.h"

#include "server/server.h"

#include <string.h>

#define MAX_TAG_PARAMS 64

/* Checks the path reference; fills r->digest when it is a digest. A tag
 * that cannot exist is TAG_INVALID for a PUT but simply unknown (404) for
 * GET, HEAD and DELETE, as Distribution and the conformance suite expect. */
static bool parse_reference(struct srv_req *r, bool put)
{
  const char *a = r->path.arg;
  size_t n = r->path.arg_len;
  struct wh_err err;

  wh_err_clear(&err);
  if (n <= SRV_ARG_MAX && memchr(a, ':', n)) {
    if (wh_digest_parse(a, n, &r->digest, &err) == WH_OK) {
      r->has_digest = true;
      return true;
    }
    srv_reply_error(r, 400, "DIGEST_INVALID", err.msg[0] ? err.msg : "invalid digest", NULL);
    return false;
  }
  if (n > 0 && n <= WH_TAG_MAX && wh_tag_valid(a, n))
    return true;
  if (put)
    srv_reply_error(r, 400, "TAG_INVALID", "invalid tag", NULL);
  else
    srv_reply_error(r, 404, "MANIFEST_UNKNOWN", "manifest unknown", NULL);
  return false;
}

void srv_manifest_get(struct srv_req *r)
{
  struct store_manifest m;
  struct wh_err err;
  int fd = -1;

  if (!parse_reference(r, false))
    return;
  wh_err_clear(&err);
  if (store_manifest_get(r->srv->store, r->path.name, r->path.arg, &m, &fd, &err) != WH_OK) {
    srv_reply_werr(r, SRV_CTX_MANIFEST, &err);
    return;
  }
  srv_reply_fd(r, 200, fd, 0, m.size);
  if (!r->is_head) /* a pull event, when webhooks want them (events.c) */
    srv_event_pull(r, &m.digest);
  srv_header(r, "Content-Type", m.media_type);
  srv_header(r, "Docker-Content-Digest", m.digest.str);
  srv_headerf(r, "ETag", "\"%s\"", m.digest.str);
}

/* The tags a PUT moves: the path's tag and every ?tag= (deduplicated). */
struct tag_set {
  const char *tags[MAX_TAG_PARAMS + 1];
  size_t n;
  size_t first_query; /* tags[first_query..n) came from ?tag= (OCI-Tag headers) */
  bool invalid;
  bool too_many;
};

static bool tag_set_has(const struct tag_set *t, const char *tag)
{
  for (size_t i = 0; i < t->n; i++)
    if (strcmp(t->tags[i], tag) == 0)
      return true;
  return false;
}

static int add_query_tag(void *ctx, const char *value)
{
  struct tag_set *t = ctx;
  size_t len = strlen(value);

  if (len == 0 || len > WH_TAG_MAX || !wh_tag_valid(value, len)) {
    t->invalid = true;
    return 1;
  }
  if (tag_set_has(t, value))
    return 0;
  if (t->n >= MAX_TAG_PARAMS + 1) {
    t->too_many = true;
    return 1;
  }
  t->tags[t->n++] = value;
  return 0;
}

static bool collect_tags(struct srv_req *r, struct tag_set *t)
{
  memset(t, 0, sizeof(*t));
  if (!r->has_digest)
    t->tags[t->n++] = r->path.arg;
  t->first_query = t->n;
  srv_query_each(r, "tag", add_query_tag, t);
  if (t->invalid || t->too_many) {
    srv_reply_error(r, 400, "TAG_INVALID", t->invalid ? "invalid tag parameter" : "too many tag parameters",
                    NULL);
    return false;
  }
  return true;
}

void srv_manifest_put_begin(struct srv_req *r)
{
  uint64_t max = r->srv->cfg->max_manifest_bytes;
  struct tag_set tags;

  if (!parse_reference(r, true) || !collect_tags(r, &tags))
    return;
  if (r->has_clen && r->clen > max) {
    srv_reply_error(r, 413, "MANIFEST_INVALID", "manifest exceeds the size limit", NULL);
    return;
  }
  wh_buf_init(&r->body, (size_t)max);
  r->body_mode = SRV_BODY_BUFFER;
  r->body_ctx = SRV_CTX_MANIFEST_PUT;
}

/* Content-Type without parameters ("; charset=..."), "" when absent. */
static void content_type(struct srv_req *r, char *out, size_t size)
{
  const char *ct = srv_req_header(r, "Content-Type");
  size_t n = ct ? strcspn(ct, ";") : 0;

  while (n > 0 && (ct[n - 1] == ' ' || ct[n - 1] == '\t'))
    n--;
  if (n >= size)
    n = size - 1;
  if (n)
    memcpy(out, ct, n);
  out[n] = '\0';
}

static void put_reply(struct srv_req *r, const struct wh_manifest *m, const struct wh_digest *d,
                      const struct tag_set *tags)
{
  srv_reply_empty(r, 201);
  srv_headerf(r, "Location", "/v2/%s/manifests/%s", r->path.name, d->str);
  srv_header(r, "Docker-Content-Digest", d->str);
  if (m->subject)
    srv_header(r, "OCI-Subject", m->subject->digest.str);
  for (size_t i = tags->first_query; i < tags->n; i++)
    srv_header(r, "OCI-Tag", tags->tags[i]);
}

static void store_it(struct srv_req *r, const struct wh_manifest *m, const struct tag_set *tags)
{
  struct store_tag_expect expect[MAX_TAG_PARAMS + 1];
  struct store_manifest_put a;
  struct wh_digest d;
  struct wh_err err;

  if (!srv_put_conditions(r, tags->tags, tags->n, expect)) /* rollback.c: If-Match, immutable tags */
    return;
  memset(&a, 0, sizeof(a));
  a.repo = r->path.name;
  a.body = r->body.data ? r->body.data : "";
  a.len = r->body.len;
  a.media_type = m->media_type;
  a.parsed = m;
  a.digest = r->has_digest ? &r->digest : NULL;
  a.tags = tags->tags;
  a.n_tags = tags->n;
  a.who = srv_req_who(r);
  a.flags = r->srv->cfg->sparse_index ? STORE_MANIFEST_SPARSE_INDEX : 0;
  a.expect = expect;
  if (!srv_quota_admit(r, a.len, tags->tags, tags->n)) /* quota.c: 403 made */
    return;
  wh_err_clear(&err);
  if (store_manifest_put(r->srv->store, &a, &d, &err) != WH_OK) {
    srv_put_fail_reply(r, expect, tags->n, &err);
    return;
  }
  put_reply(r, m, &d, tags);
}

void srv_manifest_put_end(struct srv_req *r)
{
  struct wh_manifest m;
  struct tag_set tags;
  struct wh_err err;
  char ct[256];

  if (!collect_tags(r, &tags))
    return;
  content_type(r, ct, sizeof(ct));
  wh_err_clear(&err);
  if (wh_manifest_parse(r->body.data ? r->body.data : "", r->body.len, ct, &m, &err) != WH_OK) {
    srv_reply_werr(r, SRV_CTX_MANIFEST_PUT, &err);
    return;
  }
  if (!m.media_type || !wh_media_type_is_manifest(m.media_type))
    srv_reply_error(r, 400, "MANIFEST_INVALID", "unsupported manifest media type", NULL);
  else
    store_it(r, &m, &tags);
  wh_manifest_release(&m);
}

void srv_manifest_delete(struct srv_req *r)
{
  struct wh_err err;
  enum wh_code rc;

  if (!parse_reference(r, false) || !srv_delete_allowed(r)) /* rollback.c: immutable tags */
    return;
  wh_err_clear(&err);
  if (r->has_digest)
    rc = store_manifest_delete(r->srv->store, r->path.name, &r->digest, srv_req_who(r), &err);
  else
    rc = store_tag_delete(r->srv->store, r->path.name, r->path.arg, srv_req_who(r), &err);
  if (rc != WH_OK) {
    srv_reply_werr(r, SRV_CTX_MANIFEST, &err);
    return;
  }
  srv_reply_empty(r, 202);
}
