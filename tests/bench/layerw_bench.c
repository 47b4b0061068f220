/* tests/bench/layerw_bench.c - times one layer written with the writer of
 * client/layerw.h, for tests/bench/layerw.sh (a check program: built by
 * make check, never run by it).
 *
 *   layerw_bench DIR OUT [zstd|gzip|none] [THREADS] [LEVEL]
 *
 * Writes the tree below DIR as one layer to the file OUT (created or
 * truncated), compression zstd by default, THREADS zstd workers (default
 * 0: none) at LEVEL (default: the writer's), source_date_epoch 0, and
 * prints one line: "seconds S entries N bytes B compressed C digest D
 * diff_id I". Exit status 1 and a message on stderr when writing fails.
 */
#include "config.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client/layerw.h"
#include "common/cleanup.h"

static double now(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int parse_args(int argc, char **argv, struct cli_layerw_opts *o)
{
  cli_layerw_opts_init(o);
  o->source_date_epoch = 0;
  if (argc > 3 && strcmp(argv[3], "gzip") == 0)
    o->compression = CLI_LAYERW_GZIP;
  else if (argc > 3 && strcmp(argv[3], "none") == 0)
    o->compression = CLI_LAYERW_NONE;
  else if (argc > 3 && strcmp(argv[3], "zstd") != 0)
    return -1;
  if (argc > 4)
    o->threads = (unsigned)strtoul(argv[4], NULL, 10);
  if (argc > 5)
    o->level = (int)strtol(argv[5], NULL, 10);
  return 0;
}

int main(int argc, char **argv)
{
  struct cli_layerw_opts o;
  struct cli_layerw_result r;
  struct wh_err err;
  WH_AUTOCLOSE int dir = -1;
  WH_AUTOCLOSE int out = -1;
  double t0;

  if (argc < 3 || parse_args(argc, argv, &o) < 0) {
    fprintf(stderr, "usage: layerw_bench DIR OUT [zstd|gzip|none] [THREADS] [LEVEL]\n");
    return 2;
  }
  dir = open(argv[1], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  out = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (dir < 0 || out < 0) {
    perror("layerw_bench");
    return 1;
  }
  t0 = now();
  if (cli_layerw_from_dir(dir, &o, out, &r, &err) != WH_OK) {
    fprintf(stderr, "layerw_bench: %s\n", err.msg);
    return 1;
  }
  printf("seconds %.6f entries %llu bytes %llu compressed %llu digest %s diff_id %s\n", now() - t0,
         (unsigned long long)r.entries, (unsigned long long)r.size, (unsigned long long)r.compressed_size,
         r.digest.str, r.diff_id.str);
  return 0;
}
