/* server/usage.c - storage accounting: GET /v2/_wharf/usage (and the JSON
 * of `wharfd du --json`).
 *
 *   {"repositories": [{"name", "bytes", "shared_bytes", "blobs",
 *                      "manifests", "tags"}, ...],          name order
 *    "total_bytes", "total_blobs", "shared_bytes", "repository_count",
 *    "gc": {"reclaimable_bytes", "reclaimable_blobs",
 *           "reclaimable_manifests"}}                       a dry run now
 *
 * "bytes" of a repository: the distinct blobs it may read plus its
 * manifests; "shared_bytes": the part other repositories use too (so the
 * sum over repositories can exceed total_bytes). "gc" is what a collection
 * with the configured gc settings would free right now (store_gc_run dry
 * run: nothing changes). Sizes are integers of bytes.
 */
#include "config.h"

#include "server/server.h"

static int add_repo(void *ctx, const struct store_repo_usage *u)
{
  json_t *arr = ctx;
  json_t *o = json_pack("{s:s,s:I,s:I,s:I,s:I,s:I}", "name", u->name, "bytes", (json_int_t)u->bytes,
                        "shared_bytes", (json_int_t)u->shared_bytes, "blobs", (json_int_t)u->blobs,
                        "manifests", (json_int_t)u->manifests, "tags", (json_int_t)u->tags);

  return o == NULL || json_array_append_new(arr, o) != 0;
}

json_t *srv_usage_json(struct store *st, const struct srv_config *cfg, struct wh_err *err)
{
  json_auto_t *repos = json_array();
  struct store_usage_total t = {0};
  struct store_gc_report g = {0};

  if (repos == NULL) {
    wh_err_set(err, WH_ENOMEM, 0, "usage: out of memory");
    return NULL;
  }
  if (store_usage(st, add_repo, repos, &t, err) != WH_OK)
    return NULL;
  if (srv_gc_once(st, cfg, STORE_GC_DRY_RUN, NULL, NULL, &g, err) != WH_OK)
    return NULL;
  return json_pack("{s:O,s:I,s:I,s:I,s:I,s:{s:I,s:I,s:I}}", "repositories", repos, "total_bytes",
                   (json_int_t)t.bytes, "total_blobs", (json_int_t)t.blobs, "shared_bytes",
                   (json_int_t)t.shared_bytes, "repository_count", (json_int_t)t.repos, "gc",
                   "reclaimable_bytes", (json_int_t)g.bytes_removed, "reclaimable_blobs",
                   (json_int_t)g.blobs_removed, "reclaimable_manifests", (json_int_t)g.manifests_removed);
}

void srv_usage_get(struct srv_req *r)
{
  json_auto_t *j = NULL;
  struct wh_err err;

  wh_err_clear(&err);
  if ((j = srv_usage_json(r->srv->store, r->srv->cfg, &err)) == NULL) {
    srv_reply_werr(r, SRV_CTX_ANY, &err);
    return;
  }
  srv_reply_json(r, 200, "application/json", j);
  srv_header(r, "Cache-Control", "no-store");
}
