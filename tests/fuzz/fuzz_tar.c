/* tests/fuzz/fuzz_tar.c - libFuzzer target for the layer extractor
 * (client/extract.h).
 *
 * Extracts the input, as a layer read from a memfd, into a fresh directory
 * T/root next to a canary file T/canary, then removes T/root. Two bits of
 * the input's size pick apply or overlay mode and openat2 or the
 * O_NOFOLLOW walk, so every input exercises one of four paths. Checks: a
 * failure comes with a message and a code from the documented set, a
 * success reports at least as many uncompressed as compressed bytes for
 * a plain tar, and T holds exactly root and an unchanged canary (nothing
 * outside the root was touched). Caps are small so that one input stays
 * fast: 16 MiB uncompressed, 2048 entries.
 */
#include "config.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client/extract.h"
#include "common/cleanup.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char base[64];
static int basefd = -1;

static void check(bool ok)
{
  if (!ok)
    abort();
}

static void cleanup_base(void)
{
  if (basefd >= 0) {
    cli_extract_rmtree_at(basefd, "root", NULL);
    unlinkat(basefd, "canary", 0);
    close(basefd);
    rmdir(base);
  }
}

static void init_base(void)
{
  int fd;

  snprintf(base, sizeof(base), "/tmp/wh-fuzz-tar-XXXXXX");
  check(mkdtemp(base) != NULL);
  basefd = open(base, O_PATH | O_DIRECTORY | O_CLOEXEC);
  check(basefd >= 0);
  fd = openat(basefd, "canary", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  check(fd >= 0 && write(fd, "canary", 6) == 6);
  close(fd);
  atexit(cleanup_base);
}

/* T holds root and canary, and the canary says "canary". */
static void check_outside(void)
{
  char buf[16];
  struct stat st;
  WH_AUTOCLOSE int fd = openat(basefd, "canary", O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  WH_AUTOCLOSEDIR DIR *d = NULL;
  struct dirent *de;
  int n = 0;

  check(fd >= 0 && fstat(fd, &st) == 0 && (st.st_mode & 07777) == 0644);
  check(read(fd, buf, sizeof(buf)) == 6 && memcmp(buf, "canary", 6) == 0);
  d = opendir(base);
  check(d != NULL);
  while ((de = readdir(d)) != NULL) {
    if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
      continue;
    check(strcmp(de->d_name, "root") == 0 || strcmp(de->d_name, "canary") == 0);
    n++;
  }
  check(n == 2);
}

static bool known_code(enum wh_code rc)
{
  return rc == WH_EDENIED || rc == WH_EINVALID || rc == WH_ETOOBIG || rc == WH_EIO || rc == WH_EUNSUPPORTED ||
         rc == WH_EDIGEST;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  struct cli_extract_opts o;
  struct cli_extract_result r;
  struct wh_err err;
  WH_AUTOCLOSE int fd = memfd_create("layer", MFD_CLOEXEC);
  WH_AUTOCLOSE int rootfd = -1;
  enum wh_code rc;

  if (basefd < 0)
    init_base();
  check(fd >= 0 && (size == 0 || write(fd, data, size) == (ssize_t)size) && lseek(fd, 0, SEEK_SET) == 0);
  check(mkdirat(basefd, "root", 0755) == 0);
  rootfd = openat(basefd, "root", O_PATH | O_DIRECTORY | O_CLOEXEC);
  check(rootfd >= 0);
  cli_extract_opts_init(&o);
  o.mode = (size & 1) ? CLI_EXTRACT_OVERLAY : CLI_EXTRACT_APPLY;
  o.flags = CLI_EXTRACT_NO_DEVICES | ((size & 2) ? CLI_EXTRACT_NO_OPENAT2 : 0);
  o.owner = CLI_EXTRACT_OWNER_NONE;
  o.max_size = 16u << 20;
  o.max_entries = 2048;
  o.ratio_floor = 1u << 20;
  rc = cli_extract_layer(fd, rootfd, &o, &r, &err);
  if (rc != WH_OK)
    check(known_code(rc) && err.code == rc && err.msg[0] != '\0');
  else
    check(r.compressed_size == size && (r.compression != CLI_EXTRACT_PLAIN || r.size == size));
  check_outside();
  check(cli_extract_rmtree_at(basefd, "root", &err) == WH_OK);
  return 0;
}
