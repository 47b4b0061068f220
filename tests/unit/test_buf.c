/* tests/unit/test_buf.c - unit tests for common/ basics: the bounded buffer
 * (buf.c), error detail (err.c), file helpers (fsutil.c) and the logger
 * (log.c). One cmocka group, so the TAP output has exactly one plan.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/buf.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/fsutil.h"
#include "common/log.h"

/* ---- buf ---------------------------------------------------------------- */

static void buf_init_is_empty(void **state)
{
  struct wh_buf b;

  wh_buf_init(&b, 100);
  assert_null(b.data);
  assert_int_equal(b.len, 0);
  assert_int_equal(b.max, 100);
  wh_buf_release(&b);
}

static void buf_append_terminates(void **state)
{
  struct wh_buf b;

  wh_buf_init(&b, 100);
  assert_int_equal(wh_buf_append(&b, "abc", 3), WH_OK);
  assert_int_equal(b.len, 3);
  assert_string_equal(b.data, "abc");
  assert_int_equal(wh_buf_appendz(&b, "def"), WH_OK);
  assert_string_equal(b.data, "abcdef");
  assert_int_equal(b.len, 6);
  assert_true(b.cap > b.len);
  wh_buf_release(&b);
  assert_null(b.data);
  assert_int_equal(b.max, 100);
}

static void buf_append_binary(void **state)
{
  struct wh_buf b;
  const char bin[] = {'a', '\0', 'b'};

  wh_buf_init(&b, 10);
  assert_int_equal(wh_buf_append(&b, bin, 3), WH_OK);
  assert_int_equal(b.len, 3);
  assert_memory_equal(b.data, bin, 3);
  assert_int_equal(b.data[3], '\0');
  wh_buf_release(&b);
}

static void buf_printf_formats(void **state)
{
  struct wh_buf b;

  wh_buf_init(&b, 100);
  assert_int_equal(wh_buf_printf(&b, "%d-%s", 42, "x"), WH_OK);
  assert_int_equal(wh_buf_printf(&b, "/%zu", (size_t)7), WH_OK);
  assert_string_equal(b.data, "42-x/7");
  assert_int_equal(b.len, 6);
  wh_buf_release(&b);
}

static void buf_grows_many(void **state)
{
  struct wh_buf b;

  wh_buf_init(&b, 1 << 20);
  for (int i = 0; i < 10000; i++)
    assert_int_equal(wh_buf_append(&b, "0123456789", 10), WH_OK);
  assert_int_equal(b.len, 100000);
  assert_int_equal(b.data[99999], '9');
  assert_int_equal(b.data[100000], '\0');
  assert_true(b.cap <= (1 << 20) + 1);
  wh_buf_release(&b);
}

static void buf_max_exact_then_fails(void **state)
{
  struct wh_buf b;

  wh_buf_init(&b, 5);
  assert_int_equal(wh_buf_append(&b, "12345", 5), WH_OK);
  assert_int_equal(wh_buf_append(&b, "6", 1), WH_ETOOBIG);
  assert_int_equal(b.len, 5);
  assert_string_equal(b.data, "12345");
  assert_int_equal(wh_buf_append(&b, "", 0), WH_OK);
  wh_buf_release(&b);
}

static void buf_failed_append_leaves_buffer(void **state)
{
  struct wh_buf b;

  wh_buf_init(&b, 8);
  assert_int_equal(wh_buf_appendz(&b, "abc"), WH_OK);
  assert_int_equal(wh_buf_appendz(&b, "defghi"), WH_ETOOBIG);
  assert_string_equal(b.data, "abc");
  assert_int_equal(b.len, 3);
  assert_int_equal(wh_buf_printf(&b, "%s", "123456"), WH_ETOOBIG);
  assert_string_equal(b.data, "abc");
  assert_int_equal(wh_buf_printf(&b, "%s", "12345"), WH_OK);
  assert_string_equal(b.data, "abc12345");
  wh_buf_release(&b);
}

static void buf_huge_size_refused(void **state)
{
  struct wh_buf b;

  wh_buf_init(&b, 1024);
  assert_int_equal(wh_buf_append(&b, "x", SIZE_MAX), WH_ETOOBIG);
  assert_null(b.data);
  wh_buf_release(&b);
}

static void buf_zero_max(void **state)
{
  struct wh_buf b;

  wh_buf_init(&b, 0);
  assert_int_equal(wh_buf_append(&b, "x", 1), WH_ETOOBIG);
  assert_int_equal(wh_buf_append(&b, "", 0), WH_OK);
  assert_non_null(b.data);
  assert_string_equal(b.data, "");
  wh_buf_release(&b);
}

static void buf_steal_empty_is_empty_string(void **state)
{
  struct wh_buf b;
  size_t len = 99;
  char *s;

  wh_buf_init(&b, 10);
  s = wh_buf_steal(&b, &len);
  assert_non_null(s);
  assert_string_equal(s, "");
  assert_int_equal(len, 0);
  free(s);
}

static void buf_steal_hands_over(void **state)
{
  struct wh_buf b;
  size_t len = 0;
  char *s;

  wh_buf_init(&b, 10);
  assert_int_equal(wh_buf_appendz(&b, "hello"), WH_OK);
  s = wh_buf_steal(&b, &len);
  assert_string_equal(s, "hello");
  assert_int_equal(len, 5);
  assert_null(b.data);
  assert_int_equal(b.len, 0);
  assert_int_equal(wh_buf_appendz(&b, "again"), WH_OK);
  assert_string_equal(b.data, "again");
  free(s);
  wh_buf_release(&b);
}

static void buf_reset_keeps_memory(void **state)
{
  struct wh_buf b;
  char *before;

  wh_buf_init(&b, 100);
  assert_int_equal(wh_buf_appendz(&b, "abcdef"), WH_OK);
  before = b.data;
  wh_buf_reset(&b);
  assert_int_equal(b.len, 0);
  assert_ptr_equal(b.data, before);
  assert_string_equal(b.data, "");
  assert_int_equal(wh_buf_appendz(&b, "x"), WH_OK);
  assert_string_equal(b.data, "x");
  wh_buf_release(&b);
  wh_buf_reset(&b); /* on a released buffer: no crash */
  assert_null(b.data);
}

/* ---- err ---------------------------------------------------------------- */

static void err_set_and_errno(void **state)
{
  struct wh_err e;

  wh_err_clear(&e);
  assert_int_equal(wh_err_set(&e, WH_EIO, ENOENT, "open \"%s\"", "x"), WH_EIO);
  assert_int_equal(e.code, WH_EIO);
  assert_int_equal(e.sys_errno, ENOENT);
  assert_non_null(strstr(e.msg, "open \"x\": "));
  assert_non_null(strstr(e.msg, strerror(ENOENT)));
  assert_int_equal(wh_err_set(&e, WH_EINVALID, 0, "bad %d", 1), WH_EINVALID);
  assert_string_equal(e.msg, "bad 1");
  assert_int_equal(e.sys_errno, 0);
}

static void err_null_is_fine(void **state)
{
  assert_int_equal(wh_err_set(NULL, WH_ENOTFOUND, 0, "x"), WH_ENOTFOUND);
  assert_int_equal(wh_err_wrap(NULL, "ctx"), WH_EINTERNAL);
  wh_err_clear(NULL);
}

static void err_wrap_prefixes(void **state)
{
  struct wh_err e;

  wh_err_set(&e, WH_EDIGEST, 0, "digest mismatch");
  assert_int_equal(wh_err_wrap(&e, "layer %s", "sha256:ab"), WH_EDIGEST);
  assert_string_equal(e.msg, "layer sha256:ab: digest mismatch");
  assert_int_equal(wh_err_wrap(&e, "pull \"%s\"", "app:v2"), WH_EDIGEST);
  assert_string_equal(e.msg, "pull \"app:v2\": layer sha256:ab: digest mismatch");
  /* Arguments pointing into the message itself are safe. */
  wh_err_set(&e, WH_EIO, 0, "%s/%s", "a", "b");
  wh_err_set(&e, WH_EIO, 0, "again %s", e.msg);
  assert_string_equal(e.msg, "again a/b");
}

static void err_truncates_and_flattens(void **state)
{
  struct wh_err e;
  char big[2000];

  memset(big, 'a', sizeof(big) - 1);
  big[sizeof(big) - 1] = '\0';
  wh_err_set(&e, WH_EINVALID, EIO, "%s", big);
  assert_int_equal(strlen(e.msg), WH_ERR_MSG_MAX - 1);
  wh_err_wrap(&e, "%s", big);
  assert_int_equal(strlen(e.msg), WH_ERR_MSG_MAX - 1);
  wh_err_set(&e, WH_EINVALID, 0, "line1\nline2\r");
  assert_null(strchr(e.msg, '\n'));
  assert_null(strchr(e.msg, '\r'));
  wh_err_clear(&e);
  assert_int_equal(e.code, WH_OK);
  assert_string_equal(e.msg, "");
}

static void err_code_names(void **state)
{
  assert_string_equal(wh_code_str(WH_OK), "ok");
  assert_string_equal(wh_code_str(WH_ENOMEM), "out of memory");
  assert_string_equal(wh_code_str(WH_EIO), "i/o error");
  for (int c = WH_OK; c <= WH_ERANGE; c++) {
    assert_non_null(wh_code_str((enum wh_code)c));
    assert_string_not_equal(wh_code_str((enum wh_code)c), "unknown error");
  }
  assert_string_equal(wh_code_str((enum wh_code)999), "unknown error");
  assert_string_equal(wh_code_str((enum wh_code) - 1), "unknown error");
}

/* ---- fsutil ------------------------------------------------------------- */

struct tmpdir {
  char path[64];
  int fd;
};

static int tmp_setup(void **state)
{
  struct tmpdir *t = calloc(1, sizeof(*t));
  const char *base = getenv("TMPDIR");

  if (t == NULL)
    return -1;
  snprintf(t->path, sizeof(t->path), "%s/whtest.XXXXXX", base && strlen(base) < 40 ? base : "/tmp");
  if (mkdtemp(t->path) == NULL)
    return -1;
  t->fd = open(t->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  *state = t;
  return t->fd >= 0 ? 0 : -1;
}

static int tmp_teardown(void **state)
{
  struct tmpdir *t = *state;
  char cmd[128];

  close(t->fd);
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", t->path);
  if (system(cmd) != 0)
    return -1;
  free(t);
  return 0;
}

static void write_file(int dirfd, const char *name, const char *content)
{
  WH_AUTOCLOSE int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

  assert_true(fd >= 0);
  assert_int_equal(wh_write_all(fd, content, strlen(content), NULL), WH_OK);
}

static void fs_read_file_roundtrip(void **state)
{
  struct tmpdir *t = *state;
  struct wh_buf b;

  write_file(t->fd, "f", "hello world");
  wh_buf_init(&b, 100);
  assert_int_equal(wh_read_file_at(t->fd, "f", &b, NULL), WH_OK);
  assert_string_equal(b.data, "hello world");
  wh_buf_release(&b);
}

static void fs_read_file_cap(void **state)
{
  struct tmpdir *t = *state;
  struct wh_buf b;
  struct wh_err e;

  write_file(t->fd, "big", "0123456789");
  wh_buf_init(&b, 9);
  assert_int_equal(wh_read_file_at(t->fd, "big", &b, &e), WH_ETOOBIG);
  wh_buf_release(&b);
  wh_buf_init(&b, 10);
  assert_int_equal(wh_read_file_at(t->fd, "big", &b, &e), WH_OK);
  assert_int_equal(b.len, 10);
  wh_buf_release(&b);
}

static void fs_read_fd_cap_on_pipe(void **state)
{
  int p[2];
  struct wh_buf b;

  assert_int_equal(pipe(p), 0);
  assert_int_equal(wh_write_all(p[1], "abcdefgh", 8, NULL), WH_OK);
  close(p[1]);
  wh_buf_init(&b, 4);
  assert_int_equal(wh_read_fd(p[0], &b, NULL), WH_ETOOBIG);
  assert_true(b.len <= 4);
  close(p[0]);
  wh_buf_release(&b);
}

static void fs_read_file_errors(void **state)
{
  struct tmpdir *t = *state;
  struct wh_buf b;
  struct wh_err e;

  wh_buf_init(&b, 100);
  assert_int_equal(wh_read_file_at(t->fd, "missing", &b, &e), WH_ENOTFOUND);
  assert_int_equal(e.sys_errno, ENOENT);
  write_file(t->fd, "target", "secret");
  assert_int_equal(symlinkat("target", t->fd, "link"), 0);
  assert_int_not_equal(wh_read_file_at(t->fd, "link", &b, &e), WH_OK);
  assert_int_equal(mkdirat(t->fd, "adir", 0755), 0);
  assert_int_equal(wh_read_file_at(t->fd, "adir", &b, &e), WH_EINVALID);
  assert_int_equal(b.len, 0);
  wh_buf_release(&b);
}

static void fs_mkdir_p_creates(void **state)
{
  struct tmpdir *t = *state;
  struct stat st;

  assert_int_equal(wh_mkdir_p_at(t->fd, "a/b/c", 0755, NULL), WH_OK);
  assert_int_equal(fstatat(t->fd, "a/b/c", &st, AT_SYMLINK_NOFOLLOW), 0);
  assert_true(S_ISDIR(st.st_mode));
  /* Idempotent, and tolerant of "." and repeated slashes. */
  assert_int_equal(wh_mkdir_p_at(t->fd, "a/b/c", 0755, NULL), WH_OK);
  assert_int_equal(wh_mkdir_p_at(t->fd, "a//b/./d/", 0755, NULL), WH_OK);
  assert_int_equal(fstatat(t->fd, "a/b/d", &st, AT_SYMLINK_NOFOLLOW), 0);
}

static void fs_mkdir_p_refuses(void **state)
{
  struct tmpdir *t = *state;
  const char *base = strrchr(t->path, '/') + 1;
  char rel[96], abs[96];
  struct wh_err e;
  struct stat st;

  assert_int_equal(wh_mkdir_p_at(t->fd, "../escape", 0755, &e), WH_EINVALID);
  assert_int_equal(wh_mkdir_p_at(t->fd, "a/../../escape", 0755, &e), WH_EINVALID);
  assert_int_equal(wh_mkdir_p_at(t->fd, "/tmp/abs", 0755, &e), WH_EINVALID);
  assert_int_equal(wh_mkdir_p_at(t->fd, "", 0755, &e), WH_EINVALID);
  assert_int_equal(wh_mkdir_p_at(t->fd, NULL, 0755, &e), WH_EINVALID);
  /* A planted symlink to elsewhere is not followed. */
  snprintf(rel, sizeof(rel), "evil/%s-escaped", base);
  snprintf(abs, sizeof(abs), "/tmp/%s-escaped", base);
  assert_int_equal(symlinkat("/tmp", t->fd, "evil"), 0);
  assert_int_not_equal(wh_mkdir_p_at(t->fd, rel, 0755, &e), WH_OK);
  assert_int_not_equal(fstatat(AT_FDCWD, abs, &st, AT_SYMLINK_NOFOLLOW), 0);
  /* A file in the way. */
  write_file(t->fd, "file", "x");
  assert_int_not_equal(wh_mkdir_p_at(t->fd, "file/sub", 0755, &e), WH_OK);
}

static void fs_pwrite_all(void **state)
{
  struct tmpdir *t = *state;
  WH_AUTOCLOSE int fd = openat(t->fd, "pw", O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  struct wh_buf b;

  assert_true(fd >= 0);
  assert_int_equal(wh_pwrite_all(fd, "world", 5, 6, NULL), WH_OK);
  assert_int_equal(wh_pwrite_all(fd, "hello ", 6, 0, NULL), WH_OK);
  assert_int_equal(wh_pwrite_all(fd, "x", 1, UINT64_MAX, NULL), WH_ERANGE);
  wh_buf_init(&b, 100);
  assert_int_equal(wh_read_file_at(t->fd, "pw", &b, NULL), WH_OK);
  assert_string_equal(b.data, "hello world");
  wh_buf_release(&b);
  assert_int_equal(wh_fsync_fd(fd, NULL), WH_OK);
  assert_int_equal(wh_fsync_fd(t->fd, NULL), WH_OK);
}

static void fs_write_errors(void **state)
{
  struct wh_err e;

  assert_int_equal(wh_write_all(-1, "x", 1, &e), WH_EIO);
  assert_int_equal(e.sys_errno, EBADF);
  assert_int_equal(wh_fsync_fd(-1, &e), WH_EIO);
  assert_int_equal(wh_write_all(-1, "x", 0, &e), WH_OK);
}

static void fs_random_hex(void **state)
{
  char a[65], b[65];

  memset(a, 'Z', sizeof(a));
  assert_int_equal(wh_random_hex(a, 32, NULL), WH_OK);
  assert_int_equal(strlen(a), 64);
  for (size_t i = 0; i < 64; i++)
    assert_non_null(strchr("0123456789abcdef", a[i]));
  assert_int_equal(wh_random_hex(b, 32, NULL), WH_OK);
  assert_string_not_equal(a, b);
  assert_int_equal(wh_random_hex(a, 0, NULL), WH_OK);
  assert_string_equal(a, "");
}

static void fs_random_hex_large(void **state)
{
  char *big = malloc(2 * 1000 + 1);

  assert_non_null(big);
  assert_int_equal(wh_random_hex(big, 1000, NULL), WH_OK);
  assert_int_equal(strlen(big), 2000);
  free(big);
}

static void fs_parse_u64(void **state)
{
  uint64_t v = 7;

  assert_true(wh_parse_u64("0", 1, &v));
  assert_int_equal(v, 0);
  assert_true(wh_parse_u64("12345", 5, &v));
  assert_int_equal(v, 12345);
  assert_true(wh_parse_u64("123abc", 3, &v));
  assert_int_equal(v, 123);
  assert_true(wh_parse_u64("18446744073709551615", 20, &v));
  assert_true(v == UINT64_MAX);
  v = 7;
  assert_false(wh_parse_u64("18446744073709551616", 20, &v));
  assert_false(wh_parse_u64("99999999999999999999", 20, &v));
  assert_false(wh_parse_u64("", 0, &v));
  assert_false(wh_parse_u64(NULL, 0, &v));
  assert_false(wh_parse_u64("-1", 2, &v));
  assert_false(wh_parse_u64("+1", 2, &v));
  assert_false(wh_parse_u64(" 1", 2, &v));
  assert_false(wh_parse_u64("1 ", 2, &v));
  assert_false(wh_parse_u64("0x10", 4, &v));
  assert_false(wh_parse_u64("1\0002", 3, &v));
  assert_int_equal(v, 7); /* untouched on failure */
}

/* ---- log ---------------------------------------------------------------- */

/* Runs fn with the logger writing into a pipe; returns what was written. */
static char *capture(enum wh_log_format fmt, enum wh_log_level min, void (*fn)(void))
{
  int p[2];
  struct wh_buf b;

  assert_int_equal(pipe(p), 0);
  wh_log_setup(p[1], fmt, min);
  fn();
  wh_log_setup(2, WH_LOG_TEXT, WH_LOG_INFO);
  close(p[1]);
  wh_buf_init(&b, 1 << 20);
  assert_int_equal(wh_read_fd(p[0], &b, NULL), WH_OK);
  close(p[0]);
  return wh_buf_steal(&b, NULL);
}

static void log_two_records(void)
{
  wh_log(WH_LOG_INFO, "r1", "hello %s", "world");
  wh_log(WH_LOG_DEBUG, NULL, "hidden");
  wh_log(WH_LOG_ERROR, NULL, "evil\nforged line");
}

static void log_text_format(void **state)
{
  WH_AUTOFREE char *out = capture(WH_LOG_TEXT, WH_LOG_INFO, log_two_records);
  char *nl = strchr(out, '\n');

  /* 2026-11-29T03:30:00.123Z info [r1] hello world */
  assert_non_null(nl);
  assert_int_equal(out[4], '-');
  assert_int_equal(out[10], 'T');
  assert_int_equal(out[19], '.');
  assert_int_equal(out[23], 'Z');
  assert_memory_equal(out + 24, " info [r1] hello world\n", 23);
  assert_null(strstr(out, "hidden"));
  assert_non_null(strstr(nl + 1, " error evil forged line\n"));
  assert_null(strchr(strchr(nl + 1, '\n') + 1, '\n')); /* exactly two lines */
}

static void log_json_fields(void)
{
  json_auto_t *f = json_pack("{s:s, s:i, s:s}", "method", "GET", "status", 200, "msg", "spoof");

  wh_log_fields(WH_LOG_WARN, "abc", "request done", f);
  wh_log_fields(WH_LOG_INFO, NULL, "bad \xff utf8", NULL);
}

static void log_json_format(void **state)
{
  WH_AUTOFREE char *out = capture(WH_LOG_JSON, WH_LOG_DEBUG, log_json_fields);
  char *nl = strchr(out, '\n');
  json_error_t je;
  json_auto_t *a = NULL;
  json_auto_t *b = NULL;

  assert_non_null(nl);
  *nl = '\0';
  a = json_loads(out, 0, &je);
  assert_non_null(a);
  assert_string_equal(json_string_value(json_object_get(a, "level")), "warn");
  assert_string_equal(json_string_value(json_object_get(a, "req")), "abc");
  assert_string_equal(json_string_value(json_object_get(a, "msg")), "request done");
  assert_string_equal(json_string_value(json_object_get(a, "method")), "GET");
  assert_int_equal(json_integer_value(json_object_get(a, "status")), 200);
  assert_int_equal(strlen(json_string_value(json_object_get(a, "time"))), 24);
  b = json_loads(nl + 1, 0, &je);
  assert_non_null(b);
  assert_string_equal(json_string_value(json_object_get(b, "msg")), "bad ? utf8");
  assert_null(json_object_get(b, "req"));
}

static void log_text_fields(void)
{
  json_auto_t *f = json_pack("{s:s, s:i, s:s}", "path", "/v2/", "bytes", 12, "ua", "curl 8");

  wh_log_fields(WH_LOG_INFO, NULL, "done", f);
}

static void log_text_fields_format(void **state)
{
  WH_AUTOFREE char *out = capture(WH_LOG_TEXT, WH_LOG_INFO, log_text_fields);

  assert_non_null(strstr(out, " info done path=/v2/ bytes=12 ua=\"curl 8\"\n"));
}

static void log_parse_names(void **state)
{
  assert_int_equal(wh_log_level_parse("debug"), WH_LOG_DEBUG);
  assert_int_equal(wh_log_level_parse("info"), WH_LOG_INFO);
  assert_int_equal(wh_log_level_parse("warn"), WH_LOG_WARN);
  assert_int_equal(wh_log_level_parse("error"), WH_LOG_ERROR);
  assert_int_equal(wh_log_level_parse("verbose"), -1);
  assert_int_equal(wh_log_level_parse(NULL), -1);
  assert_int_equal(wh_log_format_parse("text"), WH_LOG_TEXT);
  assert_int_equal(wh_log_format_parse("json"), WH_LOG_JSON);
  assert_int_equal(wh_log_format_parse("JSON"), -1);
  wh_log_setup(2, WH_LOG_TEXT, WH_LOG_WARN);
  assert_int_equal(wh_log_level_min(), WH_LOG_WARN);
  wh_log_setup(2, WH_LOG_TEXT, WH_LOG_INFO);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(buf_init_is_empty),
      cmocka_unit_test(buf_append_terminates),
      cmocka_unit_test(buf_append_binary),
      cmocka_unit_test(buf_printf_formats),
      cmocka_unit_test(buf_grows_many),
      cmocka_unit_test(buf_max_exact_then_fails),
      cmocka_unit_test(buf_failed_append_leaves_buffer),
      cmocka_unit_test(buf_huge_size_refused),
      cmocka_unit_test(buf_zero_max),
      cmocka_unit_test(buf_steal_empty_is_empty_string),
      cmocka_unit_test(buf_steal_hands_over),
      cmocka_unit_test(buf_reset_keeps_memory),
      cmocka_unit_test(err_set_and_errno),
      cmocka_unit_test(err_null_is_fine),
      cmocka_unit_test(err_wrap_prefixes),
      cmocka_unit_test(err_truncates_and_flattens),
      cmocka_unit_test(err_code_names),
      cmocka_unit_test_setup_teardown(fs_read_file_roundtrip, tmp_setup, tmp_teardown),
      cmocka_unit_test_setup_teardown(fs_read_file_cap, tmp_setup, tmp_teardown),
      cmocka_unit_test(fs_read_fd_cap_on_pipe),
      cmocka_unit_test_setup_teardown(fs_read_file_errors, tmp_setup, tmp_teardown),
      cmocka_unit_test_setup_teardown(fs_mkdir_p_creates, tmp_setup, tmp_teardown),
      cmocka_unit_test_setup_teardown(fs_mkdir_p_refuses, tmp_setup, tmp_teardown),
      cmocka_unit_test_setup_teardown(fs_pwrite_all, tmp_setup, tmp_teardown),
      cmocka_unit_test(fs_write_errors),
      cmocka_unit_test(fs_random_hex),
      cmocka_unit_test(fs_random_hex_large),
      cmocka_unit_test(fs_parse_u64),
      cmocka_unit_test(log_text_format),
      cmocka_unit_test(log_json_format),
      cmocka_unit_test(log_text_fields_format),
      cmocka_unit_test(log_parse_names),
  };

  return cmocka_run_group_tests_name("common basics", tests, NULL, NULL);
}
