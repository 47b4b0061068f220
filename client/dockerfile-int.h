/* client/dockerfile-int.h - helpers shared by client/dockerfile.c,
 * client/dockerfile_lex.c and client/ignore.c (not part of the API).
 */
#ifndef WH_CLI_DOCKERFILE_INT_H
#define WH_CLI_DOCKERFILE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "client/dockerfile.h"

/* Length of the unit at s[0..n) (n >= 1): one valid UTF-8 sequence, else 1. */
size_t cli_df_unit_len(const char *s, size_t n);
/* Code point of a unit of length k (0xFFFD for an invalid byte). */
uint32_t cli_df_unit_cp(const char *s, size_t k);
/* Go's unicode.IsSpace. */
bool cli_df_cp_space(uint32_t c);

/* strings.TrimLeftFunc(unicode.IsSpace) and strings.TrimSpace on (p, n). */
void cli_df_trim_left(const char **p, size_t *n);
void cli_df_trim_space(const char **p, size_t *n);

/* parser.ParseHeredoc on one word ("<<EOF", "3<<-'EOF'"): 1 with *h's
 * name (malloc'd), fd, chomp and expand set; 0 when not a heredoc; -1 on a
 * lexing error (unterminated quote), err set. */
int cli_df_heredoc_word(const char *w, struct cli_df_heredoc *h, struct wh_err *err);

/* ${X#p}-style trims and ${X/p/r} replacement on shell patterns (* ? \). */
enum wh_code cli_df_pat_trim(const char *pat, const char *val, bool suffix, bool greedy, char **out,
                             struct wh_err *err);
enum wh_code cli_df_pat_replace(const char *pat, const char *val, const char *repl, bool all, char **out,
                                struct wh_err *err);

#endif
