/* tests/fuzz/fuzz_dockerfile.c - libFuzzer target for client/dockerfile.c
 * and client/dockerfile_lex.c: a build context's Dockerfile is untrusted.
 *
 * Parses the input as a Dockerfile; on success checks the structure the
 * builder relies on (stages cover the instructions after the meta ARGs,
 * heredoc indices are in range, line numbers ordered, flags of known
 * names) and expands every word of every instruction, splitting it too,
 * with an environment that grows with the file's ENV and ARG lines as a
 * build's would. Also expands the raw input as one word. Every failure
 * must come with a message.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "client/dockerfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ENV_VALUE_MAX 4096

static void check(bool ok)
{
  if (!ok)
    abort();
}

static void expand_one(const char *w, struct cli_df_env *env, char esc, unsigned flags, bool keep_as)
{
  struct wh_err err = {0};
  struct cli_df_words words;
  char *out = NULL;
  enum wh_code rc;

  if (w == NULL)
    return;
  rc = cli_df_expand(w, env, esc, flags, &out, &err);
  check(rc == WH_OK ? out != NULL : err.msg[0] != '\0');
  if (rc == WH_OK && keep_as && strlen(out) <= ENV_VALUE_MAX && env->n < 64)
    check(cli_df_env_set(env, "LAST", out) == WH_OK);
  free(out);
  memset(&err, 0, sizeof(err));
  rc = cli_df_expand_words(w, env, esc, flags, &words, &err);
  if (rc == WH_OK) {
    check(words.v != NULL && words.v[words.n] == NULL);
    for (size_t i = 0; i < words.n; i++)
      check(words.v[i][0] != '\0');
    cli_df_words_release(&words);
  } else {
    check(err.msg[0] != '\0');
  }
}

static void walk(const struct cli_df_inst *in, struct cli_df_env *env, char esc)
{
  check(in->end_line >= in->line && in->original != NULL);
  check(in->args != NULL && in->args[in->nargs] == NULL);
  for (size_t i = 0; i < in->nargs; i++) {
    expand_one(in->args[i], env, esc, 0, false);
    if (in->arg_heredoc)
      check(in->arg_heredoc[i] >= -1 && in->arg_heredoc[i] < (int)in->nheredocs);
  }
  for (size_t i = 0; i < in->npairs; i++) {
    check(in->pairs[i].key[0] != '\0');
    expand_one(in->pairs[i].key, env, esc, 0, false);
    expand_one(in->pairs[i].value, env, esc, 0, true);
  }
  for (size_t i = 0; i < in->nflags; i++) {
    check(in->flags[i].name[0] != '\0' && cli_df_inst_flag(in, in->flags[i].name) != NULL);
    expand_one(in->flags[i].value, env, esc, 0, false);
  }
  for (size_t i = 0; i < in->nheredocs; i++) {
    char *t = cli_df_heredoc_text(&in->heredocs[i]);
    check(t != NULL && strlen(t) <= in->heredocs[i].len);
    expand_one(t, env, esc, CLI_DF_LEX_SKIP_QUOTES, false);
    free(t);
  }
  if (in->kind == CLI_DF_ONBUILD) {
    check(in->sub != NULL && in->onbuild_expr != NULL);
    check(in->sub->kind != CLI_DF_ONBUILD && in->sub->kind != CLI_DF_FROM && in->sub->kind != CLI_DF_MAINTAINER);
    walk(in->sub, env, esc);
  }
}

static void check_file(const struct cli_df_file *f)
{
  size_t covered = f->nmeta;
  struct cli_df_env env;

  check(f->escape == '\\' || f->escape == '`');
  check(f->ninsts > 0 && f->ninsts <= CLI_DF_INST_MAX && f->nstages > 0);
  for (size_t i = 0; i < f->nmeta; i++)
    check(f->insts[i].kind == CLI_DF_ARG);
  for (size_t s = 0; s < f->nstages; s++) {
    const struct cli_df_stage *st = &f->stages[s];
    check(st->from == covered && f->insts[st->from].kind == CLI_DF_FROM && st->base != NULL);
    covered += 1 + st->count;
  }
  check(covered == f->ninsts);
  cli_df_env_init(&env);
  check(cli_df_env_set(&env, "A", "a b") == WH_OK && cli_df_env_set(&env, "EMPTY", "") == WH_OK &&
        cli_df_env_set(&env, "X", "x*y/z?") == WH_OK);
  for (size_t i = 0; i < f->ninsts; i++) {
    if (i > 0)
      check(f->insts[i].line > f->insts[i - 1].end_line);
    walk(&f->insts[i], &env, f->escape);
  }
  cli_df_env_release(&env);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  struct cli_df_file f;
  struct wh_err err = {0};
  struct cli_df_env env;
  char *s;

  if (size > CLI_DF_FILE_MAX)
    return 0;
  if (cli_df_parse("Dockerfile", (const char *)data, size, &f, &err) == WH_OK) {
    check_file(&f);
    cli_df_file_release(&f);
  } else {
    check(err.msg[0] != '\0' && strncmp(err.msg, "Dockerfile", 10) == 0);
  }
  /* the lexer on the raw bytes (up to the first NUL) */
  if ((s = malloc(size + 1)) == NULL)
    return 0;
  memcpy(s, data, size);
  s[size] = '\0';
  cli_df_env_init(&env);
  check(cli_df_env_set(&env, "FOO", "/foo*/*/*.txt") == WH_OK && cli_df_env_set(&env, "B", "") == WH_OK);
  expand_one(s, &env, '\\', 0, false);
  expand_one(s, &env, '`', (unsigned)(size & 15), false);
  cli_df_env_release(&env);
  free(s);
  return 0;
}
