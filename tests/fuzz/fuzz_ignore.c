/* tests/fuzz/fuzz_ignore.c - libFuzzer target for client/ignore.c: the
 * .dockerignore of a build context is untrusted.
 *
 * Parses the input; on success matches a set of paths (fixed ones and the
 * input's own lines used as paths) and checks the promise of
 * cli_ignore_skip_dir: when it allows skipping a directory, every path
 * below that directory is excluded.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/dockerfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok)
{
  if (!ok)
    abort();
}

static const char *const fixed[] = {"a", "a/b", "a/b/c", "x.go", "docs/README.md", "vendor/keep", ".hidden",
                                    "dir/file.txt", "b]", "a[b", "node_modules/x/y", "-", "\xce\xb1"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  struct cli_ignore ig;
  struct wh_err err = {0};
  const char *paths[32];
  char *lines[16] = {0};
  size_t np = 0, nl = 0, pos = 0;

  if (cli_ignore_parse((const char *)data, size, &ig, &err) != WH_OK) {
    check(err.msg[0] != '\0');
    return 0;
  }
  for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
    paths[np++] = fixed[i];
  while (pos < size && nl < 16 && size < 65536) {
    const char *p = (const char *)data + pos, *e = memchr(p, '\n', size - pos);
    size_t n = e ? (size_t)(e - p) : size - pos;
    pos += n + 1;
    while (n && (*p == '!' || *p == '/' || *p == ' '))
      p++, n--;
    if (n == 0 || n > 256 || memchr(p, '\0', n))
      continue;
    if ((lines[nl] = strndup(p, n)) == NULL)
      break;
    paths[np++] = lines[nl++];
  }
  for (size_t i = 0; i < np; i++) {
    (void)cli_ignore_match(&ig, paths[i]);
    if (!cli_ignore_skip_dir(&ig, paths[i]))
      continue;
    check(cli_ignore_match(&ig, paths[i]));
    for (size_t j = 0; j < np; j++) {
      char below[600];
      if (paths[j][0] == '.' && (paths[j][1] == '\0' || paths[j][1] == '.'))
        continue; /* "..", "." would climb out of the directory */
      if (strstr(paths[j], "..") || snprintf(below, sizeof(below), "%s/%s", paths[i], paths[j]) >= (int)sizeof(below))
        continue;
      check(cli_ignore_match(&ig, below));
    }
  }
  for (size_t i = 0; i < nl; i++)
    free(lines[i]);
  cli_ignore_release(&ig);
  return 0;
}
