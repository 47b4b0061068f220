/* server/routes.c - the route table: (path kind, method) -> handler.
 *
 * srv_path_parse() (parse.c) turns the raw path into a kind plus the
 * repository name and one argument; this table picks the handler. A kind
 * with no row for the method is answered 405 with an Allow header built
 * from the same rows, so the table is the only list of what is served.
 */
#include "config.h"

#include "server/server.h"

#include <stdio.h>
#include <string.h>

#include "common/cleanup.h"

static const struct srv_route routes[] = {
    {SRV_RT_BASE, "GET", srv_base_get, NULL},
    {SRV_RT_BASE, "HEAD", srv_base_get, NULL},
    {SRV_RT_CATALOG, "GET", srv_catalog_get, NULL},
    {SRV_RT_TAGS, "GET", srv_tags_get, NULL},
    {SRV_RT_MANIFEST, "GET", srv_manifest_get, NULL},
    {SRV_RT_MANIFEST, "HEAD", srv_manifest_get, NULL},
    {SRV_RT_MANIFEST, "PUT", srv_manifest_put_begin, srv_manifest_put_end},
    {SRV_RT_MANIFEST, "DELETE", srv_manifest_delete, NULL},
    {SRV_RT_BLOB, "GET", srv_blob_get, NULL},
    {SRV_RT_BLOB, "HEAD", srv_blob_get, NULL},
    {SRV_RT_BLOB, "DELETE", srv_blob_delete, NULL},
    {SRV_RT_UPLOAD_NEW, "POST", srv_upload_post_begin, srv_upload_post_end},
    {SRV_RT_UPLOAD, "GET", srv_upload_status, NULL},
    {SRV_RT_UPLOAD, "PATCH", srv_upload_patch_begin, srv_upload_patch_end},
    {SRV_RT_UPLOAD, "PUT", srv_upload_put_begin, srv_upload_put_end},
    {SRV_RT_UPLOAD, "DELETE", srv_upload_delete, NULL},
    {SRV_RT_REFERRERS, "GET", srv_referrers_get, NULL},
    {SRV_RT_REFERRERS, "HEAD", srv_referrers_get, NULL},
    {SRV_RT_TOKEN, "GET", srv_token_get, NULL},
    /* Operators' endpoints (metrics.c): never behind auth. */
    {SRV_RT_METRICS, "GET", srv_metrics_get, NULL},
    {SRV_RT_HEALTHZ, "GET", srv_healthz_get, NULL},
    {SRV_RT_HEALTHZ, "HEAD", srv_healthz_get, NULL},
    {SRV_RT_READYZ, "GET", srv_readyz_get, NULL},
    {SRV_RT_READYZ, "HEAD", srv_readyz_get, NULL},
    /* Storage accounting (usage.c). */
    {SRV_RT_USAGE, "GET", srv_usage_get, NULL},
    /* Tag history and rollback (rollback.c). */
    {SRV_RT_HISTORY, "GET", srv_history_get, NULL},
    {SRV_RT_ROLLBACK, "POST", srv_rollback_post_begin, srv_rollback_post_end},
    {SRV_RT_DISCOVER, "GET", srv_discover_get, NULL},
};

const struct srv_route *srv_route_find(enum srv_route_kind kind, const char *method, char *allow_out,
                                       size_t allow_size)
{
  size_t used = 0;

  if (allow_out && allow_size)
    allow_out[0] = '\0';
  for (size_t i = 0; i < WH_ARRAY_LEN(routes); i++) {
    if (routes[i].kind != kind)
      continue;
    if (strcmp(routes[i].method, method) == 0)
      return &routes[i];
    if (allow_out && used < allow_size) {
      int n = snprintf(allow_out + used, allow_size - used, "%s%s", used ? ", " : "", routes[i].method);
      if (n > 0)
        used += (size_t)n;
    }
  }
  return NULL;
}
