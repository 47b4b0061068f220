/* client/archive-lazy.h - libarchive bound on first use (dlopen), for the
 * layer extractor and the layer writer. Included after <archive.h> and
 * <archive_entry.h>, it turns every libarchive call of the file into a call
 * through a table that cli_archive_load() fills once.
 *
 * Why: libarchive's dependencies (libxml2, ICU, libstdc++, ...) cost every
 * wharf command several milliseconds of dynamic linking at start, which
 * `wharf run` of an image whose layers are cached never needs.
 * Invariant: cli_archive_load() succeeded before any call below runs.
 */
#ifndef WH_CLI_ARCHIVE_LAZY_H
#define WH_CLI_ARCHIVE_LAZY_H

#include <archive.h>
#include <archive_entry.h>

#include "common/err.h"

/* clang-format off */
#define CLI_ARCHIVE_FUNCS(X)                                                                                  \
  X(archive_entry_atime) X(archive_entry_atime_is_set) X(archive_entry_atime_nsec)                             \
  X(archive_entry_filetype) X(archive_entry_gid) X(archive_entry_hardlink) X(archive_entry_mtime)              \
  X(archive_entry_mtime_nsec) X(archive_entry_pathname) X(archive_entry_perm) X(archive_entry_rdevmajor)       \
  X(archive_entry_rdevminor) X(archive_entry_size) X(archive_entry_size_is_set) X(archive_entry_symlink)       \
  X(archive_entry_uid) X(archive_entry_xattr_next) X(archive_entry_xattr_reset) X(archive_error_string)        \
  X(archive_read_data_block) X(archive_read_free) X(archive_read_new) X(archive_read_next_header)             \
  X(archive_read_open) X(archive_read_support_format_empty) X(archive_read_support_format_tar)                 \
  X(archive_set_error) CLI_ARCHIVE_WRITE_FUNCS(X)
/* The writer's (client/layerw.c). */
#define CLI_ARCHIVE_WRITE_FUNCS(X)                                                                            \
  X(archive_entry_clear) X(archive_entry_copy_hardlink) X(archive_entry_copy_pathname)                         \
  X(archive_entry_copy_symlink) X(archive_entry_free) X(archive_entry_new) X(archive_entry_set_filetype)       \
  X(archive_entry_set_gid) X(archive_entry_set_mtime) X(archive_entry_set_perm) X(archive_entry_set_rdevmajor) \
  X(archive_entry_set_rdevminor) X(archive_entry_set_size) X(archive_entry_set_uid)                            \
  X(archive_entry_xattr_add_entry) X(archive_write_close) X(archive_write_data) X(archive_write_free)          \
  X(archive_write_header) X(archive_write_new) X(archive_write_open) X(archive_write_set_bytes_in_last_block)  \
  X(archive_write_set_bytes_per_block) X(archive_write_set_format_pax_restricted)
/* clang-format on */

struct cli_archive_api {
#define CLI_ARCHIVE_FIELD(f) __typeof__(&f) f;
  CLI_ARCHIVE_FUNCS(CLI_ARCHIVE_FIELD)
#undef CLI_ARCHIVE_FIELD
};

extern struct cli_archive_api cli_archive_api;

/* Binds libarchive (once; thread-safe). WH_EUNSUPPORTED when it is missing. */
enum wh_code cli_archive_load(struct wh_err *err);

#ifndef CLI_ARCHIVE_LAZY_IMPL
#define archive_entry_atime(...) cli_archive_api.archive_entry_atime(__VA_ARGS__)
#define archive_entry_atime_is_set(...) cli_archive_api.archive_entry_atime_is_set(__VA_ARGS__)
#define archive_entry_atime_nsec(...) cli_archive_api.archive_entry_atime_nsec(__VA_ARGS__)
#define archive_entry_filetype(...) cli_archive_api.archive_entry_filetype(__VA_ARGS__)
#define archive_entry_gid(...) cli_archive_api.archive_entry_gid(__VA_ARGS__)
#define archive_entry_hardlink(...) cli_archive_api.archive_entry_hardlink(__VA_ARGS__)
#define archive_entry_mtime(...) cli_archive_api.archive_entry_mtime(__VA_ARGS__)
#define archive_entry_mtime_nsec(...) cli_archive_api.archive_entry_mtime_nsec(__VA_ARGS__)
#define archive_entry_pathname(...) cli_archive_api.archive_entry_pathname(__VA_ARGS__)
#define archive_entry_perm(...) cli_archive_api.archive_entry_perm(__VA_ARGS__)
#define archive_entry_rdevmajor(...) cli_archive_api.archive_entry_rdevmajor(__VA_ARGS__)
#define archive_entry_rdevminor(...) cli_archive_api.archive_entry_rdevminor(__VA_ARGS__)
#define archive_entry_size(...) cli_archive_api.archive_entry_size(__VA_ARGS__)
#define archive_entry_size_is_set(...) cli_archive_api.archive_entry_size_is_set(__VA_ARGS__)
#define archive_entry_symlink(...) cli_archive_api.archive_entry_symlink(__VA_ARGS__)
#define archive_entry_uid(...) cli_archive_api.archive_entry_uid(__VA_ARGS__)
#define archive_entry_xattr_next(...) cli_archive_api.archive_entry_xattr_next(__VA_ARGS__)
#define archive_entry_xattr_reset(...) cli_archive_api.archive_entry_xattr_reset(__VA_ARGS__)
#define archive_error_string(...) cli_archive_api.archive_error_string(__VA_ARGS__)
#define archive_read_data_block(...) cli_archive_api.archive_read_data_block(__VA_ARGS__)
#define archive_read_free(...) cli_archive_api.archive_read_free(__VA_ARGS__)
#define archive_read_new(...) cli_archive_api.archive_read_new(__VA_ARGS__)
#define archive_read_next_header(...) cli_archive_api.archive_read_next_header(__VA_ARGS__)
#define archive_read_open(...) cli_archive_api.archive_read_open(__VA_ARGS__)
#define archive_read_support_format_empty(...) cli_archive_api.archive_read_support_format_empty(__VA_ARGS__)
#define archive_read_support_format_tar(...) cli_archive_api.archive_read_support_format_tar(__VA_ARGS__)
#define archive_set_error(...) cli_archive_api.archive_set_error(__VA_ARGS__)
#define archive_entry_clear(...) cli_archive_api.archive_entry_clear(__VA_ARGS__)
#define archive_entry_copy_hardlink(...) cli_archive_api.archive_entry_copy_hardlink(__VA_ARGS__)
#define archive_entry_copy_pathname(...) cli_archive_api.archive_entry_copy_pathname(__VA_ARGS__)
#define archive_entry_copy_symlink(...) cli_archive_api.archive_entry_copy_symlink(__VA_ARGS__)
#define archive_entry_free(...) cli_archive_api.archive_entry_free(__VA_ARGS__)
#define archive_entry_new(...) cli_archive_api.archive_entry_new(__VA_ARGS__)
#define archive_entry_set_filetype(...) cli_archive_api.archive_entry_set_filetype(__VA_ARGS__)
#define archive_entry_set_gid(...) cli_archive_api.archive_entry_set_gid(__VA_ARGS__)
#define archive_entry_set_mtime(...) cli_archive_api.archive_entry_set_mtime(__VA_ARGS__)
#define archive_entry_set_perm(...) cli_archive_api.archive_entry_set_perm(__VA_ARGS__)
#define archive_entry_set_rdevmajor(...) cli_archive_api.archive_entry_set_rdevmajor(__VA_ARGS__)
#define archive_entry_set_rdevminor(...) cli_archive_api.archive_entry_set_rdevminor(__VA_ARGS__)
#define archive_entry_set_size(...) cli_archive_api.archive_entry_set_size(__VA_ARGS__)
#define archive_entry_set_uid(...) cli_archive_api.archive_entry_set_uid(__VA_ARGS__)
#define archive_entry_xattr_add_entry(...) cli_archive_api.archive_entry_xattr_add_entry(__VA_ARGS__)
#define archive_write_close(...) cli_archive_api.archive_write_close(__VA_ARGS__)
#define archive_write_data(...) cli_archive_api.archive_write_data(__VA_ARGS__)
#define archive_write_free(...) cli_archive_api.archive_write_free(__VA_ARGS__)
#define archive_write_header(...) cli_archive_api.archive_write_header(__VA_ARGS__)
#define archive_write_new(...) cli_archive_api.archive_write_new(__VA_ARGS__)
#define archive_write_open(...) cli_archive_api.archive_write_open(__VA_ARGS__)
#define archive_write_set_bytes_in_last_block(...) cli_archive_api.archive_write_set_bytes_in_last_block(__VA_ARGS__)
#define archive_write_set_bytes_per_block(...) cli_archive_api.archive_write_set_bytes_per_block(__VA_ARGS__)
#define archive_write_set_format_pax_restricted(...) cli_archive_api.archive_write_set_format_pax_restricted(__VA_ARGS__)
#endif

#endif
