/* client/run.h - containers: an image's layers turned into a root
 * filesystem (rootfs.c), the namespaces and mounts a container lives in
 * and its small init (runtime.c), and the state a container leaves on disk
 * for ps/stop/logs/rm/exec (container.c).
 *
 * Process model of `wharf run` (root caller; an unprivileged caller skips
 * step 2 and mounts the overlay inside the user namespace, "userxattr"):
 *   1. wharf (the monitor) clones a child in a new mount namespace;
 *   2. the child, still real root, mounts the overlay of the cached layers
 *      and the bind mounts (volumes, /etc/hosts, ...) at the container's
 *      rootfs directory;
 *   3. it unshares a user namespace; the monitor writes uid_map/gid_map
 *      (container root -> a subordinate range, never host root) and puts
 *      it into the container's cgroups;
 *   4. it unshares mount (owned by the new user namespace), pid, uts, ipc,
 *      cgroup and, unless --network host, net namespaces, forks pid 1 and
 *      exits (the monitor is a child subreaper and adopts pid 1);
 *   5. pid 1 mounts /proc, /sys, /dev, masks /proc paths, pivot_roots,
 *      forks the workload and stays as an init that reaps and forwards
 *      signals; it exits with the workload's status;
 *   6. the workload switches user, drops capabilities, sets no_new_privs
 *      and the seccomp filter, closes every other fd and execs.
 * Errors of steps 2-6 travel back to the monitor over a pipe as one line.
 *
 * Invariants: nothing of the image is ever resolved on the host: paths
 * inside the container (volume targets, /etc files, the working directory)
 * are opened with openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS) and
 * mounted through /proc/self/fd; no fd of wharf survives the exec; pid 1 is
 * not dumpable, so /proc/1/exe cannot be opened from inside.
 */
#ifndef WH_CLI_RUN_H
#define WH_CLI_RUN_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "client/cli.h"
#include "common/err.h"

/* Labels that carry the config fields the OCI spec lacks (wharf build
 * writes both; run and build read the field, else the label). */
#define CLI_LABEL_HEALTHCHECK "io.wharf.image.healthcheck"
#define CLI_LABEL_SHELL "io.wharf.image.shell"
#define CLI_LABEL_ONBUILD "io.wharf.image.onbuild"

/* Exit statuses of `wharf run` when the container did not run (docker's). */
#define CLI_RUN_EXIT_FAILED 125  /* wharf could not start the container */
#define CLI_RUN_EXIT_NOEXEC 126  /* the command could not be executed */
#define CLI_RUN_EXIT_NOTFOUND 127 /* the command was not found */

/* Container root maps to host ids [base, base + count) when wharf runs as
 * root (the "wharf" or "root" line of /etc/subuid and /etc/subgid, else
 * this default range); an unprivileged caller maps root to itself. */
#define CLI_RUN_DEFAULT_ID_BASE 1000000000u
#define CLI_RUN_DEFAULT_ID_COUNT 65536u

enum cli_net_mode {
  CLI_NET_PRIVATE = 0, /* own network namespace with loopback up */
  CLI_NET_NONE,        /* own network namespace, loopback down */
  CLI_NET_HOST,        /* the host's network */
};

enum cli_mount_flags {
  CLI_MOUNT_RO = 1 << 0,
  CLI_MOUNT_TMPFS = 1 << 1, /* src unused: a fresh tmpfs */
  CLI_MOUNT_FILE = 1 << 2,  /* target is a file (etc files), not a directory */
};

struct cli_mount {
  char *src; /* owned: host path (NULL for tmpfs) */
  char *dst; /* owned: absolute path inside the container */
  unsigned flags;
  char *data; /* owned: tmpfs options ("size=64m,mode=1777"), or NULL */
};

/* A published port (-p [HOST-IP:]HOST-PORT:CONTAINER-PORT[/udp]). */
struct cli_port {
  char host_ip[64];
  uint16_t host_port, ctr_port;
  bool udp;
};

/* The id mapping of a container. */
struct cli_idmap {
  bool rootless;  /* the caller is not root: container 0 -> caller, nothing else */
  uid_t uid_base; /* container uid 0 is host uid_base */
  gid_t gid_base;
  uint32_t count; /* ids mapped */
};

/* Everything runtime.c needs, resolved by cmd_run.c. Strings are owned by
 * the spec (cli_run_spec_release frees them). */
struct cli_run_spec {
  char id[65];  /* container id: 64 hex */
  char *name;   /* --name */
  char *state_dir; /* <root>/containers/<id> */
  /* root filesystem: overlay of lowers (top first) + upper, or a ready dir */
  char *layers_dir; /* directory the lowers are relative to */
  char **lowers;    /* layer directory names, top layer first */
  size_t n_lowers;
  bool copied_root; /* rootfs/ already holds the flattened root: no overlay */
  struct cli_idmap idmap;
  /* process */
  char **argv; /* NULL-terminated */
  char **env;  /* NULL-terminated */
  char *cwd;   /* absolute, inside the container */
  char *user;  /* "name|uid[:group|gid]" resolved inside, or NULL for root */
  char *hostname;
  int out_fd;       /* >= 0: the command's stdout and stderr (build), else wharf's */
  bool tty;         /* a pty for the workload */
  bool interactive; /* keep stdin open */
  bool read_only;   /* read-only root */
  bool privileged;  /* all capabilities, no seccomp, no masked paths */
  uint64_t caps;    /* capability bits kept (privileged: all) */
  enum cli_net_mode net;
  struct cli_mount *mounts;
  size_t n_mounts;
  struct cli_port *ports; /* published through slirp4netns (private network) */
  size_t n_ports;
  int stop_signal;
  /* return once the command's exit is known, while pid 1 still tears its
   * namespaces down (the caller must not reuse the upper directory) */
  bool early_return;
  /* resource limits (0: none), best effort */
  int64_t memory_bytes;
  uint64_t cpu_quota_us, cpu_period_us;
  int64_t pids_max;
};

void cli_run_spec_init(struct cli_run_spec *s);
void cli_run_spec_release(struct cli_run_spec *s);

/* The spec of argv run inside running container c (cmd_exec.c): its
 * environment with sets (KEY=VALUE, replacing), its working directory and
 * user unless cwd/user are given, its capabilities and privilege. Owned
 * by s (cli_run_spec_release) on success. */
struct cli_container;
enum wh_code cli_exec_spec(const struct cli_container *c, char **argv, size_t argc, char **sets, size_t n_sets,
                           const char *cwd, const char *user, struct cli_run_spec *s, struct wh_err *err);

/* `wharf rollback NAME` of a container (cmd_update.c): back to the
 * release before the running one, or to digest `to` (may be NULL). */
int cli_container_rollback(const struct cli_opts *o, const char *name, const char *to);

/* Whether `wharf run` option arg (one word) takes the next word as its
 * value (run's own option table decides). */
bool cli_run_option_takes_value(const char *arg);

/* A signal as an image's StopSignal names it ("SIGTERM", "TERM", "15"):
 * its number, 0 when unknown. */
int cli_signal_parse(const char *name);

/* "500ms", "5s", "1.5m", "2h" (a bare number: seconds) -> ns; -1 when bad. */
int64_t cli_parse_duration_ns(const char *s);

/* ---- rootfs.c -------------------------------------------------------------- */

/* The name of an image's init layer in the layer cache: "<alg>-<hex of its
 * config's digest>" and this (see rootfs.c). */
#define CLI_INIT_LAYER_SUFFIX ".init"

/* The id mapping for this caller (see CLI_RUN_DEFAULT_ID_BASE). */
void cli_idmap_default(struct cli_idmap *m);

/* Makes sure every layer of the image (manifest img, config in cfg) is
 * extracted in the layer cache below root (<root>/layers/<map>/<hex>),
 * verifying its digest and diff_id, and that the image's init layer (its
 * mount points, see rootfs.c) is there too, and fills s->layers_dir /
 * s->lowers (the init layer first).
 * When overlay cannot be used, flattens the layers into
 * <state_dir>/rootfs instead and sets s->copied_root (warned once on
 * stderr by the caller through *fallback). */
struct wh_manifest;
enum wh_code cli_rootfs_prepare(struct store *st, const char *root, const char *repo,
                                const struct wh_manifest *img, const struct wh_buf *cfg, struct cli_run_spec *s,
                                struct wh_err *err);

/* Removes (or with dry_run only counts) the cached layers whose blob left
 * the store and that no container uses, and the init layers of images
 * whose config left it; *n_out layers (init layers not counted),
 * *bytes_out bytes on disk. */
enum wh_code cli_layer_cache_prune(struct store *st, const char *root, bool dry_run, uint64_t *n_out,
                                   uint64_t *bytes_out, struct wh_err *err);

/* ---- slirp.c ---------------------------------------------------------------- */

struct cli_slirp {
  pid_t pid;   /* slirp4netns, -1 when none */
  int exit_fd; /* closing it ends slirp4netns */
  char sock[128]; /* its API socket (removed at stop) */
};
enum wh_code cli_port_parse(const char *s, struct cli_port *out, struct wh_err *err);
/* Starts slirp4netns for pid1's network namespace and publishes ports. */
enum wh_code cli_slirp_start(pid_t pid1, const char *state_dir, const struct cli_port *ports, size_t n,
                             struct cli_slirp *out, struct wh_err *err);
void cli_slirp_stop(struct cli_slirp *s);

/* ---- runtime.c ------------------------------------------------------------- */

/* Runs the container of s in the foreground with this process as its
 * monitor: stdio are the caller's (or a pty when s->tty). *status is what
 * `wharf run` exits with: the workload's exit status, 128 + signal, or
 * 125/126/127 (then err says why). hook, when not NULL, is called in the
 * monitor once pid 1 runs (to record state), with its host pid. */
typedef void (*cli_run_started_cb)(void *ctx, pid_t pid1);
enum wh_code cli_runtime_run(const struct cli_run_spec *s, cli_run_started_cb hook, void *ctx, int *status,
                             struct wh_err *err);

/* Enters the namespaces of running pid1 and runs s->argv there with
 * s->env, s->cwd, s->user, s->caps, s->tty/interactive (the rest of s is
 * unused); returns like cli_runtime_run. */
enum wh_code cli_runtime_exec(pid_t pid1, const struct cli_run_spec *s, int *status, struct wh_err *err);

#endif
