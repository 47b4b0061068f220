/* client/cmd_ps.c - the container verbs that read and act on containers
 * on disk: `ps`, `stop`, `rm`, `logs`.
 *
 * Invariants: a container is signalled only when its pid 1 is the process
 * its state recorded (pid and start time), never a reused pid; `rm`
 * refuses a running container unless --force, which stops it first.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client/cli.h"
#include "client/container.h"
#include "common/cleanup.h"

/* ---- ps -------------------------------------------------------------------- */

struct ps_ctx {
  bool all, quiet, json;
  json_t *out;
};

static void format_age(int64_t t, char *out, size_t size)
{
  int64_t d = (int64_t)time(NULL) - t;

  if (t <= 0)
    snprintf(out, size, "-");
  else if (d < 120)
    snprintf(out, size, "%llds ago", (long long)d);
  else if (d < 7200)
    snprintf(out, size, "%lldm ago", (long long)(d / 60));
  else
    snprintf(out, size, "%lldh ago", (long long)(d / 3600));
}

static int ps_one(void *ctx, const struct cli_container *c)
{
  struct ps_ctx *p = ctx;
  bool running = strcmp(c->state.status, "running") == 0;
  const char *image = json_string_value(json_object_get(c->config, "follows"));
  const char *digest = json_string_value(json_object_get(c->config, "image_digest"));
  json_t *argv = json_object_get(c->config, "argv");
  char cmd[64] = "", status[64], age[32];
  size_t i, used = 0;
  json_t *a;

  if (!image)
    image = json_string_value(json_object_get(c->config, "image"));
  if (!p->all && !running && strcmp(c->state.status, "restarting") != 0)
    return 0;
  if (p->quiet) {
    printf("%.12s\n", c->id);
    return 0;
  }
  if (p->json) {
    json_array_append_new(p->out, json_pack("{s:s, s:s, s:s?, s:s?, s:s, s:i, s:I, s:O?}", "id", c->id, "name",
                                            c->name, "image", image, "image_digest", digest, "status",
                                            c->state.status, "exit_code", c->state.exit_code, "pid",
                                            (json_int_t)(running ? c->state.pid : 0), "command", argv));
    return 0;
  }
  json_array_foreach(argv, i, a)
  {
    int n = snprintf(cmd + used, sizeof(cmd) - used, "%s%s", i ? " " : "", json_string_value(a));
    if (n < 0 || (size_t)n >= sizeof(cmd) - used)
      break;
    used += (size_t)n;
  }
  if (running)
    format_age(c->state.started, age, sizeof(age)), snprintf(status, sizeof(status), "Up since %s", age);
  else if (strcmp(c->state.status, "exited") == 0)
    format_age(c->state.finished, age, sizeof(age)),
        snprintf(status, sizeof(status), "Exited (%d) %s", c->state.exit_code, age);
  else if (strcmp(c->state.status, "restarting") == 0)
    snprintf(status, sizeof(status), "Restarting (%d)", c->state.restarts);
  else
    snprintf(status, sizeof(status), "%s", c->state.status);
  printf("%-12.12s  %-24.24s  %-19.19s  %-24.24s  %-22.22s  %s\n", c->id, image ? image : "",
         digest ? digest : "", cmd, status, c->name);
  return 0;
}

int cli_cmd_ps(const struct cli_opts *o, int argc, char **argv)
{
  static const struct option opts[] = {{"all", no_argument, NULL, 'a'},
                                       {"quiet", no_argument, NULL, 'q'},
                                       {"format", required_argument, NULL, 'f'},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
  struct ps_ctx p = {.quiet = o->quiet};
  struct wh_err err = {0};
  int c;

  optind = 0;
  while ((c = getopt_long(argc, argv, "+aqh", opts, NULL)) != -1) {
    switch (c) {
    case 'a': p.all = true; break;
    case 'q': p.quiet = true; break;
    case 'f':
      if (strcmp(optarg, "json") != 0)
        return cli_usage("ps", "--format: only json");
      p.json = true;
      break;
    case 'h': return cli_help("ps");
    default: return cli_usage("ps", "bad option");
    }
  }
  if (optind != argc)
    return cli_usage("ps", "no arguments expected");
  cli_container_sweep(o->root);
  if (p.json)
    p.out = json_array();
  else if (!p.quiet)
    printf("%-12s  %-24s  %-19s  %-24s  %-22s  %s\n", "CONTAINER ID", "IMAGE", "DIGEST", "COMMAND", "STATUS",
           "NAME");
  if (cli_container_list(o->root, ps_one, &p, &err) != WH_OK) {
    json_decref(p.out);
    return cli_fail("ps", NULL, &err);
  }
  if (p.json) {
    char *s = json_dumps(p.out, JSON_INDENT(2));
    if (s)
      printf("%s\n", s);
    free(s);
    json_decref(p.out);
  }
  return 0;
}

/* ---- stop -------------------------------------------------------------------- */

/* Waits up to timeout_ms for pid 1 to be gone. */
static bool wait_gone(const struct cli_container *c, long timeout_ms)
{
  for (long waited = 0; waited <= timeout_ms; waited += 20) {
    if (!cli_container_alive(c))
      return true;
    struct timespec ts = {0, 20 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  return !cli_container_alive(c);
}

/* Sends the stop signal, then SIGKILL after timeout_s; waits until the
 * monitor recorded the exit. */
static enum wh_code stop_container(const char *root, const char *what, long timeout_s, struct wh_err *err)
{
  char id[65];
  struct cli_container c;
  enum wh_code rc = cli_container_find(root, what, id, err);
  int sig;

  if (rc != WH_OK || (rc = cli_container_read(root, id, &c, err)) != WH_OK)
    return rc;
  cli_container_mark_stopped(c.dir);
  if (!cli_container_alive(&c)) {
    /* between two restarts: its monitor sees the mark and ends */
    int lock = cli_container_lock(c.dir, 15000);
    if (lock >= 0)
      close(lock);
    cli_container_release(&c);
    return WH_OK;
  }
  sig = (int)json_integer_value(json_object_get(c.config, "stop_signal"));
  if (sig <= 0 || sig >= NSIG)
    sig = SIGTERM;
  kill(c.state.pid, sig);
  if (!wait_gone(&c, timeout_s * 1000)) {
    kill(c.state.pid, SIGKILL);
    wait_gone(&c, 5000);
  }
  /* the monitor records the exit (or removes a --rm container) once pid 1
   * is reaped, then lets go of the container's lock */
  int lock = cli_container_lock(c.dir, 15000);
  if (lock >= 0)
    close(lock);
  cli_container_release(&c);
  return WH_OK;
}

static int parse_time(const char *verb, const char *s, long *out)
{
  char *end;

  errno = 0;
  *out = strtol(s, &end, 10);
  if (errno || *end || *out < 0 || *out > 86400)
    return cli_usage(verb, "bad --time \"%s\"", s);
  return 0;
}

int cli_cmd_stop(const struct cli_opts *o, int argc, char **argv)
{
  static const struct option opts[] = {
      {"time", required_argument, NULL, 't'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
  long timeout = 10;
  int c, status = 0;

  optind = 0;
  while ((c = getopt_long(argc, argv, "+t:h", opts, NULL)) != -1) {
    switch (c) {
    case 't':
      if ((status = parse_time("stop", optarg, &timeout)) != 0)
        return status;
      break;
    case 'h': return cli_help("stop");
    default: return cli_usage("stop", "bad option");
    }
  }
  if (optind >= argc)
    return cli_usage("stop", "expected a CONTAINER");
  for (int i = optind; i < argc; i++) {
    struct wh_err err = {0};
    if (stop_container(o->root, argv[i], timeout, &err) != WH_OK)
      status = cli_fail("stop", argv[i], &err);
    else if (!o->quiet)
      printf("%s\n", argv[i]);
  }
  return status;
}

/* ---- rm ---------------------------------------------------------------------- */

static enum wh_code rm_container(const char *root, const char *what, bool force, struct wh_err *err)
{
  char id[65];
  struct cli_container c;
  enum wh_code rc = cli_container_find(root, what, id, err);

  if (rc != WH_OK || (rc = cli_container_read(root, id, &c, err)) != WH_OK)
    return rc;
  bool alive = cli_container_alive(&c);
  cli_container_release(&c);
  if (alive && !force)
    return wh_err_set(err, WH_ECONFLICT, 0, "the container is running: stop it first or use --force");
  if (alive && (rc = stop_container(root, id, 0, err)) != WH_OK)
    return rc;
  /* its monitor may still be writing the exit status */
  char dir[PATH_MAX + 80];
  snprintf(dir, sizeof(dir), "%s/containers/%s", root, id);
  WH_AUTOCLOSE int lock = cli_container_lock(dir, 10000);
  if (lock < 0 && errno == EWOULDBLOCK)
    return wh_err_set(err, WH_ECONFLICT, 0, "the container's monitor is still running");
  return cli_container_remove(root, id, false, err);
}

int cli_cmd_rm(const struct cli_opts *o, int argc, char **argv)
{
  static const struct option opts[] = {
      {"force", no_argument, NULL, 'f'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
  bool force = false;
  int c, status = 0;

  optind = 0;
  while ((c = getopt_long(argc, argv, "+fh", opts, NULL)) != -1) {
    switch (c) {
    case 'f': force = true; break;
    case 'h': return cli_help("rm");
    default: return cli_usage("rm", "bad option");
    }
  }
  if (optind >= argc)
    return cli_usage("rm", "expected a CONTAINER");
  for (int i = optind; i < argc; i++) {
    struct wh_err err = {0};
    if (rm_container(o->root, argv[i], force, &err) != WH_OK)
      status = cli_fail("rm", argv[i], &err);
    else if (!o->quiet)
      printf("%s\n", argv[i]);
  }
  return status;
}

/* ---- logs -------------------------------------------------------------------- */

static bool copy_out(int fd)
{
  char buf[65536];
  ssize_t n;
  bool any = false;

  while ((n = read(fd, buf, sizeof(buf))) > 0) {
    any = true;
    if (fwrite(buf, 1, (size_t)n, stdout) != (size_t)n)
      return any;
  }
  fflush(stdout);
  return any;
}

int cli_cmd_logs(const struct cli_opts *o, int argc, char **argv)
{
  static const struct option opts[] = {
      {"follow", no_argument, NULL, 'f'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
  bool follow = false;
  int c;
  char id[65], path[PATH_MAX + 8];
  struct wh_err err = {0};
  struct cli_container ct;
  WH_AUTOCLOSE int fd = -1;

  optind = 0;
  while ((c = getopt_long(argc, argv, "+fh", opts, NULL)) != -1) {
    switch (c) {
    case 'f': follow = true; break;
    case 'h': return cli_help("logs");
    default: return cli_usage("logs", "bad option");
    }
  }
  if (optind + 1 != argc)
    return cli_usage("logs", "expected one CONTAINER");
  if (cli_container_find(o->root, argv[optind], id, &err) != WH_OK ||
      cli_container_read(o->root, id, &ct, &err) != WH_OK)
    return cli_fail("logs", argv[optind], &err);
  snprintf(path, sizeof(path), "%s/log", ct.dir);
  fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    cli_container_release(&ct);
    if (errno == ENOENT)
      return 0; /* a foreground container: its output went to its terminal */
    wh_err_set(&err, WH_EIO, errno, "open %s", path);
    return cli_fail("logs", argv[optind], &err);
  }
  copy_out(fd);
  while (follow && cli_container_alive(&ct)) {
    if (!copy_out(fd)) {
      struct timespec ts = {0, 100 * 1000 * 1000};
      nanosleep(&ts, NULL);
    }
  }
  if (follow)
    copy_out(fd);
  cli_container_release(&ct);
  return 0;
}
