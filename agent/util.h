/* util.h: allocation that aborts on failure, logging to stderr/journald, clocks. Shared by every folder. */
#ifndef SG_UTIL_H
#define SG_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* Allocation failure is not recoverable for a daemon of this size: one helper aborts with a message. */
void *sg_xmalloc(size_t n);
void *sg_xcalloc(size_t nmemb, size_t size);
void *sg_xrealloc(void *p, size_t n);
char *sg_xstrdup(const char *s);
char *sg_xstrndup(const char *s, size_t n);
void sg_oom(void) __attribute__((noreturn));

enum sg_log_level { SG_LOG_ERR = 3, SG_LOG_WARN = 4, SG_LOG_NOTICE = 5, SG_LOG_INFO = 6, SG_LOG_DEBUG = 7 };

/* Log lines go to stderr. With sg_log_set_journal(1) each line starts with "<N>" so that
 * journald (SyslogLevelPrefix) files it at the right priority. Lines above the verbosity are dropped. */
void sg_log_set_journal(int on);
/* With sg_log_set_timestamps(1) (sgagent outside the journal) each line starts with the UTC time,
 * "2026-12-06T22:40:01.123Z ". The CLI leaves it off: its messages are read right away. */
void sg_log_set_timestamps(int on);
/* Writes the stamp prefix for unix ms t into buf (at least SG_LOG_STAMP_LEN + 1 bytes). */
#define SG_LOG_STAMP_LEN 25
void sg_log_stamp(int64_t t_ms, char *buf, size_t size);
void sg_log_set_level(enum sg_log_level max);
void sg_log(enum sg_log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sg_vlog(enum sg_log_level lvl, const char *fmt, va_list ap);

/* Wall-clock milliseconds since the Unix epoch, and monotonic milliseconds. */
int64_t sg_now_ms(void);
int64_t sg_mono_ms(void);
int64_t sg_mono_ns(void);

/* Parses "90", "90s", "15m", "2h", "7d" into seconds. Returns 0, or -1 on bad input. *out is set on success. */
int sg_parse_duration(const char *s, int64_t *out);

#endif
