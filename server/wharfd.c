/* server/wharfd.c - wharfd: command line, subcommands, signals, lifetime.
 *
 *   wharfd [serve] [--config FILE] [--listen ADDR:PORT] [--root DIR]
 *                  [--log-format text|json] [--log-level L]
 *   wharfd fsck --root DIR [--repair]
 *   wharfd token create|list|revoke ...   wharfd user add|del|list ...  (token_cmd.c)
 *   wharfd gc|scrub|du [--root DIR|--config FILE] ...                  (gc_cmd.c)
 *   wharfd --help | --version
 *
 * Settings: defaults, then the config file, then command-line flags.
 * serve: opens the store, clears what a crash left in it (store_recover;
 * one info line when it did something), starts the daemon, prints exactly
 * one line "listening on http://HOST:PORT" on stdout (the bound port, also
 * for port 0; "https://" with TLS), then waits for SIGTERM/SIGINT in
 * sigtimedwait() (SIGHUP: reload htpasswd and TLS certificate), while the
 * maintenance thread (gc.c) purges abandoned uploads and, when configured,
 * collects garbage. Stopping: no new connections, in-flight requests
 * finish (bounded grace), the store is closed, exit 0.
 * Command-line errors: one line "wharfd: ..." on stderr and exit 2.
 */
#include "config.h"

#include "server/server.h"

#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define STOP_GRACE_S 30
#define PURGE_EVERY_S 600

static const char usage[] =
    "usage: wharfd [serve] [options]    serve the OCI Distribution API\n"
    "       wharfd fsck --root DIR [--repair]\n"
    "       wharfd token create NAME --repo PATTERN --actions pull,push [--expires 30d] | list | revoke NAME\n"
    "       wharfd user add NAME [--password-stdin] | del NAME | list   (--config FILE or --htpasswd FILE)\n"
    "       wharfd gc [--root DIR|--config FILE] [--dry-run] [--grace DUR] [--delete-untagged]\n"
    "       wharfd scrub [--root DIR|--config FILE] [--quarantine]\n"
    "       wharfd du [--root DIR|--config FILE] [--json]\n"
    "       wharfd --help | --version\n"
    "\n"
    "options:\n"
    "  --config FILE            JSON config (same keys, plus limits, timeouts, sparse_index)\n"
    "  --listen ADDR:PORT       default " SRV_DEFAULT_LISTEN " (port 0: any free port)\n"
    "  --root DIR               store directory, default " SRV_DEFAULT_ROOT "\n"
    "  --log-format text|json   request and error log on stderr\n"
    "  --log-level debug|info|warn|error\n"
    "  --read-only              refuse every write (405 UNSUPPORTED); reads work\n";

enum opt_id {
  OPT_CONFIG = 256,
  OPT_LISTEN,
  OPT_ROOT,
  OPT_LOG_FORMAT,
  OPT_LOG_LEVEL,
  OPT_HELP,
  OPT_VERSION,
  OPT_READ_ONLY,
};

static const struct option serve_opts[] = {
    {"config", required_argument, NULL, OPT_CONFIG},
    {"listen", required_argument, NULL, OPT_LISTEN},
    {"root", required_argument, NULL, OPT_ROOT},
    {"log-format", required_argument, NULL, OPT_LOG_FORMAT},
    {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
    {"help", no_argument, NULL, OPT_HELP},
    {"version", no_argument, NULL, OPT_VERSION},
    {"read-only", no_argument, NULL, OPT_READ_ONLY},
    {NULL, 0, NULL, 0},
};

/* Flags as given; applied over the config file. */
struct cli {
  const char *config, *listen, *root, *log_format, *log_level;
  bool help, version, read_only;
};

static int fail(const char *msg)
{
  fprintf(stderr, "wharfd: %s\n", msg);
  return 2;
}

static int parse_cli(int argc, char **argv, struct cli *c)
{
  char msg[300];
  int o;

  memset(c, 0, sizeof(*c));
  opterr = 0;
  while ((o = getopt_long(argc, argv, ":", serve_opts, NULL)) != -1) {
    switch (o) {
    case OPT_CONFIG:
      c->config = optarg;
      break;
    case OPT_LISTEN:
      c->listen = optarg;
      break;
    case OPT_ROOT:
      c->root = optarg;
      break;
    case OPT_LOG_FORMAT:
      c->log_format = optarg;
      break;
    case OPT_LOG_LEVEL:
      c->log_level = optarg;
      break;
    case OPT_HELP:
      c->help = true;
      break;
    case OPT_VERSION:
      c->version = true;
      break;
    case OPT_READ_ONLY:
      c->read_only = true;
      break;
    case ':':
      snprintf(msg, sizeof(msg), "option \"%.200s\" needs a value", argv[optind - 1]);
      return fail(msg);
    default:
      snprintf(msg, sizeof(msg), "unknown option \"%.200s\"", argv[optind - 1]);
      return fail(msg);
    }
  }
  if (optind < argc) {
    snprintf(msg, sizeof(msg), "unexpected argument \"%.200s\"", argv[optind]);
    return fail(msg);
  }
  return 0;
}

/* Config file first, then the flags over it. */
static enum wh_code build_config(const struct cli *c, struct srv_config *cfg, struct wh_err *err)
{
  int v;

  if (c->config && srv_config_load(cfg, c->config, err) != WH_OK)
    return err->code;
  if (c->listen && srv_config_set_str(&cfg->listen, c->listen, err) != WH_OK)
    return err->code;
  if (c->root && srv_config_set_str(&cfg->root, c->root, err) != WH_OK)
    return err->code;
  if (c->read_only)
    cfg->read_only = true;
  if (c->log_format) {
    if ((v = wh_log_format_parse(c->log_format)) < 0)
      return wh_err_set(err, WH_EINVALID, 0, "--log-format \"%s\": expected text or json", c->log_format);
    cfg->log_format = (enum wh_log_format)v;
  }
  if (c->log_level) {
    if ((v = wh_log_level_parse(c->log_level)) < 0)
      return wh_err_set(err, WH_EINVALID, 0, "--log-level \"%s\": expected debug, info, warn or error",
                        c->log_level);
    cfg->log_level = (enum wh_log_level)v;
  }
  if (!cfg->listen && srv_config_set_str(&cfg->listen, SRV_DEFAULT_LISTEN, err) != WH_OK)
    return err->code;
  if (!cfg->root && srv_config_set_str(&cfg->root, SRV_DEFAULT_ROOT, err) != WH_OK)
    return err->code;
  return WH_OK;
}

/* Before listening: the residue of a killed wharfd (or another writer) is
 * cleared so that fsck is clean after a plain restart. A failure here
 * leaves only invisible residue behind: warn and serve anyway. */
static void recover_store(struct store *st)
{
  struct store_recover_report r;
  struct timespec t0, t1;
  struct wh_err err;
  double ms;

  wh_err_clear(&err);
  clock_gettime(CLOCK_MONOTONIC, &t0);
  if (store_recover(st, &r, &err) != WH_OK) {
    wh_log(WH_LOG_WARN, NULL, "crash recovery: %s (wharfd fsck --repair can finish it)", err.msg);
    return;
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  if (r.temp_removed + r.sessions_ended + r.blobs_registered + r.blobs_removed == 0)
    return;
  ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
  wh_log(WH_LOG_INFO, NULL,
         "crash recovery: removed %llu leftover upload files, ended %llu upload sessions, registered %llu "
         "blob files, removed %llu corrupt blob files (%llu blob files walked in %.1f ms)",
         (unsigned long long)r.temp_removed, (unsigned long long)r.sessions_ended,
         (unsigned long long)r.blobs_registered, (unsigned long long)r.blobs_removed,
         (unsigned long long)r.blob_files, ms);
}


/* SIGHUP: the htpasswd file and the TLS certificate are read again. */
static void reload(struct srv_server *srv)
{
  struct wh_err err;

  wh_err_clear(&err);
  if (srv_reload(srv, &err) != WH_OK)
    wh_log(WH_LOG_ERROR, NULL, "SIGHUP: %s (still serving with the previous settings)", err.msg);
  else
    wh_log(WH_LOG_INFO, NULL, "SIGHUP: reloaded htpasswd and TLS certificate");
}

/* Blocks until SIGTERM or SIGINT; the signals are blocked in every thread. */
static int wait_for_stop(const sigset_t *set, struct store *st, struct srv_server *srv)
{
  struct timespec every = {PURGE_EVERY_S, 0};

  (void)st; /* uploads are purged by the maintenance thread (gc.c) */
  for (;;) {
    int sig = sigtimedwait(set, NULL, &every);
    if (sig == SIGTERM || sig == SIGINT)
      return sig;
    if (sig == SIGHUP) {
      reload(srv);
      continue;
    }
  }
}

/* timeouts.drain_s: keep serving for a while with /readyz answering 503,
 * so a load balancer stops sending new requests before the listener
 * closes. A second SIGTERM/SIGINT ends the wait. */
static void drain(const sigset_t *set, uint64_t drain_s)
{
  struct timespec now, end;

  srv_metrics_set_draining();
  if (drain_s == 0)
    return;
  wh_log(WH_LOG_INFO, NULL, "draining for %llu s (/readyz answers 503)", (unsigned long long)drain_s);
  clock_gettime(CLOCK_MONOTONIC, &end);
  end.tv_sec += (time_t)drain_s;
  for (;;) {
    struct timespec left;
    int sig;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (now.tv_sec > end.tv_sec || (now.tv_sec == end.tv_sec && now.tv_nsec >= end.tv_nsec))
      return;
    left.tv_sec = end.tv_sec - now.tv_sec;
    left.tv_nsec = end.tv_nsec - now.tv_nsec;
    if (left.tv_nsec < 0) {
      left.tv_sec--;
      left.tv_nsec += 1000000000L;
    }
    sig = sigtimedwait(set, NULL, &left);
    if (sig == SIGTERM || sig == SIGINT || (sig < 0 && errno == EAGAIN))
      return; /* a second stop signal, or the time is up */
  }
}

static int serve(const struct srv_config *cfg)
{
  struct srv_server srv;
  struct srv_listen l;
  struct store *st = NULL;
  struct wh_err err;
  sigset_t set;
  int sig;

  wh_err_clear(&err);
  if (srv_listen_parse(cfg->listen, &l, &err) != WH_OK)
    return fail(err.msg);
  if (store_open(cfg->root, STORE_CREATE, &st, &err) != WH_OK)
    return fail(err.msg);
  store_set_max_blob_size(st, cfg->max_blob_bytes);
  recover_store(st);
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &set, NULL); /* before any thread starts */
  signal(SIGPIPE, SIG_IGN);
  srv_metrics_init();
  curl_global_init(CURL_GLOBAL_DEFAULT); /* webhooks; before any thread */
  if (srv_events_start(cfg, st, &err) != WH_OK) {
    store_free(st);
    return fail(err.msg);
  }
  if (srv_start(&srv, cfg, st, &l, &err) != WH_OK) {
    srv_events_stop();
    store_free(st);
    return fail(err.msg);
  }
  if (srv_gc_start(cfg, st, &err) != WH_OK) /* uploads purge and GC schedule (gc.c) */
    wh_log(WH_LOG_WARN, NULL, "maintenance schedule: %s (no GC, no upload purge)", err.msg);
  printf("listening on %s://%s:%u\n", srv.tls ? "https" : "http", l.host, (unsigned)srv_bound_port(&srv));
  fflush(stdout);
  wh_log(WH_LOG_INFO, NULL, "wharfd %s serving \"%s\" on %s:%u", PACKAGE_VERSION, cfg->root, l.host,
         (unsigned)srv_bound_port(&srv));
  sig = wait_for_stop(&set, st, &srv);
  wh_log(WH_LOG_INFO, NULL, "signal %d: stopping", sig);
  drain(&set, cfg->drain_s);
  srv_gc_stop();
  srv_stop(&srv, STOP_GRACE_S);
  srv_events_stop();
  store_free(st);
  curl_global_cleanup();
  wh_log(WH_LOG_INFO, NULL, "stopped");
  return 0;
}

static int cmd_serve(int argc, char **argv)
{
  struct srv_config cfg;
  struct wh_err err;
  struct cli c;
  int rc;

  if ((rc = parse_cli(argc, argv, &c)) != 0)
    return rc;
  if (c.help) {
    fputs(usage, stdout);
    return 0;
  }
  if (c.version) {
    printf("wharfd %s\n", PACKAGE_VERSION);
    return 0;
  }
  srv_config_init(&cfg);
  wh_err_clear(&err);
  if (build_config(&c, &cfg, &err) != WH_OK) {
    srv_config_release(&cfg);
    return fail(err.msg);
  }
  wh_log_setup(2, cfg.log_format, cfg.log_level);
  rc = serve(&cfg);
  srv_config_release(&cfg);
  return rc;
}

struct command {
  const char *name;
  int (*run)(int argc, char **argv); /* argv[0] is the command name */
};

static const struct command commands[] = {
    {"serve", cmd_serve},
    {"fsck", srv_fsck_main},
    {"token", srv_token_main},
    {"user", srv_user_main},
    {"gc", srv_gc_main},
    {"scrub", srv_scrub_main},
    {"du", srv_du_main},
};

int main(int argc, char **argv)
{
  char msg[300];

  if (argc < 2 || argv[1][0] == '-')
    return cmd_serve(argc, argv);
  for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
    if (strcmp(argv[1], commands[i].name) == 0)
      return commands[i].run(argc - 1, argv + 1);
  snprintf(msg, sizeof(msg), "unknown command \"%.200s\" (try --help)", argv[1]);
  return fail(msg);
}
