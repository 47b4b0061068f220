/* client/relay.c - blobs from one registry to another, streamed, without
 * the local store (`wharf copy`).
 *
 * One struct rel per blob; the source and destination registries share one
 * multi handle (cli_registry_share), or are the same object, so one run
 * drives both sides:
 *
 *   HEAD dst --200--> (exists)
 *     | 404
 *     +--(same registry)--> MOUNT (POST ?mount=&from=) --201--> (mounted)
 *     |                        | 202: a session anyway -----------+
 *     v                        v another answer                   |
 *   START (POST) --202--------------------------------------------+--> WAIT
 *   WAIT --(fewer than STREAMS_MAX streaming)--> STREAM:
 *     GET src/blobs/DIGEST ==sink==> ring ==source==> PUT Location?digest= --201--> (copied)
 *
 * The GET's sink hashes what comes and appends it to a bounded ring; the
 * PUT's source takes from the ring; each side pauses when the ring is full
 * (or empty) and the other resumes it. The last byte is held back until
 * the whole blob hashed to its digest, so the destination never completes
 * an upload of wrong bytes (it checks the digest as well). A dropped GET is
 * resumed with Range (the rules of fetch.c); a PUT cannot be sent twice (a
 * streamed body): its failure fails the copy, and a new run skips what got
 * there (HEAD).
 *
 * Invariants: at most RING_SIZE bytes are buffered per streaming blob and
 * at most STREAMS_MAX blobs stream at once, and each registry runs at
 * least 2 * STREAMS_MAX transfers at once, so a paused GET and its PUT
 * always both get a slot; no more than the descriptor's size is ever
 * accepted from the source; the first failure aborts everything.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/remote.h"
#include "common/cleanup.h"
#include "common/fsutil.h"

#define RING_SIZE (4u * 1024 * 1024)
#define STREAMS_MAX 4
#define SHORT_RETRIES 3
#define OCTET "application/octet-stream"

enum rstate { R_HEAD, R_MOUNT, R_START, R_WAIT, R_STREAM, R_DONE };

struct relay;

struct rel {
  struct relay *run;
  const struct wh_descriptor *d; /* borrowed */
  const char *kind;
  enum rstate st;
  struct cli_req q;   /* on dst: HEAD, MOUNT, START, then the PUT */
  struct cli_req get; /* on src, while streaming */
  char *loc;          /* owned: the upload session's Location */
  char scope[2 * WH_NAME_MAX + 64];
  char *ring; /* owned, RING_SIZE bytes while streaming */
  size_t rpos, len;
  struct wh_hasher *h; /* owned: hash of what came from src */
  uint64_t got;        /* bytes of the blob received (and hashed) */
  uint64_t sent;       /* bytes given to the PUT */
  uint64_t drop;       /* bytes of a 200 answer still to skip (a resumed GET) */
  bool verified;       /* got == size and the hash matched */
  int shorts;
  size_t prog;
};

struct relay {
  struct cli_registry *src, *dst; /* may be the same */
  const char *src_path, *dst_path;
  bool same; /* same registry: mount instead of copying */
  struct cli_progress *p;
  struct rel *rs;
  size_t n;
  int streaming;
  bool failed;
  struct wh_err err;
};

static enum wh_code send_dst(struct rel *b, struct wh_err *err);

static void fail(struct rel *b, struct wh_err *e)
{
  struct relay *run = b->run;

  b->st = R_DONE;
  if (!run->failed) {
    run->failed = true;
    wh_err_wrap(e, "%s %s", b->kind, b->d->digest.str);
    run->err = *e;
    cli_registry_abort(run->src);
    if (run->dst != run->src)
      cli_registry_abort(run->dst);
  }
  cli_progress_finish(run->p, b->prog, "failed");
}

/* ---- the ring ------------------------------------------------------------------------ */

static void ring_put(struct rel *b, const char *p, size_t n)
{
  size_t w = (b->rpos + b->len) % RING_SIZE, first = RING_SIZE - w < n ? RING_SIZE - w : n;

  memcpy(b->ring + w, p, first);
  memcpy(b->ring, p + first, n - first);
  b->len += n;
}

static void ring_take(struct rel *b, char *p, size_t n)
{
  size_t first = RING_SIZE - b->rpos < n ? RING_SIZE - b->rpos : n;

  memcpy(p, b->ring + b->rpos, first);
  memcpy(p + first, b->ring, n - first);
  b->rpos = (b->rpos + n) % RING_SIZE;
  b->len -= n;
}

/* ---- the GET (source side) ------------------------------------------------------------- */

static enum wh_code get_on_send(struct cli_req *q, struct wh_err *err)
{
  struct rel *b = q->ctx;

  q->range[0] = '\0';
  if (b->got > 0)
    snprintf(q->range, sizeof(q->range), "bytes=%llu-", (unsigned long long)b->got);
  b->drop = 0;
  return WH_OK;
}

/* "bytes FIRST-LAST/TOTAL": FIRST must be what we have, LAST within the blob. */
static bool range_fits(const char *v, uint64_t have, uint64_t size)
{
  const char *dash, *slash;
  uint64_t first, last, total;

  if (strncmp(v, "bytes ", 6) != 0 || (dash = strchr(v + 6, '-')) == NULL ||
      (slash = strchr(dash, '/')) == NULL)
    return false;
  if (!wh_parse_u64(v + 6, (size_t)(dash - v - 6), &first) ||
      !wh_parse_u64(dash + 1, (size_t)(slash - dash - 1), &last) || first != have || last < first ||
      last >= size)
    return false;
  return strcmp(slash + 1, "*") == 0 || (wh_parse_u64(slash + 1, strlen(slash + 1), &total) && total == size);
}

static enum wh_code get_on_headers(struct cli_req *q, struct wh_err *err)
{
  struct rel *b = q->ctx;

  if (q->status == 206 && !range_fits(q->h.content_range, b->got, b->d->size))
    return wh_err_set(err, WH_EINVALID, 0, "source: bad Content-Range \"%.80s\" for bytes %llu-",
                      q->h.content_range, (unsigned long long)b->got);
  if (q->status != 200)
    return WH_OK;
  if (q->h.content_length >= 0 && (uint64_t)q->h.content_length != b->d->size)
    return wh_err_set(err, WH_EDIGEST, 0,
                      "size mismatch (the source sends %lld bytes, the manifest says %llu)",
                      (long long)q->h.content_length, (unsigned long long)b->d->size);
  b->drop = b->got; /* a full answer: what we have comes again */
  return WH_OK;
}

/* Room for the part of n bytes that is not dropped? */
static bool get_sink_wait(struct cli_req *q, size_t n)
{
  struct rel *b = q->ctx;
  size_t keep = b->drop < n ? n - (size_t)b->drop : 0;

  return keep <= RING_SIZE && keep > RING_SIZE - b->len;
}

static enum wh_code get_sink(struct cli_req *q, const char *p, size_t n, struct wh_err *err)
{
  struct rel *b = q->ctx;
  size_t skip = b->drop < n ? (size_t)b->drop : n;

  b->drop -= skip;
  p += skip;
  n -= skip;
  if (n == 0)
    return WH_OK;
  if (n > b->d->size - b->got)
    return wh_err_set(err, WH_EDIGEST, 0, "size mismatch (the source sends more than %llu bytes)",
                      (unsigned long long)b->d->size);
  if (n > RING_SIZE - b->len)
    return wh_err_set(err, WH_EINTERNAL, 0, "relay buffer overrun");
  wh_hasher_update(b->h, p, n);
  ring_put(b, p, n);
  b->got += n;
  cli_progress_set(b->run->p, b->prog, b->got);
  cli_req_resume(&b->q);
  return WH_OK;
}

/* All bytes in: the digest decides whether the PUT gets its last byte. */
static enum wh_code get_settle(struct rel *b, bool *again, struct wh_err *err)
{
  struct cli_req *q = &b->get;
  struct wh_digest d;

  *again = false;
  if (q->rc != WH_OK || (q->status != 200 && q->status != 206))
    return cli_req_status_err(q, "source", err);
  if (b->got < b->d->size && b->shorts++ < SHORT_RETRIES)
    return *again = true, WH_OK;
  if (b->got != b->d->size)
    return wh_err_set(err, WH_EDIGEST, 0, "size mismatch (received %llu of %llu bytes)",
                      (unsigned long long)b->got, (unsigned long long)b->d->size);
  wh_hasher_final(b->h, &d);
  wh_hasher_free(wh_steal_ptr(&b->h));
  if (!wh_digest_eq(&d, &b->d->digest))
    return wh_err_set(err, WH_EDIGEST, 0, "digest mismatch (the source sent %s)", d.str);
  b->verified = true;
  cli_req_resume(&b->q);
  return WH_OK;
}

static void get_done(struct cli_req *q)
{
  struct rel *b = q->ctx;
  struct wh_err e = {0};
  bool again;

  if (b->st != R_STREAM)
    return;
  if (get_settle(b, &again, &e) != WH_OK || (again && cli_registry_submit(b->run->src, q, &e) != WH_OK))
    fail(b, &e);
}

/* ---- the PUT (destination side) ------------------------------------------------------- */

static enum wh_code put_source(struct cli_req *q, char *p, size_t n, size_t *got, struct wh_err *err)
{
  struct rel *b = q->ctx;
  size_t avail = b->len;

  if (!b->verified && avail > 0 && b->sent + avail == b->d->size)
    avail--; /* the last byte waits for the digest */
  if (n > avail)
    n = avail;
  ring_take(b, p, n);
  b->sent += n;
  *got = n;
  if (n > 0)
    cli_req_resume(&b->get);
  return WH_OK;
}

/* Both sides start together (see the invariants for why both get a slot). */
static enum wh_code start_stream(struct rel *b, struct wh_err *err)
{
  struct relay *run = b->run;
  char scope[WH_NAME_MAX + 32];
  enum wh_code rc;

  if ((b->ring = malloc(RING_SIZE)) == NULL || (b->h = wh_hasher_new(b->d->digest.alg)) == NULL)
    return wh_err_set(err, WH_ENOMEM, 0, "out of memory");
  b->st = R_STREAM;
  run->streaming++;
  if ((rc = send_dst(b, err)) != WH_OK)
    return rc;
  cli_req_release(&b->get);
  cli_req_init(&b->get, "GET");
  b->get.ctx = b;
  b->get.on_send = get_on_send;
  b->get.on_headers = get_on_headers;
  b->get.sink_wait = get_sink_wait;
  b->get.sink = get_sink;
  b->get.done = get_done;
  cli_scope(run->src_path, false, scope, sizeof(scope));
  if ((rc = cli_req_set_url(&b->get, err, "/v2/%s/blobs/%s", run->src_path, b->d->digest.str)) != WH_OK ||
      (rc = cli_req_set_scope(&b->get, scope, err)) != WH_OK)
    return rc;
  return cli_registry_submit(run->src, &b->get, err);
}

/* Starts waiting blobs while stream slots are free. */
static void start_waiting(struct relay *run)
{
  for (size_t i = 0; i < run->n && run->streaming < STREAMS_MAX && !run->failed; i++) {
    struct rel *b = &run->rs[i];
    struct wh_err e = {0};
    if (b->st == R_WAIT && start_stream(b, &e) != WH_OK)
      fail(b, &e);
  }
}

/* ---- the destination's answers ------------------------------------------------------------ */

static enum wh_code set_loc(struct rel *b, struct wh_err *err)
{
  const char *l = b->q.h.location;

  if (l == NULL || l[0] == '\0')
    return wh_err_set(err, WH_EINVALID, 0, "upload answer without Location");
  for (const char *c = l; *c; c++)
    if ((unsigned char)*c <= ' ' || *c == 0x7f)
      return wh_err_set(err, WH_EINVALID, 0, "bad upload Location");
  free(b->loc);
  if ((b->loc = strdup(l)) == NULL)
    return wh_err_set(err, WH_ENOMEM, 0, "out of memory");
  return WH_OK;
}

static enum wh_code send_dst(struct rel *b, struct wh_err *err)
{
  static const char *const methods[] = {"HEAD", "POST", "POST", "", "PUT"};
  struct relay *run = b->run;
  struct cli_req *q = &b->q;
  void (*done)(struct cli_req *) = q->done;
  enum wh_code rc;

  cli_req_release(q);
  cli_req_init(q, methods[b->st]);
  q->ctx = b;
  q->done = done;
  if ((rc = cli_req_set_scope(q, b->scope, err)) != WH_OK)
    return rc;
  if (b->st == R_HEAD)
    rc = cli_req_set_url(q, err, "/v2/%s/blobs/%s", run->dst_path, b->d->digest.str);
  else if (b->st == R_MOUNT)
    rc = cli_req_set_url(q, err, "/v2/%s/blobs/uploads/?mount=%s&from=%s", run->dst_path, b->d->digest.str,
                         run->src_path);
  else if (b->st == R_START)
    rc = cli_req_set_url(q, err, "/v2/%s/blobs/uploads/", run->dst_path);
  else {
    q->content_type = OCTET;
    q->body_size = b->d->size;
    q->source = put_source;
    q->max_attempts = 1;
    rc = cli_req_set_url(q, err, "%s%sdigest=%s", b->loc, strchr(b->loc, '?') ? "&" : "?", b->d->digest.str);
  }
  return rc == WH_OK ? cli_registry_submit(run->dst, q, err) : rc;
}

/* The next state after a destination answer; *over: the blob is done. */
static enum wh_code advance(struct rel *b, const char **over, struct wh_err *err)
{
  const struct cli_req *q = &b->q;
  bool ok = q->rc == WH_OK;
  struct wh_digest said;

  *over = NULL;
  switch (b->st) {
  case R_HEAD:
    if (ok && q->status == 200)
      return *over = "exists", WH_OK;
    if (!ok || q->status != 404)
      return cli_req_status_err(q, "blob check", err);
    b->st = b->run->same ? R_MOUNT : R_START;
    return WH_OK;
  case R_MOUNT:
    if (ok && q->status == 201)
      return *over = "mounted", WH_OK;
    b->st = ok && q->status == 202 && set_loc(b, err) == WH_OK ? R_WAIT : R_START;
    return WH_OK;
  case R_START:
    if (!ok || q->status != 202)
      return cli_req_status_err(q, "upload start", err);
    if (set_loc(b, err) != WH_OK)
      return err->code;
    b->st = R_WAIT;
    return WH_OK;
  case R_STREAM:
    if (!ok || (q->status != 201 && q->status != 204))
      return cli_req_status_err(q, "upload", err);
    if (q->h.docker_digest[0] && wh_digest_parsez(q->h.docker_digest, &said, NULL) == WH_OK &&
        said.alg == b->d->digest.alg && !wh_digest_eq(&said, &b->d->digest))
      return wh_err_set(err, WH_EDIGEST, 0, "the destination stored %s", said.str);
    return *over = "copied", WH_OK;
  default:
    return wh_err_set(err, WH_EINTERNAL, 0, "bad relay state");
  }
}

static void dst_done(struct cli_req *q)
{
  struct rel *b = q->ctx;
  struct relay *run = b->run;
  bool streamed = b->st == R_STREAM;
  const char *over = NULL;
  struct wh_err e = {0};

  if (b->st == R_DONE)
    return;
  if (advance(b, &over, &e) != WH_OK) {
    fail(b, &e);
  } else if (over) {
    b->st = R_DONE;
    cli_progress_finish(run->p, b->prog, over);
  } else if (b->st != R_WAIT && send_dst(b, &e) != WH_OK) {
    fail(b, &e);
  }
  if (streamed)
    run->streaming--;
  start_waiting(run);
}

/* ---- the run --------------------------------------------------------------------------------- */

static bool seen_before(const struct cli_blob_want *w, size_t i)
{
  for (size_t j = 0; j < i; j++)
    if (wh_digest_eq(&w[j].d->digest, &w[i].d->digest))
      return true;
  return false;
}

static enum wh_code start_one(struct relay *run, struct rel *b, const struct cli_blob_want *w,
                              struct wh_err *err)
{
  int n;

  b->run = run;
  b->d = w->d;
  b->kind = w->kind;
  cli_req_init(&b->q, "HEAD");
  cli_req_init(&b->get, "GET");
  b->q.done = dst_done;
  n = snprintf(b->scope, sizeof(b->scope), "repository:%s:pull,push%s%s%s", run->dst_path,
               run->same ? " repository:" : "", run->same ? run->src_path : "", run->same ? ":pull" : "");
  if (n < 0 || (size_t)n >= sizeof(b->scope))
    return wh_err_set(err, WH_EINTERNAL, 0, "scope too long");
  b->prog = cli_progress_add(run->p, w->d->digest.str, w->d->size);
  b->st = R_HEAD;
  return send_dst(b, err);
}

static void tick(void *ctx)
{
  cli_progress_tick(ctx);
}

static void release_all(struct relay *run)
{
  for (size_t i = 0; i < run->n; i++) {
    struct rel *b = &run->rs[i];
    cli_req_release(&b->q);
    cli_req_release(&b->get);
    free(b->loc);
    free(b->ring);
    wh_hasher_free(b->h);
  }
}

enum wh_code cli_relay_blobs(struct cli_registry *src, const char *src_path, struct cli_registry *dst,
                             const char *dst_path, bool same_registry, const struct cli_blob_want *w,
                             size_t n, struct cli_progress *p, struct wh_err *err)
{
  struct relay run = {.src = src, .dst = dst, .src_path = src_path, .dst_path = dst_path, .p = p, .n = n};
  WH_AUTOFREE struct rel *rs = calloc(n ? n : 1, sizeof(*rs));
  enum wh_code rc = WH_OK;

  if (rs == NULL)
    return wh_err_set(err, WH_ENOMEM, 0, "out of memory");
  run.rs = rs;
  run.same = same_registry && strcmp(src_path, dst_path) != 0;
  cli_registry_set_parallel(src, 2 * STREAMS_MAX);
  cli_registry_set_parallel(dst, 2 * STREAMS_MAX);
  cli_registry_on_tick(dst, tick, p);
  for (size_t i = 0; i < n && rc == WH_OK; i++) {
    rs[i].st = R_DONE;
    if (!seen_before(w, i) && !wh_media_type_is_nondistributable(w[i].d->media_type))
      rc = start_one(&run, &rs[i], &w[i], err);
  }
  if (rc == WH_OK)
    rc = cli_registry_run(dst, err);
  if (rc != WH_OK) {
    cli_registry_abort(src);
    cli_registry_abort(dst);
  } else if (run.failed) {
    rc = (*err = run.err, run.err.code);
  }
  release_all(&run);
  cli_registry_on_tick(dst, NULL, NULL);
  return rc;
}
