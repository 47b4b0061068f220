/* server/auth.c - who is calling and what the route needs, per request.
 *
 * srv_auth_check() runs in http.c between routing and route->begin:
 *
 *   Authorization: (none)        -> anonymous
 *                  Basic u:p     -> htpasswd user, else robot token, else 401
 *                                   (plain HTTP: only as auth.basic_over_http says)
 *                  Bearer JWT    -> our own token or a trusted issuer's, else 401
 *   route -> needed actions (pull / push / delete / "authenticated")
 *   rights(caller, repository) covers them  -> begin runs
 *   anonymous, or a token without the scope  -> 401 + WWW-Authenticate
 *   authenticated but not allowed            -> 403 DENIED
 *
 * Decisions documented here:
 *  - GET /v2/ needs any valid credential (anonymous: 401 with the challenge,
 *    which is how clients discover the auth scheme); the catalog is open to
 *    everyone but lists only repositories the caller may pull; /metrics,
 *    /healthz and /readyz are never behind repository auth;
 *  - an unreadable repository answers 401/403 on every route, as
 *    Distribution does (so a client can tell "log in" from "missing"); the
 *    "looks like a missing blob" rule of issue 6 is for blobs that exist
 *    only in repositories the caller cannot read: HEAD/GET of them in a
 *    readable repository is 404 BLOB_UNKNOWN (the store reads blobs per
 *    repository), and a mount from an unreadable source, or a mount without
 *    "from" while auth is on, falls back to a plain upload (202);
 *  - a bearer token grants what its "access" claim lists (exact repository
 *    names), plus what anonymous callers may do. Our own tokens of robots
 *    are re-checked against the robots table on each request, so revoking a
 *    robot ends its tokens at once; user tokens live until they expire
 *    (auth.token.ttl_s, default 300 s);
 *  - what anonymous callers may do, every caller may (users, robots,
 *    tokens); GET /v2/_wharf/usage needs any valid credential.
 *
 * Invariants: the htpasswd table is swapped under the write lock on
 * reload and read under the read lock (bcrypt included); nothing logs a
 * password, a secret or a token; r->user is set once here.
 */
#include "config.h"

#include "server/server.h"
#include "server/auth-int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <string.h>
#include <time.h>

#include "common/cleanup.h"

/* ---- setup ---------------------------------------------------------------- */

void srv_auth_free(struct srv_auth *a)
{
  if (!a)
    return;
  for (size_t i = 0; i < a->n_trusts; i++)
    srv_jwt_trust_release(&a->trusts[i]);
  free(a->trusts);
  srv_jwt_key_release(&a->sign);
  srv_htpasswd_free(a->users);
  pthread_rwlock_destroy(&a->lock);
  srv_policy_release(&a->pol);
  free(a);
}

static enum wh_code own_trust(struct srv_auth *a, struct srv_jwt_trust *t, struct wh_err *err)
{
  if (a->pol.token_key) {
    if (srv_jwt_key_load_private(&a->sign, a->pol.token_key, err) != WH_OK)
      return wh_err_wrap(err, "auth.token.key");
  } else {
    if (srv_jwt_key_generate(&a->sign, err) != WH_OK)
      return err->code;
    wh_log(WH_LOG_WARN, NULL,
           "auth.token.key not set: signing tokens with an ephemeral key (tokens end with this process)");
  }
  t->issuer = strdup(a->pol.token_issuer);
  t->audience = strdup(a->pol.service);
  t->keys = calloc(1, sizeof(*t->keys));
  if (!t->issuer || !t->audience || !t->keys)
    return wh_err_set(err, WH_ENOMEM, ENOMEM, "auth");
  t->n_keys = 1;
  return srv_jwt_key_public_copy(&a->sign, &t->keys[0], err);
}

static enum wh_code issuer_trust(const struct srv_trusted_issuer *is, struct srv_jwt_trust *t,
                                 struct wh_err *err)
{
  t->issuer = strdup(is->issuer);
  t->audience = strdup(is->audience);
  t->keys = calloc(is->n_keys, sizeof(*t->keys));
  if (!t->issuer || !t->audience || !t->keys)
    return wh_err_set(err, WH_ENOMEM, ENOMEM, "auth");
  for (size_t k = 0; k < is->n_keys; k++) {
    if (srv_jwt_key_load_public(&t->keys[k], is->key_files[k], is->kids[k], err) != WH_OK)
      return wh_err_wrap(err, "auth.issuers \"%s\"", is->issuer);
    t->n_keys = k + 1;
  }
  return WH_OK;
}

static enum wh_code load_trusts(struct srv_auth *a, struct wh_err *err)
{
  size_t n = a->pol.n_issuers + (a->pol.token_issue ? 1 : 0);
  enum wh_code rc;

  if (!(a->trusts = calloc(n + 1, sizeof(*a->trusts))))
    return wh_err_set(err, WH_ENOMEM, ENOMEM, "auth");
  if (a->pol.token_issue) {
    a->n_trusts = 1;
    if ((rc = own_trust(a, &a->trusts[0], err)) != WH_OK)
      return rc;
  }
  for (size_t i = 0; i < a->pol.n_issuers; i++) {
    a->n_trusts++;
    if ((rc = issuer_trust(&a->pol.issuers[i], &a->trusts[a->n_trusts - 1], err)) != WH_OK)
      return rc;
  }
  return WH_OK;
}

enum wh_code srv_auth_new(const struct srv_config *cfg, bool tls, struct srv_auth **out, struct wh_err *err)
{
  struct srv_auth *a;
  enum wh_code rc;

  *out = NULL;
  if (!cfg->auth)
    return WH_OK;
  if (!(a = calloc(1, sizeof(*a))))
    return wh_err_set(err, WH_ENOMEM, ENOMEM, "auth");
  pthread_rwlock_init(&a->lock, NULL);
  a->tls = tls;
  if ((rc = srv_policy_parse(cfg->auth, &a->pol, err)) != WH_OK) {
    srv_auth_free(a);
    return rc;
  }
  a->bearer = a->pol.token_issue || a->pol.token_realm;
  if ((a->pol.htpasswd && (rc = srv_htpasswd_load(a->pol.htpasswd, &a->users, err)) != WH_OK) ||
      (rc = load_trusts(a, err)) != WH_OK) {
    srv_auth_free(a);
    return rc;
  }
  *out = a;
  return WH_OK;
}

enum wh_code srv_auth_reload(struct srv_auth *a, struct wh_err *err)
{
  struct srv_htpasswd *h = NULL, *old;
  enum wh_code rc;

  if (!a || !a->pol.htpasswd)
    return WH_OK;
  if ((rc = srv_htpasswd_load(a->pol.htpasswd, &h, err)) != WH_OK)
    return rc;
  pthread_rwlock_wrlock(&a->lock);
  old = a->users;
  a->users = h;
  pthread_rwlock_unlock(&a->lock);
  srv_htpasswd_free(old);
  return WH_OK;
}

void srv_authn_free(struct srv_authn *n)
{
  if (!n)
    return;
  json_decref(n->claims);
  free(n);
}

/* ---- credentials ------------------------------------------------------------ */

struct robot_check {
  const char *secret;
  bool ok;
  char pattern[256];
  unsigned actions;
};

static void sha256_hex(const char *s, char out[65])
{
  struct wh_digest d;

  wh_digest_buf(WH_DIGEST_SHA256, s, strlen(s), &d);
  snprintf(out, 65, "%s", wh_digest_hex(&d));
}

static int robot_row(void *ctx, const struct store_robot *row)
{
  struct robot_check *c = ctx;
  char h[65];
  int64_t now = (int64_t)time(NULL);

  if (c->secret) {
    sha256_hex(c->secret, h);
    if (strlen(row->secret_sha256) != 64 || CRYPTO_memcmp(h, row->secret_sha256, 64) != 0)
      return 1;
  }
  if (row->revoked || (row->expires && row->expires <= now))
    return 1;
  if (!srv_actions_parse(row->actions, strlen(row->actions), false, &c->actions))
    return 1;
  snprintf(c->pattern, sizeof(c->pattern), "%s", row->pattern);
  c->ok = true;
  return 0;
}

/* A live robot named name (secret NULL: not checked). */
static bool robot_lookup(struct store *st, const char *name, const char *secret, struct srv_authn *n)
{
  struct robot_check c;

  memset(&c, 0, sizeof(c));
  c.secret = secret;
  if (store_robot_get(st, name, robot_row, &c, NULL) != WH_OK || !c.ok)
    return false;
  snprintf(n->robot_pattern, sizeof(n->robot_pattern), "%s", c.pattern);
  n->robot_actions = c.actions;
  return true;
}

/* Basic credentials: an htpasswd user, else a live robot whose secret
 * matches; anything else costs one bcrypt of the dummy hash and fails. */
static bool login(struct srv_req *r, const struct srv_authz *z, struct srv_authn *n)
{
  struct srv_auth *a = r->srv->auth;
  bool ok = false, is_user;

  pthread_rwlock_rdlock(&a->lock);
  is_user = srv_htpasswd_has(a->users, z->user);
  if (is_user)
    ok = srv_htpasswd_verify(a->users, z->user, z->password);
  pthread_rwlock_unlock(&a->lock);
  if (is_user) {
    n->kind = SRV_WHO_USER;
    return ok;
  }
  if (srv_user_name_valid(z->user) && robot_lookup(r->srv->store, z->user, z->password, n)) {
    n->kind = SRV_WHO_ROBOT;
    return true;
  }
  pthread_rwlock_rdlock(&a->lock);
  (void)srv_htpasswd_verify(a->users, z->user, z->password); /* same work as a wrong password */
  pthread_rwlock_unlock(&a->lock);
  return false;
}

/* Our token's subject: a user, or a robot that must still be live. */
static bool own_subject(struct srv_req *r, struct srv_authn *n, const char *sub)
{
  const char *kind = json_string_value(json_object_get(n->claims, "wharf_kind"));

  n->own = true;
  if (!kind || !sub || !*sub || strcmp(kind, "anonymous") == 0) {
    n->sub_kind = SRV_WHO_ANON;
    return true;
  }
  if (strcmp(kind, "robot") == 0) {
    n->sub_kind = SRV_WHO_ROBOT;
    return robot_lookup(r->srv->store, sub, NULL, n);
  }
  n->sub_kind = SRV_WHO_USER;
  return true;
}

static bool bearer(struct srv_req *r, const struct srv_authz *z, struct srv_authn *n)
{
  struct srv_auth *a = r->srv->auth;
  const struct srv_jwt_trust *t = NULL;
  const char *sub;
  struct wh_err err;

  wh_err_clear(&err);
  if (srv_jwt_verify(z->token, z->token_len, a->trusts, a->n_trusts, (int64_t)time(NULL), &n->claims, &t,
                     &err) != WH_OK) {
    snprintf(r->err_msg, sizeof(r->err_msg), "UNAUTHORIZED: %.140s", err.msg);
    return false;
  }
  n->kind = SRV_WHO_TOKEN;
  sub = json_string_value(json_object_get(n->claims, "sub"));
  if (sub && srv_user_name_valid(sub))
    snprintf(r->user, sizeof(r->user), "%s", sub);
  if (a->pol.token_issue && t == &a->trusts[0] && !own_subject(r, n, sub)) {
    snprintf(r->err_msg, sizeof(r->err_msg), "UNAUTHORIZED: token of a revoked or expired robot");
    r->user[0] = '\0';
    return false;
  }
  return true;
}

/* ---- rights ------------------------------------------------------------------- */

/* Actions the token's "access" claim grants on repo. */
static unsigned token_rights(const json_t *claims, const char *repo)
{
  const json_t *access = json_object_get(claims, "access"), *e, *act;
  unsigned acc = 0, bit;
  size_t i, j;

  json_array_foreach(access, i, e)
  {
    const char *type = json_string_value(json_object_get(e, "type"));
    const char *name = json_string_value(json_object_get(e, "name"));
    if (!type || !name || strcmp(type, "repository") != 0 || strcmp(name, repo) != 0)
      continue;
    json_array_foreach(json_object_get(e, "actions"), j, act)
    {
      if (json_is_string(act) &&
          srv_actions_parse(json_string_value(act), json_string_length(act), false, &bit))
        acc |= bit;
    }
  }
  return acc;
}

/* What the identity behind the request may do (a token's holder: what its
 * subject may do, for our own tokens). */
static unsigned identity_rights(struct srv_req *r, const char *repo)
{
  const struct srv_auth *a = r->srv->auth;
  const struct srv_authn *n = r->authn;
  enum srv_who kind = n ? n->kind : SRV_WHO_ANON;

  if (kind == SRV_WHO_TOKEN && n->own)
    kind = n->sub_kind;
  switch (kind) {
  case SRV_WHO_USER:
    return srv_policy_rights(&a->pol, r->user, repo);
  case SRV_WHO_ROBOT: /* its own scope, and what anyone may do */
    return (srv_glob_match(n->robot_pattern, repo) ? n->robot_actions : 0) |
           srv_policy_rights(&a->pol, NULL, repo);
  case SRV_WHO_TOKEN:
    return token_rights(n->claims, repo) | srv_policy_rights(&a->pol, NULL, repo);
  case SRV_WHO_ANON:
    break;
  }
  return srv_policy_rights(&a->pol, NULL, repo);
}

/* What this request may do: a token is limited to its "access" claim. */
static unsigned request_rights(struct srv_req *r, const char *repo)
{
  const struct srv_auth *a = r->srv->auth;

  if (r->authn && r->authn->kind == SRV_WHO_TOKEN)
    return token_rights(r->authn->claims, repo) | srv_policy_rights(&a->pol, NULL, repo);
  return identity_rights(r, repo);
}

bool srv_auth_can_pull(struct srv_req *r, const char *repo)
{
  if (!r->srv->auth)
    return true;
  return (identity_rights(r, repo) & SRV_ACT_PULL) != 0;
}

unsigned srv_auth_rights(struct srv_req *r, const char *repo)
{
  return identity_rights(r, repo);
}

/* ---- replies -------------------------------------------------------------------- */

/* Host header fit for a URL: host, IPv4, [IPv6], optional port. */
static bool host_ok(const char *h)
{
  size_t n = h ? strlen(h) : 0;

  if (n == 0 || n > 255)
    return false;
  for (size_t i = 0; i < n; i++)
    if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:[]", h[i]))
      return false;
  return true;
}

static void realm_url(struct srv_req *r, char *out, size_t size)
{
  const struct srv_auth *a = r->srv->auth;
  const char *host = srv_req_header(r, "Host");

  if (a->pol.token_realm)
    snprintf(out, size, "%s", a->pol.token_realm);
  else
    snprintf(out, size, "%s://%s/v2/_wharf/token", a->tls ? "https" : "http",
             host_ok(host) ? host : r->srv->cfg->listen);
}

/* Quotes in config strings would break the header: they become '. */
static void unquote(char *s)
{
  for (; *s; s++)
    if (*s == '"' || *s == '\\' || (unsigned char)*s < 0x20)
      *s = '\'';
}

/* 401 with the challenge. need 0: no scope; error: RFC 6750 code or NULL. */
static void challenge(struct srv_req *r, const char *repo, unsigned need, const char *error, const char *msg)
{
  const struct srv_auth *a = r->srv->auth;
  char realm[512], service[256], acts[64], scope[WH_NAME_MAX + 96] = "", hdr[1200];

  srv_reply_error(r, 401, "UNAUTHORIZED", msg, NULL);
  if (!a->bearer) {
    snprintf(realm, sizeof(realm), "%s", a->pol.realm);
    unquote(realm);
    srv_headerf(r, "WWW-Authenticate", "Basic realm=\"%s\", charset=\"UTF-8\"", realm);
    return;
  }
  realm_url(r, realm, sizeof(realm));
  snprintf(service, sizeof(service), "%s", a->pol.service);
  unquote(realm);
  unquote(service);
  if (repo && need) {
    /* a push also reads (HEAD of blobs, mounts): ask for both at once */
    srv_actions_format(need & SRV_ACT_PUSH ? need | SRV_ACT_PULL : need, acts, sizeof(acts));
    snprintf(scope, sizeof(scope), ",scope=\"repository:%s:%s\"", repo, acts);
  }
  snprintf(hdr, sizeof(hdr), "Bearer realm=\"%s\",service=\"%s\"%s%s%s%s", realm, service, scope,
           error ? ",error=\"" : "", error ? error : "", error ? "\"" : "");
  srv_header(r, "WWW-Authenticate", hdr);
}

/* ---- the check -------------------------------------------------------------------- */

#define NEED_AUTHENTICATED (1u << 8) /* any valid credential */

static unsigned route_need(const struct srv_req *r)
{
  const char *m = r->method;
  bool get = strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0;

  switch (r->path.kind) {
  case SRV_RT_METRICS:
  case SRV_RT_HEALTHZ:
  case SRV_RT_READYZ:
  case SRV_RT_CATALOG:
  case SRV_RT_TOKEN:
  case SRV_RT_DISCOVER: /* a static list of extensions */
  case SRV_RT_NONE:
  case SRV_RT_MAX:
    return 0;
  case SRV_RT_BASE:
  case SRV_RT_USAGE:
    return NEED_AUTHENTICATED;
  case SRV_RT_TAGS:
  case SRV_RT_REFERRERS:
  case SRV_RT_HISTORY:
    return SRV_ACT_PULL;
  case SRV_RT_UPLOAD_NEW:
  case SRV_RT_UPLOAD:
  case SRV_RT_ROLLBACK:
    return SRV_ACT_PUSH;
  case SRV_RT_MANIFEST:
  case SRV_RT_BLOB:
    if (get)
      return SRV_ACT_PULL;
    return strcmp(m, "DELETE") == 0 ? SRV_ACT_DELETE : SRV_ACT_PUSH;
  }
  return NEED_AUTHENTICATED;
}

static bool peer_is_loopback(struct srv_req *r)
{
  const union MHD_ConnectionInfo *ci = MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
  const struct sockaddr *sa = ci ? ci->client_addr : NULL;

  if (!sa)
    return false;
  if (sa->sa_family == AF_INET)
    return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
  if (sa->sa_family == AF_INET6) {
    const struct in6_addr *a6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;
    if (IN6_IS_ADDR_LOOPBACK(a6))
      return true;
    return IN6_IS_ADDR_V4MAPPED(a6) && a6->s6_addr[12] == 127;
  }
  return false;
}

static bool basic_allowed(struct srv_req *r)
{
  const struct srv_auth *a = r->srv->auth;

  if (a->tls || a->pol.basic_http == SRV_BASIC_HTTP_ALWAYS)
    return true;
  return a->pol.basic_http == SRV_BASIC_HTTP_LOOPBACK && peer_is_loopback(r);
}

/* Authorization header -> r->authn, r->user. false: replied. */
static bool identify(struct srv_req *r)
{
  struct srv_authz z;
  bool ok = true;

  srv_authz_parse(srv_req_header(r, "Authorization"), &z);
  switch (z.kind) {
  case SRV_AUTHZ_NONE:
    break;
  case SRV_AUTHZ_INVALID:
    challenge(r, NULL, 0, "invalid_request", "malformed Authorization header");
    ok = false;
    break;
  case SRV_AUTHZ_BASIC:
    if (!basic_allowed(r)) {
      srv_reply_error(r, 403, "DENIED", "basic auth over plain HTTP is refused: use TLS", NULL);
      ok = false;
    } else if (!login(r, &z, r->authn)) {
      challenge(r, NULL, 0, NULL, "invalid username or password");
      ok = false;
    } else {
      snprintf(r->user, sizeof(r->user), "%s", z.user);
    }
    break;
  case SRV_AUTHZ_BEARER:
    if (!bearer(r, &z, r->authn)) {
      challenge(r, NULL, 0, "invalid_token", "invalid or expired token");
      ok = false;
    }
    break;
  }
  srv_authz_wipe(&z);
  return ok;
}

/* The caller lacks need on repo: 401 (anonymous, or a token that may be
 * widened) or 403 (authenticated and the rules say no). */
static void deny(struct srv_req *r, const char *repo, unsigned need)
{
  const struct srv_authn *n = r->authn;
  char msg[WH_NAME_MAX + 64];

  if (n->kind == SRV_WHO_ANON) {
    challenge(r, repo, need, NULL, "authentication required");
    return;
  }
  if (n->kind == SRV_WHO_TOKEN && (!n->own || (identity_rights(r, repo) & need) == need)) {
    challenge(r, repo, need, "insufficient_scope", "token lacks the scope");
    return;
  }
  snprintf(msg, sizeof(msg), "access to repository \"%s\" denied", repo);
  srv_reply_error(r, 403, "DENIED", msg, NULL);
}

bool srv_auth_check(struct srv_req *r)
{
  unsigned need;

  if (!r->srv->auth)
    return true;
  need = route_need(r);
  if (r->path.kind == SRV_RT_METRICS || r->path.kind == SRV_RT_HEALTHZ || r->path.kind == SRV_RT_READYZ)
    return true;
  if (!r->authn && !(r->authn = calloc(1, sizeof(*r->authn)))) {
    srv_reply_error(r, 500, "UNKNOWN", "out of memory", NULL);
    return false;
  }
  if (!identify(r))
    return false;
  if (need == NEED_AUTHENTICATED) {
    if (r->authn->kind != SRV_WHO_ANON)
      return true;
    challenge(r, NULL, 0, NULL, "authentication required");
    return false;
  }
  if (!need || (request_rights(r, r->path.name) & need) == need)
    return true;
  deny(r, r->path.name, need);
  return false;
}
