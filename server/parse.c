/* server/parse.c - parsers for the untrusted pieces of a request.
 *
 * Everything here is pure (no libmicrohttpd, no store) so that
 * tests/fuzz/fuzz_route.c can feed it arbitrary bytes.
 *
 * Invariants: every parser reads at most the length it is given, never
 * allocates, and writes its outputs only on success. The request path is
 * parsed raw, never percent-decoded: names, references, digests and upload
 * ids have grammars without '%', so an encoded byte can only fail a grammar,
 * never smuggle a '/' or ".." into a name.
 */
#include "config.h"

#include "server/server.h"

#include <string.h>

#include "common/cleanup.h"
#include "common/fsutil.h"

/* Route markers, tried at each '/' from the right. Longer markers sharing a
 * prefix come first ("/blobs/uploads/" before "/blobs/"). */
struct marker {
  const char *text;
  enum srv_route_kind kind;
  bool at_end; /* marker must end the path (nothing after it) */
};

static const struct marker markers[] = {
    {"/blobs/uploads/", SRV_RT_UPLOAD, false}, {"/blobs/uploads", SRV_RT_UPLOAD_NEW, true},
    {"/blobs/", SRV_RT_BLOB, false},           {"/manifests/", SRV_RT_MANIFEST, false},
    {"/tags/list", SRV_RT_TAGS, true},         {"/referrers/", SRV_RT_REFERRERS, false},
    {"/_wharf/history/", SRV_RT_HISTORY, false}, {"/_wharf/rollback/", SRV_RT_ROLLBACK, false},
};

/* Paths outside the repository namespace: exact matches. "_wharf" cannot
 * be a repository name (components start with a letter or digit). */
struct fixed_path {
  const char *text;
  enum srv_route_kind kind;
};

static const struct fixed_path fixed_paths[] = {
    {"/v2/_catalog", SRV_RT_CATALOG},
    {"/v2/_wharf/token", SRV_RT_TOKEN},
    {"/v2/_wharf/usage", SRV_RT_USAGE},
    {"/metrics", SRV_RT_METRICS},
    {"/healthz", SRV_RT_HEALTHZ},
    {"/readyz", SRV_RT_READYZ},
    {"/v2/_oci/ext/discover", SRV_RT_DISCOVER},
};

size_t srv_uri_path(const char *uri, size_t len, size_t *off)
{
  size_t start = 0;

  /* absolute-form (RFC 9112 3.2.2): skip "scheme://authority" */
  for (size_t i = 0; i + 2 < len && uri[i] != '/'; i++) {
    if (uri[i] == ':' && uri[i + 1] == '/' && uri[i + 2] == '/') {
      const char *slash = memchr(uri + i + 3, '/', len - i - 3);
      start = slash ? (size_t)(slash - uri) : len;
      break;
    }
  }
  *off = start;
  for (size_t i = start; i < len; i++)
    if (uri[i] == '?' || uri[i] == '#' || uri[i] == '\0')
      return i - start;
  return len - start;
}

/* Which marker starts at p (within end), or NULL. */
static const struct marker *marker_at(const char *p, const char *end)
{
  size_t left = (size_t)(end - p);

  for (size_t i = 0; i < WH_ARRAY_LEN(markers); i++) {
    size_t n = strlen(markers[i].text);
    if (n > left || memcmp(p, markers[i].text, n) != 0)
      continue;
    if (markers[i].at_end && n != left)
      continue;
    return &markers[i];
  }
  return NULL;
}

static enum srv_path_status fill(struct srv_path *out, enum srv_route_kind kind, const char *name,
                                 size_t name_len, const char *arg, size_t arg_len)
{
  if (name_len == 0 || name_len > WH_NAME_MAX || !wh_name_valid(name, name_len))
    return SRV_PATH_NAME_INVALID;
  if (memchr(arg, '/', arg_len))
    return SRV_PATH_NOT_FOUND;
  memset(out, 0, sizeof(*out));
  out->kind = kind;
  memcpy(out->name, name, name_len);
  out->arg_len = arg_len;
  memcpy(out->arg, arg, arg_len > SRV_ARG_MAX ? SRV_ARG_MAX : arg_len);
  return SRV_PATH_OK;
}

static enum srv_path_status top_level(struct srv_path *out, enum srv_route_kind kind)
{
  memset(out, 0, sizeof(*out));
  out->kind = kind;
  return SRV_PATH_OK;
}

enum srv_path_status srv_path_parse(const char *path, size_t len, struct srv_path *out)
{
  const char *end = path + len;
  const char *rest;

  if ((len == 3 && memcmp(path, "/v2", 3) == 0) || (len == 4 && memcmp(path, "/v2/", 4) == 0))
    return top_level(out, SRV_RT_BASE);
  for (size_t i = 0; i < WH_ARRAY_LEN(fixed_paths); i++)
    if (strlen(fixed_paths[i].text) == len && memcmp(path, fixed_paths[i].text, len) == 0)
      return top_level(out, fixed_paths[i].kind);
  if (len < 4 || memcmp(path, "/v2/", 4) != 0)
    return SRV_PATH_NOT_FOUND;
  rest = path + 4;

  /* The rightmost marker wins: a repository may be called "a/blobs/b". */
  for (const char *p = end; p > rest;) {
    const struct marker *m;
    size_t n;

    p--;
    if (*p != '/')
      continue;
    m = marker_at(p, end);
    if (!m)
      continue;
    n = strlen(m->text);
    if (m->kind == SRV_RT_UPLOAD && p + n == end)
      return fill(out, SRV_RT_UPLOAD_NEW, rest, (size_t)(p - rest), "", 0);
    return fill(out, m->kind, rest, (size_t)(p - rest), p + n, (size_t)(end - p - n));
  }
  return SRV_PATH_NOT_FOUND;
}

/* Parses digits in [p, end) as u64; false when empty, not digits, overflow. */
static bool span_u64(const char *p, const char *end, uint64_t *out)
{
  return end > p && wh_parse_u64(p, (size_t)(end - p), out);
}

static const char *skip_spaces(const char *p)
{
  while (*p == ' ' || *p == '\t')
    p++;
  return p;
}

/* Trailing spaces do not count: returns the end of meaningful text. */
static const char *trim_end(const char *p)
{
  const char *e = p + strlen(p);

  while (e > p && (e[-1] == ' ' || e[-1] == '\t'))
    e--;
  return e;
}

enum srv_range_result srv_range_parse(const char *hdr, uint64_t size, uint64_t *first, uint64_t *last)
{
  const char *p, *end, *dash;
  uint64_t a = 0, b = 0;
  bool has_a, has_b;

  if (!hdr)
    return SRV_RANGE_NONE;
  p = skip_spaces(hdr);
  if (strncmp(p, "bytes=", 6) != 0)
    return SRV_RANGE_NONE;
  p = skip_spaces(p + 6);
  end = trim_end(p);
  if (memchr(p, ',', (size_t)(end - p)))
    return SRV_RANGE_NONE; /* several ranges: we send the whole body */
  dash = memchr(p, '-', (size_t)(end - p));
  if (!dash)
    return SRV_RANGE_NONE;
  has_a = span_u64(p, dash, &a);
  has_b = span_u64(dash + 1, end, &b);
  if ((!has_a && dash != p) || (!has_b && dash + 1 != end) || (!has_a && !has_b))
    return SRV_RANGE_NONE;
  if (!has_a) { /* suffix: the last b bytes */
    if (b == 0 || size == 0)
      return SRV_RANGE_UNSATISFIABLE;
    a = b >= size ? 0 : size - b;
    b = size - 1;
  } else {
    if (has_b && b < a)
      return SRV_RANGE_NONE; /* invalid syntax: ignored (RFC 9110 14.1.1) */
    if (a >= size)
      return SRV_RANGE_UNSATISFIABLE;
    if (!has_b || b >= size)
      b = size - 1;
  }
  *first = a;
  *last = b;
  return SRV_RANGE_OK;
}

bool srv_content_range_parse(const char *hdr, uint64_t *first, uint64_t *last)
{
  const char *p, *end, *dash, *slash;
  uint64_t a, b;

  if (!hdr)
    return false;
  p = skip_spaces(hdr);
  if (strncmp(p, "bytes", 5) == 0 && (p[5] == ' ' || p[5] == '='))
    p = skip_spaces(p + 6);
  end = trim_end(p);
  slash = memchr(p, '/', (size_t)(end - p));
  if (slash) {
    uint64_t total;
    bool star = slash + 2 == end && slash[1] == '*';
    if (!star && !span_u64(slash + 1, end, &total))
      return false;
    end = slash;
  }
  dash = memchr(p, '-', (size_t)(end - p));
  if (!dash || !span_u64(p, dash, &a) || !span_u64(dash + 1, end, &b) || b < a)
    return false;
  *first = a;
  *last = b;
  return true;
}

bool srv_parse_count(const char *s, uint64_t *out)
{
  return s && wh_parse_u64(s, strlen(s), out);
}

bool srv_find_digest(const char *text, struct wh_digest *out)
{
  static const char *const algs[] = {"sha256:", "sha512:"};

  if (!text)
    return false;
  for (const char *p = text; *p; p++) {
    for (size_t i = 0; i < WH_ARRAY_LEN(algs); i++) {
      size_t n = strlen(algs[i]), hex = 0;
      if (strncmp(p, algs[i], n) != 0)
        continue;
      while ((p[n + hex] >= '0' && p[n + hex] <= '9') || (p[n + hex] >= 'a' && p[n + hex] <= 'f'))
        hex++;
      if (wh_digest_parse(p, n + hex, out, NULL) == WH_OK)
        return true;
    }
  }
  return false;
}

bool srv_upload_id_valid(const char *s, size_t len)
{
  if (len != STORE_UPLOAD_ID_LEN)
    return false;
  for (size_t i = 0; i < len; i++)
    if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
      return false;
  return true;
}

/* One entity tag after optional spaces: `*`, "D", W/"D" or a bare D; the
 * digest must be well formed. Anything after it but spaces is INVALID
 * (a list "a", "b" included). */
enum srv_cond srv_cond_parse(const char *hdr, struct wh_digest *out)
{
  const char *p, *end, *q;
  bool weak = false;
  struct wh_digest d;

  if (!hdr)
    return SRV_COND_NONE;
  p = skip_spaces(hdr);
  end = trim_end(p);
  if (p == end)
    return SRV_COND_NONE;
  if (end - p == 1 && *p == '*')
    return SRV_COND_ANY;
  if (end - p >= 2 && p[0] == 'W' && p[1] == '/') {
    weak = true;
    p += 2;
  }
  if (*p == '"') {
    q = memchr(p + 1, '"', (size_t)(end - p - 1));
    if (q == NULL || q + 1 != end)
      return SRV_COND_INVALID;
    p++;
    end = q;
  } else if (weak) {
    return SRV_COND_INVALID;
  }
  if (end == p || memchr(p, ',', (size_t)(end - p)) || memchr(p, ' ', (size_t)(end - p)) ||
      wh_digest_parse(p, (size_t)(end - p), &d, NULL) != WH_OK)
    return SRV_COND_INVALID;
  if (weak)
    return SRV_COND_WEAK;
  *out = d;
  return SRV_COND_DIGEST;
}
