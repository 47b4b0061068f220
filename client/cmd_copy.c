/* client/cmd_copy.c - `wharf copy [--all] [--platform P] SOURCE DESTINATION`.
 *
 *   GET SOURCE's manifest (verified) -> image: relay its config and layers
 *   (relay.c), PUT the exact bytes under DESTINATION's reference;
 *   index + --all: every child image the same way (by digest; an index
 *   among them recursively, one level of nesting), then the index's exact
 *   bytes; index without --all: only the chosen platform's
 *   image, put under DESTINATION's reference (what skopeo copy does).
 *
 *   --referrers: after each manifest copied, the manifests the source's
 *   referrers API lists for it (signatures, SBOMs), and theirs.
 *
 * Invariants: the local store is never opened; bytes are never changed, so
 * digests are preserved; the destination sees a manifest only after every
 * blob it references was accepted (and, for an index, every child
 * manifest). DESTINATION's reference: its tag, else SOURCE's tag, else the
 * digest; a DESTINATION digest must name exactly what is copied.
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/remote.h"
#include "common/cleanup.h"

struct copy {
  const struct cli_opts *o;
  const struct cli_ref *from, *to;
  struct cli_registry *rs, *rd; /* rs == rd on one registry */
  struct cli_progress *p;
  const char *platform;
  bool all;
  bool referrers; /* --referrers */
  int ref_depth;  /* referrers of referrers being copied */
};

#define REFERRERS_MAX_DEPTH 2 /* an SBOM and a signature of that SBOM */
#define NO_REFERRERS "{\"schemaVersion\":2,\"manifests\":[]}"

static enum wh_code copy_referrers(struct copy *c, const struct wh_digest *subject, struct wh_err *err);

/* Where the copy goes: DESTINATION's tag, else SOURCE's, else the digest. */
static const char *dst_reference(const struct copy *c, const struct wh_digest *d)
{
  if (c->to->tag)
    return c->to->tag;
  if (c->to->has_digest || c->from->tag == NULL)
    return d->str;
  return c->from->tag;
}

static enum wh_code copy_image(struct copy *c, const struct cli_remote_manifest *m, const char *reference,
                               struct wh_err *err)
{
  const struct wh_manifest *p = &m->parsed;
  WH_AUTOFREE struct cli_blob_want *w = calloc(p->n_layers + 1, sizeof(*w));
  size_t n = 0;
  enum wh_code rc;

  if (w == NULL)
    return wh_err_set(err, WH_ENOMEM, 0, "out of memory");
  w[n++] = (struct cli_blob_want){.d = &p->config, .kind = "config"};
  for (size_t i = 0; i < p->n_layers; i++)
    w[n++] = (struct cli_blob_want){.d = &p->layers[i], .kind = "layer"};
  rc = cli_relay_blobs(c->rs, c->from->path, c->rd, c->to->path, c->rs == c->rd, w, n, c->p, err);
  if (rc != WH_OK)
    return rc;
  cli_progress_flush(c->p);
  rc = cli_remote_manifest_put(c->rd, c->to->path, reference, m->body.data, m->body.len, p->media_type,
                               &m->digest, err);
  return rc == WH_OK && c->referrers ? copy_referrers(c, &m->digest, err) : rc;
}

#define COPY_MAX_DEPTH 2 /* index -> index -> image */

/* Child d of an index, fetched and verified against d; an index only when
 * allowed. */
static enum wh_code get_child(struct copy *c, const struct wh_descriptor *d, bool index_ok,
                              struct cli_remote_manifest *out, struct wh_err *err)
{
  enum wh_code rc;

  if (d->size > WH_MANIFEST_MAX)
    return wh_err_set(err, WH_ETOOBIG, 0, "manifest %s: %llu bytes is over the limit", d->digest.str,
                      (unsigned long long)d->size);
  if ((rc = cli_remote_manifest_get(c->rs, c->from->path, d->digest.str, &d->digest, (int64_t)d->size, out,
                                    err)) != WH_OK)
    return rc;
  if (out->parsed.kind != WH_MANIFEST_IMAGE && !index_ok)
    return wh_err_set(err, WH_EUNSUPPORTED, 0, "manifest %s: indexes nested too deep", d->digest.str);
  return WH_OK;
}

/* Every child of idx (an index among them recursively), then idx's exact
 * bytes under reference. */
static enum wh_code copy_index(struct copy *c, const struct cli_remote_manifest *idx, const char *reference,
                               int depth, struct wh_err *err)
{
  enum wh_code rc = WH_OK;

  for (size_t i = 0; i < idx->parsed.n_manifests && rc == WH_OK; i++) {
    const struct wh_descriptor *d = &idx->parsed.manifests[i];
    struct cli_remote_manifest child = {0};
    if ((rc = get_child(c, d, depth + 1 < COPY_MAX_DEPTH, &child, err)) == WH_OK)
      rc = child.parsed.kind == WH_MANIFEST_INDEX ? copy_index(c, &child, d->digest.str, depth + 1, err)
                                                  : copy_image(c, &child, d->digest.str, err);
    cli_remote_manifest_release(&child);
  }
  if (rc != WH_OK)
    return rc;
  rc = cli_remote_manifest_put(c->rd, c->to->path, reference, idx->body.data, idx->body.len,
                               idx->parsed.media_type, &idx->digest, err);
  return rc == WH_OK && c->referrers ? copy_referrers(c, &idx->digest, err) : rc;
}

/* GET the source's referrers list of subject (an index of descriptors) into
 * out; an empty one when the source has no referrers API (404). */
static enum wh_code referrers_of(struct copy *c, const struct wh_digest *subject, struct wh_manifest *out,
                                 struct wh_err *err)
{
  struct cli_req q;
  char scope[WH_NAME_MAX + 32];
  enum wh_code rc;

  cli_req_init(&q, "GET");
  cli_scope(c->from->path, false, scope, sizeof(scope));
  q.accept = WH_MT_OCI_INDEX;
  q.max_body = WH_MANIFEST_MAX;
  if ((rc = cli_req_set_url(&q, err, "/v2/%s/referrers/%s", c->from->path, subject->str)) == WH_OK &&
      (rc = cli_req_set_scope(&q, scope, err)) == WH_OK && (rc = cli_registry_do(c->rs, &q, err)) == WH_OK) {
    if (q.status == 404)
      rc = wh_manifest_parse(NO_REFERRERS, strlen(NO_REFERRERS), WH_MT_OCI_INDEX, out, err);
    else if (q.status != 200)
      rc = cli_req_status_err(&q, "referrers", err);
    else
      rc = wh_manifest_parse(q.resp.data ? q.resp.data : "", q.resp.len, WH_MT_OCI_INDEX, out, err);
  }
  if (rc != WH_OK)
    wh_err_wrap(err, "referrers of %s", subject->str);
  cli_req_release(&q);
  return rc;
}

/* Copies every manifest the source lists as a referrer of subject (an
 * SBOM, a signature: image manifests whose subject it is), blobs first,
 * by digest; their own referrers too, REFERRERS_MAX_DEPTH deep. */
static enum wh_code copy_referrers(struct copy *c, const struct wh_digest *subject, struct wh_err *err)
{
  struct wh_manifest list;
  enum wh_code rc;

  if (c->ref_depth >= REFERRERS_MAX_DEPTH)
    return WH_OK;
  if ((rc = referrers_of(c, subject, &list, err)) != WH_OK)
    return rc;
  c->ref_depth++;
  for (size_t i = 0; i < list.n_manifests && rc == WH_OK; i++) {
    const struct wh_descriptor *d = &list.manifests[i];
    struct cli_remote_manifest m = {0};
    if ((rc = get_child(c, d, false, &m, err)) == WH_OK &&
        (m.parsed.subject == NULL || !wh_digest_eq(&m.parsed.subject->digest, subject)))
      rc = wh_err_set(err, WH_EINVALID, 0, "referrer %s does not name %s as its subject", d->digest.str,
                      subject->str);
    if (rc == WH_OK)
      rc = copy_image(c, &m, d->digest.str, err);
    cli_remote_manifest_release(&m);
  }
  c->ref_depth--;
  wh_manifest_release(&list);
  return rc;
}

static enum wh_code copy_one_platform(struct copy *c, const struct cli_remote_manifest *idx,
                                      struct wh_digest *out, struct wh_err *err)
{
  struct cli_platform want;
  struct cli_remote_manifest child = {0};
  size_t i;
  enum wh_code rc = WH_OK;

  if (c->platform)
    rc = cli_platform_parse(c->platform, &want, err);
  else
    cli_platform_host(&want);
  if (rc == WH_OK)
    rc = cli_platform_pick(&idx->parsed, &want, &i, err);
  if (rc == WH_OK)
    rc = get_child(c, &idx->parsed.manifests[i], false, &child, err);
  if (rc == WH_OK && c->to->has_digest && !wh_digest_eq(&c->to->digest, &child.digest))
    rc = wh_err_set(err, WH_EDIGEST, 0, "the destination names %s, the copy is %s", c->to->digest.str,
                    child.digest.str);
  if (rc == WH_OK && (rc = copy_image(c, &child, dst_reference(c, &child.digest), err)) == WH_OK)
    *out = child.digest;
  cli_remote_manifest_release(&child);
  return rc;
}

static enum wh_code run_copy(struct copy *c, struct wh_digest *out, struct wh_err *err)
{
  struct cli_remote_manifest top = {0};
  const struct cli_ref *from = c->from;
  enum wh_code rc;

  rc = cli_remote_manifest_get(c->rs, from->path, cli_ref_reference(from),
                               from->has_digest ? &from->digest : NULL, -1, &top, err);
  if (rc == WH_OK && top.parsed.kind == WH_MANIFEST_INDEX && !c->all) {
    rc = copy_one_platform(c, &top, out, err);
  } else if (rc == WH_OK) {
    if (c->to->has_digest && !wh_digest_eq(&c->to->digest, &top.digest))
      rc = wh_err_set(err, WH_EDIGEST, 0, "the destination names %s, the copy is %s", c->to->digest.str,
                      top.digest.str);
    else if (top.parsed.kind == WH_MANIFEST_INDEX)
      rc = copy_index(c, &top, dst_reference(c, &top.digest), 0, err);
    else
      rc = copy_image(c, &top, dst_reference(c, &top.digest), err);
    if (rc == WH_OK)
      *out = top.digest;
  }
  cli_remote_manifest_release(&top);
  return rc;
}

/* One registry object when both names are on the same registry (shared
 * credentials and tokens, mounts); else two sharing one multi handle. */
static enum wh_code open_registries(struct copy *c, struct wh_err *err)
{
  enum wh_code rc = cli_registry_open(c->o, c->to->domain, &c->rd, err);

  if (rc != WH_OK)
    return rc;
  if (strcmp(c->from->domain, c->to->domain) == 0) {
    c->rs = c->rd;
  } else {
    if ((rc = cli_registry_open(c->o, c->from->domain, &c->rs, err)) != WH_OK)
      return rc;
    cli_registry_share(c->rs, c->rd);
    if ((rc = cli_registry_ping(c->rs, err)) != WH_OK)
      return rc;
  }
  return cli_registry_ping(c->rd, err);
}

static const struct option copy_opts[] = {
    {"all", no_argument, NULL, 'a'},
    {"referrers", no_argument, NULL, 'r'},
    {"platform", required_argument, NULL, 'P'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static void report(const struct copy *c, const char *src, const char *dst, const struct wh_digest *d)
{
  if (c->o->quiet)
    printf("%s\n", d->str);
  else
    printf("copied %s -> %s: %s\n", src, dst, d->str);
}

int cli_cmd_copy(const struct cli_opts *o, int argc, char **argv)
{
  struct copy c = {.o = o};
  struct cli_ref from = {0}, to = {0};
  struct wh_err err = {0};
  struct wh_digest d;
  int opt, status = 0;

  optind = 0;
  while ((opt = getopt_long(argc, argv, "+arh", copy_opts, NULL)) != -1) {
    if (opt == 'h')
      return cli_help("copy");
    if (opt == 'a')
      c.all = true;
    else if (opt == 'r')
      c.referrers = true;
    else if (opt == 'P')
      c.platform = optarg;
    else
      return cli_usage("copy", "bad option");
  }
  if (argc - optind != 2)
    return cli_usage("copy", "expected SOURCE and DESTINATION");
  if (cli_ref_parse(argv[optind], 0, &from, &err) != WH_OK)
    return cli_fail("copy", argv[optind], &err);
  if (cli_ref_parse(argv[optind + 1], CLI_REF_NO_DEFAULT_TAG, &to, &err) != WH_OK) {
    cli_ref_release(&from);
    return cli_fail("copy", argv[optind + 1], &err);
  }
  c.from = &from;
  c.to = &to;
  if ((c.p = cli_progress_new(o, "copying")) == NULL)
    wh_err_set(&err, WH_ENOMEM, 0, "out of memory");
  if (c.p == NULL || open_registries(&c, &err) != WH_OK || run_copy(&c, &d, &err) != WH_OK) {
    cli_progress_free(wh_steal_ptr(&c.p));
    status = cli_fail("copy", argv[optind], &err);
  } else {
    cli_progress_free(wh_steal_ptr(&c.p));
    report(&c, argv[optind], argv[optind + 1], &d);
  }
  if (c.rs != c.rd)
    cli_registry_free(c.rs);
  cli_registry_free(c.rd);
  cli_ref_release(&from);
  cli_ref_release(&to);
  return status;
}
