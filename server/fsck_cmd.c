/* server/fsck_cmd.c - `wharfd fsck --root DIR [--repair]`.
 *
 * Runs store_fsck() and prints each problem as one line on stdout, then a
 * summary line. Exit status: 0 when no problem was found, 1 when problems
 * were found (even if --repair fixed them), 2 when the check could not run.
 * Without --repair the store is opened read-only and nothing changes.
 */
#include "config.h"

#include "server/server.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

static const char fsck_usage[] = "usage: wharfd fsck --root DIR [--repair]\n"
                                 "  check every blob, manifest, edge and tag of the store at DIR\n"
                                 "  exit 0: clean, 1: problems found, 2: error\n";

static void print_problem(void *ctx, const char *problem)
{
  printf("%s\n", problem);
}

static int run(const char *root, bool repair)
{
  struct store *st = NULL;
  struct store_fsck_report rep;
  struct wh_err err;

  wh_err_clear(&err);
  memset(&rep, 0, sizeof(rep));
  if (store_open(root, repair ? 0 : STORE_READONLY, &st, &err) != WH_OK) {
    fprintf(stderr, "wharfd: fsck: %s\n", err.msg);
    return 2;
  }
  if (store_fsck(st, repair ? STORE_FSCK_REPAIR : 0, print_problem, NULL, &rep, &err) != WH_OK) {
    store_free(st);
    fprintf(stderr, "wharfd: fsck: %s\n", err.msg);
    return 2;
  }
  store_free(st);
  printf("fsck: %llu blobs, %llu manifests checked: %llu problems, %llu repaired\n",
         (unsigned long long)rep.blobs, (unsigned long long)rep.manifests, (unsigned long long)rep.problems,
         (unsigned long long)rep.repaired);
  fflush(stdout);
  return rep.problems ? 1 : 0;
}

int srv_fsck_main(int argc, char **argv)
{
  static const struct option opts[] = {
      {"root", required_argument, NULL, 'r'},
      {"repair", no_argument, NULL, 'R'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0},
  };
  const char *root = NULL;
  bool repair = false;
  int c;

  opterr = 0;
  while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
    switch (c) {
    case 'r':
      root = optarg;
      break;
    case 'R':
      repair = true;
      break;
    case 'h':
      fputs(fsck_usage, stdout);
      return 0;
    case ':':
      fprintf(stderr, "wharfd: fsck: option \"%s\" needs a value\n", argv[optind - 1]);
      return 2;
    default:
      fprintf(stderr, "wharfd: fsck: unknown option \"%s\"\n", argv[optind - 1]);
      return 2;
    }
  }
  if (optind < argc) {
    fprintf(stderr, "wharfd: fsck: unexpected argument \"%s\"\n", argv[optind]);
    return 2;
  }
  if (!root) {
    fprintf(stderr, "wharfd: fsck: --root is required\n");
    return 2;
  }
  return run(root, repair);
}
