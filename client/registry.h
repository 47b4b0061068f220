/* client/registry.h - wharf's registry client (OCI Distribution over libcurl).
 *
 * One struct cli_registry per registry host: its base URL (https with TLS
 * verified, the CAs of certs.d or --cert-dir added; for an insecure
 * registry - --insecure, --tls-verify=false and "insecure_registries" -
 * https without verification, falling back to plain http when https fails
 * before any answer, as docker does; a loopback host is tried the other way
 * round: plain http, then unverified https), its
 * credentials, what its /v2/ ping said about auth,
 * a cache of bearer tokens per scope, and one libcurl multi handle that runs
 * every request submitted to it, at most `parallel` at a time.
 *
 * A request (struct cli_req) is embedded in the caller's state. The driver
 * sends it, and before handing it back:
 *  - answers a 401 once per attempt with the challenge's scheme (Basic with
 *    the known credentials, or the Docker token flow: GET realm?service=&
 *    scope= with the credentials, token cached per scope);
 *  - follows up to CLI_MAX_REDIRECTS redirects itself: the Authorization
 *    header goes only to the registry's own origin (scheme, host, port), so
 *    credentials and tokens never reach blob storage or any other host;
 *  - retries 429, 500, 502, 503, 504 and transient network errors up to
 *    max_attempts times, waiting Retry-After (capped at CLI_RETRY_AFTER_MAX
 *    seconds) or an exponential backoff; before each attempt on_send() may
 *    adjust the request (a Range to resume a download).
 * Every size a peer decides is capped: header block CLI_HDR_MAX, a buffered
 * body max_body (CLI_ERRBODY_MAX for error answers), a token response
 * CLI_TOKEN_MAX. Nothing here prints.
 */
#ifndef WH_CLI_REGISTRY_H
#define WH_CLI_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"

#define CLI_HDR_MAX (64 * 1024)
#define CLI_HDR_VALUE_MAX (8 * 1024)
#define CLI_ERRBODY_MAX (64 * 1024)
#define CLI_TOKEN_MAX (64 * 1024)
#define CLI_MAX_REDIRECTS 8
#define CLI_RETRY_AFTER_MAX 60 /* seconds */
#define CLI_DEFAULT_ATTEMPTS 5
#define CLI_DEFAULT_PARALLEL 4

/* ---- WWW-Authenticate and Link (challenge.c) ------------------------------- */

enum cli_auth_scheme { CLI_AUTH_NONE = 0, CLI_AUTH_BASIC, CLI_AUTH_BEARER };

struct cli_challenge {
  enum cli_auth_scheme scheme;
  char *realm;   /* owned, may be NULL */
  char *service; /* owned, may be NULL */
  char *scope;   /* owned, may be NULL */
  char *error;   /* owned, may be NULL ("insufficient_scope", ...) */
};

/* Parses one or more WWW-Authenticate values (joined with ", ") and keeps
 * the Bearer challenge, else the Basic one. WH_EUNSUPPORTED when only other
 * schemes are offered, WH_EINVALID when the header cannot be parsed. */
enum wh_code cli_challenge_parse(const char *hdr, struct cli_challenge *out, struct wh_err *err);
void cli_challenge_release(struct cli_challenge *c);

/* Reads a token service answer: "token" (or "access_token") and
 * "expires_in" (seconds, default 60). The token must be printable ASCII
 * without spaces. *token_out is malloc'd. */
enum wh_code cli_token_parse(const char *body, size_t len, char **token_out, int64_t *expires_in_out,
                             struct wh_err *err);

/* The target of the rel="next" link in a Link header value (RFC 8288;
 * several joined with ", " are fine), as sent: a path or an absolute URL,
 * for cli_req_set_url. malloc'd; NULL when link is NULL, has no next link,
 * on ENOMEM, or when the target is empty or holds a space, a control
 * character or a '<'. */
char *cli_link_next(const char *link);

/* ---- requests ------------------------------------------------------------ */

struct cli_resp_hdrs {
  char content_type[256];
  char docker_digest[160]; /* Docker-Content-Digest, unvalidated */
  char range[96];          /* Range (upload progress) */
  char content_range[96];
  char retry_after[64];
  char *location;         /* owned */
  char *www_authenticate; /* owned; repeated headers joined with ", " */
  char *link;             /* owned; Link (pagination), repeated headers joined with ", " */
  int64_t content_length; /* -1 when absent */
  uint64_t chunk_min;     /* OCI-Chunk-Min-Length, 0 when absent */
};

struct cli_req;
struct cli_xfer;

enum cli_req_flags {
  CLI_REQ_NO_AUTH = 1 << 0, /* no Authorization header, a 401 is handed back as it is */
};

struct cli_req {
  /* set by the caller (after cli_req_init) */
  const char *method;       /* GET HEAD PUT POST PATCH DELETE */
  char *url;                /* owned: "/v2/..." or an absolute URL (cli_req_set_url) */
  char *scope;              /* owned: token scope, e.g. "repository:app:pull" */
  const char *accept;       /* Accept header, borrowed, may be NULL */
  const char *content_type; /* request body's type, borrowed, may be NULL */
  char range[64];           /* Range request header value, "" for none */
  char content_range[64];   /* Content-Range request header value, "" for none */
  const void *body;         /* in-memory request body (borrowed) ... */
  size_t body_len;
  int body_fd; /* ... or bytes [body_off, body_off+body_size) of body_fd (>= 0) */
  uint64_t body_off, body_size;
  size_t max_body;  /* cap on a buffered 2xx body (default 0: none accepted) */
  int max_attempts; /* default CLI_DEFAULT_ATTEMPTS; 1: never retried */
  unsigned flags;   /* enum cli_req_flags */
  /* Called before every attempt (also the first). */
  enum wh_code (*on_send)(struct cli_req *q, struct wh_err *err);
  /* Called once per 2xx answer when its headers are complete, before any body byte. */
  enum wh_code (*on_headers)(struct cli_req *q, struct wh_err *err);
  /* Streams a 2xx body instead of buffering it. */
  enum wh_code (*sink)(struct cli_req *q, const char *p, size_t n, struct wh_err *err);
  /* Optional, with sink: true when the sink cannot take n bytes now; the
   * transfer pauses and the same bytes come again after cli_req_resume(q). */
  bool (*sink_wait)(struct cli_req *q, size_t n);
  /* A request body of body_size bytes produced on the fly (instead of body
   * or body_fd): fills p with at most n bytes and sets *got; *got == 0
   * pauses the upload until cli_req_resume(q). Such a request is never
   * sent twice (a retry, a redirect or an auth answer after the first
   * byte fails it): set max_attempts to 1 and make sure the token for its
   * scope is there first. */
  enum wh_code (*source)(struct cli_req *q, char *p, size_t n, size_t *got, struct wh_err *err);
  /* Called once when the request is over (answered or failed), not after abort. */
  void (*done)(struct cli_req *q);
  void *ctx;

  /* results */
  enum wh_code rc;   /* WH_OK: an HTTP answer came (look at status) */
  struct wh_err err; /* when rc != WH_OK */
  long status;
  struct cli_resp_hdrs h;
  struct wh_buf resp; /* a 2xx body without sink, or the error body */

  struct cli_xfer *x; /* private: the transfer in flight */
};

void cli_req_init(struct cli_req *q, const char *method);
void cli_req_release(struct cli_req *q);
/* Sets q->url to printf(fmt, ...). */
enum wh_code cli_req_set_url(struct cli_req *q, struct wh_err *err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
enum wh_code cli_req_set_scope(struct cli_req *q, const char *scope, struct wh_err *err);
/* Continues q after its sink_wait or source paused it (or, when it is not
 * paused, lets its next pause end at once). Safe from any callback. */
void cli_req_resume(struct cli_req *q);
/* Forgets the answer (status, headers, body) before re-sending q. */
void cli_req_reset_answer(struct cli_req *q);
/* Turns a non-success answer into an error: "WHAT: MESSAGE (HTTP 404)"
 * with the code for the status (401 unauthorized, 403 denied, 404 not
 * found, 416 range, 429/5xx network, ...) and the registry's own OCI error
 * message when it sent one. Returns the code. */
enum wh_code cli_req_status_err(const struct cli_req *q, const char *what, struct wh_err *err);

/* ---- the registry --------------------------------------------------------- */

struct cli_registry;

struct cli_opts;
/* domain: "127.0.0.1:5000", "docker.io", ... TLS as o says (--insecure,
 * --tls-verify, --cert-dir). Loads the credentials for domain (auth.c:
 * config files or a credential helper) when there are any. */
enum wh_code cli_registry_open(const struct cli_opts *o, const char *domain, struct cli_registry **out,
                               struct wh_err *err);
/* The same with default TLS settings; insecure: as --insecure. */
enum wh_code cli_registry_new(const char *domain, bool insecure, struct cli_registry **out,
                              struct wh_err *err);
void cli_registry_free(struct cli_registry *r); /* NULL no-op; aborts what is in flight */
/* Replaces the credentials (login). */
enum wh_code cli_registry_set_creds(struct cli_registry *r, const char *user, const char *pass,
                                    struct wh_err *err);
bool cli_registry_has_creds(const struct cli_registry *r);
const char *cli_registry_base(const struct cli_registry *r); /* "https://host:port" */
void cli_registry_set_parallel(struct cli_registry *r, int n);
/* Called about every 200 ms while requests run (progress redraws). */
void cli_registry_on_tick(struct cli_registry *r, void (*fn)(void *ctx), void *ctx);

/* GET /v2/: checks that a registry answers and learns its auth scheme. */
enum wh_code cli_registry_ping(struct cli_registry *r, struct wh_err *err);
/* Checks the credentials: GET /v2/ with Basic, or a token fetched with them. */
enum wh_code cli_registry_verify_creds(struct cli_registry *r, struct wh_err *err);

/* Makes r run its requests on with's multi handle, so that one
 * cli_registry_run (of either) drives both: a request of one can feed a
 * request of the other (a blob copied between registries). r must be idle
 * and not shared yet. Free the members in any order. */
void cli_registry_share(struct cli_registry *r, struct cli_registry *with);
/* Queues q (it starts when a slot is free). */
enum wh_code cli_registry_submit(struct cli_registry *r, struct cli_req *q, struct wh_err *err);
/* Runs until nothing is queued or in flight, in r and in the registries
 * sharing its multi handle (done callbacks may submit). */
enum wh_code cli_registry_run(struct cli_registry *r, struct wh_err *err);
/* Submits q and runs; returns q->rc (q->err copied to err). */
enum wh_code cli_registry_do(struct cli_registry *r, struct cli_req *q, struct wh_err *err);
/* Stops everything queued or in flight; their done callbacks are not called
 * and their rc becomes WH_EINTERNAL ("aborted"). Safe from a done callback. */
void cli_registry_abort(struct cli_registry *r);

#endif
