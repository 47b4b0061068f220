/* client/credhelper.c - docker's credential helpers: the program
 * docker-credential-NAME (found in PATH, run without a shell) with one verb:
 *
 *   get    stdin "SERVER"                      stdout {"ServerURL","Username","Secret"}
 *   store  stdin {"ServerURL","Username","Secret"}
 *   erase  stdin "SERVER"
 *
 * A Username of "<token>" means Secret is an identity (refresh) token.
 * A helper that has nothing for SERVER says "credentials not found" on
 * stdout and exits non-zero.
 *
 * Invariants: NAME is letters, digits, '.', '_' and '-' only (never a path);
 * the helper gets stdin over a socket (a helper that does not read it
 * cannot kill wharf with SIGPIPE), stdout over a pipe read up to
 * HELPER_OUT_MAX bytes, stderr on /dev/null; it is killed and reaped when
 * it runs longer than HELPER_TIMEOUT_S seconds ($WHARF_CREDHELPER_TIMEOUT
 * overrides) or writes too much; every buffer that held a secret is wiped.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "client/auth.h"
#include "common/cleanup.h"
#include "common/fsutil.h"

#define HELPER_PREFIX "docker-credential-"
#define HELPER_NAME_MAX 64
#define HELPER_OUT_MAX (64 * 1024)
#define HELPER_TIMEOUT_S 30
#define TOKEN_USER "<token>"

extern char **environ;

struct helper_run {
  pid_t pid;
  int in, out; /* our ends: stdin socket, stdout pipe */
  int status;  /* waitpid status once reaped */
  bool reaped;
};

static int64_t mono_ms(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t timeout_ms(void)
{
  const char *v = getenv("WHARF_CREDHELPER_TIMEOUT");
  uint64_t s;

  if (v && wh_parse_u64(v, strlen(v), &s) && s > 0 && s <= 3600)
    return (int64_t)s * 1000;
  return HELPER_TIMEOUT_S * 1000;
}

static bool name_ok(const char *n)
{
  size_t len = strlen(n);

  if (len == 0 || len > HELPER_NAME_MAX)
    return false;
  for (const char *c = n; *c; c++)
    if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '.' ||
          *c == '_' || *c == '-'))
      return false;
  return true;
}

/* Starts PROG ACTION with its stdin and stdout connected to h. */
static enum wh_code spawn(const char *prog, const char *action, struct helper_run *h, struct wh_err *err)
{
  int sv[2] = {-1, -1}, po[2] = {-1, -1};
  posix_spawn_file_actions_t fa;
  char *argv[] = {(char *)prog, (char *)action, NULL};
  int e;

  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
    return wh_err_set(err, WH_EIO, errno, "socketpair");
  if (pipe2(po, O_CLOEXEC) != 0) {
    e = errno;
    close(sv[0]), close(sv[1]);
    return wh_err_set(err, WH_EIO, e, "pipe");
  }
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, sv[1], STDIN_FILENO);
  posix_spawn_file_actions_adddup2(&fa, po[1], STDOUT_FILENO);
  posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
  e = posix_spawnp(&h->pid, prog, &fa, NULL, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  close(sv[1]);
  close(po[1]);
  if (e != 0) {
    close(sv[0]);
    close(po[0]);
    if (e == ENOENT)
      return wh_err_set(err, WH_EINVALID, 0, "credential helper \"%s\" is not installed (not found in PATH)",
                        prog);
    return wh_err_set(err, WH_EIO, e, "run credential helper \"%s\"", prog);
  }
  h->in = sv[0];
  h->out = po[0];
  return WH_OK;
}

/* Waits for h's exit until deadline; kills it then. */
static void reap(struct helper_run *h, int64_t deadline)
{
  pid_t w;

  while ((w = waitpid(h->pid, &h->status, WNOHANG)) == 0 && mono_ms() < deadline)
    poll(NULL, 0, 10);
  if (w == 0) {
    kill(h->pid, SIGKILL);
    w = waitpid(h->pid, &h->status, 0);
  }
  h->reaped = w == h->pid;
}

/* Reads h's stdout into out until EOF, the cap or the deadline. */
static enum wh_code read_out(struct helper_run *h, const char *prog, struct wh_buf *out, int64_t deadline,
                             struct wh_err *err)
{
  char buf[4096];
  struct pollfd p = {.fd = h->out, .events = POLLIN};
  ssize_t n;

  for (;;) {
    int64_t left = deadline - mono_ms();
    if (left <= 0)
      return wh_err_set(err, WH_ENETWORK, 0, "credential helper \"%s\" did not answer within %lld s", prog,
                        (long long)(timeout_ms() / 1000));
    int ready = poll(&p, 1, (int)left);
    if (ready < 0 && errno != EINTR)
      return wh_err_set(err, WH_EIO, errno, "credential helper \"%s\": poll", prog);
    if (ready <= 0)
      continue; /* the deadline is checked above */
    if ((n = read(h->out, buf, sizeof(buf))) == 0)
      return WH_OK;
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN)
        continue;
      return wh_err_set(err, WH_EIO, errno, "credential helper \"%s\": read", prog);
    }
    if (wh_buf_append(out, buf, (size_t)n) != WH_OK)
      return wh_err_set(err, WH_ETOOBIG, 0, "credential helper \"%s\": answer over %d bytes", prog,
                        HELPER_OUT_MAX);
  }
}

/* Runs docker-credential-NAME ACTION with input on stdin; its stdout into
 * out (capped). WH_ENOTFOUND: it said "credentials not found". */
static enum wh_code run_helper(const char *name, const char *action, const char *input, size_t len,
                               struct wh_buf *out, struct wh_err *err)
{
  char prog[sizeof(HELPER_PREFIX) + HELPER_NAME_MAX];
  struct helper_run h = {.pid = -1, .in = -1, .out = -1};
  int64_t deadline = mono_ms() + timeout_ms();
  enum wh_code rc;

  if (!name_ok(name))
    return wh_err_set(err, WH_EINVALID, 0, "bad credential helper name \"%.80s\"", name);
  snprintf(prog, sizeof(prog), HELPER_PREFIX "%s", name);
  if ((rc = spawn(prog, action, &h, err)) != WH_OK)
    return rc;
  /* a few bytes: they fit the socket's buffer, no need to interleave with reading */
  if (send(h.in, input, len, MSG_NOSIGNAL) < 0 && errno != EPIPE && errno != ECONNRESET)
    rc = wh_err_set(err, WH_EIO, errno, "credential helper \"%s\": write", prog);
  close(h.in);
  if (rc == WH_OK)
    rc = read_out(&h, prog, out, deadline, err);
  close(h.out);
  reap(&h, rc == WH_OK ? deadline : 0);
  if (rc != WH_OK)
    return rc;
  if (!h.reaped || !WIFEXITED(h.status) || WEXITSTATUS(h.status) != 0) {
    const char *said = out->data ? out->data : "";
    if (strstr(said, "credentials not found"))
      return wh_err_set(err, WH_ENOTFOUND, 0, "credential helper \"%s\": no credentials", prog);
    if (!h.reaped || !WIFEXITED(h.status))
      return wh_err_set(err, WH_EIO, 0, "credential helper \"%s\" %s", prog,
                        h.reaped ? "was killed by a signal" : "did not exit");
    return wh_err_set(err, WH_EIO, 0, "credential helper \"%s %s\" failed (exit %d): %.*s", prog, action,
                      WEXITSTATUS(h.status), (int)strcspn(said, "\r\n"), said);
  }
  return WH_OK;
}

static void wipe_buf(struct wh_buf *b)
{
  if (b->data)
    explicit_bzero(b->data, b->len);
  wh_buf_release(b);
}

enum wh_code cli_credhelper_get(const char *helper, const char *server, struct cli_creds *out,
                                struct wh_err *err)
{
  struct wh_buf b;
  json_t *j = NULL;
  const char *user, *secret;
  struct cli_creds c = {0};
  enum wh_code rc;

  wh_buf_init(&b, HELPER_OUT_MAX);
  if ((rc = run_helper(helper, "get", server, strlen(server), &b, err)) != WH_OK)
    goto out;
  j = json_loadb(b.data ? b.data : "", b.len, 0, NULL);
  user = json_string_value(json_object_get(j, "Username"));
  secret = json_string_value(json_object_get(j, "Secret"));
  if (user == NULL || secret == NULL) {
    rc = wh_err_set(err, WH_EINVALID, 0, "credential helper \"%s\": no Username and Secret in its answer",
                    helper);
    goto out;
  }
  if (secret[0] == '\0') {
    rc = wh_err_set(err, WH_ENOTFOUND, 0, "credential helper \"%s\": no credentials", helper);
    goto out;
  }
  c.identity = strcmp(user, TOKEN_USER) == 0;
  c.user = strdup(user);
  c.pass = strdup(secret);
  if (c.user == NULL || c.pass == NULL) {
    cli_creds_release(&c);
    rc = wh_err_set(err, WH_ENOMEM, 0, "out of memory");
    goto out;
  }
  *out = c;
out:
  if (j) { /* jansson keeps its own copy of the secret */
    json_t *s = json_object_get(j, "Secret");
    if (json_is_string(s))
      explicit_bzero((char *)json_string_value(s), json_string_length(s));
    json_decref(j);
  }
  wipe_buf(&b);
  return rc;
}

enum wh_code cli_credhelper_store(const char *helper, const char *server, const char *user,
                                  const char *secret, struct wh_err *err)
{
  struct wh_buf b;
  char *in;
  json_t *j = json_pack("{s:s, s:s, s:s}", "ServerURL", server, "Username", user, "Secret", secret);
  enum wh_code rc;

  if (j == NULL)
    return wh_err_set(err, WH_ENOMEM, 0, "out of memory");
  in = json_dumps(j, JSON_COMPACT);
  json_decref(j);
  if (in == NULL)
    return wh_err_set(err, WH_ENOMEM, 0, "out of memory");
  wh_buf_init(&b, HELPER_OUT_MAX);
  rc = run_helper(helper, "store", in, strlen(in), &b, err);
  explicit_bzero(in, strlen(in));
  free(in);
  wipe_buf(&b);
  return rc;
}

enum wh_code cli_credhelper_erase(const char *helper, const char *server, struct wh_err *err)
{
  struct wh_buf b;
  enum wh_code rc;

  wh_buf_init(&b, HELPER_OUT_MAX);
  rc = run_helper(helper, "erase", server, strlen(server), &b, err);
  wipe_buf(&b);
  return rc;
}
