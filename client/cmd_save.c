/* client/cmd_save.c - `wharf save [--format dir|tar] -o PATH REF...`.
 *
 * Writes the local images REF... as one OCI image layout (layout.c): a
 * directory, or a tar (PATH ending in ".tar", --format tar, or "-" for
 * stdout). index.json gets one entry per REF, named with its full
 * reference ("registry/path:tag", or "registry/path@digest") in both
 * org.opencontainers.image.ref.name and io.containerd.image.name; blobs/
 * gets each manifest's exact bytes, config and layers once. An index
 * brings the platforms stored locally (a sparse index stays sparse).
 *
 * Invariants: nothing is read from outside the store, blobs are copied as
 * they are (digests unchanged), and PATH appears complete or not at all.
 */
#include "config.h"

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client/layout.h"
#include "common/cleanup.h"
#include "common/ref.h"

#define SAVE_MAX_DEPTH 2 /* index -> image */

struct save {
  struct store *s;
  struct cli_layout_out *w;
};

static enum wh_code put_blob(struct save *sv, const char *repo, const struct wh_descriptor *d,
                             struct wh_err *err)
{
  WH_AUTOCLOSE int fd = -1;
  uint64_t size;
  enum wh_code rc = store_blob_open(sv->s, repo, &d->digest, &fd, &size, err);

  if (rc == WH_ENOTFOUND && wh_media_type_is_nondistributable(d->media_type))
    return WH_OK;
  if (rc != WH_OK)
    return rc;
  if (size != d->size)
    return wh_err_set(err, WH_EDIGEST, 0, "blob %s: %llu bytes stored, the manifest says %llu", d->digest.str,
                      (unsigned long long)size, (unsigned long long)d->size);
  return cli_layout_put_blob(sv->w, &d->digest, fd, size, err);
}

/* Manifest `reference` of repo with everything it references. */
static enum wh_code put_manifest(struct save *sv, const char *repo, const char *reference, int depth,
                                 struct wh_err *err)
{
  struct cli_manifest m = {0};
  WH_AUTOCLOSE int fd = -1;
  const struct wh_manifest *p = &m.parsed;
  enum wh_code rc;

  if (depth > SAVE_MAX_DEPTH)
    return wh_err_set(err, WH_EUNSUPPORTED, 0, "manifest %s: indexes nested too deep", reference);
  if ((rc = cli_manifest_load(sv->s, repo, reference, &m, err)) != WH_OK)
    return rc;
  if ((rc = store_blob_open(sv->s, NULL, &m.digest, &fd, NULL, err)) == WH_OK)
    rc = cli_layout_put_blob(sv->w, &m.digest, fd, m.body.len, err);
  if (rc == WH_OK && p->kind == WH_MANIFEST_IMAGE) {
    rc = put_blob(sv, repo, &p->config, err);
    for (size_t i = 0; rc == WH_OK && i < p->n_layers; i++)
      rc = put_blob(sv, repo, &p->layers[i], err);
  }
  for (size_t i = 0; rc == WH_OK && p->kind == WH_MANIFEST_INDEX && i < p->n_manifests; i++)
    if (store_manifest_get(sv->s, repo, p->manifests[i].digest.str, NULL, NULL, NULL) == WH_OK)
      rc = put_manifest(sv, repo, p->manifests[i].digest.str, depth + 1, err);
  cli_manifest_release(&m);
  return rc;
}

/* The index.json entry for ref: its manifest's descriptor, named. */
static enum wh_code entry_of(struct store *s, const struct cli_ref *ref, json_t *manifests,
                             struct wh_err *err)
{
  struct store_manifest sm;
  size_t size = strlen(ref->repo) + WH_DIGEST_STR_MAX + WH_TAG_MAX + 4;
  WH_AUTOFREE char *name = NULL;
  enum wh_code rc = store_manifest_get(s, ref->repo, cli_ref_reference(ref), &sm, NULL, err);
  json_t *e;

  if (rc != WH_OK)
    return rc;
  if ((name = malloc(size)) == NULL)
    return wh_err_set(err, WH_ENOMEM, 0, "out of memory");
  if (ref->tag)
    snprintf(name, size, "%s:%s", ref->repo, ref->tag);
  else
    snprintf(name, size, "%s@%s", ref->repo, sm.digest.str);
  e = json_pack("{s:s,s:s,s:I,s:{s:s,s:s}}", "mediaType", sm.media_type, "digest", sm.digest.str, "size",
                (json_int_t)sm.size, "annotations", CLI_ANN_REF_NAME, name, CLI_ANN_CONTAINERD_NAME, name);
  if (e == NULL || json_array_append_new(manifests, e) != 0)
    return wh_err_set(err, WH_ENOMEM, 0, "out of memory");
  return WH_OK;
}

static enum wh_code put_index(struct save *sv, const struct cli_ref *refs, size_t n, struct wh_err *err)
{
  static const char layout[] = "{\"imageLayoutVersion\":\"1.0.0\"}";
  json_auto_t *idx =
      json_pack("{s:i,s:s,s:[]}", "schemaVersion", 2, "mediaType", WH_MT_OCI_INDEX, "manifests");
  WH_AUTOFREE char *text = NULL;
  enum wh_code rc = idx ? WH_OK : wh_err_set(err, WH_ENOMEM, 0, "out of memory");

  for (size_t i = 0; rc == WH_OK && i < n; i++)
    if ((rc = entry_of(sv->s, &refs[i], json_object_get(idx, "manifests"), err)) != WH_OK)
      wh_err_wrap(err, "\"%s\"", refs[i].repo);
  if (rc != WH_OK)
    return rc;
  if ((text = json_dumps(idx, JSON_COMPACT | JSON_PRESERVE_ORDER)) == NULL)
    return wh_err_set(err, WH_ENOMEM, 0, "out of memory");
  if ((rc = cli_layout_put_file(sv->w, CLI_LAYOUT_FILE, layout, sizeof(layout) - 1, err)) != WH_OK)
    return rc;
  return cli_layout_put_file(sv->w, CLI_LAYOUT_INDEX, text, strlen(text), err);
}

static enum wh_code save(const struct cli_opts *o, const char *path, bool tar, const struct cli_ref *refs,
                         size_t n, struct wh_err *err)
{
  struct save sv = {0};
  enum wh_code rc;

  if ((rc = cli_store_open(o, &sv.s, err)) != WH_OK)
    return rc;
  if ((rc = cli_layout_create(path, tar, &sv.w, err)) == WH_OK) {
    rc = put_index(&sv, refs, n, err);
    for (size_t i = 0; rc == WH_OK && i < n; i++)
      rc = put_manifest(&sv, refs[i].repo, cli_ref_reference(&refs[i]), 0, err);
    if (rc == WH_OK)
      rc = cli_layout_commit(wh_steal_ptr(&sv.w), err);
    cli_layout_abort(sv.w);
  }
  store_free(sv.s);
  return rc;
}

static bool ends_with(const char *s, const char *suffix)
{
  size_t n = strlen(s), k = strlen(suffix);

  return n >= k && strcmp(s + n - k, suffix) == 0;
}

static const struct option save_opts[] = {
    {"output", required_argument, NULL, 'o'},
    {"format", required_argument, NULL, 'f'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

int cli_cmd_save(const struct cli_opts *o, int argc, char **argv)
{
  const char *path = NULL, *format = NULL;
  struct wh_err err = {0};
  struct cli_ref *refs;
  size_t n = 0;
  int c, status = 0;

  optind = 0;
  while ((c = getopt_long(argc, argv, "+ho:", save_opts, NULL)) != -1) {
    if (c == 'h')
      return cli_help("save");
    if (c == 'o')
      path = optarg;
    else if (c == 'f' && (strcmp(optarg, "dir") == 0 || strcmp(optarg, "tar") == 0))
      format = optarg;
    else
      return cli_usage("save", "bad option");
  }
  if (path == NULL || path[0] == '\0' || argc - optind < 1)
    return cli_usage("save", "expected -o PATH and at least one image reference");
  if (strcmp(path, "-") == 0 && isatty(STDOUT_FILENO))
    return cli_usage("save", "refusing to write a tar to a terminal");
  if ((refs = calloc((size_t)(argc - optind), sizeof(*refs))) == NULL)
    return wh_err_set(&err, WH_ENOMEM, 0, "out of memory"), cli_fail("save", NULL, &err);
  for (int i = optind; i < argc && status == 0; i++)
    if (cli_ref_parse(argv[i], 0, &refs[n++], &err) != WH_OK)
      status = cli_fail("save", argv[i], &err);
  if (status == 0 &&
      save(o, path, format ? strcmp(format, "tar") == 0 : ends_with(path, ".tar"), refs, n, &err) != WH_OK)
    status = cli_fail("save", path, &err);
  else if (status == 0 && !o->quiet && strcmp(path, "-") != 0)
    printf("saved %zu image%s to %s\n", n, n == 1 ? "" : "s", path);
  for (size_t i = 0; i < n; i++)
    cli_ref_release(&refs[i]);
  free(refs);
  return status;
}
