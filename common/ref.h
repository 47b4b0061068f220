/* common/ref.h - image references and the distribution-spec name grammar.
 *
 *   reference := [domain "/"] name [":" tag] ["@" digest]
 *   name      := component ("/" component)*           (total <= 255 chars)
 *   component := [a-z0-9]+ ((\.|_|__|-+) [a-z0-9]+)*
 *   tag       := [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}
 *   domain    := first "/"-separated part when it contains '.' or ':' or is
 *                "localhost" (host[:port], IPv6 "[...]" accepted)
 *
 * Parsing does not apply defaults (no docker.io, no "latest"): callers do.
 */
#ifndef WH_REF_H
#define WH_REF_H

#include <stdbool.h>
#include <stddef.h>
#include "common/digest.h"
#include "common/err.h"

#define WH_NAME_MAX 255
#define WH_TAG_MAX 128
#define WH_REF_MAX 4096

struct wh_ref {
  char *domain; /* owned; NULL when absent */
  char *name;   /* owned; repository path, never NULL after parse */
  char *tag;    /* owned; NULL when absent */
  bool has_digest;
  struct wh_digest digest; /* valid when has_digest */
};

/* Parses a NUL-terminated reference. *out written only on success; release
 * it with wh_ref_release(). */
enum wh_code wh_ref_parse(const char *s, struct wh_ref *out, struct wh_err *err);
void wh_ref_release(struct wh_ref *ref);
/* Formats back to a string ("domain/name:tag@digest"); malloc'd, NULL on ENOMEM. */
char *wh_ref_format(const struct wh_ref *ref);

/* Grammar checks on s[0..len) (not NUL-terminated necessarily). */
bool wh_name_valid(const char *s, size_t len);
bool wh_tag_valid(const char *s, size_t len);

#endif
