/* server/metrics.c - /metrics (Prometheus text format 0.0.4), /healthz,
 * /readyz, and the per-request counters behind them.
 *
 * Hot path: srv_metrics_observe() runs once per request from the
 * completion callback and only does relaxed atomic adds into fixed arrays
 * indexed by (route kind, method, status): no lock, no allocation, no
 * lookup beyond two tiny switch/loops. Everything else (formatting, the
 * store size) is paid by the scraper.
 *
 * Invariants:
 *  - counters only grow (process lifetime); gauges are read at scrape time;
 *  - the store size (blob count and bytes) is one row the store keeps up
 *    to date with triggers (storage/stats.c): no scan per scrape;
 *  - /metrics, /healthz and /readyz never need credentials (routes.c lists
 *    them; auth leaves these kinds alone) and never touch a repository.
 */
#include "config.h"

#include "server/server.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/cleanup.h"

#define METRICS_MAX (4u << 20) /* bytes of one exposition */

enum { MET_GET, MET_HEAD, MET_PUT, MET_POST, MET_PATCH, MET_DELETE, MET_OTHER, MET_METHODS };
static const char *const method_names[MET_METHODS] = {"GET",   "HEAD",   "PUT",  "POST",
                                                      "PATCH", "DELETE", "other"};

/* Statuses wharfd answers; anything else is counted as status="other". */
static const unsigned statuses[] = {200, 201, 202, 204, 206, 301, 302, 303, 307, 308, 400, 401, 403, 404,
                                    405, 409, 411, 413, 414, 416, 429, 431, 500, 501, 502, 503, 504, 507};
#define MET_STATUSES (WH_ARRAY_LEN(statuses) + 1)

/* Histogram upper bounds in microseconds (le="0.0005" ... le="60"), +Inf last. */
static const uint64_t bucket_us[] = {500,    1000,   2500,    5000,    10000,   25000,    50000,    100000,
                                     250000, 500000, 1000000, 2500000, 5000000, 10000000, 30000000, 60000000};
#define MET_BUCKETS (WH_ARRAY_LEN(bucket_us) + 1)

static const char *const kind_names[SRV_RT_MAX] = {
    [SRV_RT_NONE] = "none",
    [SRV_RT_BASE] = "base",
    [SRV_RT_CATALOG] = "catalog",
    [SRV_RT_TAGS] = "tags",
    [SRV_RT_MANIFEST] = "manifest",
    [SRV_RT_BLOB] = "blob",
    [SRV_RT_UPLOAD_NEW] = "upload_new",
    [SRV_RT_UPLOAD] = "upload",
    [SRV_RT_REFERRERS] = "referrers",
    [SRV_RT_HISTORY] = "history",
    [SRV_RT_ROLLBACK] = "rollback",
    [SRV_RT_TOKEN] = "token",
    [SRV_RT_USAGE] = "usage",
    [SRV_RT_METRICS] = "metrics",
    [SRV_RT_HEALTHZ] = "healthz",
    [SRV_RT_READYZ] = "readyz",
    [SRV_RT_DISCOVER] = "discover",
};

/* All fields: relaxed atomics. */
static struct {
  uint64_t requests[SRV_RT_MAX][MET_METHODS][MET_STATUSES];
  uint64_t buckets[SRV_RT_MAX][MET_BUCKETS]; /* not cumulative; summed at scrape */
  uint64_t duration_us[SRV_RT_MAX];
  uint64_t bytes_in, bytes_out;
  uint64_t uploads_started, uploads_finished;
  uint64_t hooks[3]; /* by enum srv_webhook_result */
  int64_t start_time;
  bool draining;
} M;

static inline void add(uint64_t *c, uint64_t v)
{
  __atomic_fetch_add(c, v, __ATOMIC_RELAXED);
}

static inline uint64_t load(const uint64_t *c)
{
  return __atomic_load_n(c, __ATOMIC_RELAXED);
}

const char *srv_route_kind_name(enum srv_route_kind kind)
{
  if ((unsigned)kind < SRV_RT_MAX && kind_names[kind])
    return kind_names[kind];
  return "none";
}

void srv_metrics_init(void)
{
  __atomic_store_n(&M.start_time, (int64_t)time(NULL), __ATOMIC_RELAXED);
}

void srv_metrics_set_draining(void)
{
  __atomic_store_n(&M.draining, true, __ATOMIC_RELAXED);
}

void srv_metrics_webhook(enum srv_webhook_result res)
{
  if ((unsigned)res < WH_ARRAY_LEN(M.hooks))
    add(&M.hooks[res], 1);
}

/* ---- the hot path ---------------------------------------------------------- */

static unsigned method_index(const char *m)
{
  if (!m)
    return MET_OTHER;
  for (unsigned i = 0; i < MET_OTHER; i++)
    if (strcmp(m, method_names[i]) == 0)
      return i;
  return MET_OTHER;
}

static unsigned status_index(unsigned status)
{
  for (unsigned i = 0; i < WH_ARRAY_LEN(statuses); i++)
    if (statuses[i] == status)
      return i;
  return (unsigned)WH_ARRAY_LEN(statuses);
}

static unsigned bucket_index(uint64_t us)
{
  unsigned i = 0;

  while (i < WH_ARRAY_LEN(bucket_us) && us > bucket_us[i])
    i++;
  return i;
}

static int64_t mono_us(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void srv_metrics_observe(const struct srv_req *r)
{
  enum srv_route_kind k = r->path_status == SRV_PATH_OK ? r->path.kind : SRV_RT_NONE;
  unsigned mi = method_index(r->method);
  int64_t d = mono_us() - r->t_start_us;
  uint64_t us = d > 0 ? (uint64_t)d : 0;

  if ((unsigned)k >= SRV_RT_MAX)
    k = SRV_RT_NONE;
  add(&M.requests[k][mi][status_index(r->status)], 1);
  add(&M.buckets[k][bucket_index(us)], 1);
  add(&M.duration_us[k], us);
  add(&M.bytes_in, r->body_len);
  add(&M.bytes_out, r->resp_bytes);
  /* Upload sessions, from the outcome the client saw: a POST answered 202
   * opened one; a PUT answered 201 (or a monolithic POST) closed one. */
  if (k == SRV_RT_UPLOAD_NEW && mi == MET_POST && (r->status == 202 || (r->status == 201 && r->upload_id[0])))
    add(&M.uploads_started, 1);
  if ((k == SRV_RT_UPLOAD && mi == MET_PUT && r->status == 201) ||
      (k == SRV_RT_UPLOAD_NEW && mi == MET_POST && r->status == 201 && r->upload_id[0]))
    add(&M.uploads_finished, 1);
  /* Changes that may have written an outbox row: wake the deliverers. */
  if (r->status >= 200 && r->status < 300 && mi != MET_HEAD && (k == SRV_RT_MANIFEST || k == SRV_RT_BLOB))
    srv_events_kick();
}

/* ---- exposition ---------------------------------------------------------------- */

static void family(struct wh_buf *b, const char *name, const char *type, const char *help)
{
  wh_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void requests_family(struct wh_buf *b)
{
  family(b, "wharfd_http_requests_total", "counter",
         "HTTP requests answered, by route kind, method and status.");
  for (unsigned k = 0; k < SRV_RT_MAX; k++)
    for (unsigned m = 0; m < MET_METHODS; m++)
      for (unsigned s = 0; s < MET_STATUSES; s++) {
        uint64_t v = load(&M.requests[k][m][s]);
        char st[16];
        if (!v)
          continue;
        if (s < WH_ARRAY_LEN(statuses))
          snprintf(st, sizeof(st), "%u", statuses[s]);
        else
          snprintf(st, sizeof(st), "other");
        wh_buf_printf(b, "wharfd_http_requests_total{route=\"%s\",method=\"%s\",status=\"%s\"} %llu\n",
                      srv_route_kind_name(k), method_names[m], st, (unsigned long long)v);
      }
}

static void duration_family(struct wh_buf *b)
{
  static const char name[] = "wharfd_http_request_duration_seconds";

  family(b, name, "histogram", "Time from request line to completion, by route kind.");
  for (unsigned k = 0; k < SRV_RT_MAX; k++) {
    uint64_t cum = 0, counts[MET_BUCKETS];
    for (unsigned i = 0; i < MET_BUCKETS; i++)
      cum += counts[i] = load(&M.buckets[k][i]);
    if (!cum)
      continue;
    cum = 0;
    for (unsigned i = 0; i < MET_BUCKETS; i++) {
      cum += counts[i];
      if (i < WH_ARRAY_LEN(bucket_us))
        wh_buf_printf(b, "%s_bucket{route=\"%s\",le=\"%g\"} %llu\n", name, srv_route_kind_name(k),
                      (double)bucket_us[i] / 1e6, (unsigned long long)cum);
      else
        wh_buf_printf(b, "%s_bucket{route=\"%s\",le=\"+Inf\"} %llu\n", name, srv_route_kind_name(k),
                      (unsigned long long)cum);
    }
    wh_buf_printf(b, "%s_sum{route=\"%s\"} %.6f\n%s_count{route=\"%s\"} %llu\n", name, srv_route_kind_name(k),
                  (double)load(&M.duration_us[k]) / 1e6, name, srv_route_kind_name(k),
                  (unsigned long long)cum);
  }
}

static void one(struct wh_buf *b, const char *name, const char *type, const char *help, uint64_t v)
{
  family(b, name, type, help);
  wh_buf_printf(b, "%s %llu\n", name, (unsigned long long)v);
}

static void store_families(struct wh_buf *b, struct store *st)
{
  uint64_t blobs, bytes, open = 0;

  if (store_blob_totals(st, &blobs, &bytes, NULL) == WH_OK) {
    one(b, "wharfd_store_blobs", "gauge", "Blobs in the store (manifests included).", blobs);
    one(b, "wharfd_store_blob_bytes", "gauge", "Bytes of the blobs in the store.", bytes);
  }
  if (store_upload_count(st, &open, NULL) == WH_OK)
    one(b, "wharfd_upload_sessions_open", "gauge", "Upload sessions open in the store.", open);
}

static void gc_families(struct wh_buf *b)
{
  uint64_t runs = 0, bytes = 0, blobs = 0;

  srv_gc_stats(&runs, &bytes, &blobs); /* gc.c */
  one(b, "wharfd_gc_runs_total", "counter", "Garbage collections completed (dry runs excluded).", runs);
  one(b, "wharfd_gc_freed_bytes_total", "counter", "Bytes of the blobs garbage collection removed.", bytes);
  one(b, "wharfd_gc_freed_blobs_total", "counter", "Blobs garbage collection removed.", blobs);
}

static void webhook_families(struct wh_buf *b)
{
  static const char *const results[] = {"delivered", "failed", "dropped"};
  static const char name[] = "wharfd_webhook_deliveries_total";

  family(
      b, name, "counter",
      "Webhook delivery attempts: delivered (2xx), failed (retried later), dropped (max_retries reached).");
  for (unsigned i = 0; i < WH_ARRAY_LEN(results); i++)
    wh_buf_printf(b, "%s{result=\"%s\"} %llu\n", name, results[i], (unsigned long long)load(&M.hooks[i]));
}

static void process_families(struct wh_buf *b)
{
  family(b, "process_start_time_seconds", "gauge",
         "Start time of the process since the unix epoch in seconds.");
  wh_buf_printf(b, "process_start_time_seconds %lld\n",
                (long long)__atomic_load_n(&M.start_time, __ATOMIC_RELAXED));
  family(b, "wharfd_build_info", "gauge", "Always 1; the labels say which wharfd this is.");
  wh_buf_printf(b, "wharfd_build_info{version=\"%s\"} 1\n", PACKAGE_VERSION);
}

void srv_metrics_get(struct srv_req *r)
{
  struct wh_buf b;
  char *text;
  size_t len;

  wh_buf_init(&b, METRICS_MAX);
  requests_family(&b);
  duration_family(&b);
  one(&b, "wharfd_http_received_bytes_total", "counter", "Request body bytes received.", load(&M.bytes_in));
  one(&b, "wharfd_http_sent_bytes_total", "counter", "Response body bytes sent (HEAD: 0).",
      load(&M.bytes_out));
  one(&b, "wharfd_upload_sessions_started_total", "counter", "Upload sessions opened.",
      load(&M.uploads_started));
  one(&b, "wharfd_upload_sessions_finished_total", "counter", "Upload sessions completed into a blob.",
      load(&M.uploads_finished));
  store_families(&b, r->srv->store);
  gc_families(&b);
  webhook_families(&b);
  process_families(&b);
  if ((text = wh_buf_steal(&b, &len)) == NULL) {
    srv_reply_error(r, 500, "UNKNOWN", "internal server error", NULL);
    return;
  }
  srv_reply_buf(r, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
  srv_header(r, "Cache-Control", "no-store");
}

/* ---- probes ------------------------------------------------------------------------ */

void srv_healthz_get(struct srv_req *r)
{
  srv_reply_const(r, 200, "text/plain; charset=utf-8", "ok\n");
  srv_header(r, "Cache-Control", "no-store");
}

void srv_readyz_get(struct srv_req *r)
{
  struct wh_err err;

  wh_err_clear(&err);
  if (__atomic_load_n(&M.draining, __ATOMIC_RELAXED))
    srv_reply_const(r, 503, "text/plain; charset=utf-8", "draining\n");
  else if (store_ping(r->srv->store, &err) != WH_OK) {
    snprintf(r->err_msg, sizeof(r->err_msg), "readyz: %.140s", err.msg);
    srv_reply_const(r, 503, "text/plain; charset=utf-8", "store unavailable\n");
  } else
    srv_reply_const(r, 200, "text/plain; charset=utf-8", "ok\n");
  srv_header(r, "Cache-Control", "no-store");
}
