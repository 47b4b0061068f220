/* client/cmd_inspect.c - `wharf inspect [--remote] [--platform P] [--raw] REF`.
 *
 * Prints one JSON object: name, digest and mediaType of what REF names;
 * for an index the index itself plus the chosen platform's manifest
 * digest; the image manifest; its config. --raw prints the exact bytes of
 * the manifest REF names and nothing else. --remote asks the registry (every
 * byte verified as for a pull) instead of the local store.
 */
#include "config.h"

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "client/remote.h"
#include "common/cleanup.h"

#define CONFIG_MAX (8u * 1024 * 1024)

struct view {
  struct wh_digest digest; /* of what REF names */
  const char *media_type;  /* borrowed from top */
  struct wh_buf top;       /* its bytes */
  bool is_index;
  struct wh_digest child_digest; /* index: the chosen image manifest */
  struct wh_buf child;
  struct wh_buf config;
  /* owners of the bytes above */
  struct cli_manifest lm[2];
  struct cli_remote_manifest rm[2];
};

static void view_release(struct view *v)
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

static enum wh_code local_view(struct store *s, const struct cli_ref *ref, const char *platform, bool raw,
                               struct view *v, struct wh_err *err)
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
  if (raw)
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
  return cli_blob_load(s, ref->repo, &img->config.digest, &v->config, err);
}

static enum wh_code remote_view(struct cli_registry *r, const struct cli_ref *ref, const char *platform,
                                bool raw, struct view *v, struct wh_err *err)
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
  if (raw)
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
  return cli_remote_blob_get(r, ref->path, &img->config, &v->config, err);
}

static json_t *json_of(const struct wh_buf *b)
{
  return json_loadb(b->data ? b->data : "", b->len, 0, NULL);
}

static enum wh_code print_view(const struct cli_ref *ref, const struct view *v, struct wh_err *err)
{
  json_auto_t *o = json_object();
  json_t *top = json_of(&v->top);

  if (o == NULL || top == NULL) {
    json_decref(top);
    return wh_err_set(err, WH_ENOMEM, 0, "out of memory");
  }
  json_object_set_new(o, "name", json_string(ref->repo));
  json_object_set_new(o, "digest", json_string(v->digest.str));
  json_object_set_new(o, "mediaType", json_string(v->media_type));
  if (v->is_index) {
    json_object_set_new(o, "index", top);
    json_object_set_new(o, "manifestDigest", json_string(v->child_digest.str));
    json_object_set_new(o, "manifest", json_of(&v->child));
  } else {
    json_object_set_new(o, "manifest", top);
  }
  json_object_set_new(o, "config", v->config.len ? json_of(&v->config) : json_null());
  json_dumpf(o, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
  putchar('\n');
  return WH_OK;
}

struct inspect_args {
  bool remote, raw;
  const char *platform;
};

static enum wh_code inspect(const struct cli_opts *o, const struct inspect_args *a, const struct cli_ref *ref,
                            struct wh_err *err)
{
  struct view v = {0};
  struct store *s = NULL;
  struct cli_registry *r = NULL;
  enum wh_code rc;

  wh_buf_init(&v.config, CONFIG_MAX);
  if (a->remote)
    rc = cli_registry_new(ref->domain, o->insecure, &r, err) == WH_OK && cli_registry_ping(r, err) == WH_OK
             ? remote_view(r, ref, a->platform, a->raw, &v, err)
             : err->code;
  else
    rc = cli_store_open(o, &s, err) == WH_OK ? local_view(s, ref, a->platform, a->raw, &v, err) : err->code;
  if (rc == WH_OK && a->raw)
    fwrite(v.top.data ? v.top.data : "", 1, v.top.len, stdout);
  else if (rc == WH_OK)
    rc = print_view(ref, &v, err);
  view_release(&v);
  cli_registry_free(r);
  store_free(s);
  return rc;
}

static const struct option inspect_opts[] = {
    {"remote", no_argument, NULL, 'r'},
    {"raw", no_argument, NULL, 'R'},
    {"platform", required_argument, NULL, 'P'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

int cli_cmd_inspect(const struct cli_opts *o, int argc, char **argv)
{
  struct inspect_args a = {0};
  struct wh_err err = {0};
  struct cli_ref ref = {0};
  int c, status = 0;

  optind = 0;
  while ((c = getopt_long(argc, argv, "+h", inspect_opts, NULL)) != -1) {
    switch (c) {
    case 'h':
      return cli_help("inspect");
    case 'r':
      a.remote = true;
      break;
    case 'R':
      a.raw = true;
      break;
    case 'P':
      a.platform = optarg;
      break;
    default:
      return cli_usage("inspect", "bad option");
    }
  }
  if (argc - optind != 1)
    return cli_usage("inspect", "expected one image reference");
  if (cli_ref_parse(argv[optind], 0, &ref, &err) != WH_OK || inspect(o, &a, &ref, &err) != WH_OK)
    status = cli_fail("inspect", argv[optind], &err);
  cli_ref_release(&ref);
  return status;
}
