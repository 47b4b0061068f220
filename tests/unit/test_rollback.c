/* tests/unit/test_rollback.c - unit tests of storage/rollback.c (conditional
 * tag moves, store_tag_rollback), storage/pushes.c (the client's push
 * records) and server/parse.c's If-Match parser (srv_cond_parse).
 *
 * Each store test gets a fresh store in its own temp directory (removed
 * after); images are tiny manifests over in-memory blobs.
 */
#include "config.h"

#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "server/server.h"
#include "storage/store.h"

struct fixture {
  char dir[64];
  struct store *s;
};

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
  (void)st, (void)flag, (void)ftw;
  remove(path);
  return 0;
}

static int setup(void **state)
{
  struct fixture *f = calloc(1, sizeof(*f));
  struct wh_err e;
  char tmp[32] = "/tmp/wh-rb-XXXXXX";

  assert_non_null(f);
  assert_non_null(mkdtemp(tmp));
  snprintf(f->dir, sizeof(f->dir), "%s/r", tmp);
  assert_int_equal(store_open(f->dir, STORE_CREATE, &f->s, &e), WH_OK);
  *state = f;
  return 0;
}

static int teardown(void **state)
{
  struct fixture *f = *state;

  store_free(f->s);
  *strrchr(f->dir, '/') = '\0';
  nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
  free(f);
  return 0;
}

/* Stores an image (config from seed, no layers) in repo; tag may be NULL.
 * expect (may be NULL) is the tag's condition. */
static enum wh_code put(struct store *s, const char *repo, const char *seed, const char *tag,
                        struct store_tag_expect *expect, struct wh_digest *out, struct wh_err *e)
{
  char cfg[64], body[512];
  struct wh_digest c;
  struct wh_manifest m;
  const char *tags[1] = {tag};
  struct store_manifest_put a = {
      .repo = repo, .tags = tags, .n_tags = tag ? 1 : 0, .who = "tester", .expect = expect};
  enum wh_code rc;

  snprintf(cfg, sizeof(cfg), "{\"seed\":\"%s\"}", seed);
  assert_int_equal(store_blob_put(s, repo, cfg, strlen(cfg), NULL, &c, e), WH_OK);
  snprintf(body, sizeof(body),
           "{\"schemaVersion\":2,\"mediaType\":\"" WH_MT_OCI_MANIFEST
           "\",\"config\":{\"mediaType\":\"" WH_MT_OCI_CONFIG
           "\",\"digest\":\"%s\",\"size\":%zu},\"layers\":[]}",
           c.str, strlen(cfg));
  a.body = body;
  a.len = strlen(body);
  assert_int_equal(wh_manifest_parse(body, strlen(body), NULL, &m, e), WH_OK);
  a.parsed = &m;
  a.media_type = m.media_type;
  rc = store_manifest_put(s, &a, out, e);
  wh_manifest_release(&m);
  return rc;
}

static struct wh_digest current(struct store *s, const char *repo, const char *tag)
{
  struct store_manifest m;
  struct wh_err e;

  assert_int_equal(store_manifest_get(s, repo, tag, &m, NULL, &e), WH_OK);
  return m.digest;
}

static void test_expect(void **state)
{
  struct fixture *f = *state;
  struct wh_digest d1, d2, d3;
  struct store_tag_expect x = {0};
  struct wh_err e;

  assert_int_equal(put(f->s, "app", "1", "prod", NULL, &d1, &e), WH_OK);
  x.kind = STORE_EXPECT_DIGEST;
  x.digest = d1;
  assert_int_equal(put(f->s, "app", "2", "prod", &x, &d2, &e), WH_OK);
  assert_false(x.failed);
  /* stale: prod is d2 now */
  assert_int_equal(put(f->s, "app", "3", "prod", &x, &d3, &e), WH_ECONFLICT);
  assert_true(x.failed);
  assert_non_null(strstr(e.msg, d2.str));
  assert_true(wh_digest_eq(&d2, &(struct wh_digest){0}) == false);
  {
    struct wh_digest now = current(f->s, "app", "prod");
    assert_true(wh_digest_eq(&now, &d2));
  }
  x = (struct store_tag_expect){.kind = STORE_EXPECT_EXISTS};
  assert_int_equal(put(f->s, "app", "3", "missing", &x, NULL, &e), WH_ECONFLICT);
  assert_true(x.failed);
  x = (struct store_tag_expect){.kind = STORE_EXPECT_ABSENT};
  assert_int_equal(put(f->s, "app", "3", "fresh", &x, NULL, &e), WH_OK);
  assert_int_equal(put(f->s, "app", "4", "fresh", &x, NULL, &e), WH_ECONFLICT);
  x = (struct store_tag_expect){.immutable = true};
  assert_int_equal(put(f->s, "app", "5", "v1", &x, &d1, &e), WH_OK);
  assert_int_equal(put(f->s, "app", "5", "v1", &x, NULL, &e), WH_OK); /* same digest: no move */
  assert_int_equal(put(f->s, "app", "6", "v1", &x, NULL, &e), WH_EDENIED);
  assert_false(x.failed);
  assert_string_equal(e.msg, "tag v1 is immutable");
}

static void test_rollback_steps(void **state)
{
  struct fixture *f = *state;
  struct wh_digest d1, d2, d3, to, prev, now;
  struct store_rollback a = {.repo = "app", .tag = "prod", .steps = 1, .who = "rb"};
  struct wh_err e;

  assert_int_equal(put(f->s, "app", "1", "prod", NULL, &d1, &e), WH_OK);
  assert_int_equal(store_tag_rollback(f->s, &a, &to, &prev, &e), WH_ECONFLICT); /* no earlier target */
  assert_int_equal(put(f->s, "app", "2", "prod", NULL, &d2, &e), WH_OK);
  assert_int_equal(store_tag_rollback(f->s, &a, &to, &prev, &e), WH_OK);
  assert_true(wh_digest_eq(&to, &d1) && wh_digest_eq(&prev, &d2));
  now = current(f->s, "app", "prod");
  assert_true(wh_digest_eq(&now, &d1));
  /* one more step undoes it */
  assert_int_equal(store_tag_rollback(f->s, &a, &to, &prev, &e), WH_OK);
  assert_true(wh_digest_eq(&to, &d2));
  /* v2 -> v3; deleted and recreated tags skip the deletion */
  assert_int_equal(put(f->s, "app", "3", "prod", NULL, &d3, &e), WH_OK);
  assert_int_equal(store_tag_delete(f->s, "app", "prod", "x", &e), WH_OK);
  assert_int_equal(store_tag_rollback(f->s, &a, &to, &prev, &e), WH_ENOTFOUND); /* tag gone */
  assert_int_equal(store_tag_set(f->s, "app", "prod", &d3, "x", &e), WH_OK);
  a.steps = 2; /* targets: d3, d2, d1, d2, d1 */
  assert_int_equal(store_tag_rollback(f->s, &a, &to, &prev, &e), WH_OK);
  assert_true(wh_digest_eq(&to, &d1));
  /* to a digest; to a deleted manifest */
  a.to = &d3;
  assert_int_equal(store_tag_rollback(f->s, &a, &to, &prev, &e), WH_OK);
  assert_true(wh_digest_eq(&to, &d3) && wh_digest_eq(&prev, &d1));
  assert_int_equal(store_manifest_delete(f->s, "app", &d2, "x", &e), WH_OK);
  a.to = &d2;
  assert_int_equal(store_tag_rollback(f->s, &a, &to, &prev, &e), WH_ECONFLICT);
  assert_non_null(strstr(e.msg, "is gone"));
  now = current(f->s, "app", "prod");
  assert_true(wh_digest_eq(&now, &d3));
  {
    struct store_tag_expect x = {.kind = STORE_EXPECT_DIGEST, .digest = d1}; /* prod is d3 */
    a.to = &d1;
    a.expect = &x;
    assert_int_equal(store_tag_rollback(f->s, &a, &to, &prev, &e), WH_ECONFLICT);
    assert_true(x.failed);
    x = (struct store_tag_expect){.kind = STORE_EXPECT_DIGEST, .digest = d3};
    assert_int_equal(store_tag_rollback(f->s, &a, &to, &prev, &e), WH_OK);
    assert_true(wh_digest_eq(&to, &d1) && !x.failed);
    a.expect = NULL;
  }
  a.repo = "nope";
  assert_int_equal(store_tag_rollback(f->s, &a, &to, &prev, &e), WH_ENOTFOUND);
}

struct recs {
  char digests[8][WH_DIGEST_STR_MAX];
  int n;
};

static int on_rec(void *ctx, const struct store_push_rec *p)
{
  struct recs *r = ctx;

  assert_true(r->n < 8);
  assert_string_equal(p->media_type, WH_MT_OCI_MANIFEST);
  snprintf(r->digests[r->n++], WH_DIGEST_STR_MAX, "%s", p->digest.str);
  return 0;
}

static void test_push_records(void **state)
{
  struct fixture *f = *state;
  struct store_push_rec p = {
      .registry = "r:5000", .repo = "app", .tag = "prod", .media_type = WH_MT_OCI_MANIFEST};
  struct recs r = {0};
  struct wh_err e;

  wh_digest_buf(WH_DIGEST_SHA256, "a", 1, &p.digest);
  assert_int_equal(store_push_record(f->s, &p, &e), WH_OK);
  wh_digest_buf(WH_DIGEST_SHA256, "b", 1, &p.digest);
  assert_int_equal(store_push_record(f->s, &p, &e), WH_OK);
  p.tag = "other";
  assert_int_equal(store_push_record(f->s, &p, &e), WH_OK);
  assert_int_equal(store_push_history(f->s, "r:5000", "app", "prod", 0, on_rec, &r, &e), WH_OK);
  assert_int_equal(r.n, 2);
  assert_string_equal(r.digests[0], p.digest.str); /* newest first */
  r.n = 0;
  assert_int_equal(store_push_history(f->s, "r:5000", "app", "prod", 1, on_rec, &r, &e), WH_OK);
  assert_int_equal(r.n, 1);
  r.n = 0;
  assert_int_equal(store_push_history(f->s, "elsewhere", "app", "prod", 0, on_rec, &r, &e), WH_OK);
  assert_int_equal(r.n, 0);
}

static void test_cond_parse(void **state)
{
  const char *hex = "sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae";
  char buf[160];
  struct wh_digest d;

  (void)state;
  assert_int_equal(srv_cond_parse(NULL, &d), SRV_COND_NONE);
  assert_int_equal(srv_cond_parse("  ", &d), SRV_COND_NONE);
  assert_int_equal(srv_cond_parse("*", &d), SRV_COND_ANY);
  assert_int_equal(srv_cond_parse(" * ", &d), SRV_COND_ANY);
  snprintf(buf, sizeof(buf), "\"%s\"", hex);
  assert_int_equal(srv_cond_parse(buf, &d), SRV_COND_DIGEST);
  assert_string_equal(d.str, hex);
  memset(&d, 0, sizeof(d));
  assert_int_equal(srv_cond_parse(hex, &d), SRV_COND_DIGEST); /* unquoted */
  assert_string_equal(d.str, hex);
  snprintf(buf, sizeof(buf), "W/\"%s\"", hex);
  assert_int_equal(srv_cond_parse(buf, &d), SRV_COND_WEAK);
  snprintf(buf, sizeof(buf), "\"%s\", \"%s\"", hex, hex);
  assert_int_equal(srv_cond_parse(buf, &d), SRV_COND_INVALID); /* a list */
  snprintf(buf, sizeof(buf), "\"%s", hex);
  assert_int_equal(srv_cond_parse(buf, &d), SRV_COND_INVALID); /* unterminated */
  assert_int_equal(srv_cond_parse("\"sha256:abc\"", &d), SRV_COND_INVALID);
  assert_int_equal(srv_cond_parse("\"\"", &d), SRV_COND_INVALID);
  assert_int_equal(srv_cond_parse("W/abc", &d), SRV_COND_INVALID);
  assert_int_equal(srv_cond_parse("**", &d), SRV_COND_INVALID);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_expect, setup, teardown),
      cmocka_unit_test_setup_teardown(test_rollback_steps, setup, teardown),
      cmocka_unit_test_setup_teardown(test_push_records, setup, teardown),
      cmocka_unit_test(test_cond_parse),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
