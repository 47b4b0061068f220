/* client/cmd_pull.c - `wharf pull [--platform P] REF`.
 *
 *   resolve REF -> GET manifest (verified) -> index? pick the platform's
 *   child (or, when none fits, look one level down into the indexes among
 *   its children), GET it (verified against its descriptor) -> fetch the missing
 *   config and layers in parallel (fetch.c) -> store the image manifest,
 *   then a nested index it came through, then the index, with the tag.
 *
 * No /v2/ ping first: the manifest request learns the auth scheme from
 * its own 401, which the driver answers (registry.c), so a ping would only
 * cost a round trip.
 *
 * Invariants: the tag moves only after every blob and the manifest(s) are
 * committed, in the store's own transaction, so an interrupted or failed
 * pull never shows a half image in `wharf images`; blobs already fetched
 * stay (verified) and are reused by the next run.
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "client/remote.h"
#include "common/cleanup.h"

struct pull {
  const struct cli_opts *o;
  struct store *s;
  struct cli_registry *r;
  const struct cli_ref *ref;
  struct cli_platform plat;
  struct cli_progress *p;
};

/* Stores m (already verified) in the local repository. */
static enum wh_code store_put(struct pull *pl, const struct cli_remote_manifest *m, const char *tag,
                              unsigned flags, struct wh_err *err)
{
  struct store_manifest_put a = {
      .repo = pl->ref->repo,
      .body = m->body.data,
      .len = m->body.len,
      .media_type = m->parsed.media_type,
      .parsed = &m->parsed,
      .digest = &m->digest,
      .tags = &tag,
      .n_tags = tag ? 1 : 0,
      .who = "wharf pull",
      .flags = flags,
  };

  return store_manifest_put(pl->s, &a, NULL, err);
}

static enum wh_code fetch_image(struct pull *pl, const struct cli_remote_manifest *img, struct wh_err *err)
{
  const struct wh_manifest *m = &img->parsed;
  WH_AUTOFREE struct cli_blob_want *w = calloc(m->n_layers + 1, sizeof(*w));
  size_t n = 0;

  if (w == NULL)
    return wh_err_set(err, WH_ENOMEM, 0, "out of memory");
  w[n++] = (struct cli_blob_want){.d = &m->config, .kind = "config"};
  for (size_t i = 0; i < m->n_layers; i++) {
    /* foreign layers live elsewhere (their urls); the store does not require them */
    if (!wh_media_type_is_nondistributable(m->layers[i].media_type))
      w[n++] = (struct cli_blob_want){.d = &m->layers[i], .kind = "layer"};
  }
  return cli_fetch_blobs(pl->r, pl->s, pl->o->root, pl->ref->path, pl->ref->repo, w, n, pl->p, err);
}

/* Descriptor d of an index, fetched and verified against it. */
static enum wh_code get_desc(struct pull *pl, const struct wh_descriptor *d, struct cli_remote_manifest *out,
                             struct wh_err *err)
{
  if (d->size > WH_MANIFEST_MAX)
    return wh_err_set(err, WH_ETOOBIG, 0, "manifest %s: %llu bytes is over the limit", d->digest.str,
                      (unsigned long long)d->size);
  return cli_remote_manifest_get(pl->r, pl->ref->path, d->digest.str, &d->digest, (int64_t)d->size, out, err);
}

/* The image manifest of idx for the wanted platform, one of its children. */
static enum wh_code pick_image(struct pull *pl, const struct wh_manifest *idx,
                               struct cli_remote_manifest *img, struct wh_err *err)
{
  size_t i;
  enum wh_code rc;

  if ((rc = cli_platform_pick(idx, &pl->plat, &i, err)) != WH_OK ||
      (rc = get_desc(pl, &idx->manifests[i], img, err)) != WH_OK)
    return rc;
  if (img->parsed.kind != WH_MANIFEST_IMAGE)
    return wh_err_set(err, WH_EUNSUPPORTED, 0, "manifest %s: indexes nested too deep",
                      idx->manifests[i].digest.str);
  return WH_OK;
}

static bool is_index_type(const char *mt)
{
  return strcmp(mt, WH_MT_OCI_INDEX) == 0 || strcmp(mt, WH_MT_DOCKER_LIST) == 0;
}

/* The image of index top for the wanted platform: a child of top, else a
 * child of an index among top's children (one level of nesting; *mid then
 * holds that index). */
static enum wh_code resolve_child(struct pull *pl, const struct cli_remote_manifest *top,
                                  struct cli_remote_manifest *img, struct cli_remote_manifest *mid,
                                  struct wh_err *err)
{
  const struct wh_manifest *t = &top->parsed;
  struct wh_err first = {0};
  size_t i;
  enum wh_code rc;

  if ((rc = cli_platform_pick(t, &pl->plat, &i, &first)) == WH_OK) {
    if ((rc = get_desc(pl, &t->manifests[i], img, err)) != WH_OK || img->parsed.kind == WH_MANIFEST_IMAGE)
      return rc;
    *mid = *img; /* the platform's entry is an index itself: pick inside it */
    memset(img, 0, sizeof(*img));
    return pick_image(pl, &mid->parsed, img, err);
  }
  for (i = 0; i < t->n_manifests; i++) {
    if (!is_index_type(t->manifests[i].media_type))
      continue;
    if ((rc = get_desc(pl, &t->manifests[i], mid, err)) != WH_OK)
      return rc;
    if (mid->parsed.kind == WH_MANIFEST_INDEX &&
        (rc = pick_image(pl, &mid->parsed, img, err)) != WH_ENOTFOUND)
      return rc;
    cli_remote_manifest_release(mid);
    memset(mid, 0, sizeof(*mid));
  }
  *err = first;
  return WH_ENOTFOUND;
}

static enum wh_code pull(struct pull *pl, struct wh_digest *out, struct wh_err *err)
{
  struct cli_remote_manifest top = {0}, mid = {0}, child = {0};
  const struct cli_remote_manifest *img = &top;
  const struct cli_ref *ref = pl->ref;
  enum wh_code rc;

  rc = cli_remote_manifest_get(pl->r, ref->path, cli_ref_reference(ref),
                               ref->has_digest ? &ref->digest : NULL, -1, &top, err);
  if (rc == WH_ENETWORK) /* the first request: say which registry (no ping did) */
    wh_err_wrap(err, "registry %s", cli_registry_base(pl->r));
  if (rc == WH_OK && top.parsed.kind == WH_MANIFEST_INDEX) {
    rc = resolve_child(pl, &top, &child, &mid, err);
    img = &child;
  }
  if (rc == WH_OK)
    rc = fetch_image(pl, img, err);
  if (rc == WH_OK && img == &child)
    rc = store_put(pl, &child, NULL, 0, err);
  if (rc == WH_OK && mid.has_parsed)
    rc = store_put(pl, &mid, NULL, STORE_MANIFEST_SPARSE_INDEX, err);
  if (rc == WH_OK)
    rc = store_put(pl, &top, ref->tag, img == &child ? STORE_MANIFEST_SPARSE_INDEX : 0, err);
  if (rc == WH_OK)
    *out = top.digest;
  cli_remote_manifest_release(&child);
  cli_remote_manifest_release(&mid);
  cli_remote_manifest_release(&top);
  return rc;
}

static const struct option pull_opts[] = {
    {"platform", required_argument, NULL, 'P'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

int cli_cmd_pull(const struct cli_opts *o, int argc, char **argv)
{
  struct pull pl = {.o = o};
  struct cli_ref ref = {0};
  struct wh_err err = {0};
  struct wh_digest d;
  const char *platform = NULL;
  int c, status = 0;

  optind = 0;
  while ((c = getopt_long(argc, argv, "+h", pull_opts, NULL)) != -1) {
    if (c == 'h')
      return cli_help("pull");
    if (c != 'P')
      return cli_usage("pull", "bad option");
    platform = optarg;
  }
  if (argc - optind != 1)
    return cli_usage("pull", "expected one image reference");
  if (platform ? cli_platform_parse(platform, &pl.plat, &err) != WH_OK : (cli_platform_host(&pl.plat), false))
    return cli_fail("pull", argv[optind], &err);
  if (cli_ref_parse(argv[optind], 0, &ref, &err) != WH_OK)
    return cli_fail("pull", argv[optind], &err);
  pl.ref = &ref;
  if (cli_store_open(o, &pl.s, &err) != WH_OK || cli_registry_open(o, ref.domain, &pl.r, &err) != WH_OK ||
      (pl.p = cli_progress_new(o, "downloading")) == NULL || pull(&pl, &d, &err) != WH_OK) {
    cli_progress_free(pl.p);
    pl.p = NULL;
    status = cli_fail("pull", argv[optind], &err);
  } else {
    cli_progress_free(pl.p);
    pl.p = NULL;
    if (o->quiet)
      printf("%s\n", d.str);
    else
      printf("%s%s%s: %s\n", cli_repo_familiar(ref.repo), ref.tag ? ":" : "", ref.tag ? ref.tag : "", d.str);
  }
  cli_registry_free(pl.r);
  store_free(pl.s);
  cli_ref_release(&ref);
  return status;
}
