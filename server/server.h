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
};

void srv_config_init(struct srv_config *c);
void srv_config_release(struct srv_config *c);
/* Reads a JSON config file over c. Unknown keys and wrong types fail. */
enum wh_code srv_config_load(struct srv_config *c, const char *path, struct wh_err *err);
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
};

enum wh_code srv_start(struct srv_server *s, const struct srv_config *cfg, struct store *st,
                       const struct srv_listen *l, struct wh_err *err);
uint16_t srv_bound_port(struct srv_server *s);
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

/* ---- subcommands ---------------------------------------------------------- */

/* `wharfd fsck`: returns the process exit status (0 clean, 1 problems, 2 error). */
int srv_fsck_main(int argc, char **argv);

#endif
