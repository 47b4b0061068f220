/* client/libs-lazy.h - libzstd, zlib and libseccomp bound on first use
 * (dlopen, common/lazy.h). Included after <zstd.h>, <zlib.h> or
 * <seccomp.h> by every source of the client that calls them: each such
 * call goes through a table filled once. Why: most commands (and `wharf
 * run` of an unpacked image) never compress or decompress, and `wharf run`
 * builds its seccomp filter while its first child sets the namespaces up,
 * so none of them should pay their relocations at every start. wharf is
 * not linked with them: a call not listed here fails to link.
 */
#ifndef WH_CLI_LIBS_LAZY_H
#define WH_CLI_LIBS_LAZY_H

/* clang-format off */
#define CLI_ZSTD_FUNCS(X)                                                                                     \
  X(ZSTD_CCtx_setParameter) X(ZSTD_DCtx_setParameter) X(ZSTD_compressStream2) X(ZSTD_createCCtx)             \
  X(ZSTD_createDCtx) X(ZSTD_decompressStream) X(ZSTD_freeCCtx) X(ZSTD_freeDCtx) X(ZSTD_getErrorName)        \
  X(ZSTD_isError) X(ZSTD_maxCLevel) X(ZSTD_minCLevel)
#define CLI_ZLIB_FUNCS(X)                                                                                     \
  X(deflate) X(deflateEnd) X(deflateInit2_) X(inflate) X(inflateEnd) X(inflateInit2_) X(inflateReset)
#define CLI_SCMP_FUNCS(X)                                                                                     \
  X(seccomp_attr_set) X(seccomp_export_bpf) X(seccomp_init) X(seccomp_load) X(seccomp_release)              \
  X(seccomp_rule_add_array) X(seccomp_syscall_resolve_name)
/* clang-format on */

#define CLI_LAZY_FIELD(f) __typeof__(&f) f;
#ifdef ZSTD_VERSION_MAJOR
struct cli_zstd_api {
  CLI_ZSTD_FUNCS(CLI_LAZY_FIELD)
};
const struct cli_zstd_api *cli_zstd(void);
#endif
#ifdef ZLIB_VERSION
struct cli_zlib_api {
  CLI_ZLIB_FUNCS(CLI_LAZY_FIELD)
};
const struct cli_zlib_api *cli_zlib(void);
#endif
#ifdef SCMP_VER_MAJOR
struct cli_scmp_api {
  CLI_SCMP_FUNCS(CLI_LAZY_FIELD)
};
const struct cli_scmp_api *cli_scmp(void);
#endif
#undef CLI_LAZY_FIELD

/* The tables (each loads its library on the first call; thread-safe). A
 * missing library is a broken installation: one line on stderr, exit 1. */
#ifndef CLI_LIBS_LAZY_IMPL
#ifdef ZSTD_VERSION_MAJOR
#define ZSTD_CCtx_setParameter(...) (cli_zstd()->ZSTD_CCtx_setParameter(__VA_ARGS__))
#define ZSTD_DCtx_setParameter(...) (cli_zstd()->ZSTD_DCtx_setParameter(__VA_ARGS__))
#define ZSTD_compressStream2(...) (cli_zstd()->ZSTD_compressStream2(__VA_ARGS__))
#define ZSTD_createCCtx(...) (cli_zstd()->ZSTD_createCCtx(__VA_ARGS__))
#define ZSTD_createDCtx(...) (cli_zstd()->ZSTD_createDCtx(__VA_ARGS__))
#define ZSTD_decompressStream(...) (cli_zstd()->ZSTD_decompressStream(__VA_ARGS__))
#define ZSTD_freeCCtx(...) (cli_zstd()->ZSTD_freeCCtx(__VA_ARGS__))
#define ZSTD_freeDCtx(...) (cli_zstd()->ZSTD_freeDCtx(__VA_ARGS__))
#define ZSTD_getErrorName(...) (cli_zstd()->ZSTD_getErrorName(__VA_ARGS__))
#define ZSTD_isError(...) (cli_zstd()->ZSTD_isError(__VA_ARGS__))
#define ZSTD_maxCLevel(...) (cli_zstd()->ZSTD_maxCLevel(__VA_ARGS__))
#define ZSTD_minCLevel(...) (cli_zstd()->ZSTD_minCLevel(__VA_ARGS__))
#endif
#ifdef ZLIB_VERSION
#define deflate(...) (cli_zlib()->deflate(__VA_ARGS__))
#define deflateEnd(...) (cli_zlib()->deflateEnd(__VA_ARGS__))
#define deflateInit2_(...) (cli_zlib()->deflateInit2_(__VA_ARGS__))
#define inflate(...) (cli_zlib()->inflate(__VA_ARGS__))
#define inflateEnd(...) (cli_zlib()->inflateEnd(__VA_ARGS__))
#define inflateInit2_(...) (cli_zlib()->inflateInit2_(__VA_ARGS__))
#define inflateReset(...) (cli_zlib()->inflateReset(__VA_ARGS__))
#endif
#ifdef SCMP_VER_MAJOR
#define seccomp_attr_set(...) (cli_scmp()->seccomp_attr_set(__VA_ARGS__))
#define seccomp_export_bpf(...) (cli_scmp()->seccomp_export_bpf(__VA_ARGS__))
#define seccomp_init(...) (cli_scmp()->seccomp_init(__VA_ARGS__))
#define seccomp_load(...) (cli_scmp()->seccomp_load(__VA_ARGS__))
#define seccomp_release(...) (cli_scmp()->seccomp_release(__VA_ARGS__))
#define seccomp_rule_add_array(...) (cli_scmp()->seccomp_rule_add_array(__VA_ARGS__))
#define seccomp_syscall_resolve_name(...) (cli_scmp()->seccomp_syscall_resolve_name(__VA_ARGS__))
#endif
#endif

#endif
