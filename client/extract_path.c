/* client/extract_path.c - confinement for the layer extractor: cleaning
 * archive names, resolving directories inside the root, the set of paths
 * a layer wrote, and removing trees without following symlinks.
 *
 * Resolution is openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS |
 * RESOLVE_NO_XDEV): symlinks are followed as if the root were "/", ".."
 * stops at the root, mount points are not crossed. Where openat2 is
 * missing (ENOSYS, Linux < 5.6) or CLI_EXTRACT_NO_OPENAT2 asks for it,
 * walk() does the same in user space, one component at a time with
 * O_PATH | O_NOFOLLOW, reading symlinks itself and splicing their targets
 * into what is left to resolve (absolute targets restart at the root).
 * Either way the result is an O_PATH directory fd inside the root; the
 * last component of an entry is never resolved here but handled with *at
 * calls relative to that fd.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "client/extract-int.h"
#include "common/cleanup.h"

#define XP_MAX_LINKS 40      /* as the kernel's MAXSYMLINKS */
#define XP_RMTREE_DEPTH 1024 /* directories below the one removed */

/* ---- names ---------------------------------------------------------------- */

enum xp_clean_rc xp_clean(const char *in, char *out)
{
  size_t len = 0;
  int depth = 0;

  out[0] = '\0';
  while (*in) {
    const char *c;
    size_t n;

    while (*in == '/')
      in++;
    c = in;
    while (*in && *in != '/')
      in++;
    n = (size_t)(in - c);
    if (n == 0 || (n == 1 && c[0] == '.'))
      continue;
    if (n == 2 && c[0] == '.' && c[1] == '.') {
      char *slash;

      if (depth == 0)
        return XP_CLEAN_ESCAPE;
      slash = memrchr(out, '/', len);
      len = slash ? (size_t)(slash - out) : 0;
      out[len] = '\0';
      depth--;
      continue;
    }
    if (n > NAME_MAX)
      return XP_CLEAN_BADNAME;
    if (depth >= CLI_EXTRACT_MAX_DEPTH || len + 1 + n >= PATH_MAX)
      return XP_CLEAN_TOOLONG;
    if (len)
      out[len++] = '/';
    memcpy(out + len, c, n);
    len += n;
    out[len] = '\0';
    depth++;
  }
  return XP_CLEAN_OK;
}

void xp_split(const char *p, char *parent, const char **base)
{
  const char *slash = strrchr(p, '/');
  size_t n = slash ? (size_t)(slash - p) : 0;

  memcpy(parent, p, n);
  parent[n] = '\0';
  *base = slash ? slash + 1 : p;
}

/* ---- the path set (SipHash-2-4) ----------------------------------------- */

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                                                             \
  do {                                                                                                       \
    v0 += v1;                                                                                                \
    v1 = ROTL(v1, 13);                                                                                       \
    v1 ^= v0;                                                                                                \
    v0 = ROTL(v0, 32);                                                                                       \
    v2 += v3;                                                                                                \
    v3 = ROTL(v3, 16);                                                                                       \
    v3 ^= v2;                                                                                                \
    v0 += v3;                                                                                                \
    v3 = ROTL(v3, 21);                                                                                       \
    v3 ^= v0;                                                                                                \
    v2 += v1;                                                                                                \
    v1 = ROTL(v1, 17);                                                                                       \
    v1 ^= v2;                                                                                                \
    v2 = ROTL(v2, 32);                                                                                       \
  } while (0)

static uint64_t siphash(const void *p, size_t len, uint64_t k0, uint64_t k1)
{
  uint64_t v0 = 0x736f6d6570736575ull ^ k0, v1 = 0x646f72616e646f6dull ^ k1;
  uint64_t v2 = 0x6c7967656e657261ull ^ k0, v3 = 0x7465646279746573ull ^ k1;
  const unsigned char *in = p;
  size_t left = len & 7;
  const unsigned char *end = in + len - left;
  uint64_t b = (uint64_t)len << 56, m;

  for (; in != end; in += 8) {
    memcpy(&m, in, 8);
    v3 ^= m;
    SIPROUND;
    SIPROUND;
    v0 ^= m;
  }
  for (size_t i = left; i > 0; i--)
    b |= (uint64_t)in[i - 1] << (8 * (i - 1));
  v3 ^= b;
  SIPROUND;
  SIPROUND;
  v0 ^= b;
  v2 ^= 0xff;
  SIPROUND;
  SIPROUND;
  SIPROUND;
  SIPROUND;
  return v0 ^ v1 ^ v2 ^ v3;
}

enum wh_code xp_set_init(struct xp_set *s, size_t max, struct wh_err *err)
{
  uint64_t k[2];

  memset(s, 0, sizeof(*s));
  s->max = max;
  if (getrandom(k, sizeof(k), 0) != (ssize_t)sizeof(k))
    return wh_err_set(err, WH_EIO, errno, "getrandom");
  s->k0 = k[0];
  s->k1 = k[1];
  return WH_OK;
}

void xp_set_release(struct xp_set *s)
{
  free(s->slots);
  s->slots = NULL;
  s->cap = s->n = 0;
}

static uint64_t key_of(const struct xp_set *s, const char *path, size_t len)
{
  uint64_t h = siphash(path, len, s->k0, s->k1);

  return h ? h : 1;
}

static void put(uint64_t *slots, size_t cap, uint64_t h)
{
  size_t i = (size_t)h & (cap - 1);

  while (slots[i] && slots[i] != h)
    i = (i + 1) & (cap - 1);
  slots[i] = h;
}

static enum wh_code grow(struct xp_set *s, struct wh_err *err)
{
  size_t cap = s->cap ? s->cap * 2 : 1024;
  uint64_t *slots = calloc(cap, sizeof(*slots));

  if (slots == NULL)
    return wh_err_set(err, WH_ENOMEM, 0, "out of memory");
  for (size_t i = 0; i < s->cap; i++)
    if (s->slots[i])
      put(slots, cap, s->slots[i]);
  free(s->slots);
  s->slots = slots;
  s->cap = cap;
  return WH_OK;
}

enum wh_code xp_set_add(struct xp_set *s, const char *path, size_t len, struct wh_err *err)
{
  enum wh_code rc;

  if (xp_set_has(s, path, len))
    return WH_OK;
  if (s->n >= s->max)
    return wh_err_set(err, WH_ETOOBIG, 0, "layer has more than %zu paths", s->max);
  if ((s->n + 1) * 2 > s->cap && (rc = grow(s, err)) != WH_OK)
    return rc;
  put(s->slots, s->cap, key_of(s, path, len));
  s->n++;
  return WH_OK;
}

bool xp_set_has(const struct xp_set *s, const char *path, size_t len)
{
  uint64_t h;
  size_t i;

  if (s->cap == 0)
    return false;
  h = key_of(s, path, len);
  for (i = (size_t)h & (s->cap - 1); s->slots[i]; i = (i + 1) & (s->cap - 1))
    if (s->slots[i] == h)
      return true;
  return false;
}

/* ---- resolution ----------------------------------------------------------- */

void xp_root_init(struct xp_root *r, int rootfd, bool use_openat2)
{
  r->rootfd = rootfd;
  r->use_openat2 = use_openat2;
  r->cache_fd = -1;
  r->cache_path[0] = '\0';
}

void xp_root_release(struct xp_root *r)
{
  if (r->cache_fd >= 0)
    close(r->cache_fd);
  r->cache_fd = -1;
}

void xp_invalidate(struct xp_root *r)
{
  /* The fd stays open: a caller may still hold it for the current entry.
   * "/" never matches a clean path, so the next xp_parent() reopens. */
  r->cache_path[0] = '/';
  r->cache_path[1] = '\0';
}

static int open_root_path(int rootfd)
{
  int fd = openat(rootfd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);

  return fd < 0 ? -errno : fd;
}

/* Reopens a path made of real directories only (what walk() resolved). */
static int reopen_real(int rootfd, const char *path)
{
  int cur = open_root_path(rootfd);

  while (cur >= 0 && *path) {
    char name[NAME_MAX + 1];
    size_t n = strcspn(path, "/");
    int next;

    if (n > NAME_MAX) {
      close(cur);
      return -ENAMETOOLONG;
    }
    memcpy(name, path, n);
    name[n] = '\0';
    path += n + (path[n] == '/');
    next = openat(cur, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (next < 0)
      next = -errno;
    close(cur);
    cur = next;
  }
  return cur;
}

/* The state of walk(): what is left to resolve, and where we are. */
struct walk {
  char todo[2 * PATH_MAX];
  size_t pos, len;
  char real[PATH_MAX]; /* the real directories resolved so far */
  size_t rlen;
  dev_t dev;
  int links;
};

/* Replaces what is left with target + "/" + the rest. */
static int splice_target(struct walk *w, const char *target, size_t tlen)
{
  char rest[2 * PATH_MAX];
  size_t rn = w->len - w->pos;

  if (tlen + 1 + rn >= sizeof(w->todo))
    return -ENAMETOOLONG;
  memcpy(rest, w->todo + w->pos, rn);
  memcpy(w->todo, target, tlen);
  w->todo[tlen] = '/';
  memcpy(w->todo + tlen + 1, rest, rn);
  w->len = tlen + 1 + rn;
  w->todo[w->len] = '\0';
  w->pos = 0;
  return 0;
}

/* One component `name` from *cur: descend, follow a symlink, or fail. */
static int walk_step(struct walk *w, int rootfd, int *cur, const char *name)
{
  char target[PATH_MAX];
  struct stat st;
  ssize_t n;
  int fd = openat(*cur, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);

  if (fd < 0)
    return -errno;
  if (fstat(fd, &st) < 0) {
    close(fd);
    return -errno;
  }
  if (S_ISDIR(st.st_mode)) {
    if (st.st_dev != w->dev) {
      close(fd);
      return -EXDEV;
    }
    close(*cur);
    *cur = fd;
    w->rlen +=
        (size_t)snprintf(w->real + w->rlen, sizeof(w->real) - w->rlen, "%s%s", w->rlen ? "/" : "", name);
    return 0;
  }
  if (!S_ISLNK(st.st_mode)) {
    close(fd);
    return -ENOTDIR;
  }
  n = readlinkat(fd, "", target, sizeof(target));
  close(fd);
  if (n < 0)
    return -errno;
  if ((size_t)n >= sizeof(target))
    return -ENAMETOOLONG;
  if (++w->links > XP_MAX_LINKS)
    return -ELOOP;
  if (target[0] == '/') {
    close(*cur);
    *cur = open_root_path(rootfd);
    w->rlen = 0;
    w->real[0] = '\0';
    if (*cur < 0)
      return *cur;
  }
  return splice_target(w, target, (size_t)n);
}

static int walk_dotdot(struct walk *w, int rootfd, int *cur)
{
  char *slash;

  if (w->rlen == 0)
    return 0; /* ".." of the root is the root */
  slash = memrchr(w->real, '/', w->rlen);
  w->rlen = slash ? (size_t)(slash - w->real) : 0;
  w->real[w->rlen] = '\0';
  close(*cur);
  *cur = reopen_real(rootfd, w->real);
  return *cur < 0 ? *cur : 0;
}

static int walk(int rootfd, const char *path)
{
  struct walk *w = calloc(1, sizeof(*w));
  struct stat st;
  int cur, rc = 0;

  if (w == NULL)
    return -ENOMEM;
  if (fstat(rootfd, &st) < 0) {
    free(w);
    return -errno;
  }
  w->dev = st.st_dev;
  w->len = (size_t)snprintf(w->todo, sizeof(w->todo), "%s", path);
  cur = open_root_path(rootfd);
  while (cur >= 0 && rc == 0 && w->pos < w->len) {
    char name[NAME_MAX + 1];
    size_t start, n;

    while (w->pos < w->len && w->todo[w->pos] == '/')
      w->pos++;
    start = w->pos;
    while (w->pos < w->len && w->todo[w->pos] != '/')
      w->pos++;
    n = w->pos - start;
    if (n == 0 || (n == 1 && w->todo[start] == '.'))
      continue;
    if (n > NAME_MAX) {
      rc = -ENAMETOOLONG;
      break;
    }
    memcpy(name, w->todo + start, n);
    name[n] = '\0';
    rc = strcmp(name, "..") == 0 ? walk_dotdot(w, rootfd, &cur) : walk_step(w, rootfd, &cur, name);
  }
  free(w);
  if (rc < 0 || cur < 0) {
    if (cur >= 0)
      close(cur);
    return rc < 0 ? rc : cur;
  }
  return cur;
}

int xp_open_dir(struct xp_root *r, const char *path)
{
  struct open_how how = {
      .flags = O_PATH | O_DIRECTORY | O_CLOEXEC,
      .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV,
  };

  if (path[0] == '\0')
    return open_root_path(r->rootfd);
  for (int tries = 0; r->use_openat2 && tries < 64; tries++) {
    long fd = syscall(SYS_openat2, r->rootfd, path, &how, sizeof(how));

    if (fd >= 0)
      return (int)fd;
    if (errno == ENOSYS)
      r->use_openat2 = false;
    else if (errno != EAGAIN)
      return -errno;
  }
  return walk(r->rootfd, path);
}

int xp_parent(struct xp_root *r, const char *path)
{
  int fd;

  if (r->cache_fd >= 0 && strcmp(r->cache_path, path) == 0)
    return r->cache_fd;
  fd = xp_open_dir(r, path);
  if (fd < 0)
    return fd;
  if (r->cache_fd >= 0)
    close(r->cache_fd);
  r->cache_fd = fd;
  snprintf(r->cache_path, sizeof(r->cache_path), "%s", path);
  return fd;
}

int xp_open_dir_rd(struct xp_root *r, const char *path)
{
  char parent[PATH_MAX];
  const char *base;
  int pfd, fd;

  if (path[0] == '\0')
    fd = openat(r->rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  else {
    xp_split(path, parent, &base);
    pfd = xp_parent(r, parent);
    if (pfd < 0)
      return pfd;
    fd = openat(pfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  }
  return fd < 0 ? -errno : fd;
}

/* ---- removal -------------------------------------------------------------- */

/* Opens dirfd/name as a directory to empty it, opening up its mode once if
 * we lack read, write or search permission. */
static int open_to_empty(int dirfd, const char *name)
{
  int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

  if (fd >= 0 || errno != EACCES)
    return fd < 0 ? -errno : fd;
  if (fchmodat(dirfd, name, 0700, 0) < 0)
    return -errno;
  fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  return fd < 0 ? -errno : fd;
}

static int empty_dir(int fd, int depth)
{
  WH_AUTOCLOSEDIR DIR *d = fdopendir(fd);
  struct dirent *de;
  int rc = 0;

  if (d == NULL) {
    rc = -errno;
    close(fd);
    return rc;
  }
  if (fchmod(fd, 0700) < 0 && errno != EPERM)
    return -errno;
  while (rc == 0 && (errno = 0, de = readdir(d)) != NULL) {
    if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
      continue;
    rc = xp_rmtree_at(dirfd(d), de->d_name, depth + 1);
  }
  if (rc == 0 && errno != 0)
    rc = -errno;
  return rc;
}

int xp_rmtree_at(int dirfd, const char *name, int depth)
{
  int fd, rc;

  if (unlinkat(dirfd, name, 0) == 0 || errno == ENOENT)
    return 0;
  if (errno != EISDIR && errno != EPERM)
    return -errno;
  if (depth >= XP_RMTREE_DEPTH)
    return -ELOOP;
  fd = open_to_empty(dirfd, name);
  if (fd < 0)
    return fd == -ENOENT ? 0 : fd;
  if ((rc = empty_dir(fd, depth)) < 0)
    return rc;
  if (unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
    return -errno;
  return 0;
}

enum wh_code cli_extract_rmtree_at(int dirfd, const char *name, struct wh_err *err)
{
  int rc;

  if (name[0] == '\0' || strcmp(name, ".") == 0 || strcmp(name, "..") == 0 || strchr(name, '/'))
    return wh_err_set(err, WH_EINVALID, 0, "rmtree \"%.200s\": not a single name", name);
  rc = xp_rmtree_at(dirfd, name, 0);
  if (rc < 0)
    return wh_err_set(err, WH_EIO, -rc, "remove \"%.200s\"", name);
  return WH_OK;
}
