/* client/cmd_logout.c - `wharf logout HOST`: forgets HOST's credentials in
 * wharf's config.json (never in ~/.docker/config.json, which is only read).
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>

#include "client/auth.h"
#include "client/cli.h"
#include "common/cleanup.h"

static const struct option logout_opts[] = {
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

int cli_cmd_logout(const struct cli_opts *o, int argc, char **argv)
{
  struct wh_err err = {0};
  WH_AUTOFREE char *host = NULL;
  WH_AUTOFREE char *path = NULL;
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
  if (cli_auth_config_path(&path, &err) != WH_OK || cli_auth_erase(path, host, &err) != WH_OK)
    return cli_fail("logout", host, &err);
  if (!o->quiet)
    printf("removed credentials for %s\n", host);
  return 0;
}
