/* client/registry.c - the request driver: libcurl multi, auth, redirects,
 * retries, caps.
 *
 * A request's life (one struct cli_xfer while it is in the driver):
 *
 *   submit --> QUEUED --(slot free)--> ACTIVE --(answer)--> decide:
 *                 ^                      ^  |     401 + challenge: answer it, send again (twice at most)
 *                 |                      |  |     3xx: follow Location ourselves, send again
 *                 |  (time has come)     |  |     429/5xx/network: DELAYED, then again
 *              DELAYED <-----------------+--+     anything else: done(q)
 *
 * Invariants:
 *  - the Authorization header is built per attempt and only for URLs of the
 *    registry's own origin; curl never follows redirects (it could carry a
 *    header to a new host), CURLOPT_UNRESTRICTED_AUTH stays off;
 *  - at most r->parallel transfers are in the multi handle at once;
 *  - every header block is capped at CLI_HDR_MAX bytes, single values at
 *    CLI_HDR_VALUE_MAX, a buffered body at q->max_body (CLI_ERRBODY_MAX for
 *    non-2xx answers): a peer never decides an allocation's size;
 *  - a retry starts again from the request's own URL (a redirect target
 *    such as a pre-signed URL may have expired);
 *  - a paused transfer (sink_wait, source) is unpaused only from the run
 *    loop, never from inside a libcurl callback, and only after someone
 *    asked (cli_req_resume); a streamed body is never sent twice;
 *  - an insecure registry switches scheme at most once, on the first
 *    transport failure (or, trying plain HTTP first on loopback, a 400)
 *    before any answer; certificates go unchecked only for such a registry
 *    and only for its own origin: a redirect to another origin (blob
 *    storage) gets the system's CAs and checks, and no client certificate.
 */
#include "config.h"

#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "client/cli.h"
#include "client/registry-int.h"
#include "common/cleanup.h"
#include "common/fsutil.h"

#define TICK_MS 200
#define CLI_SINK_BUFFER (512 * 1024)    /* receive buffer of a streamed body */
#define CLI_UPLOAD_BUFFER (1024 * 1024) /* send buffer of a big request body */
#define BACKOFF_BASE_MS 500
#define BACKOFF_MAX_MS 8000

enum xstate { X_QUEUED, X_DELAYED, X_ACTIVE };

struct cli_xfer {
  struct cli_registry *r;  /* not owned */
  struct cli_req *q;       /* not owned */
  CURL *easy;              /* owned */
  struct curl_slist *hdrs; /* owned, rebuilt per attempt */
  char *cur_url;           /* owned: absolute URL of this attempt (after redirects) */
  enum xstate state;
  int attempt; /* attempts started */
  int redirects;
  int auth_answers;      /* 401s answered */
  bool began;            /* on_headers called for this answer */
  bool paused;           /* its sink_wait or source paused it */
  bool resume;           /* cli_req_resume asked: unpause at the next turn of the loop */
  bool body_started;     /* its source gave a byte: it cannot be sent again */
  bool body_cut;         /* a non-2xx body hit its cap: answer kept, rest dropped */
  int scheme_resends;    /* sent again on the other scheme of an insecure registry */
  size_t hdr_bytes;      /* of the current header block */
  uint64_t sent;         /* request body bytes handed to curl */
  size_t dropped;        /* unwanted 2xx body bytes dropped */
  int64_t not_before_ms; /* DELAYED: when to start */
  enum wh_code cb_rc;    /* a callback's failure, ends the request */
  struct wh_err cb_err;
  char errbuf[CURL_ERROR_SIZE];
  struct cli_xfer *prev, *next;
};

int64_t cli_now_ms(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void slist_cleanup(struct curl_slist **l)
{
  curl_slist_free_all(*l);
}
#define AUTOSLIST __attribute__((cleanup(slist_cleanup)))

/* malloc'd formatted string of at most CLI_HDR_VALUE_MAX bytes; NULL with
 * errno E2BIG (too long) or ENOMEM. */
__attribute__((format(printf, 1, 0))) static char *vformat(const char *fmt, va_list ap)
{
  va_list ap2;
  int n;
  char *s;

  va_copy(ap2, ap);
  n = vsnprintf(NULL, 0, fmt, ap2);
  va_end(ap2);
  if (n < 0 || (size_t)n > CLI_HDR_VALUE_MAX) {
    errno = E2BIG;
    return NULL;
  }
  if ((s = malloc((size_t)n + 1)) == NULL)
    return NULL;
  vsnprintf(s, (size_t)n + 1, fmt, ap);
  return s;
}

char *cli_str_printf(const char *fmt, ...)
{
  va_list ap;
  char *s;

  va_start(ap, fmt);
  s = vformat(fmt, ap);
  va_end(ap);
  return s;
}

bool cli_host_is_loopback(const char *host)
{
  return strcmp(host, "localhost") == 0 || strcmp(host, "127.0.0.1") == 0 || strcmp(host, "::1") == 0 ||
         strcmp(host, "[::1]") == 0 || strncmp(host, "127.", 4) == 0;
}

void cli_domain_host(const char *domain, char *out, size_t size)
{
  const char *end;

  if (domain[0] == '[') {
    end = strchr(domain, ']');
    end = end ? end + 1 : domain + strlen(domain);
  } else {
    end = strchr(domain, ':');
    if (end == NULL)
      end = domain + strlen(domain);
  }
  snprintf(out, size, "%.*s", (int)(end - domain), domain);
}

void cli_curl_common(CURL *e)
{
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_USERAGENT, CLI_USER_AGENT);
  curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, 30L);
  curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, 30L);
#if LIBCURL_VERSION_NUM >= 0x075500
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
#else
  curl_easy_setopt(e, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
}

/* ---- URLs -------------------------------------------------------------------- */

/* u resolved against the registry's base (absolute URLs kept). */
static enum wh_code abs_url(const struct cli_registry *r, const char *u, char **out, struct wh_err *err)
{
  AUTOCURLU CURLU *h = curl_url();
  char *s = NULL;

  if (h == NULL)
    return wh_err_set(err, WH_ENOMEM, 0, "out of memory");
  if (curl_url_set(h, CURLUPART_URL, r->base, 0) != CURLUE_OK ||
      curl_url_set(h, CURLUPART_URL, u, 0) != CURLUE_OK || curl_url_get(h, CURLUPART_URL, &s, 0) != CURLUE_OK)
    return wh_err_set(err, WH_EINVALID, 0, "bad URL \"%.200s\"", u);
  *out = strdup(s);
  curl_free(s);
  return *out ? WH_OK : wh_err_set(err, WH_ENOMEM, 0, "out of memory");
}

/* scheme, host and port of an absolute URL, lower-cased ("http://h:80"). */
static bool origin_of(const char *url, char *out, size_t size)
{
  AUTOCURLU CURLU *h = curl_url();
  char *scheme = NULL, *host = NULL, *port = NULL;
  bool ok = false;

  if (h && curl_url_set(h, CURLUPART_URL, url, 0) == CURLUE_OK &&
      curl_url_get(h, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
      curl_url_get(h, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
      curl_url_get(h, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK) {
    int n = snprintf(out, size, "%s://%s:%s", scheme, host, port);
    ok = n > 0 && (size_t)n < size;
    for (char *c = out; ok && *c; c++)
      *c = (char)(*c >= 'A' && *c <= 'Z' ? *c + 32 : *c);
  }
  curl_free(scheme);
  curl_free(host);
  curl_free(port);
  return ok;
}

static bool same_origin(const char *a, const char *b)
{
  char oa[512], ob[512];

  return origin_of(a, oa, sizeof(oa)) && origin_of(b, ob, sizeof(ob)) && strcmp(oa, ob) == 0;
}

/* ---- requests ------------------------------------------------------------------ */

static void hdrs_release(struct cli_resp_hdrs *h)
{
  free(h->location);
  free(h->www_authenticate);
  free(h->link);
  memset(h, 0, sizeof(*h));
  h->content_length = -1;
}

void cli_req_init(struct cli_req *q, const char *method)
{
  memset(q, 0, sizeof(*q));
  q->method = method;
  q->body_fd = -1;
  q->max_attempts = CLI_DEFAULT_ATTEMPTS;
  q->h.content_length = -1;
  wh_buf_init(&q->resp, 0);
}

void cli_req_reset_answer(struct cli_req *q)
{
  q->status = 0;
  q->rc = WH_OK;
  wh_err_clear(&q->err);
  hdrs_release(&q->h);
  wh_buf_release(&q->resp);
}

void cli_req_release(struct cli_req *q)
{
  if (q == NULL)
    return;
  cli_req_reset_answer(q);
  free(q->url);
  free(q->scope);
  q->url = q->scope = NULL;
}

enum wh_code cli_req_set_url(struct cli_req *q, struct wh_err *err, const char *fmt, ...)
{
  va_list ap;
  char *s;

  va_start(ap, fmt);
  s = vformat(fmt, ap);
  va_end(ap);
  if (s == NULL)
    return errno == E2BIG ? wh_err_set(err, WH_ETOOBIG, 0, "URL too long")
                          : wh_err_set(err, WH_ENOMEM, 0, "out of memory");
  free(q->url);
  q->url = s;
  return WH_OK;
}

enum wh_code cli_req_set_scope(struct cli_req *q, const char *scope, struct wh_err *err)
{
  char *s = scope ? strdup(scope) : NULL;

  if (scope && s == NULL)
    return wh_err_set(err, WH_ENOMEM, 0, "out of memory");
  free(q->scope);
  q->scope = s;
  return WH_OK;
}

static enum wh_code code_for_status(long st)
{
  switch (st) {
  case 401:
    return WH_EUNAUTHORIZED;
  case 403:
    return WH_EDENIED;
  case 404:
    return WH_ENOTFOUND;
  case 413:
    return WH_ETOOBIG;
  case 416:
    return WH_ERANGE;
  case 409:
    return WH_ECONFLICT;
  default:
    break;
  }
  if (st == 429 || st >= 500 || st < 200 || (st >= 300 && st < 400))
    return WH_ENETWORK;
  return WH_EINVALID;
}

enum wh_code cli_req_status_err(const struct cli_req *q, const char *what, struct wh_err *err)
{
  json_auto_t *j = NULL;
  const char *msg = NULL, *code = NULL;
  json_t *e0;

  if (q->rc != WH_OK) {
    if (err && err != &q->err)
      *err = q->err;
    return (wh_err_wrap(err, "%s", what), q->rc);
  }
  if (q->resp.len > 0 && q->resp.data && (j = json_loadb(q->resp.data, q->resp.len, 0, NULL)) != NULL) {
    e0 = json_array_get(json_object_get(j, "errors"), 0);
    msg = json_string_value(json_object_get(e0, "message"));
    code = json_string_value(json_object_get(e0, "code"));
  }
  if (q->status == 401) /* the registry's own words add nothing here */
    return wh_err_set(err, WH_EUNAUTHORIZED, 0, "%s: authentication required (HTTP 401)", what);
  if (msg || code)
    return wh_err_set(err, code_for_status(q->status), 0, "%s: %.200s (HTTP %ld)", what, msg ? msg : code,
                      q->status);
  return wh_err_set(err, code_for_status(q->status), 0, "%s: HTTP %ld", what, q->status);
}

/* ---- one transfer -------------------------------------------------------------------- */

static size_t on_header(char *p, size_t sz, size_t nm, void *ud);
static size_t on_write(char *p, size_t sz, size_t nm, void *ud);
static size_t on_read(char *p, size_t sz, size_t nm, void *ud);
static int on_seek(void *ud, curl_off_t off, int origin);

static enum wh_code add_hdr(struct curl_slist **l, struct wh_err *err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static enum wh_code add_hdr(struct curl_slist **l, struct wh_err *err, const char *fmt, ...)
{
  char line[CLI_HDR_VALUE_MAX + 64];
  struct curl_slist *n;
  va_list ap;
  int len;

  va_start(ap, fmt);
  len = vsnprintf(line, sizeof(line), fmt, ap);
  va_end(ap);
  if (len < 0 || (size_t)len >= sizeof(line) || strpbrk(line, "\r\n"))
    return wh_err_set(err, WH_EINVALID, 0, "bad request header");
  if ((n = curl_slist_append(*l, line)) == NULL)
    return wh_err_set(err, WH_ENOMEM, 0, "out of memory");
  *l = n;
  return WH_OK;
}

/* The Authorization header for this attempt, if any. */
static enum wh_code add_auth(struct cli_xfer *x, struct curl_slist **l, struct wh_err *err)
{
  struct cli_registry *r = x->r;
  const char *scope = x->q->scope ? x->q->scope : "";
  const char *tok;
  enum wh_code rc;

  if ((x->q->flags & CLI_REQ_NO_AUTH) || !same_origin(x->cur_url, r->base))
    return WH_OK;
  if (r->ch.scheme == CLI_AUTH_BASIC && r->creds.user) {
    WH_AUTOFREE char *up = NULL;
    WH_AUTOFREE char *b64 = NULL;
    if ((up = cli_str_printf("%s:%s", r->creds.user, r->creds.pass)) == NULL ||
        (b64 = cli_base64_encode(up, strlen(up))) == NULL)
      return wh_err_set(err, WH_ENOMEM, 0, "out of memory");
    explicit_bzero(up, strlen(up));
    rc = add_hdr(l, err, "Authorization: Basic %s", b64);
    explicit_bzero(b64, strlen(b64));
    return rc;
  }
  if (r->ch.scheme != CLI_AUTH_BEARER)
    return WH_OK;
  if ((tok = cli_token_get(r, scope)) == NULL) {
    if ((rc = cli_token_fetch(r, scope, NULL, err)) != WH_OK)
      return rc;
    if ((tok = cli_token_get(r, scope)) == NULL)
      return wh_err_set(err, WH_EUNAUTHORIZED, 0, "token service gave an expired token");
  }
  return add_hdr(l, err, "Authorization: Bearer %s", tok);
}

static enum wh_code build_headers(struct cli_xfer *x, struct wh_err *err)
{
  const struct cli_req *q = x->q;
  AUTOSLIST struct curl_slist *l = NULL;
  enum wh_code rc = WH_OK;

  if (q->accept)
    rc = add_hdr(&l, err, "Accept: %s", q->accept);
  if (rc == WH_OK && q->content_type)
    rc = add_hdr(&l, err, "Content-Type: %s", q->content_type);
  if (rc == WH_OK && q->range[0])
    rc = add_hdr(&l, err, "Range: %s", q->range);
  if (rc == WH_OK && q->content_range[0])
    rc = add_hdr(&l, err, "Content-Range: %s", q->content_range);
  if (rc == WH_OK)
    rc = add_hdr(&l, err, "Expect:");
  if (rc == WH_OK)
    rc = add_auth(x, &l, err);
  if (rc != WH_OK)
    return rc;
  curl_slist_free_all(x->hdrs);
  x->hdrs = wh_steal_ptr(&l);
  return WH_OK;
}

/* Bytes of q's request body, wherever they come from. */
static uint64_t body_total(const struct cli_req *q)
{
  return q->body_fd >= 0 || q->source ? q->body_size : q->body_len;
}

static void set_method(struct cli_xfer *x)
{
  const struct cli_req *q = x->q;
  CURL *e = x->easy;
  bool has_body =
      strcmp(q->method, "PUT") == 0 || strcmp(q->method, "POST") == 0 || strcmp(q->method, "PATCH") == 0;

  if (strcmp(q->method, "HEAD") == 0) {
    curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
  } else if (has_body) {
    curl_off_t n = (curl_off_t)body_total(q);
    curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(e, CURLOPT_READFUNCTION, on_read);
    curl_easy_setopt(e, CURLOPT_READDATA, x);
    curl_easy_setopt(e, CURLOPT_SEEKFUNCTION, on_seek);
    curl_easy_setopt(e, CURLOPT_SEEKDATA, x);
    curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, n);
    if (n > CLI_UPLOAD_BUFFER)
      curl_easy_setopt(e, CURLOPT_UPLOAD_BUFFERSIZE, (long)CLI_UPLOAD_BUFFER);
    if (strcmp(q->method, "PUT") != 0)
      curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, q->method);
  } else if (strcmp(q->method, "GET") == 0) {
    curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
  } else {
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, q->method);
  }
}

/* Sends one attempt of x. */
static enum wh_code xfer_start(struct cli_xfer *x, struct wh_err *err)
{
  struct cli_req *q = x->q;
  enum wh_code rc;

  cli_req_reset_answer(q);
  x->began = x->body_cut = false;
  x->hdr_bytes = 0;
  x->sent = 0;
  x->dropped = 0;
  x->cb_rc = WH_OK;
  x->errbuf[0] = '\0';
  if (q->source && x->body_started)
    return wh_err_set(err, WH_EINTERNAL, 0, "%s %s: a streamed body cannot be sent again", q->method,
                      x->cur_url);
  x->paused = x->resume = false;
  if (q->on_send && (rc = q->on_send(q, err)) != WH_OK)
    return rc;
  if ((rc = build_headers(x, err)) != WH_OK)
    return rc;
  curl_easy_reset(x->easy);
  cli_curl_common(x->easy);
  if (same_origin(x->cur_url, x->r->base)) /* not to blob storage a redirect points at */
    cli_tls_apply(&x->r->tls, x->easy);
  curl_easy_setopt(x->easy, CURLOPT_URL, x->cur_url);
  curl_easy_setopt(x->easy, CURLOPT_PRIVATE, x);
  curl_easy_setopt(x->easy, CURLOPT_ERRORBUFFER, x->errbuf);
  curl_easy_setopt(x->easy, CURLOPT_HTTPHEADER, x->hdrs);
  curl_easy_setopt(x->easy, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(x->easy, CURLOPT_HEADERDATA, x);
  curl_easy_setopt(x->easy, CURLOPT_WRITEFUNCTION, on_write);
  curl_easy_setopt(x->easy, CURLOPT_WRITEDATA, x);
  if (q->sink) /* big bodies: fewer, larger writes */
    curl_easy_setopt(x->easy, CURLOPT_BUFFERSIZE, (long)CLI_SINK_BUFFER);
  set_method(x);
  if (curl_multi_add_handle(x->r->m, x->easy) != CURLM_OK)
    return wh_err_set(err, WH_EINTERNAL, 0, "curl: cannot add a transfer");
  x->state = X_ACTIVE;
  x->attempt++;
  x->r->n_active++;
  return WH_OK;
}

static void xfer_unlink(struct cli_xfer *x)
{
  struct cli_registry *r = x->r;

  if (x->state == X_ACTIVE) {
    curl_multi_remove_handle(r->m, x->easy);
    r->n_active--;
  }
  if (x->prev)
    x->prev->next = x->next;
  else
    r->head = x->next;
  if (x->next)
    x->next->prev = x->prev;
  else
    r->tail = x->prev;
  x->q->x = NULL;
  curl_easy_cleanup(x->easy);
  curl_slist_free_all(x->hdrs);
  free(x->cur_url);
  free(x);
}

/* Ends x; rc != OK: the request failed with *e. Calls done. */
static void xfer_complete(struct cli_xfer *x, enum wh_code rc, const struct wh_err *e)
{
  struct cli_req *q = x->q;

  q->rc = rc;
  if (rc != WH_OK) {
    if (e && e->code != WH_OK)
      q->err = *e;
    else
      wh_err_set(&q->err, rc, 0, "%s %s: %s", q->method, x->cur_url, wh_code_str(rc));
  }
  xfer_unlink(x);
  if (q->done)
    q->done(q);
}

/* Parks x until delay_ms from now, from its original URL. */
static void xfer_delay(struct cli_xfer *x, int64_t delay_ms)
{
  struct wh_err e = {0};
  char *u = NULL;

  if (abs_url(x->r, x->q->url, &u, &e) != WH_OK) {
    xfer_complete(x, e.code, &e);
    return;
  }
  if (x->state == X_ACTIVE) {
    curl_multi_remove_handle(x->r->m, x->easy);
    x->r->n_active--;
  }
  free(x->cur_url);
  x->cur_url = u;
  x->redirects = 0;
  x->state = X_DELAYED;
  x->not_before_ms = cli_now_ms() + delay_ms;
}

/* Sends x again right away (same slot). */
static void xfer_again(struct cli_xfer *x)
{
  struct wh_err e = {0};

  if (x->state == X_ACTIVE) {
    curl_multi_remove_handle(x->r->m, x->easy);
    x->r->n_active--;
    x->state = X_QUEUED;
  }
  x->attempt--; /* an auth answer or a redirect is not a new attempt */
  if (xfer_start(x, &e) != WH_OK)
    xfer_complete(x, e.code, &e);
}

/* ---- callbacks ------------------------------------------------------------------------ */

static bool hdr_is(const char *p, size_t n, const char *name)
{
  size_t l = strlen(name);

  return n > l && p[l] == ':' && strncasecmp(p, name, l) == 0;
}

static void copy_fixed(char *dst, size_t size, const char *v, size_t n)
{
  if (n < size) {
    memcpy(dst, v, n);
    dst[n] = '\0';
  } /* else: over its size, ignored (never truncated into something else) */
}

static bool append_joined(char **dst, const char *v, size_t n)
{
  size_t old = *dst ? strlen(*dst) : 0;
  char *s;

  if (old + n + 3 > CLI_HDR_VALUE_MAX)
    return false;
  if ((s = realloc(*dst, old + n + 3)) == NULL)
    return false;
  if (old)
    memcpy(s + old, ", ", 2), old += 2;
  memcpy(s + old, v, n);
  s[old + n] = '\0';
  *dst = s;
  return true;
}

static void capture(struct cli_resp_hdrs *h, const char *p, size_t n, const char *v, size_t vn, bool *ok)
{
  if (hdr_is(p, n, "content-type"))
    copy_fixed(h->content_type, sizeof(h->content_type), v, vn);
  else if (hdr_is(p, n, "docker-content-digest"))
    copy_fixed(h->docker_digest, sizeof(h->docker_digest), v, vn);
  else if (hdr_is(p, n, "range"))
    copy_fixed(h->range, sizeof(h->range), v, vn);
  else if (hdr_is(p, n, "content-range"))
    copy_fixed(h->content_range, sizeof(h->content_range), v, vn);
  else if (hdr_is(p, n, "retry-after"))
    copy_fixed(h->retry_after, sizeof(h->retry_after), v, vn);
  else if (hdr_is(p, n, "www-authenticate"))
    *ok = append_joined(&h->www_authenticate, v, vn);
  else if (hdr_is(p, n, "link"))
    *ok = append_joined(&h->link, v, vn);
  else if (hdr_is(p, n, "location")) {
    free(h->location);
    h->location = NULL;
    *ok = append_joined(&h->location, v, vn);
  } else if (hdr_is(p, n, "content-length")) {
    uint64_t cl;
    if (wh_parse_u64(v, vn, &cl) && cl <= INT64_MAX)
      h->content_length = (int64_t)cl;
  } else if (hdr_is(p, n, "oci-chunk-min-length")) {
    uint64_t m;
    if (wh_parse_u64(v, vn, &m))
      h->chunk_min = m;
  }
}

static size_t on_header(char *p, size_t sz, size_t nm, void *ud)
{
  struct cli_xfer *x = ud;
  size_t n = sz * nm, vn;
  const char *colon, *v;
  bool ok = true;

  if (n >= 5 && memcmp(p, "HTTP/", 5) == 0) { /* a new answer (100, redirect...) */
    hdrs_release(&x->q->h);
    x->hdr_bytes = 0;
  }
  x->hdr_bytes += n;
  if (x->hdr_bytes > CLI_HDR_MAX) {
    x->cb_rc = wh_err_set(&x->cb_err, WH_ETOOBIG, 0, "%s %s: response headers over %d bytes", x->q->method,
                          x->cur_url, CLI_HDR_MAX);
    return 0;
  }
  if ((colon = memchr(p, ':', n)) == NULL)
    return n;
  v = colon + 1;
  vn = n - (size_t)(v - p);
  while (vn && (*v == ' ' || *v == '\t'))
    v++, vn--;
  while (vn && (v[vn - 1] == '\r' || v[vn - 1] == '\n' || v[vn - 1] == ' ' || v[vn - 1] == '\t'))
    vn--;
  capture(&x->q->h, p, n, v, vn, &ok);
  if (!ok) {
    x->cb_rc = wh_err_set(&x->cb_err, WH_ETOOBIG, 0, "%s %s: a response header is too long", x->q->method,
                          x->cur_url);
    return 0;
  }
  return n;
}

static size_t on_write(char *p, size_t sz, size_t nm, void *ud)
{
  struct cli_xfer *x = ud;
  struct cli_req *q = x->q;
  size_t n = sz * nm;
  long st = 0;

  curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &st);
  if (st < 200 || st >= 300) { /* an error answer: keep its start for the message */
    size_t room = CLI_ERRBODY_MAX - q->resp.len;
    q->resp.max = CLI_ERRBODY_MAX;
    if (n > room) {
      wh_buf_append(&q->resp, p, room);
      x->body_cut = true;
      return 0;
    }
    return wh_buf_append(&q->resp, p, n) == WH_OK ? n : 0;
  }
  if (!x->began) {
    x->began = true;
    q->status = st;
    if (q->on_headers && (x->cb_rc = q->on_headers(q, &x->cb_err)) != WH_OK)
      return 0;
  }
  if (q->sink_wait && q->sink_wait(q, n)) {
    x->paused = true;
    x->resume = false;
    return CURL_WRITEFUNC_PAUSE;
  }
  if (q->sink)
    return (x->cb_rc = q->sink(q, p, n, &x->cb_err)) == WH_OK ? n : 0;
  if (q->max_body == 0 && x->dropped + n <= CLI_ERRBODY_MAX) { /* not wanted: dropped */
    x->dropped += n;
    return n;
  }
  q->resp.max = q->max_body;
  if (wh_buf_append(&q->resp, p, n) != WH_OK) {
    x->cb_rc = wh_err_set(&x->cb_err, WH_ETOOBIG, 0, "%s %s: response over %zu bytes", q->method, x->cur_url,
                          q->max_body);
    return 0;
  }
  return n;
}

static size_t read_source(struct cli_xfer *x, char *p, size_t n)
{
  size_t got = 0;

  if ((x->cb_rc = x->q->source(x->q, p, n, &got, &x->cb_err)) != WH_OK)
    return CURL_READFUNC_ABORT;
  if (got == 0) {
    x->paused = true;
    x->resume = false;
    return CURL_READFUNC_PAUSE;
  }
  x->body_started = true;
  x->sent += got;
  return got;
}

static size_t on_read(char *p, size_t sz, size_t nm, void *ud)
{
  struct cli_xfer *x = ud;
  const struct cli_req *q = x->q;
  uint64_t total = body_total(q);
  size_t n = sz * nm;
  ssize_t got;

  if (x->sent >= total)
    return 0;
  if (n > total - x->sent)
    n = (size_t)(total - x->sent);
  if (q->source)
    return read_source(x, p, n);
  if (q->body_fd < 0) {
    memcpy(p, (const char *)q->body + x->sent, n);
    x->sent += n;
    return n;
  }
  do
    got = pread(q->body_fd, p, n, (off_t)(q->body_off + x->sent));
  while (got < 0 && errno == EINTR);
  if (got <= 0) {
    x->cb_rc = wh_err_set(&x->cb_err, WH_EIO, got < 0 ? errno : EIO, "read the request body");
    return CURL_READFUNC_ABORT;
  }
  x->sent += (uint64_t)got;
  return (size_t)got;
}

static int on_seek(void *ud, curl_off_t off, int origin)
{
  struct cli_xfer *x = ud;
  uint64_t total = body_total(x->q);

  if (origin != SEEK_SET || off < 0 || (uint64_t)off > total)
    return CURL_SEEKFUNC_CANTSEEK;
  if (x->q->source && (x->body_started || off != 0))
    return CURL_SEEKFUNC_CANTSEEK; /* produced bytes are gone */
  x->sent = (uint64_t)off;
  return CURL_SEEKFUNC_OK;
}

/* ---- deciding what an answer means ------------------------------------------------------- */

static bool curl_retryable(CURLcode c)
{
  switch (c) {
  case CURLE_COULDNT_CONNECT:
  case CURLE_SEND_ERROR:
  case CURLE_RECV_ERROR:
  case CURLE_PARTIAL_FILE:
  case CURLE_OPERATION_TIMEDOUT:
  case CURLE_GOT_NOTHING:
  case CURLE_HTTP2:
  case CURLE_HTTP2_STREAM:
    return true;
  default:
    return false;
  }
}

static bool status_retryable(long st)
{
  return st == 429 || st == 500 || st == 502 || st == 503 || st == 504;
}

static int64_t backoff_ms(int attempt)
{
  int64_t d = BACKOFF_BASE_MS;

  for (int i = 1; i < attempt && d < BACKOFF_MAX_MS; i++)
    d *= 2;
  return d < BACKOFF_MAX_MS ? d : BACKOFF_MAX_MS;
}

/* Retry-After: delta seconds or an HTTP date; capped. -1 when absent or bad. */
static int64_t retry_after_ms(const char *v)
{
  uint64_t s;
  time_t t;

  if (v[0] == '\0')
    return -1;
  if (wh_parse_u64(v, strlen(v), &s))
    return (int64_t)(s > CLI_RETRY_AFTER_MAX ? CLI_RETRY_AFTER_MAX : s) * 1000;
  if ((t = curl_getdate(v, NULL)) < 0)
    return -1;
  t -= time(NULL);
  if (t < 0)
    t = 0;
  return (int64_t)(t > CLI_RETRY_AFTER_MAX ? CLI_RETRY_AFTER_MAX : t) * 1000;
}

/* Answers a 401: learns the scheme, fetches a token when asked. */
static enum wh_code answer_challenge(struct cli_xfer *x, struct wh_err *err)
{
  struct cli_registry *r = x->r;
  struct cli_challenge ch = {0};
  enum wh_code rc;

  if (x->q->flags & CLI_REQ_NO_AUTH)
    return WH_ENOTFOUND;
  if ((rc = cli_challenge_parse(x->q->h.www_authenticate, &ch, err)) != WH_OK)
    return rc;
  if (ch.scheme == CLI_AUTH_BASIC && (r->creds.user == NULL || r->ch.scheme == CLI_AUTH_BASIC)) {
    cli_challenge_release(&ch);
    return WH_ENOTFOUND; /* nothing (new) to offer: the 401 is the answer */
  }
  cli_challenge_release(&r->ch);
  r->ch = ch;
  if (ch.scheme == CLI_AUTH_BEARER)
    return cli_token_fetch(r, x->q->scope ? x->q->scope : "", ch.scope, err);
  return WH_OK;
}

static bool is_redirect(long st)
{
  return st == 301 || st == 302 || st == 303 || st == 307 || st == 308;
}

/* Follows a redirect; false when it is the answer (not followable). */
static bool follow(struct cli_xfer *x, long st)
{
  const char *method = x->q->method;
  char *target = NULL;
  bool safe = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;

  if (!is_redirect(st) || x->q->h.location == NULL || (!safe && st != 307 && st != 308))
    return false;
  if (curl_easy_getinfo(x->easy, CURLINFO_REDIRECT_URL, &target) != CURLE_OK || target == NULL)
    return false;
  if ((target = strdup(target)) == NULL)
    return false;
  free(x->cur_url);
  x->cur_url = target;
  return true;
}

/* An HTTP answer came: auth, redirect, retry or done. */
static void xfer_answered(struct cli_xfer *x, long st)
{
  struct cli_req *q = x->q;
  struct wh_err e = {0};
  enum wh_code rc;

  if (st >= 200 && st < 300 && !x->began && q->on_headers) {
    x->began = true;
    if (q->on_headers(q, &e) != WH_OK) {
      xfer_complete(x, e.code, &e);
      return;
    }
  }
  if (st == 401 && x->auth_answers < 2 && same_origin(x->cur_url, x->r->base)) {
    x->auth_answers++;
    rc = answer_challenge(x, &e);
    if (rc == WH_OK) {
      xfer_again(x);
      return;
    }
    if (rc != WH_ENOTFOUND) {
      xfer_complete(x, rc, &e);
      return;
    }
  }
  if (follow(x, st)) {
    if (++x->redirects > CLI_MAX_REDIRECTS) {
      wh_err_set(&e, WH_ENETWORK, 0, "%s %s: too many redirects", q->method, q->url);
      xfer_complete(x, WH_ENETWORK, &e);
    } else {
      xfer_again(x);
    }
    return;
  }
  if (status_retryable(st) && x->attempt < q->max_attempts) {
    int64_t ra = retry_after_ms(q->h.retry_after);
    xfer_delay(x, ra >= 0 ? ra : backoff_ms(x->attempt));
    return;
  }
  xfer_complete(x, WH_OK, NULL);
}

static bool url_is_https(const char *u)
{
  return strncmp(u, "https://", 8) == 0;
}

/* An insecure registry whose first scheme failed before any answer: the
 * other scheme from now on. Returns true when x is to be sent again (to the
 * new base); x's attempt is not counted. */
static bool switch_scheme(struct cli_xfer *x)
{
  struct cli_registry *r = x->r;
  bool https = url_is_https(r->base);
  char *b;

  if (!r->probing || !same_origin(x->cur_url, r->base))
    return false;
  if ((b = cli_str_printf("%s://%s", https ? "http" : "https", strstr(r->base, "://") + 3)) == NULL)
    return false;
  free(r->base);
  r->base = b;
  r->plain_http = https;
  r->probing = false;
  return true;
}

/* A request to an insecure registry that failed on the scheme it was
 * probing: send it again on the other one (the first such failure switches
 * the registry; others in flight to its old base follow). */
static bool insecure_again(struct cli_xfer *x)
{
  if (x->scheme_resends >= 2) /* bounded, whatever happens */
    return false;
  if (switch_scheme(x) ||
      (url_is_https(x->cur_url) != url_is_https(x->r->base) && strstr(x->q->url, "://") == NULL &&
       !x->r->probing && x->r->probe_order != CLI_PROBE_NONE && x->redirects == 0)) {
    x->scheme_resends++;
    return true;
  }
  return false;
}

/* The error body is the OCI error JSON: a registry's own 400, not a TLS
 * port's answer to plain HTTP. */
static bool is_oci_error(const struct cli_req *q)
{
  return q->resp.data && memmem(q->resp.data, q->resp.len, "\"errors\"", 8) != NULL;
}

/* What the answer to one attempt means; may send x again. */
static void xfer_done(struct cli_xfer *x, CURLcode res)
{
  struct cli_req *q = x->q;
  struct wh_err e = {0};
  long st = 0;

  curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &st);
  if (x->cb_rc != WH_OK) {
    xfer_complete(x, x->cb_rc, &x->cb_err);
  } else if (res != CURLE_OK && !(res == CURLE_WRITE_ERROR && x->body_cut)) {
    if (insecure_again(x)) {
      x->attempt--; /* the same attempt, over plain HTTP */
      xfer_delay(x, 0);
    } else if (curl_retryable(res) && x->attempt < q->max_attempts) {
      xfer_delay(x, backoff_ms(x->attempt));
    } else {
      wh_err_set(&e, WH_ENETWORK, 0, "%s %s: %s", q->method, x->cur_url,
                 x->errbuf[0] ? x->errbuf : curl_easy_strerror(res));
      xfer_complete(x, WH_ENETWORK, &e);
    }
  } else if (x->r->probe_order == CLI_PROBE_HTTP_FIRST && st == 400 && !url_is_https(x->cur_url) &&
             !is_oci_error(q) && insecure_again(x)) {
    x->attempt--; /* plain HTTP to a TLS port (Go answers 400): the same attempt over HTTPS */
    xfer_delay(x, 0);
  } else {
    if (x->r->probing && same_origin(x->cur_url, x->r->base))
      x->r->probing = false; /* it speaks this scheme: no switching any more */
    q->status = st;
    xfer_answered(x, st);
  }
}

/* ---- the registry ------------------------------------------------------------------------ */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void)
{
  curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* How domain is reached: verified HTTPS; for an insecure registry
 * (--insecure, --tls-verify=false, "insecure_registries") unverified HTTPS
 * then plain HTTP, as docker does; for a loopback host plain HTTP first
 * (what a local test registry speaks, without a costly TLS attempt), then
 * unverified HTTPS. */
static enum cli_probe probe_order(const struct cli_opts *o, const char *domain)
{
  char host[256];

  if (o->tls_verify == CLI_TLS_VERIFY)
    return CLI_PROBE_NONE;
  if (o->tls_verify == CLI_TLS_NOVERIFY || o->insecure || cli_auth_insecure(domain))
    return CLI_PROBE_HTTPS_FIRST;
  cli_domain_host(domain, host, sizeof(host));
  return cli_host_is_loopback(host) ? CLI_PROBE_HTTP_FIRST : CLI_PROBE_NONE;
}

enum wh_code cli_registry_open(const struct cli_opts *o, const char *domain, struct cli_registry **out,
                               struct wh_err *err)
{
  struct cli_registry *r;
  enum wh_code rc;

  pthread_once(&curl_once, curl_init_once);
  if ((r = calloc(1, sizeof(*r))) == NULL)
    return wh_err_set(err, WH_ENOMEM, 0, "out of memory");
  r->parallel = CLI_DEFAULT_PARALLEL;
  r->ring = r;
  r->own_m = true;
  wh_buf_init(&r->tls.ca, 0);
  r->probe_order = probe_order(o, domain);
  r->probing = r->probe_order != CLI_PROBE_NONE;
  r->plain_http = r->probe_order == CLI_PROBE_HTTP_FIRST;
  r->domain = strdup(domain);
  r->base = cli_str_printf("%s://%s", r->plain_http ? "http" : "https", cli_registry_host(domain));
  if (r->domain == NULL || r->base == NULL || (r->m = curl_multi_init()) == NULL) {
    cli_registry_free(r);
    return wh_err_set(err, WH_ENOMEM, 0, "out of memory");
  }
  if ((rc = cli_tls_load(&r->tls, domain, o->cert_dir, err)) != WH_OK) {
    cli_registry_free(r);
    return (wh_err_wrap(err, "registry \"%s\"", domain), rc);
  }
  r->tls.noverify = r->probing;
  curl_multi_setopt(r->m, CURLMOPT_MAX_HOST_CONNECTIONS, (long)r->parallel);
  rc = cli_auth_lookup(domain, &r->creds, err);
  if (rc != WH_OK && rc != WH_ENOTFOUND) {
    cli_registry_free(r);
    return (wh_err_wrap(err, "credentials for \"%s\"", domain), rc);
  }
  *out = r;
  return WH_OK;
}

enum wh_code cli_registry_new(const char *domain, bool insecure, struct cli_registry **out,
                              struct wh_err *err)
{
  struct cli_opts o = {.insecure = insecure};

  return cli_registry_open(&o, domain, out, err);
}

void cli_registry_abort(struct cli_registry *r)
{
  while (r->head) {
    struct cli_req *q = r->head->q;
    xfer_unlink(r->head);
    q->rc = wh_err_set(&q->err, WH_EINTERNAL, 0, "%s: aborted", q->method);
  }
}

/* Takes r out of its ring; the handle goes with the last member. */
static void ring_leave(struct cli_registry *r)
{
  struct cli_registry *prev = r;

  while (prev->ring != r)
    prev = prev->ring;
  if (prev == r) {
    if (r->m)
      curl_multi_cleanup(r->m);
  } else {
    prev->ring = r->ring;
    if (r->own_m)
      r->ring->own_m = true;
  }
  r->m = NULL;
  r->ring = r;
}

void cli_registry_share(struct cli_registry *r, struct cli_registry *with)
{
  if (r == with || r->ring != r || r->head != NULL)
    return;
  if (r->own_m && r->m)
    curl_multi_cleanup(r->m);
  r->m = with->m;
  r->own_m = false;
  r->ring = with->ring;
  with->ring = r;
}

void cli_req_resume(struct cli_req *q)
{
  if (q && q->x)
    q->x->resume = true;
}

void cli_registry_free(struct cli_registry *r)
{
  if (r == NULL)
    return;
  cli_registry_abort(r);
  ring_leave(r);
  cli_tokens_clear(r);
  cli_challenge_release(&r->ch);
  cli_creds_release(&r->creds);
  cli_tls_release(&r->tls);
  free(r->domain);
  free(r->base);
  free(r);
}

enum wh_code cli_registry_set_creds(struct cli_registry *r, const char *user, const char *pass,
                                    struct wh_err *err)
{
  struct cli_creds c = {.user = strdup(user), .pass = strdup(pass)};

  if (c.user == NULL || c.pass == NULL) {
    cli_creds_release(&c);
    return wh_err_set(err, WH_ENOMEM, 0, "out of memory");
  }
  cli_creds_release(&r->creds);
  r->creds = c;
  cli_tokens_clear(r);
  return WH_OK;
}

bool cli_registry_has_creds(const struct cli_registry *r)
{
  return r->creds.user != NULL;
}

const char *cli_registry_base(const struct cli_registry *r)
{
  return r->base;
}

void cli_registry_set_parallel(struct cli_registry *r, int n)
{
  r->parallel = n < 1 ? 1 : n > 32 ? 32 : n;
  curl_multi_setopt(r->m, CURLMOPT_MAX_HOST_CONNECTIONS, (long)r->parallel);
}

void cli_registry_on_tick(struct cli_registry *r, void (*fn)(void *ctx), void *ctx)
{
  r->tick = fn;
  r->tick_ctx = ctx;
}

enum wh_code cli_registry_submit(struct cli_registry *r, struct cli_req *q, struct wh_err *err)
{
  struct cli_xfer *x;
  enum wh_code rc;

  if (q->url == NULL || q->method == NULL || q->x != NULL)
    return wh_err_set(err, WH_EINTERNAL, 0, "bad request");
  if ((x = calloc(1, sizeof(*x))) == NULL)
    return wh_err_set(err, WH_ENOMEM, 0, "out of memory");
  x->r = r;
  x->q = q;
  if ((x->easy = curl_easy_init()) == NULL || (rc = abs_url(r, q->url, &x->cur_url, err)) != WH_OK) {
    rc = x->easy ? err->code : wh_err_set(err, WH_ENOMEM, 0, "out of memory");
    if (x->easy)
      curl_easy_cleanup(x->easy);
    free(x);
    return rc;
  }
  x->state = X_QUEUED;
  x->prev = r->tail;
  if (r->tail)
    r->tail->next = x;
  else
    r->head = x;
  r->tail = x;
  q->x = x;
  q->rc = WH_OK;
  return WH_OK;
}

/* Starts what may start; returns ms until the next delayed start (or TICK_MS). */
static int64_t schedule(struct cli_registry *r)
{
  int64_t now = cli_now_ms(), wait = TICK_MS;
  struct cli_xfer *x = r->head, *next;

  for (; x && r->n_active < r->parallel; x = next) {
    struct wh_err e = {0};
    next = x->next;
    if (x->state == X_DELAYED && x->not_before_ms > now) {
      if (x->not_before_ms - now < wait)
        wait = x->not_before_ms - now;
      continue;
    }
    if (x->state != X_ACTIVE && xfer_start(x, &e) != WH_OK) {
      xfer_complete(x, e.code, &e);
      next = r->head; /* done() may have changed the list */
    }
  }
  return wait;
}

static void drain(struct cli_registry *r)
{
  CURLMsg *msg;
  int left;

  while ((msg = curl_multi_info_read(r->m, &left)) != NULL) {
    struct cli_xfer *x = NULL;
    if (msg->msg != CURLMSG_DONE)
      continue;
    curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&x);
    if (x)
      xfer_done(x, msg->data.result);
  }
}

static bool group_busy(struct cli_registry *r)
{
  struct cli_registry *g = r;

  do {
    if (g->head)
      return true;
    g = g->ring;
  } while (g != r);
  return false;
}

static int64_t schedule_group(struct cli_registry *r)
{
  struct cli_registry *g = r;
  int64_t wait = TICK_MS, w;

  do {
    if ((w = schedule(g)) < wait)
      wait = w;
    g = g->ring;
  } while (g != r);
  return wait;
}

/* Unpauses the transfers someone asked to continue; true when any was. */
static bool resume_group(struct cli_registry *r)
{
  struct cli_registry *g = r;
  bool any = false;

  do {
    for (struct cli_xfer *x = g->head; x; x = x->next) {
      if (x->state != X_ACTIVE || !x->paused || !x->resume)
        continue;
      x->paused = x->resume = false; /* before: the unpause may call back and pause again */
      curl_easy_pause(x->easy, CURLPAUSE_CONT);
      any = true;
    }
    g = g->ring;
  } while (g != r);
  return any;
}

enum wh_code cli_registry_run(struct cli_registry *r, struct wh_err *err)
{
  int64_t last_tick = cli_now_ms();

  while (group_busy(r)) {
    int running = 0;
    int64_t wait;
    long ct = -1;

    schedule_group(r);
    if (curl_multi_perform(r->m, &running) != CURLM_OK)
      return wh_err_set(err, WH_EINTERNAL, 0, "curl multi failed");
    drain(r);
    if (r->tick && cli_now_ms() - last_tick >= TICK_MS) {
      last_tick = cli_now_ms();
      r->tick(r->tick_ctx);
    }
    if (!group_busy(r))
      break;
    /* what done callbacks submitted starts now, not after the poll's timeout */
    wait = schedule_group(r);
    if (resume_group(r))
      wait = 0;
    curl_multi_timeout(r->m, &ct);
    if (ct >= 0 && ct < wait)
      wait = ct;
    if (curl_multi_poll(r->m, NULL, 0, (int)wait, NULL) != CURLM_OK)
      return wh_err_set(err, WH_EINTERNAL, 0, "curl multi poll failed");
  }
  if (r->tick)
    r->tick(r->tick_ctx);
  return WH_OK;
}

enum wh_code cli_registry_do(struct cli_registry *r, struct cli_req *q, struct wh_err *err)
{
  enum wh_code rc = cli_registry_submit(r, q, err);

  if (rc != WH_OK)
    return rc;
  if ((rc = cli_registry_run(r, err)) != WH_OK)
    return rc;
  if (q->rc != WH_OK && err)
    *err = q->err;
  return q->rc;
}

/* ---- ping and login -------------------------------------------------------------------------- */

enum wh_code cli_registry_ping(struct cli_registry *r, struct wh_err *err)
{
  struct cli_req q;
  struct cli_challenge ch = {0};
  enum wh_code rc;

  cli_req_init(&q, "GET");
  q.flags = CLI_REQ_NO_AUTH;
  q.max_body = CLI_ERRBODY_MAX;
  if ((rc = cli_req_set_url(&q, err, "/v2/")) == WH_OK && (rc = cli_registry_do(r, &q, err)) == WH_OK) {
    if (q.status == 401) {
      if ((rc = cli_challenge_parse(q.h.www_authenticate, &ch, err)) == WH_OK) {
        cli_challenge_release(&r->ch);
        r->ch = ch;
      }
    } else if (q.status != 200) {
      rc = cli_req_status_err(&q, "registry ping", err);
      wh_err_wrap(err, "%s/v2/ does not answer as an OCI registry", r->base);
    }
  } else if (rc != WH_OK) {
    wh_err_wrap(err, "cannot reach %s", r->base);
  }
  cli_req_release(&q);
  return rc;
}

enum wh_code cli_registry_verify_creds(struct cli_registry *r, struct wh_err *err)
{
  struct cli_req q;
  enum wh_code rc;

  if ((rc = cli_registry_ping(r, err)) != WH_OK)
    return rc;
  if (r->ch.scheme == CLI_AUTH_NONE)
    return WH_OK; /* the registry needs no credentials */
  if (r->ch.scheme == CLI_AUTH_BEARER && (rc = cli_token_fetch(r, "", NULL, err)) != WH_OK)
    return rc;
  cli_req_init(&q, "GET");
  q.max_body = CLI_ERRBODY_MAX;
  q.max_attempts = 2;
  if ((rc = cli_req_set_url(&q, err, "/v2/")) == WH_OK && (rc = cli_registry_do(r, &q, err)) == WH_OK &&
      q.status != 200) {
    rc = cli_req_status_err(&q, "login", err);
    if (q.status == 401)
      rc = wh_err_set(err, WH_EUNAUTHORIZED, 0, "credentials rejected (HTTP 401)");
  }
  cli_req_release(&q);
  return rc;
}
