/* client/layout.c - OCI image layouts, written (save) and read (load), as
 * a directory or a tar (libarchive, bound on first use). See
 * client/layout.h for the format.
 *
 * Writing:
 *   create: temp name ".<name>.tmp-<rnd>" next to PATH (directory or tar
 *           file; stdout needs none) -> put_file / put_blob ... -> commit:
 *           sync, rename onto PATH (an empty directory is replaced), fsync
 *           the parent. abort: remove the temp name and what is below it.
 * Reading a directory: every file is opened below the layout's fd, one
 *   O_NOFOLLOW component at a time; a blob's file must be a regular file of
 *   exactly its descriptor's size, and its bytes go through an upload
 *   session that checks the digest before anything is committed.
 * Reading a tar: one pass at open. Entry names are normalised ("./"
 *   stripped) and refused when absolute or holding ".."; only regular
 *   files named oci-layout, index.json and blobs/<alg>/<hex> (a valid
 *   digest) are used, everything else is skipped. Blobs stream into upload
 *   sessions of a private staging repository "_wharf-load/<rnd>" (a name no
 *   registry reference can have) and are verified against their names;
 *   close unlinks them from it (garbage until a manifest uses them).
 * Caps: oci-layout CLI_LAYOUT_FILE_MAX, index.json and manifests
 * WH_MANIFEST_MAX, tar entries ENTRIES_MAX, blobs the store's blob limit.
 */
#include "config.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client/layout.h"
#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/lazy.h"

#define IO_CHUNK (256 * 1024)
#define ENTRIES_MAX 1000000
#define STAGING_PREFIX "_wharf-load/"

/* libarchive is bound on first use (dlopen), not when wharf starts: its
 * dependencies (libxml2, ICU, libstdc++, ...) would cost every wharf
 * command some 4 ms of dynamic linking, and only tar layouts need it. */
/* clang-format off */
#define ARCHIVE_FUNCS(X)                                                                                      \
  X(archive_entry_filetype)                                                                                   \
  X(archive_entry_free)                                                                                       \
  X(archive_entry_hardlink)                                                                                   \
  X(archive_entry_new)                                                                                        \
  X(archive_entry_pathname)                                                                                   \
  X(archive_entry_set_filetype)                                                                               \
  X(archive_entry_set_mtime)                                                                                  \
  X(archive_entry_set_pathname)                                                                               \
  X(archive_entry_set_perm)                                                                                   \
  X(archive_entry_set_size)                                                                                   \
  X(archive_entry_size)                                                                                       \
  X(archive_entry_size_is_set)                                                                                \
  X(archive_errno)                                                                                            \
  X(archive_error_string)                                                                                     \
  X(archive_read_data)                                                                                        \
  X(archive_read_data_block)                                                                                  \
  X(archive_read_free)                                                                                        \
  X(archive_read_new)                                                                                         \
  X(archive_read_next_header)                                                                                 \
  X(archive_read_open_fd)                                                                                     \
  X(archive_read_support_filter_bzip2)                                                                        \
  X(archive_read_support_filter_gzip)                                                                         \
  X(archive_read_support_filter_xz)                                                                           \
  X(archive_read_support_filter_zstd)                                                                         \
  X(archive_read_support_format_tar)                                                                          \
  X(archive_write_close)                                                                                      \
  X(archive_write_data)                                                                                       \
  X(archive_write_free)                                                                                       \
  X(archive_write_header)                                                                                     \
  X(archive_write_new)                                                                                        \
  X(archive_write_open_fd)                                                                                    \
  X(archive_write_set_format_pax_restricted)
/* clang-format on */

static struct {
#define LA_FIELD(f) __typeof__(&f) f;
  ARCHIVE_FUNCS(LA_FIELD)
#undef LA_FIELD
} la;

static enum wh_code la_load(struct wh_err *err)
{
  static const char *const sonames[] = {"libarchive.so.13", "libarchive.so", NULL};
#define LA_NAME(f) #f,
#define LA_ADDR(f) (void **)&la.f,
  static const char *const names[] = {ARCHIVE_FUNCS(LA_NAME)};
  void **const fields[] = {ARCHIVE_FUNCS(LA_ADDR)};
  static bool loaded;
  char why[256];

  if (loaded)
    return WH_OK;
  if (!wh_lazy_bind("libarchive", "libarchive13", sonames, names, fields, WH_ARRAY_LEN(names), why,
                    sizeof(why)))
    return wh_err_set(err, WH_EUNSUPPORTED, 0, "tar layouts: %s", why);
  loaded = true;
  return WH_OK;
}

static void archive_read_cleanup(struct archive **a)
{
  if (*a)
    la.archive_read_free(*a);
}
#define AUTOARCHIVE_READ __attribute__((cleanup(archive_read_cleanup)))

/* A set of digests (the blobs written or staged): linear, small in practice. */
struct digests {
  struct wh_digest *v;
  size_t n, cap;
};

static bool digests_has(const struct digests *s, const struct wh_digest *d)
{
  for (size_t i = 0; i < s->n; i++)
    if (wh_digest_eq(&s->v[i], d))
      return true;
  return false;
}

static enum wh_code digests_add(struct digests *s, const struct wh_digest *d, struct wh_err *err)
{
  if (s->n == s->cap) {
    size_t cap = s->cap ? 2 * s->cap : 64;
    struct wh_digest *v = realloc(s->v, cap * sizeof(*v));
    if (v == NULL)
      return wh_err_set(err, WH_ENOMEM, 0, "out of memory");
    s->v = v;
    s->cap = cap;
  }
  s->v[s->n++] = *d;
  return WH_OK;
}

/* ---- writing ------------------------------------------------------------------- */

struct cli_layout_out {
  bool tar, to_stdout;
  int parentfd;        /* directory holding PATH */
  char *name;          /* PATH's last component */
  char tmp[300];       /* temp name in parentfd ("" for stdout) */
  int rootfd;          /* directory layout: the temp directory */
  int fd;              /* tar file (or 1) */
  struct archive *a;   /* tar writer */
  bool blobs_dir;      /* blobs/ made */
  bool alg_dir[3];     /* blobs/<alg>/ made (by enum wh_digest_alg) */
  struct digests done; /* blobs written */
};

/* Removes dirfd/name and, for a directory, what is below it (the layout we
 * wrote: three levels at most). */
static void rm_tree_at(int parent, const char *name, int depth)
{
  WH_AUTOCLOSEDIR DIR *d = NULL;
  int fd;
  struct dirent *de;

  if (unlinkat(parent, name, 0) == 0 || (errno != EISDIR && errno != EPERM) || depth > 3)
    return;
  if ((fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW)) < 0)
    return;
  if ((d = fdopendir(fd)) == NULL) {
    close(fd);
    return;
  }
  while ((de = readdir(d)) != NULL)
    if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
      rm_tree_at(dirfd(d), de->d_name, depth + 1);
  unlinkat(parent, name, AT_REMOVEDIR);
}

/* PATH's parent directory (opened) and last component. */
static enum wh_code split_path(const char *path, struct cli_layout_out *w, struct wh_err *err)
{
  WH_AUTOFREE char *p = strdup(path);
  char *slash;
  size_t n;

  if (p == NULL)
    return wh_err_set(err, WH_ENOMEM, 0, "out of memory");
  for (n = strlen(p); n > 1 && p[n - 1] == '/'; n--)
    p[n - 1] = '\0';
  slash = strrchr(p, '/');
  if ((w->name = strdup(slash ? slash + 1 : p)) == NULL)
    return wh_err_set(err, WH_ENOMEM, 0, "out of memory");
  if (w->name[0] == '\0' || strcmp(w->name, ".") == 0 || strcmp(w->name, "..") == 0)
    return wh_err_set(err, WH_EINVALID, 0, "\"%s\": not a name for a new file or directory", path);
  if (slash)
    *slash = '\0';
  w->parentfd = open(slash ? (p[0] ? p : "/") : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (w->parentfd < 0)
    return wh_err_set(err, WH_EIO, errno, "open the directory of \"%s\"", path);
  return WH_OK;
}

/* PATH may not exist yet; an empty directory is fine (rename replaces it). */
static enum wh_code check_target(const struct cli_layout_out *w, const char *path, struct wh_err *err)
{
  struct stat st;
  int fd;
  WH_AUTOCLOSEDIR DIR *d = NULL;
  struct dirent *de;

  if (fstatat(w->parentfd, w->name, &st, AT_SYMLINK_NOFOLLOW) != 0)
    return errno == ENOENT ? WH_OK : wh_err_set(err, WH_EIO, errno, "stat \"%s\"", path);
  if (w->tar || !S_ISDIR(st.st_mode))
    return wh_err_set(err, WH_ECONFLICT, 0, "\"%s\" already exists", path);
  if ((fd = openat(w->parentfd, w->name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW)) < 0 ||
      (d = fdopendir(fd)) == NULL) {
    if (fd >= 0)
      close(fd);
    return wh_err_set(err, WH_EIO, errno, "open \"%s\"", path);
  }
  while ((de = readdir(d)) != NULL)
    if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
      return wh_err_set(err, WH_ECONFLICT, 0, "\"%s\" is a directory that is not empty", path);
  return WH_OK;
}

static enum wh_code open_tar_writer(struct cli_layout_out *w, struct wh_err *err)
{
  enum wh_code rc = la_load(err);

  if (rc != WH_OK)
    return rc;
  if ((w->a = la.archive_write_new()) == NULL)
    return wh_err_set(err, WH_ENOMEM, 0, "out of memory");
  if (la.archive_write_set_format_pax_restricted(w->a) != ARCHIVE_OK ||
      la.archive_write_open_fd(w->a, w->fd) != ARCHIVE_OK)
    return wh_err_set(err, WH_EIO, la.archive_errno(w->a), "tar: %s", la.archive_error_string(w->a));
  return WH_OK;
}

static enum wh_code make_temp(struct cli_layout_out *w, struct wh_err *err)
{
  char rnd[17];
  enum wh_code rc = wh_random_hex(rnd, 8, err);

  if (rc != WH_OK)
    return rc;
  snprintf(w->tmp, sizeof(w->tmp), ".%.200s.tmp-%s", w->name, rnd);
  if (w->tar) {
    w->fd = openat(w->parentfd, w->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (w->fd < 0)
      return wh_err_set(err, WH_EIO, errno, "create \"%s\"", w->tmp);
    return open_tar_writer(w, err);
  }
  if (mkdirat(w->parentfd, w->tmp, 0755) != 0)
    return wh_err_set(err, WH_EIO, errno, "create directory \"%s\"", w->tmp);
  if ((w->rootfd = openat(w->parentfd, w->tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW)) < 0)
    return wh_err_set(err, WH_EIO, errno, "open directory \"%s\"", w->tmp);
  return WH_OK;
}

enum wh_code cli_layout_create(const char *path, bool tar, struct cli_layout_out **out, struct wh_err *err)
{
  struct cli_layout_out *w = calloc(1, sizeof(*w));
  enum wh_code rc;

  if (w == NULL)
    return wh_err_set(err, WH_ENOMEM, 0, "out of memory");
  w->parentfd = w->rootfd = w->fd = -1;
  w->tar = tar || strcmp(path, "-") == 0;
  if (strcmp(path, "-") == 0) {
    w->to_stdout = true;
    w->fd = STDOUT_FILENO;
    rc = open_tar_writer(w, err);
  } else if ((rc = split_path(path, w, err)) == WH_OK && (rc = check_target(w, path, err)) == WH_OK) {
    rc = make_temp(w, err);
  }
  if (rc != WH_OK) {
    cli_layout_abort(w);
    return rc;
  }
  *out = w;
  return WH_OK;
}

static enum wh_code tar_data(struct cli_layout_out *w, const char *p, size_t n, struct wh_err *err)
{
  while (n > 0) {
    la_ssize_t k = la.archive_write_data(w->a, p, n);
    if (k <= 0)
      return wh_err_set(err, WH_EIO, la.archive_errno(w->a), "tar: %s", la.archive_error_string(w->a));
    p += k;
    n -= (size_t)k;
  }
  return WH_OK;
}

/* One tar header: a directory (size ignored) or a regular file. */
static enum wh_code tar_header(struct cli_layout_out *w, const char *name, bool dir, uint64_t size,
                               struct wh_err *err)
{
  struct archive_entry *e = la.archive_entry_new();
  int r;

  if (e == NULL)
    return wh_err_set(err, WH_ENOMEM, 0, "out of memory");
  la.archive_entry_set_pathname(e, name);
  la.archive_entry_set_filetype(e, dir ? AE_IFDIR : AE_IFREG);
  la.archive_entry_set_perm(e, dir ? 0755 : 0644);
  la.archive_entry_set_size(e, dir ? 0 : (la_int64_t)size);
  la.archive_entry_set_mtime(e, 0, 0);
  r = la.archive_write_header(w->a, e);
  la.archive_entry_free(e);
  if (r != ARCHIVE_OK)
    return wh_err_set(err, WH_EIO, la.archive_errno(w->a), "tar: %s", la.archive_error_string(w->a));
  return WH_OK;
}

enum wh_code cli_layout_put_file(struct cli_layout_out *w, const char *name, const void *p, size_t n,
                                 struct wh_err *err)
{
  WH_AUTOCLOSE int fd = -1;
  enum wh_code rc;

  if (w->tar)
    return (rc = tar_header(w, name, false, n, err)) == WH_OK ? tar_data(w, p, n, err) : rc;
  fd = openat(w->rootfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd < 0)
    return wh_err_set(err, WH_EIO, errno, "create \"%s\"", name);
  return wh_write_all(fd, p, n, err);
}

/* blobs/ and blobs/<alg>/, once. */
static enum wh_code alg_dir(struct cli_layout_out *w, enum wh_digest_alg alg, struct wh_err *err)
{
  char rel[32];
  enum wh_code rc = WH_OK;

  if (w->alg_dir[alg])
    return WH_OK;
  snprintf(rel, sizeof(rel), "blobs/%s/", wh_digest_alg_name(alg));
  if (!w->tar)
    rc = wh_mkdir_p_at(w->rootfd, rel, 0755, err);
  else if (!w->blobs_dir && (rc = tar_header(w, "blobs/", true, 0, err)) == WH_OK)
    w->blobs_dir = true;
  if (rc == WH_OK && w->tar)
    rc = tar_header(w, rel, true, 0, err);
  w->alg_dir[alg] = rc == WH_OK;
  return rc;
}

/* Copies size bytes of in to the tar or to out (fd). */
static enum wh_code copy_bytes(struct cli_layout_out *w, int in, int out, uint64_t size, struct wh_err *err)
{
  WH_AUTOFREE char *buf = malloc(IO_CHUNK);
  uint64_t done = 0;
  enum wh_code rc;

  if (buf == NULL)
    return wh_err_set(err, WH_ENOMEM, 0, "out of memory");
  while (done < size) {
    ssize_t n = read(in, buf, size - done < IO_CHUNK ? (size_t)(size - done) : IO_CHUNK);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return wh_err_set(err, WH_EIO, n < 0 ? errno : 0, "read blob: %s", n < 0 ? "error" : "short file");
    rc = w->tar ? tar_data(w, buf, (size_t)n, err) : wh_write_all(out, buf, (size_t)n, err);
    if (rc != WH_OK)
      return rc;
    done += (uint64_t)n;
  }
  return WH_OK;
}

enum wh_code cli_layout_put_blob(struct cli_layout_out *w, const struct wh_digest *d, int fd, uint64_t size,
                                 struct wh_err *err)
{
  char rel[WH_DIGEST_STR_MAX + 16];
  WH_AUTOCLOSE int out = -1;
  enum wh_code rc;

  if (digests_has(&w->done, d))
    return WH_OK;
  if ((rc = alg_dir(w, d->alg, err)) != WH_OK)
    return rc;
  snprintf(rel, sizeof(rel), "blobs/%s/%s", wh_digest_alg_name(d->alg), wh_digest_hex(d));
  if (w->tar) {
    rc = tar_header(w, rel, false, size, err);
  } else if ((out = openat(w->rootfd, rel, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644)) < 0) {
    rc = wh_err_set(err, WH_EIO, errno, "create \"%s\"", rel);
  }
  if (rc == WH_OK)
    rc = copy_bytes(w, fd, out, size, err);
  if (rc != WH_OK)
    return wh_err_wrap(err, "blob %s", d->str);
  return digests_add(&w->done, d, err);
}

static void out_free(struct cli_layout_out *w)
{
  if (w->a)
    la.archive_write_free(w->a);
  if (w->fd >= 0 && !w->to_stdout)
    close(w->fd);
  if (w->rootfd >= 0)
    close(w->rootfd);
  if (w->parentfd >= 0)
    close(w->parentfd);
  free(w->done.v);
  free(w->name);
  free(w);
}

enum wh_code cli_layout_commit(struct cli_layout_out *w, struct wh_err *err)
{
  int sync_fd = w->tar ? w->fd : w->rootfd;
  enum wh_code rc = WH_OK;

  if (w->a && la.archive_write_close(w->a) != ARCHIVE_OK)
    rc = wh_err_set(err, WH_EIO, la.archive_errno(w->a), "tar: %s", la.archive_error_string(w->a));
  if (rc == WH_OK && w->to_stdout) {
    out_free(w);
    return WH_OK;
  }
  if (rc == WH_OK && (w->tar ? fsync(sync_fd) : syncfs(sync_fd)) != 0)
    rc = wh_err_set(err, WH_EIO, errno, "sync \"%s\"", w->name);
  if (rc == WH_OK && renameat(w->parentfd, w->tmp, w->parentfd, w->name) != 0)
    rc = wh_err_set(err, WH_EIO, errno, "rename into \"%s\"", w->name);
  if (rc != WH_OK) {
    cli_layout_abort(w);
    return rc;
  }
  rc = wh_fsync_fd(w->parentfd, err);
  out_free(w);
  return rc;
}

void cli_layout_abort(struct cli_layout_out *w)
{
  if (w == NULL)
    return;
  if (w->parentfd >= 0 && w->tmp[0])
    rm_tree_at(w->parentfd, w->tmp, 0);
  out_free(w);
}

/* ---- reading ------------------------------------------------------------------------ */

struct cli_layout_in {
  struct store *s;
  int dirfd;           /* a directory layout, or -1 for a tar */
  struct wh_buf file;  /* oci-layout */
  struct wh_buf index; /* index.json */
  bool has_file, has_index;
  char staging[64];      /* tar: the staging repository */
  struct digests staged; /* tar: blobs linked to it */
};

/* A blob file of a directory layout: blobs/<alg>/<hex>, no symlink anywhere. */
static enum wh_code open_blob_file(int dirfd, const struct wh_digest *d, int *fd_out, struct stat *st,
                                   struct wh_err *err)
{
  WH_AUTOCLOSE int blobs = openat(dirfd, "blobs", O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
  WH_AUTOCLOSE int alg = -1;
  WH_AUTOCLOSE int fd = -1;

  if (blobs >= 0)
    alg = openat(blobs, wh_digest_alg_name(d->alg), O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
  if (alg >= 0)
    fd = openat(alg, wh_digest_hex(d), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0 && errno == ENOENT)
    return wh_err_set(err, WH_ENOTFOUND, 0, "blob %s: not in the layout", d->str);
  if (fd < 0)
    return wh_err_set(err, WH_EINVALID, errno, "blob %s: cannot open its file (no symlinks)", d->str);
  if (fstat(fd, st) != 0 || !S_ISREG(st->st_mode))
    return wh_err_set(err, WH_EINVALID, 0, "blob %s: not a regular file", d->str);
  *fd_out = wh_steal_fd(&fd);
  return WH_OK;
}

/* ---- tar: one pass at open ------------------------------------------------------ */

/* Normalises an entry name in place ("./" and "/" runs); WH_EDENIED when
 * it is absolute or climbs with "..". */
static enum wh_code tar_name(char *name, struct wh_err *err)
{
  char *r = name, *w = name;

  if (name[0] == '/')
    return wh_err_set(err, WH_EDENIED, 0, "archive entry \"%.200s\": an absolute name", name);
  while (*r) {
    size_t n = strcspn(r, "/");
    if (n == 2 && r[0] == '.' && r[1] == '.')
      return wh_err_set(err, WH_EDENIED, 0, "archive entry \"%.200s\": climbs out with \"..\"", name);
    if (n > 0 && !(n == 1 && r[0] == '.')) {
      if (w != name)
        *w++ = '/';
      memmove(w, r, n);
      w += n;
    }
    r += n;
    while (*r == '/')
      r++;
  }
  *w = '\0';
  return WH_OK;
}

/* "blobs/<alg>/<hex>" -> digest; false for any other name. */
static bool blob_name(const char *name, struct wh_digest *d)
{
  char s[WH_DIGEST_STR_MAX];
  const char *alg, *hex;

  if (strncmp(name, "blobs/", 6) != 0 || (hex = strchr(alg = name + 6, '/')) == NULL || strchr(hex + 1, '/'))
    return false;
  if ((size_t)(hex - alg) > 8 || strlen(hex + 1) > 128)
    return false;
  snprintf(s, sizeof(s), "%.*s:%s", (int)(hex - alg), alg, hex + 1);
  return wh_digest_parsez(s, d, NULL) == WH_OK;
}

static enum wh_code tar_small(struct archive *a, struct wh_buf *b, const char *name, struct wh_err *err)
{
  char buf[16384];
  la_ssize_t n;

  wh_buf_reset(b);
  while ((n = la.archive_read_data(a, buf, sizeof(buf))) > 0)
    if (wh_buf_append(b, buf, (size_t)n) != WH_OK)
      return wh_err_set(err, WH_ETOOBIG, 0, "%s: over %zu bytes", name, b->max);
  if (n < 0)
    return wh_err_set(err, WH_EINVALID, la.archive_errno(a), "archive: %s", la.archive_error_string(a));
  return WH_OK;
}

/* The current entry's bytes into the store as blob d (staged). */
static enum wh_code tar_blob(struct cli_layout_in *l, struct archive *a, const struct wh_digest *d,
                             struct wh_err *err)
{
  char id[STORE_UPLOAD_ID_LEN + 1];
  struct store_upload *u = NULL;
  const void *p;
  size_t n;
  la_int64_t off;
  int r;
  enum wh_code rc;

  if ((rc = store_upload_start(l->s, l->staging, id, err)) != WH_OK ||
      (rc = store_upload_get(l->s, l->staging, id, &u, err)) != WH_OK)
    return rc;
  while ((r = la.archive_read_data_block(a, &p, &n, &off)) == ARCHIVE_OK && rc == WH_OK)
    if ((uint64_t)off != store_upload_size(u) || (rc = store_upload_write(u, p, n, err)) != WH_OK)
      rc = rc != WH_OK ? rc : wh_err_set(err, WH_EINVALID, 0, "archive: a sparse blob entry");
  if (rc == WH_OK && r != ARCHIVE_EOF)
    rc = wh_err_set(err, WH_EINVALID, la.archive_errno(a), "archive: %s", la.archive_error_string(a));
  if (rc != WH_OK) {
    store_upload_release(u);
    store_upload_cancel(l->s, l->staging, id, NULL);
    return wh_err_wrap(err, "blob %s", d->str);
  }
  if ((rc = store_upload_finish(u, d, NULL, err)) == WH_EDIGEST)
    return wh_err_set(err, WH_EDIGEST, 0, "blob %s in the archive: digest mismatch", d->str);
  return rc;
}

/* Stages blob d unless it is there already (in the store: just linked). */
static enum wh_code tar_stage(struct cli_layout_in *l, struct archive *a, struct archive_entry *e,
                              const struct wh_digest *d, struct wh_err *err)
{
  uint64_t size;
  enum wh_code rc;

  if (la.archive_entry_filetype(e) != AE_IFREG || la.archive_entry_hardlink(e) != NULL)
    return wh_err_set(err, WH_EINVALID, 0, "archive: blob %s is not a regular file", d->str);
  if (digests_has(&l->staged, d))
    return WH_OK;
  rc = WH_ENOTFOUND;
  if (store_blob_stat(l->s, NULL, d, &size, NULL) == WH_OK && la.archive_entry_size_is_set(e) &&
      (uint64_t)la.archive_entry_size(e) == size) /* linked nowhere (a manifest's own bytes): copied */
    rc = store_blob_mount(l->s, l->staging, d, NULL, NULL);
  if (rc == WH_ENOTFOUND)
    rc = tar_blob(l, a, d, err);
  return rc == WH_OK ? digests_add(&l->staged, d, err) : rc;
}

static enum wh_code tar_entry(struct cli_layout_in *l, struct archive *a, struct archive_entry *e,
                              struct wh_err *err)
{
  WH_AUTOFREE char *name = strdup(la.archive_entry_pathname(e) ? la.archive_entry_pathname(e) : "");
  bool reg = la.archive_entry_filetype(e) == AE_IFREG && la.archive_entry_hardlink(e) == NULL;
  struct wh_digest d;
  enum wh_code rc;

  if (name == NULL)
    return wh_err_set(err, WH_ENOMEM, 0, "out of memory");
  if ((rc = tar_name(name, err)) != WH_OK)
    return rc;
  if (reg && strcmp(name, CLI_LAYOUT_FILE) == 0) {
    l->has_file = true;
    return tar_small(a, &l->file, name, err);
  }
  if (reg && strcmp(name, CLI_LAYOUT_INDEX) == 0) {
    l->has_index = true;
    return tar_small(a, &l->index, name, err);
  }
  if (blob_name(name, &d))
    return tar_stage(l, a, e, &d, err);
  return WH_OK; /* anything else is not ours: skipped */
}

static enum wh_code read_tar(struct cli_layout_in *l, int fd, struct wh_err *err)
{
  AUTOARCHIVE_READ struct archive *a = la_load(err) == WH_OK ? la.archive_read_new() : NULL;
  struct archive_entry *e;
  char rnd[17];
  size_t n = 0;
  int r;
  enum wh_code rc;

  if (a == NULL)
    return err && err->code == WH_EUNSUPPORTED ? WH_EUNSUPPORTED
                                               : wh_err_set(err, WH_ENOMEM, 0, "out of memory");
  if ((rc = wh_random_hex(rnd, 8, err)) != WH_OK)
    return rc;
  snprintf(l->staging, sizeof(l->staging), STAGING_PREFIX "%s", rnd);
  la.archive_read_support_format_tar(a);
  la.archive_read_support_filter_gzip(a);
  la.archive_read_support_filter_bzip2(a);
  la.archive_read_support_filter_xz(a);
  la.archive_read_support_filter_zstd(a);
  if (la.archive_read_open_fd(a, fd, IO_CHUNK) != ARCHIVE_OK)
    return wh_err_set(err, WH_EINVALID, la.archive_errno(a), "archive: %s", la.archive_error_string(a));
  while ((r = la.archive_read_next_header(a, &e)) == ARCHIVE_OK || r == ARCHIVE_WARN) {
    if (++n > ENTRIES_MAX)
      return wh_err_set(err, WH_ETOOBIG, 0, "archive: more than %d entries", ENTRIES_MAX);
    if ((rc = tar_entry(l, a, e, err)) != WH_OK)
      return rc;
  }
  if (r != ARCHIVE_EOF)
    return wh_err_set(err, WH_EINVALID, la.archive_errno(a), "archive: %s", la.archive_error_string(a));
  return WH_OK;
}

/* ---- reading: public -------------------------------------------------------------- */

enum wh_code cli_layout_open(struct store *s, const char *path, struct cli_layout_in **out,
                             struct wh_err *err)
{
  struct cli_layout_in *l = calloc(1, sizeof(*l));
  bool std_in = strcmp(path, "-") == 0;
  WH_AUTOCLOSE int fd = -1;
  struct stat st;
  enum wh_code rc = WH_OK;

  if (l == NULL)
    return wh_err_set(err, WH_ENOMEM, 0, "out of memory");
  l->s = s;
  l->dirfd = -1;
  wh_buf_init(&l->file, CLI_LAYOUT_FILE_MAX);
  wh_buf_init(&l->index, WH_MANIFEST_MAX);
  fd = std_in ? fcntl(STDIN_FILENO, F_DUPFD_CLOEXEC, 3) : open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0 || fstat(fd, &st) != 0)
    rc = wh_err_set(err, WH_EIO, errno, "open \"%s\"", path);
  else if (S_ISDIR(st.st_mode) && !std_in)
    l->dirfd = wh_steal_fd(&fd);
  else if (fcntl(fd, F_SETFL, 0) != 0)
    rc = wh_err_set(err, WH_EIO, errno, "open \"%s\"", path);
  else
    rc = read_tar(l, fd, err);
  if (rc != WH_OK) {
    cli_layout_close(l);
    return rc;
  }
  *out = l;
  return WH_OK;
}

static enum wh_code check_version(const struct wh_buf *b, struct wh_err *err)
{
  json_auto_t *j = json_loadb(b->data ? b->data : "", b->len, 0, NULL);
  const char *v = json_string_value(json_object_get(j, "imageLayoutVersion"));

  if (v == NULL)
    return wh_err_set(err, WH_EINVALID, 0, "not an OCI image layout (oci-layout has no imageLayoutVersion)");
  if (strncmp(v, "1.", 2) != 0)
    return wh_err_set(err, WH_EUNSUPPORTED, 0, "OCI image layout version \"%.20s\" is not supported", v);
  return WH_OK;
}

enum wh_code cli_layout_index(struct cli_layout_in *l, const struct wh_buf **out, struct wh_err *err)
{
  enum wh_code rc;

  if (l->dirfd < 0 && (!l->has_file || !l->has_index))
    return wh_err_set(err, WH_EINVALID, 0, "not an OCI image layout (no %s in the archive)",
                      l->has_file ? CLI_LAYOUT_INDEX : CLI_LAYOUT_FILE);
  if (l->dirfd >= 0 && (rc = wh_read_file_at(l->dirfd, CLI_LAYOUT_FILE, &l->file, err)) != WH_OK)
    return rc == WH_ETOOBIG ? rc : wh_err_set(err, WH_EINVALID, 0, "not an OCI image layout (no oci-layout)");
  if ((rc = check_version(&l->file, err)) != WH_OK)
    return rc;
  if (l->dirfd >= 0 && (rc = wh_read_file_at(l->dirfd, CLI_LAYOUT_INDEX, &l->index, err)) != WH_OK)
    return wh_err_wrap(err, "index.json");
  *out = &l->index;
  return WH_OK;
}

enum wh_code cli_layout_read_blob(struct cli_layout_in *l, const struct wh_descriptor *d, struct wh_buf *b,
                                  struct wh_err *err)
{
  WH_AUTOCLOSE int fd = -1;
  struct wh_digest got;
  struct stat st;
  uint64_t size = 0;
  enum wh_code rc = WH_OK;

  if (d->size > b->max)
    return wh_err_set(err, WH_ETOOBIG, 0, "blob %s: %llu bytes is over %zu", d->digest.str,
                      (unsigned long long)d->size, b->max);
  if (l->dirfd >= 0 && (rc = open_blob_file(l->dirfd, &d->digest, &fd, &st, err)) == WH_OK)
    size = (uint64_t)st.st_size;
  else if (l->dirfd < 0)
    rc = store_blob_open(l->s, l->staging, &d->digest, &fd, &size, err);
  if (rc != WH_OK)
    return rc == WH_ENOTFOUND ? wh_err_set(err, WH_ENOTFOUND, 0, "blob %s: not in the layout", d->digest.str)
                              : rc;
  if (size != d->size)
    return wh_err_set(err, WH_EDIGEST, 0, "blob %s: size mismatch (%llu bytes, the descriptor says %llu)",
                      d->digest.str, (unsigned long long)size, (unsigned long long)d->size);
  wh_buf_reset(b);
  if ((rc = wh_read_fd(fd, b, err)) != WH_OK)
    return wh_err_wrap(err, "blob %s", d->digest.str);
  wh_digest_buf(d->digest.alg, b->data ? b->data : "", b->len, &got);
  if (b->len != d->size || !wh_digest_eq(&got, &d->digest))
    return wh_err_set(err, WH_EDIGEST, 0, "blob %s: digest mismatch", d->digest.str);
  return WH_OK;
}

enum wh_code cli_layout_import_blob(struct cli_layout_in *l, const char *repo, const struct wh_descriptor *d,
                                    struct wh_err *err)
{
  WH_AUTOCLOSE int fd = -1;
  struct stat st;
  uint64_t size;
  enum wh_code rc;

  if (store_blob_stat(l->s, NULL, &d->digest, &size, NULL) == WH_OK) {
    if (size != d->size)
      return wh_err_set(err, WH_EDIGEST, 0, "blob %s: size mismatch (%llu bytes, the descriptor says %llu)",
                        d->digest.str, (unsigned long long)size, (unsigned long long)d->size);
    /* a tar staged all it has; a blob linked nowhere is copied from the directory */
    rc = store_blob_mount(l->s, repo, &d->digest, l->dirfd < 0 ? l->staging : NULL, err);
    if (rc != WH_ENOTFOUND || l->dirfd < 0)
      return rc;
  }
  if (l->dirfd < 0)
    return wh_err_set(err, WH_ENOTFOUND, 0, "blob %s: not in the archive", d->digest.str);
  if ((rc = open_blob_file(l->dirfd, &d->digest, &fd, &st, err)) != WH_OK)
    return rc;
  if ((uint64_t)st.st_size != d->size)
    return wh_err_set(err, WH_EDIGEST, 0, "blob %s: size mismatch (%llu bytes, the descriptor says %llu)",
                      d->digest.str, (unsigned long long)st.st_size, (unsigned long long)d->size);
  return cli_blob_put_fd(l->s, repo, &d->digest, fd, d->size, err);
}

bool cli_layout_has_blob(struct cli_layout_in *l, const struct wh_digest *d)
{
  WH_AUTOCLOSE int fd = -1;
  struct stat st;

  if (l->dirfd < 0)
    return digests_has(&l->staged, d);
  return open_blob_file(l->dirfd, d, &fd, &st, NULL) == WH_OK;
}

void cli_layout_close(struct cli_layout_in *l)
{
  if (l == NULL)
    return;
  for (size_t i = 0; i < l->staged.n; i++)
    store_blob_unlink(l->s, l->staging, &l->staged.v[i], NULL);
  if (l->dirfd >= 0)
    close(l->dirfd);
  wh_buf_release(&l->file);
  wh_buf_release(&l->index);
  free(l->staged.v);
  free(l);
}
