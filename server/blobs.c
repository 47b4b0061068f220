/* server/blobs.c - GET/HEAD/DELETE /v2/<name>/blobs/<digest> (end-2, end-10).
 *
 * Blobs go out zero-copy from their file (MHD_create_response_from_fd*),
 * whole or as one byte range. A blob is served only when the repository may
 * read it (pushed, mounted or referenced there): elsewhere it is 404.
 * DELETE only unlinks the blob from the repository; GC removes the file.
 */
#include "config.h"

#include "server/server.h"

#include <string.h>
#include <unistd.h>

static void blob_headers(struct srv_req *r, const struct wh_digest *d)
{
  srv_header(r, "Docker-Content-Digest", d->str);
  srv_header(r, "Content-Type", "application/octet-stream");
  srv_header(r, "Accept-Ranges", "bytes");
  srv_headerf(r, "ETag", "\"%s\"", d->str);
  srv_header(r, "Cache-Control", "max-age=31536000");
}

/* If-None-Match with our ETag: the client already has these bytes. */
static bool not_modified(struct srv_req *r, const struct wh_digest *d)
{
  const char *inm = srv_req_header(r, "If-None-Match");
  char etag[WH_DIGEST_STR_MAX + 2];

  if (!inm)
    return false;
  snprintf(etag, sizeof(etag), "\"%s\"", d->str);
  return strstr(inm, etag) != NULL;
}

void srv_blob_get(struct srv_req *r)
{
  struct wh_err err;
  struct wh_digest d;
  uint64_t size = 0, first = 0, last = 0;
  int fd = -1;

  if (!srv_path_digest(r, &d))
    return;
  wh_err_clear(&err);
  if (r->is_head && !r->srv->cfg->read_only) /* a push checking: online GC keeps it a while (gc.c) */
    store_blob_touch(r->srv->store, &d, NULL);
  if (store_blob_open(r->srv->store, r->path.name, &d, &fd, &size, &err) != WH_OK) {
    srv_reply_werr(r, SRV_CTX_BLOB, &err);
    return;
  }
  if (not_modified(r, &d)) {
    close(fd);
    srv_reply_empty(r, 304);
    blob_headers(r, &d);
    return;
  }
  switch (srv_range_parse(srv_req_header(r, "Range"), size, &first, &last)) {
  case SRV_RANGE_UNSATISFIABLE:
    close(fd);
    srv_reply_error(r, 416, "RANGE_INVALID", "requested range not satisfiable", NULL);
    srv_headerf(r, "Content-Range", "bytes */%llu", (unsigned long long)size);
    return;
  case SRV_RANGE_OK:
    srv_reply_fd(r, 206, fd, first, last - first + 1);
    srv_headerf(r, "Content-Range", "bytes %llu-%llu/%llu", (unsigned long long)first,
                (unsigned long long)last, (unsigned long long)size);
    break;
  case SRV_RANGE_NONE:
    srv_reply_fd(r, 200, fd, 0, size);
    break;
  }
  blob_headers(r, &d);
}

void srv_blob_delete(struct srv_req *r)
{
  struct wh_err err;
  struct wh_digest d;

  if (!srv_path_digest(r, &d))
    return;
  wh_err_clear(&err);
  if (store_blob_unlink(r->srv->store, r->path.name, &d, &err) != WH_OK) {
    srv_reply_werr(r, SRV_CTX_BLOB, &err);
    return;
  }
  srv_reply_empty(r, 202);
}
