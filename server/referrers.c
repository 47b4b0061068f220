/* server/referrers.c - GET /v2/<name>/referrers/<digest> (end-12a/b).
 *
 * Answers an OCI image index listing the manifests of the repository whose
 * subject is <digest>, each as a descriptor with its artifactType and
 * annotations; ?artifactType=X filters and is acknowledged with
 * OCI-Filters-Applied. The answer is 200 even when nothing (or no such
 * repository) is known, as the spec requires; only a malformed digest is 400.
 */
#include "config.h"

#include "server/server.h"

#include <string.h>

#include "common/manifest.h"

#define ANNOTATIONS_MAX (256 * 1024)

static int add_referrer(void *ctx, const struct store_referrer *ref)
{
  json_t *list = ctx;
  json_t *d = json_pack("{s:s,s:s,s:I}", "mediaType", ref->media_type ? ref->media_type : "", "digest",
                        ref->digest.str, "size", (json_int_t)ref->size);

  if (!d)
    return 1;
  if (ref->artifact_type)
    json_object_set_new(d, "artifactType", json_string(ref->artifact_type));
  if (ref->annotations_json && strlen(ref->annotations_json) <= ANNOTATIONS_MAX) {
    json_t *a = json_loads(ref->annotations_json, 0, NULL);
    if (json_is_object(a))
      json_object_set_new(d, "annotations", a);
    else
      json_decref(a);
  }
  return json_array_append_new(list, d) == 0 ? 0 : 1;
}

void srv_referrers_get(struct srv_req *r)
{
  json_auto_t *index = NULL;
  json_t *list = json_array();
  const char *filter = srv_query(r, "artifactType");
  struct wh_digest d;
  struct wh_err err;
  enum wh_code rc;

  index = json_pack("{s:i,s:s,s:o}", "schemaVersion", 2, "mediaType", WH_MT_OCI_INDEX, "manifests", list);
  if (!index) {
    srv_reply_error(r, 500, "UNKNOWN", "out of memory", NULL);
    return;
  }
  if (!srv_path_digest(r, &d))
    return;
  if (filter && !*filter)
    filter = NULL;
  wh_err_clear(&err);
  rc = store_referrers(r->srv->store, r->path.name, &d, filter, add_referrer, list, &err);
  if (rc != WH_OK && rc != WH_ENOTFOUND) {
    srv_reply_werr(r, SRV_CTX_MANIFEST, &err);
    return;
  }
  srv_reply_json(r, 200, WH_MT_OCI_INDEX, index);
  if (filter)
    srv_header(r, "OCI-Filters-Applied", "artifactType");
}
