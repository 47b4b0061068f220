/* client/cmd_login.c - `wharf login [-u USER] [-p PASS | --password-stdin] HOST`.
 *
 * The credentials are checked against HOST's /v2/ first (Basic, or a token
 * fetched with them from the realm the registry names) and saved only when
 * they work: through the credential helper configured for HOST (credHelpers,
 * credsStore), else in wharf's config.json (auth.c: mode 0600, atomic). Without -p
 * or --password-stdin the password is asked on the terminal, not echoed.
 * Passwords are wiped from memory after use.
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "client/auth.h"
#include "client/cli.h"
#include "client/registry.h"
#include "common/cleanup.h"

#define SECRET_MAX 4096

/* One line from f into out (without the newline). */
static enum wh_code read_line(FILE *f, char *out, size_t size, const char *what, struct wh_err *err)
{
  size_t n;

  if (fgets(out, (int)size, f) == NULL)
    return wh_err_set(err, WH_EINVALID, 0, "no %s given", what);
  n = strcspn(out, "\r\n");
  if (out[n] == '\0' && n == size - 1 && !feof(f))
    return wh_err_set(err, WH_ETOOBIG, 0, "%s too long", what);
  out[n] = '\0';
  return WH_OK;
}

/* Prompts on the terminal; echo off for secrets. */
static enum wh_code prompt(const char *label, bool secret, char *out, size_t size, struct wh_err *err)
{
  struct termios old, quiet;
  bool restore = false;
  enum wh_code rc;

  if (!isatty(STDIN_FILENO))
    return wh_err_set(err, WH_EINVALID, 0, "no %s given (use -u, -p or --password-stdin)", label);
  fprintf(stderr, "%s: ", label);
  fflush(stderr);
  if (secret && tcgetattr(STDIN_FILENO, &old) == 0) {
    quiet = old;
    quiet.c_lflag &= ~(tcflag_t)ECHO;
    restore = tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) == 0;
  }
  rc = read_line(stdin, out, size, label, err);
  if (restore) {
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
    fputc('\n', stderr);
  }
  return rc;
}

/* Through the registry's credential helper when one is configured, else into wharf's file. */
static enum wh_code save(const char *path, const char *host, const char *user, const char *pass,
                         struct wh_err *err)
{
  WH_AUTOFREE char *helper = NULL;
  WH_AUTOFREE char *server = NULL;
  enum wh_code rc = cli_auth_helper(host, &helper, err);

  if (rc == WH_ENOTFOUND)
    return cli_auth_store(path, host, user, pass, err);
  if (rc != WH_OK)
    return rc;
  if ((server = cli_auth_server_url(host)) == NULL)
    return wh_err_set(err, WH_ENOMEM, 0, "out of memory");
  return cli_credhelper_store(helper, server, user, pass, err);
}

struct login_args {
  const char *user, *pass;
  bool pass_stdin;
};

static enum wh_code login(const struct cli_opts *o, const struct login_args *a, const char *host,
                          struct wh_err *err)
{
  char user[SECRET_MAX], pass[SECRET_MAX];
  WH_AUTOFREE char *path = NULL;
  struct cli_registry *r = NULL;
  enum wh_code rc = WH_OK;

  user[0] = pass[0] = '\0';
  if (a->user)
    snprintf(user, sizeof(user), "%s", a->user);
  else
    rc = prompt("username", false, user, sizeof(user), err);
  if (rc == WH_OK && a->pass)
    snprintf(pass, sizeof(pass), "%s", a->pass);
  else if (rc == WH_OK && a->pass_stdin)
    rc = read_line(stdin, pass, sizeof(pass), "password", err);
  else if (rc == WH_OK)
    rc = prompt("password", true, pass, sizeof(pass), err);
  if (rc == WH_OK && (user[0] == '\0' || pass[0] == '\0'))
    rc = wh_err_set(err, WH_EINVALID, 0, "empty user name or password");
  if (rc == WH_OK && (rc = cli_auth_config_path(&path, err)) == WH_OK &&
      (rc = cli_registry_open(o, host, &r, err)) == WH_OK &&
      (rc = cli_registry_set_creds(r, user, pass, err)) == WH_OK &&
      (rc = cli_registry_verify_creds(r, err)) == WH_OK)
    rc = save(path, host, user, pass, err);
  explicit_bzero(pass, sizeof(pass));
  cli_registry_free(r);
  return rc;
}

static const struct option login_opts[] = {
    {"username", required_argument, NULL, 'u'},
    {"password", required_argument, NULL, 'p'},
    {"password-stdin", no_argument, NULL, 'S'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

int cli_cmd_login(const struct cli_opts *o, int argc, char **argv)
{
  struct login_args a = {0};
  struct wh_err err = {0};
  WH_AUTOFREE char *host = NULL;
  int c;

  optind = 0;
  while ((c = getopt_long(argc, argv, "+u:p:h", login_opts, NULL)) != -1) {
    switch (c) {
    case 'h':
      return cli_help("login");
    case 'u':
      a.user = optarg;
      break;
    case 'p':
      a.pass = optarg;
      break;
    case 'S':
      a.pass_stdin = true;
      break;
    default:
      return cli_usage("login", "bad option");
    }
  }
  if (argc - optind != 1)
    return cli_usage("login", "expected one registry HOST");
  if (a.pass && a.pass_stdin)
    return cli_usage("login", "-p and --password-stdin exclude each other");
  if (a.pass_stdin && a.user == NULL)
    return cli_usage("login", "--password-stdin needs -u USER");
  if ((host = cli_auth_key_host(argv[optind])) == NULL || host[0] == '\0')
    return cli_usage("login", "bad HOST \"%s\"", argv[optind]);
  if (login(o, &a, host, &err) != WH_OK)
    return cli_fail("login", host, &err);
  if (!o->quiet)
    printf("login succeeded: %s\n", host);
  return 0;
}
