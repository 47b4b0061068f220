/* client/cmd_tag.c - `wharf tag SOURCE TARGET`.
 *
 * Points TARGET's tag at the manifest SOURCE names. Within one repository
 * this is a tag move; across repositories the manifest (and, for an index,
 * its locally present children) is stored in the target repository with
 * its blobs linked, not copied (image.c). Either way the move lands in the
 * tag's history.
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>

#include "client/cli.h"

static const struct option tag_opts[] = {
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static enum wh_code tag(const struct cli_opts *o, const char *src_s, const char *dst_s, struct wh_err *err)
{
  struct cli_ref src = {0}, dst = {0};
  struct store *s = NULL;
  struct store_manifest m;
  enum wh_code rc;

  if ((rc = cli_ref_parse(src_s, 0, &src, err)) != WH_OK)
    return rc;
  if ((rc = cli_ref_parse(dst_s, 0, &dst, err)) != WH_OK) {
    wh_err_wrap(err, "target \"%s\"", dst_s);
  } else if (dst.tag == NULL || dst.has_digest) {
    rc = wh_err_set(err, WH_EINVALID, 0, "target \"%s\": a tag is needed, not a digest", dst_s);
  } else if ((rc = cli_store_open(o, &s, err)) == WH_OK &&
             (rc = store_manifest_get(s, src.repo, cli_ref_reference(&src), &m, NULL, err)) == WH_OK) {
    rc = cli_image_copy_local(s, src.repo, &m.digest, dst.repo, dst.tag, err);
  }
  store_free(s);
  cli_ref_release(&src);
  cli_ref_release(&dst);
  return rc;
}

int cli_cmd_tag(const struct cli_opts *o, int argc, char **argv)
{
  struct wh_err err = {0};
  int c;

  optind = 0;
  while ((c = getopt_long(argc, argv, "+h", tag_opts, NULL)) != -1) {
    if (c == 'h')
      return cli_help("tag");
    return cli_usage("tag", "bad option");
  }
  if (argc - optind != 2)
    return cli_usage("tag", "expected SOURCE and TARGET");
  if (tag(o, argv[optind], argv[optind + 1], &err) != WH_OK)
    return cli_fail("tag", argv[optind], &err);
  return 0;
}
