/* client/cmd_images.c - `wharf images [--format table|json] [REPOSITORY]`.
 *
 * One row per local tag: repository, tag, digest, size and created; then
 * one row per untagged image (pulled by digest, or left by a tag that
 * moved) with tag "<none>" (null in JSON). Size is what the image takes in
 * the store: manifest, config and layers as stored (compressed); for an
 * index, those of its locally stored child. Created comes from the image
 * config ("created"), "" when absent.
 * Not listed: an index's child manifests (they are part of the index's
 * row) and referrers (signatures and other artifacts about an image).
 * A manifest is stored only once all its blobs are (the last step of a
 * pull), so a half-pulled image is never listed.
 */
#include "config.h"

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/cli.h"
#include "common/cleanup.h"

#define CONFIG_MAX (8u * 1024 * 1024)
#define LIST_MAX 100000 /* names collected per listing */

struct names {
  char **v;
  size_t n;
  bool failed;
};

static int collect(void *ctx, const char *name)
{
  struct names *l = ctx;
  char **n;

  if (l->n >= LIST_MAX || (n = realloc(l->v, (l->n + 1) * sizeof(*n))) == NULL) {
    l->failed = true;
    return 1;
  }
  l->v = n;
  if ((n[l->n] = strdup(name)) == NULL) {
    l->failed = true;
    return 1;
  }
  l->n++;
  return 0;
}

static void names_release(struct names *l)
{
  for (size_t i = 0; i < l->n; i++)
    free(l->v[i]);
  free(l->v);
  memset(l, 0, sizeof(*l));
}

struct row {
  struct wh_digest digest;
  uint64_t size;
  char created[64];
};

/* Size and creation time of image manifest m in repo. */
static void image_facts(struct store *s, const char *repo, const struct cli_manifest *m, struct row *r)
{
  const struct wh_manifest *p = &m->parsed;
  struct wh_buf cfg;
  json_auto_t *j = NULL;
  const char *created;

  r->size += m->body.len + p->config.size;
  for (size_t i = 0; i < p->n_layers; i++)
    r->size += p->layers[i].size;
  wh_buf_init(&cfg, CONFIG_MAX);
  if (cli_blob_load(s, repo, &p->config.digest, &cfg, NULL) == WH_OK && cfg.data &&
      (j = json_loadb(cfg.data, cfg.len, 0, NULL)) != NULL &&
      (created = json_string_value(json_object_get(j, "created"))) != NULL)
    snprintf(r->created, sizeof(r->created), "%.63s", created);
  wh_buf_release(&cfg);
}

static enum wh_code row_of(struct store *s, const char *repo, const char *tag, struct row *r,
                           struct wh_err *err)
{
  struct cli_manifest m = {0}, child = {0};
  size_t i;
  enum wh_code rc = cli_manifest_load(s, repo, tag, &m, err);

  if (rc != WH_OK)
    return rc;
  memset(r, 0, sizeof(*r));
  r->digest = m.digest;
  if (m.parsed.kind == WH_MANIFEST_IMAGE) {
    image_facts(s, repo, &m, r);
  } else if (cli_index_local_child(s, repo, &m.parsed, &child, &i, NULL) == WH_OK) {
    r->size = m.body.len;
    image_facts(s, repo, &child, r);
    cli_manifest_release(&child);
  }
  cli_manifest_release(&m);
  return WH_OK;
}

/* tag NULL: an untagged image. */
static void print_row(bool json, json_t *out, const char *repo, const char *tag, const struct row *r)
{
  char size[32];

  if (json) {
    json_array_append_new(out, json_pack("{s:s,s:s?,s:s,s:I,s:s}", "repository", repo, "tag", tag, "digest",
                                         r->digest.str, "size", (json_int_t)r->size, "created", r->created));
    return;
  }
  cli_human_size(r->size, size, sizeof(size));
  printf("%-40s %-20s %-19.19s %10s  %s\n", cli_repo_familiar(repo), tag ? tag : "<none>", r->digest.str,
         size, r->created);
}

/* Untagged images: no tag, not an index's child, not a referrer. */
static int collect_untagged(void *ctx, const struct store_manifest_info *m)
{
  return m->n_tags == 0 && !m->is_child && !m->has_subject ? collect(ctx, m->digest.str) : 0;
}

static enum wh_code list_repo(struct store *s, const char *repo, bool json, json_t *out, struct wh_err *err)
{
  struct names tags = {0}, untagged = {0};
  enum wh_code rc = store_tag_list(s, repo, NULL, 0, collect, &tags, NULL, err);

  if (rc == WH_OK)
    rc = store_manifest_list(s, repo, collect_untagged, &untagged, err);
  if (rc == WH_OK && (tags.failed || untagged.failed))
    rc = wh_err_set(err, WH_ENOMEM, 0, "too many images in \"%s\"", repo);
  for (size_t i = 0; rc == WH_OK && i < tags.n + untagged.n; i++) {
    const char *ref = i < tags.n ? tags.v[i] : untagged.v[i - tags.n];
    struct row r;
    if (row_of(s, repo, ref, &r, NULL) == WH_OK) /* one deleted meanwhile is skipped */
      print_row(json, out, repo, i < tags.n ? ref : NULL, &r);
  }
  names_release(&tags);
  names_release(&untagged);
  return rc;
}

static enum wh_code images(struct store *s, const char *only, bool json, struct wh_err *err)
{
  struct names repos = {0};
  json_auto_t *out = json ? json_array() : NULL;
  enum wh_code rc = WH_OK;

  if (json && out == NULL)
    return wh_err_set(err, WH_ENOMEM, 0, "out of memory");
  if (only == NULL)
    rc = store_repo_list(s, NULL, 0, collect, &repos, NULL, err);
  else if (store_repo_exists(s, only))
    collect(&repos, only);
  if (rc == WH_OK && repos.failed)
    rc = wh_err_set(err, WH_ENOMEM, 0, "too many repositories");
  if (rc == WH_OK && !json)
    printf("%-40s %-20s %-19s %10s  %s\n", "REPOSITORY", "TAG", "DIGEST", "SIZE", "CREATED");
  for (size_t i = 0; rc == WH_OK && i < repos.n; i++)
    rc = list_repo(s, repos.v[i], json, out, err);
  if (rc == WH_OK && json) {
    json_dumpf(out, stdout, JSON_INDENT(2));
    putchar('\n');
  }
  names_release(&repos);
  return rc;
}

static const struct option images_opts[] = {
    {"format", required_argument, NULL, 'f'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

int cli_cmd_images(const struct cli_opts *o, int argc, char **argv)
{
  struct wh_err err = {0};
  struct cli_ref ref = {0};
  struct store *s = NULL;
  bool json = false;
  int c, status = 0;

  optind = 0;
  while ((c = getopt_long(argc, argv, "+h", images_opts, NULL)) != -1) {
    if (c == 'h')
      return cli_help("images");
    if (c != 'f' || (strcmp(optarg, "json") != 0 && strcmp(optarg, "table") != 0))
      return cli_usage("images", "bad option (--format table|json)");
    json = strcmp(optarg, "json") == 0;
  }
  if (argc - optind > 1)
    return cli_usage("images", "at most one REPOSITORY");
  if (argc - optind == 1 && cli_ref_parse(argv[optind], CLI_REF_NO_TAG, &ref, &err) != WH_OK)
    return cli_fail("images", argv[optind], &err);
  if (cli_store_open(o, &s, &err) != WH_OK || images(s, ref.repo, json, &err) != WH_OK)
    status = cli_fail("images", NULL, &err);
  store_free(s);
  cli_ref_release(&ref);
  return status;
}
