/* tests/bench/hload.c: a small closed-loop HTTP/1.1 load generator for the benchmarks.
 *
 *   hload METHOD URL SECONDS CONNECTIONS [HEADER...]
 *
 * Exists because wrk 4.1 waits for a body after a HEAD response that carries a
 * Content-Length, so it cannot measure HEAD. Like wrk: two threads, each an epoll loop
 * over its share of keep-alive connections; each connection sends the request, reads
 * the header block, skips Content-Length bytes of body unless METHOD is HEAD, records
 * the latency and sends again, until SECONDS have passed. Prints one line:
 *   requests N errors E seconds S rps R p50_ms A p99_ms B reconnects C
 * A response that is not 2xx counts as an error, so does a broken connection (which is
 * re-opened); "Connection: close" re-opens too, counted in C and paid in the next
 * request's latency, as a real client pays it.
 *
 * Invariants: URL is http://IPv4:PORT/PATH (numeric address only); requests are capped
 * at 8 KiB, header blocks at 16 KiB, kept latencies at 1 << 24 per thread.
 * Built by the bench scripts with cc; not part of the project build.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define HDR_MAX 16384
#define REQ_MAX 8192
#define LAT_MAX (1u << 24)
#define CONN_MAX 1024
#define THREADS 2

enum phase { SENDING, READING_HEAD, READING_BODY };

struct conn {
  int fd;
  enum phase phase;
  size_t sent, have;
  long long body_left;
  int status, closing;
  double t0;
  char buf[HDR_MAX];
};

struct loop {
  struct sockaddr_in addr;
  const char *req;
  size_t req_len;
  int head, nconn, ep;
  double end;
  struct conn *conns;
  uint32_t *lat; /* microseconds */
  size_t nlat, cap;
  unsigned long errors, reconnects;
};

static double now(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void record(struct loop *l, double secs)
{
  if (l->nlat == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 4096;
    uint32_t *p;

    if (cap > LAT_MAX)
      return;
    p = realloc(l->lat, cap * sizeof(*p));
    if (p == NULL)
      return;
    l->lat = p;
    l->cap = cap;
  }
  l->lat[l->nlat++] = (uint32_t)(secs * 1e6);
}

/* header_value: start of the value of header NAME (lower case, with the colon) in the
 * NUL-terminated header block H, or NULL. */
static const char *header_value(const char *h, const char *name)
{
  const char *p = h;
  size_t n = strlen(name);

  while ((p = strchr(p, '\n')) != NULL) {
    p++;
    if (strncasecmp(p, name, n) == 0)
      return p + n + strspn(p + n, " \t");
  }
  return NULL;
}

static int watch(struct loop *l, struct conn *c, int op, uint32_t events)
{
  struct epoll_event ev = {.events = events, .data.ptr = c};

  return epoll_ctl(l->ep, op, c->fd, &ev);
}

/* start: (re)opens C if needed and begins sending the request. */
static int start(struct loop *l, struct conn *c)
{
  c->t0 = now();
  if (c->fd < 0) {
    int one = 1;

    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
      return -1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(c->fd, (const struct sockaddr *)&l->addr, sizeof(l->addr)) < 0 ||
        fcntl(c->fd, F_SETFL, O_NONBLOCK) < 0 || watch(l, c, EPOLL_CTL_ADD, EPOLLOUT) < 0) {
      close(c->fd);
      c->fd = -1;
      return -1;
    }
  } else if (watch(l, c, EPOLL_CTL_MOD, EPOLLOUT) < 0) {
    return -1;
  }
  c->phase = SENDING;
  c->sent = c->have = 0;
  return 0;
}

static void drop(struct conn *c)
{
  if (c->fd >= 0)
    close(c->fd);
  c->fd = -1;
}

/* parse_head: the header block is in; sets status, closing, body_left. */
static int parse_head(struct loop *l, struct conn *c, char *end)
{
  const char *v;
  size_t extra = c->have - (size_t)(end + 4 - c->buf);
  int minor;

  if (sscanf(c->buf, "HTTP/1.%d %d", &minor, &c->status) != 2)
    return -1;
  *end = '\0';
  v = header_value(c->buf, "connection:");
  if (minor == 0) /* HTTP/1.0 closes unless it says keep-alive */
    c->closing = v == NULL || strncasecmp(v, "keep-alive", 10) != 0;
  else
    c->closing = v != NULL && strncasecmp(v, "close", 5) == 0;
  v = header_value(c->buf, "content-length:");
  c->body_left = (l->head || v == NULL) ? 0 : strtoll(v, NULL, 10);
  c->body_left -= (long long)extra;
  c->phase = READING_BODY;
  return c->body_left < 0 ? -1 : 0;
}

/* on_ready: advances C; returns 1 when a response completed, 0 to wait, -1 on error. */
static int on_ready(struct loop *l, struct conn *c)
{
  if (c->phase == SENDING) {
    ssize_t w = send(c->fd, l->req + c->sent, l->req_len - c->sent, MSG_NOSIGNAL);

    if (w < 0)
      return errno == EAGAIN || errno == EINTR ? 0 : -1;
    c->sent += (size_t)w;
    if (c->sent < l->req_len)
      return 0;
    c->phase = READING_HEAD;
    return watch(l, c, EPOLL_CTL_MOD, EPOLLIN) < 0 ? -1 : 0;
  }
  for (;;) {
    size_t room = c->phase == READING_HEAD ? HDR_MAX - 1 - c->have : HDR_MAX;
    ssize_t r;
    char *end;

    if (c->phase == READING_BODY && c->body_left == 0)
      return 1;
    if (room == 0)
      return -1;
    if (c->phase == READING_BODY && (long long)room > c->body_left)
      room = (size_t)c->body_left;
    r = recv(c->fd, c->phase == READING_HEAD ? c->buf + c->have : c->buf, room, 0);
    if (r < 0)
      return errno == EAGAIN || errno == EINTR ? 0 : -1;
    if (r == 0)
      return -1;
    if (c->phase == READING_BODY) {
      c->body_left -= r;
      continue;
    }
    c->have += (size_t)r;
    c->buf[c->have] = '\0';
    end = strstr(c->buf, "\r\n\r\n");
    if (end != NULL && parse_head(l, c, end) < 0)
      return -1;
  }
}

static void complete(struct loop *l, struct conn *c)
{
  if (c->status < 200 || c->status > 299)
    l->errors++;
  else
    record(l, now() - c->t0);
  if (c->closing) {
    drop(c);
    l->reconnects++;
  }
}

static void *run_loop(void *arg)
{
  struct loop *l = arg;
  struct epoll_event evs[64];

  for (int i = 0; i < l->nconn; i++)
    if (start(l, &l->conns[i]) < 0)
      l->errors++;
  for (double t = now(); t < l->end; t = now()) {
    int n = epoll_wait(l->ep, evs, 64, (int)((l->end - t) * 1000) + 1);

    for (int i = 0; i < n; i++) {
      struct conn *c = evs[i].data.ptr;
      int r = on_ready(l, c);

      if (r == 0)
        continue;
      if (r > 0)
        complete(l, c);
      else {
        l->errors++;
        drop(c);
      }
      if (start(l, c) < 0)
        l->errors++;
    }
    for (int i = 0; i < l->nconn; i++) /* connections that could not open */
      if (l->conns[i].fd < 0 && start(l, &l->conns[i]) < 0) {
        l->errors++;
        usleep(1000);
      }
  }
  for (int i = 0; i < l->nconn; i++)
    drop(&l->conns[i]);
  return NULL;
}

static int cmp_u32(const void *a, const void *b)
{
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

  return (x > y) - (x < y);
}

/* parse_url: "http://A.B.C.D:PORT/PATH" -> addr and PATH (points into URL). */
static int parse_url(const char *url, struct sockaddr_in *addr, const char **path)
{
  char host[64];
  unsigned port;
  const char *p = url + 7, *colon, *slash;

  if (strncmp(url, "http://", 7) != 0 || (colon = strchr(p, ':')) == NULL ||
      (slash = strchr(colon, '/')) == NULL || (size_t)(colon - p) >= sizeof(host))
    return -1;
  memcpy(host, p, (size_t)(colon - p));
  host[colon - p] = '\0';
  if (sscanf(colon + 1, "%5u", &port) != 1 || port == 0 || port > 65535)
    return -1;
  memset(addr, 0, sizeof(*addr));
  addr->sin_family = AF_INET;
  addr->sin_port = htons((uint16_t)port);
  if (inet_pton(AF_INET, host, &addr->sin_addr) != 1)
    return -1;
  *path = slash;
  return 0;
}

static int build_request(char *req, const char *method, const char *path, char **hdrs, int nhdrs)
{
  int n = snprintf(req, REQ_MAX, "%s %s HTTP/1.1\r\nHost: bench\r\n", method, path);

  for (int i = 0; i < nhdrs && n > 0 && n < REQ_MAX; i++)
    n += snprintf(req + n, REQ_MAX - (size_t)n, "%s\r\n", hdrs[i]);
  if (n > 0 && n < REQ_MAX)
    n += snprintf(req + n, REQ_MAX - (size_t)n, "\r\n");
  return (n > 0 && n < REQ_MAX) ? n : -1;
}

static void report(struct loop *loops, double secs)
{
  size_t total = 0, k = 0;
  unsigned long errors = 0, reconnects = 0;
  uint32_t *all;

  for (int i = 0; i < THREADS; i++) {
    total += loops[i].nlat;
    errors += loops[i].errors;
    reconnects += loops[i].reconnects;
  }
  all = malloc((total ? total : 1) * sizeof(*all));
  if (all == NULL)
    exit(1);
  for (int i = 0; i < THREADS; i++) {
    if (loops[i].nlat)
      memcpy(all + k, loops[i].lat, loops[i].nlat * sizeof(*all));
    k += loops[i].nlat;
  }
  qsort(all, total, sizeof(*all), cmp_u32);
  printf("requests %zu errors %lu seconds %.3f rps %.0f p50_ms %.3f p99_ms %.3f reconnects %lu\n", total,
         errors, secs, (double)total / secs, total ? all[total / 2] / 1e3 : 0.0,
         total ? all[total * 99 / 100] / 1e3 : 0.0, reconnects);
  free(all);
}

static int usage(void)
{
  fprintf(stderr, "usage: hload METHOD http://A.B.C.D:PORT/PATH SECONDS CONNECTIONS [HEADER...]\n");
  return 2;
}

int main(int argc, char **argv)
{
  static char req[REQ_MAX];
  static struct loop loops[THREADS];
  pthread_t th[THREADS];
  struct sockaddr_in addr;
  struct conn *conns;
  const char *path;
  int nconn, len;
  double secs, t0;

  if (argc < 5 || parse_url(argv[2], &addr, &path) < 0 || (secs = strtod(argv[3], NULL)) <= 0 ||
      secs > 3600 || (nconn = (int)strtol(argv[4], NULL, 10)) < THREADS || nconn > CONN_MAX ||
      (len = build_request(req, argv[1], path, argv + 5, argc - 5)) < 0)
    return usage();
  conns = calloc((size_t)nconn, sizeof(*conns));
  if (conns == NULL)
    return 1;
  t0 = now();
  for (int i = 0, first = 0; i < THREADS; i++) {
    int share = nconn / THREADS + (i < nconn % THREADS);

    loops[i] = (struct loop){.addr = addr,
                             .req = req,
                             .req_len = (size_t)len,
                             .head = strcmp(argv[1], "HEAD") == 0,
                             .nconn = share,
                             .ep = epoll_create1(EPOLL_CLOEXEC),
                             .end = t0 + secs,
                             .conns = conns + first};
    for (int j = 0; j < share; j++)
      loops[i].conns[j].fd = -1;
    first += share;
    if (loops[i].ep < 0 || pthread_create(&th[i], NULL, run_loop, &loops[i]) != 0) {
      fprintf(stderr, "hload: cannot start thread %d\n", i);
      return 1;
    }
  }
  for (int i = 0; i < THREADS; i++)
    pthread_join(th[i], NULL);
  report(loops, now() - t0);
  return 0;
}
