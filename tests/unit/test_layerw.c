/* tests/unit/test_layerw.c - unit tests of the layer writer
 * (client/layerw.h).
 *
 * Each test gets a temp directory T: trees are built in T/src (and a lower
 * tree in T/lower), layers are written to T/layer, and read back two ways:
 * with the project's own extractor (client/extract.h, apply mode, digests
 * checked by it) into T/root, compared file by file with what is expected,
 * and as raw tar (decompressed here with libzstd/zlib, listed with
 * libarchive) to check the entries themselves: order, ids, times, and that
 * no overlay xattr ever reaches a layer. Digests are recomputed here over
 * the file and over the decompressed tar. Overlay upper directories are
 * faked (0/0 devices, xattr whiteouts, opaque directories) and, where
 * overlayfs can be mounted, real: the layer of the upper directory applied
 * over a copy of the lower tree must equal what the mount shows. Parts
 * that need root (mknod, trusted.* xattrs, chown, mount) are skipped
 * without it.
 */
#include "config.h"

#include <dirent.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <locale.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <cmocka.h>
#include <zlib.h>
#include <zstd.h>

#include "client/extract.h"
#include "client/layerw.h"
#include "common/digest.h"

#define OLD 1600000000   /* mtimes before the epoch */
#define EPOCH 1700000000 /* source_date_epoch */
#define NEW 1800000000   /* mtimes after it */

/* ---- the fixture ------------------------------------------------------- */

struct fx {
  char tmp[64];
  int tfd; /* T */
};

static int setup(void **state)
{
  struct fx *f = calloc(1, sizeof(*f));

  snprintf(f->tmp, sizeof(f->tmp), "/tmp/wh-layerw-XXXXXX");
  assert_non_null(mkdtemp(f->tmp));
  f->tfd = open(f->tmp, O_PATH | O_DIRECTORY | O_CLOEXEC);
  assert_true(f->tfd >= 0);
  assert_int_equal(mkdirat(f->tfd, "src", 0755), 0);
  *state = f;
  return 0;
}

static int teardown(void **state)
{
  struct fx *f = *state;
  struct wh_err e;
  int tmpfd = open("/tmp", O_PATH | O_DIRECTORY | O_CLOEXEC);
  char merged[96];

  snprintf(merged, sizeof(merged), "%s/merged", f->tmp);
  umount2(merged, MNT_DETACH); /* test_overlay_mount, when it failed */
  close(f->tfd);
  assert_int_equal(cli_extract_rmtree_at(tmpfd, f->tmp + 5, &e), WH_OK);
  close(tmpfd);
  free(f);
  return 0;
}

static bool is_root(void)
{
  return geteuid() == 0;
}

static char *at(const struct fx *f, const char *rel)
{
  static char buf[4][PATH_MAX];
  static int i;

  i = (i + 1) % 4;
  snprintf(buf[i], sizeof(buf[i]), "%s/%s", f->tmp, rel);
  return buf[i];
}

static int dir_fd(const struct fx *f, const char *rel)
{
  int fd = openat(f->tfd, rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

  assert_true(fd >= 0);
  return fd;
}

static void put(const struct fx *f, const char *rel, const void *data, size_t len, mode_t mode)
{
  int fd = openat(f->tfd, rel, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

  assert_true(fd >= 0);
  assert_int_equal(write(fd, data, len), (ssize_t)len);
  assert_int_equal(fchmod(fd, mode), 0);
  close(fd);
}

static void puts_(const struct fx *f, const char *rel, const char *s)
{
  put(f, rel, s, strlen(s), 0644);
}

static void mk(const struct fx *f, const char *rel, mode_t mode)
{
  assert_int_equal(mkdirat(f->tfd, rel, 0700), 0);
  assert_int_equal(fchmodat(f->tfd, rel, mode, 0), 0);
}

static void set_xattr(const struct fx *f, const char *rel, const char *name, const char *value)
{
  if (lsetxattr(at(f, rel), name, value, strlen(value), 0) != 0)
    fail_msg("setxattr %s on %s: %s", name, rel, strerror(errno));
}

static bool try_xattr(const struct fx *f, const char *rel, const char *name, const char *value)
{
  return lsetxattr(at(f, rel), name, value, strlen(value), 0) == 0;
}

static void set_mtime(int dfd, const char *name, time_t t)
{
  struct timespec ts[2] = {{t, 0}, {t, 0}};

  assert_int_equal(utimensat(dfd, name, ts, AT_SYMLINK_NOFOLLOW), 0);
}

/* Sets the mtime (and atime) of everything below dfd to t. */
static void set_all_mtimes(int dfd, time_t t)
{
  DIR *d = fdopendir(dup(dfd));
  struct dirent *de;

  assert_non_null(d);
  while ((de = readdir(d)) != NULL) {
    if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
      continue;
    if (de->d_type == DT_DIR) {
      int sub = openat(dfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

      assert_true(sub >= 0);
      set_all_mtimes(sub, t);
      close(sub);
    }
    set_mtime(dfd, de->d_name, t);
  }
  closedir(d);
}

/* ---- writing and reading layers ------------------------------------------- */

static enum wh_code write_layer(const struct fx *f, const char *src, const struct cli_layerw_opts *o,
                                struct cli_layerw_result *r, struct wh_err *e)
{
  int sfd = dir_fd(f, src);
  int out = openat(f->tfd, "layer", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  enum wh_code rc;

  assert_true(out >= 0);
  memset(r, 0, sizeof(*r));
  rc = cli_layerw_from_dir(sfd, o, out, r, e);
  close(out);
  close(sfd);
  return rc;
}

static void write_ok(const struct fx *f, const char *src, const struct cli_layerw_opts *o,
                     struct cli_layerw_result *r)
{
  struct wh_err e;

  if (write_layer(f, src, o, r, &e) != WH_OK)
    fail_msg("cli_layerw_from_dir: %s", e.msg);
}

struct mem {
  unsigned char *p;
  size_t len, cap;
};

static void mem_add(struct mem *m, const void *p, size_t n)
{
  if (m->len + n > m->cap) {
    m->cap = (m->len + n) * 2;
    m->p = realloc(m->p, m->cap);
    assert_non_null(m->p);
  }
  memcpy(m->p + m->len, p, n);
  m->len += n;
}

static struct mem read_layer_file(const struct fx *f)
{
  struct mem m = {0};
  unsigned char buf[65536];
  int fd = openat(f->tfd, "layer", O_RDONLY | O_CLOEXEC);
  ssize_t n;

  assert_true(fd >= 0);
  while ((n = read(fd, buf, sizeof(buf))) > 0)
    mem_add(&m, buf, (size_t)n);
  close(fd);
  return m;
}

static struct mem unzstd(const struct mem *in)
{
  struct mem m = {0};
  unsigned char buf[65536];
  ZSTD_DStream *z = ZSTD_createDStream();
  ZSTD_inBuffer ib = {in->p, in->len, 0};

  for (;;) {
    ZSTD_outBuffer ob = {buf, sizeof(buf), 0};
    size_t r = ZSTD_decompressStream(z, &ob, &ib);

    assert_false(ZSTD_isError(r));
    mem_add(&m, buf, ob.pos);
    /* done when the (one) frame ended with the input; else not truncated */
    if (r == 0 && ib.pos == ib.size)
      break;
    assert_false(ib.pos == ib.size && ob.pos < ob.size);
  }
  ZSTD_freeDStream(z);
  return m;
}

static struct mem ungzip(const struct mem *in)
{
  struct mem m = {0};
  unsigned char buf[65536];
  z_stream z = {0};
  int zr = Z_OK;

  assert_int_equal(inflateInit2(&z, 16 + MAX_WBITS), Z_OK);
  z.next_in = in->p;
  z.avail_in = (uInt)in->len;
  while (zr != Z_STREAM_END) {
    z.next_out = buf;
    z.avail_out = sizeof(buf);
    zr = inflate(&z, Z_NO_FLUSH);
    assert_true(zr == Z_OK || zr == Z_STREAM_END);
    mem_add(&m, buf, sizeof(buf) - z.avail_out);
  }
  assert_int_equal(z.avail_in, 0);
  inflateEnd(&z);
  return m;
}

/* The layer's tar, decompressed here; checks both digests and sizes of r. */
static struct mem layer_tar(const struct fx *f, const struct cli_layerw_result *r)
{
  struct mem file = read_layer_file(f), tar;
  struct wh_digest d;

  assert_int_equal(file.len, r->compressed_size);
  wh_digest_buf(WH_DIGEST_SHA256, file.p, file.len, &d);
  assert_string_equal(d.str, r->digest.str);
  switch (r->compression) {
  case CLI_LAYERW_ZSTD:
    assert_true(file.len >= 4 && memcmp(file.p, "\x28\xb5\x2f\xfd", 4) == 0);
    tar = unzstd(&file);
    break;
  case CLI_LAYERW_GZIP:
    /* gzip header: no name flag, mtime 0 */
    assert_true(file.len >= 10 && file.p[0] == 0x1f && file.p[1] == 0x8b);
    assert_int_equal(file.p[3] & 0x08, 0);
    assert_memory_equal(file.p + 4, "\0\0\0\0", 4);
    tar = ungzip(&file);
    break;
  default:
    tar = file;
    file.p = NULL;
    break;
  }
  free(file.p);
  assert_int_equal(tar.len, r->size);
  wh_digest_buf(WH_DIGEST_SHA256, tar.p, tar.len, &d);
  assert_string_equal(d.str, r->diff_id.str);
  return tar;
}

static bool mem_has(const struct mem *m, const char *needle)
{
  return memmem(m->p, m->len, needle, strlen(needle)) != NULL;
}

/* One tar entry as libarchive reads it. */
struct tent {
  char name[PATH_MAX];
  char link[PATH_MAX]; /* hardlink target */
  mode_t type, perm;
  int64_t uid, gid, mtime, size;
  bool atime, ctime;
  char xattrs[512]; /* names, space-separated */
};

/* Lists the entries of tar into out[max]; returns their count. */
static size_t list_tar(const struct mem *tar, struct tent *out, size_t max)
{
  struct archive *a = archive_read_new();
  struct archive_entry *e;
  size_t n = 0;
  int rc;

  archive_read_support_format_tar(a);
  assert_int_equal(archive_read_open_memory(a, tar->p, tar->len), ARCHIVE_OK);
  /* ARCHIVE_WARN: a UTF-8 name this C locale cannot show */
  while ((rc = archive_read_next_header(a, &e)) == ARCHIVE_OK || rc == ARCHIVE_WARN) {
    struct tent *t = &out[n++];
    const char *xn;
    const void *xv;
    size_t xs;

    assert_true(n <= max);
    memset(t, 0, sizeof(*t));
    snprintf(t->name, sizeof(t->name), "%s", archive_entry_pathname(e));
    if (archive_entry_hardlink(e))
      snprintf(t->link, sizeof(t->link), "%s", archive_entry_hardlink(e));
    t->type = archive_entry_filetype(e);
    t->perm = archive_entry_perm(e);
    t->uid = archive_entry_uid(e);
    t->gid = archive_entry_gid(e);
    t->mtime = archive_entry_mtime(e);
    t->size = archive_entry_size(e);
    t->atime = archive_entry_atime_is_set(e);
    t->ctime = archive_entry_ctime_is_set(e);
    archive_entry_xattr_reset(e);
    while (archive_entry_xattr_next(e, &xn, &xv, &xs) == ARCHIVE_OK) {
      size_t l = strlen(t->xattrs);

      if (strstr(t->xattrs, xn))
        continue; /* libarchive reads both LIBARCHIVE.xattr.* and SCHILY.xattr.* */
      snprintf(t->xattrs + l, sizeof(t->xattrs) - l, "%s%s", l ? " " : "", xn);
    }
  }
  assert_int_equal(rc, ARCHIVE_EOF);
  archive_read_free(a);
  return n;
}

/* The value of xattr xname of entry name in tar into buf[32]; its size. */
static ssize_t tar_xattr(const struct mem *tar, const char *name, const char *xname, unsigned char *buf)
{
  struct archive *a = archive_read_new();
  struct archive_entry *e;
  ssize_t found = -1;
  int rc;

  archive_read_support_format_tar(a);
  assert_int_equal(archive_read_open_memory(a, tar->p, tar->len), ARCHIVE_OK);
  while (found < 0 && ((rc = archive_read_next_header(a, &e)) == ARCHIVE_OK || rc == ARCHIVE_WARN)) {
    const char *xn;
    const void *xv;
    size_t xs;

    if (strcmp(archive_entry_pathname(e), name) != 0)
      continue;
    archive_entry_xattr_reset(e);
    while (archive_entry_xattr_next(e, &xn, &xv, &xs) == ARCHIVE_OK)
      if (strcmp(xn, xname) == 0 && xs <= 32) {
        memcpy(buf, xv, xs);
        found = (ssize_t)xs;
      }
  }
  archive_read_free(a);
  return found;
}

static const struct tent *find_ent(const struct tent *t, size_t n, const char *name)
{
  for (size_t i = 0; i < n; i++)
    if (strcmp(t[i].name, name) == 0)
      return &t[i];
  return NULL;
}

/* Extracts the layer into T/root (apply mode over what is there), with
 * the extractor checking both digests. */
static void extract(const struct fx *f, const struct cli_layerw_result *r)
{
  struct cli_extract_opts o;
  struct cli_extract_result xr;
  struct wh_err e;
  int fd = openat(f->tfd, "layer", O_RDONLY | O_CLOEXEC);
  int root = dir_fd(f, "root");

  assert_true(fd >= 0);
  cli_extract_opts_init(&o);
  o.media_type = r->media_type;
  o.digest = &r->digest;
  o.diff_id = &r->diff_id;
  o.flags = CLI_EXTRACT_KEEP_SUID;
  if (cli_extract_layer(fd, root, &o, &xr, &e) != WH_OK)
    fail_msg("cli_extract_layer: %s", e.msg);
  assert_int_equal(xr.entries, r->entries);
  close(fd);
  close(root);
}

/* ---- comparing trees ------------------------------------------------------- */

static void read_all(int dfd, const char *name, struct mem *m)
{
  unsigned char buf[65536];
  int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  ssize_t n;

  assert_true(fd >= 0);
  while ((n = read(fd, buf, sizeof(buf))) > 0)
    mem_add(m, buf, (size_t)n);
  close(fd);
}

/* The xattrs a layer keeps, "name=value;" in name order. */
static void kept_xattrs(int dfd, const char *name, char *out, size_t size)
{
  char list[4096], *names[64];
  int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
  ssize_t n;
  size_t k = 0, len = 0;

  out[0] = '\0';
  if (fd < 0)
    return; /* symlinks, devices: none */
  n = flistxattr(fd, list, sizeof(list));
  for (ssize_t i = 0; i < n; i += (ssize_t)strlen(list + i) + 1)
    if ((strncmp(list + i, "user.", 5) == 0 && strncmp(list + i, "user.overlay.", 13) != 0) ||
        strcmp(list + i, "security.capability") == 0) {
      assert_true(k < 64);
      names[k++] = list + i;
    }
  for (size_t i = 0; i < k; i++)
    for (size_t j = i + 1; j < k; j++)
      if (strcmp(names[j], names[i]) < 0) {
        char *t = names[i];
        names[i] = names[j];
        names[j] = t;
      }
  for (size_t i = 0; i < k; i++) {
    char v[256];
    ssize_t vl = fgetxattr(fd, names[i], v, sizeof(v) - 1);

    assert_true(vl >= 0);
    v[vl] = '\0';
    len += (size_t)snprintf(out + len, size - len, "%s=%s;", names[i], v);
  }
  close(fd);
}

static size_t sorted_names(int dfd, char names[][NAME_MAX + 1], size_t max)
{
  DIR *d = fdopendir(dup(dfd));
  struct dirent *de;
  size_t n = 0;

  assert_non_null(d);
  while ((de = readdir(d)) != NULL) {
    if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
      continue;
    assert_true(n < max);
    snprintf(names[n++], NAME_MAX + 1, "%s", de->d_name);
  }
  closedir(d);
  qsort(names, n, NAME_MAX + 1, (int (*)(const void *, const void *))strcmp);
  return n;
}

static void cmp_tree(int a, int b, const char *where);

/* Compares a/name with b/name: type, mode, owner, mtime, content, target,
 * device numbers, kept xattrs. */
static void cmp_node(int a, int b, const char *name, const char *where)
{
  struct stat sa, sb;
  char xa[1024], xb[1024];

  assert_int_equal(fstatat(a, name, &sa, AT_SYMLINK_NOFOLLOW), 0);
  if (fstatat(b, name, &sb, AT_SYMLINK_NOFOLLOW) != 0)
    fail_msg("%s/%s: missing after extraction", where, name);
  if ((sa.st_mode & S_IFMT) != (sb.st_mode & S_IFMT) || (!S_ISLNK(sa.st_mode) && sa.st_mode != sb.st_mode))
    fail_msg("%s/%s: mode %o, extracted %o", where, name, sa.st_mode, sb.st_mode);
  if (is_root() && (sa.st_uid != sb.st_uid || sa.st_gid != sb.st_gid))
    fail_msg("%s/%s: owner differs", where, name);
  if (sa.st_mtim.tv_sec != sb.st_mtim.tv_sec)
    fail_msg("%s/%s: mtime %lld, extracted %lld", where, name, (long long)sa.st_mtim.tv_sec,
             (long long)sb.st_mtim.tv_sec);
  if (S_ISREG(sa.st_mode)) {
    struct mem ca = {0}, cb = {0};

    read_all(a, name, &ca);
    read_all(b, name, &cb);
    assert_int_equal(ca.len, cb.len);
    if (ca.len)
      assert_memory_equal(ca.p, cb.p, ca.len);
    free(ca.p);
    free(cb.p);
  } else if (S_ISLNK(sa.st_mode)) {
    char ta[PATH_MAX], tb[PATH_MAX];
    ssize_t la = readlinkat(a, name, ta, sizeof(ta)), lb = readlinkat(b, name, tb, sizeof(tb));

    assert_int_equal(la, lb);
    assert_memory_equal(ta, tb, (size_t)la);
  } else if (S_ISCHR(sa.st_mode) || S_ISBLK(sa.st_mode)) {
    assert_int_equal(sa.st_rdev, sb.st_rdev);
  }
  if (S_ISREG(sa.st_mode) || S_ISDIR(sa.st_mode)) {
    kept_xattrs(a, name, xa, sizeof(xa));
    kept_xattrs(b, name, xb, sizeof(xb));
    if (strcmp(xa, xb) != 0)
      fail_msg("%s/%s: xattrs \"%s\", extracted \"%s\"", where, name, xa, xb);
  }
  if (S_ISDIR(sa.st_mode)) {
    char sub[PATH_MAX];
    int da = openat(a, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    int db = openat(b, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

    assert_true(da >= 0 && db >= 0);
    snprintf(sub, sizeof(sub), "%s/%s", where, name);
    cmp_tree(da, db, sub);
    close(da);
    close(db);
  }
}

/* b holds exactly what a holds, sockets excepted. */
static void cmp_tree(int a, int b, const char *where)
{
  size_t ka, kb, j = 0;
  char(*ca)[NAME_MAX + 1] = malloc(64 * (NAME_MAX + 1)), (*cb)[NAME_MAX + 1] = malloc(64 * (NAME_MAX + 1));

  ka = sorted_names(a, ca, 64);
  kb = sorted_names(b, cb, 64);
  for (size_t i = 0; i < ka; i++) {
    struct stat st;

    assert_int_equal(fstatat(a, ca[i], &st, AT_SYMLINK_NOFOLLOW), 0);
    if (S_ISSOCK(st.st_mode))
      continue;
    if (j >= kb || strcmp(ca[i], cb[j]) != 0)
      fail_msg("%s: \"%s\" expected, extracted \"%s\"", where, ca[i], j < kb ? cb[j] : "(nothing)");
    cmp_node(a, b, ca[i], where);
    j++;
  }
  if (j != kb)
    fail_msg("%s: extra \"%s\" after extraction", where, cb[j]);
  free(ca);
  free(cb);
}

static void cmp_src_root(const struct fx *f, const char *src)
{
  int a = dir_fd(f, src), b = dir_fd(f, "root");

  cmp_tree(a, b, ".");
  close(a);
  close(b);
}

/* ---- trees ------------------------------------------------------------------- */

/* A tree with one of everything a plain layer keeps, and a socket. */
static void build_tree(const struct fx *f)
{
  static unsigned char big[3 << 20];
  uint32_t x = 12345;
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  int s;

  for (size_t i = 0; i < sizeof(big); i++) {
    x = x * 1103515245u + 12345u;
    big[i] = (unsigned char)(x >> 16);
  }
  mk(f, "src/a", 0755);
  mk(f, "src/a/b", 0750);
  mk(f, "src/a/b/c", 0700);
  mk(f, "src/tmp", 01777);
  mk(f, "src/a-z", 0755); /* sorts before "a/..." byte-wise, after "a" depth first */
  puts_(f, "src/a/file", "hello\n");
  puts_(f, "src/a/b/c/deep", "deep\n");
  put(f, "src/a/suid", "#!/bin/sh\n", 10, 04755);
  put(f, "src/a/sgid", "x", 1, 02711);
  put(f, "src/empty", "", 0, 0600);
  put(f, "src/big", big, sizeof(big), 0644);
  puts_(f, "src/a-z/z", "z");
  puts_(f, "src/caf\xc3\xa9", "utf-8 name");
  puts_(f, "src/\xe9t\xe9", "latin-1 name");
  assert_int_equal(linkat(f->tfd, "src/a/file", f->tfd, "src/a/hard", 0), 0);
  assert_int_equal(linkat(f->tfd, "src/a/file", f->tfd, "src/a-z/hard2", 0), 0);
  assert_int_equal(symlinkat("file", f->tfd, "src/a/link"), 0);
  assert_int_equal(symlinkat("/etc/passwd", f->tfd, "src/abs"), 0);
  assert_int_equal(symlinkat("../../nowhere", f->tfd, "src/a/dangling"), 0);
  assert_int_equal(mkfifoat(f->tfd, "src/fifo", 0640), 0);
  set_xattr(f, "src/a/file", "user.test", "value");
  set_xattr(f, "src/a/b", "user.dir", "d");
  set_xattr(f, "src/a/suid", "user.overlay.origin", "forged"); /* never written */
  snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", at(f, "src/sock"));
  s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  assert_true(s >= 0);
  assert_int_equal(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
  close(s);
  if (is_root()) {
    assert_int_equal(mknodat(f->tfd, "src/null", S_IFCHR | 0666, makedev(1, 3)), 0);
    assert_int_equal(mknodat(f->tfd, "src/blk", S_IFBLK | 0660, makedev(7, 42)), 0);
    set_xattr(f, "src/a/file", "trusted.other", "dropped");
    set_xattr(f, "src/a/suid", "trusted.overlay.opaque", "y"); /* plain mode: dropped, not interpreted */
  }
  {
    int sfd = dir_fd(f, "src");

    set_all_mtimes(sfd, OLD);
    close(sfd);
  }
}

/* ---- tests ------------------------------------------------------------------- */

static void roundtrip(void **state, enum cli_layerw_compression c, unsigned threads)
{
  struct fx *f = *state;
  struct cli_layerw_opts o;
  struct cli_layerw_result r;
  struct tent *t = calloc(64, sizeof(*t));
  struct mem tar;
  struct stat s1, s2;
  size_t n;
  int root;

  build_tree(f);
  cli_layerw_opts_init(&o);
  o.compression = c;
  o.threads = threads;
  write_ok(f, "src", &o, &r);
  assert_int_equal(r.compression, c);
  assert_string_equal(r.media_type, cli_layerw_media_type(c));
  assert_int_equal(r.hardlinks, 2);
  assert_int_equal(r.skipped, 1);
  assert_int_equal(r.whiteouts, 0);
  tar = layer_tar(f, &r);
  assert_false(mem_has(&tar, "overlay."));
  assert_false(mem_has(&tar, "trusted."));
  n = list_tar(&tar, t, 64);
  assert_int_equal(n, r.entries);
  assert_int_equal(n, is_root() ? 22 : 20);
  /* byte-wise order, a directory before its contents, no root entry */
  assert_string_equal(t[0].name, "a/");
  assert_string_equal(t[1].name, "a/b/");
  assert_string_equal(t[2].name, "a/b/c/");
  assert_string_equal(t[3].name, "a/b/c/deep");
  assert_string_equal(t[4].name, "a/dangling");
  assert_string_equal(t[5].name, "a/file");
  assert_string_equal(t[6].name, "a/hard");
  assert_string_equal(t[6].link, "a/file");
  assert_string_equal(find_ent(t, n, "a-z/hard2")->link, "a/file");
  assert_string_equal(find_ent(t, n, "a/file")->xattrs, "user.test");
  assert_string_equal(find_ent(t, n, "a/b/")->xattrs, "user.dir");
  assert_string_equal(find_ent(t, n, "a/suid")->xattrs, "");
  assert_int_equal(find_ent(t, n, "a/suid")->perm, 04755);
  assert_int_equal(find_ent(t, n, "tmp/")->perm, 01777);
  assert_null(find_ent(t, n, "sock"));
  for (size_t i = 0; i < n; i++) {
    assert_int_equal(t[i].mtime, OLD);
    assert_false(t[i].atime);
    assert_false(t[i].ctime);
  }
  free(tar.p);
  /* the project's extractor gives back the same tree, digests checked */
  assert_int_equal(mkdirat(f->tfd, "root", 0755), 0);
  extract(f, &r);
  cmp_src_root(f, "src");
  root = dir_fd(f, "root");
  assert_int_equal(fstatat(root, "a/file", &s1, 0), 0);
  assert_int_equal(fstatat(root, "a-z/hard2", &s2, 0), 0);
  assert_int_equal(s1.st_ino, s2.st_ino);
  close(root);
  free(t);
}

static void test_roundtrip_zstd(void **state)
{
  roundtrip(state, CLI_LAYERW_ZSTD, 0);
}

static void test_roundtrip_zstd_mt(void **state)
{
  roundtrip(state, CLI_LAYERW_ZSTD, 2);
}

static void test_roundtrip_gzip(void **state)
{
  roundtrip(state, CLI_LAYERW_GZIP, 0);
}

static void test_roundtrip_none(void **state)
{
  roundtrip(state, CLI_LAYERW_NONE, 0);
}

static void digest_of(const struct fx *f, const struct cli_layerw_opts *o, struct wh_digest *out)
{
  struct cli_layerw_result r;

  write_ok(f, "src", o, &r);
  *out = r.digest;
}

/* Reads every regular file below dfd (atimes move). */
static void touch_atimes(const struct fx *f)
{
  static const char *const files[] = {"src/a/file", "src/big", "src/new", "src/a/b/c/deep"};
  struct timespec ts[2] = {{NEW + 5, 0}, {0, UTIME_OMIT}};

  for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
    assert_int_equal(utimensat(f->tfd, files[i], ts, AT_SYMLINK_NOFOLLOW), 0);
}

static void test_determinism(void **state)
{
  struct fx *f = *state;
  struct cli_layerw_opts o;
  struct cli_layerw_result r;
  struct wh_digest d1, d2;
  struct tent *t = calloc(64, sizeof(*t));
  struct mem tar;
  struct stat st;
  size_t n;
  int root;

  build_tree(f);
  puts_(f, "src/new", "newer than the epoch");
  set_mtime(f->tfd, "src/new", NEW);
  set_mtime(f->tfd, "src/a/b", NEW);
  cli_layerw_opts_init(&o);
  o.source_date_epoch = EPOCH;
  o.threads = 1;
  digest_of(f, &o, &d1);
  /* atimes and ctimes move, the locale and the worker count change: same bytes */
  touch_atimes(f);
  assert_int_equal(fchmodat(f->tfd, "src/a/file", 0644, 0), 0);
  o.threads = 3;
  assert_non_null(setlocale(LC_CTYPE, "C.UTF-8"));
  digest_of(f, &o, &d2);
  setlocale(LC_CTYPE, "C");
  assert_string_equal(d1.str, d2.str);
  o.compression = CLI_LAYERW_GZIP;
  digest_of(f, &o, &d1);
  touch_atimes(f);
  digest_of(f, &o, &d2);
  assert_string_equal(d1.str, d2.str);
  /* without the epoch the newer mtime shows, with it it is clamped */
  o.source_date_epoch = -1;
  digest_of(f, &o, &d2);
  assert_string_not_equal(d1.str, d2.str);
  o.source_date_epoch = EPOCH;
  write_ok(f, "src", &o, &r);
  tar = layer_tar(f, &r);
  n = list_tar(&tar, t, 64);
  assert_int_equal(find_ent(t, n, "new")->mtime, EPOCH);
  assert_int_equal(find_ent(t, n, "a/b/")->mtime, EPOCH);
  assert_int_equal(find_ent(t, n, "a/file")->mtime, OLD); /* older: not raised */
  for (size_t i = 0; i < n; i++)
    assert_false(t[i].atime || t[i].ctime);
  free(tar.p);
  assert_int_equal(mkdirat(f->tfd, "root", 0755), 0);
  extract(f, &r);
  root = dir_fd(f, "root");
  assert_int_equal(fstatat(root, "new", &st, 0), 0);
  assert_int_equal(st.st_mtim.tv_sec, EPOCH);
  assert_int_equal(fstatat(root, "a/b", &st, 0), 0);
  assert_int_equal(st.st_mtim.tv_sec, EPOCH);
  assert_int_equal(fstatat(root, "big", &st, 0), 0);
  assert_int_equal(st.st_mtim.tv_sec, OLD);
  close(root);
  free(t);
}

/* The lower tree an upper directory is diffed against. */
static void build_lower(const struct fx *f)
{
  mk(f, "root", 0755);
  puts_(f, "root/keep", "keep");
  puts_(f, "root/gone", "gone");
  mk(f, "root/gonedir", 0755);
  puts_(f, "root/gonedir/x", "x");
  puts_(f, "root/xwh", "x whiteout");
  mk(f, "root/opq", 0755);
  puts_(f, "root/opq/old1", "1");
  mk(f, "root/opq/olddir", 0755);
  puts_(f, "root/opq/olddir/old2", "2");
  mk(f, "root/sub", 0755);
  puts_(f, "root/sub/removed", "r");
  puts_(f, "root/sub/stays", "s");
}

static bool exists(const struct fx *f, const char *rel)
{
  struct stat st;

  return fstatat(f->tfd, rel, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

static void xattr_whiteout(const struct fx *f, const char *rel, const char *ns)
{
  char name[64];

  put(f, rel, "", 0, 0644);
  snprintf(name, sizeof(name), "%s.overlay.whiteout", ns);
  set_xattr(f, rel, name, "y");
}

/* A fake overlay upper directory over build_lower()'s tree; ns is the
 * overlay xattr namespace; devices: 0/0 char whiteouts too (root). */
static void build_upper(const struct fx *f, const char *ns, bool devices)
{
  char name[64];

  mk(f, "src/opq", 0755);
  mk(f, "src/sub", 0755);
  puts_(f, "src/opq/new", "new");
  puts_(f, "src/added", "added");
  puts_(f, "src/sub/stays", "changed");
  if (devices) {
    assert_int_equal(mknodat(f->tfd, "src/gone", S_IFCHR, makedev(0, 0)), 0);
    /* overlayfs shares one inode among its whiteouts: never a hardlink */
    assert_int_equal(linkat(f->tfd, "src/gone", f->tfd, "src/gonedir", 0), 0);
  } else {
    xattr_whiteout(f, "src/gone", ns);
    xattr_whiteout(f, "src/gonedir", ns);
  }
  xattr_whiteout(f, "src/xwh", ns);
  xattr_whiteout(f, "src/sub/removed", ns);
  snprintf(name, sizeof(name), "%s.overlay.opaque", ns);
  set_xattr(f, "src/opq", name, "y");
  set_xattr(f, "src/sub", name, "x");
  set_xattr(f, "src", name, "x");
  snprintf(name, sizeof(name), "%s.overlay.origin", ns);
  set_xattr(f, "src/sub", name, "origin");
  set_xattr(f, "src/added", "user.overlay.impure", "y");
  set_xattr(f, "src/added", "user.keep", "kept");
  if (is_root())
    set_xattr(f, "src/added", "trusted.overlay.nlink", "1");
}

static void overlay_case(struct fx *f, const char *ns, unsigned flags, bool devices)
{
  struct cli_layerw_opts o;
  struct cli_layerw_result r;
  struct tent *t = calloc(64, sizeof(*t));
  struct mem tar;
  char v[16];
  size_t n;
  int i_opq;

  build_lower(f);
  build_upper(f, ns, devices);
  cli_layerw_opts_init(&o);
  o.mode = CLI_LAYERW_OVERLAY_UPPER;
  o.flags = flags;
  write_ok(f, "src", &o, &r);
  assert_int_equal(r.whiteouts, 5);
  assert_int_equal(r.hardlinks, 0);
  tar = layer_tar(f, &r);
  assert_false(mem_has(&tar, "overlay."));
  n = list_tar(&tar, t, 64);
  assert_int_equal(n, r.entries);
  assert_non_null(find_ent(t, n, ".wh.gone"));
  assert_non_null(find_ent(t, n, ".wh.gonedir"));
  assert_non_null(find_ent(t, n, ".wh.xwh"));
  assert_non_null(find_ent(t, n, "sub/.wh.removed"));
  assert_null(find_ent(t, n, "gone"));
  assert_null(find_ent(t, n, "xwh"));
  assert_string_equal(find_ent(t, n, "added")->xattrs, "user.keep");
  assert_string_equal(find_ent(t, n, "sub/")->xattrs, "");
  /* the opaque marker right after its directory, before its contents */
  i_opq = (int)(find_ent(t, n, "opq/") - t);
  assert_string_equal(t[i_opq + 1].name, "opq/.wh..wh..opq");
  assert_string_equal(t[i_opq + 2].name, "opq/new");
  assert_null(find_ent(t, n, ".wh..wh..opq")); /* "x" is not opaque */
  free(tar.p);
  /* applied over the lower tree */
  extract(f, &r);
  assert_true(exists(f, "root/keep"));
  assert_false(exists(f, "root/gone"));
  assert_false(exists(f, "root/gonedir"));
  assert_false(exists(f, "root/xwh"));
  assert_true(exists(f, "root/opq/new"));
  assert_false(exists(f, "root/opq/old1"));
  assert_false(exists(f, "root/opq/olddir"));
  assert_false(exists(f, "root/sub/removed"));
  assert_true(exists(f, "root/sub/stays"));
  assert_true(exists(f, "root/added"));
  assert_int_equal(lgetxattr(at(f, "root/added"), "user.keep", v, sizeof(v)), 4);
  assert_int_equal(lgetxattr(at(f, "root/sub"), "trusted.overlay.origin", v, sizeof(v)), -1);
  free(t);
}

static void test_overlay_user(void **state)
{
  overlay_case(*state, "user", CLI_LAYERW_USER_XATTR, false);
}

static void test_overlay_trusted(void **state)
{
  struct fx *f = *state;

  put(f, "probe", "", 0, 0644);
  if (!try_xattr(f, "probe", "trusted.overlay.probe", "y"))
    skip();
  overlay_case(f, "trusted", 0, false);
}

static void test_overlay_devices(void **state)
{
  struct fx *f = *state;

  if (mknodat(f->tfd, "probe", S_IFCHR, makedev(0, 0)) != 0)
    skip(); /* not root */
  overlay_case(f, "trusted", 0, true);
}

/* Overlay xattrs of the other namespace are dropped, never interpreted. */
static void test_overlay_other_ns(void **state)
{
  struct fx *f = *state;
  struct cli_layerw_opts o;
  struct cli_layerw_result r;
  struct mem tar;

  xattr_whiteout(f, "src/wo", "user");
  cli_layerw_opts_init(&o);
  o.mode = CLI_LAYERW_OVERLAY_UPPER; /* reads trusted.overlay.* */
  write_ok(f, "src", &o, &r);
  assert_int_equal(r.whiteouts, 0);
  assert_int_equal(r.entries, 1);
  assert_int_equal(r.xattrs_dropped, 1);
  tar = layer_tar(f, &r);
  assert_false(mem_has(&tar, "overlay."));
  assert_false(mem_has(&tar, ".wh."));
  free(tar.p);
}

/* The same lower tree in T/<dir>, mtimes OLD. */
static void lower_tree(const struct fx *f, const char *dir)
{
  static const char *const dirs[] = {"gonedir", "opq", "opq/olddir", "sub", "sub/deeper"};
  static const char *const files[] = {
      "keep",        "gone",      "gonedir/x",    "opq/old1", "opq/olddir/old2",
      "sub/removed", "sub/stays", "sub/deeper/f", "moved"};
  char p[PATH_MAX];
  int fd;

  mk(f, dir, 0755);
  for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
    snprintf(p, sizeof(p), "%s/%s", dir, dirs[i]);
    mk(f, p, 0755);
  }
  for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
    snprintf(p, sizeof(p), "%s/%s", dir, files[i]);
    puts_(f, p, files[i]);
  }
  snprintf(p, sizeof(p), "%s/keep", dir);
  set_xattr(f, p, "user.note", "lower");
  fd = dir_fd(f, dir);
  set_all_mtimes(fd, OLD);
  close(fd);
}

/* A real overlayfs: changes made through the mount, the upper directory
 * written as a layer and applied over a copy of the lower tree give what
 * the mount shows. */
static void test_overlay_mount(void **state)
{
  struct fx *f = *state;
  struct cli_layerw_opts o;
  struct cli_layerw_result r;
  struct wh_err e;
  char opts[512];
  int merged, root, upper, out;

  lower_tree(f, "lower");
  lower_tree(f, "root");
  mk(f, "upper", 0755);
  mk(f, "work", 0755);
  mk(f, "merged", 0755);
  snprintf(opts, sizeof(opts),
           "lowerdir=%s/lower,upperdir=%s/upper,workdir=%s/work,redirect_dir=off,metacopy=off", f->tmp,
           f->tmp, f->tmp);
  if (mount("overlay", at(f, "merged"), "overlay", 0, opts) < 0)
    skip(); /* not root, or no overlayfs */
  merged = dir_fd(f, "merged");
  assert_int_equal(unlinkat(merged, "gone", 0), 0);
  assert_int_equal(cli_extract_rmtree_at(merged, "gonedir", &e), WH_OK);
  assert_int_equal(cli_extract_rmtree_at(merged, "opq", &e), WH_OK);
  assert_int_equal(mkdirat(merged, "opq", 0750), 0); /* an opaque directory now */
  assert_int_equal(unlinkat(merged, "sub/removed", 0), 0);
  assert_int_equal(renameat(merged, "moved", merged, "sub/deeper/moved"), 0);
  assert_int_equal(fchmodat(merged, "keep", 0600, 0), 0); /* copied up, xattr too */
  close(merged);
  puts_(f, "merged/opq/new", "new");
  puts_(f, "merged/sub/stays", "changed");
  puts_(f, "merged/added", "added");
  assert_int_equal(symlinkat("added", f->tfd, "merged/link"), 0);
  assert_int_equal(linkat(f->tfd, "merged/added", f->tfd, "merged/sub/added2", 0), 0);
  /* the layer of the upper directory, applied over the copy of the lower */
  cli_layerw_opts_init(&o);
  o.mode = CLI_LAYERW_OVERLAY_UPPER;
  upper = dir_fd(f, "upper");
  out = openat(f->tfd, "layer", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  assert_true(out >= 0);
  if (cli_layerw_from_dir(upper, &o, out, &r, &e) != WH_OK)
    fail_msg("cli_layerw_from_dir: %s", e.msg);
  close(out);
  close(upper);
  assert_true(r.whiteouts >= 5); /* gone, gonedir, opq marker, sub/removed, moved */
  assert_int_equal(r.hardlinks, 1);
  extract(f, &r);
  merged = dir_fd(f, "merged");
  root = dir_fd(f, "root");
  cmp_tree(merged, root, ".");
  close(merged);
  close(root);
  assert_int_equal(umount2(at(f, "merged"), 0), 0);
}

static void test_ids(void **state)
{
  struct fx *f = *state;
  struct cli_layerw_opts o;
  struct cli_layerw_result r;
  struct tent t[8];
  struct wh_err e;
  struct mem tar;
  size_t n;

  if (!is_root())
    skip();
  puts_(f, "src/mine", "m");
  puts_(f, "src/root", "r");
  puts_(f, "src/stranger", "s");
  assert_int_equal(fchownat(f->tfd, "src/mine", 100005, 100007, 0), 0);
  assert_int_equal(fchownat(f->tfd, "src/root", 100000, 100000, 0), 0);
  assert_int_equal(fchownat(f->tfd, "src/stranger", 4242, 100001, 0), 0);
  cli_layerw_opts_init(&o);
  o.uid_base = 100000;
  o.gid_base = 100000;
  o.id_count = 65536;
  write_ok(f, "src", &o, &r);
  assert_int_equal(r.ids_outside, 1);
  tar = layer_tar(f, &r);
  n = list_tar(&tar, t, 8);
  assert_int_equal(n, 3);
  assert_int_equal(find_ent(t, n, "mine")->uid, 5);
  assert_int_equal(find_ent(t, n, "mine")->gid, 7);
  assert_int_equal(find_ent(t, n, "root")->uid, 0);
  assert_int_equal(find_ent(t, n, "stranger")->uid, 0);
  assert_int_equal(find_ent(t, n, "stranger")->gid, 1);
  free(tar.p);
  o.flags = CLI_LAYERW_STRICT_IDS;
  assert_int_equal(write_layer(f, "src", &o, &r, &e), WH_EINVALID);
  assert_non_null(strstr(e.msg, "stranger"));
  /* no mapping: ids as they are */
  cli_layerw_opts_init(&o);
  write_ok(f, "src", &o, &r);
  tar = layer_tar(f, &r);
  n = list_tar(&tar, t, 8);
  assert_int_equal(find_ent(t, n, "mine")->uid, 100005);
  free(tar.p);
}

/* A v3 (namespaced) capability as a container's setcap leaves it. */
static bool set_v3_caps(const struct fx *f, const char *rel, uint32_t rootid)
{
  unsigned char v3[24] = {0x01, 0, 0, 0x03, 0x00, 0x04, 0, 0};

  v3[20] = (unsigned char)rootid;
  v3[21] = (unsigned char)(rootid >> 8);
  v3[22] = (unsigned char)(rootid >> 16);
  v3[23] = (unsigned char)(rootid >> 24);
  return setxattr(at(f, rel), "security.capability", v3, sizeof(v3), 0) == 0;
}

static void test_caps(void **state)
{
  struct fx *f = *state;
  /* v2, effective, cap_net_bind_service (10) permitted */
  static const unsigned char v2[20] = {0x01, 0, 0, 0x02, 0x00, 0x04, 0, 0};
  struct cli_layerw_opts o;
  struct cli_layerw_result r;
  struct tent t[4];
  struct mem tar;
  unsigned char back[32];
  uint32_t root5;

  put(f, "src/ping", "elf", 3, 0755);
  if (setxattr(at(f, "src/ping"), "security.capability", v2, sizeof(v2), 0) != 0)
    skip();
  cli_layerw_opts_init(&o);
  write_ok(f, "src", &o, &r);
  tar = layer_tar(f, &r);
  assert_int_equal(list_tar(&tar, t, 4), 1);
  assert_string_equal(t[0].xattrs, "security.capability");
  free(tar.p);
  assert_int_equal(mkdirat(f->tfd, "root", 0755), 0);
  extract(f, &r);
  assert_int_equal(getxattr(at(f, "root/ping"), "security.capability", back, sizeof(back)), 20);
  assert_memory_equal(back, v2, 20);
  /* v3: the root id is mapped back; root of the container: plain v2 */
  put(f, "src/ns0", "elf", 3, 0755);
  put(f, "src/ns5", "elf", 3, 0755);
  assert_true(set_v3_caps(f, "src/ns0", 100000));
  assert_true(set_v3_caps(f, "src/ns5", 100005));
  o.uid_base = 100000;
  o.gid_base = 100000;
  o.id_count = 65536;
  write_ok(f, "src", &o, &r);
  tar = layer_tar(f, &r);
  assert_int_equal(tar_xattr(&tar, "ns0", "security.capability", back), 20);
  assert_memory_equal(back, v2, 20);
  assert_int_equal(tar_xattr(&tar, "ns5", "security.capability", back), 24);
  assert_int_equal(back[3], 0x03);
  memcpy(&root5, back + 20, 4);
  assert_int_equal(le32toh(root5), 5);
  assert_int_equal(tar_xattr(&tar, "ping", "security.capability", back), 20);
  free(tar.p);
}

static void test_refused(void **state)
{
  struct fx *f = *state;
  struct cli_layerw_opts o;
  struct cli_layerw_result r;
  struct wh_err e;

  cli_layerw_opts_init(&o);
  mk(f, "src/d", 0755);
  puts_(f, "src/d/.wh.x", "looks like a whiteout");
  assert_int_equal(write_layer(f, "src", &o, &r, &e), WH_EINVALID);
  assert_non_null(strstr(e.msg, "d/.wh.x"));
  assert_int_equal(unlinkat(f->tfd, "src/d/.wh.x", 0), 0);
  /* bad options */
  o.level = 99;
  assert_int_equal(write_layer(f, "src", &o, &r, &e), WH_EINVALID);
  o.compression = CLI_LAYERW_GZIP;
  assert_int_equal(write_layer(f, "src", &o, &r, &e), WH_EINVALID);
  o.level = 9;
  assert_int_equal(write_layer(f, "src", &o, &r, &e), WH_OK);
  o.compression = 7;
  assert_int_equal(write_layer(f, "src", &o, &r, &e), WH_EINVALID);
  cli_layerw_opts_init(&o);
  o.mode = 9;
  assert_int_equal(write_layer(f, "src", &o, &r, &e), WH_EINVALID);
  /* caps */
  cli_layerw_opts_init(&o);
  puts_(f, "src/d/1", "1");
  puts_(f, "src/d/2", "2");
  o.max_entries = 2;
  assert_int_equal(write_layer(f, "src", &o, &r, &e), WH_ETOOBIG);
  o.max_entries = 3;
  assert_int_equal(write_layer(f, "src", &o, &r, &e), WH_OK);
  assert_int_equal(r.entries, 3);
}

/* As many xattrs as the extractor takes back, not one more. */
static void test_xattr_cap(void **state)
{
  struct fx *f = *state;
  struct cli_layerw_opts o;
  struct cli_layerw_result r;
  struct wh_err e;
  char name[32];

  puts_(f, "src/many", "m");
  for (int i = 0; i < CLI_LAYERW_MAX_XATTRS; i++) {
    snprintf(name, sizeof(name), "user.x%03d", i);
    set_xattr(f, "src/many", name, "v");
  }
  cli_layerw_opts_init(&o);
  write_ok(f, "src", &o, &r);
  assert_int_equal(mkdirat(f->tfd, "root", 0755), 0);
  extract(f, &r);
  cmp_src_root(f, "src");
  set_xattr(f, "src/many", "user.y", "one too many");
  assert_int_equal(write_layer(f, "src", &o, &r, &e), WH_ETOOBIG);
}

static void test_too_deep(void **state)
{
  struct fx *f = *state;
  struct cli_layerw_opts o;
  struct cli_layerw_result r;
  struct wh_err e;
  int fd = dir_fd(f, "src");

  for (int i = 0; i < CLI_LAYERW_MAX_DEPTH; i++) {
    int next;

    assert_int_equal(mkdirat(fd, "d", 0755), 0);
    next = openat(fd, "d", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    assert_true(next >= 0);
    close(fd);
    fd = next;
  }
  cli_layerw_opts_init(&o);
  o.compression = CLI_LAYERW_NONE;
  assert_int_equal(write_layer(f, "src", &o, &r, &e), WH_OK);
  assert_int_equal(r.entries, CLI_LAYERW_MAX_DEPTH);
  assert_int_equal(mkdirat(fd, "d", 0755), 0);
  close(fd);
  assert_int_equal(write_layer(f, "src", &o, &r, &e), WH_ETOOBIG);
}

static void test_overlay_refused(void **state)
{
  struct fx *f = *state;
  struct cli_layerw_opts o;
  struct cli_layerw_result r;
  struct wh_err e;

  mk(f, "src/moved", 0755);
  set_xattr(f, "src/moved", "user.overlay.redirect", "/orig");
  cli_layerw_opts_init(&o);
  o.mode = CLI_LAYERW_OVERLAY_UPPER;
  o.flags = CLI_LAYERW_USER_XATTR;
  assert_int_equal(write_layer(f, "src", &o, &r, &e), WH_EUNSUPPORTED);
  assert_non_null(strstr(e.msg, "redirect"));
  /* plain mode: an xattr like any other, dropped */
  o.mode = CLI_LAYERW_PLAIN;
  assert_int_equal(write_layer(f, "src", &o, &r, &e), WH_OK);
  assert_int_equal(r.xattrs_dropped, 1);
  assert_int_equal(removexattr(at(f, "src/moved"), "user.overlay.redirect"), 0);
  put(f, "src/moved/lazy", "", 0, 0644);
  set_xattr(f, "src/moved/lazy", "user.overlay.metacopy", "");
  o.mode = CLI_LAYERW_OVERLAY_UPPER;
  assert_int_equal(write_layer(f, "src", &o, &r, &e), WH_EUNSUPPORTED);
  assert_non_null(strstr(e.msg, "metacopy"));
}

static void test_output_fails(void **state)
{
  struct fx *f = *state;
  struct cli_layerw_opts o;
  struct cli_layerw_result r = {0};
  struct wh_err e;
  int sfd = dir_fd(f, "src");
  int full = open("/dev/full", O_WRONLY | O_CLOEXEC);

  if (full < 0)
    skip();
  puts_(f, "src/x", "x");
  cli_layerw_opts_init(&o);
  assert_int_equal(cli_layerw_from_dir(sfd, &o, full, &r, &e), WH_EIO);
  assert_non_null(strstr(e.msg, "write layer"));
  assert_int_equal(r.entries, 0); /* not written on failure */
  close(full);
  close(sfd);
}

/* ---- main -------------------------------------------------------------------- */

#define TEST(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
  static const struct CMUnitTest tests[] = {
      TEST(test_roundtrip_zstd),
      TEST(test_roundtrip_zstd_mt),
      TEST(test_roundtrip_gzip),
      TEST(test_roundtrip_none),
      TEST(test_determinism),
      TEST(test_overlay_user),
      TEST(test_overlay_trusted),
      TEST(test_overlay_devices),
      TEST(test_overlay_other_ns),
      TEST(test_overlay_mount),
      TEST(test_ids),
      TEST(test_caps),
      TEST(test_refused),
      TEST(test_xattr_cap),
      TEST(test_too_deep),
      TEST(test_overlay_refused),
      TEST(test_output_fails),
  };

  return cmocka_run_group_tests_name("layerw", tests, NULL, NULL);
}
