/* tests/bench/floor.c - the floor of a container start, for tests/bench/run.sh:
 * what any runtime must at least do to run `true` in its own namespaces,
 * and nothing else (no image lookup, no /dev, /sys or masks, no seccomp or
 * capabilities, no init process, no state, no cleanup).
 *
 *   floor LOWER UPPER WORK MNT
 *
 * As root: a private mount namespace with an overlay of LOWER at MNT, then
 * a child cloned into new user (root -> 1000000000, 65536 ids), mount,
 * pid, network, UTS and IPC namespaces, which mounts /proc, pivots into
 * MNT and execs /bin/true; exits with its status. Not a test: a
 * calibration printed beside wharf's figure.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static char stack[1 << 16];
static int go[2];
static const char *mnt;

static int fail(const char *what)
{
  perror(what);
  return 127;
}

static int child(void *arg)
{
  char c;
  char *argv[] = {"true", NULL};

  (void)arg;
  if (read(go[0], &c, 1) != 1)
    _exit(fail("sync"));
  /* the copied mount is locked for pivot_root: bind it onto itself (while
   * still the host's root by id: MNT may be below a 0700 directory) */
  if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
      mount(mnt, mnt, NULL, MS_BIND | MS_REC, NULL) < 0 || chdir(mnt) < 0)
    _exit(fail("bind the root"));
  if (mount("proc", "proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
    _exit(fail("mount /proc"));
  if (syscall(SYS_pivot_root, ".", ".") < 0 || umount2(".", MNT_DETACH) < 0 || chdir("/") < 0)
    _exit(fail("pivot_root"));
  if (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0)
    _exit(fail("setresuid"));
  execv("/bin/true", argv);
  _exit(fail("exec /bin/true"));
}

static int write_file(const char *path, const char *text)
{
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  ssize_t n = fd < 0 ? -1 : write(fd, text, strlen(text));

  if (fd >= 0)
    close(fd);
  return n == (ssize_t)strlen(text) ? 0 : -1;
}

int main(int argc, char **argv)
{
  char opts[4096], path[64];
  int st;
  pid_t p;

  if (argc != 5) {
    fprintf(stderr, "usage: floor LOWER UPPER WORK MNT\n");
    return 2;
  }
  mnt = argv[4];
  snprintf(opts, sizeof(opts), "lowerdir=%s,upperdir=%s,workdir=%s", argv[1], argv[2], argv[3]);
  if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
    return fail("private mount namespace");
  if (mount("overlay", mnt, "overlay", MS_NODEV, opts) < 0)
    return fail("mount the overlay");
  if (pipe2(go, O_CLOEXEC) < 0)
    return fail("pipe");
  p = clone(child, stack + sizeof(stack),
            CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWUTS | CLONE_NEWIPC | SIGCHLD,
            NULL);
  if (p < 0)
    return fail("clone");
  snprintf(path, sizeof(path), "/proc/%d/uid_map", (int)p);
  if (write_file(path, "0 1000000000 65536\n") < 0)
    return fail("uid_map");
  snprintf(path, sizeof(path), "/proc/%d/gid_map", (int)p);
  if (write_file(path, "0 1000000000 65536\n") < 0)
    return fail("gid_map");
  if (write(go[1], "g", 1) != 1)
    return fail("sync");
  if (waitpid(p, &st, 0) != p)
    return fail("waitpid");
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}
