/* client/commit.c - images made locally (what `wharf build` produces step
 * by step): an image state in memory (its config and its layers) turned
 * into a config blob and an OCI image manifest in the local store.
 *
 * Invariants: blobs are stored before the manifest that names them, so
 * store_manifest_put never sees a missing reference; the config and the
 * manifest are serialised with sorted keys and no whitespace, so the same
 * state gives the same digests; a layer file is streamed into the store
 * through an upload session and checked against the digest its writer
 * computed.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client/commit.h"
#include "common/cleanup.h"
#include "common/manifest.h"

#define MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MT_OCI_CONFIG "application/vnd.oci.image.config.v1+json"

void cli_image_state_release(struct cli_image_state *st)
{
  json_decref(st->config);
  json_decref(st->layers);
  st->config = st->layers = NULL;
}

/* "2024-01-02T03:04:05Z" of t. */
static void rfc3339(int64_t t, char *out, size_t size)
{
  time_t tt = (time_t)t;
  struct tm tm;

  gmtime_r(&tt, &tm);
  strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int64_t cli_build_time(void)
{
  const char *e = getenv("SOURCE_DATE_EPOCH");
  char *end;
  long long v;

  if (e && *e) {
    errno = 0;
    v = strtoll(e, &end, 10);
    if (!errno && !*end && v >= 0)
      return v;
  }
  return (int64_t)time(NULL);
}

enum wh_code cli_image_state_scratch(const char *os, const char *arch, struct cli_image_state *st,
                                     struct wh_err *err)
{
  memset(st, 0, sizeof(*st));
  st->config = json_pack("{s:s, s:s, s:{}, s:{s:s, s:[]}, s:[]}", "architecture", arch, "os", os, "config",
                         "rootfs", "type", "layers", "diff_ids", "history");
  st->layers = json_array();
  if (!st->config || !st->layers) {
    cli_image_state_release(st);
    return wh_err_set(err, WH_ENOMEM, 0, "out of memory");
  }
  return WH_OK;
}

enum wh_code cli_image_state_load(const struct wh_manifest *img, const struct wh_buf *cfg,
                                  struct cli_image_state *st, struct wh_err *err)
{
  json_error_t je;

  memset(st, 0, sizeof(*st));
  if (img->kind != WH_MANIFEST_IMAGE)
    return wh_err_set(err, WH_EINVALID, 0, "not an image manifest");
  st->config = json_loadb((const char *)cfg->data, cfg->len, JSON_REJECT_DUPLICATES, &je);
  if (!json_is_object(st->config)) {
    cli_image_state_release(st);
    return wh_err_set(err, WH_EINVALID, 0, "image config: %s", je.text);
  }
  if (!json_is_object(json_object_get(st->config, "config")))
    json_object_set_new(st->config, "config", json_object());
  if (!json_is_array(json_object_get(st->config, "history")))
    json_object_set_new(st->config, "history", json_array());
  json_t *rootfs = json_object_get(st->config, "rootfs");
  if (!json_is_array(json_object_get(rootfs, "diff_ids")) ||
      json_array_size(json_object_get(rootfs, "diff_ids")) != img->n_layers) {
    cli_image_state_release(st);
    return wh_err_set(err, WH_EINVALID, 0, "image config: rootfs.diff_ids does not match the layers");
  }
  st->layers = json_array();
  for (size_t i = 0; st->layers && i < img->n_layers; i++)
    json_array_append_new(st->layers, json_pack("{s:s, s:s, s:I}", "mediaType", img->layers[i].media_type,
                                                "digest", img->layers[i].digest.str,
                                                "size", (json_int_t)img->layers[i].size));
  if (!st->layers || json_array_size(st->layers) != img->n_layers) {
    cli_image_state_release(st);
    return wh_err_set(err, WH_ENOMEM, 0, "out of memory");
  }
  return WH_OK;
}

enum wh_code cli_image_state_add_layer(struct cli_image_state *st, const char *media_type,
                                       const struct wh_digest *digest, uint64_t size,
                                       const struct wh_digest *diff_id, struct wh_err *err)
{
  json_t *ids = json_object_get(json_object_get(st->config, "rootfs"), "diff_ids");

  if (!json_is_array(ids) ||
      json_array_append_new(st->layers, json_pack("{s:s, s:s, s:I}", "mediaType", media_type, "digest",
                                                  digest->str, "size", (json_int_t)size)) < 0 ||
      json_array_append_new(ids, json_string(diff_id->str)) < 0)
    return wh_err_set(err, WH_ENOMEM, 0, "out of memory");
  return WH_OK;
}

enum wh_code cli_image_state_history(struct cli_image_state *st, const char *created_by, bool empty_layer,
                                     struct wh_err *err)
{
  char when[32];
  json_t *h = json_object_get(st->config, "history");
  json_t *e;

  rfc3339(cli_build_time(), when, sizeof(when));
  e = json_pack("{s:s, s:s, s:s}", "created", when, "created_by", created_by, "comment", "wharf build");
  if (e && empty_layer)
    json_object_set_new(e, "empty_layer", json_true());
  if (!e || json_array_append_new(h, e) < 0)
    return wh_err_set(err, WH_ENOMEM, 0, "out of memory");
  json_object_set_new(st->config, "created", json_string(when));
  return WH_OK;
}

enum wh_code cli_image_state_commit(struct store *s, const char *repo, const struct cli_image_state *st,
                                    const char *tag, struct wh_digest *out, struct wh_err *err)
{
  WH_AUTOFREE char *cfg = json_dumps(st->config, JSON_COMPACT | JSON_SORT_KEYS);
  WH_AUTOFREE char *body = NULL;
  struct wh_digest cd;
  struct wh_manifest parsed;
  json_auto_t *m = NULL;
  enum wh_code rc;

  if (!cfg)
    return wh_err_set(err, WH_ENOMEM, 0, "out of memory");
  if ((rc = store_blob_put(s, repo, cfg, strlen(cfg), NULL, &cd, err)) != WH_OK)
    return wh_err_wrap(err, "store the image config");
  m = json_pack("{s:i, s:s, s:{s:s, s:s, s:I}, s:O}", "schemaVersion", 2, "mediaType", MT_OCI_MANIFEST, "config",
                "mediaType", MT_OCI_CONFIG, "digest", cd.str, "size", (json_int_t)strlen(cfg), "layers",
                st->layers);
  if (!m || !(body = json_dumps(m, JSON_COMPACT | JSON_SORT_KEYS)))
    return wh_err_set(err, WH_ENOMEM, 0, "out of memory");
  if ((rc = wh_manifest_parse(body, strlen(body), MT_OCI_MANIFEST, &parsed, err)) != WH_OK)
    return wh_err_wrap(err, "the manifest made");
  struct store_manifest_put a = {.repo = repo,
                                 .body = body,
                                 .len = strlen(body),
                                 .media_type = MT_OCI_MANIFEST,
                                 .parsed = &parsed,
                                 .tags = tag ? &tag : NULL,
                                 .n_tags = tag ? 1 : 0,
                                 .who = "wharf build"};
  rc = store_manifest_put(s, &a, out, err);
  wh_manifest_release(&parsed);
  return rc;
}

/* ---- image ids ------------------------------------------------------------------ */

struct id_search {
  struct store *s;
  const char *hex; /* the prefix asked for */
  size_t len;
  char repo[STORE_REPO_MAX_NAME];
  struct wh_digest found;
  int matches; /* distinct digests */
  char cur_repo[STORE_REPO_MAX_NAME];
};

static int on_manifest(void *ctx, const struct store_manifest_info *m)
{
  struct id_search *q = ctx;
  const char *hex = wh_digest_hex(&m->digest);

  if (m->is_child || strncmp(hex, q->hex, q->len) != 0)
    return 0;
  if (q->matches && wh_digest_eq(&q->found, &m->digest))
    return 0;
  q->matches++;
  q->found = m->digest;
  snprintf(q->repo, sizeof(q->repo), "%s", q->cur_repo);
  return 0;
}

static int on_repo(void *ctx, const char *name)
{
  struct id_search *q = ctx;

  snprintf(q->cur_repo, sizeof(q->cur_repo), "%s", name);
  store_manifest_list(q->s, name, on_manifest, q, NULL);
  return 0;
}

bool cli_image_id_like(const char *s)
{
  size_t n;

  if (strncmp(s, "sha256:", 7) == 0)
    s += 7;
  n = strlen(s);
  if (n < 12 || n > 64)
    return false;
  for (size_t i = 0; i < n; i++)
    if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
      return false;
  return true;
}

enum wh_code cli_image_find_id(struct store *s, const char *id, char **ref_out, struct wh_err *err)
{
  struct id_search q = {.s = s};
  char last[STORE_REPO_MAX_NAME] = "";
  bool more = true;
  enum wh_code rc;

  q.hex = strncmp(id, "sha256:", 7) == 0 ? id + 7 : id;
  q.len = strlen(q.hex);
  while (more) {
    if ((rc = store_repo_list(s, last, 1000, on_repo, &q, &more, err)) != WH_OK)
      return rc;
    snprintf(last, sizeof(last), "%s", q.cur_repo);
    if (!q.cur_repo[0])
      break;
  }
  if (q.matches == 0)
    return wh_err_set(err, WH_ENOTFOUND, 0, "no local image with id %s", id);
  if (q.matches > 1)
    return wh_err_set(err, WH_ECONFLICT, 0, "image id %s is ambiguous", id);
  size_t n = strlen(q.repo) + strlen(q.found.str) + 2;
  if (!(*ref_out = malloc(n)))
    return wh_err_set(err, WH_ENOMEM, 0, "out of memory");
  snprintf(*ref_out, n, "%s@%s", q.repo, q.found.str);
  return WH_OK;
}
