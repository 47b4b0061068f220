/* client/extract-int.h - what the files of the layer extractor share:
 * the decompressing, hashing input stream (extract_stream.c), confined
 * path resolution, the set of paths a layer wrote and tree removal
 * (extract_path.c); extract.c walks the tar with libarchive and turns
 * entries into files.
 *
 * Invariants: every path handed around here is "clean": relative to the
 * root, no empty, "." or ".." component, no leading or trailing slash, at
 * most CLI_EXTRACT_MAX_DEPTH components and PATH_MAX bytes; "" is the root.
 * Directory fds returned by xp_parent() are borrowed from a one-entry cache
 * that every removal invalidates (a removal may change what a path
 * resolves to).
 */
#ifndef WH_CLI_EXTRACT_INT_H
#define WH_CLI_EXTRACT_INT_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "client/extract.h"
#include "common/buf.h"
#include "common/err.h"

/* ---- the input stream (extract_stream.c) --------------------------------- */

struct xstream;

/* Reads the first bytes of fd, finds the compression, checks it against
 * o->media_type (only that it is a layer type) and sets up the hashers. */
enum wh_code xs_open(int fd, const struct cli_extract_opts *o, struct xstream **out, struct wh_err *err);
void xs_free(struct xstream *s);
/* Next chunk of uncompressed tar: > 0 bytes at *buf (valid until the next
 * call), 0 at the end, -1 on failure (xs_failed() tells). */
ssize_t xs_read(struct xstream *s, const void **buf);
/* The failure xs_read() met, copied into err; WH_OK when none. */
enum wh_code xs_failed(const struct xstream *s, struct wh_err *err);
/* Reads, hashes and checks the rest of the stream (what follows the tar's
 * end marker), then finalises both digests into r. */
enum wh_code xs_finish(struct xstream *s, struct cli_extract_result *r, struct wh_err *err);

/* ---- paths (extract_path.c) ------------------------------------------- */

enum xp_clean_rc {
  XP_CLEAN_OK = 0,
  XP_CLEAN_ESCAPE,  /* ".." above the root */
  XP_CLEAN_TOOLONG, /* more than PATH_MAX bytes or CLI_EXTRACT_MAX_DEPTH components */
  XP_CLEAN_BADNAME, /* a component longer than NAME_MAX */
};
/* Cleans a name from the archive into out[PATH_MAX] (see the invariants). */
enum xp_clean_rc xp_clean(const char *in, char *out);
/* Splits clean path p (not ""): parent[PATH_MAX] gets its parent ("" for
 * the root), *base points at its last component inside p. */
void xp_split(const char *p, char *parent, const char **base);

/* A set of clean paths, keyed by a keyed 64-bit hash (SipHash-2-4 with a
 * random key, so an archive cannot aim at a collision). */
struct xp_set {
  uint64_t *slots; /* owned; 0 = empty */
  size_t cap;      /* power of two */
  size_t n;
  size_t max; /* cap on n */
  uint64_t k0, k1;
};
enum wh_code xp_set_init(struct xp_set *s, size_t max, struct wh_err *err);
void xp_set_release(struct xp_set *s);
enum wh_code xp_set_add(struct xp_set *s, const char *path, size_t len, struct wh_err *err);
bool xp_set_has(const struct xp_set *s, const char *path, size_t len);

/* Confined resolution below one root. */
struct xp_root {
  int rootfd;       /* borrowed */
  bool use_openat2; /* false after ENOSYS, or with CLI_EXTRACT_NO_OPENAT2 */
  int cache_fd;     /* O_PATH fd of cache_path, or -1 */
  char cache_path[PATH_MAX];
};
void xp_root_init(struct xp_root *r, int rootfd, bool use_openat2);
void xp_root_release(struct xp_root *r);
/* Forgets the cached directory; called after every removal. */
void xp_invalidate(struct xp_root *r);
/* O_PATH fd of directory `path` resolved inside the root (symlinks
 * followed as if the root were "/"). Returns the fd (owned by the caller)
 * or -errno. */
int xp_open_dir(struct xp_root *r, const char *path);
/* Like xp_open_dir(), but borrowed from the cache (do not close). */
int xp_parent(struct xp_root *r, const char *path);
/* Opens directory `path` for reading (fsetxattr, fchmod...): its parent is
 * resolved inside the root, the last component is not followed. Returns
 * the fd (owned) or -errno. */
int xp_open_dir_rd(struct xp_root *r, const char *path);

/* rm -rf of dirfd/name without following symlinks; -errno or 0. depth
 * counts the directories above (callers pass 0). */
int xp_rmtree_at(int dirfd, const char *name, int depth);

#endif
