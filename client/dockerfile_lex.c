/* client/dockerfile_lex.c - BuildKit's Dockerfile shell-word expansion
 * (frontend/dockerfile/shell/lex.go) and the ordered environment it reads.
 *
 * Invariants: every result is built in a struct wh_buf capped at
 * CLI_DF_EXPAND_MAX, so no input or variable value decides an allocation
 * beyond that; ${...} nesting is capped at CLI_DF_NEST_MAX (recursion
 * depth); shell patterns (${X#p}, ${X/p/r}) are matched by an NFA in
 * O(len(value) * len(pattern)), never by backtracking. Text is handled in
 * "units": one valid UTF-8 sequence or one byte, as Go's scanner hands out
 * runes.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "client/dockerfile-int.h"
#include "common/buf.h"
#include "common/cleanup.h"

/* ---- environment ------------------------------------------------------------- */

void cli_df_env_init(struct cli_df_env *e)
{
  memset(e, 0, sizeof(*e));
}

void cli_df_env_release(struct cli_df_env *e)
{
  for (size_t i = 0; i < e->n; i++) {
    free(e->v[i].key);
    free(e->v[i].value);
  }
  free(e->v);
  memset(e, 0, sizeof(*e));
}

static struct cli_df_kv *env_find(const struct cli_df_env *e, const char *key)
{
  for (size_t i = 0; i < e->n; i++)
    if (strcmp(e->v[i].key, key) == 0)
      return &e->v[i];
  return NULL;
}

enum wh_code cli_df_env_set(struct cli_df_env *e, const char *key, const char *value)
{
  struct cli_df_kv *kv = env_find(e, key);
  char *v = strdup(value ? value : "");

  if (v == NULL)
    return WH_ENOMEM;
  if (kv != NULL) {
    free(kv->value);
    kv->value = v;
    return WH_OK;
  }
  if (e->n == e->cap) {
    size_t ncap = e->cap ? e->cap * 2 : 8;
    struct cli_df_kv *nv = realloc(e->v, ncap * sizeof(*nv));
    if (nv == NULL) {
      free(v);
      return WH_ENOMEM;
    }
    e->v = nv;
    e->cap = ncap;
  }
  e->v[e->n].key = strdup(key);
  if (e->v[e->n].key == NULL) {
    free(v);
    return WH_ENOMEM;
  }
  e->v[e->n++].value = v;
  return WH_OK;
}

const char *cli_df_env_get(const struct cli_df_env *e, const char *key)
{
  const struct cli_df_kv *kv = e ? env_find(e, key) : NULL;
  return kv ? kv->value : NULL;
}

bool cli_df_env_unset(struct cli_df_env *e, const char *key)
{
  struct cli_df_kv *kv = env_find(e, key);
  size_t i;

  if (kv == NULL)
    return false;
  i = (size_t)(kv - e->v);
  free(kv->key);
  free(kv->value);
  memmove(&e->v[i], &e->v[i + 1], (e->n - i - 1) * sizeof(*kv));
  e->n--;
  return true;
}

enum wh_code cli_df_env_copy(struct cli_df_env *dst, const struct cli_df_env *src)
{
  cli_df_env_release(dst);
  for (size_t i = 0; i < src->n; i++)
    if (cli_df_env_set(dst, src->v[i].key, src->v[i].value) != WH_OK) {
      cli_df_env_release(dst);
      return WH_ENOMEM;
    }
  return WH_OK;
}

void cli_df_words_release(struct cli_df_words *w)
{
  for (size_t i = 0; i < w->n; i++)
    free(w->v[i]);
  free(w->v);
  w->v = NULL;
  w->n = 0;
}

/* ---- UTF-8 units ------------------------------------------------------------- */

/* Length of the unit at s[0..n): a valid UTF-8 sequence, else 1 byte. */
size_t cli_df_unit_len(const char *s, size_t n)
{
  const unsigned char *u = (const unsigned char *)s;
  size_t k;
  uint32_t c, min;

  if (u[0] < 0x80)
    return 1;
  if (u[0] >= 0xc2 && u[0] <= 0xdf)
    k = 2, c = u[0] & 0x1f, min = 0x80;
  else if (u[0] >= 0xe0 && u[0] <= 0xef)
    k = 3, c = u[0] & 0x0f, min = 0x800;
  else if (u[0] >= 0xf0 && u[0] <= 0xf4)
    k = 4, c = u[0] & 0x07, min = 0x10000;
  else
    return 1;
  if (k > n)
    return 1;
  for (size_t i = 1; i < k; i++) {
    if ((u[i] & 0xc0) != 0x80)
      return 1;
    c = (c << 6) | (u[i] & 0x3f);
  }
  if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
    return 1;
  return k;
}

/* Code point of a unit (0xFFFD for an invalid byte, as Go). */
uint32_t cli_df_unit_cp(const char *s, size_t k)
{
  const unsigned char *u = (const unsigned char *)s;
  uint32_t c;

  if (k == 1)
    return u[0] < 0x80 ? u[0] : 0xfffd;
  c = u[0] & (k == 2 ? 0x1f : k == 3 ? 0x0f : 0x07);
  for (size_t i = 1; i < k; i++)
    c = (c << 6) | (u[i] & 0x3f);
  return c;
}

bool cli_df_cp_space(uint32_t c)
{
  switch (c) {
  case '\t': case '\n': case '\v': case '\f': case '\r': case ' ': case 0x85: case 0xa0:
  case 0x1680: case 0x2028: case 0x2029: case 0x202f: case 0x205f: case 0x3000:
    return true;
  default:
    return c >= 0x2000 && c <= 0x200a;
  }
}

static size_t ws_unit(const char *p, size_t n)
{
  size_t k = cli_df_unit_len(p, n);
  return cli_df_cp_space(cli_df_unit_cp(p, k)) ? k : 0;
}

void cli_df_trim_left(const char **p, size_t *n)
{
  size_t k;
  while (*n && (k = ws_unit(*p, *n)) != 0) {
    *p += k;
    *n -= k;
  }
}

/* The unit ending at p[n): a valid sequence of 2-4 bytes, else 1 byte
 * (valid sequences are self-synchronising, so this agrees with a forward
 * scan). */
static size_t last_unit(const char *p, size_t n)
{
  for (size_t back = 2; back <= 4 && back <= n; back++)
    if (cli_df_unit_len(p + n - back, back) == back)
      return back;
  return 1;
}

void cli_df_trim_space(const char **p, size_t *n)
{
  cli_df_trim_left(p, n);
  while (*n) {
    size_t k = last_unit(*p, *n);
    if (!cli_df_cp_space(cli_df_unit_cp(*p + *n - k, k)))
      return;
    *n -= k;
  }
}

/* unicode.IsLetter, approximated: ASCII letters, and any non-ASCII code
 * point that is not a space, Latin-1 punctuation/symbol, general
 * punctuation, or the replacement character. */
static bool cp_letter(uint32_t c)
{
  if (c < 0x80)
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
  if (cli_df_cp_space(c) || c < 0xc0 || c == 0xd7 || c == 0xf7 || c == 0xfffd)
    return false;
  return !(c >= 0x2000 && c <= 0x206f);
}

/* ---- word accumulation (wordsStruct) ----------------------------------------- */

struct wacc {
  struct wh_buf word;
  bool in_word;
  struct cli_df_words out;
  size_t cap;
  size_t total; /* bytes in out, capped like an expansion */
};

static enum wh_code wacc_push(struct wacc *w)
{
  char *s;

  if (w->out.n + 1 >= w->cap) {
    size_t ncap = w->cap ? w->cap * 2 : 8;
    char **nv = realloc(w->out.v, ncap * sizeof(*nv));
    if (nv == NULL)
      return WH_ENOMEM;
    w->out.v = nv;
    w->cap = ncap;
  }
  w->total += w->word.len + 1;
  if (w->total > CLI_DF_EXPAND_MAX)
    return WH_ETOOBIG;
  s = wh_buf_steal(&w->word, NULL);
  if (s == NULL)
    return WH_ENOMEM;
  w->out.v[w->out.n++] = s;
  w->out.v[w->out.n] = NULL;
  w->in_word = false;
  return WH_OK;
}

static enum wh_code wacc_raw(struct wacc *w, const char *p, size_t n)
{
  w->in_word = true;
  return wh_buf_append(&w->word, p, n);
}

static enum wh_code wacc_char(struct wacc *w, const char *p, size_t n)
{
  bool sp = cli_df_cp_space(cli_df_unit_cp(p, n));

  if (sp && w->in_word) {
    if (w->word.len != 0)
      return wacc_push(w);
    return WH_OK;
  }
  return sp ? WH_OK : wacc_raw(w, p, n);
}

static enum wh_code wacc_string(struct wacc *w, const char *s, size_t len)
{
  for (size_t i = 0; i < len;) {
    size_t k = cli_df_unit_len(s + i, len - i);
    enum wh_code rc = wacc_char(w, s + i, k);
    if (rc != WH_OK)
      return rc;
    i += k;
  }
  return WH_OK;
}

/* ---- the lexer ------------------------------------------------------------------ */

struct lex {
  const char *s;
  size_t len, pos;
  char esc;
  unsigned flags;
  bool raw_esc;
  const struct cli_df_env *env;
  unsigned depth;
  struct wh_err *err;
};

static int peekc(const struct lex *lx)
{
  return lx->pos < lx->len ? (unsigned char)lx->s[lx->pos] : -1;
}

static size_t next_unit(struct lex *lx)
{
  size_t k = cli_df_unit_len(lx->s + lx->pos, lx->len - lx->pos);
  lx->pos += k;
  return k;
}

static enum wh_code lerr(struct lex *lx, const char *msg)
{
  return wh_err_set(lx->err, WH_EINVALID, 0, "%s", msg);
}

static enum wh_code stop_on(struct lex *lx, int stop, bool raw, struct wh_buf *res, struct wacc *w);
static enum wh_code dollar(struct lex *lx, struct wh_buf *out);

static enum wh_code single_quote(struct lex *lx, struct wh_buf *out)
{
  bool rawq = lx->flags & CLI_DF_LEX_RAW_QUOTES;
  enum wh_code rc = WH_OK;

  lx->pos++;
  if (rawq)
    rc = wh_buf_append(out, "'", 1);
  while (rc == WH_OK) {
    size_t at = lx->pos, k;
    if (lx->pos >= lx->len)
      return lerr(lx, "unexpected end of statement while looking for matching single-quote");
    k = next_unit(lx);
    if (lx->s[at] == '\'')
      return rawq ? wh_buf_append(out, "'", 1) : WH_OK;
    rc = wh_buf_append(out, lx->s + at, k);
  }
  return rc;
}

static enum wh_code double_quote(struct lex *lx, struct wh_buf *out)
{
  bool rawq = lx->flags & CLI_DF_LEX_RAW_QUOTES;
  enum wh_code rc = WH_OK;

  lx->pos++;
  if (rawq)
    rc = wh_buf_append(out, "\"", 1);
  while (rc == WH_OK) {
    int c = peekc(lx);
    size_t at, k;
    if (c < 0)
      return lerr(lx, "unexpected end of statement while looking for matching double-quote");
    if (c == '"') {
      lx->pos++;
      return rawq ? wh_buf_append(out, "\"", 1) : WH_OK;
    }
    if (c == '$') {
      rc = dollar(lx, out);
      continue;
    }
    at = lx->pos;
    k = next_unit(lx);
    if (c == lx->esc) {
      int n = peekc(lx);
      if (lx->raw_esc && (rc = wh_buf_append(out, &lx->esc, 1)) != WH_OK)
        return rc;
      if (n < 0)
        continue;
      if (n == '"' || n == '$' || n == lx->esc) {
        at = lx->pos;
        k = next_unit(lx);
      }
    }
    rc = wh_buf_append(out, lx->s + at, k);
  }
  return rc;
}

/* processName: digits, one special parameter, or letters/digits/_. */
static void read_name(struct lex *lx, size_t *start, size_t *nlen)
{
  *start = lx->pos;
  if (lx->pos < lx->len && lx->s[lx->pos] >= '0' && lx->s[lx->pos] <= '9') {
    while (lx->pos < lx->len && lx->s[lx->pos] >= '0' && lx->s[lx->pos] <= '9')
      lx->pos++;
  } else if (lx->pos < lx->len && strchr("@*#?-$!", lx->s[lx->pos]) && lx->s[lx->pos] != '\0') {
    lx->pos++;
  } else {
    while (lx->pos < lx->len) {
      size_t k = cli_df_unit_len(lx->s + lx->pos, lx->len - lx->pos);
      uint32_t c = cli_df_unit_cp(lx->s + lx->pos, k);
      if (!cp_letter(c) && !(c >= '0' && c <= '9') && c != '_')
        break;
      lx->pos += k;
    }
  }
  *nlen = lx->pos - *start;
}

static const char *getenv_n(const struct lex *lx, const char *name, size_t n)
{
  if (lx->env == NULL)
    return NULL;
  for (size_t i = 0; i < lx->env->n; i++)
    if (strlen(lx->env->v[i].key) == n && memcmp(lx->env->v[i].key, name, n) == 0)
      return lx->env->v[i].value;
  return NULL;
}

/* $name without braces. */
static enum wh_code dollar_plain(struct lex *lx, struct wh_buf *out)
{
  size_t st, n;
  const char *v;

  read_name(lx, &st, &n);
  if (n == 0)
    return wh_buf_append(out, "$", 1);
  v = getenv_n(lx, lx->s + st, n);
  if (v == NULL && (lx->flags & CLI_DF_LEX_SKIP_UNSET)) {
    enum wh_code rc = wh_buf_append(out, "$", 1);
    return rc ? rc : wh_buf_append(out, lx->s + st, n);
  }
  return v ? wh_buf_appendz(out, v) : WH_OK;
}

/* Applies the ${name<op>word} modifiers once word is known. */
static enum wh_code apply_mod(struct lex *lx, const char *name, int op, bool null_unset, const char *word,
                              struct wh_buf *out)
{
  const char *v = getenv_n(lx, name, strlen(name));
  bool unset = v == NULL || (null_unset && v[0] == '\0');
  WH_AUTOFREE char *r = NULL;
  enum wh_code rc;

  switch (op) {
  case '-':
    return wh_buf_appendz(out, unset ? word : v);
  case '+':
    return unset ? WH_OK : wh_buf_appendz(out, word);
  case '?':
    if (unset)
      return wh_err_set(lx->err, WH_EINVALID, 0, "%s: %s", name,
                        word[0] ? word : v == NULL ? "is not allowed to be unset" : "is not allowed to be empty");
    return wh_buf_appendz(out, v);
  case '#':
  case '%': {
    bool greedy = word[0] == op;
    rc = cli_df_pat_trim(greedy ? word + 1 : word, v ? v : "", op == '%', greedy, &r, lx->err);
    return rc ? rc : wh_buf_appendz(out, r);
  }
  default:
    return wh_err_set(lx->err, WH_EINVALID, 0, "unsupported modifier (%s%c) in substitution",
                      null_unset ? ":" : "", op > 0 && op < 128 ? op : '?');
  }
}

static enum wh_code sub_word(struct lex *lx, int stop, bool raw, struct wh_buf *w, const char *missing)
{
  enum wh_code rc = stop_on(lx, stop, raw, w, NULL);

  if (rc == WH_EINVALID && lx->pos >= lx->len)
    return lerr(lx, missing);
  return rc;
}

/* ${name/pat/repl} and ${name//pat/repl}. */
static enum wh_code dollar_replace(struct lex *lx, const char *name, struct wh_buf *out)
{
  bool all = peekc(lx) == '/';
  struct wh_buf pat, rep;
  const char *v;
  char *r = NULL;
  enum wh_code rc;

  if (all)
    lx->pos++;
  wh_buf_init(&pat, CLI_DF_EXPAND_MAX);
  wh_buf_init(&rep, CLI_DF_EXPAND_MAX);
  rc = sub_word(lx, '/', true, &pat, "syntax error: missing '/' in ${}");
  if (rc == WH_OK)
    rc = sub_word(lx, '}', true, &rep, "syntax error: missing '}'");
  v = getenv_n(lx, name, strlen(name));
  if (rc == WH_OK && v == NULL && (lx->flags & CLI_DF_LEX_SKIP_UNSET))
    rc = wh_buf_printf(out, "${%s/%s/%s}", name, pat.data ? pat.data : "", rep.data ? rep.data : "");
  else if (rc == WH_OK) {
    rc = cli_df_pat_replace(pat.data ? pat.data : "", v ? v : "", rep.data ? rep.data : "", all, &r, lx->err);
    if (rc == WH_OK)
      rc = wh_buf_appendz(out, r);
  }
  free(r);
  wh_buf_release(&pat);
  wh_buf_release(&rep);
  return rc;
}

/* After "${": name, then '}' or a modifier. */
static enum wh_code dollar_brace(struct lex *lx, struct wh_buf *out)
{
  size_t st, n;
  int op;
  bool null_unset = false;
  struct wh_buf word;
  char name[256];
  enum wh_code rc;

  op = peekc(lx);
  if (op < 0)
    return lerr(lx, "syntax error: missing '}'");
  if (op == '{' || op == '}' || op == ':')
    return lerr(lx, "syntax error: bad substitution");
  read_name(lx, &st, &n);
  if (n >= sizeof(name))
    return wh_err_set(lx->err, WH_ETOOBIG, 0, "variable name too long");
  memcpy(name, lx->s + st, n);
  name[n] = '\0';
  op = peekc(lx);
  if (op >= 0)
    lx->pos++;
  if (op == '}') {
    const char *v = getenv_n(lx, name, n);
    if (v == NULL && (lx->flags & CLI_DF_LEX_SKIP_UNSET))
      return wh_buf_printf(out, "${%s}", name);
    return v ? wh_buf_appendz(out, v) : WH_OK;
  }
  if (op == '/')
    return dollar_replace(lx, name, out);
  if (op == ':') {
    null_unset = true;
    op = peekc(lx);
    if (op >= 0)
      lx->pos++;
  } else if (op < 0 || !strchr("+-?#%", op)) {
    return wh_err_set(lx->err, WH_EINVALID, 0, "unsupported modifier (%c) in substitution",
                      op > 32 && op < 127 ? op : '?');
  }
  wh_buf_init(&word, CLI_DF_EXPAND_MAX);
  rc = sub_word(lx, '}', op == '#' || op == '%', &word, "syntax error: missing '}'");
  if (rc == WH_OK && getenv_n(lx, name, n) == NULL && (lx->flags & CLI_DF_LEX_SKIP_UNSET))
    rc = wh_buf_printf(out, "${%s%s%c%s}", name, null_unset ? ":" : "", op > 0 ? op : '?',
                       word.data ? word.data : "");
  else if (rc == WH_OK)
    rc = apply_mod(lx, name, op, null_unset, word.data ? word.data : "", out);
  wh_buf_release(&word);
  return rc;
}

static enum wh_code dollar(struct lex *lx, struct wh_buf *out)
{
  enum wh_code rc;

  lx->pos++;
  if (peekc(lx) != '{')
    return dollar_plain(lx, out);
  lx->pos++;
  if (++lx->depth > CLI_DF_NEST_MAX)
    return wh_err_set(lx->err, WH_EINVALID, 0, "${} nested too deeply");
  rc = dollar_brace(lx, out);
  lx->depth--;
  return rc;
}

/* One ordinary unit (maybe an escape and what it escapes). */
static enum wh_code plain_unit(struct lex *lx, struct wh_buf *res, struct wacc *w)
{
  size_t at = lx->pos, k = next_unit(lx);
  enum wh_code rc;

  if (k != 1 || lx->s[at] != lx->esc) {
    rc = w ? wacc_char(w, lx->s + at, k) : WH_OK;
    return rc ? rc : wh_buf_append(res, lx->s + at, k);
  }
  if (lx->raw_esc) {
    if ((rc = w ? wacc_raw(w, &lx->esc, 1) : WH_OK) != WH_OK || (rc = wh_buf_append(res, &lx->esc, 1)) != WH_OK)
      return rc;
  }
  if (lx->pos >= lx->len)
    return WH_OK;
  at = lx->pos;
  k = next_unit(lx);
  rc = w ? wacc_raw(w, lx->s + at, k) : WH_OK;
  return rc ? rc : wh_buf_append(res, lx->s + at, k);
}

/* processPossibleHeredoc: "<<" keeps the blanks after it in its word, so
 * "<<  EOF" stays one word; a lone '<' is ordinary. */
static enum wh_code possible_heredoc(struct lex *lx, struct wh_buf *out)
{
  size_t st = lx->pos++;

  if (peekc(lx) != '<')
    return wh_buf_append(out, "<", 1);
  lx->pos++;
  while (lx->pos < lx->len && (lx->s[lx->pos] == ' ' || lx->s[lx->pos] == '\t' || lx->s[lx->pos] == '\r'))
    lx->pos++;
  return wh_buf_append(out, lx->s + st, lx->pos - st);
}

static enum wh_code special(struct lex *lx, int c, struct wh_buf *res, struct wacc *w)
{
  struct wh_buf tmp;
  enum wh_code rc;

  wh_buf_init(&tmp, CLI_DF_EXPAND_MAX);
  if (c == '<')
    rc = possible_heredoc(lx, &tmp);
  else
    rc = c == '$' ? dollar(lx, &tmp) : c == '\'' ? single_quote(lx, &tmp) : double_quote(lx, &tmp);
  if (rc == WH_OK && tmp.len)
    rc = wh_buf_append(res, tmp.data, tmp.len);
  if (rc == WH_OK && w)
    rc = c == '$' ? wacc_string(w, tmp.data ? tmp.data : "", tmp.len) : wacc_raw(w, tmp.data ? tmp.data : "", tmp.len);
  wh_buf_release(&tmp);
  return rc;
}

/* processStopOn: up to `stop` (consumed) or the end (stop < 0). */
static enum wh_code stop_on(struct lex *lx, int stop, bool raw, struct wh_buf *res, struct wacc *w)
{
  bool saved = lx->raw_esc;
  bool quotes = !(lx->flags & CLI_DF_LEX_SKIP_QUOTES);
  enum wh_code rc = WH_OK;

  lx->raw_esc = raw;
  while (rc == WH_OK && lx->pos < lx->len) {
    int c = peekc(lx);
    if (stop >= 0 && c == stop) {
      lx->pos++;
      lx->raw_esc = saved;
      return WH_OK;
    }
    if (c == '$' || c == '<' || (quotes && (c == '\'' || c == '"')))
      rc = special(lx, c, res, w);
    else
      rc = plain_unit(lx, res, w);
  }
  lx->raw_esc = saved;
  if (rc == WH_OK && stop >= 0)
    return wh_err_set(lx->err, WH_EINVALID, 0, "unexpected end of statement while looking for matching %c",
                      stop);
  return rc;
}

static enum wh_code run(const char *word, const struct cli_df_env *env, char escape, unsigned flags,
                        struct wh_buf *res, struct wacc *w, struct wh_err *err)
{
  struct lex lx = {.s = word, .len = strlen(word), .esc = escape ? escape : '\\', .flags = flags,
                   .raw_esc = (flags & CLI_DF_LEX_RAW_ESCAPES) != 0, .env = env, .err = err};
  enum wh_code rc = stop_on(&lx, -1, lx.raw_esc, res, w);

  if (rc == WH_ENOMEM)
    wh_err_set(err, rc, 0, "out of memory");
  else if (rc == WH_ETOOBIG) /* only buffers say so */
    wh_err_set(err, rc, 0, "expansion larger than %u bytes", CLI_DF_EXPAND_MAX);
  if (rc != WH_OK)
    wh_err_wrap(err, "failed to process \"%.80s\"", word);
  return rc;
}

enum wh_code cli_df_expand(const char *word, const struct cli_df_env *env, char escape, unsigned flags,
                           char **out, struct wh_err *err)
{
  struct wh_buf res;
  enum wh_code rc;
  char *s;

  wh_buf_init(&res, CLI_DF_EXPAND_MAX);
  rc = run(word, env, escape, flags, &res, NULL, err);
  if (rc != WH_OK) {
    wh_buf_release(&res);
    return rc;
  }
  if ((s = wh_buf_steal(&res, NULL)) == NULL)
    return wh_err_set(err, WH_ENOMEM, 0, "out of memory");
  *out = s;
  return WH_OK;
}

enum wh_code cli_df_expand_words(const char *word, const struct cli_df_env *env, char escape, unsigned flags,
                                 struct cli_df_words *out, struct wh_err *err)
{
  struct wh_buf res;
  struct wacc w;
  enum wh_code rc;

  memset(&w, 0, sizeof(w));
  wh_buf_init(&w.word, CLI_DF_EXPAND_MAX);
  wh_buf_init(&res, CLI_DF_EXPAND_MAX);
  rc = run(word, env, escape, flags, &res, &w, err);
  if (rc == WH_OK && w.word.len && (rc = wacc_push(&w)) != WH_OK)
    wh_err_set(err, rc, 0, "split \"%.80s\": %s", word, wh_code_str(rc));
  if (rc == WH_OK && w.out.v == NULL && (w.out.v = calloc(1, sizeof(char *))) == NULL)
    rc = wh_err_set(err, WH_ENOMEM, 0, "out of memory");
  wh_buf_release(&res);
  wh_buf_release(&w.word);
  if (rc != WH_OK) {
    cli_df_words_release(&w.out);
    return rc;
  }
  *out = w.out;
  return WH_OK;
}

/* ---- shell patterns for ${X#p} ${X%p} ${X/p/r} --------------------------------- */

/* Tokens: a literal unit, '?' (any unit but newline, as Go's '.'),
 * '*' (any run of such units). */
enum ptok_kind { PT_LIT, PT_ANY, PT_STAR };
struct ptok {
  enum ptok_kind kind;
  size_t off, len; /* literal bytes in the pattern */
};

struct pat {
  const char *src;
  struct ptok *t;
  size_t n;
};

/* convertShellPatternToRegex, as a token list. */
static enum wh_code pat_compile(const char *p, struct pat *out, struct wh_err *err)
{
  size_t len = strlen(p), i = 0;

  out->src = p;
  out->n = 0;
  out->t = malloc((len + 1) * sizeof(*out->t));
  if (out->t == NULL)
    return wh_err_set(err, WH_ENOMEM, 0, "out of memory");
  while (i < len) {
    size_t k = cli_df_unit_len(p + i, len - i);
    struct ptok tk = {PT_LIT, i, k};
    if (p[i] == '*' || p[i] == '?') {
      tk.kind = p[i] == '*' ? PT_STAR : PT_ANY;
    } else if (p[i] == '\\') {
      if (i + 1 < len && (p[i + 1] == '}' || p[i + 1] == '/')) {
        i++;
        continue;
      }
      if (i + 1 >= len || (p[i + 1] != '*' && p[i + 1] != '?' && p[i + 1] != '\\')) {
        free(out->t);
        out->t = NULL;
        return wh_err_set(err, WH_EINVALID, 0, "invalid pattern (%.80s) in substitution: invalid escape", p);
      }
      tk.off = ++i;
      k = tk.len = 1;
    }
    out->t[out->n++] = tk;
    i += k;
  }
  return WH_OK;
}

/* Adds state s and, through '*', the states after it. */
static void pat_add(const struct pat *p, size_t *st, size_t s, size_t start)
{
  for (; s <= p->n; s++) {
    if (st[s] <= start)
      return; /* already there with an earlier (better) start */
    st[s] = start;
    if (s == p->n || p->t[s].kind != PT_STAR)
      return;
  }
}

/* One step over unit u of the value: cur -> nxt. */
static void pat_step(const struct pat *p, const size_t *cur, size_t *nxt, const char *u, size_t k)
{
  bool nl = k == 1 && u[0] == '\n';

  for (size_t s = 0; s < p->n; s++) {
    const struct ptok *t = &p->t[s];
    if (cur[s] == SIZE_MAX)
      continue;
    if (t->kind == PT_STAR) {
      if (!nl)
        pat_add(p, nxt, s, cur[s]);
    } else if (t->kind == PT_ANY ? !nl : (t->len == k && memcmp(p->src + t->off, u, k) == 0)) {
      pat_add(p, nxt, s + 1, cur[s]);
    }
  }
}

/* Leftmost match in v[from..len), longest (greedy) or shortest end. With
 * anchored, only at `from`. Returns false when none. */
static bool pat_find(const struct pat *p, const char *v, size_t len, size_t from, bool anchored, bool greedy,
                     size_t *ms, size_t *me, size_t *a, size_t *b)
{
  size_t best = SIZE_MAX, bend = 0, pos = from;
  bool alive;

  for (size_t s = 0; s <= p->n; s++)
    a[s] = SIZE_MAX;
  for (;;) {
    if (best == SIZE_MAX && (!anchored || pos == from))
      pat_add(p, a, 0, pos);
    if (a[p->n] != SIZE_MAX && a[p->n] <= best) {
      if (a[p->n] < best || greedy)
        bend = pos;
      best = a[p->n];
      if (!greedy)
        break;
    }
    alive = false;
    for (size_t s = 0; s < p->n; s++)
      alive |= a[s] != SIZE_MAX && a[s] <= best;
    if (pos >= len || (!alive && (best != SIZE_MAX || anchored)))
      break;
    {
      size_t k = cli_df_unit_len(v + pos, len - pos);
      for (size_t s = 0; s <= p->n; s++)
        b[s] = SIZE_MAX;
      pat_step(p, a, b, v + pos, k);
      memcpy(a, b, (p->n + 1) * sizeof(*a));
      pos += k;
    }
  }
  if (best == SIZE_MAX)
    return false;
  *ms = best;
  *me = bend;
  return true;
}

/* The pattern reversed (for suffixes): units in reverse order. */
static enum wh_code pat_reverse(struct pat *p)
{
  for (size_t i = 0; i < p->n / 2; i++) {
    struct ptok t = p->t[i];
    p->t[i] = p->t[p->n - 1 - i];
    p->t[p->n - 1 - i] = t;
  }
  return WH_OK;
}

/* Reverses a string unit by unit into a new allocation. */
static char *rev_units(const char *s, size_t len)
{
  char *r = malloc(len + 1);

  if (r == NULL)
    return NULL;
  for (size_t i = 0; i < len;) {
    size_t k = cli_df_unit_len(s + i, len - i);
    memcpy(r + len - i - k, s + i, k);
    i += k;
  }
  r[len] = '\0';
  return r;
}

static enum wh_code pat_states(const struct pat *p, size_t **a, size_t **b, struct wh_err *err)
{
  *a = malloc((p->n + 1) * sizeof(**a));
  *b = malloc((p->n + 1) * sizeof(**b));
  if (*a == NULL || *b == NULL) {
    free(*a);
    free(*b);
    return wh_err_set(err, WH_ENOMEM, 0, "out of memory");
  }
  return WH_OK;
}

/* ${X#p} ${X##p} (suffix false) and ${X%p} ${X%%p} (suffix true). */
enum wh_code cli_df_pat_trim(const char *pat, const char *val, bool suffix, bool greedy, char **out,
                             struct wh_err *err)
{
  struct pat p;
  size_t *a = NULL, *b = NULL, ms, me, len = strlen(val);
  char *v = NULL, *r;
  enum wh_code rc = pat_compile(pat, &p, err);

  if (rc != WH_OK)
    return rc;
  if ((rc = pat_states(&p, &a, &b, err)) != WH_OK) {
    free(p.t);
    return rc;
  }
  v = suffix ? rev_units(val, len) : strdup(val);
  if (v == NULL) {
    rc = wh_err_set(err, WH_ENOMEM, 0, "out of memory");
    goto out;
  }
  if (suffix)
    pat_reverse(&p);
  if (pat_find(&p, v, len, 0, true, greedy, &ms, &me, a, b))
    memmove(v, v + me, len - me + 1);
  r = suffix ? rev_units(v, strlen(v)) : strdup(v);
  if (r == NULL) {
    rc = wh_err_set(err, WH_ENOMEM, 0, "out of memory");
    goto out;
  }
  *out = r;
out:
  free(v);
  free(a);
  free(b);
  free(p.t);
  return rc;
}

/* Next unit width at pos (0 at the end), for Go's ReplaceAll advance. */
static size_t width_at(const char *v, size_t len, size_t pos)
{
  return pos < len ? cli_df_unit_len(v + pos, len - pos) : 0;
}

/* ${X/p/r} (first match) and ${X//p/r} (all, as Go's ReplaceAllString). */
enum wh_code cli_df_pat_replace(const char *pat, const char *val, const char *repl, bool all, char **out,
                                struct wh_err *err)
{
  struct pat p;
  struct wh_buf o;
  size_t *a = NULL, *b = NULL, len = strlen(val), search = 0, last = 0, ms, me;
  enum wh_code rc = pat_compile(pat, &p, err);

  if (rc != WH_OK)
    return rc;
  if ((rc = pat_states(&p, &a, &b, err)) != WH_OK) {
    free(p.t);
    return rc;
  }
  wh_buf_init(&o, CLI_DF_EXPAND_MAX);
  while (rc == WH_OK && search <= len && pat_find(&p, val, len, search, false, true, &ms, &me, a, b)) {
    size_t w = width_at(val, len, search);
    rc = wh_buf_append(&o, val + last, ms - last);
    if (rc == WH_OK && (me > last || ms == 0))
      rc = wh_buf_appendz(&o, repl);
    last = me;
    if (!all)
      break;
    search = search + w > me ? search + w : search + 1 > me ? search + 1 : me;
  }
  if (rc == WH_OK)
    rc = wh_buf_append(&o, val + last, len - last);
  if (rc == WH_OK && (*out = wh_buf_steal(&o, NULL)) == NULL)
    rc = WH_ENOMEM;
  if (rc != WH_OK)
    rc = wh_err_set(err, rc, 0, "substitution: %s", wh_code_str(rc));
  wh_buf_release(&o);
  free(a);
  free(b);
  free(p.t);
  return rc;
}
