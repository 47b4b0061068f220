/* client/image.c - local images on top of storage/: reading manifests and
 * blobs back, finding an index's local child, copying an image between
 * local repositories.
 *
 * Invariants: everything read back is capped (manifests at
 * WH_MANIFEST_MAX, blobs at the caller's b->max) and parsed again with
 * common/'s strict parser before use; a copy links blobs (no bytes copied)
 * and stores the manifest last, in one store transaction, so the target
 * name appears complete or not at all; a blob streamed in from a file is
 * verified against its digest and size before it is stored.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client/cli.h"
#include "common/cleanup.h"
#include "common/fsutil.h"

#define COPY_MAX_DEPTH 2 /* index -> image */
#define BLOB_IO_CHUNK (256 * 1024)

enum wh_code cli_store_open(const struct cli_opts *o, struct store **out, struct wh_err *err)
{
  enum wh_code rc = store_open(o->root, STORE_CREATE, out, err);

  return rc == WH_OK ? rc : (wh_err_wrap(err, "local store \"%s\"", o->root), rc);
}

void cli_manifest_release(struct cli_manifest *m)
{
  if (m == NULL)
    return;
  wh_buf_release(&m->body);
  if (m->has_parsed)
    wh_manifest_release(&m->parsed);
  m->has_parsed = false;
}

enum wh_code cli_manifest_load(struct store *s, const char *repo, const char *reference,
                               struct cli_manifest *out, struct wh_err *err)
{
  struct cli_manifest m = {0};
  struct store_manifest sm;
  WH_AUTOCLOSE int fd = -1;
  enum wh_code rc;

  if ((rc = store_manifest_get(s, repo, reference, &sm, &fd, err)) != WH_OK)
    return rc;
  wh_buf_init(&m.body, WH_MANIFEST_MAX);
  if ((rc = wh_read_fd(fd, &m.body, err)) != WH_OK) {
    wh_buf_release(&m.body);
    return (wh_err_wrap(err, "manifest %s", sm.digest.str), rc);
  }
  rc = wh_manifest_parse(m.body.data ? m.body.data : "", m.body.len, sm.media_type, &m.parsed, err);
  if (rc != WH_OK) {
    wh_buf_release(&m.body);
    return (wh_err_wrap(err, "manifest %s", sm.digest.str), rc);
  }
  m.has_parsed = true;
  m.digest = sm.digest;
  snprintf(m.media_type, sizeof(m.media_type), "%s", sm.media_type);
  *out = m;
  return WH_OK;
}

enum wh_code cli_blob_load(struct store *s, const char *repo, const struct wh_digest *d, struct wh_buf *b,
                           struct wh_err *err)
{
  WH_AUTOCLOSE int fd = -1;
  uint64_t size;
  enum wh_code rc;

  if ((rc = store_blob_open(s, repo, d, &fd, &size, err)) != WH_OK)
    return rc;
  if (size > b->max)
    return wh_err_set(err, WH_ETOOBIG, 0, "blob %s: %llu bytes is over %zu", d->str, (unsigned long long)size,
                      b->max);
  rc = wh_read_fd(fd, b, err);
  return rc == WH_OK ? rc : (wh_err_wrap(err, "blob %s", d->str), rc);
}

enum wh_code cli_index_local_child(struct store *s, const char *repo, const struct wh_manifest *idx,
                                   struct cli_manifest *out, size_t *i_out, struct wh_err *err)
{
  struct cli_platform host;
  size_t want;

  cli_platform_host(&host);
  if (cli_platform_pick(idx, &host, &want, NULL) == WH_OK &&
      cli_manifest_load(s, repo, idx->manifests[want].digest.str, out, NULL) == WH_OK) {
    *i_out = want;
    return WH_OK;
  }
  for (size_t i = 0; i < idx->n_manifests; i++) {
    if (cli_manifest_load(s, repo, idx->manifests[i].digest.str, out, NULL) == WH_OK) {
      *i_out = i;
      return WH_OK;
    }
  }
  return wh_err_set(err, WH_ENOTFOUND, 0, "none of the index's %zu manifests is stored locally",
                    idx->n_manifests);
}

/* Links d from `from` into `to`; a missing non-distributable layer is fine. */
static enum wh_code link_blob(struct store *s, const char *from, const struct wh_descriptor *d,
                              const char *to, struct wh_err *err)
{
  enum wh_code rc = store_blob_mount(s, to, &d->digest, from, err);

  if (rc == WH_ENOTFOUND && wh_media_type_is_nondistributable(d->media_type))
    return WH_OK;
  return rc == WH_OK ? rc : (wh_err_wrap(err, "link %s", d->digest.str), rc);
}

static enum wh_code copy_at(struct store *s, const char *from, const struct wh_digest *d, const char *to,
                            const char *tag, int depth, struct wh_err *err)
{
  struct cli_manifest m = {0};
  struct store_manifest_put a = {0};
  enum wh_code rc;

  if (depth > COPY_MAX_DEPTH)
    return wh_err_set(err, WH_EUNSUPPORTED, 0, "manifest %s: indexes nested too deep", d->str);
  if ((rc = cli_manifest_load(s, from, d->str, &m, err)) != WH_OK)
    return rc;
  if (m.parsed.kind == WH_MANIFEST_IMAGE) {
    rc = link_blob(s, from, &m.parsed.config, to, err);
    for (size_t i = 0; rc == WH_OK && i < m.parsed.n_layers; i++)
      rc = link_blob(s, from, &m.parsed.layers[i], to, err);
  } else {
    for (size_t i = 0; rc == WH_OK && i < m.parsed.n_manifests; i++) {
      const struct wh_digest *c = &m.parsed.manifests[i].digest;
      if (store_manifest_get(s, from, c->str, NULL, NULL, NULL) == WH_OK)
        rc = copy_at(s, from, c, to, NULL, depth + 1, err);
    }
    a.flags = STORE_MANIFEST_SPARSE_INDEX;
  }
  if (rc == WH_OK) {
    a.repo = to;
    a.body = m.body.data;
    a.len = m.body.len;
    a.media_type = m.media_type;
    a.parsed = &m.parsed;
    a.digest = &m.digest;
    a.tags = &tag;
    a.n_tags = tag ? 1 : 0;
    a.who = "wharf tag";
    rc = store_manifest_put(s, &a, NULL, err);
  }
  cli_manifest_release(&m);
  return rc;
}

enum wh_code cli_image_copy_local(struct store *s, const char *from, const struct wh_digest *d,
                                  const char *to, const char *tag, struct wh_err *err)
{
  if (strcmp(from, to) == 0)
    return tag ? store_tag_set(s, to, tag, d, "wharf tag", err) : WH_OK;
  return copy_at(s, from, d, to, tag, 0, err);
}

enum wh_code cli_blob_put_fd(struct store *s, const char *repo, const struct wh_digest *d, int fd, uint64_t size,
                             struct wh_err *err)
{
  WH_AUTOFREE char *buf = malloc(BLOB_IO_CHUNK);
  char id[STORE_UPLOAD_ID_LEN + 1];
  struct store_upload *u = NULL;
  enum wh_code rc;

  if (buf == NULL)
    return wh_err_set(err, WH_ENOMEM, 0, "out of memory");
  if ((rc = store_upload_start(s, repo, id, err)) != WH_OK ||
      (rc = store_upload_get(s, repo, id, &u, err)) != WH_OK)
    return rc;
  while (rc == WH_OK && store_upload_size(u) < size) {
    ssize_t n = read(fd, buf, BLOB_IO_CHUNK);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0 || store_upload_size(u) + (uint64_t)n > size)
      rc = wh_err_set(err, WH_EDIGEST, n < 0 ? errno : 0, "blob %s: size mismatch", d->str);
    else
      rc = store_upload_write(u, buf, (size_t)n, err);
  }
  if (rc != WH_OK) {
    store_upload_release(u);
    store_upload_cancel(s, repo, id, NULL);
    return rc;
  }
  if ((rc = store_upload_finish(u, d, NULL, err)) == WH_EDIGEST)
    return wh_err_set(err, WH_EDIGEST, 0, "blob %s: digest mismatch", d->str);
  return rc;
}
