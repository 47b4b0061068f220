/* server/token_cmd.c - `wharfd token ...` (CI robots) and `wharfd user ...`
 * (the htpasswd file).
 *
 *   wharfd token create NAME --repo PATTERN --actions pull,push [--expires 30d]
 *   wharfd token list
 *   wharfd token revoke NAME
 *   wharfd user add NAME [--password-stdin] [--cost N]
 *   wharfd user del NAME
 *   wharfd user list
 *   common options: --root DIR, --config FILE (its "root" and "auth.htpasswd"),
 *                   --htpasswd FILE (user commands)
 *
 * `token create` prints the robot's secret once, alone on stdout; only its
 * sha256 is stored (storage/robots.c). A robot logs in with basic auth:
 * user NAME, password the secret. Exit status: 0 done, 1 refused (exists,
 * not found), 2 usage or I/O error.
 */
#include "config.h"

#include "server/server.h"
#include "server/auth-int.h"

#include <errno.h>
#include <getopt.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "common/fsutil.h"

struct opts {
  const char *root, *config, *htpasswd, *repo, *actions, *expires;
  bool password_stdin;
  unsigned cost;
  const char *verb, *name; /* positional */
};

static int usage_err(const char *cmd, const char *msg)
{
  fprintf(stderr, "wharfd: %s: %s\n", cmd, msg);
  return 2;
}

static int parse_opts(const char *cmd, int argc, char **argv, struct opts *o)
{
  static const struct option lo[] = {
      {"root", required_argument, NULL, 'r'},
      {"config", required_argument, NULL, 'c'},
      {"htpasswd", required_argument, NULL, 'H'},
      {"repo", required_argument, NULL, 'p'},
      {"actions", required_argument, NULL, 'a'},
      {"expires", required_argument, NULL, 'e'},
      {"password-stdin", no_argument, NULL, 's'},
      {"cost", required_argument, NULL, 'C'},
      {NULL, 0, NULL, 0},
  };
  uint64_t v;
  int c;

  memset(o, 0, sizeof(*o));
  opterr = 0;
  while ((c = getopt_long(argc, argv, ":", lo, NULL)) != -1) {
    switch (c) {
    case 'r':
      o->root = optarg;
      break;
    case 'c':
      o->config = optarg;
      break;
    case 'H':
      o->htpasswd = optarg;
      break;
    case 'p':
      o->repo = optarg;
      break;
    case 'a':
      o->actions = optarg;
      break;
    case 'e':
      o->expires = optarg;
      break;
    case 's':
      o->password_stdin = true;
      break;
    case 'C':
      if (!wh_parse_u64(optarg, strlen(optarg), &v) || v < 4 || v > 31)
        return usage_err(cmd, "--cost: 4 to 31");
      o->cost = (unsigned)v;
      break;
    case ':':
      return usage_err(cmd, "an option needs a value");
    default:
      return usage_err(cmd, "unknown option (try --help)");
    }
  }
  o->verb = optind < argc ? argv[optind++] : NULL;
  o->name = optind < argc ? argv[optind++] : NULL;
  if (optind < argc)
    return usage_err(cmd, "too many arguments");
  if (!o->verb)
    return usage_err(cmd, "missing verb (try --help)");
  return 0;
}

/* The config file, when given, supplies root and auth.htpasswd (into
 * htpasswd, "" when none). */
static int settings(const char *cmd, const struct opts *o, struct srv_config *cfg, char *htpasswd,
                    size_t size)
{
  struct wh_err err;
  const char *h;

  srv_config_init(cfg);
  wh_err_clear(&err);
  if (o->config && srv_config_load(cfg, o->config, &err) != WH_OK)
    return usage_err(cmd, err.msg);
  if (o->root && srv_config_set_str(&cfg->root, o->root, &err) != WH_OK)
    return usage_err(cmd, err.msg);
  if (!cfg->root && srv_config_set_str(&cfg->root, SRV_DEFAULT_ROOT, &err) != WH_OK)
    return usage_err(cmd, err.msg);
  h = o->htpasswd ? o->htpasswd : json_string_value(json_object_get(cfg->auth, "htpasswd"));
  snprintf(htpasswd, size, "%s", h ? h : "");
  return 0;
}

/* ---- wharfd token ---------------------------------------------------------- */

/* "30d", "12h", "45m", "90s" or seconds; "never"/"0": 0. */
static bool parse_duration(const char *s, int64_t *out)
{
  size_t n = strlen(s);
  uint64_t v, mul = 1;

  if (strcmp(s, "never") == 0) {
    *out = 0;
    return true;
  }
  if (n > 1 && strchr("dhms", s[n - 1])) {
    mul = s[n - 1] == 'd' ? 86400 : s[n - 1] == 'h' ? 3600 : s[n - 1] == 'm' ? 60 : 1;
    n--;
  }
  if (!wh_parse_u64(s, n, &v) || v > 100ull * 365 * 86400 / mul)
    return false;
  *out = (int64_t)(v * mul);
  return true;
}

static int token_create(struct store *st, const struct opts *o)
{
  char secret[48], hash[65], acts[64];
  struct store_robot r;
  struct wh_digest d;
  struct wh_err err;
  unsigned mask;
  int64_t ttl = 0;

  if (!o->name || !srv_user_name_valid(o->name))
    return usage_err("token create", "NAME: 1 to 127 of A-Z a-z 0-9 . _ - @");
  if (!o->repo || !*o->repo || strlen(o->repo) > 255)
    return usage_err("token create", "--repo PATTERN is required");
  if (!o->actions || !srv_actions_parse(o->actions, strlen(o->actions), true, &mask) || !mask)
    return usage_err("token create", "--actions: a list of pull, push, delete");
  if (o->expires && !parse_duration(o->expires, &ttl))
    return usage_err("token create", "--expires: like 30d, 12h, 90m, 3600s or never");
  wh_err_clear(&err);
  memcpy(secret, "wharf_", 6);
  if (wh_random_hex(secret + 6, 20, &err) != WH_OK)
    return usage_err("token create", err.msg);
  wh_digest_buf(WH_DIGEST_SHA256, secret, strlen(secret), &d);
  snprintf(hash, sizeof(hash), "%s", wh_digest_hex(&d));
  srv_actions_format(mask, acts, sizeof(acts));
  memset(&r, 0, sizeof(r));
  r.name = o->name;
  r.secret_sha256 = hash;
  r.pattern = o->repo;
  r.actions = acts;
  r.created = (int64_t)time(NULL);
  r.expires = ttl ? r.created + ttl : 0;
  if (store_robot_create(st, &r, &err) != WH_OK) {
    OPENSSL_cleanse(secret, sizeof(secret));
    fprintf(stderr, "wharfd: token create: %s\n", err.msg);
    return err.code == WH_ECONFLICT ? 1 : 2;
  }
  printf("%s\n", secret);
  fflush(stdout);
  OPENSSL_cleanse(secret, sizeof(secret));
  fprintf(stderr, "robot \"%s\": %s on \"%s\"; the secret above is shown only once\n", o->name, acts,
          o->repo);
  return 0;
}

static void fmt_time(int64_t t, char *out, size_t size)
{
  struct tm tm;
  time_t tt = (time_t)t;

  if (!t) {
    snprintf(out, size, "never");
    return;
  }
  gmtime_r(&tt, &tm);
  strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int print_robot(void *ctx, const struct store_robot *r)
{
  char exp[32];
  const char *state = r->revoked                                          ? "revoked"
                      : (r->expires && r->expires <= (int64_t)time(NULL)) ? "expired"
                                                                          : "active";

  fmt_time(r->expires, exp, sizeof(exp));
  printf("%s\t%s\t%s\t%s\t%s\n", r->name, r->pattern, r->actions, exp, state);
  return 0;
}

static int token_run(struct store *st, const struct opts *o)
{
  struct wh_err err;

  wh_err_clear(&err);
  if (strcmp(o->verb, "create") == 0)
    return token_create(st, o);
  if (strcmp(o->verb, "list") == 0) {
    printf("NAME\tREPOSITORY\tACTIONS\tEXPIRES\tSTATE\n");
    if (store_robot_list(st, print_robot, NULL, &err) != WH_OK)
      return usage_err("token list", err.msg);
    return 0;
  }
  if (strcmp(o->verb, "revoke") == 0) {
    if (!o->name)
      return usage_err("token revoke", "NAME is required");
    if (store_robot_revoke(st, o->name, &err) != WH_OK) {
      fprintf(stderr, "wharfd: token revoke: %s\n", err.msg);
      return err.code == WH_ENOTFOUND ? 1 : 2;
    }
    return 0;
  }
  return usage_err("token", "verbs: create, list, revoke");
}

int srv_token_main(int argc, char **argv)
{
  struct srv_config cfg;
  struct store *st = NULL;
  struct wh_err err;
  char unused[8];
  struct opts o;
  int rc;

  if (argc > 1 && strcmp(argv[1], "--help") == 0) {
    fputs("usage: wharfd token create NAME --repo PATTERN --actions pull,push[,delete] [--expires 30d]\n"
          "       wharfd token list | revoke NAME          (--root DIR or --config FILE)\n",
          stdout);
    return 0;
  }
  if ((rc = parse_opts("token", argc, argv, &o)) != 0 ||
      (rc = settings("token", &o, &cfg, unused, sizeof(unused))) != 0)
    return rc;
  wh_err_clear(&err);
  /* only create makes a store; list and revoke need an existing one */
  if (store_open(cfg.root, strcmp(o.verb, "create") == 0 ? STORE_CREATE : 0, &st, &err) != WH_OK) {
    srv_config_release(&cfg);
    return usage_err("token", err.msg);
  }
  rc = token_run(st, &o);
  store_free(st);
  srv_config_release(&cfg);
  return rc;
}

/* ---- wharfd user ------------------------------------------------------------- */

/* One line from fd 0 into pw (no newline). Echo off when it is a terminal. */
static bool read_password(bool prompt, char *pw, size_t size)
{
  struct termios old, quiet;
  bool tty = prompt && tcgetattr(0, &old) == 0;
  size_t n = 0;
  char c;

  if (tty) {
    fputs("password: ", stderr);
    quiet = old;
    quiet.c_lflag &= ~(tcflag_t)ECHO;
    tcsetattr(0, TCSAFLUSH, &quiet);
  }
  while (read(0, &c, 1) == 1 && c != '\n')
    if (n + 1 < size)
      pw[n++] = c;
  pw[n] = '\0';
  if (n && pw[n - 1] == '\r')
    pw[--n] = '\0';
  if (tty) {
    tcsetattr(0, TCSAFLUSH, &old);
    fputs("\n", stderr);
  }
  return n > 0;
}

static void print_user(void *ctx, const char *user)
{
  printf("%s\n", user);
}

static int user_run(const char *path, const struct opts *o)
{
  struct srv_htpasswd *h = NULL;
  char pw[256];
  struct wh_err err;
  enum wh_code rc;

  wh_err_clear(&err);
  if (strcmp(o->verb, "list") == 0) {
    if (srv_htpasswd_load(path, &h, &err) != WH_OK)
      return usage_err("user list", err.msg);
    srv_htpasswd_each(h, print_user, NULL);
    srv_htpasswd_free(h);
    return 0;
  }
  if (!o->name)
    return usage_err("user", "NAME is required");
  if (strcmp(o->verb, "add") == 0) {
    if (!o->password_stdin && !isatty(0))
      return usage_err("user add", "give --password-stdin to read the password from a pipe");
    if (!read_password(!o->password_stdin, pw, sizeof(pw)))
      return usage_err("user add", "empty password");
    rc = srv_htpasswd_update(path, o->name, pw, o->cost, &err);
    OPENSSL_cleanse(pw, sizeof(pw));
  } else if (strcmp(o->verb, "del") == 0) {
    rc = srv_htpasswd_update(path, o->name, NULL, 0, &err);
  } else {
    return usage_err("user", "verbs: add, del, list");
  }
  if (rc != WH_OK) {
    fprintf(stderr, "wharfd: user %s: %s\n", o->verb, err.msg);
    return rc == WH_ENOTFOUND ? 1 : 2;
  }
  return 0;
}

int srv_user_main(int argc, char **argv)
{
  struct srv_config cfg;
  char path[4096];
  struct opts o;
  int rc;

  if (argc > 1 && strcmp(argv[1], "--help") == 0) {
    fputs("usage: wharfd user add NAME [--password-stdin] [--cost N] | del NAME | list\n"
          "       (--htpasswd FILE, or --config FILE with auth.htpasswd)\n",
          stdout);
    return 0;
  }
  if ((rc = parse_opts("user", argc, argv, &o)) != 0 ||
      (rc = settings("user", &o, &cfg, path, sizeof(path))) != 0)
    return rc;
  if (!path[0])
    rc = usage_err("user", "no htpasswd file: --htpasswd FILE or auth.htpasswd in --config");
  else
    rc = user_run(path, &o);
  srv_config_release(&cfg);
  return rc;
}
