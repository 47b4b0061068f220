/* common/fsutil.c - safe file helpers.
 *
 * Invariants: every fd opened here carries O_CLOEXEC; paths below a
 * directory fd are walked one component at a time with O_NOFOLLOW, so a
 * planted symlink is refused rather than followed; short reads and writes
 * and EINTR are retried; reads never grow a buffer beyond its max.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <linux/openat2.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fsutil.h"

enum wh_code wh_write_all(int fd, const void *p, size_t n, struct wh_err *err)
{
  const char *c = p;

  while (n > 0) {
    ssize_t w = write(fd, c, n);
    if (w < 0 && errno == EINTR)
      continue;
    if (w < 0)
      return wh_err_set(err, WH_EIO, errno, "write");
    if (w == 0)
      return wh_err_set(err, WH_EIO, EIO, "write: no progress");
    c += w;
    n -= (size_t)w;
  }
  return WH_OK;
}

enum wh_code wh_pwrite_all(int fd, const void *p, size_t n, uint64_t off, struct wh_err *err)
{
  const char *c = p;

  if (off > (uint64_t)INT64_MAX || n > (uint64_t)INT64_MAX - off)
    return wh_err_set(err, WH_ERANGE, 0, "pwrite: offset %llu out of range", (unsigned long long)off);
  while (n > 0) {
    ssize_t w = pwrite(fd, c, n, (off_t)off);
    if (w < 0 && errno == EINTR)
      continue;
    if (w < 0)
      return wh_err_set(err, WH_EIO, errno, "pwrite");
    if (w == 0)
      return wh_err_set(err, WH_EIO, EIO, "pwrite: no progress");
    c += w;
    n -= (size_t)w;
    off += (uint64_t)w;
  }
  return WH_OK;
}

enum wh_code wh_read_fd(int fd, struct wh_buf *b, struct wh_err *err)
{
  char chunk[16384];

  for (;;) {
    ssize_t r = read(fd, chunk, sizeof(chunk));
    enum wh_code rc;

    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0)
      return wh_err_set(err, WH_EIO, errno, "read");
    if (r == 0)
      return WH_OK;
    rc = wh_buf_append(b, chunk, (size_t)r);
    if (rc == WH_ETOOBIG)
      return wh_err_set(err, rc, 0, "read: more than %zu bytes", b->max);
    if (rc != WH_OK)
      return wh_err_set(err, rc, 0, "read: out of memory");
  }
}

enum wh_code wh_read_file_at(int dirfd, const char *path, struct wh_buf *b, struct wh_err *err)
{
  WH_AUTOCLOSE int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
  struct stat st;
  enum wh_code rc;

  if (fd < 0)
    return wh_err_set(err, errno == ENOENT ? WH_ENOTFOUND : WH_EIO, errno, "open \"%s\"", path);
  if (fstat(fd, &st) < 0)
    return wh_err_set(err, WH_EIO, errno, "stat \"%s\"", path);
  if (!S_ISREG(st.st_mode))
    return wh_err_set(err, WH_EINVALID, 0, "read \"%s\": not a regular file", path);
  if ((uint64_t)st.st_size > (uint64_t)b->max)
    return wh_err_set(err, WH_ETOOBIG, 0, "read \"%s\": more than %zu bytes", path, b->max);
  rc = wh_read_fd(fd, b, err);
  if (rc != WH_OK) {
    wh_err_wrap(err, "\"%s\"", path);
    return rc;
  }
  return WH_OK;
}

/* Creates (if needed) and opens one directory below dirfd, never following
 * a symlink. Returns the new fd or -1 with errno set. */
static int step_dir(int dirfd, const char *name, mode_t mode)
{
  if (mkdirat(dirfd, name, mode) < 0 && errno != EEXIST)
    return -1;
  return openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

/* Copies the next "/"-separated component of *pp into name; skips empty
 * and "." components. Returns false at the end of the path. */
static bool next_component(const char **pp, char *name, size_t size, size_t *len_out)
{
  const char *p = *pp;

  for (;;) {
    const char *e;

    while (*p == '/')
      p++;
    if (*p == '\0')
      return false;
    e = strchrnul(p, '/');
    *pp = e;
    if ((size_t)(e - p) == 1 && p[0] == '.') {
      p = e;
      continue;
    }
    *len_out = (size_t)(e - p);
    if (*len_out < size) {
      memcpy(name, p, *len_out);
      name[*len_out] = '\0';
    }
    return true;
  }
}

enum wh_code wh_mkdir_p_at(int dirfd, const char *path, mode_t mode, struct wh_err *err)
{
  WH_AUTOCLOSE int cur = -1;
  char name[NAME_MAX + 1];
  const char *p = path;
  size_t n;

  if (path == NULL || path[0] == '\0')
    return wh_err_set(err, WH_EINVALID, 0, "mkdir: empty path");
  if (path[0] == '/')
    return wh_err_set(err, WH_EINVALID, 0, "mkdir \"%s\": absolute path", path);
  if (strnlen(path, PATH_MAX) >= PATH_MAX)
    return wh_err_set(err, WH_ETOOBIG, 0, "mkdir: path too long");
  while (next_component(&p, name, sizeof(name), &n)) {
    int next;

    if (n >= sizeof(name))
      return wh_err_set(err, WH_ETOOBIG, 0, "mkdir \"%s\": component too long", path);
    if (strcmp(name, "..") == 0)
      return wh_err_set(err, WH_EINVALID, 0, "mkdir \"%s\": \"..\" not allowed", path);
    next = step_dir(cur >= 0 ? cur : dirfd, name, mode);
    if (next < 0)
      return wh_err_set(err, errno == ENOTDIR || errno == ELOOP ? WH_EINVALID : WH_EIO, errno,
                        "mkdir \"%s\": \"%s\"", path, name);
    if (cur >= 0)
      close(cur);
    cur = next;
  }
  return WH_OK;
}

enum wh_code wh_fsync_fd(int fd, struct wh_err *err)
{
  while (fsync(fd) < 0) {
    if (errno != EINTR)
      return wh_err_set(err, WH_EIO, errno, "fsync");
  }
  return WH_OK;
}

enum wh_code wh_random_hex(char *out, size_t nbytes, struct wh_err *err)
{
  static const char hex[] = "0123456789abcdef";
  unsigned char chunk[256];
  size_t done = 0;

  while (done < nbytes) {
    size_t want = nbytes - done < sizeof(chunk) ? nbytes - done : sizeof(chunk);
    ssize_t r = getrandom(chunk, want, 0);

    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      return wh_err_set(err, WH_EIO, r < 0 ? errno : EIO, "getrandom");
    for (ssize_t i = 0; i < r; i++) {
      out[2 * (done + (size_t)i)] = hex[chunk[i] >> 4];
      out[2 * (done + (size_t)i) + 1] = hex[chunk[i] & 0xf];
    }
    done += (size_t)r;
  }
  out[2 * nbytes] = '\0';
  return WH_OK;
}

bool wh_parse_u64(const char *s, size_t len, uint64_t *out)
{
  uint64_t v = 0;

  if (s == NULL || len == 0)
    return false;
  for (size_t i = 0; i < len; i++) {
    unsigned d;

    if (s[i] < '0' || s[i] > '9')
      return false;
    d = (unsigned)(s[i] - '0');
    if (v > (UINT64_MAX - d) / 10)
      return false;
    v = v * 10 + d;
  }
  *out = v;
  return true;
}

DIR *wh_opendir_at(int dirfd, const char *name)
{
  int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
  DIR *d;

  if (fd < 0)
    return NULL;
  if ((d = fdopendir(fd)) == NULL)
    close(fd);
  return d;
}

int wh_openat2(int rootfd, const char *path, int flags, mode_t mode, uint64_t resolve)
{
  struct open_how how = {.flags = (uint64_t)(flags | O_CLOEXEC), .mode = mode, .resolve = resolve};

  while (*path == '/')
    path++;
  return (int)syscall(SYS_openat2, rootfd, *path ? path : ".", &how, sizeof(how));
}
