/* client/cmd_untag.c - `wharf untag REF...`: removes local tags.
 *
 * The manifests stay (reachable by digest; `wharf rmi` removes them); each
 * removal is a tag history row. All references are tried; the exit status
 * is the first failure's.
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>

#include "client/cli.h"

static const struct option untag_opts[] = {
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static enum wh_code untag(struct store *s, const char *arg, struct wh_err *err)
{
  struct cli_ref ref = {0};
  enum wh_code rc = cli_ref_parse(arg, CLI_REF_NO_DEFAULT_TAG, &ref, err);

  if (rc == WH_OK && (ref.tag == NULL || ref.has_digest))
    rc = wh_err_set(err, WH_EINVALID, 0, "a tag is needed (name:tag), without digest");
  if (rc == WH_OK)
    rc = store_tag_delete(s, ref.repo, ref.tag, "wharf untag", err);
  cli_ref_release(&ref);
  return rc;
}

int cli_cmd_untag(const struct cli_opts *o, int argc, char **argv)
{
  struct wh_err err = {0};
  struct store *s = NULL;
  int c, status = 0;

  optind = 0;
  while ((c = getopt_long(argc, argv, "+h", untag_opts, NULL)) != -1) {
    if (c == 'h')
      return cli_help("untag");
    return cli_usage("untag", "bad option");
  }
  if (argc - optind < 1)
    return cli_usage("untag", "expected at least one REF");
  if (cli_store_open(o, &s, &err) != WH_OK)
    return cli_fail("untag", NULL, &err);
  for (int i = optind; i < argc; i++) {
    int st = 0;
    if (untag(s, argv[i], &err) != WH_OK)
      st = cli_fail("untag", argv[i], &err);
    else if (!o->quiet)
      printf("untagged %s\n", argv[i]);
    if (status == 0)
      status = st;
  }
  store_free(s);
  return status;
}
