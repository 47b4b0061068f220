/* common/ref.c - image references and the distribution-spec name grammar.
 *
 * Invariants: a name accepted by wh_name_valid() is 1..255 bytes of
 * [a-z0-9._/-] in which every "/"-separated component starts and ends with
 * [a-z0-9], separators are ".", "_", "__" or runs of "-"; so it has no
 * "..", no "//", no "/" at either end and is safe as a relative path. A tag
 * accepted by wh_tag_valid() starts with [A-Za-z0-9_], so it is never "."
 * or "..". The domain rule is docker's (first part has '.' or ':' or is
 * "localhost"), the domain grammar distribution/reference's.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/cleanup.h"
#include "common/ref.h"

static bool is_lower_alnum(char c)
{
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool is_alnum(char c)
{
  return is_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

static bool is_digit(char c)
{
  return c >= '0' && c <= '9';
}

/* component := [a-z0-9]+ ((\.|_|__|-+) [a-z0-9]+)* */
static bool component_valid(const char *s, size_t len)
{
  size_t i = 0;

  if (len == 0 || !is_lower_alnum(s[0]) || !is_lower_alnum(s[len - 1]))
    return false;
  while (i < len) {
    if (is_lower_alnum(s[i])) {
      i++;
      continue;
    }
    /* A separator run; the checks above guarantee alnum on both sides. */
    if (s[i] == '.') {
      i++;
    } else if (s[i] == '_') {
      i += (i + 1 < len && s[i + 1] == '_') ? 2 : 1;
    } else if (s[i] == '-') {
      while (i < len && s[i] == '-')
        i++;
    } else {
      return false;
    }
    if (i >= len || !is_lower_alnum(s[i]))
      return false;
  }
  return true;
}

bool wh_name_valid(const char *s, size_t len)
{
  size_t start = 0;

  if (s == NULL || len == 0 || len > WH_NAME_MAX)
    return false;
  for (size_t i = 0; i <= len; i++) {
    if (i == len || s[i] == '/') {
      if (!component_valid(s + start, i - start))
        return false;
      start = i + 1;
    }
  }
  return true;
}

static bool is_word(char c)
{
  return is_alnum(c) || c == '_';
}

/* tag := [A-Za-z0-9_][A-Za-z0-9._-]{0,127} */
bool wh_tag_valid(const char *s, size_t len)
{
  if (s == NULL || len == 0 || len > WH_TAG_MAX || !is_word(s[0]))
    return false;
  for (size_t i = 1; i < len; i++)
    if (!is_word(s[i]) && s[i] != '.' && s[i] != '-')
      return false;
  return true;
}

/* domain-component := [A-Za-z0-9] | [A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9] */
static bool domain_component_valid(const char *s, size_t len)
{
  if (len == 0 || !is_alnum(s[0]) || !is_alnum(s[len - 1]))
    return false;
  for (size_t i = 0; i < len; i++)
    if (!is_alnum(s[i]) && s[i] != '-')
      return false;
  return true;
}

/* Host part: "[" [A-Fa-f0-9:]+ "]" or components joined by ".". Returns its
 * length, 0 when invalid. */
static size_t host_span(const char *s, size_t len)
{
  size_t i = 0, start = 0;

  if (len > 0 && s[0] == '[') {
    for (i = 1; i < len && (is_digit(s[i]) || (s[i] >= 'a' && s[i] <= 'f') || (s[i] >= 'A' && s[i] <= 'F') ||
                            s[i] == ':');
         i++)
      ;
    return (i > 1 && i < len && s[i] == ']') ? i + 1 : 0;
  }
  for (i = 0; i <= len; i++) {
    if (i == len || s[i] == '.' || s[i] == ':') {
      if (!domain_component_valid(s + start, i - start))
        return 0;
      if (i == len || s[i] == ':')
        return i;
      start = i + 1;
    }
  }
  return 0;
}

/* domain := host [":" [0-9]+] */
static bool domain_valid(const char *s, size_t len)
{
  size_t h = host_span(s, len);

  if (h == 0)
    return false;
  if (h == len)
    return true;
  if (s[h] != ':' || h + 1 == len)
    return false;
  for (size_t i = h + 1; i < len; i++)
    if (!is_digit(s[i]))
      return false;
  return true;
}

/* Docker's rule: the first part is a domain when there is a "/" after it and
 * it has '.' or ':' or is "localhost". Returns the domain length or 0. */
static size_t domain_len(const char *s, size_t len)
{
  const char *slash = memchr(s, '/', len);
  size_t n;

  if (slash == NULL)
    return 0;
  n = (size_t)(slash - s);
  if (memchr(s, '.', n) || memchr(s, ':', n) || (n == 9 && memcmp(s, "localhost", 9) == 0))
    return n;
  return 0;
}

static enum wh_code dup_part(const char *s, size_t n, char **out, struct wh_err *err)
{
  *out = strndup(s, n);
  if (*out == NULL)
    return wh_err_set(err, WH_ENOMEM, 0, "reference: out of memory");
  return WH_OK;
}

/* Splits "name[:tag]" (after the domain) into its parts in r. */
static enum wh_code parse_name_tag(const char *s, size_t len, const char *full, struct wh_ref *r,
                                   struct wh_err *err)
{
  const char *colon = memrchr(s, ':', len);
  size_t nlen = colon ? (size_t)(colon - s) : len;

  if (nlen > WH_NAME_MAX)
    return wh_err_set(err, WH_EINVALID, 0, "reference \"%.64s...\": name longer than %d", full, WH_NAME_MAX);
  if (!wh_name_valid(s, nlen))
    return wh_err_set(err, WH_EINVALID, 0, "reference \"%.300s\": invalid repository name", full);
  if (colon && !wh_tag_valid(colon + 1, len - nlen - 1))
    return wh_err_set(err, WH_EINVALID, 0, "reference \"%.300s\": invalid tag", full);
  if (dup_part(s, nlen, &r->name, err) != WH_OK)
    return WH_ENOMEM;
  if (colon)
    return dup_part(colon + 1, len - nlen - 1, &r->tag, err);
  return WH_OK;
}

static void cleanup_ref(struct wh_ref *r)
{
  wh_ref_release(r);
}

enum wh_code wh_ref_parse(const char *s, struct wh_ref *out, struct wh_err *err)
{
  __attribute__((cleanup(cleanup_ref))) struct wh_ref r = {0};
  size_t len, rest, dlen;
  const char *at;
  enum wh_code rc;

  if (s == NULL || s[0] == '\0')
    return wh_err_set(err, WH_EINVALID, 0, "reference: empty");
  len = strnlen(s, WH_REF_MAX + 1);
  if (len > WH_REF_MAX)
    return wh_err_set(err, WH_EINVALID, 0, "reference: longer than %d", WH_REF_MAX);
  at = memchr(s, '@', len);
  rest = at ? (size_t)(at - s) : len;
  if (at) {
    rc = wh_digest_parse(at + 1, len - rest - 1, &r.digest, err);
    if (rc != WH_OK) {
      wh_err_wrap(err, "reference \"%.300s\"", s);
      return rc;
    }
    r.has_digest = true;
  }
  dlen = domain_len(s, rest);
  if (dlen) {
    if (!domain_valid(s, dlen))
      return wh_err_set(err, WH_EINVALID, 0, "reference \"%.300s\": invalid domain", s);
    rc = dup_part(s, dlen, &r.domain, err);
    if (rc != WH_OK)
      return rc;
    rc = parse_name_tag(s + dlen + 1, rest - dlen - 1, s, &r, err);
  } else {
    rc = parse_name_tag(s, rest, s, &r, err);
  }
  if (rc != WH_OK)
    return rc;
  *out = r;
  memset(&r, 0, sizeof(r));
  return WH_OK;
}

void wh_ref_release(struct wh_ref *ref)
{
  if (ref == NULL)
    return;
  free(ref->domain);
  free(ref->name);
  free(ref->tag);
  ref->domain = ref->name = ref->tag = NULL;
  ref->has_digest = false;
}

char *wh_ref_format(const struct wh_ref *ref)
{
  struct wh_buf b;
  enum wh_code rc = WH_OK;

  wh_buf_init(&b, WH_REF_MAX + WH_DIGEST_STR_MAX + 8);
  if (ref->domain)
    rc = wh_buf_printf(&b, "%s/", ref->domain);
  if (rc == WH_OK && ref->name)
    rc = wh_buf_appendz(&b, ref->name);
  if (rc == WH_OK && ref->tag)
    rc = wh_buf_printf(&b, ":%s", ref->tag);
  if (rc == WH_OK && ref->has_digest)
    rc = wh_buf_printf(&b, "@%s", ref->digest.str);
  if (rc != WH_OK) {
    wh_buf_release(&b);
    return NULL;
  }
  return wh_buf_steal(&b, NULL);
}
