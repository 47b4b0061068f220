/* server/tags.c - GET /v2/<name>/tags/list and GET /v2/_catalog (end-8a/b).
 *
 * Both list names in ASCII order, strictly after ?last=, at most n of them:
 * n is capped by limits.max_tag_list_n (also when absent), n=0 answers an
 * empty list, and when more names follow a Link header carries the next
 * page: </v2/<name>/tags/list?last=X&n=N>; rel="next". Names and tags come
 * from our own index and their grammars need no URL escaping.
 */
#include "config.h"

#include "server/server.h"

#include <string.h>

struct page {
  json_t *names;              /* borrowed array being filled */
  char last[WH_NAME_MAX + 1]; /* last name added */
  bool failed;                /* out of memory */
};

static int add_name(void *ctx, const char *name)
{
  struct page *p = ctx;

  if (json_array_append_new(p->names, json_string(name)) != 0) {
    p->failed = true;
    return 1;
  }
  snprintf(p->last, sizeof(p->last), "%s", name);
  return 0;
}

/* The catalog with access control: only repositories the caller may pull
 * count towards n (the whole list is walked past hidden ones). */
struct readable {
  struct srv_req *r;
  struct page *p;
  uint64_t n, taken;
  bool more;
};

static int add_readable(void *ctx, const char *name)
{
  struct readable *f = ctx;

  if (!srv_auth_can_pull(f->r, name))
    return 0;
  if (f->taken == f->n) {
    f->more = true;
    return 1;
  }
  f->taken++;
  return add_name(f->p, name);
}

/* ?n=: digits only; clamped to the configured maximum. */
static bool page_size(struct srv_req *r, uint64_t *n_out)
{
  const char *s = srv_query(r, "n");
  uint64_t max = r->srv->cfg->max_tag_list_n, n = max;

  if (s && !srv_parse_count(s, &n)) {
    srv_reply_error(r, 400, "PAGINATION_NUMBER_INVALID", "invalid number of results requested", NULL);
    return false;
  }
  *n_out = n > max ? max : n;
  return true;
}

/* The listing itself; `name` NULL lists repositories. */
static enum wh_code list(struct srv_req *r, const char *name, uint64_t n, struct page *p, bool *more,
                         struct wh_err *err)
{
  const char *last = srv_query(r, "last");

  if (last && !*last)
    last = NULL;
  if (n == 0) { /* the store reads 0 as "no limit" */
    if (name && !store_repo_exists(r->srv->store, name))
      return wh_err_set(err, WH_ENOTFOUND, 0, "repository \"%s\" not known", name);
    return WH_OK;
  }
  if (name)
    return store_tag_list(r->srv->store, name, last, (size_t)n, add_name, p, more, err);
  if (r->srv->auth) {
    struct readable f = {r, p, n, 0, false};
    enum wh_code rc = store_repo_list(r->srv->store, last, 0, add_readable, &f, NULL, err);
    *more = f.more;
    return rc;
  }
  return store_repo_list(r->srv->store, last, (size_t)n, add_name, p, more, err);
}

static void reply_page(struct srv_req *r, const char *name)
{
  json_auto_t *body = NULL;
  json_t *names = json_array();
  struct page p = {names, "", false};
  struct wh_err err;
  uint64_t n;
  bool more = false;

  wh_err_clear(&err);
  body =
      name ? json_pack("{s:s,s:o}", "name", name, "tags", names) : json_pack("{s:o}", "repositories", names);
  if (!body) {
    srv_reply_error(r, 500, "UNKNOWN", "out of memory", NULL);
    return;
  }
  if (!page_size(r, &n))
    return;
  if (list(r, name, n, &p, &more, &err) != WH_OK) {
    srv_reply_werr(r, SRV_CTX_REPO, &err);
    return;
  }
  if (p.failed) {
    srv_reply_error(r, 500, "UNKNOWN", "out of memory", NULL);
    return;
  }
  srv_reply_json(r, 200, "application/json", body);
  if (more && p.last[0])
    srv_headerf(r, "Link", "</v2/%s%s?last=%s&n=%llu>; rel=\"next\"", name ? name : "_catalog",
                name ? "/tags/list" : "", p.last, (unsigned long long)n);
}

void srv_tags_get(struct srv_req *r)
{
  reply_page(r, r->path.name);
}

void srv_catalog_get(struct srv_req *r)
{
  reply_page(r, NULL);
}
