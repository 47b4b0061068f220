/* client/remote.h - image operations against a registry, on top of
 * registry.h: manifests in and out (remote.c), blobs into the local store
 * (fetch.c) and out of it (upload.c), one image's manifest and config as
 * inspect and history show them (view.c), blobs from one registry to
 * another (relay.c).
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

/* A writer thread feeding an upload session (spool.c): the download loop
 * hands it bytes, the thread writes and hashes them. */
struct cli_spool;
/* Starts the thread; u is its own until cli_spool_close. */
enum wh_code cli_spool_new(struct store_upload *u, struct cli_spool **out, struct wh_err *err);
/* Queues n bytes (waits while the ring is full); the writer's error, if it failed. */
enum wh_code cli_spool_put(struct cli_spool *sp, const char *p, size_t n, struct wh_err *err);
/* Waits until every queued byte is written; the writer's first error. Frees sp; NULL no-op. */
enum wh_code cli_spool_close(struct cli_spool *sp, struct wh_err *err);

/* Uploads the blobs of descs from repo to PATH, in parallel: HEAD first
 * (skipped when present), a cross-repository mount when another local
 * repository of the same registry has the blob, else a monolithic upload
 * (small blobs) or PATCH chunks honouring OCI-Chunk-Min-Length, resumed
 * from the registry's Range after a failure, within the run and across
 * runs (sessions recorded under ROOT/client/pushing/; root may be NULL:
 * no records). */
enum wh_code cli_push_blobs(struct cli_registry *r, struct store *s, const char *root, const char *repo,
                            const char *path, const struct cli_blob_want *w, size_t n, struct cli_progress *p,
                            struct wh_err *err);

/* Copies the blobs of w from src (repository src_path) to dst (dst_path)
 * without the local store, in parallel, each streamed through a bounded
 * buffer and verified against its digest on the way (relay.c): HEAD first
 * (present: skipped), a cross-repository mount when both are the same
 * registry (same_registry; src == dst then), else GET from src piped into
 * a monolithic PUT to dst. Non-distributable layers are skipped. When src
 * != dst, src must share dst's multi handle (cli_registry_share). Stops at
 * the first failure: "layer DIGEST: ...". */
enum wh_code cli_relay_blobs(struct cli_registry *src, const char *src_path, struct cli_registry *dst,
                             const char *dst_path, bool same_registry, const struct cli_blob_want *w,
                             size_t n, struct cli_progress *p, struct wh_err *err);

/* ---- one image, local or remote (view.c) ---------------------------------- */

#define CLI_CONFIG_MAX (8u * 1024 * 1024) /* an image config read back */

struct cli_view {
  struct wh_digest digest;          /* of what the reference names */
  const char *media_type;           /* its media type (borrowed from the owners below) */
  struct wh_buf top;                /* its exact bytes (borrowed) */
  bool is_index;                    /* then: */
  struct wh_digest child_digest;    /*   the chosen platform's image manifest */
  struct wh_buf child;              /*   its bytes (borrowed) */
  const struct wh_manifest *image;  /* the image manifest (borrowed); NULL with top_only */
  struct wh_buf config;             /* owned: the image's config, capped at CLI_CONFIG_MAX */
  struct cli_manifest lm[2];        /* owners (local) */
  struct cli_remote_manifest rm[2]; /* owners (remote) */
};
void cli_view_init(struct cli_view *v);
void cli_view_release(struct cli_view *v);
/* Reads what ref names from the store; for an index the manifest of
 * `platform` (NULL: this host's platform, else the first child stored),
 * then the image's config. top_only: only the manifest or index ref names. */
enum wh_code cli_view_local(struct store *s, const struct cli_ref *ref, const char *platform, bool top_only,
                            struct cli_view *v, struct wh_err *err);
/* The same from the registry, every byte verified (platform NULL: the host's). */
enum wh_code cli_view_remote(struct cli_registry *r, const struct cli_ref *ref, const char *platform,
                             bool top_only, struct cli_view *v, struct wh_err *err);
/* cli_view_remote (remote) or cli_view_local on the store o names. What
 * it opens is left in *s_out / *r_out (NULL otherwise) for the caller to
 * free once done with v, whatever the result. */
enum wh_code cli_view_open(const struct cli_opts *o, const struct cli_ref *ref, bool remote,
                           const char *platform, bool top_only, struct cli_view *v, struct store **s_out,
                           struct cli_registry **r_out, struct wh_err *err);

#endif
