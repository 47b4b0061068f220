/* client/dockerfile.h - Dockerfile/Containerfile parsing for `wharf build`:
 * the file itself (client/dockerfile.c), BuildKit's shell-word expansion
 * and an ordered KEY=VALUE environment (client/dockerfile_lex.c), and
 * .dockerignore/.wharfignore patterns (client/ignore.c).
 *
 * Pure code: no I/O, no printing. Every function returns an enum wh_code
 * and fills a caller-owned struct wh_err (may be NULL). Behaviour follows
 * BuildKit's frontend/dockerfile parser + instructions packages, its shell
 * lexer, and moby/patternmatcher; deliberate differences are listed at the
 * function that has them.
 *
 * Caps (a file is attacker-chosen): file <= CLI_DF_FILE_MAX, one physical
 * line <= CLI_DF_LINE_MAX, instructions <= CLI_DF_INST_MAX, one heredoc
 * <= CLI_DF_HEREDOC_MAX, one expansion result <= CLI_DF_EXPAND_MAX,
 * ${...} nesting <= CLI_DF_NEST_MAX. Exceeding one is WH_ETOOBIG.
 */
#ifndef WH_CLI_DOCKERFILE_H
#define WH_CLI_DOCKERFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define CLI_DF_FILE_MAX (4u << 20)
#define CLI_DF_LINE_MAX (1u << 20)
#define CLI_DF_INST_MAX 10000u
#define CLI_DF_HEREDOC_MAX (4u << 20)
#define CLI_DF_EXPAND_MAX (4u << 20)
#define CLI_DF_NEST_MAX 64u

/* ---- environment: ordered KEY=VALUE list (ARG/ENV scoping) ---------------- */

struct cli_df_kv {
  char *key;   /* owned, non-empty */
  char *value; /* owned, never NULL ("" when empty) */
};

struct cli_df_env {
  struct cli_df_kv *v; /* owned; insertion order, keys unique */
  size_t n, cap;
};

void cli_df_env_init(struct cli_df_env *e);
void cli_df_env_release(struct cli_df_env *e);
/* Replaces the value of `key` in place or appends it. */
enum wh_code cli_df_env_set(struct cli_df_env *e, const char *key, const char *value);
/* The value, or NULL when unset (keys compare case-sensitively, as on Linux). */
const char *cli_df_env_get(const struct cli_df_env *e, const char *key);
/* Removes key; returns whether it was set. Keeps the order of the others. */
bool cli_df_env_unset(struct cli_df_env *e, const char *key);
/* dst (initialised, emptied first) becomes a deep copy of src. */
enum wh_code cli_df_env_copy(struct cli_df_env *dst, const struct cli_df_env *src);

/* ---- shell-word expansion (BuildKit's shell.Lex) --------------------------- */

/* Options, as the fields of BuildKit's Lex of the same names. */
enum {
  CLI_DF_LEX_SKIP_UNSET = 1 << 0,  /* leave $X / ${X...} as written when X is unset */
  CLI_DF_LEX_RAW_QUOTES = 1 << 1,  /* keep quote characters in the result */
  CLI_DF_LEX_RAW_ESCAPES = 1 << 2, /* keep escape characters in the result */
  CLI_DF_LEX_SKIP_QUOTES = 1 << 3, /* quotes are ordinary characters (heredoc bodies) */
};

/* A list of words; v[n] == NULL. */
struct cli_df_words {
  char **v; /* owned */
  size_t n;
};
void cli_df_words_release(struct cli_df_words *w);

/* Expands `word` (ProcessWord): $VAR ${VAR} ${VAR:-w} ${VAR-w} ${VAR:+w}
 * ${VAR+w} ${VAR:?msg} ${VAR?msg} ${VAR#pat} ${VAR##pat} ${VAR%pat}
 * ${VAR%%pat} ${VAR/pat/repl} ${VAR//pat/repl}; `escape` ('\\' or '`')
 * escapes the next character outside single quotes; single quotes are
 * literal; in double quotes only $, " and the escape itself are escaped.
 * Quotes are removed, nothing is split. *out (malloc'd) on success.
 * Errors (WH_EINVALID): unterminated quote, bad ${} syntax, ${X:?msg} with
 * X unset/empty ("X: msg"). Differences from Go: invalid UTF-8 passes
 * through byte by byte; any non-ASCII code point other than a Unicode
 * space counts as a letter in a variable name; in ${X/p/r} `r` is literal
 * (Go's regexp would expand "$1"-style references). */
enum wh_code cli_df_expand(const char *word, const struct cli_df_env *env, char escape, unsigned flags,
                           char **out, struct wh_err *err);
/* Same expansion, then split into words (ProcessWords): unquoted
 * whitespace and whitespace inside unquoted $VAR values separate words;
 * quoted text never splits; empty words are dropped. */
enum wh_code cli_df_expand_words(const char *word, const struct cli_df_env *env, char escape, unsigned flags,
                                 struct cli_df_words *out, struct wh_err *err);

/* ---- the file ---------------------------------------------------------------- */

enum cli_df_kind {
  CLI_DF_FROM,
  CLI_DF_RUN,
  CLI_DF_CMD,
  CLI_DF_ENTRYPOINT,
  CLI_DF_COPY,
  CLI_DF_ADD,
  CLI_DF_ENV,
  CLI_DF_ARG,
  CLI_DF_WORKDIR,
  CLI_DF_USER,
  CLI_DF_EXPOSE,
  CLI_DF_LABEL,
  CLI_DF_VOLUME,
  CLI_DF_STOPSIGNAL,
  CLI_DF_SHELL,
  CLI_DF_HEALTHCHECK,
  CLI_DF_ONBUILD,
  CLI_DF_MAINTAINER,
};

/* Upper-case keyword of a kind ("COPY"). */
const char *cli_df_kind_name(enum cli_df_kind k);

/* `<<EOF` bodies. content is what the file holds, newline-terminated
 * lines, leading tabs NOT removed: with chomp (<<-EOF) the consumer strips
 * them (cli_df_heredoc_text). expand is false when the delimiter was
 * quoted (<<"EOF", <<'EOF'): no variable expansion of the body. */
struct cli_df_heredoc {
  char *name;    /* owned: the delimiter without quotes */
  char *content; /* owned */
  size_t len;
  unsigned fd; /* 3<<EOF -> 3; 0 when not given */
  bool expand;
  bool chomp;
};
/* The body as the command sees it (leading tabs of each line removed when
 * chomp). malloc'd, NULL on ENOMEM. */
char *cli_df_heredoc_text(const struct cli_df_heredoc *h);

struct cli_df_flag {
  char *name;  /* owned, without "--" */
  char *value; /* owned; "true"/"false" for boolean flags */
};

/* ENV, LABEL (value always set) and ARG (value NULL: no default). Both
 * raw: quotes and $ still in them, expand each with cli_df_expand. */
struct cli_df_pair {
  char *key;
  char *value;
};

struct cli_df_health {
  bool none;  /* HEALTHCHECK NONE */
  bool shell; /* CMD in shell form: test = ["CMD-SHELL", args[0]] */
  int64_t interval_ns, timeout_ns, start_period_ns, start_interval_ns; /* 0: not given */
  int retries;                                                          /* 0: not given */
};

/* One instruction.
 *
 * args, by kind (all raw, before any expansion):
 *   FROM        [image] (AS name goes to the stage)      flags: platform
 *   RUN         exec form: argv; shell form: [command line]   flags: mount
 *               (repeatable), network, security; heredocs
 *   CMD ENTRYPOINT SHELL   as RUN, no flags (SHELL: exec form only)
 *   COPY ADD    [src..., dest] (JSON form or whitespace-split); a source
 *               that is a heredoc (<<EOF) has arg_heredoc[i] >= 0, an index
 *               into heredocs. COPY flags: from chown chmod link parents
 *               exclude; ADD flags: chown chmod link keep-git-dir checksum
 *               exclude unpack
 *   ENV LABEL   pairs (args empty)
 *   ARG         pairs, value NULL when no default
 *   EXPOSE      ports, sorted bytewise (as BuildKit does)
 *   VOLUME      paths (JSON form or whitespace-split), trimmed
 *   WORKDIR USER STOPSIGNAL MAINTAINER   [the rest of the line]
 *   HEALTHCHECK none: []; CMD: the command (json tells the form), health
 *               holds the options
 *   ONBUILD     [] ; sub is the trigger instruction (never FROM, ONBUILD,
 *               MAINTAINER) and onbuild_expr the text stored in the image
 *               config's OnBuild list
 * Instructions BuildKit expands with the build environment: ADD COPY ENV
 * EXPOSE FROM LABEL STOPSIGNAL USER VOLUME WORKDIR (and ARG defaults);
 * ONBUILD, RUN, CMD, ENTRYPOINT, SHELL, HEALTHCHECK are not expanded.
 * ENV a=1 b=$a expands b with the environment from before the line. */
struct cli_df_inst {
  enum cli_df_kind kind;
  unsigned line;     /* first physical line, 1-based */
  unsigned end_line; /* last physical line (heredoc bodies included) */
  char *original;    /* owned: the logical line (continuations joined) */
  bool json;         /* exec (JSON array) form */
  char **args;       /* owned, NULL-terminated, nargs entries */
  size_t nargs;
  int *arg_heredoc; /* COPY/ADD only: nargs entries, -1 or a heredoc index */
  struct cli_df_flag *flags; /* validated, in the order given */
  size_t nflags;
  struct cli_df_heredoc *heredocs;
  size_t nheredocs;
  struct cli_df_pair *pairs;
  size_t npairs;
  struct cli_df_health health;
  struct cli_df_inst *sub; /* ONBUILD trigger, owned */
  char *onbuild_expr;      /* ONBUILD only, owned */
};

/* Value of the last --name flag, or NULL when not given. */
const char *cli_df_inst_flag(const struct cli_df_inst *in, const char *name);

/* A build stage: insts[from] is its FROM, insts[from+1 .. from+count] its
 * instructions. */
struct cli_df_stage {
  size_t from;
  size_t count;
  const char *base;     /* borrowed from insts[from].args[0], raw */
  const char *name;     /* owned, lower-case; NULL without AS */
  const char *platform; /* borrowed --platform value or NULL, raw */
};

struct cli_df_file {
  char escape;                /* '\\' or '`' */
  char *syntax;               /* owned "# syntax=" value, NULL if none */
  struct cli_df_inst *insts;  /* owned, file order */
  size_t ninsts;
  size_t nmeta;               /* insts[0..nmeta) are the ARGs before the first FROM */
  struct cli_df_stage *stages; /* owned */
  size_t nstages;
  unsigned empty_continuations; /* BuildKit's "empty continuation line" warnings */
};

/* Parses a Dockerfile. `name` (e.g. "Dockerfile") prefixes error messages:
 * "Dockerfile:12: unknown instruction: FOO". Fails (WH_EINVALID, or
 * WH_ETOOBIG for the caps) on: bad/duplicate parser directive, unknown
 * instruction, wrong argument count, unknown/duplicate/malformed flag,
 * JSON array with a non-string, ONBUILD ONBUILD/FROM/MAINTAINER,
 * unterminated heredoc, heredoc as COPY/ADD destination, an instruction
 * other than ARG before the first FROM, invalid or duplicate stage name,
 * bad HEALTHCHECK options, no instructions, no FROM.
 * Stricter than BuildKit: ONBUILD triggers are checked like instructions;
 * a NUL byte anywhere is refused.
 * JSON arrays are read by jansson: invalid UTF-8 or \u0000 in one makes it
 * shell form. *out is written only on success; release it with
 * cli_df_file_release. */
enum wh_code cli_df_parse(const char *name, const char *text, size_t len, struct cli_df_file *out,
                          struct wh_err *err);
void cli_df_file_release(struct cli_df_file *f);

/* ---- .dockerignore / .wharfignore (moby/patternmatcher) ------------------- */

struct cli_ignore_pat;
struct cli_ignore {
  struct cli_ignore_pat *p; /* owned */
  size_t n;
  bool has_exceptions;
};

#define CLI_IGNORE_MAX_PATTERNS 10000u

/* Parses an ignore file (ignorefile.ReadAll + patternmatcher.New): a UTF-8
 * BOM is dropped, lines starting with '#' are comments, lines are trimmed,
 * "!pat" is an exception, patterns are cleaned (path.Clean) and a leading
 * '/' is dropped; syntax is Go's filepath.Match plus "**". A malformed
 * pattern ("[", "a\\" at the end, "!") or a NUL byte is WH_EINVALID with
 * its line. */
enum wh_code cli_ignore_parse(const char *text, size_t len, struct cli_ignore *out, struct wh_err *err);
void cli_ignore_release(struct cli_ignore *ig);
/* Whether relpath (slash-separated, relative to the context; cleaned
 * first) is excluded: the last pattern matching it or one of its parent
 * directories decides (MatchesOrParentMatches). "." is never excluded. */
bool cli_ignore_match(const struct cli_ignore *ig, const char *relpath);
/* Whether a walk may skip the directory dirpath without looking inside:
 * it is excluded and no exception pattern could re-include anything below
 * it. Conservative: false whenever unsure. */
bool cli_ignore_skip_dir(const struct cli_ignore *ig, const char *dirpath);

#endif
