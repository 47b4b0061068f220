/* server/htpasswd.c - the htpasswd file of wharfd's basic auth.
 *
 * Format: one "user:hash" per line, the hash bcrypt ($2y$, $2b$ or $2a$, as
 * `htpasswd -B` writes it); blank lines and '#' comments are skipped; any
 * other hash scheme fails the load (no weak MD5/SHA1/crypt fallbacks).
 *
 * Invariants:
 *  - a loaded table is immutable; reloading (SIGHUP) builds a new one;
 *  - verifying an unknown user runs bcrypt over a dummy hash made at load
 *    time with the highest cost in the file, so unknown users and wrong
 *    passwords cost the same and get the same answer; hashes are compared
 *    with CRYPTO_memcmp;
 *  - updates rewrite the whole file through a temp file in the same
 *    directory (mode 0600, fsync, rename, fsync of the directory): readers
 *    see the old or the new file, never half of one.
 */
#include "config.h"

#include "server/auth-int.h"

#include <crypt.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/cleanup.h"
#include "common/fsutil.h"

#define HTPASSWD_MAX (4u * 1024 * 1024)
#define HASH_MAX 128
#define DEFAULT_COST 10

struct entry {
  char *user;
  char hash[HASH_MAX];
};

struct srv_htpasswd {
  struct entry *e; /* owned */
  size_t n;
  char dummy[HASH_MAX]; /* bcrypt of a random password, the file's highest cost */
};

bool srv_user_name_valid(const char *name)
{
  size_t n = strlen(name);

  if (n == 0 || n > 127)
    return false;
  for (size_t i = 0; i < n; i++) {
    char c = name[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
          c == '_' || c == '-' || c == '@'))
      return false;
  }
  return true;
}

static bool is_bcrypt(const char *h)
{
  return strlen(h) == 60 &&
         (strncmp(h, "$2y$", 4) == 0 || strncmp(h, "$2b$", 4) == 0 || strncmp(h, "$2a$", 4) == 0);
}

static unsigned bcrypt_cost(const char *h)
{
  return (unsigned)(h[4] - '0') * 10 + (unsigned)(h[5] - '0');
}

/* bcrypt of password with setting (a hash or a salt) into out. */
static bool bcrypt(const char *password, const char *setting, char out[HASH_MAX])
{
  WH_AUTOFREE struct crypt_data *cd = calloc(1, sizeof(*cd));
  char *r;
  bool ok;

  if (!cd)
    return false;
  r = crypt_rn(password, setting, cd, sizeof(*cd));
  ok = r && r[0] != '*' && strlen(r) < HASH_MAX;
  if (ok)
    snprintf(out, HASH_MAX, "%s", r);
  OPENSSL_cleanse(cd, sizeof(*cd));
  return ok;
}

static bool make_hash(const char *password, unsigned cost, char out[HASH_MAX])
{
  char salt[CRYPT_GENSALT_OUTPUT_SIZE];

  if (!crypt_gensalt_rn("$2y$", cost ? cost : DEFAULT_COST, NULL, 0, salt, sizeof(salt)))
    return false;
  return bcrypt(password, salt, out);
}

void srv_htpasswd_free(struct srv_htpasswd *h)
{
  if (!h)
    return;
  for (size_t i = 0; i < h->n; i++)
    free(h->e[i].user);
  free(h->e);
  free(h);
}

/* One "user:hash" line (no newline) into h. */
static enum wh_code add_line(struct srv_htpasswd *h, char *line, size_t lineno, struct wh_err *err)
{
  char *colon = strchr(line, ':');
  struct entry *grown;

  if (!colon)
    return wh_err_set(err, WH_EINVALID, 0, "line %zu: expected user:hash", lineno);
  *colon = '\0';
  if (!srv_user_name_valid(line))
    return wh_err_set(err, WH_EINVALID, 0, "line %zu: bad user name", lineno);
  if (!is_bcrypt(colon + 1))
    return wh_err_set(err, WH_EUNSUPPORTED, 0, "line %zu: only bcrypt hashes (htpasswd -B)", lineno);
  if (srv_htpasswd_has(h, line))
    return wh_err_set(err, WH_EINVALID, 0, "line %zu: user \"%s\" twice", lineno, line);
  if (!(grown = realloc(h->e, (h->n + 1) * sizeof(*grown))))
    return wh_err_set(err, WH_ENOMEM, ENOMEM, "htpasswd");
  h->e = grown;
  if (!(h->e[h->n].user = strdup(line)))
    return wh_err_set(err, WH_ENOMEM, ENOMEM, "htpasswd");
  snprintf(h->e[h->n].hash, HASH_MAX, "%s", colon + 1);
  h->n++;
  return WH_OK;
}

static enum wh_code parse(struct srv_htpasswd *h, char *text, struct wh_err *err)
{
  size_t lineno = 0;
  char *line = text, *nl;

  for (; line && *line; line = nl) {
    nl = strchr(line, '\n');
    if (nl)
      *nl++ = '\0';
    lineno++;
    line[strcspn(line, "\r")] = '\0';
    if (!*line || *line == '#')
      continue;
    if (add_line(h, line, lineno, err) != WH_OK)
      return err ? err->code : WH_EINVALID;
  }
  return WH_OK;
}

static enum wh_code make_dummy(struct srv_htpasswd *h, struct wh_err *err)
{
  unsigned cost = 5;
  char pw[33];

  for (size_t i = 0; i < h->n; i++)
    if (bcrypt_cost(h->e[i].hash) > cost)
      cost = bcrypt_cost(h->e[i].hash);
  if (wh_random_hex(pw, 16, err) != WH_OK)
    return err ? err->code : WH_EINTERNAL;
  if (!make_hash(pw, cost, h->dummy))
    return wh_err_set(err, WH_EINTERNAL, 0, "htpasswd: bcrypt unavailable");
  return WH_OK;
}

/* The file's bytes, NUL-terminated; a missing file is empty. */
static enum wh_code read_text(const char *path, struct wh_buf *b, struct wh_err *err)
{
  WH_AUTOCLOSE int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);

  wh_buf_init(b, HTPASSWD_MAX);
  if (fd < 0 && errno == ENOENT)
    return wh_buf_append(b, "", 1) == WH_OK ? WH_OK : wh_err_set(err, WH_ENOMEM, ENOMEM, "htpasswd");
  if (fd < 0)
    return wh_err_set(err, WH_EIO, errno, "htpasswd \"%s\"", path);
  if (wh_read_fd(fd, b, err) != WH_OK || wh_buf_append(b, "", 1) != WH_OK) {
    wh_buf_release(b);
    return wh_err_wrap(err, "htpasswd \"%s\"", path);
  }
  return WH_OK;
}

enum wh_code srv_htpasswd_load(const char *path, struct srv_htpasswd **out, struct wh_err *err)
{
  struct srv_htpasswd *h = calloc(1, sizeof(*h));
  struct wh_buf b;
  enum wh_code rc;

  if (!h)
    return wh_err_set(err, WH_ENOMEM, ENOMEM, "htpasswd");
  if ((rc = read_text(path, &b, err)) != WH_OK) {
    free(h);
    return rc;
  }
  rc = parse(h, b.data, err);
  wh_buf_release(&b);
  if (rc == WH_OK)
    rc = make_dummy(h, err);
  if (rc != WH_OK) {
    srv_htpasswd_free(h);
    return wh_err_wrap(err, "htpasswd \"%s\"", path);
  }
  *out = h;
  return WH_OK;
}

static const struct entry *find(const struct srv_htpasswd *h, const char *user)
{
  for (size_t i = 0; h && i < h->n; i++)
    if (strcmp(h->e[i].user, user) == 0)
      return &h->e[i];
  return NULL;
}

bool srv_htpasswd_has(const struct srv_htpasswd *h, const char *user)
{
  return find(h, user) != NULL;
}

bool srv_htpasswd_verify(const struct srv_htpasswd *h, const char *user, const char *password)
{
  const struct entry *e = find(h, user);
  const char *want = e ? e->hash : h ? h->dummy : "";
  char got[HASH_MAX];
  bool ok;

  if (!want[0] || !bcrypt(password, want, got))
    return false;
  ok = strlen(got) == strlen(want) && CRYPTO_memcmp(got, want, strlen(want)) == 0;
  return ok && e != NULL;
}

void srv_htpasswd_each(const struct srv_htpasswd *h, void (*cb)(void *ctx, const char *user), void *ctx)
{
  for (size_t i = 0; h && i < h->n; i++)
    cb(ctx, h->e[i].user);
}

/* ---- updates ------------------------------------------------------------- */

/* The new file's text: h with user set to hash (or removed when hash NULL). */
static enum wh_code render(const struct srv_htpasswd *h, const char *user, const char *hash, struct wh_buf *b,
                           struct wh_err *err)
{
  bool seen = false;

  for (size_t i = 0; i < h->n; i++) {
    const char *hh = h->e[i].hash;
    if (strcmp(h->e[i].user, user) == 0) {
      seen = true;
      if (!hash)
        continue;
      hh = hash;
    }
    if (wh_buf_printf(b, "%s:%s\n", h->e[i].user, hh) != WH_OK)
      return wh_err_set(err, WH_ETOOBIG, 0, "htpasswd too large");
  }
  if (!seen && !hash)
    return wh_err_set(err, WH_ENOTFOUND, 0, "user \"%s\" not known", user);
  if (!seen && wh_buf_printf(b, "%s:%s\n", user, hash) != WH_OK)
    return wh_err_set(err, WH_ETOOBIG, 0, "htpasswd too large");
  return WH_OK;
}

/* Writes b to path through a temp file beside it. */
static enum wh_code write_atomic(const char *path, const struct wh_buf *b, struct wh_err *err)
{
  char dir[4096], tmp[4200], rnd[17];
  const char *slash = strrchr(path, '/');
  WH_AUTOCLOSE int dfd = -1;
  WH_AUTOCLOSE int fd = -1;

  snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - path) : 1, slash ? path : ".");
  if (slash == path)
    snprintf(dir, sizeof(dir), "/");
  if (wh_random_hex(rnd, 8, err) != WH_OK)
    return err->code;
  snprintf(tmp, sizeof(tmp), "%s.%s.tmp", path, rnd);
  if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
    return wh_err_set(err, WH_EIO, errno, "htpasswd directory \"%s\"", dir);
  if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600)) < 0)
    return wh_err_set(err, WH_EIO, errno, "create \"%s\"", tmp);
  if (fchmod(fd, 0600) != 0 || wh_write_all(fd, b->data ? b->data : "", b->len, err) != WH_OK ||
      wh_fsync_fd(fd, err) != WH_OK || rename(tmp, path) != 0) {
    int e = errno;
    unlink(tmp);
    return err->code ? err->code : wh_err_set(err, WH_EIO, e, "write \"%s\"", path);
  }
  return wh_fsync_fd(dfd, err);
}

enum wh_code srv_htpasswd_update(const char *path, const char *user, const char *password, unsigned cost,
                                 struct wh_err *err)
{
  struct srv_htpasswd *h = NULL;
  char hash[HASH_MAX];
  struct wh_buf b;
  enum wh_code rc;

  if (!srv_user_name_valid(user))
    return wh_err_set(err, WH_EINVALID, 0, "user name \"%s\": 1 to 127 of A-Z a-z 0-9 . _ - @", user);
  if (cost && (cost < 4 || cost > 31))
    return wh_err_set(err, WH_EINVALID, 0, "bcrypt cost: 4 to 31");
  if (password && !make_hash(password, cost, hash))
    return wh_err_set(err, WH_EINTERNAL, 0, "bcrypt failed");
  if ((rc = srv_htpasswd_load(path, &h, err)) != WH_OK)
    return rc;
  wh_buf_init(&b, HTPASSWD_MAX);
  rc = render(h, user, password ? hash : NULL, &b, err);
  if (rc == WH_OK)
    rc = write_atomic(path, &b, err);
  wh_buf_release(&b);
  srv_htpasswd_free(h);
  return rc;
}
