/* client/cmd_run.c - `wharf run`: an image's config and the options turned
 * into a struct cli_run_spec, a container directory, then the runtime in
 * the foreground or, with -d, in a detached monitor whose output goes to
 * the container's log.
 *
 * Invariants: the image config is read only after its manifest was read
 * from the store (digests verified when it was stored); every option is
 * checked before the container directory is made; --rm removes the
 * directory whatever the container's fate.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "client/caps.h"
#include "client/commit.h"
#include "client/container.h"
#include "client/remote.h"
#include "client/run.h"
#include "common/cleanup.h"
#include "common/fsutil.h"

#define MAX_ENV 1024
#define MAX_MOUNTS 128

struct run_args {
  bool rm, detach, interactive, tty, read_only, privileged;
  const char *name, *workdir, *user, *hostname, *network, *entrypoint, *platform;
  bool has_entrypoint;
  const char *env[MAX_ENV];
  size_t n_env;
  const char *env_files[16];
  size_t n_env_files;
  const char *volumes[MAX_MOUNTS];
  size_t n_volumes;
  const char *tmpfs[MAX_MOUNTS];
  size_t n_tmpfs;
  const char *ports[64];
  size_t n_ports;
  const char *cap_add[64], *cap_drop[64];
  size_t n_cap_add, n_cap_drop;
  int64_t memory;
  double cpus;
  int64_t pids;
  const char *image;
  char **cmd;
  int n_cmd;
  /* restart policy (-d): "no", "on-failure", "always", "unless-stopped" */
  const char *restart;
  int restart_max; /* on-failure:N, 0: no limit */
  const char *follows; /* the tag the container follows (update/rollback) */
  const char *health_cmd;
  int64_t health_interval_ns, health_timeout_ns, health_start_ns;
  int health_retries;
  bool no_healthcheck;
  int argc; /* what was given to `run`, kept for update and rollback */
  char **argv;
};

enum {
  OPT_RM = 256, OPT_ENV_FILE, OPT_TMPFS, OPT_READ_ONLY, OPT_HOSTNAME, OPT_NAME, OPT_NETWORK, OPT_MEMORY,
  OPT_CPUS, OPT_PIDS, OPT_CAP_ADD, OPT_CAP_DROP, OPT_PRIVILEGED, OPT_ENTRYPOINT, OPT_PLATFORM,
  OPT_RESTART, OPT_FOLLOWS, OPT_HEALTH_CMD, OPT_HEALTH_INTERVAL, OPT_HEALTH_TIMEOUT, OPT_HEALTH_START,
  OPT_HEALTH_RETRIES, OPT_NO_HEALTHCHECK,
};

static const struct option run_opts[] = {
    {"rm", no_argument, NULL, OPT_RM},
    {"detach", no_argument, NULL, 'd'},
    {"interactive", no_argument, NULL, 'i'},
    {"tty", no_argument, NULL, 't'},
    {"env", required_argument, NULL, 'e'},
    {"env-file", required_argument, NULL, OPT_ENV_FILE},
    {"workdir", required_argument, NULL, 'w'},
    {"user", required_argument, NULL, 'u'},
    {"volume", required_argument, NULL, 'v'},
    {"tmpfs", required_argument, NULL, OPT_TMPFS},
    {"publish", required_argument, NULL, 'p'},
    {"read-only", no_argument, NULL, OPT_READ_ONLY},
    {"hostname", required_argument, NULL, OPT_HOSTNAME},
    {"name", required_argument, NULL, OPT_NAME},
    {"network", required_argument, NULL, OPT_NETWORK},
    {"net", required_argument, NULL, OPT_NETWORK},
    {"memory", required_argument, NULL, OPT_MEMORY},
    {"cpus", required_argument, NULL, OPT_CPUS},
    {"pids-limit", required_argument, NULL, OPT_PIDS},
    {"cap-add", required_argument, NULL, OPT_CAP_ADD},
    {"cap-drop", required_argument, NULL, OPT_CAP_DROP},
    {"privileged", no_argument, NULL, OPT_PRIVILEGED},
    {"entrypoint", required_argument, NULL, OPT_ENTRYPOINT},
    {"platform", required_argument, NULL, OPT_PLATFORM},
    {"restart", required_argument, NULL, OPT_RESTART},
    {"follows", required_argument, NULL, OPT_FOLLOWS},
    {"health-cmd", required_argument, NULL, OPT_HEALTH_CMD},
    {"health-interval", required_argument, NULL, OPT_HEALTH_INTERVAL},
    {"health-timeout", required_argument, NULL, OPT_HEALTH_TIMEOUT},
    {"health-start-period", required_argument, NULL, OPT_HEALTH_START},
    {"health-retries", required_argument, NULL, OPT_HEALTH_RETRIES},
    {"no-healthcheck", no_argument, NULL, OPT_NO_HEALTHCHECK},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

#define RUN_SHORT_OPTS "+dite:w:u:v:p:h"

bool cli_run_option_takes_value(const char *arg)
{
  if (strncmp(arg, "--", 2) == 0) {
    if (strchr(arg, '='))
      return false;
    for (const struct option *o = run_opts; o->name; o++)
      if (strcmp(o->name, arg + 2) == 0)
        return o->has_arg == required_argument;
    return false;
  }
  /* "-e" takes the next word; "-eK=V" and "-it" do not */
  const char *p = arg[0] == '-' && arg[1] && !arg[2] ? strchr(RUN_SHORT_OPTS + 1, arg[1]) : NULL;
  return p && p[1] == ':';
}

/* "512m", "1g", "1048576" -> bytes; -1 when malformed. */
static int64_t parse_bytes(const char *s)
{
  char *end;
  unsigned long long v;
  int shift = 0;

  errno = 0;
  v = strtoull(s, &end, 10);
  if (errno || end == s)
    return -1;
  switch (*end) {
  case '\0': break;
  case 'b': case 'B': shift = 0; end++; break;
  case 'k': case 'K': shift = 10; end++; break;
  case 'm': case 'M': shift = 20; end++; break;
  case 'g': case 'G': shift = 30; end++; break;
  default: return -1;
  }
  if ((*end == 'b' || *end == 'B') && shift)
    end++;
  if (*end || v > ((1ull << 62) >> shift))
    return -1;
  return (int64_t)(v << shift);
}

/* A positive decimal int, -1 otherwise. */
static int atoi_strict(const char *s)
{
  char *end;
  long v;

  errno = 0;
  v = strtol(s, &end, 10);
  return errno || *end || end == s || v < 0 || v > 1000000 ? -1 : (int)v;
}

int64_t cli_parse_duration_ns(const char *s)
{
  char *end;
  double v;

  errno = 0;
  v = strtod(s, &end);
  if (errno || end == s || v < 0)
    return -1;
  if (strcmp(end, "ms") == 0)
    return (int64_t)(v * 1e6);
  if (strcmp(end, "s") == 0 || *end == '\0')
    return (int64_t)(v * 1e9);
  if (strcmp(end, "m") == 0)
    return (int64_t)(v * 60e9);
  if (strcmp(end, "h") == 0)
    return (int64_t)(v * 3600e9);
  return -1;
}

static int parse_args(int argc, char **argv, struct run_args *a)
{
  int c;
  char *end;

  memset(a, 0, sizeof(*a));
  a->argc = argc;
  a->argv = argv;
  optind = 0;
  while ((c = getopt_long(argc, argv, RUN_SHORT_OPTS, run_opts, NULL)) != -1) {
    switch (c) {
    case OPT_RM: a->rm = true; break;
    case 'd': a->detach = true; break;
    case 'i': a->interactive = true; break;
    case 't': a->tty = true; break;
    case 'e':
      if (a->n_env == MAX_ENV)
        return cli_usage("run", "too many -e options");
      a->env[a->n_env++] = optarg;
      break;
    case OPT_ENV_FILE:
      if (a->n_env_files == WH_ARRAY_LEN(a->env_files))
        return cli_usage("run", "too many --env-file options");
      a->env_files[a->n_env_files++] = optarg;
      break;
    case 'w': a->workdir = optarg; break;
    case 'u': a->user = optarg; break;
    case 'v':
      if (a->n_volumes == MAX_MOUNTS)
        return cli_usage("run", "too many volumes");
      a->volumes[a->n_volumes++] = optarg;
      break;
    case OPT_TMPFS:
      if (a->n_tmpfs == MAX_MOUNTS)
        return cli_usage("run", "too many --tmpfs");
      a->tmpfs[a->n_tmpfs++] = optarg;
      break;
    case 'p':
      if (a->n_ports == WH_ARRAY_LEN(a->ports))
        return cli_usage("run", "too many -p");
      a->ports[a->n_ports++] = optarg;
      break;
    case OPT_READ_ONLY: a->read_only = true; break;
    case OPT_HOSTNAME: a->hostname = optarg; break;
    case OPT_NAME: a->name = optarg; break;
    case OPT_NETWORK: a->network = optarg; break;
    case OPT_MEMORY:
      if ((a->memory = parse_bytes(optarg)) <= 0)
        return cli_usage("run", "bad --memory \"%s\" (e.g. 512m, 1g)", optarg);
      break;
    case OPT_CPUS:
      errno = 0;
      a->cpus = strtod(optarg, &end);
      if (errno || *end || a->cpus <= 0 || a->cpus > 4096)
        return cli_usage("run", "bad --cpus \"%s\"", optarg);
      break;
    case OPT_PIDS:
      errno = 0;
      a->pids = strtoll(optarg, &end, 10);
      if (errno || *end || a->pids <= 0)
        return cli_usage("run", "bad --pids-limit \"%s\"", optarg);
      break;
    case OPT_CAP_ADD:
      if (a->n_cap_add == WH_ARRAY_LEN(a->cap_add))
        return cli_usage("run", "too many --cap-add");
      a->cap_add[a->n_cap_add++] = optarg;
      break;
    case OPT_CAP_DROP:
      if (a->n_cap_drop == WH_ARRAY_LEN(a->cap_drop))
        return cli_usage("run", "too many --cap-drop");
      a->cap_drop[a->n_cap_drop++] = optarg;
      break;
    case OPT_PRIVILEGED: a->privileged = true; break;
    case OPT_ENTRYPOINT: a->entrypoint = optarg, a->has_entrypoint = true; break;
    case OPT_PLATFORM: a->platform = optarg; break;
    case OPT_RESTART:
      if (strcmp(optarg, "no") == 0 || strcmp(optarg, "always") == 0 || strcmp(optarg, "unless-stopped") == 0 ||
          strcmp(optarg, "on-failure") == 0)
        a->restart = optarg;
      else if (strncmp(optarg, "on-failure:", 11) == 0 && (a->restart_max = atoi_strict(optarg + 11)) > 0)
        a->restart = "on-failure";
      else
        return cli_usage("run", "--restart no, on-failure[:N], always or unless-stopped");
      break;
    case OPT_FOLLOWS: a->follows = optarg; break;
    case OPT_HEALTH_CMD: a->health_cmd = optarg; break;
    case OPT_NO_HEALTHCHECK: a->no_healthcheck = true; break;
    case OPT_HEALTH_RETRIES:
      if ((a->health_retries = atoi_strict(optarg)) <= 0)
        return cli_usage("run", "bad --health-retries");
      break;
    case OPT_HEALTH_INTERVAL:
    case OPT_HEALTH_TIMEOUT:
    case OPT_HEALTH_START: {
      int64_t ns = cli_parse_duration_ns(optarg);
      if (ns <= 0)
        return cli_usage("run", "bad duration \"%s\" (e.g. 500ms, 5s, 1m)", optarg);
      *(c == OPT_HEALTH_INTERVAL ? &a->health_interval_ns : c == OPT_HEALTH_TIMEOUT ? &a->health_timeout_ns
                                                                                  : &a->health_start_ns) = ns;
      break;
    }
    case 'h': cli_help("run"); return -2;
    default: return cli_usage("run", "bad option");
    }
  }
  if (optind >= argc)
    return cli_usage("run", "expected an IMAGE");
  a->image = argv[optind];
  a->cmd = argv + optind + 1;
  a->n_cmd = argc - optind - 1;
  if (a->restart && strcmp(a->restart, "no") != 0 && a->rm)
    return cli_usage("run", "--restart and --rm cannot go together");
  if (a->restart && strcmp(a->restart, "no") != 0 && !a->detach)
    return cli_usage("run", "--restart needs -d");
  if (a->name && !cli_container_name_valid(a->name))
    return cli_usage("run", "invalid --name \"%s\": use [a-zA-Z0-9][a-zA-Z0-9_.-]*", a->name);
  if (a->hostname && (strlen(a->hostname) > 63 || !*a->hostname))
    return cli_usage("run", "bad --hostname");
  return 0;
}

/* ---- the spec -------------------------------------------------------------- */

void cli_run_spec_init(struct cli_run_spec *s)
{
  memset(s, 0, sizeof(*s));
  s->stop_signal = SIGTERM;
  s->out_fd = -1;
}

static void free_strv(char **v)
{
  for (char **p = v; p && *p; p++)
    free(*p);
  free(v);
}

void cli_run_spec_release(struct cli_run_spec *s)
{
  free(s->name);
  free(s->state_dir);
  free(s->layers_dir);
  for (size_t i = 0; i < s->n_lowers; i++)
    free(s->lowers[i]);
  free(s->lowers);
  free_strv(s->argv);
  free_strv(s->env);
  free(s->cwd);
  free(s->user);
  free(s->hostname);
  for (size_t i = 0; i < s->n_mounts; i++) {
    free(s->mounts[i].src);
    free(s->mounts[i].dst);
    free(s->mounts[i].data);
  }
  free(s->mounts);
  free(s->ports);
  memset(s, 0, sizeof(*s));
}

/* A growable NULL-terminated string vector. */
struct strv {
  char **v;
  size_t n, cap;
};

static enum wh_code strv_add(struct strv *sv, const char *s, size_t len, struct wh_err *err)
{
  if (sv->n + 2 > sv->cap) {
    size_t cap = sv->cap ? sv->cap * 2 : 16;
    char **v = realloc(sv->v, cap * sizeof(*v));
    if (!v)
      return wh_err_set(err, WH_ENOMEM, 0, "out of memory");
    sv->v = v, sv->cap = cap;
  }
  if (!(sv->v[sv->n] = strndup(s, len)))
    return wh_err_set(err, WH_ENOMEM, 0, "out of memory");
  sv->v[++sv->n] = NULL;
  return WH_OK;
}

static enum wh_code strv_add_json(struct strv *sv, json_t *arr, struct wh_err *err)
{
  size_t i;
  json_t *v;

  json_array_foreach(arr, i, v)
  {
    const char *s = json_string_value(v);
    if (s && strv_add(sv, s, strlen(s), err) != WH_OK)
      return err->code;
  }
  return WH_OK;
}

/* Sets KEY=VALUE in env, replacing an earlier KEY. */
static enum wh_code env_set(struct strv *env, const char *kv, size_t len, struct wh_err *err)
{
  const char *eq = memchr(kv, '=', len);
  size_t klen = eq ? (size_t)(eq - kv) : len;

  if (klen == 0)
    return wh_err_set(err, WH_EINVALID, 0, "bad environment entry \"%.*s\"", (int)len, kv);
  for (size_t i = 0; i < env->n; i++) {
    if (strncmp(env->v[i], kv, klen) == 0 && env->v[i][klen] == '=') {
      char *dup = strndup(kv, len);
      if (!dup)
        return wh_err_set(err, WH_ENOMEM, 0, "out of memory");
      free(env->v[i]);
      env->v[i] = dup;
      return WH_OK;
    }
  }
  return strv_add(env, kv, len, err);
}

/* -e KEY=V, or -e KEY: taken from wharf's environment when set there. */
static enum wh_code env_option(struct strv *env, const char *opt, struct wh_err *err)
{
  const char *v;
  char buf[8192];

  if (strchr(opt, '='))
    return env_set(env, opt, strlen(opt), err);
  if (!(v = getenv(opt)))
    return WH_OK;
  int n = snprintf(buf, sizeof(buf), "%s=%s", opt, v);
  if (n < 0 || (size_t)n >= sizeof(buf))
    return wh_err_set(err, WH_ETOOBIG, 0, "environment variable %s too long", opt);
  return env_set(env, buf, (size_t)n, err);
}

static enum wh_code env_file(struct strv *env, const char *path, struct wh_err *err)
{
  WH_AUTOFCLOSE FILE *f = fopen(path, "re");
  char line[8192];

  if (!f)
    return wh_err_set(err, WH_EIO, errno, "env file \"%s\"", path);
  while (fgets(line, sizeof(line), f)) {
    size_t n = strcspn(line, "\r\n");
    line[n] = '\0';
    if (n == 0 || line[0] == '#')
      continue;
    if (env_option(env, line, err) != WH_OK)
      return err->code;
  }
  return WH_OK;
}

static enum wh_code add_mount(struct cli_run_spec *s, const char *src, const char *dst, unsigned flags,
                              const char *data, struct wh_err *err)
{
  struct cli_mount *m;

  if (s->n_mounts % 16 == 0) {
    struct cli_mount *v = realloc(s->mounts, (s->n_mounts + 16) * sizeof(*v));
    if (!v)
      return wh_err_set(err, WH_ENOMEM, 0, "out of memory");
    s->mounts = v;
  }
  m = &s->mounts[s->n_mounts];
  memset(m, 0, sizeof(*m));
  m->flags = flags;
  if ((src && !(m->src = strdup(src))) || !(m->dst = strdup(dst)) || (data && !(m->data = strdup(data)))) {
    free(m->src), free(m->dst), free(m->data);
    return wh_err_set(err, WH_ENOMEM, 0, "out of memory");
  }
  s->n_mounts++;
  return WH_OK;
}

/* -v SRC:DST[:ro|rw] (SRC an absolute host path). */
static enum wh_code volume_option(struct cli_run_spec *s, const char *opt, struct wh_err *err)
{
  char buf[PATH_MAX * 2], real[PATH_MAX];
  char *parts[3] = {0};
  size_t n = 0;
  unsigned flags = 0;

  if (strlen(opt) >= sizeof(buf))
    return wh_err_set(err, WH_EINVALID, 0, "volume \"%s\" too long", opt);
  snprintf(buf, sizeof(buf), "%s", opt);
  for (char *p = buf, *c; n < 3 && p; p = c) {
    c = strchr(p, ':');
    if (c)
      *c++ = '\0';
    parts[n++] = p;
  }
  if (n < 2 || parts[0][0] != '/' || parts[1][0] != '/')
    return wh_err_set(err, WH_EINVALID, 0, "volume \"%s\": expected /HOST/PATH:/CONTAINER/PATH[:ro]", opt);
  if (n == 3) {
    if (strcmp(parts[2], "ro") == 0)
      flags |= CLI_MOUNT_RO;
    else if (strcmp(parts[2], "rw") != 0)
      return wh_err_set(err, WH_EINVALID, 0, "volume \"%s\": unknown mode \"%s\"", opt, parts[2]);
  }
  if (!realpath(parts[0], real)) {
    if (errno != ENOENT || mkdir(parts[0], 0755) < 0 || !realpath(parts[0], real))
      return wh_err_set(err, WH_EIO, errno, "volume source \"%s\"", parts[0]);
  }
  return add_mount(s, real, parts[1], flags, NULL, err);
}

/* --tmpfs DST[:OPTIONS] */
static enum wh_code tmpfs_option(struct cli_run_spec *s, const char *opt, struct wh_err *err)
{
  char dst[PATH_MAX];
  const char *colon = strchr(opt, ':');
  size_t n = colon ? (size_t)(colon - opt) : strlen(opt);

  if (n == 0 || n >= sizeof(dst) || opt[0] != '/')
    return wh_err_set(err, WH_EINVALID, 0, "--tmpfs \"%s\": expected /PATH[:OPTIONS]", opt);
  memcpy(dst, opt, n);
  dst[n] = '\0';
  if (colon && strpbrk(colon + 1, "\n"))
    return wh_err_set(err, WH_EINVALID, 0, "--tmpfs \"%s\": bad options", opt);
  return add_mount(s, NULL, dst, CLI_MOUNT_TMPFS, colon ? colon + 1 : "mode=1777", err);
}

int cli_signal_parse(const char *name)
{
  static const struct {
    const char *n;
    int s;
  } sigs[] = {{"TERM", SIGTERM}, {"INT", SIGINT},   {"QUIT", SIGQUIT}, {"KILL", SIGKILL}, {"HUP", SIGHUP},
              {"USR1", SIGUSR1}, {"USR2", SIGUSR2}, {"WINCH", SIGWINCH}, {"STOP", SIGSTOP}};
  char *end;
  long v;

  if (!name || !*name)
    return 0;
  v = strtol(name, &end, 10);
  if (end != name && !*end)
    return v > 0 && v < NSIG ? (int)v : 0;
  if (strncmp(name, "SIG", 3) == 0)
    name += 3;
  for (size_t i = 0; i < WH_ARRAY_LEN(sigs); i++)
    if (strcmp(sigs[i].n, name) == 0)
      return sigs[i].s;
  return 0;
}

/* Writes a generated /etc file into the state directory and adds its bind. */
static enum wh_code etc_file(struct cli_run_spec *s, const char *name, const char *text, struct wh_err *err)
{
  char path[PATH_MAX], dst[64];
  WH_AUTOCLOSE int fd = -1;
  enum wh_code rc;

  snprintf(path, sizeof(path), "%s/%s", s->state_dir, name);
  fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd < 0)
    return wh_err_set(err, WH_EIO, errno, "write %s", path);
  if ((rc = wh_write_all(fd, text, strlen(text), err)) != WH_OK)
    return rc;
  if (!s->idmap.rootless && fchown(fd, s->idmap.uid_base, s->idmap.gid_base) < 0)
    return wh_err_set(err, WH_EIO, errno, "chown %s", path);
  snprintf(dst, sizeof(dst), "/etc/%s", name);
  return add_mount(s, path, dst, CLI_MOUNT_FILE, NULL, err);
}

static enum wh_code etc_files(struct cli_run_spec *s, struct wh_err *err)
{
  char hosts[512], resolv[4096] = "";
  enum wh_code rc;
  WH_AUTOFCLOSE FILE *f = fopen("/etc/resolv.conf", "re");

  snprintf(hosts, sizeof(hosts),
           "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t%s\n", s->hostname);
  if (s->n_ports) /* slirp4netns answers DNS on its gateway */
    snprintf(resolv, sizeof(resolv), "nameserver 10.0.2.3\n");
  else if (f) {
    size_t n = fread(resolv, 1, sizeof(resolv) - 1, f);
    resolv[n] = '\0';
  }
  char hn[80];
  snprintf(hn, sizeof(hn), "%s\n", s->hostname);
  if ((rc = etc_file(s, "hosts", hosts, err)) != WH_OK || (rc = etc_file(s, "hostname", hn, err)) != WH_OK)
    return rc;
  return etc_file(s, "resolv.conf", resolv, err);
}

static enum wh_code caps_for(const struct run_args *a, struct cli_run_spec *s, struct wh_err *err)
{
  struct cli_capset set;

  if (a->privileged)
    cli_caps_all(&set);
  else
    cli_caps_default(&set);
  for (size_t i = 0; i < a->n_cap_add; i++) {
    int cap;
    if (cli_caps_parse(a->cap_add[i], &cap) != WH_OK)
      return wh_err_set(err, WH_EINVALID, 0, "unknown capability \"%s\"", a->cap_add[i]);
    if (cap == CLI_CAP_ALL)
      cli_caps_all(&set);
    else
      cli_caps_add(&set, cap);
  }
  for (size_t i = 0; i < a->n_cap_drop; i++) {
    int cap;
    if (cli_caps_parse(a->cap_drop[i], &cap) != WH_OK)
      return wh_err_set(err, WH_EINVALID, 0, "unknown capability \"%s\"", a->cap_drop[i]);
    if (cap == CLI_CAP_ALL)
      set.bits = 0;
    else
      cli_caps_drop(&set, cap);
  }
  s->caps = set.bits;
  return WH_OK;
}

/* Fills the process part of s from the image config and the options. */
static enum wh_code process_spec(const struct run_args *a, json_t *cfg, struct cli_run_spec *s, struct wh_err *err)
{
  struct strv argv = {0}, env = {0};
  json_t *c = json_object_get(cfg, "config");
  const char *v;
  enum wh_code rc = WH_OK;

  if (a->has_entrypoint) {
    if (*a->entrypoint)
      rc = strv_add(&argv, a->entrypoint, strlen(a->entrypoint), err);
  } else {
    rc = strv_add_json(&argv, json_object_get(c, "Entrypoint"), err);
  }
  if (rc == WH_OK && a->n_cmd > 0) {
    for (int i = 0; i < a->n_cmd && rc == WH_OK; i++)
      rc = strv_add(&argv, a->cmd[i], strlen(a->cmd[i]), err);
  } else if (rc == WH_OK && !a->has_entrypoint) {
    rc = strv_add_json(&argv, json_object_get(c, "Cmd"), err);
  }
  if (rc == WH_OK && argv.n == 0)
    rc = wh_err_set(err, WH_EINVALID, 0, "no command specified: the image has no Entrypoint or Cmd");
  if (rc == WH_OK)
    rc = env_set(&env, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", 67, err);
  if (rc == WH_OK) {
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(c, "Env"), i, e)
    {
      if ((v = json_string_value(e)) && strchr(v, '=') && (rc = env_set(&env, v, strlen(v), err)) != WH_OK)
        break;
    }
  }
  char hn[128];
  snprintf(hn, sizeof(hn), "HOSTNAME=%s", s->hostname);
  if (rc == WH_OK)
    rc = env_set(&env, hn, strlen(hn), err);
  if (rc == WH_OK && a->tty)
    rc = env_set(&env, "TERM=xterm", 10, err);
  for (size_t i = 0; rc == WH_OK && i < a->n_env_files; i++)
    rc = env_file(&env, a->env_files[i], err);
  for (size_t i = 0; rc == WH_OK && i < a->n_env; i++)
    rc = env_option(&env, a->env[i], err);
  if (rc != WH_OK) {
    free_strv(argv.v), free_strv(env.v);
    return rc;
  }
  s->argv = argv.v;
  s->env = env.v;
  v = a->workdir ? a->workdir : json_string_value(json_object_get(c, "WorkingDir"));
  if (v && *v && v[0] != '/')
    return wh_err_set(err, WH_EINVALID, 0, "working directory \"%s\" is not absolute", v);
  if (!(s->cwd = strdup(v && *v ? v : "/")))
    return wh_err_set(err, WH_ENOMEM, 0, "out of memory");
  v = a->user ? a->user : json_string_value(json_object_get(c, "User"));
  if (v && *v && !(s->user = strdup(v)))
    return wh_err_set(err, WH_ENOMEM, 0, "out of memory");
  int sig = cli_signal_parse(json_string_value(json_object_get(c, "StopSignal")));
  s->stop_signal = sig ? sig : SIGTERM;
  return WH_OK;
}

static enum wh_code options_spec(const struct run_args *a, struct cli_run_spec *s, struct wh_err *err)
{
  enum wh_code rc;

  s->tty = a->tty;
  s->interactive = a->interactive;
  s->read_only = a->read_only;
  s->privileged = a->privileged;
  if (!a->network || strcmp(a->network, "private") == 0 || strcmp(a->network, "bridge") == 0)
    s->net = CLI_NET_PRIVATE;
  else if (strcmp(a->network, "none") == 0)
    s->net = CLI_NET_NONE;
  else if (strcmp(a->network, "host") == 0)
    s->net = CLI_NET_HOST;
  else
    return wh_err_set(err, WH_EINVALID, 0, "unknown --network \"%s\" (private, none or host)", a->network);
  if (a->n_ports && s->net != CLI_NET_PRIVATE)
    return wh_err_set(err, WH_EINVALID, 0, "-p needs the private network (not --network %s)", a->network);
  if (a->n_ports && !(s->ports = calloc(a->n_ports, sizeof(*s->ports))))
    return wh_err_set(err, WH_ENOMEM, 0, "out of memory");
  for (size_t i = 0; i < a->n_ports; i++, s->n_ports++)
    if ((rc = cli_port_parse(a->ports[i], &s->ports[i], err)) != WH_OK)
      return rc;
  s->memory_bytes = a->memory;
  if (a->cpus > 0) {
    s->cpu_period_us = 100000;
    s->cpu_quota_us = (uint64_t)(a->cpus * 100000.0);
  }
  s->pids_max = a->pids;
  if ((rc = caps_for(a, s, err)) != WH_OK)
    return rc;
  for (size_t i = 0; i < a->n_volumes; i++)
    if ((rc = volume_option(s, a->volumes[i], err)) != WH_OK)
      return rc;
  for (size_t i = 0; i < a->n_tmpfs; i++)
    if ((rc = tmpfs_option(s, a->tmpfs[i], err)) != WH_OK)
      return rc;
  return WH_OK;
}

/* The health check of the container: --health-cmd, else the image's
 * HEALTHCHECK (Docker's Healthcheck object), options on top; NULL: none. */
static json_t *health_json(const struct run_args *a, json_t *img_cfg)
{
  json_t *h;

  if (a->no_healthcheck)
    return NULL;
  if (a->health_cmd)
    h = json_pack("{s:[s,s]}", "Test", "CMD-SHELL", a->health_cmd);
  else
    h = json_deep_copy(json_object_get(json_object_get(img_cfg, "config"), "Healthcheck"));
  if (!h && !a->health_cmd) { /* the field dropped on the way: the label */
    const char *l = json_string_value(
        json_object_get(json_object_get(json_object_get(img_cfg, "config"), "Labels"), CLI_LABEL_HEALTHCHECK));
    if (l)
      h = json_loads(l, 0, NULL);
  }
  json_t *test = json_object_get(h, "Test");
  if (!h || !json_is_array(test) || json_array_size(test) == 0 ||
      strcmp(json_string_value(json_array_get(test, 0)) ? json_string_value(json_array_get(test, 0)) : "",
             "NONE") == 0) {
    json_decref(h);
    return NULL;
  }
  if (a->health_interval_ns)
    json_object_set_new(h, "Interval", json_integer(a->health_interval_ns));
  if (a->health_timeout_ns)
    json_object_set_new(h, "Timeout", json_integer(a->health_timeout_ns));
  if (a->health_start_ns)
    json_object_set_new(h, "StartPeriod", json_integer(a->health_start_ns));
  if (a->health_retries)
    json_object_set_new(h, "Retries", json_integer(a->health_retries));
  return h;
}

/* config.json of the container: what ps and exec need. */
static json_t *container_config(const struct run_args *a, const struct cli_run_spec *s, const char *image,
                                const struct wh_digest *digest, json_t *img_cfg)
{
  json_t *run_argv = json_array();

  for (int i = 0; i < a->argc; i++)
    json_array_append_new(run_argv, json_string(a->argv[i]));
  json_t *argv = json_array(), *env = json_array();

  for (char **p = s->argv; p && *p; p++)
    json_array_append_new(argv, json_string(*p));
  for (char **p = s->env; p && *p; p++)
    json_array_append_new(env, json_string(*p));
  json_t *layers = json_array();
  const char *map = s->layers_dir ? strrchr(s->layers_dir, '/') : NULL;

  for (size_t i = 0; i < s->n_lowers; i++)
    json_array_append_new(layers, json_string(s->lowers[i]));
  json_t *c = json_pack("{s:s, s:s, s:s, s:s, s:o, s:o, s:s, s:s?, s:i, s:I, s:b, s:b, s:i, s:I, s:o, s:s?}", "id", s->id,
                   "name", s->name, "image", image, "image_digest", digest->str, "argv", argv, "env", env, "cwd",
                   s->cwd, "user", s->user, "stop_signal", s->stop_signal, "created", (json_int_t)time(NULL), "rm",
                   a->rm, "privileged", s->privileged, "network", (int)s->net, "caps", (json_int_t)s->caps,
                   "layers", layers, "layer_map", map ? map + 1 : NULL);
  if (c) {
    json_object_set_new(c, "run_argv", run_argv);
    json_object_set_new(c, "follows", json_string(a->follows ? a->follows : image));
    json_object_set_new(c, "restart", json_pack("{s:s, s:i}", "policy", a->restart ? a->restart : "no", "max",
                                                 a->restart_max));
    json_t *h = health_json(a, img_cfg);
    if (h)
      json_object_set_new(c, "health", h);
  } else
    json_decref(run_argv);
  return c;
}

/* ---- running ---------------------------------------------------------------- */

struct started {
  const struct cli_run_spec *s;
  int notify;       /* detached: the pipe to the foreground process, else -1 */
  const char *root; /* foreground --rm: the store, for the remover */
  int lock;         /* the container's lock (the remover does not keep it) */
  int remover;      /* foreground --rm: the remover's pipe, else -1 */
};

/* --rm in the foreground: the remover is forked while the command runs,
 * when the monitor only waits, rather than after it ends. It sweeps what
 * killed monitors left (cli_container_sweep(), which the start skipped),
 * then waits for "R" (EOF: the monitor died first; the next sweep cleans
 * up), then for pid 1's end (early_return: its mounts may still be going
 * away), and deletes the container's renamed directory. */
static void remover_start(struct started *st, pid_t pid1)
{
  int p[2], pidfd = (int)syscall(SYS_pidfd_open, pid1, 0); /* our unreaped child: no pid reuse */
  pid_t pid;

  if (pipe2(p, O_CLOEXEC) < 0) {
    if (pidfd >= 0)
      close(pidfd);
    return;
  }
  fflush(NULL);
  if ((pid = fork()) == 0) {
    char c;
    int nul = open("/dev/null", O_RDWR | O_CLOEXEC);
    /* neither the caller's output (a reader waiting for EOF) nor the lock */
    for (int fd = 0; fd < 3 && nul >= 0; fd++)
      dup2(nul, fd);
    if (st->lock >= 0)
      close(st->lock);
    close(p[1]);
    setsid();
    cli_container_sweep(st->root);
    if (read(p[0], &c, 1) == 1 && c == 'R') {
      struct pollfd pf = {.fd = pidfd, .events = POLLIN};
      if (pidfd >= 0)
        poll(&pf, 1, 10000);
      cli_container_trash_remove(st->root, st->s->id, NULL);
    }
    _exit(0);
  }
  close(p[0]);
  if (pidfd >= 0)
    close(pidfd);
  if (pid < 0)
    close(p[1]);
  else
    st->remover = p[1];
}

static void on_started(void *ctx, pid_t pid1)
{
  struct started *st = ctx;
  struct cli_container_state cs = {.pid = pid1, .started = time(NULL)};

  snprintf(cs.status, sizeof(cs.status), "running");
  cs.pid_start = cli_pid_start_time(pid1);
  cli_container_write_state(st->s->state_dir, &cs, NULL);
  if (st->root)
    remover_start(st, pid1);
  if (st->notify >= 0) {
    if (write(st->notify, "OK", 2) < 0) {
      /* the foreground process is gone: nobody waits */
    }
    close(st->notify);
    st->notify = -1;
  }
}

/* Records the exit (or removes the container with --rm: through the
 * remover when one runs, else in the background), then lets go of the
 * container's lock that the monitor held since the start. */
static int finish(const char *root, const struct run_args *a, const struct cli_run_spec *s, int status, int lock,
                  int remover)
{
  struct cli_container_state cs = {.exit_code = status, .finished = time(NULL)};

  snprintf(cs.status, sizeof(cs.status), "exited");
  if (a->rm && remover >= 0 && cli_container_trash(root, s->id, a->name, NULL) == WH_OK) {
    if (write(remover, "R", 1) != 1)
      cli_container_trash_remove(root, s->id, NULL);
  } else if (a->rm) {
    cli_container_remove(root, s->id, true, NULL);
  } else {
    cli_container_write_state(s->state_dir, &cs, NULL);
  }
  if (remover >= 0)
    close(remover);
  if (lock >= 0)
    close(lock);
  return status;
}

/* Runs the container; returns wharf's exit status. */
static int run_foreground(const struct cli_opts *o, const struct run_args *a, struct cli_run_spec *s)
{
  struct started st = {.s = s, .notify = -1, .root = a->rm ? o->root : NULL, .remover = -1};
  struct wh_err err = {0};
  int status = CLI_RUN_EXIT_FAILED;

  st.lock = cli_container_lock(s->state_dir, 0);
  /* the exit status is final when the command ends; the namespaces'
   * teardown (milliseconds) finishes after us, the remover waits for it */
  s->early_return = true;
  if (cli_runtime_run(s, on_started, &st, &status, &err) != WH_OK)
    fprintf(stderr, "wharf: run \"%s\": %s\n", a->image, err.msg);
  return finish(o->root, a, s, status, st.lock, st.remover);
}

/* `wharf stop` (or rm -f) marked the container: no restart. */
static bool stopped(const struct cli_run_spec *s)
{
  char path[PATH_MAX + 16];

  snprintf(path, sizeof(path), "%s/stopped", s->state_dir);
  return access(path, F_OK) == 0;
}

/* The restart policy, as docker's: on-failure restarts a non-zero exit (at
 * most N times when given), always and unless-stopped any exit; none after
 * `wharf stop`. */
static bool should_restart(const struct run_args *a, const struct cli_run_spec *s, int status, int restarts)
{
  if (!a->restart || strcmp(a->restart, "no") == 0 || stopped(s))
    return false;
  if (strcmp(a->restart, "on-failure") == 0)
    return status != 0 && (a->restart_max == 0 || restarts < a->restart_max);
  return true;
}

/* -d: a monitor process in its own session keeps the container; we wait
 * until it says the container started, then print the id. */
static int run_detached(const struct cli_opts *o, const struct run_args *a, struct cli_run_spec *s)
{
  int p[2];
  pid_t pid;
  char buf[1100];
  ssize_t n;

  if (pipe2(p, O_CLOEXEC) < 0)
    return fprintf(stderr, "wharf: run: pipe: %s\n", strerror(errno)), CLI_RUN_EXIT_FAILED;
  fflush(NULL);
  pid = fork();
  if (pid < 0)
    return fprintf(stderr, "wharf: run: fork: %s\n", strerror(errno)), CLI_RUN_EXIT_FAILED;
  if (pid == 0) {
    char log[PATH_MAX];
    struct started st = {.s = s, .notify = p[1], .lock = -1, .remover = -1};
    struct wh_err err = {0};
    int status = CLI_RUN_EXIT_FAILED, fd;
    int lock = cli_container_lock(s->state_dir, 0);
    close(p[0]);
    setsid();
    snprintf(log, sizeof(log), "%s/log", s->state_dir);
    fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    int nul = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (fd < 0 || nul < 0 || dup2(nul, 0) < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
      _exit(CLI_RUN_EXIT_FAILED);
    long backoff_ms = 100;
    for (int restarts = 0;; restarts++) {
      if (cli_runtime_run(s, on_started, &st, &status, &err) != WH_OK) {
        if (st.notify >= 0 && write(st.notify, err.msg, strlen(err.msg)) < 0) {
          /* nobody waits */
        }
        if (st.notify >= 0 || !should_restart(a, s, status, restarts))
          break;
        fprintf(stderr, "wharf: restart failed: %s\n", err.msg);
      } else if (!should_restart(a, s, status, restarts))
        break;
      struct cli_container_state cs = {.exit_code = status, .restarts = restarts + 1};
      snprintf(cs.status, sizeof(cs.status), "restarting");
      cli_container_write_state(s->state_dir, &cs, NULL);
      struct timespec ts = {backoff_ms / 1000, (backoff_ms % 1000) * 1000000L};
      nanosleep(&ts, NULL);
      backoff_ms = backoff_ms >= 5000 ? 10000 : backoff_ms * 2;
      if (stopped(s))
        break;
    }
    finish(o->root, a, s, status, lock, -1);
    _exit(0);
  }
  close(p[1]);
  n = read(p[0], buf, sizeof(buf) - 1);
  close(p[0]);
  if (n == 2 && memcmp(buf, "OK", 2) == 0) {
    printf("%s\n", s->id);
    return 0;
  }
  buf[n > 0 ? n : 0] = '\0';
  fprintf(stderr, "wharf: run \"%s\": %s\n", a->image, n > 0 ? buf : "the container did not start");
  waitpid(pid, NULL, 0);
  return CLI_RUN_EXIT_FAILED;
}

/* Opens the image (pulling it when missing, as docker does). */
static enum wh_code open_image(const struct cli_opts *o, const struct run_args *a, struct cli_ref *ref,
                               struct cli_view *v, struct store **st, struct wh_err *err)
{
  WH_AUTOFREE char *byid = NULL;
  enum wh_code rc;

  if ((rc = cli_store_open(o, st, err)) != WH_OK)
    return rc;
  /* an image id (what a failed build prints) names a local image */
  if (cli_image_id_like(a->image) && (rc = cli_image_find_id(*st, a->image, &byid, err)) != WH_OK)
    return rc;
  if ((rc = cli_ref_parse(byid ? byid : a->image, 0, ref, err)) != WH_OK)
    return rc;
  rc = cli_view_local(*st, ref, a->platform, false, v, err);
  if (byid)
    return rc;
  if (rc != WH_ENOTFOUND)
    return rc;
  if (!o->quiet)
    fprintf(stderr, "wharf: %s not found locally, pulling\n", a->image);
  char *pargv[] = {"pull", (char *)a->image, NULL};
  if (cli_cmd_pull(o, 2, pargv) != 0)
    return wh_err_set(err, WH_ENOTFOUND, 0, "image not found and could not be pulled");
  cli_view_release(v);
  cli_view_init(v);
  return cli_view_local(*st, ref, a->platform, false, v, err);
}

static int run(const struct cli_opts *o, struct run_args *a)
{
  struct cli_ref ref = {0};
  struct cli_view v;
  struct store *st = NULL;
  struct cli_run_spec s;
  struct wh_err err = {0};
  json_auto_t *cfg = NULL, *cc = NULL;
  int status = CLI_RUN_EXIT_FAILED;
  enum wh_code rc;
  char *dir = NULL;
  bool created = false;

  cli_view_init(&v);
  cli_run_spec_init(&s);
  cli_idmap_default(&s.idmap);
  if ((rc = open_image(o, a, &ref, &v, &st, &err)) != WH_OK)
    goto fail;
  json_error_t je;
  if (!(cfg = json_loadb((const char *)v.config.data, v.config.len, JSON_REJECT_DUPLICATES, &je))) {
    rc = wh_err_set(&err, WH_EINVALID, 0, "image config: %s", je.text);
    goto fail;
  }
  if ((rc = options_spec(a, &s, &err)) != WH_OK)
    goto fail;
  /* what killed monitors left: a foreground --rm run leaves that to its
   * remover, which sweeps while the command runs (a start then reads no
   * other container's state, however many there are), unless the name
   * it wants is held: maybe by a container whose monitor was killed */
  bool swept = !a->rm || a->detach;
  if (swept)
    cli_container_sweep(o->root);
  rc = cli_container_create(o->root, a->name, s.id, &dir, &err);
  if (rc == WH_ECONFLICT && !swept) {
    cli_container_sweep(o->root);
    wh_err_clear(&err);
    rc = cli_container_create(o->root, a->name, s.id, &dir, &err);
  }
  if (rc != WH_OK)
    goto fail;
  created = true;
  s.state_dir = dir;
  if (!(s.name = strdup(a->name ? a->name : s.id)) || !(s.hostname = strdup(a->hostname ? a->hostname : s.id))) {
    rc = wh_err_set(&err, WH_ENOMEM, 0, "out of memory");
    goto fail;
  }
  if (!a->name)
    s.name[12] = '\0';
  if (!a->hostname)
    s.hostname[12] = '\0';
  if ((rc = process_spec(a, cfg, &s, &err)) != WH_OK || (rc = etc_files(&s, &err)) != WH_OK)
    goto fail;
  if (!s.idmap.rootless) {
    char upper[PATH_MAX];
    snprintf(upper, sizeof(upper), "%s/upper", s.state_dir);
    if (chown(upper, s.idmap.uid_base, s.idmap.gid_base) < 0) {
      rc = wh_err_set(&err, WH_EIO, errno, "chown %s", upper);
      goto fail;
    }
  }
  if ((rc = cli_rootfs_prepare(st, o->root, ref.repo, v.image, &v.config, &s, &err)) != WH_OK)
    goto fail;
  if (!(cc = container_config(a, &s, a->image, v.is_index ? &v.child_digest : &v.digest, cfg)) ||
      (rc = cli_container_write_config(s.state_dir, cc, &err)) != WH_OK) {
    rc = cc ? rc : wh_err_set(&err, WH_ENOMEM, 0, "out of memory");
    goto fail;
  }
  store_free(st), st = NULL;
  cli_view_release(&v);
  cli_ref_release(&ref);
  status = a->detach ? run_detached(o, a, &s) : run_foreground(o, a, &s);
  cli_run_spec_release(&s);
  return status;
fail:
  if (created)
    cli_container_remove(o->root, s.id, false, NULL);
  fprintf(stderr, "wharf: run \"%s\": %s\n", a->image, err.msg);
  store_free(st);
  cli_view_release(&v);
  cli_ref_release(&ref);
  cli_run_spec_release(&s);
  return CLI_RUN_EXIT_FAILED;
}

int cli_cmd_run(const struct cli_opts *o, int argc, char **argv)
{
  struct run_args a;
  int rc = parse_args(argc, argv, &a);

  if (rc == -2)
    return 0;
  if (rc != 0)
    return rc;
  return run(o, &a);
}
