/* client/dockerfile.c - the Dockerfile parser of `wharf build`: BuildKit's
 * frontend/dockerfile/parser (lines, directives, continuations, heredocs,
 * per-instruction argument shapes) and instructions/parse.go (argument
 * counts, flags, stages) in one pass.
 *
 *   text --lines--> logical line (continuations joined, comments dropped)
 *        --split_command--> keyword, --flags, rest
 *        --kind's shape--> args / pairs / sub-instruction
 *        --heredocs--> bodies read from the following lines
 *        --stages--> meta ARGs, FROM ... runs
 *
 * Invariants: nothing is allocated beyond the caps of client/dockerfile.h
 * (file, line, instruction count, heredoc size); on failure nothing is
 * returned and everything built so far is freed; error messages start
 * with "NAME:LINE: ".
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "client/dockerfile-int.h"
#include "common/buf.h"
#include "common/cleanup.h"

/* ---- small helpers ------------------------------------------------------------ */

struct svec {
  char **v;
  size_t n, cap;
};

static enum wh_code svec_push(struct svec *s, const char *p, size_t n)
{
  if (s->n + 1 >= s->cap) {
    size_t ncap = s->cap ? s->cap * 2 : 4;
    char **nv = realloc(s->v, ncap * sizeof(*nv));
    if (nv == NULL)
      return WH_ENOMEM;
    s->v = nv;
    s->cap = ncap;
  }
  if ((s->v[s->n] = strndup(p, n)) == NULL)
    return WH_ENOMEM;
  s->v[++s->n] = NULL;
  return WH_OK;
}

/* Room for element n of an array that grows by doubling (capacity is
 * implicit: n is 0 or a power of two exactly when it is full). */
static bool grow(void *arrp, size_t n, size_t size)
{
  void **a = arrp, *na;

  if (n != 0 && (n & (n - 1)) != 0)
    return true;
  if ((na = reallocarray(*a, n ? 2 * n : 1, size)) == NULL)
    return false;
  *a = na;
  return true;
}

static void svec_release(struct svec *s)
{
  for (size_t i = 0; i < s->n; i++)
    free(s->v[i]);
  free(s->v);
  memset(s, 0, sizeof(*s));
}

static void trim_left(const char **p, size_t *n)
{
  cli_df_trim_left(p, n);
}

static void trim_space(const char **p, size_t *n)
{
  cli_df_trim_space(p, n);
}

/* [\t\v\f\r ] as BuildKit's reWhitespace / tokenWhitespace. */
static bool ascii_ws(char c)
{
  return c == '\t' || c == '\v' || c == '\f' || c == '\r' || c == ' ';
}

/* \s of Go's RE2: [\t\n\f\r ]. */
static bool re_s(char c)
{
  return c == '\t' || c == '\n' || c == '\f' || c == '\r' || c == ' ';
}

/* An error "NAME:LINE: message"; always WH_EINVALID unless code given. */
struct pctx {
  const char *name;
  char esc;
  struct wh_err *err;
};

static enum wh_code perr(const struct pctx *c, enum wh_code code, unsigned line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static enum wh_code perr(const struct pctx *c, enum wh_code code, unsigned line, const char *fmt, ...)
{
  char msg[WH_ERR_MSG_MAX];
  va_list ap;

  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  return wh_err_set(c->err, code, 0, "%s:%u: %s", c->name, line, msg);
}

/* ---- instruction table ---------------------------------------------------------- */

enum ftype { F_BOOL, F_STR, F_STRS };
struct fdef {
  const char *name;
  enum ftype type;
};

static const struct fdef from_flags[] = {{"platform", F_STR}, {NULL, 0}};
static const struct fdef run_flags[] = {{"mount", F_STRS}, {"network", F_STR}, {"security", F_STR}, {NULL, 0}};
static const struct fdef copy_flags[] = {{"chown", F_STR},  {"from", F_STR},     {"chmod", F_STR}, {"link", F_BOOL},
                                         {"parents", F_BOOL}, {"exclude", F_STRS}, {NULL, 0}};
static const struct fdef add_flags[] = {{"chown", F_STR},        {"chmod", F_STR},    {"link", F_BOOL},
                                        {"keep-git-dir", F_BOOL}, {"checksum", F_STR}, {"exclude", F_STRS},
                                        {"unpack", F_BOOL},       {NULL, 0}};
static const struct fdef health_flags[] = {{"interval", F_STR},       {"timeout", F_STR}, {"start-period", F_STR},
                                           {"start-interval", F_STR}, {"retries", F_STR}, {NULL, 0}};
static const struct fdef no_flags[] = {{NULL, 0}};

enum shape { SH_JSON, SH_JSON_LIST, SH_SPLIT, SH_STRING, SH_NAMEVAL, SH_WORDS, SH_HEALTH, SH_SUB };

static const struct kdef {
  const char *kw;
  enum cli_df_kind kind;
  enum shape shape;
  const struct fdef *flags; /* NULL: flags are not looked at (BuildKit never parses them) */
} kinds[] = {
    {"from", CLI_DF_FROM, SH_SPLIT, from_flags},
    {"run", CLI_DF_RUN, SH_JSON, run_flags},
    {"cmd", CLI_DF_CMD, SH_JSON, no_flags},
    {"entrypoint", CLI_DF_ENTRYPOINT, SH_JSON, no_flags},
    {"copy", CLI_DF_COPY, SH_JSON_LIST, copy_flags},
    {"add", CLI_DF_ADD, SH_JSON_LIST, add_flags},
    {"env", CLI_DF_ENV, SH_NAMEVAL, no_flags},
    {"arg", CLI_DF_ARG, SH_WORDS, NULL},
    {"workdir", CLI_DF_WORKDIR, SH_STRING, no_flags},
    {"user", CLI_DF_USER, SH_STRING, no_flags},
    {"expose", CLI_DF_EXPOSE, SH_SPLIT, no_flags},
    {"label", CLI_DF_LABEL, SH_NAMEVAL, no_flags},
    {"volume", CLI_DF_VOLUME, SH_JSON_LIST, no_flags},
    {"stopsignal", CLI_DF_STOPSIGNAL, SH_STRING, NULL},
    {"shell", CLI_DF_SHELL, SH_JSON, no_flags},
    {"healthcheck", CLI_DF_HEALTHCHECK, SH_HEALTH, health_flags},
    {"onbuild", CLI_DF_ONBUILD, SH_SUB, no_flags},
    {"maintainer", CLI_DF_MAINTAINER, SH_STRING, no_flags},
};

const char *cli_df_kind_name(enum cli_df_kind k)
{
  static const char *const names[] = {
      [CLI_DF_FROM] = "FROM",         [CLI_DF_RUN] = "RUN",         [CLI_DF_CMD] = "CMD",
      [CLI_DF_ENTRYPOINT] = "ENTRYPOINT", [CLI_DF_COPY] = "COPY",   [CLI_DF_ADD] = "ADD",
      [CLI_DF_ENV] = "ENV",           [CLI_DF_ARG] = "ARG",         [CLI_DF_WORKDIR] = "WORKDIR",
      [CLI_DF_USER] = "USER",         [CLI_DF_EXPOSE] = "EXPOSE",   [CLI_DF_LABEL] = "LABEL",
      [CLI_DF_VOLUME] = "VOLUME",     [CLI_DF_STOPSIGNAL] = "STOPSIGNAL", [CLI_DF_SHELL] = "SHELL",
      [CLI_DF_HEALTHCHECK] = "HEALTHCHECK", [CLI_DF_ONBUILD] = "ONBUILD", [CLI_DF_MAINTAINER] = "MAINTAINER",
  };
  return (size_t)k < WH_ARRAY_LEN(names) && names[k] ? names[k] : "?";
}

static const struct kdef *kind_lookup(const char *kw, size_t n)
{
  for (size_t i = 0; i < WH_ARRAY_LEN(kinds); i++)
    if (strlen(kinds[i].kw) == n && strncasecmp(kinds[i].kw, kw, n) == 0)
      return &kinds[i];
  return NULL;
}

/* ---- instruction lifetime ------------------------------------------------------- */

static void inst_release(struct cli_df_inst *in)
{
  if (in == NULL)
    return;
  free(in->original);
  for (size_t i = 0; i < in->nargs; i++)
    free(in->args[i]);
  free(in->args);
  free(in->arg_heredoc);
  for (size_t i = 0; i < in->nflags; i++) {
    free(in->flags[i].name);
    free(in->flags[i].value);
  }
  free(in->flags);
  for (size_t i = 0; i < in->nheredocs; i++) {
    free(in->heredocs[i].name);
    free(in->heredocs[i].content);
  }
  free(in->heredocs);
  for (size_t i = 0; i < in->npairs; i++) {
    free(in->pairs[i].key);
    free(in->pairs[i].value);
  }
  free(in->pairs);
  if (in->sub) {
    inst_release(in->sub);
    free(in->sub);
  }
  free(in->onbuild_expr);
  memset(in, 0, sizeof(*in));
}

const char *cli_df_inst_flag(const struct cli_df_inst *in, const char *name)
{
  const char *v = NULL;

  for (size_t i = 0; i < in->nflags; i++)
    if (strcmp(in->flags[i].name, name) == 0)
      v = in->flags[i].value;
  return v;
}

char *cli_df_heredoc_text(const struct cli_df_heredoc *h)
{
  char *out = malloc(h->len + 1);
  size_t o = 0;
  bool bol = true;

  if (out == NULL)
    return NULL;
  for (size_t i = 0; i < h->len; i++) {
    char c = h->content[i];
    if (h->chomp && bol && c == '\t')
      continue;
    bol = c == '\n';
    out[o++] = c;
  }
  out[o] = '\0';
  return out;
}

static enum wh_code set_args(struct cli_df_inst *in, struct svec *s)
{
  if (s->v == NULL && (s->v = calloc(1, sizeof(char *))) == NULL)
    return WH_ENOMEM;
  in->args = s->v;
  in->nargs = s->n;
  memset(s, 0, sizeof(*s));
  return WH_OK;
}

/* ---- split_command and builder flags --------------------------------------------- */

/* extractBuilderFlags: leading --words (quotes and \ handled); *rest is
 * what follows them. Bytes are runes here, as in BuildKit. */
static enum wh_code extract_flags(const char *line, size_t len, struct svec *words, size_t *rest)
{
  enum { SP, WORD, QUOTE } phase = SP;
  struct wh_buf w;
  char quote = 0;
  bool blank = false;
  enum wh_code rc = WH_OK;

  wh_buf_init(&w, CLI_DF_FILE_MAX);
  *rest = len;
  for (size_t pos = 0; pos <= len && rc == WH_OK; pos++) {
    char ch = pos < len ? line[pos] : 0;
    bool sp = pos < len && cli_df_cp_space((unsigned char)ch);
    if (phase == SP) {
      if (pos == len)
        break;
      if (sp)
        continue;
      if (ch != '-' || pos + 1 == len || line[pos + 1] != '-') {
        *rest = pos;
        break;
      }
      phase = WORD;
    }
    if (pos == len) {
      if (!(w.len == 2 && memcmp(w.data, "--", 2) == 0) && (blank || w.len))
        rc = svec_push(words, w.data ? w.data : "", w.len);
      break;
    }
    if (phase == WORD) {
      if (sp) {
        phase = SP;
        if (w.len == 2 && memcmp(w.data, "--", 2) == 0) {
          *rest = pos;
          break;
        }
        if (blank || w.len)
          rc = svec_push(words, w.data ? w.data : "", w.len);
        wh_buf_reset(&w);
        blank = false;
        continue;
      }
      if (ch == '\'' || ch == '"') {
        quote = ch;
        blank = true;
        phase = QUOTE;
        continue;
      }
      if (ch == '\\') {
        if (pos + 1 == len)
          continue;
        ch = line[++pos];
      }
      rc = wh_buf_append(&w, &ch, 1);
      continue;
    }
    if (ch == quote) {
      phase = WORD;
      continue;
    }
    if (ch == '\\') {
      if (pos + 1 == len) {
        phase = WORD;
        continue;
      }
      ch = line[++pos];
    }
    rc = wh_buf_append(&w, &ch, 1);
  }
  wh_buf_release(&w);
  return rc;
}

/* BFlags.Parse against a definition table. */
static enum wh_code parse_flags(const struct pctx *c, unsigned line, const struct fdef *defs, struct svec *words,
                                struct cli_df_inst *in)
{
  for (size_t i = 0; i < words->n; i++) {
    const char *a = words->v[i], *eq;
    const struct fdef *d = NULL;
    size_t nlen;
    const char *val;
    struct cli_df_flag *nf;

    if (strncmp(a, "--", 2) != 0)
      return perr(c, WH_EINVALID, line, "Arg should start with -- : %s", a);
    if (strcmp(a, "--") == 0)
      return WH_OK;
    a += 2;
    eq = strchr(a, '=');
    nlen = eq ? (size_t)(eq - a) : strlen(a);
    for (const struct fdef *f = defs; f->name; f++)
      if (strlen(f->name) == nlen && strncmp(f->name, a, nlen) == 0)
        d = f;
    if (d == NULL)
      return perr(c, WH_EINVALID, line, "unknown flag: %.*s", (int)nlen, a);
    if (d->type != F_STRS && cli_df_inst_flag(in, d->name))
      return perr(c, WH_EINVALID, line, "duplicate flag specified: %s", d->name);
    val = eq ? eq + 1 : "";
    if (d->type == F_BOOL) {
      if (eq && *val == '\0')
        return perr(c, WH_EINVALID, line, "missing a value on flag: %s", d->name);
      if (*val == '\0')
        val = "true";
      else if (strcasecmp(val, "true") == 0)
        val = "true";
      else if (strcasecmp(val, "false") == 0)
        val = "false";
      else
        return perr(c, WH_EINVALID, line, "expecting boolean value for flag %s, not: %s", d->name, val);
    } else if (eq == NULL) {
      return perr(c, WH_EINVALID, line, "missing a value on flag: %s", d->name);
    }
    if (!grow(&in->flags, in->nflags, sizeof(*nf)))
      return WH_ENOMEM;
    nf = in->flags;
    nf[in->nflags].name = strdup(d->name);
    nf[in->nflags].value = strdup(val);
    in->nflags++;
    if (nf[in->nflags - 1].name == NULL || nf[in->nflags - 1].value == NULL)
      return WH_ENOMEM;
  }
  return WH_OK;
}

/* ---- argument shapes ----------------------------------------------------------------- */

/* parseJSON: 1 = JSON array of strings (args filled), 0 = not JSON,
 * -1 = an array holding a non-string. */
static int parse_json(const char *rest, size_t n, struct svec *out, enum wh_code *rc)
{
  json_t *j;
  size_t i;
  json_t *v;

  trim_left(&rest, &n);
  if (n == 0 || rest[0] != '[')
    return 0;
  j = json_loadb(rest, n, 0, NULL);
  if (j == NULL)
    return 0;
  if (!json_is_array(j)) {
    json_decref(j);
    return 0;
  }
  json_array_foreach(j, i, v)
  {
    if (!json_is_string(v)) {
      json_decref(j);
      return -1;
    }
    if ((*rc = svec_push(out, json_string_value(v), json_string_length(v))) != WH_OK)
      break;
  }
  json_decref(j);
  return 1;
}

static enum wh_code split_ws(const char *p, size_t n, struct svec *out)
{
  size_t i = 0;

  while (i < n) {
    size_t st = i;
    enum wh_code rc;
    while (i < n && !ascii_ws(p[i]))
      i++;
    if ((rc = svec_push(out, p + st, i - st)) != WH_OK)
      return rc;
    while (i < n && ascii_ws(p[i]))
      i++;
  }
  return WH_OK;
}

/* parseWords: words split on Unicode space, quotes and escapes kept. */
static enum wh_code parse_words(const char *p, size_t n, char esc, struct svec *out)
{
  enum { SP, WORD, QUOTE } phase = SP;
  struct wh_buf w;
  char quote = 0;
  bool blank = false;
  enum wh_code rc = WH_OK;
  size_t k = 1;

  wh_buf_init(&w, CLI_DF_FILE_MAX);
  for (size_t pos = 0; pos <= n && rc == WH_OK; pos += k) {
    const char *ch = p + pos;
    bool sp = false;
    if (pos < n) {
      k = cli_df_unit_len(ch, n - pos);
      sp = cli_df_cp_space(cli_df_unit_cp(ch, k));
    }
    if (phase == SP) {
      if (pos == n)
        break;
      if (sp)
        continue;
      phase = WORD;
    }
    if (pos == n) {
      if (blank || w.len)
        rc = svec_push(out, w.data ? w.data : "", w.len);
      break;
    }
    if (phase == WORD) {
      if (sp) {
        phase = SP;
        if (blank || w.len)
          rc = svec_push(out, w.data ? w.data : "", w.len);
        wh_buf_reset(&w);
        blank = false;
        continue;
      }
      if (k == 1 && (*ch == '\'' || *ch == '"')) {
        quote = *ch;
        blank = true;
        phase = QUOTE;
      }
      if (k == 1 && *ch == esc) {
        if (pos + k == n)
          continue;
        if ((rc = wh_buf_append(&w, ch, k)) != WH_OK)
          break;
        pos += k;
        ch = p + pos;
        k = cli_df_unit_len(ch, n - pos);
      }
      rc = wh_buf_append(&w, ch, k);
      continue;
    }
    if (k == 1 && *ch == quote)
      phase = WORD;
    if (k == 1 && *ch == esc && quote != '\'') {
      if (pos + k == n) {
        phase = WORD;
        continue;
      }
      if ((rc = wh_buf_append(&w, ch, k)) != WH_OK)
        break;
      pos += k;
      ch = p + pos;
      k = cli_df_unit_len(ch, n - pos);
    }
    rc = wh_buf_append(&w, ch, k);
  }
  wh_buf_release(&w);
  return rc;
}

static enum wh_code add_pair(struct cli_df_inst *in, const char *k, size_t kn, const char *v, size_t vn, bool hasv)
{
  struct cli_df_pair *np;

  if (!grow(&in->pairs, in->npairs, sizeof(*np)))
    return WH_ENOMEM;
  np = in->pairs;
  np[in->npairs].key = strndup(k, kn);
  np[in->npairs].value = hasv ? strndup(v, vn) : NULL;
  in->npairs++;
  if (np[in->npairs - 1].key == NULL || (hasv && np[in->npairs - 1].value == NULL))
    return WH_ENOMEM;
  return WH_OK;
}

/* parseNameVal (ENV, LABEL): "k=v ..." or legacy "k the value". */
static enum wh_code shape_nameval(const struct pctx *c, unsigned line, const char *kw, const char *p, size_t n,
                                  struct cli_df_inst *in)
{
  struct svec w = {0};
  enum wh_code rc = parse_words(p, n, c->esc, &w);

  if (rc == WH_OK && w.n > 0 && strchr(w.v[0], '=') == NULL) {
    size_t i = 0, j;
    while (i < n && !ascii_ws(p[i]))
      i++;
    j = i;
    while (j < n && ascii_ws(p[j]))
      j++;
    if (i == n)
      rc = perr(c, WH_EINVALID, line, "%s must have two arguments", kw);
    else
      rc = add_pair(in, p, i, p + j, n - j, true);
  } else {
    for (size_t i = 0; rc == WH_OK && i < w.n; i++) {
      const char *eq = strchr(w.v[i], '=');
      if (eq == NULL)
        rc = perr(c, WH_EINVALID, line, "Syntax error - can't find = in \"%s\". Must be of the form: name=value",
                  w.v[i]);
      else
        rc = add_pair(in, w.v[i], (size_t)(eq - w.v[i]), eq + 1, strlen(eq + 1), true);
    }
  }
  svec_release(&w);
  return rc;
}

/* parseMaybeJSON / parseMaybeJSONToList. */
static enum wh_code shape_json(const struct pctx *c, unsigned line, const char *p, size_t n, bool list,
                               struct cli_df_inst *in, struct svec *args)
{
  enum wh_code rc = WH_OK;
  int j;

  if (n == 0)
    return WH_OK;
  j = parse_json(p, n, args, &rc);
  if (j < 0)
    return perr(c, WH_EINVALID, line, "when using JSON array syntax, arrays must be comprised of strings only");
  if (j > 0) {
    in->json = true;
    return rc;
  }
  return list ? split_ws(p, n, args) : svec_push(args, p, n);
}

/* ---- per-kind checks (instructions/parse.go) ------------------------------------ */

/* Go's time.ParseDuration; false on a syntax error or overflow. */
static bool go_duration(const char *s, int64_t *out)
{
  static const struct {
    const char *u;
    uint64_t ns;
  } units[] = {{"ns", 1},
               {"us", 1000},
               {"\xc2\xb5s", 1000},
               {"\xce\xbcs", 1000},
               {"ms", 1000000},
               {"s", 1000000000ull},
               {"m", 60000000000ull},
               {"h", 3600000000000ull}};
  bool neg = false;
  unsigned __int128 total = 0;

  if (*s == '-' || *s == '+')
    neg = *s++ == '-';
  if (strcmp(s, "0") == 0) {
    *out = 0;
    return true;
  }
  if (*s == '\0')
    return false;
  while (*s) {
    unsigned __int128 v = 0, f = 0, scale = 1;
    bool digits = false;
    size_t ul = 0, ui;
    for (; *s >= '0' && *s <= '9'; s++, digits = true)
      if ((v = v * 10 + (unsigned)(*s - '0')) > ((unsigned __int128)1 << 63))
        return false;
    if (*s == '.')
      for (s++; *s >= '0' && *s <= '9'; s++, digits = true)
        if (scale < 1000000000000000000ull) {
          f = f * 10 + (unsigned)(*s - '0');
          scale *= 10;
        }
    if (!digits)
      return false;
    while (s[ul] && s[ul] != '.' && !(s[ul] >= '0' && s[ul] <= '9'))
      ul++;
    for (ui = 0; ui < WH_ARRAY_LEN(units); ui++)
      if (strlen(units[ui].u) == ul && strncmp(units[ui].u, s, ul) == 0)
        break;
    if (ul == 0 || ui == WH_ARRAY_LEN(units))
      return false;
    s += ul;
    total += v * units[ui].ns + f * units[ui].ns / scale;
    if (total > ((unsigned __int128)1 << 63) - (neg ? 0 : 1))
      return false;
  }
  *out = neg ? -(int64_t)(total - 1) - 1 : (int64_t)total;
  return true;
}

static enum wh_code health_interval(const struct pctx *c, unsigned line, const struct cli_df_inst *in,
                                    const char *name, int64_t *out)
{
  const char *v = cli_df_inst_flag(in, name);

  *out = 0;
  if (v == NULL || *v == '\0')
    return WH_OK;
  if (!go_duration(v, out))
    return perr(c, WH_EINVALID, line, "time: invalid duration \"%s\"", v);
  if (*out != 0 && *out < 1000000)
    return perr(c, WH_EINVALID, line, "Interval \"%s\" cannot be less than 1ms", name);
  return WH_OK;
}

static enum wh_code check_health(const struct pctx *c, unsigned line, struct cli_df_inst *in, struct svec *flags)
{
  struct cli_df_health *h = &in->health;
  const char *r;
  enum wh_code rc;

  if (in->nargs == 0)
    return perr(c, WH_EINVALID, line, "HEALTHCHECK requires at least one argument");
  if (strcasecmp(in->args[0], "NONE") == 0) {
    if (in->nargs != 1)
      return perr(c, WH_EINVALID, line, "HEALTHCHECK NONE takes no arguments");
    h->none = true;
  } else {
    if ((rc = parse_flags(c, line, health_flags, flags, in)) != WH_OK)
      return rc;
    if (strcasecmp(in->args[0], "CMD") != 0)
      return perr(c, WH_EINVALID, line, "Unknown type \"%s\" in HEALTHCHECK (try CMD)", in->args[0]);
    if (in->nargs < 2)
      return perr(c, WH_EINVALID, line, "Missing command after HEALTHCHECK CMD");
    h->shell = !in->json;
    if ((rc = health_interval(c, line, in, "interval", &h->interval_ns)) ||
        (rc = health_interval(c, line, in, "timeout", &h->timeout_ns)) ||
        (rc = health_interval(c, line, in, "start-period", &h->start_period_ns)) ||
        (rc = health_interval(c, line, in, "start-interval", &h->start_interval_ns)))
      return rc;
    if ((r = cli_df_inst_flag(in, "retries")) != NULL && *r) {
      char *end;
      long long v;
      errno = 0;
      v = strtoll(r, &end, 10);
      if (errno || *end || end == r || r[0] == ' ' || v > INT32_MAX || v < INT32_MIN)
        return perr(c, WH_EINVALID, line, "strconv.ParseInt: parsing \"%s\": invalid syntax", r);
      if (v < 0)
        return perr(c, WH_EINVALID, line, "--retries cannot be negative (%lld)", v);
      h->retries = (int)v;
    }
  }
  /* args become the test command alone */
  free(in->args[0]);
  memmove(in->args, in->args + 1, in->nargs * sizeof(char *));
  in->nargs--;
  return WH_OK;
}

static int cmp_str(const void *a, const void *b)
{
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool stage_name_ok(const char *s)
{
  if (!(*s >= 'a' && *s <= 'z'))
    return false;
  for (s++; *s; s++)
    if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-' || *s == '_' || *s == '.'))
      return false;
  return true;
}

static enum wh_code check_sources(const struct pctx *c, unsigned line, struct cli_df_inst *in)
{
  struct cli_df_heredoc h;
  struct wh_err e = {0};
  int r = cli_df_heredoc_word(in->args[in->nargs - 1], &h, &e);

  if (r > 0) {
    free(h.name);
    return perr(c, WH_EINVALID, line, "%s cannot accept a heredoc as a destination", cli_df_kind_name(in->kind));
  }
  return WH_OK;
}

static enum wh_code exactly_one(const struct pctx *c, unsigned line, const struct cli_df_inst *in)
{
  if (in->nargs != 1)
    return perr(c, WH_EINVALID, line, "%s requires exactly one argument", cli_df_kind_name(in->kind));
  return WH_OK;
}

static enum wh_code at_least_one(const struct pctx *c, unsigned line, const struct cli_df_inst *in, size_t n)
{
  if (n == 0)
    return perr(c, WH_EINVALID, line, "%s requires at least one argument", cli_df_kind_name(in->kind));
  return WH_OK;
}

static enum wh_code check_arg(const struct pctx *c, unsigned line, struct cli_df_inst *in)
{
  enum wh_code rc = at_least_one(c, line, in, in->nargs);

  for (size_t i = 0; rc == WH_OK && i < in->nargs; i++) {
    const char *a = in->args[i], *eq = strchr(a, '=');
    if (eq == a)
      return perr(c, WH_EINVALID, line, "ARG names can not be blank");
    rc = eq ? add_pair(in, a, (size_t)(eq - a), eq + 1, strlen(eq + 1), true) : add_pair(in, a, strlen(a), NULL, 0, false);
  }
  return rc;
}

static enum wh_code check_kvps(const struct pctx *c, unsigned line, const struct cli_df_inst *in)
{
  enum wh_code rc = at_least_one(c, line, in, in->npairs);

  for (size_t i = 0; rc == WH_OK && i < in->npairs; i++)
    if (in->pairs[i].key[0] == '\0')
      return perr(c, WH_EINVALID, line, "%s names can not be blank", cli_df_kind_name(in->kind));
  return rc;
}

static enum wh_code check_volume(const struct pctx *c, unsigned line, struct cli_df_inst *in)
{
  enum wh_code rc = at_least_one(c, line, in, in->nargs);

  for (size_t i = 0; rc == WH_OK && i < in->nargs; i++) {
    const char *p = in->args[i];
    size_t n = strlen(p);
    trim_space(&p, &n);
    if (n == 0)
      return perr(c, WH_EINVALID, line, "VOLUME specified can not be an empty string");
    memmove(in->args[i], p, n);
    in->args[i][n] = '\0';
  }
  return rc;
}

static enum wh_code check_from(const struct pctx *c, unsigned line, const struct cli_df_inst *in)
{
  if (in->nargs == 3 && strcasecmp(in->args[1], "as") == 0) {
    WH_AUTOFREE char *low = strdup(in->args[2]);
    if (low == NULL)
      return WH_ENOMEM;
    for (char *p = low; *p; p++)
      if (*p >= 'A' && *p <= 'Z')
        *p = (char)(*p - 'A' + 'a');
    if (!stage_name_ok(low))
      return perr(c, WH_EINVALID, line,
                  "invalid name for build stage: \"%s\", name can't start with a number or contain symbols",
                  in->args[2]);
    return WH_OK;
  }
  if (in->nargs != 1)
    return perr(c, WH_EINVALID, line, "FROM requires either one or three arguments");
  return WH_OK;
}

/* Argument checks of instructions/parse.go, after flags. */
static enum wh_code check_kind(const struct pctx *c, unsigned line, struct cli_df_inst *in)
{
  switch (in->kind) {
  case CLI_DF_FROM:
    return check_from(c, line, in);
  case CLI_DF_COPY:
  case CLI_DF_ADD:
    if (in->nargs < 2)
      return perr(c, WH_EINVALID, line,
                  "%s requires at least two arguments, but only one was provided. Destination could not be "
                  "determined",
                  cli_df_kind_name(in->kind));
    return check_sources(c, line, in);
  case CLI_DF_ENV:
  case CLI_DF_LABEL:
    return check_kvps(c, line, in);
  case CLI_DF_ARG:
    return check_arg(c, line, in);
  case CLI_DF_WORKDIR:
  case CLI_DF_USER:
  case CLI_DF_STOPSIGNAL:
  case CLI_DF_MAINTAINER:
    return exactly_one(c, line, in);
  case CLI_DF_EXPOSE:
    qsort(in->args, in->nargs, sizeof(char *), cmp_str);
    return at_least_one(c, line, in, in->nargs);
  case CLI_DF_VOLUME:
    return check_volume(c, line, in);
  case CLI_DF_SHELL:
    if (in->nargs == 0)
      return at_least_one(c, line, in, 0);
    if (!in->json)
      return perr(c, WH_EINVALID, line, "SHELL requires the arguments to be in JSON form");
    return WH_OK;
  default:
    return WH_OK;
  }
}

/* ---- one logical line ------------------------------------------------------------- */

static enum wh_code parse_inst(const struct pctx *c, unsigned line, const char *p, size_t n, int depth,
                               struct cli_df_inst *in);

/* ONBUILD's trigger: checked before recursing, so chains stay one deep. */
static enum wh_code shape_sub(const struct pctx *c, unsigned line, const char *p, size_t n, int depth,
                              struct cli_df_inst *in)
{
  size_t kw = 0;

  if (n == 0)
    return perr(c, WH_EINVALID, line, "ONBUILD requires at least one argument");
  while (kw < n && !ascii_ws(p[kw]))
    kw++;
  if (kw == 7 && strncasecmp(p, "onbuild", 7) == 0)
    return perr(c, WH_EINVALID, line, "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
  if ((kw == 4 && strncasecmp(p, "from", 4) == 0) || (kw == 10 && strncasecmp(p, "maintainer", 10) == 0))
    return perr(c, WH_EINVALID, line, "%s isn't allowed as an ONBUILD trigger", kw == 4 ? "FROM" : "MAINTAINER");
  if (depth > 0 || (in->sub = calloc(1, sizeof(*in->sub))) == NULL)
    return depth > 0 ? perr(c, WH_EINVALID, line, "nested ONBUILD") : WH_ENOMEM;
  return parse_inst(c, line, p, n, depth + 1, in->sub);
}

/* parseHealthConfig: TYPE then maybe-JSON command. */
static enum wh_code shape_health(const struct pctx *c, unsigned line, const char *p, size_t n,
                                 struct cli_df_inst *in, struct svec *args)
{
  size_t sep = 0, next;
  enum wh_code rc;

  while (sep < n && !cli_df_cp_space((unsigned char)p[sep]))
    sep++;
  next = sep;
  while (next < n && cli_df_cp_space((unsigned char)p[next]))
    next++;
  if (sep == 0)
    return WH_OK;
  if ((rc = svec_push(args, p, sep)) != WH_OK)
    return rc;
  return shape_json(c, line, p + next, n - next, false, in, args);
}

static enum wh_code shape_args(const struct pctx *c, unsigned line, const struct kdef *k, const char *p, size_t n,
                               int depth, struct cli_df_inst *in, struct svec *args)
{
  switch (k->shape) {
  case SH_JSON:
  case SH_JSON_LIST:
    return shape_json(c, line, p, n, k->shape == SH_JSON_LIST, in, args);
  case SH_SPLIT:
    return split_ws(p, n, args);
  case SH_STRING:
    return n ? svec_push(args, p, n) : WH_OK;
  case SH_NAMEVAL:
    return shape_nameval(c, line, cli_df_kind_name(k->kind), p, n, in);
  case SH_WORDS:
    return parse_words(p, n, c->esc, args);
  case SH_HEALTH:
    return shape_health(c, line, p, n, in, args);
  case SH_SUB:
    return shape_sub(c, line, p, n, depth, in);
  }
  return WH_EINTERNAL;
}

/* newNodeFromLine + ParseInstruction for one logical line. */
static enum wh_code parse_inst(const struct pctx *c, unsigned line, const char *p, size_t n, int depth,
                               struct cli_df_inst *in)
{
  struct svec flags = {0}, args = {0};
  const struct kdef *k;
  size_t kw = 0, rest = 0;
  enum wh_code rc;

  if ((in->original = strndup(p, n)) == NULL)
    return WH_ENOMEM;
  in->line = in->end_line = line;
  trim_space(&p, &n);
  while (kw < n && !ascii_ws(p[kw]))
    kw++;
  if ((k = kind_lookup(p, kw)) == NULL)
    return perr(c, WH_EINVALID, line, "unknown instruction: %.*s", (int)(kw > 64 ? 64 : kw), p);
  in->kind = k->kind;
  rest = kw;
  while (rest < n && ascii_ws(p[rest]))
    rest++;
  p += rest;
  n -= rest;
  rc = extract_flags(p, n, &flags, &rest);
  if (rc == WH_OK) {
    p += rest;
    n -= rest;
    trim_space(&p, &n);
    rc = shape_args(c, line, k, p, n, depth, in, &args);
  }
  if (rc == WH_OK)
    rc = set_args(in, &args);
  if (rc == WH_OK && k->flags && k->kind != CLI_DF_HEALTHCHECK)
    rc = parse_flags(c, line, k->flags, &flags, in);
  if (rc == WH_OK)
    rc = k->kind == CLI_DF_HEALTHCHECK ? check_health(c, line, in, &flags) : check_kind(c, line, in);
  svec_release(&flags);
  svec_release(&args);
  if (rc == WH_ENOMEM)
    wh_err_set(c->err, rc, 0, "%s:%u: out of memory", c->name, line);
  return rc;
}

/* ---- heredocs ----------------------------------------------------------------------- */

static size_t count_quotes(const char *s)
{
  size_t n = 0;
  for (; *s; s++)
    n += *s == '\'' || *s == '"';
  return n;
}

int cli_df_heredoc_word(const char *w, struct cli_df_heredoc *h, struct wh_err *err)
{
  const char *p = w, *rest;
  struct cli_df_words a = {0}, b = {0};
  unsigned long long fd = 0;
  int r = 0;

  while (*p >= '0' && *p <= '9')
    fd = fd > 100000000ull ? 0 : fd * 10 + (unsigned)(*p++ - '0');
  if (strncmp(p, "<<", 2) != 0)
    return 0;
  p += 2;
  h->chomp = *p == '-';
  rest = p + h->chomp;
  while (re_s(*rest))
    rest++;
  if (*rest == '\0' || strchr(rest, '<'))
    return 0;
  if (cli_df_expand_words(rest, NULL, '\\', CLI_DF_LEX_SKIP_UNSET, &a, err) != WH_OK)
    return -1;
  if (a.n == 1) {
    if (cli_df_expand_words(rest, NULL, '\\', CLI_DF_LEX_SKIP_UNSET | CLI_DF_LEX_RAW_QUOTES, &b, err) != WH_OK)
      r = -1;
    else if (b.n != 1)
      r = -1, wh_err_set(err, WH_EINVALID, 0, "internal lexing of heredoc produced inconsistent results: %s", rest);
    else if ((h->name = strdup(a.v[0])) == NULL)
      r = -1, wh_err_set(err, WH_ENOMEM, 0, "out of memory");
    else
      r = 1, h->expand = count_quotes(a.v[0]) == count_quotes(b.v[0]), h->fd = fd > 0xffffffffu ? 0 : (unsigned)fd;
  }
  cli_df_words_release(&a);
  cli_df_words_release(&b);
  return r;
}

static bool can_heredoc(const struct cli_df_inst *in)
{
  if (in->kind == CLI_DF_ONBUILD)
    in = in->sub;
  return in && !in->json && (in->kind == CLI_DF_RUN || in->kind == CLI_DF_COPY || in->kind == CLI_DF_ADD);
}

/* The physical-line reader. */
struct scan {
  const char *t;
  size_t len, pos;
  unsigned line; /* lines consumed so far */
};

/* Next line including its '\n'; false at the end. */
static bool scan_line(struct scan *s, const char **p, size_t *n)
{
  const char *nl;

  if (s->pos >= s->len)
    return false;
  *p = s->t + s->pos;
  nl = memchr(*p, '\n', s->len - s->pos);
  *n = nl ? (size_t)(nl - *p) + 1 : s->len - s->pos;
  s->pos += *n;
  s->line++;
  return true;
}

static void trim_newline(const char *p, size_t *n)
{
  while (*n && (p[*n - 1] == '\n' || p[*n - 1] == '\r'))
    (*n)--;
}

/* Reads the bodies of the heredocs named on `line` into `in`. */
static enum wh_code read_heredocs(const struct pctx *c, struct scan *s, const char *line, unsigned start,
                                  struct cli_df_inst *in)
{
  struct cli_df_words w = {0};
  enum wh_code rc = WH_OK;

  if (cli_df_expand_words(line, NULL, '\\', CLI_DF_LEX_SKIP_UNSET | CLI_DF_LEX_RAW_QUOTES | CLI_DF_LEX_RAW_ESCAPES,
                          &w, NULL) != WH_OK)
    return WH_OK;
  for (size_t i = 0; rc == WH_OK && i < w.n; i++) {
    struct cli_df_heredoc h = {0}, *nh;
    struct wh_buf body;
    const char *p;
    size_t n;
    bool done = false;
    int r = cli_df_heredoc_word(w.v[i], &h, c->err);

    if (r < 0) {
      rc = wh_err_wrap(c->err, "%s:%u", c->name, start);
      break;
    }
    if (r == 0)
      continue;
    wh_buf_init(&body, CLI_DF_HEREDOC_MAX);
    while (rc == WH_OK && !done && scan_line(s, &p, &n)) {
      size_t tn = n;
      const char *tp = p;
      trim_newline(tp, &tn);
      if (h.chomp)
        while (tn && *tp == '\t')
          tp++, tn--;
      if (tn == strlen(h.name) && memcmp(tp, h.name, tn) == 0)
        done = true;
      else if ((rc = wh_buf_append(&body, p, n)) == WH_ETOOBIG)
        rc = perr(c, rc, start, "heredoc \"%s\" larger than %u bytes", h.name, CLI_DF_HEREDOC_MAX);
    }
    if (rc == WH_OK && !done)
      rc = perr(c, WH_EINVALID, start, "unterminated heredoc \"%s\"", h.name);
    if (rc == WH_OK && (h.content = wh_buf_steal(&body, &h.len)) == NULL)
      rc = WH_ENOMEM;
    if (rc == WH_OK && grow(&in->heredocs, in->nheredocs, sizeof(*nh))) {
      nh = in->heredocs;
      nh[in->nheredocs++] = h;
      h.name = h.content = NULL;
    } else if (rc == WH_OK) {
      rc = WH_ENOMEM;
    }
    free(h.name);
    free(h.content);
    wh_buf_release(&body);
  }
  cli_df_words_release(&w);
  return rc;
}

/* COPY/ADD: which sources are heredocs (parseSourcesAndDest). */
static enum wh_code resolve_sources(const struct pctx *c, struct cli_df_inst *in)
{
  if (in->kind != CLI_DF_COPY && in->kind != CLI_DF_ADD)
    return WH_OK;
  if ((in->arg_heredoc = malloc(in->nargs * sizeof(int))) == NULL)
    return WH_ENOMEM;
  for (size_t i = 0; i < in->nargs; i++) {
    struct cli_df_heredoc h = {0};
    int found = -1;
    in->arg_heredoc[i] = -1;
    if (i + 1 == in->nargs || cli_df_heredoc_word(in->args[i], &h, NULL) <= 0)
      continue;
    for (size_t j = 0; j < in->nheredocs; j++)
      if (strcmp(in->heredocs[j].name, h.name) == 0)
        found = (int)j;
    free(h.name);
    if (found < 0)
      return perr(c, WH_EINVALID, in->line, "%s: heredoc %s has no body", cli_df_kind_name(in->kind), in->args[i]);
    in->arg_heredoc[i] = found;
  }
  return WH_OK;
}

/* parseOnBuild's Expression: the line without "ONBUILD", plus bodies. */
static enum wh_code onbuild_expr(struct cli_df_inst *in)
{
  const char *p = in->original;
  struct wh_buf b;
  enum wh_code rc;

  while (re_s(*p))
    p++;
  if (strncasecmp(p, "onbuild", 7) == 0)
    p += 7;
  while (re_s(*p))
    p++;
  wh_buf_init(&b, CLI_DF_FILE_MAX + CLI_DF_FILE_MAX);
  rc = wh_buf_appendz(&b, p);
  for (size_t i = 0; rc == WH_OK && i < in->sub->nheredocs; i++)
    if ((rc = wh_buf_append(&b, "\n", 1)) == WH_OK &&
        (rc = wh_buf_append(&b, in->sub->heredocs[i].content, in->sub->heredocs[i].len)) == WH_OK)
      rc = wh_buf_appendz(&b, in->sub->heredocs[i].name);
  if (rc == WH_OK && (in->onbuild_expr = wh_buf_steal(&b, NULL)) == NULL)
    rc = WH_ENOMEM;
  wh_buf_release(&b);
  return rc;
}

/* ---- directives --------------------------------------------------------------------- */

struct dirs {
  bool done, seen_escape, seen_syntax, seen_check;
  char *syntax;
};

/* DirectiveParser.ParseLine plus setEscapeToken. */
static enum wh_code directive(struct pctx *c, struct dirs *d, unsigned line, const char *p, size_t n)
{
  size_t i = 0, ks, kn, vs, ve;
  bool *seen;
  char key[8];

  if (d->done)
    return WH_OK;
  if (n == 0 || p[0] != '#')
    return d->done = true, WH_OK;
  p++, n--;
  trim_left(&p, &n);
  ks = i;
  if (i < n && ((p[i] | 0x20) >= 'a' && (p[i] | 0x20) <= 'z'))
    while (i < n && (((p[i] | 0x20) >= 'a' && (p[i] | 0x20) <= 'z') || (p[i] >= '0' && p[i] <= '9')))
      i++;
  kn = i - ks;
  while (i < n && re_s(p[i]))
    i++;
  if (kn == 0 || kn >= sizeof(key) || i >= n || p[i] != '=')
    return d->done = true, WH_OK;
  for (size_t j = 0; j < kn; j++)
    key[j] = (char)(p[ks + j] | 0x20);
  key[kn] = '\0';
  vs = ++i;
  while (vs < n && re_s(p[vs]))
    vs++;
  if (vs == n && i == n)
    return d->done = true, WH_OK; /* (.+?) needs one character */
  if (vs == n)
    vs = n - 1;
  ve = n;
  while (ve > vs + 1 && re_s(p[ve - 1]))
    ve--;
  if (strcmp(key, "escape") == 0)
    seen = &d->seen_escape;
  else if (strcmp(key, "syntax") == 0)
    seen = &d->seen_syntax;
  else if (strcmp(key, "check") == 0)
    seen = &d->seen_check;
  else
    return d->done = true, WH_OK;
  if (*seen)
    return perr(c, WH_EINVALID, line, "only one %s parser directive can be used", key);
  *seen = true;
  if (seen == &d->seen_syntax && (d->syntax = strndup(p + vs, ve - vs)) == NULL)
    return WH_ENOMEM;
  if (seen == &d->seen_escape) {
    if (ve - vs != 1 || (p[vs] != '`' && p[vs] != '\\'))
      return perr(c, WH_EINVALID, line, "invalid escape token '%.*s' does not match ` or \\", (int)(ve - vs),
                  p + vs);
    c->esc = p[vs];
  }
  return WH_OK;
}

/* ---- the file ------------------------------------------------------------------------ */

static bool is_comment(const char *p, size_t n)
{
  trim_left(&p, &n);
  return n > 0 && p[0] == '#';
}

/* trimContinuationCharacter: true when the line continues. */
static bool trim_cont(const struct pctx *c, const char *p, size_t *n)
{
  size_t e = *n;

  while (e && (p[e - 1] == ' ' || p[e - 1] == '\t'))
    e--;
  if (e == 0 || p[e - 1] != c->esc)
    return false;
  if (e >= 2 && p[e - 2] == c->esc)
    return false;
  *n = e - 1;
  return true;
}

static void file_release_partial(struct cli_df_file *f)
{
  for (size_t i = 0; i < f->ninsts; i++)
    inst_release(&f->insts[i]);
  free(f->insts);
  for (size_t i = 0; i < f->nstages; i++)
    free((char *)f->stages[i].name);
  free(f->stages);
  free(f->syntax);
  memset(f, 0, sizeof(*f));
}

void cli_df_file_release(struct cli_df_file *f)
{
  if (f)
    file_release_partial(f);
}

/* Joins a logical line starting with (p, n) already trimmed. */
static enum wh_code join_line(struct pctx *c, struct dirs *d, struct scan *s, struct cli_df_file *f,
                              struct wh_buf *b)
{
  const char *p;
  size_t n;
  bool more = true, empty = false;
  enum wh_code rc = WH_OK;

  while (rc == WH_OK && more && scan_line(s, &p, &n)) {
    size_t tn = n;
    if (n > CLI_DF_LINE_MAX)
      return perr(c, WH_ETOOBIG, s->line, "line longer than %u bytes", CLI_DF_LINE_MAX);
    trim_newline(p, &tn);
    if ((rc = directive(c, d, s->line, p, tn)) != WH_OK)
      return rc;
    if (is_comment(p, n))
      continue;
    {
      const char *q = p;
      size_t qn = tn;
      trim_left(&q, &qn);
      if (qn == 0) {
        empty = true;
        continue;
      }
    }
    more = trim_cont(c, p, &tn);
    rc = wh_buf_append(b, p, tn);
  }
  f->empty_continuations += empty;
  return rc;
}

static enum wh_code add_inst(struct pctx *c, struct cli_df_file *f, size_t *cap, unsigned line,
                             struct cli_df_inst **out)
{
  if (f->ninsts >= CLI_DF_INST_MAX)
    return perr(c, WH_ETOOBIG, line, "more than %u instructions", CLI_DF_INST_MAX);
  if (f->ninsts == *cap) {
    size_t ncap = *cap ? *cap * 2 : 16;
    struct cli_df_inst *ni = realloc(f->insts, ncap * sizeof(*ni));
    if (ni == NULL)
      return WH_ENOMEM;
    f->insts = ni;
    *cap = ncap;
  }
  *out = &f->insts[f->ninsts++];
  memset(*out, 0, sizeof(**out));
  return WH_OK;
}

/* One instruction from its first physical line on. */
static enum wh_code one_inst(struct pctx *c, struct dirs *d, struct scan *s, struct cli_df_file *f, size_t *cap,
                             const char *p, size_t n)
{
  unsigned start = s->line;
  struct cli_df_inst *in = NULL;
  struct wh_buf b;
  bool more = trim_cont(c, p, &n);
  enum wh_code rc;

  if (!more && n == 0)
    return WH_OK;
  wh_buf_init(&b, CLI_DF_FILE_MAX);
  rc = wh_buf_append(&b, p, n);
  if (rc == WH_OK && more)
    rc = join_line(c, d, s, f, &b);
  if (rc == WH_OK)
    rc = add_inst(c, f, cap, start, &in);
  if (rc == WH_OK)
    rc = parse_inst(c, start, b.data ? b.data : "", b.len, 0, in);
  if (rc == WH_OK && can_heredoc(in) && b.data && strstr(b.data, "<<"))
    rc = read_heredocs(c, s, b.data, start, in->kind == CLI_DF_ONBUILD ? in->sub : in);
  if (rc == WH_OK)
    rc = resolve_sources(c, in->kind == CLI_DF_ONBUILD ? in->sub : in);
  if (rc == WH_OK && in->kind == CLI_DF_ONBUILD)
    rc = onbuild_expr(in);
  if (rc == WH_OK)
    in->end_line = s->line;
  wh_buf_release(&b);
  if (rc == WH_ENOMEM)
    wh_err_set(c->err, rc, 0, "%s:%u: out of memory", c->name, start);
  return rc;
}

static enum wh_code scan_file(struct pctx *c, struct dirs *d, struct scan *s, struct cli_df_file *f)
{
  size_t cap = 0;
  const char *p;
  size_t n;
  enum wh_code rc = WH_OK;

  while (rc == WH_OK && scan_line(s, &p, &n)) {
    if (n > CLI_DF_LINE_MAX)
      return perr(c, WH_ETOOBIG, s->line, "line longer than %u bytes", CLI_DF_LINE_MAX);
    if (s->line == 1 && n >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0)
      p += 3, n -= 3;
    trim_newline(p, &n);
    trim_left(&p, &n);
    if ((rc = directive(c, d, s->line, p, n)) != WH_OK)
      break;
    if (is_comment(p, n))
      n = 0;
    rc = one_inst(c, d, s, f, &cap, p, n);
  }
  return rc;
}

/* Meta ARGs, stages, names (instructions.Parse + dockerfile2llb checks). */
static enum wh_code build_stages(struct pctx *c, struct cli_df_file *f)
{
  for (size_t i = 0; i < f->ninsts; i++) {
    struct cli_df_inst *in = &f->insts[i];
    struct cli_df_stage *st;
    if (in->kind != CLI_DF_FROM) {
      if (f->nstages == 0 && in->kind != CLI_DF_ARG)
        return perr(c, WH_EINVALID, in->line, "no build stage in current context (%s before any FROM)",
                    cli_df_kind_name(in->kind));
      if (f->nstages == 0)
        f->nmeta++;
      else
        f->stages[f->nstages - 1].count++;
      continue;
    }
    if (!grow(&f->stages, f->nstages, sizeof(*st)))
      return WH_ENOMEM;
    st = &f->stages[f->nstages++];
    memset(st, 0, sizeof(*st));
    st->from = i;
    st->base = in->args[0];
    st->platform = cli_df_inst_flag(in, "platform");
    if (in->nargs == 3) {
      char *name = strdup(in->args[2]);
      if (name == NULL)
        return WH_ENOMEM;
      for (char *q = name; *q; q++)
        if (*q >= 'A' && *q <= 'Z')
          *q = (char)(*q - 'A' + 'a');
      st->name = name;
      for (size_t j = 0; j + 1 < f->nstages; j++)
        if (f->stages[j].name && strcmp(f->stages[j].name, name) == 0)
          return perr(c, WH_EINVALID, in->line, "duplicate stage name \"%s\"", name);
    }
  }
  return WH_OK;
}

static unsigned line_of(const char *text, const char *at)
{
  unsigned n = 1;
  for (; text < at; text++)
    n += *text == '\n';
  return n;
}

enum wh_code cli_df_parse(const char *name, const char *text, size_t len, struct cli_df_file *out,
                          struct wh_err *err)
{
  struct pctx c = {.name = name ? name : "Dockerfile", .esc = '\\', .err = err};
  struct dirs d = {0};
  struct scan s = {.t = text, .len = len};
  struct cli_df_file f = {0};
  const char *nul;
  enum wh_code rc;

  if (len > CLI_DF_FILE_MAX)
    return wh_err_set(err, WH_ETOOBIG, 0, "%s: larger than %u bytes", c.name, CLI_DF_FILE_MAX);
  if ((nul = memchr(text, '\0', len)) != NULL) /* C strings below: refuse rather than truncate */
    return perr(&c, WH_EINVALID, line_of(text, nul), "NUL byte in the file");
  rc = scan_file(&c, &d, &s, &f);
  f.syntax = d.syntax;
  f.escape = c.esc;
  if (rc == WH_OK && f.ninsts == 0)
    rc = perr(&c, WH_EINVALID, s.line, "file with no instructions");
  if (rc == WH_OK)
    rc = build_stages(&c, &f);
  if (rc == WH_OK && f.nstages == 0)
    rc = perr(&c, WH_EINVALID, s.line, "dockerfile contains no stages to build (no FROM)");
  if (rc != WH_OK) {
    if (rc == WH_ENOMEM)
      wh_err_set(err, rc, 0, "%s: out of memory", c.name);
    file_release_partial(&f);
    return rc;
  }
  *out = f;
  return WH_OK;
}
