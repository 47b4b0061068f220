/* tests/unit/test_extract.c - unit tests of the layer extractor
 * (client/extract.h).
 *
 * Each test gets a temp directory T holding the extraction root T/root, a
 * canary file T/canary and a directory T/outside with two files; hostile
 * layers aim at those by absolute path and through symlinks, and every
 * test ends by checking that T and T/outside are exactly as they were.
 * Tars are built in memory with libarchive's writer (a raw ustar writer
 * only for names libarchive refuses to write). The escape cases of
 * containerd's archive tests (TestBreakouts) run from a table, each twice:
 * with openat2 and with the O_NOFOLLOW walk.
 */
#include "config.h"

#include <dirent.h>
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
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <cmocka.h>
#include <zlib.h>
#include <zstd.h>

#include "client/extract.h"
#include "common/manifest.h"

#define MTIME 1700000000

/* ---- the fixture ------------------------------------------------------- */

struct fx {
  char tmp[64];
  char root[96];
  char outside[96];
  int rootfd;
  const void *arg; /* the breakout case */
};

static void put_file(const char *path, const char *data, mode_t mode)
{
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);

  assert_true(fd >= 0);
  assert_int_equal(write(fd, data, strlen(data)), (ssize_t)strlen(data));
  assert_int_equal(fchmod(fd, mode), 0);
  close(fd);
}

static void fresh_root(struct fx *f)
{
  struct wh_err e;
  int tfd;

  if (f->rootfd >= 0)
    close(f->rootfd);
  tfd = open(f->tmp, O_PATH | O_DIRECTORY | O_CLOEXEC);
  assert_true(tfd >= 0);
  assert_int_equal(cli_extract_rmtree_at(tfd, "root", &e), WH_OK);
  close(tfd);
  assert_int_equal(mkdir(f->root, 0755), 0);
  f->rootfd = open(f->root, O_PATH | O_DIRECTORY | O_CLOEXEC);
  assert_true(f->rootfd >= 0);
}

static int setup(void **state)
{
  struct fx *f = calloc(1, sizeof(*f));
  char path[160];

  snprintf(f->tmp, sizeof(f->tmp), "/tmp/wh-extract-XXXXXX");
  assert_non_null(mkdtemp(f->tmp));
  snprintf(f->root, sizeof(f->root), "%s/root", f->tmp);
  snprintf(f->outside, sizeof(f->outside), "%s/outside", f->tmp);
  assert_int_equal(mkdir(f->outside, 0755), 0);
  snprintf(path, sizeof(path), "%s/canary", f->tmp);
  put_file(path, "canary", 0644);
  snprintf(path, sizeof(path), "%s/hello", f->outside);
  put_file(path, "hello", 0644);
  snprintf(path, sizeof(path), "%s/perm400", f->outside);
  put_file(path, "...", 0400);
  f->rootfd = -1;
  fresh_root(f);
  f->arg = *state;
  *state = f;
  return 0;
}

static int teardown(void **state)
{
  struct fx *f = *state;
  struct wh_err e;
  int tfd = open("/tmp", O_PATH | O_DIRECTORY | O_CLOEXEC);

  close(f->rootfd);
  assert_int_equal(cli_extract_rmtree_at(tfd, f->tmp + 5, &e), WH_OK);
  close(tfd);
  free(f);
  return 0;
}

static char *at(const struct fx *f, const char *rel)
{
  static char buf[4][PATH_MAX + 128];
  static int i;

  i = (i + 1) % 4;
  snprintf(buf[i], sizeof(buf[i]), "%s/%s", f->root, rel);
  return buf[i];
}

static int count_entries(const char *dir)
{
  DIR *d = opendir(dir);
  struct dirent *de;
  int n = 0;

  assert_non_null(d);
  while ((de = readdir(d)) != NULL)
    n += strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0;
  closedir(d);
  return n;
}

static void assert_content(const char *path, const char *want)
{
  char buf[256];
  int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  ssize_t n;

  if (fd < 0)
    fail_msg("open %s: %s", path, strerror(errno));
  n = read(fd, buf, sizeof(buf) - 1);
  close(fd);
  assert_true(n >= 0);
  buf[n] = '\0';
  assert_string_equal(buf, want);
}

static void assert_mode(const char *path, mode_t want)
{
  struct stat st;

  assert_int_equal(lstat(path, &st), 0);
  assert_int_equal(st.st_mode & 07777, want);
}

/* Nothing outside the root was created, removed or changed. */
static void assert_outside_intact(const struct fx *f)
{
  char path[160];

  snprintf(path, sizeof(path), "%s/canary", f->tmp);
  assert_content(path, "canary");
  assert_mode(path, 0644);
  snprintf(path, sizeof(path), "%s/hello", f->outside);
  assert_content(path, "hello");
  assert_mode(path, 0644);
  snprintf(path, sizeof(path), "%s/perm400", f->outside);
  assert_content(path, "...");
  assert_mode(path, 0400);
  assert_int_equal(count_entries(f->tmp), 3);
  assert_int_equal(count_entries(f->outside), 2);
  assert_mode(f->outside, 0755);
}

static bool exists(const char *path)
{
  struct stat st;

  return lstat(path, &st) == 0;
}

static void assert_same_file(const char *a, const char *b)
{
  struct stat sa, sb;

  assert_int_equal(lstat(a, &sa), 0);
  assert_int_equal(lstat(b, &sb), 0);
  assert_true(sa.st_ino == sb.st_ino && sa.st_dev == sb.st_dev);
}

static void assert_symlink(const char *path, const char *target)
{
  char buf[PATH_MAX];
  ssize_t n = readlink(path, buf, sizeof(buf) - 1);

  assert_true(n >= 0);
  buf[n] = '\0';
  assert_string_equal(buf, target);
}

/* ---- building tars ------------------------------------------------------- */

struct tbuf {
  unsigned char *p;
  size_t len, cap;
};

static void tbuf_add(struct tbuf *b, const void *p, size_t n)
{
  if (b->len + n > b->cap) {
    b->cap = (b->len + n) * 2 + 4096;
    b->p = realloc(b->p, b->cap);
    assert_non_null(b->p);
  }
  memcpy(b->p + b->len, p, n);
  b->len += n;
}

static la_ssize_t write_cb(struct archive *a, void *ud, const void *p, size_t n)
{
  (void)a;
  tbuf_add(ud, p, n);
  return (la_ssize_t)n;
}

/* filter: 0 plain, 'g' gzip, 'z' zstd */
static struct archive *tar_begin(struct tbuf *out, int filter)
{
  struct archive *a = archive_write_new();

  assert_non_null(a);
  assert_int_equal(archive_write_set_format_pax_restricted(a), ARCHIVE_OK);
  if (filter == 'g')
    assert_int_equal(archive_write_add_filter_gzip(a), ARCHIVE_OK);
  if (filter == 'z')
    assert_int_equal(archive_write_add_filter_zstd(a), ARCHIVE_OK);
  assert_int_equal(archive_write_set_bytes_in_last_block(a, 1), ARCHIVE_OK);
  assert_int_equal(archive_write_open(a, out, NULL, write_cb, NULL), ARCHIVE_OK);
  return a;
}

static void tar_end(struct archive *a)
{
  assert_int_equal(archive_write_close(a), ARCHIVE_OK);
  archive_write_free(a);
}

static struct archive_entry *entry_new(const char *name, mode_t type, mode_t perm, int64_t size)
{
  struct archive_entry *e = archive_entry_new();

  archive_entry_set_pathname(e, name);
  archive_entry_set_filetype(e, type);
  archive_entry_set_perm(e, perm);
  archive_entry_set_size(e, size);
  archive_entry_set_mtime(e, MTIME, 0);
  return e;
}

static void tar_put(struct archive *a, struct archive_entry *e, const void *data, size_t n)
{
  assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
  if (n)
    assert_int_equal(archive_write_data(a, data, n), (la_ssize_t)n);
  archive_entry_free(e);
}

/* One entry described by an op: t is d(ir) f(ile) l(symlink) h(ardlink)
 * c(har device, rdev 1/3) p(fifo); a leading "@" in name or arg stands
 * for the absolute path of T/outside. */
struct op {
  char t;
  const char *name;
  const char *arg;
  mode_t mode;
};

static const char *expand(const struct fx *f, const char *s, char *buf, size_t size)
{
  if (s == NULL || s[0] != '@')
    return s;
  snprintf(buf, size, "%s%s", f->outside, s + 1);
  return buf;
}

static void tar_op(struct archive *a, const struct fx *f, const struct op *op)
{
  char nb[PATH_MAX], ab[PATH_MAX];
  const char *name = expand(f, op->name, nb, sizeof(nb)), *arg = expand(f, op->arg, ab, sizeof(ab));
  mode_t perm = op->mode ? op->mode : 0755;
  struct archive_entry *e;

  switch (op->t) {
  case 'd':
    tar_put(a, entry_new(name, AE_IFDIR, perm, 0), NULL, 0);
    break;
  case 'f':
    e = entry_new(name, AE_IFREG, op->mode ? op->mode : 0644, (int64_t)strlen(arg ? arg : ""));
    tar_put(a, e, arg, arg ? strlen(arg) : 0);
    break;
  case 'l':
    e = entry_new(name, AE_IFLNK, 0777, 0);
    archive_entry_set_symlink(e, arg);
    tar_put(a, e, NULL, 0);
    break;
  case 'h':
    e = entry_new(name, AE_IFREG, 0644, 0);
    archive_entry_set_hardlink(e, arg);
    tar_put(a, e, NULL, 0);
    break;
  case 'c':
    e = entry_new(name, AE_IFCHR, 0666, 0);
    archive_entry_set_rdevmajor(e, 1);
    archive_entry_set_rdevminor(e, 3);
    tar_put(a, e, NULL, 0);
    break;
  case 'p':
    tar_put(a, entry_new(name, AE_IFIFO, op->mode ? op->mode : 0644, 0), NULL, 0);
    break;
  default:
    fail_msg("bad op %c", op->t);
  }
}

static void tar_ops(struct tbuf *out, const struct fx *f, const struct op *ops, int filter)
{
  struct archive *a = tar_begin(out, filter);

  for (; ops && ops->t; ops++)
    tar_op(a, f, ops);
  tar_end(a);
}

/* A raw ustar header, for names libarchive's writer refuses ("", ".."). */
static void raw_entry(struct tbuf *b, const char *name, char type, const char *link, const char *data)
{
  unsigned char h[512] = {0};
  size_t n = data ? strlen(data) : 0;
  unsigned sum = 0;

  snprintf((char *)h, 100, "%s", name);
  snprintf((char *)h + 100, 8, "%07o", 0644);
  snprintf((char *)h + 108, 8, "%07o", 0);
  snprintf((char *)h + 116, 8, "%07o", 0);
  snprintf((char *)h + 124, 12, "%011o", (unsigned)n);
  snprintf((char *)h + 136, 12, "%011o", MTIME);
  memset(h + 148, ' ', 8);
  h[156] = (unsigned char)type;
  if (link)
    snprintf((char *)h + 157, 100, "%s", link);
  memcpy(h + 257, "ustar", 6);
  memcpy(h + 263, "00", 2);
  for (int i = 0; i < 512; i++)
    sum += h[i];
  snprintf((char *)h + 148, 8, "%06o", sum);
  tbuf_add(b, h, 512);
  if (n) {
    unsigned char pad[512] = {0};

    tbuf_add(b, data, n);
    tbuf_add(b, pad, (512 - n % 512) % 512);
  }
}

static void raw_end(struct tbuf *b)
{
  unsigned char zero[1024] = {0};

  tbuf_add(b, zero, sizeof(zero));
}

static void gzip_buf(const struct tbuf *in, struct tbuf *out)
{
  z_stream z = {0};
  unsigned char chunk[65536];
  int zr;

  assert_int_equal(deflateInit2(&z, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
  z.next_in = in->p;
  z.avail_in = (uInt)in->len;
  do {
    z.next_out = chunk;
    z.avail_out = sizeof(chunk);
    zr = deflate(&z, Z_FINISH);
    tbuf_add(out, chunk, sizeof(chunk) - z.avail_out);
  } while (zr == Z_OK);
  assert_int_equal(zr, Z_STREAM_END);
  deflateEnd(&z);
}

static void zstd_buf(const struct tbuf *in, struct tbuf *out)
{
  size_t cap = ZSTD_compressBound(in->len), n;

  out->p = realloc(out->p, cap);
  n = ZSTD_compress(out->p, cap, in->p, in->len, 3);
  assert_false(ZSTD_isError(n));
  out->len = n;
  out->cap = cap;
}

/* ---- running the extractor ----------------------------------------------- */

static enum wh_code extract_bytes(struct fx *f, const void *p, size_t n, const struct cli_extract_opts *o,
                                  struct cli_extract_result *r, struct wh_err *e)
{
  int fd = memfd_create("layer", MFD_CLOEXEC);
  struct cli_extract_result dummy;
  enum wh_code rc;

  assert_true(fd >= 0);
  assert_int_equal(write(fd, p, n), (ssize_t)n);
  assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
  memset(e, 0, sizeof(*e));
  rc = cli_extract_layer(fd, f->rootfd, o, r ? r : &dummy, e);
  close(fd);
  if (rc != WH_OK)
    assert_true(e->msg[0] != '\0' && e->code == rc);
  return rc;
}

static enum wh_code extract_ops(struct fx *f, const struct op *ops, const struct cli_extract_opts *o,
                                struct wh_err *e)
{
  struct tbuf t = {0};
  enum wh_code rc;

  tar_ops(&t, f, ops, 0);
  rc = extract_bytes(f, t.p, t.len, o, NULL, e);
  free(t.p);
  return rc;
}

/* ---- containerd's TestBreakouts, ported ---------------------------------- */

struct bcase {
  const char *name;
  struct op lower[8]; /* extracted first (apply mode) */
  struct op layer[8];
  bool raw_layer;    /* layer[] written with raw_entry() instead */
  enum wh_code want; /* WH_OK: a safe result, checked by check() */
  const char *msg;   /* substring of the error message */
  void (*check)(struct fx *f);
};

static void check_unbroken(struct fx *f)
{
  assert_content(at(f, "etc/unbroken"), "unbroken");
}

static void check_emptied(struct fx *f)
{
  assert_content(at(f, "etc/emptied"), "");
}

static void check_mypasswd(struct fx *f)
{
  assert_same_file(at(f, "breakouts/mypasswd"), at(f, "etc/passwd"));
}

static void check_localpasswd(struct fx *f)
{
  assert_same_file(at(f, "localpasswd"), at(f, "etc/passwd"));
}

static void check_localetc_localpasswd(struct fx *f)
{
  /* localetc is a symlink to /etc inside the root: the link is etc/localpasswd */
  assert_same_file(at(f, "etc/localpasswd"), at(f, "etc/passwd"));
}

static void check_dir_override(struct fx *f)
{
  struct stat st;

  assert_int_equal(lstat(at(f, "localetc"), &st), 0);
  assert_true(S_ISDIR(st.st_mode));
  assert_same_file(at(f, "localetc/localpasswd"), at(f, "etc/passwd"));
}

static void check_dir_override_hardlink(struct fx *f)
{
  struct stat a, b;

  assert_content(at(f, "localetc/localpasswd"), "different");
  assert_content(at(f, "etc/passwd"), "inside");
  assert_int_equal(lstat(at(f, "localetc/localpasswd"), &a), 0);
  assert_int_equal(lstat(at(f, "etc/passwd"), &b), 0);
  assert_true(a.st_ino != b.st_ino);
}

static void check_whiteout_symlink(struct fx *f)
{
  assert_content(at(f, "etc/passwd"), "all users");
  assert_false(exists(at(f, "localetc")));
}

static void check_whiteout_symlink_path(struct fx *f)
{
  assert_content(at(f, "etc/passwd"), "all users");
  assert_false(exists(at(f, "etc/whitedout")));
}

static void check_whiteout_dirname(struct fx *f)
{
  assert_content(at(f, "etc/passwd"), "all users");
  assert_content(at(f, ".wh.etc/somefile"), "non-empty");
}

static void check_passwd_all_users(struct fx *f)
{
  assert_content(at(f, "etc/passwd"), "all users");
}

static void check_etc_gone(struct fx *f)
{
  assert_false(exists(at(f, "etc/passwd")));
}

static void check_symlink_before_target(struct fx *f)
{
  assert_symlink(at(f, "localpasswd-dup"), "/etc/passwd");
  assert_content(at(f, "etc/passwd"), "after");
}

static void check_hardlinked_symlink_rel(struct fx *f)
{
  assert_symlink(at(f, "localpasswd"), "../../../../../etc/passwd");
  assert_same_file(at(f, "localpasswd"), at(f, "passwdlink"));
}

static void check_hardlinked_symlink_abs(struct fx *f)
{
  assert_symlink(at(f, "localpasswd"), "/etc/passwd");
  assert_same_file(at(f, "localpasswd"), at(f, "passwdlink"));
}

static void check_sketchylink(struct fx *f)
{
  char inside[PATH_MAX];

  /* the symlink named by an absolute host path landed inside the root */
  char target[PATH_MAX];

  snprintf(inside, sizeof(inside), "%s/also-exists-outside-root", f->outside + 1);
  snprintf(target, sizeof(target), "%s/perm400", f->outside);
  assert_symlink(at(f, inside), target);
  assert_same_file(at(f, "sketchylink"), at(f, inside));
}

static void check_host_symlink_write(struct fx *f)
{
  char inside[PATH_MAX];

  snprintf(inside, sizeof(inside), "%s/hello", f->outside + 1);
  assert_content(at(f, inside), "pwned");
}

static void check_replaced_symlink(struct fx *f)
{
  assert_content(at(f, "victim"), "pwned");
}

static void check_abs_name(struct fx *f)
{
  assert_content(at(f, "abs"), "x");
}

static void check_host_whiteout(struct fx *f)
{
  assert_true(exists(at(f, "hostout")));
}

static void check_dev_through_symlink(struct fx *f)
{
  char inside[PATH_MAX];
  struct stat st;

  snprintf(inside, sizeof(inside), "%s/null", f->outside + 1);
  if (lstat(at(f, inside), &st) == 0) /* skipped where mknod is refused */
    assert_true(S_ISCHR(st.st_mode));
}

#define OPS(...)                                                                                             \
  {                                                                                                          \
    __VA_ARGS__,                                                                                             \
    {                                                                                                        \
      0, NULL, NULL, 0                                                                                       \
    }                                                                                                        \
  }

static const struct bcase breakouts[] = {
    {"SymlinkAbsolute",
     {{0}},
     OPS({'d', "etc", NULL, 0}, {'l', "localetc", "/etc", 0}, {'f', "/localetc/unbroken", "unbroken", 0}),
     false,
     WH_OK,
     NULL,
     check_unbroken},
    {"SymlinkUpAndOut",
     {{0}},
     OPS({'d', "etc", NULL, 0}, {'d', "dummy", NULL, 0}, {'l', "localetc", "/dummy/../etc", 0},
         {'f', "/localetc/unbroken", "unbroken", 0}),
     false,
     WH_OK,
     NULL,
     check_unbroken},
    {"SymlinkMultipleAbsolute",
     {{0}},
     OPS({'d', "etc", NULL, 0}, {'d', "dummy", NULL, 0}, {'l', "/dummy/etc", "/etc", 0},
         {'l', "localetc", "/dummy/etc", 0}, {'f', "/dummy/etc/unbroken", "unbroken", 0}),
     false,
     WH_OK,
     NULL,
     check_unbroken},
    {"SymlinkMultipleRelative",
     {{0}},
     OPS({'d', "etc", NULL, 0}, {'d', "dummy", NULL, 0}, {'l', "/dummy/etc", "/etc", 0},
         {'l', "localetc", "./dummy/etc", 0}, {'f', "/dummy/etc/unbroken", "unbroken", 0}),
     false,
     WH_OK,
     NULL,
     check_unbroken},
    {"SymlinkEmptyFile",
     {{0}},
     OPS({'d', "etc", NULL, 0}, {'f', "etc/emptied", "notempty", 0}, {'l', "localetc", "/etc", 0},
         {'f', "/localetc/emptied", "", 0}),
     false,
     WH_OK,
     NULL,
     check_emptied},
    {"HardlinkRelative",
     {{0}},
     OPS({'d', "etc", NULL, 0770}, {'f', "/etc/passwd", "inside", 0}, {'d', "breakouts", NULL, 0},
         {'l', "breakouts/d1", "../../etc", 0}, {'h', "breakouts/mypasswd", "/breakouts/d1/passwd", 0}),
     false,
     WH_OK,
     NULL,
     check_mypasswd},
    {"HardlinkDownAndOut",
     {{0}},
     OPS({'d', "etc", NULL, 0770}, {'f', "/etc/passwd", "inside", 0}, {'d', "breakouts", NULL, 0},
         {'d', "downandout", NULL, 0}, {'l', "breakouts/d1", "../downandout/../../etc", 0},
         {'h', "breakouts/mypasswd", "/breakouts/d1/passwd", 0}),
     false,
     WH_OK,
     NULL,
     check_mypasswd},
    {"HardlinkAbsolute",
     {{0}},
     OPS({'d', "etc", NULL, 0770}, {'f', "/etc/passwd", "inside", 0}, {'l', "localetc", "/etc", 0},
         {'h', "localpasswd", "/localetc/passwd", 0}),
     false,
     WH_OK,
     NULL,
     check_localpasswd},
    {"HardlinkRelativeLong",
     {{0}},
     OPS({'d', "etc", NULL, 0770}, {'f', "/etc/passwd", "inside", 0},
         {'l', "localetc", "../../../../../../../etc", 0}, {'h', "localpasswd", "/localetc/passwd", 0}),
     false,
     WH_OK,
     NULL,
     check_localpasswd},
    /* the kernel needs "upandout" to exist before its ".." (containerd
     * resolves lexically): a clear error instead of a link */
    {"HardlinkRelativeUpAndOut",
     {{0}},
     OPS({'d', "etc", NULL, 0770}, {'f', "/etc/passwd", "inside", 0},
         {'l', "localetc", "upandout/../../../etc", 0}, {'h', "localpasswd", "/localetc/passwd", 0}),
     false,
     WH_EIO,
     "hardlink target not found",
     NULL},
    {"HardlinkDirectRelative",
     {{0}},
     OPS({'d', "etc", NULL, 0770}, {'f', "/etc/passwd", "inside", 0},
         {'h', "localpasswd", "../../../../../etc/passwd", 0}),
     false,
     WH_EDENIED,
     "hardlink target escapes the root",
     NULL},
    {"HardlinkDirectAbsolute",
     {{0}},
     OPS({'d', "etc", NULL, 0770}, {'f', "/etc/passwd", "inside", 0}, {'h', "localpasswd", "/etc/passwd", 0}),
     false,
     WH_OK,
     NULL,
     check_localpasswd},
    {"SymlinkParentDirectory",
     {{0}},
     OPS({'d', "etc", NULL, 0770}, {'f', "/etc/passwd", "inside", 0}, {'l', "..", "/etc/", 0}),
     true,
     WH_EDENIED,
     "path escapes the root",
     NULL},
    {"SymlinkEmptyFilename",
     {{0}},
     OPS({'d', "etc", NULL, 0770}, {'f', "/etc/passwd", "inside", 0}, {'l', "", "/etc/", 0}),
     true,
     WH_EDENIED,
     "replaces the root directory",
     NULL},
    {"SymlinkParentRelative",
     {{0}},
     OPS({'d', "etc", NULL, 0770}, {'f', "/etc/passwd", "inside", 0}, {'l', "localetc/sub/..", "/etc/", 0},
         {'h', "/localetc/localpasswd", "/etc/passwd", 0}),
     false,
     WH_OK,
     NULL,
     check_localetc_localpasswd},
    {"SymlinkSlashEnded",
     {{0}},
     OPS({'d', "etc", NULL, 0770}, {'f', "/etc/passwd", "inside", 0}, {'d', "localetc/", NULL, 0770},
         {'h', "/localetc/localpasswd", "/etc/passwd", 0}),
     false,
     WH_OK,
     NULL,
     check_dir_override},
    {"SymlinkOverrideDirectory",
     OPS({'d', "etc", NULL, 0}, {'f', "etc/passwd", "inside", 0}, {'d', "localetc", NULL, 0}),
     OPS({'l', "localetc", "/etc", 0}, {'h', "/localetc/localpasswd", "/etc/passwd", 0}), false, WH_OK, NULL,
     check_localetc_localpasswd},
    {"SymlinkOverrideDirectoryRelative",
     OPS({'d', "etc", NULL, 0}, {'f', "etc/passwd", "inside", 0}, {'d', "localetc", NULL, 0}),
     OPS({'l', "localetc", "../../etc", 0}, {'h', "/localetc/localpasswd", "/etc/passwd", 0}), false, WH_OK,
     NULL, check_localetc_localpasswd},
    {"DirectoryOverrideSymlink",
     OPS({'d', "etc", NULL, 0}, {'f', "etc/passwd", "inside", 0}, {'l', "localetc", "/etc", 0}),
     OPS({'d', "/localetc/", NULL, 0}, {'h', "/localetc/localpasswd", "/etc/passwd", 0}), false, WH_OK, NULL,
     check_dir_override},
    {"DirectoryOverrideSymlinkAndHardlink",
     OPS({'d', "etc", NULL, 0}, {'f', "etc/passwd", "inside", 0}, {'l', "localetc", "etc", 0},
         {'h', "localetc/localpasswd", "etc/passwd", 0}),
     OPS({'d', "/localetc/", NULL, 0}, {'f', "/localetc/localpasswd", "different", 0}), false, WH_OK, NULL,
     check_dir_override_hardlink},
    {"WhiteoutRootParent", OPS({'d', "etc", NULL, 0}, {'f', "etc/passwd", "inside", 0}),
     OPS({'f', ".wh...", "", 0}), false, WH_EINVALID, "invalid whiteout name", NULL},
    {"WhiteoutParent", OPS({'d', "etc", NULL, 0}, {'f', "etc/passwd", "inside", 0}),
     OPS({'f', "etc/.wh...", "", 0}), false, WH_EINVALID, "invalid whiteout name", NULL},
    {"WhiteoutRoot", OPS({'d', "etc", NULL, 0}, {'f', "etc/passwd", "inside", 0}), OPS({'f', ".wh..", "", 0}),
     false, WH_EINVALID, "invalid whiteout name", NULL},
    {"WhiteoutCurrentDirectory", OPS({'d', "etc", NULL, 0}, {'f', "etc/passwd", "inside", 0}),
     OPS({'f', "etc/.wh..", "", 0}), false, WH_EINVALID, "invalid whiteout name", NULL},
    {"WhiteoutSymlink",
     OPS({'d', "etc", NULL, 0}, {'f', "etc/passwd", "all users", 0}, {'l', "localetc", "/etc", 0}),
     OPS({'f', ".wh.localetc", "", 0}), false, WH_OK, NULL, check_whiteout_symlink},
    {"WhiteoutSymlinkPath",
     OPS({'d', "etc", NULL, 0}, {'f', "etc/passwd", "all users", 0}, {'f', "etc/whitedout", "ahhhh", 0},
         {'l', "localetc", "/etc", 0}),
     OPS({'f', "localetc/.wh.whitedout", "", 0}), false, WH_OK, NULL, check_whiteout_symlink_path},
    {"WhiteoutDirectoryName",
     OPS({'d', "etc", NULL, 0}, {'f', "etc/passwd", "all users", 0}, {'f', "etc/whitedout", "ahhhh", 0},
         {'l', "localetc", "/etc", 0}),
     OPS({'f', ".wh.etc/somefile", "non-empty", 0}), false, WH_OK, NULL, check_whiteout_dirname},
    {"WhiteoutDeadSymlinkParent",
     OPS({'d', "etc", NULL, 0}, {'f', "etc/passwd", "all users", 0}, {'l', "localetc", "/dne", 0}),
     OPS({'f', "localetc/.wh.etc", "", 0}), false, WH_OK, NULL, check_passwd_all_users},
    {"WhiteoutRelativePath",
     OPS({'d', "etc", NULL, 0}, {'f', "etc/passwd", "all users", 0}, {'l', "localetc", "/dne", 0}),
     OPS({'f', "dne/../.wh.etc", "", 0}), false, WH_OK, NULL, check_etc_gone},
    {"HardlinkSymlinkBeforeCreateTarget",
     {{0}},
     OPS({'d', "etc", NULL, 0770}, {'l', "localpasswd", "/etc/passwd", 0},
         {'h', "localpasswd-dup", "localpasswd", 0}, {'f', "/etc/passwd", "after", 0}),
     false,
     WH_OK,
     NULL,
     check_symlink_before_target},
    {"HardlinkSymlinkRelative",
     {{0}},
     OPS({'d', "etc", NULL, 0770}, {'f', "/etc/passwd", "inside", 0},
         {'l', "passwdlink", "../../../../../etc/passwd", 0}, {'h', "localpasswd", "/passwdlink", 0}),
     false,
     WH_OK,
     NULL,
     check_hardlinked_symlink_rel},
    {"HardlinkSymlinkAbsolute",
     {{0}},
     OPS({'d', "etc", NULL, 0770}, {'f', "/etc/passwd", "inside", 0}, {'l', "passwdlink", "/etc/passwd", 0},
         {'h', "localpasswd", "/passwdlink", 0}),
     false,
     WH_OK,
     NULL,
     check_hardlinked_symlink_abs},
    /* T/outside/perm400 keeps its 0400 (the check is assert_outside_intact) */
    {"HardlinkSymlinkChmod",
     {{0}},
     OPS({'l', "@/also-exists-outside-root", "@/perm400", 0},
         {'h', "sketchylink", "@/also-exists-outside-root", 0}),
     false,
     WH_OK,
     NULL,
     check_sketchylink},
    /* more of our own, aimed at the host through real absolute paths */
    {"SymlinkToHostThenWrite",
     {{0}},
     OPS({'d', "@", NULL, 0}, {'l', "hostout", "@", 0}, {'f', "hostout/hello", "pwned", 0}),
     false,
     WH_OK,
     NULL,
     check_host_symlink_write},
    {"SymlinkToHostDangling",
     {{0}},
     OPS({'l', "hostout", "@", 0}, {'f', "hostout/hello", "pwned", 0}),
     false,
     WH_EIO,
     "create parent directory",
     NULL},
    {"SymlinkThenReplaceIt",
     {{0}},
     OPS({'l', "victim", "@/hello", 0}, {'f', "victim", "pwned", 0}),
     false,
     WH_OK,
     NULL,
     check_replaced_symlink},
    {"DotDotName", {{0}}, OPS({'f', "../escape", "x", 0}), false, WH_EDENIED, "path escapes the root", NULL},
    {"DotDotDeepName",
     {{0}},
     OPS({'d', "a", NULL, 0}, {'f', "a/../../escape", "x", 0}),
     false,
     WH_EDENIED,
     "path escapes the root",
     NULL},
    {"AbsoluteName", {{0}}, OPS({'f', "/abs", "x", 0}), false, WH_OK, NULL, check_abs_name},
    {"HardlinkToHostPath",
     {{0}},
     OPS({'h', "stolen", "@/hello", 0}),
     false,
     WH_EIO,
     "hardlink target not found",
     NULL},
    {"WhiteoutThroughHostSymlink", OPS({'l', "hostout", "@", 0}), OPS({'f', "hostout/.wh.hello", "", 0}),
     false, WH_OK, NULL, check_host_whiteout},
    {"OpaqueThroughHostSymlink", OPS({'l', "hostout", "@", 0}), OPS({'f', "hostout/.wh..wh..opq", "", 0}),
     false, WH_OK, NULL, check_host_whiteout},
    {"ReplaceRootWithSymlink",
     {{0}},
     OPS({'l', "/", "@", 0}),
     false,
     WH_EDENIED,
     "replaces the root directory",
     NULL},
    {"ReplaceRootWithFile",
     {{0}},
     OPS({'f', ".", "x", 0}),
     true,
     WH_EDENIED,
     "replaces the root directory",
     NULL},
    {"DeviceThroughHostSymlink",
     {{0}},
     OPS({'d', "@", NULL, 0}, {'l', "dev", "@", 0}, {'c', "dev/null", NULL, 0}),
     false,
     WH_OK,
     NULL,
     check_dev_through_symlink},
};

static void raw_ops(struct tbuf *t, const struct fx *f, const struct op *ops)
{
  char nb[PATH_MAX], ab[PATH_MAX];

  for (; ops->t; ops++) {
    const char *name = expand(f, ops->name, nb, sizeof(nb)), *arg = expand(f, ops->arg, ab, sizeof(ab));

    switch (ops->t) {
    case 'd':
      raw_entry(t, name, '5', NULL, NULL);
      break;
    case 'f':
      raw_entry(t, name, '0', NULL, arg);
      break;
    case 'l':
      raw_entry(t, name, '2', arg, NULL);
      break;
    default:
      raw_entry(t, name, '1', arg, NULL);
    }
  }
  raw_end(t);
}

static void run_breakout(struct fx *f, const struct bcase *c, unsigned flags)
{
  struct cli_extract_opts o;
  struct tbuf t = {0};
  struct wh_err e;
  enum wh_code rc;

  cli_extract_opts_init(&o);
  o.flags = flags;
  if (c->lower[0].t)
    assert_int_equal(extract_ops(f, c->lower, &o, &e), WH_OK);
  if (c->raw_layer)
    raw_ops(&t, f, c->layer);
  else
    tar_ops(&t, f, c->layer, 0);
  rc = extract_bytes(f, t.p, t.len, &o, NULL, &e);
  free(t.p);
  if (rc != c->want)
    fail_msg("%s: got %s (%s), want %s", c->name, wh_code_str(rc), e.msg, wh_code_str(c->want));
  if (c->msg && strstr(e.msg, c->msg) == NULL)
    fail_msg("%s: message \"%s\" lacks \"%s\"", c->name, e.msg, c->msg);
  if (rc == WH_OK && c->check)
    c->check(f);
  assert_outside_intact(f);
}

static void test_breakout(void **state)
{
  struct fx *f = *state;
  const struct bcase *c = f->arg;

  run_breakout(f, c, 0);
  fresh_root(f);
  run_breakout(f, c, CLI_EXTRACT_NO_OPENAT2);
}

/* ---- whiteouts ------------------------------------------------------------ */

static const struct op wh_lower[] = {
    {'d', "a", NULL, 0}, {'f', "a/f1", "1", 0},   {'f', "a/f2", "2", 0},   {'d', "b", NULL, 0},
    {'f', "c", "c", 0},  {'d', "d", NULL, 0},     {'d', "d/sub", NULL, 0}, {'f', "d/sub/old", "o", 0},
    {'d', "e", NULL, 0}, {'f', "e/gone", "g", 0}, {0, NULL, NULL, 0},
};

static const struct op wh_layer[] = {
    {'f', "a/.wh.f1", "", 0},
    {'f', ".wh.c", "", 0},
    {'d', "b", NULL, 0},
    {'f', "b/x", "new", 0},
    {'f', "b/.wh.x", "", 0},
    {'d', "d", NULL, 0},
    {'f', "d/.wh..wh..opq", "", 0},
    {'d', "d/sub", NULL, 0},
    {'f', "d/sub/new", "n", 0},
    {'d', "e", NULL, 0},
    {'f', "e/keep", "k", 0},
    {'f', "e/.wh..wh..opq", "", 0},
    {'f', "e/.wh..wh.plnk", "", 0},
    {0, NULL, NULL, 0},
};

static void test_whiteout_apply(void **state)
{
  struct fx *f = *state;
  struct cli_extract_result r;
  struct tbuf t = {0};
  struct wh_err e;

  assert_int_equal(extract_ops(f, wh_lower, NULL, &e), WH_OK);
  tar_ops(&t, f, wh_layer, 0);
  assert_int_equal(extract_bytes(f, t.p, t.len, NULL, &r, &e), WH_OK);
  free(t.p);
  assert_false(exists(at(f, "a/f1")));
  assert_content(at(f, "a/f2"), "2");
  assert_false(exists(at(f, "c")));
  assert_content(at(f, "b/x"), "new"); /* a whiteout never hides its own layer */
  assert_false(exists(at(f, "d/sub/old")));
  assert_content(at(f, "d/sub/new"), "n");
  assert_content(at(f, "e/keep"), "k"); /* written before the opaque marker */
  assert_false(exists(at(f, "e/gone")));
  assert_false(exists(at(f, "e/.wh..wh.plnk")));
  assert_int_equal(r.whiteouts, 5);
  assert_outside_intact(f);
}

static bool xattr_is(const char *path, const char *name, const char *want)
{
  char buf[16];
  ssize_t n = lgetxattr(path, name, buf, sizeof(buf) - 1);

  if (n < 0)
    return want == NULL;
  buf[n] = '\0';
  return want && strcmp(buf, want) == 0;
}

/* A layer for overlay mode, with an archive xattr in the overlay namespace
 * that must not reach the disk. */
static void overlay_layer(struct tbuf *t, const struct fx *f)
{
  static const struct op ops[] = {
      {'d', "a", NULL, 0},    {'f', "a/.wh.f1", "", 0}, {'d', "d", NULL, 0}, {'f', "d/.wh..wh..opq", "", 0},
      {'f', "d/new", "n", 0}, {0, NULL, NULL, 0},
  };
  struct archive *a = tar_begin(t, 0);
  struct archive_entry *e = entry_new("forged", AE_IFDIR, 0755, 0);

  for (const struct op *op = ops; op->t; op++)
    tar_op(a, f, op);
  archive_entry_xattr_add_entry(e, "trusted.overlay.opaque", "y", 1);
  archive_entry_xattr_add_entry(e, "user.overlay.opaque", "y", 1);
  tar_put(a, e, NULL, 0);
  tar_end(a);
}

static void test_whiteout_overlay(void **state)
{
  struct fx *f = *state;
  struct cli_extract_opts o;
  struct cli_extract_result r;
  struct tbuf t = {0};
  struct wh_err e;
  struct stat st;

  overlay_layer(&t, f);
  cli_extract_opts_init(&o);
  o.mode = CLI_EXTRACT_OVERLAY;
  if (extract_bytes(f, t.p, t.len, &o, &r, &e) != WH_OK) {
    free(t.p);
    skip(); /* trusted.* xattrs need CAP_SYS_ADMIN */
  }
  assert_int_equal(lstat(at(f, "a/f1"), &st), 0);
  assert_true(S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0));
  assert_true(xattr_is(at(f, "d"), "trusted.overlay.opaque", "y"));
  assert_content(at(f, "d/new"), "n");
  assert_true(xattr_is(at(f, "forged"), "trusted.overlay.opaque", NULL));
  assert_true(xattr_is(at(f, "forged"), "user.overlay.opaque", NULL));
  assert_true(r.xattrs_skipped >= 2); /* libarchive writes each xattr twice (SCHILY. and LIBARCHIVE.) */
  assert_int_equal(r.whiteouts, 2);

  /* the xattr form, in the user namespace (overlay mounted with userxattr) */
  fresh_root(f);
  o.flags = CLI_EXTRACT_XATTR_WHITEOUTS | CLI_EXTRACT_USER_XATTR;
  if (extract_bytes(f, t.p, t.len, &o, &r, &e) != WH_OK) {
    free(t.p);
    skip(); /* user xattrs unsupported by this filesystem */
  }
  free(t.p);
  assert_int_equal(lstat(at(f, "a/f1"), &st), 0);
  assert_true(S_ISREG(st.st_mode) && st.st_size == 0);
  assert_true(xattr_is(at(f, "a/f1"), "user.overlay.whiteout", "y"));
  assert_true(xattr_is(at(f, "a"), "user.overlay.opaque", "x"));
  assert_true(xattr_is(f->root, "user.overlay.opaque", "x"));
  assert_true(xattr_is(at(f, "d"), "user.overlay.opaque", "y"));
  assert_outside_intact(f);
}

/* Extracts into root/<name> (a fresh directory) with the given options. */
static void extract_into(struct fx *f, const char *name, const struct tbuf *t,
                         const struct cli_extract_opts *o)
{
  struct wh_err e;
  int saved = f->rootfd, fd;

  assert_int_equal(mkdir(at(f, name), 0755), 0);
  fd = open(at(f, name), O_PATH | O_DIRECTORY | O_CLOEXEC);
  assert_true(fd >= 0);
  f->rootfd = fd;
  if (extract_bytes(f, t->p, t->len, o, NULL, &e) != WH_OK)
    fail_msg("extract into %s: %s", name, e.msg);
  f->rootfd = saved;
  close(fd);
}

/* The real thing: both whiteout forms hide a lower layer's files in an
 * overlay mount (needs CAP_SYS_ADMIN; skipped otherwise). */
static void test_whiteout_overlay_mount(void **state)
{
  static const struct op base[] = {
      {'d', "a", NULL, 0}, {'f', "a/f1", "1", 0},  {'f', "a/f2", "2", 0},
      {'d', "d", NULL, 0}, {'f', "d/old", "o", 0}, {0, NULL, NULL, 0},
  };
  static const unsigned forms[] = {0, CLI_EXTRACT_XATTR_WHITEOUTS,
                                   CLI_EXTRACT_XATTR_WHITEOUTS | CLI_EXTRACT_USER_XATTR};
  struct fx *f = *state;
  struct cli_extract_opts o;
  struct tbuf lower = {0}, upper = {0};
  char opts[1024], merged[PATH_MAX], p[PATH_MAX + 16];

  tar_ops(&lower, f, base, 0);
  overlay_layer(&upper, f);
  cli_extract_opts_init(&o);
  extract_into(f, "l1", &lower, &o);
  for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
    char l2[16], m[16];

    snprintf(l2, sizeof(l2), "l2-%zu", i);
    snprintf(m, sizeof(m), "m-%zu", i);
    o.mode = CLI_EXTRACT_OVERLAY;
    o.flags = forms[i];
    extract_into(f, l2, &upper, &o);
    assert_int_equal(mkdir(at(f, m), 0755), 0);
    snprintf(opts, sizeof(opts), "lowerdir=%s:%s%s", at(f, l2), at(f, "l1"),
             (forms[i] & CLI_EXTRACT_USER_XATTR) ? ",userxattr" : "");
    snprintf(merged, sizeof(merged), "%s", at(f, m));
    if (mount("overlay", merged, "overlay", MS_RDONLY, opts) < 0) {
      print_message("# overlay mount refused (%s): skipped\n", strerror(errno));
      continue;
    }
    snprintf(p, sizeof(p), "%s/a/f1", merged);
    assert_false(exists(p));
    snprintf(p, sizeof(p), "%s/a/f2", merged);
    assert_content(p, "2");
    snprintf(p, sizeof(p), "%s/d/old", merged);
    assert_false(exists(p));
    snprintf(p, sizeof(p), "%s/d/new", merged);
    assert_content(p, "n");
    assert_int_equal(umount2(merged, MNT_DETACH), 0);
  }
  free(lower.p);
  free(upper.p);
  assert_outside_intact(f);
}

/* ---- devices, modes, owners: a busybox-like round trip ------------------- */

/* A sparse file: 1 MiB, 4 KiB of data at 512 KiB (libarchive's writer
 * takes the whole logical content and stores only the mapped parts). */
static void add_sparse(struct archive *a)
{
  static char content[1 << 20];
  struct archive_entry *e = entry_new("sparse", AE_IFREG, 0644, sizeof(content));

  memset(content + 512 * 1024, 'x', 4096);
  archive_entry_sparse_add_entry(e, 512 * 1024, 4096);
  assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
  assert_int_equal(archive_write_data(a, content, sizeof(content)), (la_ssize_t)sizeof(content));
  archive_entry_free(e);
}

static void busybox_layer(struct tbuf *t, const struct fx *f, int filter)
{
  static const struct op ops[] = {
      {'d', "bin", NULL, 0755},
      {'f', "bin/busybox", "\177ELF busybox", 0755},
      {'l', "bin/sh", "busybox", 0},
      {'h', "bin/ls", "bin/busybox", 0},
      {'d', "etc", NULL, 0755},
      {'f', "etc/passwd", "root:x:0:0:root:/root:/bin/sh\n", 0644},
      {'d', "tmp", NULL, 01777},
      {'d', "usr/bin", NULL, 0755},
      {'f', "usr/bin/su", "su", 04755},
      {'d', "run", NULL, 0755},
      {'p', "run/fifo", NULL, 0600},
      {'c', "dev/null", NULL, 0},
      {'d', "ro", NULL, 0555},
      {'f', "ro/inside", "i", 0444},
      {0, NULL, NULL, 0},
  };
  struct archive *a = tar_begin(t, filter);
  struct archive_entry *e;

  for (const struct op *op = ops; op->t; op++)
    tar_op(a, f, op);
  e = entry_new("home/user", AE_IFDIR, 0700, 0);
  archive_entry_set_uid(e, 1000);
  archive_entry_set_gid(e, 1000);
  tar_put(a, e, NULL, 0);
  e = entry_new("home/user/.profile", AE_IFREG, 0600, 2);
  archive_entry_set_uid(e, 1000);
  archive_entry_set_gid(e, 1001);
  archive_entry_xattr_add_entry(e, "user.wharf", "yes", 3);
  tar_put(a, e, "hi", 2);
  add_sparse(a);
  tar_end(a);
}

static void assert_mtime(const char *path)
{
  struct stat st;

  assert_int_equal(lstat(path, &st), 0);
  assert_int_equal(st.st_mtim.tv_sec, MTIME);
}

static void check_busybox(struct fx *f, const struct cli_extract_result *r)
{
  struct stat st;
  char buf[8];
  int fd;

  assert_mode(at(f, "bin"), 0755);
  assert_mode(at(f, "bin/busybox"), 0755);
  assert_content(at(f, "bin/busybox"), "\177ELF busybox");
  assert_symlink(at(f, "bin/sh"), "busybox");
  assert_same_file(at(f, "bin/ls"), at(f, "bin/busybox"));
  assert_mode(at(f, "tmp"), 01777);
  assert_mode(at(f, "usr/bin/su"), 0755); /* setuid dropped unless asked */
  assert_int_equal(lstat(at(f, "run/fifo"), &st), 0);
  assert_true(S_ISFIFO(st.st_mode));
  assert_mode(at(f, "run/fifo"), 0600);
  assert_mode(at(f, "ro"), 0555);
  assert_content(at(f, "ro/inside"), "i");
  assert_mode(at(f, "home/user"), 0700);
  assert_content(at(f, "home/user/.profile"), "hi");
  for (const char *const *p =
           (const char *const[]){"bin", "bin/busybox", "bin/sh", "etc", "tmp", "usr/bin", "run/fifo", "ro",
                                 "home/user", "home/user/.profile", NULL};
       *p; p++)
    assert_mtime(at(f, *p));
  assert_int_equal(lstat(at(f, "sparse"), &st), 0);
  assert_int_equal(st.st_size, 1 << 20);
  fd = open(at(f, "sparse"), O_RDONLY | O_CLOEXEC);
  assert_int_equal(pread(fd, buf, 2, 512 * 1024 - 1), 2);
  close(fd);
  assert_true(buf[0] == 0 && buf[1] == 'x');
  assert_int_equal(r->entries, 17);
}

static void test_roundtrip(void **state)
{
  static const int filters[] = {0, 'g', 'z'};
  static const enum cli_extract_compression want[] = {CLI_EXTRACT_PLAIN, CLI_EXTRACT_GZIP, CLI_EXTRACT_ZSTD};
  struct fx *f = *state;
  struct cli_extract_result r;
  struct wh_err e;
  struct stat st;

  for (int i = 0; i < 3; i++) {
    struct tbuf t = {0};

    fresh_root(f);
    busybox_layer(&t, f, filters[i]);
    if (extract_bytes(f, t.p, t.len, NULL, &r, &e) != WH_OK)
      fail_msg("extract: %s", e.msg);
    free(t.p);
    assert_int_equal(r.compression, want[i]);
    check_busybox(f, &r);
    if (geteuid() == 0) {
      assert_int_equal(lstat(at(f, "home/user/.profile"), &st), 0);
      assert_true(st.st_uid == 1000 && st.st_gid == 1001);
      assert_int_equal(lstat(at(f, "dev/null"), &st), 0);
      assert_true(S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 3));
      assert_int_equal(r.devices_skipped, 0);
    } else
      assert_true(r.devices_skipped == 1 || exists(at(f, "dev/null")));
    if (!xattr_is(at(f, "home/user/.profile"), "user.wharf", "yes"))
      assert_true(r.xattrs_skipped >= 1); /* no user xattrs on this filesystem */
  }
  assert_outside_intact(f);
}

static void test_owner_options(void **state)
{
  struct fx *f = *state;
  struct cli_extract_opts o;
  struct cli_extract_result r;
  struct tbuf t = {0};
  struct wh_err e;
  struct stat st;

  busybox_layer(&t, f, 0);
  cli_extract_opts_init(&o);
  o.flags = CLI_EXTRACT_KEEP_SUID | CLI_EXTRACT_NO_DEVICES;
  o.owner = CLI_EXTRACT_OWNER_NONE;
  assert_int_equal(extract_bytes(f, t.p, t.len, &o, &r, &e), WH_OK);
  assert_mode(at(f, "usr/bin/su"), 04755);
  assert_int_equal(r.devices_skipped, 1);
  assert_false(exists(at(f, "dev/null")));
  assert_int_equal(lstat(at(f, "home/user/.profile"), &st), 0);
  assert_int_equal(st.st_uid, geteuid());
  if (geteuid() == 0) {
    /* a subordinate range: 1000 -> 101000; an id past the range fails */
    fresh_root(f);
    o.owner = CLI_EXTRACT_OWNER_STRICT;
    o.uid_base = o.gid_base = 100000;
    o.id_count = 65536;
    assert_int_equal(extract_bytes(f, t.p, t.len, &o, &r, &e), WH_OK);
    assert_int_equal(lstat(at(f, "home/user/.profile"), &st), 0);
    assert_true(st.st_uid == 101000 && st.st_gid == 101001);
    assert_int_equal(lstat(at(f, "bin/busybox"), &st), 0);
    assert_true(st.st_uid == 100000);
    fresh_root(f);
    o.id_count = 1000;
    assert_int_equal(extract_bytes(f, t.p, t.len, &o, &r, &e), WH_EIO);
    assert_non_null(strstr(e.msg, "home/user"));
    fresh_root(f);
    o.owner = CLI_EXTRACT_OWNER_TRY;
    assert_int_equal(extract_bytes(f, t.p, t.len, &o, &r, &e), WH_OK);
    assert_int_equal(r.chown_failed, 2);
  }
  free(t.p);
  assert_outside_intact(f);
}

/* ---- bombs ------------------------------------------------------------------ */

/* n files bomb0.. of 16 MiB of zeros each, compressed by libarchive as it
 * streams (each file under the caps: only the stream's total is not). */
static void bomb(struct tbuf *t, int filter, int n)
{
  static char zeros[1 << 20];
  struct archive *a = tar_begin(t, filter);

  for (int i = 0; i < n; i++) {
    char name[16];
    struct archive_entry *e;

    snprintf(name, sizeof(name), "bomb%d", i);
    e = entry_new(name, AE_IFREG, 0644, 16 << 20);
    assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
    for (int j = 0; j < 16; j++)
      assert_true(archive_write_data(a, zeros, sizeof(zeros)) > 0);
    archive_entry_free(e);
  }
  tar_end(a);
}

/* Bytes written below the root (the bomb files). */
static off_t written(struct fx *f)
{
  off_t total = 0;
  struct stat st;

  for (int i = 0; i < 64; i++) {
    char name[16];

    snprintf(name, sizeof(name), "bomb%d", i);
    if (stat(at(f, name), &st) == 0)
      total += st.st_size;
  }
  return total;
}

static void test_gzip_bomb(void **state)
{
  struct fx *f = *state;
  struct cli_extract_opts o;
  struct tbuf t = {0};
  struct wh_err e;

  bomb(&t, 'g', 16); /* 256 MiB in about 256 KiB */
  cli_extract_opts_init(&o);
  o.media_type = WH_MT_OCI_LAYER_GZIP;
  o.max_size = 32u << 20;
  assert_int_equal(extract_bytes(f, t.p, t.len, &o, NULL, &e), WH_ETOOBIG);
  assert_non_null(strstr(e.msg, "larger than 33554432 bytes uncompressed"));
  assert_true(written(f) <= (32 << 20)); /* stopped within one buffer of the cap */
  fresh_root(f);
  cli_extract_opts_init(&o);
  o.max_ratio = 100;
  o.ratio_floor = 1u << 20;
  assert_int_equal(extract_bytes(f, t.p, t.len, &o, NULL, &e), WH_ETOOBIG);
  assert_non_null(strstr(e.msg, "decompression bomb"));
  assert_true(written(f) <= (4 << 20));
  /* one file claiming more than the cap stops before any byte of it */
  fresh_root(f);
  cli_extract_opts_init(&o);
  o.max_size = 8u << 20;
  assert_int_equal(extract_bytes(f, t.p, t.len, &o, NULL, &e), WH_ETOOBIG);
  assert_non_null(strstr(e.msg, "entry \"bomb0\": file larger than the layer size cap"));
  free(t.p);
  assert_outside_intact(f);
}

static void test_zstd_bomb(void **state)
{
  struct fx *f = *state;
  struct tbuf t = {0};
  struct wh_err e;

  bomb(&t, 'z', 64); /* 1 GiB */
  /* the defaults alone stop it: ratio past 64 MiB */
  assert_int_equal(extract_bytes(f, t.p, t.len, NULL, NULL, &e), WH_ETOOBIG);
  assert_non_null(strstr(e.msg, "decompression bomb"));
  assert_true(written(f) <= (CLI_EXTRACT_RATIO_FLOOR + (2 << 20)));
  free(t.p);
  assert_outside_intact(f);
}

/* ---- digests and compressed streams ------------------------------------- */

static const struct op small_ops[] = {
    {'d', "etc", NULL, 0},
    {'f', "etc/hostname", "wharf\n", 0},
    {'l', "etc/alias", "hostname", 0},
    {0, NULL, NULL, 0},
};

static void test_digests(void **state)
{
  struct fx *f = *state;
  struct tbuf plain = {0}, gz = {0}, zs = {0};
  const struct tbuf *forms[3] = {&plain, &gz, &zs};
  struct cli_extract_opts o;
  struct cli_extract_result r;
  struct wh_digest dig, diff, wrong;
  struct wh_err e;

  tar_ops(&plain, f, small_ops, 0);
  gzip_buf(&plain, &gz);
  zstd_buf(&plain, &zs);
  wh_digest_buf(WH_DIGEST_SHA256, plain.p, plain.len, &diff);
  wh_digest_buf(WH_DIGEST_SHA256, "x", 1, &wrong);
  for (int i = 0; i < 3; i++) {
    fresh_root(f);
    wh_digest_buf(WH_DIGEST_SHA256, forms[i]->p, forms[i]->len, &dig);
    cli_extract_opts_init(&o);
    o.digest = &dig;
    o.diff_id = &diff;
    assert_int_equal(extract_bytes(f, forms[i]->p, forms[i]->len, &o, &r, &e), WH_OK);
    assert_true(wh_digest_eq(&r.digest, &dig) && wh_digest_eq(&r.diff_id, &diff));
    assert_int_equal(r.compressed_size, forms[i]->len);
    assert_int_equal(r.size, plain.len);
    assert_content(at(f, "etc/hostname"), "wharf\n");
    /* a wrong diff_id: the whole stream is read, the result still written */
    fresh_root(f);
    o.diff_id = &wrong;
    memset(&r, 0, sizeof(r));
    assert_int_equal(extract_bytes(f, forms[i]->p, forms[i]->len, &o, &r, &e), WH_EDIGEST);
    assert_non_null(strstr(e.msg, "diff_id mismatch"));
    assert_true(wh_digest_eq(&r.diff_id, &diff));
    fresh_root(f);
    o.diff_id = &diff;
    o.digest = &wrong;
    assert_int_equal(extract_bytes(f, forms[i]->p, forms[i]->len, &o, &r, &e), WH_EDIGEST);
    assert_non_null(strstr(e.msg, "layer digest mismatch"));
  }
  /* sha512 diff_ids work too */
  fresh_root(f);
  wh_digest_buf(WH_DIGEST_SHA512, plain.p, plain.len, &diff);
  cli_extract_opts_init(&o);
  o.diff_id = &diff;
  assert_int_equal(extract_bytes(f, plain.p, plain.len, &o, &r, &e), WH_OK);
  assert_true(wh_digest_eq(&r.diff_id, &diff));
  free(plain.p);
  free(gz.p);
  free(zs.p);
  assert_outside_intact(f);
}

static void test_streams(void **state)
{
  struct fx *f = *state;
  struct tbuf plain = {0}, half1 = {0}, half2 = {0}, gz = {0}, zs = {0}, multi = {0};
  struct cli_extract_opts o;
  struct cli_extract_result r;
  struct wh_digest diff;
  struct wh_err e;
  size_t cut;

  tar_ops(&plain, f, small_ops, 0);
  /* bytes after the tar's end marker count in the diff_id */
  tbuf_add(&plain, (char[4096]){0}, 4096);
  wh_digest_buf(WH_DIGEST_SHA256, plain.p, plain.len, &diff);
  cli_extract_opts_init(&o);
  o.diff_id = &diff;
  assert_int_equal(extract_bytes(f, plain.p, plain.len, &o, &r, &e), WH_OK);
  /* multi-member gzip */
  cut = plain.len / 3;
  tbuf_add(&half1, plain.p, cut);
  tbuf_add(&half2, plain.p + cut, plain.len - cut);
  gzip_buf(&half1, &multi);
  gzip_buf(&half2, &multi);
  fresh_root(f);
  assert_int_equal(extract_bytes(f, multi.p, multi.len, &o, &r, &e), WH_OK);
  assert_int_equal(r.compression, CLI_EXTRACT_GZIP);
  /* truncated gzip, trailing garbage, corrupt data, truncated zstd */
  gzip_buf(&plain, &gz);
  zstd_buf(&plain, &zs);
  fresh_root(f);
  assert_int_equal(extract_bytes(f, gz.p, gz.len - 9, NULL, NULL, &e), WH_EINVALID);
  assert_non_null(strstr(e.msg, "gzip"));
  tbuf_add(&gz, "garbage", 7);
  fresh_root(f);
  assert_int_equal(extract_bytes(f, gz.p, gz.len, NULL, NULL, &e), WH_EINVALID);
  assert_non_null(strstr(e.msg, "after the compressed stream"));
  gz.p[gz.len / 2] ^= 0x55;
  fresh_root(f);
  assert_int_equal(extract_bytes(f, gz.p, gz.len, NULL, NULL, &e), WH_EINVALID);
  fresh_root(f);
  assert_int_equal(extract_bytes(f, zs.p, zs.len - 5, NULL, NULL, &e), WH_EINVALID);
  assert_non_null(strstr(e.msg, "zstd"));
  free(plain.p);
  free(half1.p);
  free(half2.p);
  free(gz.p);
  free(zs.p);
  free(multi.p);
  assert_outside_intact(f);
}

static void test_media_types(void **state)
{
  static const char *const layers[] = {
      WH_MT_OCI_LAYER,         WH_MT_OCI_LAYER_GZIP,    WH_MT_OCI_LAYER_ZSTD,    WH_MT_OCI_LAYER_ND,
      WH_MT_OCI_LAYER_ND_GZIP, WH_MT_OCI_LAYER_ND_ZSTD, WH_MT_DOCKER_LAYER_GZIP, WH_MT_DOCKER_LAYER_FOREIGN};
  struct fx *f = *state;
  enum cli_extract_compression c;
  struct cli_extract_opts o;
  struct cli_extract_result r;
  struct tbuf t = {0}, empty = {0}, gz = {0};
  struct wh_err e;

  for (size_t i = 0; i < sizeof(layers) / sizeof(layers[0]); i++)
    assert_int_equal(cli_extract_media_type(layers[i], &c, &e), WH_OK);
  assert_int_equal(cli_extract_media_type(WH_MT_OCI_CONFIG, &c, &e), WH_EUNSUPPORTED);
  tar_ops(&t, f, small_ops, 0);
  cli_extract_opts_init(&o);
  o.media_type = WH_MT_OCI_CONFIG;
  assert_int_equal(extract_bytes(f, t.p, t.len, &o, NULL, &e), WH_EUNSUPPORTED);
  /* the magic bytes win over what the media type announces */
  o.media_type = WH_MT_OCI_LAYER_ZSTD;
  assert_int_equal(extract_bytes(f, t.p, t.len, &o, &r, &e), WH_OK);
  assert_int_equal(r.compression, CLI_EXTRACT_PLAIN);
  assert_int_equal(extract_bytes(f,
                                 "\xfd"
                                 "7zXZ\0\0\0\0",
                                 10, NULL, NULL, &e),
                   WH_EUNSUPPORTED);
  assert_int_equal(extract_bytes(f, "hello, not a tar", 16, NULL, NULL, &e), WH_EINVALID);
  /* empty layers: no bytes at all, and gzip of two zero blocks */
  fresh_root(f);
  assert_int_equal(extract_bytes(f, "", 0, NULL, &r, &e), WH_OK);
  assert_int_equal(r.entries, 0);
  tbuf_add(&empty, (char[1024]){0}, 1024);
  gzip_buf(&empty, &gz);
  assert_int_equal(extract_bytes(f, gz.p, gz.len, NULL, &r, &e), WH_OK);
  assert_int_equal(r.entries, 0);
  assert_int_equal(count_entries(f->root), 0);
  free(t.p);
  free(empty.p);
  free(gz.p);
  assert_outside_intact(f);
}

/* ---- caps on headers and names ------------------------------------------- */

static void one_entry_with_xattrs(struct tbuf *t, int n, size_t size)
{
  struct archive *a = tar_begin(t, 0);
  struct archive_entry *e = entry_new("x", AE_IFREG, 0644, 0);
  char *v = calloc(1, size + 1);

  memset(v, 'v', size);
  for (int i = 0; i < n; i++) {
    char name[32];

    snprintf(name, sizeof(name), "user.x%d", i);
    archive_entry_xattr_add_entry(e, name, v, size);
  }
  tar_put(a, e, NULL, 0);
  tar_end(a);
  free(v);
}

static void test_caps(void **state)
{
  struct fx *f = *state;
  struct cli_extract_opts o;
  struct tbuf t = {0};
  struct wh_err e;
  char name[8192];
  size_t n = 0;

  one_entry_with_xattrs(&t, 200, 8);
  assert_int_equal(extract_bytes(f, t.p, t.len, NULL, NULL, &e), WH_ETOOBIG);
  assert_non_null(strstr(e.msg, "too many xattrs"));
  free(t.p);
  memset(&t, 0, sizeof(t));
  one_entry_with_xattrs(&t, 2, 3u << 20); /* a 6 MiB pax header */
  assert_int_equal(extract_bytes(f, t.p, t.len, NULL, NULL, &e), WH_EINVALID);
  free(t.p);
  /* a name past PATH_MAX, one too deep, one component past NAME_MAX */
  while (n + 2 < 6000)
    n += (size_t)snprintf(name + n, sizeof(name) - n, "ab/");
  memcpy(name + n, "f", 2);
  assert_int_equal(extract_ops(f, (struct op[]){{'f', name, "x", 0}, {0, NULL, NULL, 0}}, NULL, &e),
                   WH_ETOOBIG);
  for (n = 0; n < 300; n++)
    memcpy(name + 2 * n, "a/", 2);
  memcpy(name + 2 * n, "f", 2);
  assert_int_equal(extract_ops(f, (struct op[]){{'f', name, "x", 0}, {0, NULL, NULL, 0}}, NULL, &e),
                   WH_ETOOBIG);
  memset(name, 'n', 300);
  name[300] = '\0';
  assert_int_equal(extract_ops(f, (struct op[]){{'f', name, "x", 0}, {0, NULL, NULL, 0}}, NULL, &e),
                   WH_EINVALID);
  memset(name, 'n', 5000);
  name[5000] = '\0';
  assert_int_equal(extract_ops(f, (struct op[]){{'l', "long", name, 0}, {0, NULL, NULL, 0}}, NULL, &e),
                   WH_ETOOBIG);
  /* the number of entries */
  cli_extract_opts_init(&o);
  o.max_entries = 2;
  assert_int_equal(extract_ops(f, small_ops, &o, &e), WH_ETOOBIG);
  assert_non_null(strstr(e.msg, "more than 2 entries"));
  assert_outside_intact(f);
}

/* Names are bytes: UTF-8 in pax headers and Latin-1 in ustar ones. */
static void test_names(void **state)
{
  struct fx *f = *state;
  struct tbuf t = {0};
  struct wh_err e;

  struct archive *a;
  struct archive_entry *en;

  /* libarchive's writer needs a UTF-8 locale for this name; the extractor
   * must not (it runs in whatever locale wharf has: C here) */
  if (setlocale(LC_CTYPE, "C.UTF-8") == NULL)
    skip();
  a = tar_begin(&t, 0);
  en = entry_new("caf\xc3\xa9/na\xc3\xafve", AE_IFREG, 0644, 1);
  tar_put(a, en, "u", 1);
  tar_end(a);
  setlocale(LC_CTYPE, "C");
  if (extract_bytes(f, t.p, t.len, NULL, NULL, &e) != WH_OK)
    fail_msg("%s", e.msg);
  assert_content(at(f, "caf\xc3\xa9/na\xc3\xafve"), "u");
  free(t.p);
  memset(&t, 0, sizeof(t));
  raw_entry(&t, "\xe9t\xe9", '0', NULL, "l");
  raw_end(&t);
  assert_int_equal(extract_bytes(f, t.p, t.len, NULL, NULL, &e), WH_OK);
  assert_content(at(f, "\xe9t\xe9"), "l");
  free(t.p);
  assert_outside_intact(f);
}

static void test_rmtree(void **state)
{
  struct fx *f = *state;
  struct wh_err e;
  char link[PATH_MAX];

  assert_int_equal(mkdir(at(f, "x"), 0755), 0);
  assert_int_equal(mkdir(at(f, "x/locked"), 0755), 0);
  assert_int_equal(mkdir(at(f, "x/locked/deeper"), 0755), 0);
  put_file(at(f, "x/locked/deeper/file"), "f", 0000);
  snprintf(link, sizeof(link), "%s", f->outside);
  assert_int_equal(symlink(link, at(f, "x/locked/out")), 0);
  assert_int_equal(chmod(at(f, "x/locked/deeper"), 0), 0);
  assert_int_equal(chmod(at(f, "x/locked"), 0), 0);
  assert_int_equal(cli_extract_rmtree_at(f->rootfd, "x", &e), WH_OK);
  assert_false(exists(at(f, "x")));
  assert_int_equal(cli_extract_rmtree_at(f->rootfd, "x", &e), WH_OK);
  assert_int_equal(cli_extract_rmtree_at(f->rootfd, "..", &e), WH_EINVALID);
  assert_int_equal(cli_extract_rmtree_at(f->rootfd, "a/b", &e), WH_EINVALID);
  assert_outside_intact(f);
}

/* ---- main ------------------------------------------------------------------ */

#define TEST(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
  static const struct CMUnitTest fixed[] = {
      TEST(test_whiteout_apply),
      TEST(test_whiteout_overlay),
      TEST(test_whiteout_overlay_mount),
      TEST(test_roundtrip),
      TEST(test_owner_options),
      TEST(test_gzip_bomb),
      TEST(test_zstd_bomb),
      TEST(test_digests),
      TEST(test_streams),
      TEST(test_media_types),
      TEST(test_caps),
      TEST(test_names),
      TEST(test_rmtree),
  };
  size_t nb = sizeof(breakouts) / sizeof(breakouts[0]), nf = sizeof(fixed) / sizeof(fixed[0]);
  struct CMUnitTest *all = calloc(nb + nf, sizeof(*all));
  int rc;

  for (size_t i = 0; i < nb; i++)
    all[i] = (struct CMUnitTest){breakouts[i].name, test_breakout, setup, teardown, (void *)&breakouts[i]};
  memcpy(all + nb, fixed, sizeof(fixed));
  rc = _cmocka_run_group_tests("extract", all, nb + nf, NULL, NULL);
  free(all);
  return rc;
}
