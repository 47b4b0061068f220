/* storage/store.h - the content-addressed store and its SQLite index.
 *
 * One store type serves the registry (wharfd) and the client's local image
 * store. Layout below the root directory:
 *
 *   blobs/<alg>/<2 hex>/<hex>   immutable content, named by its digest
 *   uploads/<id>                bytes of an upload session in progress
 *   index.db (+ -wal, -shm)     SQLite in WAL mode, synchronous=FULL
 *   quarantine/<alg>-<hex>      bad blob files moved aside by store_scrub
 *
 * Invariants:
 *  - a blob file exists under its name only with exactly the bytes of that
 *    digest: it is written to uploads/ or a temp file, hashed while
 *    streaming, fsynced, renamed into place and its directory fsynced, and
 *    only then is the index row committed (file first, row after; GC removes
 *    row first, file after);
 *  - a repository reads a blob only when linked to it (pushed, mounted or
 *    referenced by a manifest pushed there);
 *  - manifests are stored as blobs (exact bytes) plus a row with media type,
 *    artifactType, subject and annotations, and one edge row per digest they
 *    reference; a manifest push, its edges, its tags and the tag history
 *    rows commit in one transaction;
 *  - every tag move (create, move, delete) appends one tag_history row.
 *
 * Threads: a struct store may be used from many threads at once (each
 * thread gets its own read connection; writes are serialised with BEGIN
 * IMMEDIATE). Several processes may open the same root at once.
 * Nothing here prints or speaks HTTP: failures come back as enum wh_code
 * with detail in struct wh_err.
 */
#ifndef WH_STORE_H
#define WH_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "common/digest.h"
#include "common/err.h"
#include "common/manifest.h"

struct store;

enum store_open_flags {
  STORE_CREATE = 1 << 0,   /* create the root and the schema when missing */
  STORE_READONLY = 1 << 1, /* open the index read-only (fsck without repair) */
};

/* Opens (and with STORE_CREATE, creates) the store at root. */
enum wh_code store_open(const char *root, unsigned flags, struct store **out, struct wh_err *err);
void store_free(struct store *s); /* NULL is a no-op; open uploads are parked, not lost */

/* ---- blobs ----------------------------------------------------------- */

/* Size of blob d. repo NULL: anywhere in the store; else only when repo may
 * read it. WH_ENOTFOUND when absent (or not readable from repo). */
enum wh_code store_blob_stat(struct store *s, const char *repo, const struct wh_digest *d, uint64_t *size_out,
                             struct wh_err *err);
/* Opens blob d read-only (O_CLOEXEC). *fd_out is the caller's to close. */
enum wh_code store_blob_open(struct store *s, const char *repo, const struct wh_digest *d, int *fd_out,
                             uint64_t *size_out, struct wh_err *err);
/* Links an existing blob into repo (cross-repository mount). from NULL:
 * allowed when any repository has it; else only when from has it.
 * WH_ENOTFOUND when the source does not have it. Creates repo if needed. */
enum wh_code store_blob_mount(struct store *s, const char *repo, const struct wh_digest *d, const char *from,
                              struct wh_err *err);
/* Removes repo's link to blob d (the file stays until GC).
 * WH_ENOTFOUND when repo does not have it; WH_ECONFLICT (nothing changed)
 * while a manifest of repo uses it as config or layer. */
enum wh_code store_blob_unlink(struct store *s, const char *repo, const struct wh_digest *d,
                               struct wh_err *err);
/* Stores a small in-memory blob and links it to repo (NULL: no link).
 * expected NULL: computed as sha256; else must match (WH_EDIGEST). */
enum wh_code store_blob_put(struct store *s, const char *repo, const void *data, size_t len,
                            const struct wh_digest *expected, struct wh_digest *out, struct wh_err *err);

/* ---- upload sessions --------------------------------------------------
 *
 *          store_upload_start        store_upload_get / _write / _release
 *   (none) -----------------> OPEN <------------------------------------+
 *                               |  \----------------------------------/
 *           store_upload_finish |  store_upload_cancel, or purge by age
 *               (digest ok)     v          v
 *                          COMMITTED    (gone)
 *
 * A session belongs to one repository; looking it up from another is
 * WH_ENOTFOUND. Its bytes live in uploads/<id>; the running hash is kept in
 * memory between requests and recomputed from the file after a restart.
 * Only one handle per session at a time (WH_ECONFLICT otherwise).
 */
#define STORE_UPLOAD_ID_LEN 32 /* hex chars */

struct store_upload;

enum wh_code store_upload_start(struct store *s, const char *repo, char id_out[STORE_UPLOAD_ID_LEN + 1],
                                struct wh_err *err);
/* Takes the session's handle. WH_ENOTFOUND: unknown id or other repo. */
enum wh_code store_upload_get(struct store *s, const char *repo, const char *id, struct store_upload **out,
                              struct wh_err *err);
const char *store_upload_id(const struct store_upload *u);
uint64_t store_upload_size(const struct store_upload *u); /* bytes received so far */
/* Appends bytes at the end. Caps: WH_ETOOBIG past the store's max blob size. */
enum wh_code store_upload_write(struct store_upload *u, const void *p, size_t n, struct wh_err *err);
/* Gives the handle back; the session stays open (resumable). NULL no-op. */
void store_upload_release(struct store_upload *u);
/* Verifies the bytes against expected (any supported algorithm), moves them
 * into the blob store, links the blob to the session's repo and ends the
 * session. Consumes u whatever the result. On WH_EDIGEST the session is
 * ended too (its bytes are discarded). *size_out optional. */
enum wh_code store_upload_finish(struct store_upload *u, const struct wh_digest *expected, uint64_t *size_out,
                                 struct wh_err *err);
/* Ends an open session and removes its bytes. WH_ENOTFOUND when unknown. */
enum wh_code store_upload_cancel(struct store *s, const char *repo, const char *id, struct wh_err *err);
/* Removes sessions untouched for more than max_age_s seconds; *n_out optional. */
enum wh_code store_upload_purge(struct store *s, int64_t max_age_s, uint64_t *n_out, struct wh_err *err);
/* Largest blob an upload may reach (default 64 GiB). */
void store_set_max_blob_size(struct store *s, uint64_t max);

/* ---- manifests --------------------------------------------------------- */

enum store_manifest_flags {
  STORE_MANIFEST_SPARSE_INDEX = 1 << 0, /* index children need not exist */
};

struct store_manifest_put {
  const char *repo;
  const void *body; /* exact bytes, stored as they are */
  size_t len;
  const char *media_type;           /* what GET will answer as Content-Type */
  const struct wh_manifest *parsed; /* the parsed body: references to check */
  const struct wh_digest *digest;   /* pushed by digest: body must match
                                       (its algorithm is used); NULL: sha256 */
  const char *const *tags;          /* tags to point at it (may be empty) */
  size_t n_tags;
  const char *who; /* for tag history; may be NULL */
  unsigned flags;  /* enum store_manifest_flags */
  /* Optional: n_tags conditions, expect[i] for tags[i] (store_tag_expect,
   * checked in the put's transaction before any tag moves). */
  struct store_tag_expect *expect;
};

/* Stores a manifest in one transaction: checks that every blob it needs
 * (config, layers except non-distributable ones) is readable from repo and,
 * for an index, every child manifest exists in repo (unless sparse);
 * `subject` need not exist. Links config/layers to repo, records edges,
 * moves tags and appends history rows. Errors: WH_EDIGEST (body vs digest),
 * WH_ENOTFOUND (a reference is missing; err names the digest). *out gets the
 * manifest digest (optional). */
enum wh_code store_manifest_put(struct store *s, const struct store_manifest_put *a, struct wh_digest *out,
                                struct wh_err *err);

struct store_manifest {
  struct wh_digest digest;
  char media_type[256];
  uint64_t size;
};

/* Looks up reference (a tag, or a digest string) in repo. fd_out optional:
 * when given, the manifest's blob is opened read-only for the caller.
 * WH_ENOTFOUND when the repo, tag or manifest is unknown. */
enum wh_code store_manifest_get(struct store *s, const char *repo, const char *reference,
                                struct store_manifest *out, int *fd_out, struct wh_err *err);
/* Deletes manifest d from repo with the tags pointing at it (history rows
 * recorded). WH_ENOTFOUND when repo does not have it. */
enum wh_code store_manifest_delete(struct store *s, const char *repo, const struct wh_digest *d,
                                   const char *who, struct wh_err *err);

/* One manifest of a repository, as store_manifest_list() reports it. */
struct store_manifest_info {
  struct wh_digest digest;
  const char *media_type; /* borrowed: valid during the callback only */
  uint64_t size;
  int64_t created;  /* unix seconds of its first put into this repository */
  uint64_t n_tags;  /* tags of the repository pointing at it */
  bool is_child;    /* an index of the repository lists it */
  bool has_subject; /* a referrer (signature, SBOM, ...) */
};
typedef int (*store_manifest_cb)(void *ctx, const struct store_manifest_info *m);
/* Every manifest of repo, tagged or not, newest first (then by digest);
 * cb returns non-zero to stop early. The walk runs inside one read
 * transaction (a consistent snapshot): cb may call other store functions
 * but should be short. WH_ENOTFOUND when repo is unknown. */
enum wh_code store_manifest_list(struct store *s, const char *repo, store_manifest_cb cb, void *ctx,
                                 struct wh_err *err);

/* ---- tags ------------------------------------------------------------- */

/* Points tag at manifest d, which must exist in repo (WH_ENOTFOUND). */
enum wh_code store_tag_set(struct store *s, const char *repo, const char *tag, const struct wh_digest *d,
                           const char *who, struct wh_err *err);
/* Removes a tag (the manifest stays). WH_ENOTFOUND when unknown. */
enum wh_code store_tag_delete(struct store *s, const char *repo, const char *tag, const char *who,
                              struct wh_err *err);

/* Called once per name in order; return non-zero to stop early. */
typedef int (*store_name_cb)(void *ctx, const char *name);

/* Tags of repo in ASCII (byte) order, strictly after `last` (NULL: from the
 * start), at most n (0 = no limit). *more_out (optional) says whether more
 * follow. WH_ENOTFOUND when repo is unknown. */
enum wh_code store_tag_list(struct store *s, const char *repo, const char *last, size_t n, store_name_cb cb,
                            void *ctx, bool *more_out, struct wh_err *err);
/* Repositories, same rules. */
enum wh_code store_repo_list(struct store *s, const char *last, size_t n, store_name_cb cb, void *ctx,
                             bool *more_out, struct wh_err *err);
bool store_repo_exists(struct store *s, const char *repo);

struct store_tag_move {
  int64_t id; /* increasing, history order */
  const char *repo;
  const char *tag;
  bool has_old, has_new; /* created: !has_old; deleted: !has_new */
  struct wh_digest old_digest, new_digest;
  int64_t time_ms; /* unix time in milliseconds */
  const char *who; /* may be NULL */
};
typedef int (*store_tag_move_cb)(void *ctx, const struct store_tag_move *m);
/* History of tag in repo, newest first, ids below before_id (0: from the
 * newest), at most n (0 = no limit). */
enum wh_code store_tag_history(struct store *s, const char *repo, const char *tag, int64_t before_id,
                               size_t n, store_tag_move_cb cb, void *ctx, struct wh_err *err);

/* ---- conditional tag moves and rollback (storage/rollback.c) -------------
 *
 * A condition on a tag's current target, checked inside the transaction
 * that moves the tag (compare-and-set), so two writers cannot both win. */
enum store_expect_kind {
  STORE_EXPECT_NONE = 0, /* no condition */
  STORE_EXPECT_DIGEST,   /* the tag points at `digest` (If-Match: "D") */
  STORE_EXPECT_EXISTS,   /* the tag exists (If-Match: *) */
  STORE_EXPECT_ABSENT,   /* the tag does not exist (If-None-Match: *) */
};
struct store_tag_expect {
  enum store_expect_kind kind;
  struct wh_digest digest; /* STORE_EXPECT_DIGEST */
  bool immutable;          /* may be created (or set again to what it is), never moved: WH_EDENIED */
  bool failed;             /* out: the condition did not hold (the call failed with WH_ECONFLICT) */
};

/* What store_tag_rollback moves a tag back to. */
struct store_rollback {
  const char *repo, *tag;
  const struct wh_digest *to;      /* a manifest of repo; NULL: `steps` back */
  unsigned steps;                  /* with to NULL: 1 = the target before the last move */
  const char *who;                 /* recorded in the history row; may be NULL */
  struct store_tag_expect *expect; /* optional: checked first, on the current target (If-Match);
                                      its `immutable` is ignored (the caller refuses those) */
};
/* Moves a tag back in one write transaction and records the move. `steps`
 * counts the tag's past targets, newest first, as its history shows them
 * (deletions skipped): after v1 -> v2, one step is v1; after a rollback,
 * one step undoes it. *to_out gets the new target, *prev_out the one
 * before (both optional; equal when the tag already pointed there: no
 * move, no row). WH_ENOTFOUND: repository or tag unknown; WH_ECONFLICT:
 * no target that many steps back, the target manifest is gone from repo
 * (err names it), or expect failed (expect->failed set). */
enum wh_code store_tag_rollback(struct store *s, const struct store_rollback *a, struct wh_digest *to_out,
                                struct wh_digest *prev_out, struct wh_err *err);

/* ---- the client's push records (storage/pushes.c) -----------------------
 * What `wharf push` sent where: one row per (registry, repository, tag)
 * push, so that a rollback works on registries that keep no history. */
struct store_push_rec {
  int64_t id;           /* increasing (set by the store) */
  const char *registry; /* "127.0.0.1:5000", "docker.io" */
  const char *repo;     /* registry-side path: "library/app" */
  const char *tag;
  struct wh_digest digest;
  const char *media_type; /* of the manifest pushed */
  int64_t time_ms;        /* unix milliseconds (set by the store on record) */
};
enum wh_code store_push_record(struct store *s, const struct store_push_rec *p, struct wh_err *err);
typedef int (*store_push_cb)(void *ctx, const struct store_push_rec *p);
/* The records of one tag, newest first, at most n (0: all); strings are
 * borrowed for the callback; cb returns non-zero to stop. */
enum wh_code store_push_history(struct store *s, const char *registry, const char *repo, const char *tag,
                                size_t n, store_push_cb cb, void *ctx, struct wh_err *err);

/* ---- referrers -------------------------------------------------------- */

struct store_referrer {
  struct wh_digest digest;
  const char *media_type;
  uint64_t size;
  const char *artifact_type;    /* may be NULL */
  const char *annotations_json; /* JSON object text, may be NULL */
};
typedef int (*store_referrer_cb)(void *ctx, const struct store_referrer *r);
/* Manifests in repo whose subject is `subject`, optionally only those with
 * artifactType == artifact_type (NULL: all). A missing subject is fine. */
enum wh_code store_referrers(struct store *s, const char *repo, const struct wh_digest *subject,
                             const char *artifact_type, store_referrer_cb cb, void *ctx, struct wh_err *err);

/* ---- robot tokens (CI credentials; storage/robots.c) --------------------
 *
 *           store_robot_create            store_robot_revoke
 *   (none) -------------------> ACTIVE --------------------> REVOKED
 *                                 | expires passes              |
 *                                 v                             |
 *                              EXPIRED     store_robot_create replaces a
 *                                          revoked or expired row
 *
 * Only the sha256 (hex) of a robot's secret is stored. The store keeps the
 * pattern and actions as text and gives them no meaning (the server does).
 */
#define STORE_ROBOT_NAME_MAX 127

struct store_robot {
  const char *name;          /* borrowed: valid during the call or callback */
  const char *secret_sha256; /* 64 lowercase hex */
  const char *pattern;       /* repository glob */
  const char *actions;       /* "pull,push" */
  int64_t created;           /* unix seconds */
  int64_t expires;           /* unix seconds; 0 = never */
  bool revoked;
};
/* Adds a robot. WH_ECONFLICT when an active (not revoked, not expired) one
 * has the name; a revoked or expired one is replaced. */
enum wh_code store_robot_create(struct store *s, const struct store_robot *r, struct wh_err *err);
typedef int (*store_robot_cb)(void *ctx, const struct store_robot *r);
/* Looks up one robot: cb runs once with its row. WH_ENOTFOUND when unknown. */
enum wh_code store_robot_get(struct store *s, const char *name, store_robot_cb cb, void *ctx,
                             struct wh_err *err);
/* Every robot by name (revoked and expired ones too). */
enum wh_code store_robot_list(struct store *s, store_robot_cb cb, void *ctx, struct wh_err *err);
/* Marks a robot revoked. WH_ENOTFOUND when unknown or already revoked. */
enum wh_code store_robot_revoke(struct store *s, const char *name, struct wh_err *err);

/* ---- events: the webhook outbox (storage/outbox.c) ----------------------
 *
 * With a non-zero mask (store_set_events; the default is 0: nothing is
 * written), each change of a kind in the mask appends one outbox row in
 * the SAME write transaction as the change, so an event exists exactly
 * when its change was committed and survives a crash:
 *   push    store_manifest_put: one per put (tag: the first tag, if any)
 *   tag     a tag created or moved to another manifest (store_manifest_put,
 *           store_tag_set); old_digest is the previous target
 *   delete  store_manifest_delete (target "manifest"), store_tag_delete
 *           ("tag"), store_blob_unlink ("blob")
 *   pull    store_event_pull (its own small write transaction)
 * Row ids only grow (never reused). A consumer keeps a cursor (the last id
 * it is done with) under a name of its choosing, reads the rows after it
 * in id order, and store_outbox_trim() removes what every consumer passed.
 */
enum store_event_kind {
  STORE_EV_PUSH = 1 << 0,
  STORE_EV_PULL = 1 << 1,
  STORE_EV_DELETE = 1 << 2,
  STORE_EV_TAG = 1 << 3,
};
/* Which kinds are recorded from now on (any thread; takes effect at once). */
void store_set_events(struct store *s, unsigned mask);
/* "push", "pull", "delete", "tag"; NULL for anything else. */
const char *store_event_kind_name(enum store_event_kind kind);

/* One outbox row, as store_outbox_read() reports it. Strings are borrowed
 * (valid during the callback only); NULL when absent. */
struct store_event {
  int64_t id;      /* increasing, never reused */
  const char *uid; /* random, unique: the event id peers see */
  int64_t time_ms; /* unix milliseconds of the change */
  enum store_event_kind kind;
  const char *target; /* "manifest", "tag" or "blob" */
  const char *repo;
  const char *tag;
  const char *digest;
  const char *old_digest; /* tag moves */
  const char *media_type; /* manifests */
  int64_t size;           /* -1 when unknown */
  const char *who;
};
typedef int (*store_event_cb)(void *ctx, const struct store_event *e);

/* Records a pull of manifest d from repo (tag: the reference asked for, or
 * NULL when pulled by digest) when the store records pulls; else WH_OK at
 * once, without touching the database. */
enum wh_code store_event_pull(struct store *s, const char *repo, const char *tag, const struct wh_digest *d,
                              const char *who, struct wh_err *err);
/* Calls cb for the rows with id > after_id, in id order, at most n; cb
 * returns non-zero to stop early. */
enum wh_code store_outbox_read(struct store *s, int64_t after_id, size_t n, store_event_cb cb, void *ctx,
                               struct wh_err *err);
/* The cursor of consumer (a name of at most 1024 bytes). A new consumer is
 * created at the newest row: it sees only events that come after. */
enum wh_code store_outbox_cursor(struct store *s, const char *consumer, int64_t *id_out, struct wh_err *err);
enum wh_code store_outbox_cursor_set(struct store *s, const char *consumer, int64_t id, struct wh_err *err);
/* Removes the rows with id <= upto_id. */
enum wh_code store_outbox_trim(struct store *s, int64_t upto_id, struct wh_err *err);

/* ---- statistics and health (storage/stats.c) ---------------------------- */

/* Number of blob rows and the sum of their sizes: one row kept by
 * triggers (O(1), exact at the last commit). */
enum wh_code store_blob_totals(struct store *s, uint64_t *count_out, uint64_t *bytes_out, struct wh_err *err);
/* Open upload sessions (small table, cheap). */
enum wh_code store_upload_count(struct store *s, uint64_t *n_out, struct wh_err *err);
/* One trivial query on the index: WH_OK when the store answers. */
enum wh_code store_ping(struct store *s, struct wh_err *err);

/* ---- fsck ------------------------------------------------------------- */

enum store_fsck_flags {
  STORE_FSCK_REPAIR = 1 << 0, /* drop rows whose file is missing or corrupt, remove stray temp files */
};
struct store_fsck_report {
  uint64_t blobs;     /* blob rows checked */
  uint64_t manifests; /* manifest rows checked */
  uint64_t problems;  /* inconsistencies found */
  uint64_t repaired;  /* of which repaired */
};
typedef void (*store_fsck_cb)(void *ctx, const char *problem);
/* Checks every index row against the files (exists, size, digest), every
 * edge and tag against the rows, and files without rows. Each problem is
 * passed to cb as one line. Returns WH_OK when the walk completed (look at
 * report->problems), an error when it could not. */
enum wh_code store_fsck(struct store *s, unsigned flags, store_fsck_cb cb, void *ctx,
                        struct store_fsck_report *report, struct wh_err *err);

/* ---- crash recovery --------------------------------------------------- */

struct store_recover_report {
  uint64_t blob_files;       /* files looked at under blobs/ */
  uint64_t temp_removed;     /* leftover files removed from uploads/ */
  uint64_t sessions_ended;   /* upload sessions whose bytes had already left uploads/ */
  uint64_t blobs_registered; /* blob files given back their missing row */
  uint64_t blobs_removed;    /* files under a blob name that did not hash to it */
};
/* Clears what a process killed in the middle of a write left behind, so
 * that store_fsck() finds nothing afterwards (without repair):
 *  - removes files in uploads/ that are no open session and that no live
 *    writer holds (temp files of blob and manifest puts, session files
 *    whose row was never committed or already deleted);
 *  - ends upload sessions whose file is gone (a finish killed after it
 *    moved the bytes into blobs/ and before its commit);
 *  - gives a blob file without a row its row when it hashes to its name
 *    (linked to no repository: no client was told it was stored), and
 *    removes it when it does not.
 * Nothing committed is changed or removed: acknowledged blobs, manifests,
 * tags and open sessions stay as they are.
 * Safe while other threads and processes use the same root: it skips files
 * their writers hold (flock), never removes a correctly named and hashed
 * blob file, and a session row it ends cannot be one a live finish still
 * needs (see storage/recover.c). Also safe beside store_gc().
 * Cost: one walk of uploads/ and of blobs/ with one indexed lookup per
 * file (tens of milliseconds for 10k blobs); only the files without a row
 * are read. Meant for start-up; also safe to run at any time.
 * *out (optional) says what was done. WH_EINVALID on a read-only store;
 * on another error some residue may remain (run it again, or fsck). */
enum wh_code store_recover(struct store *s, struct store_recover_report *out, struct wh_err *err);

/* ---- garbage collection ---------------------------------------------- */

enum store_gc_flags {
  STORE_GC_DRY_RUN = 1 << 0, /* only report what would go */
};
struct store_gc_report {
  uint64_t blobs_removed; /* rows removed (or that would be, dry run) */
  uint64_t bytes_removed; /* their sizes */
  uint64_t files_removed; /* files unlinked (a row can come back before its file goes) */
  uint64_t manifests_removed; /* manifest rows (store_gc_run with delete_untagged) */
};
/* Called for every blob whose row was removed (or would be). */
typedef void (*store_gc_cb)(void *ctx, const struct wh_digest *d, uint64_t size);
/* Removes the blobs nothing references: neither a manifest (as its own
 * bytes) nor an edge of any manifest of any repository (config, layer,
 * index child, subject), whatever the tags. Repository links do not keep
 * a blob (a blob pushed or pulled but never used by a manifest is garbage),
 * except that a blob whose row or any link was created or refreshed in
 * the last grace_s seconds is kept: that is the time a push or a pull has
 * between storing its blobs and storing the manifest that uses them.
 * grace_s 0 collects everything unreferenced.
 *
 * Rows go first (links and blob row, in write transactions of at most a
 * few hundred blobs each), files after: each file is unlinked under its
 * fan-out directory's exclusive lock and inside a write transaction that
 * checks again that no row exists (a writer may have stored the blob
 * again meanwhile: then the file stays). So it is safe beside writers in
 * this and other processes, and beside store_recover(); a kill leaves at
 * worst files without rows, which store_recover() registers again (and the
 * next collection removes). A writer that stores again a blob being
 * collected either keeps it (its row came first) or gets WH_ECONFLICT from
 * its commit and may simply store it again.
 * cb (optional) hears of each removed blob; *out (optional) gets the
 * totals. WH_EINVALID on a read-only store. */
enum wh_code store_gc(struct store *s, int64_t grace_s, unsigned flags, store_gc_cb cb, void *ctx,
                      struct store_gc_report *out, struct wh_err *err);

/* Online collection (wharfd gc and its schedule): store_gc's rules plus
 *  - recent_s: a blob whose row or a link was made, or that a client
 *    HEAD-checked (store_blob_touch), in the last recent_s seconds stays
 *    whatever grace_s says, so even grace 0 never breaks a push between
 *    its blob checks and its manifest (0: no such protection);
 *  - delete_untagged: manifests no tag points at are removed first (rows,
 *    edges), unless one of these keeps them: created in the grace (or
 *    recent) window; among the rollback targets of a tag, i.e. the
 *    keep_history + 1 newest distinct digests its tag_history moved it to
 *    (the current one and the keep_history before it, also for a deleted
 *    tag); an index child or a referrer (subject) of a kept manifest, down
 *    the whole chain. Everything a kept manifest references stays too.
 * Marking and removing meet in one write transaction per batch, so a tag
 * or manifest push that lands meanwhile is either seen or waits. A dry run
 * changes nothing: with delete_untagged it runs the same transactions and
 * rolls them back. `now` 0 reads the clock (tests pass a fixed time).
 * item_cb (optional) hears of every manifest and blob removed (or that
 * would be, in a dry run) after its batch committed. */
struct store_gc_opts {
  int64_t grace_s;
  int64_t recent_s;
  bool delete_untagged;
  uint64_t keep_history; /* default of wharfd: 10 */
  unsigned flags;        /* enum store_gc_flags */
  int64_t now;           /* unix seconds; 0: the clock */
};
struct store_gc_item {
  bool is_manifest;
  const char *repo; /* manifests: their repository (borrowed); blobs: NULL */
  struct wh_digest digest;
  uint64_t size;
};
typedef void (*store_gc_item_cb)(void *ctx, const struct store_gc_item *it);
enum wh_code store_gc_run(struct store *s, const struct store_gc_opts *o, store_gc_item_cb item_cb, void *ctx,
                          struct store_gc_report *out, struct wh_err *err);

/* Records that a client just checked blob d (HEAD): store_gc_run keeps it
 * for recent_s. At most one write per blob per STORE_TOUCH_EVERY_S; a blob
 * without a row is left alone (WH_OK). Call it before answering the check:
 * a collection either sees the new time or removed the row first (and the
 * check then answers 404). */
#define STORE_TOUCH_EVERY_S 60
enum wh_code store_blob_touch(struct store *s, const struct wh_digest *d, struct wh_err *err);

/* ---- scrub (storage/scrub.c) ------------------------------------------- */

enum store_scrub_flags {
  STORE_SCRUB_QUARANTINE = 1 << 0, /* move bad files to <root>/quarantine/, drop their rows */
};
struct store_scrub_report {
  uint64_t blobs;       /* blob rows checked (layers, configs and manifest bytes) */
  uint64_t bytes;       /* bytes hashed */
  uint64_t bad;         /* missing, wrong size or wrong digest */
  uint64_t quarantined; /* of which rows dropped (and file moved when there was one) */
};
/* problem: one line ("content hashes to sha256:..."). */
typedef void (*store_scrub_cb)(void *ctx, const struct wh_digest *d, const char *problem, bool quarantined);
/* Re-hashes every stored blob. With STORE_SCRUB_QUARANTINE a bad one loses
 * its row, its repository links and the manifests made of those bytes (tag
 * moves recorded as by "scrub") in one transaction, so it is never served
 * again; then its file moves to quarantine/<alg>-<hex> under the fan-out
 * directory's exclusive lock, only when no row came back meanwhile. A later
 * push of the same content stores a fresh copy (heals). Manifests that
 * use a quarantined layer keep their edges: fsck names them until the
 * layer is pushed again. WH_EINVALID with quarantine on a read-only store. */
enum wh_code store_scrub(struct store *s, unsigned flags, store_scrub_cb cb, void *ctx,
                         struct store_scrub_report *out, struct wh_err *err);

/* ---- storage accounting (storage/usage.c) -------------------------------- */

struct store_repo_usage {
  const char *name;      /* borrowed: valid during the callback */
  uint64_t bytes;        /* distinct blobs it may read plus its manifests' bytes */
  uint64_t shared_bytes; /* of which blobs another repository uses too */
  uint64_t blobs, manifests, tags;
};
struct store_usage_total {
  uint64_t bytes;        /* every blob row, counted once */
  uint64_t blobs;
  uint64_t shared_bytes; /* blobs used by more than one repository */
  uint64_t repos;
};
typedef int (*store_usage_cb)(void *ctx, const struct store_repo_usage *u);
/* Every repository in name order (cb returns non-zero to stop), then the
 * totals in *out (optional); one read snapshot. */
enum wh_code store_usage(struct store *s, store_usage_cb cb, void *ctx, struct store_usage_total *out,
                         struct wh_err *err);
/* Together over the repositories whose name matches glob (SQLite GLOB:
 * `*` also crosses `/`): bytes of their distinct blobs and manifests, and
 * their number of tags (quotas). */
enum wh_code store_usage_glob(struct store *s, const char *glob, uint64_t *bytes_out, uint64_t *tags_out,
                              struct wh_err *err);

#endif
