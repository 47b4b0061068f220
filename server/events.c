/* server/events.c - webhooks: config parsing and the delivery threads.
 *
 * The store writes one outbox row per change in the change's own
 * transaction (storage/outbox.c); this file only reads the outbox. Each
 * configured webhook has one thread and one cursor in the store (consumer
 * "webhook:<sha256 of the url>"), and delivers strictly in outbox order:
 *
 *        read rows after cursor ----- none ----> wait (kick or POLL_S)
 *                 |
 *        not for this hook (event kind, repository glob): cursor = id
 *                 |
 *        POST JSON, signed -- 2xx --> cursor = id (committed), next row
 *                 |
 *        error / non-2xx: wait backoff_min_ms * 2^n (capped at
 *        backoff_max_s), try again with the same event id; after
 *        max_retries failures (0: never) drop it (logged) and move on
 *
 * Invariants:
 *  - a cursor moves past an event only after a 2xx for it (or when the
 *    hook does not want it, or it was dropped): at least once, in order,
 *    per endpoint; a kill between the 2xx and the cursor's commit sends
 *    the event again, with the same X-Wharf-Event-Id;
 *  - rows every running hook has passed are trimmed;
 *  - request threads never wait for a delivery: they only signal the
 *    condition (srv_events_kick); a stop aborts a transfer in flight
 *    through curl's progress callback and leaves its event in the outbox;
 *  - secrets never reach the log: URLs are logged without userinfo or query.
 */
#include "config.h"

#include "server/server.h"
#include "server/auth-int.h" /* srv_glob_match */

#include <curl/curl.h>
#include <errno.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/cleanup.h"

#define POLL_S 2     /* outbox poll when nobody kicks (other processes write too) */
#define BATCH 64     /* rows read at once */
#define URL_MAX 2048 /* bytes of a webhook URL */
#define SECRET_MAX 1024
#define GLOBS_MAX 64
#define HOOKS_MAX 32

/* ---- config ------------------------------------------------------------- */

static void hook_release(struct srv_webhook *h)
{
  free(h->url);
  free(h->secret);
  for (size_t i = 0; i < h->n_repositories; i++)
    free(h->repositories[i]);
  free(h->repositories);
  memset(h, 0, sizeof(*h));
}

void srv_webhooks_free(struct srv_config *c)
{
  for (size_t i = 0; i < c->n_webhooks; i++)
    hook_release(&c->webhooks[i]);
  free(c->webhooks);
  c->webhooks = NULL;
  c->n_webhooks = 0;
}

static enum wh_code parse_events(struct srv_webhook *h, const json_t *v, struct wh_err *err)
{
  static const enum store_event_kind kinds[] = {STORE_EV_PUSH, STORE_EV_PULL, STORE_EV_DELETE, STORE_EV_TAG};
  size_t i;
  json_t *e;

  if (!json_is_array(v) || json_array_size(v) == 0)
    return wh_err_set(err, WH_EINVALID, 0, "\"events\": expected a non-empty array");
  h->events = 0; /* replaces the default */
  json_array_foreach(v, i, e)
  {
    unsigned bit = 0;
    for (size_t k = 0; json_is_string(e) && k < WH_ARRAY_LEN(kinds); k++)
      if (strcmp(json_string_value(e), store_event_kind_name(kinds[k])) == 0)
        bit = kinds[k];
    if (!bit)
      return wh_err_set(err, WH_EINVALID, 0,
                        "\"events\": expected \"push\", \"pull\", \"delete\" or \"tag\"");
    h->events |= bit;
  }
  return WH_OK;
}

static enum wh_code parse_globs(struct srv_webhook *h, const json_t *v, struct wh_err *err)
{
  size_t n = json_is_string(v) ? 1 : json_is_array(v) ? json_array_size(v) : 0;

  if (n == 0 || n > GLOBS_MAX)
    return wh_err_set(err, WH_EINVALID, 0, "\"repositories\": expected a glob or an array of 1 to %d globs",
                      GLOBS_MAX);
  if ((h->repositories = calloc(n, sizeof(char *))) == NULL)
    return wh_err_set(err, WH_ENOMEM, 0, "\"repositories\": out of memory");
  for (size_t i = 0; i < n; i++) {
    const json_t *g = json_is_string(v) ? v : json_array_get(v, i);
    if (!json_is_string(g) || json_string_length(g) == 0 || json_string_length(g) > 512)
      return wh_err_set(err, WH_EINVALID, 0, "\"repositories\": expected non-empty glob strings");
    if ((h->repositories[i] = strdup(json_string_value(g))) == NULL)
      return wh_err_set(err, WH_ENOMEM, 0, "\"repositories\": out of memory");
    h->n_repositories++;
  }
  return WH_OK;
}

static enum wh_code parse_u64(const json_t *v, const char *name, uint64_t min, uint64_t max, uint64_t *out,
                              struct wh_err *err)
{
  if (!json_is_integer(v) || json_integer_value(v) < 0 || (uint64_t)json_integer_value(v) < min ||
      (uint64_t)json_integer_value(v) > max)
    return wh_err_set(err, WH_EINVALID, 0, "\"%s\": expected an integer from %llu to %llu", name,
                      (unsigned long long)min, (unsigned long long)max);
  *out = (uint64_t)json_integer_value(v);
  return WH_OK;
}

static enum wh_code parse_str(const json_t *v, const char *name, size_t max, bool empty_ok, char **out,
                              struct wh_err *err)
{
  if (!json_is_string(v) || json_string_length(v) > max || (!empty_ok && json_string_length(v) == 0))
    return wh_err_set(err, WH_EINVALID, 0, "\"%s\": expected a string of at most %zu bytes", name, max);
  free(*out);
  if ((*out = strdup(json_string_value(v))) == NULL)
    return wh_err_set(err, WH_ENOMEM, 0, "\"%s\": out of memory", name);
  return WH_OK;
}

static enum wh_code parse_key(struct srv_webhook *h, const char *k, const json_t *v, struct wh_err *err)
{
  if (strcmp(k, "url") == 0)
    return parse_str(v, k, URL_MAX, false, &h->url, err);
  if (strcmp(k, "secret") == 0)
    return parse_str(v, k, SECRET_MAX, true, &h->secret, err);
  if (strcmp(k, "events") == 0)
    return parse_events(h, v, err);
  if (strcmp(k, "repositories") == 0)
    return parse_globs(h, v, err);
  if (strcmp(k, "timeout_s") == 0)
    return parse_u64(v, k, 1, 3600, &h->timeout_s, err);
  if (strcmp(k, "max_retries") == 0)
    return parse_u64(v, k, 0, 1000000, &h->max_retries, err);
  if (strcmp(k, "backoff_min_ms") == 0)
    return parse_u64(v, k, 10, 3600000, &h->backoff_min_ms, err);
  if (strcmp(k, "backoff_max_s") == 0)
    return parse_u64(v, k, 1, 86400, &h->backoff_max_s, err);
  return wh_err_set(err, WH_EINVALID, 0, "unknown key \"%s\"", k);
}

static enum wh_code parse_hook(struct srv_webhook *h, const json_t *o, struct wh_err *err)
{
  const char *k;
  json_t *v;

  h->timeout_s = 10;
  h->backoff_min_ms = 1000;
  h->backoff_max_s = 300;
  h->events = STORE_EV_PUSH | STORE_EV_DELETE | STORE_EV_TAG;
  if (!json_is_object(o))
    return wh_err_set(err, WH_EINVALID, 0, "expected an object");
  json_object_foreach((json_t *)o, k, v)
  {
    if (parse_key(h, k, v, err) != WH_OK)
      return err ? err->code : WH_EINVALID;
  }
  if (!h->url || (strncmp(h->url, "http://", 7) != 0 && strncmp(h->url, "https://", 8) != 0))
    return wh_err_set(err, WH_EINVALID, 0, "\"url\": expected an http:// or https:// URL");
  if (!h->secret && (h->secret = strdup("")) == NULL)
    return wh_err_set(err, WH_ENOMEM, 0, "out of memory");
  return WH_OK;
}

enum wh_code srv_webhooks_parse(struct srv_config *c, const json_t *v, struct wh_err *err)
{
  size_t n = json_is_array(v) ? json_array_size(v) : 0;

  if (!json_is_array(v) || n > HOOKS_MAX)
    return wh_err_set(err, WH_EINVALID, 0, "\"webhooks\": expected an array of at most %d objects",
                      HOOKS_MAX);
  srv_webhooks_free(c);
  if (n && (c->webhooks = calloc(n, sizeof(*c->webhooks))) == NULL)
    return wh_err_set(err, WH_ENOMEM, 0, "\"webhooks\": out of memory");
  for (size_t i = 0; i < n; i++) {
    c->n_webhooks = i + 1;
    if (parse_hook(&c->webhooks[i], json_array_get(v, i), err) != WH_OK)
      return wh_err_wrap(err, "\"webhooks\"[%zu]", i);
    for (size_t j = 0; j < i; j++)
      if (strcmp(c->webhooks[j].url, c->webhooks[i].url) == 0)
        return wh_err_set(err, WH_EINVALID, 0, "\"webhooks\"[%zu]: \"url\" repeats webhook %zu", i, j);
  }
  return WH_OK;
}

/* ---- delivery state ------------------------------------------------------- */

struct hook {
  const struct srv_webhook *cfg; /* borrowed from the config */
  char consumer[96];             /* cursor name in the store: "webhook:" + sha256(url) */
  char log_url[256];             /* scheme://host/path: no userinfo, no query */
  int64_t cursor;                /* last id done (this thread only; ev.lock for trim) */
  pthread_t thread;
  bool started;
  CURL *curl; /* owned by the thread */
};

static struct {
  struct store *store;
  pthread_mutex_t lock; /* guards stop, kicks and every hook's cursor for trim */
  pthread_cond_t cond;  /* kicks and stop */
  bool stop;            /* also read without the lock (progress callback): atomic */
  uint64_t kicks;
  bool running; /* atomic: threads exist (srv_events_kick's fast check) */
  struct hook *hooks;
  size_t n;
} ev = {.lock = PTHREAD_MUTEX_INITIALIZER};

static bool stopping(void)
{
  return __atomic_load_n(&ev.stop, __ATOMIC_RELAXED);
}

void srv_events_kick(void)
{
  if (!__atomic_load_n(&ev.running, __ATOMIC_RELAXED))
    return;
  pthread_mutex_lock(&ev.lock);
  ev.kicks++;
  pthread_cond_broadcast(&ev.cond);
  pthread_mutex_unlock(&ev.lock);
}

/* Waits until deadline (CLOCK_MONOTONIC), a stop, or (wake_on_kick) a kick. */
static void wait_until(const struct timespec *deadline, bool wake_on_kick)
{
  pthread_mutex_lock(&ev.lock);
  uint64_t seen = ev.kicks;
  while (!ev.stop && !(wake_on_kick && ev.kicks != seen))
    if (pthread_cond_timedwait(&ev.cond, &ev.lock, deadline) == ETIMEDOUT)
      break;
  pthread_mutex_unlock(&ev.lock);
}

static void deadline_in_ms(struct timespec *t, uint64_t ms)
{
  clock_gettime(CLOCK_MONOTONIC, t);
  t->tv_sec += (time_t)(ms / 1000);
  t->tv_nsec += (long)(ms % 1000) * 1000000L;
  if (t->tv_nsec >= 1000000000L) {
    t->tv_sec++;
    t->tv_nsec -= 1000000000L;
  }
}

/* scheme://host[:port]/path of url: what the log may show. */
static void redact_url(const char *url, char *out, size_t size)
{
  const char *host = strstr(url, "://");
  const char *end, *at;

  host = host ? host + 3 : url;
  end = host + strcspn(host, "/?#");
  at = memchr(host, '@', (size_t)(end - host));
  snprintf(out, size, "%.*s%.*s%.*s", (int)(host - url), url, (int)(end - (at ? at + 1 : host)),
           at ? at + 1 : host, (int)strcspn(end, "?#"), end);
}

/* ---- one event --------------------------------------------------------------- */

static json_t *str_or_null(const char *s)
{
  json_t *v = s ? json_string(s) : NULL;
  return v ? v : json_null();
}

static char *event_body(const struct store_event *e)
{
  json_auto_t *o = NULL;
  char ts[40];
  time_t sec = (time_t)(e->time_ms / 1000);
  struct tm tm;
  size_t n;

  gmtime_r(&sec, &tm);
  n = strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(ts + n, sizeof(ts) - n, ".%03dZ", (int)(e->time_ms % 1000));
  o = json_pack("{s:s?,s:I,s:s,s:s?,s:s?,s:s?}", "id", e->uid, "seq", (json_int_t)e->id, "timestamp", ts,
                "action", store_event_kind_name(e->kind), "target", e->target, "repository", e->repo);
  if (!o)
    return NULL;
  json_object_set_new(o, "tag", str_or_null(e->tag));
  json_object_set_new(o, "digest", str_or_null(e->digest));
  json_object_set_new(o, "media_type", str_or_null(e->media_type));
  json_object_set_new(o, "size", e->size >= 0 ? json_integer(e->size) : json_null());
  json_object_set_new(o, "user", str_or_null(e->who));
  json_object_set_new(o, "old_digest", str_or_null(e->old_digest));
  return json_dumps(o, JSON_COMPACT);
}

static bool wanted(const struct srv_webhook *h, const struct store_event *e)
{
  if (!(h->events & (unsigned)e->kind) || !e->repo)
    return false;
  if (h->n_repositories == 0)
    return true;
  for (size_t i = 0; i < h->n_repositories; i++)
    if (srv_glob_match(h->repositories[i], e->repo)) /* the auth rules' globs */
      return true;
  return false;
}

/* A batch of rows copied out of the read callback. */
struct item {
  int64_t id;
  char uid[64];
  char *body; /* owned; NULL: not for this hook */
};

struct batch {
  const struct srv_webhook *h;
  struct item items[BATCH];
  size_t n;
  bool nomem;
};

static int collect(void *ctx, const struct store_event *e)
{
  struct batch *b = ctx;
  struct item *it = &b->items[b->n];

  it->id = e->id;
  snprintf(it->uid, sizeof(it->uid), "%s", e->uid ? e->uid : "");
  it->body = NULL;
  if (wanted(b->h, e) && (it->body = event_body(e)) == NULL) {
    b->nomem = true;
    return 1;
  }
  b->n++;
  return b->n == BATCH;
}

static void batch_release(struct batch *b)
{
  for (size_t i = 0; i < b->n; i++)
    free(b->items[i].body);
  b->n = 0;
}

/* ---- HTTP --------------------------------------------------------------------- */

static size_t discard(char *p, size_t size, size_t n, void *ctx)
{
  (void)p;
  (void)ctx;
  return size * n;
}

static int progress(void *ctx, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
  (void)ctx;
  (void)a;
  (void)b;
  (void)c;
  (void)d;
  return stopping() ? 1 : 0; /* non-zero aborts the transfer */
}

static void sign(const char *secret, const char *body, char out[80])
{
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  static const char hex[] = "0123456789abcdef";
  size_t o = 0;

  HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)body, strlen(body), mac, &len);
  o = (size_t)snprintf(out, 80, "sha256=");
  for (unsigned i = 0; i < len && o + 2 < 80; i++) {
    out[o++] = hex[mac[i] >> 4];
    out[o++] = hex[mac[i] & 15];
  }
  out[o] = '\0';
}

static void curl_slist_cleanup(struct curl_slist **l)
{
  curl_slist_free_all(*l);
}

/* One POST: true on a 2xx; else *why says what went wrong. */
static bool post(struct hook *k, const struct item *it, char *why, size_t why_size)
{
  __attribute__((cleanup(curl_slist_cleanup))) struct curl_slist *hdrs = NULL;
  char line[160], sig[80], errbuf[CURL_ERROR_SIZE] = "";
  long status = 0;
  CURLcode cc;

  sign(k->cfg->secret, it->body, sig);
  hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
  snprintf(line, sizeof(line), "X-Wharf-Event-Id: %s", it->uid);
  hdrs = curl_slist_append(hdrs, line);
  snprintf(line, sizeof(line), "X-Wharf-Signature: %s", sig);
  hdrs = curl_slist_append(hdrs, line);
  hdrs = curl_slist_append(hdrs, "Expect:");
  if (!hdrs) {
    snprintf(why, why_size, "out of memory");
    return false;
  }
  curl_easy_setopt(k->curl, CURLOPT_HTTPHEADER, hdrs);
  curl_easy_setopt(k->curl, CURLOPT_POSTFIELDS, it->body);
  curl_easy_setopt(k->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(it->body));
  curl_easy_setopt(k->curl, CURLOPT_ERRORBUFFER, errbuf);
  cc = curl_easy_perform(k->curl);
  curl_easy_setopt(k->curl, CURLOPT_HTTPHEADER, NULL);
  if (cc != CURLE_OK) {
    snprintf(why, why_size, "%s", errbuf[0] ? errbuf : curl_easy_strerror(cc));
    return false;
  }
  curl_easy_getinfo(k->curl, CURLINFO_RESPONSE_CODE, &status);
  if (status >= 200 && status < 300)
    return true;
  snprintf(why, why_size, "HTTP %ld", status);
  return false;
}

static bool curl_setup(struct hook *k)
{
  long t = (long)k->cfg->timeout_s;

  if ((k->curl = curl_easy_init()) == NULL)
    return false;
  curl_easy_setopt(k->curl, CURLOPT_URL, k->cfg->url);
  curl_easy_setopt(k->curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(k->curl, CURLOPT_TIMEOUT, t);
  curl_easy_setopt(k->curl, CURLOPT_CONNECTTIMEOUT, t < 10 ? t : 10L);
  curl_easy_setopt(k->curl, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(k->curl, CURLOPT_USERAGENT, "wharfd/" PACKAGE_VERSION);
  curl_easy_setopt(k->curl, CURLOPT_WRITEFUNCTION, discard);
  curl_easy_setopt(k->curl, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(k->curl, CURLOPT_XFERINFOFUNCTION, progress);
#if LIBCURL_VERSION_NUM >= 0x075500 /* 7.85 */
  curl_easy_setopt(k->curl, CURLOPT_PROTOCOLS_STR, "http,https");
#else
  curl_easy_setopt(k->curl, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
  return true;
}

/* Delivers one event, retrying; false when stopping (the event stays). */
static bool deliver(struct hook *k, const struct item *it)
{
  char why[CURL_ERROR_SIZE + 32];
  struct timespec until;

  for (uint64_t failures = 0;;) {
    uint64_t delay = k->cfg->backoff_min_ms, cap = k->cfg->backoff_max_s * 1000;
    if (stopping())
      return false;
    if (post(k, it, why, sizeof(why))) {
      srv_metrics_webhook(SRV_HOOK_DELIVERED);
      return true;
    }
    if (stopping())
      return false;
    failures++;
    if (k->cfg->max_retries && failures > k->cfg->max_retries) {
      srv_metrics_webhook(SRV_HOOK_DROPPED);
      wh_log(WH_LOG_ERROR, NULL, "webhook %s: event %s dropped after %llu failed attempts: %s", k->log_url,
             it->uid, (unsigned long long)failures, why);
      return true;
    }
    srv_metrics_webhook(SRV_HOOK_FAILED);
    for (uint64_t i = 1; i < failures && delay < cap; i++)
      delay *= 2;
    if (delay > cap)
      delay = cap;
    wh_log(WH_LOG_WARN, NULL, "webhook %s: event %s: %s (attempt %llu, next in %llu ms)", k->log_url, it->uid,
           why, (unsigned long long)failures, (unsigned long long)delay);
    deadline_in_ms(&until, delay);
    wait_until(&until, false);
  }
}

/* ---- the threads ------------------------------------------------------------------ */

/* Trims what every hook is done with. */
static void trim(void)
{
  int64_t low = INT64_MAX;

  pthread_mutex_lock(&ev.lock);
  for (size_t i = 0; i < ev.n; i++)
    if (ev.hooks[i].cursor < low)
      low = ev.hooks[i].cursor;
  pthread_mutex_unlock(&ev.lock);
  if (low != INT64_MAX && low > 0)
    store_outbox_trim(ev.store, low, NULL);
}

static bool advance(struct hook *k, int64_t id)
{
  struct wh_err err;

  wh_err_clear(&err);
  if (store_outbox_cursor_set(ev.store, k->consumer, id, &err) != WH_OK) {
    wh_log(WH_LOG_ERROR, NULL, "webhook %s: save cursor: %s", k->log_url, err.msg);
    return false;
  }
  pthread_mutex_lock(&ev.lock);
  k->cursor = id;
  pthread_mutex_unlock(&ev.lock);
  return true;
}

/* Works through one batch; false when stopping or the store failed. */
static bool run_batch(struct hook *k, struct batch *b)
{
  int64_t done = k->cursor;

  for (size_t i = 0; i < b->n; i++) {
    if (b->items[i].body) {
      if (done != k->cursor && !advance(k, done)) /* skipped rows first */
        return false;
      if (!deliver(k, &b->items[i]))
        return false;
    }
    done = b->items[i].id;
    if (b->items[i].body && !advance(k, done))
      return false;
  }
  return done == k->cursor || advance(k, done);
}

static void *hook_main(void *arg)
{
  struct hook *k = arg;
  struct batch b = {.h = k->cfg};
  struct timespec until;
  struct wh_err err;

  while (!stopping()) {
    bool ok;
    wh_err_clear(&err);
    b.nomem = false;
    ok = store_outbox_read(ev.store, k->cursor, BATCH, collect, &b, &err) == WH_OK && !b.nomem;
    if (!ok)
      wh_log(WH_LOG_ERROR, NULL, "webhook %s: read outbox: %s", k->log_url,
             b.nomem ? "out of memory" : err.msg);
    if (ok && b.n > 0) {
      ok = run_batch(k, &b);
      batch_release(&b);
      trim();
      if (ok)
        continue;
    }
    batch_release(&b);
    deadline_in_ms(&until, ok ? POLL_S * 1000 : 1000);
    wait_until(&until, ok);
  }
  return NULL;
}

void srv_event_pull(struct srv_req *r, const struct wh_digest *d)
{
  struct wh_err err;
  const char *ref = r->has_digest ? NULL : r->path.arg;

  wh_err_clear(&err);
  if (store_event_pull(r->srv->store, r->path.name, ref, d, srv_req_who(r), &err) != WH_OK)
    wh_log(WH_LOG_WARN, r->id, "record pull event: %s", err.msg); /* the pull itself succeeded */
}

static enum wh_code hook_prepare(struct hook *k, const struct srv_webhook *cfg, struct wh_err *err)
{
  struct wh_digest d;

  k->cfg = cfg;
  /* Named by a hash: the URL may carry a token, the store need not hold it. */
  wh_digest_buf(WH_DIGEST_SHA256, cfg->url, strlen(cfg->url), &d);
  snprintf(k->consumer, sizeof(k->consumer), "webhook:%s", wh_digest_hex(&d));
  redact_url(cfg->url, k->log_url, sizeof(k->log_url));
  if (store_outbox_cursor(ev.store, k->consumer, &k->cursor, err) != WH_OK)
    return wh_err_wrap(err, "webhook %s", k->log_url);
  if (!curl_setup(k))
    return wh_err_set(err, WH_ENOMEM, 0, "webhook %s: curl_easy_init failed", k->log_url);
  return WH_OK;
}

enum wh_code srv_events_start(const struct srv_config *cfg, struct store *st, struct wh_err *err)
{
  pthread_condattr_t ca;
  unsigned mask = 0;

  if (cfg->n_webhooks == 0)
    return WH_OK;
  ev.store = st;
  ev.n = cfg->n_webhooks;
  if ((ev.hooks = calloc(ev.n, sizeof(*ev.hooks))) == NULL)
    return wh_err_set(err, WH_ENOMEM, 0, "webhooks: out of memory");
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&ev.cond, &ca);
  pthread_condattr_destroy(&ca);
  for (size_t i = 0; i < ev.n; i++) {
    mask |= cfg->webhooks[i].events;
    if (hook_prepare(&ev.hooks[i], &cfg->webhooks[i], err) != WH_OK) {
      srv_events_stop();
      return err ? err->code : WH_EINTERNAL;
    }
  }
  store_set_events(st, mask);
  __atomic_store_n(&ev.running, true, __ATOMIC_RELAXED);
  for (size_t i = 0; i < ev.n; i++) {
    if (pthread_create(&ev.hooks[i].thread, NULL, hook_main, &ev.hooks[i]) != 0) {
      srv_events_stop();
      return wh_err_set(err, WH_EINTERNAL, errno, "webhooks: start delivery thread");
    }
    ev.hooks[i].started = true;
  }
  return WH_OK;
}

void srv_events_stop(void)
{
  if (!ev.hooks)
    return;
  pthread_mutex_lock(&ev.lock);
  __atomic_store_n(&ev.stop, true, __ATOMIC_RELAXED);
  pthread_cond_broadcast(&ev.cond);
  pthread_mutex_unlock(&ev.lock);
  for (size_t i = 0; i < ev.n; i++) {
    if (ev.hooks[i].started)
      pthread_join(ev.hooks[i].thread, NULL);
    if (ev.hooks[i].curl)
      curl_easy_cleanup(ev.hooks[i].curl);
  }
  __atomic_store_n(&ev.running, false, __ATOMIC_RELAXED);
  store_set_events(ev.store, 0);
  pthread_cond_destroy(&ev.cond);
  free(ev.hooks);
  ev.hooks = NULL;
  ev.n = 0;
}
