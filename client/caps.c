/* client/caps.c - capabilities of a container's process (client/caps.h).
 *
 * Raw syscalls, no libcap: capget/capset with _LINUX_CAPABILITY_VERSION_3
 * (two 32-bit words per set) and prctl for the bounding and ambient sets.
 * Invariant: after cli_caps_apply() returns WH_OK the bounding set is
 * exactly `keep` (of what the kernel knows), permitted = effective =
 * keep ∩ the permitted set before, inheritable and ambient are empty.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "client/caps.h"
#include "common/cleanup.h"

#ifndef CAP_CHECKPOINT_RESTORE
#define CAP_CHECKPOINT_RESTORE 40
#endif
#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT 47
#define PR_CAP_AMBIENT_CLEAR_ALL 4
#endif

#define BIT(c) (UINT64_C(1) << (c))

/* Index = capability number (linux/capability.h). */
static const char *const cap_names[] = {
    [CAP_CHOWN] = "CAP_CHOWN",
    [CAP_DAC_OVERRIDE] = "CAP_DAC_OVERRIDE",
    [CAP_DAC_READ_SEARCH] = "CAP_DAC_READ_SEARCH",
    [CAP_FOWNER] = "CAP_FOWNER",
    [CAP_FSETID] = "CAP_FSETID",
    [CAP_KILL] = "CAP_KILL",
    [CAP_SETGID] = "CAP_SETGID",
    [CAP_SETUID] = "CAP_SETUID",
    [CAP_SETPCAP] = "CAP_SETPCAP",
    [CAP_LINUX_IMMUTABLE] = "CAP_LINUX_IMMUTABLE",
    [CAP_NET_BIND_SERVICE] = "CAP_NET_BIND_SERVICE",
    [CAP_NET_BROADCAST] = "CAP_NET_BROADCAST",
    [CAP_NET_ADMIN] = "CAP_NET_ADMIN",
    [CAP_NET_RAW] = "CAP_NET_RAW",
    [CAP_IPC_LOCK] = "CAP_IPC_LOCK",
    [CAP_IPC_OWNER] = "CAP_IPC_OWNER",
    [CAP_SYS_MODULE] = "CAP_SYS_MODULE",
    [CAP_SYS_RAWIO] = "CAP_SYS_RAWIO",
    [CAP_SYS_CHROOT] = "CAP_SYS_CHROOT",
    [CAP_SYS_PTRACE] = "CAP_SYS_PTRACE",
    [CAP_SYS_PACCT] = "CAP_SYS_PACCT",
    [CAP_SYS_ADMIN] = "CAP_SYS_ADMIN",
    [CAP_SYS_BOOT] = "CAP_SYS_BOOT",
    [CAP_SYS_NICE] = "CAP_SYS_NICE",
    [CAP_SYS_RESOURCE] = "CAP_SYS_RESOURCE",
    [CAP_SYS_TIME] = "CAP_SYS_TIME",
    [CAP_SYS_TTY_CONFIG] = "CAP_SYS_TTY_CONFIG",
    [CAP_MKNOD] = "CAP_MKNOD",
    [CAP_LEASE] = "CAP_LEASE",
    [CAP_AUDIT_WRITE] = "CAP_AUDIT_WRITE",
    [CAP_AUDIT_CONTROL] = "CAP_AUDIT_CONTROL",
    [CAP_SETFCAP] = "CAP_SETFCAP",
    [CAP_MAC_OVERRIDE] = "CAP_MAC_OVERRIDE",
    [CAP_MAC_ADMIN] = "CAP_MAC_ADMIN",
    [CAP_SYSLOG] = "CAP_SYSLOG",
    [CAP_WAKE_ALARM] = "CAP_WAKE_ALARM",
    [CAP_BLOCK_SUSPEND] = "CAP_BLOCK_SUSPEND",
    [CAP_AUDIT_READ] = "CAP_AUDIT_READ",
    [CAP_PERFMON] = "CAP_PERFMON",
    [CAP_BPF] = "CAP_BPF",
    [CAP_CHECKPOINT_RESTORE] = "CAP_CHECKPOINT_RESTORE",
};

_Static_assert(WH_ARRAY_LEN(cap_names) == CAP_CHECKPOINT_RESTORE + 1, "one name per capability");

enum wh_code cli_caps_parse(const char *name, int *cap)
{
  if (name == NULL)
    return WH_EINVALID;
  if (strcasecmp(name, "ALL") == 0) {
    *cap = CLI_CAP_ALL;
    return WH_OK;
  }
  if (strncasecmp(name, "CAP_", 4) == 0)
    name += 4;
  for (size_t i = 0; i < WH_ARRAY_LEN(cap_names); i++) {
    if (strcasecmp(name, cap_names[i] + 4) == 0) {
      *cap = (int)i;
      return WH_OK;
    }
  }
  return WH_EINVALID;
}

const char *cli_caps_name(int cap)
{
  return cap >= 0 && (size_t)cap < WH_ARRAY_LEN(cap_names) ? cap_names[cap] : NULL;
}

void cli_caps_default(struct cli_capset *s)
{
  s->bits = BIT(CAP_CHOWN) | BIT(CAP_DAC_OVERRIDE) | BIT(CAP_FSETID) | BIT(CAP_FOWNER) | BIT(CAP_MKNOD) |
            BIT(CAP_NET_RAW) | BIT(CAP_SETGID) | BIT(CAP_SETUID) | BIT(CAP_SETFCAP) | BIT(CAP_SETPCAP) |
            BIT(CAP_NET_BIND_SERVICE) | BIT(CAP_SYS_CHROOT) | BIT(CAP_KILL) | BIT(CAP_AUDIT_WRITE);
}

/* Highest capability of the running kernel. */
static int last_cap(void)
{
  WH_AUTOCLOSE int fd = open("/proc/sys/kernel/cap_last_cap", O_RDONLY | O_CLOEXEC);
  char b[16];
  ssize_t n;
  int v = 0;

  if (fd < 0 || (n = read(fd, b, sizeof(b) - 1)) <= 0)
    return CAP_LAST_CAP;
  for (ssize_t i = 0; i < n && b[i] >= '0' && b[i] <= '9'; i++)
    v = v * 10 + (b[i] - '0');
  return v > 0 && v <= CLI_CAP_MAX ? v : CAP_LAST_CAP;
}

void cli_caps_all(struct cli_capset *s)
{
  int last = last_cap();

  s->bits = last >= CLI_CAP_MAX ? UINT64_MAX : BIT(last + 1) - 1;
}

void cli_caps_add(struct cli_capset *s, int cap)
{
  struct cli_capset all;

  if (cap == CLI_CAP_ALL) {
    cli_caps_all(&all);
    s->bits |= all.bits;
  } else if (cap >= 0 && cap <= CLI_CAP_MAX) {
    s->bits |= BIT(cap);
  }
}

void cli_caps_drop(struct cli_capset *s, int cap)
{
  if (cap == CLI_CAP_ALL)
    s->bits = 0;
  else if (cap >= 0 && cap <= CLI_CAP_MAX)
    s->bits &= ~BIT(cap);
}

bool cli_caps_has(const struct cli_capset *s, int cap)
{
  return cap >= 0 && cap <= CLI_CAP_MAX && (s->bits & BIT(cap)) != 0;
}

/* ---- applying ----------------------------------------------------------- */

static enum wh_code drop_bounding(uint64_t keep, struct wh_err *err)
{
  int last = last_cap();

  for (int c = 0; c <= last; c++) {
    if (keep & BIT(c))
      continue;
    int r = prctl(PR_CAPBSET_READ, (unsigned long)c, 0, 0, 0);
    if (r < 0 && errno == EINVAL)
      break; /* the kernel knows no more */
    if (r <= 0)
      continue;
    if (prctl(PR_CAPBSET_DROP, (unsigned long)c, 0, 0, 0) < 0)
      return wh_err_set(err, errno == EPERM ? WH_EDENIED : WH_EIO, errno, "drop %s from the bounding set",
                        cli_caps_name(c) ? cli_caps_name(c) : "a capability");
  }
  return WH_OK;
}

enum wh_code cli_caps_apply(const struct cli_capset *keep, struct wh_err *err)
{
  struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
  struct __user_cap_data_struct d[2];
  uint64_t permitted, want;
  enum wh_code rc;

  memset(d, 0, sizeof(d));
  if (syscall(SYS_capget, &h, d) < 0)
    return wh_err_set(err, WH_EIO, errno, "capget");
  permitted = (uint64_t)d[0].permitted | (uint64_t)d[1].permitted << 32;
  if ((rc = drop_bounding(keep->bits, err)) != WH_OK)
    return rc;
  /* EINVAL: a kernel without ambient capabilities (< 4.3) has none to clear */
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
    return wh_err_set(err, WH_EIO, errno, "clear the ambient capabilities");
  want = keep->bits & permitted;
  memset(d, 0, sizeof(d));
  d[0].permitted = d[0].effective = (uint32_t)want;
  d[1].permitted = d[1].effective = (uint32_t)(want >> 32);
  h.version = _LINUX_CAPABILITY_VERSION_3;
  h.pid = 0;
  if (syscall(SYS_capset, &h, d) < 0)
    return wh_err_set(err, errno == EPERM ? WH_EDENIED : WH_EIO, errno, "capset");
  return WH_OK;
}
