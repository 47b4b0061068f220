/* client/remote.h - image operations against a registry, on top of
 * registry.h: manifests in and out (remote.c), blobs into the local store
 * (fetch.c) and out of it (upload.c).
 *
 * Remote repository paths (`path`) are registry-side names ("library/x");
 * local repositories (`repo`) are "domain/path" (client/refs.c).
 */
#ifndef WH_CLI_REMOTE_H
#define WH_CLI_REMOTE_H

#include <stdint.h>

#include "client/cli.h"
#include "client/registry.h"
#include "common/ref.h"

#define CLI_ACCEPT_MANIFESTS                                                                                 \
  WH_MT_OCI_INDEX ", " WH_MT_OCI_MANIFEST ", " WH_MT_DOCKER_LIST ", " WH_MT_DOCKER_MANIFEST

/* "repository:PATH:pull" / ":pull,push" into out. */
void cli_scope(const char *path, bool push, char *out, size_t size);

struct cli_remote_manifest {
  struct wh_digest digest; /* verified against the body */
  struct wh_buf body;      /* exact bytes, at most WH_MANIFEST_MAX */
  struct wh_manifest parsed;
  bool has_parsed;
};
void cli_remote_manifest_release(struct cli_remote_manifest *m);

/* GET /v2/PATH/manifests/REFERENCE and verify it: at most WH_MANIFEST_MAX
 * bytes; equal to `expected` (a digest reference or a descriptor, may be
 * NULL) and expected_size (-1: any); the Docker-Content-Digest header, when
 * sent, must name the same bytes; strictly parsed (an ambiguous
 * manifest/index is refused). */
enum wh_code cli_remote_manifest_get(struct cli_registry *r, const char *path, const char *reference,
                                     const struct wh_digest *expected, int64_t expected_size,
                                     struct cli_remote_manifest *out, struct wh_err *err);
/* PUT /v2/PATH/manifests/REFERENCE with the exact bytes and media type;
 * checks the Docker-Content-Digest answered, when there is one. */
enum wh_code cli_remote_manifest_put(struct cli_registry *r, const char *path, const char *reference,
                                     const void *body, size_t len, const char *media_type,
                                     const struct wh_digest *digest, struct wh_err *err);

/* GET a small blob (a config) into b (capped by b->max, which d->size must
 * not exceed) and verify its size and digest. */
enum wh_code cli_remote_blob_get(struct cli_registry *r, const char *path, const struct wh_descriptor *d,
                                 struct wh_buf *b, struct wh_err *err);

/* Downloads the blobs of descs that the store does not have, in parallel,
 * into repo (those it has are linked to repo). Each is streamed into an
 * upload session, capped at its descriptor's size and verified against its
 * digest before it is committed; an interrupted download is resumed with
 * Range, within the run and across runs (session ids kept under
 * ROOT/client/partial/). Stops at the first failure: "layer DIGEST: ...". */
struct cli_blob_want {
  const struct wh_descriptor *d;
  const char *kind; /* "config", "layer" */
};
enum wh_code cli_fetch_blobs(struct cli_registry *r, struct store *s, const char *root, const char *path,
                             const char *repo, const struct cli_blob_want *w, size_t n,
                             struct cli_progress *p, struct wh_err *err);

/* Uploads the blobs of descs from repo to PATH, in parallel: HEAD first
 * (skipped when present), a cross-repository mount when another local
 * repository of the same registry has the blob, else a monolithic upload
 * (small blobs) or PATCH chunks honouring OCI-Chunk-Min-Length, resumed
 * from the registry's Range after a failure. */
enum wh_code cli_push_blobs(struct cli_registry *r, struct store *s, const char *repo, const char *path,
                            const struct cli_blob_want *w, size_t n, struct cli_progress *p,
                            struct wh_err *err);

#endif
