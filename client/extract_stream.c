/* client/extract_stream.c - the extractor's input: the layer bytes read
 * from an fd, decompressed (zlib for gzip, libzstd for zstd) and hashed
 * twice in one pass, the layer digest over what is read and the diff_id
 * over what is produced, then handed to libarchive as plain tar.
 *
 * Invariants: every byte is hashed exactly once, when it is read (layer
 * digest) or produced (diff_id), so bytes libarchive never asks for (after
 * the tar's end marker) still count; a plain tar is hashed once and both
 * digests come from that hash when the algorithms agree. The uncompressed
 * size is capped by max_size, and past ratio_floor by max_ratio times the
 * compressed bytes read so far, so a bomb stops within one buffer of the
 * cap. Buffers are fixed (XS_BUF each way) and zstd's window is capped, so
 * memory does not depend on the input. Multi-member gzip and multi-frame
 * zstd are read to the end; anything else after the last member or frame
 * is an error, as is a truncated stream.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zlib.h>
#include <zstd.h>

#include "client/extract-int.h"
#include "client/libs-lazy.h"
#include "common/cleanup.h"
#include "common/manifest.h"

#define XS_BUF (1u << 20)
#define XS_ZSTD_WINDOW_LOG_MAX 27 /* zstd's own default limit: 128 MiB window */

struct xstream {
  int fd; /* borrowed */
  enum cli_extract_compression comp;
  struct wh_hasher *hc; /* over bytes read from fd */
  struct wh_hasher *hu; /* over bytes produced; NULL for a plain tar hashed once */
  enum wh_digest_alg alg_u;
  unsigned char *in; /* XS_BUF */
  size_t in_len, in_pos;
  bool in_eof;
  unsigned char *out; /* XS_BUF, NULL for plain */
  z_stream z;
  bool z_live;
  ZSTD_DCtx *zd;
  bool member_open; /* inside a gzip member or zstd frame */
  bool done;        /* the compressed stream ended cleanly */
  uint64_t csize, usize;
  uint64_t max_size, ratio_floor;
  uint32_t max_ratio;
  struct wh_err fail; /* first failure; fail.code WH_OK when none */
};

static const struct {
  const char *mt;
  enum cli_extract_compression comp;
} media_types[] = {
    {WH_MT_OCI_LAYER, CLI_EXTRACT_PLAIN},        {WH_MT_OCI_LAYER_GZIP, CLI_EXTRACT_GZIP},
    {WH_MT_OCI_LAYER_ZSTD, CLI_EXTRACT_ZSTD},    {WH_MT_OCI_LAYER_ND, CLI_EXTRACT_PLAIN},
    {WH_MT_OCI_LAYER_ND_GZIP, CLI_EXTRACT_GZIP}, {WH_MT_OCI_LAYER_ND_ZSTD, CLI_EXTRACT_ZSTD},
    {WH_MT_DOCKER_LAYER_GZIP, CLI_EXTRACT_GZIP}, {WH_MT_DOCKER_LAYER_FOREIGN, CLI_EXTRACT_GZIP},
};

enum wh_code cli_extract_media_type(const char *media_type, enum cli_extract_compression *out,
                                    struct wh_err *err)
{
  for (size_t i = 0; i < WH_ARRAY_LEN(media_types); i++) {
    if (strcmp(media_type, media_types[i].mt) == 0) {
      *out = media_types[i].comp;
      return WH_OK;
    }
  }
  return wh_err_set(err, WH_EUNSUPPORTED, 0, "media type \"%.200s\" is not a supported layer type",
                    media_type);
}

static enum wh_code fail(struct xstream *s, enum wh_code code, int errnum, const char *what)
{
  if (s->fail.code == WH_OK)
    wh_err_set(&s->fail, code, errnum, "%s", what);
  return s->fail.code;
}

/* Refills s->in when it is used up. */
static enum wh_code fill(struct xstream *s)
{
  ssize_t n;

  if (s->in_pos < s->in_len || s->in_eof)
    return WH_OK;
  do
    n = read(s->fd, s->in, XS_BUF);
  while (n < 0 && errno == EINTR);
  if (n < 0)
    return fail(s, WH_EIO, errno, "read layer");
  s->in_pos = 0;
  s->in_len = (size_t)n;
  s->in_eof = n == 0;
  s->csize += (uint64_t)n;
  wh_hasher_update(s->hc, s->in, (size_t)n);
  return WH_OK;
}

/* Hashes and counts n produced bytes; enforces the size and ratio caps. */
static enum wh_code produced(struct xstream *s, const void *p, size_t n)
{
  char msg[160];

  s->usize += n;
  if (s->hu)
    wh_hasher_update(s->hu, p, n);
  if (s->usize > s->max_size) {
    snprintf(msg, sizeof(msg), "layer is larger than %llu bytes uncompressed",
             (unsigned long long)s->max_size);
    return fail(s, WH_ETOOBIG, 0, msg);
  }
  /* compressed bytes consumed so far, not read: one read may hold a whole bomb */
  if (s->comp != CLI_EXTRACT_PLAIN && s->usize > s->ratio_floor &&
      s->usize / s->max_ratio > s->csize - (s->in_len - s->in_pos)) {
    snprintf(msg, sizeof(msg), "layer decompresses more than %u times its size (a decompression bomb?)",
             s->max_ratio);
    return fail(s, WH_ETOOBIG, 0, msg);
  }
  return WH_OK;
}

static bool is_gzip(const unsigned char *p, size_t n)
{
  return n >= 3 && p[0] == 0x1f && p[1] == 0x8b && p[2] == 8;
}

static bool is_zstd(const unsigned char *p, size_t n)
{
  static const unsigned char magic[4] = {0x28, 0xb5, 0x2f, 0xfd};

  if (n >= 4 && memcmp(p, magic, 4) == 0)
    return true;
  /* a skippable frame: 0x184D2A5? little endian */
  return n >= 4 && (p[0] & 0xf0) == 0x50 && p[1] == 0x2a && p[2] == 0x4d && p[3] == 0x18;
}

static enum wh_code sniff(struct xstream *s, struct wh_err *err)
{
  const unsigned char *p = s->in;
  size_t n = s->in_len;

  if (is_gzip(p, n))
    s->comp = CLI_EXTRACT_GZIP;
  else if (is_zstd(p, n))
    s->comp = CLI_EXTRACT_ZSTD;
  else if ((n >= 6 && memcmp(p,
                             "\xfd"
                             "7zXZ\0",
                             6) == 0) ||
           (n >= 3 && memcmp(p, "BZh", 3) == 0))
    return wh_err_set(err, WH_EUNSUPPORTED, 0,
                      "layer is compressed with xz or bzip2, which OCI does not allow");
  else
    s->comp = CLI_EXTRACT_PLAIN;
  return WH_OK;
}

static enum wh_code setup_codec(struct xstream *s, struct wh_err *err)
{
  if (s->comp == CLI_EXTRACT_PLAIN)
    return WH_OK;
  s->out = malloc(XS_BUF);
  if (s->out == NULL)
    return wh_err_set(err, WH_ENOMEM, 0, "out of memory");
  if (s->comp == CLI_EXTRACT_GZIP) {
    if (inflateInit2(&s->z, 16 + MAX_WBITS) != Z_OK)
      return wh_err_set(err, WH_ENOMEM, 0, "zlib: inflateInit2 failed");
    s->z_live = true;
    return WH_OK;
  }
  s->zd = ZSTD_createDCtx();
  if (s->zd == NULL)
    return wh_err_set(err, WH_ENOMEM, 0, "out of memory");
  if (ZSTD_isError(ZSTD_DCtx_setParameter(s->zd, ZSTD_d_windowLogMax, XS_ZSTD_WINDOW_LOG_MAX)))
    return wh_err_set(err, WH_EINTERNAL, 0, "zstd: cannot cap the window size");
  return WH_OK;
}

/* The layer-digest hasher exists before the first read; the diff_id one
 * only when a separate hash is needed (not for a plain tar whose two
 * digests use one algorithm). */
static enum wh_code setup_diff_hasher(struct xstream *s, enum wh_digest_alg alg_c, struct wh_err *err)
{
  if (s->comp == CLI_EXTRACT_PLAIN && alg_c == s->alg_u)
    return WH_OK;
  s->hu = wh_hasher_new(s->alg_u);
  if (s->hu == NULL)
    return wh_err_set(err, WH_ENOMEM, 0, "out of memory");
  return WH_OK;
}

enum wh_code xs_open(int fd, const struct cli_extract_opts *o, struct xstream **out, struct wh_err *err)
{
  struct xstream *s = calloc(1, sizeof(*s));
  enum wh_digest_alg alg_c = o->digest ? o->digest->alg : WH_DIGEST_SHA256;
  enum cli_extract_compression announced;
  enum wh_code rc;

  if (s == NULL)
    return wh_err_set(err, WH_ENOMEM, 0, "out of memory");
  s->fd = fd;
  s->alg_u = o->diff_id ? o->diff_id->alg : WH_DIGEST_SHA256;
  s->max_size = o->max_size ? o->max_size : CLI_EXTRACT_MAX_SIZE;
  s->max_ratio = o->max_ratio ? o->max_ratio : CLI_EXTRACT_MAX_RATIO;
  s->ratio_floor = o->ratio_floor ? o->ratio_floor : CLI_EXTRACT_RATIO_FLOOR;
  if (o->media_type && (rc = cli_extract_media_type(o->media_type, &announced, err)) != WH_OK)
    goto out;
  s->in = malloc(XS_BUF);
  s->hc = wh_hasher_new(alg_c);
  if (s->in == NULL || s->hc == NULL) {
    rc = wh_err_set(err, WH_ENOMEM, 0, "out of memory");
    goto out;
  }
  if (fill(s) != WH_OK) {
    rc = xs_failed(s, err);
    goto out;
  }
  if ((rc = sniff(s, err)) != WH_OK || (rc = setup_diff_hasher(s, alg_c, err)) != WH_OK ||
      (rc = setup_codec(s, err)) != WH_OK)
    goto out;
  *out = s;
  return WH_OK;
out:
  xs_free(s);
  return rc;
}

void xs_free(struct xstream *s)
{
  if (s == NULL)
    return;
  if (s->z_live)
    inflateEnd(&s->z);
  ZSTD_freeDCtx(s->zd);
  wh_hasher_free(s->hc);
  wh_hasher_free(s->hu);
  free(s->in);
  free(s->out);
  free(s);
}

enum wh_code xs_failed(const struct xstream *s, struct wh_err *err)
{
  if (s->fail.code != WH_OK && err)
    *err = s->fail;
  return s->fail.code;
}

/* Plain tar: the input buffer is the output. */
static ssize_t read_plain(struct xstream *s, const void **buf)
{
  size_t n;

  if (fill(s) != WH_OK)
    return -1;
  n = s->in_len - s->in_pos;
  *buf = s->in + s->in_pos;
  s->in_pos = s->in_len;
  if (n && produced(s, *buf, n) != WH_OK)
    return -1;
  if (n == 0)
    s->done = true;
  return (ssize_t)n;
}

/* At the end of a gzip member: another member may follow, nothing else. */
static enum wh_code gzip_member_end(struct xstream *s)
{
  s->member_open = false;
  if (fill(s) != WH_OK)
    return s->fail.code;
  if (s->in_pos == s->in_len) {
    s->done = true;
    return WH_OK;
  }
  if (!is_gzip(s->in + s->in_pos, s->in_len - s->in_pos))
    return fail(s, WH_EINVALID, 0, "gzip: unexpected data after the compressed stream");
  if (inflateReset(&s->z) != Z_OK)
    return fail(s, WH_EINTERNAL, 0, "gzip: inflateReset failed");
  return WH_OK;
}

static ssize_t read_gzip(struct xstream *s, const void **buf)
{
  while (!s->done) {
    int zr;
    size_t got;

    if (fill(s) != WH_OK)
      return -1;
    if (s->in_pos == s->in_len) {
      fail(s, WH_EINVALID, 0, "gzip: unexpected end of the compressed stream");
      return -1;
    }
    s->z.next_in = s->in + s->in_pos;
    s->z.avail_in = (uInt)(s->in_len - s->in_pos);
    s->z.next_out = s->out;
    s->z.avail_out = XS_BUF;
    s->member_open = true;
    zr = inflate(&s->z, Z_NO_FLUSH);
    s->in_pos = s->in_len - s->z.avail_in;
    got = XS_BUF - s->z.avail_out;
    if (zr != Z_OK && zr != Z_STREAM_END && !(zr == Z_BUF_ERROR && got == 0 && s->z.avail_in == 0)) {
      fail(s, WH_EINVALID, 0, zr == Z_MEM_ERROR ? "gzip: out of memory" : "gzip: corrupt compressed data");
      return -1;
    }
    if (zr == Z_STREAM_END && gzip_member_end(s) != WH_OK)
      return -1;
    if (got) {
      *buf = s->out;
      return produced(s, s->out, got) == WH_OK ? (ssize_t)got : -1;
    }
  }
  return 0;
}

static ssize_t read_zstd(struct xstream *s, const void **buf)
{
  while (!s->done) {
    ZSTD_inBuffer in;
    ZSTD_outBuffer out = {s->out, XS_BUF, 0};
    size_t zr;

    if (fill(s) != WH_OK)
      return -1;
    if (s->in_pos == s->in_len) {
      if (s->member_open) {
        fail(s, WH_EINVALID, 0, "zstd: unexpected end of the compressed stream");
        return -1;
      }
      s->done = true;
      break;
    }
    in = (ZSTD_inBuffer){s->in, s->in_len, s->in_pos};
    zr = ZSTD_decompressStream(s->zd, &out, &in);
    s->in_pos = in.pos;
    if (ZSTD_isError(zr)) {
      char msg[128];

      snprintf(msg, sizeof(msg), "zstd: %s", ZSTD_getErrorName(zr));
      fail(s, WH_EINVALID, 0, msg);
      return -1;
    }
    /* 0: a frame ended and everything is flushed */
    s->member_open = zr != 0;
    if (out.pos) {
      *buf = s->out;
      return produced(s, s->out, out.pos) == WH_OK ? (ssize_t)out.pos : -1;
    }
  }
  return 0;
}

ssize_t xs_read(struct xstream *s, const void **buf)
{
  if (s->fail.code != WH_OK)
    return -1;
  switch (s->comp) {
  case CLI_EXTRACT_GZIP:
    return read_gzip(s, buf);
  case CLI_EXTRACT_ZSTD:
    return read_zstd(s, buf);
  default:
    return read_plain(s, buf);
  }
}

enum wh_code xs_finish(struct xstream *s, struct cli_extract_result *r, struct wh_err *err)
{
  const void *p;
  ssize_t n;

  while ((n = xs_read(s, &p)) > 0)
    ;
  if (n < 0)
    return xs_failed(s, err);
  r->compression = s->comp;
  r->compressed_size = s->csize;
  r->size = s->usize;
  wh_hasher_final(s->hc, &r->digest);
  if (s->hu)
    wh_hasher_final(s->hu, &r->diff_id);
  else
    r->diff_id = r->digest;
  return WH_OK;
}
