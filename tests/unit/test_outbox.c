/* tests/unit/test_outbox.c - unit tests of the event outbox (storage/outbox.c)
 * and the store statistics (storage/stats.c).
 *
 * Each test gets a fresh store in its own temp directory (removed after).
 * What is checked: nothing is written with the event mask at 0; with it
 * set, each change writes its events (kinds, fields, order) and a refused
 * change writes none; a kill inside the manifest transaction leaves neither
 * the manifest nor its event; cursors start after the newest row and trims
 * never let ids be reused; blob totals follow puts.
 */
#include "config.h"

#include <ftw.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/manifest.h"
#include "storage/store.h"

#define STORE_FIXTURE_TMP "/tmp/wh-outbox-XXXXXX"
#include "tests/unit/store_fixture.h"

#define ALL_EVENTS (STORE_EV_PUSH | STORE_EV_PULL | STORE_EV_DELETE | STORE_EV_TAG)
#define MAX_SEEN 32

/* Copies of the rows store_outbox_read() reported. */
struct seen {
  size_t n;
  struct {
    int64_t id, size;
    enum store_event_kind kind;
    char target[16], repo[64], tag[64], digest[80], old_digest[80], media_type[80], who[32], uid[40];
  } e[MAX_SEEN];
};

static void copy(char *dst, size_t size, const char *src)
{
  snprintf(dst, size, "%s", src ? src : "");
}

static int collect(void *ctx, const struct store_event *ev)
{
  struct seen *s = ctx;

  assert_true(s->n < MAX_SEEN);
  s->e[s->n].id = ev->id;
  s->e[s->n].size = ev->size;
  s->e[s->n].kind = ev->kind;
  copy(s->e[s->n].target, sizeof(s->e[0].target), ev->target);
  copy(s->e[s->n].repo, sizeof(s->e[0].repo), ev->repo);
  copy(s->e[s->n].tag, sizeof(s->e[0].tag), ev->tag);
  copy(s->e[s->n].digest, sizeof(s->e[0].digest), ev->digest);
  copy(s->e[s->n].old_digest, sizeof(s->e[0].old_digest), ev->old_digest);
  copy(s->e[s->n].media_type, sizeof(s->e[0].media_type), ev->media_type);
  copy(s->e[s->n].who, sizeof(s->e[0].who), ev->who);
  copy(s->e[s->n].uid, sizeof(s->e[0].uid), ev->uid);
  s->n++;
  return 0;
}

static void read_all(struct store *st, int64_t after, struct seen *s)
{
  struct wh_err e;

  memset(s, 0, sizeof(*s));
  assert_int_equal(store_outbox_read(st, after, 0, collect, s, &e), WH_OK);
}

static struct wh_digest put_blob(struct store *s, const char *repo, const char *text)
{
  struct wh_digest d;
  struct wh_err e;

  assert_int_equal(store_blob_put(s, repo, text, strlen(text), NULL, &d, &e), WH_OK);
  return d;
}

/* An image manifest of config c and layer l, pushed to repo with tag (NULL:
 * by digest) by "tester". */
static enum wh_code push(struct store *s, const char *repo, const struct wh_digest *c,
                         const struct wh_digest *l, const char *tag, struct wh_digest *out, size_t *len_out)
{
  char body[1024];
  struct wh_manifest m;
  struct wh_err e;
  const char *tags[1] = {tag};
  struct store_manifest_put a = {.repo = repo, .tags = tags, .n_tags = tag ? 1 : 0, .who = "tester"};
  enum wh_code rc;

  snprintf(body, sizeof(body),
           "{\"schemaVersion\":2,\"mediaType\":\"" WH_MT_OCI_MANIFEST
           "\",\"config\":{\"mediaType\":\"" WH_MT_OCI_CONFIG
           "\",\"digest\":\"%s\",\"size\":2},\"layers\":[{\"mediaType\":\"" WH_MT_OCI_LAYER_GZIP
           "\",\"digest\":\"%s\",\"size\":1}]}",
           c->str, l->str);
  assert_int_equal(wh_manifest_parse(body, strlen(body), NULL, &m, &e), WH_OK);
  a.body = body;
  a.len = strlen(body);
  a.parsed = &m;
  a.media_type = m.media_type;
  rc = store_manifest_put(s, &a, out, &e);
  wh_manifest_release(&m);
  if (len_out)
    *len_out = strlen(body);
  return rc;
}

/* ---- tests --------------------------------------------------------------- */

static void test_mask_off_writes_nothing(void **state)
{
  struct fixture *f = *state;
  struct wh_digest c = put_blob(f->s, "app", "{}"), l = put_blob(f->s, "app", "L"), d;
  struct seen s;
  struct wh_err e;

  assert_int_equal(push(f->s, "app", &c, &l, "v1", &d, NULL), WH_OK);
  assert_int_equal(store_event_pull(f->s, "app", "v1", &d, NULL, &e), WH_OK);
  assert_int_equal(store_tag_delete(f->s, "app", "v1", NULL, &e), WH_OK);
  read_all(f->s, 0, &s);
  assert_int_equal(s.n, 0);
}

static void test_events_of_changes(void **state)
{
  struct fixture *f = *state;
  struct wh_digest c = put_blob(f->s, "app", "{}"), l1 = put_blob(f->s, "app", "L1"),
                   l2 = put_blob(f->s, "app", "L2"), d1, d2;
  struct seen s;
  struct wh_err e;
  size_t len1;

  store_set_events(f->s, ALL_EVENTS);
  assert_int_equal(push(f->s, "app", &c, &l1, "v1", &d1, &len1), WH_OK); /* push + tag created */
  assert_int_equal(push(f->s, "app", &c, &l2, "v1", &d2, NULL), WH_OK);  /* push + tag moved */
  assert_int_equal(push(f->s, "app", &c, &l2, "v1", &d2, NULL), WH_OK);  /* push, no move */
  assert_int_equal(store_event_pull(f->s, "app", NULL, &d1, "puller", &e), WH_OK);
  assert_int_equal(store_tag_delete(f->s, "app", "v1", "tester", &e), WH_OK);
  assert_int_equal(store_manifest_delete(f->s, "app", &d1, "tester", &e), WH_OK);
  assert_int_equal(store_blob_unlink(f->s, "app", &l1, &e), WH_OK);
  read_all(f->s, 0, &s);
  assert_int_equal(s.n, 9);
  for (size_t i = 1; i < s.n; i++) {
    assert_true(s.e[i].id > s.e[i - 1].id);
    assert_string_not_equal(s.e[i].uid, s.e[i - 1].uid);
  }
  assert_int_equal(s.e[0].kind, STORE_EV_PUSH);
  assert_string_equal(s.e[0].digest, d1.str);
  assert_string_equal(s.e[0].tag, "v1");
  assert_string_equal(s.e[0].media_type, WH_MT_OCI_MANIFEST);
  assert_int_equal(s.e[0].size, (int64_t)len1);
  assert_string_equal(s.e[0].who, "tester");
  assert_int_equal(s.e[1].kind, STORE_EV_TAG);
  assert_string_equal(s.e[1].old_digest, "");
  assert_int_equal(s.e[3].kind, STORE_EV_TAG);
  assert_string_equal(s.e[3].old_digest, d1.str);
  assert_string_equal(s.e[3].digest, d2.str);
  assert_int_equal(s.e[4].kind, STORE_EV_PUSH); /* the re-push: no tag event after it */
  assert_int_equal(s.e[5].kind, STORE_EV_PULL);
  assert_string_equal(s.e[5].tag, "");
  assert_string_equal(s.e[5].who, "puller");
  assert_int_equal(s.e[6].kind, STORE_EV_DELETE);
  assert_string_equal(s.e[6].target, "tag");
  assert_string_equal(s.e[6].digest, d2.str);
  assert_int_equal(s.e[7].kind, STORE_EV_DELETE);
  assert_string_equal(s.e[7].target, "manifest");
  assert_string_equal(s.e[7].media_type, WH_MT_OCI_MANIFEST); /* read before the row went */
  assert_int_equal(s.e[8].kind, STORE_EV_DELETE);
  assert_string_equal(s.e[8].target, "blob");
  assert_string_equal(s.e[8].digest, l1.str);
  assert_int_equal(s.e[8].size, 2);
  assert_string_equal(store_event_kind_name(STORE_EV_TAG), "tag");
}

static void test_refused_change_no_event(void **state)
{
  struct fixture *f = *state;
  struct wh_digest c = put_blob(f->s, "app", "{}"), l = put_blob(f->s, "app", "L"), d;
  struct wh_digest missing;
  struct seen s;
  struct wh_err e;

  store_set_events(f->s, ALL_EVENTS);
  wh_digest_buf(WH_DIGEST_SHA256, "nope", 4, &missing);
  assert_int_equal(push(f->s, "app", &c, &missing, "v1", &d, NULL), WH_ENOTFOUND);
  assert_int_equal(store_tag_delete(f->s, "app", "v1", NULL, &e), WH_ENOTFOUND);
  assert_int_equal(push(f->s, "app", &c, &l, "v1", &d, NULL), WH_OK);
  assert_int_equal(store_blob_unlink(f->s, "app", &l, &e), WH_ECONFLICT); /* the manifest uses it */
  read_all(f->s, 0, &s);
  assert_int_equal(s.n, 2); /* push + tag of the good push only */
}

/* A kill inside the manifest transaction leaves neither the manifest nor
 * its events: they commit together. */
static void test_kill_before_commit(void **state)
{
  struct fixture *f = *state;
  struct wh_digest c = put_blob(f->s, "app", "{}"), l = put_blob(f->s, "app", "L"), d;
  struct store_manifest m;
  struct seen s;
  struct wh_err e;
  int status = 0;
  pid_t pid = fork();

  assert_true(pid >= 0);
  if (pid == 0) {
    struct store *child = NULL;
    setenv("WHARF_FAULT", "kill-before-commit", 1);
    if (store_open(f->dir, 0, &child, &e) != WH_OK)
      _exit(3);
    store_set_events(child, ALL_EVENTS);
    push(child, "app", &c, &l, "v1", &d, NULL);
    _exit(4); /* not reached: killed at the fault point */
  }
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  assert_int_equal(store_manifest_get(f->s, "app", "v1", &m, NULL, &e), WH_ENOTFOUND);
  read_all(f->s, 0, &s);
  assert_int_equal(s.n, 0);
}

static void test_cursors_and_trim(void **state)
{
  struct fixture *f = *state;
  struct wh_digest c = put_blob(f->s, "app", "{}"), l = put_blob(f->s, "app", "L"), d;
  int64_t a, b, again;
  struct seen s;
  struct wh_err e;

  store_set_events(f->s, ALL_EVENTS);
  assert_int_equal(store_outbox_cursor(f->s, "hook-a", &a, &e), WH_OK);
  assert_int_equal(a, 0);
  assert_int_equal(push(f->s, "app", &c, &l, "v1", &d, NULL), WH_OK);
  /* a new consumer starts after what is there */
  assert_int_equal(store_outbox_cursor(f->s, "hook-b", &b, &e), WH_OK);
  assert_int_equal(b, 2);
  read_all(f->s, a, &s);
  assert_int_equal(s.n, 2);
  assert_int_equal(store_outbox_cursor_set(f->s, "hook-a", s.e[1].id, &e), WH_OK);
  assert_int_equal(store_outbox_cursor(f->s, "hook-a", &again, &e), WH_OK);
  assert_int_equal(again, s.e[1].id);
  assert_int_equal(store_outbox_trim(f->s, s.e[1].id, &e), WH_OK);
  read_all(f->s, 0, &s);
  assert_int_equal(s.n, 0);
  /* ids are never reused after a trim, and a consumer made now starts at 2 */
  assert_int_equal(store_outbox_cursor(f->s, "hook-c", &b, &e), WH_OK);
  assert_int_equal(b, 2);
  assert_int_equal(store_event_pull(f->s, "app", "v1", &d, NULL, &e), WH_OK);
  read_all(f->s, 0, &s);
  assert_int_equal(s.n, 1);
  assert_int_equal(s.e[0].id, 3);
  assert_int_equal(store_outbox_cursor(f->s, "", &b, &e), WH_EINVALID);
}

static void test_blob_totals(void **state)
{
  struct fixture *f = *state;
  uint64_t n = 99, bytes = 99, open = 99;
  struct wh_err e;
  char id[STORE_UPLOAD_ID_LEN + 1];

  assert_int_equal(store_ping(f->s, &e), WH_OK);
  assert_int_equal(store_blob_totals(f->s, &n, &bytes, &e), WH_OK);
  assert_int_equal(n, 0);
  assert_int_equal(bytes, 0);
  put_blob(f->s, "app", "12345");
  put_blob(f->s, "other", "12345"); /* same blob: one row */
  put_blob(f->s, "app", "abc");
  assert_int_equal(store_blob_totals(f->s, &n, &bytes, &e), WH_OK);
  assert_int_equal(n, 2);
  assert_int_equal(bytes, 8);
  assert_int_equal(store_upload_start(f->s, "app", id, &e), WH_OK);
  assert_int_equal(store_upload_count(f->s, &open, &e), WH_OK);
  assert_int_equal(open, 1);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_mask_off_writes_nothing, setup, teardown),
      cmocka_unit_test_setup_teardown(test_events_of_changes, setup, teardown),
      cmocka_unit_test_setup_teardown(test_refused_change_no_event, setup, teardown),
      cmocka_unit_test_setup_teardown(test_kill_before_commit, setup, teardown),
      cmocka_unit_test_setup_teardown(test_cursors_and_trim, setup, teardown),
      cmocka_unit_test_setup_teardown(test_blob_totals, setup, teardown),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
