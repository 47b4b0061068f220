/* client/slirp.c - published ports (-p) of a container with its own
 * network namespace, through Debian's slirp4netns: a user-mode network
 * stack that gives the namespace a tap0 device (10.0.2.100/24, gateway
 * 10.0.2.2, DNS 10.0.2.3) and forwards host ports into it.
 *
 * Invariants: slirp4netns is started without a shell, with only its two
 * pipes and the API socket; it runs sandboxed (--enable-sandbox,
 * --enable-seccomp), cannot reach the host's loopback
 * (--disable-host-loopback) and ends when the exit pipe closes, that is
 * when the monitor lets go of it or dies. Every wait on it is bounded.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "client/run.h"
#include "common/cleanup.h"

#define SLIRP_WAIT_MS 10000

extern char **environ;

enum wh_code cli_port_parse(const char *s, struct cli_port *out, struct wh_err *err)
{
  char buf[128], *parts[3] = {0}, *proto;
  size_t n = 0;
  struct cli_port p = {0};

  if (strlen(s) >= sizeof(buf))
    return wh_err_set(err, WH_EINVALID, 0, "-p \"%s\": too long", s);
  snprintf(buf, sizeof(buf), "%s", s);
  if ((proto = strchr(buf, '/'))) {
    *proto++ = '\0';
    if (strcmp(proto, "udp") == 0)
      p.udp = true;
    else if (strcmp(proto, "tcp") != 0)
      return wh_err_set(err, WH_EINVALID, 0, "-p \"%s\": protocol tcp or udp", s);
  }
  char *q = buf, *c;
  for (; n < 3 && q; q = c) {
    c = strchr(q, ':');
    if (c)
      *c++ = '\0';
    parts[n++] = q;
  }
  if (n < 2 || q)
    return wh_err_set(err, WH_EINVALID, 0, "-p \"%s\": expected [HOST-IP:]HOST-PORT:CONTAINER-PORT", s);
  snprintf(p.host_ip, sizeof(p.host_ip), "%s", n == 3 ? parts[0] : "0.0.0.0");
  for (size_t i = n - 2; i < n; i++) {
    char *end;
    long v = strtol(parts[i], &end, 10);
    if (*end || end == parts[i] || v < 1 || v > 65535)
      return wh_err_set(err, WH_EINVALID, 0, "-p \"%s\": bad port \"%s\"", s, parts[i]);
    if (i == n - 2)
      p.host_port = (uint16_t)v;
    else
      p.ctr_port = (uint16_t)v;
  }
  for (const char *ch = p.host_ip; *ch; ch++)
    if (!strchr("0123456789.", *ch))
      return wh_err_set(err, WH_EINVALID, 0, "-p \"%s\": the host address must be IPv4", s);
  *out = p;
  return WH_OK;
}

/* One API request; the answer must not hold "error". */
static enum wh_code api_call(const char *sock, const char *req, struct wh_err *err)
{
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  WH_AUTOCLOSE int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  char reply[1024];
  ssize_t n;
  size_t len = strlen(req);

  if (strlen(sock) >= sizeof(a.sun_path))
    return wh_err_set(err, WH_EINVALID, 0, "slirp4netns socket path too long");
  memcpy(a.sun_path, sock, strlen(sock) + 1);
  if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
    return wh_err_set(err, WH_EIO, errno, "slirp4netns api");
  if (write(fd, req, len) != (ssize_t)len || shutdown(fd, SHUT_WR) < 0)
    return wh_err_set(err, WH_EIO, errno, "slirp4netns api");
  struct pollfd pf = {.fd = fd, .events = POLLIN};
  if (poll(&pf, 1, SLIRP_WAIT_MS) <= 0 || (n = read(fd, reply, sizeof(reply) - 1)) <= 0)
    return wh_err_set(err, WH_EIO, errno, "slirp4netns api: no answer");
  reply[n] = '\0';
  if (strstr(reply, "error"))
    return wh_err_set(err, WH_EIO, 0, "slirp4netns: %.200s", reply);
  return WH_OK;
}

enum wh_code cli_slirp_start(pid_t pid1, const char *state_dir, const struct cli_port *ports, size_t n,
                             struct cli_slirp *out, struct wh_err *err)
{
  int ready[2] = {-1, -1}, ex[2] = {-1, -1};
  char sock[128], pidbuf[16], rfd[16], efd[16];
  posix_spawn_file_actions_t fa;
  pid_t pid;
  enum wh_code rc;
  char c;

  /* a socket path must fit sun_path (108 bytes): not below the store */
  const char *id = strrchr(state_dir, '/') ? strrchr(state_dir, '/') + 1 : state_dir;
  const char *run = getuid() == 0 ? "/run/wharf" : getenv("XDG_RUNTIME_DIR");
  if (!run || !*run || strlen(run) > 60)
    run = "/tmp";
  mkdir(run, 0700);
  snprintf(sock, sizeof(sock), "%s/slirp-%.16s.sock", run, id);
  unlink(sock);
  snprintf(out->sock, sizeof(out->sock), "%s", sock);
  /* the child's ends are not close-on-exec; ours are */
  if (pipe(ready) < 0 || pipe(ex) < 0)
    return wh_err_set(err, WH_EIO, errno, "pipe");
  fcntl(ready[0], F_SETFD, FD_CLOEXEC);
  fcntl(ex[1], F_SETFD, FD_CLOEXEC);
  snprintf(pidbuf, sizeof(pidbuf), "%d", (int)pid1);
  snprintf(rfd, sizeof(rfd), "%d", ready[1]);
  snprintf(efd, sizeof(efd), "%d", ex[0]);
  char *argv[] = {"slirp4netns", "--configure", "--mtu=65520", "--disable-host-loopback", "--enable-sandbox",
                  "--enable-seccomp", "--ready-fd", rfd, "--exit-fd", efd, "--api-socket", sock, pidbuf, "tap0",
                  NULL};
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  int e = posix_spawnp(&pid, "slirp4netns", &fa, NULL, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  close(ready[1]);
  close(ex[0]);
  if (e != 0) {
    close(ready[0]), close(ex[1]);
    return wh_err_set(err, WH_EUNSUPPORTED, e, "-p needs slirp4netns (Debian slirp4netns)");
  }
  out->pid = pid;
  out->exit_fd = ex[1];
  struct pollfd pf = {.fd = ready[0], .events = POLLIN};
  if (poll(&pf, 1, SLIRP_WAIT_MS) <= 0 || read(ready[0], &c, 1) != 1) {
    close(ready[0]);
    cli_slirp_stop(out);
    return wh_err_set(err, WH_EIO, 0, "slirp4netns did not configure the network");
  }
  close(ready[0]);
  for (size_t i = 0; i < n; i++) {
    char req[256];
    snprintf(req, sizeof(req),
             "{\"execute\": \"add_hostfwd\", \"arguments\": {\"proto\": \"%s\", \"host_addr\": \"%s\", "
             "\"host_port\": %u, \"guest_port\": %u}}",
             ports[i].udp ? "udp" : "tcp", ports[i].host_ip, ports[i].host_port, ports[i].ctr_port);
    if ((rc = api_call(sock, req, err)) != WH_OK) {
      cli_slirp_stop(out);
      return wh_err_wrap(err, "publish %s:%u", ports[i].host_ip, ports[i].host_port);
    }
  }
  return WH_OK;
}

void cli_slirp_stop(struct cli_slirp *s)
{
  if (s->pid <= 0)
    return;
  close(s->exit_fd);
  for (int i = 0; i < 200; i++) {
    if (waitpid(s->pid, NULL, WNOHANG) != 0)
      break;
    if (i == 150)
      kill(s->pid, SIGKILL);
    struct timespec ts = {0, 10 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  s->pid = -1;
  s->exit_fd = -1;
  if (s->sock[0])
    unlink(s->sock);
  s->sock[0] = '\0';
}
