/* common/log.h - the programs' logger: text or JSON lines on one stream.
 *
 * Only programs (wharfd, wharf) call these; common/ and storage/ never log.
 * Thread safe: each record is formatted into one buffer and written with a
 * single write(2).
 */
#ifndef WH_LOG_H
#define WH_LOG_H

#include <jansson.h>

enum wh_log_level { WH_LOG_DEBUG = 0, WH_LOG_INFO, WH_LOG_WARN, WH_LOG_ERROR };
enum wh_log_format { WH_LOG_TEXT = 0, WH_LOG_JSON };

/* fd defaults to 2 (stderr), level to INFO, format to TEXT. */
void wh_log_setup(int fd, enum wh_log_format format, enum wh_log_level min_level);
enum wh_log_level wh_log_level_min(void);
/* Parses "debug|info|warn|error" / "text|json"; -1 when unknown. */
int wh_log_level_parse(const char *s);
int wh_log_format_parse(const char *s);

/* One record. req_id may be NULL. Text: "2026-11-29T03:30:00.123Z info [req] msg".
 * JSON: {"time":...,"level":...,"req":...,"msg":...}. */
void wh_log(enum wh_log_level level, const char *req_id, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* One record with extra fields (object, borrowed) merged into the JSON line,
 * or printed as key=value pairs in text form. */
void wh_log_fields(enum wh_log_level level, const char *req_id, const char *msg, json_t *fields);

#endif
