/* client/container.c - what a container leaves on disk: its state
 * directory <root>/containers/<id>/ and its name link
 * <root>/containers/names/<name> -> <id>.
 *
 * State directory: config.json (what it runs, written once at creation),
 * state.json (status, pid 1's host pid and start time, exit code, times;
 * replaced atomically by rename), rootfs/ upper/ work/ (the overlay),
 * hosts hostname resolv.conf (bind-mounted into it) and, detached, log;
 * the directory itself is the container's lock (flock), held by its
 * monitor while the container runs.
 * Invariants: a name is taken by creating its link (symlinkat fails when
 * it exists), so two containers never share one; a pid in state.json is
 * only trusted with its start time (/proc/PID/stat field 22), so a reused
 * pid never makes a dead container look running.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "client/cgroup.h"
#include "client/container.h"
#include "client/extract.h"
#include "common/cleanup.h"
#include "common/fsutil.h"

bool cli_container_name_valid(const char *name)
{
  size_t n = strlen(name);

  if (n == 0 || n > 128 || !isalnum((unsigned char)name[0]))
    return false;
  for (size_t i = 0; i < n; i++)
    if (!isalnum((unsigned char)name[i]) && name[i] != '_' && name[i] != '.' && name[i] != '-')
      return false;
  return true;
}

static void dir_of(const char *root, const char *id, char *out, size_t size)
{
  snprintf(out, size, "%s/containers/%s", root, id);
}

/* Removes what removers killed midway left behind. */
static void sweep_trash(const char *root)
{
  char dir[PATH_MAX];
  WH_AUTOCLOSEDIR DIR *d = NULL;
  struct dirent *e;

  snprintf(dir, sizeof(dir), "%s/containers", root);
  if (!(d = opendir(dir)))
    return;
  while ((e = readdir(d))) {
    struct stat sb;
    if (strncmp(e->d_name, ".trash-", 7) == 0 && fstatat(dirfd(d), e->d_name, &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
        time(NULL) - sb.st_mtime > 60)
      cli_extract_rmtree_at(dirfd(d), e->d_name, NULL);
  }
}

/* Containers whose monitor died (kill -9 of wharf): their lock is free
 * while their state still says running. Their pid 1 died with the monitor
 * (PDEATHSIG) and their mounts with it; left are cgroups, the --rm
 * directory, and a state to correct. */
static int sweep_one(void *ctx, const struct cli_container *c)
{
  const char *root = ctx;
  struct cli_cgroup *cg = NULL;
  int lock;

  if (!c->state.pid || c->state.finished || cli_container_alive(c))
    return 0;
  if ((lock = cli_container_lock(c->dir, 0)) < 0)
    return 0; /* its monitor lives: it will record the exit itself */
  if (cli_cgroup_open(c->id, &cg, NULL) == WH_OK)
    cli_cgroup_destroy(cg);
  if (json_is_true(json_object_get(c->config, "rm"))) {
    cli_container_remove(root, c->id, false, NULL);
  } else {
    struct cli_container_state st = c->state;
    snprintf(st.status, sizeof(st.status), "exited");
    st.exit_code = 137;
    st.finished = time(NULL);
    cli_container_write_state(c->dir, &st, NULL);
  }
  close(lock);
  return 0;
}

void cli_container_sweep(const char *root)
{
  sweep_trash(root);
  cli_container_list(root, sweep_one, (void *)root, NULL);
}

enum wh_code cli_container_create(const char *root, const char *name, char id_out[65], char **state_dir,
                                  struct wh_err *err)
{
  char dir[PATH_MAX], link[PATH_MAX + 160], id[65], nm[140];
  enum wh_code rc;
  static const char *const subdirs[] = {"rootfs", "upper", "work"};

  if ((rc = wh_random_hex(id, 32, err)) != WH_OK)
    return rc;
  if (name && !cli_container_name_valid(name))
    return wh_err_set(err, WH_EINVALID, 0, "invalid container name \"%s\": use [a-zA-Z0-9][a-zA-Z0-9_.-]*", name);
  snprintf(nm, sizeof(nm), "%s", name ? name : id);
  if (!name)
    nm[12] = '\0';
  {
    WH_AUTOCLOSE int rfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (rfd < 0)
      return wh_err_set(err, WH_EIO, errno, "open %s", root);
    if ((rc = wh_mkdir_p_at(rfd, "containers/names", 0700, err)) != WH_OK)
      return rc;
  }
  /* an unnamed container is found by its id (or a prefix: its default
   * name is one), so only a chosen name takes a link */
  snprintf(dir, sizeof(dir), "%s/containers/names", root);
  snprintf(link, sizeof(link), "%s/%s", dir, nm);
  if (name && symlink(id, link) < 0) {
    if (errno == EEXIST)
      return wh_err_set(err, WH_ECONFLICT, 0, "the container name \"%s\" is already in use", nm);
    return wh_err_set(err, WH_EIO, errno, "name %s", link);
  }
  dir_of(root, id, dir, sizeof(dir));
  if (mkdir(dir, 0700) < 0) {
    rc = wh_err_set(err, WH_EIO, errno, "mkdir %s", dir);
    if (name)
      unlink(link);
    return rc;
  }
  for (size_t i = 0; i < WH_ARRAY_LEN(subdirs); i++) {
    char sub[PATH_MAX + 16];
    snprintf(sub, sizeof(sub), "%s/%s", dir, subdirs[i]);
    if (mkdir(sub, 0755) < 0) {
      rc = wh_err_set(err, WH_EIO, errno, "mkdir %s", sub);
      cli_container_remove(root, id, false, NULL);
      return rc;
    }
  }
  if (!(*state_dir = strdup(dir))) {
    cli_container_remove(root, id, false, NULL);
    return wh_err_set(err, WH_ENOMEM, 0, "out of memory");
  }
  memcpy(id_out, id, 65);
  return WH_OK;
}

/* Writes json to dir/name atomically (tmp + rename). */
static enum wh_code write_json(const char *dir, const char *name, json_t *j, struct wh_err *err)
{
  char tmp[PATH_MAX + 32], dst[PATH_MAX + 32];
  WH_AUTOFREE char *text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
  WH_AUTOCLOSE int fd = -1;
  enum wh_code rc;

  if (!text)
    return wh_err_set(err, WH_ENOMEM, 0, "out of memory");
  snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", dir, name);
  snprintf(dst, sizeof(dst), "%s/%s", dir, name);
  fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0)
    return wh_err_set(err, WH_EIO, errno, "write %s", tmp);
  if ((rc = wh_write_all(fd, text, strlen(text), err)) != WH_OK)
    return rc;
  if (rename(tmp, dst) < 0)
    return wh_err_set(err, WH_EIO, errno, "rename %s", dst);
  return WH_OK;
}

enum wh_code cli_container_write_config(const char *state_dir, json_t *config, struct wh_err *err)
{
  return write_json(state_dir, "config.json", config, err);
}

uint64_t cli_pid_start_time(pid_t pid)
{
  char path[64], buf[1024];
  WH_AUTOCLOSE int fd = -1;
  ssize_t n;
  char *p;

  snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
  if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 || (n = read(fd, buf, sizeof(buf) - 1)) <= 0)
    return 0;
  buf[n] = '\0';
  /* comm may hold spaces and parentheses: fields restart after the last ')' */
  if (!(p = strrchr(buf, ')')))
    return 0;
  /* a zombie has ended: waiting for its reaper (an init that reaps slowly
   * after a kill -9 of wharf) does not keep a container running */
  if (p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X'))
    return 0;
  for (int field = 2; field < 22 && p; field++)
    p = strchr(p + 1, ' ');
  return p ? strtoull(p + 1, NULL, 10) : 0;
}

enum wh_code cli_container_write_state(const char *state_dir, const struct cli_container_state *st,
                                       struct wh_err *err)
{
  json_auto_t *j = json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:i}", "status", st->status, "pid",
                             (json_int_t)st->pid, "pid_start", (json_int_t)st->pid_start, "exit_code",
                             (json_int_t)st->exit_code, "started", (json_int_t)st->started, "finished",
                             (json_int_t)st->finished, "restarts", st->restarts);

  if (!j)
    return wh_err_set(err, WH_ENOMEM, 0, "out of memory");
  return write_json(state_dir, "state.json", j, err);
}

static json_t *read_json(const char *dir, const char *name)
{
  char path[PATH_MAX];
  json_error_t je;

  snprintf(path, sizeof(path), "%s/%s", dir, name);
  return json_load_file(path, JSON_REJECT_DUPLICATES, &je);
}

enum wh_code cli_container_read(const char *root, const char *id, struct cli_container *c, struct wh_err *err)
{
  json_t *st;
  const char *s;

  memset(c, 0, sizeof(*c));
  snprintf(c->id, sizeof(c->id), "%s", id);
  dir_of(root, id, c->dir, sizeof(c->dir));
  c->config = read_json(c->dir, "config.json");
  if (!c->config)
    return wh_err_set(err, WH_ENOTFOUND, 0, "no such container: %s", id);
  st = read_json(c->dir, "state.json");
  snprintf(c->state.status, sizeof(c->state.status), "created");
  if (st) {
    if ((s = json_string_value(json_object_get(st, "status"))))
      snprintf(c->state.status, sizeof(c->state.status), "%s", s);
    c->state.pid = (pid_t)json_integer_value(json_object_get(st, "pid"));
    c->state.pid_start = (uint64_t)json_integer_value(json_object_get(st, "pid_start"));
    c->state.exit_code = (int)json_integer_value(json_object_get(st, "exit_code"));
    c->state.started = (int64_t)json_integer_value(json_object_get(st, "started"));
    c->state.finished = (int64_t)json_integer_value(json_object_get(st, "finished"));
    c->state.restarts = (int)json_integer_value(json_object_get(st, "restarts"));
    json_decref(st);
  }
  /* a "running" container whose pid 1 is gone (monitor killed) */
  if (strcmp(c->state.status, "running") == 0 && !cli_container_alive(c))
    snprintf(c->state.status, sizeof(c->state.status), "exited");
  if ((s = json_string_value(json_object_get(c->config, "name"))))
    snprintf(c->name, sizeof(c->name), "%s", s);
  return WH_OK;
}

void cli_container_release(struct cli_container *c)
{
  json_decref(c->config);
  c->config = NULL;
}

bool cli_container_alive(const struct cli_container *c)
{
  return c->state.pid > 0 && c->state.pid_start && cli_pid_start_time(c->state.pid) == c->state.pid_start;
}

static bool is_hex_id(const char *s)
{
  size_t n = strlen(s);

  if (n != 64)
    return false;
  for (size_t i = 0; i < n; i++)
    if (!isxdigit((unsigned char)s[i]) || isupper((unsigned char)s[i]))
      return false;
  return true;
}

enum wh_code cli_container_find(const char *root, const char *what, char id_out[65], struct wh_err *err)
{
  char path[PATH_MAX], target[128];
  ssize_t n;
  WH_AUTOCLOSEDIR DIR *d = NULL;
  struct dirent *e;
  int found = 0;

  if (cli_container_name_valid(what)) {
    snprintf(path, sizeof(path), "%s/containers/names/%s", root, what);
    n = readlink(path, target, sizeof(target) - 1);
    if (n > 0) {
      target[n] = '\0';
      if (is_hex_id(target)) {
        memcpy(id_out, target, 65);
        return WH_OK;
      }
    }
  }
  /* an id or a unique prefix of one (at least 4 hex digits) */
  snprintf(path, sizeof(path), "%s/containers", root);
  if (strlen(what) >= 4 && (d = opendir(path))) {
    while ((e = readdir(d))) {
      if (!is_hex_id(e->d_name) || strncmp(e->d_name, what, strlen(what)) != 0)
        continue;
      if (found++)
        return wh_err_set(err, WH_ECONFLICT, 0, "container id prefix \"%s\" is ambiguous", what);
      memcpy(id_out, e->d_name, 65);
    }
  }
  return found ? WH_OK : wh_err_set(err, WH_ENOTFOUND, 0, "no such container: %s", what);
}

enum wh_code cli_container_list(const char *root, cli_container_cb cb, void *ctx, struct wh_err *err)
{
  char path[PATH_MAX];
  WH_AUTOCLOSEDIR DIR *d = NULL;
  struct dirent *e;

  snprintf(path, sizeof(path), "%s/containers", root);
  if (!(d = opendir(path)))
    return errno == ENOENT ? WH_OK : wh_err_set(err, WH_EIO, errno, "open %s", path);
  while ((e = readdir(d))) {
    struct cli_container c;
    if (!is_hex_id(e->d_name) || cli_container_read(root, e->d_name, &c, NULL) != WH_OK)
      continue;
    int stop = cb(ctx, &c);
    cli_container_release(&c);
    if (stop)
      break;
  }
  return WH_OK;
}

void cli_container_mark_stopped(const char *state_dir)
{
  char path[PATH_MAX + 16];
  int fd;

  snprintf(path, sizeof(path), "%s/stopped", state_dir);
  if ((fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600)) >= 0)
    close(fd);
}

int cli_container_lock(const char *state_dir, long wait_ms)
{
  /* the directory itself: no lock file to make at each start */
  int fd = open(state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);

  if (fd < 0)
    return -1;
  for (long waited = 0;; waited += 10) {
    if (flock(fd, LOCK_EX | LOCK_NB) == 0)
      return fd;
    if (errno != EWOULDBLOCK || waited >= wait_ms)
      break;
    struct timespec ts = {0, 10 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  int e = errno;
  close(fd);
  errno = e;
  return -1;
}

/* Unlinks the name link at path when it points at id. */
static void unlink_name(const char *path, const char *id)
{
  char target[128];
  ssize_t n = readlink(path, target, sizeof(target) - 1);

  if (n > 0 && (target[n] = '\0', strcmp(target, id) == 0))
    unlink(path);
}

/* Unlinks every name link pointing at id. */
static void unname(const char *root, const char *id)
{
  char dir[PATH_MAX], link[PATH_MAX + 260];
  WH_AUTOCLOSEDIR DIR *d = NULL;
  struct dirent *e;

  snprintf(dir, sizeof(dir), "%s/containers/names", root);
  if (!(d = opendir(dir)))
    return;
  while ((e = readdir(d))) {
    snprintf(link, sizeof(link), "%s/%s", dir, e->d_name);
    unlink_name(link, id);
  }
}

enum wh_code cli_container_trash(const char *root, const char *id, const char *name, struct wh_err *err)
{
  char from[PATH_MAX], to[PATH_MAX];

  if (name) {
    snprintf(from, sizeof(from), "%s/containers/names/%s", root, name);
    unlink_name(from, id);
  }
  snprintf(from, sizeof(from), "%s/containers/%s", root, id);
  snprintf(to, sizeof(to), "%s/containers/.trash-%s", root, id);
  if (rename(from, to) < 0)
    return wh_err_set(err, WH_EIO, errno, "rename %s", from);
  return WH_OK;
}

/* rmtree of <root>/containers/<name> */
static enum wh_code remove_dir(const char *root, const char *name, struct wh_err *err)
{
  char dir[PATH_MAX];
  WH_AUTOCLOSE int cfd = -1;

  snprintf(dir, sizeof(dir), "%s/containers", root);
  if ((cfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
    return wh_err_set(err, WH_EIO, errno, "open %s", dir);
  return cli_extract_rmtree_at(cfd, name, err);
}

enum wh_code cli_container_trash_remove(const char *root, const char *id, struct wh_err *err)
{
  char trash[80];

  snprintf(trash, sizeof(trash), ".trash-%s", id);
  return remove_dir(root, trash, err);
}

enum wh_code cli_container_remove(const char *root, const char *id, bool background, struct wh_err *err)
{
  unname(root, id);
  if (!background || cli_container_trash(root, id, NULL, NULL) != WH_OK)
    return remove_dir(root, id, err);
  /* out of sight at once (ps lists hex names only), removed by a
   * grandchild that nobody waits for */
  fflush(NULL);
  pid_t p = fork();
  if (p == 0) {
    if (fork() == 0) {
      setsid();
      cli_container_trash_remove(root, id, NULL);
    }
    _exit(0);
  }
  if (p < 0)
    return cli_container_trash_remove(root, id, err);
  waitpid(p, NULL, 0);
  return WH_OK;
}
