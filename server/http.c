/* server/http.c - the libmicrohttpd daemon, per-request state, replies.
 *
 * Request life (one thread per connection, MHD_USE_THREAD_PER_CONNECTION):
 *
 *   on_uri        request line read: struct srv_req allocated, raw path
 *                 parsed (never decoded), counted in flight
 *   on_access #1  headers known: route chosen, route->begin runs; it replies
 *                 at once or picks a body mode
 *   on_access #n  body bytes: streamed to the upload, or buffered (bounded),
 *                 or discarded when a reply is already held
 *   on_access end route->end replies; the reply is queued
 *   on_completed  always called (also on aborts): an unfinished upload
 *                 handle is released (or its one-shot session cancelled),
 *                 the request is counted (metrics.c), one log line is
 *                 written, the state is freed
 *
 * Invariants: r->resp is owned by r until queued; every reply carries
 * Docker-Distribution-API-Version and X-Request-Id; THE table below is the
 * only place that maps enum wh_code to an HTTP status and OCI error code.
 */
#include "config.h"

#include "server/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fsutil.h"

#define SRV_CONN_MEMORY (128 * 1024) /* per-connection buffer (headers + body chunks) */
/* The connection buffer is large for upload throughput; requests are held
 * to these much smaller limits on what precedes the body. */
#define SRV_URI_MAX (16u * 1024)
#define SRV_HEADERS_MAX (64u * 1024)
#define SRV_HOLD_MAX (4u * 1024 * 1024)     /* early error with a body up to this: read it first */
#define SRV_DISCARD_MAX (16u * 1024 * 1024) /* then give up and drop the connection */

/* ---- THE error table ------------------------------------------------- */

struct err_map {
  enum srv_ctx ctx; /* SRV_CTX_ANY: fallback for every context */
  enum wh_code code;
  unsigned status;
  const char *oci;
  bool digest_detail; /* detail {"digest": ...} found in the message */
};

static const struct err_map err_table[] = {
    {SRV_CTX_BLOB, WH_ENOTFOUND, 404, "BLOB_UNKNOWN", true},
    {SRV_CTX_BLOB, WH_EINVALID, 400, "DIGEST_INVALID", false},
    {SRV_CTX_BLOB, WH_EUNSUPPORTED, 400, "DIGEST_INVALID", false},
    /* DELETE of a blob a manifest still needs: the spec's "not allowed". */
    {SRV_CTX_BLOB, WH_ECONFLICT, 405, "UNSUPPORTED", false},
    {SRV_CTX_UPLOAD, WH_ENOTFOUND, 404, "BLOB_UPLOAD_UNKNOWN", false},
    {SRV_CTX_UPLOAD, WH_EDIGEST, 400, "DIGEST_INVALID", true},
    {SRV_CTX_UPLOAD, WH_EINVALID, 400, "BLOB_UPLOAD_INVALID", false},
    {SRV_CTX_UPLOAD, WH_ECONFLICT, 409, "BLOB_UPLOAD_INVALID", false},
    {SRV_CTX_UPLOAD, WH_EUNSUPPORTED, 400, "DIGEST_INVALID", false},
    {SRV_CTX_MANIFEST, WH_ENOTFOUND, 404, "MANIFEST_UNKNOWN", false},
    {SRV_CTX_MANIFEST_PUT, WH_ENOTFOUND, 400, "MANIFEST_BLOB_UNKNOWN", true},
    {SRV_CTX_MANIFEST_PUT, WH_EINVALID, 400, "MANIFEST_INVALID", false},
    {SRV_CTX_MANIFEST_PUT, WH_EUNSUPPORTED, 400, "MANIFEST_INVALID", false},
    {SRV_CTX_MANIFEST_PUT, WH_ETOOBIG, 413, "MANIFEST_INVALID", false},
    {SRV_CTX_REPO, WH_ENOTFOUND, 404, "NAME_UNKNOWN", false},
    {SRV_CTX_ANY, WH_ENOTFOUND, 404, "NAME_UNKNOWN", false},
    {SRV_CTX_ANY, WH_EINVALID, 400, "UNSUPPORTED", false},
    {SRV_CTX_ANY, WH_EDIGEST, 400, "DIGEST_INVALID", true},
    {SRV_CTX_ANY, WH_ETOOBIG, 413, "SIZE_INVALID", false},
    {SRV_CTX_ANY, WH_ECONFLICT, 409, "UNKNOWN", false},
    {SRV_CTX_ANY, WH_EUNAUTHORIZED, 401, "UNAUTHORIZED", false},
    {SRV_CTX_ANY, WH_EDENIED, 403, "DENIED", false},
    {SRV_CTX_ANY, WH_EUNSUPPORTED, 400, "UNSUPPORTED", false},
    {SRV_CTX_ANY, WH_ERANGE, 416, "RANGE_INVALID", false},
    {SRV_CTX_ANY, WH_ENETWORK, 502, "UNKNOWN", false},
    /* WH_ENOMEM, WH_EIO, WH_EDATABASE, WH_EINTERNAL and anything new: */
    {SRV_CTX_ANY, WH_OK, 500, "UNKNOWN", false},
};

static const struct err_map *err_lookup(enum srv_ctx ctx, enum wh_code code)
{
  const struct err_map *fallback = &err_table[WH_ARRAY_LEN(err_table) - 1];

  for (size_t i = 0; i < WH_ARRAY_LEN(err_table); i++)
    if (err_table[i].ctx == ctx && err_table[i].code == code)
      return &err_table[i];
  for (size_t i = 0; i < WH_ARRAY_LEN(err_table); i++)
    if (err_table[i].ctx == SRV_CTX_ANY && err_table[i].code == code)
      return &err_table[i];
  return fallback;
}

/* ---- replies ---------------------------------------------------------- */

static void set_resp(struct srv_req *r, struct MHD_Response *resp, unsigned status, uint64_t bytes)
{
  if (r->resp)
    MHD_destroy_response(r->resp);
  r->resp = resp;
  r->status = status;
  r->resp_bytes = r->is_head ? 0 : bytes;
  if (!resp)
    return;
  MHD_add_response_header(resp, "Docker-Distribution-API-Version", "registry/2.0");
  MHD_add_response_header(resp, "X-Request-Id", r->id);
}

void srv_reply_buf(struct srv_req *r, unsigned status, const char *content_type, char *data, size_t len)
{
  struct MHD_Response *resp = MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE);

  if (!resp)
    free(data);
  set_resp(r, resp, status, len);
  if (resp && content_type)
    MHD_add_response_header(resp, "Content-Type", content_type);
}

void srv_reply_empty(struct srv_req *r, unsigned status)
{
  struct MHD_Response *resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);

  set_resp(r, resp, status, 0);
}

void srv_reply_const(struct srv_req *r, unsigned status, const char *content_type, const char *text)
{
  size_t len = strlen(text);
  struct MHD_Response *resp = MHD_create_response_from_buffer(len, (void *)text, MHD_RESPMEM_PERSISTENT);

  set_resp(r, resp, status, len);
  if (resp && content_type)
    MHD_add_response_header(resp, "Content-Type", content_type);
}

void srv_reply_json(struct srv_req *r, unsigned status, const char *content_type, const json_t *j)
{
  char *text = json_dumps(j, JSON_COMPACT);

  if (!text) {
    set_resp(r, NULL, 500, 0);
    return;
  }
  srv_reply_buf(r, status, content_type ? content_type : "application/json", text, strlen(text));
}

void srv_reply_fd(struct srv_req *r, unsigned status, int fd, uint64_t off, uint64_t len)
{
  struct MHD_Response *resp = MHD_create_response_from_fd_at_offset64(len, fd, off);

  if (!resp)
    close(fd);
  set_resp(r, resp, status, len);
}

void srv_reply_error(struct srv_req *r, unsigned status, const char *oci_code, const char *message,
                     json_t *detail)
{
  json_auto_t *body = NULL;
  json_t *e = json_pack("{s:s,s:s}", "code", oci_code, "message", message ? message : "");

  if (!r->err_msg[0])
    snprintf(r->err_msg, sizeof(r->err_msg), "%.24s: %.130s", oci_code, message ? message : "");
  if (e && detail)
    json_object_set_new(e, "detail", detail);
  else
    json_decref(detail);
  body = e ? json_pack("{s:[o]}", "errors", e) : NULL;
  if (!body) {
    set_resp(r, NULL, 500, 0);
    return;
  }
  srv_reply_json(r, status, "application/json", body);
}

void srv_reply_werr(struct srv_req *r, enum srv_ctx ctx, const struct wh_err *err)
{
  const struct err_map *m = err_lookup(ctx, err->code);
  const char *msg = err->msg[0] ? err->msg : wh_code_str(err->code);
  json_t *detail = NULL;
  struct wh_digest d;

  if (srv_reply_disk_full(r, err)) /* 507 with a clear message (quota.c) */
    return;
  if (!r->err_msg[0])
    snprintf(r->err_msg, sizeof(r->err_msg), "%.24s: %.130s", m->oci, msg);
  if (m->status >= 500)
    msg = "internal server error";
  if (err->code == WH_EDIGEST && r->has_digest) /* the digest the client claimed */
    detail = json_pack("{s:s}", "digest", r->digest.str);
  else if (m->digest_detail && srv_find_digest(err->msg, &d))
    detail = json_pack("{s:s}", "digest", d.str);
  srv_reply_error(r, m->status, m->oci, msg, detail);
}

void srv_header(struct srv_req *r, const char *name, const char *value)
{
  if (r->resp)
    MHD_add_response_header(r->resp, name, value);
}

void srv_headerf(struct srv_req *r, const char *name, const char *fmt, ...)
{
  char value[1024];
  va_list ap;

  va_start(ap, fmt);
  vsnprintf(value, sizeof(value), fmt, ap);
  va_end(ap);
  srv_header(r, name, value);
}

/* ---- request inputs ----------------------------------------------------- */

bool srv_path_digest(struct srv_req *r, struct wh_digest *out)
{
  struct wh_err err;

  wh_err_clear(&err);
  if (r->path.arg_len <= SRV_ARG_MAX && wh_digest_parse(r->path.arg, r->path.arg_len, out, &err) == WH_OK)
    return true;
  srv_reply_error(r, 400, "DIGEST_INVALID", err.msg[0] ? err.msg : "invalid digest", NULL);
  return false;
}

const char *srv_query(struct srv_req *r, const char *key)
{
  return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, key);
}

const char *srv_req_header(struct srv_req *r, const char *name)
{
  return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

struct query_each {
  const char *key;
  int (*cb)(void *ctx, const char *value);
  void *ctx;
  int stopped;
};

static enum MHD_Result query_iter(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
  struct query_each *q = cls;

  if (!key || strcmp(key, q->key) != 0)
    return MHD_YES;
  q->stopped = q->cb(q->ctx, value ? value : "");
  return q->stopped ? MHD_NO : MHD_YES;
}

int srv_query_each(struct srv_req *r, const char *key, int (*cb)(void *ctx, const char *value), void *ctx)
{
  struct query_each q = {key, cb, ctx, 0};

  MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, query_iter, &q);
  return q.stopped;
}

/* ---- short chunks (OCI-Chunk-Min-Length) ---------------------------------- */

void srv_short_chunk_mark(struct srv_server *s, const char *id)
{
  pthread_mutex_lock(&s->lock);
  snprintf(s->short_chunk[s->short_chunk_next], sizeof(s->short_chunk[0]), "%s", id);
  s->short_chunk_next = (s->short_chunk_next + 1) % SRV_SHORT_CHUNK_SLOTS;
  pthread_mutex_unlock(&s->lock);
}

static int short_chunk_find(struct srv_server *s, const char *id)
{
  for (int i = 0; i < SRV_SHORT_CHUNK_SLOTS; i++)
    if (strcmp(s->short_chunk[i], id) == 0)
      return i;
  return -1;
}

bool srv_short_chunk_test(struct srv_server *s, const char *id)
{
  bool found;

  pthread_mutex_lock(&s->lock);
  found = short_chunk_find(s, id) >= 0;
  pthread_mutex_unlock(&s->lock);
  return found;
}

void srv_short_chunk_clear(struct srv_server *s, const char *id)
{
  int i;

  pthread_mutex_lock(&s->lock);
  while ((i = short_chunk_find(s, id)) >= 0)
    s->short_chunk[i][0] = '\0';
  pthread_mutex_unlock(&s->lock);
}

/* ---- request lifecycle --------------------------------------------------- */

static int64_t now_us(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Printable copy for logs: bytes outside printable ASCII become '?'. */
static void copy_printable(char *dst, size_t size, const char *src, size_t len)
{
  size_t n = len < size - 1 ? len : size - 1;

  for (size_t i = 0; i < n; i++)
    dst[i] = (src[i] > 0x20 && src[i] < 0x7f) ? src[i] : '?';
  dst[n] = '\0';
}

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
  struct srv_server *s = cls;
  struct srv_req *r = calloc(1, sizeof(*r));
  size_t uri_len = strlen(uri), off = 0, path_len = srv_uri_path(uri, uri_len, &off);
  uint64_t n = __atomic_add_fetch(&s->next_req, 1, __ATOMIC_RELAXED);

  pthread_mutex_lock(&s->lock);
  s->inflight++;
  pthread_mutex_unlock(&s->lock);
  if (!r)
    return NULL;
  r->srv = s;
  r->conn = c;
  r->t_start_us = now_us();
  snprintf(r->id, sizeof(r->id), "%08x%08llx", s->boot_id, (unsigned long long)n);
  r->uri_len = uri_len;
  copy_printable(r->log_path, sizeof(r->log_path), uri + off, path_len);
  r->path_status = srv_path_parse(uri + off, path_len, &r->path);
  wh_buf_init(&r->body, 0);
  return r;
}

static void inflight_done(struct srv_server *s)
{
  pthread_mutex_lock(&s->lock);
  if (s->inflight > 0 && --s->inflight == 0)
    pthread_cond_broadcast(&s->idle);
  pthread_mutex_unlock(&s->lock);
}

static void release_upload(struct srv_req *r)
{
  char id[STORE_UPLOAD_ID_LEN + 1];

  if (!r->upload)
    return;
  snprintf(id, sizeof(id), "%s", store_upload_id(r->upload));
  store_upload_release(wh_steal_ptr(&r->upload));
  if (r->upload_cancel)
    store_upload_cancel(r->srv->store, r->path.name, id, NULL);
}

/* The peer's address ("-" when unknown), for the request log. */
static void remote_addr(struct srv_req *r, char *out, size_t size)
{
  const union MHD_ConnectionInfo *ci = MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
  const struct sockaddr *sa = ci ? ci->client_addr : NULL;

  snprintf(out, size, "-");
  if (sa && sa->sa_family == AF_INET)
    inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, out, (socklen_t)size);
  else if (sa && sa->sa_family == AF_INET6)
    inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, out, (socklen_t)size);
}

/* One line per request, the same fields in both formats, in this order
 * (tests and log parsers read "method=GET path=/v2/... status=200" from the
 * text form): method, path, status, route, repository, user, bytes_in,
 * bytes_out, duration_ms, remote, then aborted and error when they apply.
 * JSON keeps absent repository/user as null; text leaves them out. Never
 * the query string (tokens may ride in it) nor any header value: log_path
 * is the path alone, and user is the name authentication settled on. */
static void log_request(struct srv_req *r, enum MHD_RequestTerminationCode toe)
{
  enum wh_log_level level = r->status >= 500 ? WH_LOG_ERROR : WH_LOG_INFO;
  bool json = r->srv->cfg->log_format == WH_LOG_JSON;
  double ms = (double)((now_us() - r->t_start_us) / 10) / 100.0; /* 0.01 ms steps */
  json_auto_t *f = NULL;
  char remote[INET6_ADDRSTRLEN + 1];

  if (level < wh_log_level_min()) /* the common case under load: nothing to build */
    return;
  remote_addr(r, remote, sizeof(remote));
  f = json_pack("{s:s,s:s,s:i,s:s}", "method", r->method ? r->method : "-", "path", r->log_path, "status",
                (int)r->status, "route",
                srv_route_kind_name(r->path_status == SRV_PATH_OK ? r->path.kind : SRV_RT_NONE));
  if (!f)
    return;
  if (r->path.name[0] || json)
    json_object_set_new(f, "repository", r->path.name[0] ? json_string(r->path.name) : json_null());
  if (r->user[0] || json)
    json_object_set_new(f, "user", r->user[0] ? json_string(r->user) : json_null());
  json_object_set_new(f, "bytes_in", json_integer((json_int_t)r->body_len));
  json_object_set_new(f, "bytes_out", json_integer((json_int_t)r->resp_bytes));
  json_object_set_new(f, "duration_ms", json_real(ms));
  json_object_set_new(f, "remote", json_string(remote));
  if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK)
    json_object_set_new(f, "aborted", json_true());
  if (r->err_msg[0])
    json_object_set_new(f, "error", json_string(r->err_msg));
  wh_log_fields(level, r->id, "request", f);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
  struct srv_server *s = cls;
  struct srv_req *r = *con_cls;

  *con_cls = NULL;
  if (r) {
    release_upload(r);
    srv_metrics_observe(r);
    log_request(r, toe);
    if (r->resp)
      MHD_destroy_response(r->resp);
    wh_buf_release(&r->body);
    srv_authn_free(r->authn);
    free(r);
  }
  inflight_done(s);
}

static enum MHD_Result queue(struct srv_req *r)
{
  enum MHD_Result ret;

  if (!r->resp)
    return MHD_NO;
  ret = MHD_queue_response(r->conn, r->status, r->resp);
  MHD_destroy_response(r->resp);
  r->resp = NULL;
  r->replied = true;
  return ret;
}

static void route(struct srv_req *r)
{
  char allow[64];

  if (r->path_status == SRV_PATH_NAME_INVALID) {
    srv_reply_error(r, 400, "NAME_INVALID", "invalid repository name", NULL);
    return;
  }
  if (r->path_status != SRV_PATH_OK) {
    srv_reply_error(r, 404, "NAME_UNKNOWN", "no such route", NULL);
    return;
  }
  r->route = srv_route_find(r->path.kind, r->method, allow, sizeof(allow));
  if (!r->route && allow[0] == '\0') { /* a kind nothing serves (yet): as if no route */
    srv_reply_error(r, 404, "NAME_UNKNOWN", "no such route", NULL);
    return;
  }
  if (!r->route) {
    srv_reply_error(r, 405, "UNSUPPORTED", "method not allowed", NULL);
    srv_header(r, "Allow", allow);
    return;
  }
  if (!srv_auth_check(r)) /* 401/403 made; r->user is settled either way */
    return;
  if (!srv_admit(r)) /* read-only mode, free-disk floor, quotas (quota.c) */
    return;
  r->route->begin(r);
  if (!r->resp && !r->route->end)
    srv_reply_error(r, 500, "UNKNOWN", "internal server error", NULL);
}

static bool expects_body(struct srv_req *r)
{
  const char *te = srv_req_header(r, "Transfer-Encoding");

  return (r->has_clen && r->clen > 0) || (te && strcasecmp(te, "identity") != 0);
}

static enum MHD_Result add_header_size(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
  size_t *sum = cls;

  *sum += strlen(key) + (value ? strlen(value) : 0) + 4;
  return MHD_YES;
}

/* Refuses an over-long request target or header block (414 / 431). */
static bool oversized(struct srv_req *r, struct MHD_Connection *c)
{
  size_t headers = 0;

  if (r->uri_len > SRV_URI_MAX) {
    srv_reply_error(r, 414, "UNSUPPORTED", "request target too long", NULL);
    return true;
  }
  MHD_get_connection_values(c, MHD_HEADER_KIND, add_header_size, &headers);
  if (headers > SRV_HEADERS_MAX) {
    srv_reply_error(r, 431, "UNSUPPORTED", "request headers too large", NULL);
    return true;
  }
  return false;
}

static enum MHD_Result begin(struct srv_req *r, struct MHD_Connection *c, const char *method)
{
  const char *cl;

  r->conn = c;
  snprintf(r->method_buf, sizeof(r->method_buf), "%s", method);
  r->method = r->method_buf;
  r->is_head = strcmp(method, "HEAD") == 0;
  r->begun = true;
  cl = srv_req_header(r, "Content-Length");
  r->has_clen = cl && wh_parse_u64(cl, strlen(cl), &r->clen);
  if (!oversized(r, c))
    route(r);
  /* Replies go out after the request is read: libmicrohttpd closes the
   * connection after a reply queued this early. A small body is read and
   * dropped first, so the client is not reset while still sending; only a
   * body too large to read is refused at once. */
  if (r->resp && expects_body(r) && r->has_clen && r->clen > SRV_HOLD_MAX)
    return queue(r);
  return MHD_YES;
}

static enum MHD_Result body(struct srv_req *r, const char *data, size_t n)
{
  struct wh_err err;

  r->body_len += n;
  if (r->resp) /* a reply is held: drop the rest of the body */
    return r->body_len > SRV_DISCARD_MAX ? MHD_NO : MHD_YES;
  wh_err_clear(&err);
  switch (r->body_mode) {
  case SRV_BODY_UPLOAD:
    if (store_upload_write(r->upload, data, n, &err) != WH_OK)
      srv_reply_werr(r, r->body_ctx, &err);
    break;
  case SRV_BODY_BUFFER:
    if (wh_buf_append(&r->body, data, n) != WH_OK) {
      wh_err_set(&err, WH_ETOOBIG, 0, "request body exceeds %zu bytes", r->body.max);
      srv_reply_werr(r, r->body_ctx, &err);
    }
    break;
  case SRV_BODY_DISCARD:
    if (r->body_len > SRV_DISCARD_MAX)
      return MHD_NO;
    break;
  }
  return MHD_YES;
}

static enum MHD_Result end(struct srv_req *r)
{
  if (!r->resp && r->route && r->route->end)
    r->route->end(r);
  if (!r->resp)
    srv_reply_error(r, 500, "UNKNOWN", "internal server error", NULL);
  return queue(r);
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                 const char *version, const char *upload_data, size_t *upload_data_size,
                                 void **con_cls)
{
  struct srv_req *r = *con_cls;
  enum MHD_Result ret;

  if (!r || r->replied)
    return MHD_NO;
  if (!r->begun)
    return begin(r, c, method);
  if (*upload_data_size) {
    ret = body(r, upload_data, *upload_data_size);
    *upload_data_size = 0;
    return ret;
  }
  return end(r);
}

/* ---- the daemon ------------------------------------------------------------ */

__attribute__((format(printf, 2, 0))) static void mhd_log(void *cls, const char *fmt, va_list ap)
{
  char line[512];
  size_t n;

  vsnprintf(line, sizeof(line), fmt, ap);
  n = strlen(line);
  while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
    line[--n] = '\0';
  wh_log(WH_LOG_WARN, NULL, "libmicrohttpd: %s", line);
}

static enum wh_code init_sync(struct srv_server *s, struct wh_err *err)
{
  pthread_condattr_t ca;

  if (pthread_mutex_init(&s->lock, NULL) != 0)
    return wh_err_set(err, WH_EINTERNAL, 0, "mutex init");
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  if (pthread_cond_init(&s->idle, &ca) != 0) {
    pthread_condattr_destroy(&ca);
    pthread_mutex_destroy(&s->lock);
    return wh_err_set(err, WH_EINTERNAL, 0, "condition init");
  }
  pthread_condattr_destroy(&ca);
  return WH_OK;
}

enum wh_code srv_start(struct srv_server *s, const struct srv_config *cfg, struct store *st,
                       const struct srv_listen *l, struct wh_err *err)
{
  unsigned char rnd[4];

  memset(s, 0, sizeof(*s));
  s->cfg = cfg;
  s->store = st;
  if (getentropy(rnd, sizeof(rnd)) == 0)
    s->boot_id = (uint32_t)rnd[0] << 24 | (uint32_t)rnd[1] << 16 | (uint32_t)rnd[2] << 8 | rnd[3];
  else
    s->boot_id = (uint32_t)getpid() ^ (uint32_t)time(NULL);
  if (srv_tls_new(cfg, &s->tls, err) != WH_OK || srv_auth_new(cfg, s->tls != NULL, &s->auth, err) != WH_OK) {
    srv_tls_free(wh_steal_ptr(&s->tls));
    return err ? err->code : WH_EINVALID;
  }
  if (init_sync(s, err) != WH_OK) {
    srv_auth_free(wh_steal_ptr(&s->auth));
    srv_tls_free(wh_steal_ptr(&s->tls));
    return err ? err->code : WH_EINTERNAL;
  }
  s->daemon = srv_daemon_start(s, l, -1);
  if (!s->daemon) {
    int e = errno;
    pthread_cond_destroy(&s->idle);
    pthread_mutex_destroy(&s->lock);
    srv_auth_free(wh_steal_ptr(&s->auth));
    srv_tls_free(wh_steal_ptr(&s->tls));
    return wh_err_set(err, WH_ENETWORK, e, "listen \"%s\"", cfg->listen ? cfg->listen : SRV_DEFAULT_LISTEN);
  }
  return WH_OK;
}

struct MHD_Daemon *srv_daemon_start(struct srv_server *s, const struct srv_listen *l, int listen_fd)
{
  const struct srv_config *cfg = s->cfg;
  unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC |
                   MHD_USE_ERROR_LOG | (s->tls ? MHD_USE_TLS : 0);
  struct MHD_OptionItem ops[8];
  size_t n = 0;

  if (listen_fd >= 0) {
    ops[n++] = (struct MHD_OptionItem){MHD_OPTION_LISTEN_SOCKET, listen_fd, NULL};
  } else {
    flags |= l->ipv6 ? MHD_USE_IPv6 : 0;
    ops[n++] = (struct MHD_OptionItem){MHD_OPTION_SOCK_ADDR, 0, (void *)&l->addr};
  }
  if (s->tls) { /* libmicrohttpd hands these to GnuTLS at start */
    ops[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, (void *)srv_tls_key_pem(s->tls)};
    ops[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, (void *)srv_tls_cert_pem(s->tls)};
    ops[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)SRV_TLS_PRIORITIES};
  }
  ops[n] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
  return MHD_start_daemon(flags, 0, NULL, NULL, on_access, s, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, s,
                          MHD_OPTION_CONNECTION_LIMIT, (unsigned int)cfg->max_connections,
                          MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)cfg->connection_timeout_s,
                          MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)SRV_CONN_MEMORY, MHD_OPTION_NOTIFY_COMPLETED,
                          on_completed, s, MHD_OPTION_URI_LOG_CALLBACK, on_uri, s, MHD_OPTION_ARRAY, ops,
                          MHD_OPTION_END);
}

uint16_t srv_bound_port(struct srv_server *s)
{
  const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);

  return info ? info->port : 0;
}

void srv_stop(struct srv_server *s, unsigned grace_s)
{
  struct timespec deadline;
  MHD_socket lfd;

  if (!s->daemon)
    return;
  lfd = MHD_quiesce_daemon(s->daemon);
  clock_gettime(CLOCK_MONOTONIC, &deadline);
  deadline.tv_sec += grace_s;
  pthread_mutex_lock(&s->lock);
  while (s->inflight > 0)
    if (pthread_cond_timedwait(&s->idle, &s->lock, &deadline) == ETIMEDOUT)
      break;
  if (s->inflight > 0)
    wh_log(WH_LOG_WARN, NULL, "stopping with %llu requests still in flight", (unsigned long long)s->inflight);
  pthread_mutex_unlock(&s->lock);
  MHD_stop_daemon(s->daemon);
  s->daemon = NULL;
  if (lfd != MHD_INVALID_SOCKET)
    close(lfd);
  srv_tls_free(wh_steal_ptr(&s->tls)); /* stops daemons retired by a reload */
  srv_auth_free(wh_steal_ptr(&s->auth));
  pthread_cond_destroy(&s->idle);
  pthread_mutex_destroy(&s->lock);
}
