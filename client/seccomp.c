/* client/seccomp.c - the default seccomp filter (client/seccomp.h).
 *
 * One table of refused syscalls, each tied to the capability whose
 * relaxation flag lifts it (0: never lifted), plus three kinds of argument
 * rules libseccomp cannot express as "allow these values" in a
 * default-allow filter (a rule may not compare one argument twice, nor
 * allow where the default already allows):
 *   - flag bits (clone, unshare): one rule per forbidden bit,
 *     arg & bit == bit -> EPERM;
 *   - personality: one rule per bit outside the allowed mask while bit 31
 *     is clear, and one per bit 0..30 clear while bit 31 is set, so that
 *     exactly {x : x & ~allowed == 0} and 0xffffffff pass (the kernel takes
 *     an unsigned int: only the low 32 bits are compared);
 *   - ioctl requests (TIOCSTI, TIOCLINUX) compared on their low 32 bits,
 *     as the kernel reads them (a high bit set must not slip through).
 * Invariant: a rule that cannot be added is an error (WH_EINTERNAL), never
 * a silently weaker filter; a name this libseccomp or this architecture
 * does not know is skipped (the kernel has no such call to make).
 */
#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>

#include "client/libs-lazy.h"
#include "client/seccomp.h"
#include "common/cleanup.h"

#ifndef CLONE_NEWCGROUP
#define CLONE_NEWCGROUP 0x02000000
#endif
#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif
#ifndef CAP_PERFMON
#define CAP_PERFMON 38
#endif
#ifndef CAP_BPF
#define CAP_BPF 39
#endif

#define ALWAYS 0u

struct deny {
  const char *name;
  unsigned lifted_by; /* enum cli_seccomp_flags, or ALWAYS */
};

static const struct deny denied[] = {
    /* kernel and machine */
    {"kexec_load", CLI_SECCOMP_SYS_BOOT},
    {"kexec_file_load", CLI_SECCOMP_SYS_BOOT},
    {"reboot", CLI_SECCOMP_SYS_BOOT},
    {"init_module", CLI_SECCOMP_SYS_MODULE},
    {"finit_module", CLI_SECCOMP_SYS_MODULE},
    {"delete_module", CLI_SECCOMP_SYS_MODULE},
    {"create_module", ALWAYS},
    {"get_kernel_syms", ALWAYS},
    {"query_module", ALWAYS},
    {"acct", CLI_SECCOMP_SYS_PACCT},
    {"swapon", CLI_SECCOMP_SYS_ADMIN},
    {"swapoff", CLI_SECCOMP_SYS_ADMIN},
    {"iopl", CLI_SECCOMP_SYS_RAWIO},
    {"ioperm", CLI_SECCOMP_SYS_RAWIO},
    {"syslog", CLI_SECCOMP_SYSLOG},
    {"vhangup", CLI_SECCOMP_SYS_TTY_CONFIG},
    {"settimeofday", CLI_SECCOMP_SYS_TIME},
    {"stime", CLI_SECCOMP_SYS_TIME},
    {"clock_settime", CLI_SECCOMP_SYS_TIME},
    {"clock_settime64", CLI_SECCOMP_SYS_TIME},
    {"clock_adjtime", CLI_SECCOMP_SYS_TIME},
    {"clock_adjtime64", CLI_SECCOMP_SYS_TIME},
    {"adjtimex", CLI_SECCOMP_SYS_TIME},
    /* mounts and namespaces */
    {"mount", CLI_SECCOMP_SYS_ADMIN},
    {"umount", CLI_SECCOMP_SYS_ADMIN},
    {"umount2", CLI_SECCOMP_SYS_ADMIN},
    {"pivot_root", CLI_SECCOMP_SYS_ADMIN},
    {"open_tree", CLI_SECCOMP_SYS_ADMIN},
    {"move_mount", CLI_SECCOMP_SYS_ADMIN},
    {"fsopen", CLI_SECCOMP_SYS_ADMIN},
    {"fsconfig", CLI_SECCOMP_SYS_ADMIN},
    {"fsmount", CLI_SECCOMP_SYS_ADMIN},
    {"fspick", CLI_SECCOMP_SYS_ADMIN},
    {"mount_setattr", CLI_SECCOMP_SYS_ADMIN},
    {"setns", CLI_SECCOMP_SYS_ADMIN},
    /* kernel interfaces that are not namespaced */
    {"keyctl", ALWAYS},
    {"add_key", ALWAYS},
    {"request_key", ALWAYS},
    {"userfaultfd", ALWAYS},
    {"bpf", CLI_SECCOMP_BPF},
    {"perf_event_open", CLI_SECCOMP_PERFMON},
    {"fanotify_init", CLI_SECCOMP_SYS_ADMIN},
    {"quotactl", CLI_SECCOMP_SYS_ADMIN},
    {"quotactl_fd", CLI_SECCOMP_SYS_ADMIN},
    {"lookup_dcookie", CLI_SECCOMP_SYS_ADMIN},
    {"name_to_handle_at", CLI_SECCOMP_SYS_ADMIN},
    {"open_by_handle_at", CLI_SECCOMP_DAC_READ_SEARCH},
    {"mbind", CLI_SECCOMP_SYS_NICE},
    {"get_mempolicy", CLI_SECCOMP_SYS_NICE},
    {"set_mempolicy", CLI_SECCOMP_SYS_NICE},
    {"set_mempolicy_home_node", CLI_SECCOMP_SYS_NICE},
    {"move_pages", CLI_SECCOMP_SYS_NICE},
    {"io_uring_setup", ALWAYS},
    {"io_uring_enter", ALWAYS},
    {"io_uring_register", ALWAYS},
    /* other processes */
    {"process_vm_readv", CLI_SECCOMP_SYS_PTRACE},
    {"process_vm_writev", CLI_SECCOMP_SYS_PTRACE},
    {"kcmp", CLI_SECCOMP_SYS_PTRACE},
    {"pidfd_getfd", CLI_SECCOMP_SYS_PTRACE},
    {"process_madvise", CLI_SECCOMP_SYS_PTRACE},
    /* obsolete, unimplemented */
    {"uselib", ALWAYS},
    {"ustat", ALWAYS},
    {"sysfs", ALWAYS},
    {"_sysctl", ALWAYS},
    {"nfsservctl", ALWAYS},
    {"vm86", ALWAYS},
    {"vm86old", ALWAYS},
    {"afs_syscall", ALWAYS},
    {"tuxcall", ALWAYS},
    {"security", ALWAYS},
    {"putpmsg", ALWAYS},
    {"getpmsg", ALWAYS},
};

/* Namespace flags refused to clone (CLONE_NEWTIME shares its bit with
 * clone's exit signal, so only unshare checks it) and unshare. */
static const uint64_t clone_ns_bits[] = {CLONE_NEWNS,  CLONE_NEWUTS, CLONE_NEWIPC,   CLONE_NEWUSER,
                                         CLONE_NEWPID, CLONE_NEWNET, CLONE_NEWCGROUP};

/* personality(): PER_LINUX32 (0x8) and UNAME26 (0x20000) may be set */
#define PERSONALITY_ALLOWED 0x00020008u
#define BIT31 0x80000000u

struct filter {
  scmp_filter_ctx ctx;
  unsigned flags;
  int rules;
};

static int nr_of(const char *name)
{
  int nr = seccomp_syscall_resolve_name(name);

  return nr == __NR_SCMP_ERROR ? -1 : nr;
}

static int add(struct filter *f, uint32_t action, const char *name, unsigned n,
               const struct scmp_arg_cmp *cmp)
{
  int nr = nr_of(name);
  int r;

  if (nr < 0)
    return 0; /* not a syscall of this architecture / libseccomp */
  r = seccomp_rule_add_array(f->ctx, action, nr, n, cmp);
  if (r == 0)
    f->rules++;
  return r;
}

static int add_deny_list(struct filter *f)
{
  int r = 0;

  for (size_t i = 0; r == 0 && i < sizeof(denied) / sizeof(denied[0]); i++) {
    if (denied[i].lifted_by == ALWAYS || (f->flags & denied[i].lifted_by) == 0)
      r = add(f, SCMP_ACT_ERRNO(EPERM), denied[i].name, 0, NULL);
  }
  return r;
}

/* arg0 & bit == bit -> EPERM, for every bit */
static int add_bit_rules(struct filter *f, const char *name, const uint64_t *bits, size_t n)
{
  int r = 0;

  for (size_t i = 0; r == 0 && i < n; i++) {
    struct scmp_arg_cmp c = SCMP_A0(SCMP_CMP_MASKED_EQ, bits[i], bits[i]);
    r = add(f, SCMP_ACT_ERRNO(EPERM), name, 1, &c);
  }
  return r;
}

static int add_namespace_rules(struct filter *f)
{
  uint64_t unshare_bits[sizeof(clone_ns_bits) / sizeof(clone_ns_bits[0]) + 1];
  size_t n = sizeof(clone_ns_bits) / sizeof(clone_ns_bits[0]);
  int r;

  if (f->flags & CLI_SECCOMP_SYS_ADMIN)
    return 0;
  for (size_t i = 0; i < n; i++)
    unshare_bits[i] = clone_ns_bits[i];
  unshare_bits[n] = CLONE_NEWTIME;
  if ((r = add_bit_rules(f, "clone", clone_ns_bits, n)) != 0 ||
      (r = add_bit_rules(f, "unshare", unshare_bits, n + 1)) != 0)
    return r;
  /* clone3 passes its flags in memory the filter cannot read: ENOSYS makes
   * glibc (>= 2.34) fall back to clone */
  return add(f, SCMP_ACT_ERRNO(ENOSYS), "clone3", 0, NULL);
}

static int add_personality_rules(struct filter *f)
{
  int r = 0;

  for (unsigned b = 0; r == 0 && b < 31; b++) {
    uint32_t bit = 1u << b;
    struct scmp_arg_cmp clear31_set = SCMP_A0(SCMP_CMP_MASKED_EQ, BIT31 | bit, bit);
    struct scmp_arg_cmp set31_clear = SCMP_A0(SCMP_CMP_MASKED_EQ, BIT31 | bit, BIT31);
    if ((bit & PERSONALITY_ALLOWED) == 0)
      r = add(f, SCMP_ACT_ERRNO(EPERM), "personality", 1, &clear31_set);
    if (r == 0)
      r = add(f, SCMP_ACT_ERRNO(EPERM), "personality", 1, &set31_clear);
  }
  return r;
}

static int add_ioctl_rules(struct filter *f)
{
  static const uint32_t reqs[] = {TIOCSTI, TIOCLINUX};
  int r = 0;

  if (f->flags & CLI_SECCOMP_SYS_ADMIN)
    return 0;
  for (size_t i = 0; r == 0 && i < sizeof(reqs) / sizeof(reqs[0]); i++) {
    struct scmp_arg_cmp c = SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffu, reqs[i]);
    r = add(f, SCMP_ACT_ERRNO(EPERM), "ioctl", 1, &c);
  }
  return r;
}

/* Builds the filter in f->ctx; a negative errno from libseccomp on failure. */
static int build(struct filter *f)
{
  int r;

  f->ctx = seccomp_init(SCMP_ACT_ALLOW);
  if (f->ctx == NULL)
    return -ENOMEM;
  if ((r = seccomp_attr_set(f->ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS)) != 0 ||
      (r = seccomp_attr_set(f->ctx, SCMP_FLTATR_CTL_NNP, 0)) != 0)
    return r;
  (void)seccomp_attr_set(f->ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2); /* binary tree; older libseccomp: linear */
  if ((r = add_deny_list(f)) != 0 || (r = add_namespace_rules(f)) != 0 ||
      (r = add_personality_rules(f)) != 0 || (r = add_ioctl_rules(f)) != 0)
    return r;
  return 0;
}

unsigned cli_seccomp_flags_for_caps(uint64_t caps)
{
  static const struct {
    int cap;
    unsigned flags;
  } map[] = {
      {CAP_SYS_ADMIN, CLI_SECCOMP_SYS_ADMIN | CLI_SECCOMP_BPF | CLI_SECCOMP_PERFMON},
      {CAP_SYS_PTRACE, CLI_SECCOMP_SYS_PTRACE},
      {CAP_SYS_MODULE, CLI_SECCOMP_SYS_MODULE},
      {CAP_SYS_BOOT, CLI_SECCOMP_SYS_BOOT},
      {CAP_SYS_TIME, CLI_SECCOMP_SYS_TIME},
      {CAP_SYS_PACCT, CLI_SECCOMP_SYS_PACCT},
      {CAP_SYS_RAWIO, CLI_SECCOMP_SYS_RAWIO},
      {CAP_SYS_NICE, CLI_SECCOMP_SYS_NICE},
      {CAP_SYSLOG, CLI_SECCOMP_SYSLOG},
      {CAP_SYS_TTY_CONFIG, CLI_SECCOMP_SYS_TTY_CONFIG},
      {CAP_DAC_READ_SEARCH, CLI_SECCOMP_DAC_READ_SEARCH},
      {CAP_BPF, CLI_SECCOMP_BPF},
      {CAP_PERFMON, CLI_SECCOMP_PERFMON},
  };
  unsigned flags = 0;

  for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
    if (caps & (UINT64_C(1) << map[i].cap))
      flags |= map[i].flags;
  }
  return flags;
}

int cli_seccomp_rule_count(unsigned flags)
{
  struct filter f = {.flags = flags};
  int r = build(&f);

  seccomp_release(f.ctx);
  return r == 0 ? f.rules : -1;
}

/* libseccomp's errors of a load, as wharf's */
static enum wh_code load_error(int r, struct wh_err *err)
{
  if (r == -EACCES || r == -EPERM)
    return wh_err_set(err, WH_EDENIED, -r, "seccomp: load the filter (no_new_privs is not set)");
  if (r == -EINVAL || r == -ENOSYS || r == -EOPNOTSUPP)
    return wh_err_set(err, WH_EUNSUPPORTED, -r, "seccomp: this kernel refuses filters");
  return wh_err_set(err, WH_EIO, -r, "seccomp: load the filter");
}

enum wh_code cli_seccomp_apply_default(unsigned flags, struct wh_err *err)
{
  struct filter f = {.flags = flags};
  int r = build(&f);

  if (r != 0) {
    seccomp_release(f.ctx);
    return wh_err_set(err, r == -ENOMEM ? WH_ENOMEM : WH_EINTERNAL, -r, "seccomp: build the default filter");
  }
  r = seccomp_load(f.ctx);
  seccomp_release(f.ctx);
  return r == 0 ? WH_OK : load_error(r, err);
}

enum wh_code cli_seccomp_compile(unsigned flags, struct cli_seccomp_prog *out, struct wh_err *err)
{
  struct filter f = {.flags = flags};
  struct stat st;
  int fd = -1, r = build(&f);
  enum wh_code rc = WH_OK;

  out->insns = NULL;
  out->len = 0;
  if (r != 0) {
    rc = wh_err_set(err, r == -ENOMEM ? WH_ENOMEM : WH_EINTERNAL, -r, "seccomp: build the default filter");
    goto out;
  }
  /* libseccomp 2.5 exports the program only to an fd */
  if ((fd = memfd_create("wharf-seccomp", MFD_CLOEXEC)) < 0) {
    rc = wh_err_set(err, WH_EIO, errno, "seccomp: memfd");
    goto out;
  }
  if ((r = seccomp_export_bpf(f.ctx, fd)) != 0) {
    rc = wh_err_set(err, WH_EINTERNAL, -r, "seccomp: export the filter");
    goto out;
  }
  if (fstat(fd, &st) < 0 || st.st_size <= 0 || st.st_size % sizeof(struct sock_filter) != 0 ||
      st.st_size / sizeof(struct sock_filter) > BPF_MAXINSNS) {
    rc = wh_err_set(err, WH_EINTERNAL, 0, "seccomp: exported filter of %lld bytes", (long long)st.st_size);
    goto out;
  }
  if (!(out->insns = malloc((size_t)st.st_size))) {
    rc = wh_err_set(err, WH_ENOMEM, 0, "out of memory");
    goto out;
  }
  if (pread(fd, out->insns, (size_t)st.st_size, 0) != st.st_size) {
    rc = wh_err_set(err, WH_EIO, errno, "seccomp: read the exported filter");
    cli_seccomp_prog_release(out);
    goto out;
  }
  out->len = (unsigned short)(st.st_size / sizeof(struct sock_filter));
out:
  if (fd >= 0)
    close(fd);
  seccomp_release(f.ctx);
  return rc;
}

/* ---- the compiled filter kept in a file --------------------------------------------- */

/* A file's identity; all 0 when it is missing. */
struct file_id {
  uint64_t dev, ino, size;
  int64_t mtime_ns;
};

/* The kept file: this header, then len instructions. */
struct kept_hdr {
  char magic[8];
  uint32_t flags, len;
  struct file_id exe, lib, ld_cache; /* what compiled it */
  uint64_t env;                      /* hash of LD_LIBRARY_PATH */
  uint64_t sum;                      /* hash of the instructions */
  char lib_path[256];                /* libseccomp that compiled it */
};

static const char kept_magic[8] = "WHSCBPF1";

static void file_id_of(const char *path, struct file_id *id)
{
  struct stat st;

  memset(id, 0, sizeof(*id));
  if (stat(path, &st) == 0) {
    id->dev = st.st_dev, id->ino = st.st_ino, id->size = (uint64_t)st.st_size;
    id->mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
  }
}

/* FNV-1a, 64 bits: a torn or damaged file, not an attacker (whoever can
 * write the store can write its layers too) */
static uint64_t fnv1a(const void *p, size_t n)
{
  const unsigned char *b = p;
  uint64_t h = 0xcbf29ce484222325ULL;

  for (size_t i = 0; i < n; i++)
    h = (h ^ b[i]) * 0x100000001b3ULL;
  return h;
}

/* The header fields that do not depend on libseccomp: this binary, the
 * loader's cache and LD_LIBRARY_PATH. */
static void kept_now(struct kept_hdr *h, unsigned flags)
{
  const char *llp = getenv("LD_LIBRARY_PATH");

  memset(h, 0, sizeof(*h));
  memcpy(h->magic, kept_magic, sizeof(h->magic));
  h->flags = flags;
  file_id_of("/proc/self/exe", &h->exe);
  file_id_of("/etc/ld.so.cache", &h->ld_cache);
  h->env = llp ? fnv1a(llp, strlen(llp)) : 0;
}

/* The kept program when it matches now (see cli_seccomp_compile_kept()). */
static bool kept_read(int dirfd, const char *name, const struct kept_hdr *now, struct cli_seccomp_prog *out)
{
  WH_AUTOCLOSE int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  struct kept_hdr h;
  struct file_id lib;
  struct stat st;
  size_t n;

  /* only a file of ours that nobody else could have written */
  if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 022) ||
      st.st_size <= (off_t)sizeof(h) || read(fd, &h, sizeof(h)) != (ssize_t)sizeof(h))
    return false;
  n = (size_t)h.len * sizeof(struct sock_filter);
  if (memcmp(h.magic, now->magic, sizeof(h.magic)) != 0 || h.flags != now->flags || h.len == 0 ||
      h.len > BPF_MAXINSNS || st.st_size != (off_t)(sizeof(h) + n) ||
      memcmp(&h.exe, &now->exe, sizeof(h.exe)) != 0 || now->exe.ino == 0 ||
      memcmp(&h.ld_cache, &now->ld_cache, sizeof(h.ld_cache)) != 0 || h.env != now->env ||
      h.lib_path[0] != '/' || memchr(h.lib_path, '\0', sizeof(h.lib_path)) == NULL)
    return false;
  file_id_of(h.lib_path, &lib);
  if (lib.ino == 0 || memcmp(&lib, &h.lib, sizeof(lib)) != 0 || !(out->insns = malloc(n)))
    return false;
  if (read(fd, out->insns, n) != (ssize_t)n || fnv1a(out->insns, n) != h.sum) {
    cli_seccomp_prog_release(out);
    return false;
  }
  out->len = (unsigned short)h.len;
  return true;
}

/* Writes p as dirfd/name (a sibling renamed over it); best effort. */
static void kept_write(int dirfd, const char *name, struct kept_hdr *h, const struct cli_seccomp_prog *p)
{
  Dl_info info;
  char tmp[96];
  size_t n = (size_t)p->len * sizeof(*p->insns);
  bool ok;
  int fd;

  if (dladdr((const void *)cli_scmp()->seccomp_init, &info) == 0 || info.dli_fname == NULL ||
      info.dli_fname[0] != '/' ||
      snprintf(h->lib_path, sizeof(h->lib_path), "%s", info.dli_fname) >= (int)sizeof(h->lib_path))
    return;
  file_id_of(h->lib_path, &h->lib);
  h->len = p->len;
  h->sum = fnv1a(p->insns, n);
  snprintf(tmp, sizeof(tmp), "%s.tmp-%ld", name, (long)getpid());
  if ((fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644)) < 0)
    return;
  ok = write(fd, h, sizeof(*h)) == (ssize_t)sizeof(*h) && write(fd, p->insns, n) == (ssize_t)n;
  ok = close(fd) == 0 && ok;
  if (!ok || renameat(dirfd, tmp, dirfd, name) < 0)
    unlinkat(dirfd, tmp, 0);
}

enum wh_code cli_seccomp_compile_kept(const char *dir, unsigned flags, struct cli_seccomp_prog *out,
                                      bool *from_file, struct wh_err *err)
{
  WH_AUTOCLOSE int dirfd = -1;
  struct kept_hdr now;
  char name[64];
  enum wh_code rc;

  if (from_file)
    *from_file = false;
  out->insns = NULL;
  out->len = 0;
  if (dir == NULL || (dirfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
    return cli_seccomp_compile(flags, out, err);
  snprintf(name, sizeof(name), CLI_SECCOMP_KEPT_PREFIX "%x", flags);
  kept_now(&now, flags);
  if (kept_read(dirfd, name, &now, out)) {
    if (from_file)
      *from_file = true;
    return WH_OK;
  }
  if ((rc = cli_seccomp_compile(flags, out, err)) == WH_OK && now.exe.ino != 0)
    kept_write(dirfd, name, &now, out);
  return rc;
}

void cli_seccomp_prog_release(struct cli_seccomp_prog *p)
{
  free(p->insns);
  p->insns = NULL;
  p->len = 0;
}

enum wh_code cli_seccomp_load(const struct cli_seccomp_prog *p, struct wh_err *err)
{
  struct sock_fprog fp = {.len = p->len, .filter = p->insns};

  /* as seccomp_load() with our attributes: no flags (no TSYNC, no log) */
  if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &fp) == 0)
    return WH_OK;
  if (errno == ENOSYS && prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fp) == 0)
    return WH_OK;
  return load_error(-errno, err);
}
