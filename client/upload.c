/* client/upload.c - blobs from the local store to a registry, in parallel.
 *
 * One struct upl per blob, all on one registry driver; done() moves it on:
 *
 *        +--> HEAD --200--> (exists)
 *        |     | 404
 *        |     +--(another local repo of this registry has it)--> MOUNT --201--> (mounted)
 *        |     |                                                    | 202: a session anyway
 *        |     +--(at most ONE_POST_MAX bytes)--> POST_ONE (?digest=, with the bytes) --201--> (pushed)
 *        |     |                                    | 202: no single POST here; a session anyway
 *        |     v                                    v (another answer: START)
 *        |   START (POST) --202--> size <= MONO_MAX ? PUT_MONO --201--> (pushed)
 *        |                                  : PATCH (chunk) --202--> ... --> PUT_FINAL --201--> (pushed)
 *        |                                      | network error / 416        ^
 *        |                                      v                            |
 *        |                                   STATUS (GET Location, Range) ---+ (more PATCHes)
 *        +---- any other failure, at most MAX_RESTARTS times (the session may be gone;
 *              a restarted blob never tries POST_ONE again)
 *
 * Across runs: a chunked upload's session (Location, bytes the registry
 * acknowledged, chunk size) is recorded in ROOT/client/pushing/NAME, NAME
 * the sha256 of "REPO\nDIGEST". A later push of the same blob to the same
 * repository that finds the record starts with STATUS (GET Location) and
 * PATCHes on from the registry's Range; a session the registry no longer
 * knows (404, or any failure of that GET) is forgotten and a fresh upload
 * starts. The record is written when the session is opened and after each
 * acknowledged chunk (temp file, fsync, rename: a crash leaves the old
 * record or the new one), and removed once the blob is there.
 *
 * Invariants: bytes are read from the blob file (pread, never past its
 * size, which must equal the descriptor's); chunks are at least the
 * registry's OCI-Chunk-Min-Length (the last excepted); PATCH and PUT with
 * a body are never retried blindly by the driver (a half-received body
 * would shift everything after it), recovery goes through STATUS or HEAD;
 * a record is only trusted when it names the same repository and digest
 * and an offset within the blob.
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

#define MONO_MAX (32ull * 1024 * 1024)
#define ONE_POST_MAX (1024 * 1024) /* smaller blobs: POST ?digest= with the bytes, one request */
#define CHUNK_DEFAULT (32ull * 1024 * 1024)
#define CHUNK_MAX (1024ull * 1024 * 1024)
#define MAX_RESTARTS 2
#define MAX_RESUMES 5
#define MOUNT_REPOS_MAX 256
#define OCTET "application/octet-stream"
#define PUSHING_DIR "client/pushing"
#define RECORD_MAX (2 * CLI_HDR_VALUE_MAX)
#define RECORD_MAGIC "wharf-push 1"
#define CHUNK_KNOB_MIN (64u * 1024)

enum ustate { U_HEAD, U_MOUNT, U_START, U_PUT_MONO, U_PATCH, U_STATUS, U_PUT_FINAL, U_POST_ONE };

struct upl_run;

struct upl {
  struct upl_run *run;
  const struct wh_descriptor *d; /* borrowed */
  const char *kind;
  struct cli_req q;
  enum ustate st;
  int fd;           /* owned: the blob's file */
  char *loc;        /* owned: the session's Location */
  const char *from; /* remote path of a mount source, or NULL (borrowed from run) */
  uint64_t off;     /* bytes the registry has */
  uint64_t chunk;
  uint64_t sending; /* bytes in the PATCH in flight */
  int restarts, resumes;
  size_t prog;
  bool from_record; /* u->loc comes from a record of an earlier run, not checked yet */
};

struct upl_run {
  struct cli_registry *r;
  struct store *s;
  const char *repo, *path;
  struct cli_progress *p;
  char **others; /* owned: local repos of the same registry (mount sources) */
  size_t n_others;
  size_t domain_len;
  int rdir; /* ROOT/client/pushing, -1 when unusable */
  uint64_t chunk_pref, mono_max;
  bool failed;
  struct wh_err err;
};

static enum wh_code send_state(struct upl *u, struct wh_err *err);

static void fail(struct upl *u, const struct wh_err *e)
{
  struct upl_run *run = u->run;

  if (!run->failed) {
    run->failed = true;
    run->err = *e;
    cli_registry_abort(run->r);
  }
  cli_progress_finish(run->p, u->prog, "failed");
}

static void finish(struct upl *u, const char *how)
{
  cli_progress_finish(u->run->p, u->prog, how);
}

/* ---- session records (across runs) ----------------------------------------------------- */

static void record_name(const struct upl *u, char out[WH_DIGEST_STR_MAX])
{
  struct wh_buf k;
  struct wh_digest d;

  wh_buf_init(&k, WH_NAME_MAX + WH_DIGEST_STR_MAX + 400);
  wh_buf_printf(&k, "%s\n%s", u->run->repo, u->d->digest.str);
  wh_digest_buf(WH_DIGEST_SHA256, k.data ? k.data : "", k.len, &d);
  snprintf(out, WH_DIGEST_STR_MAX, "%s", wh_digest_hex(&d));
  wh_buf_release(&k);
}

/* Best effort: without a record only the resume across runs is lost. */
static void record_save(struct upl *u)
{
  struct upl_run *run = u->run;
  char name[WH_DIGEST_STR_MAX], tmp[WH_DIGEST_STR_MAX + 16];
  struct wh_buf t;
  WH_AUTOCLOSE int fd = -1;

  if (run->rdir < 0 || u->loc == NULL)
    return;
  record_name(u, name);
  snprintf(tmp, sizeof(tmp), ".%.20s.%d", name, (int)getpid());
  wh_buf_init(&t, RECORD_MAX);
  if (wh_buf_printf(&t, RECORD_MAGIC "\n%s\n%s\n%s\n%llu\n%llu\n", run->repo, u->d->digest.str, u->loc,
                    (unsigned long long)u->off, (unsigned long long)u->chunk) == WH_OK &&
      (fd = openat(run->rdir, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600)) >= 0) {
    if (wh_write_all(fd, t.data, t.len, NULL) != WH_OK || wh_fsync_fd(fd, NULL) != WH_OK ||
        renameat(run->rdir, tmp, run->rdir, name) != 0)
      unlinkat(run->rdir, tmp, 0);
  }
  wh_buf_release(&t);
}

static void record_remove(struct upl *u)
{
  char name[WH_DIGEST_STR_MAX];

  if (u->run->rdir < 0)
    return;
  record_name(u, name);
  unlinkat(u->run->rdir, name, 0);
}

/* The next line of *p (cut at '\n'), or NULL. */
static char *next_line(char **p)
{
  char *l = *p, *nl = l ? strchr(l, '\n') : NULL;

  if (nl == NULL)
    return NULL;
  *nl = '\0';
  *p = nl + 1;
  return l;
}

/* Loads u's record into u->loc/off/chunk; false when there is no usable one. */
static bool record_load(struct upl *u)
{
  char name[WH_DIGEST_STR_MAX];
  struct wh_buf b;
  char *p, *magic, *repo, *dg, *loc, *off, *chunk;
  uint64_t o, c;
  bool ok = false;

  if (u->run->rdir < 0)
    return false;
  record_name(u, name);
  wh_buf_init(&b, RECORD_MAX);
  if (wh_read_file_at(u->run->rdir, name, &b, NULL) == WH_OK && (p = b.data) != NULL) {
    magic = next_line(&p), repo = next_line(&p), dg = next_line(&p);
    loc = next_line(&p), off = next_line(&p), chunk = next_line(&p);
    ok = chunk && strcmp(magic, RECORD_MAGIC) == 0 && strcmp(repo, u->run->repo) == 0 &&
         strcmp(dg, u->d->digest.str) == 0 && loc[0] && wh_parse_u64(off, strlen(off), &o) &&
         o <= u->d->size && wh_parse_u64(chunk, strlen(chunk), &c) && c > 0 && c <= CHUNK_MAX;
    for (const char *q = loc; ok && *q; q++)
      ok = (unsigned char)*q > ' ' && *q != 0x7f;
    if (ok && (u->loc = strdup(loc)) != NULL) {
      u->off = o;
      u->chunk = c;
    }
    ok = ok && u->loc != NULL;
  }
  wh_buf_release(&b);
  if (!ok)
    unlinkat(u->run->rdir, name, 0);
  return ok;
}

static int records_dir_open(const char *root)
{
  WH_AUTOCLOSE int rfd = root ? open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;

  if (rfd < 0 || wh_mkdir_p_at(rfd, PUSHING_DIR, 0700, NULL) != WH_OK)
    return -1;
  return openat(rfd, PUSHING_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
}

/* $WHARF_PUSH_CHUNK: the chunk size (and the size from which a blob is
 * chunked), for slow links and tests; 0 when unset or out of range. */
static uint64_t chunk_knob(void)
{
  const char *v = getenv("WHARF_PUSH_CHUNK");
  uint64_t n;

  if (v && wh_parse_u64(v, strlen(v), &n) && n >= CHUNK_KNOB_MIN && n <= CHUNK_MAX)
    return n;
  return 0;
}

/* ---- requests per state --------------------------------------------------------------- */

static enum wh_code set_loc(struct upl *u, struct wh_err *err)
{
  const char *l = u->q.h.location;

  if (l == NULL || l[0] == '\0')
    return wh_err_set(err, WH_EINVALID, 0, "%s %s: upload answer without Location", u->kind,
                      u->d->digest.str);
  for (const char *c = l; *c; c++)
    if ((unsigned char)*c <= ' ' || *c == 0x7f)
      return wh_err_set(err, WH_EINVALID, 0, "%s %s: bad upload Location", u->kind, u->d->digest.str);
  free(u->loc);
  if ((u->loc = strdup(l)) == NULL)
    return wh_err_set(err, WH_ENOMEM, 0, "out of memory");
  return WH_OK;
}

static enum wh_code prepare(struct upl *u, const char *method, struct wh_err *err)
{
  struct upl_run *run = u->run;
  char scope[2 * WH_NAME_MAX + 64];
  void (*done)(struct cli_req *) = u->q.done;
  int n;

  cli_req_release(&u->q);
  cli_req_init(&u->q, method);
  u->q.ctx = u;
  u->q.done = done;
  n = snprintf(scope, sizeof(scope), "repository:%s:pull,push%s%s%s", run->path,
               u->from ? " repository:" : "", u->from ? u->from : "", u->from ? ":pull" : "");
  if (n < 0 || (size_t)n >= sizeof(scope))
    return wh_err_set(err, WH_EINTERNAL, 0, "scope too long");
  return cli_req_set_scope(&u->q, scope, err);
}

static enum wh_code at_loc(struct upl *u, bool with_digest, struct wh_err *err)
{
  if (!with_digest)
    return cli_req_set_url(&u->q, err, "%s", u->loc);
  return cli_req_set_url(&u->q, err, "%s%sdigest=%s", u->loc, strchr(u->loc, '?') ? "&" : "?",
                         u->d->digest.str);
}

static enum wh_code send_state(struct upl *u, struct wh_err *err)
{
  static const char *const methods[] = {"HEAD", "POST", "POST", "PUT", "PATCH", "GET", "PUT", "POST"};
  struct upl_run *run = u->run;
  struct cli_req *q = &u->q;
  enum wh_code rc = prepare(u, methods[u->st], err);

  if (rc != WH_OK)
    return rc;
  switch (u->st) {
  case U_HEAD:
    rc = cli_req_set_url(q, err, "/v2/%s/blobs/%s", run->path, u->d->digest.str);
    break;
  case U_MOUNT:
    rc = cli_req_set_url(q, err, "/v2/%s/blobs/uploads/?mount=%s&from=%s", run->path, u->d->digest.str,
                         u->from);
    break;
  case U_START:
    rc = cli_req_set_url(q, err, "/v2/%s/blobs/uploads/", run->path);
    break;
  case U_POST_ONE:
    q->content_type = OCTET;
    q->body_fd = u->fd;
    q->body_size = u->d->size;
    q->max_attempts = 1;
    rc = cli_req_set_url(q, err, "/v2/%s/blobs/uploads/?digest=%s", run->path, u->d->digest.str);
    break;
  case U_PUT_MONO:
    q->content_type = OCTET;
    q->body_fd = u->fd;
    q->body_size = u->d->size;
    q->max_attempts = 1;
    rc = at_loc(u, true, err);
    break;
  case U_PATCH:
    u->sending = u->d->size - u->off < u->chunk ? u->d->size - u->off : u->chunk;
    q->content_type = OCTET;
    q->body_fd = u->fd;
    q->body_off = u->off;
    q->body_size = u->sending;
    q->max_attempts = 1;
    snprintf(q->content_range, sizeof(q->content_range), "%llu-%llu", (unsigned long long)u->off,
             (unsigned long long)(u->off + u->sending - 1));
    rc = at_loc(u, false, err);
    break;
  case U_STATUS:
    rc = at_loc(u, false, err);
    break;
  case U_PUT_FINAL:
    rc = at_loc(u, true, err);
    break;
  }
  return rc == WH_OK ? cli_registry_submit(run->r, q, err) : rc;
}

/* ---- answers ------------------------------------------------------------------------------ */

/* "0-N" (also "bytes=0-N"): the registry has N+1 bytes. */
static bool parse_range(const char *v, uint64_t *have)
{
  const char *dash;
  uint64_t first, last;

  if (strncmp(v, "bytes=", 6) == 0)
    v += 6;
  if ((dash = strchr(v, '-')) == NULL || !wh_parse_u64(v, (size_t)(dash - v), &first) || first != 0 ||
      !wh_parse_u64(dash + 1, strlen(dash + 1), &last) || last == UINT64_MAX)
    return false;
  *have = last + 1;
  return true;
}

/* A session is open at u->loc: choose how to send the bytes. */
static void begin_bytes(struct upl *u)
{
  uint64_t min = u->q.h.chunk_min, pref = u->run->chunk_pref;

  u->off = 0;
  u->chunk = min > pref ? (min > CHUNK_MAX ? CHUNK_MAX : min) : pref;
  if (min > CHUNK_MAX && u->d->size > CHUNK_MAX)
    u->st = U_PUT_MONO; /* cannot honour it with bounded chunks: one PUT */
  else
    u->st = u->d->size <= u->run->mono_max || u->d->size <= u->chunk ? U_PUT_MONO : U_PATCH;
  if (u->st == U_PATCH)
    record_save(u);
}

static enum wh_code after_patch(struct upl *u, struct wh_err *err)
{
  const struct cli_req *q = &u->q;
  uint64_t have;
  enum wh_code rc;

  if (q->rc != WH_OK || q->status == 416) {
    if (u->resumes++ >= MAX_RESUMES)
      return cli_req_status_err(q, "upload chunk", err);
    u->st = U_STATUS;
    return WH_OK;
  }
  if (q->status != 202)
    return cli_req_status_err(q, "upload chunk", err);
  if (q->h.location && (rc = set_loc(u, err)) != WH_OK)
    return rc;
  have = u->off + u->sending;
  if (q->h.range[0] && (!parse_range(q->h.range, &have) || have > u->d->size))
    return wh_err_set(err, WH_EINVALID, 0, "upload chunk: bad Range \"%.60s\"", q->h.range);
  u->off = have;
  cli_progress_set(u->run->p, u->prog, u->off);
  u->st = u->off == u->d->size ? U_PUT_FINAL : U_PATCH;
  record_save(u);
  return WH_OK;
}

static enum wh_code after_status(struct upl *u, struct wh_err *err)
{
  const struct cli_req *q = &u->q;
  uint64_t have = 0;
  enum wh_code rc;
  bool recorded = u->from_record;

  u->from_record = false;
  if (recorded && (q->rc != WH_OK || (q->status != 204 && q->status != 202 && q->status != 200))) {
    record_remove(u); /* the session is gone (404) or unusable: a fresh upload */
    u->st = U_START;
    return WH_OK;
  }
  if (q->rc != WH_OK || (q->status != 204 && q->status != 202 && q->status != 200))
    return cli_req_status_err(q, "upload status", err);
  if (q->h.location && (rc = set_loc(u, err)) != WH_OK)
    return rc;
  if (q->h.range[0] && (!parse_range(q->h.range, &have) || have > u->d->size))
    return wh_err_set(err, WH_EINVALID, 0, "upload status: bad Range \"%.60s\"", q->h.range);
  if (q->h.chunk_min > u->chunk)
    u->chunk = q->h.chunk_min > CHUNK_MAX ? CHUNK_MAX : q->h.chunk_min;
  u->off = have;
  cli_progress_set(u->run->p, u->prog, u->off);
  u->st = u->off == u->d->size ? U_PUT_FINAL : U_PATCH;
  return WH_OK;
}

/* The next state after an answer; *over: the blob is done (how: status word). */
static enum wh_code advance(struct upl *u, const char **over, struct wh_err *err)
{
  const struct cli_req *q = &u->q;
  bool ok = q->rc == WH_OK;

  *over = NULL;
  switch (u->st) {
  case U_HEAD:
    if (ok && q->status == 200)
      return *over = "exists", WH_OK;
    if (!ok || q->status != 404)
      return cli_req_status_err(q, "blob check", err);
    if (u->restarts == 0 && record_load(u)) {
      u->from_record = true; /* an earlier run's session: ask how far it got */
      u->st = U_STATUS;
      return WH_OK;
    }
    u->st = u->from ? U_MOUNT : u->d->size <= ONE_POST_MAX && u->restarts == 0 ? U_POST_ONE : U_START;
    return WH_OK;
  case U_POST_ONE:
    if (ok && q->status == 201)
      return *over = "pushed", WH_OK;
    if (ok && q->status == 202 && set_loc(u, err) == WH_OK) /* no single POST here: a session */
      return begin_bytes(u), WH_OK;
    u->st = U_START;
    return WH_OK;
  case U_MOUNT:
    if (ok && q->status == 201)
      return *over = "mounted", WH_OK;
    u->from = NULL; /* a mount that did not happen is not tried again */
    if (ok && q->status == 202 && set_loc(u, err) == WH_OK)
      return begin_bytes(u), WH_OK;
    u->st = U_START;
    return WH_OK;
  case U_START:
    if (!ok || q->status != 202)
      return cli_req_status_err(q, "upload start", err);
    if (set_loc(u, err) != WH_OK)
      return err->code;
    return begin_bytes(u), WH_OK;
  case U_PATCH:
    return after_patch(u, err);
  case U_STATUS:
    return after_status(u, err);
  case U_PUT_MONO:
  case U_PUT_FINAL:
    if (ok && (q->status == 201 || q->status == 204))
      return *over = "pushed", WH_OK;
    return cli_req_status_err(q, "upload", err);
  }
  return wh_err_set(err, WH_EINTERNAL, 0, "bad upload state");
}

static void done(struct cli_req *q)
{
  struct upl *u = q->ctx;
  const char *over = NULL;
  struct wh_err e = {0};
  enum wh_code rc = advance(u, &over, &e);

  if (rc != WH_OK && e.code != WH_EUNAUTHORIZED && e.code != WH_EDENIED && u->restarts < MAX_RESTARTS) {
    u->restarts++; /* start over: does the registry have it now? */
    u->st = U_HEAD;
    rc = WH_OK;
  }
  if (rc == WH_OK && over) {
    record_remove(u);
    finish(u, over);
    return;
  }
  if (rc == WH_OK)
    rc = send_state(u, &e);
  if (rc != WH_OK) {
    wh_err_wrap(&e, "%s %s", u->kind, u->d->digest.str);
    fail(u, &e);
  }
}

/* ---- the run --------------------------------------------------------------------------------- */

static int collect_repo(void *ctx, const char *name)
{
  struct upl_run *run = ctx;
  char **n;

  if (run->n_others >= MOUNT_REPOS_MAX)
    return 1;
  if (strncmp(name, run->repo, run->domain_len + 1) != 0 || strcmp(name, run->repo) == 0)
    return 0;
  if ((n = realloc(run->others, (run->n_others + 1) * sizeof(*n))) == NULL)
    return 1;
  run->others = n;
  if ((n[run->n_others] = strdup(name)) != NULL)
    run->n_others++;
  return 0;
}

/* A remote path of another repository of this registry that has d locally. */
static const char *mount_source(struct upl_run *run, const struct wh_digest *d)
{
  for (size_t i = 0; i < run->n_others; i++)
    if (store_blob_stat(run->s, run->others[i], d, NULL, NULL) == WH_OK)
      return run->others[i] + run->domain_len + 1;
  return NULL;
}

static enum wh_code start_one(struct upl_run *run, struct upl *u, const struct cli_blob_want *w,
                              struct wh_err *err)
{
  uint64_t size;
  enum wh_code rc;

  u->run = run;
  u->d = w->d;
  u->kind = w->kind;
  u->fd = -1;
  cli_req_init(&u->q, "HEAD");
  u->q.done = done;
  rc = store_blob_open(run->s, run->repo, &w->d->digest, &u->fd, &size, err);
  if (rc == WH_ENOTFOUND && wh_media_type_is_nondistributable(w->d->media_type))
    return WH_OK; /* foreign layers stay where they are */
  if (rc != WH_OK)
    return (wh_err_wrap(err, "%s %s", w->kind, w->d->digest.str), rc);
  if (size != w->d->size)
    return wh_err_set(err, WH_EDIGEST, 0, "%s %s: local blob has %llu bytes, the manifest says %llu", w->kind,
                      w->d->digest.str, (unsigned long long)size, (unsigned long long)w->d->size);
  u->from = mount_source(run, &w->d->digest);
  u->prog = cli_progress_add(run->p, w->d->digest.str, w->d->size);
  u->st = U_HEAD;
  return send_state(u, err);
}

static bool seen_before(const struct cli_blob_want *w, size_t i)
{
  for (size_t j = 0; j < i; j++)
    if (wh_digest_eq(&w[j].d->digest, &w[i].d->digest))
      return true;
  return false;
}

static void tick(void *ctx)
{
  cli_progress_tick(ctx);
}

enum wh_code cli_push_blobs(struct cli_registry *r, struct store *s, const char *root, const char *repo,
                            const char *path, const struct cli_blob_want *w, size_t n, struct cli_progress *p,
                            struct wh_err *err)
{
  uint64_t knob = chunk_knob();
  struct upl_run run = {.r = r,
                        .s = s,
                        .repo = repo,
                        .path = path,
                        .p = p,
                        .rdir = records_dir_open(root),
                        .chunk_pref = knob ? knob : CHUNK_DEFAULT,
                        .mono_max = knob ? knob : MONO_MAX};
  WH_AUTOFREE struct upl *us = calloc(n ? n : 1, sizeof(*us));
  const char *rpath;
  enum wh_code rc = WH_OK;

  if (us == NULL)
    return wh_err_set(err, WH_ENOMEM, 0, "out of memory");
  if (cli_repo_split(repo, &run.domain_len, &rpath))
    store_repo_list(s, NULL, 0, collect_repo, &run, NULL, NULL);
  cli_registry_on_tick(r, tick, p);
  for (size_t i = 0; i < n; i++)
    us[i].fd = -1;
  for (size_t i = 0; i < n && rc == WH_OK; i++)
    if (!seen_before(w, i))
      rc = start_one(&run, &us[i], &w[i], err);
  if (rc == WH_OK)
    rc = cli_registry_run(r, err);
  if (rc != WH_OK)
    cli_registry_abort(r);
  else if (run.failed)
    rc = (*err = run.err, run.err.code);
  for (size_t i = 0; i < n; i++) {
    cli_req_release(&us[i].q);
    free(us[i].loc);
    if (us[i].fd >= 0)
      close(us[i].fd);
  }
  for (size_t i = 0; i < run.n_others; i++)
    free(run.others[i]);
  free(run.others);
  if (run.rdir >= 0)
    close(run.rdir);
  cli_registry_on_tick(r, NULL, NULL);
  return rc;
}
