/* server/auth-int.h - private declarations of wharfd's access control.
 *
 *   jwt.c       JSON Web Tokens: base64url, ES256/RS256 sign and verify with
 *               OpenSSL, claim checks (iss, aud, exp, nbf); pure, no
 *               libmicrohttpd, fuzzed by tests/fuzz/fuzz_auth
 *   htpasswd.c  the htpasswd file: bcrypt verify (libcrypt), atomic rewrite
 *   access.c    the "auth" config section: groups, rules, repository globs,
 *               actions; the rights of a user, a robot or anonymous
 *   auth.c      per request: Authorization header -> who; route -> needed
 *               actions; 401 challenges and 403; TLS-only basic auth
 *   token.c     GET /v2/_wharf/token (Docker token protocol)
 *   token_cmd.c `wharfd token ...` and `wharfd user ...`
 *
 * Nothing here prints; the subcommands in token_cmd.c do.
 */
#ifndef WH_SERVER_AUTH_INT_H
#define WH_SERVER_AUTH_INT_H

#include <jansson.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

/* ---- actions and globs (access.c) ------------------------------------- */

enum srv_action {
  SRV_ACT_PULL = 1 << 0,
  SRV_ACT_PUSH = 1 << 1,
  SRV_ACT_DELETE = 1 << 2,
};
#define SRV_ACT_ALL (SRV_ACT_PULL | SRV_ACT_PUSH | SRV_ACT_DELETE)

/* "pull,push,delete" (any order, "*" = all) -> mask. Unknown words: false
 * when strict, else ignored (a token request may ask for actions we do not
 * know). */
bool srv_actions_parse(const char *csv, size_t len, bool strict, unsigned *out);
/* mask -> "pull,push,delete" order; "" for 0. */
void srv_actions_format(unsigned actions, char *out, size_t size);

/* Repository globs: '*' matches any run of characters except '/', "**"
 * matches any run including '/', '?' one character except '/'; everything
 * else literally. So "team/" + "*" matches "team/app" but not "team/a/b",
 * and "team/" + "**" matches both (but not "team" itself). */
bool srv_glob_match(const char *pattern, const char *name);

/* ---- JWT (jwt.c) ---------------------------------------------------------- */

#define SRV_JWT_MAX 8192 /* longest token accepted (bytes) */
#define SRV_JWT_LEEWAY_S 60

enum srv_jwt_alg {
  SRV_JWT_NONE = 0, /* never accepted */
  SRV_JWT_ES256,
  SRV_JWT_RS256,
};

struct srv_jwt_key {
  EVP_PKEY *pkey;       /* owned */
  enum srv_jwt_alg alg; /* fixed by the key type: EC P-256 -> ES256, RSA -> RS256 */
  char kid[64];         /* configured, else derived from the public key */
};

/* Whom tokens may come from: an issuer, the audience it must name (our
 * service) and its keys. A token is checked only against the keys of the
 * trust whose issuer equals its "iss". */
struct srv_jwt_trust {
  char *issuer;             /* owned */
  char *audience;           /* owned */
  struct srv_jwt_key *keys; /* owned array */
  size_t n_keys;
};

size_t srv_b64url_encode(const unsigned char *in, size_t n, char *out, size_t out_size);
/* Strict: base64url alphabet only, no padding; false on anything else. */
bool srv_b64url_decode(const char *in, size_t n, unsigned char *out, size_t out_size, size_t *n_out);

/* Loads a PEM private key (EC P-256 or RSA >= 2048 bits) into k. */
enum wh_code srv_jwt_key_load_private(struct srv_jwt_key *k, const char *path, struct wh_err *err);
/* Loads a PEM public key or certificate; kid NULL: derived. */
enum wh_code srv_jwt_key_load_public(struct srv_jwt_key *k, const char *path, const char *kid,
                                     struct wh_err *err);
/* Same from PEM text in memory (tests). */
enum wh_code srv_jwt_key_from_pem(struct srv_jwt_key *k, const char *pem, size_t len, bool private_key,
                                  const char *kid, struct wh_err *err);
/* A fresh EC P-256 key. */
enum wh_code srv_jwt_key_generate(struct srv_jwt_key *k, struct wh_err *err);
/* A verify-only copy of k's public half (same kid) into out. */
enum wh_code srv_jwt_key_public_copy(const struct srv_jwt_key *k, struct srv_jwt_key *out,
                                     struct wh_err *err);
void srv_jwt_key_release(struct srv_jwt_key *k);
void srv_jwt_trust_release(struct srv_jwt_trust *t);

/* Signs claims (borrowed) with k: *out is "header.payload.signature",
 * malloc'd, the caller's. */
enum wh_code srv_jwt_sign(const struct srv_jwt_key *k, const json_t *claims, char **out, struct wh_err *err);
/* Same with a header of the caller's (tests forge tokens with it). */
enum wh_code srv_jwt_sign_header(const struct srv_jwt_key *k, const json_t *hdr, const json_t *claims,
                                 char **out, struct wh_err *err);

/* Verifies token against the trusts: header alg in the allow-list (ES256,
 * RS256) and equal to the key's; kid (when given) picks among the trust's
 * configured keys only (jwk, jku, x5c, x5u in the header are never used);
 * signature; "iss" names the trust; "aud" (string or array) contains its
 * audience; "exp" required, "nbf" optional, both with SRV_JWT_LEEWAY_S.
 * On success *claims_out (new reference) and *trust_out (borrowed) are set.
 * Every failure is WH_EUNAUTHORIZED with a reason in err. */
enum wh_code srv_jwt_verify(const char *token, size_t len, const struct srv_jwt_trust *trusts,
                            size_t n_trusts, int64_t now, json_t **claims_out,
                            const struct srv_jwt_trust **trust_out, struct wh_err *err);

/* Parses an Authorization header value: "Basic <b64>" -> user and password
 * (NUL-terminated, bounded), "Bearer <token>" -> the token span. */
enum srv_authz_kind { SRV_AUTHZ_NONE = 0, SRV_AUTHZ_BASIC, SRV_AUTHZ_BEARER, SRV_AUTHZ_INVALID };
struct srv_authz {
  enum srv_authz_kind kind;
  char user[128];
  char password[256];
  const char *token; /* into the header value */
  size_t token_len;
};
void srv_authz_parse(const char *value, struct srv_authz *out);
/* Wipes the password of a parsed header. */
void srv_authz_wipe(struct srv_authz *a);

/* ---- htpasswd (htpasswd.c) ---------------------------------------------- */

struct srv_htpasswd;

/* Loads an htpasswd file of "user:bcrypt-hash" lines ($2y$, $2b$, $2a$;
 * other schemes are refused with the line number). A missing file is an
 * empty table. */
enum wh_code srv_htpasswd_load(const char *path, struct srv_htpasswd **out, struct wh_err *err);
void srv_htpasswd_free(struct srv_htpasswd *h);
bool srv_htpasswd_has(const struct srv_htpasswd *h, const char *user);
/* true when user exists and password matches. Unknown users cost one
 * bcrypt of a dummy hash with the file's highest cost: same work, same
 * answer. Compares in constant time. */
bool srv_htpasswd_verify(const struct srv_htpasswd *h, const char *user, const char *password);
/* Sets (adds or replaces) or, with password NULL, removes user, rewriting
 * the file atomically (temp file, fsync, rename, mode 0600). cost: bcrypt
 * cost (4..31; 0 = 10). WH_ENOTFOUND when removing an unknown user. */
enum wh_code srv_htpasswd_update(const char *path, const char *user, const char *password, unsigned cost,
                                 struct wh_err *err);
/* Calls cb for every user name in file order. */
void srv_htpasswd_each(const struct srv_htpasswd *h, void (*cb)(void *ctx, const char *user), void *ctx);
/* Name rules for htpasswd users and robots: 1..127 of [A-Za-z0-9._@-]. */
bool srv_user_name_valid(const char *name);

/* ---- the access policy (access.c) --------------------------------------- */

enum srv_basic_http {
  SRV_BASIC_HTTP_LOOPBACK = 0, /* default: plain HTTP basic only from 127.0.0.0/8, ::1 */
  SRV_BASIC_HTTP_NEVER,
  SRV_BASIC_HTTP_ALWAYS,
};

struct srv_rule {
  char *pattern; /* owned repository glob */
  char **users;  /* owned; "*" = any authenticated user */
  size_t n_users;
  char **groups; /* owned group names */
  size_t n_groups;
  bool anonymous; /* also for callers without credentials */
  unsigned actions;
};

struct srv_group {
  char *name;
  char **members;
  size_t n_members;
};

struct srv_trusted_issuer {
  char *issuer, *audience;
  char **key_files;
  char **kids; /* parallel to key_files; NULL entries: derived */
  size_t n_keys;
};

/* The "auth" config section, parsed. */
struct srv_policy {
  char *realm;    /* basic realm, default "wharf" */
  char *service;  /* token audience, default "wharf" */
  char *htpasswd; /* path or NULL */
  enum srv_basic_http basic_http;
  bool token_issue;     /* serve /v2/_wharf/token */
  char *token_realm;    /* absolute URL of the token endpoint, or NULL: derived from Host */
  char *token_issuer;   /* "iss" of our tokens, default "wharfd" */
  char *token_key;      /* PEM private key path, or NULL: ephemeral */
  uint64_t token_ttl_s; /* default 300 */
  struct srv_trusted_issuer *issuers;
  size_t n_issuers;
  struct srv_group *groups;
  size_t n_groups;
  struct srv_rule *rules;
  size_t n_rules;
};

enum wh_code srv_policy_parse(const json_t *auth, struct srv_policy *out, struct wh_err *err);
void srv_policy_release(struct srv_policy *p);
/* Actions the rules grant on repo: user NULL = anonymous. */
unsigned srv_policy_rights(const struct srv_policy *p, const char *user, const char *repo);
/* Whether any rule gives anonymous callers anything. */
bool srv_policy_has_anonymous(const struct srv_policy *p);

/* ---- runtime state (auth.c) ------------------------------------------------ */

struct srv_auth {
  struct srv_policy pol; /* immutable */
  bool tls;              /* the daemon serves https */
  bool bearer;           /* "token" section: Bearer challenges */
  pthread_rwlock_t lock; /* guards users */
  struct srv_htpasswd *users;
  struct srv_jwt_key sign;      /* our signing key (token.issue) */
  struct srv_jwt_trust *trusts; /* [0] ours when issuing, then the issuers */
  size_t n_trusts;
};

enum srv_who { SRV_WHO_ANON = 0, SRV_WHO_USER, SRV_WHO_ROBOT, SRV_WHO_TOKEN };

struct srv_authn {
  enum srv_who kind;
  enum srv_who sub_kind;   /* SRV_WHO_TOKEN of ours: what "sub" is */
  bool own;                /* SRV_WHO_TOKEN: issued by this wharfd */
  json_t *claims;          /* SRV_WHO_TOKEN: owned */
  char robot_pattern[256]; /* SRV_WHO_ROBOT, or own robot token */
  unsigned robot_actions;
};

struct srv_req;
/* What the identity behind r may do on repo (for a token of ours: what its
 * subject may do). */
unsigned srv_auth_rights(struct srv_req *r, const char *repo);

#endif
