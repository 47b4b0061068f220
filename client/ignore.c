/* client/ignore.c - .dockerignore / .wharfignore: moby's ignorefile.ReadAll
 * and patternmatcher (New, MatchesOrParentMatches) in C.
 *
 * A pattern is compiled once into one of four match types, as moby does:
 * exact (plain text), prefix ("dir/" + "**"), suffix ("**" + text) or a token
 * program (the regexp moby builds) run as an NFA over the path: `*` and
 * `?` never cross '/', "**" + '/' is "(.* /)?", a trailing "**" is ".*".
 * Invariants: matching is O(len(path) * len(pattern)) with no
 * backtracking; patterns are validated with Go's filepath.Match rules at
 * parse time, so matching never fails. Character classes follow
 * filepath.Match (moby hands them to Go's regexp, which differs only for
 * '*', '?' or '[' inside a class).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "client/dockerfile-int.h"
#include "common/buf.h"
#include "common/cleanup.h"

enum mtype { M_EXACT, M_PREFIX, M_SUFFIX, M_REGEX };
enum tkind { T_LIT, T_ANY, T_STAR, T_DDIR, T_DDIR_IN, T_DEND, T_CLASS };

struct tok {
  enum tkind kind;
  size_t off, len; /* T_LIT: the unit; T_CLASS: the body after '[' */
};

struct cli_ignore_pat {
  char *pat; /* owned: cleaned, without '!' */
  bool exclusion;
  enum mtype type;
  struct tok *t; /* owned; T_DDIR is followed by its T_DDIR_IN */
  size_t n;
};

/* ---- filepath.Match syntax ------------------------------------------------------ */

/* getEsc: one class character at p[*i]; false on bad syntax. */
static bool get_esc(const char *p, size_t n, size_t *i, uint32_t *cp)
{
  size_t k;

  if (*i >= n || p[*i] == '-' || p[*i] == ']')
    return false;
  if (p[*i] == '\\' && ++*i >= n)
    return false;
  k = cli_df_unit_len(p + *i, n - *i);
  if (k == 1 && (unsigned char)p[*i] >= 0x80)
    return false;
  *cp = cli_df_unit_cp(p + *i, k);
  *i += k;
  return *i < n;
}

/* A class body (after '['): bytes consumed through ']', 0 when malformed;
 * *hit tells whether code point c is in it. */
static size_t class_scan(const char *p, size_t n, uint32_t c, bool *hit)
{
  size_t i = 0;
  bool neg = false, in = false;
  unsigned nrange = 0;

  if (i < n && p[i] == '^')
    neg = true, i++;
  for (;;) {
    uint32_t lo, hi;
    if (i < n && p[i] == ']' && nrange > 0) {
      i++;
      break;
    }
    if (!get_esc(p, n, &i, &lo))
      return 0;
    hi = lo;
    if (p[i] == '-') {
      i++;
      if (!get_esc(p, n, &i, &hi))
        return 0;
    }
    in |= lo <= c && c <= hi;
    nrange++;
  }
  *hit = in != neg;
  return i;
}

static bool syntax_ok(const char *p, size_t n)
{
  for (size_t i = 0; i < n; i++) {
    bool hit;
    size_t k;
    if (p[i] == '\\') {
      if (++i >= n)
        return false;
    } else if (p[i] == '[') {
      if ((k = class_scan(p + i + 1, n - i - 1, 0, &hit)) == 0)
        return false;
      i += k;
    }
  }
  return true;
}

/* ---- path.Clean ---------------------------------------------------------------------- */

/* Go's path.Clean into a new string (the lexical steps, in order). */
static char *path_clean(const char *s)
{
  size_t n = strlen(s), r = 0, w = 0, dotdot = 0;
  bool rooted = n > 0 && s[0] == '/';
  char *out = malloc(n + 2);

  if (out == NULL)
    return NULL;
  if (rooted)
    out[w++] = '/', r = dotdot = 1;
  while (r < n) {
    if (s[r] == '/') {
      r++;
    } else if (s[r] == '.' && (r + 1 == n || s[r + 1] == '/')) {
      r++;
    } else if (s[r] == '.' && s[r + 1] == '.' && (r + 2 == n || s[r + 2] == '/')) {
      r += 2;
      if (w > dotdot) {
        w--;
        while (w > dotdot && out[w] != '/')
          w--;
      } else if (!rooted) {
        if (w > 0)
          out[w++] = '/';
        out[w++] = '.';
        out[w++] = '.';
        dotdot = w;
      }
    } else {
      if ((rooted && w != 1) || (!rooted && w != 0))
        out[w++] = '/';
      for (; r < n && s[r] != '/'; r++)
        out[w++] = s[r];
    }
  }
  if (w == 0)
    out[w++] = '.';
  out[w] = '\0';
  return out;
}

/* ---- compile (Pattern.compile) -------------------------------------------------- */

static void emit(struct cli_ignore_pat *pt, enum tkind k, size_t off, size_t len)
{
  pt->t[pt->n++] = (struct tok){k, off, len};
  if (k == T_DDIR)
    pt->t[pt->n++] = (struct tok){T_DDIR_IN, off, len};
}

static enum wh_code compile(struct cli_ignore_pat *pt)
{
  const char *p = pt->pat;
  size_t n = strlen(p), i = 0;
  enum mtype type = M_EXACT;

  if ((pt->t = malloc((2 * n + 1) * sizeof(*pt->t))) == NULL)
    return WH_ENOMEM;
  for (unsigned iter = 0; i < n; iter++) {
    size_t k = cli_df_unit_len(p + i, n - i);
    char c = p[i];
    bool hit;
    if (c == '*' && i + 1 < n && p[i + 1] == '*') {
      i += 2;
      if (i < n && p[i] == '/')
        i++;
      if (i >= n) {
        if (type == M_EXACT)
          type = M_PREFIX;
        else
          emit(pt, T_DEND, 0, 0), type = M_REGEX;
      } else {
        emit(pt, T_DDIR, 0, 0);
        type = M_REGEX;
      }
      if (iter == 0)
        type = M_SUFFIX;
      continue;
    }
    if (c == '*' || c == '?') {
      emit(pt, c == '*' ? T_STAR : T_ANY, 0, 0);
      type = M_REGEX;
    } else if (c == '\\' && i + 1 < n) {
      k = cli_df_unit_len(p + i + 1, n - i - 1);
      emit(pt, T_LIT, i + 1, k);
      type = M_REGEX;
      k++;
    } else if (c == '[') {
      k = 1 + class_scan(p + i + 1, n - i - 1, 0, &hit);
      emit(pt, T_CLASS, i + 1, k - 1);
      type = M_REGEX;
    } else {
      emit(pt, T_LIT, i, k);
      if (c == ']')
        type = M_REGEX;
    }
    i += k;
  }
  pt->type = type;
  return WH_OK;
}

/* ---- the NFA ---------------------------------------------------------------------------- */

static void add_state(const struct cli_ignore_pat *pt, bool *on, size_t s)
{
  while (s <= pt->n && !on[s]) {
    on[s] = true;
    if (s == pt->n)
      return;
    if (pt->t[s].kind == T_STAR || pt->t[s].kind == T_DEND)
      s++;
    else if (pt->t[s].kind == T_DDIR)
      s += 2;
    else
      return;
  }
}

static bool tok_step(const struct cli_ignore_pat *pt, const struct tok *t, const char *u, size_t k)
{
  uint32_t c = cli_df_unit_cp(u, k);
  bool hit = false;

  switch (t->kind) {
  case T_LIT:
    return t->len == k && memcmp(pt->pat + t->off, u, k) == 0;
  case T_ANY:
    return c != '/';
  case T_CLASS:
    class_scan(pt->pat + t->off, t->len, c, &hit);
    return hit;
  default:
    return false;
  }
}

static bool regex_match(const struct cli_ignore_pat *pt, const char *path, size_t len)
{
  WH_AUTOFREE bool *a = calloc(pt->n + 1, sizeof(bool));
  WH_AUTOFREE bool *b = calloc(pt->n + 1, sizeof(bool));

  if (a == NULL || b == NULL)
    return false;
  add_state(pt, a, 0);
  for (size_t i = 0; i < len;) {
    size_t k = cli_df_unit_len(path + i, len - i);
    bool nl = k == 1 && path[i] == '\n', sl = k == 1 && path[i] == '/', any = false;
    memset(b, 0, (pt->n + 1) * sizeof(*b));
    for (size_t s = 0; s < pt->n; s++) {
      enum tkind kd = pt->t[s].kind;
      if (!a[s])
        continue;
      if (kd == T_STAR && !sl)
        add_state(pt, b, s);
      else if (kd == T_DEND && !nl)
        add_state(pt, b, s);
      else if (kd == T_DDIR || kd == T_DDIR_IN) {
        size_t in = kd == T_DDIR ? s + 1 : s;
        if (!nl)
          add_state(pt, b, in);
        if (sl)
          add_state(pt, b, in + 1);
      } else if (kd != T_STAR && kd != T_DEND && tok_step(pt, &pt->t[s], path + i, k))
        add_state(pt, b, s + 1);
    }
    memcpy(a, b, (pt->n + 1) * sizeof(*a));
    for (size_t s = 0; s <= pt->n; s++)
      any |= a[s];
    if (!any)
      return false;
    i += k;
  }
  return a[pt->n];
}

/* Pattern.match on a cleaned path of length len. */
static bool pat_match(const struct cli_ignore_pat *pt, const char *path, size_t len)
{
  size_t pl = strlen(pt->pat);

  switch (pt->type) {
  case M_EXACT:
    return pl == len && memcmp(pt->pat, path, len) == 0;
  case M_PREFIX:
    return len >= pl - 2 && memcmp(path, pt->pat, pl - 2) == 0;
  case M_SUFFIX: {
    const char *suf = pt->pat + 2;
    size_t sl = pl - 2;
    if (len >= sl && memcmp(path + len - sl, suf, sl) == 0)
      return true;
    return sl > 0 && suf[0] == '/' && len == sl - 1 && memcmp(path, suf + 1, sl - 1) == 0;
  }
  default:
    return regex_match(pt, path, len);
  }
}

/* ---- parse --------------------------------------------------------------------------- */

static void pat_release(struct cli_ignore_pat *p)
{
  free(p->pat);
  free(p->t);
}

void cli_ignore_release(struct cli_ignore *ig)
{
  if (ig == NULL)
    return;
  for (size_t i = 0; i < ig->n; i++)
    pat_release(&ig->p[i]);
  free(ig->p);
  memset(ig, 0, sizeof(*ig));
}

/* One line of the file (ReadAll + New); *skip when it is no pattern. */
static enum wh_code one_pattern(const char *p, size_t n, unsigned line, struct cli_ignore_pat *out, bool *skip,
                                struct wh_err *err)
{
  WH_AUTOFREE char *raw = NULL;
  bool invert;

  *skip = true;
  if (n && p[0] == '#')
    return WH_OK;
  cli_df_trim_space(&p, &n);
  if (n == 0)
    return WH_OK;
  if ((invert = p[0] == '!')) {
    p++, n--;
    cli_df_trim_space(&p, &n);
  }
  if (n == 0)
    return wh_err_set(err, WH_EINVALID, 0, "line %u: illegal exclusion pattern: \"!\"", line);
  if ((raw = strndup(p, n)) == NULL || (out->pat = path_clean(raw)) == NULL)
    return wh_err_set(err, WH_ENOMEM, 0, "out of memory");
  if (out->pat[0] == '/' && out->pat[1] != '\0')
    memmove(out->pat, out->pat + 1, strlen(out->pat));
  out->exclusion = invert;
  if (!syntax_ok(out->pat, strlen(out->pat))) {
    wh_err_set(err, WH_EINVALID, 0, "line %u: syntax error in pattern \"%.200s\"", line, out->pat);
    free(out->pat);
    out->pat = NULL;
    return WH_EINVALID;
  }
  *skip = false;
  if (compile(out) != WH_OK) {
    pat_release(out);
    return wh_err_set(err, WH_ENOMEM, 0, "out of memory");
  }
  return WH_OK;
}

enum wh_code cli_ignore_parse(const char *text, size_t len, struct cli_ignore *out, struct wh_err *err)
{
  struct cli_ignore ig = {0};
  size_t pos = 0, cap = 0;
  unsigned line = 0;
  enum wh_code rc = WH_OK;

  if (len > CLI_DF_FILE_MAX)
    return wh_err_set(err, WH_ETOOBIG, 0, "ignore file larger than %u bytes", CLI_DF_FILE_MAX);
  if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0)
    pos = 3;
  while (rc == WH_OK && pos < len) {
    const char *p = text + pos, *nl = memchr(p, '\n', len - pos);
    size_t n = nl ? (size_t)(nl - p) : len - pos;
    struct cli_ignore_pat pt = {0};
    bool skip;
    pos += n + (nl != NULL);
    line++;
    if (n && p[n - 1] == '\r')
      n--;
    if (n > CLI_DF_LINE_MAX)
      rc = wh_err_set(err, WH_ETOOBIG, 0, "line %u: longer than %u bytes", line, CLI_DF_LINE_MAX);
    else if (memchr(p, '\0', n))
      rc = wh_err_set(err, WH_EINVALID, 0, "line %u: NUL byte", line);
    else if ((rc = one_pattern(p, n, line, &pt, &skip, err)) != WH_OK || skip)
      continue;
    else if (ig.n >= CLI_IGNORE_MAX_PATTERNS)
      rc = wh_err_set(err, WH_ETOOBIG, 0, "more than %u patterns", CLI_IGNORE_MAX_PATTERNS);
    else if (ig.n == cap) {
      size_t ncap = cap ? cap * 2 : 16;
      struct cli_ignore_pat *np = realloc(ig.p, ncap * sizeof(*np));
      if (np == NULL)
        rc = wh_err_set(err, WH_ENOMEM, 0, "out of memory");
      else
        ig.p = np, cap = ncap;
    }
    if (rc != WH_OK) {
      pat_release(&pt);
      break;
    }
    ig.has_exceptions |= pt.exclusion;
    ig.p[ig.n++] = pt;
  }
  if (rc != WH_OK) {
    cli_ignore_release(&ig);
    return rc;
  }
  *out = ig;
  return WH_OK;
}

/* ---- match ------------------------------------------------------------------------- */

/* The pattern, against the path or one of its parent directories. */
static bool match_or_parent(const struct cli_ignore_pat *pt, const char *path)
{
  size_t len = strlen(path);
  const char *slash = strrchr(path, '/');
  size_t plen;

  if (pat_match(pt, path, len))
    return true;
  if (slash == NULL)
    return false;
  plen = slash == path ? 1 : (size_t)(slash - path); /* path.Dir */
  for (size_t i = 0; i < plen; i++)
    if (path[i] == '/' && pat_match(pt, path, i))
      return true;
  return pat_match(pt, path, plen);
}

static bool match_clean(const struct cli_ignore *ig, const char *clean)
{
  bool matched = false;

  if (strcmp(clean, ".") == 0)
    return false;
  for (size_t i = 0; i < ig->n; i++) {
    const struct cli_ignore_pat *pt = &ig->p[i];
    if (pt->exclusion != matched)
      continue;
    if (match_or_parent(pt, clean))
      matched = !pt->exclusion;
  }
  return matched;
}

bool cli_ignore_match(const struct cli_ignore *ig, const char *relpath)
{
  WH_AUTOFREE char *clean = path_clean(relpath);

  return clean != NULL && match_clean(ig, clean);
}

/* Whether one component pattern (no '/', no "**") matches component c. */
static bool comp_match(const char *pat, size_t pn, const char *c, size_t cn)
{
  struct cli_ignore_pat pt = {0};
  bool r = false;

  if ((pt.pat = strndup(pat, pn)) == NULL)
    return true;
  if (compile(&pt) != WH_OK)
    r = true;
  else
    r = pat_match(&pt, c, cn);
  pat_release(&pt);
  return r;
}

/* Could exception pattern pt match something strictly below dir (m
 * components)? True when unsure. */
static bool may_reach_below(const struct cli_ignore_pat *pt, const char *dir, size_t m)
{
  const char *p = pt->pat, *d = dir, *lb = strchr(p, '[');
  size_t k = 1;

  if ((lb && strchr(lb, '/')) || strstr(p, "\\/"))
    return true;
  for (const char *q = p; *q; q++)
    k += *q == '/';
  for (size_t j = 0; j < m && j < k; j++) {
    const char *pe = strchr(p, '/'), *de = strchr(d, '/');
    size_t pn = pe ? (size_t)(pe - p) : strlen(p), dn = de ? (size_t)(de - d) : strlen(d);
    if (memmem(p, pn, "**", 2))
      return true;
    if (!comp_match(p, pn, d, dn))
      return false;
    p += pn + (pe != NULL);
    d += dn + (de != NULL);
  }
  if (k <= m)
    return strstr(p, "**") != NULL;
  return true;
}

bool cli_ignore_skip_dir(const struct cli_ignore *ig, const char *dirpath)
{
  WH_AUTOFREE char *clean = path_clean(dirpath);
  size_t m = 1;

  if (clean == NULL || !match_clean(ig, clean))
    return false;
  for (const char *q = clean; *q; q++)
    m += *q == '/';
  for (size_t i = 0; i < ig->n; i++)
    if (ig->p[i].exclusion && may_reach_below(&ig->p[i], clean, m))
      return false;
  return true;
}
