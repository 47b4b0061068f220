/* client/token.c - the Docker token flow: bearer tokens asked from the
 * realm a registry's challenge names, cached per scope.
 *
 *   GET REALM?service=SERVICE&scope=S1&scope=S2   (Basic credentials when known)
 *   POST REALM grant_type=refresh_token&...        (with an identity token)
 *   -> {"token": "...", "expires_in": N}          (challenge.c parses it)
 *
 * Invariants: credentials go to the realm only over https, or to a loopback
 * host or the registry's own host; the answer is capped at CLI_TOKEN_MAX
 * bytes; a cached token is used until 10 s before it expires; the cache
 * never holds more than CLI_TOKEN_CACHE tokens (the one expiring first is
 * replaced) and wipes tokens it drops.
 */
#include "config.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "client/registry-int.h"
#include "common/cleanup.h"

const char *cli_token_get(struct cli_registry *r, const char *scope)
{
  int64_t now = cli_now_ms();

  for (size_t i = 0; i < CLI_TOKEN_CACHE; i++) {
    struct cli_token *t = &r->tokens[i];
    if (t->token && strcmp(t->scope, scope) == 0 && t->expires_ms > now)
      return t->token;
  }
  return NULL;
}

static void token_clear(struct cli_token *t)
{
  if (t->token)
    explicit_bzero(t->token, strlen(t->token));
  free(t->token);
  free(t->scope);
  memset(t, 0, sizeof(*t));
}

/* Takes token (malloc'd). The slot of the same scope, else a free one, else the oldest. */
static void token_put(struct cli_registry *r, const char *scope, char *token, int64_t expires_in_s)
{
  struct cli_token *slot = NULL;
  char *s = strdup(scope);

  if (s == NULL) {
    free(token);
    return;
  }
  for (size_t i = 0; i < CLI_TOKEN_CACHE && slot == NULL; i++)
    if (r->tokens[i].token && strcmp(r->tokens[i].scope, scope) == 0)
      slot = &r->tokens[i];
  for (size_t i = 0; i < CLI_TOKEN_CACHE && slot == NULL; i++)
    if (r->tokens[i].token == NULL)
      slot = &r->tokens[i];
  for (size_t i = 0; i < CLI_TOKEN_CACHE; i++) /* full: the one expiring first goes */
    if (slot == NULL || r->tokens[i].expires_ms < slot->expires_ms)
      slot = &r->tokens[i];
  token_clear(slot);
  slot->scope = s;
  slot->token = token;
  /* a little early, so that a token does not expire on the way */
  slot->expires_ms = cli_now_ms() + (expires_in_s > 20 ? expires_in_s - 10 : expires_in_s) * 1000;
}

static size_t buf_write(char *p, size_t sz, size_t nm, void *ud)
{
  return wh_buf_append(ud, p, sz * nm) == WH_OK ? sz * nm : 0;
}

/* Token service URL: realm?service=..&scope=..(one per scope). */
static enum wh_code token_url(const struct cli_registry *r, const char *scope, char **out, struct wh_err *err)
{
  AUTOCURLU CURLU *h = curl_url();
  char *s = NULL;
  struct wh_buf kv;
  bool ok;

  if (h == NULL)
    return wh_err_set(err, WH_ENOMEM, 0, "out of memory");
  if (curl_url_set(h, CURLUPART_URL, r->ch.realm, 0) != CURLUE_OK)
    return wh_err_set(err, WH_EINVALID, 0, "token realm \"%.200s\" is not a URL", r->ch.realm);
  wh_buf_init(&kv, CLI_HDR_VALUE_MAX);
  ok = r->ch.service == NULL ||
       (wh_buf_printf(&kv, "service=%s", r->ch.service) == WH_OK &&
        curl_url_set(h, CURLUPART_QUERY, kv.data, CURLU_APPENDQUERY | CURLU_URLENCODE) == CURLUE_OK);
  for (const char *t = scope; ok && t && *t;) {
    size_t n = strcspn(t, " ");
    if (n > 0) {
      wh_buf_reset(&kv);
      ok = wh_buf_printf(&kv, "scope=%.*s", (int)n, t) == WH_OK &&
           curl_url_set(h, CURLUPART_QUERY, kv.data, CURLU_APPENDQUERY | CURLU_URLENCODE) == CURLUE_OK;
    }
    t += n;
    while (*t == ' ')
      t++;
  }
  wh_buf_release(&kv);
  if (!ok || curl_url_get(h, CURLUPART_URL, &s, 0) != CURLUE_OK)
    return wh_err_set(err, WH_EINVALID, 0, "cannot build the token URL");
  *out = strdup(s);
  curl_free(s);
  return *out ? WH_OK : wh_err_set(err, WH_ENOMEM, 0, "out of memory");
}

/* Credentials go to the token service only over https, or to a loopback or
 * the registry's own host (as docker does for plain-HTTP test setups). */
static bool may_send_creds(const struct cli_registry *r, const char *url)
{
  AUTOCURLU CURLU *h = curl_url();
  char *scheme = NULL, *host = NULL;
  char rhost[256];
  bool ok = false;

  cli_domain_host(r->domain, rhost, sizeof(rhost));
  if (h && curl_url_set(h, CURLUPART_URL, url, 0) == CURLUE_OK &&
      curl_url_get(h, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
      curl_url_get(h, CURLUPART_HOST, &host, 0) == CURLUE_OK)
    ok = strcasecmp(scheme, "https") == 0 || cli_host_is_loopback(host) || strcasecmp(host, rhost) == 0;
  curl_free(scheme);
  curl_free(host);
  return ok;
}

/* An identity (refresh) token is traded the OAuth2 way, as docker does:
 * POST REALM grant_type=refresh_token&refresh_token=..&service=..&scope=.. */
static enum wh_code identity_form(CURL *e, const struct cli_registry *r, const char *scope,
                                  struct wh_err *err)
{
  char *svc = curl_easy_escape(e, r->ch.service ? r->ch.service : "", 0);
  char *sc = curl_easy_escape(e, scope, 0);
  char *tok = curl_easy_escape(e, r->creds.pass, 0);
  char *form = NULL;
  enum wh_code rc = WH_OK;

  if (svc && sc && tok)
    form = cli_str_printf("grant_type=refresh_token&client_id=wharf&service=%s&scope=%s&refresh_token=%s",
                          svc, sc, tok);
  if (form == NULL) {
    rc = wh_err_set(err, WH_ENOMEM, 0, "out of memory");
  } else {
    curl_easy_setopt(e, CURLOPT_URL, r->ch.realm);
    curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, form);
    explicit_bzero(form, strlen(form));
  }
  if (tok)
    explicit_bzero(tok, strlen(tok));
  curl_free(svc);
  curl_free(sc);
  curl_free(tok);
  free(form);
  return rc;
}

/* GET the token service for scope ("" for none) and cache the answer. */
enum wh_code cli_token_fetch(struct cli_registry *r, const char *scope, const char *extra_scope,
                             struct wh_err *err)
{
  AUTOCURL CURL *e = curl_easy_init();
  WH_AUTOFREE char *url = NULL;
  WH_AUTOFREE char *both = NULL;
  struct wh_buf b;
  char *tok = NULL;
  int64_t expires = 60;
  long st = 0;
  CURLcode res;
  enum wh_code rc;

  if (e == NULL)
    return wh_err_set(err, WH_ENOMEM, 0, "out of memory");
  if (extra_scope && extra_scope[0] && strstr(scope, extra_scope) == NULL &&
      (both = cli_str_printf("%s%s%s", scope, scope[0] ? " " : "", extra_scope)) == NULL)
    return wh_err_set(err, WH_ENOMEM, 0, "out of memory");
  if ((rc = token_url(r, both ? both : scope[0] ? scope : NULL, &url, err)) != WH_OK)
    return rc;
  wh_buf_init(&b, CLI_TOKEN_MAX);
  cli_curl_common(e);
  cli_tls_apply(&r->tls, e);
  curl_easy_setopt(e, CURLOPT_URL, url);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, buf_write);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, &b);
  curl_easy_setopt(e, CURLOPT_TIMEOUT, 60L);
  if (r->creds.identity && may_send_creds(r, r->ch.realm)) {
    if ((rc = identity_form(e, r, both ? both : scope, err)) != WH_OK) {
      wh_buf_release(&b);
      return rc;
    }
  } else if (r->creds.user && may_send_creds(r, url)) {
    curl_easy_setopt(e, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
    curl_easy_setopt(e, CURLOPT_USERNAME, r->creds.user);
    curl_easy_setopt(e, CURLOPT_PASSWORD, r->creds.pass);
  }
  res = curl_easy_perform(e);
  curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &st);
  if (res != CURLE_OK)
    rc = wh_err_set(err, res == CURLE_WRITE_ERROR ? WH_ETOOBIG : WH_ENETWORK, 0, "token service %.200s: %s",
                    r->ch.realm, res == CURLE_WRITE_ERROR ? "answer too big" : curl_easy_strerror(res));
  else if (st == 401 || st == 403)
    rc = wh_err_set(err, WH_EUNAUTHORIZED, 0, "token service %.200s: %s (HTTP %ld)", r->ch.realm,
                    r->creds.user ? "credentials rejected" : "authentication required", st);
  else if (st != 200)
    rc = wh_err_set(err, st == 429 || st >= 500 ? WH_ENETWORK : WH_EINVALID, 0,
                    "token service %.200s: HTTP %ld", r->ch.realm, st);
  else if ((rc = cli_token_parse(b.data, b.len, &tok, &expires, err)) != WH_OK)
    wh_err_wrap(err, "token service %.200s", r->ch.realm);
  wh_buf_release(&b);
  if (rc == WH_OK)
    token_put(r, scope, tok, expires);
  return rc;
}

void cli_tokens_clear(struct cli_registry *r)
{
  for (size_t i = 0; i < CLI_TOKEN_CACHE; i++)
    token_clear(&r->tokens[i]);
}
