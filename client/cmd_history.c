/* client/cmd_history.c - `wharf history [--remote] [--platform P] [--no-trunc]
 * [--format table|json] REF`.
 *
 * The image config's "history" (OCI image-spec: created, created_by,
 * author, comment, empty_layer), newest first as `docker history` shows
 * it. Entries that are not empty layers are matched, in order, with the
 * manifest's layers: each gets its layer's digest and size (as stored,
 * compressed). Layers left over (a config without history, or a short one)
 * get a row of their own, without text.
 *
 * Invariants: the config is read through cli_view (capped, and from a
 * verified manifest when remote); at most WH_MANIFEST_MAX_DESCRIPTORS
 * history entries are looked at; control characters in the text are shown
 * as spaces in the table.
 */
#include "config.h"

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/remote.h"
#include "common/cleanup.h"

#define TRUNC_BY 45

struct hrow {
  json_t *entry;                     /* borrowed from the config, NULL for a layer without history */
  const struct wh_descriptor *layer; /* NULL: an empty layer */
};

struct hist {
  struct hrow *rows; /* owned, oldest first */
  size_t n;
};

static const char *field(const struct hrow *r, const char *name)
{
  const char *s = r->entry ? json_string_value(json_object_get(r->entry, name)) : NULL;

  return s ? s : "";
}

/* Rows from config history h and the image's layers. */
static enum wh_code build(json_t *h, const struct wh_manifest *img, struct hist *out, struct wh_err *err)
{
  size_t n_h = json_is_array(h) ? json_array_size(h) : 0, k = 0;
  json_t *e;

  if (n_h > WH_MANIFEST_MAX_DESCRIPTORS)
    return wh_err_set(err, WH_ETOOBIG, 0, "config: more than %d history entries",
                      WH_MANIFEST_MAX_DESCRIPTORS);
  if ((out->rows = calloc(n_h + img->n_layers + 1, sizeof(*out->rows))) == NULL)
    return wh_err_set(err, WH_ENOMEM, 0, "out of memory");
  for (size_t i = 0; i < n_h; i++) {
    e = json_array_get(h, i);
    if (!json_is_object(e))
      return wh_err_set(err, WH_EINVALID, 0, "config: history entry %zu is not an object", i);
    out->rows[out->n].entry = e;
    if (!json_is_true(json_object_get(e, "empty_layer")) && k < img->n_layers)
      out->rows[out->n].layer = &img->layers[k++];
    out->n++;
  }
  while (k < img->n_layers)
    out->rows[out->n++].layer = &img->layers[k++];
  return WH_OK;
}

static void clean_copy(char *out, size_t size, const char *s, bool trunc)
{
  size_t n = strlen(s), max = trunc && n > TRUNC_BY ? TRUNC_BY - 3 : n;

  if (max >= size)
    max = size - 1;
  for (size_t i = 0; i < max; i++)
    out[i] = (unsigned char)s[i] < ' ' || s[i] == 0x7f ? ' ' : s[i];
  out[max] = '\0';
  if (max < n && size > max + 3)
    memcpy(out + max, "...", 4);
}

static void print_table(const struct hist *h, bool trunc)
{
  char by[4096], size[32], dig[WH_DIGEST_STR_MAX];

  printf("%-19s %-24s %-*s %10s  %s\n", "LAYER", "CREATED", TRUNC_BY, "CREATED BY", "SIZE", "COMMENT");
  for (size_t i = h->n; i-- > 0;) {
    const struct hrow *r = &h->rows[i];
    clean_copy(by, sizeof(by), field(r, "created_by"), trunc);
    cli_human_size(r->layer ? r->layer->size : 0, size, sizeof(size));
    snprintf(dig, sizeof(dig), "%s", r->layer ? r->layer->digest.str : "<empty layer>");
    if (trunc)
      dig[19] = '\0';
    printf("%-19s %-24.24s %-*s %10s  %s\n", dig, field(r, "created"), TRUNC_BY, by, size,
           field(r, "comment"));
  }
}

static enum wh_code print_json(const struct hist *h, struct wh_err *err)
{
  json_auto_t *a = json_array();

  if (a == NULL)
    return wh_err_set(err, WH_ENOMEM, 0, "out of memory");
  for (size_t i = h->n; i-- > 0;) {
    const struct hrow *r = &h->rows[i];
    json_t *o =
        json_pack("{s:s,s:s,s:s,s:s,s:b,s:I,s:s?}", "created", field(r, "created"), "created_by",
                  field(r, "created_by"), "author", field(r, "author"), "comment", field(r, "comment"),
                  "empty_layer", r->layer == NULL, "size", (json_int_t)(r->layer ? r->layer->size : 0),
                  "digest", r->layer ? r->layer->digest.str : NULL);
    if (o == NULL || json_array_append_new(a, o) != 0)
      return wh_err_set(err, WH_ENOMEM, 0, "out of memory");
  }
  json_dumpf(a, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
  putchar('\n');
  return WH_OK;
}

struct history_args {
  bool remote, json, trunc, tags;
  const char *platform;
};

static enum wh_code show(const struct history_args *a, const struct cli_view *v, struct wh_err *err)
{
  json_auto_t *cfg = json_loadb(v->config.data ? v->config.data : "", v->config.len, 0, NULL);
  struct hist h = {0};
  enum wh_code rc;

  if (!json_is_object(cfg))
    return wh_err_set(err, WH_EINVALID, 0, "config %s: not a JSON object", v->image->config.digest.str);
  if ((rc = build(json_object_get(cfg, "history"), v->image, &h, err)) == WH_OK) {
    if (a->json)
      rc = print_json(&h, err);
    else
      print_table(&h, a->trunc);
  }
  free(h.rows);
  return rc;
}

static enum wh_code history(const struct cli_opts *o, const struct history_args *a, const struct cli_ref *ref,
                            struct wh_err *err)
{
  struct cli_view v;
  struct store *s = NULL;
  struct cli_registry *r = NULL;
  enum wh_code rc;

  cli_view_init(&v);
  rc = cli_view_open(o, ref, a->remote, a->platform, false, &v, &s, &r, err);
  if (rc == WH_OK)
    rc = show(a, &v, err);
  cli_view_release(&v);
  cli_registry_free(r);
  store_free(s);
  return rc;
}

static const struct option history_opts[] = {
    {"remote", no_argument, NULL, 'r'},
    {"platform", required_argument, NULL, 'P'},
    {"no-trunc", no_argument, NULL, 'T'},
    {"format", required_argument, NULL, 'f'},
    {"help", no_argument, NULL, 'h'},
    {"tags", no_argument, NULL, 't'},
    {NULL, 0, NULL, 0},
};

int cli_cmd_history(const struct cli_opts *o, int argc, char **argv)
{
  struct history_args a = {.trunc = true};
  struct wh_err err = {0};
  struct cli_ref ref = {0};
  int c, status = 0;

  optind = 0;
  while ((c = getopt_long(argc, argv, "+h", history_opts, NULL)) != -1) {
    if (c == 'h')
      return cli_help("history");
    if (c == 'r')
      a.remote = true;
    else if (c == 't')
      a.tags = true; /* the tag's moves instead (cmd_rollback.c) */
    else if (c == 'P')
      a.platform = optarg;
    else if (c == 'T')
      a.trunc = false;
    else if (c == 'f' && (strcmp(optarg, "json") == 0 || strcmp(optarg, "table") == 0))
      a.json = strcmp(optarg, "json") == 0;
    else
      return cli_usage("history", "bad option");
  }
  if (argc - optind != 1)
    return cli_usage("history", "expected one image reference");
  if (a.tags)
    return cli_tag_history(o, argv[optind], a.remote, a.json);
  if (cli_ref_parse(argv[optind], 0, &ref, &err) != WH_OK || history(o, &a, &ref, &err) != WH_OK)
    status = cli_fail("history", argv[optind], &err);
  cli_ref_release(&ref);
  return status;
}
