/* server/gc_cmd.c - the maintenance subcommands, beside a running wharfd
 * or without one:
 *
 *   wharfd gc    [--root DIR|--config F] [--dry-run] [--grace DUR] [--recent DUR]
 *                [--delete-untagged] [--keep-history N]
 *   wharfd scrub [--root DIR|--config F] [--quarantine]
 *   wharfd du    [--root DIR|--config F] [--json]
 *
 * Settings come from the config file (sections gc, uploads) with the flags
 * over them, so `wharfd gc --config /etc/wharf/wharfd.json` collects as the
 * server's schedule would. gc prints one line per manifest and blob it
 * removes (or would remove, --dry-run) and a summary; a real run also
 * purges abandoned uploads (uploads.max_age). Exit status: 0 done (scrub:
 * nothing bad), 1 scrub found bad blobs, 2 error. Messages go to stdout,
 * errors to stderr as "wharfd: <cmd>: ...".
 */
#include "config.h"

#include "server/server.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "common/fsutil.h"

enum {
  O_ROOT = 256,
  O_CONFIG,
  O_DRY_RUN,
  O_GRACE,
  O_RECENT,
  O_UNTAGGED,
  O_KEEP,
  O_QUARANTINE,
  O_JSON,
  O_HELP
};

struct cmd {
  const char *name;
  const char *usage;
  struct srv_config cfg;
  const char *root, *config;
  bool dry_run, quarantine, json;
  const char *grace, *recent, *keep; /* flags over the config */
  bool untagged;
};

static int cmd_fail(const struct cmd *c, const char *msg)
{
  fprintf(stderr, "wharfd: %s: %s\n", c->name, msg);
  return 2;
}

static int parse(struct cmd *c, int argc, char **argv, const struct option *opts)
{
  char msg[300];
  int o;

  opterr = 0;
  optind = 1;
  while ((o = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
    switch (o) {
    case O_ROOT:
      c->root = optarg;
      break;
    case O_CONFIG:
      c->config = optarg;
      break;
    case O_DRY_RUN:
      c->dry_run = true;
      break;
    case O_GRACE:
      c->grace = optarg;
      break;
    case O_RECENT:
      c->recent = optarg;
      break;
    case O_UNTAGGED:
      c->untagged = true;
      break;
    case O_KEEP:
      c->keep = optarg;
      break;
    case O_QUARANTINE:
      c->quarantine = true;
      break;
    case O_JSON:
      c->json = true;
      break;
    case O_HELP:
      fputs(c->usage, stdout);
      return 0;
    case ':':
      snprintf(msg, sizeof(msg), "option \"%.200s\" needs a value", argv[optind - 1]);
      return cmd_fail(c, msg);
    default:
      snprintf(msg, sizeof(msg), "unknown option \"%.200s\"", argv[optind - 1]);
      return cmd_fail(c, msg);
    }
  }
  if (optind < argc) {
    snprintf(msg, sizeof(msg), "unexpected argument \"%.200s\"", argv[optind]);
    return cmd_fail(c, msg);
  }
  return -1; /* go on */
}

/* The config file, then --root and the gc flags over it. */
static enum wh_code settings(struct cmd *c, struct wh_err *err)
{
  uint64_t v;

  if (c->config && srv_config_load(&c->cfg, c->config, err) != WH_OK)
    return err->code;
  if (c->root && srv_config_set_str(&c->cfg.root, c->root, err) != WH_OK)
    return err->code;
  if (!c->cfg.root && srv_config_set_str(&c->cfg.root, SRV_DEFAULT_ROOT, err) != WH_OK)
    return err->code;
  if (c->grace && srv_parse_duration(c->grace, &c->cfg.gc_grace_s, err) != WH_OK)
    return wh_err_wrap(err, "--grace");
  if (c->recent && srv_parse_duration(c->recent, &c->cfg.gc_recent_s, err) != WH_OK)
    return wh_err_wrap(err, "--recent");
  if (c->keep) {
    if (!wh_parse_u64(c->keep, strlen(c->keep), &v) || v > 1000000)
      return wh_err_set(err, WH_EINVALID, 0, "--keep-history \"%.40s\": expected a number", c->keep);
    c->cfg.gc_keep_history = v;
  }
  if (c->untagged)
    c->cfg.gc_delete_untagged = true;
  return WH_OK;
}

/* Parses, loads settings and opens the store: -1 and *st on success,
 * else the exit status. */
static int prepare(struct cmd *c, int argc, char **argv, const struct option *opts, unsigned open_flags,
                   struct store **st)
{
  struct wh_err err;
  int rc;

  srv_config_init(&c->cfg);
  if ((rc = parse(c, argc, argv, opts)) >= 0)
    return rc;
  wh_err_clear(&err);
  if (settings(c, &err) != WH_OK)
    return cmd_fail(c, err.msg);
  wh_log_setup(2, WH_LOG_TEXT, WH_LOG_WARN);
  if (store_open(c->cfg.root, open_flags, st, &err) != WH_OK)
    return cmd_fail(c, err.msg);
  return -1;
}

/* ---- gc ------------------------------------------------------------------ */

static void print_item(void *ctx, const struct store_gc_item *it)
{
  const struct cmd *c = ctx;
  const char *verb = c->dry_run ? "would remove" : "removed";

  if (it->is_manifest)
    printf("%s manifest %s in \"%s\"\n", verb, it->digest.str, it->repo);
  else
    printf("%s blob %s (%llu bytes)\n", verb, it->digest.str, (unsigned long long)it->size);
}

static int run_gc(struct cmd *c, struct store *st)
{
  struct store_gc_report rep;
  struct wh_err err;
  uint64_t purged = 0;
  char human[32];

  wh_err_clear(&err);
  if (srv_gc_once(st, &c->cfg, c->dry_run ? STORE_GC_DRY_RUN : 0, print_item, c, &rep, &err) != WH_OK)
    return cmd_fail(c, err.msg);
  if (!c->dry_run && store_upload_purge(st, (int64_t)c->cfg.upload_max_age_s, &purged, &err) != WH_OK)
    return cmd_fail(c, err.msg);
  srv_fmt_bytes(rep.bytes_removed, human, sizeof(human));
  printf("gc%s: %s %llu manifests, %llu blobs, %llu bytes (%s); purged %llu upload sessions\n",
         c->dry_run ? " (dry run)" : "", c->dry_run ? "would remove" : "removed",
         (unsigned long long)rep.manifests_removed, (unsigned long long)rep.blobs_removed,
         (unsigned long long)rep.bytes_removed, human, (unsigned long long)purged);
  return 0;
}

int srv_gc_main(int argc, char **argv)
{
  static const struct option opts[] = {
      {"root", required_argument, NULL, O_ROOT},
      {"config", required_argument, NULL, O_CONFIG},
      {"dry-run", no_argument, NULL, O_DRY_RUN},
      {"grace", required_argument, NULL, O_GRACE},
      {"recent", required_argument, NULL, O_RECENT},
      {"delete-untagged", no_argument, NULL, O_UNTAGGED},
      {"keep-history", required_argument, NULL, O_KEEP},
      {"help", no_argument, NULL, O_HELP},
      {NULL, 0, NULL, 0},
  };
  struct cmd c = {.name = "gc",
                  .usage =
                      "usage: wharfd gc [--root DIR|--config F] [--dry-run] [--grace DUR] [--recent DUR]\n"
                      "                 [--delete-untagged] [--keep-history N]\n"
                      "  remove unreferenced blobs (and untagged manifests) past the grace period;\n"
                      "  --recent: blobs HEAD-checked or stored that recently stay whatever the grace\n"};
  struct store *st = NULL;
  int rc = prepare(&c, argc, argv, opts, 0, &st);

  if (rc < 0)
    rc = run_gc(&c, st);
  store_free(st);
  srv_config_release(&c.cfg);
  return rc;
}

/* ---- scrub ------------------------------------------------------------- */

static void print_bad(void *ctx, const struct wh_digest *d, const char *problem, bool quarantined)
{
  (void)ctx;
  printf("bad blob %s: %s%s\n", d->str, problem, quarantined ? "; quarantined" : "");
}

int srv_scrub_main(int argc, char **argv)
{
  static const struct option opts[] = {
      {"root", required_argument, NULL, O_ROOT},
      {"config", required_argument, NULL, O_CONFIG},
      {"quarantine", no_argument, NULL, O_QUARANTINE},
      {"help", no_argument, NULL, O_HELP},
      {NULL, 0, NULL, 0},
  };
  struct cmd c = {.name = "scrub",
                  .usage = "usage: wharfd scrub [--root DIR|--config F] [--quarantine]\n"
                           "  re-hash every stored blob; --quarantine moves bad ones to <root>/quarantine/\n"
                           "  exit 0: all intact, 1: bad blobs found, 2: error\n"};
  struct store_scrub_report rep;
  struct store *st = NULL;
  struct wh_err err;
  int rc;

  /* parse first: the open mode depends on --quarantine */
  srv_config_init(&c.cfg);
  if ((rc = parse(&c, argc, argv, opts)) >= 0) {
    srv_config_release(&c.cfg);
    return rc;
  }
  srv_config_release(&c.cfg);
  rc = prepare(&c, argc, argv, opts, c.quarantine ? 0 : STORE_READONLY, &st);
  wh_err_clear(&err);
  if (rc < 0 &&
      store_scrub(st, c.quarantine ? STORE_SCRUB_QUARANTINE : 0, print_bad, NULL, &rep, &err) != WH_OK)
    rc = cmd_fail(&c, err.msg);
  if (rc < 0) {
    printf("scrub: %llu blobs (%llu bytes) checked: %llu bad, %llu quarantined\n",
           (unsigned long long)rep.blobs, (unsigned long long)rep.bytes, (unsigned long long)rep.bad,
           (unsigned long long)rep.quarantined);
    rc = rep.bad ? 1 : 0;
  }
  store_free(st);
  srv_config_release(&c.cfg);
  return rc;
}

/* ---- du ------------------------------------------------------------------ */

static void print_table(json_t *u)
{
  char b[32], s[32];
  size_t i;
  json_t *r;

  printf("%-40s %12s %12s %8s %10s %6s\n", "REPOSITORY", "SIZE", "SHARED", "BLOBS", "MANIFESTS", "TAGS");
  json_array_foreach(json_object_get(u, "repositories"), i, r)
  {
    srv_fmt_bytes((uint64_t)json_integer_value(json_object_get(r, "bytes")), b, sizeof(b));
    srv_fmt_bytes((uint64_t)json_integer_value(json_object_get(r, "shared_bytes")), s, sizeof(s));
    printf("%-40s %12s %12s %8lld %10lld %6lld\n", json_string_value(json_object_get(r, "name")), b, s,
           (long long)json_integer_value(json_object_get(r, "blobs")),
           (long long)json_integer_value(json_object_get(r, "manifests")),
           (long long)json_integer_value(json_object_get(r, "tags")));
  }
  srv_fmt_bytes((uint64_t)json_integer_value(json_object_get(u, "total_bytes")), b, sizeof(b));
  srv_fmt_bytes((uint64_t)json_integer_value(json_object_get(u, "shared_bytes")), s, sizeof(s));
  printf("total: %s in %lld blobs (%lld bytes), shared %s\n", b,
         (long long)json_integer_value(json_object_get(u, "total_blobs")),
         (long long)json_integer_value(json_object_get(u, "total_bytes")), s);
  r = json_object_get(u, "gc");
  srv_fmt_bytes((uint64_t)json_integer_value(json_object_get(r, "reclaimable_bytes")), b, sizeof(b));
  printf("gc would free: %s (%lld blobs, %lld manifests)\n", b,
         (long long)json_integer_value(json_object_get(r, "reclaimable_blobs")),
         (long long)json_integer_value(json_object_get(r, "reclaimable_manifests")));
}

int srv_du_main(int argc, char **argv)
{
  static const struct option opts[] = {
      {"root", required_argument, NULL, O_ROOT},
      {"config", required_argument, NULL, O_CONFIG},
      {"json", no_argument, NULL, O_JSON},
      {"help", no_argument, NULL, O_HELP},
      {NULL, 0, NULL, 0},
  };
  struct cmd c = {.name = "du",
                  .usage = "usage: wharfd du [--root DIR|--config F] [--json]\n"
                           "  bytes per repository, shared bytes, totals and what gc would free\n"};
  struct store *st = NULL;
  json_auto_t *u = NULL;
  struct wh_err err;
  int rc = prepare(&c, argc, argv, opts, 0, &st);

  wh_err_clear(&err);
  if (rc < 0 && (u = srv_usage_json(st, &c.cfg, &err)) == NULL)
    rc = cmd_fail(&c, err.msg);
  if (rc < 0 && c.json) {
    char *text = json_dumps(u, JSON_INDENT(2));
    if (text)
      printf("%s\n", text);
    free(text);
  } else if (rc < 0) {
    print_table(u);
  }
  if (rc < 0)
    rc = 0;
  store_free(st);
  srv_config_release(&c.cfg);
  return rc;
}
