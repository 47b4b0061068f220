/* client/caps.h - Linux capabilities of a container's process, without
 * libcap (raw capget/capset and prctl), for `wharf run` (caps.c).
 *
 * A struct cli_capset is a plain bit set: bit n is capability n
 * (CAP_CHOWN = 0 ... CAP_CHECKPOINT_RESTORE = 40). The runtime builds it
 * from cli_caps_default() (Docker's default set), then --cap-add and
 * --cap-drop (cli_caps_parse; "ALL" = every capability), and applies it in
 * the container's child with cli_caps_apply().
 *
 * Semantics follow Docker's (moby/runc):
 * - the bounding set becomes `keep`: everything else is dropped from it,
 *   so no execve (setuid binary, file capabilities) can bring it back;
 * - permitted and effective become keep ∩ the current permitted set (a
 *   capability the caller does not hold is never asked for: on a host
 *   whose root lacks CAP_SYS_RESOURCE that one is silently absent);
 * - inheritable and ambient are emptied (Docker stopped setting
 *   inheritable in 20.10.14, CVE-2022-24769): a process that is not root
 *   after its execve therefore holds no capability at all;
 * - call it as the container's root (uid 0 in its user namespace) BEFORE
 *   switching to the container user and without PR_SET_KEEPCAPS: the
 *   setuid() to a non-zero uid then clears permitted and effective, as
 *   for `docker run -u 1000` (empty CapEff), while the bounding set still
 *   limits what a setuid-root binary could regain (no_new_privs, set by
 *   the runtime, stops even that).
 *
 * Nothing here prints; errors are enum wh_code with a struct wh_err.
 */
#ifndef WH_CLI_CAPS_H
#define WH_CLI_CAPS_H

#include <stdbool.h>
#include <stdint.h>

#include "common/err.h"

#define CLI_CAP_ALL (-1) /* what cli_caps_parse() returns for "ALL" */
#define CLI_CAP_MAX 63   /* highest bit a cli_capset can hold */

struct cli_capset {
  uint64_t bits; /* bit n set: capability n kept */
};

/* Capability number of `name`: "NET_RAW", "CAP_NET_RAW", "net_raw",
 * "cap_net_raw" (case-insensitive), or CLI_CAP_ALL for "ALL". WH_EINVALID
 * for an unknown name (then *cap is untouched). */
enum wh_code cli_caps_parse(const char *name, int *cap);

/* Canonical name of capability n ("CAP_NET_RAW"), or NULL when unknown. */
const char *cli_caps_name(int cap);

/* Docker's default set: CHOWN, DAC_OVERRIDE, FSETID, FOWNER, MKNOD,
 * NET_RAW, SETGID, SETUID, SETFCAP, SETPCAP, NET_BIND_SERVICE,
 * SYS_CHROOT, KILL, AUDIT_WRITE. */
void cli_caps_default(struct cli_capset *s);

/* Every capability this kernel knows (0 .. /proc/sys/kernel/cap_last_cap;
 * 0 .. CAP_LAST_CAP of the headers when that file cannot be read). */
void cli_caps_all(struct cli_capset *s);

/* --cap-add / --cap-drop of one capability number or CLI_CAP_ALL. */
void cli_caps_add(struct cli_capset *s, int cap);
void cli_caps_drop(struct cli_capset *s, int cap);
bool cli_caps_has(const struct cli_capset *s, int cap);

/* Applies `keep` to the calling process (see the semantics above): bounding
 * set, then ambient cleared, then capset(2) of permitted/effective/
 * inheritable. Needs CAP_SETPCAP in the effective set when anything must
 * leave the bounding set (WH_EDENIED otherwise). On failure the process is
 * in between: the caller (a container child about to exec) must exit. */
enum wh_code cli_caps_apply(const struct cli_capset *keep, struct wh_err *err);

#endif
