/* util.c: allocation helpers, logging and clocks shared by every folder. */
#include "agent/util.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int log_journal;
static int log_stamps;
static enum sg_log_level log_max = SG_LOG_INFO;

void sg_oom(void)
{
    static const char msg[] = "sgcluster: out of memory\n";
    fwrite(msg, 1, sizeof msg - 1, stderr);
    abort();
}

void *sg_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) sg_oom();
    return p;
}

void *sg_xcalloc(size_t nmemb, size_t size)
{
    void *p = calloc(nmemb ? nmemb : 1, size ? size : 1);
    if (!p) sg_oom();
    return p;
}

void *sg_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q) sg_oom();
    return q;
}

char *sg_xstrdup(const char *s)
{
    char *p = strdup(s);
    if (!p) sg_oom();
    return p;
}

char *sg_xstrndup(const char *s, size_t n)
{
    char *p = strndup(s, n);
    if (!p) sg_oom();
    return p;
}

void sg_log_set_journal(int on) { log_journal = on; }
void sg_log_set_level(enum sg_log_level max) { log_max = max; }
void sg_log_set_timestamps(int on) { log_stamps = on; }

void sg_log_stamp(int64_t t_ms, char *buf, size_t size)
{
    time_t t = (time_t)(t_ms / 1000);
    struct tm tm;
    char day[32];
    if (!gmtime_r(&t, &tm) || !strftime(day, sizeof day, "%Y-%m-%dT%H:%M:%S", &tm)) snprintf(day, sizeof day, "?");
    snprintf(buf, size, "%s.%03dZ ", day, (int)(t_ms % 1000));
}

void sg_vlog(enum sg_log_level lvl, const char *fmt, va_list ap)
{
    if (lvl > log_max) return;
    /* One write per line so concurrent writers (tests run several agents) do not interleave. */
    char buf[2048];
    int off = log_journal ? snprintf(buf, sizeof buf, "<%d>", (int)lvl) : 0;
    if (log_stamps && !log_journal) {
        sg_log_stamp(sg_now_ms(), buf, sizeof buf);
        off = (int)strlen(buf);
    }
    int n = vsnprintf(buf + off, sizeof buf - (size_t)off - 1, fmt, ap);
    if (n < 0) return;
    size_t len = (size_t)off + (size_t)n;
    if (len > sizeof buf - 2) len = sizeof buf - 2;
    buf[len++] = '\n';
    fwrite(buf, 1, len, stderr);
}

void sg_log(enum sg_log_level lvl, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sg_vlog(lvl, fmt, ap);
    va_end(ap);
}

int64_t sg_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t sg_mono_ms(void)
{
    return sg_mono_ns() / 1000000;
}

int64_t sg_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int sg_parse_duration(const char *s, int64_t *out)
{
    if (!s || !isdigit((unsigned char)*s)) return -1;
    errno = 0;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (errno || v < 0) return -1;
    int64_t mul = 1;
    switch (*end) {
    case '\0': case 's': mul = 1; break;
    case 'm': mul = 60; break;
    case 'h': mul = 3600; break;
    case 'd': mul = 86400; break;
    case 'w': mul = 7 * 86400; break;
    default: return -1;
    }
    if (*end && end[1] != '\0') return -1;
    if (v > INT64_MAX / mul) return -1;
    *out = (int64_t)v * mul;
    return 0;
}
