/* client/view.c - one image as `inspect` and `history` see it: what a
 * reference names (manifest or index), for an index the chosen platform's
 * image manifest, and that image's config; from the local store or, every
 * byte verified as for a pull, from the registry.
 *
 * Invariants: the view owns every byte it shows (lm[] or rm[] and config);
 * top, child and image point into those owners and live as long as the
 * view; the config is capped at CLI_CONFIG_MAX bytes and read only after
 * the image manifest that names it was verified.
 */
#include "config.h"

#include <string.h>

#include "client/remote.h"
#include "common/cleanup.h"

void cli_view_init(struct cli_view *v)
{
  memset(v, 0, sizeof(*v));
  wh_buf_init(&v->config, CLI_CONFIG_MAX);
}

void cli_view_release(struct cli_view *v)
{
  for (int i = 0; i < 2; i++) {
    cli_manifest_release(&v->lm[i]);
    cli_remote_manifest_release(&v->rm[i]);
  }
  wh_buf_release(&v->config);
}

static enum wh_code pick(const struct wh_manifest *idx, const char *platform, size_t *i, struct wh_err *err)
{
  struct cli_platform p;
  enum wh_code rc = WH_OK;

  if (platform)
    rc = cli_platform_parse(platform, &p, err);
  else
    cli_platform_host(&p);
  return rc == WH_OK ? cli_platform_pick(idx, &p, i, err) : rc;
}

enum wh_code cli_view_local(struct store *s, const struct cli_ref *ref, const char *platform, bool top_only,
                            struct cli_view *v, struct wh_err *err)
{
  const struct wh_manifest *img;
  size_t i;
  enum wh_code rc = cli_manifest_load(s, ref->repo, cli_ref_reference(ref), &v->lm[0], err);

  if (rc != WH_OK)
    return rc;
  v->digest = v->lm[0].digest;
  v->media_type = v->lm[0].media_type;
  v->top = v->lm[0].body;
  img = &v->lm[0].parsed;
  if (top_only)
    return WH_OK;
  if (img->kind == WH_MANIFEST_INDEX) {
    v->is_index = true;
    if (platform)
      rc = pick(img, platform, &i, err) == WH_OK
               ? cli_manifest_load(s, ref->repo, img->manifests[i].digest.str, &v->lm[1], err)
               : err->code;
    else
      rc = cli_index_local_child(s, ref->repo, img, &v->lm[1], &i, err);
    if (rc != WH_OK)
      return rc;
    v->child_digest = v->lm[1].digest;
    v->child = v->lm[1].body;
    img = &v->lm[1].parsed;
  }
  v->image = img;
  return cli_blob_load(s, ref->repo, &img->config.digest, &v->config, err);
}

enum wh_code cli_view_remote(struct cli_registry *r, const struct cli_ref *ref, const char *platform,
                             bool top_only, struct cli_view *v, struct wh_err *err)
{
  const struct wh_manifest *img;
  const struct wh_descriptor *d;
  size_t i;
  enum wh_code rc = cli_remote_manifest_get(r, ref->path, cli_ref_reference(ref),
                                            ref->has_digest ? &ref->digest : NULL, -1, &v->rm[0], err);

  if (rc != WH_OK)
    return rc;
  v->digest = v->rm[0].digest;
  v->media_type = v->rm[0].parsed.media_type;
  v->top = v->rm[0].body;
  img = &v->rm[0].parsed;
  if (top_only)
    return WH_OK;
  if (img->kind == WH_MANIFEST_INDEX) {
    v->is_index = true;
    if ((rc = pick(img, platform, &i, err)) != WH_OK)
      return rc;
    d = &img->manifests[i];
    if ((rc = cli_remote_manifest_get(r, ref->path, d->digest.str, &d->digest, (int64_t)d->size, &v->rm[1],
                                      err)) != WH_OK)
      return rc;
    if (v->rm[1].parsed.kind != WH_MANIFEST_IMAGE)
      return wh_err_set(err, WH_EUNSUPPORTED, 0, "manifest %s: an index inside an index", d->digest.str);
    v->child_digest = v->rm[1].digest;
    v->child = v->rm[1].body;
    img = &v->rm[1].parsed;
  }
  v->image = img;
  return cli_remote_blob_get(r, ref->path, &img->config, &v->config, err);
}

enum wh_code cli_view_open(const struct cli_opts *o, const struct cli_ref *ref, bool remote,
                           const char *platform, bool top_only, struct cli_view *v, struct store **s_out,
                           struct cli_registry **r_out, struct wh_err *err)
{
  if (remote)
    return cli_registry_open(o, ref->domain, r_out, err) == WH_OK && cli_registry_ping(*r_out, err) == WH_OK
               ? cli_view_remote(*r_out, ref, platform, top_only, v, err)
               : err->code;
  return cli_store_open(o, s_out, err) == WH_OK ? cli_view_local(*s_out, ref, platform, top_only, v, err)
                                                : err->code;
}
