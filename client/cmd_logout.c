/* client/cmd_logout.c - `wharf logout HOST`: forgets HOST's credentials in
 * wharf's config.json (never in ~/.docker/config.json, which is only read),
 * and in the credential helper configured for HOST (erase) when there is one.
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>

#include "client/auth.h"
#include "client/cli.h"
#include "common/cleanup.h"

/* The helper's entry (erase) and the file's; WH_ENOTFOUND when neither had one. */
static enum wh_code logout(const char *host, struct wh_err *err)
{
  WH_AUTOFREE char *path = NULL;
  WH_AUTOFREE char *helper = NULL;
  WH_AUTOFREE char *server = NULL;
  struct wh_err ignored = {0};
  enum wh_code rc = cli_auth_helper(host, &helper, err);
  bool erased = false;

  if (rc != WH_OK && rc != WH_ENOTFOUND)
    return rc;
  if (rc == WH_OK) {
    if ((server = cli_auth_server_url(host)) == NULL)
      return wh_err_set(err, WH_ENOMEM, 0, "out of memory");
    if ((rc = cli_credhelper_erase(helper, server, err)) != WH_OK && rc != WH_ENOTFOUND)
      return rc;
    erased = rc == WH_OK;
  }
  if ((rc = cli_auth_config_path(&path, err)) != WH_OK)
    return rc;
  rc = cli_auth_erase(path, host, erased ? &ignored : err);
  return rc == WH_ENOTFOUND && erased ? WH_OK : rc;
}

static const struct option logout_opts[] = {
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

int cli_cmd_logout(const struct cli_opts *o, int argc, char **argv)
{
  struct wh_err err = {0};
  WH_AUTOFREE char *host = NULL;
  int c;

  optind = 0;
  while ((c = getopt_long(argc, argv, "+h", logout_opts, NULL)) != -1) {
    if (c == 'h')
      return cli_help("logout");
    return cli_usage("logout", "bad option");
  }
  if (argc - optind != 1)
    return cli_usage("logout", "expected one registry HOST");
  if ((host = cli_auth_key_host(argv[optind])) == NULL || host[0] == '\0')
    return cli_usage("logout", "bad HOST \"%s\"", argv[optind]);
  if (logout(host, &err) != WH_OK)
    return cli_fail("logout", host, &err);
  if (!o->quiet)
    printf("removed credentials for %s\n", host);
  return 0;
}
