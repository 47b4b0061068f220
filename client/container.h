/* client/container.h - containers on disk (client/container.c): state
 * directories, names, state records; what ps/stop/rm/logs/exec read. */
#ifndef WH_CLI_CONTAINER_H
#define WH_CLI_CONTAINER_H

#include <jansson.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/err.h"

struct cli_container_state {
  char status[16]; /* "created", "running", "exited" */
  pid_t pid;       /* pid 1's host pid while running */
  uint64_t pid_start;
  int exit_code;
  int64_t started, finished; /* unix seconds, 0 when not yet */
  int restarts;              /* restarts by the restart policy */
};

struct cli_container {
  char id[65];
  char name[129];
  char dir[PATH_MAX];
  json_t *config; /* owned: config.json */
  struct cli_container_state state;
};

/* [a-zA-Z0-9][a-zA-Z0-9_.-]{0,127} */
bool cli_container_name_valid(const char *name);
/* Makes a new container's directory (rootfs/ upper/ work/) and takes its
 * name (NULL: the first 12 hex digits of the id). WH_ECONFLICT when the
 * name is in use. *state_dir is owned by the caller. It does not sweep
 * (cli_container_sweep()): its callers do, before or alongside. */
enum wh_code cli_container_create(const char *root, const char *name, char id_out[65], char **state_dir,
                                  struct wh_err *err);
enum wh_code cli_container_write_config(const char *state_dir, json_t *config, struct wh_err *err);
enum wh_code cli_container_write_state(const char *state_dir, const struct cli_container_state *st,
                                       struct wh_err *err);
/* Field 22 of /proc/PID/stat (0 when the process is gone or a zombie). */
uint64_t cli_pid_start_time(pid_t pid);
/* Name, full id or unique id prefix -> id. */
enum wh_code cli_container_find(const char *root, const char *what, char id_out[65], struct wh_err *err);
/* Reads a container; release with cli_container_release. */
enum wh_code cli_container_read(const char *root, const char *id, struct cli_container *c, struct wh_err *err);
void cli_container_release(struct cli_container *c);
/* pid 1 is the process it was (pid and start time match). */
bool cli_container_alive(const struct cli_container *c);
/* Calls cb for each container (non-zero return stops). */
typedef int (*cli_container_cb)(void *ctx, const struct cli_container *c);
enum wh_code cli_container_list(const char *root, cli_container_cb cb, void *ctx, struct wh_err *err);
/* The container's lock (state_dir/lock, flock): its monitor holds it for
 * as long as it runs, so whoever removes the directory takes it first.
 * Returns the fd holding it, or -1 (errno EWOULDBLOCK when wait_ms passed). */
int cli_container_lock(const char *state_dir, long wait_ms);
/* Cleans up after monitors that died (kill -9 of wharf): cgroups, --rm
 * directories, states still saying running. Run by `run` and `ps`. */
void cli_container_sweep(const char *root);
/* Marks the container stopped by hand: its restart policy no longer
 * applies (state_dir/stopped). */
void cli_container_mark_stopped(const char *state_dir);
/* Removes the state directory and name of a container that is not
 * running; background: the directory is renamed out of sight at once and
 * deleted by a detached process (the caller returns sooner). */
enum wh_code cli_container_remove(const char *root, const char *id, bool background, struct wh_err *err);
/* The two halves of a removal in the background: the container loses its
 * name (name: the one it was given, or NULL) and its directory is renamed
 * out of sight (.trash-ID), then deleted (a sweep deletes what a killed
 * remover left, after a minute). */
enum wh_code cli_container_trash(const char *root, const char *id, const char *name, struct wh_err *err);
enum wh_code cli_container_trash_remove(const char *root, const char *id, struct wh_err *err);

#endif
