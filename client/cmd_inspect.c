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

static json_t *json_of(const struct wh_buf *b)
{
  return json_loadb(b->data ? b->data : "", b->len, 0, NULL);
}

static enum wh_code print_view(const struct cli_ref *ref, const struct cli_view *v, struct wh_err *err)
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
  struct cli_view v;
  struct store *s = NULL;
  struct cli_registry *r = NULL;
  enum wh_code rc;

  cli_view_init(&v);
  rc = cli_view_open(o, ref, a->remote, a->platform, a->raw, &v, &s, &r, err);
  if (rc == WH_OK && a->raw)
    fwrite(v.top.data ? v.top.data : "", 1, v.top.len, stdout);
  else if (rc == WH_OK)
    rc = print_view(ref, &v, err);
  cli_view_release(&v);
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
