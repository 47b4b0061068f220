/* client/cmd_rmi.c - `wharf rmi REF...`: removes local images.
 *
 * As docker does: when REF is a tag and another tag of the repository
 * names the same manifest, only REF's tag goes. Otherwise the manifest is
 * deleted from its repository together with every tag there pointing at it
 * (history rows recorded); for an index, its children stored in that
 * repository go too. Blob files stay until `wharf prune` (GC). All
 * references are tried; the exit status is the first failure's.
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "client/cli.h"

#define WHO "wharf rmi"

static const struct option rmi_opts[] = {
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* Deletes the index in repo, then the children stored there (best effort,
 * with any tag of their own). */
static enum wh_code drop_index(struct store *s, const char *repo, const struct cli_manifest *idx,
                               struct wh_err *err)
{
  enum wh_code rc = store_manifest_delete(s, repo, &idx->digest, WHO, err);

  for (size_t i = 0; rc == WH_OK && i < idx->parsed.n_manifests; i++) {
    const struct wh_digest *c = &idx->parsed.manifests[i].digest;
    if (store_manifest_get(s, repo, c->str, NULL, NULL, NULL) == WH_OK)
      store_manifest_delete(s, repo, c, WHO, NULL);
  }
  return rc;
}

struct twin {
  struct store *s;
  const char *repo, *tag;
  const struct wh_digest *d;
  bool found;
};

static int twin_cb(void *ctx, const char *name)
{
  struct twin *t = ctx;
  struct store_manifest m;

  if (strcmp(name, t->tag) != 0 && store_manifest_get(t->s, t->repo, name, &m, NULL, NULL) == WH_OK &&
      wh_digest_eq(&m.digest, t->d))
    t->found = true;
  return t->found;
}

/* Whether another tag of repo than `tag` names d. */
static bool has_twin(struct store *s, const char *repo, const char *tag, const struct wh_digest *d)
{
  struct twin t = {.s = s, .repo = repo, .tag = tag, .d = d};

  return store_tag_list(s, repo, NULL, 0, twin_cb, &t, NULL, NULL) == WH_OK && t.found;
}

static enum wh_code rmi(struct store *s, const char *arg, struct wh_digest *out, bool *untagged,
                        struct wh_err *err)
{
  struct cli_ref ref = {0};
  struct cli_manifest m = {0};
  enum wh_code rc = cli_ref_parse(arg, 0, &ref, err);

  *untagged = false;
  if (rc == WH_OK && (rc = cli_manifest_load(s, ref.repo, cli_ref_reference(&ref), &m, err)) == WH_OK) {
    if (!ref.has_digest && has_twin(s, ref.repo, ref.tag, &m.digest)) {
      *untagged = true;
      rc = store_tag_delete(s, ref.repo, ref.tag, WHO, err);
    } else if (m.parsed.kind == WH_MANIFEST_INDEX)
      rc = drop_index(s, ref.repo, &m, err);
    else
      rc = store_manifest_delete(s, ref.repo, &m.digest, WHO, err);
    if (rc == WH_OK)
      *out = m.digest;
  }
  cli_manifest_release(&m);
  cli_ref_release(&ref);
  return rc;
}

int cli_cmd_rmi(const struct cli_opts *o, int argc, char **argv)
{
  struct wh_err err = {0};
  struct store *s = NULL;
  int c, status = 0;

  optind = 0;
  while ((c = getopt_long(argc, argv, "+h", rmi_opts, NULL)) != -1) {
    if (c == 'h')
      return cli_help("rmi");
    return cli_usage("rmi", "bad option");
  }
  if (argc - optind < 1)
    return cli_usage("rmi", "expected at least one REF");
  if (cli_store_open(o, &s, &err) != WH_OK)
    return cli_fail("rmi", NULL, &err);
  for (int i = optind; i < argc; i++) {
    struct wh_digest d;
    bool untagged;
    int st = 0;
    if (rmi(s, argv[i], &d, &untagged, &err) != WH_OK)
      st = cli_fail("rmi", argv[i], &err);
    else if (o->quiet)
      printf("%s\n", d.str);
    else
      printf("%s %s (%s)\n", untagged ? "untagged" : "deleted", argv[i], d.str);
    if (status == 0)
      status = st;
  }
  store_free(s);
  return status;
}
