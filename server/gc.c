/* server/gc.c - wharfd's maintenance schedule: online garbage collection
 * (gc.interval) and purging of abandoned uploads (uploads.max_age), with
 * the counters /metrics reads (srv_gc_stats).
 *
 *   srv_gc_start ---> thread: wait(tick or stop) -> purge uploads
 *                             -> gc.interval > 0 and due? srv_gc_once
 *   srv_gc_stop  ---> stop = true, signal, join (a collection in progress
 *                     finishes first: its transactions are short batches)
 *
 * The collection itself is storage/gc.c's store_gc_run, which is safe
 * beside requests of this process and beside other processes on the same
 * root (`wharfd gc`, a client); this file only decides when and with what
 * settings. Invariants: one thread at most; the thread never outlives the
 * store (wharfd.c stops it before store_free); counters only grow.
 */
#include "config.h"

#include "server/server.h"

#include <errno.h>
#include <string.h>
#include <time.h>

#define PURGE_TICK_S 600 /* uploads are purged this often when GC is off */

static struct {
  pthread_mutex_t lock; /* guards stop */
  pthread_cond_t cond;
  bool stop, started;
  pthread_t thread;
  const struct srv_config *cfg; /* borrowed */
  struct store *store;          /* borrowed */
} gc = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* __atomic counters */
static uint64_t stat_runs, stat_bytes, stat_blobs;

void srv_gc_stats(uint64_t *runs, uint64_t *bytes_freed, uint64_t *blobs_freed)
{
  if (runs)
    *runs = __atomic_load_n(&stat_runs, __ATOMIC_RELAXED);
  if (bytes_freed)
    *bytes_freed = __atomic_load_n(&stat_bytes, __ATOMIC_RELAXED);
  if (blobs_freed)
    *blobs_freed = __atomic_load_n(&stat_blobs, __ATOMIC_RELAXED);
}

enum wh_code srv_gc_once(struct store *st, const struct srv_config *cfg, unsigned flags, store_gc_item_cb cb,
                         void *ctx, struct store_gc_report *out, struct wh_err *err)
{
  struct store_gc_opts o = {.grace_s = (int64_t)cfg->gc_grace_s,
                            .recent_s = (int64_t)cfg->gc_recent_s,
                            .delete_untagged = cfg->gc_delete_untagged,
                            .keep_history = cfg->gc_keep_history,
                            .flags = flags};
  struct store_gc_report rep = {0};
  enum wh_code rc = store_gc_run(st, &o, cb, ctx, &rep, err);

  if (rc != WH_OK)
    return rc;
  if (!(flags & STORE_GC_DRY_RUN)) {
    __atomic_add_fetch(&stat_runs, 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(&stat_bytes, rep.bytes_removed, __ATOMIC_RELAXED);
    __atomic_add_fetch(&stat_blobs, rep.blobs_removed, __ATOMIC_RELAXED);
  }
  if (out)
    *out = rep;
  return WH_OK;
}

static void purge(void)
{
  struct wh_err err;
  uint64_t n = 0;

  wh_err_clear(&err);
  if (store_upload_purge(gc.store, (int64_t)gc.cfg->upload_max_age_s, &n, &err) != WH_OK)
    wh_log(WH_LOG_WARN, NULL, "purge abandoned uploads: %s", err.msg);
  else if (n)
    wh_log(WH_LOG_INFO, NULL, "purged %llu abandoned upload sessions", (unsigned long long)n);
}

static void collect(void)
{
  struct store_gc_report rep;
  struct wh_err err;

  wh_err_clear(&err);
  if (srv_gc_once(gc.store, gc.cfg, 0, NULL, NULL, &rep, &err) != WH_OK) {
    wh_log(WH_LOG_WARN, NULL, "garbage collection: %s", err.msg);
    return;
  }
  if (rep.blobs_removed || rep.manifests_removed)
    wh_log(WH_LOG_INFO, NULL, "garbage collection: removed %llu manifests, %llu blobs (%llu bytes)",
           (unsigned long long)rep.manifests_removed, (unsigned long long)rep.blobs_removed,
           (unsigned long long)rep.bytes_removed);
}

/* Waits tick_s or until stopped; true when stopped. */
static bool wait_tick(uint64_t tick_s)
{
  struct timespec until;
  bool stop;

  clock_gettime(CLOCK_MONOTONIC, &until);
  until.tv_sec += (time_t)tick_s;
  pthread_mutex_lock(&gc.lock);
  while (!gc.stop && pthread_cond_timedwait(&gc.cond, &gc.lock, &until) != ETIMEDOUT)
    ;
  stop = gc.stop;
  pthread_mutex_unlock(&gc.lock);
  return stop;
}

static void *gc_thread(void *arg)
{
  uint64_t interval = gc.cfg->gc_interval_s;
  uint64_t tick = interval ? interval : PURGE_TICK_S;

  (void)arg;
  while (!wait_tick(tick)) {
    purge();
    if (interval)
      collect();
  }
  return NULL;
}

enum wh_code srv_gc_start(const struct srv_config *cfg, struct store *st, struct wh_err *err)
{
  pthread_condattr_t ca;
  int e;

  if (cfg->read_only || gc.started)
    return WH_OK;
  gc.cfg = cfg;
  gc.store = st;
  gc.stop = false;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  e = pthread_cond_init(&gc.cond, &ca);
  pthread_condattr_destroy(&ca);
  if (e != 0)
    return wh_err_set(err, WH_EINTERNAL, e, "gc schedule: condition init");
  if ((e = pthread_create(&gc.thread, NULL, gc_thread, NULL)) != 0) {
    pthread_cond_destroy(&gc.cond);
    return wh_err_set(err, WH_EINTERNAL, e, "gc schedule: start thread");
  }
  gc.started = true;
  if (cfg->gc_interval_s)
    wh_log(WH_LOG_INFO, NULL, "garbage collection every %llu s (grace %llu s%s)",
           (unsigned long long)cfg->gc_interval_s, (unsigned long long)cfg->gc_grace_s,
           cfg->gc_delete_untagged ? ", untagged manifests too" : "");
  return WH_OK;
}

void srv_gc_stop(void)
{
  if (!gc.started)
    return;
  pthread_mutex_lock(&gc.lock);
  gc.stop = true;
  pthread_cond_broadcast(&gc.cond);
  pthread_mutex_unlock(&gc.lock);
  pthread_join(gc.thread, NULL);
  pthread_cond_destroy(&gc.cond);
  gc.started = false;
}
