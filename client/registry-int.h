/* client/registry-int.h - what registry.c and token.c share: the registry
 * object itself and small libcurl helpers. Not for the rest of client/.
 *
 * Invariants: r->tokens holds at most CLI_TOKEN_CACHE tokens, each bound
 * to the scope string it was asked for and dropped once expired; r->ch is
 * the last challenge the registry sent (scheme NONE until one came);
 * registries sharing one multi handle form a ring (r->ring), exactly one
 * of them owns the handle, and a run of any member drives them all.
 */
#ifndef WH_CLI_REGISTRY_INT_H
#define WH_CLI_REGISTRY_INT_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stdint.h>

#include "client/auth.h"
#include "client/registry.h"

#define CLI_TOKEN_CACHE 32
#define CLI_USER_AGENT "wharf/" PACKAGE_VERSION

struct cli_xfer;

struct cli_token {
  char *scope; /* owned: cache key, "" for none */
  char *token; /* owned, wiped when dropped */
  int64_t expires_ms;
};

enum cli_probe { CLI_PROBE_NONE = 0, CLI_PROBE_HTTPS_FIRST, CLI_PROBE_HTTP_FIRST };

/* TLS settings of a registry (tls.c). */
struct cli_tls {
  bool noverify;    /* certificates not checked (an insecure registry) */
  struct wh_buf ca; /* owned: extra CA PEM (system bundle first), empty: none */
  char *cert, *key; /* owned: client certificate and key paths, or NULL */
};

struct cli_registry {
  char *domain; /* owned: as the user wrote it (credential lookups) */
  char *base;   /* owned: "scheme://host[:port]" */
  bool plain_http;
  /* An insecure registry: unverified HTTPS then plain HTTP (docker's
   * rule), or for a loopback host plain HTTP then unverified HTTPS. The
   * first transport failure before any answer (for HTTP first, also a 400:
   * HTTP sent to a TLS port) switches base to the other scheme for good;
   * probing: no answer on the first scheme seen yet. */
  enum cli_probe probe_order;
  bool probing;
  struct cli_tls tls;
  struct cli_creds creds;  /* owned, may be empty */
  struct cli_challenge ch; /* what the registry asked for (scheme NONE: nothing yet) */
  struct cli_token tokens[CLI_TOKEN_CACHE];
  CURLM *m;                  /* owned when own_m; else shared with the other members of ring */
  bool own_m;                /* this member frees m (the last member of a ring to go) */
  struct cli_registry *ring; /* next member of the group sharing m (itself when alone) */
  int parallel;
  int n_active;
  struct cli_xfer *head, *tail; /* every xfer, submission order */
  void (*tick)(void *ctx);
  void *tick_ctx;
};

static inline void cli_curlu_cleanup(CURLU **u)
{
  if (*u)
    curl_url_cleanup(*u);
}
#define AUTOCURLU __attribute__((cleanup(cli_curlu_cleanup)))

static inline void cli_easy_cleanup(CURL **e)
{
  if (*e)
    curl_easy_cleanup(*e);
}
#define AUTOCURL __attribute__((cleanup(cli_easy_cleanup)))

int64_t cli_now_ms(void);
/* printf into a new string; NULL on ENOMEM or over CLI_HDR_VALUE_MAX. */
char *cli_str_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Options every handle gets: no redirects, http(s) only, timeouts, user agent. */
void cli_curl_common(CURL *e);
bool cli_host_is_loopback(const char *host);
/* The host part of "host[:port]" / "[v6]:port" into out. */
void cli_domain_host(const char *domain, char *out, size_t size);

/* ---- tls.c ---- */

/* Loads the certificates for domain (cert_dir: --cert-dir, may be NULL);
 * t->noverify starts false. */
enum wh_code cli_tls_load(struct cli_tls *t, const char *domain, const char *cert_dir, struct wh_err *err);
void cli_tls_release(struct cli_tls *t);
/* Sets t's options on e (after cli_curl_common); t must outlive e's transfers. */
void cli_tls_apply(const struct cli_tls *t, CURL *e);

/* ---- token.c ---- */

/* A cached, unexpired token for scope ("" for none), or NULL. */
const char *cli_token_get(struct cli_registry *r, const char *scope);
/* Asks r->ch.realm for a token for scope plus extra_scope (may be NULL)
 * with the registry's credentials (only over https, or to loopback or the
 * registry's own host) and caches it under scope. */
enum wh_code cli_token_fetch(struct cli_registry *r, const char *scope, const char *extra_scope,
                             struct wh_err *err);
void cli_tokens_clear(struct cli_registry *r);

#endif
