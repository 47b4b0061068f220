/* client/cgroup.h - resource limits of a container (--memory, --cpus,
 * --pids-limit), best effort, for `wharf run` (cgroup.c).
 *
 * Each controller (memory, pids, cpu) goes where this host has it:
 *   - cgroup v2, when the unified hierarchy lists it in its root's
 *     cgroup.controllers (a pure v2 host, or a hybrid one that moved it
 *     there): one directory <v2>/<parent of the caller's cgroup>/wharf/<name>
 *     holds every v2 controller. The controllers are enabled in the
 *     cgroup.subtree_control of each ancestor that lacks them (never of the
 *     caller's own cgroup, which has processes) and of wharf/ (which has
 *     none: the "no internal processes" rule holds). For a caller in the
 *     root cgroup that is <v2>/wharf/<name>; for a systemd service
 *     /system.slice/x.service it is /system.slice/wharf/<name>;
 *   - cgroup v1, when only a v1 hierarchy has it (hybrid hosts such as the
 *     CI machine, where the v2 hierarchy offers only hugetlb): one directory
 *     per hierarchy, <mount>/<caller's cgroup there>/wharf/<name>, e.g.
 *     /sys/fs/cgroup/pids/wharf/<name>. Nested under the caller's own
 *     cgroup, not the hierarchy's root, so a container never escapes the
 *     limits its caller runs under (v1 limits are hierarchical too);
 *   - nowhere: a warning, never a failure.
 * A controller that is present but not writable (an unprivileged caller
 * without a delegated subtree, a read-only /sys/fs/cgroup) is a warning too.
 *
 * Limits written: memory.max + memory.swap.max 0 (v2) or
 * memory.limit_in_bytes + memory.memsw.limit_in_bytes, both the limit (v1),
 * so that swap cannot stretch the limit; pids.max; cpu.max "quota period"
 * (v2) or cpu.cfs_period_us + cpu.cfs_quota_us (v1).
 *
 * Lifecycle:
 *   cli_cgroup_create()  -> directories made, limits written (warnings)
 *   cli_cgroup_enter()   -> a pid moved into every directory made
 *   cli_cgroup_oom_killed() after the container ends
 *   cli_cgroup_destroy() -> what is left killed, directories removed, freed
 * After a crash, cli_cgroup_open() finds the directories of a name again so
 * that cli_cgroup_destroy() can clean them up.
 *
 * Nothing here prints: warnings come back as text lines, errors as enum
 * wh_code with a struct wh_err.
 */
#ifndef WH_CLI_CGROUP_H
#define WH_CLI_CGROUP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/err.h"

#define CLI_CGROUP_NAME_MAX 128   /* [A-Za-z0-9_.-], not "." or ".." */
#define CLI_CGROUP_PARENT "wharf" /* the directory every container's cgroup lives in */

struct cli_limits {
  int64_t memory_bytes;                 /* 0: none */
  uint64_t cpu_quota_us, cpu_period_us; /* --cpus 1.5 -> 150000/100000; quota 0: none; period 0: 100000 */
  int64_t pids_max;                     /* 0: none */
};

struct cli_cgroup;

/* Creates the cgroups of container `name` for the limits asked for (none
 * asked: nothing is created, *out is still a valid, empty handle) and
 * writes the limits. Every limit that could not be applied adds one line
 * to warn ("--memory not applied: ...\n"; warn may be NULL, is truncated
 * to warn_size, and is "" when all went well). Fails only for a bad name
 * or bad limits (WH_EINVALID) or no memory. *out: free with
 * cli_cgroup_destroy(). */
enum wh_code cli_cgroup_create(const char *name, const struct cli_limits *l, struct cli_cgroup **out,
                               char *warn, size_t warn_size, struct wh_err *err);

/* Finds the existing cgroup directories of `name` (after a crash), creates
 * nothing. *out may hold no directory at all. */
enum wh_code cli_cgroup_open(const char *name, struct cli_cgroup **out, struct wh_err *err);

/* Moves pid (a whole process) into every directory of cg. A failure means
 * a limit does not hold for pid: the caller warns, or gives up. */
enum wh_code cli_cgroup_enter(struct cli_cgroup *cg, pid_t pid, struct wh_err *err);

/* 1 when the memory limit killed a process of the cgroup, 0 when not, -1
 * when unknown (no memory cgroup, or the kernel does not count). */
int cli_cgroup_oom_killed(struct cli_cgroup *cg);

/* The i-th directory of cg (absolute path), NULL past the last. */
const char *cli_cgroup_path(const struct cli_cgroup *cg, size_t i);

/* Kills what is left (cgroup.kill, else SIGKILL to every pid of
 * cgroup.procs until none is left), removes the directories (waiting at
 * most about two seconds for the killed to exit), frees. NULL no-op. */
void cli_cgroup_destroy(struct cli_cgroup *cg);

#endif
