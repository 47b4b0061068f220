/* client/cmd_rollback.c - `wharf rollback [--remote] [--to DIGEST | --steps N]
 * REF` and `wharf tag-history [--remote] [--format table|json] REF` (also
 * `wharf history --tags REF`): a tag's moves and moving it back. A
 * REF that names a local container is that container's rollback instead
 * (cli_container_rollback, cmd_update.c).
 *
 *   where             rollback                           history
 *   local store       store_tag_rollback (one txn)       store_tag_history
 *   wharfd            POST /v2/P/_wharf/rollback/TAG     GET /v2/P/_wharf/history/TAG,
 *                                                        page after page (Link)
 *   other registry    the client's push records (storage/pushes.c): the target
 *                     is GET by digest (verified), PUT by tag, and recorded
 *
 * wharfd is told apart by its entry in GET /v2/_oci/ext/discover (the OCI
 * extensions draft); any other answer means "no _wharf extension".
 *
 * Invariants: a remote rollback re-PUTs bytes read back from the registry
 * and verified against the target digest, never local bytes; it refuses
 * when the target is gone from the registry; steps count past targets as
 * the history lists them (repeats in a row and deletions skipped), the
 * same rule on every side.
 */
#include "config.h"

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client/container.h"
#include "client/remote.h"
#include "client/run.h"
#include "common/cleanup.h"
#include "common/fsutil.h"

#define RB_STEPS_MAX 100000u
#define RB_RECORDS_MAX 100000u /* push records read for one tag */
#define RB_PAGES_MAX 1000      /* history pages followed */
#define RB_BODY_MAX (1024 * 1024)

struct rb_args {
  bool remote, json;
  const char *to; /* --to DIGEST */
  unsigned steps; /* --steps N (default 1) */
};

/* ---- shared --------------------------------------------------------------- */

static void rfc3339_ms(int64_t ms, char *out, size_t size)
{
  time_t t = (time_t)(ms / 1000);
  struct tm tm;

  if (gmtime_r(&t, &tm) == NULL)
    tm = (struct tm){.tm_year = 70, .tm_mday = 1};
  snprintf(out, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
           tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
}

static json_t *move_json(int64_t id, int64_t ms, const char *old, const char *new_d, const char *who)
{
  char when[96];

  rfc3339_ms(ms, when, sizeof(when));
  return json_pack("{s:I,s:s,s:s?,s:s?,s:s?}", "id", (json_int_t)id, "time", when, "old", old, "new", new_d,
                   "who", who);
}

/* Does the registry serve the _wharf extension (wharfd)? */
static enum wh_code has_wharf_ext(struct cli_registry *r, bool *out, struct wh_err *err)
{
  struct cli_req q;
  json_auto_t *j = NULL;
  const json_t *e;
  size_t i;
  enum wh_code rc;

  *out = false;
  cli_req_init(&q, "GET");
  q.max_body = 64 * 1024;
  if ((rc = cli_req_set_url(&q, err, "/v2/_oci/ext/discover")) == WH_OK)
    rc = cli_registry_do(r, &q, err);
  if (rc == WH_OK && q.status == 200)
    j = json_loadb(q.resp.data ? q.resp.data : "", q.resp.len, 0, NULL);
  json_array_foreach(json_object_get(j, "extensions"), i, e)
  {
    const char *name = json_string_value(json_object_get(e, "name"));
    if (name && strcmp(name, "_wharf") == 0)
      *out = true;
  }
  cli_req_release(&q);
  return rc;
}

static enum wh_code open_remote(const struct cli_opts *o, const struct cli_ref *ref, struct cli_registry **r,
                                bool *wharfd, struct wh_err *err)
{
  enum wh_code rc = cli_registry_open(o, ref->domain, r, err);

  if (rc == WH_OK)
    rc = cli_registry_ping(*r, err);
  if (rc == WH_OK)
    rc = has_wharf_ext(*r, wharfd, err);
  return rc;
}

/* ---- history ----------------------------------------------------------------- */

struct moves {
  json_t *a; /* borrowed array being filled */
  bool nomem;
};

static int local_move(void *ctx, const struct store_tag_move *m)
{
  struct moves *mv = ctx;
  json_t *o = move_json(m->id, m->time_ms, m->has_old ? m->old_digest.str : NULL,
                        m->has_new ? m->new_digest.str : NULL, m->who);

  if (o == NULL || json_array_append_new(mv->a, o) != 0) {
    mv->nomem = true;
    return 1;
  }
  return 0;
}

/* The push records as moves: each from the record before it. */
struct rec_list {
  struct wh_digest *d; /* owned, newest first */
  char (*mt)[256];     /* owned: media types */
  int64_t *ms, *id;    /* owned */
  size_t n, cap;
  bool nomem;
};

static void rec_list_free(struct rec_list *l)
{
  free(l->d);
  free(l->mt);
  free(l->ms);
  free(l->id);
}

static int add_rec(void *ctx, const struct store_push_rec *p)
{
  struct rec_list *l = ctx;

  if (l->n == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 16;
    void *a = realloc(l->d, cap * sizeof(*l->d)), *b = a ? realloc(l->mt, cap * sizeof(*l->mt)) : NULL;
    void *c = b ? realloc(l->ms, cap * sizeof(*l->ms)) : NULL,
         *e = c ? realloc(l->id, cap * sizeof(*l->id)) : NULL;
    if (a)
      l->d = a;
    if (b)
      l->mt = b;
    if (c)
      l->ms = c;
    if (!e) {
      l->nomem = true;
      return 1;
    }
    l->id = e;
    l->cap = cap;
  }
  l->d[l->n] = p->digest;
  snprintf(l->mt[l->n], sizeof(l->mt[l->n]), "%s", p->media_type ? p->media_type : "");
  l->ms[l->n] = p->time_ms;
  l->id[l->n] = p->id;
  l->n++;
  return 0;
}

static enum wh_code read_records(struct store *s, const struct cli_ref *ref, struct rec_list *l,
                                 struct wh_err *err)
{
  enum wh_code rc = store_push_history(s, ref->domain, ref->path, ref->tag, RB_RECORDS_MAX, add_rec, l, err);

  if (rc == WH_OK && l->nomem)
    rc = wh_err_set(err, WH_ENOMEM, 0, "out of memory");
  return rc;
}

static enum wh_code records_as_moves(struct store *s, const struct cli_ref *ref, struct moves *mv,
                                     struct wh_err *err)
{
  struct rec_list l = {0};
  enum wh_code rc = read_records(s, ref, &l, err);

  for (size_t i = 0; rc == WH_OK && i < l.n; i++) {
    json_t *o =
        move_json(l.id[i], l.ms[i], i + 1 < l.n ? l.d[i + 1].str : NULL, l.d[i].str, "wharf push (here)");
    if (o == NULL || json_array_append_new(mv->a, o) != 0)
      rc = wh_err_set(err, WH_ENOMEM, 0, "out of memory");
  }
  if (rc == WH_OK && l.n == 0)
    rc = wh_err_set(err, WH_ENOTFOUND, 0,
                    "the registry keeps no tag history (not wharfd) and this client never pushed the tag");
  rec_list_free(&l);
  return rc;
}

/* One page of GET .../_wharf/history/TAG into mv; *next gets the Link target. */
static enum wh_code history_page(struct cli_registry *r, struct cli_req *q, struct moves *mv, char **next,
                                 struct wh_err *err)
{
  json_auto_t *j = NULL;
  const json_t *e;
  size_t i;
  enum wh_code rc = cli_registry_do(r, q, err);

  if (rc == WH_OK && q->status != 200)
    rc = cli_req_status_err(q, "tag history", err);
  if (rc != WH_OK)
    return rc;
  j = json_loadb(q->resp.data ? q->resp.data : "", q->resp.len, 0, NULL);
  if (!json_is_array(json_object_get(j, "moves")))
    return wh_err_set(err, WH_EINVALID, 0, "tag history: the registry's answer has no \"moves\" array");
  json_array_foreach(json_object_get(j, "moves"), i, e)
  {
    if (!json_is_object(e) || json_array_append(mv->a, (json_t *)e) != 0)
      return wh_err_set(err, WH_EINVALID, 0, "tag history: bad move in the registry's answer");
  }
  *next = cli_link_next(q->h.link);
  return WH_OK;
}

static enum wh_code remote_history(struct cli_registry *r, const struct cli_ref *ref, struct moves *mv,
                                   struct wh_err *err)
{
  char scope[WH_NAME_MAX + 32];
  WH_AUTOFREE char *next = NULL;
  enum wh_code rc = WH_OK;

  cli_scope(ref->path, false, scope, sizeof(scope));
  for (int page = 0; rc == WH_OK && page < RB_PAGES_MAX; page++) {
    struct cli_req q;
    char *url = wh_steal_ptr(&next);
    cli_req_init(&q, "GET");
    q.max_body = RB_BODY_MAX;
    rc = url ? cli_req_set_url(&q, err, "%s", url)
             : cli_req_set_url(&q, err, "/v2/%s/_wharf/history/%s?n=1000", ref->path, ref->tag);
    free(url);
    if (rc == WH_OK && (rc = cli_req_set_scope(&q, scope, err)) == WH_OK)
      rc = history_page(r, &q, mv, &next, err);
    cli_req_release(&q);
    if (next == NULL)
      break;
  }
  return rc;
}

static void print_moves(const json_t *a, bool json, const struct cli_ref *ref)
{
  const json_t *e;
  size_t i;

  if (json) {
    json_auto_t *o = json_pack("{s:s,s:s,s:O}", "name", ref->path, "tag", ref->tag, "moves", a);
    if (o)
      json_dumpf(o, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    putchar('\n');
    return;
  }
  printf("%-24s  %-16s  %s\n", "TIME", "WHO", "FROM -> TO");
  json_array_foreach(a, i, e)
  {
    const char *old = json_string_value(json_object_get(e, "old"));
    const char *nw = json_string_value(json_object_get(e, "new"));
    const char *who = json_string_value(json_object_get(e, "who"));
    const char *when = json_string_value(json_object_get(e, "time"));
    printf("%-24s  %-16s  %s -> %s\n", when ? when : "-", who ? who : "-", old ? old : "(none)",
           nw ? nw : "(deleted)");
  }
}

static enum wh_code tag_history(const struct cli_opts *o, const struct cli_ref *ref, bool remote, bool json,
                                struct wh_err *err)
{
  json_auto_t *a = json_array();
  struct moves mv = {a, false};
  struct store *s = NULL;
  struct cli_registry *r = NULL;
  bool wharfd = false;
  enum wh_code rc = a ? WH_OK : wh_err_set(err, WH_ENOMEM, 0, "out of memory");

  if (rc == WH_OK && !remote && (rc = cli_store_open(o, &s, err)) == WH_OK) {
    rc = store_tag_history(s, ref->repo, ref->tag, 0, 0, local_move, &mv, err);
    if (rc == WH_OK && json_array_size(a) == 0)
      rc = wh_err_set(err, WH_ENOTFOUND, 0, "tag has no history in the local store");
  } else if (rc == WH_OK && remote && (rc = open_remote(o, ref, &r, &wharfd, err)) == WH_OK) {
    if (wharfd)
      rc = remote_history(r, ref, &mv, err);
    else if ((rc = cli_store_open(o, &s, err)) == WH_OK)
      rc = records_as_moves(s, ref, &mv, err);
  }
  if (rc == WH_OK && mv.nomem)
    rc = wh_err_set(err, WH_ENOMEM, 0, "out of memory");
  if (rc == WH_OK)
    print_moves(a, json, ref);
  cli_registry_free(r);
  store_free(s);
  return rc;
}

int cli_tag_history(const struct cli_opts *o, const char *ref_s, bool remote, bool json)
{
  struct cli_ref ref = {0};
  struct wh_err err = {0};
  int status = 0;

  if (cli_ref_parse(ref_s, 0, &ref, &err) != WH_OK)
    return cli_fail("tag-history", ref_s, &err);
  if (ref.has_digest || ref.tag == NULL)
    status = cli_usage("tag-history", "REF must name a tag, not a digest");
  else if (tag_history(o, &ref, remote, json, &err) != WH_OK)
    status = cli_fail("tag-history", ref_s, &err);
  cli_ref_release(&ref);
  return status;
}

static const struct option th_opts[] = {
    {"remote", no_argument, NULL, 'r'},
    {"format", required_argument, NULL, 'f'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

int cli_cmd_tag_history(const struct cli_opts *o, int argc, char **argv)
{
  bool remote = false, json = false;
  int c;

  optind = 0;
  while ((c = getopt_long(argc, argv, "+h", th_opts, NULL)) != -1) {
    if (c == 'h')
      return cli_help("tag-history");
    if (c == 'r')
      remote = true;
    else if (c == 'f' && (strcmp(optarg, "json") == 0 || strcmp(optarg, "table") == 0))
      json = strcmp(optarg, "json") == 0;
    else
      return cli_usage("tag-history", "bad option");
  }
  if (argc - optind != 1)
    return cli_usage("tag-history", "expected one image reference");
  return cli_tag_history(o, argv[optind], remote, json);
}

/* ---- rollback ------------------------------------------------------------------ */

struct rb_result {
  struct wh_digest to, prev;
};

static enum wh_code parse_answer(const struct cli_req *q, struct rb_result *res, struct wh_err *err)
{
  json_auto_t *j = json_loadb(q->resp.data ? q->resp.data : "", q->resp.len, 0, NULL);
  const char *d = json_string_value(json_object_get(j, "digest"));
  const char *p = json_string_value(json_object_get(j, "previous"));

  if (!d || !p || wh_digest_parsez(d, &res->to, NULL) != WH_OK ||
      wh_digest_parsez(p, &res->prev, NULL) != WH_OK)
    return wh_err_set(err, WH_EINVALID, 0, "rollback: the registry's answer has no digest and previous");
  return WH_OK;
}

static enum wh_code wharfd_rollback(struct cli_registry *r, const struct cli_ref *ref,
                                    const struct rb_args *a, struct rb_result *res, struct wh_err *err)
{
  json_auto_t *req =
      a->to ? json_pack("{s:s}", "digest", a->to) : json_pack("{s:I}", "steps", (json_int_t)a->steps);
  WH_AUTOFREE char *body = req ? json_dumps(req, JSON_COMPACT) : NULL;
  char scope[WH_NAME_MAX + 32];
  struct cli_req q;
  enum wh_code rc;

  if (body == NULL)
    return wh_err_set(err, WH_ENOMEM, 0, "out of memory");
  cli_scope(ref->path, true, scope, sizeof(scope));
  cli_req_init(&q, "POST");
  q.body = body;
  q.body_len = strlen(body);
  q.content_type = "application/json";
  q.max_body = 64 * 1024;
  if ((rc = cli_req_set_url(&q, err, "/v2/%s/_wharf/rollback/%s", ref->path, ref->tag)) == WH_OK &&
      (rc = cli_req_set_scope(&q, scope, err)) == WH_OK && (rc = cli_registry_do(r, &q, err)) == WH_OK)
    rc = q.status == 200 ? parse_answer(&q, res, err) : cli_req_status_err(&q, "rollback", err);
  cli_req_release(&q);
  return rc;
}

/* The target `steps` back: targets are the current digest, then the push
 * records newest first, repeats in a row skipped. */
static enum wh_code pick_target(const struct rec_list *l, const struct wh_digest *cur, unsigned steps,
                                size_t *i_out, struct wh_err *err)
{
  const struct wh_digest *last = cur;
  unsigned k = 0;

  for (size_t i = 0; i < l->n; i++) {
    if (wh_digest_eq(&l->d[i], last))
      continue;
    last = &l->d[i];
    if (++k == steps) {
      *i_out = i;
      return WH_OK;
    }
  }
  return wh_err_set(err, WH_ENOTFOUND, 0,
                    "this client's push records hold %u earlier target%s of the tag, not %u", k,
                    k == 1 ? "" : "s", steps);
}

/* Re-PUTs target (verified bytes from the registry) by tag and records it. */
static enum wh_code reput(struct cli_registry *r, struct store *s, const struct cli_ref *ref,
                          const struct wh_digest *target, const char *mt_hint, struct wh_err *err)
{
  struct cli_remote_manifest m = {0};
  struct store_push_rec rec = {
      .registry = ref->domain, .repo = ref->path, .tag = ref->tag, .digest = *target};
  enum wh_code rc = cli_remote_manifest_get(r, ref->path, target->str, target, -1, &m, err);

  if (rc == WH_ENOTFOUND)
    rc = wh_err_set(err, WH_ENOTFOUND, 0, "the previous manifest %s is gone from %s", target->str,
                    ref->domain);
  if (rc == WH_OK) {
    rec.media_type = m.parsed.media_type && m.parsed.media_type[0] ? m.parsed.media_type : mt_hint;
    rc =
        cli_remote_manifest_put(r, ref->path, ref->tag, m.body.data, m.body.len, rec.media_type, target, err);
  }
  if (rc == WH_OK)
    rc = store_push_record(s, &rec, err);
  cli_remote_manifest_release(&m);
  return rc;
}

static enum wh_code client_rollback(const struct cli_opts *o, struct cli_registry *r,
                                    const struct cli_ref *ref, const struct rb_args *a, struct rb_result *res,
                                    struct wh_err *err)
{
  struct cli_remote_manifest cur = {0};
  struct rec_list l = {0};
  struct store *s = NULL;
  size_t i = 0;
  const char *mt = "";
  enum wh_code rc = cli_store_open(o, &s, err);

  if (rc == WH_OK && (rc = cli_remote_manifest_get(r, ref->path, ref->tag, NULL, -1, &cur, err)) != WH_OK)
    wh_err_wrap(err, "tag \"%s\"", ref->tag);
  if (rc == WH_OK)
    rc = read_records(s, ref, &l, err);
  if (rc == WH_OK && a->to)
    rc = wh_digest_parsez(a->to, &res->to, err);
  else if (rc == WH_OK && (rc = pick_target(&l, &cur.digest, a->steps, &i, err)) == WH_OK) {
    res->to = l.d[i];
    mt = l.mt[i];
  }
  if (rc == WH_OK) {
    res->prev = cur.digest;
    if (!wh_digest_eq(&res->to, &cur.digest))
      rc = reput(r, s, ref, &res->to, mt, err);
  }
  rec_list_free(&l);
  cli_remote_manifest_release(&cur);
  store_free(s);
  return rc;
}

static enum wh_code rollback(const struct cli_opts *o, const struct cli_ref *ref, const struct rb_args *a,
                             struct rb_result *res, struct wh_err *err)
{
  struct store_rollback sr = {.repo = ref->repo, .tag = ref->tag, .steps = a->steps, .who = "wharf rollback"};
  struct cli_registry *r = NULL;
  struct store *s = NULL;
  bool wharfd = false;
  enum wh_code rc;

  if (!a->remote) {
    if (a->to && (rc = wh_digest_parsez(a->to, &res->to, err)) != WH_OK)
      return rc;
    sr.to = a->to ? &res->to : NULL;
    if ((rc = cli_store_open(o, &s, err)) == WH_OK)
      rc = store_tag_rollback(s, &sr, &res->to, &res->prev, err);
    store_free(s);
    return rc;
  }
  if ((rc = open_remote(o, ref, &r, &wharfd, err)) == WH_OK)
    rc = wharfd ? wharfd_rollback(r, ref, a, res, err) : client_rollback(o, r, ref, a, res, err);
  cli_registry_free(r);
  return rc;
}

static const struct option rb_opts[] = {
    {"remote", no_argument, NULL, 'r'},
    {"to", required_argument, NULL, 't'},
    {"steps", required_argument, NULL, 's'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static int rb_parse(int argc, char **argv, struct rb_args *a)
{
  uint64_t n;
  bool steps = false;
  int c;

  optind = 0;
  while ((c = getopt_long(argc, argv, "+h", rb_opts, NULL)) != -1) {
    if (c == 'h')
      return -1;
    if (c == 'r')
      a->remote = true;
    else if (c == 't')
      a->to = optarg;
    else if (c == 's' && wh_parse_u64(optarg, strlen(optarg), &n) && n >= 1 && n <= RB_STEPS_MAX)
      a->steps = (unsigned)n, steps = true;
    else
      return cli_usage("rollback", "bad option (--steps takes 1 to %u)", RB_STEPS_MAX);
  }
  if (a->to && steps)
    return cli_usage("rollback", "--to and --steps exclude each other");
  if (argc - optind != 1)
    return cli_usage("rollback", "expected one image reference");
  return 0;
}

/* A container of this store is called name: `wharf rollback NAME` is its rollback. */
static bool container_named(const struct cli_opts *o, const char *name)
{
  char id[65];

  return cli_container_name_valid(name) && cli_container_find(o->root, name, id, NULL) == WH_OK;
}

int cli_cmd_rollback(const struct cli_opts *o, int argc, char **argv)
{
  struct rb_args a = {.steps = 1};
  struct rb_result res;
  struct cli_ref ref = {0};
  struct wh_err err = {0};
  int status = rb_parse(argc, argv, &a);

  if (status < 0)
    return cli_help("rollback");
  if (status > 0)
    return status;
  if (!a.remote && container_named(o, argv[optind])) /* a host that follows a tag (cmd_update.c) */
    return cli_container_rollback(o, argv[optind], a.to);
  if (cli_ref_parse(argv[optind], 0, &ref, &err) != WH_OK)
    return cli_fail("rollback", argv[optind], &err);
  if (ref.has_digest || ref.tag == NULL)
    status = cli_usage("rollback", "REF must name a tag, not a digest");
  else if (rollback(o, &ref, &a, &res, &err) != WH_OK)
    status = cli_fail("rollback", argv[optind], &err);
  else if (o->quiet)
    printf("%s\n", res.to.str);
  else
    printf("%s:%s: %s (was %s)\n", cli_repo_familiar(ref.repo), ref.tag, res.to.str, res.prev.str);
  cli_ref_release(&ref);
  return status;
}
