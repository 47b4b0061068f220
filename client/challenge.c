/* client/challenge.c - WWW-Authenticate challenges, token answers and
 * Link headers (the next page of a tag list).
 *
 * Grammar (RFC 7235 section 4.1, RFC 9110 section 11):
 *   challenges = challenge *( OWS "," OWS challenge )
 *   challenge  = scheme [ 1*SP ( token68 / auth-param *( OWS "," OWS auth-param ) ) ]
 *   auth-param = token BWS "=" BWS ( token / quoted-string )
 * Scheme and parameter names are case-insensitive; quoted strings may hold
 * backslash escapes. A new challenge starts where, after a comma, a token
 * is not followed by "=". Empty list elements (",,") are skipped.
 *
 * Invariants: the input is read at most CLI_HDR_VALUE_MAX bytes; every
 * value kept is at most CLI_HDR_VALUE_MAX bytes; nothing is allocated for
 * schemes other than the one kept.
 */
#include "config.h"

#include <jansson.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "client/registry.h"
#include "common/buf.h"
#include "common/cleanup.h"

struct scan {
  const char *s;
  size_t i, n;
};

static bool is_tchar(char c)
{
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static void skip_ows(struct scan *sc)
{
  while (sc->i < sc->n && (sc->s[sc->i] == ' ' || sc->s[sc->i] == '\t'))
    sc->i++;
}

/* Skips OWS and commas (empty list elements). */
static void skip_sep(struct scan *sc)
{
  while (sc->i < sc->n && (sc->s[sc->i] == ' ' || sc->s[sc->i] == '\t' || sc->s[sc->i] == ','))
    sc->i++;
}

static size_t token_len(const struct scan *sc)
{
  size_t j = sc->i;

  while (j < sc->n && is_tchar(sc->s[j]))
    j++;
  return j - sc->i;
}

/* Reads a token or a quoted string into b. */
static enum wh_code read_value(struct scan *sc, struct wh_buf *b, struct wh_err *err)
{
  size_t len;

  if (sc->i < sc->n && sc->s[sc->i] == '"') {
    for (sc->i++; sc->i < sc->n && sc->s[sc->i] != '"'; sc->i++) {
      if (sc->s[sc->i] == '\\' && sc->i + 1 < sc->n)
        sc->i++;
      if ((unsigned char)sc->s[sc->i] < ' ' && sc->s[sc->i] != '\t')
        return wh_err_set(err, WH_EINVALID, 0, "WWW-Authenticate: control character in a quoted string");
      if (wh_buf_append(b, &sc->s[sc->i], 1) != WH_OK)
        return wh_err_set(err, WH_ETOOBIG, 0, "WWW-Authenticate: value too long");
    }
    if (sc->i >= sc->n)
      return wh_err_set(err, WH_EINVALID, 0, "WWW-Authenticate: unterminated quoted string");
    sc->i++;
    return b->data ? WH_OK : wh_buf_append(b, "", 0);
  }
  /* token, also accepting "/" and ":" which some servers leave unquoted */
  for (len = 0; sc->i + len < sc->n; len++) {
    char c = sc->s[sc->i + len];
    if (!is_tchar(c) && c != '/' && c != ':' && c != '=')
      break;
  }
  if (len == 0)
    return wh_err_set(err, WH_EINVALID, 0, "WWW-Authenticate: empty parameter value");
  if (wh_buf_append(b, sc->s + sc->i, len) != WH_OK)
    return wh_err_set(err, WH_ETOOBIG, 0, "WWW-Authenticate: value too long");
  sc->i += len;
  return WH_OK;
}

static char **param_slot(struct cli_challenge *c, const char *name, size_t len)
{
  static const struct {
    const char *name;
    size_t off;
  } slots[] = {
      {"realm", offsetof(struct cli_challenge, realm)},
      {"service", offsetof(struct cli_challenge, service)},
      {"scope", offsetof(struct cli_challenge, scope)},
      {"error", offsetof(struct cli_challenge, error)},
  };

  for (size_t i = 0; i < WH_ARRAY_LEN(slots); i++)
    if (strlen(slots[i].name) == len && strncasecmp(slots[i].name, name, len) == 0)
      return (char **)((char *)c + slots[i].off);
  return NULL;
}

/* Whether a token at sc starts a new challenge (not followed by "="). */
static bool at_new_challenge(const struct scan *sc)
{
  struct scan t = *sc;
  size_t len = token_len(&t);

  if (len == 0)
    return false;
  t.i += len;
  skip_ows(&t);
  return t.i >= t.n || t.s[t.i] != '=';
}

/* Parses the parameters of one challenge; keep: store them into c. */
static enum wh_code read_params(struct scan *sc, struct cli_challenge *c, bool keep, struct wh_err *err)
{
  while (sc->i < sc->n) {
    size_t name_at, len;
    struct wh_buf v;
    char **slot;
    enum wh_code rc;

    skip_sep(sc);
    if (sc->i >= sc->n || at_new_challenge(sc))
      return WH_OK;
    name_at = sc->i;
    if ((len = token_len(sc)) == 0)
      return wh_err_set(err, WH_EINVALID, 0, "WWW-Authenticate: unexpected character '%c'", sc->s[sc->i]);
    sc->i += len;
    skip_ows(sc);
    sc->i++; /* the "=" at_new_challenge saw */
    skip_ows(sc);
    wh_buf_init(&v, CLI_HDR_VALUE_MAX);
    if ((rc = read_value(sc, &v, err)) != WH_OK) {
      wh_buf_release(&v);
      return rc;
    }
    slot = keep ? param_slot(c, sc->s + name_at, len) : NULL;
    if (slot && *slot == NULL)
      *slot = wh_buf_steal(&v, NULL);
    wh_buf_release(&v);
  }
  return WH_OK;
}

static enum cli_auth_scheme scheme_of(const char *s, size_t len)
{
  if (len == 6 && strncasecmp(s, "Bearer", 6) == 0)
    return CLI_AUTH_BEARER;
  if (len == 5 && strncasecmp(s, "Basic", 5) == 0)
    return CLI_AUTH_BASIC;
  return CLI_AUTH_NONE;
}

void cli_challenge_release(struct cli_challenge *c)
{
  if (c == NULL)
    return;
  free(c->realm);
  free(c->service);
  free(c->scope);
  free(c->error);
  memset(c, 0, sizeof(*c));
}

/* Parses every challenge; the first of the wanted scheme is kept in out. */
static enum wh_code parse_for(const char *hdr, size_t n, enum cli_auth_scheme want, struct cli_challenge *out,
                              struct wh_err *err)
{
  struct scan sc = {.s = hdr, .i = 0, .n = n};
  bool found = false;

  while (skip_sep(&sc), sc.i < sc.n) {
    size_t len = token_len(&sc);
    enum cli_auth_scheme s;
    enum wh_code rc;

    if (len == 0)
      return wh_err_set(err, WH_EINVALID, 0, "WWW-Authenticate: expected an auth scheme");
    s = scheme_of(sc.s + sc.i, len);
    sc.i += len;
    if (sc.i < sc.n && sc.s[sc.i] != ' ' && sc.s[sc.i] != '\t' && sc.s[sc.i] != ',')
      return wh_err_set(err, WH_EINVALID, 0, "WWW-Authenticate: bad character after the scheme");
    rc = read_params(&sc, out, !found && s == want, err);
    if (rc != WH_OK)
      return rc;
    if (s == want && !found) {
      out->scheme = s;
      found = true;
    }
  }
  return found ? WH_OK : WH_ENOTFOUND;
}

enum wh_code cli_challenge_parse(const char *hdr, struct cli_challenge *out, struct wh_err *err)
{
  struct cli_challenge c = {0};
  size_t n;
  enum wh_code rc;

  if (hdr == NULL)
    return wh_err_set(err, WH_EINVALID, 0, "no WWW-Authenticate header");
  n = strnlen(hdr, CLI_HDR_VALUE_MAX + 1);
  if (n > CLI_HDR_VALUE_MAX)
    return wh_err_set(err, WH_ETOOBIG, 0, "WWW-Authenticate header too long");
  rc = parse_for(hdr, n, CLI_AUTH_BEARER, &c, err);
  if (rc == WH_ENOTFOUND) {
    cli_challenge_release(&c);
    rc = parse_for(hdr, n, CLI_AUTH_BASIC, &c, err);
  }
  if (rc == WH_ENOTFOUND)
    rc = wh_err_set(err, WH_EUNSUPPORTED, 0, "registry asks for an unsupported auth scheme: %.80s", hdr);
  if (rc == WH_OK && c.scheme == CLI_AUTH_BEARER && (c.realm == NULL || c.realm[0] == '\0'))
    rc = wh_err_set(err, WH_EINVALID, 0, "WWW-Authenticate: Bearer challenge without realm");
  if (rc != WH_OK) {
    cli_challenge_release(&c);
    return rc;
  }
  *out = c;
  return WH_OK;
}

/* ---- token answers ----------------------------------------------------------- */

static bool token_valid(const char *t)
{
  size_t n = strlen(t);

  if (n == 0 || n > CLI_HDR_VALUE_MAX)
    return false;
  for (size_t i = 0; i < n; i++)
    if (t[i] <= ' ' || t[i] > '~')
      return false;
  return true;
}

enum wh_code cli_token_parse(const char *body, size_t len, char **token_out, int64_t *expires_in_out,
                             struct wh_err *err)
{
  json_auto_t *j = NULL;
  const char *tok;
  json_t *exp;
  int64_t expires = 60;
  char *t;

  if (len > CLI_TOKEN_MAX)
    return wh_err_set(err, WH_ETOOBIG, 0, "token answer too big");
  j = json_loadb(body ? body : "", len, JSON_REJECT_DUPLICATES, NULL);
  if (!json_is_object(j))
    return wh_err_set(err, WH_EINVALID, 0, "token answer is not a JSON object");
  tok = json_string_value(json_object_get(j, "token"));
  if (tok == NULL || tok[0] == '\0')
    tok = json_string_value(json_object_get(j, "access_token"));
  if (tok == NULL || !token_valid(tok))
    return wh_err_set(err, WH_EINVALID, 0, "token answer has no valid token");
  exp = json_object_get(j, "expires_in");
  if (json_is_integer(exp) && json_integer_value(exp) > 0)
    expires = json_integer_value(exp);
  if (expires > 24 * 3600)
    expires = 24 * 3600;
  if ((t = strdup(tok)) == NULL)
    return wh_err_set(err, WH_ENOMEM, 0, "out of memory");
  *token_out = t;
  if (expires_in_out)
    *expires_in_out = expires;
  return WH_OK;
}

/* ---- Link (RFC 8288) ------------------------------------------------------ *
 *   Link       = link-value *( OWS "," OWS link-value )
 *   link-value = "<" URI-Reference ">" *( OWS ";" OWS link-param )
 *   link-param = token BWS [ "=" BWS ( token / quoted-string ) ]
 * rel's value is a space-separated list of relation types.
 */

static bool rel_has_next(const char *v, size_t n)
{
  size_t i = 0;

  while (i < n) {
    size_t w = 0;
    while (i < n && v[i] == ' ')
      i++;
    while (i + w < n && v[i + w] != ' ')
      w++;
    if (w == 4 && strncasecmp(v + i, "next", 4) == 0)
      return true;
    i += w;
  }
  return false;
}

/* One link-param at *pp; true when it is rel with "next" in it. */
static bool param_is_next(const char **pp)
{
  const char *p = *pp, *name = p, *val = p;
  size_t nlen, vlen = 0;

  while (is_tchar(*p))
    p++;
  nlen = (size_t)(p - name);
  while (*p == ' ' || *p == '\t')
    p++;
  if (*p == '=') {
    p++;
    while (*p == ' ' || *p == '\t')
      p++;
    if (*p == '"') {
      for (val = ++p; *p && *p != '"'; p++)
        if (*p == '\\' && p[1])
          p++;
      vlen = (size_t)(p - val);
      if (*p == '"')
        p++;
    } else {
      for (val = p; is_tchar(*p); p++)
        ;
      vlen = (size_t)(p - val);
    }
  }
  if (p == *pp)
    p++; /* not a parameter: skip the character */
  *pp = p;
  return nlen == 3 && strncasecmp(name, "rel", 3) == 0 && rel_has_next(val, vlen);
}

/* The parameters after a link's ">": do they say rel=next? *end: the ","
 * that ends this link-value, or the string's end. */
static bool params_say_next(const char *p, const char **end)
{
  bool next = false;

  while (*p && *p != ',') {
    while (*p == ' ' || *p == '\t' || *p == ';')
      p++;
    if (*p && *p != ',')
      next |= param_is_next(&p);
  }
  *end = p;
  return next;
}

char *cli_link_next(const char *link)
{
  const char *p = link, *lt, *gt, *end;

  while (p && (lt = strchr(p, '<')) != NULL && (gt = strchr(lt + 1, '>')) != NULL) {
    if (params_say_next(gt + 1, &end)) {
      if (gt == lt + 1)
        return NULL;
      for (const char *c = lt + 1; c < gt; c++)
        if ((unsigned char)*c <= ' ' || *c == 0x7f || *c == '<')
          return NULL;
      return strndup(lt + 1, (size_t)(gt - lt - 1));
    }
    p = *end ? end + 1 : NULL;
  }
  return NULL;
}
