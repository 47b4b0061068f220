/* client/cmd_update.c - hosts that follow a tag: `wharf update NAME`
 * pulls the tag a container follows and, when it names another image,
 * replaces the container by one of the new image (same options, same
 * name); `wharf rollback NAME` goes back to the image it ran before. With
 * a health check (the image's HEALTHCHECK or --health-cmd), the new
 * container must turn healthy in time, else the previous image is put
 * back at once.
 *
 * Every release of a name is recorded in <root>/containers/releases/
 * <name>.json: [{digest, follows, time}, ...], oldest first, the last one
 * running. A container is replaced by running `wharf run` again with the
 * arguments it was first started with (config.json's run_argv), its image
 * pinned by digest (REPO@DIGEST) and --follows keeping the tag.
 *
 * Invariants: the old container is stopped only once the new image is
 * stored locally; a failed health check always ends with the previous
 * image running again (or an error saying it could not be started).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "client/cli.h"
#include "client/container.h"
#include "client/remote.h"
#include "client/run.h"
#include "common/cleanup.h"

#define RELEASES_MAX 50
#define HEALTH_DEFAULT_INTERVAL_NS 1000000000LL /* 1 s (docker: 30 s; updates should not wait that long) */
#define HEALTH_DEFAULT_TIMEOUT_NS 30000000000LL
#define HEALTH_DEFAULT_RETRIES 3

static void releases_path(const char *root, const char *name, char *out, size_t size)
{
  snprintf(out, size, "%s/containers/releases/%s.json", root, name);
}

static json_t *releases_load(const char *root, const char *name)
{
  char path[PATH_MAX];
  json_error_t je;
  json_t *r;

  releases_path(root, name, path, sizeof(path));
  r = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
  if (!json_is_array(r)) {
    json_decref(r);
    r = json_array();
  }
  return r;
}

static enum wh_code releases_save(const char *root, const char *name, json_t *r, struct wh_err *err)
{
  char dir[PATH_MAX], path[PATH_MAX], tmp[PATH_MAX + 8];

  snprintf(dir, sizeof(dir), "%s/containers/releases", root);
  if (mkdir(dir, 0700) < 0 && errno != EEXIST)
    return wh_err_set(err, WH_EIO, errno, "mkdir %s", dir);
  while (json_array_size(r) > RELEASES_MAX)
    json_array_remove(r, 0);
  releases_path(root, name, path, sizeof(path));
  snprintf(tmp, sizeof(tmp), "%s.tmp", path);
  if (json_dump_file(r, tmp, JSON_COMPACT) < 0 || rename(tmp, path) < 0)
    return wh_err_set(err, WH_EIO, errno, "write %s", path);
  return WH_OK;
}

static enum wh_code releases_add(const char *root, const char *name, const char *digest, const char *follows,
                                 struct wh_err *err)
{
  json_auto_t *r = releases_load(root, name);
  json_t *last = json_array_get(r, json_array_size(r) - 1);

  if (last && strcmp(json_string_value(json_object_get(last, "digest")) ?: "", digest) == 0)
    return WH_OK;
  json_array_append_new(r, json_pack("{s:s, s:s, s:I}", "digest", digest, "follows", follows, "time",
                                     (json_int_t)time(NULL)));
  return releases_save(root, name, r, err);
}

/* ---- running a release ------------------------------------------------------------ */

/* `wharf run` again: the original arguments with the image pinned to
 * repo@digest and --follows tag. Returns run's exit status. */
static int start(const struct cli_opts *o, json_t *run_argv, const char *follows, const char *digest)
{
  size_t n = json_array_size(run_argv);
  char **v = calloc(n + 4, sizeof(*v));
  char *pinned = NULL;
  struct cli_ref ref = {0};
  size_t k = 0;
  int argi, rc;

  if (!v || cli_ref_parse(follows, 0, &ref, NULL) != WH_OK || asprintf(&pinned, "%s@%s", ref.repo, digest) < 0) {
    free(v);
    cli_ref_release(&ref);
    fprintf(stderr, "wharf: cannot restart \"%s\"\n", follows);
    return CLI_RUN_EXIT_FAILED;
  }
  cli_ref_release(&ref);
  /* run_argv = ["run", options..., IMAGE, CMD...]: IMAGE is the first
   * word that is no option nor an option's value (run's table says which) */
  v[k++] = "run";
  for (argi = 1; argi < (int)n; argi++) {
    const char *s = json_string_value(json_array_get(run_argv, (size_t)argi));
    if (!s || s[0] != '-' || strcmp(s, "--") == 0)
      break;
    if (strcmp(s, "--follows") == 0) { /* replaced below */
      argi++;
      continue;
    }
    if (strncmp(s, "--follows=", 10) == 0)
      continue;
    v[k++] = (char *)s;
    if (cli_run_option_takes_value(s) && argi + 1 < (int)n)
      v[k++] = (char *)json_string_value(json_array_get(run_argv, (size_t)++argi));
  }
  v[k++] = "--follows";
  v[k++] = (char *)follows;
  v[k++] = pinned;
  for (argi++; argi < (int)n; argi++)
    v[k++] = (char *)json_string_value(json_array_get(run_argv, (size_t)argi));
  v[k] = NULL;
  fflush(NULL);
  pid_t pid = fork();
  if (pid == 0)
    _exit(cli_cmd_run(o, (int)k, v)); /* run's getopt state and exits stay in the child */
  rc = CLI_RUN_EXIT_FAILED;
  int ws;
  if (pid > 0 && waitpid(pid, &ws, 0) == pid && WIFEXITED(ws))
    rc = WEXITSTATUS(ws);
  free(pinned);
  free(v);
  return rc;
}

/* ---- health ----------------------------------------------------------------------------- */

static int64_t health_ns(json_t *h, const char *key, int64_t def)
{
  json_int_t v = json_integer_value(json_object_get(h, key));
  return v > 0 ? (int64_t)v : def;
}

/* One probe: the test run in the container (exec), bounded by timeout. */
static bool probe(const struct cli_container *c, json_t *h, int64_t timeout_ns)
{
  json_t *test = json_object_get(h, "Test");
  const char *kind = json_string_value(json_array_get(test, 0));
  struct cli_run_spec s;
  pid_t pid;
  int ws;

  if (!kind)
    return false;
  fflush(NULL);
  if ((pid = fork()) == 0) {
    struct wh_err err;
    int status = 1;
    size_t n = json_array_size(test), k = 0;
    char **argv = calloc(n + 3, sizeof(*argv));
    if (!argv)
      _exit(1);
    for (size_t i = 1; i < n; i++) /* the image's words: strings only */
      if (!json_is_string(json_array_get(test, i)))
        _exit(1);
    if (strcmp(kind, "CMD-SHELL") == 0) {
      argv[k++] = "/bin/sh";
      argv[k++] = "-c";
    }
    for (size_t i = 1; i < n && (strcmp(kind, "CMD-SHELL") != 0 || i == 1); i++)
      argv[k++] = (char *)json_string_value(json_array_get(test, i));
    if (k == 0 || (strcmp(kind, "CMD-SHELL") == 0 && k != 3))
      _exit(1);
    int nul = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (nul >= 0)
      dup2(nul, 0), dup2(nul, 1), dup2(nul, 2);
    if (cli_exec_spec(c, argv, k, NULL, 0, NULL, NULL, &s, &err) != WH_OK)
      _exit(1);
    if (cli_runtime_exec(c->state.pid, &s, &status, &err) != WH_OK)
      _exit(1);
    _exit(status == 0 ? 0 : 1);
  }
  if (pid < 0)
    return false;
  for (int64_t waited = 0;; waited += 20000000) {
    pid_t r = waitpid(pid, &ws, WNOHANG);
    if (r == pid)
      return WIFEXITED(ws) && WEXITSTATUS(ws) == 0;
    if (waited > timeout_ns) {
      kill(pid, SIGKILL);
      waitpid(pid, NULL, 0);
      return false;
    }
    struct timespec ts = {0, 20000000};
    nanosleep(&ts, NULL);
  }
}

/* Healthy within start period + retries x interval? A container that
 * exits meanwhile is not. true when there is no health check. */
static bool wait_healthy(const char *root, const char *name, bool quiet)
{
  char id[65];
  struct cli_container c;
  bool ok = false;

  if (cli_container_find(root, name, id, NULL) != WH_OK || cli_container_read(root, id, &c, NULL) != WH_OK)
    return false;
  json_t *h = json_object_get(c.config, "health");
  if (!h) {
    ok = cli_container_alive(&c);
    cli_container_release(&c);
    return ok;
  }
  int64_t interval = health_ns(h, "Interval", HEALTH_DEFAULT_INTERVAL_NS);
  int64_t timeout = health_ns(h, "Timeout", HEALTH_DEFAULT_TIMEOUT_NS);
  int64_t start = health_ns(h, "StartPeriod", 0);
  int retries = (int)health_ns(h, "Retries", HEALTH_DEFAULT_RETRIES);
  struct timespec ts = {start / 1000000000, start % 1000000000};
  nanosleep(&ts, NULL);
  for (int i = 0; i < retries && !ok; i++) {
    if (!cli_container_alive(&c))
      break;
    ok = probe(&c, h, timeout);
    if (!quiet)
      fprintf(stderr, "health check %d/%d of %s: %s\n", i + 1, retries, name, ok ? "healthy" : "unhealthy");
    if (!ok && i + 1 < retries) {
      struct timespec iv = {interval / 1000000000, interval % 1000000000};
      nanosleep(&iv, NULL);
    }
  }
  cli_container_release(&c);
  return ok;
}

/* ---- update / rollback ------------------------------------------------------------------ */

/* Stops and removes the container named name (its release is recorded). */
static int retire(const struct cli_opts *o, const char *name)
{
  char *stop_argv[] = {"rm", "-f", (char *)name, NULL};
  struct cli_opts q = *o;

  q.quiet = true;
  return cli_cmd_rm(&q, 3, stop_argv);
}

/* Replaces container `name` (config c) by one of image `digest`; on an
 * unhealthy start, puts `fallback` (may be NULL) back. */
static int replace(const struct cli_opts *o, const char *name, json_t *cfg, const char *follows, const char *digest,
                   const char *fallback)
{
  json_t *run_argv = json_incref(json_object_get(cfg, "run_argv"));
  int rc;

  if (!json_is_array(run_argv)) {
    json_decref(run_argv);
    fprintf(stderr, "wharf: %s was not started by this version of wharf run: cannot replace it\n", name);
    return 1;
  }
  retire(o, name);
  rc = start(o, run_argv, follows, digest);
  if (rc == 0 && wait_healthy(o->root, name, o->quiet)) {
    releases_add(o->root, name, digest, follows, NULL);
    if (!o->quiet)
      printf("%s: now running %s (%s)\n", name, digest, follows);
    json_decref(run_argv);
    return 0;
  }
  fprintf(stderr, "wharf: %s: the new image %s %s\n", name, digest,
          rc == 0 ? "did not become healthy" : "did not start");
  if (fallback) {
    retire(o, name);
    rc = start(o, run_argv, follows, fallback);
    fprintf(stderr, "wharf: %s: rolled back to %s%s\n", name, fallback, rc == 0 ? "" : " (which did not start either)");
  }
  json_decref(run_argv);
  return 1;
}

static int open_container(const struct cli_opts *o, const char *verb, const char *name, struct cli_container *c)
{
  char id[65];
  struct wh_err err = {0};

  if (cli_container_find(o->root, name, id, &err) != WH_OK || cli_container_read(o->root, id, c, &err) != WH_OK)
    return cli_fail(verb, name, &err);
  return 0;
}

/* The image a tag names locally, as the digest a container records. */
static enum wh_code local_digest(const struct cli_opts *o, const char *follows, char out[WH_DIGEST_STR_MAX],
                                 struct wh_err *err)
{
  struct cli_ref ref = {0};
  struct cli_view v;
  struct store *s = NULL;
  enum wh_code rc;

  cli_view_init(&v);
  if ((rc = cli_ref_parse(follows, 0, &ref, err)) == WH_OK && (rc = cli_store_open(o, &s, err)) == WH_OK &&
      (rc = cli_view_local(s, &ref, NULL, false, &v, err)) == WH_OK)
    snprintf(out, WH_DIGEST_STR_MAX, "%s", (v.is_index ? &v.child_digest : &v.digest)->str);
  cli_view_release(&v);
  cli_ref_release(&ref);
  store_free(s);
  return rc;
}

int cli_cmd_update(const struct cli_opts *o, int argc, char **argv)
{
  static const struct option opts[] = {{"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
  struct cli_container c;
  char now[WH_DIGEST_STR_MAX];
  struct wh_err err = {0};
  int ch, rc;

  optind = 0;
  while ((ch = getopt_long(argc, argv, "+h", opts, NULL)) != -1)
    return ch == 'h' ? cli_help("update") : cli_usage("update", "bad option");
  if (argc - optind != 1)
    return cli_usage("update", "expected one CONTAINER");
  if ((rc = open_container(o, "update", argv[optind], &c)) != 0)
    return rc;
  const char *follows = json_string_value(json_object_get(c.config, "follows"));
  const char *cur = json_string_value(json_object_get(c.config, "image_digest"));
  if (!follows || !cur) {
    cli_container_release(&c);
    wh_err_set(&err, WH_EINVALID, 0, "the container records no tag to follow");
    return cli_fail("update", argv[optind], &err);
  }
  /* pull the tag (a local-only name keeps its local value) */
  char *pargv[] = {"pull", (char *)follows, NULL};
  struct cli_opts q = *o;
  q.quiet = true;
  fflush(NULL);
  pid_t pid = fork(); /* pull's exits and output stay in the child */
  if (pid == 0) {
    int nul = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (nul >= 0)
      dup2(nul, 1), dup2(nul, 2);
    _exit(cli_cmd_pull(&q, 2, pargv));
  }
  int ws = 0;
  if (pid < 0 || waitpid(pid, &ws, 0) != pid || !WIFEXITED(ws) || WEXITSTATUS(ws) != 0)
    fprintf(stderr, "wharf: update %s: could not pull %s: using what the tag names locally\n", c.name, follows);
  if (local_digest(o, follows, now, &err) != WH_OK) {
    cli_container_release(&c);
    return cli_fail("update", argv[optind], &err);
  }
  releases_add(o->root, c.name, cur, follows, NULL);
  if (strcmp(now, cur) == 0 && cli_container_alive(&c)) {
    if (!o->quiet)
      printf("%s: up to date (%s)\n", c.name, cur);
    cli_container_release(&c);
    return 0;
  }
  char name[129], prev[WH_DIGEST_STR_MAX];
  snprintf(name, sizeof(name), "%s", c.name);
  snprintf(prev, sizeof(prev), "%s", cur);
  json_t *cfg = json_incref(c.config);
  cli_container_release(&c);
  rc = replace(o, name, cfg, follows, now, strcmp(now, prev) ? prev : NULL);
  json_decref(cfg);
  return rc;
}

/* `wharf rollback NAME`: the release before the one running. */
int cli_container_rollback(const struct cli_opts *o, const char *name, const char *to)
{
  struct cli_container c;
  struct wh_err err = {0};
  int rc;

  if ((rc = open_container(o, "rollback", name, &c)) != 0)
    return rc;
  const char *follows = json_string_value(json_object_get(c.config, "follows"));
  const char *cur = json_string_value(json_object_get(c.config, "image_digest"));
  json_auto_t *rel = releases_load(o->root, c.name);
  const char *target = to;
  /* the newest release before the running one */
  for (size_t i = json_array_size(rel); !target && i-- > 0;) {
    const char *d = json_string_value(json_object_get(json_array_get(rel, i), "digest"));
    if (d && cur && strcmp(d, cur) != 0)
      target = d;
  }
  if (!target || !follows) {
    cli_container_release(&c);
    wh_err_set(&err, WH_ENOTFOUND, 0, "no earlier release of %s is recorded", name);
    return cli_fail("rollback", name, &err);
  }
  char nm[129], tg[WH_DIGEST_STR_MAX], fl[512];
  snprintf(nm, sizeof(nm), "%s", c.name);
  snprintf(tg, sizeof(tg), "%s", target);
  snprintf(fl, sizeof(fl), "%s", follows);
  json_t *cfg = json_incref(c.config);
  char curc[WH_DIGEST_STR_MAX];
  snprintf(curc, sizeof(curc), "%s", cur ? cur : "");
  cli_container_release(&c);
  rc = replace(o, nm, cfg, fl, tg, curc[0] ? curc : NULL);
  json_decref(cfg);
  return rc;
}
