/* client/runtime.c - the process side of a container: namespaces, id
 * maps, mounts, pivot_root, the small init that is pid 1, and the
 * workload's last steps before exec (see client/run.h for the sequence).
 *
 * Invariants: code after fork() never returns into wharf: it ends in exec
 * or _exit(), and reports a failure as one line on the error pipe (its
 * first byte says which exit status the monitor turns it into). Every path
 * inside the container is opened relative to the rootfs fd with
 * openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS) and mounted through
 * /proc/self/fd/N, so an image's symlinks never lead outside it. The
 * monitor is single-threaded while it forks.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/openat2.h>
#include <net/if.h>
#include <poll.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "client/caps.h"
#include "client/cgroup.h"
#include "client/run.h"
#include "client/seccomp.h"
#include "common/cleanup.h"
#include "common/fsutil.h"

/* First byte of an error line: which status the monitor exits with. */
#define FAIL_SETUP 'F'    /* 125 */
#define FAIL_NOEXEC 'N'   /* 126 */
#define FAIL_NOTFOUND 'X' /* 127 */

struct rt {
  const struct cli_run_spec *s;
  int err_w;    /* error pipe, write end (children) */
  int sk;       /* sync socket, child end */
  int rootfd;   /* the container's root directory, once mounted */
  const struct cli_seccomp_prog *seccomp; /* the command's filter (NULL: none) */
  char rootfs[PATH_MAX];
  char upper[PATH_MAX];
  char work[PATH_MAX];
};

/* ---- child side: failing ------------------------------------------------- */

static __attribute__((noreturn, format(printf, 4, 5))) void die(const struct rt *rt, char kind, int errnum,
                                                                 const char *fmt, ...)
{
  char line[1024];
  va_list ap;
  int n;

  line[0] = kind;
  va_start(ap, fmt);
  n = vsnprintf(line + 1, sizeof(line) - 1, fmt, ap);
  va_end(ap);
  if (n < 0)
    n = 0;
  if ((size_t)n >= sizeof(line) - 1)
    n = (int)sizeof(line) - 2;
  n++;
  if (errnum)
    n += snprintf(line + n, sizeof(line) - (size_t)n, ": %s", strerror(errnum));
  if (n >= (int)sizeof(line))
    n = (int)sizeof(line) - 1;
  if (write(rt->err_w, line, (size_t)n) < 0) {
    /* nobody to tell */
  }
  _exit(kind == FAIL_NOTFOUND ? CLI_RUN_EXIT_NOTFOUND
                              : kind == FAIL_NOEXEC ? CLI_RUN_EXIT_NOEXEC : CLI_RUN_EXIT_FAILED);
}

/* ---- confined paths ------------------------------------------------------ */

#define IN_ROOT (RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)

/* Creates every directory of path inside the root (mode 0755), following
 * symlinks only inside it. Returns an O_PATH fd of the last one, or -errno. */
static int mkdir_in_root(int rootfd, const char *path)
{
  char buf[PATH_MAX];
  size_t len = strlen(path);

  if (len >= sizeof(buf))
    return -ENAMETOOLONG;
  memcpy(buf, path, len + 1);
  for (char *p = buf + 1;; p++) {
    if (*p != '/' && *p != '\0')
      continue;
    char c = *p;
    *p = '\0';
    long fd = wh_openat2(rootfd, buf, O_PATH | O_DIRECTORY, 0, IN_ROOT);
    if (fd < 0 && errno == ENOENT) {
      /* the parent resolves inside the root; create the last part there */
      char *slash = strrchr(buf, '/');
      const char *name = slash ? slash + 1 : buf;
      long pfd;
      if (slash == buf || !slash)
        pfd = wh_openat2(rootfd, "/", O_PATH | O_DIRECTORY, 0, IN_ROOT);
      else {
        *slash = '\0';
        pfd = wh_openat2(rootfd, buf, O_PATH | O_DIRECTORY, 0, IN_ROOT);
        *slash = '/';
      }
      if (pfd < 0)
        return -errno;
      if (*name && mkdirat((int)pfd, name, 0755) < 0 && errno != EEXIST) {
        int e = errno;
        close((int)pfd);
        return -e;
      }
      close((int)pfd);
      fd = wh_openat2(rootfd, buf, O_PATH | O_DIRECTORY, 0, IN_ROOT);
    }
    if (fd < 0)
      return -errno;
    *p = c;
    if (c == '\0')
      return (int)fd;
    close((int)fd);
    while (p[1] == '/')
      p++;
    if (p[1] == '\0')
      return mkdir_in_root(rootfd, "/") < 0 ? -ENOENT : (int)wh_openat2(rootfd, buf, O_PATH, 0, IN_ROOT);
  }
}

/* An O_PATH fd of the mount target `path` inside the root: a directory
 * (made when missing) or, with file, a regular file (made when missing;
 * a symlink there is replaced, never followed). Dies on failure. */
static int target_in_root(const struct rt *rt, const char *path, bool file, bool follow)
{
  char parent[PATH_MAX];
  const char *base;
  long fd;
  int pfd;

  if (!file) {
    if (follow) {
      fd = mkdir_in_root(rt->rootfd, path);
      if (fd < 0)
        die(rt, FAIL_SETUP, (int)-fd, "mount target \"%s\"", path);
      return (int)fd;
    }
    fd = wh_openat2(rt->rootfd, path, O_PATH | O_NOFOLLOW, 0, IN_ROOT);
    if (fd < 0 && errno == ENOENT)
      fd = mkdir_in_root(rt->rootfd, path);
    if (fd < 0)
      die(rt, FAIL_SETUP, fd == -1 ? errno : (int)-fd, "mount target \"%s\"", path);
    struct stat st;
    if (fstat((int)fd, &st) < 0 || !S_ISDIR(st.st_mode))
      die(rt, FAIL_SETUP, 0, "the image's \"%s\" is not a directory", path);
    return (int)fd;
  }
  snprintf(parent, sizeof(parent), "%s", path);
  char *slash = strrchr(parent, '/');
  if (!slash || slash[1] == '\0')
    die(rt, FAIL_SETUP, 0, "mount target \"%s\": not a file path", path);
  base = path + (slash - parent) + 1;
  *slash = '\0';
  pfd = mkdir_in_root(rt->rootfd, parent[0] ? parent : "/");
  if (pfd < 0)
    die(rt, FAIL_SETUP, -pfd, "mount target \"%s\"", path);
  {
    /* O_PATH fds cannot serve *at creation calls: reopen as a directory */
    char proc[64];
    snprintf(proc, sizeof(proc), "/proc/self/fd/%d", pfd);
    int dfd = open(proc, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    close(pfd);
    if (dfd < 0)
      die(rt, FAIL_SETUP, errno, "mount target \"%s\"", path);
    struct stat st;
    bool exists = fstatat(dfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0;
    if (exists && !S_ISREG(st.st_mode)) {
      if (S_ISDIR(st.st_mode))
        die(rt, FAIL_SETUP, 0, "mount target \"%s\": the image has a directory there", path);
      if (unlinkat(dfd, base, 0) < 0)
        die(rt, FAIL_SETUP, errno, "replace \"%s\"", path);
      exists = false;
    }
    /* a file there already is left alone: opened to write, overlayfs
     * would copy it (and its directory) up for nothing */
    if (!exists) {
      int f = openat(dfd, base, O_CREAT | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644);
      if (f < 0)
        die(rt, FAIL_SETUP, errno, "mount target \"%s\"", path);
      close(f);
    }
    fd = openat(dfd, base, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    close(dfd);
    if (fd < 0)
      die(rt, FAIL_SETUP, errno, "mount target \"%s\"", path);
  }
  return (int)fd;
}

static void mount_fd(const struct rt *rt, const char *src, int target, const char *type, unsigned long flags,
                     const char *data, const char *what)
{
  char proc[64];

  snprintf(proc, sizeof(proc), "/proc/self/fd/%d", target);
  if (mount(src, proc, type, flags, data) < 0)
    die(rt, FAIL_SETUP, errno, "mount %s", what);
}

/* Remounts read-only what is now mounted at path inside the root. */
/* The flags a bind remount must keep: a mount copied into a user
 * namespace has its nosuid/nodev/noexec/atime flags locked. */
static unsigned long kept_flags(const char *path)
{
  struct statvfs sv;
  unsigned long f = 0;

  if (statvfs(path, &sv) < 0)
    return 0;
  if (sv.f_flag & ST_NOSUID)
    f |= MS_NOSUID;
  if (sv.f_flag & ST_NODEV)
    f |= MS_NODEV;
  if (sv.f_flag & ST_NOEXEC)
    f |= MS_NOEXEC;
  if (sv.f_flag & ST_NOATIME)
    f |= MS_NOATIME;
  if (sv.f_flag & ST_NODIRATIME)
    f |= MS_NODIRATIME;
  if (sv.f_flag & ST_RELATIME)
    f |= MS_RELATIME;
  return f;
}

static int remount_ro_path(const char *path)
{
  return mount(NULL, path, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | kept_flags(path), NULL);
}

/* Remounts read-only what is now mounted at path inside the root. */
static void remount_ro(const struct rt *rt, const char *path, bool file)
{
  int fd = file ? (int)wh_openat2(rt->rootfd, path, O_PATH | O_NOFOLLOW, 0, IN_ROOT)
                : (int)wh_openat2(rt->rootfd, path, O_PATH | O_DIRECTORY, 0, IN_ROOT);
  char proc[64];

  if (fd < 0)
    die(rt, FAIL_SETUP, errno, "read-only \"%s\"", path);
  snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
  if (remount_ro_path(proc) < 0)
    die(rt, FAIL_SETUP, errno, "read-only \"%s\"", path);
  close(fd);
}

/* ---- root filesystem ----------------------------------------------------- */

static void open_rootfd(struct rt *rt)
{
  rt->rootfd = open(rt->rootfs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (rt->rootfd < 0)
    die(rt, FAIL_SETUP, errno, "open rootfs");
}

/* Mounts the overlay (or binds the copied root onto itself) at rootfs. */
static void mount_rootfs(struct rt *rt, bool userxattr)
{
  const struct cli_run_spec *s = rt->s;
  char opts[4096];
  size_t used = 0;
  int n;

  if (s->copied_root) {
    if (mount(rt->rootfs, rt->rootfs, NULL, MS_BIND | MS_REC, NULL) < 0)
      die(rt, FAIL_SETUP, errno, "bind the root filesystem");
    open_rootfd(rt);
    return;
  }
  if (chdir(s->layers_dir) < 0)
    die(rt, FAIL_SETUP, errno, "layer cache \"%s\"", s->layers_dir);
  n = snprintf(opts, sizeof(opts), "lowerdir=");
  used = (size_t)n;
  for (size_t i = 0; i < s->n_lowers; i++) {
    n = snprintf(opts + used, sizeof(opts) - used, "%s%s", i ? ":" : "", s->lowers[i]);
    if (n < 0 || (size_t)n >= sizeof(opts) - used)
      die(rt, FAIL_SETUP, 0, "too many layers for one overlay mount (%zu)", s->n_lowers);
    used += (size_t)n;
  }
  /* no redirect_dir and no metacopy: an upper directory must be what a
   * layer can say (wharf build turns it into one); "userxattr" turns both
   * off itself and refuses them as options */
  n = snprintf(opts + used, sizeof(opts) - used, ",upperdir=%s,workdir=%s%s", rt->upper, rt->work,
               userxattr ? ",userxattr" : ",redirect_dir=off,metacopy=off");
  if (n < 0 || (size_t)n >= sizeof(opts) - used)
    die(rt, FAIL_SETUP, 0, "overlay options too long");
  if (mount("overlay", rt->rootfs, "overlay", MS_NODEV, opts) < 0)
    die(rt, FAIL_SETUP, errno, "mount the overlay root filesystem");
  if (chdir("/") < 0)
    die(rt, FAIL_SETUP, errno, "chdir /");
  open_rootfd(rt);
}

/* Bind mounts: volumes (followed inside the root, as docker does) and the
 * generated /etc files (never followed). tmpfs mounts wait for pid 1. */
static void mount_binds(struct rt *rt)
{
  const struct cli_run_spec *s = rt->s;

  for (size_t i = 0; i < s->n_mounts; i++) {
    const struct cli_mount *m = &s->mounts[i];
    bool file = m->flags & CLI_MOUNT_FILE;
    if (m->flags & CLI_MOUNT_TMPFS)
      continue;
    struct stat st;
    if (!file && stat(m->src, &st) == 0 && !S_ISDIR(st.st_mode))
      file = true;
    int t = target_in_root(rt, m->dst, file, !(m->flags & CLI_MOUNT_FILE));
    mount_fd(rt, m->src, t, NULL, MS_BIND | MS_REC, NULL, m->dst);
    close(t);
    if (m->flags & CLI_MOUNT_RO)
      remount_ro(rt, m->dst, file);
  }
}

static void mount_tmpfs(struct rt *rt)
{
  const struct cli_run_spec *s = rt->s;

  for (size_t i = 0; i < s->n_mounts; i++) {
    const struct cli_mount *m = &s->mounts[i];
    if (!(m->flags & CLI_MOUNT_TMPFS))
      continue;
    int t = target_in_root(rt, m->dst, false, true);
    mount_fd(rt, "tmpfs", t, "tmpfs", MS_NOSUID | MS_NODEV | ((m->flags & CLI_MOUNT_RO) ? MS_RDONLY : 0),
             m->data ? m->data : "mode=1777", m->dst);
    close(t);
  }
}

/* ---- pid 1's mounts: /proc, /sys, /dev ---------------------------------- */

static const char *const masked_paths[] = {
    "/proc/acpi",          "/proc/kcore",         "/proc/keys",       "/proc/latency_stats",
    "/proc/timer_list",    "/proc/timer_stats",   "/proc/sched_debug", "/proc/scsi",
    "/sys/firmware",       "/sys/devices/virtual/powercap",
};
static const char *const readonly_paths[] = {
    "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
};

static void mask_paths(struct rt *rt)
{
  for (size_t i = 0; i < WH_ARRAY_LEN(masked_paths); i++) {
    long fd = wh_openat2(rt->rootfd, masked_paths[i], O_PATH | O_NOFOLLOW, 0, IN_ROOT | RESOLVE_NO_SYMLINKS);
    struct stat st;
    if (fd < 0)
      continue; /* absent on this kernel */
    if (fstat((int)fd, &st) == 0 && S_ISDIR(st.st_mode))
      mount_fd(rt, "tmpfs", (int)fd, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=0", "mask");
    else
      mount_fd(rt, "/dev/null", (int)fd, NULL, MS_BIND, NULL, "mask");
    close((int)fd);
  }
  for (size_t i = 0; i < WH_ARRAY_LEN(readonly_paths); i++) {
    long fd = wh_openat2(rt->rootfd, readonly_paths[i], O_PATH | O_NOFOLLOW, 0, IN_ROOT | RESOLVE_NO_SYMLINKS);
    char proc[64];
    if (fd < 0)
      continue;
    snprintf(proc, sizeof(proc), "/proc/self/fd/%d", (int)fd);
    if (mount(proc, proc, NULL, MS_BIND | MS_REC, NULL) < 0)
      die(rt, FAIL_SETUP, errno, "bind %s", readonly_paths[i]);
    close((int)fd);
    struct stat st;
    remount_ro(rt, readonly_paths[i], lstat(readonly_paths[i], &st) == 0 && !S_ISDIR(st.st_mode));
  }
}

static const char *const dev_nodes[] = {"null", "zero", "full", "random", "urandom", "tty"};

static void mount_dev(struct rt *rt)
{
  int t = target_in_root(rt, "/dev", false, false);

  mount_fd(rt, "tmpfs", t, "tmpfs", MS_NOSUID | MS_STRICTATIME, "mode=755,size=65536k", "/dev");
  close(t);
  int dfd = (int)wh_openat2(rt->rootfd, "/dev", O_RDONLY | O_DIRECTORY, 0, IN_ROOT | RESOLVE_NO_SYMLINKS);
  if (dfd < 0)
    die(rt, FAIL_SETUP, errno, "open /dev");
  for (size_t i = 0; i < WH_ARRAY_LEN(dev_nodes); i++) {
    char host[32], proc[64];
    int f = openat(dfd, dev_nodes[i], O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0666);
    if (f < 0)
      die(rt, FAIL_SETUP, errno, "create /dev/%s", dev_nodes[i]);
    snprintf(host, sizeof(host), "/dev/%s", dev_nodes[i]);
    snprintf(proc, sizeof(proc), "/proc/self/fd/%d", f);
    if (mount(host, proc, NULL, MS_BIND, NULL) < 0)
      die(rt, FAIL_SETUP, errno, "bind %s", host);
    close(f);
  }
  if (mkdirat(dfd, "pts", 0755) < 0 || mkdirat(dfd, "shm", 01777) < 0 || mkdirat(dfd, "mqueue", 0755) < 0)
    die(rt, FAIL_SETUP, errno, "populate /dev");
  t = (int)wh_openat2(dfd, "pts", O_PATH | O_DIRECTORY, 0, IN_ROOT | RESOLVE_NO_SYMLINKS);
  mount_fd(rt, "devpts", t, "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620", "/dev/pts");
  close(t);
  t = (int)wh_openat2(dfd, "shm", O_PATH | O_DIRECTORY, 0, IN_ROOT | RESOLVE_NO_SYMLINKS);
  mount_fd(rt, "shm", t, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=1777,size=65536k", "/dev/shm");
  close(t);
  t = (int)wh_openat2(dfd, "mqueue", O_PATH | O_DIRECTORY, 0, IN_ROOT | RESOLVE_NO_SYMLINKS);
  {
    char proc[64];
    snprintf(proc, sizeof(proc), "/proc/self/fd/%d", t);
    (void)mount("mqueue", proc, "mqueue", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL); /* optional */
  }
  close(t);
  if (symlinkat("pts/ptmx", dfd, "ptmx") < 0 || symlinkat("/proc/self/fd", dfd, "fd") < 0 ||
      symlinkat("/proc/self/fd/0", dfd, "stdin") < 0 || symlinkat("/proc/self/fd/1", dfd, "stdout") < 0 ||
      symlinkat("/proc/self/fd/2", dfd, "stderr") < 0)
    die(rt, FAIL_SETUP, errno, "populate /dev");
  close(dfd);
}

static void mount_proc_sys(struct rt *rt)
{
  const struct cli_run_spec *s = rt->s;
  int t = target_in_root(rt, "/proc", false, false);

  mount_fd(rt, "proc", t, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL, "/proc");
  close(t);
  t = target_in_root(rt, "/sys", false, false);
  {
    char proc[64];
    unsigned long ro = s->privileged ? 0 : MS_RDONLY;
    snprintf(proc, sizeof(proc), "/proc/self/fd/%d", t);
    if (s->net == CLI_NET_HOST || mount("sysfs", proc, "sysfs", ro | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0) {
      /* a sysfs of the host's network namespace: bind it instead */
      if (mount("/sys", proc, NULL, MS_BIND | MS_REC, NULL) < 0)
        die(rt, FAIL_SETUP, errno, "mount /sys");
      if (ro)
        remount_ro(rt, "/sys", false);
    }
  }
  close(t);
}

static void loopback_up(const struct rt *rt)
{
  struct ifreq ifr;
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

  if (fd < 0)
    die(rt, FAIL_SETUP, errno, "loopback");
  memset(&ifr, 0, sizeof(ifr));
  snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
  if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
    die(rt, FAIL_SETUP, errno, "loopback");
  ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
  if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
    die(rt, FAIL_SETUP, errno, "bring loopback up");
  close(fd);
}

static void do_pivot_root(struct rt *rt)
{
  if (fchdir(rt->rootfd) < 0)
    die(rt, FAIL_SETUP, errno, "chdir rootfs");
  if (syscall(SYS_pivot_root, ".", ".") < 0)
    die(rt, FAIL_SETUP, errno, "pivot_root");
  if (umount2(".", MNT_DETACH) < 0)
    die(rt, FAIL_SETUP, errno, "detach the old root");
  if (chdir("/") < 0)
    die(rt, FAIL_SETUP, errno, "chdir /");
  close(rt->rootfd);
  rt->rootfd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (rt->rootfd < 0)
    die(rt, FAIL_SETUP, errno, "open /");
  if (rt->s->read_only && remount_ro_path("/") < 0)
    die(rt, FAIL_SETUP, errno, "read-only root");
}

/* ---- the workload --------------------------------------------------------- */

/* Looks up name (or a number) in the container's /etc/passwd or
 * /etc/group, after pivot_root: its symlinks resolve inside the container. */
static bool lookup_id(const char *file, const char *name, unsigned *id, unsigned *gid, char *home, size_t home_size)
{
  FILE *f = fopen(file, "re");
  char line[1024];
  bool found = false;

  if (!f)
    return false;
  while (fgets(line, sizeof(line), f)) {
    char *fields[7] = {0};
    char *p = line;
    size_t n = 0;
    line[strcspn(line, "\n")] = '\0';
    while (n < 7) {
      fields[n++] = p;
      p = strchr(p, ':');
      if (!p)
        break;
      *p++ = '\0';
    }
    if (n < 3 || strcmp(fields[0], name) != 0)
      continue;
    *id = (unsigned)strtoul(fields[2], NULL, 10);
    if (gid && n >= 4)
      *gid = (unsigned)strtoul(fields[3], NULL, 10);
    if (home && n >= 6)
      snprintf(home, home_size, "%s", fields[5]);
    found = true;
    break;
  }
  fclose(f);
  return found;
}

static bool all_digits(const char *s)
{
  if (!*s)
    return false;
  for (; *s; s++)
    if (*s < '0' || *s > '9')
      return false;
  return true;
}

/* Supplementary groups of user name from /etc/group (bounded). */
static size_t user_groups(const char *name, gid_t *out, size_t max)
{
  FILE *f = fopen("/etc/group", "re");
  char line[4096];
  size_t n = 0;

  if (!f)
    return 0;
  while (n < max && fgets(line, sizeof(line), f)) {
    char *gname = line, *pw, *gid, *members;
    line[strcspn(line, "\n")] = '\0';
    if (!(pw = strchr(gname, ':')) || !(gid = strchr(pw + 1, ':')) || !(members = strchr(gid + 1, ':')))
      continue;
    *members++ = '\0';
    for (char *m = members, *next; m && *m && n < max; m = next) {
      next = strchr(m, ',');
      if (next)
        *next++ = '\0';
      if (strcmp(m, name) == 0)
        out[n++] = (gid_t)strtoul(gid + 1, NULL, 10);
    }
  }
  fclose(f);
  return n;
}

/* Switches to -u user[:group]; sets HOME in env when absent. */
static void switch_user(const struct rt *rt, char *home, size_t home_size)
{
  const char *spec = rt->s->user;
  char user[256], group[256] = "";
  unsigned uid = 0, gid = 0;
  gid_t groups[64];
  size_t ng = 0;

  snprintf(home, home_size, "/root");
  if (!spec || !*spec)
    spec = "0";
  snprintf(user, sizeof(user), "%s", spec);
  char *colon = strchr(user, ':');
  if (colon) {
    *colon = '\0';
    snprintf(group, sizeof(group), "%s", colon + 1);
  }
  if (all_digits(user)) {
    uid = (unsigned)strtoul(user, NULL, 10);
    char name[32];
    /* a numeric user may still have a passwd line with a group */
    FILE *f = fopen("/etc/passwd", "re");
    char line[1024];
    gid = uid == 0 ? 0 : uid;
    while (f && fgets(line, sizeof(line), f)) {
      unsigned u = 0, g = 0;
      char *a = strchr(line, ':'), *b = a ? strchr(a + 1, ':') : NULL;
      if (!b)
        continue;
      u = (unsigned)strtoul(b + 1, NULL, 10);
      if (u != uid)
        continue;
      snprintf(name, sizeof(name), "%.*s", (int)(a - line), line);
      if (lookup_id("/etc/passwd", name, &u, &g, home, home_size))
        gid = g;
      ng = user_groups(name, groups, WH_ARRAY_LEN(groups));
      break;
    }
    if (f)
      fclose(f);
  } else {
    if (!lookup_id("/etc/passwd", user, &uid, &gid, home, home_size))
      die(rt, FAIL_SETUP, 0, "unable to find user %s: no matching entries in passwd file", user);
    ng = user_groups(user, groups, WH_ARRAY_LEN(groups));
  }
  if (group[0]) {
    if (all_digits(group))
      gid = (unsigned)strtoul(group, NULL, 10);
    else if (!lookup_id("/etc/group", group, &gid, NULL, NULL, 0))
      die(rt, FAIL_SETUP, 0, "unable to find group %s: no matching entries in group file", group);
  }
  if (!rt->s->idmap.rootless && setgroups(ng, groups) < 0)
    die(rt, FAIL_SETUP, errno, "setgroups");
  if (setresgid(gid, gid, gid) < 0)
    die(rt, FAIL_SETUP, errno, "setgid %u", gid);
  if (setresuid(uid, uid, uid) < 0)
    die(rt, FAIL_SETUP, errno, "setuid %u", uid);
}

/* The working directory: made when missing (as root, before the user
 * switch), then entered without following magic links. */
static int open_cwd(const struct rt *rt)
{
  const char *cwd = rt->s->cwd && *rt->s->cwd ? rt->s->cwd : "/";
  long fd;

  if (cwd[0] != '/')
    die(rt, FAIL_SETUP, 0, "working directory \"%s\" is not absolute", cwd);
  fd = wh_openat2(rt->rootfd, cwd, O_PATH | O_DIRECTORY, 0, IN_ROOT);
  if (fd < 0 && errno == ENOENT)
    fd = mkdir_in_root(rt->rootfd, cwd);
  if (fd < 0)
    die(rt, FAIL_SETUP, fd == -1 ? errno : (int)-fd, "working directory \"%s\"", cwd);
  return (int)fd;
}

static const char *env_get(char **env, const char *name)
{
  size_t n = strlen(name);

  for (char **e = env; e && *e; e++)
    if (strncmp(*e, name, n) == 0 && (*e)[n] == '=')
      return *e + n + 1;
  return NULL;
}

/* execve of argv[0] searched in the container's PATH (not wharf's). */
static __attribute__((noreturn)) void exec_workload(const struct rt *rt, char **env)
{
  char *const *argv = rt->s->argv;
  const char *path = env_get(env, "PATH");
  char full[PATH_MAX];
  int last = ENOENT;

  if (!argv || !argv[0] || !*argv[0])
    die(rt, FAIL_SETUP, 0, "no command: the image has no Entrypoint or Cmd and none was given");
  if (strchr(argv[0], '/')) {
    execve(argv[0], argv, env);
    last = errno;
  } else {
    if (!path)
      path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    for (const char *p = path; *p;) {
      const char *colon = strchrnul(p, ':');
      int n = snprintf(full, sizeof(full), "%.*s/%s", (int)(colon - p), colon == p ? "." : p, argv[0]);
      if (n > 0 && (size_t)n < sizeof(full)) {
        execve(full, argv, env);
        if (errno != ENOENT && errno != ENOTDIR)
          last = errno;
      }
      p = *colon ? colon + 1 : colon;
    }
  }
  die(rt, last == ENOENT || last == ENOTDIR ? FAIL_NOTFOUND : FAIL_NOEXEC, last,
      "exec \"%s\"%s", argv[0], strchr(argv[0], '/') ? "" : " (searched in $PATH)");
}

/* Sets the effective set to the permitted one (after a setuid with
 * keepcaps), or clears all three sets (clear). */
static void capset_raw(const struct rt *rt, bool clear)
{
  struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3};
  struct __user_cap_data_struct d[2];

  memset(d, 0, sizeof(d));
  if (!clear) {
    if (syscall(SYS_capget, &h, d) < 0)
      die(rt, FAIL_SETUP, errno, "capget");
    for (int i = 0; i < 2; i++)
      d[i].effective = d[i].permitted;
  }
  if (syscall(SYS_capset, &h, d) < 0)
    die(rt, FAIL_SETUP, errno, "capset");
}

static void apply_security(const struct rt *rt)
{
  const struct cli_run_spec *s = rt->s;
  struct wh_err err;
  struct cli_capset keep = {.bits = s->caps};
  bool root = geteuid() == 0;

  if (!root)
    capset_raw(rt, false);
  if (cli_caps_apply(&keep, &err) != WH_OK)
    die(rt, FAIL_SETUP, 0, "capabilities: %s", err.msg);
  if (!root)
    capset_raw(rt, true);
  if (s->privileged)
    return;
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
    die(rt, FAIL_SETUP, errno, "no_new_privs");
}

static __attribute__((noreturn)) void workload(struct rt *rt, const char *pts)
{
  char home[PATH_MAX];
  char **env = rt->s->env;
  sigset_t none;
  int cwd = open_cwd(rt);

  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  for (int sig = 1; sig < NSIG; sig++)
    signal(sig, SIG_DFL);
  if (setsid() < 0)
    die(rt, FAIL_SETUP, errno, "setsid");
  if (pts) {
    int fd = open(pts, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (fd < 0 || ioctl(fd, TIOCSCTTY, 0) < 0)
      die(rt, FAIL_SETUP, errno, "open the terminal %s", pts);
    for (int i = 0; i < 3; i++)
      if (dup2(fd, i) < 0)
        die(rt, FAIL_SETUP, errno, "terminal");
    close(fd);
  } else if (rt->s->out_fd >= 0) {
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (fd < 0 || dup2(fd, 0) < 0 || dup2(rt->s->out_fd, 1) < 0 || dup2(rt->s->out_fd, 2) < 0)
      die(rt, FAIL_SETUP, errno, "stdio");
    close(fd);
  } else if (!rt->s->interactive) {
    /* as docker: without -i the command reads nothing */
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (fd < 0 || dup2(fd, 0) < 0)
      die(rt, FAIL_SETUP, errno, "stdin");
    close(fd);
  }
  /* the user first, keeping the capabilities through setuid; then the
   * bounding set and the kept set; a non-root user ends with none in
   * effect, as docker does */
  if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
    die(rt, FAIL_SETUP, errno, "keepcaps");
  switch_user(rt, home, sizeof(home));
  prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
  apply_security(rt);
  if (fchdir(cwd) < 0)
    die(rt, FAIL_SETUP, errno, "working directory \"%s\"", rt->s->cwd);
  close(cwd);
  if (!env_get(env, "HOME")) {
    size_t n = 0;
    while (env && env[n])
      n++;
    char **e2 = calloc(n + 2, sizeof(*e2));
    char *h = malloc(strlen(home) + 6);
    if (!e2 || !h)
      die(rt, FAIL_SETUP, ENOMEM, "environment");
    memcpy(e2, env, n * sizeof(*e2));
    snprintf(h, strlen(home) + 6, "HOME=%s", home);
    e2[n] = h;
    env = e2;
  }
  if (close_range(3, ~0u, CLOSE_RANGE_CLOEXEC) < 0)
    die(rt, FAIL_SETUP, errno, "close_range");
  if (rt->seccomp) {
    struct wh_err err;
    if (cli_seccomp_load(rt->seccomp, &err) != WH_OK)
      die(rt, FAIL_SETUP, 0, "%s", err.msg);
  }
  exec_workload(rt, env);
}

/* ---- pid 1 ---------------------------------------------------------------- */

static int status_of(int wstatus)
{
  if (WIFEXITED(wstatus))
    return WEXITSTATUS(wstatus);
  if (WIFSIGNALED(wstatus))
    return 128 + WTERMSIG(wstatus);
  return CLI_RUN_EXIT_FAILED;
}

/* Sends fd over the socket (SCM_RIGHTS) with one byte of data. */
static int send_fd(int sk, int fd)
{
  char byte = 'T';
  struct iovec iov = {.iov_base = &byte, .iov_len = 1};
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } u;
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof(u.buf)};
  struct cmsghdr *c = CMSG_FIRSTHDR(&msg);

  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(c), &fd, sizeof(int));
  return sendmsg(sk, &msg, MSG_NOSIGNAL) == 1 ? 0 : -1;
}

/* Waits until the monitor gave the terminal the caller's size, so the
 * command never starts on a 0x0 terminal. */
static void term_sized(const struct rt *rt)
{
  char c;

  if (read(rt->sk, &c, 1) != 1 || c != 'W')
    _exit(CLI_RUN_EXIT_FAILED);
}

/* A pty from the container's own devpts: its master goes to the monitor
 * (which relays the caller's terminal), pts gets the slave's name for the
 * command; returns once the monitor set the size. */
static void hand_terminal(const struct rt *rt, char *pts, size_t size)
{
  int m = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);

  if (m < 0 || grantpt(m) < 0 || unlockpt(m) < 0 || ptsname_r(m, pts, size) != 0)
    die(rt, FAIL_SETUP, errno, "allocate a terminal");
  if (send_fd(rt->sk, m) < 0)
    die(rt, FAIL_SETUP, errno, "pass the terminal");
  close(m);
  term_sized(rt);
}

/* The command ended: whatever else runs in the container is killed and
 * reaped, then the monitor hears the status ("X<status>" on notify)
 * before pid 1 exits, so the teardown of the namespaces (RCU grace
 * periods for the unmounts: milliseconds) runs after, not before, the
 * caller gets the status. */
static __attribute__((noreturn)) void init_exit(int notify, int status)
{
  char msg[16];
  int n;

  kill(-1, SIGKILL); /* every process of this pid namespace but pid 1 */
  while (waitpid(-1, NULL, 0) > 0)
    ;
  n = snprintf(msg, sizeof(msg), "X%d", status);
  if (write(notify, msg, (size_t)n) != n) {
    /* the monitor is gone or waits for our exit instead */
  }
  _exit(status);
}

static __attribute__((noreturn)) void init_loop(pid_t child, int notify)
{
  sigset_t all;

  sigfillset(&all);
  for (;;) {
    siginfo_t si;
    int sig = sigwaitinfo(&all, &si);
    if (sig < 0)
      continue;
    if (sig != SIGCHLD) {
      kill(child, sig);
      continue;
    }
    for (;;) {
      int ws;
      pid_t p = waitpid(-1, &ws, WNOHANG);
      if (p <= 0)
        break;
      if (p == child)
        init_exit(notify, status_of(ws));
    }
  }
}

/* A stack for a process cloned with CLONE_VM: it shares our memory, so it
 * cannot run on a copy of our stack. Mapped once with a guard page below,
 * never unmapped (it lives as long as the memory). */
static void *clone_stack(const struct rt *rt)
{
  size_t size = 1 << 20, guard = (size_t)sysconf(_SC_PAGESIZE);
  char *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);

  if (p == MAP_FAILED || mprotect(p, guard, PROT_NONE) < 0)
    die(rt, FAIL_SETUP, errno, "map a stack");
  return p + size; /* stacks grow down on every architecture wharf builds for */
}

struct workload_arg {
  struct rt *rt;
  const char *pts;
};

static int workload_main(void *arg)
{
  struct workload_arg *w = arg;

  workload(w->rt, w->pts);
}

static __attribute__((noreturn)) void pid1(struct rt *rt)
{
  const struct cli_run_spec *s = rt->s;
  char pts[64] = "";
  sigset_t all;
  pid_t child;

  /* the monitor is the parent (CLONE_PARENT): pid 1 dies with it */
  if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
    die(rt, FAIL_SETUP, errno, "pdeathsig");
  if (s->idmap.rootless) {
    mount_rootfs(rt, true);
    mount_binds(rt);
  }
  mount_proc_sys(rt);
  mount_dev(rt);
  mount_tmpfs(rt);
  if (!s->privileged)
    mask_paths(rt);
  do_pivot_root(rt);
  if (s->hostname && sethostname(s->hostname, strlen(s->hostname)) < 0)
    die(rt, FAIL_SETUP, errno, "sethostname");
  if (s->net == CLI_NET_PRIVATE)
    loopback_up(rt);
  if (s->tty)
    hand_terminal(rt, pts, sizeof(pts));
  if (s->n_ports) {
    /* the monitor sets up the published ports before the command runs */
    char c;
    if (read(rt->sk, &c, 1) != 1 || c != 'N')
      _exit(CLI_RUN_EXIT_FAILED);
  }
  /* /proc/1/exe must not be openable from inside. Without root, container
   * root is the caller itself (nothing to guard against it), and pid 1
   * stays dumpable so the caller's `wharf exec` may open its namespaces. */
  if (!s->idmap.rootless && prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
    die(rt, FAIL_SETUP, errno, "dumpable");
  sigfillset(&all);
  sigprocmask(SIG_BLOCK, &all, NULL);
  /* The command runs in our memory, not a copy of it, until its exec;
   * we wait for that exec (CLONE_VFORK), so nothing runs beside it. */
  struct workload_arg w = {.rt = rt, .pts = pts[0] ? pts : NULL};
  child = clone(workload_main, clone_stack(rt), CLONE_VM | CLONE_VFORK | SIGCHLD, &w);
  if (child < 0)
    die(rt, FAIL_SETUP, errno, "start the command");
  close(rt->err_w);
  close(rt->rootfd);
  init_loop(child, rt->sk);
}

static int pid1_main(void *arg)
{
  pid1(arg);
}

/* ---- the first child ------------------------------------------------------ */

/* The monitor's "M" (the id maps are written), followed by the command's
 * seccomp filter when it has one: the monitor compiles it while we set
 * up, and our children inherit it from here. */
static void sync_mapped(struct rt *rt)
{
  static struct cli_seccomp_prog prog;
  size_t max = 1 + BPF_MAXINSNS * sizeof(struct sock_filter);
  char *buf = malloc(max);
  ssize_t n = buf ? read(rt->sk, buf, max) : -1;

  if (n < 1 || buf[0] != 'M' || (size_t)(n - 1) % sizeof(struct sock_filter) != 0)
    _exit(CLI_RUN_EXIT_FAILED); /* the monitor failed and said why */
  if (n > 1) {
    memmove(buf, buf + 1, (size_t)n - 1); /* aligned for the instructions */
    prog.insns = (struct sock_filter *)(void *)buf;
    prog.len = (unsigned short)((size_t)(n - 1) / sizeof(struct sock_filter));
    rt->seccomp = &prog;
  } else {
    free(buf);
  }
}

/* Closes every fd from 3 up but those in keep (ascending, -1s first). */
static void close_all_but(const int *keep, size_t n)
{
  unsigned from = 3;

  for (size_t i = 0; i < n; i++) {
    if (keep[i] < (int)from)
      continue;
    if ((unsigned)keep[i] > from)
      close_range(from, (unsigned)keep[i] - 1, 0);
    from = (unsigned)keep[i] + 1;
  }
  close_range(from, ~0u, 0);
}

static int cmp_int(const void *a, const void *b)
{
  return (*(const int *)a > *(const int *)b) - (*(const int *)a < *(const int *)b);
}

static __attribute__((noreturn)) void first_child(struct rt *rt)
{
  const struct cli_run_spec *s = rt->s;
  int nsflags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWCGROUP;
  int keep[] = {rt->err_w, rt->sk, s->out_fd};
  pid_t p;
  char msg[32];

  if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
    die(rt, FAIL_SETUP, errno, "pdeathsig");
  /* pid 1 never execs: none of the monitor's fds (its lock on the state
   * directory, the signalfd, ...) may follow it into the container */
  qsort(keep, WH_ARRAY_LEN(keep), sizeof(keep[0]), cmp_int);
  close_all_but(keep, WH_ARRAY_LEN(keep));
  if (!s->idmap.rootless) {
    if (unshare(CLONE_NEWNS) < 0)
      die(rt, FAIL_SETUP, errno, "unshare the mount namespace");
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
      die(rt, FAIL_SETUP, errno, "make / private");
    mount_rootfs(rt, false);
    mount_binds(rt);
  }
  if (unshare(CLONE_NEWUSER) < 0)
    die(rt, FAIL_SETUP, errno, "unshare the user namespace");
  if (write(rt->sk, "U", 1) != 1)
    _exit(CLI_RUN_EXIT_FAILED);
  sync_mapped(rt);
  if (s->net != CLI_NET_HOST)
    nsflags |= CLONE_NEWNET;
  if (unshare(nsflags) < 0)
    die(rt, FAIL_SETUP, errno, "unshare namespaces");
  if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
    die(rt, FAIL_SETUP, errno, "make / private");
  if (rt->rootfd >= 0) {
    /* The fd names the mount of the namespace we left, and this one's copy
     * is locked (pivot_root refuses it): bind the root onto itself here
     * and open that, while still the host's root by id (the state dir is
     * 0700). */
    close(rt->rootfd);
    if (mount(rt->rootfs, rt->rootfs, NULL, MS_BIND | MS_REC, NULL) < 0)
      die(rt, FAIL_SETUP, errno, "bind the root filesystem");
    open_rootfd(rt);
  }
  if (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0)
    die(rt, FAIL_SETUP, errno, "become root in the user namespace");
  /* the id change made us non-dumpable: /proc/self/fd would be refused */
  if (prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) < 0)
    die(rt, FAIL_SETUP, errno, "dumpable");
  /* pid 1 becomes the monitor's child, not ours, and takes over our memory
   * rather than a copy of it: from here we only report its pid (stack
   * and system calls, no allocation) and exit. */
  p = clone(pid1_main, clone_stack(rt), CLONE_VM | CLONE_PARENT | SIGCHLD, rt);
  if (p < 0)
    die(rt, FAIL_SETUP, errno, "start pid 1");
  snprintf(msg, sizeof(msg), "P%d", (int)p);
  if (write(rt->sk, msg, strlen(msg)) < 0)
    _exit(CLI_RUN_EXIT_FAILED);
  _exit(0);
}

/* ---- the monitor ---------------------------------------------------------- */

static enum wh_code write_proc(pid_t pid, const char *file, const char *text, struct wh_err *err)
{
  char path[64];
  WH_AUTOCLOSE int fd = -1;
  size_t n = strlen(text);

  snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, file);
  fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0 || write(fd, text, n) != (ssize_t)n)
    return wh_err_set(err, WH_EIO, errno, "write %s", path);
  return WH_OK;
}

static enum wh_code write_maps(pid_t pid, const struct cli_idmap *m, struct wh_err *err)
{
  char line[128];
  enum wh_code rc;

  if (m->rootless) {
    if ((rc = write_proc(pid, "setgroups", "deny", err)) != WH_OK)
      return rc;
    snprintf(line, sizeof(line), "0 %u 1\n", (unsigned)getuid());
    if ((rc = write_proc(pid, "uid_map", line, err)) != WH_OK)
      return rc;
    snprintf(line, sizeof(line), "0 %u 1\n", (unsigned)getgid());
    return write_proc(pid, "gid_map", line, err);
  }
  snprintf(line, sizeof(line), "0 %u %u\n", (unsigned)m->uid_base, m->count);
  if ((rc = write_proc(pid, "uid_map", line, err)) != WH_OK)
    return rc;
  snprintf(line, sizeof(line), "0 %u %u\n", (unsigned)m->gid_base, m->count);
  return write_proc(pid, "gid_map", line, err);
}

/* Reads the children's error line (EOF: the workload exec'd). */
static enum wh_code read_error(int fd, int *status, struct wh_err *err)
{
  char line[1100];
  size_t used = 0;

  for (;;) {
    ssize_t n = read(fd, line + used, sizeof(line) - 1 - used);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    used += (size_t)n;
    if (used == sizeof(line) - 1)
      break;
  }
  if (used == 0)
    return WH_OK;
  line[used] = '\0';
  *status = line[0] == FAIL_NOTFOUND  ? CLI_RUN_EXIT_NOTFOUND
            : line[0] == FAIL_NOEXEC ? CLI_RUN_EXIT_NOEXEC
                                     : CLI_RUN_EXIT_FAILED;
  return wh_err_set(err, line[0] == FAIL_SETUP ? WH_EIO : WH_ENOTFOUND, 0, "%s", line + 1);
}

struct tty_state {
  bool raw;
  struct termios saved;
};

static void tty_raw(struct tty_state *t)
{
  struct termios raw;

  if (!isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &t->saved) < 0)
    return;
  raw = t->saved;
  cfmakeraw(&raw);
  raw.c_oflag |= OPOST; /* keep output processing: \n stays \r\n on our side */
  if (tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0)
    t->raw = true;
}

static void tty_restore(struct tty_state *t)
{
  if (t->raw)
    tcsetattr(STDIN_FILENO, TCSANOW, &t->saved);
  t->raw = false;
}

static void winsize_copy(int master)
{
  struct winsize ws;

  if (ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) == 0)
    ioctl(master, TIOCSWINSZ, &ws);
}

/* Copies what is readable on from to to; false at EOF or error. */
static bool relay(int from, int to)
{
  char buf[16384];
  ssize_t n = read(from, buf, sizeof(buf));

  if (n <= 0)
    return n < 0 && (errno == EINTR || errno == EAGAIN);
  for (ssize_t off = 0; off < n;) {
    ssize_t w = write(to, buf + off, (size_t)(n - off));
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return false;
    off += w;
  }
  return true;
}

/* Waits for pid1, forwarding signals (and relaying the terminal). With
 * early, returns as soon as pid 1 said the command's status on msk
 * ("X<status>"), leaving pid 1 to finish its exit unreaped; otherwise
 * (or when pid 1 dies without saying) returns once it is reaped. */
static int supervise(pid_t pid1, int sfd, int msk, int master, bool interactive, bool early)
{
  bool in_open = master >= 0 && interactive, out_open = master >= 0, said = false;
  int status = CLI_RUN_EXIT_FAILED;

  for (;;) {
    struct pollfd pf[4] = {{.fd = sfd, .events = POLLIN},
                           {.fd = in_open ? STDIN_FILENO : -1, .events = POLLIN},
                           {.fd = out_open ? master : -1, .events = POLLIN},
                           {.fd = msk, .events = POLLIN}};
    int ws;
    pid_t p;

    while (pid1 > 0 && (p = waitpid(-1, &ws, WNOHANG)) > 0)
      if (p == pid1)
        status = status_of(ws), pid1 = -1;
    if (pid1 < 0 || (said && early)) {
      while (out_open && relay(master, STDOUT_FILENO)) {
        struct pollfd q = {.fd = master, .events = POLLIN};
        if (poll(&q, 1, 0) <= 0)
          break;
      }
      return status;
    }
    /* a bounded wait: a SIGCHLD taken by another thread of the caller
     * would otherwise leave pid 1 unreaped */
    if (poll(pf, 4, 1000) < 0 && errno != EINTR)
      return status;
    if (pf[0].revents & POLLIN) {
      struct signalfd_siginfo si;
      if (read(sfd, &si, sizeof(si)) == sizeof(si)) {
        if (si.ssi_signo == SIGWINCH && master >= 0)
          winsize_copy(master);
        else if (si.ssi_signo != SIGCHLD)
          kill(pid1, (int)si.ssi_signo);
      }
    }
    if (pf[1].revents & (POLLIN | POLLHUP) && !relay(STDIN_FILENO, master)) {
      in_open = false;
      /* EOF on stdin: send the terminal's EOF character */
      if (write(master, "\x04", 1) < 0) {
        /* the container is gone */
      }
    }
    if (pf[2].revents & (POLLIN | POLLHUP) && !relay(master, STDOUT_FILENO))
      out_open = false;
    if (pf[3].revents & (POLLIN | POLLHUP)) {
      char msg[16];
      ssize_t n = read(msk, msg, sizeof(msg) - 1);
      if (n > 1 && msg[0] == 'X') {
        msg[n] = '\0';
        status = (int)strtol(msg + 1, NULL, 10), said = true;
      } else if (n <= 0) {
        msk = -1; /* pid 1 exits without a word: its reaping tells */
      }
    }
  }
}

/* One message of the sync socket: its bytes and, when it carries one, an
 * fd (SCM_RIGHTS). Returns the byte count (<= 0 at EOF or error). */
static ssize_t recv_msg(int sk, char *buf, size_t size, int *fd)
{
  struct iovec iov = {.iov_base = buf, .iov_len = size};
  union {
    char b[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } u;
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.b, .msg_controllen = sizeof(u.b)};
  ssize_t n = recvmsg(sk, &msg, MSG_CMSG_CLOEXEC);
  struct cmsghdr *c = n > 0 ? CMSG_FIRSTHDR(&msg) : NULL;

  *fd = -1;
  if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
    memcpy(fd, CMSG_DATA(c), sizeof(int));
  return n;
}

/* Reads "P<pid>" (the process the child made; the child is reaped) and,
 * for a terminal, the pty master that pid 1 (or the exec'd process) sends,
 * in whichever order they come; then gives the terminal the caller's size
 * and lets the command go on ("W"). */
static enum wh_code take_pid(int msk, int err_r, pid_t child, bool tty, const char *what, pid_t *pid_out,
                             int *master_out, int *status, struct wh_err *err)
{
  bool have_pid = false, reaped = false;
  enum wh_code rc;

  while (!have_pid || (tty && *master_out < 0)) {
    char msg[32];
    int fd;
    ssize_t n = recv_msg(msk, msg, sizeof(msg) - 1, &fd);
    if (n <= 0)
      break;
    if (msg[0] == 'T' && fd >= 0) {
      *master_out = fd;
    } else if (msg[0] == 'P' && n >= 2) {
      msg[n] = '\0';
      *pid_out = (pid_t)strtol(msg + 1, NULL, 10);
      have_pid = true;
      waitpid(child, NULL, 0);
      reaped = true;
    } else if (fd >= 0) {
      close(fd);
    }
  }
  if (!reaped)
    waitpid(child, NULL, 0);
  if (!have_pid || (tty && *master_out < 0)) {
    if (have_pid) {
      kill(*pid_out, SIGKILL);
      waitpid(*pid_out, NULL, 0);
    }
    rc = read_error(err_r, status, err);
    return rc != WH_OK ? rc : wh_err_set(err, WH_EIO, 0, "%s", what);
  }
  if (*master_out >= 0) {
    winsize_copy(*master_out);
    if (write(msk, "W", 1) != 1)
      return wh_err_set(err, WH_EIO, errno, "sync");
  }
  return WH_OK;
}

/* The error pipe's verdict on the start of p: killed and reaped when it failed. */
static enum wh_code started_ok(pid_t p, int err_r, int *status, struct wh_err *err)
{
  enum wh_code rc = read_error(err_r, status, err);

  if (rc != WH_OK) {
    kill(p, SIGKILL);
    waitpid(p, NULL, 0);
  }
  return rc;
}

/* Waits for p with the caller's terminal attached to master (when any). */
static int attach(pid_t p, int sfd, int msk, int master, bool interactive, bool early)
{
  struct tty_state tty = {0};
  int status;

  if (master >= 0) {
    winsize_copy(master);
    if (interactive)
      tty_raw(&tty);
  }
  status = supervise(p, sfd, msk, master, interactive, early);
  tty_restore(&tty);
  return status;
}

static const int forwarded[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH, SIGCHLD, SIGCONT};

/* The monitor's side of a start: the error pipe and the sync socket, the
 * forwarded signals blocked (read from *sfd), then a child running
 * fn(rt, arg) that never returns. The child's ends are closed here. */
static enum wh_code spawn(struct rt *rt, void (*fn)(struct rt *, pid_t), pid_t arg, int *err_r, int *msk,
                          int *sfd, sigset_t *old, pid_t *child, struct wh_err *err)
{
  int errp[2], sk[2];
  sigset_t mask;

  sigprocmask(SIG_BLOCK, NULL, old); /* what the caller restores, whatever happens */
  if (pipe2(errp, O_CLOEXEC) < 0)
    return wh_err_set(err, WH_EIO, errno, "pipe");
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sk) < 0) {
    close(errp[0]), close(errp[1]);
    return wh_err_set(err, WH_EIO, errno, "socketpair");
  }
  *err_r = errp[0];
  *msk = sk[0];
  rt->err_w = errp[1];
  rt->sk = sk[1];
  sigemptyset(&mask);
  for (size_t i = 0; i < WH_ARRAY_LEN(forwarded); i++)
    sigaddset(&mask, forwarded[i]);
  sigprocmask(SIG_BLOCK, &mask, old);
  *sfd = signalfd(-1, &mask, SFD_CLOEXEC);
  fflush(NULL);
  *child = fork();
  if (*child == 0) {
    close(*err_r), close(*msk);
    fn(rt, arg);
  }
  close(rt->err_w), close(rt->sk);
  rt->err_w = rt->sk = -1;
  return *child < 0 ? wh_err_set(err, WH_EIO, errno, "fork") : WH_OK;
}

/* The command's seccomp filter, compiled by the monitor (none when
 * privileged), or read as kept in the layer cache by an earlier start:
 * the command loads it with one system call. */
static enum wh_code compile_seccomp(struct rt *rt, struct cli_seccomp_prog *prog, struct wh_err *err)
{
  enum wh_code rc;

  if (rt->s->privileged)
    return WH_OK;
  if ((rc = cli_seccomp_compile_kept(rt->s->layers_dir, cli_seccomp_flags_for_caps(rt->s->caps), prog, NULL,
                                     err)) == WH_OK)
    rt->seccomp = prog;
  return rc;
}

/* "M" and the compiled filter (see sync_mapped()); a child that died
 * first makes it fail, never SIGPIPE. */
static enum wh_code send_mapped(int msk, const struct cli_seccomp_prog *prog, struct wh_err *err)
{
  size_t n = prog ? (size_t)prog->len * sizeof(*prog->insns) : 0;
  struct iovec iov[2] = {{.iov_base = "M", .iov_len = 1}, {.iov_base = prog ? prog->insns : NULL, .iov_len = n}};
  struct msghdr msg = {.msg_iov = iov, .msg_iovlen = n ? 2 : 1};

  if (sendmsg(msk, &msg, MSG_NOSIGNAL) != (ssize_t)(1 + n))
    return wh_err_set(err, WH_EIO, errno, "sync");
  return WH_OK;
}

static __attribute__((noreturn)) void run_child(struct rt *rt, pid_t unused)
{
  (void)unused;
  first_child(rt);
}

enum wh_code cli_runtime_run(const struct cli_run_spec *s, cli_run_started_cb hook, void *ctx, int *status,
                             struct wh_err *err)
{
  struct rt rt = {.s = s, .err_w = -1, .sk = -1, .rootfd = -1};
  WH_AUTOCLOSE int err_r = -1, msk = -1, sfd = -1, master = -1;
  struct cli_cgroup *cg = NULL;
  struct cli_slirp slirp = {.pid = -1, .exit_fd = -1};
  struct cli_seccomp_prog prog = {0};
  sigset_t old;
  pid_t child, p1 = -1;
  char msg[32], warn[512] = "";
  enum wh_code rc = WH_EIO;
  ssize_t n;

  *status = CLI_RUN_EXIT_FAILED;
  snprintf(rt.rootfs, sizeof(rt.rootfs), "%s/rootfs", s->state_dir);
  snprintf(rt.upper, sizeof(rt.upper), "%s/upper", s->state_dir);
  snprintf(rt.work, sizeof(rt.work), "%s/work", s->state_dir);
  if (s->memory_bytes || s->cpu_quota_us || s->pids_max) {
    struct cli_limits l = {.memory_bytes = s->memory_bytes,
                           .cpu_quota_us = s->cpu_quota_us,
                           .cpu_period_us = s->cpu_period_us,
                           .pids_max = s->pids_max};
    if (cli_cgroup_create(s->id, &l, &cg, warn, sizeof(warn), err) != WH_OK)
      return err->code;
    if (warn[0])
      fprintf(stderr, "wharf: warning: %s\n", warn);
  }
  if ((rc = spawn(&rt, run_child, 0, &err_r, &msk, &sfd, &old, &child, err)) != WH_OK)
    goto out;
  /* while the child sets its namespaces up: the command's filter */
  if ((rc = compile_seccomp(&rt, &prog, err)) != WH_OK) {
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    goto out;
  }
  n = read(msk, msg, sizeof(msg) - 1);
  if (n != 1 || msg[0] != 'U') {
    waitpid(child, NULL, 0);
    rc = read_error(err_r, status, err);
    if (rc == WH_OK)
      rc = wh_err_set(err, WH_EIO, 0, "the container's setup ended early");
    goto out;
  }
  if ((rc = write_maps(child, &s->idmap, err)) != WH_OK ||
      (cg && (rc = cli_cgroup_enter(cg, child, err)) != WH_OK)) {
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    goto out;
  }
  if ((rc = send_mapped(msk, rt.seccomp, err)) != WH_OK)
    goto out;
  if ((rc = take_pid(msk, err_r, child, s->tty, "the container's setup ended early", &p1, &master, status,
                     err)) != WH_OK)
    goto out;
  if (s->n_ports) {
    if ((rc = cli_slirp_start(p1, s->state_dir, s->ports, s->n_ports, &slirp, err)) != WH_OK ||
        write(msk, "N", 1) != 1) {
      if (rc == WH_OK)
        rc = wh_err_set(err, WH_EIO, errno, "sync");
      kill(p1, SIGKILL);
      waitpid(p1, NULL, 0);
      goto out;
    }
  }
  if ((rc = started_ok(p1, err_r, status, err)) != WH_OK)
    goto out;
  if (hook)
    hook(ctx, p1);
  /* with a cgroup to remove, pid 1 must be gone first */
  *status = attach(p1, sfd, msk, master, s->interactive, s->early_return && !cg);
  rc = WH_OK;
  if (cg && cli_cgroup_oom_killed(cg) == 1)
    fprintf(stderr, "wharf: the container was killed by its memory limit\n");
out:
  cli_slirp_stop(&slirp);
  cli_cgroup_destroy(cg);
  cli_seccomp_prog_release(&prog);
  sigprocmask(SIG_SETMASK, &old, NULL);
  return rc;
}

/* ---- exec: a process in a running container ------------------------------- */

static const char *const ns_order[] = {"user", "ipc", "uts", "net", "pid", "cgroup", "mnt"};

static __attribute__((noreturn)) void exec_child(struct rt *rt, pid_t pid1)
{
  prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
  int fds[WH_ARRAY_LEN(ns_order)];
  pid_t p;

  for (size_t i = 0; i < WH_ARRAY_LEN(ns_order); i++) {
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/ns/%s", (int)pid1, ns_order[i]);
    fds[i] = open(path, O_RDONLY | O_CLOEXEC);
    if (fds[i] < 0)
      die(rt, FAIL_SETUP, errno, "open %s", path);
  }
  for (size_t i = 0; i < WH_ARRAY_LEN(ns_order); i++) {
    struct stat a, b;
    char self[64];
    /* a namespace the container shares with us (--network host) is skipped */
    snprintf(self, sizeof(self), "/proc/self/ns/%s", ns_order[i]);
    if (stat(self, &a) == 0 && fstat(fds[i], &b) == 0 && a.st_ino == b.st_ino && a.st_dev == b.st_dev) {
      close(fds[i]);
      continue;
    }
    if (setns(fds[i], 0) < 0)
      die(rt, FAIL_SETUP, errno, "enter the %s namespace", ns_order[i]);
    close(fds[i]);
    if (i == 0 && (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0))
      die(rt, FAIL_SETUP, errno, "become root in the user namespace");
    if (i == 0)
      prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
  }
  rt->rootfd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (rt->rootfd < 0)
    die(rt, FAIL_SETUP, errno, "open /");
  p = (pid_t)syscall(SYS_clone, CLONE_PARENT | SIGCHLD, NULL, NULL, NULL, 0);
  if (p < 0)
    die(rt, FAIL_SETUP, errno, "fork");
  if (p == 0) {
    char pts[64] = "";
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    if (rt->s->tty)
      hand_terminal(rt, pts, sizeof(pts));
    close(rt->sk);
    workload(rt, pts[0] ? pts : NULL);
  }
  {
    char msg[32];
    snprintf(msg, sizeof(msg), "P%d", (int)p);
    if (write(rt->sk, msg, strlen(msg)) < 0)
      _exit(CLI_RUN_EXIT_FAILED);
  }
  _exit(0);
}

enum wh_code cli_runtime_exec(pid_t pid1, const struct cli_run_spec *s, int *status, struct wh_err *err)
{
  struct rt rt = {.s = s, .err_w = -1, .sk = -1, .rootfd = -1};
  WH_AUTOCLOSE int err_r = -1, msk = -1, sfd = -1, master = -1;
  struct cli_seccomp_prog prog = {0};
  sigset_t old;
  pid_t child, p = -1;
  enum wh_code rc = WH_EIO;

  *status = CLI_RUN_EXIT_FAILED;
  sigprocmask(SIG_BLOCK, NULL, &old);
  if ((rc = compile_seccomp(&rt, &prog, err)) != WH_OK ||
      (rc = spawn(&rt, exec_child, pid1, &err_r, &msk, &sfd, &old, &child, err)) != WH_OK)
    goto out;
  if ((rc = take_pid(msk, err_r, child, s->tty, "entering the container failed", &p, &master, status, err)) !=
          WH_OK ||
      (rc = started_ok(p, err_r, status, err)) != WH_OK)
    goto out;
  *status = attach(p, sfd, -1, master, s->interactive, false);
  rc = WH_OK;
out:
  cli_seccomp_prog_release(&prog);
  sigprocmask(SIG_SETMASK, &old, NULL);
  return rc;
}
