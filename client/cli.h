/* client/cli.h - what the files of `wharf` share: global options, the verb
 * table's entry points, error-to-exit mapping, reference normalisation,
 * progress output and local image helpers.
 *
 * Invariants: only wharf.c, errors.c and progress.c write to the terminal
 * on behalf of the others; a verb returns its exit status (0, or what
 * cli_fail() / cli_usage() computed) and never calls exit().  Every helper
 * below returns enum wh_code with detail in a caller-owned struct wh_err.
 */
#ifndef WH_CLI_H
#define WH_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/digest.h"
#include "common/err.h"
#include "common/manifest.h"
#include "storage/store.h"

/* ---- global options and verbs ------------------------------------------ */

/* --tls-verify: DEFAULT follows insecure_registries and loopback (docker's
 * rules); VERIFY (--tls-verify[=true]) verifies every registry, loopback
 * included; NOVERIFY (--tls-verify=false) is --insecure for every registry. */
enum cli_tls_verify { CLI_TLS_DEFAULT = 0, CLI_TLS_VERIFY, CLI_TLS_NOVERIFY };

struct cli_opts {
  const char *root;               /* store root (not owned: argv, env or a static buffer) */
  bool quiet;                     /* --quiet: only the final result on stdout */
  bool insecure;                  /* --insecure: HTTPS unverified, then plain HTTP, for every registry */
  bool tty;                       /* stderr is a terminal (progress lines redraw) */
  enum cli_tls_verify tls_verify; /* --tls-verify */
  const char *cert_dir; /* --cert-dir: CA (*.crt) and client cert (*.cert + *.key); argv, not owned */
};

struct cli_verb {
  const char *name;
  const char *summary; /* one line for `wharf help` */
  const char *usage;   /* full text for `wharf help VERB` */
  int (*run)(const struct cli_opts *o, int argc, char **argv);
};

int cli_cmd_pull(const struct cli_opts *o, int argc, char **argv);
int cli_cmd_push(const struct cli_opts *o, int argc, char **argv);
int cli_cmd_tag(const struct cli_opts *o, int argc, char **argv);
int cli_cmd_untag(const struct cli_opts *o, int argc, char **argv);
int cli_cmd_images(const struct cli_opts *o, int argc, char **argv);
int cli_cmd_inspect(const struct cli_opts *o, int argc, char **argv);
int cli_cmd_rmi(const struct cli_opts *o, int argc, char **argv);
int cli_cmd_login(const struct cli_opts *o, int argc, char **argv);
int cli_cmd_logout(const struct cli_opts *o, int argc, char **argv);
int cli_cmd_tags(const struct cli_opts *o, int argc, char **argv);
int cli_cmd_history(const struct cli_opts *o, int argc, char **argv);
int cli_cmd_copy(const struct cli_opts *o, int argc, char **argv);
int cli_cmd_save(const struct cli_opts *o, int argc, char **argv);
int cli_cmd_load(const struct cli_opts *o, int argc, char **argv);
int cli_cmd_prune(const struct cli_opts *o, int argc, char **argv);
int cli_cmd_run(const struct cli_opts *o, int argc, char **argv);
int cli_cmd_build(const struct cli_opts *o, int argc, char **argv);
int cli_cmd_update(const struct cli_opts *o, int argc, char **argv);
int cli_cmd_ps(const struct cli_opts *o, int argc, char **argv);
int cli_cmd_stop(const struct cli_opts *o, int argc, char **argv);
int cli_cmd_rm(const struct cli_opts *o, int argc, char **argv);
int cli_cmd_logs(const struct cli_opts *o, int argc, char **argv);
int cli_cmd_exec(const struct cli_opts *o, int argc, char **argv);
int cli_cmd_rollback(const struct cli_opts *o, int argc, char **argv);    /* cmd_rollback.c */
int cli_cmd_tag_history(const struct cli_opts *o, int argc, char **argv); /* cmd_rollback.c */
/* `wharf history --tags REF`: the tag's moves (cmd_rollback.c); exit status. */
int cli_tag_history(const struct cli_opts *o, const char *ref, bool remote, bool json);

/* The verb named name, or NULL. */
const struct cli_verb *cli_verb_find(const char *name);

/* ---- errors (errors.c) -------------------------------------------------- */

#define CLI_EXIT_USAGE 2

/* Exit status for a code (the table in errors.c). */
int cli_exit_code(enum wh_code code);
/* Prints `wharf: VERB "SUBJECT": MESSAGE` (subject may be NULL) on stderr
 * and returns the exit status for err->code. */
int cli_fail(const char *verb, const char *subject, const struct wh_err *err);
/* Prints `wharf: VERB: MESSAGE` plus a hint to `wharf help VERB`; returns 2. */
int cli_usage(const char *verb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prints the verb's full usage on stdout (for -h/--help and `wharf help
 * VERB`); returns 0. */
int cli_help(const char *verb);

/* ---- references (refs.c) ------------------------------------------------- */

#define CLI_DEFAULT_DOMAIN "docker.io"
#define CLI_DEFAULT_TAG "latest"

/* A reference with docker's defaults applied. */
struct cli_ref {
  char *domain; /* owned: "docker.io", "127.0.0.1:5000", ... */
  char *path;   /* owned: repository path on the registry: "library/alpine" */
  char *repo;   /* owned: local repository "domain/path" */
  char *tag;    /* owned; NULL when pulled by digest only (or no_tag) */
  bool has_digest;
  struct wh_digest digest;
};

enum cli_ref_flags {
  CLI_REF_NO_DEFAULT_TAG = 1 << 0, /* leave tag NULL when absent */
  CLI_REF_NO_TAG = 1 << 1,         /* a repository only: tag and digest refused */
};

/* Parses and normalises s (`alpine` -> docker.io/library/alpine:latest,
 * index.docker.io -> docker.io). *out written only on success. */
enum wh_code cli_ref_parse(const char *s, unsigned flags, struct cli_ref *out, struct wh_err *err);
void cli_ref_release(struct cli_ref *r);
/* What to ask a registry or the store for: the digest when given, else the tag. */
const char *cli_ref_reference(const struct cli_ref *r);
/* Host[:port] to connect to for domain (docker.io -> registry-1.docker.io). */
const char *cli_registry_host(const char *domain);
/* docker's short form of a local repository name (docker.io/library/x -> x); borrowed. */
const char *cli_repo_familiar(const char *repo);
/* Splits a local repository "domain/path": *path_out points into repo.
 * false when repo has no "/". */
bool cli_repo_split(const char *repo, size_t *domain_len, const char **path_out);

/* ---- the local store (image.c) ------------------------------------------- */

/* Opens (creating) the store at o->root. */
enum wh_code cli_store_open(const struct cli_opts *o, struct store **out, struct wh_err *err);

/* A manifest read back from the store. */
struct cli_manifest {
  struct wh_digest digest;
  char media_type[256];
  struct wh_buf body; /* exact bytes (capped at WH_MANIFEST_MAX) */
  struct wh_manifest parsed;
  bool has_parsed;
};
void cli_manifest_release(struct cli_manifest *m);
/* Reads and parses manifest `reference` (tag or digest) of repo. */
enum wh_code cli_manifest_load(struct store *s, const char *repo, const char *reference,
                               struct cli_manifest *out, struct wh_err *err);
/* Reads blob d of repo into b (capped by b->max). */
enum wh_code cli_blob_load(struct store *s, const char *repo, const struct wh_digest *d, struct wh_buf *b,
                           struct wh_err *err);
/* For an index: the first child present in repo (its position in *i_out).
 * WH_ENOTFOUND when none is. */
enum wh_code cli_index_local_child(struct store *s, const char *repo, const struct wh_manifest *idx,
                                   struct cli_manifest *out, size_t *i_out, struct wh_err *err);
/* Streams size bytes of fd (from its offset) into the store as blob d of
 * repo through an upload session, verified: WH_EDIGEST when the bytes are
 * fewer, more or other. */
enum wh_code cli_blob_put_fd(struct store *s, const char *repo, const struct wh_digest *d, int fd, uint64_t size,
                             struct wh_err *err);
/* Copies manifest d (and, for an index, its present children) from repo
 * `from` into repo `to` (blobs linked, no bytes copied) and points tag (may
 * be NULL) at it. */
enum wh_code cli_image_copy_local(struct store *s, const char *from, const struct wh_digest *d,
                                  const char *to, const char *tag, struct wh_err *err);

/* ---- platforms (platform.c) ---------------------------------------------- */

struct cli_platform {
  char os[32];
  char arch[32];
  char variant[32]; /* "" when none */
};
/* The host's platform: linux + uname machine mapped to GOARCH names. */
void cli_platform_host(struct cli_platform *out);
/* Parses "os/arch[/variant]". */
enum wh_code cli_platform_parse(const char *s, struct cli_platform *out, struct wh_err *err);
/* Best entry of idx for want (variant matched when given; arm64 defaults to
 * v8, arm to v7). WH_ENOTFOUND when none fits. */
enum wh_code cli_platform_pick(const struct wh_manifest *idx, const struct cli_platform *want, size_t *i_out,
                               struct wh_err *err);
void cli_platform_format(const struct cli_platform *p, char *out, size_t size);

/* ---- progress (progress.c) ----------------------------------------------- */

struct cli_progress;
/* quiet: nothing at all; tty: one redrawn line per item; else one line when
 * an item's bytes start moving ("downloading sha256:... (12.3 MiB)") and one
 * when it is over ("pulled sha256:... (12.3 MiB)"; "exists" and "mounted"
 * items get that line only, "failed" ones none). running: the state word
 * of an unfinished item ("downloading"), static. NULL on ENOMEM. */
struct cli_progress *cli_progress_new(const struct cli_opts *o, const char *running);
void cli_progress_free(struct cli_progress *p); /* final redraw; NULL no-op */
/* Adds an item (label: a digest); returns its index. */
size_t cli_progress_add(struct cli_progress *p, const char *label, uint64_t total);
void cli_progress_set(struct cli_progress *p, size_t i, uint64_t done);
/* Marks item i finished with a status word ("pulled", "exists", "failed"). */
void cli_progress_finish(struct cli_progress *p, size_t i, const char *status);
/* Final redraw of the current items, then forgets them (before printing
 * anything else on the terminal). */
void cli_progress_flush(struct cli_progress *p);
/* Redraws when due (tty only). */
void cli_progress_tick(struct cli_progress *p);
/* "12.3 MiB" */
void cli_human_size(uint64_t n, char *out, size_t size);

#endif
