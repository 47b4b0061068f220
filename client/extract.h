/* client/extract.h - confined extraction of one OCI image layer into a
 * directory (what `wharf run` and `wharf build` turn layers into).
 *
 * A layer is a tar stream, plain or compressed with gzip or zstd, read from
 * an fd (the blob file in the store) and written below a directory given as
 * an fd, the root. Invariants, whatever the bytes say:
 *
 * - Nothing outside the root is created, removed or changed: every path is
 *   resolved inside the root (openat2 RESOLVE_IN_ROOT, or an O_NOFOLLOW
 *   walk with the same meaning on kernels without openat2); absolute names
 *   and symlink targets are taken relative to the root. An entry name or a
 *   hardlink target that climbs above the root with ".." is refused
 *   (WH_EDENIED), as is a non-directory entry for the root itself.
 *   Symlinks are created as they are, never followed for the entry's last
 *   component; owner, mode and times are set through the created file's fd
 *   or with the *at calls and AT_SYMLINK_NOFOLLOW.
 * - Both digests are computed in the same pass: the layer digest over the
 *   bytes read from fd, and the diff_id over the uncompressed tar. A
 *   mismatch with what the caller expects is WH_EDIGEST, reported after the
 *   whole stream was read: the directory then holds an untrusted tree and
 *   the caller must discard it (cli_extract_rmtree_at()).
 * - Memory is bounded whatever the input: header sizes (pax headers, long
 *   names, xattrs), the number of entries, the uncompressed size and the
 *   compression ratio are capped (WH_ETOOBIG), so a decompression bomb ends
 *   early.
 * - The extractor never fsyncs: a caller that keeps the tree (the layer
 *   cache) syncs it (syncfs) before recording it as complete.
 *
 * Whiteouts (.wh.NAME, .wh..wh..opq) follow the OCI image spec: a whiteout
 * only hides what lower layers hold, never an entry of the same layer. In
 * CLI_EXTRACT_APPLY mode the root already holds the lower layers (a
 * flattened copy) and whiteouts remove paths from it. In
 * CLI_EXTRACT_OVERLAY mode the root is a fresh directory meant to be an
 * overlayfs lower layer, and whiteouts are written in overlayfs form: a 0/0
 * character device (or, where mknod is refused or asked for, a zero-size
 * file with the overlay.whiteout xattr, its directory marked with
 * overlay.opaque "x"), and opaque directories get overlay.opaque "y", in
 * the trusted.* namespace or, with CLI_EXTRACT_USER_XATTR, in user.* (for
 * an overlay mounted with "userxattr"). Of the archive's xattrs only
 * user.* (but never user.overlay.*) and security.capability are written,
 * so an image cannot forge whiteouts, opaque directories or redirects.
 */
#ifndef WH_CLI_EXTRACT_H
#define WH_CLI_EXTRACT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/digest.h"
#include "common/err.h"

enum cli_extract_compression {
  CLI_EXTRACT_UNKNOWN = 0, /* opts: decide from the magic bytes alone */
  CLI_EXTRACT_PLAIN,       /* an uncompressed tar */
  CLI_EXTRACT_GZIP,
  CLI_EXTRACT_ZSTD,
};

enum cli_extract_mode {
  CLI_EXTRACT_APPLY = 0, /* whiteouts remove lower-layer paths from the root */
  CLI_EXTRACT_OVERLAY,   /* whiteouts are written as overlayfs whiteouts */
};

enum cli_extract_owner {
  CLI_EXTRACT_OWNER_TRY = 0, /* chown to the (mapped) archive ids; EPERM/EINVAL counted, not fatal */
  CLI_EXTRACT_OWNER_STRICT,  /* the same, but a failed chown is an error */
  CLI_EXTRACT_OWNER_NONE,    /* never chown: everything belongs to the caller */
};

enum cli_extract_flags {
  CLI_EXTRACT_KEEP_SUID = 1 << 0,       /* keep setuid/setgid bits of non-directories */
  CLI_EXTRACT_NO_DEVICES = 1 << 1,      /* skip device nodes even where mknod would work */
  CLI_EXTRACT_USER_XATTR = 1 << 2,      /* overlay mode: user.overlay.* instead of trusted.overlay.* */
  CLI_EXTRACT_XATTR_WHITEOUTS = 1 << 3, /* overlay mode: xattr whiteouts even where mknod 0/0 works */
  CLI_EXTRACT_NO_XATTRS = 1 << 4,       /* do not apply the archive's xattrs */
  CLI_EXTRACT_NO_OPENAT2 = 1 << 5,      /* resolve with the O_NOFOLLOW walk (tests; old kernels) */
};

/* Defaults of the caps (cli_extract_opts_init). */
#define CLI_EXTRACT_MAX_SIZE (64ull << 30)     /* uncompressed bytes */
#define CLI_EXTRACT_MAX_RATIO 1024u            /* uncompressed / compressed, past RATIO_FLOOR */
#define CLI_EXTRACT_RATIO_FLOOR (64u << 20)    /* the ratio is checked past this many bytes */
#define CLI_EXTRACT_MAX_ENTRIES (4u << 20)     /* tar entries */
#define CLI_EXTRACT_MAX_DEPTH 256              /* path components of a name or link target */
#define CLI_EXTRACT_MAX_XATTRS 128             /* per entry */
#define CLI_EXTRACT_MAX_XATTR_BYTES (1u << 20) /* names + values, per entry */

struct cli_extract_opts {
  const char *media_type;          /* the layer's media type, or NULL: magic bytes only */
  const struct wh_digest *digest;  /* expected digest of the bytes of fd, or NULL */
  const struct wh_digest *diff_id; /* expected digest of the uncompressed tar, or NULL */
  enum cli_extract_mode mode;
  enum cli_extract_owner owner;
  /* Id mapping: archive id n becomes base + n when n < id_count; an id at
   * or past id_count fails like a refused chown. id_count 0: ids as they are. */
  uid_t uid_base;
  gid_t gid_base;
  uint32_t id_count;
  unsigned flags;       /* enum cli_extract_flags */
  uint64_t max_size;    /* 0: CLI_EXTRACT_MAX_SIZE */
  uint32_t max_ratio;   /* 0: CLI_EXTRACT_MAX_RATIO */
  uint64_t ratio_floor; /* 0: CLI_EXTRACT_RATIO_FLOOR */
  uint64_t max_entries; /* 0: CLI_EXTRACT_MAX_ENTRIES */
};

/* What an extraction did (written on success and on WH_EDIGEST). */
struct cli_extract_result {
  enum cli_extract_compression compression; /* found by the magic bytes */
  struct wh_digest digest;                  /* of the bytes read from fd */
  struct wh_digest diff_id;                 /* of the uncompressed tar */
  uint64_t compressed_size;                 /* bytes read from fd */
  uint64_t size;                            /* uncompressed bytes */
  uint64_t entries;                         /* tar entries seen */
  uint64_t whiteouts;                       /* whiteouts and opaque markers applied */
  uint64_t devices_skipped;                 /* device nodes not created */
  uint64_t chown_failed;                    /* chowns refused under OWNER_TRY */
  uint64_t xattrs_skipped;                  /* archive xattrs not written */
};

/* Zeroes o: apply mode, OWNER_TRY, default caps, nothing expected. */
void cli_extract_opts_init(struct cli_extract_opts *o);

/* The compression a layer media type announces: WH_OK for the OCI and
 * Docker layer types (plain, gzip, zstd, non-distributable, foreign),
 * WH_EUNSUPPORTED for anything else (another compression, not a layer). */
enum wh_code cli_extract_media_type(const char *media_type, enum cli_extract_compression *out,
                                    struct wh_err *err);

/* Extracts the layer read from fd (from its current offset to EOF) below
 * rootfd (a directory, O_RDONLY or O_PATH). The compression is the one the
 * magic bytes show (a media type that announces another one is accepted,
 * as docker and containerd do; an unknown media type is WH_EUNSUPPORTED).
 * Errors name the entry: WH_EDENIED (escape), WH_EINVALID (malformed tar
 * or compressed stream), WH_ETOOBIG (a cap), WH_EDIGEST (after the whole
 * stream: *out is then written too), WH_EIO. On any failure the tree below
 * rootfd is partial and untrusted. *out (optional) is written on success
 * and on WH_EDIGEST. */
enum wh_code cli_extract_layer(int fd, int rootfd, const struct cli_extract_opts *o,
                               struct cli_extract_result *out, struct wh_err *err);

/* Removes dirfd/name and everything below it without following symlinks
 * (directories without write or search permission are opened up first).
 * A missing name is WH_OK. For the caller that discards a failed tree. */
enum wh_code cli_extract_rmtree_at(int dirfd, const char *name, struct wh_err *err);

#endif
