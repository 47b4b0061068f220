/* server/server.h - private declarations shared by the files of wharfd.
 *
 * Layers, top to bottom:
 *   wharfd.c    command line, subcommands, signals, lifetime of the store
 *   config.c    struct srv_config: defaults, JSON config file, --listen
 *   http.c      the libmicrohttpd daemon, per-request state (struct srv_req),
 *               response helpers and THE table mapping wh_code -> HTTP
 *   routes.c    the route table: (path kind, method) -> handler
 *   parse.c     pure parsers for untrusted bytes (path, Range, Content-Range,
 *               pagination); no libmicrohttpd, fuzzed by tests/fuzz/fuzz_route
 *   base.c blobs.c uploads.c manifests.c tags.c referrers.c  the handlers
 *   fsck_cmd.c  `wharfd fsck`
 *   auth.c token.c access.c htpasswd.c jwt.c token_cmd.c tls.c  access
 *               control, the token service, TLS (see auth-int.h); auth.c
 *               runs between routing and route->begin
 *   gc.c quota.c usage.c gc_cmd.c  keeping the store clean: the GC and upload
 *               purge schedule, read-only mode, free-disk floor and quotas
 *               (srv_admit runs after auth, before route->begin), storage
 *               accounting, `wharfd gc|scrub|du`
 *
 * Handler contract: route->begin runs once the request line and headers are
 * known. It either replies (srv_reply_* sets r->resp) or chooses a body mode
 * and leaves the reply to route->end, which runs after the last body byte.
 * A reply made while the body is still arriving is held back, the rest of
 * the body is discarded, and the held reply goes out at the end.
 */
#ifndef WH_SERVER_H
#define WH_SERVER_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "common/buf.h"
#include "common/cleanup.h"
#include "common/digest.h"
#include "common/err.h"
#include "common/log.h"
#include "common/ref.h"
#include "storage/store.h"

/* ---- configuration (config.c) ---------------------------------------- */

#define SRV_DEFAULT_LISTEN "127.0.0.1:5000"
#define SRV_DEFAULT_ROOT "./wharf-data"

struct srv_config {
  char *listen; /* owned: "ADDR:PORT" */
  char *root;   /* owned: store root directory */
  enum wh_log_format log_format;
  enum wh_log_level log_level;
  uint64_t max_manifest_bytes;   /* default 4 MiB */
  uint64_t max_blob_bytes;       /* default 64 GiB */
  uint64_t max_connections;      /* default 1024 */
  uint64_t max_tag_list_n;       /* default 1000; larger n is clamped */
  uint64_t chunk_min_length;     /* 0 = no minimum */
  uint64_t connection_timeout_s; /* default 60 */
  bool sparse_index;             /* index children need not exist */
  json_t *auth;                  /* owned: the "auth" section (access.c); NULL = open registry */
  char *tls_cert, *tls_key;      /* owned: PEM file paths ("tls" section); both or neither */
  uint64_t drain_s;              /* on SIGTERM: seconds of /readyz 503 before closing; default 0 */
  struct srv_webhook *webhooks;  /* owned array (events.c): webhooks[0..n_webhooks) */
  size_t n_webhooks;
  /* Keeping the store clean (gc.c, quota.c; sections "gc", "uploads", "storage", "quotas"). */
  bool read_only;            /* every write answers 405 UNSUPPORTED; also --read-only */
  uint64_t gc_interval_s;    /* gc.interval: scheduled collection; 0 = off (default) */
  uint64_t gc_grace_s;       /* gc.grace: default 1 h */
  uint64_t gc_recent_s;      /* gc.recent: HEAD-checked/just-stored blobs stay; default 10 min */
  bool gc_delete_untagged;   /* gc.delete_untagged: default false */
  uint64_t gc_keep_history;  /* gc.keep_history: rollback targets per tag; default 10 */
  uint64_t upload_max_age_s; /* uploads.max_age: abandoned sessions purged after; default 24 h */
  uint64_t min_free_bytes;   /* storage.min_free: pushes refused below this free space; 0 = off */
  struct srv_quota *quotas;  /* owned array (quota.c): quotas[0..n_quotas) */
  size_t n_quotas;
  struct srv_immutable *immutable; /* owned array (rollback.c): "immutable_tags" rules */
  size_t n_immutable;
};

/* One immutable-tags rule (config "immutable_tags": [{"repository":
 * "prod-*", "tags": ["v*"]}]): matching tags may be created, never moved,
 * deleted or rolled back (403 DENIED). Globs are fnmatch(3) without
 * FNM_PATHNAME (`*` crosses `/`). */
struct srv_immutable {
  char *repository; /* owned glob */
  char **tags;      /* owned globs */
  size_t n_tags;
};

/* One quota (config "quotas": [{"pattern": "team-*", "max_bytes": "1GiB",
 * "max_tags": 100}]): the repositories matching pattern, together. */
struct srv_quota {
  char *pattern;      /* owned: fnmatch/SQLite GLOB pattern (`*` crosses `/`) */
  uint64_t max_bytes; /* 0: no byte limit */
  uint64_t max_tags;  /* 0: no tag limit */
};

/* One webhook endpoint (config "webhooks": [...]; parsed by events.c). */
struct srv_webhook {
  char *url;            /* owned: http:// or https:// */
  char *secret;         /* owned: HMAC-SHA256 key of X-Wharf-Signature; "" signs with an empty key */
  unsigned events;      /* enum store_event_kind mask */
  char **repositories;  /* owned: repository globs as in auth rules (auth-int.h); n 0: all */
  size_t n_repositories;
  uint64_t timeout_s;      /* per delivery attempt; default 10 */
  uint64_t max_retries;    /* failed attempts before an event is dropped; 0 = never drop */
  uint64_t backoff_min_ms; /* first retry delay, doubled each time; default 1000 */
  uint64_t backoff_max_s;  /* cap of the retry delay; default 300 */
};

void srv_config_init(struct srv_config *c);
void srv_config_release(struct srv_config *c);
/* Reads a JSON config file over c. Unknown keys and wrong types fail. */
enum wh_code srv_config_load(struct srv_config *c, const char *path, struct wh_err *err);
/* Checks the "auth" section (access.c) and keeps a reference in c->auth. */
enum wh_code srv_auth_config_set(struct srv_config *c, const json_t *v, struct wh_err *err);
/* Sets a string field (listen, root) to a copy of v. */
enum wh_code srv_config_set_str(char **field, const char *v, struct wh_err *err);

struct srv_listen {
  struct sockaddr_storage addr;
  socklen_t len;
  bool ipv6;
  char host[72]; /* printable host part: "127.0.0.1" or "[::1]" */
};
/* Parses "ADDR:PORT" ("[v6]:PORT", "localhost:PORT"). */
enum wh_code srv_listen_parse(const char *s, struct srv_listen *out, struct wh_err *err);

/* ---- parsing of untrusted request pieces (parse.c) --------------------- */

enum srv_route_kind {
  SRV_RT_NONE = 0,   /* no route: 404 */
  SRV_RT_BASE,       /* /v2/ */
  SRV_RT_CATALOG,    /* /v2/_catalog */
  SRV_RT_TAGS,       /* /v2/<name>/tags/list */
  SRV_RT_MANIFEST,   /* /v2/<name>/manifests/<reference> */
  SRV_RT_BLOB,       /* /v2/<name>/blobs/<digest> */
  SRV_RT_UPLOAD_NEW, /* /v2/<name>/blobs/uploads/ */
  SRV_RT_UPLOAD,     /* /v2/<name>/blobs/uploads/<id> */
  SRV_RT_REFERRERS,  /* /v2/<name>/referrers/<digest> */
  SRV_RT_HISTORY,    /* /v2/<name>/_wharf/history/<tag> */
  SRV_RT_ROLLBACK,   /* /v2/<name>/_wharf/rollback/<tag> */
  SRV_RT_TOKEN,      /* /v2/_wharf/token */
  SRV_RT_USAGE,      /* /v2/_wharf/usage */
  SRV_RT_METRICS,    /* /metrics */
  SRV_RT_HEALTHZ,    /* /healthz */
  SRV_RT_READYZ,     /* /readyz */
  SRV_RT_DISCOVER,   /* /v2/_oci/ext/discover (rollback.c) */
  SRV_RT_MAX,
};

enum srv_path_status {
  SRV_PATH_OK = 0,
  SRV_PATH_NOT_FOUND,    /* no route has this shape */
  SRV_PATH_NAME_INVALID, /* route found, repository name fails the grammar */
};

#define SRV_ARG_MAX 255

struct srv_path {
  enum srv_route_kind kind;
  char name[WH_NAME_MAX + 1]; /* repository; "" for base and catalog */
  char arg[SRV_ARG_MAX + 1];  /* reference, digest or upload id; may be "" */
  size_t arg_len;             /* true length; > SRV_ARG_MAX means cut (invalid) */
};

/* Parses the raw (not percent-decoded) path of a request, without the query.
 * Repository names may hold slashes: the path is split at the rightmost
 * route marker. Nothing is decoded, so '%' never reaches a name. */
enum srv_path_status srv_path_parse(const char *path, size_t len, struct srv_path *out);
/* Locates the path of a raw request target, origin-form "/p?q" or
 * absolute-form "http://host/p?q": returns its length (up to '?' or '#')
 * and puts its start offset in *off. */
size_t srv_uri_path(const char *uri, size_t len, size_t *off);

enum srv_range_result {
  SRV_RANGE_NONE = 0, /* absent, malformed or multi-range: serve it all */
  SRV_RANGE_OK,       /* *first..*last (inclusive) within size */
  SRV_RANGE_UNSATISFIABLE,
};
/* RFC 9110 single byte range against a resource of `size` bytes. */
enum srv_range_result srv_range_parse(const char *hdr, uint64_t size, uint64_t *first, uint64_t *last);
/* Upload Content-Range: "a-b" (also "bytes a-b", "bytes=a-b", "/total").
 * Returns false when malformed or b < a. */
bool srv_content_range_parse(const char *hdr, uint64_t *first, uint64_t *last);
/* Pagination n: decimal digits only. */
bool srv_parse_count(const char *s, uint64_t *out);
/* Finds the first well-formed digest inside free text (an error message). */
bool srv_find_digest(const char *text, struct wh_digest *out);
/* Upload ids are STORE_UPLOAD_ID_LEN lowercase hex characters. */
bool srv_upload_id_valid(const char *s, size_t len);

/* An If-Match / If-None-Match value (RFC 9110 13.1.1-2) on a manifest PUT:
 * `*`, or ONE entity tag naming a manifest digest, quoted ("sha256:...")
 * or not. Lists of several tags are not supported (INVALID). */
enum srv_cond {
  SRV_COND_NONE = 0, /* header absent or empty */
  SRV_COND_ANY,      /* `*` */
  SRV_COND_DIGEST,   /* *out holds the digest */
  SRV_COND_WEAK,     /* W/"...": never equal in a strong comparison */
  SRV_COND_INVALID,  /* malformed or a list */
};
enum srv_cond srv_cond_parse(const char *hdr, struct wh_digest *out);

/* ---- the daemon and its requests (http.c) ----------------------------- */

#define SRV_SHORT_CHUNK_SLOTS 64

struct srv_server {
  const struct srv_config *cfg; /* borrowed, read-only while serving */
  struct store *store;          /* borrowed: wharfd.c opens and frees it */
  struct MHD_Daemon *daemon;    /* owned */
  uint32_t boot_id;             /* random prefix of request ids */
  uint64_t next_req;            /* atomic counter of request ids */
  pthread_mutex_t lock;         /* guards inflight and short_chunk */
  pthread_cond_t idle;          /* signalled when inflight drops to 0 */
  uint64_t inflight;            /* requests between URI callback and completion */
  /* Upload sessions whose last PATCH was shorter than chunk_min_length:
   * only the final chunk may be short, so their next PATCH is refused. */
  char short_chunk[SRV_SHORT_CHUNK_SLOTS][STORE_UPLOAD_ID_LEN + 1];
  unsigned short_chunk_next;
  struct srv_auth *auth; /* owned: access control; NULL = open registry (auth.c) */
  struct srv_tls *tls;   /* owned: certificate and retired daemons; NULL = plain HTTP (tls.c) */
};

enum wh_code srv_start(struct srv_server *s, const struct srv_config *cfg, struct store *st,
                       const struct srv_listen *l, struct wh_err *err);
uint16_t srv_bound_port(struct srv_server *s);
/* SIGHUP: reloads the htpasswd file and, with TLS, the certificate and key
 * (a new daemon takes over the listening socket; the old one finishes its
 * connections). On failure the old state keeps serving. */
enum wh_code srv_reload(struct srv_server *s, struct wh_err *err);
/* Starts a daemon with s's options (and s->tls's certificate), on l's
 * address or, when listen_fd >= 0, on that socket (taken). NULL on failure. */
struct MHD_Daemon *srv_daemon_start(struct srv_server *s, const struct srv_listen *l, int listen_fd);

/* ---- TLS (tls.c) ---------------------------------------------------------- */

struct srv_tls;
/* Reads cfg->tls_cert/tls_key (checked to be a matching pair); *out NULL
 * when TLS is not configured. Fails when libmicrohttpd lacks TLS. */
enum wh_code srv_tls_new(const struct srv_config *cfg, struct srv_tls **out, struct wh_err *err);
void srv_tls_free(struct srv_tls *t); /* NULL no-op; stops retired daemons first */
/* PEM texts of the current pair (valid until the next reload). */
const char *srv_tls_cert_pem(const struct srv_tls *t);
const char *srv_tls_key_pem(const struct srv_tls *t);
/* GnuTLS priorities: TLS 1.2 and 1.3 only. */
#define SRV_TLS_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"
/* Stops accepting, waits up to grace_s for in-flight requests, stops. */
void srv_stop(struct srv_server *s, unsigned grace_s);

void srv_short_chunk_mark(struct srv_server *s, const char *id);
bool srv_short_chunk_test(struct srv_server *s, const char *id);
void srv_short_chunk_clear(struct srv_server *s, const char *id);

enum srv_body_mode {
  SRV_BODY_DISCARD = 0, /* ignore any body */
  SRV_BODY_UPLOAD,      /* stream into r->upload */
  SRV_BODY_BUFFER,      /* collect into r->body (bounded) */
};

struct srv_route;

/* What a failed operation was about: picks the OCI code for a wh_code. */
enum srv_ctx {
  SRV_CTX_ANY = 0,
  SRV_CTX_BLOB,         /* reading or deleting a blob */
  SRV_CTX_UPLOAD,       /* an upload session */
  SRV_CTX_MANIFEST,     /* reading or deleting a manifest or tag */
  SRV_CTX_MANIFEST_PUT, /* storing a manifest */
  SRV_CTX_REPO,         /* listing a repository */
};

struct srv_req {
  struct srv_server *srv;      /* borrowed */
  struct MHD_Connection *conn; /* borrowed */
  const char *method;          /* points into method_buf once begun */
  char method_buf[16];         /* longer methods are cut: no route matches */
  bool is_head;
  char id[32];        /* request id for logs and X-Request-Id */
  char log_path[256]; /* printable copy of the path for logs */
  size_t uri_len;     /* length of the raw request target */
  int64_t t_start_us;
  struct srv_path path;
  enum srv_path_status path_status;
  const struct srv_route *route;
  bool begun;   /* begin has run */
  bool replied; /* a response was queued */
  /* Authenticated user or robot name, "" when anonymous. Set once, before
   * begin runs, when authentication is decided (auth.c); passed as `who`
   * to the store (tag history) and written to the request log. */
  char user[128];
  struct srv_authn *authn; /* owned (auth.c): how the caller authenticated; freed at completion */

  /* request body */
  enum srv_body_mode body_mode;
  bool has_clen; /* Content-Length was given */
  uint64_t clen;
  uint64_t body_len;                       /* body bytes received so far */
  struct wh_buf body;                      /* SRV_BODY_BUFFER */
  enum srv_ctx body_ctx;                   /* picks the OCI code when the body fails */
  struct store_upload *upload;             /* owned: released (or cancelled) at completion */
  char upload_id[STORE_UPLOAD_ID_LEN + 1]; /* id of the session in use, "" if none */
  bool upload_cancel;                      /* session was made for this request only */
  bool has_crange;                         /* Content-Range given on PATCH/PUT */
  uint64_t crange_first, crange_last;
  struct wh_digest digest; /* digest argument or reference, when has_digest */
  bool has_digest;

  /* response */
  struct MHD_Response *resp; /* owned until queued */
  unsigned status;
  uint64_t resp_bytes; /* body size of the response */
  char err_msg[160];   /* first error line, for the request log */
};

/* The `who` of a tag history row: the authenticated name, NULL when anonymous. */
static inline const char *srv_req_who(const struct srv_req *r)
{
  return r->user[0] ? r->user : NULL;
}

/* Reply helpers: each replaces any reply already prepared. A failure to
 * allocate leaves r->resp NULL, which drops the connection. */
void srv_reply_empty(struct srv_req *r, unsigned status);
/* Static text (never freed). */
void srv_reply_const(struct srv_req *r, unsigned status, const char *content_type, const char *text);
/* Takes ownership of data (malloc'd). */
void srv_reply_buf(struct srv_req *r, unsigned status, const char *content_type, char *data, size_t len);
/* Serialises j (borrowed). */
void srv_reply_json(struct srv_req *r, unsigned status, const char *content_type, const json_t *j);
/* Takes ownership of fd. Sends len bytes from offset off. */
void srv_reply_fd(struct srv_req *r, unsigned status, int fd, uint64_t off, uint64_t len);
/* OCI error body {"errors":[{code,message,detail}]}; detail stolen, may be NULL. */
void srv_reply_error(struct srv_req *r, unsigned status, const char *oci_code, const char *message,
                     json_t *detail);

/* Replies with the status and OCI code THE table assigns to err->code in
 * ctx. 5xx replies carry a generic message; the detail goes to the log. */
void srv_reply_werr(struct srv_req *r, enum srv_ctx ctx, const struct wh_err *err);

void srv_header(struct srv_req *r, const char *name, const char *value);
void srv_headerf(struct srv_req *r, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Parses the path argument as a digest into *out; replies 400 DIGEST_INVALID
 * and returns false when it is not one. */
bool srv_path_digest(struct srv_req *r, struct wh_digest *out);

const char *srv_query(struct srv_req *r, const char *key); /* first value or NULL */
const char *srv_req_header(struct srv_req *r, const char *name);
/* Calls cb for every value of query key `key`, in order; stops on non-zero. */
int srv_query_each(struct srv_req *r, const char *key, int (*cb)(void *ctx, const char *value), void *ctx);

/* ---- access control (auth.c, token.c, tls.c) ----------------------------
 * With no "auth" section the registry is open (srv_server.auth NULL) and
 * every function below allows everything. */

struct srv_auth;
struct srv_authn;

/* Builds the access-control state from cfg->auth (htpasswd, keys, rules);
 * *out NULL when cfg->auth is NULL. tls: the daemon serves https. */
enum wh_code srv_auth_new(const struct srv_config *cfg, bool tls, struct srv_auth **out, struct wh_err *err);
void srv_auth_free(struct srv_auth *a); /* NULL no-op */
/* SIGHUP: reads the htpasswd file again; the old table stays on failure. */
enum wh_code srv_auth_reload(struct srv_auth *a, struct wh_err *err);
/* Runs before route->begin: decides r->user and r->authn and whether the
 * route may run. false: a 401/403 reply was made. */
bool srv_auth_check(struct srv_req *r);
/* Whether the caller may pull from repo (catalog filtering, mount sources). */
bool srv_auth_can_pull(struct srv_req *r, const char *repo);
void srv_authn_free(struct srv_authn *a); /* NULL no-op */
void srv_token_get(struct srv_req *r);    /* GET /v2/_wharf/token */

/* ---- routes (routes.c) -------------------------------------------------- */

typedef void (*srv_handler_fn)(struct srv_req *r);

struct srv_route {
  enum srv_route_kind kind;
  const char *method;
  srv_handler_fn begin; /* headers known: reply, or pick a body mode */
  srv_handler_fn end;   /* body complete: reply (NULL when begin always replies) */
};

/* Route for (kind, method); NULL when none. *allow_out (optional) gets the
 * methods the kind accepts, "GET, HEAD" style, for 405 replies. */
const struct srv_route *srv_route_find(enum srv_route_kind kind, const char *method, char *allow_out,
                                       size_t allow_size);

/* ---- handlers ------------------------------------------------------------- */

void srv_base_get(struct srv_req *r);
void srv_catalog_get(struct srv_req *r);
void srv_tags_get(struct srv_req *r);
void srv_referrers_get(struct srv_req *r);

void srv_blob_get(struct srv_req *r); /* GET and HEAD */
void srv_blob_delete(struct srv_req *r);

void srv_upload_post_begin(struct srv_req *r);
void srv_upload_post_end(struct srv_req *r);
void srv_upload_status(struct srv_req *r);
void srv_upload_patch_begin(struct srv_req *r);
void srv_upload_patch_end(struct srv_req *r);
void srv_upload_put_begin(struct srv_req *r);
void srv_upload_put_end(struct srv_req *r);
void srv_upload_delete(struct srv_req *r);

void srv_manifest_get(struct srv_req *r); /* GET and HEAD */
void srv_manifest_put_begin(struct srv_req *r);
void srv_manifest_put_end(struct srv_req *r);
void srv_manifest_delete(struct srv_req *r);

/* ---- tag history, rollback, conditional and immutable tags (rollback.c) ---- */

void srv_history_get(struct srv_req *r);         /* GET /v2/<name>/_wharf/history/<tag> */
void srv_rollback_post_begin(struct srv_req *r); /* POST /v2/<name>/_wharf/rollback/<tag> */
void srv_rollback_post_end(struct srv_req *r);
void srv_discover_get(struct srv_req *r); /* GET /v2/_oci/ext/discover */
/* Config "immutable_tags" into c->immutable (replacing it); free in release. */
enum wh_code srv_immutable_parse(struct srv_config *c, const json_t *v, struct wh_err *err);
void srv_immutable_free(struct srv_config *c);
bool srv_tag_immutable(const struct srv_config *c, const char *repo, const char *tag);
/* A manifest PUT's conditions, one per tag (If-Match/If-None-Match for the
 * path tag, immutability for all): false after a 400 reply. */
bool srv_put_conditions(struct srv_req *r, const char *const *tags, size_t n, struct store_tag_expect *out);
/* After a failed put: 412 PRECONDITION_FAILED when a condition failed,
 * else the usual reply for err. */
void srv_put_fail_reply(struct srv_req *r, const struct store_tag_expect *e, size_t n,
                        const struct wh_err *err);
/* DELETE of a tag, or of a manifest some tag points at, that is immutable:
 * false after a 403 DENIED reply. */
bool srv_delete_allowed(struct srv_req *r);

/* ---- observability (metrics.c) ----------------------------------------------
 * Counters are process-wide relaxed atomics, bumped once per request by
 * srv_metrics_observe() from the completion callback (no lock). */

/* "manifest", "blob", ... for logs and metric labels ("none" for no route). */
const char *srv_route_kind_name(enum srv_route_kind kind);
void srv_metrics_init(void);
/* Accounts one finished request (route, method, status, duration, bytes). */
void srv_metrics_observe(const struct srv_req *r);
/* SIGTERM received: /readyz answers 503 from now on. */
void srv_metrics_set_draining(void);
enum srv_webhook_result { SRV_HOOK_DELIVERED, SRV_HOOK_FAILED, SRV_HOOK_DROPPED };
void srv_metrics_webhook(enum srv_webhook_result res);
void srv_metrics_get(struct srv_req *r); /* GET /metrics */
void srv_healthz_get(struct srv_req *r); /* GET /healthz: 200 "ok" while the process runs */
void srv_readyz_get(struct srv_req *r);  /* GET /readyz: 200 when the store answers, 503 draining */

/* ---- webhooks (events.c) -------------------------------------------------------
 * The store writes events to its outbox in the transaction of each change
 * (storage/store.h); one delivery thread per webhook POSTs them in order. */

/* Config: parses the "webhooks" array into c->webhooks (replacing it). */
enum wh_code srv_webhooks_parse(struct srv_config *c, const json_t *v, struct wh_err *err);
void srv_webhooks_free(struct srv_config *c);
/* Sets the store's event mask and starts the delivery threads (nothing
 * when no webhook is configured). Call before serving, after curl_global_init. */
enum wh_code srv_events_start(const struct srv_config *cfg, struct store *st, struct wh_err *err);
/* A change may have been recorded: wake the delivery threads (cheap). */
void srv_events_kick(void);
/* Stops the threads (an attempt in progress is aborted; its event stays). */
void srv_events_stop(void);
/* Records a manifest GET as a pull event when webhooks want pulls. */
void srv_event_pull(struct srv_req *r, const struct wh_digest *d);

/* ---- keeping the store clean (gc.c, quota.c, usage.c) ---------------------- */

/* "90", "90s", "10m", "1h", "2d" -> seconds. */
enum wh_code srv_parse_duration(const char *s, uint64_t *out, struct wh_err *err);
/* "1048576", "512K", "10MiB", "1G", "2GB" (powers of 1024) -> bytes. */
enum wh_code srv_parse_size(const char *s, uint64_t *out, struct wh_err *err);
/* "1.2 GiB", "512 B": for messages and tables. */
void srv_fmt_bytes(uint64_t n, char *out, size_t size);
/* Config "quotas" (array of objects) into c->quotas; srv_quotas_free in release. */
enum wh_code srv_quotas_parse(struct srv_config *c, const json_t *v, struct wh_err *err);
void srv_quotas_free(struct srv_config *c);
/* A config value that is a duration (is_size false) or a size: an integer
 * (seconds, bytes) or a string as above, within [min, max], into *out. */
enum wh_code srv_config_unit(const json_t *v, bool is_size, const char *name, uint64_t min, uint64_t max,
                             uint64_t *out, struct wh_err *err);

/* Called by http.c before route->begin: read-only mode (405 UNSUPPORTED),
 * the free-disk floor (507 DENIED, nothing written) and byte quotas against
 * Content-Length (403 DENIED). false: it replied. */
bool srv_admit(struct srv_req *r);
/* Quotas of r's repository with `incoming` more bytes and the tags a
 * manifest PUT would point (new ones count): false after a 403 DENIED
 * reply ("quota of team-* exceeded: 1.2 GiB of 1 GiB"). */
bool srv_quota_admit(struct srv_req *r, uint64_t incoming, const char *const *tags, size_t n_tags);
/* At an upload's last request, before store_upload_finish: the bytes
 * received (unless r->digest is already in the repository). false: 403
 * made and the session ended (its bytes removed). */
bool srv_quota_upload_end(struct srv_req *r);
/* srv_reply_werr's hook: a full disk (ENOSPC, SQLite "disk is full") is
 * answered 507 with a clear message; false when err is something else. */
bool srv_reply_disk_full(struct srv_req *r, const struct wh_err *err);

/* One collection with the config's gc rules (store_gc_run); a real run is
 * counted in srv_gc_stats. */
enum wh_code srv_gc_once(struct store *st, const struct srv_config *cfg, unsigned flags, store_gc_item_cb cb,
                         void *ctx, struct store_gc_report *out, struct wh_err *err);
/* The schedule: one thread that purges abandoned uploads (uploads.max_age)
 * and, when gc.interval > 0, collects every gc.interval seconds. Nothing
 * runs in read-only mode. Stop before the store is freed; stop waits for a
 * collection in progress. */
enum wh_code srv_gc_start(const struct srv_config *cfg, struct store *st, struct wh_err *err);
void srv_gc_stop(void);
/* Counters for /metrics since start (thread-safe; any pointer may be
 * NULL): collections completed, bytes and blobs they freed. */
void srv_gc_stats(uint64_t *runs, uint64_t *bytes_freed, uint64_t *blobs_freed);

/* GET /v2/_wharf/usage: JSON of per-repository bytes, shared bytes, totals
 * and what the configured GC would free (usage.c). */
void srv_usage_get(struct srv_req *r);
/* The same JSON object, built for `wharfd du --json` too (NULL on error). */
json_t *srv_usage_json(struct store *st, const struct srv_config *cfg, struct wh_err *err);

/* ---- subcommands ---------------------------------------------------------- */

/* `wharfd fsck`: returns the process exit status (0 clean, 1 problems, 2 error). */
int srv_fsck_main(int argc, char **argv);
/* `wharfd gc`, `wharfd scrub`, `wharfd du` (gc_cmd.c): 0 ok, 1 scrub found
 * bad blobs, 2 error. */
int srv_gc_main(int argc, char **argv);
int srv_scrub_main(int argc, char **argv);
int srv_du_main(int argc, char **argv);
/* `wharfd token create|list|revoke` and `wharfd user add|del|list` (token_cmd.c). */
int srv_token_main(int argc, char **argv);
int srv_user_main(int argc, char **argv);

#endif
