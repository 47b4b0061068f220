/* client/platform.c - which entry of an image index fits a platform.
 *
 * The host platform is "linux" plus uname's machine mapped to Go's GOARCH
 * names (what images are labelled with): x86_64 -> amd64, aarch64 -> arm64
 * (variant v8), armv7l -> arm/v7, i686 -> 386, ... Matching follows
 * containerd's rules, simplified: os and architecture must be equal;
 * arm64 without a variant is arm64/v8; an exact variant beats a missing
 * one, which beats none. Entries without a platform never match, and
 * attestation manifests (unknown/unknown) only when asked for by name.
 */
#include "config.h"

#include <string.h>
#include <sys/utsname.h>

#include "client/cli.h"
#include "common/cleanup.h"

struct arch_map {
  const char *machine;
  const char *arch;
  const char *variant;
};

static const struct arch_map arch_table[] = {
    {"x86_64", "amd64", ""},    {"amd64", "amd64", ""},     {"i386", "386", ""},
    {"i486", "386", ""},        {"i586", "386", ""},        {"i686", "386", ""},
    {"aarch64", "arm64", "v8"}, {"arm64", "arm64", "v8"},   {"armv8l", "arm", "v8"},
    {"armv7l", "arm", "v7"},    {"armv7", "arm", "v7"},     {"armv6l", "arm", "v6"},
    {"armv5tel", "arm", "v5"},  {"ppc64le", "ppc64le", ""}, {"s390x", "s390x", ""},
    {"riscv64", "riscv64", ""}, {"mips64", "mips64", ""},   {"loongarch64", "loong64", ""},
};

static void set(char *dst, size_t size, const char *s, size_t n)
{
  if (n >= size)
    n = size - 1;
  memcpy(dst, s, n);
  dst[n] = '\0';
}

void cli_platform_host(struct cli_platform *out)
{
  struct utsname u;
  const char *m = uname(&u) == 0 ? u.machine : "x86_64";

  memset(out, 0, sizeof(*out));
  set(out->os, sizeof(out->os), "linux", 5);
  set(out->arch, sizeof(out->arch), m, strlen(m));
  for (size_t i = 0; i < WH_ARRAY_LEN(arch_table); i++) {
    if (strcmp(arch_table[i].machine, m) == 0) {
      set(out->arch, sizeof(out->arch), arch_table[i].arch, strlen(arch_table[i].arch));
      set(out->variant, sizeof(out->variant), arch_table[i].variant, strlen(arch_table[i].variant));
      break;
    }
  }
}

static bool word_ok(const char *s, size_t n, size_t max)
{
  if (n == 0 || n >= max)
    return false;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.'))
      return false;
  }
  return true;
}

enum wh_code cli_platform_parse(const char *s, struct cli_platform *out, struct wh_err *err)
{
  struct cli_platform p = {0};
  const char *a = strchr(s, '/'), *v;

  if (a == NULL || !word_ok(s, (size_t)(a - s), sizeof(p.os)))
    return wh_err_set(err, WH_EINVALID, 0, "platform \"%.64s\": expected os/arch[/variant]", s);
  v = strchr(a + 1, '/');
  if (!word_ok(a + 1, v ? (size_t)(v - a - 1) : strlen(a + 1), sizeof(p.arch)) ||
      (v && !word_ok(v + 1, strlen(v + 1), sizeof(p.variant))))
    return wh_err_set(err, WH_EINVALID, 0, "platform \"%.64s\": expected os/arch[/variant]", s);
  set(p.os, sizeof(p.os), s, (size_t)(a - s));
  set(p.arch, sizeof(p.arch), a + 1, v ? (size_t)(v - a - 1) : strlen(a + 1));
  if (v)
    set(p.variant, sizeof(p.variant), v + 1, strlen(v + 1));
  if (strcmp(p.arch, "arm64") == 0 && p.variant[0] == '\0')
    set(p.variant, sizeof(p.variant), "v8", 2);
  *out = p;
  return WH_OK;
}

void cli_platform_format(const struct cli_platform *p, char *out, size_t size)
{
  snprintf(out, size, "%s/%s%s%s", p->os, p->arch, p->variant[0] ? "/" : "", p->variant);
}

/* 0: no match; 1: variant missing on one side; 2: exact. */
static int score(const struct wh_platform *e, const struct cli_platform *want)
{
  const char *ev = e->variant ? e->variant : "";

  if (e->os == NULL || e->architecture == NULL || strcmp(e->os, want->os) != 0 ||
      strcmp(e->architecture, want->arch) != 0)
    return 0;
  if (strcmp(e->architecture, "arm64") == 0 && ev[0] == '\0')
    ev = "v8";
  if (strcmp(ev, want->variant) == 0)
    return 2;
  return ev[0] == '\0' || want->variant[0] == '\0' ? 1 : 0;
}

enum wh_code cli_platform_pick(const struct wh_manifest *idx, const struct cli_platform *want, size_t *i_out,
                               struct wh_err *err)
{
  int best = 0;
  size_t at = 0;
  char name[128];

  for (size_t i = 0; i < idx->n_manifests; i++) {
    const struct wh_descriptor *d = &idx->manifests[i];
    int sc = d->has_platform && wh_media_type_is_manifest(d->media_type) ? score(&d->platform, want) : 0;
    if (sc > best) {
      best = sc;
      at = i;
    }
  }
  if (best == 0) {
    cli_platform_format(want, name, sizeof(name));
    return wh_err_set(err, WH_ENOTFOUND, 0, "no manifest for platform %s in the index", name);
  }
  *i_out = at;
  return WH_OK;
}
