/* server/tls.c - wharfd's built-in TLS: certificate files, SIGHUP reload.
 *
 * Config: "tls": {"cert": "/etc/wharf/cert.pem", "key": "/etc/wharf/key.pem"}
 * (the cert file may hold the chain after the leaf). libmicrohttpd serves
 * TLS through GnuTLS with SRV_TLS_PRIORITIES: TLS 1.2 and 1.3 only.
 *
 * Reload (srv_reload, on SIGHUP): libmicrohttpd 0.9.75 cannot change a
 * running daemon's certificate without GnuTLS callbacks, so the new pair
 * is read and checked (a matching key), a new daemon is started on a dup
 * of the same listening socket, and only then is the old daemon quiesced
 * (it stops accepting, its connections finish). The socket never closes,
 * so no connection is refused meanwhile; a bad new pair leaves the old
 * daemon serving. Quiesced daemons are stopped once idle (at the next
 * reload) or at shutdown.
 *
 * Invariants: the PEM texts a daemon was started with stay allocated
 * until that daemon is stopped; the key text is wiped before it is freed.
 */
#include "config.h"

#include "server/server.h"

#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <string.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fsutil.h"

#define PEM_FILE_MAX (1024 * 1024)
#define RETIRED_MAX 16

struct pair {
  char *cert, *key; /* owned PEM texts, NUL-terminated */
};

struct retired {
  struct MHD_Daemon *daemon;
  struct pair pem; /* what it was started with */
};

struct srv_tls {
  char *cert_path, *key_path; /* owned */
  struct pair cur;            /* what the current daemon uses */
  struct retired old[RETIRED_MAX];
  size_t n_old;
};

static void pair_release(struct pair *p)
{
  if (p->key)
    OPENSSL_cleanse(p->key, strlen(p->key));
  free(p->key);
  free(p->cert);
  p->key = p->cert = NULL;
}

static enum wh_code read_pem(const char *path, char **out, struct wh_err *err)
{
  WH_AUTOCLOSE int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  struct wh_buf b;

  if (fd < 0)
    return wh_err_set(err, WH_EIO, errno, "tls \"%s\"", path);
  wh_buf_init(&b, PEM_FILE_MAX);
  if (wh_read_fd(fd, &b, err) != WH_OK || wh_buf_append(&b, "", 1) != WH_OK) {
    wh_buf_release(&b);
    return wh_err_set(err, WH_EINVALID, 0, "tls \"%s\": unreadable or larger than 1 MiB", path);
  }
  *out = wh_buf_steal(&b, NULL);
  return WH_OK;
}

/* The certificate parses and the key is its key. */
static enum wh_code pair_check(const struct pair *p, const struct srv_tls *t, struct wh_err *err)
{
  BIO *cb = BIO_new_mem_buf(p->cert, -1), *kb = BIO_new_mem_buf(p->key, -1);
  X509 *x = cb ? PEM_read_bio_X509(cb, NULL, NULL, NULL) : NULL;
  EVP_PKEY *k = kb ? PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL) : NULL;
  enum wh_code rc = WH_OK;

  if (!x)
    rc = wh_err_set(err, WH_EINVALID, 0, "tls.cert \"%s\": no PEM certificate", t->cert_path);
  else if (!k)
    rc = wh_err_set(err, WH_EINVALID, 0, "tls.key \"%s\": no PEM private key", t->key_path);
  else if (X509_check_private_key(x, k) != 1)
    rc = wh_err_set(err, WH_EINVALID, 0, "tls.key \"%s\" does not match tls.cert \"%s\"", t->key_path,
                    t->cert_path);
  ERR_clear_error();
  X509_free(x);
  EVP_PKEY_free(k);
  BIO_free(cb);
  BIO_free(kb);
  return rc;
}

static enum wh_code pair_load(const struct srv_tls *t, struct pair *out, struct wh_err *err)
{
  struct pair p = {NULL, NULL};
  enum wh_code rc;

  if ((rc = read_pem(t->cert_path, &p.cert, err)) != WH_OK ||
      (rc = read_pem(t->key_path, &p.key, err)) != WH_OK || (rc = pair_check(&p, t, err)) != WH_OK) {
    pair_release(&p);
    return rc;
  }
  *out = p;
  return WH_OK;
}

void srv_tls_free(struct srv_tls *t)
{
  if (!t)
    return;
  for (size_t i = 0; i < t->n_old; i++) {
    MHD_stop_daemon(t->old[i].daemon);
    pair_release(&t->old[i].pem);
  }
  pair_release(&t->cur);
  free(t->cert_path);
  free(t->key_path);
  free(t);
}

enum wh_code srv_tls_new(const struct srv_config *cfg, struct srv_tls **out, struct wh_err *err)
{
  struct srv_tls *t;
  enum wh_code rc;

  *out = NULL;
  if (!cfg->tls_cert && !cfg->tls_key)
    return WH_OK;
  if (!cfg->tls_cert || !cfg->tls_key)
    return wh_err_set(err, WH_EINVALID, 0, "tls: both \"cert\" and \"key\" are needed");
  if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES)
    return wh_err_set(err, WH_EUNSUPPORTED, 0, "tls: this libmicrohttpd was built without TLS support");
  if (!(t = calloc(1, sizeof(*t))) || !(t->cert_path = strdup(cfg->tls_cert)) ||
      !(t->key_path = strdup(cfg->tls_key))) {
    srv_tls_free(t);
    return wh_err_set(err, WH_ENOMEM, ENOMEM, "tls");
  }
  if ((rc = pair_load(t, &t->cur, err)) != WH_OK) {
    srv_tls_free(t);
    return rc;
  }
  *out = t;
  return WH_OK;
}

const char *srv_tls_cert_pem(const struct srv_tls *t)
{
  return t->cur.cert;
}

const char *srv_tls_key_pem(const struct srv_tls *t)
{
  return t->cur.key;
}

/* Stops retired daemons that have no connection left. */
static void reap_idle(struct srv_tls *t)
{
  size_t keep = 0;

  for (size_t i = 0; i < t->n_old; i++) {
    const union MHD_DaemonInfo *di =
        MHD_get_daemon_info(t->old[i].daemon, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
    if (di && di->num_connections == 0) {
      MHD_stop_daemon(t->old[i].daemon);
      pair_release(&t->old[i].pem);
    } else {
      t->old[keep++] = t->old[i];
    }
  }
  t->n_old = keep;
}

/* A new daemon with a fresh pair on the same socket; the old one retires. */
static enum wh_code tls_reload(struct srv_server *s, struct wh_err *err)
{
  struct srv_tls *t = s->tls;
  const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_LISTEN_FD);
  struct pair fresh, prev;
  struct MHD_Daemon *d, *old = s->daemon;
  MHD_socket q;
  int fd;

  reap_idle(t);
  if (t->n_old >= RETIRED_MAX)
    return wh_err_set(err, WH_ECONFLICT, 0, "tls reload: %d older daemons still have connections",
                      RETIRED_MAX);
  if (pair_load(t, &fresh, err) != WH_OK)
    return err->code;
  if (!di || (fd = fcntl(di->listen_fd, F_DUPFD_CLOEXEC, 0)) < 0) {
    pair_release(&fresh);
    return wh_err_set(err, WH_EIO, errno, "tls reload: listening socket");
  }
  prev = t->cur;
  t->cur = fresh;
  if (!(d = srv_daemon_start(s, NULL, fd))) {
    t->cur = prev;
    pair_release(&fresh);
    return wh_err_set(err, WH_EINVALID, 0, "tls reload: libmicrohttpd refused the new certificate");
  }
  s->daemon = d;
  q = MHD_quiesce_daemon(old);
  if (q != MHD_INVALID_SOCKET)
    close(q);
  t->old[t->n_old].daemon = old;
  t->old[t->n_old].pem = prev;
  t->n_old++;
  return WH_OK;
}

enum wh_code srv_reload(struct srv_server *s, struct wh_err *err)
{
  enum wh_code rc = srv_auth_reload(s->auth, err);

  if (rc != WH_OK)
    wh_err_wrap(err, "reload");
  if (s->tls && s->daemon) {
    struct wh_err terr;
    wh_err_clear(&terr);
    if (tls_reload(s, &terr) != WH_OK && rc == WH_OK) {
      *err = terr;
      rc = terr.code;
    }
  }
  return rc;
}
