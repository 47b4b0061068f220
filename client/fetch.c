/* client/fetch.c - blobs from a registry into the local store, in parallel.
 *
 * One struct fetch per blob missing locally, all on one registry driver:
 *
 *   prepare: have it? -> link it, done ("exists")
 *            partial session recorded for its digest? -> take it (resume)
 *            else store_upload_start + record it in ROOT/client/partial/
 *   GET /v2/PATH/blobs/DIGEST [Range: bytes=HAVE-]
 *      on_headers: 206 must start at HAVE and end within the size;
 *                  200 means "from 0": its first HAVE bytes are dropped;
 *                  a Content-Length other than the size is refused
 *      sink: appends to the session, never past the descriptor's size
 *   done: a short answer is asked again from where it stopped;
 *         full: store_upload_finish verifies the digest and commits
 *         (WH_EDIGEST: the bytes are thrown away), the record is removed.
 *
 * Invariants: nothing enters blobs/ unverified; on any failure every open
 * session is released (parked, resumable by the next run) except one that
 * failed its digest; the first failure aborts the other transfers. A blob
 * of SPOOL_MIN bytes or more is written by a thread of its own (spool.c),
 * which is always stopped (every queued byte written) before the session
 * is finished, released or discarded. A blob of at most MEM_MAX bytes (a
 * config, a small layer) skips all that: one GET into memory, capped at
 * its size, verified and stored by store_blob_put (a failed one is simply
 * asked again next time).
 * A partial record is "ID\nREPO\n", written to a temp file and renamed.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client/remote.h"
#include "common/cleanup.h"
#include "common/fsutil.h"

#define PARTIAL_DIR "client/partial"
#define PARTIAL_MAX 512
#define SHORT_RETRIES 3
#define SPOOL_MIN (8u * 1024 * 1024)
#define MEM_MAX (256u * 1024) /* smaller blobs: one GET into memory, one store_blob_put */

struct fetch_run;

struct fetch {
  struct fetch_run *run;
  const struct wh_descriptor *d; /* borrowed from the caller's manifest */
  const char *kind;
  struct cli_req q;
  struct store_upload *u;        /* owned while open (the spool's while it runs) */
  struct cli_spool *sp;          /* big blobs: the writer thread, NULL otherwise */
  uint64_t have;                 /* bytes accepted: in the session or queued in sp */
  char srepo[WH_NAME_MAX + 300]; /* the session's repository */
  uint64_t drop;                 /* bytes of a 200 answer still to drop */
  size_t prog;
  int shorts; /* short answers asked again */
  bool active;
};

struct fetch_run {
  struct cli_registry *r;
  struct store *s;
  int pdir;         /* ROOT/client/partial, -1 when unusable */
  const char *path; /* remote repository */
  const char *repo; /* local repository */
  struct cli_progress *p;
  bool failed;
  struct wh_err err; /* the first failure */
};

/* ---- partial records ----------------------------------------------------------- */

static void partial_name(const struct wh_digest *d, char *out, size_t size)
{
  snprintf(out, size, "%s-%s", wh_digest_alg_name(d->alg), wh_digest_hex(d));
}

static bool partial_read(int pdir, const struct wh_digest *d, char id[STORE_UPLOAD_ID_LEN + 1], char *repo,
                         size_t repo_size)
{
  char name[WH_DIGEST_STR_MAX + 8];
  struct wh_buf b;
  const char *nl, *nl2;
  bool ok = false;

  if (pdir < 0)
    return false;
  partial_name(d, name, sizeof(name));
  wh_buf_init(&b, PARTIAL_MAX);
  if (wh_read_file_at(pdir, name, &b, NULL) == WH_OK && b.data && (nl = strchr(b.data, '\n')) != NULL &&
      nl - b.data == STORE_UPLOAD_ID_LEN && (nl2 = strchr(nl + 1, '\n')) != NULL &&
      (size_t)(nl2 - nl - 1) < repo_size && nl2 > nl + 1) {
    memcpy(id, b.data, STORE_UPLOAD_ID_LEN);
    id[STORE_UPLOAD_ID_LEN] = '\0';
    snprintf(repo, repo_size, "%.*s", (int)(nl2 - nl - 1), nl + 1);
    ok = true;
  }
  wh_buf_release(&b);
  return ok;
}

static void partial_remove(int pdir, const struct wh_digest *d)
{
  char name[WH_DIGEST_STR_MAX + 8];

  if (pdir < 0)
    return;
  partial_name(d, name, sizeof(name));
  unlinkat(pdir, name, 0);
}

/* Best effort: without the record, only in-run resume is lost. */
static void partial_write(int pdir, const struct wh_digest *d, const char *id, const char *repo)
{
  char name[WH_DIGEST_STR_MAX + 8], tmp[WH_DIGEST_STR_MAX + 16], text[PARTIAL_MAX];
  WH_AUTOCLOSE int fd = -1;
  int n;

  if (pdir < 0)
    return;
  partial_name(d, name, sizeof(name));
  snprintf(tmp, sizeof(tmp), ".%s.%d", name, (int)getpid());
  n = snprintf(text, sizeof(text), "%s\n%s\n", id, repo);
  if (n < 0 || (size_t)n >= sizeof(text))
    return;
  fd = openat(pdir, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0)
    return;
  if (wh_write_all(fd, text, (size_t)n, NULL) != WH_OK || renameat(pdir, tmp, pdir, name) != 0)
    unlinkat(pdir, tmp, 0);
}

static int partial_dir_open(const char *root)
{
  WH_AUTOCLOSE int rfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

  if (rfd < 0 || wh_mkdir_p_at(rfd, PARTIAL_DIR, 0700, NULL) != WH_OK)
    return -1;
  return openat(rfd, PARTIAL_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
}

/* ---- sessions ---------------------------------------------------------------------- */

/* Takes the recorded session for f's digest when there is a usable one. */
static bool session_resume(struct fetch *f)
{
  struct fetch_run *run = f->run;
  char id[STORE_UPLOAD_ID_LEN + 1];
  enum wh_code rc;

  if (!partial_read(run->pdir, &f->d->digest, id, f->srepo, sizeof(f->srepo)))
    return false;
  rc = store_upload_get(run->s, f->srepo, id, &f->u, NULL);
  if (rc == WH_ECONFLICT)
    return false; /* another wharf is on it: keep its record, use a session of our own */
  if (rc == WH_OK && store_upload_size(f->u) <= f->d->size)
    return true;
  if (rc == WH_OK) { /* longer than the blob can be: worthless */
    store_upload_release(f->u);
    f->u = NULL;
    store_upload_cancel(run->s, f->srepo, id, NULL);
  }
  partial_remove(run->pdir, &f->d->digest);
  return false;
}

static enum wh_code session_open(struct fetch *f, struct wh_err *err)
{
  struct fetch_run *run = f->run;
  char id[STORE_UPLOAD_ID_LEN + 1];
  enum wh_code rc;

  if (session_resume(f))
    return WH_OK;
  snprintf(f->srepo, sizeof(f->srepo), "%s", run->repo);
  if ((rc = store_upload_start(run->s, run->repo, id, err)) != WH_OK ||
      (rc = store_upload_get(run->s, run->repo, id, &f->u, err)) != WH_OK)
    return rc;
  partial_write(run->pdir, &f->d->digest, id, run->repo);
  return WH_OK;
}

/* ---- one transfer --------------------------------------------------------------------- */

/* Bytes that failed verification are not worth resuming: drop the session. */
static void discard(struct fetch *f)
{
  char id[STORE_UPLOAD_ID_LEN + 1];

  if (f->u == NULL)
    return;
  cli_spool_close(wh_steal_ptr(&f->sp), NULL);
  snprintf(id, sizeof(id), "%s", store_upload_id(f->u));
  store_upload_release(wh_steal_ptr(&f->u));
  store_upload_cancel(f->run->s, f->srepo, id, NULL);
  partial_remove(f->run->pdir, &f->d->digest);
}

static void fail(struct fetch *f, const struct wh_err *e)
{
  struct fetch_run *run = f->run;

  if (e->code == WH_EDIGEST)
    discard(f);

  if (!run->failed) {
    run->failed = true;
    run->err = *e;
    cli_registry_abort(run->r); /* the others stop; their sessions are released later */
  }
  cli_progress_finish(run->p, f->prog, "failed");
}

static enum wh_code on_send(struct cli_req *q, struct wh_err *err)
{
  struct fetch *f = q->ctx;
  uint64_t have = f->have;

  q->range[0] = '\0';
  if (have > 0 && have < f->d->size)
    snprintf(q->range, sizeof(q->range), "bytes=%llu-", (unsigned long long)have);
  f->drop = 0;
  return WH_OK;
}

/* "bytes FIRST-LAST/TOTAL" (TOTAL may be "*") */
static bool parse_content_range(const char *v, uint64_t *first, uint64_t *last, int64_t *total)
{
  const char *dash, *slash;
  uint64_t t;

  if (strncmp(v, "bytes ", 6) != 0 || (dash = strchr(v + 6, '-')) == NULL ||
      (slash = strchr(dash, '/')) == NULL)
    return false;
  if (!wh_parse_u64(v + 6, (size_t)(dash - v - 6), first) ||
      !wh_parse_u64(dash + 1, (size_t)(slash - dash - 1), last) || *last < *first)
    return false;
  if (strcmp(slash + 1, "*") == 0)
    *total = -1;
  else if (wh_parse_u64(slash + 1, strlen(slash + 1), &t) && t <= INT64_MAX)
    *total = (int64_t)t;
  else
    return false;
  return true;
}

static enum wh_code on_headers(struct cli_req *q, struct wh_err *err)
{
  struct fetch *f = q->ctx;
  uint64_t have = f->have, size = f->d->size, first, last;
  int64_t total;

  if (q->status == 206) {
    if (!parse_content_range(q->h.content_range, &first, &last, &total) || first != have || last >= size ||
        (total >= 0 && (uint64_t)total != size))
      return wh_err_set(err, WH_EINVALID, 0, "%s %s: bad Content-Range \"%.80s\" for bytes %llu- of %llu",
                        f->kind, f->d->digest.str, q->h.content_range, (unsigned long long)have,
                        (unsigned long long)size);
    return WH_OK;
  }
  if (q->status != 200)
    return WH_OK; /* another 2xx: done() reports it */
  if (q->h.content_length >= 0 && (uint64_t)q->h.content_length != size)
    return wh_err_set(err, WH_EDIGEST, 0,
                      "%s %s: size mismatch (the registry sends %lld bytes, the manifest says %llu)", f->kind,
                      f->d->digest.str, (long long)q->h.content_length, (unsigned long long)size);
  f->drop = have; /* a full answer: what we have comes again */
  return WH_OK;
}

static enum wh_code sink(struct cli_req *q, const char *p, size_t n, struct wh_err *err)
{
  struct fetch *f = q->ctx;
  size_t skip = f->drop < n ? (size_t)f->drop : n;
  enum wh_code rc;

  f->drop -= skip;
  p += skip;
  n -= skip;
  if (n == 0)
    return WH_OK;
  if (n > f->d->size - f->have)
    return wh_err_set(err, WH_EDIGEST, 0, "%s %s: size mismatch (the registry sends more than %llu bytes)",
                      f->kind, f->d->digest.str, (unsigned long long)f->d->size);
  rc = f->sp ? cli_spool_put(f->sp, p, n, err) : store_upload_write(f->u, p, n, err);
  if (rc != WH_OK)
    return (wh_err_wrap(err, "%s %s", f->kind, f->d->digest.str), rc);
  f->have += n;
  cli_progress_set(f->run->p, f->prog, f->have);
  return WH_OK;
}

/* All bytes are in: verify, commit, link to repo. */
static enum wh_code commit(struct fetch *f, struct wh_err *err)
{
  struct fetch_run *run = f->run;
  struct store_upload *u;
  enum wh_code rc = cli_spool_close(wh_steal_ptr(&f->sp), err);

  if (rc != WH_OK)
    return (wh_err_wrap(err, "%s %s", f->kind, f->d->digest.str), rc);
  u = wh_steal_ptr(&f->u);
  rc = store_upload_finish(u, &f->d->digest, NULL, err);

  if (rc == WH_EDIGEST || rc == WH_OK)
    partial_remove(run->pdir, &f->d->digest);
  if (rc == WH_EDIGEST)
    return wh_err_set(err, WH_EDIGEST, 0, "%s %s: digest mismatch", f->kind, f->d->digest.str);
  if (rc != WH_OK)
    return (wh_err_wrap(err, "%s %s", f->kind, f->d->digest.str), rc);
  if (strcmp(f->srepo, run->repo) != 0 &&
      (rc = store_blob_mount(run->s, run->repo, &f->d->digest, NULL, err)) != WH_OK)
    return (wh_err_wrap(err, "%s %s", f->kind, f->d->digest.str), rc);
  return WH_OK;
}

/* What to do once an answer is complete; WH_OK with *again: ask for the rest. */
static enum wh_code settle(struct fetch *f, bool *again, struct wh_err *err)
{
  struct cli_req *q = &f->q;
  char what[WH_DIGEST_STR_MAX + 16];
  uint64_t have = f->have;

  *again = false;
  snprintf(what, sizeof(what), "%s %s", f->kind, f->d->digest.str);
  if (q->rc == WH_EDIGEST) /* refused by on_headers or sink: the message names the blob */
    return (*err = q->err, q->rc);
  if (q->rc != WH_OK || (q->status != 200 && q->status != 206))
    return cli_req_status_err(q, what, err);
  if (have < f->d->size && f->shorts++ < SHORT_RETRIES) {
    *again = true;
    return WH_OK;
  }
  if (have != f->d->size)
    return wh_err_set(err, WH_EDIGEST, 0, "%s: size mismatch (received %llu of %llu bytes)", what,
                      (unsigned long long)have, (unsigned long long)f->d->size);
  return commit(f, err);
}

static void done(struct cli_req *q)
{
  struct fetch *f = q->ctx;
  struct wh_err e = {0};
  bool again;

  f->active = false;
  if (settle(f, &again, &e) == WH_OK && again && cli_registry_submit(f->run->r, q, &e) == WH_OK)
    f->active = true;
  else if (e.code != WH_OK)
    fail(f, &e);
  else
    cli_progress_finish(f->run->p, f->prog, "pulled");
}

/* ---- small blobs: in memory ------------------------------------------------------------ */

static enum wh_code settle_small(struct fetch *f, struct wh_err *err)
{
  struct cli_req *q = &f->q;
  char what[WH_DIGEST_STR_MAX + 16];
  enum wh_code rc;

  snprintf(what, sizeof(what), "%s %s", f->kind, f->d->digest.str);
  if (q->rc == WH_ETOOBIG)
    return wh_err_set(err, WH_EDIGEST, 0, "%s: size mismatch (the registry sends more than %llu bytes)", what,
                      (unsigned long long)f->d->size);
  if (q->rc == WH_EDIGEST) /* refused by on_headers: the message names the blob */
    return (*err = q->err, q->rc);
  if (q->rc != WH_OK || q->status != 200)
    return cli_req_status_err(q, what, err);
  if (q->resp.len != f->d->size)
    return wh_err_set(err, WH_EDIGEST, 0, "%s: size mismatch (received %zu of %llu bytes)", what, q->resp.len,
                      (unsigned long long)f->d->size);
  rc = store_blob_put(f->run->s, f->run->repo, q->resp.data ? q->resp.data : "", q->resp.len, &f->d->digest,
                      NULL, err);
  if (rc == WH_EDIGEST)
    return wh_err_set(err, WH_EDIGEST, 0, "%s: digest mismatch", what);
  return rc == WH_OK ? rc : (wh_err_wrap(err, "%s", what), rc);
}

static void done_small(struct cli_req *q)
{
  struct fetch *f = q->ctx;
  struct wh_err e = {0};

  f->active = false;
  if (settle_small(f, &e) != WH_OK)
    fail(f, &e);
  else
    cli_progress_finish(f->run->p, f->prog, "pulled");
}

/* ---- the run ------------------------------------------------------------------------------ */

/* Links d when the store has it; true when nothing is left to fetch. */
static bool have_already(struct fetch_run *run, const struct cli_blob_want *w, struct wh_err *err,
                         enum wh_code *rc)
{
  uint64_t size;

  *rc = WH_OK;
  if (store_blob_stat(run->s, NULL, &w->d->digest, &size, NULL) != WH_OK)
    return false;
  partial_remove(run->pdir, &w->d->digest); /* a run killed after committing may have left one */
  if (size != w->d->size)
    *rc = wh_err_set(err, WH_EDIGEST, 0, "%s %s: size mismatch (%llu bytes, the manifest says %llu)", w->kind,
                     w->d->digest.str, (unsigned long long)size, (unsigned long long)w->d->size);
  else
    *rc = store_blob_mount(run->s, run->repo, &w->d->digest, NULL, err);
  return true;
}

static bool seen_before(const struct cli_blob_want *w, size_t i)
{
  for (size_t j = 0; j < i; j++)
    if (wh_digest_eq(&w[j].d->digest, &w[i].d->digest))
      return true;
  return false;
}

static enum wh_code start_small(struct fetch_run *run, struct fetch *f, struct wh_err *err)
{
  enum wh_code rc;

  f->q.on_headers = on_headers; /* a Content-Length other than the size is refused up front */
  f->q.max_body = (size_t)f->d->size;
  f->q.done = done_small;
  if ((rc = cli_registry_submit(run->r, &f->q, err)) != WH_OK)
    return rc;
  f->prog = cli_progress_add(run->p, f->d->digest.str, f->d->size);
  f->active = true;
  return WH_OK;
}

/* Sets up and submits f for w; false when nothing needs fetching. */
static enum wh_code start_one(struct fetch_run *run, struct fetch *f, const struct cli_blob_want *w,
                              struct wh_err *err)
{
  char scope[WH_NAME_MAX + 32];
  enum wh_code rc;

  f->run = run;
  f->d = w->d;
  f->kind = w->kind;
  cli_req_init(&f->q, "GET");
  f->q.ctx = f;
  if (have_already(run, w, err, &rc)) {
    if (rc == WH_OK)
      cli_progress_finish(run->p, cli_progress_add(run->p, w->d->digest.str, w->d->size), "exists");
    return rc;
  }
  cli_scope(run->path, false, scope, sizeof(scope));
  if ((rc = cli_req_set_url(&f->q, err, "/v2/%s/blobs/%s", run->path, w->d->digest.str)) != WH_OK ||
      (rc = cli_req_set_scope(&f->q, scope, err)) != WH_OK)
    return rc;
  if (w->d->size <= MEM_MAX)
    return start_small(run, f, err);
  if ((rc = session_open(f, err)) != WH_OK)
    return (wh_err_wrap(err, "%s %s", w->kind, w->d->digest.str), rc);
  f->have = store_upload_size(f->u);
  if (f->have == w->d->size) { /* all there (an earlier run died before committing) */
    struct wh_err e2 = {0};
    if (commit(f, &e2) == WH_OK) {
      cli_progress_finish(run->p, cli_progress_add(run->p, w->d->digest.str, w->d->size), "pulled");
      return WH_OK;
    }
    if (e2.code != WH_EDIGEST)
      return (*err = e2, e2.code);
    if ((rc = session_open(f, err)) != WH_OK) /* the bytes were wrong: start afresh */
      return (wh_err_wrap(err, "%s %s", w->kind, w->d->digest.str), rc);
    f->have = store_upload_size(f->u);
  }
  if (w->d->size - f->have >= SPOOL_MIN && (rc = cli_spool_new(f->u, &f->sp, err)) != WH_OK)
    return rc;
  f->q.on_send = on_send;
  f->q.on_headers = on_headers;
  f->q.sink = sink;
  f->q.done = done;
  if ((rc = cli_registry_submit(run->r, &f->q, err)) != WH_OK)
    return rc;
  f->prog = cli_progress_add(run->p, w->d->digest.str, w->d->size);
  cli_progress_set(run->p, f->prog, f->have);
  f->active = true;
  return WH_OK;
}

static void tick(void *ctx)
{
  cli_progress_tick(ctx);
}

enum wh_code cli_fetch_blobs(struct cli_registry *r, struct store *s, const char *root, const char *path,
                             const char *repo, const struct cli_blob_want *w, size_t n,
                             struct cli_progress *p, struct wh_err *err)
{
  struct fetch_run run = {.r = r, .s = s, .path = path, .repo = repo, .p = p};
  WH_AUTOFREE struct fetch *fs = calloc(n ? n : 1, sizeof(*fs));
  enum wh_code rc = WH_OK;

  if (fs == NULL)
    return wh_err_set(err, WH_ENOMEM, 0, "out of memory");
  run.pdir = -1;
  for (size_t i = 0; i < n && run.pdir < 0; i++) /* only sessions are recorded */
    if (w[i].d->size > MEM_MAX)
      run.pdir = partial_dir_open(root);
  cli_registry_on_tick(r, tick, p);
  for (size_t i = 0; i < n && rc == WH_OK; i++)
    if (!seen_before(w, i))
      rc = start_one(&run, &fs[i], &w[i], err);
  if (rc == WH_OK)
    rc = cli_registry_run(r, err);
  if (rc != WH_OK)
    cli_registry_abort(r);
  else if (run.failed)
    rc = (*err = run.err, run.err.code);
  for (size_t i = 0; i < n; i++) {
    cli_spool_close(fs[i].sp, NULL); /* every queued byte written first */
    store_upload_release(fs[i].u);   /* parked: the next run resumes it */
    cli_req_release(&fs[i].q);
  }
  cli_registry_on_tick(r, NULL, NULL);
  if (run.pdir >= 0)
    close(run.pdir);
  return rc;
}
