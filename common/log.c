/* common/log.c - the programs' logger: text or JSON lines on one fd.
 *
 * Invariants: one record = one line = one write(2) (so concurrent threads
 * never interleave inside a record); control characters in text records
 * are replaced so a peer-supplied string cannot forge extra lines; records
 * are capped at LOG_RECORD_MAX bytes. Settings are written once at start
 * (wh_log_setup) and read with relaxed atomics afterwards.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/buf.h"
#include "common/fsutil.h"
#include "common/log.h"

#define LOG_RECORD_MAX (64 * 1024)
#define LOG_MSG_MAX 8192

static _Atomic int log_fd = 2;
static _Atomic int log_format = WH_LOG_TEXT;
static _Atomic int log_min = WH_LOG_INFO;

static const char *const level_names[] = {"debug", "info", "warn", "error"};
static const char *const format_names[] = {"text", "json"};

void wh_log_setup(int fd, enum wh_log_format format, enum wh_log_level min_level)
{
  log_fd = fd;
  log_format = format;
  log_min = min_level;
}

enum wh_log_level wh_log_level_min(void)
{
  return (enum wh_log_level)log_min;
}

static int parse_name(const char *s, const char *const *names, size_t n)
{
  if (s == NULL)
    return -1;
  for (size_t i = 0; i < n; i++)
    if (strcmp(s, names[i]) == 0)
      return (int)i;
  return -1;
}

int wh_log_level_parse(const char *s)
{
  return parse_name(s, level_names, sizeof(level_names) / sizeof(level_names[0]));
}

int wh_log_format_parse(const char *s)
{
  return parse_name(s, format_names, sizeof(format_names) / sizeof(format_names[0]));
}

static const char *level_name(enum wh_log_level level)
{
  if ((unsigned)level < sizeof(level_names) / sizeof(level_names[0]))
    return level_names[level];
  return "info";
}

/* "2026-11-29T03:30:00.123Z" into out (>= 32 bytes). */
static void timestamp(char *out, size_t size)
{
  struct timespec ts;
  struct tm tm;
  size_t n;

  clock_gettime(CLOCK_REALTIME, &ts);
  gmtime_r(&ts.tv_sec, &tm);
  n = strftime(out, size, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(out + n, size - n, ".%03ldZ", ts.tv_nsec / 1000000L);
}

/* Appends s with control characters replaced by spaces (text form). */
static void append_clean(struct wh_buf *b, const char *s)
{
  for (; *s; s++) {
    char c = ((unsigned char)*s < 0x20 || *s == 0x7f) ? ' ' : *s;
    if (wh_buf_append(b, &c, 1) != WH_OK)
      return;
  }
}

static void append_text_value(struct wh_buf *b, json_t *v)
{
  char *enc;

  if (json_is_string(v) && strpbrk(json_string_value(v), " \"=") == NULL) {
    append_clean(b, json_string_value(v));
    return;
  }
  enc = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
  if (enc)
    append_clean(b, enc);
  free(enc);
}

static void emit(struct wh_buf *b)
{
  /* A truncated record still ends its line. */
  if (b->len == b->max && b->len > 0)
    b->data[b->len - 1] = '\n';
  else
    wh_buf_append(b, "\n", 1);
  if (b->data)
    wh_write_all(log_fd, b->data, b->len, NULL);
}

static void log_text(enum wh_log_level level, const char *req_id, const char *msg, json_t *fields)
{
  struct wh_buf b;
  char ts[40];
  const char *key;
  json_t *v;

  wh_buf_init(&b, LOG_RECORD_MAX);
  timestamp(ts, sizeof(ts));
  wh_buf_printf(&b, "%s %s ", ts, level_name(level));
  if (req_id) {
    wh_buf_append(&b, "[", 1);
    append_clean(&b, req_id);
    wh_buf_append(&b, "] ", 2);
  }
  append_clean(&b, msg);
  if (json_is_object(fields)) {
    json_object_foreach(fields, key, v)
    {
      wh_buf_append(&b, " ", 1);
      append_clean(&b, key);
      wh_buf_append(&b, "=", 1);
      append_text_value(&b, v);
    }
  }
  emit(&b);
  wh_buf_release(&b);
}

/* A JSON string of s; bytes that are not valid UTF-8 become '?' so a
 * peer-supplied string never drops the field. */
static json_t *safe_string(const char *s)
{
  json_t *v = json_string(s);
  char *copy;

  if (v)
    return v;
  copy = strdup(s);
  if (copy == NULL)
    return NULL;
  for (char *p = copy; *p; p++)
    if ((unsigned char)*p >= 0x80)
      *p = '?';
  v = json_string(copy);
  free(copy);
  return v;
}

static void log_json(enum wh_log_level level, const char *req_id, const char *msg, json_t *fields)
{
  json_t *o = json_object();
  char ts[40];
  char *line;
  struct wh_buf b;

  if (o == NULL)
    return;
  timestamp(ts, sizeof(ts));
  if (json_is_object(fields))
    json_object_update(o, fields);
  /* Core keys win over fields of the same name. */
  json_object_set_new(o, "time", json_string(ts));
  json_object_set_new(o, "level", json_string(level_name(level)));
  if (req_id)
    json_object_set_new(o, "req", safe_string(req_id));
  json_object_set_new(o, "msg", safe_string(msg));
  line = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(10)); /* 0.212, not 0.21199999999999999 */
  json_decref(o);
  if (line == NULL)
    return;
  wh_buf_init(&b, LOG_RECORD_MAX);
  if (wh_buf_appendz(&b, line) == WH_OK)
    emit(&b);
  wh_buf_release(&b);
  free(line);
}

void wh_log_fields(enum wh_log_level level, const char *req_id, const char *msg, json_t *fields)
{
  if ((int)level < log_min)
    return;
  if (msg == NULL)
    msg = "";
  if (log_format == WH_LOG_JSON)
    log_json(level, req_id, msg, fields);
  else
    log_text(level, req_id, msg, fields);
}

void wh_log(enum wh_log_level level, const char *req_id, const char *fmt, ...)
{
  char msg[LOG_MSG_MAX];
  va_list ap;

  if ((int)level < log_min)
    return;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  wh_log_fields(level, req_id, msg, NULL);
}
