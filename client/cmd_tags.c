/* client/cmd_tags.c - `wharf tags [--remote] [-n N] [--format table|json] REPOSITORY`.
 *
 * Local: the tags of the local repository, in byte order.
 * Remote: GET /v2/PATH/tags/list?n=N, then every page the Link header's
 * rel="next" target names (RFC 8288, the distribution spec's pagination),
 * until a page has none. A registry that sends exactly n tags and no Link
 * is asked again with ?last=<its last tag> (the spec's other half), until
 * a page is short, empty or does not move forward; one that sends more
 * than n ignores n, and that page is all there is.
 *
 * Invariants: a page body is capped at PAGE_MAX bytes, the run at
 * PAGES_MAX pages and TAGS_MAX tags; every tag passes the tag grammar
 * before it is kept; a next link equal to the page just read is a loop and
 * an error. Output: one tag per line, or {"name": ..., "tags": [...]}.
 */
#include "config.h"

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/remote.h"
#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/ref.h"

#define PAGE_MAX (16u * 1024 * 1024)
#define PAGES_MAX 100000
#define TAGS_MAX 1000000
#define PAGE_DEFAULT 1000

struct listing {
  json_t *tags; /* owned: array of strings */
  bool failed;
};

static int add_tag(void *ctx, const char *name)
{
  struct listing *l = ctx;

  if (json_array_size(l->tags) >= TAGS_MAX || json_array_append_new(l->tags, json_string(name)) != 0) {
    l->failed = true;
    return 1;
  }
  return 0;
}

/* ---- one page ------------------------------------------------------------------- */

struct page {
  const char *after; /* in: skip tags up to this one (a page asked with last=) */
  size_t n;          /* tags on it */
  char *last;        /* owned: its last tag, NULL when empty */
  char *next;        /* owned: the Link rel="next" target, NULL when none */
};

static void page_release(struct page *p)
{
  free(p->last);
  free(p->next);
  memset(p, 0, sizeof(*p));
}

/* Adds the page's tags (q's body) to l, those after p->after only: a
 * registry that ignores last= repeats what we have. */
static enum wh_code read_page(const struct cli_req *q, struct listing *l, struct page *p, struct wh_err *err)
{
  json_auto_t *j = json_loadb(q->resp.data ? q->resp.data : "", q->resp.len, 0, NULL);
  json_t *tags = json_object_get(j, "tags"), *t;
  size_t i;

  if (j == NULL || !json_is_object(j) || (tags != NULL && !json_is_array(tags) && !json_is_null(tags)))
    return wh_err_set(err, WH_EINVALID, 0, "tag list: the registry's answer is not a tag list");
  json_array_foreach(tags, i, t)
  {
    const char *s = json_string_value(t);
    if (s == NULL || !wh_tag_valid(s, strlen(s)))
      return wh_err_set(err, WH_EINVALID, 0, "tag list: the registry sent an invalid tag");
    if (p->after && strcmp(s, p->after) <= 0)
      continue;
    if (add_tag(l, s) != 0)
      return wh_err_set(err, WH_ETOOBIG, 0, "tag list: more than %d tags", TAGS_MAX);
  }
  p->n = json_array_size(tags);
  if (p->n > 0 && (p->last = strdup(json_string_value(json_array_get(tags, p->n - 1)))) == NULL)
    return wh_err_set(err, WH_ENOMEM, 0, "out of memory");
  p->next = cli_link_next(q->h.link);
  return WH_OK;
}

static enum wh_code get_page(struct cli_registry *r, const char *path, const char *url, struct listing *l,
                             struct page *p, struct wh_err *err)
{
  struct cli_req q;
  char scope[WH_NAME_MAX + 32];
  enum wh_code rc;

  cli_req_init(&q, "GET");
  cli_scope(path, false, scope, sizeof(scope));
  q.max_body = PAGE_MAX;
  if ((rc = cli_req_set_url(&q, err, "%s", url)) == WH_OK &&
      (rc = cli_req_set_scope(&q, scope, err)) == WH_OK)
    rc = cli_registry_do(r, &q, err);
  if (rc == WH_ETOOBIG)
    rc = wh_err_set(err, WH_ETOOBIG, 0, "tag list: a page over %u bytes", PAGE_MAX);
  else if (rc == WH_OK && q.status != 200)
    rc = cli_req_status_err(&q, "tag list", err);
  else if (rc == WH_OK)
    rc = read_page(&q, l, p, err);
  cli_req_release(&q);
  return rc;
}

/* "/v2/PATH/tags/list?n=N[&last=LAST]", malloc'd (NULL on ENOMEM). Tags
 * are URL-safe by their grammar. */
static char *page_url(const char *path, unsigned long n, const char *last)
{
  struct wh_buf b;

  wh_buf_init(&b, 2 * WH_NAME_MAX + 64);
  if (wh_buf_printf(&b, "/v2/%s/tags/list?n=%lu%s%s", path, n, last ? "&last=" : "", last ? last : "") !=
      WH_OK) {
    wh_buf_release(&b);
    return NULL;
  }
  return wh_buf_steal(&b, NULL);
}

/* The URL of the page after p (malloc'd), or NULL when p was the last;
 * *by_last: it asks with last= (no Link came). */
static char *next_url(const char *path, const char *cur, const struct page *p, unsigned long n, bool *by_last,
                      struct wh_err *err, enum wh_code *rc)
{
  char *next;

  *rc = WH_OK;
  *by_last = false;
  if (p->next) {
    if (strcmp(p->next, cur) == 0)
      *rc = wh_err_set(err, WH_EINVALID, 0, "tag list: the registry's next page is the same page (a loop)");
    if (*rc == WH_OK && (next = strdup(p->next)) == NULL)
      *rc = wh_err_set(err, WH_ENOMEM, 0, "out of memory");
    return *rc == WH_OK ? next : NULL;
  }
  /* No Link: a page of exactly n may still have a successor (ask with
   * last=); more than n means the registry ignores n (docker-registry 2.8
   * sends everything, unsorted): that was all. */
  if (p->n != n || p->last == NULL || (p->after && strcmp(p->last, p->after) <= 0))
    return NULL;
  if ((next = page_url(path, n, p->last)) == NULL)
    *rc = wh_err_set(err, WH_ENOMEM, 0, "out of memory");
  *by_last = true;
  return next;
}

static enum wh_code list_remote(const struct cli_opts *o, const struct cli_ref *ref, unsigned long n,
                                struct listing *l, struct wh_err *err)
{
  struct cli_registry *r = NULL;
  WH_AUTOFREE char *url = page_url(ref->path, n, NULL);
  WH_AUTOFREE char *prev_last = NULL;
  bool by_last = false;
  enum wh_code rc;
  int pages = 0;

  if (url == NULL)
    return wh_err_set(err, WH_ENOMEM, 0, "out of memory");
  if ((rc = cli_registry_open(o, ref->domain, &r, err)) == WH_OK)
    rc = cli_registry_ping(r, err);
  while (rc == WH_OK && url != NULL) {
    struct page p = {.after = by_last ? prev_last : NULL};
    char *next;
    if (++pages > PAGES_MAX) {
      rc = wh_err_set(err, WH_ETOOBIG, 0, "tag list: more than %d pages", PAGES_MAX);
      break;
    }
    if ((rc = get_page(r, ref->path, url, l, &p, err)) == WH_OK) {
      next = next_url(ref->path, url, &p, n, &by_last, err, &rc);
      free(url);
      url = next;
      free(prev_last);
      prev_last = wh_steal_ptr(&p.last);
    }
    page_release(&p);
  }
  cli_registry_free(r);
  return rc;
}

/* ---- output ------------------------------------------------------------------------ */

static void print_listing(const char *name, const struct listing *l, bool json)
{
  json_t *t;
  size_t i;

  if (json) {
    json_auto_t *o = json_pack("{s:s,s:O}", "name", name, "tags", l->tags);
    json_dumpf(o, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    putchar('\n');
    return;
  }
  json_array_foreach(l->tags, i, t) printf("%s\n", json_string_value(t));
}

static const struct option tags_opts[] = {
    {"remote", no_argument, NULL, 'r'},
    {"page-size", required_argument, NULL, 'n'},
    {"format", required_argument, NULL, 'f'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

struct tags_args {
  bool remote, json;
  unsigned long n;
};

static int parse_args(struct tags_args *a, int argc, char **argv)
{
  uint64_t v;
  int c;

  optind = 0;
  while ((c = getopt_long(argc, argv, "+hn:", tags_opts, NULL)) != -1) {
    if (c == 'h')
      return cli_help("tags"), 0;
    if (c == 'r')
      a->remote = true;
    else if (c == 'n' && wh_parse_u64(optarg, strlen(optarg), &v) && v > 0 && v <= TAGS_MAX)
      a->n = (unsigned long)v;
    else if (c == 'f' && (strcmp(optarg, "json") == 0 || strcmp(optarg, "table") == 0))
      a->json = strcmp(optarg, "json") == 0;
    else
      return cli_usage("tags", "bad option");
  }
  if (argc - optind != 1)
    return cli_usage("tags", "expected one REPOSITORY");
  return -1;
}

int cli_cmd_tags(const struct cli_opts *o, int argc, char **argv)
{
  struct tags_args a = {.n = PAGE_DEFAULT};
  struct listing l = {.tags = json_array()};
  struct wh_err err = {0};
  struct cli_ref ref = {0};
  struct store *s = NULL;
  int status = parse_args(&a, argc, argv);
  enum wh_code rc;

  if (status >= 0) {
    json_decref(l.tags);
    return status;
  }
  status = 0;
  if (l.tags == NULL)
    return wh_err_set(&err, WH_ENOMEM, 0, "out of memory"), cli_fail("tags", NULL, &err);
  if ((rc = cli_ref_parse(argv[optind], CLI_REF_NO_TAG, &ref, &err)) == WH_OK) {
    if (a.remote)
      rc = list_remote(o, &ref, a.n, &l, &err);
    else if ((rc = cli_store_open(o, &s, &err)) == WH_OK)
      rc = store_tag_list(s, ref.repo, NULL, 0, add_tag, &l, NULL, &err);
    if (rc == WH_OK && l.failed)
      rc = wh_err_set(&err, WH_ETOOBIG, 0, "more than %d tags", TAGS_MAX);
  }
  if (rc == WH_OK)
    print_listing(a.remote ? ref.path : ref.repo, &l, a.json);
  else
    status = cli_fail("tags", argv[optind], &err);
  json_decref(l.tags);
  store_free(s);
  cli_ref_release(&ref);
  return status;
}
