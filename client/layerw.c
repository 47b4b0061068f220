/* client/layerw.c - the layer writer: walks a directory tree, writes it as
 * a restricted-pax tar with libarchive (bound on first use), and sends the
 * tar through the sink: hashed (diff_id), compressed (zstd or gzip),
 * hashed again (layer digest) and written to the output fd, in one pass.
 * Contract and invariants in client/layerw.h.
 *
 * One directory, in order (walk()):
 *   names read and sorted byte-wise (list_dir())
 *   for each name: fstatat(AT_SYMLINK_NOFOLLOW) -> do_child():
 *     ".wh.*"                      refused
 *     directory                    entry, opaque marker (overlay "y"),
 *                                  then walk() of its fd (depth + 1)
 *     overlay whiteout             ".wh.NAME" marker
 *     nlink > 1, dev+ino seen      hardlink entry to the first name
 *     file / symlink / node        entry (file data read through an fd
 *                                  opened O_NOFOLLOW and checked to be the
 *                                  inode that was stat'ed)
 *     socket                       skipped
 * Memory: fixed buffers plus, per directory on the current path, its
 * sorted names (entries written + names listed and not yet written never
 * pass max_entries); the hardlink table holds the names of inodes with
 * nlink > 1.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <locale.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <zlib.h>
#include <zstd.h>

#include "client/archive-lazy.h"
#include "client/layerw.h"
#include "client/libs-lazy.h"
#include "common/buf.h"
#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/manifest.h"

#define LW_BUF (1u << 20)                 /* file reads; compressed output */
#define LW_BLOCK (128u << 10)             /* libarchive's write block (no padding at the end) */
#define LW_XATTR_LIST (64u << 10)         /* XATTR_LIST_MAX */
#define LW_XATTR_VALUE (64u << 10)        /* XATTR_SIZE_MAX */
#define LW_NAMES_MAX (256u << 20)         /* bytes of the names of one directory */
#define LW_LINK_NAMES_MAX (1024ull << 20) /* bytes of remembered hardlink targets */

#define WHITEOUT_PREFIX ".wh."
#define WHITEOUT_OPAQUE ".wh..wh..opq"

/* ---- the sink: tar bytes in, hashed and compressed bytes out ---------------- */

struct sink {
  int fd; /* borrowed */
  enum cli_layerw_compression comp;
  struct wh_hasher *hu; /* over the tar */
  struct wh_hasher *hc; /* over what is written; NULL for a plain tar (hu is both) */
  ZSTD_CCtx *zc;
  z_stream z;
  bool z_live;
  unsigned char *out; /* LW_BUF, compressed output */
  uint64_t usize, csize;
  struct wh_err fail; /* first failure; code WH_OK when none */
};

static enum wh_code sink_fail(struct sink *s, enum wh_code code, int errnum, const char *what)
{
  if (s->fail.code == WH_OK)
    wh_err_set(&s->fail, code, errnum, "%s", what);
  return s->fail.code;
}

/* Writes n compressed (or plain) bytes to the fd. */
static enum wh_code emit(struct sink *s, const void *p, size_t n)
{
  struct wh_err e;

  if (n == 0)
    return WH_OK;
  if (wh_write_all(s->fd, p, n, &e) != WH_OK)
    return sink_fail(s, WH_EIO, e.sys_errno, "write layer");
  if (s->hc)
    wh_hasher_update(s->hc, p, n);
  s->csize += n;
  return WH_OK;
}

static enum wh_code zstd_push(struct sink *s, const void *p, size_t n, ZSTD_EndDirective end)
{
  ZSTD_inBuffer in = {p, n, 0};
  size_t left;

  do {
    ZSTD_outBuffer out = {s->out, LW_BUF, 0};

    left = ZSTD_compressStream2(s->zc, &out, &in, end);
    if (ZSTD_isError(left)) {
      char msg[128];

      snprintf(msg, sizeof(msg), "zstd: %s", ZSTD_getErrorName(left));
      return sink_fail(s, WH_EINTERNAL, 0, msg);
    }
    if (emit(s, s->out, out.pos) != WH_OK)
      return s->fail.code;
  } while (end == ZSTD_e_end ? left != 0 : in.pos < in.size);
  return WH_OK;
}

static enum wh_code gzip_push(struct sink *s, const void *p, size_t n, int flush)
{
  int zr;

  s->z.next_in = (Bytef *)(uintptr_t)p;
  s->z.avail_in = (uInt)n;
  do {
    s->z.next_out = s->out;
    s->z.avail_out = LW_BUF;
    zr = deflate(&s->z, flush);
    if (zr == Z_STREAM_ERROR)
      return sink_fail(s, WH_EINTERNAL, 0, "zlib: deflate failed");
    if (emit(s, s->out, LW_BUF - s->z.avail_out) != WH_OK)
      return s->fail.code;
  } while (s->z.avail_out == 0 || (flush == Z_FINISH && zr != Z_STREAM_END));
  return WH_OK;
}

/* n bytes of tar. */
static enum wh_code sink_write(struct sink *s, const void *p, size_t n)
{
  if (s->fail.code != WH_OK)
    return s->fail.code;
  s->usize += n;
  wh_hasher_update(s->hu, p, n);
  switch (s->comp) {
  case CLI_LAYERW_ZSTD:
    return zstd_push(s, p, n, ZSTD_e_continue);
  case CLI_LAYERW_GZIP:
    return gzip_push(s, p, n, Z_NO_FLUSH);
  default:
    return emit(s, p, n);
  }
}

static enum wh_code setup_zstd(struct sink *s, const struct cli_layerw_opts *o, struct wh_err *err)
{
  int level = o->level ? o->level : CLI_LAYERW_ZSTD_LEVEL;

  if (level < ZSTD_minCLevel() || level > ZSTD_maxCLevel())
    return wh_err_set(err, WH_EINVALID, 0, "zstd level %d out of range", o->level);
  s->zc = ZSTD_createCCtx();
  if (s->zc == NULL)
    return wh_err_set(err, WH_ENOMEM, 0, "out of memory");
  if (ZSTD_isError(ZSTD_CCtx_setParameter(s->zc, ZSTD_c_compressionLevel, level)) ||
      ZSTD_isError(ZSTD_CCtx_setParameter(s->zc, ZSTD_c_checksumFlag, 1)))
    return wh_err_set(err, WH_EINTERNAL, 0, "zstd: cannot set the compression parameters");
  /* a libzstd built without threads refuses: compress in this thread then */
  if (o->threads > 0)
    (void)ZSTD_CCtx_setParameter(s->zc, ZSTD_c_nbWorkers, o->threads > 256 ? 256 : (int)o->threads);
  return WH_OK;
}

static enum wh_code setup_gzip(struct sink *s, const struct cli_layerw_opts *o, struct wh_err *err)
{
  int level = o->level ? o->level : CLI_LAYERW_GZIP_LEVEL;

  if (level < 1 || level > 9)
    return wh_err_set(err, WH_EINVALID, 0, "gzip level %d out of range", o->level);
  /* 16 + 15: a gzip wrapper; zlib writes no name and mtime 0 */
  if (deflateInit2(&s->z, level, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    return wh_err_set(err, WH_ENOMEM, 0, "zlib: deflateInit2 failed");
  s->z_live = true;
  return WH_OK;
}

static enum wh_code sink_init(struct sink *s, int fd, const struct cli_layerw_opts *o, struct wh_err *err)
{
  s->fd = fd;
  s->comp = o->compression;
  s->hu = wh_hasher_new(WH_DIGEST_SHA256);
  if (s->hu == NULL)
    return wh_err_set(err, WH_ENOMEM, 0, "out of memory");
  switch (s->comp) {
  case CLI_LAYERW_NONE:
    return o->level == 0 ? WH_OK : wh_err_set(err, WH_EINVALID, 0, "no level without compression");
  case CLI_LAYERW_ZSTD:
  case CLI_LAYERW_GZIP:
    break;
  default:
    return wh_err_set(err, WH_EINVALID, 0, "unknown layer compression %d", (int)s->comp);
  }
  s->hc = wh_hasher_new(WH_DIGEST_SHA256);
  s->out = malloc(LW_BUF);
  if (s->hc == NULL || s->out == NULL)
    return wh_err_set(err, WH_ENOMEM, 0, "out of memory");
  return s->comp == CLI_LAYERW_ZSTD ? setup_zstd(s, o, err) : setup_gzip(s, o, err);
}

static void sink_release(struct sink *s)
{
  if (s->z_live)
    deflateEnd(&s->z);
  ZSTD_freeCCtx(s->zc);
  wh_hasher_free(s->hu);
  wh_hasher_free(s->hc);
  free(s->out);
}

/* Ends the compressed stream and finalises both digests into r. */
static enum wh_code sink_finish(struct sink *s, struct cli_layerw_result *r, struct wh_err *err)
{
  enum wh_code rc = s->fail.code;

  if (rc == WH_OK && s->comp == CLI_LAYERW_ZSTD)
    rc = zstd_push(s, NULL, 0, ZSTD_e_end);
  else if (rc == WH_OK && s->comp == CLI_LAYERW_GZIP)
    rc = gzip_push(s, NULL, 0, Z_FINISH);
  if (rc != WH_OK) {
    if (err)
      *err = s->fail;
    return rc;
  }
  r->size = s->usize;
  r->compressed_size = s->csize;
  wh_hasher_final(s->hu, &r->diff_id);
  if (s->hc)
    wh_hasher_final(s->hc, &r->digest);
  else
    r->digest = r->diff_id;
  return WH_OK;
}

/* ---- hardlinks: dev+ino -> the first name written ------------------------- */

struct link_slot {
  dev_t dev;
  ino_t ino;
  size_t off; /* into links.names, + 1; 0: empty slot */
};

struct links {
  struct link_slot *slots; /* owned */
  size_t cap, n;           /* cap: a power of two, or 0 */
  struct wh_buf names;     /* NUL-separated */
};

static size_t link_hash(dev_t dev, ino_t ino)
{
  uint64_t x = (uint64_t)ino * 0x9e3779b97f4a7c15ull ^ (uint64_t)dev;

  x ^= x >> 31;
  x *= 0xbf58476d1ce4e5b9ull;
  return (size_t)(x ^ (x >> 29));
}

static struct link_slot *link_slot(const struct links *l, dev_t dev, ino_t ino)
{
  size_t i = link_hash(dev, ino) & (l->cap - 1);

  while (l->slots[i].off && !(l->slots[i].dev == dev && l->slots[i].ino == ino))
    i = (i + 1) & (l->cap - 1);
  return &l->slots[i];
}

static const char *links_find(const struct links *l, dev_t dev, ino_t ino)
{
  const struct link_slot *sl;

  if (l->cap == 0)
    return NULL;
  sl = link_slot(l, dev, ino);
  return sl->off ? l->names.data + sl->off - 1 : NULL;
}

static enum wh_code links_grow(struct links *l)
{
  size_t cap = l->cap ? l->cap * 2 : 1024;
  struct links bigger = {.cap = cap, .n = l->n, .names = l->names};

  bigger.slots = calloc(cap, sizeof(*bigger.slots));
  if (bigger.slots == NULL)
    return WH_ENOMEM;
  for (size_t i = 0; i < l->cap; i++)
    if (l->slots[i].off)
      *link_slot(&bigger, l->slots[i].dev, l->slots[i].ino) = l->slots[i];
  free(l->slots);
  *l = bigger;
  return WH_OK;
}

static enum wh_code links_add(struct links *l, dev_t dev, ino_t ino, const char *path)
{
  struct link_slot *sl;
  size_t off = l->names.len;
  enum wh_code rc;

  if ((l->n + 1) * 2 > l->cap && (rc = links_grow(l)) != WH_OK)
    return rc;
  if ((rc = wh_buf_append(&l->names, path, strlen(path) + 1)) != WH_OK)
    return rc;
  sl = link_slot(l, dev, ino);
  *sl = (struct link_slot){dev, ino, off + 1};
  l->n++;
  return WH_OK;
}

static void links_release(struct links *l)
{
  free(l->slots);
  wh_buf_release(&l->names);
}

/* ---- the walker's state ------------------------------------------------------ */

struct lw {
  const struct cli_layerw_opts *o;
  struct cli_layerw_result *r;
  struct wh_err *err;
  struct sink sink;
  struct archive *a;
  struct archive_entry *e;
  struct links links;
  uint64_t max_entries;
  uint64_t pending;    /* names listed, not yet written: entries + pending <= max_entries */
  char ns[20];         /* "trusted.overlay." or "user.overlay.": overlay mode's xattrs */
  unsigned char *buf;  /* LW_BUF: file data */
  char *xlist;         /* LW_XATTR_LIST */
  unsigned char *xval; /* LW_XATTR_VALUE */
  const char **xnames; /* LW_XATTR_LIST / 2 */
  char path[PATH_MAX]; /* the current entry's name, "" for the root */
  size_t len;
};

/* What a node's xattrs say besides the ones kept. */
struct xinfo {
  char opaque;           /* overlay.opaque's value, 0 when absent */
  const char *forbidden; /* overlay.redirect / overlay.metacopy, or NULL */
};

static bool overlay_mode(const struct lw *w)
{
  return w->o->mode == CLI_LAYERW_OVERLAY_UPPER;
}

static enum wh_code fail(struct lw *w, enum wh_code code, int errnum, const char *what)
{
  char shown[160];
  size_t i = 0;

  for (; w->path[i] && i + 4 < sizeof(shown); i++)
    shown[i] = (w->path[i] >= 0x20 && w->path[i] < 0x7f && w->path[i] != '"') ? w->path[i] : '?';
  if (w->path[i]) {
    memcpy(shown + i, "...", 3);
    i += 3;
  }
  shown[i] = '\0';
  return wh_err_set(w->err, code, errnum, "layer entry \"%s\": %s", i ? shown : ".", what);
}

static enum wh_code fail_errno(struct lw *w, int e, const char *what)
{
  if (e == ENOENT || e == ENOTDIR || e == ELOOP)
    return fail(w, WH_ECONFLICT, e, "changed while the layer was written");
  return fail(w, e == ENOMEM ? WH_ENOMEM : WH_EIO, e, what);
}

/* A libarchive failure: the sink's own when it caused it. */
static enum wh_code archive_fail(struct lw *w, const char *what)
{
  const char *msg = archive_error_string(w->a);
  char line[WH_ERR_MSG_MAX];

  if (w->sink.fail.code != WH_OK) {
    snprintf(line, sizeof(line), "%s", w->sink.fail.msg);
    return fail(w, w->sink.fail.code, 0, line);
  }
  snprintf(line, sizeof(line), "%s: %s", what, msg ? msg : "libarchive failed");
  return fail(w, WH_EIO, 0, line);
}

/* Appends "/name" (or "name" at the root) to the current path; *old gets
 * the length to come back to. */
static enum wh_code push(struct lw *w, const char *prefix, const char *name, size_t *old)
{
  int n = snprintf(w->path + w->len, sizeof(w->path) - w->len, "%s%s%s", w->len ? "/" : "", prefix, name);

  *old = w->len;
  if (n < 0 || (size_t)n >= sizeof(w->path) - w->len) {
    w->path[w->len] = '\0';
    return fail(w, WH_ETOOBIG, 0, "path too long");
  }
  if (strlen(prefix) + strlen(name) > NAME_MAX) {
    w->path[w->len] = '\0';
    return fail(w, WH_ETOOBIG, 0, "name too long for a whiteout");
  }
  w->len += (size_t)n;
  return WH_OK;
}

static void pop(struct lw *w, size_t old)
{
  w->len = old;
  w->path[old] = '\0';
}

/* ---- entries ----------------------------------------------------------------- */

/* Host id -> layer id (see layerw.h). */
static enum wh_code map_id(struct lw *w, uint32_t id, uint32_t base, uint32_t *out)
{
  char msg[64];

  if (w->o->id_count == 0) {
    *out = id;
    return WH_OK;
  }
  if (id >= base && id - base < w->o->id_count) {
    *out = id - base;
    return WH_OK;
  }
  if (w->o->flags & CLI_LAYERW_STRICT_IDS) {
    snprintf(msg, sizeof(msg), "id %u is outside the id mapping", id);
    return fail(w, WH_EINVALID, 0, msg);
  }
  w->r->ids_outside++;
  *out = 0;
  return WH_OK;
}

static int64_t clamp_mtime(const struct lw *w, int64_t t)
{
  return w->o->source_date_epoch >= 0 && t > w->o->source_date_epoch ? w->o->source_date_epoch : t;
}

static enum wh_code count_entry(struct lw *w)
{
  char msg[80];

  if (++w->r->entries <= w->max_entries)
    return WH_OK;
  snprintf(msg, sizeof(msg), "layer has more than %llu entries", (unsigned long long)w->max_entries);
  return fail(w, WH_ETOOBIG, 0, msg);
}

/* Name, type, mode, owner and mtime of the current path from st. */
static enum wh_code entry_start(struct lw *w, const struct stat *st, mode_t type)
{
  uint32_t uid, gid;
  enum wh_code rc;

  if ((rc = count_entry(w)) != WH_OK || (rc = map_id(w, st->st_uid, w->o->uid_base, &uid)) != WH_OK ||
      (rc = map_id(w, st->st_gid, w->o->gid_base, &gid)) != WH_OK)
    return rc;
  archive_entry_clear(w->e);
  archive_entry_copy_pathname(w->e, w->path);
  archive_entry_set_filetype(w->e, type);
  archive_entry_set_perm(w->e, st->st_mode & 07777);
  archive_entry_set_uid(w->e, uid);
  archive_entry_set_gid(w->e, gid);
  archive_entry_set_mtime(w->e, clamp_mtime(w, st->st_mtim.tv_sec), 0);
  return WH_OK;
}

static enum wh_code write_header(struct lw *w)
{
  return archive_write_header(w->a, w->e) < ARCHIVE_WARN ? archive_fail(w, "write tar header") : WH_OK;
}

/* An empty marker file at the current path, mode 0600, ids 0, mtime 0: a
 * whiteout or an opaque marker. */
static enum wh_code write_marker(struct lw *w)
{
  enum wh_code rc;

  if ((rc = count_entry(w)) != WH_OK)
    return rc;
  archive_entry_clear(w->e);
  archive_entry_copy_pathname(w->e, w->path);
  archive_entry_set_filetype(w->e, AE_IFREG);
  archive_entry_set_perm(w->e, 0600);
  archive_entry_set_size(w->e, 0);
  w->r->whiteouts++;
  return write_header(w);
}

/* ---- xattrs ------------------------------------------------------------------ */

static int cmp_names(const void *a, const void *b)
{
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static uint32_t le32(const unsigned char *p)
{
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put_le32(unsigned char *p, uint32_t v)
{
  p[0] = (unsigned char)v;
  p[1] = (unsigned char)(v >> 8);
  p[2] = (unsigned char)(v >> 16);
  p[3] = (unsigned char)(v >> 24);
}

/* A v3 (namespaced) file capability names its root by host uid: map it,
 * and write a v2 capability when it is 0 (linux/capability.h layout). */
static enum wh_code fix_caps(struct lw *w, unsigned char *v, size_t *n)
{
  enum { V2_SIZE = 20, V3_SIZE = 24, REV_MASK = 0xff000000u, REV2 = 0x02000000u, REV3 = 0x03000000u };
  uint32_t magic, root;
  enum wh_code rc;

  if (*n != V3_SIZE || ((magic = le32(v)) & REV_MASK) != REV3 || w->o->id_count == 0)
    return WH_OK;
  if ((rc = map_id(w, le32(v + 20), w->o->uid_base, &root)) != WH_OK)
    return rc;
  if (root != 0) {
    put_le32(v + 20, root);
    return WH_OK;
  }
  put_le32(v, (magic & ~REV_MASK) | REV2);
  *n = V2_SIZE;
  return WH_OK;
}

/* An overlay xattr (name without its namespace prefix): noted, never kept. */
static void overlay_xattr(struct lw *w, int fd, const char *what, struct xinfo *xi)
{
  char name[64], v[4];

  if (strcmp(what, "redirect") == 0 || strcmp(what, "metacopy") == 0) {
    xi->forbidden = strcmp(what, "redirect") == 0 ? "overlay redirect (a renamed directory)"
                                                  : "overlay metacopy (data in a lower layer)";
    return;
  }
  snprintf(name, sizeof(name), "%s%s", w->ns, what);
  if (strcmp(what, "opaque") == 0 && fgetxattr(fd, name, v, sizeof(v)) == 1)
    xi->opaque = v[0];
}

static bool kept_xattr(const char *name)
{
  if (strncmp(name, "user.", 5) == 0)
    return strncmp(name, "user.overlay.", 13) != 0;
  return strcmp(name, "security.capability") == 0;
}

/* Adds one kept xattr to the entry; *bytes counts names + values. */
static enum wh_code add_xattr(struct lw *w, int fd, const char *name, size_t *bytes)
{
  ssize_t n = fgetxattr(fd, name, w->xval, LW_XATTR_VALUE);
  size_t size;
  enum wh_code rc;

  if (n < 0 && errno == ENODATA)
    return WH_OK; /* removed meanwhile */
  if (n < 0)
    return fail_errno(w, errno, "read xattr");
  size = (size_t)n;
  if (strcmp(name, "security.capability") == 0 && (rc = fix_caps(w, w->xval, &size)) != WH_OK)
    return rc;
  *bytes += strlen(name) + size;
  if (*bytes > CLI_LAYERW_MAX_XATTR_BYTES)
    return fail(w, WH_ETOOBIG, 0, "xattrs too large");
  archive_entry_xattr_add_entry(w->e, name, w->xval, size);
  return WH_OK;
}

/* Lists fd's xattr names, NUL-separated, sorted into w->xnames; *count. */
static enum wh_code list_xattrs(struct lw *w, int fd, size_t *count)
{
  ssize_t n = flistxattr(fd, w->xlist, LW_XATTR_LIST);

  *count = 0;
  if (n < 0 && (errno == ENOTSUP || errno == EOPNOTSUPP))
    return WH_OK;
  if (n < 0)
    return fail_errno(w, errno, "list xattrs");
  for (ssize_t i = 0; i < n; i += (ssize_t)strlen(w->xlist + i) + 1)
    w->xnames[(*count)++] = w->xlist + i;
  qsort(w->xnames, *count, sizeof(*w->xnames), cmp_names);
  return WH_OK;
}

/* Reads fd's xattrs in name order: the kept ones go into the entry, the
 * overlay ones (overlay mode) into *xi, the rest are counted as dropped. */
static enum wh_code read_xattrs(struct lw *w, int fd, struct xinfo *xi)
{
  size_t count, kept = 0, bytes = 0, nslen = strlen(w->ns);
  enum wh_code rc;

  *xi = (struct xinfo){0};
  if ((rc = list_xattrs(w, fd, &count)) != WH_OK)
    return rc;
  for (size_t i = 0; i < count; i++) {
    const char *name = w->xnames[i];

    if (!kept_xattr(name)) {
      if (nslen && strncmp(name, w->ns, nslen) == 0)
        overlay_xattr(w, fd, name + nslen, xi);
      w->r->xattrs_dropped++;
      continue;
    }
    if (++kept > CLI_LAYERW_MAX_XATTRS)
      return fail(w, WH_ETOOBIG, 0, "too many xattrs");
    if ((rc = add_xattr(w, fd, name, &bytes)) != WH_OK)
      return rc;
  }
  if (xi->forbidden)
    return fail(w, WH_EUNSUPPORTED, 0, xi->forbidden);
  return WH_OK;
}

/* ---- one node ---------------------------------------------------------------- */

/* Opens dfd/name for reading, checking it is still the inode of *st;
 * *now (optional) gets its fresh stat. */
static enum wh_code open_same(struct lw *w, int dfd, const char *name, const struct stat *st, int flags,
                              int *out, struct stat *now_out)
{
  struct stat now;
  int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | flags);

  if (fd < 0)
    return fail_errno(w, errno, "open");
  if (fstat(fd, &now) < 0) {
    close(fd);
    return fail_errno(w, errno, "stat");
  }
  if (now.st_dev != st->st_dev || now.st_ino != st->st_ino ||
      (now.st_mode & S_IFMT) != (st->st_mode & S_IFMT)) {
    close(fd);
    return fail(w, WH_ECONFLICT, 0, "replaced while the layer was written");
  }
  if (now_out)
    *now_out = now;
  *out = fd;
  return WH_OK;
}

static enum wh_code copy_data(struct lw *w, int fd, uint64_t size)
{
  while (size > 0) {
    ssize_t n = read(fd, w->buf, size < LW_BUF ? (size_t)size : LW_BUF);

    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return fail_errno(w, errno, "read");
    if (n == 0)
      return fail(w, WH_ECONFLICT, 0, "file shrank while the layer was written");
    if (archive_write_data(w->a, w->buf, (size_t)n) != n)
      return archive_fail(w, "write tar data");
    size -= (uint64_t)n;
  }
  return WH_OK;
}

static enum wh_code do_file(struct lw *w, int dfd, const char *name, const struct stat *st)
{
  WH_AUTOCLOSE int fd = -1;
  struct stat now;
  struct xinfo xi;
  enum wh_code rc;

  if ((rc = open_same(w, dfd, name, st, 0, &fd, &now)) != WH_OK)
    return rc;
  if ((rc = entry_start(w, &now, AE_IFREG)) != WH_OK || (rc = read_xattrs(w, fd, &xi)) != WH_OK)
    return rc;
  archive_entry_set_size(w->e, now.st_size);
  if ((rc = write_header(w)) != WH_OK)
    return rc;
  return copy_data(w, fd, (uint64_t)now.st_size);
}

static enum wh_code do_symlink(struct lw *w, int dfd, const char *name, const struct stat *st)
{
  char target[PATH_MAX];
  ssize_t n = readlinkat(dfd, name, target, sizeof(target));
  enum wh_code rc;

  if (n < 0)
    return fail_errno(w, errno, "read symlink");
  if ((size_t)n >= sizeof(target))
    return fail(w, WH_ETOOBIG, 0, "symlink target too long");
  target[n] = '\0';
  if ((rc = entry_start(w, st, AE_IFLNK)) != WH_OK)
    return rc;
  archive_entry_set_perm(w->e, 0777);
  archive_entry_copy_symlink(w->e, target);
  return write_header(w);
}

/* Character and block devices, fifos: entries only. */
static enum wh_code do_node(struct lw *w, const struct stat *st)
{
  mode_t t = st->st_mode & S_IFMT;
  enum wh_code rc;

  if ((rc = entry_start(w, st, t == S_IFCHR ? AE_IFCHR : t == S_IFBLK ? AE_IFBLK : AE_IFIFO)) != WH_OK)
    return rc;
  if (t != S_IFIFO) {
    archive_entry_set_rdevmajor(w->e, major(st->st_rdev));
    archive_entry_set_rdevminor(w->e, minor(st->st_rdev));
  }
  return write_header(w);
}

static enum wh_code do_hardlink(struct lw *w, const struct stat *st, const char *target)
{
  enum wh_code rc;

  if ((rc = entry_start(w, st, st->st_mode & S_IFMT)) != WH_OK)
    return rc;
  archive_entry_copy_hardlink(w->e, target);
  archive_entry_set_size(w->e, 0);
  w->r->hardlinks++;
  return write_header(w);
}

/* Overlay mode: is dfd/name (st) a whiteout? */
static enum wh_code is_whiteout(struct lw *w, int dfd, const char *name, const struct stat *st, bool *out)
{
  char xname[64];
  WH_AUTOCLOSE int fd = -1;
  enum wh_code rc;

  *out = false;
  if (!overlay_mode(w))
    return WH_OK;
  if (S_ISCHR(st->st_mode)) {
    *out = st->st_rdev == makedev(0, 0);
    return WH_OK;
  }
  if (!S_ISREG(st->st_mode) || st->st_size != 0)
    return WH_OK;
  if ((rc = open_same(w, dfd, name, st, 0, &fd, NULL)) != WH_OK)
    return rc;
  snprintf(xname, sizeof(xname), "%swhiteout", w->ns);
  *out = fgetxattr(fd, xname, NULL, 0) >= 0;
  return WH_OK;
}

static enum wh_code walk(struct lw *w, int dfd, int depth);

static enum wh_code do_dir(struct lw *w, int dfd, const char *name, const struct stat *st, int depth)
{
  WH_AUTOCLOSE int fd = -1;
  struct xinfo xi;
  size_t old;
  enum wh_code rc;

  if (depth >= CLI_LAYERW_MAX_DEPTH)
    return fail(w, WH_ETOOBIG, 0, "directories nested too deep");
  if ((rc = open_same(w, dfd, name, st, O_DIRECTORY, &fd, NULL)) != WH_OK ||
      (rc = entry_start(w, st, AE_IFDIR)) != WH_OK || (rc = read_xattrs(w, fd, &xi)) != WH_OK ||
      (rc = write_header(w)) != WH_OK)
    return rc;
  if (overlay_mode(w) && xi.opaque == 'y') {
    if ((rc = push(w, "", WHITEOUT_OPAQUE, &old)) != WH_OK || (rc = write_marker(w)) != WH_OK)
      return rc;
    pop(w, old);
  }
  return walk(w, fd, depth + 1);
}

/* Everything but directories. */
static enum wh_code do_other(struct lw *w, int dfd, const char *name, const struct stat *st)
{
  const char *target;
  enum wh_code rc;

  if (st->st_nlink > 1) {
    if ((target = links_find(&w->links, st->st_dev, st->st_ino)) != NULL)
      return do_hardlink(w, st, target);
    if ((rc = links_add(&w->links, st->st_dev, st->st_ino, w->path)) != WH_OK)
      return fail(w, rc, 0, "remember hardlink");
  }
  switch (st->st_mode & S_IFMT) {
  case S_IFREG:
    rc = do_file(w, dfd, name, st);
    break;
  case S_IFLNK:
    rc = do_symlink(w, dfd, name, st);
    break;
  default:
    rc = do_node(w, st);
    break;
  }
  return rc;
}

static enum wh_code do_child(struct lw *w, int dfd, const char *name, int depth)
{
  struct stat st;
  size_t old;
  bool wo;
  enum wh_code rc;

  if ((rc = push(w, "", name, &old)) != WH_OK)
    return rc;
  if (strncmp(name, WHITEOUT_PREFIX, strlen(WHITEOUT_PREFIX)) == 0)
    return fail(w, WH_EINVALID, 0, "name reserved for whiteouts");
  if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
    return fail_errno(w, errno, "stat");
  if (S_ISDIR(st.st_mode))
    rc = do_dir(w, dfd, name, &st, depth);
  else if (S_ISSOCK(st.st_mode))
    w->r->skipped++;
  else if ((rc = is_whiteout(w, dfd, name, &st, &wo)) == WH_OK && wo) {
    pop(w, old);
    if ((rc = push(w, WHITEOUT_PREFIX, name, &old)) == WH_OK)
      rc = write_marker(w);
  } else if (rc == WH_OK)
    rc = do_other(w, dfd, name, &st);
  if (rc == WH_OK)
    pop(w, old);
  return rc;
}

/* ---- directories ------------------------------------------------------------- */

/* The names in directory dfd, sorted byte-wise: *names (owned) points into
 * *buf. */
static enum wh_code list_dir(struct lw *w, int dfd, struct wh_buf *buf, const char ***names, size_t *n)
{
  WH_AUTOCLOSEDIR DIR *d = NULL;
  struct dirent *de;
  int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  size_t off = 0;
  enum wh_code rc;

  *n = 0;
  if (fd < 0 || (d = fdopendir(fd)) == NULL) {
    int e = errno;

    if (fd >= 0)
      close(fd);
    return fail_errno(w, e, "open directory");
  }
  while ((errno = 0, de = readdir(d)) != NULL) {
    if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
      continue;
    if (w->r->entries + w->pending + ++*n > w->max_entries)
      return fail(w, WH_ETOOBIG, 0, "directory has too many entries");
    if ((rc = wh_buf_append(buf, de->d_name, strlen(de->d_name) + 1)) != WH_OK)
      return fail(w, rc, 0, "list directory");
  }
  if (errno != 0)
    return fail_errno(w, errno, "read directory");
  *names = calloc(*n ? *n : 1, sizeof(**names));
  if (*names == NULL)
    return fail(w, WH_ENOMEM, 0, "out of memory");
  for (size_t i = 0; i < *n; i++, off += strlen(buf->data + off) + 1)
    (*names)[i] = buf->data + off;
  qsort(*names, *n, sizeof(**names), cmp_names);
  w->pending += *n;
  return WH_OK;
}

static enum wh_code walk(struct lw *w, int dfd, int depth)
{
  struct wh_buf buf;
  WH_AUTOFREE const char **names = NULL;
  size_t n = 0;
  enum wh_code rc;

  wh_buf_init(&buf, LW_NAMES_MAX);
  rc = list_dir(w, dfd, &buf, &names, &n);
  for (size_t i = 0; rc == WH_OK && i < n; i++) {
    w->pending--;
    rc = do_child(w, dfd, names[i], depth);
  }
  wh_buf_release(&buf);
  return rc;
}

/* The root: no entry of its own, but an opaque marker when overlay says so. */
static enum wh_code walk_root(struct lw *w, int dirfd)
{
  WH_AUTOCLOSE int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  struct xinfo xi;
  size_t old;
  enum wh_code rc;

  if (fd < 0)
    return fail_errno(w, errno, "open directory");
  if (overlay_mode(w)) {
    if ((rc = read_xattrs(w, fd, &xi)) != WH_OK)
      return rc;
    if (xi.opaque == 'y' &&
        ((rc = push(w, "", WHITEOUT_OPAQUE, &old)) != WH_OK || (rc = write_marker(w)) != WH_OK))
      return rc;
    pop(w, 0);
  }
  return walk(w, fd, 0);
}

/* ---- setup and the entry point ----------------------------------------------- */

static la_ssize_t write_cb(struct archive *a, void *ud, const void *p, size_t n)
{
  if (sink_write(ud, p, n) != WH_OK) {
    archive_set_error(a, EIO, "layer output failed");
    return -1;
  }
  return (la_ssize_t)n;
}

static enum wh_code setup(struct lw *w, int out_fd, struct wh_err *err)
{
  enum wh_code rc;

  if (overlay_mode(w))
    snprintf(w->ns, sizeof(w->ns), "%s.overlay.", (w->o->flags & CLI_LAYERW_USER_XATTR) ? "user" : "trusted");
  else if (w->o->mode != CLI_LAYERW_PLAIN)
    return wh_err_set(err, WH_EINVALID, 0, "unknown layer writer mode %d", (int)w->o->mode);
  w->max_entries = w->o->max_entries ? w->o->max_entries : CLI_LAYERW_MAX_ENTRIES;
  wh_buf_init(&w->links.names, LW_LINK_NAMES_MAX);
  if ((rc = sink_init(&w->sink, out_fd, w->o, err)) != WH_OK)
    return rc;
  w->buf = malloc(LW_BUF);
  w->xlist = malloc(LW_XATTR_LIST);
  w->xval = malloc(LW_XATTR_VALUE);
  w->xnames = calloc(LW_XATTR_LIST / 2, sizeof(*w->xnames));
  w->a = archive_write_new();
  w->e = archive_entry_new();
  if (!w->buf || !w->xlist || !w->xval || !w->xnames || !w->a || !w->e)
    return wh_err_set(err, WH_ENOMEM, 0, "out of memory");
  if (archive_write_set_format_pax_restricted(w->a) != ARCHIVE_OK ||
      archive_write_set_bytes_per_block(w->a, LW_BLOCK) != ARCHIVE_OK ||
      archive_write_set_bytes_in_last_block(w->a, 1) != ARCHIVE_OK ||
      archive_write_open(w->a, &w->sink, NULL, write_cb, NULL) != ARCHIVE_OK)
    return wh_err_set(err, WH_EINTERNAL, 0, "libarchive: %s", archive_error_string(w->a));
  return WH_OK;
}

static void teardown(struct lw *w)
{
  if (w->a)
    archive_write_free(w->a); /* closes it first when still open */
  if (w->e)
    archive_entry_free(w->e);
  links_release(&w->links);
  sink_release(&w->sink);
  free(w->buf);
  free(w->xlist);
  free(w->xval);
  free(w->xnames);
}

void cli_layerw_opts_init(struct cli_layerw_opts *o)
{
  memset(o, 0, sizeof(*o));
  o->source_date_epoch = -1;
}

const char *cli_layerw_media_type(enum cli_layerw_compression c)
{
  switch (c) {
  case CLI_LAYERW_GZIP:
    return WH_MT_OCI_LAYER_GZIP;
  case CLI_LAYERW_NONE:
    return WH_MT_OCI_LAYER;
  default:
    return WH_MT_OCI_LAYER_ZSTD;
  }
}

/* Names go through libarchive's charset conversion: pin the thread's
 * LC_CTYPE to C.UTF-8 so that the bytes written never depend on the
 * caller's locale. Returns the locale to free (or 0). */
static locale_t pin_utf8(locale_t *old)
{
  locale_t utf8 = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);

  if (utf8 != (locale_t)0)
    *old = uselocale(utf8);
  return utf8;
}

static enum wh_code write_layer(struct lw *w, int dirfd, struct wh_err *err)
{
  enum wh_code rc;

  if ((rc = walk_root(w, dirfd)) != WH_OK)
    return rc;
  if (archive_write_close(w->a) != ARCHIVE_OK)
    return archive_fail(w, "finish tar");
  if ((rc = sink_finish(&w->sink, w->r, err)) != WH_OK)
    return rc;
  w->r->compression = w->o->compression;
  w->r->media_type = cli_layerw_media_type(w->o->compression);
  return WH_OK;
}

enum wh_code cli_layerw_from_dir(int dirfd, const struct cli_layerw_opts *o, int out_fd,
                                 struct cli_layerw_result *r, struct wh_err *err)
{
  struct cli_layerw_opts defaults;
  struct cli_layerw_result res = {0};
  struct lw w = {.r = &res, .err = err};
  locale_t old = (locale_t)0, utf8;
  enum wh_code rc;

  if ((rc = cli_archive_load(err)) != WH_OK)
    return rc;
  if (o == NULL) {
    cli_layerw_opts_init(&defaults);
    o = &defaults;
  }
  w.o = o;
  utf8 = pin_utf8(&old);
  rc = setup(&w, out_fd, err);
  if (rc == WH_OK)
    rc = write_layer(&w, dirfd, err);
  teardown(&w);
  if (utf8 != (locale_t)0) {
    uselocale(old);
    freelocale(utf8);
  }
  if (rc == WH_OK && r)
    *r = res;
  return rc;
}
