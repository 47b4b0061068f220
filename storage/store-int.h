/* storage/store-int.h - private declarations shared by the storage/ files.
 *
 * What lives where:
 *   db.c         store_open/store_free, schema + migrations, the connection
 *                pool, cached prepared statements, write transactions,
 *                repository rows, fault injection
 *   blobs.c      blob files (temp -> fsync -> rename -> fsync dir) and rows
 *   uploads.c    upload sessions and the parked-session table
 *   manifests.c  manifest put/get/delete, referrers
 *   tags.c       tags, tag history, tag and repository lists
 *   fsck.c       consistency check and repair
 *   recover.c    crash recovery (store_recover): residue of killed writers
 *   gc.c         garbage collection (store_gc, store_gc_run): untagged
 *                manifests and blobs nothing references; store_blob_touch
 *   scrub.c      re-hash every blob, quarantine bad ones (store_scrub)
 *   usage.c      storage accounting (store_usage, store_usage_glob)
 *
 * Connections: a small pool (struct store.idle). Every public call takes a
 * connection with store_conn_get() and gives it back when done (usually via
 * STORE_AUTOCONN), so a connection is only ever used by one thread at a
 * time (SQLITE_OPEN_NOMUTEX) and its cached statements need no lock. Write
 * transactions go through store_txn() (BEGIN IMMEDIATE, retried on BUSY).
 *
 * File locks: a file in uploads/ that is being written (session handle held,
 * temp file of a blob being stored, session being purged) carries an
 * flock(LOCK_EX) on its open file description. purge and fsck skip files
 * they cannot lock, so they never pull bytes from under a live writer, in
 * this process or another one; a killed process drops its locks. A file
 * that must have a row (an upload session) is looked up again after its
 * lock is taken: upload start keeps its lock until its row is committed.
 *
 * Blob fan-out directories (blobs/<alg>/<2 hex>): a writer renames a file
 * into one while holding flock(LOCK_SH) on the directory; a file that does
 * not hash to its name is removed only under flock(LOCK_EX) and only while
 * its name still points to the inode that was hashed. So recovery and fsck
 * never remove a complete blob that a writer has just put in its place.
 * Garbage collection removes a blob's row first (write transaction) and
 * its file after, under LOCK_EX and inside a second write transaction that
 * finds no row again; store_blob_record, for its part, checks inside its
 * own write transaction that the file is there. Write transactions are
 * serialised, so either the row comes back before the recheck (the file
 * stays) or the file is gone before the record (which then fails with
 * WH_ECONFLICT): a row never outlives its file (see gc.c).
 *
 * Fault injection for crash tests: the environment variable WHARF_FAULT is
 * read once by store_open():
 *   kill-before-rename  raise(SIGKILL) after a complete blob file is fsynced,
 *                       before it is renamed into blobs/
 *   kill-after-rename   raise(SIGKILL) right after the rename and the
 *                       directory fsync, before the index row is committed
 *   kill-before-commit  raise(SIGKILL) inside the transaction that records a
 *                       blob or a manifest, just before COMMIT
 *   enospc-write        every write of blob/upload bytes fails with ENOSPC
 *                       (WH_EIO, sys_errno ENOSPC)
 * These points are hit by store_blob_put, store_upload_finish and
 * store_manifest_put only (not by session creation or tag moves), so a test
 * can start a session and push bytes before the fault fires. Unknown values
 * are ignored.
 */
#ifndef WH_STORE_INT_H
#define WH_STORE_INT_H

#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include "common/digest.h"
#include "common/err.h"
#include "storage/store.h"

#define STORE_SCHEMA_VERSION 6
#define STORE_BUSY_TIMEOUT_MS 10000
#define STORE_POOL_MAX 64 /* idle connections kept */
#define STORE_DEFAULT_MAX_BLOB (64ull << 30)
#define STORE_REPO_MAX 512 /* bytes in a repository name */
#define STORE_UPLOAD_BUCKETS 64
#define STORE_IO_CHUNK (256 * 1024)
#define STORE_WRITEBACK_STEP (8u << 20) /* upload bytes between two early writeback starts */
/* "ab/" + 128 hex + NUL: a blob's name below blobs/<alg>/ */
#define STORE_BLOB_REL_MAX 136
#define STORE_TMP_PREFIX "tmp-"

enum store_fault {
  STORE_FAULT_NONE = 0,
  STORE_FAULT_KILL_BEFORE_RENAME,
  STORE_FAULT_KILL_AFTER_RENAME,
  STORE_FAULT_KILL_BEFORE_COMMIT,
  STORE_FAULT_ENOSPC_WRITE,
};

/* Edge kinds in manifest_refs. */
enum store_edge_kind {
  STORE_EDGE_CONFIG = 1,
  STORE_EDGE_LAYER = 2,
  STORE_EDGE_LAYER_FOREIGN = 3, /* non-distributable: need not be stored */
  STORE_EDGE_CHILD = 4,         /* index -> manifest */
  STORE_EDGE_SUBJECT = 5,
};

/* Every cached statement: name and SQL side by side. ?1.. are positional. */
#define STORE_STATEMENTS(X)                                                                                  \
  X(Q_BEGIN, "BEGIN IMMEDIATE")                                                                              \
  X(Q_COMMIT, "COMMIT")                                                                                      \
  X(Q_ROLLBACK, "ROLLBACK")                                                                                  \
  X(Q_REPO_ID, "SELECT id FROM repos WHERE name = ?1")                                                       \
  X(Q_REPO_INSERT, "INSERT INTO repos(name, created) VALUES (?1, ?2) ON CONFLICT(name) DO NOTHING")          \
  X(Q_REPO_LIST, "SELECT name FROM repos r WHERE name > ?1 AND (EXISTS (SELECT 1 FROM manifests m"           \
                 " WHERE m.repo_id = r.id) OR EXISTS (SELECT 1 FROM repo_blobs b WHERE b.repo_id = r.id))"   \
                 " ORDER BY name LIMIT ?2")                                                                  \
  X(Q_BLOB_SIZE, "SELECT size FROM blobs WHERE digest = ?1")                                                 \
  X(Q_BLOB_SIZE_REPO, "SELECT b.size FROM repo_blobs rb JOIN blobs b ON b.digest = rb.digest"                \
                      " WHERE rb.repo_id = (SELECT id FROM repos WHERE name = ?1) AND rb.digest = ?2")       \
  X(Q_BLOB_INSERT, "INSERT INTO blobs(digest, size, created) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING")    \
  X(Q_LINK_INSERT, "INSERT INTO repo_blobs(repo_id, digest, created) VALUES (?1, ?2, ?3)"                    \
                   " ON CONFLICT DO UPDATE SET created = excluded.created")                                  \
  X(Q_LINK_EXISTS, "SELECT 1 FROM repo_blobs WHERE repo_id = ?1 AND digest = ?2")                            \
  X(Q_LINK_ANY, "SELECT 1 FROM repo_blobs WHERE digest = ?1 LIMIT 1")                                        \
  X(Q_LINK_DELETE, "DELETE FROM repo_blobs WHERE repo_id = (SELECT id FROM repos WHERE name = ?1)"           \
                   " AND digest = ?2 AND NOT EXISTS (SELECT 1 FROM manifest_refs mr"                         \
                   " WHERE mr.repo_id = repo_blobs.repo_id AND mr.child_digest = ?2 AND mr.kind IN (1, 2))") \
  X(Q_UPLOAD_INSERT, "INSERT INTO uploads(id, repo_id, created) VALUES (?1, ?2, ?3)")                        \
  X(Q_UPLOAD_LOOKUP, "SELECT u.repo_id FROM uploads u JOIN repos r ON r.id = u.repo_id"                      \
                     " WHERE u.id = ?1 AND r.name = ?2")                                                     \
  X(Q_UPLOAD_EXISTS, "SELECT 1 FROM uploads WHERE id = ?1")                                                  \
  X(Q_UPLOAD_DELETE, "DELETE FROM uploads WHERE id = ?1")                                                    \
  X(Q_UPLOAD_OLD, "SELECT id FROM uploads WHERE created < ?1 ORDER BY id")                                   \
  X(Q_UPLOAD_PAGE, "SELECT id FROM uploads WHERE id > ?1 AND length(CAST(id AS BLOB)) = 32"                  \
                   " ORDER BY id LIMIT ?2")                                                                  \
  X(Q_MANIFEST_BY_TAG, "SELECT m.digest, m.media_type, m.size FROM repos r JOIN tags t ON t.repo_id = r.id"  \
                       " JOIN manifests m ON m.repo_id = t.repo_id AND m.digest = t.digest"                  \
                       " WHERE r.name = ?1 AND t.name = ?2")                                                 \
  X(Q_MANIFEST_BY_DIGEST, "SELECT m.digest, m.media_type, m.size FROM repos r JOIN manifests m"              \
                          " ON m.repo_id = r.id WHERE r.name = ?1 AND m.digest = ?2")                        \
  X(Q_MANIFEST_EXISTS, "SELECT 1 FROM manifests WHERE repo_id = ?1 AND digest = ?2")                         \
  X(Q_MANIFEST_UPSERT, "INSERT INTO manifests(repo_id, digest, media_type, size, artifact_type, subject,"    \
                       " annotations_json, created) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"                 \
                       " ON CONFLICT(repo_id, digest) DO UPDATE SET media_type = excluded.media_type,"       \
                       " artifact_type = excluded.artifact_type, subject = excluded.subject,"                \
                       " annotations_json = excluded.annotations_json")                                      \
  X(Q_MANIFEST_DELETE, "DELETE FROM manifests WHERE repo_id = ?1 AND digest = ?2")                           \
  X(Q_EDGE_INSERT, "INSERT INTO manifest_refs(repo_id, digest, child_digest, kind) VALUES (?1, ?2, ?3, ?4)"  \
                   " ON CONFLICT DO NOTHING")                                                                \
  X(Q_EDGES_DELETE, "DELETE FROM manifest_refs WHERE repo_id = ?1 AND digest = ?2")                          \
  X(Q_REFERRERS, "SELECT digest, media_type, size, artifact_type, annotations_json FROM manifests"           \
                 " WHERE repo_id = (SELECT id FROM repos WHERE name = ?1) AND subject = ?2"                  \
                 " AND (?3 IS NULL OR artifact_type = ?3) ORDER BY digest")                                  \
  X(Q_TAG_GET, "SELECT digest FROM tags WHERE repo_id = ?1 AND name = ?2")                                   \
  X(Q_TAG_UPSERT, "INSERT INTO tags(repo_id, name, digest, updated) VALUES (?1, ?2, ?3, ?4)"                 \
                  " ON CONFLICT(repo_id, name) DO UPDATE SET digest = excluded.digest,"                      \
                  " updated = excluded.updated")                                                             \
  X(Q_TAG_DELETE, "DELETE FROM tags WHERE repo_id = ?1 AND name = ?2")                                       \
  X(Q_TAGS_DROP_HISTORY, "INSERT INTO tag_history(repo_id, tag, old_digest, new_digest, time_ms, who)"       \
                         " SELECT repo_id, name, digest, NULL, ?3, ?4 FROM tags"                             \
                         " WHERE repo_id = ?1 AND digest = ?2 ORDER BY name")                                \
  X(Q_TAGS_DROP, "DELETE FROM tags WHERE repo_id = ?1 AND digest = ?2")                                      \
  X(Q_HISTORY_INSERT, "INSERT INTO tag_history(repo_id, tag, old_digest, new_digest, time_ms, who)"          \
                      " VALUES (?1, ?2, ?3, ?4, ?5, ?6)")                                                    \
  X(Q_TAG_LIST, "SELECT name FROM tags WHERE repo_id = ?1 AND name > ?2 ORDER BY name LIMIT ?3")             \
  X(Q_HISTORY_LIST, "SELECT id, old_digest, new_digest, time_ms, who FROM tag_history"                       \
                    " WHERE repo_id = ?1 AND tag = ?2 AND id < ?3 ORDER BY id DESC LIMIT ?4")                \
  X(Q_MANIFEST_LIST, "SELECT m.digest, m.media_type, m.size, m.created,"                                     \
                     " (SELECT count(*) FROM tags t WHERE t.repo_id = m.repo_id AND t.digest = m.digest),"   \
                     " EXISTS (SELECT 1 FROM manifest_refs r WHERE r.child_digest = m.digest"                \
                     " AND r.repo_id = m.repo_id AND r.kind = 4), m.subject IS NOT NULL"                     \
                     " FROM manifests m WHERE m.repo_id = ?1 ORDER BY m.created DESC, m.digest")             \
  X(Q_GC_CANDIDATES, "SELECT b.digest, b.size FROM blobs b WHERE b.digest > ?1 AND b.created < ?2"           \
                     " AND b.checked < ?4"                                                                   \
                     " AND NOT EXISTS (SELECT 1 FROM manifests m WHERE m.digest = b.digest)"                 \
                     " AND NOT EXISTS (SELECT 1 FROM manifest_refs r WHERE r.child_digest = b.digest)"       \
                     " AND NOT EXISTS (SELECT 1 FROM repo_blobs l WHERE l.digest = b.digest"                 \
                     " AND l.created >= ?2) ORDER BY b.digest LIMIT ?3")                                     \
  X(Q_GC_LINKS_DELETE, "DELETE FROM repo_blobs WHERE digest = ?1")                                           \
  X(Q_GC_BLOB_DELETE, "DELETE FROM blobs WHERE digest = ?1")

enum store_stmt_id {
#define STORE_STMT_ENUM(id, sql) id,
  STORE_STATEMENTS(STORE_STMT_ENUM)
#undef STORE_STMT_ENUM
      Q_COUNT
};

/* One SQLite connection; used by one thread at a time (taken from the pool). */
struct store_conn {
  struct store *s;              /* back pointer, not owned */
  sqlite3 *db;                  /* owned */
  sqlite3_stmt *stmts[Q_COUNT]; /* owned, prepared lazily */
  bool busy;                    /* last failure was SQLITE_BUSY/LOCKED: retry */
  struct store_conn *next;      /* idle list link (store.lock) */
};

/* An upload session known to this process (see uploads.c). */
struct store_parked {
  char id[STORE_UPLOAD_ID_LEN + 1];
  bool in_use;              /* a handle is out: store_upload_get conflicts */
  struct wh_hasher *hasher; /* owned; running sha256 while parked, else NULL */
  uint64_t size;            /* bytes covered by hasher */
  struct store_parked *next;
};

struct store {
  int rootfd;              /* owned: the root directory */
  int uploadsfd;           /* owned: uploads/ */
  int algfd[3];            /* owned: blobs/sha256, blobs/sha512 (by enum wh_digest_alg) */
  char *db_path;           /* owned: absolute path of index.db */
  unsigned flags;          /* enum store_open_flags */
  enum store_fault fault;  /* from WHARF_FAULT, fixed after open */
  uint64_t max_blob;       /* __atomic access */
  unsigned events;         /* enum store_event_kind mask written to the outbox; __atomic access */
  pthread_mutex_t lock;    /* guards idle, n_idle, parked */
  struct store_conn *idle; /* owned: pool of idle connections */
  size_t n_idle;
  struct store_parked *parked[STORE_UPLOAD_BUCKETS]; /* owned: parked sessions by id hash */
};

/* ---- db.c -------------------------------------------------------------- */

enum wh_code store_conn_get(struct store *s, struct store_conn **out, struct wh_err *err);
void store_conn_put(struct store_conn *c); /* NULL no-op; back to the pool */
static inline void store_conn_cleanup(struct store_conn **c)
{
  store_conn_put(*c);
}
#define STORE_AUTOCONN __attribute__((cleanup(store_conn_cleanup)))

/* The cached statement q, reset and ready to bind; NULL on error (err set). */
sqlite3_stmt *store_stmt(struct store_conn *c, enum store_stmt_id q, struct wh_err *err);
static inline void store_stmt_cleanup(sqlite3_stmt **st)
{
  if (*st) {
    sqlite3_reset(*st);
    sqlite3_clear_bindings(*st);
  }
}
/* A cached statement, reset when it goes out of scope. */
#define STORE_AUTORESET __attribute__((cleanup(store_stmt_cleanup)))
static inline void store_stmt_finalize(sqlite3_stmt **st)
{
  sqlite3_finalize(*st);
}
/* A one-off statement, finalized when it goes out of scope. */
#define STORE_AUTOFINALIZE __attribute__((cleanup(store_stmt_finalize)))

/* Sets WH_EDATABASE with "what: <sqlite message>"; marks c busy when rc is
 * SQLITE_BUSY or SQLITE_LOCKED so store_txn retries. Returns WH_EDATABASE. */
enum wh_code store_db_error(struct store_conn *c, int rc, const char *what, struct wh_err *err);
/* Runs a statement expected to produce no rows (INSERT/UPDATE/DELETE). */
enum wh_code store_exec_stmt(struct store_conn *c, sqlite3_stmt *st, const char *what, struct wh_err *err);
/* Steps a one-row query: WH_OK with a row ready, WH_ENOTFOUND when empty. */
enum wh_code store_step_row(struct store_conn *c, sqlite3_stmt *st, const char *what, struct wh_err *err);

void store_bind_text(sqlite3_stmt *st, int i, const char *s); /* NULL binds NULL */
void store_bind_int(sqlite3_stmt *st, int i, int64_t v);
/* Parses a digest column (never fails for rows this store wrote). */
enum wh_code store_column_digest(sqlite3_stmt *st, int col, struct wh_digest *out, struct wh_err *err);

enum store_txn_opts {
  STORE_TXN_RECORDS_BLOB = 1 << 0, /* the kill-before-commit fault point applies */
};
typedef enum wh_code (*store_txn_fn)(struct store_conn *c, void *ctx, struct wh_err *err);
/* BEGIN IMMEDIATE; fn; COMMIT (ROLLBACK when fn fails). Retried from the
 * start when SQLite reports BUSY, so fn must only depend on ctx's inputs. */
enum wh_code store_txn(struct store *s, unsigned opts, store_txn_fn fn, void *ctx, struct wh_err *err);

/* Repository row id. create: insert when missing (inside a write txn).
 * WH_ENOTFOUND when missing and !create. */
enum wh_code store_repo_id(struct store_conn *c, const char *repo, bool create, int64_t *id_out,
                           struct wh_err *err);
/* Loose check of a repository name (length, printable ASCII); the server
 * applies the distribution grammar itself. */
enum wh_code store_repo_name_check(const char *repo, struct wh_err *err);

int64_t store_now_s(void);
int64_t store_now_ms(void);
/* raise(SIGKILL) when the store's fault is f. */
void store_fault_point(struct store *s, enum store_fault f);

/* ---- blobs.c ----------------------------------------------------------- */

/* "ab/abcdef..." below s->algfd[d->alg]. */
void store_blob_rel(const struct wh_digest *d, char out[STORE_BLOB_REL_MAX]);
/* Creates uploads/<prefix><32 random hex> (exclusive, 0644, flock'd by us).
 * name_out gets the name. */
enum wh_code store_tmp_create(struct store *s, const char *prefix, char *name_out, size_t name_size,
                              int *fd_out, struct wh_err *err);
/* Writes with the enospc-write fault applied. */
enum wh_code store_write_at(struct store *s, int fd, const void *p, size_t n, uint64_t off,
                            struct wh_err *err);
/* Moves the complete, hashed file srcdir/src (open as fd) to its blob name:
 * fsync, chmod 0444, rename (or drop it when an intact copy is there),
 * fsync the directory. Fault points kill-before/after-rename. */
enum wh_code store_blob_place(struct store *s, int srcdir, const char *src, int fd, const struct wh_digest *d,
                              uint64_t size, struct wh_err *err);
/* Makes sure the blob file for data exists (writing it via a temp file). */
enum wh_code store_blob_write(struct store *s, const void *data, size_t len, const struct wh_digest *d,
                              struct wh_err *err);
/* Inside a write txn: blob row (idempotent) and, when repo_id > 0, the link
 * (its time refreshed: a fresh link keeps the blob young for store_gc).
 * Checks that the blob file is in place: WH_ECONFLICT when a garbage
 * collection removed it after the caller put it there (try again). */
enum wh_code store_blob_record(struct store_conn *c, int64_t repo_id, const struct wh_digest *d,
                               uint64_t size, struct wh_err *err);
/* Inside a write txn: links existing blob row d to repo_id (idempotent; the
 * link's time is refreshed). */
enum wh_code store_blob_link(struct store_conn *c, int64_t repo_id, const struct wh_digest *d,
                             struct wh_err *err);
/* Inside a txn: is d linked to repo_id? */
enum wh_code store_blob_linked(struct store_conn *c, int64_t repo_id, const struct wh_digest *d, bool *out,
                               struct wh_err *err);
/* Opens blob file d read-only; WH_ENOTFOUND when the file is missing. */
enum wh_code store_blob_open_file(struct store *s, const struct wh_digest *d, int *fd_out,
                                  struct wh_err *err);
/* Opens blobs/<alg>/<sub> (sub: 2 hex chars) and takes flock(lock_op) on
 * it, waiting; closing *fd_out drops the lock. WH_ENOTFOUND when missing. */
enum wh_code store_fanout_lock(struct store *s, enum wh_digest_alg alg, const char *sub, int lock_op,
                               int *fd_out, struct wh_err *err);
/* Removes the file named for d that does not hash to d, under the fan-out
 * directory's exclusive lock, only when the name still points to `seen`
 * (the inode that was hashed): a writer may have renamed a complete copy
 * over it meanwhile. *removed_out: whether it was removed. */
enum wh_code store_blob_remove_corrupt(struct store *s, const struct wh_digest *d, const struct stat *seen,
                                       bool *removed_out, struct wh_err *err);

/* ---- uploads.c --------------------------------------------------------- */

/* Frees the parked-session table (store_free). */
void store_parked_free(struct store *s);
/* True when this process holds a handle on session id. */
bool store_upload_in_use(struct store *s, const char *id);
typedef void (*store_stray_fn)(void *ctx, const char *name, bool removed);
/* Calls fn for every file in uploads/ that is not an open session, is not
 * being written (not flock'd) and was last modified before cutoff (unix
 * seconds; INT64_MAX: any age); with remove, unlinks it first (removed says
 * whether that worked). */
enum wh_code store_uploads_strays(struct store *s, int64_t cutoff, bool remove, store_stray_fn fn, void *ctx,
                                  struct wh_err *err);
/* Ends the sessions whose file is gone (finish killed between moving the
 * bytes into blobs/ and its commit; see the note at finish in uploads.c for
 * why this is safe beside a live finish). Sessions with a handle in this
 * process are left to it. *n_out: rows deleted. */
enum wh_code store_uploads_fileless(struct store *s, uint64_t *n_out, struct wh_err *err);

/* ---- manifests.c ------------------------------------------------------- */

/* Inside a write txn: removes the manifest row (repo_id, d), its edges and
 * its tags (history rows recorded). */
enum wh_code store_manifest_drop(struct store_conn *c, int64_t repo_id, const char *digest, const char *who,
                                 struct wh_err *err);

/* ---- outbox.c ---------------------------------------------------------- */

/* One change to record in the outbox (see store_set_events). */
struct store_event_add {
  enum store_event_kind kind;
  const char *target;     /* "manifest", "tag" or "blob" */
  const char *tag;        /* may be NULL */
  const char *digest;     /* media type and size are looked up from it */
  const char *old_digest; /* tag moves: the previous digest; may be NULL */
  const char *who;        /* may be NULL */
};
/* True when the store records events of this kind (cheap: one atomic load). */
bool store_events_on(struct store *s, enum store_event_kind kind);
/* Inside a write txn: appends one outbox row for repo_id when the store
 * records events of e->kind (else does nothing). Call it before a row the
 * event describes is deleted: media type and size are read from it. */
enum wh_code store_outbox_add(struct store_conn *c, int64_t repo_id, const struct store_event_add *e,
                              struct wh_err *err);

/* ---- tags.c ------------------------------------------------------------ */

/* The digest tag points at in repo_id, as text, into cur (cur[0] = '\0'
 * when there is no such tag). */
enum wh_code store_tag_current(struct store_conn *c, int64_t repo_id, const char *tag,
                               char cur[WH_DIGEST_STR_MAX], struct wh_err *err);
/* Inside a write txn: points tag at d (repo_id) and appends a history row
 * when the tag's digest actually changes. */
enum wh_code store_tag_move(struct store_conn *c, int64_t repo_id, const char *tag, const struct wh_digest *d,
                            const char *who, struct wh_err *err);

/* ---- rollback.c -------------------------------------------------------- */

/* Inside a write txn: checks e against tag's current target before tag
 * moves to d (WH_EDENIED for an immutable tag, WH_ECONFLICT with
 * e->failed set when the condition does not hold). */
enum wh_code store_tag_expect_check(struct store_conn *c, int64_t repo_id, const char *tag,
                                    const struct wh_digest *d, struct store_tag_expect *e,
                                    struct wh_err *err);

#endif
