/* client/layout.h - OCI image layouts (image-spec "image-layout.md"), as a
 * directory or a tar, for `wharf save` and `wharf load` (layout.c).
 *
 *   oci-layout              {"imageLayoutVersion": "1.0.0"}
 *   index.json              an image index; each entry names what it points
 *                           at with org.opencontainers.image.ref.name (and
 *                           io.containerd.image.name, as docker writes)
 *   blobs/<alg>/<hex>       every manifest, config and layer, by digest
 *
 * Writing: the layout appears whole or not at all: a directory is filled
 * under a temporary name next to PATH and renamed at the end, a tar file
 * likewise; stdout ("-") gets a tar stream. Reading: names come from the
 * layout, never from a peer we trust: blob names must be valid digests,
 * files are opened below the layout's directory fd with O_NOFOLLOW, tar
 * entries that climb out (absolute, "..") are refused, and every size
 * (oci-layout, index.json, manifests) is capped before it is read.
 */
#ifndef WH_CLI_LAYOUT_H
#define WH_CLI_LAYOUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "client/cli.h"

#define CLI_LAYOUT_FILE "oci-layout"
#define CLI_LAYOUT_INDEX "index.json"
#define CLI_LAYOUT_FILE_MAX 4096
#define CLI_ANN_REF_NAME "org.opencontainers.image.ref.name"
#define CLI_ANN_CONTAINERD_NAME "io.containerd.image.name"

/* ---- writing ------------------------------------------------------------- */

struct cli_layout_out;

/* path "-": a tar on stdout; tar: a tar file; else a directory, which must
 * not exist or be empty. */
enum wh_code cli_layout_create(const char *path, bool tar, struct cli_layout_out **out, struct wh_err *err);
/* A small file of the layout (oci-layout, index.json). */
enum wh_code cli_layout_put_file(struct cli_layout_out *w, const char *name, const void *p, size_t n,
                                 struct wh_err *err);
/* Blob d of size bytes, read from fd; a digest written before is skipped. */
enum wh_code cli_layout_put_blob(struct cli_layout_out *w, const struct wh_digest *d, int fd, uint64_t size,
                                 struct wh_err *err);
/* Finishes and puts the layout in place; frees w whatever the result. */
enum wh_code cli_layout_commit(struct cli_layout_out *w, struct wh_err *err);
/* Removes what was written; frees w. NULL no-op. */
void cli_layout_abort(struct cli_layout_out *w);

/* ---- reading -------------------------------------------------------------- */

struct cli_layout_in;

/* Opens a layout: a directory, or a tar file ("-": stdin), plain or
 * compressed (gzip, bzip2, xz, zstd). A tar is read once, now: its blobs go
 * straight into the store through upload sessions of a staging repository
 * (each verified against its name), the small files into memory. */
enum wh_code cli_layout_open(struct store *s, const char *path, struct cli_layout_in **out,
                             struct wh_err *err);
/* oci-layout checked (version 1.x) and index.json's bytes (borrowed). */
enum wh_code cli_layout_index(struct cli_layout_in *l, const struct wh_buf **out, struct wh_err *err);
/* Reads blob d (at most max bytes, exactly d's size) into b, verified. */
enum wh_code cli_layout_read_blob(struct cli_layout_in *l, const struct wh_descriptor *d, struct wh_buf *b,
                                  struct wh_err *err);
/* Makes blob d readable from repo in the store: linked when the store has
 * it, else copied in from the layout through an upload session (verified).
 * WH_ENOTFOUND when neither has it. */
enum wh_code cli_layout_import_blob(struct cli_layout_in *l, const char *repo, const struct wh_descriptor *d,
                                    struct wh_err *err);
/* Whether the layout has blob d (a directory: the file; a tar: staged). */
bool cli_layout_has_blob(struct cli_layout_in *l, const struct wh_digest *d);
/* Unlinks what a tar staged, closes; NULL no-op. */
void cli_layout_close(struct cli_layout_in *l);

#endif
