/* client/cgroup.c - resource limits of a container (client/cgroup.h).
 *
 * Discovery reads /proc/self/mountinfo (where the v2 hierarchy and each v1
 * hierarchy are mounted, and which subtree each mount shows) and
 * /proc/self/cgroup (the caller's cgroup in each), then picks, per
 * controller, v2 when the v2 root offers it, else the v1 hierarchy that
 * has it, else nothing (a warning). Each chosen place becomes one node:
 * a directory wharf/<name> held by an O_PATH fd, with an O_PATH fd of its
 * parent wharf/ to remove it by name. Limit files are opened relative to
 * the node's fd.
 *
 * Invariants: only directories this unit created (or found again by name
 * under wharf/) are ever written, killed or removed; a failure to limit
 * is a warning line, never an error; destroy never kills the calling
 * process and gives up (leaving the directory) after about two seconds.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "client/cgroup.h"
#include "common/cleanup.h"

#define CG_PATH_MAX 1024
#define CG_MAX_NODES 4
#define CG_FILE_MAX 4096 /* limit and status files we read */
#define CG_DEFAULT_PERIOD 100000u
#define CG_DESTROY_ROUNDS 60 /* sleeps of 1, 2, 4 ... 50 ms: about two seconds */

enum ctrl { CG_MEMORY, CG_PIDS, CG_CPU, CG_NCTRL };
static const char *const ctrl_name[CG_NCTRL] = {"memory", "pids", "cpu"};
static const char *const ctrl_option[CG_NCTRL] = {"--memory", "--pids-limit", "--cpus"};

struct hier {
  bool present;
  char mnt[CG_PATH_MAX];  /* mount point */
  char root[CG_PATH_MAX]; /* the subtree the mount shows (mountinfo field 4) */
  char own[CG_PATH_MAX];  /* the caller's cgroup there (/proc/self/cgroup) */
};

struct hosts {
  struct hier v2;
  unsigned v2_ctrls;        /* bit c: the v2 root offers controller c */
  struct hier v1[CG_NCTRL]; /* the v1 hierarchy holding controller c */
};

struct node {
  bool v2;
  unsigned ctrls; /* bit c: controller c is limited here */
  int parentfd;   /* O_PATH of .../wharf */
  int fd;         /* O_PATH of .../wharf/<name> */
  bool removed;
  char path[CG_PATH_MAX];
};

struct cli_cgroup {
  char name[CLI_CGROUP_NAME_MAX + 1];
  struct node nodes[CG_MAX_NODES];
  size_t n;
};

/* ---- small helpers ---------------------------------------------------------------- */

struct warnbuf {
  char *p;
  size_t size;
};

static void warnf(struct warnbuf *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void warnf(struct warnbuf *w, const char *fmt, ...)
{
  size_t len;
  va_list ap;

  if (w->p == NULL || w->size == 0)
    return;
  len = strnlen(w->p, w->size);
  if (len + 1 >= w->size)
    return;
  va_start(ap, fmt);
  vsnprintf(w->p + len, w->size - len, fmt, ap);
  va_end(ap);
  len = strnlen(w->p, w->size);
  if (len + 1 < w->size) {
    w->p[len] = '\n';
    w->p[len + 1] = '\0';
  }
}

static bool has_token(const char *list, const char *tok, char sep)
{
  size_t n = strlen(tok);

  for (const char *p = list; p && *p;) {
    const char *e = strchr(p, sep);
    size_t len = e ? (size_t)(e - p) : strlen(p);
    if (len == n && strncmp(p, tok, n) == 0)
      return true;
    p = e ? e + 1 : NULL;
  }
  return false;
}

static bool name_valid(const char *name)
{
  size_t n = name ? strnlen(name, CLI_CGROUP_NAME_MAX + 1) : 0;

  if (n == 0 || n > CLI_CGROUP_NAME_MAX || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
    return false;
  for (size_t i = 0; i < n; i++) {
    char c = name[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
          c == '-' || c == '.'))
      return false;
  }
  return true;
}

/* Writes s to dirfd/file; 0 or an errno. */
static int write_at(int dirfd, const char *file, const char *s)
{
  WH_AUTOCLOSE int fd = openat(dirfd, file, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
  size_t n = strlen(s);

  if (fd < 0)
    return errno;
  if (write(fd, s, n) != (ssize_t)n)
    return errno ? errno : EIO;
  return 0;
}

/* Reads dirfd/file (at most CG_FILE_MAX - 1 bytes) into b, NUL terminated; 0 or an errno. */
static int read_at(int dirfd, const char *file, char *b, size_t size)
{
  WH_AUTOCLOSE int fd = openat(dirfd, file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  size_t len = 0;
  ssize_t r;

  if (fd < 0)
    return errno;
  while (len + 1 < size && (r = read(fd, b + len, size - 1 - len)) > 0)
    len += (size_t)r;
  b[len] = '\0';
  return 0;
}

/* "key N" line of a flat keyed file; -1 when absent. */
static long long keyed_value(const char *text, const char *key)
{
  size_t n = strlen(key);

  for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
    if (strncmp(p, key, n) == 0 && p[n] == ' ')
      return strtoll(p + n + 1, NULL, 10);
  }
  return -1;
}

/* ---- discovery ----------------------------------------------------------------------- */

/* Splits line at spaces in place; returns the number of fields. */
static int split_fields(char *line, char **f, int max)
{
  int n = 0;
  char *p = line;

  while (*p && n < max) {
    while (*p == ' ')
      p++;
    if (*p == '\0' || *p == '\n')
      break;
    f[n++] = p;
    while (*p && *p != ' ' && *p != '\n')
      p++;
    if (*p)
      *p++ = '\0';
  }
  return n;
}

/* mountinfo escapes space, tab, newline and backslash as \ooo */
static void unescape(char *s)
{
  char *w = s;

  for (char *r = s; *r; r++) {
    if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' && r[3] >= '0' &&
        r[3] <= '7') {
      *w++ = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
      r += 3;
    } else {
      *w++ = *r;
    }
  }
  *w = '\0';
}

static void set_mount(struct hier *h, const char *mnt, const char *root)
{
  h->present = snprintf(h->mnt, sizeof(h->mnt), "%s", mnt) < (int)sizeof(h->mnt) &&
               snprintf(h->root, sizeof(h->root), "%s", root) < (int)sizeof(h->root);
}

static void mountinfo_line(struct hosts *hs, char *line)
{
  char *f[64];
  int n = split_fields(line, f, 64), sep = -1;

  for (int i = 6; i < n; i++) {
    if (strcmp(f[i], "-") == 0) {
      sep = i;
      break;
    }
  }
  if (sep < 0 || sep + 1 >= n)
    return;
  unescape(f[4]);
  unescape(f[3]);
  if (strcmp(f[sep + 1], "cgroup2") == 0) {
    /* several v2 mounts: /sys/fs/cgroup itself wins */
    if (!hs->v2.present || strcmp(f[4], "/sys/fs/cgroup") == 0)
      set_mount(&hs->v2, f[4], f[3]);
  } else if (strcmp(f[sep + 1], "cgroup") == 0 && sep + 3 < n) {
    for (int c = 0; c < CG_NCTRL; c++) {
      if (!hs->v1[c].present && has_token(f[sep + 3], ctrl_name[c], ','))
        set_mount(&hs->v1[c], f[4], f[3]);
    }
  }
}

static void cgroup_line(struct hosts *hs, char *line)
{
  char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL, *nl;

  if (c2 == NULL)
    return;
  *c1 = *c2 = '\0';
  if ((nl = strchr(c2 + 1, '\n')) != NULL)
    *nl = '\0';
  if (strcmp(line, "0") == 0 && c1[1] == '\0') {
    snprintf(hs->v2.own, sizeof(hs->v2.own), "%s", c2 + 1);
    return;
  }
  for (int c = 0; c < CG_NCTRL; c++) {
    if (has_token(c1 + 1, ctrl_name[c], ','))
      snprintf(hs->v1[c].own, sizeof(hs->v1[c].own), "%s", c2 + 1);
  }
}

static int read_lines(const char *path, struct hosts *hs, void (*fn)(struct hosts *, char *))
{
  WH_AUTOFCLOSE FILE *f = fopen(path, "re");
  WH_AUTOFREE char *line = NULL;
  size_t cap = 0;

  if (f == NULL)
    return errno;
  while (getline(&line, &cap, f) > 0)
    fn(hs, line);
  return 0;
}

/* The directory of the caller's cgroup in h: mnt + own, less the mount's root. */
static bool own_dir(const struct hier *h, char *out, size_t size)
{
  const char *rel = h->own[0] ? h->own : "/";
  size_t rl = strlen(h->root);

  if (strcmp(h->root, "/") != 0 && strncmp(rel, h->root, rl) == 0 && (rel[rl] == '/' || rel[rl] == '\0'))
    rel += rl;
  while (*rel == '/')
    rel++;
  return snprintf(out, size, "%s%s%s", h->mnt, *rel ? "/" : "", rel) < (int)size;
}

static int discover(struct hosts *hs)
{
  char b[CG_FILE_MAX];
  int e;

  if ((e = read_lines("/proc/self/mountinfo", hs, mountinfo_line)) != 0 ||
      (e = read_lines("/proc/self/cgroup", hs, cgroup_line)) != 0)
    return e;
  if (hs->v2.present) {
    WH_AUTOCLOSE int fd = open(hs->v2.mnt, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0 && read_at(fd, "cgroup.controllers", b, sizeof(b)) == 0) {
      char *nl = strchr(b, '\n');
      if (nl)
        *nl = '\0';
      for (int c = 0; c < CG_NCTRL; c++)
        hs->v2_ctrls |= has_token(b, ctrl_name[c], ' ') ? 1u << c : 0;
    }
  }
  return 0;
}

/* The wharf/ directory of a hierarchy: v2 next to the caller's cgroup,
 * v1 below it (see cgroup.h). */
static bool parent_dir(const struct hier *h, bool v2, char *out, size_t size)
{
  char own[CG_PATH_MAX];
  char *slash;

  if (!own_dir(h, own, sizeof(own)))
    return false;
  if (v2 && strcmp(own, h->mnt) != 0 && (slash = strrchr(own, '/')) != NULL && slash >= own + strlen(h->mnt))
    *slash = '\0'; /* the caller's cgroup has processes: wharf/ goes next to it */
  return snprintf(out, size, "%s/%s", own, CLI_CGROUP_PARENT) < (int)size;
}

/* ---- creating ------------------------------------------------------------------------ */

/* Makes sure dir's cgroup.subtree_control holds every controller of *ctrls;
 * those that cannot be enabled leave *ctrls with a warning. */
static void enable_in(const char *dir, unsigned *ctrls, struct warnbuf *w)
{
  WH_AUTOCLOSE int fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
  char b[CG_FILE_MAX], plus[32], *nl;
  int e = fd < 0 ? errno : read_at(fd, "cgroup.subtree_control", b, sizeof(b));

  if (e != 0) {
    for (int c = 0; c < CG_NCTRL; c++) {
      if (*ctrls & (1u << c))
        warnf(w, "%s not applied: cgroup v2 \"%s\": %s", ctrl_option[c], dir, strerror(e));
    }
    *ctrls = 0;
    return;
  }
  if ((nl = strchr(b, '\n')) != NULL)
    *nl = '\0';
  for (int c = 0; c < CG_NCTRL; c++) {
    if (!(*ctrls & (1u << c)) || has_token(b, ctrl_name[c], ' '))
      continue;
    snprintf(plus, sizeof(plus), "+%s", ctrl_name[c]);
    if ((e = write_at(fd, "cgroup.subtree_control", plus)) != 0) {
      warnf(w, "%s not applied: enable the %s controller in \"%s\": %s", ctrl_option[c], ctrl_name[c], dir,
            strerror(e));
      *ctrls &= ~(1u << c);
    }
  }
}

/* v2: enables *ctrls from the hierarchy's root down to wharf/ itself. */
static void enable_v2(const struct hier *h, const char *parent, unsigned *ctrls, struct warnbuf *w)
{
  char dir[CG_PATH_MAX];
  size_t ml = strlen(h->mnt);

  /* every ancestor of wharf/: mnt, mnt/a, mnt/a/b (the caller's own cgroup is never one) */
  for (size_t i = ml; *ctrls && parent[i] == '/';) {
    const char *next = strchr(parent + i + 1, '/');
    snprintf(dir, sizeof(dir), "%.*s", (int)i, parent);
    enable_in(dir, ctrls, w);
    if (next == NULL)
      break;
    i = (size_t)(next - parent);
  }
  if (*ctrls)
    enable_in(parent, ctrls, w);
}

static struct node *add_node(struct cli_cgroup *cg, bool v2, const char *parent, unsigned ctrls, bool create,
                             struct warnbuf *w)
{
  struct node *nd = &cg->nodes[cg->n];
  WH_AUTOCLOSE int pfd = -1;
  int e = 0;

  if (cg->n >= CG_MAX_NODES)
    return NULL;
  if (create && mkdir(parent, 0755) < 0 && errno != EEXIST)
    e = errno;
  if (e == 0 && (pfd = open(parent, O_PATH | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW)) < 0)
    e = errno;
  if (e == 0 && create && mkdirat(pfd, cg->name, 0755) < 0 && errno != EEXIST)
    e = errno;
  if (e == 0 && (nd->fd = openat(pfd, cg->name, O_PATH | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW)) < 0)
    e = errno;
  if (e != 0) {
    for (int c = 0; create && c < CG_NCTRL; c++) {
      if (ctrls & (1u << c))
        warnf(w, "%s not applied: cgroup%s \"%s/%s\": %s", ctrl_option[c], v2 ? " v2" : " v1", parent,
              cg->name, strerror(e));
    }
    return NULL;
  }
  nd->v2 = v2;
  nd->ctrls = ctrls;
  nd->parentfd = wh_steal_fd(&pfd);
  nd->removed = false;
  snprintf(nd->path, sizeof(nd->path), "%s/%s", parent, cg->name);
  cg->n++;
  return nd;
}

/* Writes the limit of controller c into nd; a warning when it does not take. */
static void write_limit(struct node *nd, int c, const struct cli_limits *l, struct warnbuf *w)
{
  char v[64], p[32];
  const char *file = NULL;
  int e = 0;

  if (c == CG_MEMORY) {
    snprintf(v, sizeof(v), "%lld", (long long)l->memory_bytes);
    file = nd->v2 ? "memory.max" : "memory.limit_in_bytes";
    if ((e = write_at(nd->fd, file, v)) == 0) {
      /* swap must not stretch the limit; ENOENT: no swap accounting */
      const char *sw = nd->v2 ? "memory.swap.max" : "memory.memsw.limit_in_bytes";
      int se = write_at(nd->fd, sw, nd->v2 ? "0" : v);
      if (se != 0 && se != ENOENT)
        warnf(w, "--memory: swap not limited: \"%s/%s\": %s", nd->path, sw, strerror(se));
    }
  } else if (c == CG_PIDS) {
    snprintf(v, sizeof(v), "%lld", (long long)l->pids_max);
    e = write_at(nd->fd, file = "pids.max", v);
  } else {
    uint64_t period = l->cpu_period_us ? l->cpu_period_us : CG_DEFAULT_PERIOD;
    snprintf(p, sizeof(p), "%llu", (unsigned long long)period);
    snprintf(v, sizeof(v), "%llu", (unsigned long long)l->cpu_quota_us);
    if (nd->v2) {
      snprintf(v, sizeof(v), "%llu %llu", (unsigned long long)l->cpu_quota_us, (unsigned long long)period);
      e = write_at(nd->fd, file = "cpu.max", v);
    } else if ((e = write_at(nd->fd, file = "cpu.cfs_period_us", p)) == 0) {
      e = write_at(nd->fd, file = "cpu.cfs_quota_us", v);
    }
  }
  if (e != 0)
    warnf(w, "%s not applied: \"%s/%s\": %s", ctrl_option[c], nd->path, file, strerror(e));
}

static struct node *find_v1(struct cli_cgroup *cg, const struct hosts *hs, int c)
{
  for (size_t i = 0; i < cg->n; i++) {
    for (int k = 0; k < CG_NCTRL; k++) {
      if (!cg->nodes[i].v2 && (cg->nodes[i].ctrls & (1u << k)) && strcmp(hs->v1[k].mnt, hs->v1[c].mnt) == 0)
        return &cg->nodes[i];
    }
  }
  return NULL;
}

static void place(struct cli_cgroup *cg, const struct hosts *hs, unsigned wanted, const struct cli_limits *l,
                  struct warnbuf *w)
{
  char parent[CG_PATH_MAX];
  unsigned v2set = wanted & hs->v2_ctrls;
  struct node *nd;

  if (v2set && parent_dir(&hs->v2, true, parent, sizeof(parent))) {
    mkdir(parent, 0755); /* enable_v2 needs it; failures show below */
    enable_v2(&hs->v2, parent, &v2set, w);
    if (v2set && (nd = add_node(cg, true, parent, v2set, true, w)) != NULL) {
      for (int c = 0; c < CG_NCTRL; c++) {
        if (v2set & (1u << c))
          write_limit(nd, c, l, w);
      }
    }
  }
  for (int c = 0; c < CG_NCTRL; c++) {
    if (!(wanted & (1u << c)) || (hs->v2_ctrls & (1u << c)))
      continue;
    if (!hs->v1[c].present) {
      warnf(w, "%s not applied: no %s cgroup controller on this host", ctrl_option[c], ctrl_name[c]);
      continue;
    }
    if ((nd = find_v1(cg, hs, c)) != NULL) {
      nd->ctrls |= 1u << c;
    } else if (!parent_dir(&hs->v1[c], false, parent, sizeof(parent))) {
      warnf(w, "%s not applied: cgroup path too long", ctrl_option[c]);
      continue;
    } else if ((nd = add_node(cg, false, parent, 1u << c, true, w)) == NULL) {
      continue;
    }
    write_limit(nd, c, l, w);
  }
}

static enum wh_code check_limits(const struct cli_limits *l, struct wh_err *err)
{
  if (l->memory_bytes < 0)
    return wh_err_set(err, WH_EINVALID, 0, "memory limit %lld: negative", (long long)l->memory_bytes);
  if (l->pids_max < 0)
    return wh_err_set(err, WH_EINVALID, 0, "pids limit %lld: negative", (long long)l->pids_max);
  if (l->cpu_quota_us > (uint64_t)INT64_MAX || l->cpu_period_us > 1000000u ||
      (l->cpu_period_us != 0 && l->cpu_period_us < 1000u))
    return wh_err_set(err, WH_EINVALID, 0, "cpu quota %llu / period %llu: out of range",
                      (unsigned long long)l->cpu_quota_us, (unsigned long long)l->cpu_period_us);
  return WH_OK;
}

static enum wh_code new_handle(const char *name, struct cli_cgroup **out, struct wh_err *err)
{
  struct cli_cgroup *cg;

  if (!name_valid(name))
    return wh_err_set(err, WH_EINVALID, 0, "cgroup name \"%.*s\": not a plain name", CLI_CGROUP_NAME_MAX,
                      name ? name : "");
  if ((cg = calloc(1, sizeof(*cg))) == NULL)
    return wh_err_set(err, WH_ENOMEM, 0, "out of memory");
  snprintf(cg->name, sizeof(cg->name), "%s", name);
  *out = cg;
  return WH_OK;
}

enum wh_code cli_cgroup_create(const char *name, const struct cli_limits *l, struct cli_cgroup **out,
                               char *warn, size_t warn_size, struct wh_err *err)
{
  struct warnbuf w = {warn, warn_size};
  struct cli_cgroup *cg = NULL;
  WH_AUTOFREE struct hosts *hs = NULL;
  unsigned wanted = 0;
  enum wh_code rc;
  int e;

  if (warn && warn_size)
    warn[0] = '\0';
  if ((rc = check_limits(l, err)) != WH_OK || (rc = new_handle(name, &cg, err)) != WH_OK)
    return rc;
  wanted |= l->memory_bytes > 0 ? 1u << CG_MEMORY : 0;
  wanted |= l->pids_max > 0 ? 1u << CG_PIDS : 0;
  wanted |= l->cpu_quota_us > 0 ? 1u << CG_CPU : 0;
  if (wanted) {
    if ((hs = calloc(1, sizeof(*hs))) == NULL) {
      free(cg);
      return wh_err_set(err, WH_ENOMEM, 0, "out of memory");
    }
    if ((e = discover(hs)) != 0)
      warnf(&w, "resource limits not applied: cgroups not readable: %s", strerror(e));
    else
      place(cg, hs, wanted, l, &w);
  }
  *out = cg;
  return WH_OK;
}

enum wh_code cli_cgroup_open(const char *name, struct cli_cgroup **out, struct wh_err *err)
{
  struct warnbuf w = {NULL, 0};
  struct cli_cgroup *cg = NULL;
  WH_AUTOFREE struct hosts *hs = NULL;
  char parent[CG_PATH_MAX];
  enum wh_code rc;

  if ((rc = new_handle(name, &cg, err)) != WH_OK)
    return rc;
  if ((hs = calloc(1, sizeof(*hs))) == NULL) {
    free(cg);
    return wh_err_set(err, WH_ENOMEM, 0, "out of memory");
  }
  if (discover(hs) == 0) {
    if (hs->v2.present && parent_dir(&hs->v2, true, parent, sizeof(parent)))
      add_node(cg, true, parent, 0, false, &w);
    for (int c = 0; c < CG_NCTRL; c++) {
      if (hs->v1[c].present && find_v1(cg, hs, c) == NULL &&
          parent_dir(&hs->v1[c], false, parent, sizeof(parent))) {
        struct node *nd = add_node(cg, false, parent, 0, false, &w);
        if (nd)
          nd->ctrls = 1u << c;
      }
    }
  }
  *out = cg;
  return WH_OK;
}

/* ---- using ----------------------------------------------------------------------------- */

enum wh_code cli_cgroup_enter(struct cli_cgroup *cg, pid_t pid, struct wh_err *err)
{
  char v[32];
  int e;

  snprintf(v, sizeof(v), "%d", (int)pid);
  for (size_t i = 0; i < cg->n; i++) {
    if ((e = write_at(cg->nodes[i].fd, "cgroup.procs", v)) != 0)
      return wh_err_set(err, e == EACCES || e == EPERM ? WH_EDENIED : WH_EIO, e, "move pid %d into \"%s\"",
                        (int)pid, cg->nodes[i].path);
  }
  return WH_OK;
}

int cli_cgroup_oom_killed(struct cli_cgroup *cg)
{
  char b[CG_FILE_MAX];

  for (size_t i = 0; i < cg->n; i++) {
    struct node *nd = &cg->nodes[i];
    if (!(nd->ctrls & (1u << CG_MEMORY)))
      continue;
    if (read_at(nd->fd, nd->v2 ? "memory.events" : "memory.oom_control", b, sizeof(b)) != 0)
      return -1;
    long long n = keyed_value(b, "oom_kill");
    return n < 0 ? -1 : n > 0;
  }
  return -1;
}

const char *cli_cgroup_path(const struct cli_cgroup *cg, size_t i)
{
  return cg && i < cg->n ? cg->nodes[i].path : NULL;
}

/* SIGKILLs every pid of nd's cgroup.procs; returns how many were listed. */
static int kill_listed(struct node *nd)
{
  WH_AUTOCLOSE int fd = openat(nd->fd, "cgroup.procs", O_RDONLY | O_CLOEXEC);
  char b[4096];
  long pid = 0;
  bool in = false;
  int count = 0;
  ssize_t r;

  if (fd < 0)
    return 0;
  while ((r = read(fd, b, sizeof(b))) > 0) {
    for (ssize_t i = 0; i < r; i++) {
      if (b[i] >= '0' && b[i] <= '9') {
        pid = pid * 10 + (b[i] - '0');
        in = pid < 1L << 30;
      } else if (in) {
        if (pid > 1 && pid != (long)getpid() && kill((pid_t)pid, SIGKILL) == 0)
          count++;
        pid = 0;
        in = false;
      }
    }
  }
  if (in && pid > 1 && pid != (long)getpid() && kill((pid_t)pid, SIGKILL) == 0)
    count++;
  return count;
}

/* One round: remove what is empty, kill in what is not; true when all are gone. */
static bool destroy_round(struct cli_cgroup *cg, bool first)
{
  bool done = true;

  for (size_t i = 0; i < cg->n; i++) {
    struct node *nd = &cg->nodes[i];
    if (nd->removed)
      continue;
    if (first && nd->v2)
      (void)write_at(nd->fd, "cgroup.kill", "1"); /* Linux >= 5.14; else the loop below */
    kill_listed(nd);
    if (unlinkat(nd->parentfd, cg->name, AT_REMOVEDIR) == 0 || errno == ENOENT)
      nd->removed = true;
    else
      done = false;
  }
  return done;
}

void cli_cgroup_destroy(struct cli_cgroup *cg)
{
  long delay_ms = 1;

  if (cg == NULL)
    return;
  for (int round = 0; round < CG_DESTROY_ROUNDS && !destroy_round(cg, round == 0); round++) {
    struct timespec ts = {0, delay_ms * 1000000L};
    nanosleep(&ts, NULL);
    delay_ms = delay_ms * 2 > 50 ? 50 : delay_ms * 2;
  }
  for (size_t i = 0; i < cg->n; i++) {
    close(cg->nodes[i].fd);
    close(cg->nodes[i].parentfd);
  }
  free(cg);
}
