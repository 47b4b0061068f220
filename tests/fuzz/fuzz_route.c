/* tests/fuzz/fuzz_route.c - libFuzzer target for server/parse.c.
 *
 * The input is split into lines: a raw request target (path and query), a
 * Range header, an upload Content-Range header, a pagination count and an
 * If-Match header (the conditional manifest PUT's, srv_cond_parse). Each
 * goes through the parser wharfd uses for it, and what an accepted result
 * promises is checked: a routed name passes the name grammar and is a piece
 * of the path, an argument never holds '/', a byte range lies within the
 * resource, a content range is ordered, a digest found in text parses.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/server.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok)
{
  if (!ok)
    abort();
}

/* Next line of [*p, end) as a NUL-terminated copy in out (cut to out_size). */
static size_t next_line(const char **p, const char *end, char *out, size_t out_size)
{
  const char *nl = memchr(*p, '\n', (size_t)(end - *p));
  size_t n = (size_t)((nl ? nl : end) - *p);
  size_t copy = n < out_size - 1 ? n : out_size - 1;

  memcpy(out, *p, copy);
  out[copy] = '\0';
  *p = nl ? nl + 1 : end;
  return n;
}

static void check_path(const char *uri, size_t len)
{
  struct srv_path path;
  size_t off = 0, plen = srv_uri_path(uri, len, &off);
  enum srv_path_status st;

  check(off <= len && plen <= len - off);
  uri += off;
  st = srv_path_parse(uri, plen, &path);
  if (st != SRV_PATH_OK)
    return;
  check(path.kind > SRV_RT_NONE && path.kind < SRV_RT_MAX);
  check(strlen(path.arg) == (path.arg_len > SRV_ARG_MAX ? SRV_ARG_MAX : path.arg_len));
  check(strchr(path.arg, '/') == NULL);
  if (path.kind == SRV_RT_BASE || path.kind == SRV_RT_CATALOG || path.kind == SRV_RT_TOKEN ||
      path.kind == SRV_RT_USAGE || path.kind == SRV_RT_METRICS || path.kind == SRV_RT_HEALTHZ ||
      path.kind == SRV_RT_READYZ || path.kind == SRV_RT_DISCOVER) {
    check(path.name[0] == '\0');
    return;
  }
  check(wh_name_valid(path.name, strlen(path.name)));
  check(strstr(path.name, "..") == NULL && path.name[0] != '/');
  check(plen >= 4 + strlen(path.name) && memcmp(uri + 4, path.name, strlen(path.name)) == 0);
  if (path.kind == SRV_RT_UPLOAD_NEW || path.kind == SRV_RT_TAGS)
    check(path.arg_len == 0);
}

static void check_range(const char *hdr, uint64_t size)
{
  uint64_t first = 0, last = 0;

  if (srv_range_parse(hdr, size, &first, &last) == SRV_RANGE_OK)
    check(size > 0 && first <= last && last < size);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  const char *p = (const char *)data, *end = p + size;
  char line[4096];
  uint64_t a, b, n;
  struct wh_digest d;
  size_t len;

  check_path(p, size); /* the whole input as one raw target, too */
  len = next_line(&p, end, line, sizeof(line));
  check_path(line, len < sizeof(line) ? len : sizeof(line) - 1);
  next_line(&p, end, line, sizeof(line));
  check_range(line, size);
  check_range(line, 0);
  check_range(line, UINT64_MAX);
  next_line(&p, end, line, sizeof(line));
  if (srv_content_range_parse(line, &a, &b))
    check(a <= b);
  next_line(&p, end, line, sizeof(line));
  srv_parse_count(line, &n);
  if (srv_find_digest(line, &d))
    check(wh_digest_parsez(d.str, &d, NULL) == WH_OK);
  check(!srv_upload_id_valid(line, strlen(line)) || strlen(line) == STORE_UPLOAD_ID_LEN);
  next_line(&p, end, line, sizeof(line));
  if (srv_cond_parse(line, &d) == SRV_COND_DIGEST) /* a digest that is in the header */
    check(wh_digest_parsez(d.str, &d, NULL) == WH_OK && strstr(line, d.str) != NULL);
  return 0;
}
