/* tests/fuzz/fuzz_link.c - libFuzzer target for the Link header parser
 * (client/challenge.c, cli_link_next): the next page of a tag list comes
 * from the registry, so this is untrusted input.
 *
 * Checks what the caller relies on: a target, when one is returned, is
 * non-empty, holds no space, control character, '<' or '>', and appears in
 * the input between '<' and '>'.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "client/registry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok)
{
  if (!ok)
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  char *s = malloc(size + 1), *next;
  char *quoted;

  if (s == NULL)
    return 0;
  memcpy(s, data, size);
  s[size] = '\0';
  if ((next = cli_link_next(s)) != NULL) {
    size_t n = strlen(next);
    check(n > 0);
    for (size_t i = 0; i < n; i++)
      check((unsigned char)next[i] > ' ' && next[i] != 0x7f && next[i] != '<' && next[i] != '>');
    quoted = malloc(n + 3);
    check(quoted != NULL);
    quoted[0] = '<';
    memcpy(quoted + 1, next, n);
    memcpy(quoted + 1 + n, ">", 2);
    check(strstr(s, quoted) != NULL);
    free(quoted);
    free(next);
  }
  free(s);
  return 0;
}
