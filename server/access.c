/* server/access.c - the "auth" section of wharfd's config and the rights it
 * grants.
 *
 *   "auth": {
 *     "realm": "wharf",                 basic realm (default "wharf")
 *     "service": "wharf",               token audience / service (default "wharf")
 *     "htpasswd": "/etc/wharf/htpasswd",
 *     "basic_over_http": "loopback",    "never" | "loopback" (default) | "always"
 *     "token": {                        present: bearer challenges (Docker token auth)
 *       "issue": true,                  serve GET /v2/_wharf/token (default true)
 *       "realm": "https://r.example/v2/_wharf/token",   default: from the Host header
 *       "issuer": "wharfd", "key": "/etc/wharf/token.pem", "ttl_s": 300 },
 *     "issuers": [ { "issuer": "https://sso.example", "audience": "wharf",
 *                    "keys": ["/etc/wharf/sso.pem", {"file": "...", "kid": "k1"}] } ],
 *     "groups": { "devs": ["alice", "bob"] },
 *     "rules": [ { "repository": "team/ **", "users": ["alice"], "groups": ["devs"],
 *                  "anonymous": false, "actions": ["pull", "push", "delete"] } ] }
 *
 * (write the glob without the space: a C comment cannot hold it; globs are
 * explained in auth-int.h). Rights are the union over every rule whose glob matches the repository
 * and that names the caller: a user (or "*" for any authenticated user),
 * a group the user is in, or anonymous callers with "anonymous": true. No
 * rule, no right. Robots are not named by rules: a robot has the pattern
 * and actions it was created with, plus what anonymous callers may do
 * (auth.c).
 *
 * Invariants: the parse is strict (unknown keys, wrong types, unknown
 * actions and groups fail the load, naming the key); a parsed policy is
 * immutable and read by many threads without locks.
 */
#include "config.h"

#include "server/server.h"
#include "server/auth-int.h"

#include <errno.h>
#include <string.h>

#include "common/cleanup.h"

/* ---- actions ----------------------------------------------------------- */

static const struct {
  const char *name;
  unsigned bit;
} action_names[] = {
    {"pull", SRV_ACT_PULL},
    {"push", SRV_ACT_PUSH},
    {"delete", SRV_ACT_DELETE},
};

static unsigned action_bit(const char *s, size_t n)
{
  if (n == 1 && s[0] == '*')
    return SRV_ACT_ALL;
  for (size_t i = 0; i < WH_ARRAY_LEN(action_names); i++)
    if (strlen(action_names[i].name) == n && memcmp(action_names[i].name, s, n) == 0)
      return action_names[i].bit;
  return 0;
}

bool srv_actions_parse(const char *csv, size_t len, bool strict, unsigned *out)
{
  unsigned acc = 0, bit;
  size_t i = 0, j;

  while (i < len) {
    for (j = i; j < len && csv[j] != ','; j++)
      ;
    bit = action_bit(csv + i, j - i);
    if (!bit && strict)
      return false;
    acc |= bit;
    i = j + 1;
  }
  *out = acc;
  return true;
}

void srv_actions_format(unsigned actions, char *out, size_t size)
{
  size_t used = 0;

  if (size)
    out[0] = '\0';
  for (size_t i = 0; i < WH_ARRAY_LEN(action_names); i++) {
    if (!(actions & action_names[i].bit))
      continue;
    int n = snprintf(out + used, size - used, "%s%s", used ? "," : "", action_names[i].name);
    if (n < 0 || (size_t)n >= size - used)
      return;
    used += (size_t)n;
  }
}

/* ---- globs ------------------------------------------------------------- */

static bool glob_at(const char *p, const char *s, unsigned depth)
{
  if (depth > 64) /* patterns come from the config; this bounds a silly one */
    return false;
  for (; *p; p++, s++) {
    if (p[0] == '*' && p[1] == '*') {
      for (const char *t = s;; t++) {
        if (glob_at(p + 2, t, depth + 1))
          return true;
        if (!*t)
          return false;
      }
    }
    if (*p == '*') {
      for (const char *t = s;; t++) {
        if (glob_at(p + 1, t, depth + 1))
          return true;
        if (!*t || *t == '/')
          return false;
      }
    }
    if (!*s || (*p == '?' ? *s == '/' : *p != *s))
      return false;
  }
  return *s == '\0';
}

bool srv_glob_match(const char *pattern, const char *name)
{
  return glob_at(pattern, name, 0);
}

/* ---- parsing ------------------------------------------------------------- */

static void free_strv(char **v, size_t n)
{
  for (size_t i = 0; v && i < n; i++)
    free(v[i]);
  free(v);
}

void srv_policy_release(struct srv_policy *p)
{
  free(p->realm);
  free(p->service);
  free(p->htpasswd);
  free(p->token_realm);
  free(p->token_issuer);
  free(p->token_key);
  for (size_t i = 0; i < p->n_issuers; i++) {
    free(p->issuers[i].issuer);
    free(p->issuers[i].audience);
    free_strv(p->issuers[i].key_files, p->issuers[i].n_keys);
    free_strv(p->issuers[i].kids, p->issuers[i].n_keys);
  }
  free(p->issuers);
  for (size_t i = 0; i < p->n_groups; i++) {
    free(p->groups[i].name);
    free_strv(p->groups[i].members, p->groups[i].n_members);
  }
  free(p->groups);
  for (size_t i = 0; i < p->n_rules; i++) {
    free(p->rules[i].pattern);
    free_strv(p->rules[i].users, p->rules[i].n_users);
    free_strv(p->rules[i].groups, p->rules[i].n_groups);
  }
  free(p->rules);
  memset(p, 0, sizeof(*p));
}

/* Checks obj's keys against the NULL-terminated list allowed. */
static enum wh_code only_keys(const json_t *obj, const char *where, const char *const *allowed,
                              struct wh_err *err)
{
  const char *k;
  json_t *v;

  json_object_foreach((json_t *)obj, k, v)
  {
    size_t i;
    for (i = 0; allowed[i] && strcmp(allowed[i], k) != 0; i++)
      ;
    if (!allowed[i])
      return wh_err_set(err, WH_EINVALID, 0, "unknown key \"%s.%s\"", where, k);
  }
  return WH_OK;
}

static enum wh_code get_str(const json_t *obj, const char *key, const char *where, char **out,
                            struct wh_err *err)
{
  const json_t *v = json_object_get(obj, key);

  if (!v)
    return WH_OK;
  if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > 4096)
    return wh_err_set(err, WH_EINVALID, 0, "\"%s.%s\": expected a non-empty string", where, key);
  free(*out);
  if (!(*out = strdup(json_string_value(v))))
    return wh_err_set(err, WH_ENOMEM, ENOMEM, "config");
  return WH_OK;
}

static enum wh_code get_bool(const json_t *obj, const char *key, const char *where, bool *out,
                             struct wh_err *err)
{
  const json_t *v = json_object_get(obj, key);

  if (!v)
    return WH_OK;
  if (!json_is_boolean(v))
    return wh_err_set(err, WH_EINVALID, 0, "\"%s.%s\": expected true or false", where, key);
  *out = json_is_true(v);
  return WH_OK;
}

/* An array of non-empty strings -> owned vector. */
static enum wh_code get_strv(const json_t *obj, const char *key, const char *where, char ***out,
                             size_t *n_out, struct wh_err *err)
{
  const json_t *v = json_object_get(obj, key);
  size_t i, n;
  json_t *x;

  if (!v)
    return WH_OK;
  if (!json_is_array(v) || (n = json_array_size(v)) > 10000)
    return wh_err_set(err, WH_EINVALID, 0, "\"%s.%s\": expected an array of strings", where, key);
  if (!(*out = calloc(n ? n : 1, sizeof(char *))))
    return wh_err_set(err, WH_ENOMEM, ENOMEM, "config");
  json_array_foreach(v, i, x)
  {
    if (!json_is_string(x) || json_string_length(x) == 0)
      return wh_err_set(err, WH_EINVALID, 0, "\"%s.%s\": expected an array of strings", where, key);
    if (!((*out)[i] = strdup(json_string_value(x))))
      return wh_err_set(err, WH_ENOMEM, ENOMEM, "config");
    *n_out = i + 1;
  }
  return WH_OK;
}

static enum wh_code parse_actions(const json_t *rule, const char *where, unsigned *out, struct wh_err *err)
{
  const json_t *v = json_object_get(rule, "actions");
  unsigned bit;
  size_t i;
  json_t *x;

  *out = 0;
  if (!json_is_array(v))
    return wh_err_set(err, WH_EINVALID, 0, "\"%s.actions\": expected an array of pull, push, delete", where);
  json_array_foreach(v, i, x)
  {
    if (!json_is_string(x) || !srv_actions_parse(json_string_value(x), json_string_length(x), true, &bit) ||
        !bit)
      return wh_err_set(err, WH_EINVALID, 0, "\"%s.actions\": expected pull, push, delete or *", where);
    *out |= bit;
  }
  return WH_OK;
}

static const struct srv_group *group_find(const struct srv_policy *p, const char *name)
{
  for (size_t i = 0; i < p->n_groups; i++)
    if (strcmp(p->groups[i].name, name) == 0)
      return &p->groups[i];
  return NULL;
}

static enum wh_code parse_rule(struct srv_policy *p, const json_t *j, size_t idx, struct wh_err *err)
{
  static const char *const keys[] = {"repository", "users", "groups", "anonymous", "actions", NULL};
  struct srv_rule *r = &p->rules[idx];
  char where[48];
  enum wh_code rc;

  snprintf(where, sizeof(where), "auth.rules[%zu]", idx);
  if (!json_is_object(j))
    return wh_err_set(err, WH_EINVALID, 0, "\"%s\": expected an object", where);
  if ((rc = only_keys(j, where, keys, err)) || (rc = get_str(j, "repository", where, &r->pattern, err)) ||
      (rc = get_strv(j, "users", where, &r->users, &r->n_users, err)) ||
      (rc = get_strv(j, "groups", where, &r->groups, &r->n_groups, err)) ||
      (rc = get_bool(j, "anonymous", where, &r->anonymous, err)) ||
      (rc = parse_actions(j, where, &r->actions, err)))
    return rc;
  if (!r->pattern)
    return wh_err_set(err, WH_EINVALID, 0, "\"%s.repository\": required", where);
  for (size_t i = 0; i < r->n_groups; i++)
    if (!group_find(p, r->groups[i]))
      return wh_err_set(err, WH_EINVALID, 0, "\"%s.groups\": no group \"%s\"", where, r->groups[i]);
  return WH_OK;
}

static enum wh_code parse_groups(struct srv_policy *p, const json_t *g, struct wh_err *err)
{
  const char *name;
  json_t *members;
  size_t i = 0;

  if (!g)
    return WH_OK;
  if (!json_is_object(g))
    return wh_err_set(err, WH_EINVALID, 0, "\"auth.groups\": expected an object of arrays");
  if (!(p->groups = calloc(json_object_size(g) + 1, sizeof(*p->groups))))
    return wh_err_set(err, WH_ENOMEM, ENOMEM, "config");
  json_object_foreach((json_t *)g, name, members)
  {
    json_auto_t *wrap = json_pack("{sO}", "m", members);
    struct srv_group *grp = &p->groups[i];
    if (!wrap || !(grp->name = strdup(name)))
      return wh_err_set(err, WH_ENOMEM, ENOMEM, "config");
    p->n_groups = ++i;
    if (!json_is_array(members))
      return wh_err_set(err, WH_EINVALID, 0, "\"auth.groups.%s\": expected an array of user names", name);
    if (get_strv(wrap, "m", "auth.groups", &grp->members, &grp->n_members, err) != WH_OK)
      return WH_EINVALID;
  }
  return WH_OK;
}

static enum wh_code parse_rules(struct srv_policy *p, const json_t *rules, struct wh_err *err)
{
  size_t i;
  json_t *r;
  enum wh_code rc;

  if (!rules)
    return WH_OK;
  if (!json_is_array(rules) || json_array_size(rules) > 10000)
    return wh_err_set(err, WH_EINVALID, 0, "\"auth.rules\": expected an array");
  if (!(p->rules = calloc(json_array_size(rules) + 1, sizeof(*p->rules))))
    return wh_err_set(err, WH_ENOMEM, ENOMEM, "config");
  json_array_foreach(rules, i, r)
  {
    p->n_rules = i + 1;
    if ((rc = parse_rule(p, r, i, err)) != WH_OK)
      return rc;
  }
  return WH_OK;
}

static enum wh_code parse_token(struct srv_policy *p, const json_t *t, struct wh_err *err)
{
  static const char *const keys[] = {"issue", "realm", "issuer", "key", "ttl_s", NULL};
  const json_t *ttl;
  enum wh_code rc;

  if (!t)
    return WH_OK;
  if (!json_is_object(t))
    return wh_err_set(err, WH_EINVALID, 0, "\"auth.token\": expected an object");
  p->token_issue = true;
  if ((rc = only_keys(t, "auth.token", keys, err)) ||
      (rc = get_bool(t, "issue", "auth.token", &p->token_issue, err)) ||
      (rc = get_str(t, "realm", "auth.token", &p->token_realm, err)) ||
      (rc = get_str(t, "issuer", "auth.token", &p->token_issuer, err)) ||
      (rc = get_str(t, "key", "auth.token", &p->token_key, err)))
    return rc;
  if ((ttl = json_object_get(t, "ttl_s"))) {
    if (!json_is_integer(ttl) || json_integer_value(ttl) < 10 || json_integer_value(ttl) > 86400)
      return wh_err_set(err, WH_EINVALID, 0, "\"auth.token.ttl_s\": expected an integer from 10 to 86400");
    p->token_ttl_s = (uint64_t)json_integer_value(ttl);
  }
  if (!p->token_issue && !p->token_realm)
    return wh_err_set(err, WH_EINVALID, 0, "\"auth.token.realm\": required when issue is false");
  return WH_OK;
}

static enum wh_code parse_issuer_key(struct srv_trusted_issuer *is, const json_t *k, size_t i,
                                     struct wh_err *err)
{
  static const char *const keys[] = {"file", "kid", NULL};
  enum wh_code rc;

  if (json_is_string(k)) {
    is->key_files[i] = strdup(json_string_value(k));
    return is->key_files[i] ? WH_OK : wh_err_set(err, WH_ENOMEM, ENOMEM, "config");
  }
  if (!json_is_object(k))
    return wh_err_set(err, WH_EINVALID, 0, "\"auth.issuers.keys\": expected file names or {file, kid}");
  if ((rc = only_keys(k, "auth.issuers.keys", keys, err)) ||
      (rc = get_str(k, "file", "auth.issuers.keys", &is->key_files[i], err)) ||
      (rc = get_str(k, "kid", "auth.issuers.keys", &is->kids[i], err)))
    return rc;
  if (!is->key_files[i])
    return wh_err_set(err, WH_EINVALID, 0, "\"auth.issuers.keys.file\": required");
  return WH_OK;
}

static enum wh_code parse_issuer(struct srv_trusted_issuer *is, const json_t *j, struct wh_err *err)
{
  static const char *const keys[] = {"issuer", "audience", "keys", NULL};
  const json_t *ks = json_object_get(j, "keys");
  size_t i;
  json_t *k;
  enum wh_code rc;

  if (!json_is_object(j))
    return wh_err_set(err, WH_EINVALID, 0, "\"auth.issuers\": expected objects");
  if ((rc = only_keys(j, "auth.issuers", keys, err)) ||
      (rc = get_str(j, "issuer", "auth.issuers", &is->issuer, err)) ||
      (rc = get_str(j, "audience", "auth.issuers", &is->audience, err)))
    return rc;
  if (!is->issuer || !json_is_array(ks) || json_array_size(ks) == 0 || json_array_size(ks) > 64)
    return wh_err_set(err, WH_EINVALID, 0, "\"auth.issuers\": issuer and 1 to 64 keys required");
  is->key_files = calloc(json_array_size(ks), sizeof(char *));
  is->kids = calloc(json_array_size(ks), sizeof(char *));
  if (!is->key_files || !is->kids)
    return wh_err_set(err, WH_ENOMEM, ENOMEM, "config");
  json_array_foreach(ks, i, k)
  {
    is->n_keys = i + 1;
    if ((rc = parse_issuer_key(is, k, i, err)) != WH_OK)
      return rc;
  }
  return WH_OK;
}

static enum wh_code parse_issuers(struct srv_policy *p, const json_t *a, struct wh_err *err)
{
  size_t i;
  json_t *j;
  enum wh_code rc;

  if (!a)
    return WH_OK;
  if (!json_is_array(a) || json_array_size(a) > 64)
    return wh_err_set(err, WH_EINVALID, 0, "\"auth.issuers\": expected an array");
  if (!(p->issuers = calloc(json_array_size(a) + 1, sizeof(*p->issuers))))
    return wh_err_set(err, WH_ENOMEM, ENOMEM, "config");
  json_array_foreach(a, i, j)
  {
    p->n_issuers = i + 1;
    if ((rc = parse_issuer(&p->issuers[i], j, err)) != WH_OK)
      return rc;
  }
  return WH_OK;
}

static enum wh_code parse_basic_http(struct srv_policy *p, const json_t *auth, struct wh_err *err)
{
  const char *s = json_string_value(json_object_get(auth, "basic_over_http"));

  if (!json_object_get(auth, "basic_over_http"))
    return WH_OK;
  if (s && strcmp(s, "loopback") == 0)
    p->basic_http = SRV_BASIC_HTTP_LOOPBACK;
  else if (s && strcmp(s, "never") == 0)
    p->basic_http = SRV_BASIC_HTTP_NEVER;
  else if (s && strcmp(s, "always") == 0)
    p->basic_http = SRV_BASIC_HTTP_ALWAYS;
  else
    return wh_err_set(err, WH_EINVALID, 0, "\"auth.basic_over_http\": expected never, loopback or always");
  return WH_OK;
}

static enum wh_code set_defaults(struct srv_policy *p, struct wh_err *err)
{
  if ((!p->realm && !(p->realm = strdup("wharf"))) || (!p->service && !(p->service = strdup("wharf"))) ||
      (!p->token_issuer && !(p->token_issuer = strdup("wharfd"))))
    return wh_err_set(err, WH_ENOMEM, ENOMEM, "config");
  if (!p->token_ttl_s)
    p->token_ttl_s = 300;
  for (size_t i = 0; i < p->n_issuers; i++)
    if (!p->issuers[i].audience && !(p->issuers[i].audience = strdup(p->service)))
      return wh_err_set(err, WH_ENOMEM, ENOMEM, "config");
  return WH_OK;
}

enum wh_code srv_policy_parse(const json_t *auth, struct srv_policy *out, struct wh_err *err)
{
  static const char *const keys[] = {"realm",  "service", "htpasswd", "basic_over_http", "token", "issuers",
                                     "groups", "rules",   NULL};
  struct srv_policy p;
  enum wh_code rc;

  memset(&p, 0, sizeof(p));
  if (!json_is_object(auth))
    return wh_err_set(err, WH_EINVALID, 0, "\"auth\": expected an object");
  if ((rc = only_keys(auth, "auth", keys, err)) || (rc = get_str(auth, "realm", "auth", &p.realm, err)) ||
      (rc = get_str(auth, "service", "auth", &p.service, err)) ||
      (rc = get_str(auth, "htpasswd", "auth", &p.htpasswd, err)) || (rc = parse_basic_http(&p, auth, err)) ||
      (rc = parse_token(&p, json_object_get(auth, "token"), err)) ||
      (rc = parse_issuers(&p, json_object_get(auth, "issuers"), err)) ||
      (rc = parse_groups(&p, json_object_get(auth, "groups"), err)) ||
      (rc = parse_rules(&p, json_object_get(auth, "rules"), err)) || (rc = set_defaults(&p, err))) {
    srv_policy_release(&p);
    return rc;
  }
  *out = p;
  return WH_OK;
}

/* ---- rights ------------------------------------------------------------------ */

static bool in_strv(char *const *v, size_t n, const char *s)
{
  for (size_t i = 0; i < n; i++)
    if (strcmp(v[i], s) == 0)
      return true;
  return false;
}

static bool rule_names(const struct srv_policy *p, const struct srv_rule *r, const char *user)
{
  if (!user)
    return r->anonymous;
  if (in_strv(r->users, r->n_users, user) || in_strv(r->users, r->n_users, "*"))
    return true;
  for (size_t i = 0; i < r->n_groups; i++) {
    const struct srv_group *g = group_find(p, r->groups[i]);
    if (g && in_strv(g->members, g->n_members, user))
      return true;
  }
  return r->anonymous; /* what anonymous callers may do, anyone may */
}

unsigned srv_policy_rights(const struct srv_policy *p, const char *user, const char *repo)
{
  unsigned acc = 0;

  for (size_t i = 0; i < p->n_rules; i++)
    if (rule_names(p, &p->rules[i], user) && srv_glob_match(p->rules[i].pattern, repo))
      acc |= p->rules[i].actions;
  return acc;
}

bool srv_policy_has_anonymous(const struct srv_policy *p)
{
  for (size_t i = 0; i < p->n_rules; i++)
    if (p->rules[i].anonymous)
      return true;
  return false;
}

/* ---- config hook ------------------------------------------------------------ */

enum wh_code srv_auth_config_set(struct srv_config *c, const json_t *v, struct wh_err *err)
{
  struct srv_policy p;

  if (srv_policy_parse(v, &p, err) != WH_OK)
    return err ? err->code : WH_EINVALID;
  srv_policy_release(&p);
  json_decref(c->auth);
  c->auth = json_incref((json_t *)v);
  return WH_OK;
}
