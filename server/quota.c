/* server/quota.c - what may be written: read-only mode, the free-disk
 * floor, quotas per repository pattern, and the units of their settings.
 *
 *   request (write)   read_only?  -> 405 UNSUPPORTED "registry is in read-only mode"
 *      |              push and free disk - Content-Length < storage.min_free?
 *      |                          -> 507 DENIED (before any byte is written)
 *      |              a quota of the repository over with Content-Length?
 *      v                          -> 403 DENIED "quota of team-* exceeded: 1.2 GiB of 1 GiB"
 *   route->begin ...  upload PUT (the real size) and manifest PUT (its
 *                     bytes, its new tags) ask srv_quota_admit again
 *
 * A quota covers every repository whose name matches its pattern, together
 * (distinct blobs counted once). Checks read the index and are not atomic
 * with the write that follows: concurrent pushes may overshoot a quota by
 * what they carry together (a soft limit, as in Harbor). When the usage
 * cannot be read the push is let through (logged), never refused.
 * Invariant: nothing here writes to the store.
 */
#include "config.h"

#include "server/server.h"

#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/statvfs.h>

#include "common/fsutil.h"

#define QUOTAS_MAX 256
#define PATTERN_MAX 256

/* ---- units ------------------------------------------------------------- */

/* Splits "123abc" into its number and its suffix. */
static bool number_suffix(const char *s, uint64_t *n, const char **suffix)
{
  size_t i = 0;

  while (s[i] >= '0' && s[i] <= '9')
    i++;
  if (i == 0 || i > 19 || !wh_parse_u64(s, i, n))
    return false;
  *suffix = s + i;
  return true;
}

enum wh_code srv_parse_duration(const char *s, uint64_t *out, struct wh_err *err)
{
  static const struct {
    const char *suffix;
    uint64_t mult;
  } units[] = {{"", 1}, {"s", 1}, {"m", 60}, {"h", 3600}, {"d", 86400}};
  const char *suffix;
  uint64_t n;

  if (s && number_suffix(s, &n, &suffix))
    for (size_t i = 0; i < WH_ARRAY_LEN(units); i++)
      if (strcmp(suffix, units[i].suffix) == 0 && n <= UINT64_MAX / units[i].mult / 2) {
        *out = n * units[i].mult;
        return WH_OK;
      }
  return wh_err_set(err, WH_EINVALID, 0, "duration \"%.40s\": expected N, Ns, Nm, Nh or Nd", s ? s : "");
}

enum wh_code srv_parse_size(const char *s, uint64_t *out, struct wh_err *err)
{
  static const char *const units[] = {"", "K", "M", "G", "T"};
  const char *suffix;
  uint64_t n;

  if (s && number_suffix(s, &n, &suffix))
    for (size_t i = 0; i < WH_ARRAY_LEN(units); i++) {
      size_t ul = strlen(units[i]);
      const char *rest = suffix + ul;
      if (strncasecmp(suffix, units[i], ul) != 0 ||
          !(rest[0] == '\0' || strcasecmp(rest, "B") == 0 || (ul && strcasecmp(rest, "iB") == 0)))
        continue;
      if (n > (UINT64_MAX / 2) >> (10 * i))
        break;
      *out = n << (10 * i);
      return WH_OK;
    }
  return wh_err_set(err, WH_EINVALID, 0,
                    "size \"%.40s\": expected bytes, or N with K, M, G or T (powers of 1024)", s ? s : "");
}

void srv_fmt_bytes(uint64_t n, char *out, size_t size)
{
  static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  double v = (double)n;
  size_t u = 0;

  while (v >= 1024 && u + 1 < WH_ARRAY_LEN(units)) {
    v /= 1024;
    u++;
  }
  if (u == 0)
    snprintf(out, size, "%llu B", (unsigned long long)n);
  else
    snprintf(out, size, "%.*f %s", v < 10 && v != (double)(uint64_t)v ? 1 : 0, v, units[u]);
}

/* ---- config "quotas" ---------------------------------------------------- */

void srv_quotas_free(struct srv_config *c)
{
  for (size_t i = 0; i < c->n_quotas; i++)
    free(c->quotas[i].pattern);
  free(c->quotas);
  c->quotas = NULL;
  c->n_quotas = 0;
}

/* A number of bytes as an integer or a size string. */
static enum wh_code json_size(const json_t *v, uint64_t *out, struct wh_err *err)
{
  if (json_is_integer(v) && json_integer_value(v) >= 0) {
    *out = (uint64_t)json_integer_value(v);
    return WH_OK;
  }
  if (json_is_string(v))
    return srv_parse_size(json_string_value(v), out, err);
  return wh_err_set(err, WH_EINVALID, 0, "expected a size (bytes, or a string like \"10GiB\")");
}

static enum wh_code parse_quota(struct srv_quota *q, json_t *o, struct wh_err *err)
{
  const char *key;
  json_t *v;

  if (!json_is_object(o))
    return wh_err_set(err, WH_EINVALID, 0, "expected an object");
  json_object_foreach(o, key, v)
  {
    if (strcmp(key, "pattern") == 0) {
      if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > PATTERN_MAX)
        return wh_err_set(err, WH_EINVALID, 0, "\"pattern\": expected a non-empty string");
      free(q->pattern);
      if ((q->pattern = strdup(json_string_value(v))) == NULL)
        return wh_err_set(err, WH_ENOMEM, 0, "out of memory");
    } else if (strcmp(key, "max_bytes") == 0) {
      if (json_size(v, &q->max_bytes, err) != WH_OK)
        return wh_err_wrap(err, "\"max_bytes\"");
    } else if (strcmp(key, "max_tags") == 0) {
      if (!json_is_integer(v) || json_integer_value(v) < 0)
        return wh_err_set(err, WH_EINVALID, 0, "\"max_tags\": expected a non-negative integer");
      q->max_tags = (uint64_t)json_integer_value(v);
    } else {
      return wh_err_set(err, WH_EINVALID, 0, "unknown key \"%.60s\"", key);
    }
  }
  if (q->pattern == NULL)
    return wh_err_set(err, WH_EINVALID, 0, "\"pattern\" missing");
  return WH_OK;
}

enum wh_code srv_quotas_parse(struct srv_config *c, const json_t *v, struct wh_err *err)
{
  size_t n = json_is_array(v) ? json_array_size(v) : 0;

  if (!json_is_array(v) || n > QUOTAS_MAX)
    return wh_err_set(err, WH_EINVALID, 0, "\"quotas\": expected an array of at most %d objects", QUOTAS_MAX);
  srv_quotas_free(c);
  if (n && (c->quotas = calloc(n, sizeof(*c->quotas))) == NULL)
    return wh_err_set(err, WH_ENOMEM, 0, "\"quotas\": out of memory");
  for (size_t i = 0; i < n; i++) {
    c->n_quotas = i + 1;
    if (parse_quota(&c->quotas[i], json_array_get(v, i), err) != WH_OK)
      return wh_err_wrap(err, "\"quotas\"[%zu]", i);
  }
  return WH_OK;
}

/* ---- checks ------------------------------------------------------------- */

static bool is_read(const struct srv_req *r)
{
  return strcmp(r->method, "GET") == 0 || strcmp(r->method, "HEAD") == 0 || strcmp(r->method, "OPTIONS") == 0;
}

/* Requests that bring bytes or tags into the store. */
static bool is_push(const struct srv_req *r)
{
  switch (r->path.kind) {
  case SRV_RT_UPLOAD_NEW:
    return strcmp(r->method, "POST") == 0;
  case SRV_RT_UPLOAD:
    return strcmp(r->method, "PATCH") == 0 || strcmp(r->method, "PUT") == 0;
  case SRV_RT_MANIFEST:
    return strcmp(r->method, "PUT") == 0;
  default:
    return false;
  }
}

static bool disk_floor_ok(struct srv_req *r, uint64_t incoming)
{
  uint64_t floor = r->srv->cfg->min_free_bytes, avail;
  char a[32], f[32], msg[160];
  struct statvfs sv;

  if (floor == 0)
    return true;
  if (statvfs(r->srv->cfg->root, &sv) != 0) {
    wh_log(WH_LOG_WARN, r->id, "free disk space of \"%s\": %s", r->srv->cfg->root, strerror(errno));
    return true;
  }
  avail = (uint64_t)sv.f_bavail * (uint64_t)sv.f_frsize;
  if (avail >= floor && avail - floor >= incoming)
    return true;
  srv_fmt_bytes(avail, a, sizeof(a));
  srv_fmt_bytes(floor, f, sizeof(f));
  snprintf(msg, sizeof(msg), "registry storage is almost full: %s free, pushes need %s free", a, f);
  srv_reply_error(r, 507, "DENIED", msg, NULL);
  return false;
}

/* An upload with ?digest= of a blob the repository already has: the bytes
 * are dropped at the end (nothing grows), so no quota applies. */
static bool already_there(struct srv_req *r)
{
  const char *q = srv_query(r, "digest");
  struct wh_digest d;

  return q && wh_digest_parsez(q, &d, NULL) == WH_OK &&
         store_blob_stat(r->srv->store, r->path.name, &d, NULL, NULL) == WH_OK;
}

bool srv_admit(struct srv_req *r)
{
  if (is_read(r) || r->path.kind == SRV_RT_TOKEN)
    return true;
  if (r->srv->cfg->read_only) {
    srv_reply_error(r, 405, "UNSUPPORTED", "registry is in read-only mode", NULL);
    return false;
  }
  if (!is_push(r))
    return true;
  if (!disk_floor_ok(r, r->has_clen ? r->clen : 0))
    return false;
  if (r->path.kind != SRV_RT_MANIFEST && already_there(r))
    return true;
  return srv_quota_admit(r, r->has_clen ? r->clen : 0, NULL, 0);
}

/* How many of tags do not exist yet in repo. */
static uint64_t new_tags(struct srv_req *r, const char *const *tags, size_t n)
{
  uint64_t k = 0;

  for (size_t i = 0; i < n; i++)
    k += store_manifest_get(r->srv->store, r->path.name, tags[i], NULL, NULL, NULL) == WH_ENOTFOUND;
  return k;
}

static bool deny(struct srv_req *r, const char *what, const struct srv_quota *q, const char *have,
                 const char *limit)
{
  char msg[400];

  snprintf(msg, sizeof(msg), "%squota of %s exceeded: %s of %s", what, q->pattern, have, limit);
  srv_reply_error(r, 403, "DENIED", msg, NULL);
  return false;
}

static bool one_quota(struct srv_req *r, const struct srv_quota *q, uint64_t incoming, uint64_t fresh)
{
  uint64_t bytes = 0, tags = 0;
  char have[40], limit[40];
  struct wh_err err;

  wh_err_clear(&err);
  if (store_usage_glob(r->srv->store, q->pattern, &bytes, &tags, &err) != WH_OK) {
    wh_log(WH_LOG_WARN, r->id, "quota of %s: %s (let through)", q->pattern, err.msg);
    return true;
  }
  if (q->max_bytes && (bytes + incoming > q->max_bytes || (incoming == 0 && bytes >= q->max_bytes))) {
    srv_fmt_bytes(bytes + incoming, have, sizeof(have));
    srv_fmt_bytes(q->max_bytes, limit, sizeof(limit));
    return deny(r, "", q, have, limit);
  }
  if (q->max_tags && fresh && tags + fresh > q->max_tags) {
    snprintf(have, sizeof(have), "%llu tags", (unsigned long long)(tags + fresh));
    snprintf(limit, sizeof(limit), "%llu", (unsigned long long)q->max_tags);
    return deny(r, "tag ", q, have, limit);
  }
  return true;
}

bool srv_quota_admit(struct srv_req *r, uint64_t incoming, const char *const *tags, size_t n_tags)
{
  const struct srv_config *cfg = r->srv->cfg;
  uint64_t fresh = 0;
  bool counted = false;

  for (size_t i = 0; i < cfg->n_quotas; i++) {
    const struct srv_quota *q = &cfg->quotas[i];
    if (fnmatch(q->pattern, r->path.name, 0) != 0)
      continue;
    if (!counted && q->max_tags && n_tags) {
      fresh = new_tags(r, tags, n_tags);
      counted = true;
    }
    if (!one_quota(r, q, incoming, fresh))
      return false;
  }
  return true;
}

bool srv_reply_disk_full(struct srv_req *r, const struct wh_err *err)
{
  bool full = ((err->code == WH_EIO || err->code == WH_EDATABASE) &&
               (err->sys_errno == ENOSPC || err->sys_errno == EDQUOT)) ||
              (err->code == WH_EDATABASE && strstr(err->msg, "disk is full") != NULL);

  if (!full)
    return false;
  if (!r->err_msg[0])
    snprintf(r->err_msg, sizeof(r->err_msg), "DENIED: %.140s", err->msg);
  srv_reply_error(r, 507, "DENIED", "registry storage is full: no space left on device", NULL);
  return true;
}

enum wh_code srv_config_unit(const json_t *v, bool is_size, const char *name, uint64_t min, uint64_t max,
                             uint64_t *out, struct wh_err *err)
{
  uint64_t n = 0;
  enum wh_code rc = WH_OK;

  if (json_is_integer(v) && json_integer_value(v) >= 0)
    n = (uint64_t)json_integer_value(v);
  else if (json_is_string(v))
    rc = is_size ? srv_parse_size(json_string_value(v), &n, err)
                 : srv_parse_duration(json_string_value(v), &n, err);
  else
    rc = wh_err_set(err, WH_EINVALID, 0, "expected %s",
                    is_size ? "bytes or a size string" : "seconds or a duration string");
  if (rc == WH_OK && (n < min || n > max))
    rc = wh_err_set(err, WH_EINVALID, 0, "%llu is out of range (%llu to %llu)", (unsigned long long)n,
                    (unsigned long long)min, (unsigned long long)max);
  if (rc != WH_OK)
    return wh_err_wrap(err, "\"%s\"", name);
  *out = n;
  return WH_OK;
}

bool srv_quota_upload_end(struct srv_req *r)
{
  uint64_t size;

  if (r->srv->cfg->n_quotas == 0 || r->upload == NULL)
    return true;
  if (store_blob_stat(r->srv->store, r->path.name, &r->digest, &size, NULL) == WH_OK)
    return true; /* already there: nothing grows */
  if (srv_quota_admit(r, store_upload_size(r->upload), NULL, 0))
    return true;
  store_upload_release(wh_steal_ptr(&r->upload));
  store_upload_cancel(r->srv->store, r->path.name, r->upload_id, NULL);
  return false;
}
