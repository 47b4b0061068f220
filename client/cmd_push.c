/* client/cmd_push.c - `wharf push [--all-tags] REF`.
 *
 *   local manifest REF -> image: push its config and layers (upload.c),
 *   then PUT the manifest's exact bytes and media type;
 *   index: every child first (by digest; an index among them the same
 *   way, one level of nesting), then the index.
 *
 * Invariants: the registry sees a manifest only after everything it
 * references was accepted; an index whose children are not all stored
 * locally (a single-platform pull) is refused rather than pushed broken.
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/remote.h"
#include "common/cleanup.h"

struct push {
  const struct cli_opts *o;
  struct store *s;
  struct cli_registry *r;
  const struct cli_ref *ref;
  struct cli_progress *p;
};

static enum wh_code push_blobs_of(struct push *ps, const struct wh_manifest *m, struct wh_err *err)
{
  WH_AUTOFREE struct cli_blob_want *w = calloc(m->n_layers + 1, sizeof(*w));
  size_t n = 0;

  if (w == NULL)
    return wh_err_set(err, WH_ENOMEM, 0, "out of memory");
  w[n++] = (struct cli_blob_want){.d = &m->config, .kind = "config"};
  for (size_t i = 0; i < m->n_layers; i++)
    w[n++] = (struct cli_blob_want){.d = &m->layers[i], .kind = "layer"};
  return cli_push_blobs(ps->r, ps->s, ps->o->root, ps->ref->repo, ps->ref->path, w, n, ps->p, err);
}

static enum wh_code put_manifest(struct push *ps, const struct cli_manifest *m, const char *reference,
                                 struct wh_err *err)
{
  return cli_remote_manifest_put(ps->r, ps->ref->path, reference, m->body.data, m->body.len, m->media_type,
                                 &m->digest, err);
}

#define PUSH_MAX_DEPTH 2 /* index -> index -> image */

/* Every child of idx first (an image: its blobs, then its manifest; an
 * index: the same, recursively), then idx itself under reference. */
static enum wh_code push_index(struct push *ps, const struct cli_manifest *idx, const char *reference,
                               int depth, struct wh_err *err)
{
  const struct wh_manifest *m = &idx->parsed;
  enum wh_code rc = WH_OK;

  for (size_t i = 0; i < m->n_manifests && rc == WH_OK; i++) {
    struct cli_manifest child = {0};
    const struct wh_digest *d = &m->manifests[i].digest;
    if ((rc = cli_manifest_load(ps->s, ps->ref->repo, d->str, &child, err)) != WH_OK) {
      if (rc == WH_ENOTFOUND)
        rc = wh_err_set(err, WH_ENOTFOUND, 0,
                        "index child %s is not stored locally (pulled for one platform only?)", d->str);
      break;
    }
    if (child.parsed.kind == WH_MANIFEST_INDEX && depth >= PUSH_MAX_DEPTH - 1)
      rc = wh_err_set(err, WH_EUNSUPPORTED, 0, "manifest %s: indexes nested too deep", d->str);
    else if (child.parsed.kind == WH_MANIFEST_INDEX)
      rc = push_index(ps, &child, d->str, depth + 1, err);
    else if ((rc = push_blobs_of(ps, &child.parsed, err)) == WH_OK)
      rc = put_manifest(ps, &child, d->str, err);
    cli_manifest_release(&child);
  }
  return rc == WH_OK ? put_manifest(ps, idx, reference, err) : rc;
}

/* The client's own record of a tag it pushed (storage/pushes.c): what
 * `wharf rollback` goes back to on registries that keep no tag history. */
static enum wh_code record_push(struct push *ps, const char *tag, const struct cli_manifest *m,
                                struct wh_err *err)
{
  struct store_push_rec rec = {.registry = ps->ref->domain,
                               .repo = ps->ref->path,
                               .tag = tag,
                               .digest = m->digest,
                               .media_type = m->media_type};

  if (store_push_record(ps->s, &rec, err) != WH_OK)
    return wh_err_wrap(err, "pushed, but not recorded for rollback");
  return WH_OK;
}

/* Pushes the local manifest `reference` (a tag or a digest) under the same reference. */
static enum wh_code push_one(struct push *ps, const char *reference, struct wh_digest *out,
                             uint64_t *size_out, struct wh_err *err)
{
  struct cli_manifest m = {0};
  enum wh_code rc = cli_manifest_load(ps->s, ps->ref->repo, reference, &m, err);

  if (rc != WH_OK)
    return rc;
  if (m.parsed.kind == WH_MANIFEST_INDEX)
    rc = push_index(ps, &m, reference, 0, err);
  else if ((rc = push_blobs_of(ps, &m.parsed, err)) == WH_OK)
    rc = put_manifest(ps, &m, reference, err);
  if (rc == WH_OK && strchr(reference, ':') == NULL)
    rc = record_push(ps, reference, &m, err);
  if (rc == WH_OK) {
    *out = m.digest;
    *size_out = m.body.len;
  }
  cli_manifest_release(&m);
  return rc;
}

struct tags {
  char **v;
  size_t n;
  bool nomem;
};

static int collect_tag(void *ctx, const char *name)
{
  struct tags *t = ctx;
  char **n = realloc(t->v, (t->n + 1) * sizeof(*n));

  if (n == NULL || (n[t->n] = strdup(name)) == NULL) {
    if (n)
      t->v = n;
    t->nomem = true;
    return 1;
  }
  t->v = n;
  t->n++;
  return 0;
}

static void report(const struct push *ps, const char *reference, const struct wh_digest *d, uint64_t size)
{
  bool by_digest = strchr(reference, ':') != NULL;

  cli_progress_flush(ps->p);
  if (ps->o->quiet)
    printf("%s\n", d->str);
  else
    printf("%s%s%s: digest: %s size: %llu\n", cli_repo_familiar(ps->ref->repo), by_digest ? "@" : ":",
           reference, d->str, (unsigned long long)size);
  fflush(stdout);
}

static enum wh_code push_all_tags(struct push *ps, struct wh_err *err)
{
  struct tags t = {0};
  enum wh_code rc = store_tag_list(ps->s, ps->ref->repo, NULL, 0, collect_tag, &t, NULL, err);

  if (rc == WH_OK && t.nomem)
    rc = wh_err_set(err, WH_ENOMEM, 0, "out of memory");
  if (rc == WH_OK && t.n == 0)
    rc = wh_err_set(err, WH_ENOTFOUND, 0, "no local tags in \"%s\"", ps->ref->repo);
  for (size_t i = 0; i < t.n && rc == WH_OK; i++) {
    struct wh_digest d;
    uint64_t size;
    if ((rc = push_one(ps, t.v[i], &d, &size, err)) != WH_OK)
      wh_err_wrap(err, "tag %s", t.v[i]);
    else
      report(ps, t.v[i], &d, size);
  }
  for (size_t i = 0; i < t.n; i++)
    free(t.v[i]);
  free(t.v);
  return rc;
}

static const struct option push_opts[] = {
    {"all-tags", no_argument, NULL, 'a'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static enum wh_code run(struct push *ps, bool all, struct wh_err *err)
{
  struct wh_digest d;
  uint64_t size;
  const char *reference = cli_ref_reference(ps->ref);
  enum wh_code rc;

  if ((rc = cli_registry_ping(ps->r, err)) != WH_OK)
    return rc;
  if (all)
    return push_all_tags(ps, err);
  if ((rc = push_one(ps, reference, &d, &size, err)) == WH_OK)
    report(ps, reference, &d, size);
  return rc;
}

int cli_cmd_push(const struct cli_opts *o, int argc, char **argv)
{
  struct push ps = {.o = o};
  struct cli_ref ref = {0};
  struct wh_err err = {0};
  bool all = false;
  int c, status = 0;

  optind = 0;
  while ((c = getopt_long(argc, argv, "+ah", push_opts, NULL)) != -1) {
    if (c == 'h')
      return cli_help("push");
    if (c != 'a')
      return cli_usage("push", "bad option");
    all = true;
  }
  if (argc - optind != 1)
    return cli_usage("push", "expected one image reference");
  if (cli_ref_parse(argv[optind], all ? CLI_REF_NO_TAG : 0, &ref, &err) != WH_OK)
    return cli_fail("push", argv[optind], &err);
  ps.ref = &ref;
  if (cli_store_open(o, &ps.s, &err) != WH_OK || cli_registry_open(o, ref.domain, &ps.r, &err) != WH_OK ||
      (ps.p = cli_progress_new(o, "uploading")) == NULL || run(&ps, all, &err) != WH_OK) {
    cli_progress_free(ps.p);
    ps.p = NULL;
    status = cli_fail("push", argv[optind], &err);
  }
  cli_progress_free(ps.p);
  cli_registry_free(ps.r);
  store_free(ps.s);
  cli_ref_release(&ref);
  return status;
}
