/* tests/fuzz/fuzz_ref.c - libFuzzer target for common/ref.c.
 *
 * Parses the input as a reference and checks that an accepted one formats
 * back to the same string and that its parts meet their grammar; runs the
 * name and tag checks on the raw bytes and checks their path-safety promise
 * (a name: no "..", "//", NUL or "/" at either end; a tag: a single path
 * component that is never "." or "..").
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/ref.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok)
{
  if (!ok)
    abort();
}

static bool contains(const char *s, size_t len, const char *needle)
{
  size_t n = strlen(needle);

  for (size_t i = 0; i + n <= len; i++)
    if (memcmp(s + i, needle, n) == 0)
      return true;
  return false;
}

/* What the server relies on when it uses a name or tag in a path. */
static void check_path_safe(const char *s, size_t len)
{
  check(len > 0 && s[0] != '/' && s[len - 1] != '/' && s[0] != '.');
  check(!contains(s, len, "..") && !contains(s, len, "//") && memchr(s, '\0', len) == NULL);
}

static void check_parsed(const char *in, const struct wh_ref *r)
{
  struct wh_ref again;
  char *s = wh_ref_format(r);

  check(s != NULL && strcmp(s, in) == 0);
  check(r->name && wh_name_valid(r->name, strlen(r->name)));
  check(r->tag == NULL || wh_tag_valid(r->tag, strlen(r->tag)));
  check(wh_ref_parse(s, &again, NULL) == WH_OK);
  check(strcmp(again.name, r->name) == 0 && again.has_digest == r->has_digest);
  wh_ref_release(&again);
  free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  char *s = malloc(size + 1);
  struct wh_ref r;
  struct wh_err err;
  enum wh_code rc;

  if (s == NULL)
    return 0;
  memcpy(s, data, size);
  s[size] = '\0';
  if (wh_name_valid((const char *)data, size)) {
    check(size <= WH_NAME_MAX);
    check_path_safe((const char *)data, size);
  }
  /* A tag is one path component: never "." or "..", no "/", no NUL (the
   * grammar allows ".." inside, as in "v1..2", which is harmless). */
  if (wh_tag_valid((const char *)data, size))
    check(size <= WH_TAG_MAX && data[0] != '.' && memchr(data, '/', size) == NULL &&
          memchr(data, '\0', size) == NULL);
  rc = wh_ref_parse(s, &r, &err);
  if (rc == WH_OK) {
    check_parsed(s, &r);
    wh_ref_release(&r);
  } else {
    check(err.code == rc && err.msg[0] != '\0');
  }
  free(s);
  return 0;
}
