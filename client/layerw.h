/* client/layerw.h - the layer writer: a directory tree becomes one OCI
 * image layer (what `wharf build` commits for each step that changes the
 * filesystem; the inverse of client/extract.h).
 *
 * The tree below a directory fd is written as a tar stream (libarchive's
 * restricted pax: a pax header only where ustar cannot say it), compressed
 * with zstd (default), gzip or nothing, to an output fd. One pass computes
 * both digests: the layer digest over the bytes written to the fd and the
 * diff_id over the uncompressed tar. Invariants:
 *
 * - The tree is only read: nothing is followed (every lookup is fstatat,
 *   openat, readlinkat with O_NOFOLLOW / AT_SYMLINK_NOFOLLOW below the fd
 *   of the directory being walked), nothing in it is written. Depth is
 *   capped at CLI_LAYERW_MAX_DEPTH, names at PATH_MAX bytes, the entry
 *   count at max_entries (WH_ETOOBIG). A node replaced or a file shrunk
 *   while it is read is WH_ECONFLICT; a file that grows is cut at the size
 *   its fstat gave.
 * - Deterministic: entries come in byte-wise order of their names within a
 *   directory, a directory before its contents (depth first); the root
 *   itself has no entry. Names are written the same whatever the process
 *   locale (UTF-8 as it is, other bytes with hdrcharset=BINARY). Only
 *   mtime is written (whole seconds; never atime or ctime), with no user
 *   or group names; with source_date_epoch >= 0 every mtime later than it
 *   becomes it (earlier ones stay), so the same tree gives the same digest
 *   whenever it is written. gzip headers carry no name and mtime 0. zstd
 *   output is the same for every threads >= 1 (zstd's guarantee), and
 *   differs from threads 0 (no worker threads).
 * - Ids: with id_count > 0, host id base + n (n < id_count) is written as
 *   n (a container's root is mapped to a subordinate range); any other id
 *   is written as 0 and counted in ids_outside, or fails with WH_EINVALID
 *   under CLI_LAYERW_STRICT_IDS. A namespaced file capability (v3
 *   security.capability) gets its root id mapped the same way, and becomes
 *   a plain v2 capability when that id is 0.
 * - Kept: regular files (setuid/setgid bits too), directories, symlinks,
 *   fifos, character and block devices as entries (major/minor), hardlinks
 *   inside the tree as tar hardlinks to the first name met (same dev+ino).
 *   Sockets are skipped (counted). xattrs: only user.* (never user.overlay.*)
 *   and security.capability, read from regular files and directories; every
 *   other xattr is dropped (counted). No trusted.overlay.* or user.overlay.*
 *   attribute is ever written, in any mode.
 * - A name starting with ".wh." in the tree is refused (WH_EINVALID): in a
 *   layer it would mean a whiteout.
 *
 * Overlay upper mode (CLI_LAYERW_OVERLAY_UPPER) reads an overlayfs upper
 * directory, its overlay xattrs in trusted.overlay.* or, with
 * CLI_LAYERW_USER_XATTR, user.overlay.* (a "userxattr" mount):
 *   - a 0/0 character device, or a zero-size regular file carrying
 *     overlay.whiteout, becomes the OCI whiteout ".wh.NAME" (a plain empty
 *     file entry, mode 0600, ids 0, mtime 0), never a hardlink (overlayfs
 *     shares one inode among its whiteouts);
 *   - a directory with overlay.opaque "y" is followed first by its opaque
 *     marker "DIR/.wh..wh..opq" (same form); "x" (holds xattr whiteouts) is
 *     not opaque;
 *   - overlay.redirect (a renamed directory) and overlay.metacopy (data left
 *     in a lower layer) cannot be expressed in a layer: WH_EUNSUPPORTED.
 *     Mount the overlay without redirect_dir and metacopy.
 *
 * Output: written from out_fd's current offset with plain write(2)s (a
 * pipe works); never synced. On any failure out_fd holds a partial stream
 * the caller discards. To commit the layer to a store, write it to a temp
 * file (O_TMPFILE) and stream that into a blob with r->digest expected
 * (the upload API of storage/store.h).
 */
#ifndef WH_CLI_LAYERW_H
#define WH_CLI_LAYERW_H

#include <stdint.h>
#include <sys/types.h>

#include "common/digest.h"
#include "common/err.h"

enum cli_layerw_compression {
  CLI_LAYERW_ZSTD = 0, /* the default */
  CLI_LAYERW_GZIP,     /* for old clients */
  CLI_LAYERW_NONE,     /* a plain tar */
};

enum cli_layerw_mode {
  CLI_LAYERW_PLAIN = 0,     /* a tree as it is (COPY's staging directory) */
  CLI_LAYERW_OVERLAY_UPPER, /* an overlayfs upper directory (RUN) */
};

enum cli_layerw_flags {
  CLI_LAYERW_USER_XATTR = 1 << 0, /* overlay mode: read user.overlay.* instead of trusted.overlay.* */
  CLI_LAYERW_STRICT_IDS = 1 << 1, /* an id outside the mapping fails instead of becoming 0 */
};

#define CLI_LAYERW_MAX_DEPTH 256          /* directories below the root (the extractor's cap) */
#define CLI_LAYERW_MAX_ENTRIES (4u << 20) /* tar entries (the extractor's cap) */
/* Kept xattrs per entry: half the extractor's caps, since libarchive writes
 * each under two pax keys (LIBARCHIVE.xattr.*, SCHILY.xattr.*) and reads
 * both back. */
#define CLI_LAYERW_MAX_XATTRS 64
#define CLI_LAYERW_MAX_XATTR_BYTES (512u << 10) /* names + values */
#define CLI_LAYERW_ZSTD_LEVEL 3                 /* level 0 means these */
#define CLI_LAYERW_GZIP_LEVEL 6

struct cli_layerw_opts {
  enum cli_layerw_compression compression;
  int level;                 /* zstd ZSTD_minCLevel()..ZSTD_maxCLevel(), gzip 1..9; 0: the default */
  unsigned threads;          /* zstd worker threads (ZSTD_c_nbWorkers); 0: none, all in the caller's thread */
  int64_t source_date_epoch; /* >= 0: later mtimes are clamped to it; < 0: mtimes as they are */
  enum cli_layerw_mode mode;
  unsigned flags; /* enum cli_layerw_flags */
  /* Id mapping back from the host: id base + n becomes n when n < id_count.
   * id_count 0: ids as they are. */
  uid_t uid_base;
  gid_t gid_base;
  uint32_t id_count;
  uint64_t max_entries; /* 0: CLI_LAYERW_MAX_ENTRIES */
};

/* What was written (only on success). */
struct cli_layerw_result {
  enum cli_layerw_compression compression;
  const char *media_type;   /* static: the OCI layer media type of that compression */
  struct wh_digest digest;  /* sha256 of the bytes written to out_fd */
  struct wh_digest diff_id; /* sha256 of the uncompressed tar */
  uint64_t compressed_size; /* bytes written to out_fd */
  uint64_t size;            /* bytes of the uncompressed tar */
  uint64_t entries;         /* tar entries (whiteouts and opaque markers included) */
  uint64_t whiteouts;       /* whiteouts and opaque markers written */
  uint64_t hardlinks;       /* hardlink entries */
  uint64_t skipped;         /* sockets left out */
  uint64_t xattrs_dropped;  /* xattrs not written (overlay's own included) */
  uint64_t ids_outside;     /* ids outside the mapping written as 0 */
};

/* zstd at the default level, no worker threads, no epoch (-1), plain mode,
 * no id mapping, default caps. */
void cli_layerw_opts_init(struct cli_layerw_opts *o);

/* The OCI media type of a layer with that compression (static string). */
const char *cli_layerw_media_type(enum cli_layerw_compression c);

/* Writes the tree below dirfd (a directory, O_RDONLY or O_PATH; o NULL:
 * the defaults) as one layer to out_fd and fills *r (optional) on success.
 * Errors name the path: WH_EINVALID (bad options, a ".wh." name, an id
 * outside the mapping under CLI_LAYERW_STRICT_IDS), WH_ETOOBIG (a cap),
 * WH_EUNSUPPORTED (libarchive missing, overlay redirect or metacopy),
 * WH_ECONFLICT (a file changed while it was read), WH_EIO, WH_ENOMEM. */
enum wh_code cli_layerw_from_dir(int dirfd, const struct cli_layerw_opts *o, int out_fd,
                                 struct cli_layerw_result *r, struct wh_err *err);

#endif
