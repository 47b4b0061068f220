/* server/config.c - wharfd settings: defaults, the JSON config file, --listen.
 *
 * The config file is one JSON object with the command line's keys plus
 * "limits", "timeouts" and "sparse_index":
 *
 *   { "listen": "127.0.0.1:5000", "root": "/var/lib/wharf",
 *     "log_format": "json", "log_level": "info", "sparse_index": false,
 *     "limits": { "max_manifest_bytes": 4194304, "max_blob_bytes": ...,
 *                 "max_connections": 1024, "max_tag_list_n": 1000,
 *                 "chunk_min_length": 0 },
 *     "timeouts": { "connection_s": 60, "drain_s": 0 },
 *     "webhooks": [ { "url": ..., "secret": ..., "events": [...], ... } ],
 *     "auth": { ... }, "tls": { "cert": FILE, "key": FILE },
 *     "read_only": false, "gc": { "interval": 0, "grace": "1h", "recent": "10m",
 *     "delete_untagged": false, "keep_history": 10 }, "uploads": { "max_age": "24h" },
 *     "storage": { "min_free": 0 }, "quotas": [ { "pattern", "max_bytes", "max_tags" } ] }
 * (durations and sizes: integers or strings like "1h", "10GiB"; "quotas" is
 * parsed by quota.c)
 * ("auth" is checked by access.c, which documents it)
 * ("webhooks" is parsed by events.c; deploy/CONFIG.md documents every key).
 *
 * Invariants: every key is listed in keys[] with its type and bounds; an
 * unknown key, a duplicate key or a value of the wrong type or out of bounds
 * fails the whole load with a message naming the key. The file itself is
 * read with a size cap before parsing.
 */
#include "config.h"

#include "server/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stddef.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/fsutil.h"

#define CONFIG_FILE_MAX (1024 * 1024)
#define MIB (1024ull * 1024)
#define GIB (1024ull * MIB)

void srv_config_init(struct srv_config *c)
{
  memset(c, 0, sizeof(*c));
  c->log_format = WH_LOG_TEXT;
  c->log_level = WH_LOG_INFO;
  c->max_manifest_bytes = 4 * MIB;
  c->max_blob_bytes = 64 * GIB;
  c->max_connections = 1024;
  c->max_tag_list_n = 1000;
  c->chunk_min_length = 0;
  c->connection_timeout_s = 60;
  c->sparse_index = false;
  c->gc_grace_s = 3600;
  c->gc_recent_s = 600;
  c->gc_keep_history = 10;
  c->upload_max_age_s = 24 * 3600;
}

void srv_config_release(struct srv_config *c)
{
  free(c->listen);
  free(c->root);
  srv_webhooks_free(c);
  srv_quotas_free(c);
  srv_immutable_free(c);
  json_decref(c->auth);
  free(c->tls_cert);
  free(c->tls_key);
  c->auth = NULL;
  c->tls_cert = c->tls_key = NULL;
  c->listen = NULL;
  c->root = NULL;
}

enum wh_code srv_config_set_str(char **field, const char *v, struct wh_err *err)
{
  char *copy = strdup(v);

  if (!copy)
    return wh_err_set(err, WH_ENOMEM, ENOMEM, "copy setting");
  free(*field);
  *field = copy;
  return WH_OK;
}

enum key_type { K_STRING, K_U64, K_BOOL, K_LOG_LEVEL, K_LOG_FORMAT, K_LISTEN, K_WEBHOOKS, K_AUTH,
                K_DURATION, K_SIZE, K_QUOTAS, K_IMMUTABLE };

struct key {
  const char *section; /* NULL: top level */
  const char *name;
  enum key_type type;
  size_t off;        /* into struct srv_config */
  uint64_t min, max; /* K_U64 bounds */
};

#define OFF(f) offsetof(struct srv_config, f)
static const struct key keys[] = {
    {NULL, "listen", K_LISTEN, OFF(listen), 0, 0},
    {NULL, "root", K_STRING, OFF(root), 0, 0},
    {NULL, "log_format", K_LOG_FORMAT, OFF(log_format), 0, 0},
    {NULL, "log_level", K_LOG_LEVEL, OFF(log_level), 0, 0},
    {NULL, "sparse_index", K_BOOL, OFF(sparse_index), 0, 0},
    {"limits", "max_manifest_bytes", K_U64, OFF(max_manifest_bytes), 1024, WH_MANIFEST_MAX},
    {"limits", "max_blob_bytes", K_U64, OFF(max_blob_bytes), 1, UINT64_MAX / 2},
    {"limits", "max_connections", K_U64, OFF(max_connections), 1, 65536},
    {"limits", "max_tag_list_n", K_U64, OFF(max_tag_list_n), 1, 1000000},
    {"limits", "chunk_min_length", K_U64, OFF(chunk_min_length), 0, 1024 * MIB},
    {"timeouts", "connection_s", K_U64, OFF(connection_timeout_s), 1, 86400},
    {"timeouts", "drain_s", K_U64, OFF(drain_s), 0, 3600},
    {NULL, "webhooks", K_WEBHOOKS, OFF(webhooks), 0, 0}, /* events.c parses the array */
    {NULL, "auth", K_AUTH, OFF(auth), 0, 0}, /* access.c checks the section */
    {"tls", "cert", K_STRING, OFF(tls_cert), 0, 0},
    {"tls", "key", K_STRING, OFF(tls_key), 0, 0},
    /* keeping the store clean (gc.c, quota.c): durations "90s", "10m", "1h"; sizes "512MiB" */
    {NULL, "read_only", K_BOOL, OFF(read_only), 0, 0},
    {"gc", "interval", K_DURATION, OFF(gc_interval_s), 0, 30 * 86400},
    {"gc", "grace", K_DURATION, OFF(gc_grace_s), 0, 365 * 86400},
    {"gc", "recent", K_DURATION, OFF(gc_recent_s), 0, 30 * 86400},
    {"gc", "delete_untagged", K_BOOL, OFF(gc_delete_untagged), 0, 0},
    {"gc", "keep_history", K_U64, OFF(gc_keep_history), 0, 1000000},
    {"uploads", "max_age", K_DURATION, OFF(upload_max_age_s), 1, 365 * 86400},
    {"storage", "min_free", K_SIZE, OFF(min_free_bytes), 0, UINT64_MAX / 2},
    {NULL, "quotas", K_QUOTAS, OFF(quotas), 0, 0}, /* quota.c parses the array */
    /* rollback.c parses the array */
    {NULL, "immutable_tags", K_IMMUTABLE, OFF(immutable), 0, 0},
};
#undef OFF

static const struct key *key_find(const char *section, const char *name)
{
  for (size_t i = 0; i < WH_ARRAY_LEN(keys); i++) {
    bool same_section =
        section ? (keys[i].section && strcmp(keys[i].section, section) == 0) : !keys[i].section;
    if (same_section && strcmp(keys[i].name, name) == 0)
      return &keys[i];
  }
  return NULL;
}

static bool is_section(const char *name)
{
  for (size_t i = 0; i < WH_ARRAY_LEN(keys); i++)
    if (keys[i].section && strcmp(keys[i].section, name) == 0)
      return true;
  return false;
}

static enum wh_code set_enum(const struct key *k, void *field, const json_t *v, struct wh_err *err)
{
  int parsed = -1;

  if (json_is_string(v))
    parsed = k->type == K_LOG_LEVEL ? wh_log_level_parse(json_string_value(v))
                                    : wh_log_format_parse(json_string_value(v));
  if (parsed < 0)
    return wh_err_set(err, WH_EINVALID, 0, "\"%s\": %s", k->name,
                      k->type == K_LOG_LEVEL ? "expected debug, info, warn or error"
                                             : "expected text or json");
  if (k->type == K_LOG_LEVEL)
    *(enum wh_log_level *)field = (enum wh_log_level)parsed;
  else
    *(enum wh_log_format *)field = (enum wh_log_format)parsed;
  return WH_OK;
}

static enum wh_code set_key(struct srv_config *c, const struct key *k, const json_t *v, struct wh_err *err)
{
  void *field = (char *)c + k->off;
  struct srv_listen l;

  switch (k->type) {
  case K_LISTEN:
    if (!json_is_string(v))
      return wh_err_set(err, WH_EINVALID, 0, "\"%s\": expected a string", k->name);
    if (srv_listen_parse(json_string_value(v), &l, err) != WH_OK)
      return wh_err_wrap(err, "\"%s\"", k->name);
    return srv_config_set_str(field, json_string_value(v), err);
  case K_STRING:
    if (!json_is_string(v) || json_string_length(v) == 0)
      return wh_err_set(err, WH_EINVALID, 0, "\"%s\": expected a non-empty string", k->name);
    return srv_config_set_str(field, json_string_value(v), err);
  case K_BOOL:
    if (!json_is_boolean(v))
      return wh_err_set(err, WH_EINVALID, 0, "\"%s\": expected true or false", k->name);
    *(bool *)field = json_is_true(v);
    return WH_OK;
  case K_U64:
    if (!json_is_integer(v) || json_integer_value(v) < 0 || (uint64_t)json_integer_value(v) < k->min ||
        (uint64_t)json_integer_value(v) > k->max)
      return wh_err_set(err, WH_EINVALID, 0, "\"%s\": expected an integer from %llu to %llu", k->name,
                        (unsigned long long)k->min, (unsigned long long)k->max);
    *(uint64_t *)field = (uint64_t)json_integer_value(v);
    return WH_OK;
  case K_LOG_LEVEL:
  case K_LOG_FORMAT:
    return set_enum(k, field, v, err);
  case K_WEBHOOKS:
    return srv_webhooks_parse(c, v, err);
  case K_AUTH:
    return srv_auth_config_set(c, v, err);
  case K_DURATION:
  case K_SIZE:
    return srv_config_unit(v, k->type == K_SIZE, k->name, k->min, k->max, field, err);
  case K_QUOTAS:
    return srv_quotas_parse(c, v, err);
  case K_IMMUTABLE:
    return srv_immutable_parse(c, v, err);
  }
  return wh_err_set(err, WH_EINTERNAL, 0, "\"%s\": unknown key type", k->name);
}

static enum wh_code load_object(struct srv_config *c, const char *section, json_t *obj, struct wh_err *err)
{
  const char *name;
  json_t *v;

  json_object_foreach(obj, name, v)
  {
    const struct key *k;

    if (!section && is_section(name)) {
      if (!json_is_object(v))
        return wh_err_set(err, WH_EINVALID, 0, "\"%s\": expected an object", name);
      if (load_object(c, name, v, err) != WH_OK)
        return WH_EINVALID;
      continue;
    }
    k = key_find(section, name);
    if (!k)
      return wh_err_set(err, WH_EINVALID, 0, "unknown key \"%s%s%s\"", section ? section : "",
                        section ? "." : "", name);
    if (set_key(c, k, v, err) != WH_OK)
      return err ? err->code : WH_EINVALID;
  }
  return WH_OK;
}

enum wh_code srv_config_load(struct srv_config *c, const char *path, struct wh_err *err)
{
  WH_AUTOCLOSE int fd = -1;
  json_auto_t *root = NULL;
  json_error_t jerr;
  struct wh_buf b;
  enum wh_code rc;

  fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return wh_err_set(err, WH_EIO, errno, "config \"%s\"", path);
  wh_buf_init(&b, CONFIG_FILE_MAX);
  rc = wh_read_fd(fd, &b, err);
  if (rc != WH_OK) {
    wh_buf_release(&b);
    return wh_err_wrap(err, "config \"%s\"", path);
  }
  root = json_loadb(b.data ? b.data : "", b.len, JSON_REJECT_DUPLICATES, &jerr);
  wh_buf_release(&b);
  if (!root)
    return wh_err_set(err, WH_EINVALID, 0, "config \"%s\": line %d: %s", path, jerr.line, jerr.text);
  if (!json_is_object(root))
    return wh_err_set(err, WH_EINVALID, 0, "config \"%s\": expected a JSON object", path);
  if (load_object(c, NULL, root, err) != WH_OK)
    return wh_err_wrap(err, "config \"%s\"", path);
  return WH_OK;
}

static bool parse_port(const char *s, uint16_t *out)
{
  uint64_t v;

  if (!wh_parse_u64(s, strlen(s), &v) || v > 65535)
    return false;
  *out = (uint16_t)v;
  return true;
}

enum wh_code srv_listen_parse(const char *s, struct srv_listen *out, struct wh_err *err)
{
  char host[64];
  const char *colon, *h = s;
  size_t hlen;
  uint16_t port;
  struct srv_listen l;

  memset(&l, 0, sizeof(l));
  colon = strrchr(s, ':');
  if (!colon || !parse_port(colon + 1, &port))
    return wh_err_set(err, WH_EINVALID, 0, "listen \"%s\": expected ADDR:PORT", s);
  hlen = (size_t)(colon - s);
  if (hlen >= 2 && s[0] == '[' && s[hlen - 1] == ']') {
    h = s + 1;
    hlen -= 2;
    l.ipv6 = true;
  }
  if (hlen == 0 || hlen >= sizeof(host))
    return wh_err_set(err, WH_EINVALID, 0, "listen \"%s\": bad address", s);
  memcpy(host, h, hlen);
  host[hlen] = '\0';
  if (!l.ipv6 && strcmp(host, "localhost") == 0)
    snprintf(host, sizeof(host), "127.0.0.1");
  if (l.ipv6) {
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&l.addr;
    if (inet_pton(AF_INET6, host, &a6->sin6_addr) != 1)
      return wh_err_set(err, WH_EINVALID, 0, "listen \"%s\": bad IPv6 address", s);
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons(port);
    l.len = sizeof(*a6);
    snprintf(l.host, sizeof(l.host), "[%s]", host);
  } else {
    struct sockaddr_in *a4 = (struct sockaddr_in *)&l.addr;
    if (inet_pton(AF_INET, host, &a4->sin_addr) != 1)
      return wh_err_set(err, WH_EINVALID, 0, "listen \"%s\": bad IPv4 address", s);
    a4->sin_family = AF_INET;
    a4->sin_port = htons(port);
    l.len = sizeof(*a4);
    snprintf(l.host, sizeof(l.host), "%s", host);
  }
  *out = l;
  return WH_OK;
}
