/* tests/fuzz/replay.c - main() for fuzz targets when not built with
 * libFuzzer: replays every file of tests/fuzz/corpus/<FUZZ_NAME>/ through
 * LLVMFuzzerTestOneInput and reports one TAP test. A missing or empty corpus
 * fails, so a lost corpus cannot pass silently. Each input is copied into an
 * exactly-sized allocation so sanitizers and valgrind see over-reads.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/cleanup.h"
#include "common/fsutil.h"

#ifndef FUZZ_NAME
#error "FUZZ_NAME must be defined"
#endif

#define REPLAY_INPUT_MAX (8u * 1024 * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int fail(const char *why, const char *detail)
{
  printf("1..1\nnot ok 1 - fuzz_%s: %s%s%s\n", FUZZ_NAME, why, detail ? " " : "", detail ? detail : "");
  return 1;
}

/* Feeds one corpus file to the target. Returns 1 when it was a file, 0 when
 * skipped, -1 on error (message in err). */
static int replay_one(int dirfd, const char *name, struct wh_err *err)
{
  struct wh_buf b;
  uint8_t *copy;

  if (name[0] == '.')
    return 0;
  wh_buf_init(&b, REPLAY_INPUT_MAX);
  if (wh_read_file_at(dirfd, name, &b, err) != WH_OK) {
    wh_buf_release(&b);
    return err->code == WH_EINVALID ? 0 : -1; /* not a regular file: skip */
  }
  copy = malloc(b.len ? b.len : 1);
  if (copy == NULL) {
    wh_buf_release(&b);
    return -1;
  }
  if (b.len)
    memcpy(copy, b.data, b.len);
  wh_buf_release(&b);
  LLVMFuzzerTestOneInput(copy, b.len);
  free(copy);
  return 1;
}

int main(void)
{
  const char *top = getenv("srcdir");
  char path[4096];
  WH_AUTOCLOSEDIR DIR *d = NULL;
  struct dirent *de;
  struct wh_err err = {0};
  unsigned n = 0;

  if (top == NULL || top[0] == '\0')
    top = getenv("TOP_SRCDIR");
  if (top == NULL || top[0] == '\0')
    top = ".";
  if ((size_t)snprintf(path, sizeof(path), "%s/tests/fuzz/corpus/%s", top, FUZZ_NAME) >= sizeof(path))
    return fail("corpus path too long", NULL);
  d = opendir(path);
  if (d == NULL)
    return fail("cannot open corpus", path);
  while ((de = readdir(d)) != NULL) {
    int r = replay_one(dirfd(d), de->d_name, &err);
    if (r < 0)
      return fail(de->d_name, err.msg);
    n += (unsigned)r;
  }
  if (n == 0)
    return fail("empty corpus", path);
  printf("1..1\nok 1 - fuzz_%s: replayed %u inputs\n", FUZZ_NAME, n);
  return 0;
}
