/* client/seccomp.h - the default seccomp filter of a container's process
 * (seccomp.c, with libseccomp).
 *
 * The profile refuses what Docker's default profile (moby's
 * profiles/seccomp/default.json) refuses to a container without extra
 * capabilities, written as a deny-list over a default "allow":
 *   - kernel and machine: kexec_*, *_module, create_module, reboot, acct,
 *     swapon/swapoff, iopl/ioperm, syslog, vhangup, the clock setters
 *     (settimeofday, clock_settime, clock_adjtime, adjtimex);
 *   - mounts and namespaces: mount, umount2, pivot_root, the new mount API
 *     (open_tree, move_mount, fsopen, fsconfig, fsmount, fspick,
 *     mount_setattr), setns, unshare and clone with a CLONE_NEW* flag,
 *     clone3 (ENOSYS, not EPERM, so libc falls back to clone, whose flags
 *     the filter can see);
 *   - kernel interfaces not namespaced: keyctl, add_key, request_key, bpf,
 *     perf_event_open, userfaultfd, fanotify_init, quotactl(_fd),
 *     lookup_dcookie, open_by_handle_at, name_to_handle_at, the NUMA policy
 *     calls, io_uring_* (Docker dropped them in 25.0);
 *   - other processes: process_vm_readv/writev, kcmp, pidfd_getfd,
 *     process_madvise (ptrace itself is allowed, as Docker does on kernels
 *     >= 4.8: without CAP_SYS_PTRACE it only reaches the container's own
 *     processes of the same user);
 *   - personality() other than PER_LINUX, PER_LINUX32, UNAME26 and the
 *     0xffffffff query (no ADDR_NO_RANDOMIZE, READ_IMPLIES_EXEC, ...);
 *   - ioctl TIOCSTI and TIOCLINUX (typing into the caller's terminal);
 *   - obsolete or unimplemented calls (uselib, ustat, sysfs, _sysctl,
 *     nfsservctl, get_kernel_syms, query_module, vm86 ...).
 * A refused call fails with EPERM (clone3: ENOSYS). Why a deny-list: with
 * the libseccomp of Debian 12 an allow-list would make every syscall newer
 * than the library fail with EPERM, which defeats libc's ENOSYS fallbacks
 * (runc needs a hand-written stub for that); the calls above are the ones
 * that matter, and the families added since (mount API, io_uring,
 * pidfd_getfd) are listed by name.
 *
 * Architectures: the filter is for the native one only; a syscall made
 * through another ABI (i386 "int 0x80", x32 numbers on x86_64) kills the
 * process (SIGSYS), so none of the rules can be bypassed that way, and
 * 32-bit binaries do not run in a container.
 *
 * As Docker does, adding a capability lifts the rules it guards
 * (cli_seccomp_flags_for_caps(): --cap-add SYS_ADMIN allows mount and the
 * namespace calls, SYS_PTRACE process_vm_*, ...). --privileged loads no
 * filter at all (the caller's choice). Nothing here prints.
 */
#ifndef WH_CLI_SECCOMP_H
#define WH_CLI_SECCOMP_H

#include <stdbool.h>
#include <stdint.h>

#include "common/err.h"

/* Relaxations: each lifts the rules of one capability Docker ties them to. */
enum cli_seccomp_flags {
  CLI_SECCOMP_SYS_ADMIN = 1 << 0,        /* mounts, namespaces, clone3, quotactl, fanotify, swap, TIOCSTI */
  CLI_SECCOMP_SYS_PTRACE = 1 << 1,       /* process_vm_*, kcmp, pidfd_getfd, process_madvise */
  CLI_SECCOMP_SYS_MODULE = 1 << 2,       /* init/finit/delete_module */
  CLI_SECCOMP_SYS_BOOT = 1 << 3,         /* reboot, kexec_* */
  CLI_SECCOMP_SYS_TIME = 1 << 4,         /* settimeofday, clock_settime, clock_adjtime, adjtimex */
  CLI_SECCOMP_SYS_PACCT = 1 << 5,        /* acct */
  CLI_SECCOMP_SYS_RAWIO = 1 << 6,        /* iopl, ioperm */
  CLI_SECCOMP_SYS_NICE = 1 << 7,         /* mbind, get/set_mempolicy, move_pages */
  CLI_SECCOMP_SYSLOG = 1 << 8,           /* syslog */
  CLI_SECCOMP_SYS_TTY_CONFIG = 1 << 9,   /* vhangup */
  CLI_SECCOMP_DAC_READ_SEARCH = 1 << 10, /* open_by_handle_at */
  CLI_SECCOMP_BPF = 1 << 11,             /* bpf (also with SYS_ADMIN) */
  CLI_SECCOMP_PERFMON = 1 << 12,         /* perf_event_open (also with SYS_ADMIN) */
};

/* The relaxations a capability set (bit n = capability n, as struct
 * cli_capset) earns: e.g. CAP_SYS_ADMIN -> CLI_SECCOMP_SYS_ADMIN | BPF |
 * PERFMON. Docker's default set earns none. */
unsigned cli_seccomp_flags_for_caps(uint64_t caps);

/* Loads the default filter (minus what `flags` lifts) into the calling
 * process; it then holds for the process and every child it execs. Call
 * it in the container's child right before execve, after no_new_privs
 * (prctl(PR_SET_NO_NEW_PRIVS)) and after dropping capabilities: this
 * function does not set no_new_privs itself, so without it the kernel
 * wants CAP_SYS_ADMIN (WH_EDENIED otherwise). WH_EUNSUPPORTED: a kernel
 * without seccomp filters. */
enum wh_code cli_seccomp_apply_default(unsigned flags, struct wh_err *err);

/* The default filter compiled (classic BPF, what seccomp(2) takes), so a
 * process can build it once and its children load it with one syscall. */
struct sock_filter;
struct cli_seccomp_prog {
  struct sock_filter *insns; /* owned */
  unsigned short len;        /* instructions */
};
enum wh_code cli_seccomp_compile(unsigned flags, struct cli_seccomp_prog *out, struct wh_err *err);
void cli_seccomp_prog_release(struct cli_seccomp_prog *p);
/* As cli_seccomp_compile(), kept in a file of dir (".seccomp-<flags in
 * hex>"; dir NULL: compiled every time). The file is used when it is the
 * caller's and writable by nobody else, this wharf binary wrote it from
 * the libseccomp that would load now (the same file at the same path, the
 * same /etc/ld.so.cache and LD_LIBRARY_PATH), and its checksum holds; then
 * libseccomp is not even loaded (about a millisecond of a start).
 * Otherwise the filter is compiled and the file written again (best
 * effort: a failure to keep it is not an error). *from_file tells which
 * happened (may be NULL). */
enum wh_code cli_seccomp_compile_kept(const char *dir, unsigned flags, struct cli_seccomp_prog *out,
                                      bool *from_file, struct wh_err *err);
#define CLI_SECCOMP_KEPT_PREFIX ".seccomp-"

/* Loads p into the calling process: the same filter and conditions as
 * cli_seccomp_apply_default(), one system call (no allocation). */
enum wh_code cli_seccomp_load(const struct cli_seccomp_prog *p, struct wh_err *err);

/* Number of rules the default filter holds with these flags (tests; the
 * count of denied syscalls and argument rules actually added). Builds the
 * filter without loading it; -1 on failure. */
int cli_seccomp_rule_count(unsigned flags);

#endif
