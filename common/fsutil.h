/* common/fsutil.h - safe file helpers: directory-fd relative, O_CLOEXEC,
 * O_NOFOLLOW where a path element could be planted, full reads and writes.
 */
#ifndef WH_FSUTIL_H
#define WH_FSUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <dirent.h>
#include <stdint.h>
#include <sys/types.h>
#include "common/buf.h"
#include "common/err.h"

/* write(2) until done (retries EINTR and short writes). */
enum wh_code wh_write_all(int fd, const void *p, size_t n, struct wh_err *err);
/* pwrite(2) until done. */
enum wh_code wh_pwrite_all(int fd, const void *p, size_t n, uint64_t off, struct wh_err *err);
/* Reads the whole of fd into b (capped by b->max: WH_ETOOBIG). */
enum wh_code wh_read_fd(int fd, struct wh_buf *b, struct wh_err *err);
/* Reads dirfd/path (O_NOFOLLOW) into b. */
enum wh_code wh_read_file_at(int dirfd, const char *path, struct wh_buf *b, struct wh_err *err);
/* mkdir -p of a relative path below dirfd (no "..", no symlinks followed). */
enum wh_code wh_mkdir_p_at(int dirfd, const char *path, mode_t mode, struct wh_err *err);
/* A directory stream for dirfd/name (O_NOFOLLOW, O_CLOEXEC); its dirfd()
 * serves the *at calls. NULL with errno set on failure. */
DIR *wh_opendir_at(int dirfd, const char *name);
/* openat2(2) of path below rootfd with O_CLOEXEC added: leading slashes
 * are dropped ("/" and "" name rootfd itself), resolve holds the
 * RESOLVE_* flags. Returns the fd, or -1 with errno set. */
int wh_openat2(int rootfd, const char *path, int flags, mode_t mode, uint64_t resolve);
/* fsync a directory by fd. */
enum wh_code wh_fsync_fd(int fd, struct wh_err *err);
/* Writes n random bytes as 2n lowercase hex chars plus NUL into out (size >= 2n+1). */
enum wh_code wh_random_hex(char *out, size_t nbytes, struct wh_err *err);
/* Parses a decimal unsigned 64-bit number in s[0..len): digits only, no sign,
 * no spaces, no overflow. */
bool wh_parse_u64(const char *s, size_t len, uint64_t *out);

#endif
