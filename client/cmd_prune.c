/* client/cmd_prune.c - `wharf prune [--grace SECONDS] [--dry-run]`.
 *
 * Frees the space of what no image uses, in three steps on the local
 * store: store_recover (what a killed wharf left behind), then
 * store_upload_purge (downloads abandoned for longer than the grace
 * period), then store_gc (blobs no manifest is or names: layers and
 * configs of removed images, of tags that moved on, of pulls that never
 * finished), the records of chunked pushes to resume older than the grace
 * period, then the layer cache of `wharf run` (unpacked layers whose
 * blob is gone and that no container uses). Images themselves, tagged or not, are never removed here
 * (that is `wharf rmi`).
 *
 * Invariants: safe beside other wharf processes on the same store (see
 * store_gc): anything younger than the grace period stays, so a pull or a
 * load running meanwhile keeps what it stored and has not yet used.
 */
#include "config.h"

#include <dirent.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <sys/stat.h>
#include <time.h>
#include <stdio.h>
#include <string.h>

#include "client/cli.h"
#include "client/run.h"
#include "common/cleanup.h"
#include "common/fsutil.h"

#define GRACE_DEFAULT 3600

struct prune_args {
  int64_t grace;
  bool dry_run;
};

static void on_removed(void *ctx, const struct wh_digest *d, uint64_t size)
{
  const struct cli_opts *o = ctx;
  char human[32];

  if (o->quiet)
    return;
  cli_human_size(size, human, sizeof(human));
  fprintf(stderr, "deleted %s (%s)\n", d->str, human);
}

/* Records of chunked pushes to resume (ROOT/client/pushing, client/upload.c)
 * untouched for longer than the grace period: only a speed-up, and the
 * registry has long forgotten their sessions. */
static uint64_t prune_push_records(const struct cli_opts *o, const struct prune_args *a)
{
  char dir[PATH_MAX];
  WH_AUTOCLOSEDIR DIR *d = NULL;
  struct dirent *e;
  uint64_t n = 0;
  time_t now = time(NULL);

  snprintf(dir, sizeof(dir), "%s/client/pushing", o->root);
  if (!(d = opendir(dir)))
    return 0;
  while ((e = readdir(d))) {
    struct stat sb;
    if (e->d_name[0] == '.' || fstatat(dirfd(d), e->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0 ||
        !S_ISREG(sb.st_mode) || now - sb.st_mtime < a->grace)
      continue;
    if (a->dry_run || unlinkat(dirfd(d), e->d_name, 0) == 0)
      n++;
  }
  return n;
}

static enum wh_code prune(const struct cli_opts *o, const struct prune_args *a, struct wh_err *err)
{
  struct store *s = NULL;
  struct store_gc_report rep = {0};
  uint64_t sessions = 0;
  char human[32];
  enum wh_code rc = cli_store_open(o, &s, err);

  if (rc == WH_OK && !a->dry_run && (rc = store_recover(s, NULL, err)) == WH_OK)
    rc = store_upload_purge(s, a->grace, &sessions, err);
  if (rc == WH_OK)
    rc = store_gc(s, a->grace, a->dry_run ? STORE_GC_DRY_RUN : 0, a->dry_run ? NULL : on_removed, (void *)o,
                  &rep, err);
  uint64_t layers = 0, layer_bytes = 0;
  if (rc == WH_OK)
    rc = cli_layer_cache_prune(s, o->root, a->dry_run, &layers, &layer_bytes, err);
  if (rc == WH_OK)
    sessions += prune_push_records(o, a);
  if (rc == WH_OK) {
    rep.bytes_removed += layer_bytes;
    cli_human_size(rep.bytes_removed, human, sizeof(human));
    if (o->quiet)
      printf("%llu\n", (unsigned long long)rep.bytes_removed);
    else
      printf("%s %llu blob%s and %llu unpacked layer%s (%s), %llu unfinished transfer%s\n",
             a->dry_run ? "would remove" : "removed", (unsigned long long)rep.blobs_removed,
             rep.blobs_removed == 1 ? "" : "s", (unsigned long long)layers, layers == 1 ? "" : "s", human,
             (unsigned long long)sessions, sessions == 1 ? "" : "s");
  }
  store_free(s);
  return rc;
}

static const struct option prune_opts[] = {
    {"grace", required_argument, NULL, 'g'},
    {"dry-run", no_argument, NULL, 'n'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

int cli_cmd_prune(const struct cli_opts *o, int argc, char **argv)
{
  struct prune_args a = {.grace = GRACE_DEFAULT};
  struct wh_err err = {0};
  uint64_t v;
  int c;

  optind = 0;
  while ((c = getopt_long(argc, argv, "+hn", prune_opts, NULL)) != -1) {
    if (c == 'h')
      return cli_help("prune");
    if (c == 'n')
      a.dry_run = true;
    else if (c == 'g' && wh_parse_u64(optarg, strlen(optarg), &v) && v <= INT32_MAX)
      a.grace = (int64_t)v;
    else
      return cli_usage("prune", "bad option");
  }
  if (argc - optind != 0)
    return cli_usage("prune", "no arguments expected");
  return prune(o, &a, &err) == WH_OK ? 0 : cli_fail("prune", NULL, &err);
}
