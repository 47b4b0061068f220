/* client/curl-lazy.h - libcurl bound on first use (dlopen). Force-included
 * (-include) in every source of `wharf`: after <curl/curl.h>, each libcurl
 * function the client calls becomes a call through a table that
 * cli_curl() fills once.
 *
 * Why: libcurl's dependencies (GnuTLS, Kerberos, LDAP, SASL, nghttp2,
 * libssh2, ...) cost every wharf command milliseconds of dynamic linking at
 * start; `wharf run` of a local image never speaks HTTP. A libcurl call
 * not listed here fails to link (wharf is not linked with -lcurl), so the
 * list cannot silently fall behind the code.
 */
#ifndef WH_CLI_CURL_LAZY_H
#define WH_CLI_CURL_LAZY_H

#include <curl/curl.h>

/* clang-format off */
#define CLI_CURL_FUNCS(X)                                                                                     \
  X(curl_easy_cleanup) X(curl_easy_escape) X(curl_easy_getinfo) X(curl_easy_init) X(curl_easy_pause)          \
  X(curl_easy_perform) X(curl_easy_reset) X(curl_easy_setopt) X(curl_easy_strerror) X(curl_free)               \
  X(curl_getdate) X(curl_global_init) X(curl_global_cleanup) X(curl_multi_add_handle) X(curl_multi_cleanup)     \
  X(curl_multi_info_read) X(curl_multi_init) X(curl_multi_perform) X(curl_multi_poll)                          \
  X(curl_multi_remove_handle) X(curl_multi_setopt) X(curl_multi_timeout) X(curl_slist_append)                  \
  X(curl_slist_free_all) X(curl_url) X(curl_url_cleanup) X(curl_url_dup) X(curl_url_get) X(curl_url_set)       \
  X(curl_version_info) X(curl_easy_unescape) X(curl_multi_wakeup) X(curl_easy_duphandle)
/* clang-format on */

struct cli_curl_api {
#define CLI_CURL_FIELD(f) __typeof__(&f) f;
  CLI_CURL_FUNCS(CLI_CURL_FIELD)
#undef CLI_CURL_FIELD
};

/* The bound table (loads libcurl on the first call; thread-safe). A
 * missing libcurl is a broken installation: one line on stderr, exit 1. */
const struct cli_curl_api *cli_curl(void);

#ifndef CLI_CURL_LAZY_IMPL
#undef curl_easy_setopt
#undef curl_easy_getinfo
#undef curl_multi_setopt
#define curl_easy_cleanup(...) (cli_curl()->curl_easy_cleanup(__VA_ARGS__))
#define curl_easy_escape(...) (cli_curl()->curl_easy_escape(__VA_ARGS__))
#define curl_easy_getinfo(...) (cli_curl()->curl_easy_getinfo(__VA_ARGS__))
#define curl_easy_init(...) (cli_curl()->curl_easy_init(__VA_ARGS__))
#define curl_easy_pause(...) (cli_curl()->curl_easy_pause(__VA_ARGS__))
#define curl_easy_perform(...) (cli_curl()->curl_easy_perform(__VA_ARGS__))
#define curl_easy_reset(...) (cli_curl()->curl_easy_reset(__VA_ARGS__))
#define curl_easy_setopt(...) (cli_curl()->curl_easy_setopt(__VA_ARGS__))
#define curl_easy_strerror(...) (cli_curl()->curl_easy_strerror(__VA_ARGS__))
#define curl_free(...) (cli_curl()->curl_free(__VA_ARGS__))
#define curl_getdate(...) (cli_curl()->curl_getdate(__VA_ARGS__))
#define curl_global_init(...) (cli_curl()->curl_global_init(__VA_ARGS__))
#define curl_global_cleanup(...) (cli_curl()->curl_global_cleanup(__VA_ARGS__))
#define curl_multi_add_handle(...) (cli_curl()->curl_multi_add_handle(__VA_ARGS__))
#define curl_multi_cleanup(...) (cli_curl()->curl_multi_cleanup(__VA_ARGS__))
#define curl_multi_info_read(...) (cli_curl()->curl_multi_info_read(__VA_ARGS__))
#define curl_multi_init(...) (cli_curl()->curl_multi_init(__VA_ARGS__))
#define curl_multi_perform(...) (cli_curl()->curl_multi_perform(__VA_ARGS__))
#define curl_multi_poll(...) (cli_curl()->curl_multi_poll(__VA_ARGS__))
#define curl_multi_remove_handle(...) (cli_curl()->curl_multi_remove_handle(__VA_ARGS__))
#define curl_multi_setopt(...) (cli_curl()->curl_multi_setopt(__VA_ARGS__))
#define curl_multi_timeout(...) (cli_curl()->curl_multi_timeout(__VA_ARGS__))
#define curl_slist_append(...) (cli_curl()->curl_slist_append(__VA_ARGS__))
#define curl_slist_free_all(...) (cli_curl()->curl_slist_free_all(__VA_ARGS__))
#define curl_url(...) (cli_curl()->curl_url(__VA_ARGS__))
#define curl_url_cleanup(...) (cli_curl()->curl_url_cleanup(__VA_ARGS__))
#define curl_url_dup(...) (cli_curl()->curl_url_dup(__VA_ARGS__))
#define curl_url_get(...) (cli_curl()->curl_url_get(__VA_ARGS__))
#define curl_url_set(...) (cli_curl()->curl_url_set(__VA_ARGS__))
#define curl_version_info(...) (cli_curl()->curl_version_info(__VA_ARGS__))
#define curl_easy_unescape(...) (cli_curl()->curl_easy_unescape(__VA_ARGS__))
#define curl_multi_wakeup(...) (cli_curl()->curl_multi_wakeup(__VA_ARGS__))
#define curl_easy_duphandle(...) (cli_curl()->curl_easy_duphandle(__VA_ARGS__))
#endif

#endif
