/* header.h (internal to detect/): splits a raw log line into time, host, program tag and message. */
#ifndef SG_DETECT_HEADER_H
#define SG_DETECT_HEADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct detect_header {
    int64_t time_ms;        /* UTC ms, 0 when the line has no timestamp */
    bool bad_time;          /* it looked like a timestamp but was not a valid one */
    const char *host;       /* syslog host (points into the line); host_len 0 when absent */
    size_t host_len;
    const char *prog;       /* program name: "postfix/smtpd", "sshd", "imap-login", "auth-worker" */
    size_t prog_len;
    const char *pid;        /* digits of "[pid]" or "(pid)" in the tag; pid_len 0 when absent */
    size_t pid_len;
    const char *tag;        /* the whole tag as written, up to its ':' (innermost Dovecot tag) */
    size_t tag_len;
    const char *msg;        /* the message after "tag: " (or the whole rest when there is no tag) */
    size_t msg_len;
};

/* Local-time conversion for timestamps without a zone (BSD syslog, Exim): the UTC offset in seconds,
 * looked up once per hour of log time so that the per-line cost stays a few additions. */
struct detect_clock {
    int64_t ref_ms;         /* fixed "now" for year inference; 0 = wall clock */
    int64_t now_ms;         /* wall clock as last refreshed by the parser (every few thousand lines) */
    int64_t cached_hour;    /* hour (epoch/3600) whose offset is cached, -1 when none */
    int64_t cached_off;     /* seconds east of UTC */
    int bsd_mon, bsd_day;   /* last BSD date seen, and the day number the year inference gave it */
    int64_t bsd_ref_day, bsd_days;
};

void detect_clock_init(struct detect_clock *c, int64_t ref_ms);

/* Fills *h from line[0..len). Never fails: a line with no recognisable header is all message. */
void detect_header_parse(struct detect_clock *c, const char *line, size_t len, struct detect_header *h);

/* Days since 1970-01-01 of a proleptic Gregorian date (month 1..12). */
int64_t detect_days_from_civil(int64_t y, unsigned m, unsigned d);

#endif
