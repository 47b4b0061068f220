/* server/uploads.c - blob uploads: /v2/<name>/blobs/uploads/[<id>]
 * (end-4a, end-4b, end-5, end-6, end-11, end-13 and DELETE).
 *
 *   POST uploads/                   -> 202 new session          (new_session)
 *   POST uploads/?digest=D + body   -> 201 blob, one request    (monolithic)
 *   POST uploads/?mount=D[&from=R]  -> 201 mounted, else 202    (try_mount)
 *   PATCH uploads/<id> [+Content-Range a-b] -> 202, bytes appended
 *   PUT uploads/<id>?digest=D [+last chunk] -> 201, session ends
 *   GET uploads/<id>                -> 204 with the current Range
 *   DELETE uploads/<id>             -> 204, session gone
 *
 * The session state machine lives in storage/store.h; here a request takes
 * the session's handle in begin (take_session) and gives it back at
 * completion (http.c), so a session is never written by two requests.
 * Bodies stream straight into store_upload_write(), never buffered whole.
 * A chunk must start exactly at the session's size, else 416 with the
 * current Range and the session left as it was. With chunk_min_length set,
 * a PATCH shorter than it is allowed once: it must be the final chunk.
 */
#include "config.h"

#include "server/server.h"

#include <string.h>

static void upload_headers(struct srv_req *r, const char *id, uint64_t size)
{
  srv_headerf(r, "Location", "/v2/%s/blobs/uploads/%s", r->path.name, id);
  srv_headerf(r, "Range", "0-%llu", (unsigned long long)(size ? size - 1 : 0));
  srv_header(r, "Docker-Upload-UUID", id);
}

static void blob_created(struct srv_req *r, const struct wh_digest *d)
{
  srv_reply_empty(r, 201);
  srv_headerf(r, "Location", "/v2/%s/blobs/%s", r->path.name, d->str);
  srv_header(r, "Docker-Content-Digest", d->str);
}

static bool too_big(struct srv_req *r, uint64_t already)
{
  uint64_t max = r->srv->cfg->max_blob_bytes;

  if (!r->has_clen || (already <= max && r->clen <= max - already))
    return false;
  srv_reply_error(r, 413, "SIZE_INVALID", "blob exceeds the size limit", NULL);
  return true;
}

/* Takes the handle of the session named in the path into r->upload. */
static bool take_session(struct srv_req *r)
{
  struct wh_err err;

  if (!srv_upload_id_valid(r->path.arg, r->path.arg_len)) {
    srv_reply_error(r, 404, "BLOB_UPLOAD_UNKNOWN", "blob upload unknown to registry", NULL);
    return false;
  }
  wh_err_clear(&err);
  if (store_upload_get(r->srv->store, r->path.name, r->path.arg, &r->upload, &err) != WH_OK) {
    srv_reply_werr(r, SRV_CTX_UPLOAD, &err);
    return false;
  }
  snprintf(r->upload_id, sizeof(r->upload_id), "%s", store_upload_id(r->upload));
  return true;
}

/* Content-Range of a PATCH or PUT: must continue exactly where the session
 * ends, and agree with Content-Length when both are given. */
static bool check_range(struct srv_req *r)
{
  const char *cr = srv_req_header(r, "Content-Range");
  uint64_t size = store_upload_size(r->upload);

  if (!cr)
    return true;
  if (!srv_content_range_parse(cr, &r->crange_first, &r->crange_last) || r->crange_first != size) {
    srv_reply_error(r, 416, "RANGE_INVALID", "chunk does not start at the end of the upload", NULL);
    upload_headers(r, r->upload_id, size);
    return false;
  }
  if (r->has_clen && r->clen != r->crange_last - r->crange_first + 1) {
    srv_reply_error(r, 400, "SIZE_INVALID", "Content-Length does not match Content-Range", NULL);
    return false;
  }
  r->has_crange = true;
  return true;
}

/* The body really matched the announced Content-Range. */
static bool range_honoured(struct srv_req *r)
{
  if (!r->has_crange || r->body_len == r->crange_last - r->crange_first + 1)
    return true;
  srv_reply_error(r, 400, "SIZE_INVALID", "body length does not match Content-Range", NULL);
  return false;
}

static void stream_body(struct srv_req *r)
{
  r->body_mode = SRV_BODY_UPLOAD;
  r->body_ctx = SRV_CTX_UPLOAD;
}

/* Verifies the bytes against r->digest and commits the blob. */
static void finish(struct srv_req *r)
{
  struct wh_err err;
  uint64_t size = 0;

  wh_err_clear(&err);
  if (r->srv->cfg->chunk_min_length)
    srv_short_chunk_clear(r->srv, r->upload_id);
  if (!srv_quota_upload_end(r)) /* quota.c: 403 made, session ended */
    return;
  if (store_upload_finish(wh_steal_ptr(&r->upload), &r->digest, &size, &err) != WH_OK) {
    if (r->upload_cancel && err.code != WH_EDIGEST)
      store_upload_cancel(r->srv->store, r->path.name, r->upload_id, NULL);
    srv_reply_werr(r, SRV_CTX_UPLOAD, &err);
    return;
  }
  blob_created(r, &r->digest);
}

static void new_session(struct srv_req *r)
{
  char id[STORE_UPLOAD_ID_LEN + 1];
  struct wh_err err;
  uint64_t min = r->srv->cfg->chunk_min_length;

  wh_err_clear(&err);
  if (store_upload_start(r->srv->store, r->path.name, id, &err) != WH_OK) {
    srv_reply_werr(r, SRV_CTX_UPLOAD, &err);
    return;
  }
  srv_reply_empty(r, 202);
  upload_headers(r, id, 0);
  if (min)
    srv_headerf(r, "OCI-Chunk-Min-Length", "%llu", (unsigned long long)min);
}

/* 201 when mounted; false (fall back to a new session) when the digest or
 * source is not usable or does not have the blob. */
static bool try_mount(struct srv_req *r, const char *mount)
{
  const char *from = srv_query(r, "from");
  struct wh_digest d;
  struct wh_err err;

  if (wh_digest_parsez(mount, &d, NULL) != WH_OK)
    return false;
  if (from && !*from)
    from = NULL; /* no source: any repository that has it (content discovery) */
  if (from && (strlen(from) > WH_NAME_MAX || !wh_name_valid(from, strlen(from))))
    return false;
  /* With auth on, a source the caller cannot read (or none: any repository)
   * must not reveal that it holds the blob: a plain upload instead. */
  if (r->srv->auth && (!from || !srv_auth_can_pull(r, from)))
    return false;
  wh_err_clear(&err);
  if (store_blob_mount(r->srv->store, r->path.name, &d, from, &err) == WH_OK) {
    blob_created(r, &d);
    return true;
  }
  if (err.code == WH_ENOTFOUND)
    return false;
  srv_reply_werr(r, SRV_CTX_BLOB, &err);
  return true;
}

/* POST ?digest=D with the whole blob as body: a session for this request only. */
static void monolithic_begin(struct srv_req *r, const char *digest)
{
  struct wh_err err;
  char id[STORE_UPLOAD_ID_LEN + 1];

  wh_err_clear(&err);
  if (wh_digest_parsez(digest, &r->digest, &err) != WH_OK) {
    srv_reply_error(r, 400, "DIGEST_INVALID", err.msg[0] ? err.msg : "invalid digest", NULL);
    return;
  }
  if (too_big(r, 0))
    return;
  if (store_upload_start(r->srv->store, r->path.name, id, &err) != WH_OK ||
      store_upload_get(r->srv->store, r->path.name, id, &r->upload, &err) != WH_OK) {
    srv_reply_werr(r, SRV_CTX_UPLOAD, &err);
    return;
  }
  snprintf(r->upload_id, sizeof(r->upload_id), "%s", id);
  r->has_digest = true;
  r->upload_cancel = true;
  stream_body(r);
}

void srv_upload_post_begin(struct srv_req *r)
{
  const char *mount = srv_query(r, "mount");
  const char *digest = srv_query(r, "digest");

  if (mount && try_mount(r, mount))
    return;
  if (digest && !mount) {
    monolithic_begin(r, digest);
    return;
  }
  new_session(r);
}

void srv_upload_post_end(struct srv_req *r)
{
  if (r->upload && r->has_digest)
    finish(r);
}

void srv_upload_status(struct srv_req *r)
{
  uint64_t size;

  if (!take_session(r))
    return;
  size = store_upload_size(r->upload);
  store_upload_release(wh_steal_ptr(&r->upload));
  srv_reply_empty(r, 204);
  upload_headers(r, r->upload_id, size);
}

void srv_upload_patch_begin(struct srv_req *r)
{
  uint64_t min = r->srv->cfg->chunk_min_length;

  if (!take_session(r) || !check_range(r))
    return;
  if (min && srv_short_chunk_test(r->srv, r->upload_id)) {
    srv_reply_error(r, 416, "RANGE_INVALID", "only the final chunk may be shorter than OCI-Chunk-Min-Length",
                    NULL);
    upload_headers(r, r->upload_id, store_upload_size(r->upload));
    return;
  }
  if (too_big(r, store_upload_size(r->upload)))
    return;
  stream_body(r);
}

void srv_upload_patch_end(struct srv_req *r)
{
  uint64_t min = r->srv->cfg->chunk_min_length;
  uint64_t size = store_upload_size(r->upload);

  store_upload_release(wh_steal_ptr(&r->upload));
  if (!range_honoured(r))
    return;
  if (min && r->body_len > 0 && r->body_len < min)
    srv_short_chunk_mark(r->srv, r->upload_id);
  srv_reply_empty(r, 202);
  upload_headers(r, r->upload_id, size);
}

void srv_upload_put_begin(struct srv_req *r)
{
  const char *digest;
  struct wh_err err;

  if (!take_session(r))
    return;
  digest = srv_query(r, "digest");
  wh_err_clear(&err);
  if (!digest || wh_digest_parsez(digest, &r->digest, &err) != WH_OK) {
    srv_reply_error(r, 400, "DIGEST_INVALID", digest ? err.msg : "digest parameter missing", NULL);
    return;
  }
  r->has_digest = true;
  if (!check_range(r) || too_big(r, store_upload_size(r->upload)))
    return;
  stream_body(r);
}

void srv_upload_put_end(struct srv_req *r)
{
  if (!range_honoured(r))
    return;
  finish(r);
}

void srv_upload_delete(struct srv_req *r)
{
  struct wh_err err;

  if (!srv_upload_id_valid(r->path.arg, r->path.arg_len)) {
    srv_reply_error(r, 404, "BLOB_UPLOAD_UNKNOWN", "blob upload unknown to registry", NULL);
    return;
  }
  wh_err_clear(&err);
  if (store_upload_cancel(r->srv->store, r->path.name, r->path.arg, &err) != WH_OK) {
    srv_reply_werr(r, SRV_CTX_UPLOAD, &err);
    return;
  }
  if (r->srv->cfg->chunk_min_length)
    srv_short_chunk_clear(r->srv, r->path.arg);
  srv_reply_empty(r, 204);
}
