/* tests/fuzz/fuzz_digest.c - libFuzzer target for common/digest.c.
 *
 * Feeds raw bytes to wh_digest_parse() and checks what an accepted digest
 * promises: canonical, exact length, lowercase hex, parses again to the same
 * value. Also hashes the input and checks the result parses.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/digest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok)
{
  if (!ok)
    abort();
}

static void check_accepted(const char *s, size_t size, const struct wh_digest *d)
{
  struct wh_digest again;
  const char *hex = wh_digest_hex(d);

  check(strlen(d->str) == size && memcmp(d->str, s, size) == 0);
  check(strlen(hex) == wh_digest_alg_hexlen(d->alg));
  for (const char *p = hex; *p; p++)
    check((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'));
  check(strchr(d->str, '/') == NULL);
  check(wh_digest_parsez(d->str, &again, NULL) == WH_OK && wh_digest_eq(d, &again));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  const char *s = (const char *)data;
  struct wh_digest d, h;
  struct wh_err err;
  enum wh_code rc = wh_digest_parse(s, size, &d, &err);

  if (rc == WH_OK)
    check_accepted(s, size, &d);
  else
    check((rc == WH_EINVALID || rc == WH_EUNSUPPORTED) && err.code == rc && err.msg[0] != '\0');
  wh_digest_buf(size % 2 ? WH_DIGEST_SHA256 : WH_DIGEST_SHA512, data, size, &h);
  check(wh_digest_parsez(h.str, &d, NULL) == WH_OK);
  return 0;
}
