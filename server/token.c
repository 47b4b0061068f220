/* server/token.c - GET /v2/_wharf/token: wharfd's own Docker token service.
 *
 *   GET /v2/_wharf/token?service=S&scope=repository:NAME:pull,push&scope=...
 *       Authorization: Basic ...   (optional: anonymous callers get what
 *                                   anonymous rules allow)
 *   -> 200 {"token": JWT, "access_token": JWT, "expires_in": N, "issued_at": RFC 3339}
 *
 * The JWT (ES256 or RS256, auth.token.key) carries iss, sub, aud (the
 * service), exp, nbf, iat, jti, "wharf_kind" (user, robot, anonymous) and
 * Docker's "access": [{"type": "repository", "name": N, "actions": [...]}].
 * Each entry grants the intersection of the actions asked and the actions
 * the caller's rights allow; scopes granting nothing are left out (the
 * request still succeeds: the registry answers 401/403 later).
 * "registry:catalog:*" is granted to authenticated callers.
 *
 * Invariants: at most TOKEN_SCOPES_MAX scopes are read; a token is never
 * minted from another bearer token; the answer is never cached.
 */
#include "config.h"

#include "server/server.h"
#include "server/auth-int.h"

#include <string.h>
#include <time.h>

#include "common/cleanup.h"
#include "common/fsutil.h"

#define TOKEN_SCOPES_MAX 32
#define SCOPE_MAX 512

struct scopes {
  struct srv_req *r;
  json_t *access; /* borrowed array being filled */
  unsigned n;
  bool bad;
};

static bool json_add_actions(json_t *entry, unsigned granted)
{
  json_t *acts = json_array();
  char list[64], *p, *comma;

  srv_actions_format(granted, list, sizeof(list));
  for (p = list; acts && *p; p = comma ? comma + 1 : p + strlen(p)) {
    comma = strchr(p, ',');
    if (comma)
      *comma = '\0';
    json_array_append_new(acts, json_string(p));
  }
  return acts && json_object_set_new(entry, "actions", acts) == 0;
}

/* One scope: "repository:NAME:ACTIONS" (NAME may hold ':' only before the
 * last one) or "registry:catalog:*". Others are ignored. */
static void one_scope(struct scopes *sc, const char *s, size_t len)
{
  char buf[SCOPE_MAX + 1];
  char *name, *acts;
  unsigned want = 0, granted;
  json_t *e;

  if (len > SCOPE_MAX || ++sc->n > TOKEN_SCOPES_MAX) {
    sc->bad = true;
    return;
  }
  memcpy(buf, s, len);
  buf[len] = '\0';
  if (strcmp(buf, "registry:catalog:*") == 0) {
    if (sc->r->authn && sc->r->authn->kind != SRV_WHO_ANON)
      json_array_append_new(
          sc->access, json_pack("{s:s,s:s,s:[s]}", "type", "registry", "name", "catalog", "actions", "*"));
    return;
  }
  if (strncmp(buf, "repository:", 11) != 0 || !(acts = strrchr(buf + 11, ':')))
    return;
  *acts++ = '\0';
  name = buf + 11;
  if (!wh_name_valid(name, strlen(name))) {
    sc->bad = true;
    return;
  }
  srv_actions_parse(acts, strlen(acts), false, &want);
  granted = want & srv_auth_rights(sc->r, name);
  if (!granted)
    return;
  e = json_pack("{s:s,s:s}", "type", "repository", "name", name);
  if (!e || !json_add_actions(e, granted) || json_array_append_new(sc->access, e) != 0)
    sc->bad = true;
}

/* A scope parameter may hold several scopes separated by spaces. */
static int scope_param(void *ctx, const char *value)
{
  struct scopes *sc = ctx;
  const char *p = value;

  while (*p && !sc->bad) {
    size_t n = strcspn(p, " ");
    if (n)
      one_scope(sc, p, n);
    p += n;
    p += strspn(p, " ");
  }
  return sc->bad ? 1 : 0;
}

static const char *kind_name(const struct srv_authn *n)
{
  if (!n || n->kind == SRV_WHO_ANON)
    return "anonymous";
  return n->kind == SRV_WHO_ROBOT ? "robot" : "user";
}

static json_t *claims_for(struct srv_req *r, json_t *access, int64_t now)
{
  const struct srv_auth *a = r->srv->auth;
  char jti[33];

  if (wh_random_hex(jti, 16, NULL) != WH_OK)
    return NULL;
  return json_pack("{s:s,s:s,s:s,s:I,s:I,s:I,s:s,s:s,s:O}", "iss", a->pol.token_issuer, "sub", r->user, "aud",
                   a->pol.service, "exp", (json_int_t)(now + (int64_t)a->pol.token_ttl_s), "nbf",
                   (json_int_t)(now - 10), "iat", (json_int_t)now, "jti", jti, "wharf_kind",
                   kind_name(r->authn), "access", access);
}

static void reply_token(struct srv_req *r, const char *token, int64_t now)
{
  const struct srv_auth *a = r->srv->auth;
  json_auto_t *body = NULL;
  struct tm tm;
  char issued[40];
  time_t t = (time_t)now;

  gmtime_r(&t, &tm);
  strftime(issued, sizeof(issued), "%Y-%m-%dT%H:%M:%SZ", &tm);
  body = json_pack("{s:s,s:s,s:I,s:s}", "token", token, "access_token", token, "expires_in",
                   (json_int_t)a->pol.token_ttl_s, "issued_at", issued);
  if (!body) {
    srv_reply_error(r, 500, "UNKNOWN", "out of memory", NULL);
    return;
  }
  srv_reply_json(r, 200, "application/json", body);
  srv_header(r, "Cache-Control", "no-store");
}

void srv_token_get(struct srv_req *r)
{
  const struct srv_auth *a = r->srv->auth;
  const char *service = srv_query(r, "service");
  json_auto_t *access = json_array();
  json_auto_t *claims = NULL;
  WH_AUTOFREE char *token = NULL;
  struct scopes sc = {r, access, 0, false};
  int64_t now = (int64_t)time(NULL);
  struct wh_err err;

  if (!a || !a->pol.token_issue) {
    srv_reply_error(r, 404, "NAME_UNKNOWN", "no such route", NULL);
    return;
  }
  if (r->authn && r->authn->kind == SRV_WHO_TOKEN) {
    srv_reply_error(r, 400, "UNSUPPORTED", "a token is asked for with basic credentials, not a token", NULL);
    return;
  }
  if (service && *service && strcmp(service, a->pol.service) != 0) {
    srv_reply_error(r, 400, "UNSUPPORTED", "unknown service", NULL);
    return;
  }
  if (!access || (srv_query_each(r, "scope", scope_param, &sc), sc.bad)) {
    srv_reply_error(r, 400, "UNSUPPORTED", "malformed or too many scopes", NULL);
    return;
  }
  wh_err_clear(&err);
  if (!(claims = claims_for(r, access, now)) || srv_jwt_sign(&a->sign, claims, &token, &err) != WH_OK) {
    srv_reply_werr(r, SRV_CTX_ANY, &err);
    return;
  }
  reply_token(r, token, now);
}
