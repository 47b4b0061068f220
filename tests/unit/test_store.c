/* tests/unit/test_store.c - unit tests of storage/ (the store and its index).
 *
 * Each test gets a fresh store in its own temp directory (removed after).
 * Crash safety is checked by forking a child that opens the store with
 * WHARF_FAULT set and is killed at the fault point; the parent then looks
 * at what is visible and runs fsck --repair, or store_recover() followed by
 * fsck without repair (which must then find nothing).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "common/manifest.h"
#include "storage/store.h"

#define STORE_FIXTURE_TMP "/tmp/wh-store-XXXXXX"
#include "tests/unit/store_fixture.h"

#define MT_LAYER WH_MT_OCI_LAYER_GZIP

/* ---- helpers ----------------------------------------------------------- */

static void reopen(struct fixture *f)
{
  struct wh_err e;

  store_free(f->s);
  f->s = NULL;
  assert_int_equal(store_open(f->dir, 0, &f->s, &e), WH_OK);
}

static struct wh_digest put_blob(struct store *s, const char *repo, const char *text)
{
  struct wh_digest d;
  struct wh_err e;

  assert_int_equal(store_blob_put(s, repo, text, strlen(text), NULL, &d, &e), WH_OK);
  return d;
}

static struct wh_digest digest_of(const char *text)
{
  struct wh_digest d;

  wh_digest_buf(WH_DIGEST_SHA256, text, strlen(text), &d);
  return d;
}

/* An image manifest with one config and up to two layers (NULL: none). */
static char *image_json(const struct wh_digest *config, const struct wh_digest *l1, const char *l1_type,
                        const struct wh_digest *l2, const char *artifact_type,
                        const struct wh_digest *subject, const char *annotation)
{
  char *out = malloc(4096);
  int n;

  assert_non_null(out);
  n = snprintf(out, 4096,
               "{\"schemaVersion\":2,\"mediaType\":\"" WH_MT_OCI_MANIFEST "\"%s%s%s,"
               "\"config\":{\"mediaType\":\"" WH_MT_OCI_CONFIG "\",\"digest\":\"%s\",\"size\":2},"
               "\"layers\":[",
               artifact_type ? ",\"artifactType\":\"" : "", artifact_type ? artifact_type : "",
               artifact_type ? "\"" : "", config->str);
  if (l1)
    n += snprintf(out + n, 4096 - n, "{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":1}", l1_type, l1->str);
  if (l2)
    n += snprintf(out + n, 4096 - n, ",{\"mediaType\":\"" MT_LAYER "\",\"digest\":\"%s\",\"size\":1}",
                  l2->str);
  n += snprintf(out + n, 4096 - n, "]");
  if (subject)
    n += snprintf(out + n, 4096 - n,
                  ",\"subject\":{\"mediaType\":\"" WH_MT_OCI_MANIFEST "\",\"digest\":\"%s\",\"size\":10}",
                  subject->str);
  if (annotation)
    n += snprintf(out + n, 4096 - n, ",\"annotations\":{\"note\":\"%s\"}", annotation);
  snprintf(out + n, 4096 - n, "}");
  return out;
}

static char *index_json(const struct wh_digest *a, const struct wh_digest *b)
{
  char *out = malloc(2048);

  assert_non_null(out);
  snprintf(out, 2048,
           "{\"schemaVersion\":2,\"mediaType\":\"" WH_MT_OCI_INDEX "\",\"manifests\":["
           "{\"mediaType\":\"" WH_MT_OCI_MANIFEST "\",\"digest\":\"%s\",\"size\":100,"
           "\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\"}},"
           "{\"mediaType\":\"" WH_MT_OCI_MANIFEST "\",\"digest\":\"%s\",\"size\":100,"
           "\"platform\":{\"os\":\"linux\",\"architecture\":\"arm64\"}}]}",
           a->str, b->str);
  return out;
}

/* Parses body and stores it in repo with tag (may be NULL). */
static enum wh_code put_manifest_full(struct store *s, const char *repo, const char *body, const char *tag,
                                      unsigned flags, const struct wh_digest *pushed_as,
                                      struct wh_digest *out, struct wh_err *e)
{
  struct wh_manifest m;
  const char *tags[1] = {tag};
  struct store_manifest_put a = {.repo = repo,
                                 .body = body,
                                 .len = strlen(body),
                                 .parsed = &m,
                                 .digest = pushed_as,
                                 .tags = tags,
                                 .n_tags = tag ? 1 : 0,
                                 .who = "tester",
                                 .flags = flags};
  enum wh_code rc;

  assert_int_equal(wh_manifest_parse(body, strlen(body), NULL, &m, e), WH_OK);
  a.media_type = m.media_type;
  rc = store_manifest_put(s, &a, out, e);
  wh_manifest_release(&m);
  return rc;
}

static enum wh_code put_manifest(struct store *s, const char *repo, const char *body, const char *tag,
                                 struct wh_digest *out)
{
  struct wh_err e;

  return put_manifest_full(s, repo, body, tag, 0, NULL, out, &e);
}

/* A pushed image in repo: config + one layer (content from seed), tagged. */
static struct wh_digest push_image(struct store *s, const char *repo, const char *seed, const char *tag)
{
  char cfg[64], layer[64];
  struct wh_digest c, l, d;
  char *body;

  snprintf(cfg, sizeof(cfg), "{}%s", seed);
  snprintf(layer, sizeof(layer), "layer-%s", seed);
  c = put_blob(s, repo, cfg);
  l = put_blob(s, repo, layer);
  body = image_json(&c, &l, MT_LAYER, NULL, NULL, NULL, seed);
  assert_int_equal(put_manifest(s, repo, body, tag, &d), WH_OK);
  free(body);
  return d;
}

/* Counts regular files below a directory (nftw has no context argument). */
static uint64_t files_seen;
static int count_cb(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
  (void)p;
  (void)ftw;
  if (flag == FTW_F && S_ISREG(st->st_mode))
    files_seen++;
  return 0;
}

static uint64_t files_under(struct fixture *f, const char *sub)
{
  char path[128];

  snprintf(path, sizeof(path), "%s/%s", f->dir, sub);
  files_seen = 0;
  nftw(path, count_cb, 16, FTW_PHYS);
  return files_seen;
}

static void blob_path(struct fixture *f, const struct wh_digest *d, char *out, size_t size)
{
  const char *hex = wh_digest_hex(d);

  snprintf(out, size, "%s/blobs/%s/%.2s/%s", f->dir, wh_digest_alg_name(d->alg), hex, hex);
}

struct fsck_lines {
  int n;
  char last[768];
};

static void on_problem(void *ctx, const char *problem)
{
  struct fsck_lines *l = ctx;

  l->n++;
  snprintf(l->last, sizeof(l->last), "%s", problem);
  if (getenv("TEST_VERBOSE"))
    fprintf(stderr, "# fsck: %s\n", problem);
}

static struct store_fsck_report fsck(struct store *s, unsigned flags)
{
  struct store_fsck_report r;
  struct fsck_lines l = {0};
  struct wh_err e;

  assert_int_equal(store_fsck(s, flags, on_problem, &l, &r, &e), WH_OK);
  assert_int_equal((uint64_t)l.n, r.problems);
  return r;
}

static void assert_clean(struct store *s)
{
  struct store_fsck_report r = fsck(s, 0);

  assert_int_equal(r.problems, 0);
}

/* ---- open -------------------------------------------------------------- */

static void test_open_errors(void **state)
{
  struct fixture *f = *state;
  struct store *s = NULL;
  struct wh_err e;
  char path[128];

  snprintf(path, sizeof(path), "%s/missing", f->dir);
  assert_int_equal(store_open(path, 0, &s, &e), WH_ENOTFOUND);
  assert_null(s);
  assert_int_equal(store_open(path, STORE_CREATE | STORE_READONLY, &s, &e), WH_EINVALID);
  /* nested creation works */
  snprintf(path, sizeof(path), "%s/a/b/c", f->dir);
  assert_int_equal(store_open(path, STORE_CREATE, &s, &e), WH_OK);
  store_free(s);
  store_free(NULL);
}

static void test_reopen_persists(void **state)
{
  struct fixture *f = *state;
  struct wh_digest d = push_image(f->s, "app", "one", "v1"), blob;
  struct store_manifest m;
  struct wh_err e;
  uint64_t size;

  blob = put_blob(f->s, "app", "persist me");
  reopen(f);
  assert_int_equal(store_manifest_get(f->s, "app", "v1", &m, NULL, &e), WH_OK);
  assert_true(wh_digest_eq(&m.digest, &d));
  assert_int_equal(store_blob_stat(f->s, "app", &blob, &size, &e), WH_OK);
  assert_int_equal(size, 10);
  assert_true(store_repo_exists(f->s, "app"));
  assert_false(store_repo_exists(f->s, "nope"));
  assert_clean(f->s);
}

/* An existing store opens without creating anything, yet what is missing
 * is made again, and the schema version is checked either way. */
static void test_reopen_checks(void **state)
{
  struct fixture *f = *state;
  struct store *s = NULL;
  struct wh_err e;
  struct stat st;
  char path[160];
  int version;

  store_free(f->s);
  f->s = NULL;
  snprintf(path, sizeof(path), "%s/uploads", f->dir);
  assert_int_equal(rmdir(path), 0);
  snprintf(path, sizeof(path), "%s/blobs/sha512", f->dir);
  assert_int_equal(rmdir(path), 0);
  assert_int_equal(store_open(f->dir, STORE_READONLY, &s, &e), WH_ENOTFOUND);
  assert_int_equal(store_open(f->dir, 0, &f->s, &e), WH_OK);
  assert_int_equal(stat(path, &st), 0);
  snprintf(path, sizeof(path), "%s/uploads", f->dir);
  assert_int_equal(stat(path, &st), 0);
  store_free(f->s);
  f->s = NULL;
  {
    sqlite3 *db;
    sqlite3_stmt *q;
    snprintf(path, sizeof(path), "%s/index.db", f->dir);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    version = sqlite3_column_int(q, 0);
    sqlite3_finalize(q);
    sqlite3_close(db);
  }
  assert_true(version > 0);
  sql_exec(f, "PRAGMA user_version = 999");
  assert_int_equal(store_open(f->dir, STORE_CREATE, &s, &e), WH_EUNSUPPORTED);
  assert_null(s);
  assert_int_equal(store_open(f->dir, STORE_READONLY, &s, &e), WH_EUNSUPPORTED);
  snprintf(path, sizeof(path), "PRAGMA user_version = %d", version);
  sql_exec(f, path);
  reopen(f);
  assert_clean(f->s);
}

static void test_readonly(void **state)
{
  struct fixture *f = *state;
  struct store *ro = NULL;
  struct store_fsck_report r;
  struct wh_digest d = push_image(f->s, "app", "ro", "v1");
  struct store_manifest m;
  struct wh_err e;

  assert_int_equal(store_open(f->dir, STORE_READONLY, &ro, &e), WH_OK);
  assert_int_equal(store_manifest_get(ro, "app", "v1", &m, NULL, &e), WH_OK);
  assert_true(wh_digest_eq(&m.digest, &d));
  assert_int_equal(store_fsck(ro, 0, NULL, NULL, &r, &e), WH_OK);
  assert_int_equal(r.problems, 0);
  assert_int_equal(store_fsck(ro, STORE_FSCK_REPAIR, NULL, NULL, &r, &e), WH_EINVALID);
  assert_int_not_equal(store_blob_put(ro, "app", "x", 1, NULL, NULL, &e), WH_OK);
  store_free(ro);
}

/* ---- blobs ------------------------------------------------------------- */

static void test_blob_put_stat_open(void **state)
{
  struct fixture *f = *state;
  struct wh_digest d = put_blob(f->s, "a", "hello"), want = digest_of("hello"), bad;
  char path[256], buf[16];
  struct stat st;
  uint64_t size = 0;
  struct wh_err e;
  int fd = -1;

  assert_true(wh_digest_eq(&d, &want));
  assert_int_equal(store_blob_stat(f->s, "a", &d, &size, &e), WH_OK);
  assert_int_equal(size, 5);
  assert_int_equal(store_blob_stat(f->s, NULL, &d, &size, &e), WH_OK);
  assert_int_equal(store_blob_open(f->s, "a", &d, &fd, &size, &e), WH_OK);
  assert_int_equal(read(fd, buf, sizeof(buf)), 5);
  assert_memory_equal(buf, "hello", 5);
  assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
  close(fd);
  blob_path(f, &d, path, sizeof(path));
  assert_int_equal(stat(path, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0444);
  /* idempotent */
  d = put_blob(f->s, "a", "hello");
  assert_true(wh_digest_eq(&d, &want));
  /* expected digest must match */
  wh_digest_buf(WH_DIGEST_SHA256, "other", 5, &bad);
  assert_int_equal(store_blob_put(f->s, "a", "hello", 5, &bad, NULL, &e), WH_EDIGEST);
  assert_int_equal(store_blob_stat(f->s, NULL, &bad, &size, &e), WH_ENOTFOUND);
  /* empty blob */
  d = put_blob(f->s, NULL, "");
  assert_int_equal(store_blob_stat(f->s, NULL, &d, &size, &e), WH_OK);
  assert_int_equal(size, 0);
  assert_int_equal(store_blob_stat(f->s, "a", &d, &size, &e), WH_ENOTFOUND);
  assert_int_equal(files_under(f, "uploads"), 0);
  assert_clean(f->s);
}

static void test_blob_sha512(void **state)
{
  struct fixture *f = *state;
  struct wh_digest want, got;
  char path[256];
  uint64_t size;
  struct wh_err e;

  wh_digest_buf(WH_DIGEST_SHA512, "five5", 5, &want);
  assert_int_equal(store_blob_put(f->s, "a", "five5", 5, &want, &got, &e), WH_OK);
  assert_true(wh_digest_eq(&want, &got));
  assert_int_equal(store_blob_stat(f->s, "a", &want, &size, &e), WH_OK);
  blob_path(f, &want, path, sizeof(path));
  assert_int_equal(access(path, F_OK), 0);
  assert_clean(f->s);
}

static void test_repo_isolation_mount_unlink(void **state)
{
  struct fixture *f = *state;
  struct wh_digest d = put_blob(f->s, "a", "shared"), unknown = digest_of("never stored");
  uint64_t size;
  struct wh_err e;
  int fd = -1;

  assert_int_equal(store_blob_stat(f->s, "b", &d, &size, &e), WH_ENOTFOUND);
  assert_int_equal(store_blob_open(f->s, "b", &d, &fd, &size, &e), WH_ENOTFOUND);
  assert_int_equal(fd, -1);
  assert_int_equal(store_blob_mount(f->s, "b", &d, "c", &e), WH_ENOTFOUND);
  assert_int_equal(store_blob_mount(f->s, "b", &unknown, NULL, &e), WH_ENOTFOUND);
  assert_int_equal(store_blob_mount(f->s, "b", &d, "a", &e), WH_OK);
  assert_int_equal(store_blob_stat(f->s, "b", &d, &size, &e), WH_OK);
  assert_int_equal(size, 6);
  assert_int_equal(store_blob_mount(f->s, "c", &d, NULL, &e), WH_OK);
  assert_int_equal(store_blob_stat(f->s, "c", &d, &size, &e), WH_OK);
  assert_int_equal(store_blob_unlink(f->s, "b", &d, &e), WH_OK);
  assert_int_equal(store_blob_stat(f->s, "b", &d, &size, &e), WH_ENOTFOUND);
  assert_int_equal(store_blob_unlink(f->s, "b", &d, &e), WH_ENOTFOUND);
  assert_int_equal(store_blob_unlink(f->s, "zz", &d, &e), WH_ENOTFOUND);
  assert_int_equal(store_blob_stat(f->s, "a", &d, &size, &e), WH_OK);
  assert_int_equal(store_blob_stat(f->s, NULL, &d, &size, &e), WH_OK);
  assert_int_equal(store_blob_mount(f->s, "bad name", &d, "a", &e), WH_EINVALID);
  assert_clean(f->s);
}

/* ---- uploads ----------------------------------------------------------- */

static struct store_upload *get_upload(struct store *s, const char *repo, const char *id)
{
  struct store_upload *u = NULL;
  struct wh_err e;

  assert_int_equal(store_upload_get(s, repo, id, &u, &e), WH_OK);
  assert_non_null(u);
  return u;
}

static void write_upload(struct store_upload *u, const char *text)
{
  struct wh_err e;

  assert_int_equal(store_upload_write(u, text, strlen(text), &e), WH_OK);
}

static void test_upload_chunks(void **state)
{
  struct fixture *f = *state;
  char id[STORE_UPLOAD_ID_LEN + 1];
  struct wh_digest want = digest_of("hello, world");
  struct store_upload *u;
  uint64_t size = 0;
  struct wh_err e;

  assert_int_equal(store_upload_start(f->s, "a", id, &e), WH_OK);
  assert_int_equal(strlen(id), STORE_UPLOAD_ID_LEN);
  u = get_upload(f->s, "a", id);
  assert_string_equal(store_upload_id(u), id);
  assert_int_equal(store_upload_size(u), 0);
  write_upload(u, "hello");
  store_upload_release(u);
  u = get_upload(f->s, "a", id);
  assert_int_equal(store_upload_size(u), 5);
  write_upload(u, ", ");
  write_upload(u, "world");
  assert_int_equal(store_upload_finish(u, &want, &size, &e), WH_OK);
  assert_int_equal(size, 12);
  assert_int_equal(store_blob_stat(f->s, "a", &want, &size, &e), WH_OK);
  assert_int_equal(size, 12);
  assert_int_equal(store_upload_get(f->s, "a", id, &u, &e), WH_ENOTFOUND);
  assert_int_equal(files_under(f, "uploads"), 0);
  store_upload_release(NULL);
  assert_clean(f->s);
}

static void test_upload_sha512(void **state)
{
  struct fixture *f = *state;
  char id[STORE_UPLOAD_ID_LEN + 1];
  struct wh_digest want, wrong;
  struct store_upload *u;
  uint64_t size;
  struct wh_err e;

  wh_digest_buf(WH_DIGEST_SHA512, "sixty-four", 10, &want);
  assert_int_equal(store_upload_start(f->s, "a", id, &e), WH_OK);
  u = get_upload(f->s, "a", id);
  write_upload(u, "sixty-four");
  assert_int_equal(store_upload_finish(u, &want, NULL, &e), WH_OK);
  assert_int_equal(store_blob_stat(f->s, "a", &want, &size, &e), WH_OK);
  assert_int_equal(size, 10);
  /* wrong sha512 */
  wh_digest_buf(WH_DIGEST_SHA512, "other", 5, &wrong);
  assert_int_equal(store_upload_start(f->s, "a", id, &e), WH_OK);
  u = get_upload(f->s, "a", id);
  write_upload(u, "sixty-five");
  assert_int_equal(store_upload_finish(u, &wrong, NULL, &e), WH_EDIGEST);
  assert_int_equal(store_blob_stat(f->s, NULL, &wrong, &size, &e), WH_ENOTFOUND);
  assert_int_equal(store_upload_get(f->s, "a", id, &u, &e), WH_ENOTFOUND);
  assert_clean(f->s);
}

static void test_upload_wrong_digest(void **state)
{
  struct fixture *f = *state;
  char id[STORE_UPLOAD_ID_LEN + 1];
  struct wh_digest wrong = digest_of("not this"), actual = digest_of("this");
  struct store_upload *u;
  uint64_t size;
  struct wh_err e;

  assert_int_equal(store_upload_start(f->s, "a", id, &e), WH_OK);
  u = get_upload(f->s, "a", id);
  write_upload(u, "this");
  assert_int_equal(store_upload_finish(u, &wrong, &size, &e), WH_EDIGEST);
  assert_non_null(strstr(e.msg, actual.str));
  assert_int_equal(store_blob_stat(f->s, NULL, &wrong, &size, &e), WH_ENOTFOUND);
  assert_int_equal(store_blob_stat(f->s, NULL, &actual, &size, &e), WH_ENOTFOUND);
  assert_int_equal(store_upload_get(f->s, "a", id, &u, &e), WH_ENOTFOUND);
  assert_int_equal(files_under(f, "uploads"), 0);
  assert_int_equal(files_under(f, "blobs"), 0);
  assert_clean(f->s);
}

static void test_upload_cancel_conflict_repo(void **state)
{
  struct fixture *f = *state;
  char id[STORE_UPLOAD_ID_LEN + 1];
  struct store_upload *u, *u2 = NULL;
  struct wh_err e;

  assert_int_equal(store_upload_start(f->s, "a", id, &e), WH_OK);
  assert_int_equal(files_under(f, "uploads"), 1);
  u = get_upload(f->s, "a", id);
  assert_int_equal(store_upload_get(f->s, "a", id, &u2, &e), WH_ECONFLICT);
  assert_null(u2);
  assert_int_equal(store_upload_cancel(f->s, "a", id, &e), WH_ECONFLICT);
  write_upload(u, "abc");
  store_upload_release(u);
  /* other repository, bad ids */
  assert_int_equal(store_upload_get(f->s, "b", id, &u2, &e), WH_ENOTFOUND);
  assert_int_equal(store_upload_get(f->s, "a", "../../index.db", &u2, &e), WH_ENOTFOUND);
  assert_int_equal(store_upload_get(f->s, "a", "0123456789abcdef0123456789abcdef", &u2, &e), WH_ENOTFOUND);
  assert_int_equal(store_upload_cancel(f->s, "b", id, &e), WH_ENOTFOUND);
  u = get_upload(f->s, "a", id);
  assert_int_equal(store_upload_size(u), 3);
  store_upload_release(u);
  assert_int_equal(store_upload_cancel(f->s, "a", id, &e), WH_OK);
  assert_int_equal(store_upload_get(f->s, "a", id, &u2, &e), WH_ENOTFOUND);
  assert_int_equal(store_upload_cancel(f->s, "a", id, &e), WH_ENOTFOUND);
  assert_int_equal(files_under(f, "uploads"), 0);
  assert_clean(f->s);
}

static void test_upload_max_size(void **state)
{
  struct fixture *f = *state;
  char id[STORE_UPLOAD_ID_LEN + 1];
  struct wh_digest want = digest_of("12345678");
  struct store_upload *u;
  struct wh_err e;

  store_set_max_blob_size(f->s, 10);
  assert_int_equal(store_upload_start(f->s, "a", id, &e), WH_OK);
  u = get_upload(f->s, "a", id);
  write_upload(u, "12345678");
  assert_int_equal(store_upload_write(u, "abcde", 5, &e), WH_ETOOBIG);
  assert_int_equal(store_upload_size(u), 8);
  assert_int_equal(store_upload_finish(u, &want, NULL, &e), WH_OK);
  assert_int_equal(store_blob_put(f->s, "a", "0123456789a", 11, NULL, NULL, &e), WH_ETOOBIG);
  assert_clean(f->s);
}

static void test_upload_survives_restart(void **state)
{
  struct fixture *f = *state;
  char id[STORE_UPLOAD_ID_LEN + 1];
  struct wh_digest want = digest_of("before-after");
  struct store_upload *u;
  struct wh_err e;

  assert_int_equal(store_upload_start(f->s, "a", id, &e), WH_OK);
  u = get_upload(f->s, "a", id);
  write_upload(u, "before-");
  store_upload_release(u);
  reopen(f); /* the running hash is lost: get re-hashes the file */
  u = get_upload(f->s, "a", id);
  assert_int_equal(store_upload_size(u), 7);
  write_upload(u, "after");
  assert_int_equal(store_upload_finish(u, &want, NULL, &e), WH_OK);
  assert_clean(f->s);
}

static void test_upload_purge(void **state)
{
  struct fixture *f = *state;
  char id_old[STORE_UPLOAD_ID_LEN + 1], id_new[STORE_UPLOAD_ID_LEN + 1], id_busy[STORE_UPLOAD_ID_LEN + 1];
  char path[256], sql[256];
  struct timespec old[2] = {{.tv_sec = time(NULL) - 7200}, {.tv_sec = time(NULL) - 7200}};
  struct store_upload *u, *busy;
  uint64_t n = 99;
  struct wh_err e;
  int fd;

  assert_int_equal(store_upload_start(f->s, "a", id_old, &e), WH_OK);
  assert_int_equal(store_upload_start(f->s, "a", id_new, &e), WH_OK);
  assert_int_equal(store_upload_start(f->s, "a", id_busy, &e), WH_OK);
  busy = get_upload(f->s, "a", id_busy);
  assert_int_equal(store_upload_purge(f->s, 3600, &n, &e), WH_OK);
  assert_int_equal(n, 0);
  /* age two sessions and plant an old stray temp file */
  snprintf(sql, sizeof(sql), "UPDATE uploads SET created = created - 7200 WHERE id IN ('%s', '%s')", id_old,
           id_busy);
  sql_exec(f, sql);
  snprintf(path, sizeof(path), "%s/uploads/%s", f->dir, id_old);
  assert_int_equal(utimensat(AT_FDCWD, path, old, 0), 0);
  snprintf(path, sizeof(path), "%s/uploads/%s", f->dir, id_busy);
  assert_int_equal(utimensat(AT_FDCWD, path, old, 0), 0);
  snprintf(path, sizeof(path), "%s/uploads/tmp-stray", f->dir);
  fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
  assert_true(fd >= 0);
  close(fd);
  assert_int_equal(utimensat(AT_FDCWD, path, old, 0), 0);
  assert_int_equal(store_upload_purge(f->s, 3600, &n, &e), WH_OK);
  assert_int_equal(n, 2); /* id_old and the stray; id_busy has a handle */
  assert_int_equal(store_upload_get(f->s, "a", id_old, &u, &e), WH_ENOTFOUND);
  assert_int_equal(access(path, F_OK), -1);
  u = get_upload(f->s, "a", id_new);
  store_upload_release(u);
  write_upload(busy, "still here");
  store_upload_release(busy);
  assert_int_equal(files_under(f, "uploads"), 2);
  assert_clean(f->s);
}

/* ---- manifests --------------------------------------------------------- */

static void test_manifest_put_get(void **state)
{
  struct fixture *f = *state;
  struct wh_digest c = put_blob(f->s, "app", "{}"), l = put_blob(f->s, "app", "L"), d, d2, by_digest;
  struct wh_digest missing = digest_of("missing layer"), wrong = digest_of("wrong");
  char *body = image_json(&c, &l, MT_LAYER, NULL, NULL, NULL, NULL);
  char *body_missing = image_json(&c, &l, MT_LAYER, &missing, NULL, NULL, NULL);
  char *body_nd = image_json(&c, &missing, WH_MT_OCI_LAYER_ND_GZIP, NULL, NULL, NULL, NULL);
  struct store_manifest m;
  char buf[4096];
  struct wh_err e;
  int fd = -1;
  ssize_t n;

  assert_int_equal(put_manifest(f->s, "app", body, "v1", &d), WH_OK);
  assert_int_equal(store_manifest_get(f->s, "app", "v1", &m, &fd, &e), WH_OK);
  assert_true(wh_digest_eq(&m.digest, &d));
  assert_string_equal(m.media_type, WH_MT_OCI_MANIFEST);
  assert_int_equal(m.size, strlen(body));
  n = read(fd, buf, sizeof(buf));
  close(fd);
  assert_int_equal(n, (ssize_t)strlen(body));
  assert_memory_equal(buf, body, (size_t)n);
  assert_int_equal(store_manifest_get(f->s, "app", d.str, &m, NULL, &e), WH_OK);
  assert_true(wh_digest_eq(&m.digest, &d));
  assert_int_equal(store_manifest_get(f->s, "app", "v2", &m, NULL, &e), WH_ENOTFOUND);
  assert_int_equal(store_manifest_get(f->s, "other", "v1", &m, NULL, &e), WH_ENOTFOUND);
  assert_int_equal(store_manifest_get(f->s, "app", wrong.str, &m, NULL, &e), WH_ENOTFOUND);
  /* missing layer: refused, names the digest, leaves nothing behind */
  assert_int_equal(put_manifest_full(f->s, "app", body_missing, "v2", 0, NULL, &d2, &e), WH_ENOTFOUND);
  assert_non_null(strstr(e.msg, missing.str));
  wh_digest_buf(WH_DIGEST_SHA256, body_missing, strlen(body_missing), &d2);
  assert_int_equal(store_blob_stat(f->s, NULL, &d2, NULL, &e), WH_ENOTFOUND);
  /* a layer in another repository does not count */
  assert_int_equal(put_manifest(f->s, "other", body, NULL, &d2), WH_ENOTFOUND);
  /* non-distributable layers need not be there */
  assert_int_equal(put_manifest(f->s, "app", body_nd, "nd", &d2), WH_OK);
  /* pushed by digest: must match; the algorithm of the given digest is used */
  assert_int_equal(put_manifest_full(f->s, "app", body, NULL, 0, &wrong, &d2, &e), WH_EDIGEST);
  wh_digest_buf(WH_DIGEST_SHA512, body, strlen(body), &by_digest);
  assert_int_equal(put_manifest_full(f->s, "app", body, "v512", 0, &by_digest, &d2, &e), WH_OK);
  assert_true(wh_digest_eq(&d2, &by_digest));
  assert_int_equal(store_manifest_get(f->s, "app", "v512", &m, NULL, &e), WH_OK);
  assert_int_equal(m.digest.alg, WH_DIGEST_SHA512);
  /* idempotent re-put */
  assert_int_equal(put_manifest(f->s, "app", body, "v1", &d2), WH_OK);
  assert_true(wh_digest_eq(&d, &d2));
  free(body);
  free(body_missing);
  free(body_nd);
  assert_clean(f->s);
}

static void test_manifest_index(void **state)
{
  struct fixture *f = *state;
  struct wh_digest a = push_image(f->s, "app", "amd64", NULL), b = digest_of("not pushed yet"), d;
  char *idx = index_json(&a, &b);
  struct store_manifest m;
  struct wh_err e;

  assert_int_equal(put_manifest(f->s, "app", idx, "multi", &d), WH_ENOTFOUND);
  assert_int_equal(put_manifest_full(f->s, "app", idx, "multi", STORE_MANIFEST_SPARSE_INDEX, NULL, &d, &e),
                   WH_OK);
  assert_int_equal(store_manifest_get(f->s, "app", "multi", &m, NULL, &e), WH_OK);
  assert_string_equal(m.media_type, WH_MT_OCI_INDEX);
  free(idx);
  b = push_image(f->s, "app", "arm64", NULL);
  idx = index_json(&a, &b);
  assert_int_equal(put_manifest(f->s, "app", idx, "multi", &d), WH_OK);
  /* the same index in another repository lacks its children */
  assert_int_equal(put_manifest(f->s, "elsewhere", idx, NULL, &d), WH_ENOTFOUND);
  free(idx);
  assert_clean(f->s);
}

struct refs_seen {
  int n;
  char types[4][128];
  char notes[4][128];
};

static int on_referrer(void *ctx, const struct store_referrer *r)
{
  struct refs_seen *seen = ctx;

  if (seen->n < 4) {
    snprintf(seen->types[seen->n], 128, "%s", r->artifact_type ? r->artifact_type : "");
    snprintf(seen->notes[seen->n], 128, "%s", r->annotations_json ? r->annotations_json : "");
  }
  seen->n++;
  return 0;
}

static void test_referrers(void **state)
{
  struct fixture *f = *state;
  struct wh_digest subject = digest_of("subject manifest (never pushed)");
  struct wh_digest c = put_blob(f->s, "app", "{}"), l = put_blob(f->s, "app", "sig"), d1, d2;
  char *sbom = image_json(&c, &l, MT_LAYER, NULL, "application/vnd.example.sbom", &subject, "sbom");
  char *sig = image_json(&c, &l, MT_LAYER, NULL, "application/vnd.example.sig", &subject, "sig");
  struct refs_seen seen = {0};
  struct wh_err e;

  assert_int_equal(put_manifest(f->s, "app", sbom, NULL, &d1), WH_OK);
  assert_int_equal(put_manifest(f->s, "app", sig, NULL, &d2), WH_OK);
  assert_int_equal(store_referrers(f->s, "app", &subject, NULL, on_referrer, &seen, &e), WH_OK);
  assert_int_equal(seen.n, 2);
  memset(&seen, 0, sizeof(seen));
  assert_int_equal(
      store_referrers(f->s, "app", &subject, "application/vnd.example.sig", on_referrer, &seen, &e), WH_OK);
  assert_int_equal(seen.n, 1);
  assert_string_equal(seen.types[0], "application/vnd.example.sig");
  assert_non_null(strstr(seen.notes[0], "\"note\""));
  memset(&seen, 0, sizeof(seen));
  assert_int_equal(store_referrers(f->s, "other", &subject, NULL, on_referrer, &seen, &e), WH_OK);
  assert_int_equal(seen.n, 0);
  assert_int_equal(store_referrers(f->s, "app", &c, NULL, on_referrer, &seen, &e), WH_OK);
  assert_int_equal(seen.n, 0);
  free(sbom);
  free(sig);
  assert_clean(f->s);
}

/* ---- tags and history -------------------------------------------------- */

struct moves {
  int n;
  struct store_tag_move m[16];
  char who[16][32];
};

static int on_move(void *ctx, const struct store_tag_move *m)
{
  struct moves *mv = ctx;

  if (mv->n < 16) {
    mv->m[mv->n] = *m;
    snprintf(mv->who[mv->n], 32, "%s", m->who ? m->who : "(null)");
  }
  mv->n++;
  return 0;
}

static void test_tag_history(void **state)
{
  struct fixture *f = *state;
  struct wh_digest a = push_image(f->s, "app", "a", "latest"), b = push_image(f->s, "app", "b", NULL);
  struct wh_digest unknown = digest_of("nope");
  struct store_manifest m;
  struct moves mv = {0};
  struct wh_err e;

  assert_int_equal(store_tag_set(f->s, "app", "latest", &b, "alice", &e), WH_OK);
  assert_int_equal(store_tag_set(f->s, "app", "latest", &b, "alice", &e), WH_OK); /* no move */
  assert_int_equal(store_tag_set(f->s, "app", "latest", &unknown, "alice", &e), WH_ENOTFOUND);
  assert_int_equal(store_tag_set(f->s, "app", "bad tag", &a, "alice", &e), WH_EINVALID);
  assert_int_equal(store_tag_set(f->s, "none", "latest", &a, "alice", &e), WH_ENOTFOUND);
  assert_int_equal(store_manifest_get(f->s, "app", "latest", &m, NULL, &e), WH_OK);
  assert_true(wh_digest_eq(&m.digest, &b));
  assert_int_equal(store_tag_delete(f->s, "app", "latest", "bob", &e), WH_OK);
  assert_int_equal(store_tag_delete(f->s, "app", "latest", "bob", &e), WH_ENOTFOUND);
  assert_int_equal(store_manifest_get(f->s, "app", "latest", &m, NULL, &e), WH_ENOTFOUND);
  assert_int_equal(store_manifest_get(f->s, "app", b.str, &m, NULL, &e), WH_OK);

  assert_int_equal(store_tag_history(f->s, "app", "latest", 0, 0, on_move, &mv, &e), WH_OK);
  assert_int_equal(mv.n, 3);
  /* newest first: delete, move, create */
  assert_true(mv.m[0].has_old && !mv.m[0].has_new);
  assert_true(wh_digest_eq(&mv.m[0].old_digest, &b));
  assert_string_equal(mv.who[0], "bob");
  assert_true(mv.m[1].has_old && mv.m[1].has_new);
  assert_true(wh_digest_eq(&mv.m[1].old_digest, &a));
  assert_true(wh_digest_eq(&mv.m[1].new_digest, &b));
  assert_string_equal(mv.who[1], "alice");
  assert_true(!mv.m[2].has_old && mv.m[2].has_new);
  assert_true(wh_digest_eq(&mv.m[2].new_digest, &a));
  assert_string_equal(mv.who[2], "tester");
  assert_true(mv.m[0].id > mv.m[1].id && mv.m[1].id > mv.m[2].id);
  assert_true(mv.m[0].time_ms >= mv.m[2].time_ms && mv.m[2].time_ms > 1600000000000);
  /* paging */
  int64_t before = mv.m[0].id;
  memset(&mv, 0, sizeof(mv));
  assert_int_equal(store_tag_history(f->s, "app", "latest", before, 1, on_move, &mv, &e), WH_OK);
  assert_int_equal(mv.n, 1);
  assert_true(mv.m[0].id < before && mv.m[0].has_old && mv.m[0].has_new);
  memset(&mv, 0, sizeof(mv));
  assert_int_equal(store_tag_history(f->s, "app", "never", 0, 0, on_move, &mv, &e), WH_OK);
  assert_int_equal(mv.n, 0);
  assert_int_equal(store_tag_history(f->s, "none", "latest", 0, 0, on_move, &mv, &e), WH_ENOTFOUND);
  assert_clean(f->s);
}

static void test_manifest_delete(void **state)
{
  struct fixture *f = *state;
  struct wh_digest a = push_image(f->s, "app", "a", "v1"), b = push_image(f->s, "app", "b", "keep");
  struct store_manifest m;
  struct moves mv = {0};
  struct wh_err e;

  assert_int_equal(store_tag_set(f->s, "app", "v2", &a, NULL, &e), WH_OK);
  assert_int_equal(store_manifest_delete(f->s, "app", &a, "carol", &e), WH_OK);
  assert_int_equal(store_manifest_get(f->s, "app", "v1", &m, NULL, &e), WH_ENOTFOUND);
  assert_int_equal(store_manifest_get(f->s, "app", "v2", &m, NULL, &e), WH_ENOTFOUND);
  assert_int_equal(store_manifest_get(f->s, "app", a.str, &m, NULL, &e), WH_ENOTFOUND);
  assert_int_equal(store_manifest_get(f->s, "app", "keep", &m, NULL, &e), WH_OK);
  assert_true(wh_digest_eq(&m.digest, &b));
  assert_int_equal(store_manifest_delete(f->s, "app", &a, "carol", &e), WH_ENOTFOUND);
  assert_int_equal(store_manifest_delete(f->s, "none", &a, "carol", &e), WH_ENOTFOUND);
  assert_int_equal(store_tag_history(f->s, "app", "v2", 0, 0, on_move, &mv, &e), WH_OK);
  assert_int_equal(mv.n, 2);
  assert_true(mv.m[0].has_old && !mv.m[0].has_new);
  assert_string_equal(mv.who[0], "carol");
  assert_string_equal(mv.who[1], "(null)");
  /* the bytes stay until GC; pushing again restores it */
  assert_int_equal(store_blob_stat(f->s, NULL, &a, NULL, &e), WH_OK);
  assert_int_equal(store_tag_set(f->s, "app", "v1", &a, NULL, &e), WH_ENOTFOUND);
  assert_clean(f->s);
}

struct names {
  int n, stop_after;
  char v[8][64];
};

static int on_name(void *ctx, const char *name)
{
  struct names *l = ctx;

  if (l->n < 8)
    snprintf(l->v[l->n], 64, "%s", name);
  l->n++;
  return l->stop_after && l->n >= l->stop_after;
}

static void test_tag_list(void **state)
{
  struct fixture *f = *state;
  const char *tags[] = {"c", "a1", "B", "a", "_x"};
  struct wh_digest d = push_image(f->s, "app", "t", NULL);
  struct names l = {0};
  bool more = false;
  struct wh_err e;

  for (size_t i = 0; i < 5; i++)
    assert_int_equal(store_tag_set(f->s, "app", tags[i], &d, NULL, &e), WH_OK);
  assert_int_equal(store_tag_list(f->s, "app", NULL, 2, on_name, &l, &more, &e), WH_OK);
  assert_int_equal(l.n, 2);
  assert_string_equal(l.v[0], "B");
  assert_string_equal(l.v[1], "_x");
  assert_true(more);
  memset(&l, 0, sizeof(l));
  assert_int_equal(store_tag_list(f->s, "app", "_x", 2, on_name, &l, &more, &e), WH_OK);
  assert_int_equal(l.n, 2);
  assert_string_equal(l.v[0], "a");
  assert_string_equal(l.v[1], "a1");
  assert_true(more);
  memset(&l, 0, sizeof(l));
  assert_int_equal(store_tag_list(f->s, "app", "a1", 2, on_name, &l, &more, &e), WH_OK);
  assert_int_equal(l.n, 1);
  assert_string_equal(l.v[0], "c");
  assert_false(more);
  memset(&l, 0, sizeof(l));
  assert_int_equal(store_tag_list(f->s, "app", NULL, 5, on_name, &l, &more, &e), WH_OK);
  assert_int_equal(l.n, 5);
  assert_false(more);
  memset(&l, 0, sizeof(l));
  assert_int_equal(store_tag_list(f->s, "app", NULL, 0, on_name, &l, &more, &e), WH_OK);
  assert_int_equal(l.n, 5);
  assert_false(more);
  memset(&l, 0, sizeof(l));
  l.stop_after = 2;
  assert_int_equal(store_tag_list(f->s, "app", NULL, 0, on_name, &l, &more, &e), WH_OK);
  assert_int_equal(l.n, 2);
  assert_true(more);
  assert_int_equal(store_tag_list(f->s, "nope", NULL, 0, on_name, &l, NULL, &e), WH_ENOTFOUND);
}

static void test_repo_list(void **state)
{
  struct fixture *f = *state;
  char id[STORE_UPLOAD_ID_LEN + 1];
  struct names l = {0};
  bool more = true;
  struct wh_err e;

  push_image(f->s, "b/x", "1", "v");
  push_image(f->s, "a", "2", "v");
  put_blob(f->s, "c", "only a blob");
  assert_int_equal(store_upload_start(f->s, "d-empty", id, &e), WH_OK);
  assert_int_equal(store_repo_list(f->s, NULL, 0, on_name, &l, &more, &e), WH_OK);
  assert_int_equal(l.n, 3);
  assert_string_equal(l.v[0], "a");
  assert_string_equal(l.v[1], "b/x");
  assert_string_equal(l.v[2], "c");
  assert_false(more);
  memset(&l, 0, sizeof(l));
  assert_int_equal(store_repo_list(f->s, "a", 1, on_name, &l, &more, &e), WH_OK);
  assert_int_equal(l.n, 1);
  assert_string_equal(l.v[0], "b/x");
  assert_true(more);
}

/* ---- fsck -------------------------------------------------------------- */

static void test_fsck_clean_after_everything(void **state)
{
  struct fixture *f = *state;
  char id[STORE_UPLOAD_ID_LEN + 1];
  struct wh_digest a = push_image(f->s, "app", "a", "v1"), b = push_image(f->s, "app", "b", "v2");
  struct store_fsck_report r;
  struct wh_err e;

  assert_int_equal(store_tag_set(f->s, "app", "v1", &b, NULL, &e), WH_OK);
  assert_int_equal(store_manifest_delete(f->s, "app", &a, NULL, &e), WH_OK);
  assert_int_equal(store_upload_start(f->s, "app", id, &e), WH_OK); /* open session: not a problem */
  r = fsck(f->s, 0);
  assert_int_equal(r.problems, 0);
  assert_int_equal(r.blobs, 6); /* 2 configs, 2 layers, 2 manifests */
  assert_int_equal(r.manifests, 1);
}

static void test_fsck_detects_and_repairs(void **state)
{
  struct fixture *f = *state;
  struct wh_digest good = put_blob(f->s, "app", "good"), bad = put_blob(f->s, "app", "bad!");
  struct wh_digest gone = put_blob(f->s, "app", "gone");
  struct wh_digest img = push_image(f->s, "app", "img", "v1");
  struct store_fsck_report r;
  struct store_manifest m;
  char path[256];
  uint64_t size;
  struct wh_err e;
  int fd;

  /* corrupt one byte of `bad` (same size), delete `gone`, plant strays */
  blob_path(f, &bad, path, sizeof(path));
  assert_int_equal(chmod(path, 0644), 0);
  fd = open(path, O_WRONLY | O_CLOEXEC);
  assert_true(fd >= 0);
  assert_int_equal(pwrite(fd, "?", 1, 3), 1);
  close(fd);
  blob_path(f, &gone, path, sizeof(path));
  assert_int_equal(unlink(path), 0);
  snprintf(path, sizeof(path), "%s/blobs/sha256/zz", f->dir);
  fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
  assert_true(fd >= 0);
  close(fd);
  snprintf(path, sizeof(path), "%s/uploads/tmp-0123", f->dir);
  fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
  assert_true(fd >= 0);
  close(fd);

  r = fsck(f->s, 0);
  assert_int_equal(r.problems, 4);
  assert_int_equal(r.repaired, 0);
  r = fsck(f->s, STORE_FSCK_REPAIR);
  assert_int_equal(r.problems, 4);
  assert_int_equal(r.repaired, 4);
  assert_clean(f->s);
  assert_int_equal(store_blob_stat(f->s, "app", &bad, &size, &e), WH_ENOTFOUND);
  assert_int_equal(store_blob_stat(f->s, "app", &gone, &size, &e), WH_ENOTFOUND);
  assert_int_equal(store_blob_stat(f->s, "app", &good, &size, &e), WH_OK);
  assert_int_equal(store_manifest_get(f->s, "app", "v1", &m, NULL, &e), WH_OK);
  assert_true(wh_digest_eq(&m.digest, &img));
  assert_int_equal(access(path, F_OK), -1);
  /* pushing the lost blob again works */
  put_blob(f->s, "app", "gone");
  assert_clean(f->s);
}

static void test_fsck_broken_manifest_blob(void **state)
{
  struct fixture *f = *state;
  struct wh_digest img = push_image(f->s, "app", "img", "v1");
  struct store_fsck_report r;
  struct store_manifest m;
  struct moves mv = {0};
  char path[256];
  struct wh_err e;

  blob_path(f, &img, path, sizeof(path));
  assert_int_equal(unlink(path), 0);
  r = fsck(f->s, STORE_FSCK_REPAIR);
  assert_int_equal(r.problems, 1);
  assert_int_equal(r.repaired, 1);
  assert_int_equal(store_manifest_get(f->s, "app", "v1", &m, NULL, &e), WH_ENOTFOUND);
  assert_int_equal(store_tag_history(f->s, "app", "v1", 0, 0, on_move, &mv, &e), WH_OK);
  assert_int_equal(mv.n, 2);
  assert_string_equal(mv.who[0], "fsck");
  assert_clean(f->s);
}

static void test_fsck_orphan_and_dangling(void **state)
{
  struct fixture *f = *state;
  struct wh_digest d = put_blob(f->s, "app", "orphan-to-be");
  struct store_fsck_report r;
  char sql[512];
  struct wh_err e;

  /* a complete file without its row (a crash after the rename) */
  snprintf(sql, sizeof(sql),
           "DELETE FROM repo_blobs WHERE digest = '%s'; DELETE FROM blobs WHERE digest = '%s'", d.str, d.str);
  sql_exec(f, sql);
  assert_int_equal(store_blob_stat(f->s, NULL, &d, NULL, &e), WH_ENOTFOUND);
  /* an upload session whose file is gone, a tag and link to nothing */
  sql_exec(f, "INSERT INTO uploads(id, repo_id, created) VALUES ('0123456789abcdef0123456789abcdef', 1, 0)");
  sql_exec(f, "PRAGMA foreign_keys = OFF; INSERT INTO repo_blobs(repo_id, digest, created) VALUES (1, "
              "'sha256:0000000000000000000000000000000000000000000000000000000000000000', 0)");
  r = fsck(f->s, 0);
  assert_int_equal(r.problems, 3);
  r = fsck(f->s, STORE_FSCK_REPAIR);
  assert_int_equal(r.repaired, 3);
  assert_int_equal(store_blob_stat(f->s, NULL, &d, NULL, &e), WH_OK);
  assert_clean(f->s);
}

/* ---- concurrency ------------------------------------------------------- */

struct hammer {
  struct store *s;
  struct wh_digest a, b;
  int writer_failures, reader_failures, reads;
  int done; /* __atomic */
};

static void *writer(void *arg)
{
  struct hammer *h = arg;
  struct wh_err e;

  for (int i = 0; i < 50; i++)
    if (store_tag_set(h->s, "app", "t", i % 2 ? &h->a : &h->b, "writer", &e) != WH_OK)
      __atomic_add_fetch(&h->writer_failures, 1, __ATOMIC_RELAXED);
  return NULL;
}

static void *reader(void *arg)
{
  struct hammer *h = arg;
  struct store_manifest m;
  struct wh_err e;

  while (!__atomic_load_n(&h->done, __ATOMIC_ACQUIRE)) {
    int fd = -1;
    if (store_manifest_get(h->s, "app", "t", &m, &fd, &e) != WH_OK ||
        !(wh_digest_eq(&m.digest, &h->a) || wh_digest_eq(&m.digest, &h->b)))
      __atomic_add_fetch(&h->reader_failures, 1, __ATOMIC_RELAXED);
    if (fd >= 0)
      close(fd);
    __atomic_add_fetch(&h->reads, 1, __ATOMIC_RELAXED);
  }
  return NULL;
}

struct chain {
  int n, broken;
  struct wh_digest prev_old;
  bool have_prev;
};

static int on_chain(void *ctx, const struct store_tag_move *m)
{
  struct chain *c = ctx;

  /* newest first: this move's new digest is the old digest of the next-newer one */
  if (c->have_prev && !(m->has_new && wh_digest_eq(&m->new_digest, &c->prev_old)))
    c->broken++;
  if (m->has_old && m->has_new && wh_digest_eq(&m->old_digest, &m->new_digest))
    c->broken++;
  c->have_prev = m->has_old;
  if (m->has_old)
    c->prev_old = m->old_digest;
  c->n++;
  return 0;
}

static void test_threads_hammer_one_tag(void **state)
{
  struct fixture *f = *state;
  struct hammer h = {.s = f->s};
  pthread_t w[2], r[2];
  struct chain c = {0};
  struct wh_err e;

  h.a = push_image(f->s, "app", "a", "t");
  h.b = push_image(f->s, "app", "b", NULL);
  for (int i = 0; i < 2; i++)
    assert_int_equal(pthread_create(&r[i], NULL, reader, &h), 0);
  for (int i = 0; i < 2; i++)
    assert_int_equal(pthread_create(&w[i], NULL, writer, &h), 0);
  for (int i = 0; i < 2; i++)
    pthread_join(w[i], NULL);
  __atomic_store_n(&h.done, 1, __ATOMIC_RELEASE);
  for (int i = 0; i < 2; i++)
    pthread_join(r[i], NULL);
  assert_int_equal(h.writer_failures, 0);
  assert_int_equal(h.reader_failures, 0);
  assert_true(h.reads > 0);
  assert_int_equal(store_tag_history(f->s, "app", "t", 0, 0, on_chain, &c, &e), WH_OK);
  assert_int_equal(c.broken, 0);
  assert_true(c.n >= 2 && c.n <= 101);
  assert_clean(f->s);
}

/* Two stores (as two processes would) on one root, pushing at once. */
static void *pusher(void *arg)
{
  struct store *s = arg;
  char text[32];
  struct wh_err e;

  for (int i = 0; i < 20; i++) {
    snprintf(text, sizeof(text), "blob %d", i);
    store_blob_put(s, "shared", text, strlen(text), NULL, NULL, &e);
  }
  return NULL;
}

static void test_two_stores_one_root(void **state)
{
  struct fixture *f = *state;
  struct store *other = NULL;
  pthread_t t[2];
  struct store_fsck_report r;
  struct wh_err e;

  assert_int_equal(store_open(f->dir, 0, &other, &e), WH_OK);
  assert_int_equal(pthread_create(&t[0], NULL, pusher, f->s), 0);
  assert_int_equal(pthread_create(&t[1], NULL, pusher, other), 0);
  pthread_join(t[0], NULL);
  pthread_join(t[1], NULL);
  assert_int_equal(store_fsck(other, 0, NULL, NULL, &r, &e), WH_OK);
  assert_int_equal(r.problems, 0);
  assert_int_equal(r.blobs, 20);
  store_free(other);
}

/* ---- faults ------------------------------------------------------------ */

static void test_enospc_leaves_nothing(void **state)
{
  struct fixture *f = *state;
  struct store *s = NULL;
  char id[STORE_UPLOAD_ID_LEN + 1];
  struct wh_digest d = digest_of("no room");
  struct store_upload *u;
  uint64_t size;
  struct wh_err e;

  setenv("WHARF_FAULT", "enospc-write", 1);
  assert_int_equal(store_open(f->dir, 0, &s, &e), WH_OK);
  unsetenv("WHARF_FAULT");
  assert_int_equal(store_blob_put(s, "a", "no room", 7, NULL, NULL, &e), WH_EIO);
  assert_int_equal(e.sys_errno, ENOSPC);
  assert_int_equal(store_blob_stat(s, NULL, &d, &size, &e), WH_ENOTFOUND);
  assert_int_equal(store_upload_start(s, "a", id, &e), WH_OK);
  assert_int_equal(store_upload_get(s, "a", id, &u, &e), WH_OK);
  assert_int_equal(store_upload_write(u, "no room", 7, &e), WH_EIO);
  assert_int_equal(store_upload_size(u), 0);
  assert_int_equal(store_upload_finish(u, &d, NULL, &e), WH_EDIGEST);
  assert_int_equal(store_blob_stat(s, NULL, &d, &size, &e), WH_ENOTFOUND);
  assert_int_equal(files_under(f, "blobs"), 0);
  assert_int_equal(files_under(f, "uploads"), 0);
  assert_int_equal(store_fsck(s, 0, NULL, NULL, NULL, &e), WH_OK);
  store_free(s);
  assert_clean(f->s);
}

enum crash_path { CRASH_BLOB_PUT, CRASH_UPLOAD, CRASH_MANIFEST };

/* Child: open the store with WHARF_FAULT=fault and store "crash me" (or a
 * manifest); it must die of SIGKILL. */
static void crash_child(const char *dir, const char *fault, enum crash_path path, const char *upload_id)
{
  struct store *s = NULL;
  struct store_upload *u = NULL;
  struct wh_digest d = digest_of("crash me");
  struct wh_err e;

  setenv("WHARF_FAULT", fault, 1);
  if (store_open(dir, 0, &s, &e) != WH_OK)
    _exit(3);
  if (path == CRASH_BLOB_PUT) {
    store_blob_put(s, "a", "crash me", 8, NULL, NULL, &e);
  } else if (path == CRASH_UPLOAD) {
    if (store_upload_get(s, "a", upload_id, &u, &e) != WH_OK)
      _exit(4);
    store_upload_finish(u, &d, NULL, &e);
  } else { /* its blobs were pushed by the parent */
    struct wh_digest c = digest_of("{}crash"), l = digest_of("layer-crash");
    char *body = image_json(&c, &l, MT_LAYER, NULL, NULL, NULL, "crash");
    put_manifest(s, "a", body, "v1", &d);
  }
  _exit(5); /* the fault did not fire */
}

/* What store_recover must report after a kill (the other counts are 0). */
struct crash_expect {
  uint64_t temp_removed, sessions_ended, blobs_registered;
};

/* Data acknowledged before the crash: an image tagged "ack" and a blob. */
struct acked {
  struct wh_digest image, blob;
};

static struct acked push_acked(struct fixture *f)
{
  struct acked a;

  a.image = push_image(f->s, "a", "acked", "ack");
  a.blob = put_blob(f->s, "a", "acked blob");
  return a;
}

static void assert_acked(struct fixture *f, const struct acked *a)
{
  struct store_manifest m;
  struct wh_digest got;
  uint64_t size, n;
  struct wh_err e;
  int fd = -1;

  assert_int_equal(store_manifest_get(f->s, "a", "ack", &m, &fd, &e), WH_OK);
  assert_true(wh_digest_eq(&m.digest, &a->image));
  assert_int_equal(wh_digest_fd(WH_DIGEST_SHA256, fd, &got, &n, &e), WH_OK);
  close(fd);
  assert_true(wh_digest_eq(&got, &a->image));
  assert_int_equal(n, m.size);
  assert_int_equal(store_blob_open(f->s, "a", &a->blob, &fd, &size, &e), WH_OK);
  assert_int_equal(wh_digest_fd(WH_DIGEST_SHA256, fd, &got, &n, &e), WH_OK);
  close(fd);
  assert_true(wh_digest_eq(&got, &a->blob));
}

/* After the kill: store_recover, then fsck must be clean without repair. */
static void recover_after_crash(struct fixture *f, enum crash_path path, const struct crash_expect *want)
{
  struct wh_digest d = digest_of("crash me");
  struct store_recover_report rep;
  uint64_t size;
  struct wh_err e;

  assert_int_equal(store_recover(f->s, &rep, &e), WH_OK);
  assert_int_equal(rep.temp_removed, want->temp_removed);
  assert_int_equal(rep.sessions_ended, want->sessions_ended);
  assert_int_equal(rep.blobs_registered, want->blobs_registered);
  assert_int_equal(rep.blobs_removed, 0);
  assert_clean(f->s);
  /* a registered blob was never acknowledged: no repository may read it */
  if (want->blobs_registered && path != CRASH_MANIFEST) {
    assert_int_equal(store_blob_stat(f->s, NULL, &d, &size, &e), WH_OK);
    assert_int_equal(size, 8);
    assert_int_equal(store_blob_stat(f->s, "a", &d, &size, &e), WH_ENOTFOUND);
  }
  assert_int_equal(store_recover(f->s, &rep, &e), WH_OK); /* nothing left to do */
  assert_int_equal(rep.temp_removed + rep.sessions_ended + rep.blobs_registered + rep.blobs_removed, 0);
}

static void crash_case_ex(struct fixture *f, const char *fault, enum crash_path path,
                          const struct crash_expect *recover)
{
  char id[STORE_UPLOAD_ID_LEN + 1] = "";
  struct wh_digest d = digest_of("crash me");
  struct acked acked = push_acked(f);
  struct store_upload *u;
  struct store_fsck_report r;
  struct store_manifest m;
  char p[256];
  uint64_t size;
  struct wh_err e;
  int status;
  pid_t pid;

  if (path == CRASH_UPLOAD) {
    assert_int_equal(store_upload_start(f->s, "a", id, &e), WH_OK);
    u = get_upload(f->s, "a", id);
    write_upload(u, "crash me");
    store_upload_release(u);
  } else if (path == CRASH_MANIFEST) {
    put_blob(f->s, "a", "{}crash");
    put_blob(f->s, "a", "layer-crash");
  }
  fflush(NULL);
  pid = fork();
  assert_true(pid >= 0);
  if (pid == 0)
    crash_child(f->dir, fault, path, id);
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFSIGNALED(status));
  assert_int_equal(WTERMSIG(status), SIGKILL);
  reopen(f);
  /* nothing half-visible: a visible blob has its complete file */
  if (store_blob_stat(f->s, NULL, &d, &size, &e) == WH_OK) {
    assert_int_equal(size, 8);
    blob_path(f, &d, p, sizeof(p));
    assert_int_equal(access(p, F_OK), 0);
  }
  if (path == CRASH_MANIFEST && store_manifest_get(f->s, "a", "v1", &m, NULL, &e) == WH_OK) {
    int fd = -1;
    assert_int_equal(store_manifest_get(f->s, "a", "v1", &m, &fd, &e), WH_OK);
    close(fd);
  }
  if (recover) {
    recover_after_crash(f, path, recover);
  } else {
    r = fsck(f->s, STORE_FSCK_REPAIR);
    assert_int_equal(r.problems, r.repaired);
    assert_clean(f->s);
  }
  assert_acked(f, &acked);
  /* and the push can simply be done again */
  if (path == CRASH_UPLOAD && store_upload_get(f->s, "a", id, &u, &e) == WH_OK) {
    assert_int_equal(store_upload_finish(u, &d, NULL, &e), WH_OK);
  } else if (path == CRASH_MANIFEST) {
    push_image(f->s, "a", "crash", "v1");
  } else {
    put_blob(f->s, "a", "crash me");
  }
  if (path != CRASH_MANIFEST)
    assert_int_equal(store_blob_stat(f->s, "a", &d, &size, &e), WH_OK);
  assert_clean(f->s);
  assert_acked(f, &acked);
}

static void crash_case(struct fixture *f, const char *fault, enum crash_path path)
{
  crash_case_ex(f, fault, path, NULL);
}

static void test_crash_blob_put_rename(void **state)
{
  crash_case(*state, "kill-before-rename", CRASH_BLOB_PUT);
}

static void test_crash_blob_put_renamed(void **state)
{
  crash_case(*state, "kill-after-rename", CRASH_BLOB_PUT);
}

static void test_crash_blob_put_commit(void **state)
{
  crash_case(*state, "kill-before-commit", CRASH_BLOB_PUT);
}

static void test_crash_upload_rename(void **state)
{
  crash_case(*state, "kill-before-rename", CRASH_UPLOAD);
}

static void test_crash_upload_renamed(void **state)
{
  crash_case(*state, "kill-after-rename", CRASH_UPLOAD);
}

static void test_crash_upload_commit(void **state)
{
  crash_case(*state, "kill-before-commit", CRASH_UPLOAD);
}

static void test_crash_manifest(void **state)
{
  crash_case(*state, "kill-before-commit", CRASH_MANIFEST);
}

/* The same kills, cleared by store_recover alone: fsck is then clean
 * without repair. */
static void test_recover_blob_put_rename(void **state)
{
  struct crash_expect want = {.temp_removed = 1}; /* uploads/tmp-... */

  crash_case_ex(*state, "kill-before-rename", CRASH_BLOB_PUT, &want);
}

static void test_recover_blob_put_renamed(void **state)
{
  struct crash_expect want = {.blobs_registered = 1};

  crash_case_ex(*state, "kill-after-rename", CRASH_BLOB_PUT, &want);
}

static void test_recover_blob_put_commit(void **state)
{
  struct crash_expect want = {.blobs_registered = 1};

  crash_case_ex(*state, "kill-before-commit", CRASH_BLOB_PUT, &want);
}

static void test_recover_upload_rename(void **state)
{
  struct crash_expect want = {0}; /* the session stays open, resumable */

  crash_case_ex(*state, "kill-before-rename", CRASH_UPLOAD, &want);
}

static void test_recover_upload_renamed(void **state)
{
  struct crash_expect want = {.sessions_ended = 1, .blobs_registered = 1};

  crash_case_ex(*state, "kill-after-rename", CRASH_UPLOAD, &want);
}

static void test_recover_upload_commit(void **state)
{
  struct crash_expect want = {.sessions_ended = 1, .blobs_registered = 1};

  crash_case_ex(*state, "kill-before-commit", CRASH_UPLOAD, &want);
}

static void test_recover_manifest(void **state)
{
  struct crash_expect want = {.blobs_registered = 1}; /* the manifest's bytes */

  crash_case_ex(*state, "kill-before-commit", CRASH_MANIFEST, &want);
}

static void write_file(struct fixture *f, const char *rel, const char *text)
{
  char path[384];
  int fd;

  snprintf(path, sizeof(path), "%s/%s", f->dir, rel);
  fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
  close(fd);
}

static bool exists(struct fixture *f, const char *rel)
{
  char path[384];

  snprintf(path, sizeof(path), "%s/%s", f->dir, rel);
  return access(path, F_OK) == 0;
}

/* Child: holds flock(LOCK_EX) on uploads/tmp-live (as a writer does) until
 * told to go; writes one byte to ready when it holds it. */
static void live_writer(struct fixture *f, int ready, int go)
{
  char path[128], c = 0;
  int fd;

  snprintf(path, sizeof(path), "%s/uploads/tmp-live", f->dir);
  fd = open(path, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0644);
  if (fd < 0 || flock(fd, LOCK_EX) != 0 || write(fd, "half", 4) != 4 || write(ready, &c, 1) != 1)
    _exit(1);
  if (read(go, &c, 1) < 0)
    _exit(2);
  _exit(0);
}

static void test_recover_uploads_respects_live_writers(void **state)
{
  struct fixture *f = *state;
  char id[STORE_UPLOAD_ID_LEN + 1], stray_session[64];
  struct store_recover_report rep;
  struct store_upload *u;
  int ready[2], go[2], status;
  struct wh_err e;
  char c;
  pid_t pid;

  assert_int_equal(store_upload_start(f->s, "a", id, &e), WH_OK); /* open, parked */
  u = get_upload(f->s, "a", id);
  write_upload(u, "kept");
  store_upload_release(u);
  write_file(f, "uploads/tmp-dead", "left by a kill");
  snprintf(stray_session, sizeof(stray_session), "uploads/%032x", 0xabcu); /* session name, no row */
  write_file(f, stray_session, "no row");
  assert_int_equal(pipe2(ready, O_CLOEXEC), 0);
  assert_int_equal(pipe2(go, O_CLOEXEC), 0);
  fflush(NULL);
  pid = fork();
  assert_true(pid >= 0);
  if (pid == 0)
    live_writer(f, ready[1], go[0]);
  assert_int_equal(read(ready[0], &c, 1), 1);
  assert_int_equal(store_recover(f->s, &rep, &e), WH_OK);
  assert_int_equal(rep.temp_removed, 2);
  assert_true(exists(f, "uploads/tmp-live")); /* its writer holds it */
  assert_false(exists(f, "uploads/tmp-dead"));
  assert_false(exists(f, stray_session));
  assert_int_equal(write(go[1], "x", 1), 1);
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  assert_int_equal(store_recover(f->s, &rep, &e), WH_OK); /* the writer is gone now */
  assert_int_equal(rep.temp_removed, 1);
  assert_false(exists(f, "uploads/tmp-live"));
  u = get_upload(f->s, "a", id); /* the open session is untouched */
  assert_int_equal(store_upload_size(u), 4);
  store_upload_release(u);
  assert_clean(f->s);
  close(ready[0]);
  close(ready[1]);
  close(go[0]);
  close(go[1]);
}

/* Blob files without rows: right content is registered (and linked to no
 * repository), wrong content is removed; files with rows are not read. */
static void test_recover_blob_files(void **state)
{
  struct fixture *f = *state;
  struct wh_digest good = digest_of("orphan"), bad = digest_of("named for this");
  struct wh_digest kept = put_blob(f->s, "a", "with a row");
  struct store_recover_report rep;
  char p[256], rel[256];
  uint64_t size;
  struct wh_err e;

  blob_path(f, &good, p, sizeof(p));
  snprintf(rel, sizeof(rel), "%s", p + strlen(f->dir) + 1);
  *strrchr(p, '/') = '\0';
  mkdir(p, 0755);
  write_file(f, rel, "orphan");
  blob_path(f, &bad, p, sizeof(p));
  snprintf(rel, sizeof(rel), "%s", p + strlen(f->dir) + 1);
  *strrchr(p, '/') = '\0';
  mkdir(p, 0755);
  write_file(f, rel, "but other bytes");
  /* the file of a blob with a row is not even opened: make it unreadable */
  blob_path(f, &kept, p, sizeof(p));
  assert_int_equal(chmod(p, 0), 0);
  assert_int_equal(store_recover(f->s, &rep, &e), WH_OK);
  assert_int_equal(chmod(p, 0444), 0);
  assert_int_equal(rep.blob_files, 3);
  assert_int_equal(rep.blobs_registered, 1);
  assert_int_equal(rep.blobs_removed, 1);
  assert_int_equal(rep.temp_removed + rep.sessions_ended, 0);
  assert_int_equal(store_blob_stat(f->s, NULL, &good, &size, &e), WH_OK);
  assert_int_equal(size, 6);
  assert_int_equal(store_blob_stat(f->s, "a", &good, &size, &e), WH_ENOTFOUND);
  assert_false(exists(f, rel));
  assert_int_equal(store_blob_stat(f->s, NULL, &bad, &size, &e), WH_ENOTFOUND);
  assert_clean(f->s);
}

/* A second store on the root (as another process would be) pushes by put
 * and by upload sessions while this one runs store_recover over and over:
 * every push succeeds, recovery removes nothing live (no temp file, no
 * blob), and what it did (a session row or blob row a live finish was
 * about to commit) leaves the store clean. */
struct busy_writer {
  struct store *s;
  int failures;
  int done; /* __atomic */
};

/* Counts a failure and prints the first few; returns non-zero on failure. */
static int busy_check(struct busy_writer *w, const char *what, enum wh_code rc, const struct wh_err *e)
{
  if (rc == WH_OK)
    return 0;
  if (w->failures++ < 3)
    print_message("# busy writer: %s: %s\n", what, e->msg);
  return 1;
}

static void *busy_write(void *arg)
{
  struct busy_writer *w = arg;
  char text[64], id[STORE_UPLOAD_ID_LEN + 1];
  struct store_upload *u = NULL;
  struct wh_digest d;
  struct wh_err e;

  for (int i = 0; i < 40; i++) {
    snprintf(text, sizeof(text), "put %d", i);
    busy_check(w, "put", store_blob_put(w->s, "busy", text, strlen(text), NULL, NULL, &e), &e);
    snprintf(text, sizeof(text), "session %d", i);
    d = digest_of(text);
    if (busy_check(w, "start", store_upload_start(w->s, "busy", id, &e), &e) ||
        busy_check(w, "get", store_upload_get(w->s, "busy", id, &u, &e), &e))
      continue;
    busy_check(w, "write", store_upload_write(u, text, strlen(text), &e), &e);
    busy_check(w, "finish", store_upload_finish(u, &d, NULL, &e), &e);
  }
  __atomic_store_n(&w->done, 1, __ATOMIC_RELEASE);
  return NULL;
}

static void test_recover_beside_writers(void **state)
{
  struct fixture *f = *state;
  struct busy_writer w = {0};
  struct store_recover_report rep, sum = {0};
  char text[64];
  struct wh_digest d;
  uint64_t size;
  struct wh_err e;
  pthread_t t;
  int runs = 0;

  assert_int_equal(store_open(f->dir, 0, &w.s, &e), WH_OK);
  assert_int_equal(pthread_create(&t, NULL, busy_write, &w), 0);
  while (!__atomic_load_n(&w.done, __ATOMIC_ACQUIRE)) {
    assert_int_equal(store_recover(f->s, &rep, &e), WH_OK);
    sum.temp_removed += rep.temp_removed;
    sum.blobs_removed += rep.blobs_removed;
    sum.sessions_ended += rep.sessions_ended;
    sum.blobs_registered += rep.blobs_registered;
    runs++;
  }
  pthread_join(t, NULL);
  print_message("# %d recoveries beside the writer: %llu session rows ended early, %llu blob rows first\n",
                runs, (unsigned long long)sum.sessions_ended, (unsigned long long)sum.blobs_registered);
  assert_int_equal(w.failures, 0);
  /* A temp file can be removed between its writer's O_CREAT and its flock:
   * the writer then sees st_nlink == 0 and makes another (store_tmp_create),
   * so that removal is harmless; what matters is that no push failed. */
  print_message("# temp files removed before their writer locked them: %llu\n",
                (unsigned long long)sum.temp_removed);
  assert_int_equal(sum.blobs_removed, 0);
  for (int i = 0; i < 40; i++) {
    snprintf(text, sizeof(text), i % 2 ? "put %d" : "session %d", i);
    d = digest_of(text);
    assert_int_equal(store_blob_stat(f->s, "busy", &d, &size, &e), WH_OK);
  }
  store_free(w.s);
  assert_clean(f->s);
}

static void test_recover_readonly(void **state)
{
  struct fixture *f = *state;
  struct store *ro = NULL;
  struct store_recover_report rep;
  struct wh_err e;

  assert_int_equal(store_open(f->dir, STORE_READONLY, &ro, &e), WH_OK);
  assert_int_equal(store_recover(ro, &rep, &e), WH_EINVALID);
  store_free(ro);
}

/* ---- manifest list ----------------------------------------------------- */

struct mlist {
  int n;
  struct store_manifest_info m[8];
};

static int on_manifest(void *ctx, const struct store_manifest_info *m)
{
  struct mlist *l = ctx;

  assert_true(l->n < 8);
  l->m[l->n++] = *m;
  l->m[l->n - 1].media_type = NULL; /* borrowed: not valid after the callback */
  return 0;
}

static const struct store_manifest_info *find_info(const struct mlist *l, const struct wh_digest *d)
{
  for (int i = 0; i < l->n; i++)
    if (wh_digest_eq(&l->m[i].digest, d))
      return &l->m[i];
  return NULL;
}

/* Tagged, untagged, index children and referrers, each flagged as such. */
static void test_manifest_list(void **state)
{
  struct fixture *f = *state;
  struct wh_digest a = push_image(f->s, "r", "a", "v1");
  struct wh_digest b = push_image(f->s, "r", "b", NULL);
  struct wh_digest idx, ref;
  char *body = index_json(&a, &b);
  struct mlist l = {0};
  const struct store_manifest_info *i;
  struct wh_digest c = put_blob(f->s, "r", "{}c");
  struct wh_err e;

  assert_int_equal(put_manifest(f->s, "r", body, "multi", &idx), WH_OK);
  free(body);
  body = image_json(&c, NULL, NULL, NULL, "application/x-sig", &a, NULL);
  assert_int_equal(put_manifest(f->s, "r", body, NULL, &ref), WH_OK);
  free(body);
  assert_int_equal(store_tag_set(f->s, "r", "also", &a, "t", &e), WH_OK);
  assert_int_equal(store_manifest_list(f->s, "r", on_manifest, &l, &e), WH_OK);
  assert_int_equal(l.n, 4);
  assert_non_null(i = find_info(&l, &a));
  assert_int_equal(i->n_tags, 2);
  assert_true(i->is_child);
  assert_non_null(i = find_info(&l, &b));
  assert_int_equal(i->n_tags, 0);
  assert_true(i->is_child);
  assert_false(i->has_subject);
  assert_non_null(i = find_info(&l, &idx));
  assert_int_equal(i->n_tags, 1);
  assert_false(i->is_child);
  assert_non_null(i = find_info(&l, &ref));
  assert_true(i->has_subject);
  assert_int_equal(i->n_tags, 0);
  assert_true(i->created > 0);
  assert_int_equal(store_manifest_list(f->s, "nope", on_manifest, &l, &e), WH_ENOTFOUND);
}

/* ---- garbage collection ------------------------------------------------- */

struct gc_seen {
  int n;
  struct wh_digest last;
};

static void on_gc(void *ctx, const struct wh_digest *d, uint64_t size)
{
  struct gc_seen *g = ctx;

  (void)size;
  g->n++;
  g->last = *d;
}

static struct store_gc_report gc(struct store *s, int64_t grace, unsigned flags, struct gc_seen *seen)
{
  struct store_gc_report r;
  struct wh_err e;

  assert_int_equal(store_gc(s, grace, flags, seen ? on_gc : NULL, seen, &r, &e), WH_OK);
  return r;
}

static bool blob_file_exists(struct fixture *f, const struct wh_digest *d)
{
  char p[256];

  blob_path(f, d, p, sizeof(p));
  return access(p, F_OK) == 0;
}

/* Only blobs no manifest is or names go; tags play no part; links only
 * keep a blob while young; a dry run changes nothing. */
static void test_gc_unreferenced(void **state)
{
  struct fixture *f = *state;
  struct wh_digest img = push_image(f->s, "a", "one", "v1");
  struct wh_digest untagged = push_image(f->s, "a", "two", NULL);
  struct wh_digest loose = put_blob(f->s, "a", "loose blob");
  struct wh_digest shared = put_blob(f->s, "b", "layer-one"); /* also image one's layer */
  struct store_gc_report r;
  struct gc_seen seen = {0};
  uint64_t size;
  struct wh_err e;

  r = gc(f->s, 3600, 0, NULL);
  assert_int_equal(r.blobs_removed, 0); /* the loose blob is young */
  r = gc(f->s, 0, STORE_GC_DRY_RUN, &seen);
  assert_int_equal(r.blobs_removed, 1);
  assert_int_equal(r.bytes_removed, 10);
  assert_int_equal(r.files_removed, 0);
  assert_true(wh_digest_eq(&seen.last, &loose));
  assert_int_equal(store_blob_stat(f->s, "a", &loose, &size, &e), WH_OK);
  r = gc(f->s, 0, 0, NULL);
  assert_int_equal(r.blobs_removed, 1);
  assert_int_equal(r.files_removed, 1);
  assert_int_equal(store_blob_stat(f->s, NULL, &loose, &size, &e), WH_ENOTFOUND);
  assert_false(blob_file_exists(f, &loose));
  assert_int_equal(store_blob_stat(f->s, "b", &shared, &size, &e), WH_OK);
  assert_int_equal(store_manifest_get(f->s, "a", "v1", NULL, NULL, &e), WH_OK);
  assert_int_equal(store_manifest_get(f->s, "a", untagged.str, NULL, NULL, &e), WH_OK);
  assert_true(blob_file_exists(f, &img));
  assert_int_equal(gc(f->s, 0, 0, NULL).blobs_removed, 0);
  assert_clean(f->s);
}

/* Deleting a manifest makes its bytes, config and layers garbage, except
 * what another manifest still names. */
static void test_gc_after_delete(void **state)
{
  struct fixture *f = *state;
  struct wh_digest one = push_image(f->s, "a", "one", "v1");
  struct wh_digest cfg = digest_of("{}one"), layer = digest_of("layer-one");
  struct wh_digest other;
  char *body;
  uint64_t size;
  struct wh_err e;

  put_blob(f->s, "b", "{}other");
  put_blob(f->s, "b", "layer-one");
  other = digest_of("{}other");
  body = image_json(&other, &layer, MT_LAYER, NULL, NULL, NULL, NULL);
  assert_int_equal(put_manifest(f->s, "b", body, "x", NULL), WH_OK);
  free(body);
  assert_int_equal(store_manifest_delete(f->s, "a", &one, "t", &e), WH_OK);
  assert_int_equal(gc(f->s, 0, 0, NULL).blobs_removed, 2); /* manifest and config; the layer is b's too */
  assert_int_equal(store_blob_stat(f->s, NULL, &one, &size, &e), WH_ENOTFOUND);
  assert_int_equal(store_blob_stat(f->s, NULL, &cfg, &size, &e), WH_ENOTFOUND);
  assert_int_equal(store_blob_stat(f->s, "b", &layer, &size, &e), WH_OK);
  assert_int_equal(store_blob_stat(f->s, "a", &layer, &size, &e), WH_OK); /* a live blob keeps its links */
  assert_false(blob_file_exists(f, &cfg));
  assert_true(blob_file_exists(f, &layer));
  assert_clean(f->s);
}

/* The grace period counts from the newest of the row and its links: a
 * blob linked again (a pull reusing it) is young again. */
static void test_gc_grace(void **state)
{
  struct fixture *f = *state;
  struct wh_digest old = put_blob(f->s, "a", "old"), relinked = put_blob(f->s, "a", "relinked");
  uint64_t size;
  struct wh_err e;

  sql_exec(f, "UPDATE blobs SET created = 1000; UPDATE repo_blobs SET created = 1000;");
  assert_int_equal(store_blob_mount(f->s, "b", &relinked, "a", &e), WH_OK);
  assert_int_equal(gc(f->s, 3600, 0, NULL).blobs_removed, 1);
  assert_int_equal(store_blob_stat(f->s, NULL, &old, &size, &e), WH_ENOTFOUND);
  assert_int_equal(store_blob_stat(f->s, "a", &relinked, &size, &e), WH_OK);
  sql_exec(f, "UPDATE repo_blobs SET created = 1000;");
  assert_int_equal(store_blob_mount(f->s, "a", &relinked, NULL, &e), WH_OK); /* same link, refreshed */
  assert_int_equal(gc(f->s, 3600, 0, NULL).blobs_removed, 0);
  assert_int_equal(store_gc(f->s, -1, 0, NULL, NULL, NULL, &e), WH_EINVALID);
}

/* More than one batch, and a crash between rows and files: the files left
 * without rows are registered again by recovery and taken next time. */
static void test_gc_batches_and_recover(void **state)
{
  struct fixture *f = *state;
  struct store_recover_report rr;
  struct store_gc_report r;
  char text[32];
  struct wh_err e;

  for (int i = 0; i < 600; i++) {
    snprintf(text, sizeof(text), "blob %d", i);
    put_blob(f->s, i % 2 ? "a" : "b", text);
  }
  sql_exec(f, "DELETE FROM repo_blobs WHERE digest IN (SELECT digest FROM blobs LIMIT 100);"
              "DELETE FROM blobs WHERE digest NOT IN (SELECT digest FROM repo_blobs);");
  assert_int_equal(store_recover(f->s, &rr, &e), WH_OK); /* as after a kill between the steps */
  assert_int_equal(rr.blobs_registered, 100);
  r = gc(f->s, 0, 0, NULL);
  assert_int_equal(r.blobs_removed, 600);
  assert_int_equal(r.files_removed, 600);
  assert_int_equal(r.bytes_removed, 10 * 6 + 90 * 7 + 500 * 8);
  assert_clean(f->s);
}

/* Another store on the root (another process) stores the same few blobs
 * over and over while this one collects them and runs recovery: no row
 * ever outlives its file, and a writer only ever sees WH_ECONFLICT. */
struct gc_writer {
  struct fixture *f;
  struct store *s;
  int conflicts, failures, broken;
  int done; /* __atomic */
};

/* Does d have a row but no file? Looked at as a collection would: under
 * the fan-out directory's exclusive lock, inside a write transaction, so
 * a collection is never halfway through its unlink while we look. */
static bool row_without_file(struct fixture *f, const struct wh_digest *d)
{
  const char *hex = wh_digest_hex(d);
  char path[256], sql[256];
  sqlite3 *db = NULL;
  bool row = false, broken;
  int dfd;

  snprintf(path, sizeof(path), "%s/blobs/sha256/%.2s", f->dir, hex);
  if ((dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
    return false;
  assert_int_equal(flock(dfd, LOCK_EX), 0);
  snprintf(path, sizeof(path), "%s/index.db", f->dir);
  assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
  sqlite3_busy_timeout(db, 10000);
  assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
  snprintf(sql, sizeof(sql), "SELECT 1 FROM blobs WHERE digest = '%s'", d->str);
  {
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    row = sqlite3_step(st) == SQLITE_ROW;
    sqlite3_finalize(st);
  }
  blob_path(f, d, path, sizeof(path));
  broken = row && access(path, F_OK) != 0;
  sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
  sqlite3_close(db);
  close(dfd);
  return broken;
}

static void *gc_write(void *arg)
{
  struct gc_writer *w = arg;
  char text[64], id[STORE_UPLOAD_ID_LEN + 1];
  struct store_upload *u = NULL;
  struct wh_digest d;
  struct wh_err e;
  enum wh_code rc;

  for (int i = 0; i < 300; i++) {
    snprintf(text, sizeof(text), "again %d", i % 5);
    if (i % 2) {
      rc = store_blob_put(w->s, "w", text, strlen(text), NULL, NULL, &e);
    } else {
      d = digest_of(text);
      if ((rc = store_upload_start(w->s, "w", id, &e)) == WH_OK &&
          (rc = store_upload_get(w->s, "w", id, &u, &e)) == WH_OK &&
          (rc = store_upload_write(u, text, strlen(text), &e)) == WH_OK)
        rc = store_upload_finish(u, &d, NULL, &e);
      else if (u)
        store_upload_release(u);
      u = NULL;
    }
    if (rc == WH_ECONFLICT)
      w->conflicts++;
    else if (rc != WH_OK && w->failures++ < 3)
      print_message("# gc writer: %s\n", e.msg);
    d = digest_of(text);
    w->broken += row_without_file(w->f, &d);
  }
  __atomic_store_n(&w->done, 1, __ATOMIC_RELEASE);
  return NULL;
}

static void test_gc_beside_writers(void **state)
{
  struct fixture *f = *state;
  struct gc_writer w = {.f = f};
  struct store_recover_report rr;
  uint64_t removed = 0, files = 0;
  struct store_gc_report r;
  struct wh_err e;
  pthread_t t;
  int runs = 0;

  assert_int_equal(store_open(f->dir, 0, &w.s, &e), WH_OK);
  assert_int_equal(pthread_create(&t, NULL, gc_write, &w), 0);
  while (!__atomic_load_n(&w.done, __ATOMIC_ACQUIRE)) {
    r = gc(f->s, 0, 0, NULL);
    removed += r.blobs_removed;
    files += r.files_removed;
    if (runs++ % 4 == 3)
      assert_int_equal(store_recover(f->s, &rr, &e), WH_OK);
  }
  pthread_join(t, NULL);
  print_message("# %d collections beside the writer: %llu rows and %llu files removed, %d commits refused\n",
                runs, (unsigned long long)removed, (unsigned long long)files, w.conflicts);
  assert_int_equal(w.failures, 0);
  assert_int_equal(w.broken, 0);
  store_free(w.s);
  assert_clean(f->s); /* no row without its file, no file without its row */
  gc(f->s, 0, 0, NULL);
  assert_clean(f->s);
}

/* ---- speed ------------------------------------------------------------- */

static double now_us(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static void test_lookup_speed(void **state)
{
  struct fixture *f = *state;
  struct wh_digest d = put_blob(f->s, "library/app", "a layer");
  struct store_manifest m;
  uint64_t size;
  struct wh_err e;
  const int n = 20000;
  double t0, per_get, per_stat;

  push_image(f->s, "library/app", "speed", "latest");
  t0 = now_us();
  for (int i = 0; i < n; i++) {
    int fd = -1;
    assert_int_equal(store_manifest_get(f->s, "library/app", "latest", &m, &fd, &e), WH_OK);
    close(fd);
  }
  per_get = (now_us() - t0) / n;
  t0 = now_us();
  for (int i = 0; i < n; i++)
    assert_int_equal(store_blob_stat(f->s, "library/app", &d, &size, &e), WH_OK);
  per_stat = (now_us() - t0) / n;
  print_message("# manifest get by tag (with open): %.1f us, blob stat: %.1f us\n", per_get, per_stat);
  /* generous: valgrind and sanitizers are slow; the real target is << 50 us */
  assert_true(per_get < 2000);
}

/* N blob files with rows, written directly (no fsync, one transaction),
 * then one store_recover: it must find nothing to do, quickly.
 * WH_RECOVER_BLOBS sets N (default 5000). */
static void plant_blobs(struct fixture *f, int n)
{
  char path[128], text[32], rel[256];
  sqlite3_stmt *st;
  sqlite3 *db;

  snprintf(path, sizeof(path), "%s/index.db", f->dir);
  assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
  sqlite3_busy_timeout(db, 5000);
  assert_int_equal(sqlite3_exec(db, "BEGIN", NULL, NULL, NULL), SQLITE_OK);
  assert_int_equal(
      sqlite3_prepare_v2(db, "INSERT INTO blobs(digest, size, created) VALUES (?1, ?2, 0)", -1, &st, NULL),
      SQLITE_OK);
  for (int i = 0; i < n; i++) {
    struct wh_digest d;
    snprintf(text, sizeof(text), "speed blob %d", i);
    d = digest_of(text);
    blob_path(f, &d, rel, sizeof(rel));
    *strrchr(rel, '/') = '\0';
    mkdir(rel, 0755);
    snprintf(rel, sizeof(rel), "blobs/sha256/%.2s/%s", wh_digest_hex(&d), wh_digest_hex(&d));
    write_file(f, rel, text);
    sqlite3_bind_text(st, 1, d.str, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)strlen(text));
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    sqlite3_reset(st);
  }
  sqlite3_finalize(st);
  assert_int_equal(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
  sqlite3_close(db);
}

static void test_recover_speed(void **state)
{
  struct fixture *f = *state;
  const char *env = getenv("WH_RECOVER_BLOBS");
  int n = env ? (int)strtol(env, NULL, 10) : 5000;
  struct store_recover_report rep;
  struct wh_err e;
  double t0, ms;

  plant_blobs(f, n);
  reopen(f);
  t0 = now_us();
  assert_int_equal(store_recover(f->s, &rep, &e), WH_OK);
  ms = (now_us() - t0) / 1e3;
  print_message("# store_recover on %d blobs, nothing to do: %.1f ms\n", n, ms);
  assert_int_equal(rep.blob_files, (uint64_t)n);
  assert_int_equal(rep.temp_removed + rep.sessions_ended + rep.blobs_registered + rep.blobs_removed, 0);
  /* generous (valgrind, sanitizers, a busy machine); expected: tens of ms */
  assert_true(ms < 20000);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
      T(test_open_errors),
      T(test_reopen_persists),
      T(test_reopen_checks),
      T(test_readonly),
      T(test_blob_put_stat_open),
      T(test_blob_sha512),
      T(test_repo_isolation_mount_unlink),
      T(test_upload_chunks),
      T(test_upload_sha512),
      T(test_upload_wrong_digest),
      T(test_upload_cancel_conflict_repo),
      T(test_upload_max_size),
      T(test_upload_survives_restart),
      T(test_upload_purge),
      T(test_manifest_put_get),
      T(test_manifest_index),
      T(test_referrers),
      T(test_tag_history),
      T(test_manifest_delete),
      T(test_tag_list),
      T(test_repo_list),
      T(test_fsck_clean_after_everything),
      T(test_fsck_detects_and_repairs),
      T(test_fsck_broken_manifest_blob),
      T(test_fsck_orphan_and_dangling),
      T(test_threads_hammer_one_tag),
      T(test_two_stores_one_root),
      T(test_enospc_leaves_nothing),
      T(test_crash_blob_put_rename),
      T(test_crash_blob_put_renamed),
      T(test_crash_blob_put_commit),
      T(test_crash_upload_rename),
      T(test_crash_upload_renamed),
      T(test_crash_upload_commit),
      T(test_crash_manifest),
      T(test_recover_blob_put_rename),
      T(test_recover_blob_put_renamed),
      T(test_recover_blob_put_commit),
      T(test_recover_upload_rename),
      T(test_recover_upload_renamed),
      T(test_recover_upload_commit),
      T(test_recover_manifest),
      T(test_recover_uploads_respects_live_writers),
      T(test_recover_blob_files),
      T(test_recover_beside_writers),
      T(test_recover_readonly),
      T(test_manifest_list),
      T(test_gc_unreferenced),
      T(test_gc_after_delete),
      T(test_gc_grace),
      T(test_gc_batches_and_recover),
      T(test_gc_beside_writers),
      T(test_lookup_speed),
      T(test_recover_speed),
#undef T
  };

  return cmocka_run_group_tests_name("store", tests, NULL, NULL);
}
