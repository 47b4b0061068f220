/* tests/unit/test_gc.c - unit tests of online GC selection (store_gc_run),
 * HEAD-check protection (store_blob_touch), scrub and storage accounting.
 *
 * Each test gets a fresh store in its own temp directory. Ages are made
 * with SQL on the index (rows dated 1000), never by waiting.
 */
#include "config.h"

#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "common/manifest.h"
#include "storage/store.h"

#define STORE_FIXTURE_TMP "/tmp/wh-gc-XXXXXX"
#include "tests/unit/store_fixture.h"

/* Everything in the index looks old (created long ago). */
static void age_all(struct fixture *f)
{
  sql_exec(f, "UPDATE blobs SET created = 1000; UPDATE repo_blobs SET created = 1000;"
              " UPDATE manifests SET created = 1000;");
}

static struct wh_digest put_blob(struct store *s, const char *repo, const char *text)
{
  struct wh_digest d;
  struct wh_err e;

  assert_int_equal(store_blob_put(s, repo, text, strlen(text), NULL, &d, &e), WH_OK);
  return d;
}

static struct wh_digest put_manifest(struct store *s, const char *repo, const char *body, const char *tag)
{
  struct wh_manifest m;
  struct wh_digest d;
  struct wh_err e;
  const char *tags[1] = {tag};
  struct store_manifest_put a = {
      .repo = repo, .body = body, .len = strlen(body), .parsed = &m, .tags = tags, .n_tags = tag ? 1 : 0};

  assert_int_equal(wh_manifest_parse(body, strlen(body), NULL, &m, &e), WH_OK);
  a.media_type = m.media_type;
  assert_int_equal(store_manifest_put(s, &a, &d, &e), WH_OK);
  wh_manifest_release(&m);
  return d;
}

/* An image (config + one layer from seed) in repo, tagged tag (NULL: none),
 * optionally a referrer of subject. */
static struct wh_digest image(struct store *s, const char *repo, const char *seed, const char *tag,
                              const struct wh_digest *subject)
{
  char cfg[64], layer[64], body[2048];
  struct wh_digest c, l;
  int n;

  snprintf(cfg, sizeof(cfg), "{}%s", seed);
  snprintf(layer, sizeof(layer), "layer-%s", seed);
  c = put_blob(s, repo, cfg);
  l = put_blob(s, repo, layer);
  n = snprintf(body, sizeof(body),
               "{\"schemaVersion\":2,\"mediaType\":\"" WH_MT_OCI_MANIFEST "\","
               "\"config\":{\"mediaType\":\"" WH_MT_OCI_CONFIG "\",\"digest\":\"%s\",\"size\":%zu},"
               "\"layers\":[{\"mediaType\":\"" WH_MT_OCI_LAYER_GZIP "\",\"digest\":\"%s\",\"size\":%zu}]",
               c.str, strlen(cfg), l.str, strlen(layer));
  if (subject)
    n += snprintf(body + n, sizeof(body) - (size_t)n,
                  ",\"subject\":{\"mediaType\":\"" WH_MT_OCI_MANIFEST "\",\"digest\":\"%s\",\"size\":1}",
                  subject->str);
  snprintf(body + n, sizeof(body) - (size_t)n, "}");
  return put_manifest(s, repo, body, tag);
}

static struct wh_digest index_of(struct store *s, const char *repo, const struct wh_digest *a,
                                 const struct wh_digest *b, const char *tag)
{
  char body[2048];

  snprintf(body, sizeof(body),
           "{\"schemaVersion\":2,\"mediaType\":\"" WH_MT_OCI_INDEX "\",\"manifests\":["
           "{\"mediaType\":\"" WH_MT_OCI_MANIFEST "\",\"digest\":\"%s\",\"size\":1,"
           "\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\"}},"
           "{\"mediaType\":\"" WH_MT_OCI_MANIFEST "\",\"digest\":\"%s\",\"size\":1,"
           "\"platform\":{\"os\":\"linux\",\"architecture\":\"arm64\"}}]}",
           a->str, b->str);
  return put_manifest(s, repo, body, tag);
}

static bool has_manifest(struct store *s, const char *repo, const struct wh_digest *d)
{
  return store_manifest_get(s, repo, d->str, NULL, NULL, NULL) == WH_OK;
}

static bool has_blob(struct store *s, const struct wh_digest *d)
{
  return store_blob_stat(s, NULL, d, NULL, NULL) == WH_OK;
}

static struct store_gc_report run(struct store *s, int64_t grace, int64_t recent, bool untagged,
                                  uint64_t keep, unsigned flags)
{
  struct store_gc_opts o = {.grace_s = grace,
                            .recent_s = recent,
                            .delete_untagged = untagged,
                            .keep_history = keep,
                            .flags = flags};
  struct store_gc_report r;
  struct wh_err e;

  assert_int_equal(store_gc_run(s, &o, NULL, NULL, &r, &e), WH_OK);
  return r;
}

static void assert_clean(struct store *s)
{
  struct store_fsck_report r;
  struct wh_err e;

  assert_int_equal(store_fsck(s, 0, NULL, NULL, &r, &e), WH_OK);
  assert_int_equal(r.problems, 0);
}

/* ---- tests ------------------------------------------------------------- */

/* Twelve pushes to one tag: the current one and the ten before it are
 * rollback targets; the oldest goes, with its config and layer. */
static void test_history_keeps_rollback_targets(void **state)
{
  struct fixture *f = *state;
  struct wh_digest d[12];
  char seed[16];
  struct store_gc_report r;

  for (int i = 0; i < 12; i++) {
    snprintf(seed, sizeof(seed), "v%d", i);
    d[i] = image(f->s, "app", seed, "prod", NULL);
  }
  age_all(f);
  r = run(f->s, 0, 0, true, 10, 0);
  assert_int_equal(r.manifests_removed, 1);
  assert_int_equal(r.blobs_removed, 3); /* manifest bytes, config, layer */
  assert_false(has_manifest(f->s, "app", &d[0]));
  assert_false(has_blob(f->s, &d[0]));
  for (int i = 1; i < 12; i++)
    assert_true(has_manifest(f->s, "app", &d[i]));
  r = run(f->s, 0, 0, true, 10, 0);
  assert_int_equal(r.manifests_removed + r.blobs_removed, 0);
  r = run(f->s, 0, 0, true, 2, 0); /* fewer targets: current + 2 stay */
  assert_int_equal(r.manifests_removed, 8);
  assert_true(has_manifest(f->s, "app", &d[9]));
  assert_false(has_manifest(f->s, "app", &d[8]));
  assert_clean(f->s);
}

/* A tag moved back (rollback) ranks by its latest move; a deleted tag's
 * last digests stay too. Without delete_untagged no manifest goes. */
static void test_history_order_and_deleted_tags(void **state)
{
  struct fixture *f = *state;
  struct wh_digest a = image(f->s, "r", "a", "t", NULL), b = image(f->s, "r", "b", "t", NULL);
  struct wh_digest c = image(f->s, "r", "c", "t", NULL);
  struct wh_err e;

  assert_int_equal(store_tag_set(f->s, "r", "t", &a, NULL, &e), WH_OK); /* a is newest again */
  assert_int_equal(store_tag_delete(f->s, "r", "t", NULL, &e), WH_OK);
  age_all(f);
  assert_int_equal(run(f->s, 0, 0, false, 0, 0).manifests_removed, 0);
  assert_int_equal(run(f->s, 0, 0, true, 1, 0).manifests_removed, 1); /* a, then c stay */
  assert_true(has_manifest(f->s, "r", &a));
  assert_true(has_manifest(f->s, "r", &c));
  assert_false(has_manifest(f->s, "r", &b));
  assert_clean(f->s);
}

/* Index children and referrers of kept manifests stay; an untagged image,
 * its referrer and anything young (grace) follow the rules. */
static void test_children_referrers_and_grace(void **state)
{
  struct fixture *f = *state;
  struct wh_digest c1 = image(f->s, "m", "c1", NULL, NULL), c2 = image(f->s, "m", "c2", NULL, NULL);
  struct wh_digest idx = index_of(f->s, "m", &c1, &c2, "multi");
  struct wh_digest sig = image(f->s, "m", "sig", NULL, &idx);
  struct wh_digest sigsig = image(f->s, "m", "sigsig", NULL, &sig);
  struct wh_digest orphan = image(f->s, "m", "orphan", NULL, NULL);
  struct wh_digest osig = image(f->s, "m", "osig", NULL, &orphan);
  struct store_gc_report r;

  assert_int_equal(run(f->s, 3600, 0, true, 10, 0).manifests_removed, 0); /* all young */
  age_all(f);
  r = run(f->s, 3600, 0, true, 10, STORE_GC_DRY_RUN);
  assert_int_equal(r.manifests_removed, 2);
  assert_int_equal(r.blobs_removed, 6);
  assert_true(has_manifest(f->s, "m", &orphan)); /* a dry run changes nothing */
  r = run(f->s, 3600, 0, true, 10, 0);
  assert_int_equal(r.manifests_removed, 2);
  assert_int_equal(r.blobs_removed, 6);
  assert_false(has_manifest(f->s, "m", &orphan));
  assert_false(has_manifest(f->s, "m", &osig));
  assert_true(has_manifest(f->s, "m", &c1) && has_manifest(f->s, "m", &c2));
  assert_true(has_manifest(f->s, "m", &sig) && has_manifest(f->s, "m", &sigsig));
  assert_clean(f->s);
}

/* A HEAD check (touch) keeps an old unreferenced blob for the recent
 * window, even with grace 0; recent 0 does not. */
static void test_touch_protects(void **state)
{
  struct fixture *f = *state;
  struct wh_digest kept = put_blob(f->s, "r", "checked"), gone = put_blob(f->s, "r", "not checked");
  struct wh_err e;

  sql_exec(f, "UPDATE blobs SET created = 1000; UPDATE repo_blobs SET created = 1000;");
  assert_int_equal(store_blob_touch(f->s, &kept, &e), WH_OK);
  assert_int_equal(store_blob_touch(f->s, &kept, &e), WH_OK); /* within a minute: no write */
  assert_int_equal(run(f->s, 0, 600, false, 10, STORE_GC_DRY_RUN).blobs_removed, 1);
  assert_int_equal(run(f->s, 0, 600, false, 10, 0).blobs_removed, 1);
  assert_true(has_blob(f->s, &kept));
  assert_false(has_blob(f->s, &gone));
  assert_int_equal(run(f->s, 0, 600, false, 10, 0).blobs_removed, 0); /* a second run: nothing */
  assert_int_equal(run(f->s, 0, 0, false, 10, 0).blobs_removed, 1);   /* no recent window */
  assert_false(has_blob(f->s, &kept));
  assert_clean(f->s);
}

/* The store_gc of `wharf prune` keeps working as before. */
static void test_store_gc_compat(void **state)
{
  struct fixture *f = *state;
  struct wh_digest loose = put_blob(f->s, "a", "loose");
  struct store_gc_report r;
  struct wh_err e;

  image(f->s, "a", "x", NULL, NULL);
  assert_int_equal(store_gc(f->s, 0, 0, NULL, NULL, &r, &e), WH_OK);
  assert_int_equal(r.blobs_removed, 1);
  assert_int_equal(r.manifests_removed, 0);
  assert_false(has_blob(f->s, &loose));
}

static void on_scrub(void *ctx, const struct wh_digest *d, const char *problem, bool q)
{
  (void)problem;
  (void)q;
  *(struct wh_digest *)ctx = *d;
}

/* A corrupt layer is found; quarantine takes it out of service and a push
 * of the same content heals it. */
static void test_scrub_quarantine(void **state)
{
  struct fixture *f = *state;
  struct wh_digest img = image(f->s, "r", "s", "t", NULL), bad = {0}, layer;
  struct store_scrub_report r;
  char path[256];
  struct wh_err e;
  int fd;

  (void)img;
  wh_digest_buf(WH_DIGEST_SHA256, "layer-s", 7, &layer);
  assert_int_equal(store_scrub(f->s, 0, on_scrub, &bad, &r, &e), WH_OK);
  assert_int_equal(r.bad, 0);
  assert_int_equal(r.blobs, 3);
  snprintf(path, sizeof(path), "%s/blobs/sha256/%.2s/%s", f->dir, wh_digest_hex(&layer),
           wh_digest_hex(&layer));
  assert_int_equal(chmod(path, 0644), 0);
  assert_true((fd = open(path, O_WRONLY)) >= 0);
  assert_int_equal(pwrite(fd, "X", 1, 0), 1);
  close(fd);
  assert_int_equal(store_scrub(f->s, 0, on_scrub, &bad, &r, &e), WH_OK);
  assert_int_equal(r.bad, 1);
  assert_true(wh_digest_eq(&bad, &layer));
  assert_true(has_blob(f->s, &layer)); /* report only */
  assert_int_equal(store_scrub(f->s, STORE_SCRUB_QUARANTINE, NULL, NULL, &r, &e), WH_OK);
  assert_int_equal(r.quarantined, 1);
  assert_false(has_blob(f->s, &layer));
  snprintf(path, sizeof(path), "%s/quarantine/sha256-%s", f->dir, wh_digest_hex(&layer));
  assert_int_equal(access(path, F_OK), 0);
  put_blob(f->s, "r", "layer-s"); /* heals */
  assert_int_equal(store_scrub(f->s, 0, NULL, NULL, &r, &e), WH_OK);
  assert_int_equal(r.bad, 0);
  assert_clean(f->s);
}

struct usage_seen {
  int n;
  struct store_repo_usage u[4];
  char names[4][16];
};

static int on_usage(void *ctx, const struct store_repo_usage *u)
{
  struct usage_seen *s = ctx;

  if (s->n < 4) {
    snprintf(s->names[s->n], sizeof(s->names[0]), "%s", u->name);
    s->u[s->n] = *u;
    s->u[s->n].name = s->names[s->n];
    s->n++;
  }
  return 0;
}

static void test_usage(void **state)
{
  struct fixture *f = *state;
  struct usage_seen seen = {0};
  struct store_usage_total t;
  uint64_t bytes = 0, tags = 0;
  struct wh_err e;

  put_blob(f->s, "a", "12345");   /* 5, only a */
  put_blob(f->s, "a", "shared!"); /* 7, a and b */
  put_blob(f->s, "b", "shared!");
  put_blob(f->s, "b", "123");      /* 3, only b */
  put_blob(f->s, NULL, "nowhere"); /* 7, no repository */
  assert_int_equal(store_usage(f->s, on_usage, &seen, &t, &e), WH_OK);
  assert_int_equal(seen.n, 2);
  assert_string_equal(seen.u[0].name, "a");
  assert_int_equal(seen.u[0].bytes, 12);
  assert_int_equal(seen.u[0].shared_bytes, 7);
  assert_int_equal(seen.u[1].bytes, 10);
  assert_int_equal(t.bytes, 22);
  assert_int_equal(t.blobs, 4);
  assert_int_equal(t.shared_bytes, 7);
  assert_int_equal(store_usage_glob(f->s, "*", &bytes, &tags, &e), WH_OK);
  assert_int_equal(bytes, 15);
  assert_int_equal(store_usage_glob(f->s, "b", &bytes, &tags, &e), WH_OK);
  assert_int_equal(bytes, 10);
  assert_int_equal(tags, 0);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_history_keeps_rollback_targets, setup, teardown),
      cmocka_unit_test_setup_teardown(test_history_order_and_deleted_tags, setup, teardown),
      cmocka_unit_test_setup_teardown(test_children_referrers_and_grace, setup, teardown),
      cmocka_unit_test_setup_teardown(test_touch_protects, setup, teardown),
      cmocka_unit_test_setup_teardown(test_store_gc_compat, setup, teardown),
      cmocka_unit_test_setup_teardown(test_scrub_quarantine, setup, teardown),
      cmocka_unit_test_setup_teardown(test_usage, setup, teardown),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
