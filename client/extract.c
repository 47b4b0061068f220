/* client/extract.c - extraction of one OCI layer: libarchive reads the tar
 * that extract_stream.c decompresses and hashes, and each entry becomes a
 * file, directory, link, fifo or device below the root (contract and
 * invariants in extract.h).
 *
 * One entry, in order:
 *   name -> xp_clean() (".." above the root refused, caps)
 *        -> "" : the root itself (a directory, or refused)
 *        -> basename ".wh.*" : whiteout() / opaque()
 *        -> parent resolved inside the root (xp_parent(); missing
 *           parents made 0755), last component created with an *at call
 *           that never follows it (O_CREAT|O_EXCL|O_NOFOLLOW, mkdirat,
 *           symlinkat, linkat without AT_SYMLINK_FOLLOW, mknodat); what
 *           was there is removed first (a directory stays a directory)
 *        -> owner, xattrs, mode, times through the new file's fd or with
 *           AT_SYMLINK_NOFOLLOW; a directory's mode and times wait until
 *           the end (its children would change its mtime, and a read-only
 *           mode would stop them being written): apply_dirs().
 * In apply mode every path the layer writes goes into a set, so that a
 * whiteout or an opaque marker only removes what lower layers left.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "client/archive-lazy.h"
#include "client/extract-int.h"
#include "common/cleanup.h"
#include "common/fsutil.h"

#define WHITEOUT_PREFIX ".wh."
#define WHITEOUT_META_PREFIX ".wh..wh."
#define WHITEOUT_OPAQUE ".wh..wh..opq"
#define DIR_PATHS_MAX (64u << 20) /* bytes of deferred directory paths */

/* A directory whose mode and times are set at the end. */
struct xdir {
  size_t path_off; /* into xctx.dir_paths */
  dev_t dev;
  ino_t ino;
  mode_t mode;
  struct timespec times[2];
};

struct xctx {
  const struct cli_extract_opts *o;
  struct cli_extract_result *r;
  struct wh_err *err;
  struct xp_root root;
  struct xp_set layer; /* apply mode: paths this layer wrote */
  struct xdir *dirs;   /* owned */
  size_t n_dirs, cap_dirs;
  struct wh_buf dir_paths;
  const char *ns;    /* overlay xattr namespace: "trusted" or "user" */
  struct xstream *s; /* borrowed */
  /* the current entry */
  struct archive *a;
  struct archive_entry *e;
  char shown[160]; /* its name, printable, for messages */
  char path[PATH_MAX];
  char parent[PATH_MAX];
  const char *base;
};

static bool apply_mode(const struct xctx *x)
{
  return x->o->mode == CLI_EXTRACT_APPLY;
}

/* A printable, bounded copy of an archive name for messages. */
static void show(char *out, size_t size, const char *name)
{
  size_t i = 0;

  for (; name[i] && i + 4 < size; i++)
    out[i] = (name[i] >= 0x20 && name[i] < 0x7f && name[i] != '"') ? name[i] : '?';
  if (name[i]) {
    memcpy(out + i, "...", 3);
    i += 3;
  }
  out[i] = '\0';
}

static enum wh_code fail(struct xctx *x, enum wh_code code, int errnum, const char *what)
{
  return wh_err_set(x->err, code, errnum, "entry \"%s\": %s", x->shown, what);
}

static enum wh_code fail_errno(struct xctx *x, int neg_or_errno, const char *what)
{
  int e = neg_or_errno < 0 ? -neg_or_errno : neg_or_errno;

  return fail(x, e == ENOMEM ? WH_ENOMEM : WH_EIO, e, what);
}

static enum wh_code remember(struct xctx *x, const char *path)
{
  if (!apply_mode(x))
    return WH_OK;
  return xp_set_add(&x->layer, path, strlen(path), x->err);
}

static enum wh_code archive_fail(struct xctx *x, const char *when);

/* ---- making room and parents ------------------------------------------- */

/* Removes whatever is at pfd/base so that a new entry can take its place;
 * *kept_dir (optional) is set instead when it is a directory and want_dir. */
static enum wh_code clear_way(struct xctx *x, int pfd, bool want_dir, bool *kept_dir)
{
  struct stat st;
  int rc;

  if (fstatat(pfd, x->base, &st, AT_SYMLINK_NOFOLLOW) < 0)
    return errno == ENOENT ? WH_OK : fail_errno(x, errno, "stat existing file");
  if (want_dir && S_ISDIR(st.st_mode)) {
    *kept_dir = true;
    return WH_OK;
  }
  xp_invalidate(&x->root);
  rc = xp_rmtree_at(pfd, x->base, 0);
  return rc < 0 ? fail_errno(x, rc, "remove existing file") : WH_OK;
}

/* Creates directory name below cur, 0755 whatever the umask, and opens it. */
static int new_parent(int cur, const char *name)
{
  int fd;

  if (mkdirat(cur, name, 0755) < 0)
    return errno == EEXIST ? -ENOTDIR : -errno; /* a dangling symlink, or a file */
  fd = openat(cur, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return -errno;
  if (fchmod(fd, 0755) < 0) {
    int e = errno;

    close(fd);
    return -e;
  }
  return fd;
}

/* mkdir -p of clean path `dir` inside the root, owned by the caller. */
static enum wh_code make_parents(struct xctx *x, const char *dir)
{
  char prefix[PATH_MAX];
  size_t len = 0;
  enum wh_code rc;
  WH_AUTOCLOSE int cur = xp_open_dir(&x->root, "");

  if (cur < 0)
    return fail_errno(x, cur, "open root");
  while (dir[len]) {
    size_t n = strcspn(dir + len, "/");
    char name[NAME_MAX + 1];
    int next;

    memcpy(name, dir + len, n);
    name[n] = '\0';
    memcpy(prefix, dir, len + n);
    prefix[len + n] = '\0';
    len += n + (dir[len + n] == '/');
    next = xp_open_dir(&x->root, prefix);
    if (next == -ENOENT && (next = new_parent(cur, name)) >= 0 && (rc = remember(x, prefix)) != WH_OK) {
      close(next);
      return rc;
    }
    if (next < 0)
      return fail_errno(x, next, "create parent directory");
    close(cur);
    cur = next;
  }
  return WH_OK;
}

/* The current entry's parent directory (borrowed), made when missing. */
static enum wh_code parent_fd(struct xctx *x, int *out)
{
  enum wh_code rc;
  int fd = xp_parent(&x->root, x->parent);

  if (fd == -ENOENT) {
    if ((rc = make_parents(x, x->parent)) != WH_OK)
      return rc;
    fd = xp_parent(&x->root, x->parent);
  }
  if (fd < 0)
    return fail_errno(x, fd, "open parent directory");
  *out = fd;
  return WH_OK;
}

/* ---- metadata -------------------------------------------------------------- */

/* Maps an archive id; false when it cannot be used. */
static bool map_id(const struct xctx *x, int64_t id, uint32_t base, uint32_t *out)
{
  if (id < 0 || id >= (int64_t)UINT32_MAX)
    return false;
  if (x->o->id_count == 0) {
    *out = (uint32_t)id;
    return true;
  }
  if (id >= (int64_t)x->o->id_count || (uint64_t)base + (uint64_t)id >= UINT32_MAX)
    return false;
  *out = base + (uint32_t)id;
  return true;
}

/* chown through fd, or pfd/base without following it when fd < 0. */
static enum wh_code set_owner(struct xctx *x, int fd, int pfd, const char *base)
{
  uint32_t uid, gid;
  int rc, e = EINVAL;

  if (x->o->owner == CLI_EXTRACT_OWNER_NONE)
    return WH_OK;
  if (map_id(x, archive_entry_uid(x->e), x->o->uid_base, &uid) &&
      map_id(x, archive_entry_gid(x->e), x->o->gid_base, &gid)) {
    rc = fd >= 0 ? fchown(fd, uid, gid) : fchownat(pfd, base, uid, gid, AT_SYMLINK_NOFOLLOW);
    if (rc == 0)
      return WH_OK;
    e = errno;
  }
  if (x->o->owner == CLI_EXTRACT_OWNER_TRY && (e == EPERM || e == EINVAL)) {
    x->r->chown_failed++;
    return WH_OK;
  }
  return fail(x, WH_EIO, e, "chown");
}

static mode_t entry_mode(const struct xctx *x, bool dir)
{
  mode_t m = archive_entry_perm(x->e) & 07777;

  if (!dir && !(x->o->flags & CLI_EXTRACT_KEEP_SUID))
    m &= (mode_t) ~(S_ISUID | S_ISGID);
  return m;
}

static void entry_times(const struct xctx *x, struct timespec t[2])
{
  t[1].tv_sec = archive_entry_mtime(x->e);
  t[1].tv_nsec = archive_entry_mtime_nsec(x->e);
  if (archive_entry_atime_is_set(x->e)) {
    t[0].tv_sec = archive_entry_atime(x->e);
    t[0].tv_nsec = archive_entry_atime_nsec(x->e);
  } else
    t[0] = t[1];
  if (t[0].tv_nsec < 0 || t[0].tv_nsec > 999999999)
    t[0].tv_nsec = 0;
  if (t[1].tv_nsec < 0 || t[1].tv_nsec > 999999999)
    t[1].tv_nsec = 0;
}

/* Only user xattrs and file capabilities: never trusted.* or the overlay
 * namespaces (an image must not forge whiteouts, opaque directories or
 * redirects), nor other security.* labels. */
static bool xattr_wanted(const char *name)
{
  if (strncmp(name, "user.", 5) == 0)
    return strncmp(name, "user.overlay.", 13) != 0;
  return strcmp(name, "security.capability") == 0;
}

static enum wh_code set_xattrs(struct xctx *x, int fd)
{
  const char *name;
  const void *value;
  size_t size;

  if (archive_entry_xattr_reset(x->e) == 0)
    return WH_OK;
  while (archive_entry_xattr_next(x->e, &name, &value, &size) == ARCHIVE_OK) {
    if ((x->o->flags & CLI_EXTRACT_NO_XATTRS) || !xattr_wanted(name) || fd < 0) {
      x->r->xattrs_skipped++;
      continue;
    }
    if (fsetxattr(fd, name, value, size, 0) == 0)
      continue;
    if (errno == ENOSPC || errno == EDQUOT || errno == EIO)
      return fail(x, WH_EIO, errno, "set xattr");
    x->r->xattrs_skipped++;
  }
  return WH_OK;
}

/* Caps what libarchive already parsed: xattr count and bytes. */
static enum wh_code check_xattrs(struct xctx *x)
{
  const char *name;
  const void *value;
  size_t size, total = 0;
  int n = archive_entry_xattr_reset(x->e);

  if (n > CLI_EXTRACT_MAX_XATTRS)
    return fail(x, WH_ETOOBIG, 0, "too many xattrs");
  while (archive_entry_xattr_next(x->e, &name, &value, &size) == ARCHIVE_OK) {
    total += strlen(name) + size;
    if (strlen(name) > XATTR_NAME_MAX || size > XATTR_SIZE_MAX || total > CLI_EXTRACT_MAX_XATTR_BYTES)
      return fail(x, WH_ETOOBIG, 0, "xattrs too large");
  }
  return WH_OK;
}

/* Owner, xattrs, mode and times of a regular file, through its fd. */
static enum wh_code finish_fd(struct xctx *x, int fd)
{
  struct timespec t[2];
  enum wh_code rc;

  if ((rc = set_owner(x, fd, -1, NULL)) != WH_OK || (rc = set_xattrs(x, fd)) != WH_OK)
    return rc;
  if (fchmod(fd, entry_mode(x, false)) < 0)
    return fail(x, WH_EIO, errno, "chmod");
  entry_times(x, t);
  if (futimens(fd, t) < 0)
    return fail(x, WH_EIO, errno, "set times");
  return WH_OK;
}

/* Owner, mode (unless symlink) and times of pfd/base, never following it. */
static enum wh_code finish_at(struct xctx *x, int pfd, bool is_link)
{
  struct timespec t[2];
  enum wh_code rc;

  if ((rc = set_owner(x, -1, pfd, x->base)) != WH_OK)
    return rc;
  if (!is_link && fchmodat(pfd, x->base, entry_mode(x, false), AT_SYMLINK_NOFOLLOW) < 0) {
    if (errno != EOPNOTSUPP && errno != ENOTSUP)
      return fail(x, WH_EIO, errno, "chmod");
    /* no fchmodat2 and no /proc: the node was just made by us, not a link */
    if (fchmodat(pfd, x->base, entry_mode(x, false), 0) < 0)
      return fail(x, WH_EIO, errno, "chmod");
  }
  entry_times(x, t);
  if (utimensat(pfd, x->base, t, AT_SYMLINK_NOFOLLOW) < 0)
    return fail(x, WH_EIO, errno, "set times");
  return WH_OK;
}

/* ---- entries --------------------------------------------------------------- */

static enum wh_code copy_data(struct xctx *x, int fd)
{
  const void *buf;
  size_t size;
  la_int64_t off, end = 0;
  uint64_t max = x->o->max_size ? x->o->max_size : CLI_EXTRACT_MAX_SIZE;
  int r;

  /* a sparse entry can claim any size without the bytes to back it */
  if (archive_entry_size_is_set(x->e) && (uint64_t)archive_entry_size(x->e) > max)
    return fail(x, WH_ETOOBIG, 0, "file larger than the layer size cap");
  while ((r = archive_read_data_block(x->a, &buf, &size, &off)) == ARCHIVE_OK) {
    if (size && wh_pwrite_all(fd, buf, size, (uint64_t)off, NULL) != WH_OK)
      return fail(x, WH_EIO, errno, "write");
    end = off + (la_int64_t)size;
  }
  if (r != ARCHIVE_EOF)
    return archive_fail(x, "read tar data");
  if (archive_entry_size_is_set(x->e) && archive_entry_size(x->e) > end &&
      ftruncate(fd, archive_entry_size(x->e)) < 0)
    return fail(x, WH_EIO, errno, "truncate");
  return WH_OK;
}

static enum wh_code make_file(struct xctx *x, int pfd)
{
  WH_AUTOCLOSE int fd = -1;
  enum wh_code rc;

  for (int i = 0; i < 2 && fd < 0; i++) {
    fd = openat(pfd, x->base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0 && (errno != EEXIST || i == 1))
      return fail(x, WH_EIO, errno, "create file");
    if (fd < 0 && (rc = clear_way(x, pfd, false, NULL)) != WH_OK)
      return rc;
  }
  if ((rc = copy_data(x, fd)) != WH_OK || (rc = finish_fd(x, fd)) != WH_OK)
    return rc;
  if (close(wh_steal_fd(&fd)) < 0)
    return fail(x, WH_EIO, errno, "close");
  return remember(x, x->path);
}

static enum wh_code defer_dir(struct xctx *x, int fd)
{
  struct stat st;
  struct xdir *d;

  if (fstat(fd, &st) < 0)
    return fail(x, WH_EIO, errno, "stat directory");
  if (x->n_dirs == x->cap_dirs) {
    size_t cap = x->cap_dirs ? x->cap_dirs * 2 : 64;
    struct xdir *n = reallocarray(x->dirs, cap, sizeof(*n));

    if (n == NULL)
      return fail(x, WH_ENOMEM, 0, "out of memory");
    x->dirs = n;
    x->cap_dirs = cap;
  }
  d = &x->dirs[x->n_dirs];
  d->path_off = x->dir_paths.len;
  if (wh_buf_append(&x->dir_paths, x->path, strlen(x->path) + 1) != WH_OK)
    return fail(x, WH_ETOOBIG, 0, "too many directories");
  d->dev = st.st_dev;
  d->ino = st.st_ino;
  d->mode = entry_mode(x, true);
  entry_times(x, d->times);
  x->n_dirs++;
  return WH_OK;
}

/* Owner and xattrs now, mode and times deferred. */
static enum wh_code finish_dir(struct xctx *x)
{
  WH_AUTOCLOSE int fd = xp_open_dir_rd(&x->root, x->path);
  enum wh_code rc;

  if (fd < 0)
    return fail_errno(x, fd, "open directory");
  if ((rc = set_owner(x, fd, -1, NULL)) != WH_OK || (rc = set_xattrs(x, fd)) != WH_OK)
    return rc;
  return defer_dir(x, fd);
}

static enum wh_code make_dir(struct xctx *x, int pfd)
{
  enum wh_code rc;
  bool kept = false;

  for (int i = 0; i < 2; i++) {
    if (mkdirat(pfd, x->base, 0700) == 0)
      break;
    if (errno != EEXIST || i == 1)
      return fail(x, WH_EIO, errno, "create directory");
    if ((rc = clear_way(x, pfd, true, &kept)) != WH_OK)
      return rc;
    if (kept)
      break;
  }
  if ((rc = remember(x, x->path)) != WH_OK)
    return rc;
  return finish_dir(x);
}

static enum wh_code make_symlink(struct xctx *x, int pfd)
{
  const char *target = archive_entry_symlink(x->e);
  enum wh_code rc;

  if (target == NULL || target[0] == '\0')
    return fail(x, WH_EINVALID, 0, "symlink without a target");
  if (strlen(target) >= PATH_MAX)
    return fail(x, WH_ETOOBIG, 0, "symlink target too long");
  for (int i = 0; i < 2; i++) {
    if (symlinkat(target, pfd, x->base) == 0)
      break;
    if (errno != EEXIST || i == 1)
      return fail(x, WH_EIO, errno, "create symlink");
    if ((rc = clear_way(x, pfd, false, NULL)) != WH_OK)
      return rc;
  }
  if ((rc = finish_at(x, pfd, true)) != WH_OK)
    return rc;
  return remember(x, x->path);
}

static enum wh_code make_hardlink(struct xctx *x, int pfd, const char *link)
{
  char target[PATH_MAX], tparent[PATH_MAX];
  const char *tbase;
  WH_AUTOCLOSE int tfd = -1;
  enum wh_code rc;

  switch (xp_clean(link, target)) {
  case XP_CLEAN_OK:
    break;
  case XP_CLEAN_ESCAPE:
    return fail(x, WH_EDENIED, 0, "hardlink target escapes the root");
  default:
    return fail(x, WH_ETOOBIG, 0, "hardlink target too long");
  }
  if (target[0] == '\0')
    return fail(x, WH_EDENIED, 0, "hardlink to the root directory");
  if (strcmp(target, x->path) == 0)
    return WH_OK; /* a link to itself: nothing to do */
  xp_split(target, tparent, &tbase);
  tfd = xp_open_dir(&x->root, tparent);
  if (tfd < 0)
    return fail_errno(x, tfd, "hardlink target not found");
  for (int i = 0; i < 2; i++) {
    if (linkat(tfd, tbase, pfd, x->base, 0) == 0)
      break;
    if (errno != EEXIST || i == 1)
      return fail(x, WH_EIO, errno, "create hardlink");
    if ((rc = clear_way(x, pfd, false, NULL)) != WH_OK)
      return rc;
  }
  return remember(x, x->path);
}

/* Character and block devices, fifos. */
static enum wh_code make_node(struct xctx *x, int pfd, mode_t type)
{
  dev_t dev = type == S_IFIFO ? 0 : makedev(archive_entry_rdevmajor(x->e), archive_entry_rdevminor(x->e));
  enum wh_code rc;

  if (type != S_IFIFO && (x->o->flags & CLI_EXTRACT_NO_DEVICES)) {
    x->r->devices_skipped++;
    return WH_OK;
  }
  for (int i = 0; i < 2; i++) {
    if (mknodat(pfd, x->base, type | 0600, dev) == 0)
      break;
    if (type != S_IFIFO && errno == EPERM) {
      x->r->devices_skipped++;
      return WH_OK;
    }
    if (errno != EEXIST || i == 1)
      return fail(x, WH_EIO, errno, "create device or fifo");
    if ((rc = clear_way(x, pfd, false, NULL)) != WH_OK)
      return rc;
  }
  if ((rc = finish_at(x, pfd, false)) != WH_OK)
    return rc;
  return remember(x, x->path);
}

/* The entry for the root itself: a directory (owner, mode, times), or
 * refused. */
static enum wh_code root_entry(struct xctx *x)
{
  if (archive_entry_filetype(x->e) != AE_IFDIR || archive_entry_hardlink(x->e))
    return fail(x, WH_EDENIED, 0, "replaces the root directory with a non-directory");
  return finish_dir(x);
}

/* ---- whiteouts ------------------------------------------------------------- */

static enum wh_code set_overlay_xattr(struct xctx *x, const char *dir, const char *what, const char *value)
{
  char name[64], old[4];
  WH_AUTOCLOSE int fd = xp_open_dir_rd(&x->root, dir);
  ssize_t n;

  if (fd < 0)
    return fail_errno(x, fd, "open directory");
  snprintf(name, sizeof(name), "%s.overlay.%s", x->ns, what);
  /* "x" (holds xattr whiteouts) never downgrades "y" (opaque) */
  n = fgetxattr(fd, name, old, sizeof(old));
  if (n == 1 && old[0] == 'y')
    return WH_OK;
  if (fsetxattr(fd, name, value, strlen(value), 0) < 0)
    return fail(x, errno == EPERM ? WH_EDENIED : WH_EIO, errno, "set overlay xattr");
  return WH_OK;
}

/* Overlay mode: a whiteout for pfd/name, as a 0/0 character device or as a
 * zero-size file carrying overlay.whiteout. An entry of this same layer
 * already there wins (a whiteout only hides lower layers). */
static enum wh_code overlay_whiteout(struct xctx *x, int pfd, const char *name)
{
  char xname[64];
  WH_AUTOCLOSE int fd = -1;
  enum wh_code rc;

  if (!(x->o->flags & CLI_EXTRACT_XATTR_WHITEOUTS)) {
    if (mknodat(pfd, name, S_IFCHR | 0, makedev(0, 0)) == 0 || errno == EEXIST)
      return WH_OK;
    if (errno != EPERM && errno != EOPNOTSUPP)
      return fail(x, WH_EIO, errno, "create whiteout");
  }
  fd = openat(pfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd < 0)
    return errno == EEXIST ? WH_OK : fail(x, WH_EIO, errno, "create whiteout");
  snprintf(xname, sizeof(xname), "%s.overlay.whiteout", x->ns);
  if (fsetxattr(fd, xname, "y", 1, 0) < 0)
    return fail(x, errno == EPERM ? WH_EDENIED : WH_EIO, errno, "set whiteout xattr");
  if ((rc = set_overlay_xattr(x, x->parent, "opaque", "x")) != WH_OK)
    return rc;
  return x->parent[0] ? set_overlay_xattr(x, "", "opaque", "x") : WH_OK;
}

/* Apply mode: removes lower-layer entries below directory dfd (at clean
 * path `path`, len bytes in a PATH_MAX buffer) that this layer did not
 * write, descending into the directories it did write. */
static int clear_lower(struct xctx *x, int dfd, char *path, size_t len, int depth)
{
  WH_AUTOCLOSEDIR DIR *d = fdopendir(dfd);
  struct dirent *de;
  int rc = 0;

  if (d == NULL) {
    rc = -errno;
    close(dfd);
    return rc;
  }
  while (rc == 0 && (de = readdir(d)) != NULL) {
    size_t n = strlen(de->d_name), clen = len ? len + 1 + n : n;
    int sub;

    if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
      continue;
    if (clen >= PATH_MAX || depth >= CLI_EXTRACT_MAX_DEPTH) {
      rc = xp_rmtree_at(dirfd(d), de->d_name, 0);
      continue;
    }
    snprintf(path + len, PATH_MAX - len, "%s%s", len ? "/" : "", de->d_name);
    if (!xp_set_has(&x->layer, path, clen))
      rc = xp_rmtree_at(dirfd(d), de->d_name, 0);
    else if ((sub = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) >= 0)
      rc = clear_lower(x, sub, path, clen, depth + 1);
    path[len] = '\0';
  }
  return rc;
}

static enum wh_code opaque(struct xctx *x)
{
  char path[PATH_MAX];
  enum wh_code wrc;
  int fd, rc;

  x->r->whiteouts++;
  if (!apply_mode(x)) {
    if ((wrc = make_parents(x, x->parent)) != WH_OK)
      return wrc;
    return set_overlay_xattr(x, x->parent, "opaque", "y");
  }
  fd = xp_open_dir_rd(&x->root, x->parent);
  if (fd == -ENOENT || fd == -ENOTDIR || fd == -ELOOP)
    return WH_OK; /* nothing there, or not a directory: nothing to hide */
  if (fd < 0)
    return fail_errno(x, fd, "open directory");
  xp_invalidate(&x->root);
  snprintf(path, sizeof(path), "%s", x->parent);
  rc = clear_lower(x, fd, path, strlen(path), 0);
  return rc < 0 ? fail_errno(x, rc, "apply opaque directory") : WH_OK;
}

static enum wh_code whiteout(struct xctx *x)
{
  const char *name = x->base + strlen(WHITEOUT_PREFIX);
  char target[PATH_MAX];
  enum wh_code rc;
  int pfd;

  if (strcmp(x->base, WHITEOUT_OPAQUE) == 0)
    return opaque(x);
  if (strncmp(x->base, WHITEOUT_META_PREFIX, strlen(WHITEOUT_META_PREFIX)) == 0)
    return WH_OK; /* aufs metadata (.wh..wh.plnk, ...): not part of the tree */
  if (name[0] == '\0' || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
    return fail(x, WH_EINVALID, 0, "invalid whiteout name");
  x->r->whiteouts++;
  if (!apply_mode(x)) {
    if ((rc = parent_fd(x, &pfd)) != WH_OK)
      return rc;
    return overlay_whiteout(x, pfd, name);
  }
  if ((size_t)snprintf(target, sizeof(target), "%s%s%s", x->parent, x->parent[0] ? "/" : "", name) >=
      sizeof(target))
    return fail(x, WH_ETOOBIG, 0, "path too long");
  if (xp_set_has(&x->layer, target, strlen(target)))
    return WH_OK; /* written by this layer: a whiteout hides lower layers only */
  pfd = xp_parent(&x->root, x->parent);
  if (pfd == -ENOENT || pfd == -ENOTDIR)
    return WH_OK; /* nothing there to hide */
  if (pfd < 0)
    return fail_errno(x, pfd, "open directory");
  xp_invalidate(&x->root);
  pfd = xp_rmtree_at(pfd, name, 0);
  return pfd < 0 ? fail_errno(x, pfd, "apply whiteout") : WH_OK;
}

/* ---- the loop ------------------------------------------------------------- */

static enum wh_code check_names(struct xctx *x, const char *name)
{
  show(x->shown, sizeof(x->shown), name);
  switch (xp_clean(name, x->path)) {
  case XP_CLEAN_OK:
    return check_xattrs(x);
  case XP_CLEAN_ESCAPE:
    return fail(x, WH_EDENIED, 0, "path escapes the root");
  case XP_CLEAN_TOOLONG:
    return fail(x, WH_ETOOBIG, 0, "path too long or too deep");
  default:
    return fail(x, WH_EINVALID, 0, "path component too long");
  }
}

static enum wh_code do_entry(struct xctx *x)
{
  const char *name = archive_entry_pathname(x->e);
  const char *link = archive_entry_hardlink(x->e);
  enum wh_code rc;
  int pfd;

  if (name == NULL)
    return wh_err_set(x->err, WH_EINVALID, 0, "tar entry without a name");
  if ((rc = check_names(x, name)) != WH_OK)
    return rc;
  if (x->path[0] == '\0')
    return root_entry(x);
  xp_split(x->path, x->parent, &x->base);
  if (strncmp(x->base, WHITEOUT_PREFIX, strlen(WHITEOUT_PREFIX)) == 0)
    return whiteout(x);
  if ((rc = parent_fd(x, &pfd)) != WH_OK)
    return rc;
  if (link)
    return make_hardlink(x, pfd, link);
  switch (archive_entry_filetype(x->e)) {
  case AE_IFREG:
    return make_file(x, pfd);
  case AE_IFDIR:
    return make_dir(x, pfd);
  case AE_IFLNK:
    return make_symlink(x, pfd);
  case AE_IFCHR:
    return make_node(x, pfd, S_IFCHR);
  case AE_IFBLK:
    return make_node(x, pfd, S_IFBLK);
  case AE_IFIFO:
    return make_node(x, pfd, S_IFIFO);
  default:
    return WH_OK; /* sockets and unknown types: nothing to make */
  }
}

/* Mode and times of the directories, deepest (latest) first; the same
 * directory met twice gets what its last entry said. */
static enum wh_code apply_dirs(struct xctx *x)
{
  struct xp_set done;
  enum wh_code rc;

  if ((rc = xp_set_init(&done, x->n_dirs + 1, x->err)) != WH_OK)
    return rc;
  for (size_t i = x->n_dirs; rc == WH_OK && i-- > 0;) {
    const struct xdir *d = &x->dirs[i];
    char key[48];
    struct stat st;
    WH_AUTOCLOSE int fd = xp_open_dir_rd(&x->root, x->dir_paths.data + d->path_off);
    int klen =
        snprintf(key, sizeof(key), "%llx:%llx", (unsigned long long)d->dev, (unsigned long long)d->ino);

    if (fd < 0 || fstat(fd, &st) < 0 || st.st_dev != d->dev || st.st_ino != d->ino)
      continue; /* removed or replaced by a later entry */
    if (xp_set_has(&done, key, (size_t)klen))
      continue;
    if ((rc = xp_set_add(&done, key, (size_t)klen, x->err)) != WH_OK)
      break;
    if (fchmod(fd, d->mode) < 0 || futimens(fd, d->times) < 0)
      rc = wh_err_set(x->err, WH_EIO, errno, "directory \"%.200s\": set mode and times",
                      x->dir_paths.data + d->path_off);
  }
  xp_set_release(&done);
  return rc;
}

static la_ssize_t read_cb(struct archive *a, void *ud, const void **buf)
{
  ssize_t n = xs_read(ud, buf);

  if (n < 0)
    archive_set_error(a, EIO, "layer stream failed");
  return n;
}

/* An archive failure: the stream's own error when it caused it. */
static enum wh_code archive_fail(struct xctx *x, const char *when)
{
  const char *msg = archive_error_string(x->a);

  if (xs_failed(x->s, x->err) != WH_OK)
    return x->err ? x->err->code : xs_failed(x->s, NULL);
  return wh_err_set(x->err, WH_EINVALID, 0, "%s: tar: %s", when, msg ? msg : "unreadable archive");
}

static enum wh_code walk_tar(struct xctx *x)
{
  uint64_t max = x->o->max_entries ? x->o->max_entries : CLI_EXTRACT_MAX_ENTRIES;
  enum wh_code rc = WH_OK;
  int r;

  while (rc == WH_OK && (r = archive_read_next_header(x->a, &x->e)) != ARCHIVE_EOF) {
    if (r != ARCHIVE_OK && r != ARCHIVE_WARN)
      return archive_fail(x, "read tar header");
    if (++x->r->entries > max)
      return wh_err_set(x->err, WH_ETOOBIG, 0, "layer has more than %llu entries", (unsigned long long)max);
    rc = do_entry(x);
  }
  return rc;
}

static enum wh_code check_digests(const struct cli_extract_opts *o, const struct cli_extract_result *r,
                                  struct wh_err *err)
{
  if (o->digest && !wh_digest_eq(o->digest, &r->digest))
    return wh_err_set(err, WH_EDIGEST, 0, "layer digest mismatch: expected %s, got %s", o->digest->str,
                      r->digest.str);
  if (o->diff_id && !wh_digest_eq(o->diff_id, &r->diff_id))
    return wh_err_set(err, WH_EDIGEST, 0, "layer diff_id mismatch: expected %s, got %s", o->diff_id->str,
                      r->diff_id.str);
  return WH_OK;
}

static enum wh_code setup(struct xctx *x, int rootfd, struct wh_err *err)
{
  enum wh_code rc;

  x->err = err;
  x->ns = (x->o->flags & CLI_EXTRACT_USER_XATTR) ? "user" : "trusted";
  xp_root_init(&x->root, rootfd, !(x->o->flags & CLI_EXTRACT_NO_OPENAT2));
  wh_buf_init(&x->dir_paths, DIR_PATHS_MAX);
  if ((rc = xp_set_init(&x->layer, x->o->max_entries ? x->o->max_entries : CLI_EXTRACT_MAX_ENTRIES, err)) !=
      WH_OK)
    return rc;
  x->a = archive_read_new();
  if (x->a == NULL)
    return wh_err_set(err, WH_ENOMEM, 0, "out of memory");
  if (archive_read_support_format_tar(x->a) != ARCHIVE_OK ||
      archive_read_support_format_empty(x->a) != ARCHIVE_OK)
    return wh_err_set(err, WH_EINTERNAL, 0, "libarchive: %s", archive_error_string(x->a));
  return WH_OK;
}

static void teardown(struct xctx *x)
{
  if (x->a)
    archive_read_free(x->a);
  xp_root_release(&x->root);
  xp_set_release(&x->layer);
  wh_buf_release(&x->dir_paths);
  free(x->dirs);
}

void cli_extract_opts_init(struct cli_extract_opts *o)
{
  memset(o, 0, sizeof(*o));
}

enum wh_code cli_extract_layer(int fd, int rootfd, const struct cli_extract_opts *o,
                               struct cli_extract_result *out, struct wh_err *err)
{
  struct cli_extract_opts defaults;
  struct cli_extract_result r = {0};
  struct xctx x = {.o = o, .r = &r};
  struct xstream *s = NULL;
  enum wh_code rc;

  if ((rc = cli_archive_load(err)) != WH_OK)
    return rc;
  if (o == NULL) {
    cli_extract_opts_init(&defaults);
    x.o = o = &defaults;
  }
  if (err)
    err->msg[0] = '\0';
  if ((rc = setup(&x, rootfd, err)) != WH_OK || (rc = xs_open(fd, o, &s, err)) != WH_OK)
    goto out;
  x.s = s;
  if (archive_read_open(x.a, s, NULL, read_cb, NULL) != ARCHIVE_OK) {
    rc = archive_fail(&x, "open tar");
    goto out;
  }
  if ((rc = walk_tar(&x)) != WH_OK || (rc = xs_finish(s, &r, err)) != WH_OK || (rc = apply_dirs(&x)) != WH_OK)
    goto out;
  rc = check_digests(o, &r, err);
  if ((rc == WH_OK || rc == WH_EDIGEST) && out)
    *out = r;
out:
  teardown(&x);
  xs_free(s);
  return rc;
}
