/* tests/unit/store_fixture.h - the fixture of the storage unit tests
 * (test_store, test_gc, test_outbox): a fresh store in a temporary
 * directory per test, opened with STORE_CREATE, removed afterwards.
 * Include after <cmocka.h> and "storage/store.h"; define
 * STORE_FIXTURE_TMP (a mkdtemp template) first to name the directory. */
#ifndef WH_TESTS_STORE_FIXTURE_H
#define WH_TESTS_STORE_FIXTURE_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#ifndef STORE_FIXTURE_TMP
#define STORE_FIXTURE_TMP "/tmp/wh-store-XXXXXX"
#endif

struct fixture {
  char dir[64]; /* <tmp>/r: the store's root */
  struct store *s;
};

static inline int store_fixture_rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
  (void)st;
  (void)flag;
  (void)ftw;
  remove(path);
  return 0;
}

static inline int setup(void **state)
{
  struct fixture *f = calloc(1, sizeof(*f));
  struct wh_err e;
  char tmp[32] = STORE_FIXTURE_TMP;

  assert_non_null(f);
  assert_non_null(mkdtemp(tmp));
  snprintf(f->dir, sizeof(f->dir), "%s/r", tmp);
  assert_int_equal(store_open(f->dir, STORE_CREATE, &f->s, &e), WH_OK);
  *state = f;
  return 0;
}

static inline int teardown(void **state)
{
  struct fixture *f = *state;

  store_free(f->s);
  *strrchr(f->dir, '/') = '\0';
  nftw(f->dir, store_fixture_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
  free(f);
  return 0;
}

#ifdef SQLITE_VERSION
/* Runs sql on the store's index behind its back (a second connection). */
static inline void sql_exec(struct fixture *f, const char *sql)
{
  char path[128];
  sqlite3 *db;

  snprintf(path, sizeof(path), "%s/index.db", f->dir);
  assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
  sqlite3_busy_timeout(db, 5000);
  assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
  sqlite3_close(db);
}
#endif

#endif
