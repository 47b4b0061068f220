/* client/tls.c - the TLS settings of one registry: which CAs beside the
 * system's, which client certificate, whether to verify at all.
 *
 * Certificates come from --cert-dir DIR when given, else from the first of
 * $XDG_CONFIG_HOME/wharf/certs.d/DOMAIN/ (~/.config/wharf/certs.d/DOMAIN/
 * without it) and /etc/wharf/certs.d/DOMAIN/ that exists, DOMAIN being
 * "host[:port]" as written in the image reference (docker's certs.d layout):
 *
 *   *.crt               CA certificates (PEM), trusted beside the system's
 *   NAME.cert NAME.key  a client certificate and its key (the first NAME)
 *
 * Invariants: at most CLI_CA_MAX bytes of extra CA PEM are read (plus the
 * system bundle, capped at CLI_SYSTEM_CA_MAX); a domain that could climb out
 * of certs.d ("", ".", "..", a "/") is never used as a folder name; a
 * missing certs.d folder is no error, a missing --cert-dir is; nothing here
 * prints.
 */
#include "config.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client/registry-int.h"
#include "common/cleanup.h"
#include "common/fsutil.h"

#define CLI_CA_MAX (1024 * 1024)
#define CLI_SYSTEM_CA_MAX (4 * 1024 * 1024)
#define SYSTEM_CERTS_D "/etc/wharf/certs.d"

void cli_tls_release(struct cli_tls *t)
{
  if (t == NULL)
    return;
  wh_buf_release(&t->ca);
  free(t->cert);
  free(t->key);
  t->cert = t->key = NULL;
}

static bool ends_with(const char *s, const char *suffix)
{
  size_t n = strlen(s), m = strlen(suffix);

  return n > m && strcmp(s + n - m, suffix) == 0;
}

static bool domain_is_dir_name(const char *d)
{
  return d[0] != '\0' && strchr(d, '/') == NULL && strcmp(d, ".") != 0 && strcmp(d, "..") != 0;
}

/* Appends dirfd/name (a CA file) to t->ca. */
static enum wh_code add_ca(struct cli_tls *t, int dirfd, const char *dir, const char *name,
                           struct wh_err *err)
{
  struct wh_buf b;
  enum wh_code rc;

  wh_buf_init(&b, CLI_CA_MAX);
  if ((rc = wh_read_file_at(dirfd, name, &b, err)) == WH_OK && b.len > 0 &&
      ((rc = wh_buf_append(&t->ca, b.data, b.len)) != WH_OK ||
       (rc = wh_buf_append(&t->ca, "\n", 1)) != WH_OK))
    rc = wh_err_set(err, WH_ETOOBIG, 0, "CA certificates in \"%s\" over %d bytes", dir, CLI_CA_MAX);
  wh_buf_release(&b);
  return rc == WH_OK ? rc : (wh_err_wrap(err, "\"%s/%s\"", dir, name), rc);
}

/* The client certificate NAME.cert (the smallest NAME with a NAME.key). */
static enum wh_code pick_cert(struct cli_tls *t, int dirfd, const char *dir, const char *name,
                              struct wh_err *err)
{
  size_t stem = strlen(name) - strlen(".cert");
  WH_AUTOFREE char *key = NULL;

  if (t->cert && strcmp(strrchr(t->cert, '/') + 1, name) <= 0)
    return WH_OK;
  if ((key = cli_str_printf("%.*s.key", (int)stem, name)) == NULL)
    return wh_err_set(err, WH_ENOMEM, 0, "out of memory");
  if (faccessat(dirfd, key, R_OK, 0) != 0)
    return wh_err_set(err, WH_EINVALID, errno, "\"%s/%s\" has no key \"%s\"", dir, name, key);
  free(t->cert);
  free(t->key);
  t->cert = cli_str_printf("%s/%s", dir, name);
  t->key = cli_str_printf("%s/%s", dir, key);
  return t->cert && t->key ? WH_OK : wh_err_set(err, WH_ENOMEM, 0, "out of memory");
}

/* Reads dir's certificates into t. WH_ENOTFOUND when dir does not exist. */
static enum wh_code load_dir(struct cli_tls *t, const char *dir, struct wh_err *err)
{
  DIR *d = wh_opendir_at(AT_FDCWD, dir);
  struct dirent *e;
  enum wh_code rc = WH_OK;

  if (d == NULL)
    return wh_err_set(err, errno == ENOENT ? WH_ENOTFOUND : WH_EIO, errno, "certificates \"%s\"", dir);
  while (rc == WH_OK && (errno = 0, e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.')
      continue;
    if (ends_with(e->d_name, ".crt"))
      rc = add_ca(t, dirfd(d), dir, e->d_name, err);
    else if (ends_with(e->d_name, ".cert"))
      rc = pick_cert(t, dirfd(d), dir, e->d_name, err);
  }
  closedir(d);
  return rc;
}

/* The system's CA bundle first, so that extra CAs add to it (a CA blob
 * replaces curl's default bundle). Best effort. */
static void add_system_bundle(struct wh_buf *ca)
{
  char *path = NULL;
  AUTOCURL CURL *e = curl_easy_init();
  struct wh_buf b;

#if LIBCURL_VERSION_NUM >= 0x075400
  if (e)
    curl_easy_getinfo(e, CURLINFO_CAINFO, &path);
#endif
  if (path == NULL)
    path = "/etc/ssl/certs/ca-certificates.crt";
  wh_buf_init(&b, CLI_SYSTEM_CA_MAX);
  if (wh_read_file_at(AT_FDCWD, path, &b, NULL) == WH_OK && b.len > 0) {
    b.max = b.len + ca->len + 1;
    if (wh_buf_append(&b, "\n", 1) == WH_OK && wh_buf_append(&b, ca->data, ca->len) == WH_OK) {
      wh_buf_release(ca);
      *ca = b;
      return;
    }
  }
  wh_buf_release(&b);
}

/* The per-user certs.d folder for domain, malloc'd; NULL without HOME. */
static char *user_certs_d(const char *domain)
{
  const char *xdg = getenv("XDG_CONFIG_HOME");
  const char *home = getenv("HOME");

  if (xdg && xdg[0] == '/')
    return cli_str_printf("%s/wharf/certs.d/%s", xdg, domain);
  if (home && home[0] == '/')
    return cli_str_printf("%s/.config/wharf/certs.d/%s", home, domain);
  return NULL;
}

enum wh_code cli_tls_load(struct cli_tls *t, const char *domain, const char *cert_dir, struct wh_err *err)
{
  WH_AUTOFREE char *user = NULL;
  WH_AUTOFREE char *sys = NULL;
  enum wh_code rc = WH_ENOTFOUND;

  memset(t, 0, sizeof(*t));
  wh_buf_init(&t->ca, CLI_CA_MAX);
  if (cert_dir) {
    if ((rc = load_dir(t, cert_dir, err)) == WH_ENOTFOUND)
      return wh_err_set(err, WH_ENOTFOUND, 0, "--cert-dir \"%s\" does not exist", cert_dir);
  } else if (domain_is_dir_name(domain)) {
    if ((user = user_certs_d(domain)) != NULL)
      rc = load_dir(t, user, err);
    if (rc == WH_ENOTFOUND && (sys = cli_str_printf("%s/%s", SYSTEM_CERTS_D, domain)) != NULL)
      rc = load_dir(t, sys, err);
    if (rc == WH_ENOTFOUND)
      rc = WH_OK;
  } else {
    rc = WH_OK;
  }
  if (rc != WH_OK) {
    cli_tls_release(t);
    return rc;
  }
  if (t->ca.len > 0)
    add_system_bundle(&t->ca);
  return WH_OK;
}

void cli_tls_apply(const struct cli_tls *t, CURL *e)
{
  if (t->noverify) {
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
  }
#if LIBCURL_VERSION_NUM >= 0x074d00
  if (t->ca.len > 0) {
    struct curl_blob blob = {.data = t->ca.data, .len = t->ca.len, .flags = CURL_BLOB_NOCOPY};
    curl_easy_setopt(e, CURLOPT_CAINFO_BLOB, &blob);
  }
#endif
  if (t->cert) {
    curl_easy_setopt(e, CURLOPT_SSLCERT, t->cert);
    curl_easy_setopt(e, CURLOPT_SSLKEY, t->key);
  }
}
