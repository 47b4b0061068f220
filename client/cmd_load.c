/* client/cmd_load.c - `wharf load -i PATH [REPOSITORY[:TAG]]`.
 *
 * Reads an OCI image layout (a directory, or a tar, "-" for stdin) and
 * stores every image its index.json names (layout.c does the reading).
 * An entry's name is io.containerd.image.name, else
 * org.opencontainers.image.ref.name: a full reference ("host/app:v1") is
 * used as it is; a bare tag ("v1", as skopeo and mkoci write) goes into
 * REPOSITORY; an entry without a name goes into REPOSITORY with TAG (or
 * untagged). For each image: its manifest (read, capped, checked against
 * its descriptor's size and digest, parsed strictly), then its config and
 * layers (through upload sessions that verify each digest before anything
 * is committed; blobs the store has are linked, not copied), then the
 * manifest with its tag, in one store transaction. An index brings the
 * children the layout has (sparse otherwise).
 *
 * Invariants: an image appears only once everything it needs is stored;
 * a failure leaves at most verified blobs behind (garbage for prune).
 */
#include "config.h"

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/layout.h"
#include "common/cleanup.h"
#include "common/ref.h"

#define LOAD_MAX_DEPTH 2 /* index -> image */

struct load {
  const struct cli_opts *o;
  struct store *s;
  struct cli_layout_in *l;
  const struct cli_ref *given; /* REPOSITORY[:TAG], may be NULL */
};

/* Blobs of image manifest p into repo. */
static enum wh_code load_blobs(struct load *ld, const char *repo, const struct wh_manifest *p,
                               struct wh_err *err)
{
  enum wh_code rc = cli_layout_import_blob(ld->l, repo, &p->config, err);

  for (size_t i = 0; rc == WH_OK && i < p->n_layers; i++) {
    const struct wh_descriptor *d = &p->layers[i];
    if (wh_media_type_is_nondistributable(d->media_type) && !cli_layout_has_blob(ld->l, &d->digest))
      continue; /* foreign layers live elsewhere */
    rc = cli_layout_import_blob(ld->l, repo, d, err);
  }
  return rc;
}

static enum wh_code load_manifest(struct load *ld, const char *repo, const struct wh_descriptor *d,
                                  const char *tag, int depth, struct wh_err *err)
{
  struct wh_buf body;
  struct wh_manifest m;
  struct store_manifest_put a = {
      .repo = repo, .digest = &d->digest, .tags = &tag, .n_tags = tag ? 1 : 0, .who = "wharf load"};
  enum wh_code rc;

  if (depth > LOAD_MAX_DEPTH)
    return wh_err_set(err, WH_EUNSUPPORTED, 0, "manifest %s: indexes nested too deep", d->digest.str);
  if (!wh_media_type_is_manifest(d->media_type))
    return wh_err_set(err, WH_EUNSUPPORTED, 0, "%s: \"%.100s\" is not a manifest type", d->digest.str,
                      d->media_type);
  wh_buf_init(&body, WH_MANIFEST_MAX);
  if ((rc = cli_layout_read_blob(ld->l, d, &body, err)) != WH_OK ||
      (rc = wh_manifest_parse(body.data ? body.data : "", body.len, d->media_type, &m, err)) != WH_OK) {
    wh_buf_release(&body);
    return rc;
  }
  if (m.kind == WH_MANIFEST_IMAGE)
    rc = load_blobs(ld, repo, &m, err);
  for (size_t i = 0; rc == WH_OK && m.kind == WH_MANIFEST_INDEX && i < m.n_manifests; i++) {
    if (cli_layout_has_blob(ld->l, &m.manifests[i].digest))
      rc = load_manifest(ld, repo, &m.manifests[i], NULL, depth + 1, err);
    else
      a.flags = STORE_MANIFEST_SPARSE_INDEX;
  }
  if (rc == WH_OK) {
    a.body = body.data;
    a.len = body.len;
    a.media_type = m.media_type;
    a.parsed = &m;
    rc = store_manifest_put(ld->s, &a, NULL, err);
  }
  wh_manifest_release(&m);
  wh_buf_release(&body);
  return rc == WH_OK ? rc : (wh_err_wrap(err, "manifest %s", d->digest.str), rc);
}

/* ---- names -------------------------------------------------------------------------- */

static const char *name_of(const struct wh_descriptor *d)
{
  const char *n = json_string_value(json_object_get(d->annotations, CLI_ANN_CONTAINERD_NAME));

  return n ? n : json_string_value(json_object_get(d->annotations, CLI_ANN_REF_NAME));
}

/* Where entry i goes: *out is a parsed reference of our own, or a copy of
 * the given one with the tag the entry names. */
static enum wh_code target_of(const struct load *ld, size_t i, const struct wh_descriptor *d,
                              struct cli_ref *out, struct wh_err *err)
{
  const char *name = name_of(d);
  bool bare = name && strpbrk(name, "/:@") == NULL && wh_tag_valid(name, strlen(name));
  struct wh_buf full;
  enum wh_code rc;

  if (name && !bare)
    return cli_ref_parse(name, CLI_REF_NO_DEFAULT_TAG, out, err) == WH_OK
               ? WH_OK
               : wh_err_wrap(err, "entry %zu named \"%.200s\"", i, name);
  if (ld->given == NULL)
    return name ? wh_err_set(err, WH_EINVALID, 0, "entry %zu is named only \"%s\" (a tag): give a REPOSITORY",
                             i, name)
                : wh_err_set(err, WH_EINVALID, 0, "entry %zu has no name: give a REPOSITORY", i);
  wh_buf_init(&full, WH_REF_MAX);
  if (wh_buf_printf(&full, "%s%s%s", ld->given->repo, name || ld->given->tag ? ":" : "",
                    name             ? name
                    : ld->given->tag ? ld->given->tag
                                     : "") != WH_OK)
    rc = wh_err_set(err, WH_ENOMEM, 0, "out of memory");
  else
    rc = cli_ref_parse(full.data, CLI_REF_NO_DEFAULT_TAG, out, err);
  wh_buf_release(&full);
  return rc;
}

/* ---- the run ------------------------------------------------------------------------ */

static enum wh_code load_entry(struct load *ld, size_t i, const struct wh_descriptor *d, struct wh_err *err)
{
  struct cli_ref t = {0};
  enum wh_code rc = target_of(ld, i, d, &t, err);

  if (rc == WH_OK && (rc = load_manifest(ld, t.repo, d, t.tag, 0, err)) == WH_OK) {
    if (ld->o->quiet)
      printf("%s\n", d->digest.str);
    else
      printf("loaded %s%s%s: %s\n", cli_repo_familiar(t.repo), t.tag ? ":" : "", t.tag ? t.tag : "",
             d->digest.str);
  }
  cli_ref_release(&t);
  return rc;
}

static enum wh_code load(struct load *ld, const char *path, struct wh_err *err)
{
  const struct wh_buf *index;
  struct wh_manifest idx;
  enum wh_code rc;

  if ((rc = cli_layout_open(ld->s, path, &ld->l, err)) != WH_OK ||
      (rc = cli_layout_index(ld->l, &index, err)) != WH_OK)
    return rc;
  if ((rc = wh_manifest_parse(index->data ? index->data : "", index->len, WH_MT_OCI_INDEX, &idx, err)) !=
      WH_OK)
    return wh_err_wrap(err, "index.json");
  if (idx.kind != WH_MANIFEST_INDEX || idx.n_manifests == 0)
    rc = wh_err_set(err, WH_EINVALID, 0, "index.json names no image");
  for (size_t i = 0; rc == WH_OK && i < idx.n_manifests; i++)
    rc = load_entry(ld, i, &idx.manifests[i], err);
  wh_manifest_release(&idx);
  return rc;
}

static const struct option load_opts[] = {
    {"input", required_argument, NULL, 'i'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

int cli_cmd_load(const struct cli_opts *o, int argc, char **argv)
{
  struct load ld = {.o = o};
  struct cli_ref given = {0};
  struct wh_err err = {0};
  const char *path = NULL;
  int c, status = 0;

  optind = 0;
  while ((c = getopt_long(argc, argv, "+hi:", load_opts, NULL)) != -1) {
    if (c == 'h')
      return cli_help("load");
    if (c != 'i')
      return cli_usage("load", "bad option");
    path = optarg;
  }
  if (path == NULL || path[0] == '\0' || argc - optind > 1)
    return cli_usage("load", "expected -i PATH and at most one REPOSITORY");
  if (argc - optind == 1) {
    if (cli_ref_parse(argv[optind], CLI_REF_NO_DEFAULT_TAG, &given, &err) != WH_OK)
      return cli_fail("load", argv[optind], &err);
    if (given.has_digest) {
      cli_ref_release(&given);
      return cli_usage("load", "REPOSITORY takes a tag, not a digest");
    }
    ld.given = &given;
  }
  if (cli_store_open(o, &ld.s, &err) != WH_OK || load(&ld, path, &err) != WH_OK)
    status = cli_fail("load", path, &err);
  cli_layout_close(ld.l);
  store_free(ld.s);
  cli_ref_release(&given);
  return status;
}
