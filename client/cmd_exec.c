/* client/cmd_exec.c - `wharf exec`: a command inside a running container,
 * in all of its namespaces (setns), with its capabilities, seccomp filter
 * and environment (the one recorded at `run`, plus -e).
 *
 * Invariants: the container's pid 1 is joined only when it is the process
 * its state recorded (pid and start time); the new process gets the same
 * confinement as the container's own command, never more.
 */
#include "config.h"

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/container.h"
#include "client/run.h"
#include "common/cleanup.h"

static char **strv_from_json(json_t *arr, char **extra, size_t n_extra)
{
  size_t n = json_array_size(arr), k = 0;
  char **v = calloc(n + n_extra + 1, sizeof(*v));

  if (!v)
    return NULL;
  for (size_t i = 0; i < n; i++) {
    const char *s = json_string_value(json_array_get(arr, i));
    if (s && !(v[k++] = strdup(s)))
      goto fail;
  }
  for (size_t i = 0; i < n_extra; i++)
    if (!(v[k++] = strdup(extra[i])))
      goto fail;
  return v;
fail:
  for (size_t i = 0; i < k; i++)
    free(v[i]);
  free(v);
  return NULL;
}

/* Environment: the container's, with -e KEY=V entries replacing. */
static char **exec_env(json_t *base, char **sets, size_t n_sets)
{
  char **v = strv_from_json(base, sets, n_sets);
  size_t n = 0;

  if (!v)
    return NULL;
  while (v[n])
    n++;
  /* a later KEY= wins: blank out earlier duplicates */
  for (size_t i = 0; i < n; i++) {
    size_t klen = strcspn(v[i], "=");
    for (size_t j = i + 1; j < n; j++)
      if (strncmp(v[i], v[j], klen) == 0 && v[j][klen] == '=') {
        free(v[i]);
        v[i] = NULL;
        break;
      }
  }
  size_t k = 0;
  for (size_t i = 0; i < n; i++)
    if (v[i])
      v[k++] = v[i];
  v[k] = NULL;
  return v;
}

enum wh_code cli_exec_spec(const struct cli_container *c, char **argv, size_t argc, char **sets, size_t n_sets,
                           const char *cwd, const char *user, struct cli_run_spec *s, struct wh_err *err)
{
  const char *ccwd = json_string_value(json_object_get(c->config, "cwd"));
  const char *cuser = json_string_value(json_object_get(c->config, "user"));

  cli_run_spec_init(s);
  cli_idmap_default(&s->idmap);
  s->privileged = json_is_true(json_object_get(c->config, "privileged"));
  s->caps = (uint64_t)json_integer_value(json_object_get(c->config, "caps"));
  s->argv = strv_from_json(NULL, argv, argc);
  s->env = exec_env(json_object_get(c->config, "env"), sets, n_sets);
  s->cwd = strdup(cwd ? cwd : ccwd ? ccwd : "/");
  if (user || cuser)
    s->user = strdup(user ? user : cuser);
  if (!s->argv || !s->env || !s->cwd || ((user || cuser) && !s->user)) {
    cli_run_spec_release(s);
    return wh_err_set(err, WH_ENOMEM, 0, "out of memory");
  }
  return WH_OK;
}

int cli_cmd_exec(const struct cli_opts *o, int argc, char **argv)
{
  static const struct option opts[] = {{"interactive", no_argument, NULL, 'i'},
                                       {"tty", no_argument, NULL, 't'},
                                       {"env", required_argument, NULL, 'e'},
                                       {"workdir", required_argument, NULL, 'w'},
                                       {"user", required_argument, NULL, 'u'},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
  char *sets[256];
  size_t n_sets = 0;
  const char *cwd = NULL, *user = NULL;
  bool tty = false, interactive = false;
  char id[65];
  struct cli_container c;
  struct cli_run_spec s;
  struct wh_err err = {0};
  int ch, status = CLI_RUN_EXIT_FAILED;

  optind = 0;
  while ((ch = getopt_long(argc, argv, "+ite:w:u:h", opts, NULL)) != -1) {
    switch (ch) {
    case 'i': interactive = true; break;
    case 't': tty = true; break;
    case 'e':
      if (n_sets == WH_ARRAY_LEN(sets) || !strchr(optarg, '='))
        return cli_usage("exec", "-e KEY=VALUE (at most %zu)", WH_ARRAY_LEN(sets));
      sets[n_sets++] = optarg;
      break;
    case 'w': cwd = optarg; break;
    case 'u': user = optarg; break;
    case 'h': return cli_help("exec");
    default: return cli_usage("exec", "bad option");
    }
  }
  if (optind + 2 > argc)
    return cli_usage("exec", "expected CONTAINER COMMAND [ARG...]");
  if (cli_container_find(o->root, argv[optind], id, &err) != WH_OK ||
      cli_container_read(o->root, id, &c, &err) != WH_OK)
    return cli_fail("exec", argv[optind], &err);
  if (!cli_container_alive(&c)) {
    cli_container_release(&c);
    wh_err_set(&err, WH_ECONFLICT, 0, "the container is not running");
    return cli_fail("exec", argv[optind], &err);
  }
  if (cli_exec_spec(&c, argv + optind + 1, (size_t)(argc - optind - 1), sets, n_sets, cwd, user, &s, &err) !=
      WH_OK) {
    status = cli_fail("exec", argv[optind], &err);
  } else if ((s.tty = tty, s.interactive = interactive, cli_runtime_exec(c.state.pid, &s, &status, &err)) != WH_OK) {
    fprintf(stderr, "wharf: exec \"%s\": %s\n", argv[optind], err.msg);
  }
  cli_run_spec_release(&s);
  cli_container_release(&c);
  return status;
}
