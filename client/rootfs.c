/* client/rootfs.c - an image's layers as a container's root filesystem:
 * the layer cache and, where overlayfs cannot be used, a flattened copy.
 *
 * The layer cache lives at <root>/layers/<map>/<alg>-<hex>, one directory
 * per layer, extracted once in overlay form (client/extract.h) with the
 * ids of the mapping <map> ("r<base>" when root maps containers to a
 * subordinate range, "u<uid>" for an unprivileged caller). Invariants: a
 * cache directory exists under its final name only once its extraction
 * finished, both of its digests matched and it was synced; it is built in
 * a "tmp-" sibling and renamed, so a killed extraction leaves only a tmp-
 * directory, which the next extraction into the cache, or prune, removes.
 * Cache directories are never written after the rename: containers see
 * them read-only through overlayfs.
 * Beside the layers, each <map> directory keeps the compiled seccomp
 * filters (".seccomp-<flags>", client/seccomp.h); prune removes them.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "client/container.h"
#include "client/extract.h"
#include "client/run.h"
#include "client/seccomp.h"
#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/manifest.h"

/* Reads "wharf" (else "root") ranges of /etc/subuid-like files. */
static bool subid_range(const char *file, uint32_t *base, uint32_t *count)
{
  WH_AUTOFCLOSE FILE *f = fopen(file, "re");
  char line[256];
  bool found = false;

  if (!f)
    return false;
  while (fgets(line, sizeof(line), f)) {
    char name[64];
    unsigned long b, c;
    if (sscanf(line, "%63[^:]:%lu:%lu", name, &b, &c) != 3 || c == 0 || b == 0 || b > UINT32_MAX - c)
      continue;
    if (strcmp(name, "wharf") != 0 && (found || strcmp(name, "root") != 0))
      continue;
    *base = (uint32_t)b;
    *count = (uint32_t)(c > CLI_RUN_DEFAULT_ID_COUNT ? CLI_RUN_DEFAULT_ID_COUNT : c);
    found = true;
    if (strcmp(name, "wharf") == 0)
      break;
  }
  return found;
}

void cli_idmap_default(struct cli_idmap *m)
{
  uint32_t b = CLI_RUN_DEFAULT_ID_BASE, c = CLI_RUN_DEFAULT_ID_COUNT;

  memset(m, 0, sizeof(*m));
  if (geteuid() != 0) {
    m->rootless = true;
    m->uid_base = getuid();
    m->gid_base = getgid();
    m->count = 1;
    return;
  }
  m->count = c;
  m->uid_base = subid_range("/etc/subuid", &b, &c) ? b : CLI_RUN_DEFAULT_ID_BASE;
  m->count = c;
  b = CLI_RUN_DEFAULT_ID_BASE, c = CLI_RUN_DEFAULT_ID_COUNT;
  m->gid_base = subid_range("/etc/subgid", &b, &c) ? b : CLI_RUN_DEFAULT_ID_BASE;
  if (c < m->count)
    m->count = c;
}

/* diff_ids[i] of the image config. */
static enum wh_code diff_ids(const struct wh_buf *cfg, size_t n_layers, struct wh_digest *out, struct wh_err *err)
{
  json_error_t je;
  json_auto_t *root = json_loadb((const char *)cfg->data, cfg->len, JSON_REJECT_DUPLICATES, &je);
  json_t *ids = root ? json_object_get(json_object_get(root, "rootfs"), "diff_ids") : NULL;

  if (!json_is_array(ids))
    return wh_err_set(err, WH_EINVALID, 0, "image config: no rootfs.diff_ids");
  if (json_array_size(ids) != n_layers)
    return wh_err_set(err, WH_EINVALID, 0, "image config: %zu diff_ids for %zu layers", json_array_size(ids),
                      n_layers);
  for (size_t i = 0; i < n_layers; i++) {
    const char *s = json_string_value(json_array_get(ids, i));
    if (!s || wh_digest_parsez(s, &out[i], err) != WH_OK)
      return wh_err_set(err, WH_EINVALID, 0, "image config: diff_ids[%zu] is not a digest", i);
  }
  return WH_OK;
}

static void opts_for(const struct cli_idmap *m, struct cli_extract_opts *o, bool overlay)
{
  cli_extract_opts_init(o);
  o->mode = overlay ? CLI_EXTRACT_OVERLAY : CLI_EXTRACT_APPLY;
  /* device nodes of an image never work (the root is mounted nodev) */
  o->flags |= CLI_EXTRACT_NO_DEVICES;
  if (m->rootless) {
    o->owner = CLI_EXTRACT_OWNER_NONE;
    o->flags |= CLI_EXTRACT_USER_XATTR;
  } else {
    o->owner = CLI_EXTRACT_OWNER_TRY;
    o->uid_base = m->uid_base;
    o->gid_base = m->gid_base;
    o->id_count = m->count;
  }
}

/* Extracts layer d of repo below dirfd (already made). */
static enum wh_code extract_one(struct store *st, const char *repo, const struct wh_descriptor *d,
                                const struct wh_digest *diff_id, int dirfd, struct cli_extract_opts *o,
                                struct wh_err *err)
{
  WH_AUTOCLOSE int fd = -1;
  uint64_t size;
  enum wh_code rc = store_blob_open(st, repo, &d->digest, &fd, &size, err);

  if (rc != WH_OK)
    return wh_err_wrap(err, "layer %s", d->digest.str);
  o->media_type = d->media_type;
  o->digest = &d->digest;
  o->diff_id = diff_id;
  rc = cli_extract_layer(fd, dirfd, o, NULL, err);
  return rc == WH_OK ? rc : wh_err_wrap(err, "layer %s", d->digest.str);
}

/* Removes tmp- leftovers of killed extractions (older than a minute, so a
 * concurrent run's extraction is left alone). */
static void sweep_tmp(int cache)
{
  WH_AUTOCLOSEDIR DIR *d = wh_opendir_at(cache, ".");
  struct dirent *e;
  time_t now = time(NULL);

  while (d && (e = readdir(d))) {
    struct stat sb;
    if (strncmp(e->d_name, "tmp-", 4) != 0 || fstatat(cache, e->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0)
      continue;
    if (now - sb.st_mtime > 60)
      cli_extract_rmtree_at(cache, e->d_name, NULL);
  }
}

/* Makes sure the cache directory cache (an fd) has the entry name: when
 * missing, fill(ctx, dirfd) builds it in a tmp- sibling (made with mode),
 * which is synced (the whole file system with syncfs, unless fill synced
 * what it wrote itself) and renamed (another run that won the race: its
 * copy). Building one first removes what killed builds left (a start that
 * finds everything in the cache does not read the whole cache). */
static enum wh_code cache_entry(int cache, const char *name, mode_t mode, bool fill_syncs,
                                enum wh_code (*fill)(void *ctx, int dirfd, struct wh_err *err), void *ctx,
                                struct wh_err *err)
{
  char tmp[NAME_MAX + 1], rnd[17];
  struct stat sb;
  enum wh_code rc;
  WH_AUTOCLOSE int dfd = -1;

  if (fstatat(cache, name, &sb, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(sb.st_mode))
    return WH_OK;
  sweep_tmp(cache);
  if ((rc = wh_random_hex(rnd, 8, err)) != WH_OK)
    return rc;
  snprintf(tmp, sizeof(tmp), "tmp-%.80s-%s", name, rnd);
  if (mkdirat(cache, tmp, mode) < 0)
    return wh_err_set(err, WH_EIO, errno, "layer cache: mkdir %s", tmp);
  if ((dfd = openat(cache, tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
    rc = wh_err_set(err, WH_EIO, errno, "layer cache: open %s", tmp);
  else if ((rc = fill(ctx, dfd, err)) == WH_OK && !fill_syncs && syncfs(dfd) < 0)
    rc = wh_err_set(err, WH_EIO, errno, "layer cache: sync");
  if (rc == WH_OK && renameat(cache, tmp, cache, name) < 0) {
    if (errno == EEXIST || errno == ENOTEMPTY) /* another run won: use its copy */
      return cli_extract_rmtree_at(cache, tmp, err);
    rc = wh_err_set(err, WH_EIO, errno, "layer cache: rename %s", name);
  }
  if (rc != WH_OK)
    cli_extract_rmtree_at(cache, tmp, NULL);
  return rc;
}

struct layer_fill {
  struct store *st;
  const char *repo;
  const struct cli_idmap *m;
  const struct wh_descriptor *d;
  const struct wh_digest *diff_id;
};

static enum wh_code fill_layer(void *ctx, int dfd, struct wh_err *err)
{
  struct layer_fill *f = ctx;
  struct cli_extract_opts o;

  opts_for(f->m, &o, true);
  return extract_one(f->st, f->repo, f->d, f->diff_id, dfd, &o, err);
}

/* Makes sure layer d is in the cache directory cache (an fd). */
static enum wh_code cache_layer(struct store *st, const char *repo, const struct cli_idmap *m, int cache,
                                const struct wh_descriptor *d, const struct wh_digest *diff_id, const char *name,
                                struct wh_err *err)
{
  struct layer_fill f = {.st = st, .repo = repo, .m = m, .d = d, .diff_id = diff_id};

  return cache_entry(cache, name, 0755, false, fill_layer, &f, err);
}

/* ---- the init layer ----------------------------------------------------------
 * The mount points every start needs, made once per image in the cache as
 * an extra topmost lower layer, "<alg>-<config hex>.init": a start then
 * creates nothing in the container's upper directory (there each file
 * costs an inode and overlayfs copies its directory up, at every start).
 * It holds /proc, /sys and /dev where no layer has an entry of that name,
 * and, when every layer's /etc is a directory or absent, /etc with empty
 * hosts, hostname and resolv.conf (bind-mount targets: they hide the
 * image's own, which the mounts hide anyway). Its root and /etc take the
 * owner, mode and times of the topmost layer's, as overlayfs shows the
 * topmost. No /etc at all when a layer's /etc is anything else (a start
 * then checks and makes what it needs, as without the layer). */

static const char *const init_dirs[] = {"proc", "sys", "dev"};
static const char *const init_files[] = {"hosts", "hostname", "resolv.conf"};

/* Gives fd/name like's owner, mode and times, and syncs it (a few entries:
 * cheaper than syncfs of the whole file system). */
static enum wh_code init_attrs(int fd, const char *name, const struct stat *like, const struct cli_idmap *m,
                               struct wh_err *err)
{
  struct timespec ts[2] = {like->st_atim, like->st_mtim};
  WH_AUTOCLOSE int f = -1;

  if (!m->rootless && fchownat(fd, name, like->st_uid, like->st_gid, AT_SYMLINK_NOFOLLOW) < 0)
    return wh_err_set(err, WH_EIO, errno, "init layer: chown %s", name);
  if (fchmodat(fd, name, like->st_mode & 07777, 0) < 0 || utimensat(fd, name, ts, AT_SYMLINK_NOFOLLOW) < 0)
    return wh_err_set(err, WH_EIO, errno, "init layer: attributes of %s", name);
  if ((f = openat(fd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0 || fsync(f) < 0)
    return wh_err_set(err, WH_EIO, errno, "init layer: sync %s", name);
  return WH_OK;
}

struct init_fill {
  int cache;
  const struct cli_idmap *m;
  char *const *lowers; /* the image's layers, top first */
  size_t n;
};

/* cache_entry()'s fill of an init layer in directory t. */
static enum wh_code fill_init(void *ctx, int t, struct wh_err *err)
{
  const struct init_fill *in = ctx;
  const struct cli_idmap *m = in->m;
  struct stat top, etc, sb;
  bool need[WH_ARRAY_LEN(init_dirs)], have_etc = false, etc_ok = true;
  struct stat root_like = {.st_mode = 0755, .st_uid = m->uid_base, .st_gid = m->gid_base};
  enum wh_code rc;

  for (size_t j = 0; j < WH_ARRAY_LEN(need); j++)
    need[j] = true;
  for (size_t i = 0; i < in->n; i++) { /* top layer first */
    WH_AUTOCLOSE int l = openat(in->cache, in->lowers[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (l < 0 || (i == 0 && fstat(l, &top) < 0))
      return wh_err_set(err, WH_EIO, errno, "init layer: open %s", in->lowers[i]);
    for (size_t j = 0; j < WH_ARRAY_LEN(init_dirs); j++)
      if (fstatat(l, init_dirs[j], &sb, AT_SYMLINK_NOFOLLOW) == 0)
        need[j] = false;
    if (fstatat(l, "etc", &sb, AT_SYMLINK_NOFOLLOW) == 0) {
      etc_ok = etc_ok && S_ISDIR(sb.st_mode);
      if (!have_etc)
        etc = sb, have_etc = true;
    }
  }
  for (size_t j = 0; j < WH_ARRAY_LEN(init_dirs); j++) {
    if (!need[j])
      continue;
    if (mkdirat(t, init_dirs[j], 0700) < 0)
      return wh_err_set(err, WH_EIO, errno, "init layer: mkdir %s", init_dirs[j]);
    root_like.st_mode = strcmp(init_dirs[j], "dev") == 0 ? 0755 : 0555;
    if ((rc = init_attrs(t, init_dirs[j], &root_like, m, err)) != WH_OK)
      return rc;
  }
  if (etc_ok) {
    WH_AUTOCLOSE int e = -1;
    if (mkdirat(t, "etc", 0700) < 0 || (e = openat(t, "etc", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
      return wh_err_set(err, WH_EIO, errno, "init layer: mkdir etc");
    root_like.st_mode = 0644;
    for (size_t j = 0; j < WH_ARRAY_LEN(init_files); j++) {
      int f = openat(e, init_files[j], O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0600);
      if (f < 0)
        return wh_err_set(err, WH_EIO, errno, "init layer: create etc/%s", init_files[j]);
      close(f);
      if ((rc = init_attrs(e, init_files[j], &root_like, m, err)) != WH_OK)
        return rc;
    }
    root_like.st_mode = 0755;
    if ((rc = init_attrs(t, "etc", have_etc ? &etc : &root_like, m, err)) != WH_OK)
      return rc;
  }
  return init_attrs(t, ".", &top, m, err);
}

/* Makes sure the init layer `name` of the image whose layers are lowers
 * (top first) is in the cache. */
static enum wh_code init_layer(int cache, const struct cli_idmap *m, char *const *lowers, size_t n,
                               const char *name, struct wh_err *err)
{
  struct init_fill f = {.cache = cache, .m = m, .lowers = lowers, .n = n};

  return cache_entry(cache, name, 0700, true, fill_init, &f, err);
}

static bool overlay_available(void)
{
  WH_AUTOFCLOSE FILE *f = NULL;
  char line[128];
  const char *force = getenv("WHARF_NO_OVERLAY");

  if (force && *force && strcmp(force, "0") != 0)
    return false;
  if (!(f = fopen("/proc/filesystems", "re")))
    return false;
  while (fgets(line, sizeof(line), f))
    if (strstr(line, "\toverlay\n"))
      return true;
  return false;
}

/* The flattened copy: every layer applied in order into state_dir/rootfs. */
static enum wh_code copy_root(struct store *st, const char *repo, const struct wh_manifest *img,
                              const struct wh_digest *ids, struct cli_run_spec *s, struct wh_err *err)
{
  char path[PATH_MAX];
  WH_AUTOCLOSE int dfd = -1;
  struct cli_extract_opts o;

  snprintf(path, sizeof(path), "%s/rootfs", s->state_dir);
  dfd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (dfd < 0)
    return wh_err_set(err, WH_EIO, errno, "open %s", path);
  for (size_t i = 0; i < img->n_layers; i++) {
    enum wh_code rc;
    opts_for(&s->idmap, &o, false);
    if ((rc = extract_one(st, repo, &img->layers[i], &ids[i], dfd, &o, err)) != WH_OK)
      return rc;
  }
  if (!s->idmap.rootless && fchown(dfd, s->idmap.uid_base, s->idmap.gid_base) < 0)
    return wh_err_set(err, WH_EIO, errno, "chown %s", path);
  s->copied_root = true;
  return WH_OK;
}

enum wh_code cli_rootfs_prepare(struct store *st, const char *root, const char *repo,
                                const struct wh_manifest *img, const struct wh_buf *cfg, struct cli_run_spec *s,
                                struct wh_err *err)
{
  WH_AUTOFREE struct wh_digest *ids = NULL;
  char dir[PATH_MAX], map[32];
  WH_AUTOCLOSE int cache = -1;
  enum wh_code rc;

  if (img->kind != WH_MANIFEST_IMAGE)
    return wh_err_set(err, WH_EINVALID, 0, "not an image manifest");
  if (!(ids = calloc(img->n_layers ? img->n_layers : 1, sizeof(*ids))))
    return wh_err_set(err, WH_ENOMEM, 0, "out of memory");
  if ((rc = diff_ids(cfg, img->n_layers, ids, err)) != WH_OK)
    return rc;
  if (!overlay_available() || img->n_layers == 0) {
    if (img->n_layers && !getenv("WHARF_NO_OVERLAY"))
      fprintf(stderr, "wharf: warning: overlayfs is not available: copying the image into the container\n");
    return copy_root(st, repo, img, ids, s, err);
  }
  if (s->idmap.rootless)
    snprintf(map, sizeof(map), "u%u", (unsigned)s->idmap.uid_base);
  else
    snprintf(map, sizeof(map), "r%u", (unsigned)s->idmap.uid_base);
  snprintf(dir, sizeof(dir), "layers/%s", map);
  {
    WH_AUTOCLOSE int rfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (rfd < 0)
      return wh_err_set(err, WH_EIO, errno, "open %s", root);
    if ((rc = wh_mkdir_p_at(rfd, dir, 0755, err)) != WH_OK)
      return rc;
  }
  snprintf(dir, sizeof(dir), "%s/layers/%s", root, map);
  cache = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (cache < 0)
    return wh_err_set(err, WH_EIO, errno, "open %s", dir);
  if (!(s->layers_dir = strdup(dir)) || !(s->lowers = calloc(img->n_layers + 1, sizeof(*s->lowers))))
    return wh_err_set(err, WH_ENOMEM, 0, "out of memory");
  s->n_lowers = img->n_layers + 1; /* filled from the end: release frees what is set */
  for (size_t i = 0; i < img->n_layers; i++) {
    const struct wh_descriptor *d = &img->layers[i];
    char name[NAME_MAX + 1];
    snprintf(name, sizeof(name), "%s-%s", wh_digest_alg_name(d->digest.alg), wh_digest_hex(&d->digest));
    if ((rc = cache_layer(st, repo, &s->idmap, cache, d, &ids[i], name, err)) != WH_OK)
      return rc;
    /* the init layer on top, then the image's top layer first */
    if (!(s->lowers[img->n_layers - i] = strdup(name)))
      return wh_err_set(err, WH_ENOMEM, 0, "out of memory");
  }
  char name[NAME_MAX + 1];
  snprintf(name, sizeof(name), "%s-%s" CLI_INIT_LAYER_SUFFIX, wh_digest_alg_name(img->config.digest.alg),
           wh_digest_hex(&img->config.digest));
  if ((rc = init_layer(cache, &s->idmap, s->lowers + 1, img->n_layers, name, err)) != WH_OK)
    return rc;
  if (!(s->lowers[0] = strdup(name)))
    return wh_err_set(err, WH_ENOMEM, 0, "out of memory");
  return WH_OK;
}

/* ---- pruning the cache ---------------------------------------------------------- */

struct in_use {
  char **names; /* "<map>/<layer>" of every container's lowers */
  size_t n, cap;
};

static int collect(void *ctx, const struct cli_container *c)
{
  struct in_use *u = ctx;
  const char *map = json_string_value(json_object_get(c->config, "layer_map"));
  json_t *layers = json_object_get(c->config, "layers"), *v;
  size_t i;

  json_array_foreach(layers, i, v)
  {
    char buf[NAME_MAX * 2 + 2];
    if (!map || !json_is_string(v))
      continue;
    if (u->n == u->cap) {
      size_t cap = u->cap ? u->cap * 2 : 64;
      char **p = realloc(u->names, cap * sizeof(*p));
      if (!p)
        return 1;
      u->names = p, u->cap = cap;
    }
    snprintf(buf, sizeof(buf), "%s/%s", map, json_string_value(v));
    if (!(u->names[u->n] = strdup(buf)))
      return 1;
    u->n++;
  }
  return 0;
}

static bool used(const struct in_use *u, const char *map, const char *name)
{
  size_t ml = strlen(map);

  for (size_t i = 0; i < u->n; i++)
    if (strncmp(u->names[i], map, ml) == 0 && u->names[i][ml] == '/' && strcmp(u->names[i] + ml + 1, name) == 0)
      return true;
  return false;
}

/* Bytes below dirfd/name (for the report), not following symlinks. */
static uint64_t tree_bytes(int at, const char *name, int depth)
{
  struct stat sb;
  uint64_t sum = 0;

  if (depth > 256 || fstatat(at, name, &sb, AT_SYMLINK_NOFOLLOW) < 0)
    return 0;
  if (!S_ISDIR(sb.st_mode))
    return (uint64_t)sb.st_blocks * 512;
  WH_AUTOCLOSEDIR DIR *d = wh_opendir_at(at, name);
  struct dirent *e;
  while (d && (e = readdir(d)))
    if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
      sum += tree_bytes(dirfd(d), e->d_name, depth + 1);
  return sum + (uint64_t)sb.st_blocks * 512;
}

enum wh_code cli_layer_cache_prune(struct store *st, const char *root, bool dry_run, uint64_t *n_out,
                                   uint64_t *bytes_out, struct wh_err *err)
{
  char path[PATH_MAX];
  struct in_use u = {0};
  WH_AUTOCLOSEDIR DIR *maps = NULL;
  struct dirent *m;
  enum wh_code rc = cli_container_list(root, collect, &u, err);

  *n_out = *bytes_out = 0;
  snprintf(path, sizeof(path), "%s/layers", root);
  if (rc == WH_OK && (maps = opendir(path))) {
    while ((m = readdir(maps))) {
      WH_AUTOCLOSEDIR DIR *d = NULL;
      struct dirent *e;
      if (m->d_name[0] == '.' || !(d = wh_opendir_at(dirfd(maps), m->d_name)))
        continue;
      if (!dry_run)
        sweep_tmp(dirfd(d));
      while ((e = readdir(d))) {
        const char *dash = strchr(e->d_name, '-');
        struct wh_digest dg;
        char ds[WH_DIGEST_STR_MAX];
        /* kept seccomp filters: the next start compiles them again */
        if (!dry_run && strncmp(e->d_name, CLI_SECCOMP_KEPT_PREFIX, strlen(CLI_SECCOMP_KEPT_PREFIX)) == 0)
          unlinkat(dirfd(d), e->d_name, 0);
        if (!dash || strncmp(e->d_name, "tmp-", 4) == 0 || e->d_name[0] == '.')
          continue;
        /* a layer is named by its blob's digest, an init layer by its
         * image config's (and the suffix) */
        size_t hex = strlen(dash + 1), sl = strlen(CLI_INIT_LAYER_SUFFIX);
        bool init = hex > sl && strcmp(dash + 1 + hex - sl, CLI_INIT_LAYER_SUFFIX) == 0;
        if (init)
          hex -= sl;
        snprintf(ds, sizeof(ds), "%.*s:%.*s", (int)(dash - e->d_name), e->d_name, (int)hex, dash + 1);
        if (wh_digest_parsez(ds, &dg, NULL) != WH_OK || used(&u, m->d_name, e->d_name) ||
            store_blob_stat(st, NULL, &dg, NULL, NULL) != WH_ENOTFOUND)
          continue;
        *bytes_out += tree_bytes(dirfd(d), e->d_name, 0);
        *n_out += !init; /* an image's init layer is not one of its layers */
        if (!dry_run && (rc = cli_extract_rmtree_at(dirfd(d), e->d_name, err)) != WH_OK)
          goto out;
      }
    }
  }
out:
  for (size_t i = 0; i < u.n; i++)
    free(u.names[i]);
  free(u.names);
  return rc;
}
