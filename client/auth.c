/* client/auth.c - credentials in docker-compatible config.json files.
 *
 * Invariants: a config file is read whole, capped at CLI_CONFIG_MAX, and a
 * file that is not a JSON object is an error, never silently replaced; a
 * write keeps every key it does not manage and lands atomically (temp file
 * created 0600 with O_EXCL next to the target, fsync, renameat, fsync of the
 * directory), so a crash leaves the old or the new file, never a mix, and
 * never a world-readable one. Passwords are wiped from memory on release.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client/auth.h"
#include "common/cleanup.h"
#include "common/crypto-lazy.h"
#include "common/fsutil.h"

#define DOCKER_HUB_KEY "https://index.docker.io/v1/"
#define CRED_MAX 4096 /* longest user:password accepted */

void cli_creds_release(struct cli_creds *c)
{
  if (c == NULL)
    return;
  if (c->pass)
    explicit_bzero(c->pass, strlen(c->pass));
  free(c->user);
  free(c->pass);
  c->user = c->pass = NULL;
}

/* ---- base64 ---------------------------------------------------------------- */

char *cli_base64_encode(const void *p, size_t n)
{
  char *out;

  if (n > (size_t)INT32_MAX / 2)
    return NULL;
  if ((out = malloc(4 * ((n + 2) / 3) + 1)) == NULL)
    return NULL;
  EVP_EncodeBlock((unsigned char *)out, p, (int)n);
  return out;
}

enum wh_code cli_base64_decode(const char *s, size_t len, struct wh_buf *out, struct wh_err *err)
{
  WH_AUTOFREE unsigned char *raw = NULL;
  size_t pad = 0;
  int n;

  if (len % 4 != 0 || len > (size_t)INT32_MAX / 2)
    return wh_err_set(err, WH_EINVALID, 0, "bad base64 length");
  for (size_t i = 0; i < len; i++) {
    bool ok = isalnum((unsigned char)s[i]) || s[i] == '+' || s[i] == '/';
    if (s[i] == '=' && i >= len - 2) {
      pad++;
      continue;
    }
    if (!ok || pad > 0)
      return wh_err_set(err, WH_EINVALID, 0, "bad base64 character");
  }
  if ((raw = malloc(len / 4 * 3 + 1)) == NULL)
    return wh_err_set(err, WH_ENOMEM, 0, "out of memory");
  if ((n = EVP_DecodeBlock(raw, (const unsigned char *)s, (int)len)) < 0)
    return wh_err_set(err, WH_EINVALID, 0, "bad base64");
  /* EVP_DecodeBlock counts the padding as zero bytes. */
  if (wh_buf_append(out, raw, (size_t)n - pad) != WH_OK)
    return wh_err_set(err, WH_ETOOBIG, 0, "decoded value too long");
  explicit_bzero(raw, (size_t)n);
  return WH_OK;
}

/* ---- keys ------------------------------------------------------------------ */

char *cli_auth_key_host(const char *key)
{
  const char *p = key;
  size_t n;
  char *h;

  if (strncasecmp(p, "https://", 8) == 0)
    p += 8;
  else if (strncasecmp(p, "http://", 7) == 0)
    p += 7;
  n = strcspn(p, "/");
  if ((h = strndup(p, n)) == NULL)
    return NULL;
  for (char *c = h; *c; c++)
    *c = (char)tolower((unsigned char)*c);
  if (strcmp(h, "index.docker.io") == 0 || strcmp(h, "registry-1.docker.io") == 0) {
    free(h);
    return strdup("docker.io");
  }
  return h;
}

static bool key_matches(const char *key, const char *host_norm)
{
  WH_AUTOFREE char *h = cli_auth_key_host(key);

  return h && strcmp(h, host_norm) == 0;
}

/* ---- paths ----------------------------------------------------------------- */

static enum wh_code join_path(char **out, const char *a, const char *b, struct wh_err *err)
{
  struct wh_buf p;

  wh_buf_init(&p, 4096);
  if (wh_buf_printf(&p, "%s/%s", a, b) != WH_OK) {
    wh_buf_release(&p);
    return wh_err_set(err, WH_ETOOBIG, 0, "config path too long");
  }
  if ((*out = wh_buf_steal(&p, NULL)) == NULL)
    return wh_err_set(err, WH_ENOMEM, 0, "out of memory");
  return WH_OK;
}

enum wh_code cli_auth_config_path(char **out, struct wh_err *err)
{
  const char *env = getenv("WHARF_CONFIG");
  const char *xdg = getenv("XDG_CONFIG_HOME");
  const char *home = getenv("HOME");

  if (env && env[0])
    return (*out = strdup(env)) ? WH_OK : wh_err_set(err, WH_ENOMEM, 0, "out of memory");
  if (xdg && xdg[0] == '/')
    return join_path(out, xdg, "wharf/config.json", err);
  if (home && home[0] == '/')
    return join_path(out, home, ".config/wharf/config.json", err);
  return wh_err_set(err, WH_ENOTFOUND, 0, "no config file: set WHARF_CONFIG or HOME");
}

enum wh_code cli_auth_docker_path(char **out, struct wh_err *err)
{
  const char *env = getenv("DOCKER_CONFIG");
  const char *home = getenv("HOME");

  if (env && env[0])
    return join_path(out, env, "config.json", err);
  if (home && home[0] == '/')
    return join_path(out, home, ".docker/config.json", err);
  return wh_err_set(err, WH_ENOTFOUND, 0, "no docker config (HOME unset)");
}

/* ---- reading --------------------------------------------------------------- */

/* Loads path as a JSON object. WH_ENOTFOUND when the file does not exist. */
static enum wh_code load_config(const char *path, json_t **out, struct wh_err *err)
{
  WH_AUTOCLOSE int fd = open(path, O_RDONLY | O_CLOEXEC);
  struct wh_buf b;
  json_error_t je;
  json_t *j;
  enum wh_code rc;

  if (fd < 0)
    return wh_err_set(err, errno == ENOENT ? WH_ENOTFOUND : WH_EIO, errno, "open \"%s\"", path);
  wh_buf_init(&b, CLI_CONFIG_MAX);
  if ((rc = wh_read_fd(fd, &b, err)) != WH_OK) {
    wh_buf_release(&b);
    return (wh_err_wrap(err, "read \"%s\"", path), rc);
  }
  j = json_loadb(b.data ? b.data : "", b.len, JSON_REJECT_DUPLICATES, &je);
  wh_buf_release(&b);
  if (j == NULL || !json_is_object(j)) {
    json_decref(j);
    return wh_err_set(err, WH_EINVALID, 0, "\"%s\": not a JSON object (line %d: %s)", path, je.line, je.text);
  }
  *out = j;
  return WH_OK;
}

/* Splits "user:password" (decoded from "auth") into c. */
static enum wh_code creds_from_auth(const char *b64, struct cli_creds *c, struct wh_err *err)
{
  struct wh_buf raw;
  char *colon;
  enum wh_code rc;

  wh_buf_init(&raw, CRED_MAX);
  if ((rc = cli_base64_decode(b64, strlen(b64), &raw, err)) != WH_OK)
    goto out;
  if (raw.data == NULL || memchr(raw.data, '\0', raw.len) || (colon = strchr(raw.data, ':')) == NULL) {
    rc = wh_err_set(err, WH_EINVALID, 0, "\"auth\" is not base64 of user:password");
    goto out;
  }
  c->user = strndup(raw.data, (size_t)(colon - raw.data));
  c->pass = strdup(colon + 1);
  rc = c->user && c->pass ? WH_OK : wh_err_set(err, WH_ENOMEM, 0, "out of memory");
out:
  if (raw.data)
    explicit_bzero(raw.data, raw.len);
  wh_buf_release(&raw);
  return rc;
}

static enum wh_code creds_from_entry(json_t *entry, struct cli_creds *out, struct wh_err *err)
{
  struct cli_creds c = {0};
  const char *auth = json_string_value(json_object_get(entry, "auth"));
  const char *user = json_string_value(json_object_get(entry, "username"));
  const char *pass = json_string_value(json_object_get(entry, "password"));
  const char *idtok = json_string_value(json_object_get(entry, "identitytoken"));
  enum wh_code rc;

  if (idtok && idtok[0]) {
    c.identity = true;
    c.user = strdup("<token>");
    c.pass = strdup(idtok);
    rc = c.user && c.pass ? WH_OK : wh_err_set(err, WH_ENOMEM, 0, "out of memory");
  } else if (auth && auth[0]) {
    rc = creds_from_auth(auth, &c, err);
  } else if (user && pass) {
    c.user = strdup(user);
    c.pass = strdup(pass);
    rc = c.user && c.pass ? WH_OK : wh_err_set(err, WH_ENOMEM, 0, "out of memory");
  } else {
    rc = wh_err_set(err, WH_ENOTFOUND, 0, "no \"auth\" in the entry");
  }
  if (rc != WH_OK) {
    cli_creds_release(&c);
    return rc;
  }
  *out = c;
  return WH_OK;
}

enum wh_code cli_auth_lookup_in(const char *path, const char *host, struct cli_creds *out, struct wh_err *err)
{
  json_auto_t *root = NULL;
  WH_AUTOFREE char *want = cli_auth_key_host(host);
  json_t *auths, *entry;
  const char *key;
  enum wh_code rc;

  if (want == NULL)
    return wh_err_set(err, WH_ENOMEM, 0, "out of memory");
  if ((rc = load_config(path, &root, err)) != WH_OK)
    return rc;
  auths = json_object_get(root, "auths");
  json_object_foreach(auths, key, entry)
  {
    if (json_is_object(entry) && key_matches(key, want)) {
      rc = creds_from_entry(entry, out, err);
      return rc == WH_OK ? rc : (wh_err_wrap(err, "\"%s\": auths \"%s\"", path, key), rc);
    }
  }
  return wh_err_set(err, WH_ENOTFOUND, 0, "no credentials for \"%s\"", host);
}

char *cli_auth_server_url(const char *host)
{
  WH_AUTOFREE char *norm = cli_auth_key_host(host);

  if (norm == NULL)
    return NULL;
  return strdup(strcmp(norm, "docker.io") == 0 ? DOCKER_HUB_KEY : norm);
}

enum wh_code cli_auth_helper_in(const char *path, const char *host, char **out, struct wh_err *err)
{
  json_auto_t *root = NULL;
  WH_AUTOFREE char *want = cli_auth_key_host(host);
  const char *key, *name = NULL;
  json_t *v;
  enum wh_code rc;

  if (want == NULL)
    return wh_err_set(err, WH_ENOMEM, 0, "out of memory");
  if ((rc = load_config(path, &root, err)) != WH_OK)
    return rc;
  json_object_foreach(json_object_get(root, "credHelpers"), key, v)
  {
    if (json_is_string(v) && key_matches(key, want)) {
      name = json_string_value(v);
      break;
    }
  }
  if (name == NULL)
    name = json_string_value(json_object_get(root, "credsStore"));
  if (name == NULL || name[0] == '\0')
    return wh_err_set(err, WH_ENOTFOUND, 0, "no credential helper for \"%s\"", host);
  return (*out = strdup(name)) ? WH_OK : wh_err_set(err, WH_ENOMEM, 0, "out of memory");
}

/* The helper of host in the file at path, when there is one; else its "auths" entry. */
static enum wh_code lookup_file(const char *path, const char *host, struct cli_creds *out, struct wh_err *err)
{
  WH_AUTOFREE char *helper = NULL;
  WH_AUTOFREE char *server = NULL;
  enum wh_code rc = cli_auth_helper_in(path, host, &helper, err);

  if (rc == WH_OK) {
    if ((server = cli_auth_server_url(host)) == NULL)
      return wh_err_set(err, WH_ENOMEM, 0, "out of memory");
    if ((rc = cli_credhelper_get(helper, server, out, err)) != WH_ENOTFOUND)
      return rc == WH_OK ? rc : (wh_err_wrap(err, "\"%s\"", path), rc);
  } else if (rc != WH_ENOTFOUND) {
    return rc;
  }
  return cli_auth_lookup_in(path, host, out, err);
}

enum wh_code cli_auth_lookup(const char *host, struct cli_creds *out, struct wh_err *err)
{
  WH_AUTOFREE char *mine = NULL;
  WH_AUTOFREE char *docker = NULL;
  enum wh_code rc = WH_ENOTFOUND;

  if (cli_auth_config_path(&mine, NULL) == WH_OK) {
    rc = lookup_file(mine, host, out, err);
    if (rc != WH_ENOTFOUND)
      return rc;
  }
  if (cli_auth_docker_path(&docker, NULL) == WH_OK)
    rc = lookup_file(docker, host, out, err);
  return rc;
}

enum wh_code cli_auth_helper(const char *host, char **out, struct wh_err *err)
{
  WH_AUTOFREE char *mine = NULL;
  WH_AUTOFREE char *docker = NULL;
  enum wh_code rc = WH_ENOTFOUND;

  if (cli_auth_config_path(&mine, NULL) == WH_OK &&
      (rc = cli_auth_helper_in(mine, host, out, err)) != WH_ENOTFOUND)
    return rc;
  if (cli_auth_docker_path(&docker, NULL) == WH_OK)
    rc = cli_auth_helper_in(docker, host, out, err);
  return rc == WH_OK || rc == WH_ENOTFOUND ? rc : (wh_err_wrap(err, "credential helper"), rc);
}

bool cli_auth_insecure(const char *host)
{
  json_auto_t *root = NULL;
  WH_AUTOFREE char *path = NULL;
  WH_AUTOFREE char *want = cli_auth_key_host(host);
  json_t *v;
  size_t i;

  if (want == NULL || cli_auth_config_path(&path, NULL) != WH_OK || load_config(path, &root, NULL) != WH_OK)
    return false;
  json_array_foreach(json_object_get(root, "insecure_registries"), i, v)
  {
    if (json_is_string(v) && key_matches(json_string_value(v), want))
      return true;
  }
  return false;
}

/* ---- writing --------------------------------------------------------------- */

/* Opens (creating, 0700) the directory part of path; *base_out points into path. */
static enum wh_code open_parent(const char *path, int *fd_out, const char **base_out, struct wh_err *err)
{
  const char *slash = strrchr(path, '/');
  WH_AUTOFREE char *dir = NULL;
  int fd;

  if (slash == NULL) {
    dir = strdup(".");
    *base_out = path;
  } else {
    dir = strndup(path, slash == path ? 1 : (size_t)(slash - path));
    *base_out = slash + 1;
  }
  if (dir == NULL)
    return wh_err_set(err, WH_ENOMEM, 0, "out of memory");
  if ((*base_out)[0] == '\0')
    return wh_err_set(err, WH_EINVALID, 0, "\"%s\": not a file name", path);
  if (dir[0] == '/' && dir[1]) {
    WH_AUTOCLOSE int rootfd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (rootfd < 0 || wh_mkdir_p_at(rootfd, dir + 1, 0700, NULL) != WH_OK) {
      /* Components may be symlinks (a home on another disk): plain mkdir. */
      if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return wh_err_set(err, WH_EIO, errno, "create directory \"%s\"", dir);
    }
  }
  if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
    return wh_err_set(err, WH_EIO, errno, "open directory \"%s\"", dir);
  *fd_out = fd;
  return WH_OK;
}

/* Writes root to path atomically, mode 0600. */
static enum wh_code save_config(const char *path, json_t *root, struct wh_err *err)
{
  WH_AUTOCLOSE int dirfd = -1;
  WH_AUTOCLOSE int fd = -1;
  WH_AUTOFREE char *text = NULL;
  char tmp[64], rnd[17];
  const char *base;
  enum wh_code rc;

  if ((rc = open_parent(path, &dirfd, &base, err)) != WH_OK)
    return rc;
  if ((text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER)) == NULL)
    return wh_err_set(err, WH_ENOMEM, 0, "out of memory");
  if ((rc = wh_random_hex(rnd, 8, err)) != WH_OK)
    return rc;
  snprintf(tmp, sizeof(tmp), ".config.json.%s", rnd);
  fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0)
    return wh_err_set(err, WH_EIO, errno, "create \"%s\" next to \"%s\"", tmp, path);
  if ((rc = wh_write_all(fd, text, strlen(text), err)) != WH_OK ||
      (rc = wh_write_all(fd, "\n", 1, err)) != WH_OK || (rc = wh_fsync_fd(fd, err)) != WH_OK)
    goto fail;
  if (renameat(dirfd, tmp, dirfd, base) != 0) {
    rc = wh_err_set(err, WH_EIO, errno, "rename into \"%s\"", path);
    goto fail;
  }
  return wh_fsync_fd(dirfd, err);
fail:
  unlinkat(dirfd, tmp, 0);
  return rc;
}

/* The config at path, or a fresh {} when it does not exist. */
static enum wh_code load_or_new(const char *path, json_t **out, struct wh_err *err)
{
  enum wh_code rc = load_config(path, out, err);

  if (rc != WH_ENOTFOUND)
    return rc;
  return (*out = json_object()) ? WH_OK : wh_err_set(err, WH_ENOMEM, 0, "out of memory");
}

/* Removes every key of auths naming host; *n_out: how many. */
static void drop_host(json_t *auths, const char *host_norm, size_t *n_out)
{
  const char *key;
  json_t *v;
  void *tmp;

  *n_out = 0;
  json_object_foreach_safe(auths, tmp, key, v)
  {
    if (key_matches(key, host_norm)) {
      json_object_del(auths, key);
      (*n_out)++;
    }
  }
}

static enum wh_code auths_of(json_t *root, json_t **out, struct wh_err *err)
{
  json_t *a = json_object_get(root, "auths");

  if (a == NULL) {
    if ((a = json_object()) == NULL || json_object_set_new(root, "auths", a) != 0)
      return wh_err_set(err, WH_ENOMEM, 0, "out of memory");
  } else if (!json_is_object(a)) {
    return wh_err_set(err, WH_EINVALID, 0, "\"auths\" is not an object");
  }
  *out = a;
  return WH_OK;
}

static json_t *auth_entry(const char *user, const char *pass)
{
  struct wh_buf up;
  WH_AUTOFREE char *b64 = NULL;
  json_t *e = NULL;

  wh_buf_init(&up, CRED_MAX);
  if (wh_buf_printf(&up, "%s:%s", user, pass) == WH_OK && (b64 = cli_base64_encode(up.data, up.len)) != NULL)
    e = json_pack("{s:s}", "auth", b64);
  if (up.data)
    explicit_bzero(up.data, up.len);
  wh_buf_release(&up);
  if (b64)
    explicit_bzero(b64, strlen(b64));
  return e;
}

enum wh_code cli_auth_store(const char *path, const char *host, const char *user, const char *pass,
                            struct wh_err *err)
{
  json_auto_t *root = NULL;
  WH_AUTOFREE char *norm = cli_auth_key_host(host);
  json_t *auths = NULL, *e;
  size_t n;
  enum wh_code rc;

  if (norm == NULL)
    return wh_err_set(err, WH_ENOMEM, 0, "out of memory");
  if (strchr(user, ':'))
    return wh_err_set(err, WH_EINVALID, 0, "a user name cannot contain ':'");
  if ((rc = load_or_new(path, &root, err)) != WH_OK || (rc = auths_of(root, &auths, err)) != WH_OK)
    return rc;
  drop_host(auths, norm, &n);
  if ((e = auth_entry(user, pass)) == NULL)
    return wh_err_set(err, WH_ETOOBIG, 0, "user name and password too long");
  if (json_object_set_new(auths, strcmp(norm, "docker.io") == 0 ? DOCKER_HUB_KEY : norm, e) != 0)
    return wh_err_set(err, WH_ENOMEM, 0, "out of memory");
  return save_config(path, root, err);
}

enum wh_code cli_auth_erase(const char *path, const char *host, struct wh_err *err)
{
  json_auto_t *root = NULL;
  WH_AUTOFREE char *norm = cli_auth_key_host(host);
  json_t *auths;
  size_t n = 0;
  enum wh_code rc;

  if (norm == NULL)
    return wh_err_set(err, WH_ENOMEM, 0, "out of memory");
  if ((rc = load_config(path, &root, err)) != WH_OK) {
    if (rc == WH_ENOTFOUND)
      return wh_err_set(err, WH_ENOTFOUND, 0, "not logged in to \"%s\"", host);
    return rc;
  }
  if ((auths = json_object_get(root, "auths")) != NULL)
    drop_host(auths, norm, &n);
  if (n == 0)
    return wh_err_set(err, WH_ENOTFOUND, 0, "not logged in to \"%s\"", host);
  return save_config(path, root, err);
}
