/* client/commit.h - images made locally (client/commit.c): an image state
 * (config + layers) built up step by step and committed to the store as
 * a config blob and an OCI image manifest. */
#ifndef WH_CLI_COMMIT_H
#define WH_CLI_COMMIT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/digest.h"
#include "common/err.h"
#include "common/manifest.h"
#include "storage/store.h"

struct cli_image_state {
  json_t *config; /* owned: the whole image config (config, rootfs.diff_ids, history, ...) */
  json_t *layers; /* owned: array of {mediaType, digest, size}, bottom first */
};

void cli_image_state_release(struct cli_image_state *st);
/* An empty image (FROM scratch). */
enum wh_code cli_image_state_scratch(const char *os, const char *arch, struct cli_image_state *st,
                                     struct wh_err *err);
/* The state of a stored image: its parsed manifest and config bytes. */
enum wh_code cli_image_state_load(const struct wh_manifest *img, const struct wh_buf *cfg,
                                  struct cli_image_state *st, struct wh_err *err);
/* Appends a layer already stored (and linked to the repository the image
 * will be committed to) with its diff_id. */
enum wh_code cli_image_state_add_layer(struct cli_image_state *st, const char *media_type,
                                       const struct wh_digest *digest, uint64_t size,
                                       const struct wh_digest *diff_id, struct wh_err *err);
/* Appends a history entry (created: SOURCE_DATE_EPOCH or now). */
enum wh_code cli_image_state_history(struct cli_image_state *st, const char *created_by, bool empty_layer,
                                     struct wh_err *err);
/* Stores the config and the manifest in repo, points tag (may be NULL) at
 * it; *out: the manifest digest. */
enum wh_code cli_image_state_commit(struct store *s, const char *repo, const struct cli_image_state *st,
                                    const char *tag, struct wh_digest *out, struct wh_err *err);
#define STORE_REPO_MAX_NAME 512
/* An image id: a manifest digest, "sha256:HEX" or its first 12+ hex digits. */
bool cli_image_id_like(const char *s);
/* The local image with that id, as a reference "REPO@DIGEST" (owned by the
 * caller). WH_ENOTFOUND, or WH_ECONFLICT when the prefix is ambiguous. */
enum wh_code cli_image_find_id(struct store *s, const char *id, char **ref_out, struct wh_err *err);
/* SOURCE_DATE_EPOCH when set (a non-negative integer), else now. */
int64_t cli_build_time(void);

#endif
