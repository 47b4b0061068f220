/* tests/bench/extract_bench.c - times one layer extraction with the
 * extractor of client/extract.h, for tests/bench/extract.sh (a check
 * program: built by make check, never run by it).
 *
 *   extract_bench LAYER DESTDIR [overlay]
 *
 * Creates DESTDIR (which must not exist), extracts LAYER into it with the
 * default options (apply mode, or overlay mode when asked) and prints one
 * line: "seconds S entries N bytes B compression C". Exit status 1 and a
 * message on stderr when the extraction fails.
 */
#include "config.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "client/extract.h"
#include "common/cleanup.h"

static double now(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
  static const char *const names[] = {"unknown", "plain", "gzip", "zstd"};
  struct cli_extract_opts o;
  struct cli_extract_result r;
  struct wh_err err;
  WH_AUTOCLOSE int fd = -1;
  WH_AUTOCLOSE int root = -1;
  double t0;

  if (argc < 3) {
    fprintf(stderr, "usage: extract_bench LAYER DESTDIR [overlay]\n");
    return 2;
  }
  fd = open(argv[1], O_RDONLY | O_CLOEXEC);
  if (fd < 0 || mkdir(argv[2], 0755) < 0 || (root = open(argv[2], O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0) {
    perror("extract_bench");
    return 1;
  }
  cli_extract_opts_init(&o);
  if (argc > 3 && strcmp(argv[3], "overlay") == 0)
    o.mode = CLI_EXTRACT_OVERLAY;
  t0 = now();
  if (cli_extract_layer(fd, root, &o, &r, &err) != WH_OK) {
    fprintf(stderr, "extract_bench: %s\n", err.msg);
    return 1;
  }
  printf("seconds %.6f entries %llu bytes %llu compression %s\n", now() - t0, (unsigned long long)r.entries,
         (unsigned long long)r.size, names[r.compression]);
  return 0;
}
