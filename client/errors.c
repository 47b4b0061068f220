/* client/errors.c - the one table mapping enum wh_code to wharf's exit
 * statuses, and the one-line error format.
 *
 *   wharf: pull "app:v2": layer sha256:ab12...: digest mismatch
 *
 * Invariants: every failing verb ends with exactly one such line on stderr
 * (what failed first, the subject quoted, lower case, no full stop) and a
 * non-zero exit status taken from exit_table; usage errors exit 2.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "client/cli.h"
#include "common/cleanup.h"

struct exit_entry {
  enum wh_code code;
  int status;
};

/* Scripts may rely on these: 1 is "failed", the others narrow it down. */
static const struct exit_entry exit_table[] = {
    {WH_OK, 0},           {WH_ENOMEM, 1},   {WH_EIO, 1},       {WH_EINVALID, 1},      {WH_ENOTFOUND, 3},
    {WH_EDIGEST, 6},      {WH_ETOOBIG, 1},  {WH_ECONFLICT, 1}, {WH_EUNAUTHORIZED, 4}, {WH_EDENIED, 4},
    {WH_EUNSUPPORTED, 1}, {WH_ENETWORK, 5}, {WH_EDATABASE, 1}, {WH_EINTERNAL, 1},     {WH_ERANGE, 1},
};

int cli_exit_code(enum wh_code code)
{
  for (size_t i = 0; i < WH_ARRAY_LEN(exit_table); i++)
    if (exit_table[i].code == code)
      return exit_table[i].status;
  return 1;
}

int cli_fail(const char *verb, const char *subject, const struct wh_err *err)
{
  enum wh_code code = err ? err->code : WH_EINTERNAL;
  const char *msg = err && err->msg[0] ? err->msg : wh_code_str(code);

  if (code == WH_OK) /* a failure path without detail is still a failure */
    code = WH_EINTERNAL;
  fflush(stdout);
  if (subject)
    fprintf(stderr, "wharf: %s \"%s\": %s\n", verb, subject, msg);
  else
    fprintf(stderr, "wharf: %s: %s\n", verb, msg);
  return cli_exit_code(code);
}

int cli_usage(const char *verb, const char *fmt, ...)
{
  bool top = strcmp(verb, "wharf") == 0;
  va_list ap;

  fprintf(stderr, top ? "wharf: " : "wharf: %s: ", verb);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fprintf(stderr, top ? " (see \"wharf help\")\n" : " (see \"wharf help %s\")\n", verb);
  return CLI_EXIT_USAGE;
}
