/* storage/db.c - opening a store: directories, the SQLite index and its
 * schema, the connection pool, cached statements and write transactions.
 *
 * Invariants:
 *  - the root directory is opened once; every file operation is relative
 *    to s->rootfd, s->uploadsfd or s->algfd[] (only SQLite gets a path);
 *  - a connection is in exactly one place: the idle list (under s->lock)
 *    or the hands of one thread between store_conn_get and store_conn_put;
 *  - PRAGMA user_version is the schema version; migrations[i] takes a
 *    database from version i to i + 1 inside one BEGIN IMMEDIATE
 *    transaction, so concurrent openers (threads or processes) apply each
 *    step once; a database newer than this code is refused;
 *  - every connection runs with foreign_keys=ON, synchronous=FULL and a
 *    busy timeout; the database is in WAL mode, and the WAL stays when
 *    the last connection closes (no checkpoint on close).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "storage/store-int.h"

static const char *const stmt_sql[Q_COUNT] = {
#define STORE_STMT_SQL(id, sql) [id] = sql,
    STORE_STATEMENTS(STORE_STMT_SQL)
#undef STORE_STMT_SQL
};

/* migrations[i]: version i -> i + 1. Append only. */
static const char *const migrations[STORE_SCHEMA_VERSION] = {
    "CREATE TABLE repos ("
    "  id INTEGER PRIMARY KEY,"
    "  name TEXT NOT NULL UNIQUE,"
    "  created INTEGER NOT NULL);"
    "CREATE TABLE blobs ("
    "  digest TEXT PRIMARY KEY,"
    "  size INTEGER NOT NULL,"
    "  created INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE repo_blobs ("
    "  repo_id INTEGER NOT NULL REFERENCES repos(id),"
    "  digest TEXT NOT NULL REFERENCES blobs(digest),"
    "  created INTEGER NOT NULL,"
    "  PRIMARY KEY (repo_id, digest)) WITHOUT ROWID;"
    "CREATE INDEX repo_blobs_by_digest ON repo_blobs(digest);"
    "CREATE TABLE manifests ("
    "  repo_id INTEGER NOT NULL REFERENCES repos(id),"
    "  digest TEXT NOT NULL REFERENCES blobs(digest),"
    "  media_type TEXT NOT NULL,"
    "  size INTEGER NOT NULL,"
    "  artifact_type TEXT,"
    "  subject TEXT,"
    "  annotations_json TEXT,"
    "  created INTEGER NOT NULL,"
    "  PRIMARY KEY (repo_id, digest)) WITHOUT ROWID;"
    "CREATE INDEX manifests_by_subject ON manifests(repo_id, subject);"
    "CREATE INDEX manifests_by_digest ON manifests(digest);"
    "CREATE TABLE manifest_refs ("
    "  repo_id INTEGER NOT NULL,"
    "  digest TEXT NOT NULL,"
    "  child_digest TEXT NOT NULL,"
    "  kind INTEGER NOT NULL,"
    "  PRIMARY KEY (repo_id, digest, child_digest, kind),"
    "  FOREIGN KEY (repo_id, digest) REFERENCES manifests(repo_id, digest) ON DELETE CASCADE"
    ") WITHOUT ROWID;"
    "CREATE INDEX manifest_refs_by_child ON manifest_refs(child_digest, repo_id);"
    "CREATE TABLE tags ("
    "  repo_id INTEGER NOT NULL,"
    "  name TEXT NOT NULL,"
    "  digest TEXT NOT NULL,"
    "  updated INTEGER NOT NULL,"
    "  PRIMARY KEY (repo_id, name),"
    "  FOREIGN KEY (repo_id, digest) REFERENCES manifests(repo_id, digest)) WITHOUT ROWID;"
    "CREATE INDEX tags_by_digest ON tags(repo_id, digest);"
    "CREATE TABLE tag_history ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  repo_id INTEGER NOT NULL REFERENCES repos(id),"
    "  tag TEXT NOT NULL,"
    "  old_digest TEXT,"
    "  new_digest TEXT,"
    "  time_ms INTEGER NOT NULL,"
    "  who TEXT);"
    "CREATE INDEX tag_history_by_tag ON tag_history(repo_id, tag, id);"
    "CREATE TABLE uploads ("
    "  id TEXT PRIMARY KEY,"
    "  repo_id INTEGER NOT NULL REFERENCES repos(id),"
    "  created INTEGER NOT NULL) WITHOUT ROWID;",
    /* 1 -> 2: CI robot tokens (storage/robots.c); only the secret's sha256 is kept. */
    "CREATE TABLE robots ("
    "  name TEXT PRIMARY KEY,"
    "  secret_sha256 TEXT NOT NULL,"
    "  pattern TEXT NOT NULL,"
    "  actions TEXT NOT NULL,"
    "  created INTEGER NOT NULL,"
    "  expires INTEGER NOT NULL,"
    "  revoked INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;",
    /* 2 -> 3: the webhook outbox (storage/outbox.c): events committed with
     * their change; AUTOINCREMENT so an id is never reused (cursors). */
    "CREATE TABLE outbox ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  uid TEXT NOT NULL,"
    "  time_ms INTEGER NOT NULL,"
    "  action TEXT NOT NULL,"
    "  target TEXT NOT NULL,"
    "  repo TEXT NOT NULL,"
    "  tag TEXT,"
    "  digest TEXT,"
    "  old_digest TEXT,"
    "  media_type TEXT,"
    "  size INTEGER,"
    "  who TEXT);"
    "CREATE TABLE outbox_cursors ("
    "  consumer TEXT PRIMARY KEY,"
    "  last_id INTEGER NOT NULL) WITHOUT ROWID;",
    /* 3 -> 4: when a client last showed it is about to use a blob (HEAD
     * check), so that online GC keeps it (storage/gc.c, store_blob_touch). */
    "ALTER TABLE blobs ADD COLUMN checked INTEGER NOT NULL DEFAULT 0;",
    /* 4 -> 5: blob count and bytes kept by triggers (storage/stats.c), so
     * /metrics reads one row instead of the whole blobs table. */
    "CREATE TABLE blob_totals ("
    "  id INTEGER PRIMARY KEY CHECK (id = 1),"
    "  count INTEGER NOT NULL,"
    "  bytes INTEGER NOT NULL);"
    "INSERT INTO blob_totals SELECT 1, count(*), coalesce(sum(size), 0) FROM blobs;"
    "CREATE TRIGGER blob_totals_insert AFTER INSERT ON blobs BEGIN"
    "  UPDATE blob_totals SET count = count + 1, bytes = bytes + new.size WHERE id = 1; END;"
    "CREATE TRIGGER blob_totals_delete AFTER DELETE ON blobs BEGIN"
    "  UPDATE blob_totals SET count = count - 1, bytes = bytes - old.size WHERE id = 1; END;"
    "CREATE TRIGGER blob_totals_update AFTER UPDATE OF size ON blobs BEGIN"
    "  UPDATE blob_totals SET bytes = bytes - old.size + new.size WHERE id = 1; END;",
    /* 5 -> 6: the client's record of what it pushed where (storage/pushes.c),
     * so `wharf rollback` works against registries that keep no history. */
    "CREATE TABLE client_pushes ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  registry TEXT NOT NULL,"
    "  repo TEXT NOT NULL,"
    "  tag TEXT NOT NULL,"
    "  digest TEXT NOT NULL,"
    "  media_type TEXT NOT NULL,"
    "  time_ms INTEGER NOT NULL);"
    "CREATE INDEX client_pushes_by_tag ON client_pushes(registry, repo, tag, id);",
};

static const struct {
  const char *name;
  enum store_fault fault;
} fault_names[] = {
    {"kill-before-rename", STORE_FAULT_KILL_BEFORE_RENAME},
    {"kill-after-rename", STORE_FAULT_KILL_AFTER_RENAME},
    {"kill-before-commit", STORE_FAULT_KILL_BEFORE_COMMIT},
    {"enospc-write", STORE_FAULT_ENOSPC_WRITE},
};

/* ---- small helpers ----------------------------------------------------- */

int64_t store_now_s(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec;
}

int64_t store_now_ms(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void store_fault_point(struct store *s, enum store_fault f)
{
  if (s->fault == f && f != STORE_FAULT_NONE)
    raise(SIGKILL);
}

static enum store_fault fault_from_env(void)
{
  const char *v = getenv("WHARF_FAULT");

  if (v == NULL)
    return STORE_FAULT_NONE;
  for (size_t i = 0; i < WH_ARRAY_LEN(fault_names); i++)
    if (strcmp(v, fault_names[i].name) == 0)
      return fault_names[i].fault;
  return STORE_FAULT_NONE;
}

enum wh_code store_repo_name_check(const char *repo, struct wh_err *err)
{
  size_t n;

  if (repo == NULL)
    return wh_err_set(err, WH_EINVALID, 0, "repository name missing");
  n = strnlen(repo, STORE_REPO_MAX + 1);
  if (n == 0 || n > STORE_REPO_MAX)
    return wh_err_set(err, WH_EINVALID, 0, "invalid repository name");
  for (size_t i = 0; i < n; i++)
    if (repo[i] <= ' ' || repo[i] > '~')
      return wh_err_set(err, WH_EINVALID, 0, "invalid repository name");
  return WH_OK;
}

void store_set_max_blob_size(struct store *s, uint64_t max)
{
  __atomic_store_n(&s->max_blob, max, __ATOMIC_RELAXED);
}

/* ---- statements -------------------------------------------------------- */

enum wh_code store_db_error(struct store_conn *c, int rc, const char *what, struct wh_err *err)
{
  int prim = rc & 0xff;

  if (prim == SQLITE_BUSY || prim == SQLITE_LOCKED)
    c->busy = true;
  return wh_err_set(err, WH_EDATABASE, 0, "%s: %s", what, c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
}

sqlite3_stmt *store_stmt(struct store_conn *c, enum store_stmt_id q, struct wh_err *err)
{
  int rc;

  if (c->stmts[q] != NULL)
    return c->stmts[q];
  rc = sqlite3_prepare_v3(c->db, stmt_sql[q], -1, SQLITE_PREPARE_PERSISTENT, &c->stmts[q], NULL);
  if (rc != SQLITE_OK) {
    store_db_error(c, rc, "prepare statement", err);
    return NULL;
  }
  return c->stmts[q];
}

enum wh_code store_exec_stmt(struct store_conn *c, sqlite3_stmt *st, const char *what, struct wh_err *err)
{
  int rc = sqlite3_step(st);

  if (rc == SQLITE_DONE || rc == SQLITE_ROW)
    return WH_OK;
  return store_db_error(c, rc, what, err);
}

enum wh_code store_step_row(struct store_conn *c, sqlite3_stmt *st, const char *what, struct wh_err *err)
{
  int rc = sqlite3_step(st);

  if (rc == SQLITE_ROW)
    return WH_OK;
  if (rc == SQLITE_DONE)
    return WH_ENOTFOUND;
  return store_db_error(c, rc, what, err);
}

void store_bind_text(sqlite3_stmt *st, int i, const char *s)
{
  if (s == NULL)
    sqlite3_bind_null(st, i);
  else
    sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
}

void store_bind_int(sqlite3_stmt *st, int i, int64_t v)
{
  sqlite3_bind_int64(st, i, v);
}

enum wh_code store_column_digest(sqlite3_stmt *st, int col, struct wh_digest *out, struct wh_err *err)
{
  const char *t = (const char *)sqlite3_column_text(st, col);
  int n = sqlite3_column_bytes(st, col);

  if (t == NULL)
    return wh_err_set(err, WH_EINTERNAL, 0, "index holds a null digest");
  if (wh_digest_parse(t, (size_t)n, out, err) != WH_OK)
    return wh_err_set(err, WH_EINTERNAL, 0, "index holds an invalid digest");
  return WH_OK;
}

/* ---- connections ------------------------------------------------------- */

static void conn_close(struct store_conn *c)
{
  if (c == NULL)
    return;
  for (size_t i = 0; i < Q_COUNT; i++)
    sqlite3_finalize(c->stmts[i]);
  sqlite3_close(c->db);
  free(c);
}

static enum wh_code conn_open(struct store *s, bool create, struct store_conn **out, struct wh_err *err)
{
  struct store_conn *c = calloc(1, sizeof(*c));
  int oflags = SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_PRIVATECACHE;
  int rc;

  if (c == NULL)
    return wh_err_set(err, WH_ENOMEM, 0, "open index: out of memory");
  c->s = s;
  if (s->flags & STORE_READONLY)
    oflags |= SQLITE_OPEN_READONLY;
  else
    oflags |= SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0);
  rc = sqlite3_open_v2(s->db_path, &c->db, oflags, NULL);
  if (rc != SQLITE_OK) {
    enum wh_code code = rc == SQLITE_CANTOPEN ? WH_ENOTFOUND : WH_EDATABASE;
    wh_err_set(err, code, 0, "open index \"%s\": %s", s->db_path, sqlite3_errstr(rc));
    conn_close(c);
    return code;
  }
  sqlite3_busy_timeout(c->db, STORE_BUSY_TIMEOUT_MS);
  /* The last connection to close would copy the WAL into index.db and
   * remove it (page writes and two fsyncs), which every short-lived wharf
   * command would pay at exit and the next one undo; SQLite's automatic
   * checkpoints (every 1000 pages written) keep the WAL bounded instead. */
  sqlite3_db_config(c->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, (int *)NULL);
  rc = sqlite3_exec(c->db, "PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL;", NULL, NULL, NULL);
  if (rc != SQLITE_OK) {
    store_db_error(c, rc, "configure index", err);
    conn_close(c);
    return WH_EDATABASE;
  }
  *out = c;
  return WH_OK;
}

enum wh_code store_conn_get(struct store *s, struct store_conn **out, struct wh_err *err)
{
  struct store_conn *c;
  enum wh_code rc;

  pthread_mutex_lock(&s->lock);
  c = s->idle;
  if (c != NULL) {
    s->idle = c->next;
    s->n_idle--;
  }
  pthread_mutex_unlock(&s->lock);
  if (c == NULL && (rc = conn_open(s, false, &c, err)) != WH_OK)
    return rc;
  c->next = NULL;
  c->busy = false;
  *out = c;
  return WH_OK;
}

void store_conn_put(struct store_conn *c)
{
  struct store *s;

  if (c == NULL)
    return;
  s = c->s;
  if (!sqlite3_get_autocommit(c->db)) /* a bug upstream: never pool an open txn */
    sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
  pthread_mutex_lock(&s->lock);
  if (s->n_idle < STORE_POOL_MAX) {
    c->next = s->idle;
    s->idle = c;
    s->n_idle++;
    c = NULL;
  }
  pthread_mutex_unlock(&s->lock);
  conn_close(c);
}

/* ---- transactions ------------------------------------------------------ */

static enum wh_code run_simple(struct store_conn *c, enum store_stmt_id q, const char *what,
                               struct wh_err *err)
{
  STORE_AUTORESET sqlite3_stmt *st = store_stmt(c, q, err);

  if (st == NULL)
    return WH_EDATABASE;
  return store_exec_stmt(c, st, what, err);
}

static enum wh_code txn_once(struct store_conn *c, unsigned opts, store_txn_fn fn, void *ctx,
                             struct wh_err *err)
{
  enum wh_code rc = run_simple(c, Q_BEGIN, "begin transaction", err);

  if (rc != WH_OK)
    return rc;
  rc = fn(c, ctx, err);
  if (rc == WH_OK) {
    if (opts & STORE_TXN_RECORDS_BLOB)
      store_fault_point(c->s, STORE_FAULT_KILL_BEFORE_COMMIT);
    rc = run_simple(c, Q_COMMIT, "commit", err);
  }
  if (rc != WH_OK && !sqlite3_get_autocommit(c->db))
    run_simple(c, Q_ROLLBACK, "rollback", NULL);
  return rc;
}

enum wh_code store_txn(struct store *s, unsigned opts, store_txn_fn fn, void *ctx, struct wh_err *err)
{
  STORE_AUTOCONN struct store_conn *c = NULL;
  enum wh_code rc = store_conn_get(s, &c, err);

  for (int attempt = 0; rc == WH_OK; attempt++) {
    c->busy = false;
    rc = txn_once(c, opts, fn, ctx, err);
    if (rc == WH_OK || !c->busy || attempt >= 3)
      break;
    rc = WH_OK; /* busy: start over */
  }
  return rc;
}

/* ---- repositories ------------------------------------------------------ */

enum wh_code store_repo_id(struct store_conn *c, const char *repo, bool create, int64_t *id_out,
                           struct wh_err *err)
{
  STORE_AUTORESET sqlite3_stmt *st = store_stmt(c, Q_REPO_ID, err);
  STORE_AUTORESET sqlite3_stmt *ins = NULL;
  enum wh_code rc;

  if (st == NULL)
    return WH_EDATABASE;
  store_bind_text(st, 1, repo);
  rc = store_step_row(c, st, "look up repository", err);
  if (rc == WH_OK) {
    *id_out = sqlite3_column_int64(st, 0);
    return WH_OK;
  }
  if (rc != WH_ENOTFOUND)
    return rc;
  if (!create)
    return wh_err_set(err, WH_ENOTFOUND, 0, "repository \"%s\": not found", repo);
  if ((rc = store_repo_name_check(repo, err)) != WH_OK)
    return rc;
  if ((ins = store_stmt(c, Q_REPO_INSERT, err)) == NULL)
    return WH_EDATABASE;
  store_bind_text(ins, 1, repo);
  store_bind_int(ins, 2, store_now_s());
  if ((rc = store_exec_stmt(c, ins, "create repository", err)) != WH_OK)
    return rc;
  *id_out = sqlite3_last_insert_rowid(c->db); /* inside the write txn: no one raced us */
  return WH_OK;
}

bool store_repo_exists(struct store *s, const char *repo)
{
  STORE_AUTOCONN struct store_conn *c = NULL;
  int64_t id;

  if (repo == NULL || store_conn_get(s, &c, NULL) != WH_OK)
    return false;
  return store_repo_id(c, repo, false, &id, NULL) == WH_OK;
}

/* ---- schema ------------------------------------------------------------ */

static enum wh_code user_version(struct store_conn *c, int *out, struct wh_err *err)
{
  STORE_AUTOFINALIZE sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v2(c->db, "PRAGMA user_version", -1, &st, NULL);

  if (rc != SQLITE_OK)
    return store_db_error(c, rc, "read schema version", err);
  if ((rc = sqlite3_step(st)) != SQLITE_ROW)
    return store_db_error(c, rc, "read schema version", err);
  *out = sqlite3_column_int(st, 0);
  return WH_OK;
}

static enum wh_code migrate_txn(struct store_conn *c, void *ctx, struct wh_err *err)
{
  char sql[64];
  int v, rc;
  enum wh_code code = user_version(c, &v, err);

  (void)ctx;
  if (code != WH_OK)
    return code;
  if (v > STORE_SCHEMA_VERSION)
    return wh_err_set(err, WH_EUNSUPPORTED, 0, "index schema version %d is newer than this program (%d)", v,
                      STORE_SCHEMA_VERSION);
  for (; v < STORE_SCHEMA_VERSION; v++) {
    if ((rc = sqlite3_exec(c->db, migrations[v], NULL, NULL, NULL)) != SQLITE_OK)
      return store_db_error(c, rc, "migrate index schema", err);
    snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", v + 1);
    if ((rc = sqlite3_exec(c->db, sql, NULL, NULL, NULL)) != SQLITE_OK)
      return store_db_error(c, rc, "migrate index schema", err);
  }
  return WH_OK;
}

/* Runs on the first connection: WAL, then the migrations. */
static enum wh_code schema_setup(struct store *s, struct store_conn *c, struct wh_err *err)
{
  int v, rc;
  enum wh_code code;

  if ((code = user_version(c, &v, err)) != WH_OK)
    return code;
  if (s->flags & STORE_READONLY) {
    if (v != STORE_SCHEMA_VERSION)
      return wh_err_set(err, WH_EUNSUPPORTED, 0, "index schema version %d, this program needs %d", v,
                        STORE_SCHEMA_VERSION);
    return WH_OK;
  }
  /* Set up already: the first setup switched to WAL (a persistent mode)
   * before its migrations, which are one transaction. The usual case, and
   * no write lock to take for it. */
  if (v == STORE_SCHEMA_VERSION)
    return WH_OK;
  /* Several processes creating one store at once: switching to WAL needs
   * an exclusive lock, which SQLite refuses at once (no busy handler):
   * retry for up to about two seconds. */
  for (int attempt = 0;; attempt++) {
    rc = sqlite3_exec(c->db, "PRAGMA journal_mode = WAL", NULL, NULL, NULL);
    if ((rc != SQLITE_BUSY && rc != SQLITE_LOCKED) || attempt >= 200)
      break;
    struct timespec ts = {0, 10 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  if (rc != SQLITE_OK)
    return store_db_error(c, rc, "switch index to WAL", err);
  for (int attempt = 0;; attempt++) {
    c->busy = false;
    code = txn_once(c, 0, migrate_txn, NULL, err);
    if (code == WH_OK || !c->busy || attempt >= 3)
      return code;
  }
}

/* ---- open / free ------------------------------------------------------- */

/* mkdir -p for the root itself (the only path that is not dirfd-relative). */
static enum wh_code mkdir_root(const char *root, struct wh_err *err)
{
  char path[PATH_MAX];
  size_t n = strnlen(root, sizeof(path));

  if (n == 0 || n >= sizeof(path))
    return wh_err_set(err, WH_EINVALID, 0, "store root: bad path");
  memcpy(path, root, n + 1);
  for (size_t i = 1; i <= n; i++) {
    if (path[i] != '/' && path[i] != '\0')
      continue;
    path[i] = '\0';
    if (mkdir(path, 0755) != 0 && errno != EEXIST)
      return wh_err_set(err, WH_EIO, errno, "create store root \"%s\"", path);
    path[i] = i == n ? '\0' : '/';
  }
  return WH_OK;
}

/* Opens (creating unless read-only) the directory name below dirfd. */
static enum wh_code open_subdir(int dirfd, const char *name, bool create, int *out, struct wh_err *err)
{
  int fd;

  if (create && mkdirat(dirfd, name, 0755) != 0 && errno != EEXIST)
    return wh_err_set(err, WH_EIO, errno, "create directory \"%s\"", name);
  fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0)
    return wh_err_set(err, errno == ENOENT ? WH_ENOTFOUND : WH_EIO, errno, "open directory \"%s\"", name);
  *out = fd;
  return WH_OK;
}

static void close_dirs(struct store *s)
{
  for (size_t i = 0; i < WH_ARRAY_LEN(s->algfd); i++)
    if (s->algfd[i] >= 0)
      close(s->algfd[i]), s->algfd[i] = -1;
  if (s->uploadsfd >= 0)
    close(s->uploadsfd), s->uploadsfd = -1;
  if (s->rootfd >= 0)
    close(s->rootfd), s->rootfd = -1;
}

/* Opens the store's directories, creating what is missing when create. */
static enum wh_code open_dirs(struct store *s, const char *root, bool create, struct wh_err *err)
{
  WH_AUTOCLOSE int blobs = -1;
  enum wh_code rc;

  s->rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (s->rootfd < 0)
    return wh_err_set(err, errno == ENOENT ? WH_ENOTFOUND : WH_EIO, errno, "open store \"%s\"", root);
  if ((rc = open_subdir(s->rootfd, "blobs", create, &blobs, err)) != WH_OK ||
      (rc = open_subdir(blobs, "sha256", create, &s->algfd[WH_DIGEST_SHA256], err)) != WH_OK ||
      (rc = open_subdir(blobs, "sha512", create, &s->algfd[WH_DIGEST_SHA512], err)) != WH_OK ||
      (rc = open_subdir(s->rootfd, "uploads", create, &s->uploadsfd, err)) != WH_OK)
    return wh_err_wrap(err, "open store \"%s\"", root);
  return WH_OK;
}

static enum wh_code db_path_of(struct store *s, const char *root, struct wh_err *err)
{
  WH_AUTOFREE char *abs = realpath(root, NULL);
  size_t n;

  if (abs == NULL)
    return wh_err_set(err, WH_EIO, errno, "resolve store root \"%s\"", root);
  n = strlen(abs) + sizeof("/index.db");
  if ((s->db_path = malloc(n)) == NULL)
    return wh_err_set(err, WH_ENOMEM, 0, "open store: out of memory");
  snprintf(s->db_path, n, "%s/index.db", abs);
  return WH_OK;
}

static struct store *store_alloc(unsigned flags)
{
  struct store *s = calloc(1, sizeof(*s));

  if (s == NULL)
    return NULL;
  s->rootfd = s->uploadsfd = -1;
  for (size_t i = 0; i < WH_ARRAY_LEN(s->algfd); i++)
    s->algfd[i] = -1;
  s->flags = flags;
  s->max_blob = STORE_DEFAULT_MAX_BLOB;
  s->fault = fault_from_env();
  pthread_mutex_init(&s->lock, NULL);
  return s;
}

enum wh_code store_open(const char *root, unsigned flags, struct store **out, struct wh_err *err)
{
  struct store *s = NULL;
  struct store_conn *c = NULL;
  enum wh_code rc = WH_ENOMEM;

  if (root == NULL || (flags & STORE_CREATE && flags & STORE_READONLY))
    return wh_err_set(err, WH_EINVALID, 0, "open store: bad arguments");
  if ((s = store_alloc(flags)) == NULL)
    return wh_err_set(err, WH_ENOMEM, 0, "open store: out of memory");
  /* a store that exists opens without trying to create anything */
  if ((rc = open_dirs(s, root, false, err)) == WH_ENOTFOUND && !(flags & STORE_READONLY)) {
    close_dirs(s);
    if ((flags & STORE_CREATE) && (rc = mkdir_root(root, err)) != WH_OK)
      goto out;
    rc = open_dirs(s, root, true, err);
  }
  if (rc != WH_OK || (rc = db_path_of(s, root, err)) != WH_OK)
    goto out;
  if ((rc = conn_open(s, flags & STORE_CREATE, &c, err)) != WH_OK)
    goto out;
  if ((rc = schema_setup(s, c, err)) != WH_OK) {
    wh_err_wrap(err, "open store \"%s\"", root);
    goto out;
  }
  store_conn_put(wh_steal_ptr(&c));
  *out = wh_steal_ptr(&s);
  rc = WH_OK;
out:
  conn_close(c);
  store_free(s);
  return rc;
}

/* A WAL past this many bytes is checkpointed (and truncated) at store_free
 * even by a process that wrote nothing (one left behind by a killed one). */
#define STORE_WAL_TRUNCATE_BYTES (256 * 1024)

/* The next process that opens the store alone reads the whole WAL to
 * rebuild its index (SQLite's recovery: about 0.5 ms per 200 KiB here),
 * and most commands only read (`wharf run` above all). So a process that
 * wrote copies the WAL into index.db and truncates it as it closes the
 * store, when that does not wait for another process (50 ms at most):
 * the writer pays a checkpoint once, the readers after it nothing. */
static void wal_trim(struct store *s)
{
  char wal[PATH_MAX];
  struct stat st;
  bool wrote = false;

  if ((s->flags & STORE_READONLY) || s->idle == NULL)
    return;
  for (struct store_conn *c = s->idle; c; c = c->next)
    wrote = wrote || sqlite3_total_changes(c->db) > 0;
  snprintf(wal, sizeof(wal), "%s-wal", s->db_path);
  if (stat(wal, &st) != 0 || st.st_size == 0 || (!wrote && st.st_size <= STORE_WAL_TRUNCATE_BYTES))
    return;
  sqlite3_busy_timeout(s->idle->db, 50);
  sqlite3_wal_checkpoint_v2(s->idle->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
}

void store_free(struct store *s)
{
  struct store_conn *c;

  if (s == NULL)
    return;
  wal_trim(s);
  while ((c = s->idle) != NULL) {
    s->idle = c->next;
    conn_close(c);
  }
  store_parked_free(s);
  close_dirs(s);
  free(s->db_path);
  pthread_mutex_destroy(&s->lock);
  free(s);
}
