/* header.c: reads the time, host and program tag of a log line in every layout the mail daemons use:
 * BSD syslog, RFC 3339 (rsyslog high precision), RFC 5424, Dovecot's and Postfix's own log files,
 * Exim's "YYYY-MM-DD hh:mm:ss", daemontools TAI64N (also before socklog's "mail.info: " and a syslog
 * line), and journal-style lines with no time at all. */
#include "detect/header.h"

#include "agent/util.h"

#include <string.h>
#include <time.h>

int64_t detect_days_from_civil(int64_t y, unsigned m, unsigned d)
{
    /* Howard Hinnant's algorithm: exact for the proleptic Gregorian calendar, no tables, no libc. */
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3u : 9u)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static int64_t year_of_days(int64_t z)
{
    z += 719468;
    const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const unsigned doe = (unsigned)(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    const unsigned m = mp + (mp < 10 ? 3 : -9u);
    return (int64_t)yoe + era * 400 + (m <= 2);
}

void detect_clock_init(struct detect_clock *c, int64_t ref_ms)
{
    c->ref_ms = ref_ms;
    c->now_ms = 0;
    c->cached_hour = -1;
    c->cached_off = 0;
    c->bsd_mon = 0;
}

/* Seconds east of UTC for a local wall-clock time given as if it were UTC. */
static int64_t local_offset(struct detect_clock *c, int64_t naive)
{
    int64_t hour = naive / 3600;
    if (hour != c->cached_hour) {
        time_t t = (time_t)naive;
        struct tm tm;
        c->cached_off = localtime_r(&t, &tm) ? tm.tm_gmtoff : 0;
        c->cached_hour = hour;
    }
    return c->cached_off;
}

static inline bool is_digit(char ch) { return ch >= '0' && ch <= '9'; }

static int num(const char *p, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!is_digit(p[i])) return -1;
        v = v * 10 + (p[i] - '0');
    }
    return v;
}

static int month_of(const char *p)
{
    switch ((unsigned)(unsigned char)p[0] << 16 | (unsigned)(unsigned char)p[1] << 8 | (unsigned char)p[2]) {
    case 'J' << 16 | 'a' << 8 | 'n': return 1;
    case 'F' << 16 | 'e' << 8 | 'b': return 2;
    case 'M' << 16 | 'a' << 8 | 'r': return 3;
    case 'A' << 16 | 'p' << 8 | 'r': return 4;
    case 'M' << 16 | 'a' << 8 | 'y': return 5;
    case 'J' << 16 | 'u' << 8 | 'n': return 6;
    case 'J' << 16 | 'u' << 8 | 'l': return 7;
    case 'A' << 16 | 'u' << 8 | 'g': return 8;
    case 'S' << 16 | 'e' << 8 | 'p': return 9;
    case 'O' << 16 | 'c' << 8 | 't': return 10;
    case 'N' << 16 | 'o' << 8 | 'v': return 11;
    case 'D' << 16 | 'e' << 8 | 'c': return 12;
    default: return 0;
    }
}

static bool valid_hms(int hh, int mi, int ss) { return hh >= 0 && hh < 24 && mi >= 0 && mi < 60 && ss >= 0 && ss <= 60; }

/* Optional ".ffffff" after the seconds; returns milliseconds and advances *p. */
static int frac_ms(const char **p, const char *end)
{
    const char *q = *p;
    if (q >= end || (*q != '.' && *q != ',')) return 0;
    q++;
    int ms = 0, n = 0;
    while (q < end && is_digit(*q)) {
        if (n < 3) ms = ms * 10 + (*q - '0');
        n++;
        q++;
    }
    while (n > 0 && n < 3) { ms *= 10; n++; }
    *p = q;
    return ms;
}

/* "Nov 28 04:31:06" or "Nov  8 04:31:06" or "Nov 8 04:31:06"; the year is the one that puts the time
 * nearest to "now", so December lines read in January land in the previous year and the reverse. */
static const char *parse_bsd(struct detect_clock *c, const char *p, const char *end, struct detect_header *h)
{
    if (end - p < 14) return NULL;
    int mon = month_of(p);
    if (!mon || p[3] != ' ') return NULL;
    const char *q = p + 4;
    if (*q == ' ') q++;
    int day;
    if (is_digit(q[0]) && is_digit(q[1])) { day = num(q, 2); q += 2; }
    else if (is_digit(q[0])) { day = q[0] - '0'; q += 1; }
    else return NULL;
    if (end - q < 9 || *q != ' ') return NULL;
    q++;
    int hh = num(q, 2), mi = num(q + 3, 2), ss = num(q + 6, 2);
    if (q[2] != ':' || q[5] != ':' || hh < 0 || mi < 0 || ss < 0) return NULL;
    q += 8;
    int ms = frac_ms(&q, end);
    if (q < end && *q != ' ') return NULL;
    if (day < 1 || day > 31 || !valid_hms(hh, mi, ss)) { h->bad_time = true; return q; }
    /* The year is chosen per date (consecutive lines share it), comparing whole days; the time of day
     * cannot change which of three candidate years is nearest. */
    if (!c->ref_ms && (!c->now_ms || mon != c->bsd_mon || day != c->bsd_day))
        c->now_ms = sg_now_ms();   /* a new date in the log: "now" may be stale on a quiet log */
    int64_t ref = c->ref_ms ? c->ref_ms : c->now_ms;
    int64_t ref_day = ref / 86400000;
    if (mon != c->bsd_mon || day != c->bsd_day || ref_day != c->bsd_ref_day) {
        int64_t y0 = year_of_days(ref_day), best_d = INT64_MAX;
        for (int64_t y = y0 - 1; y <= y0 + 1; y++) {
            int64_t days = detect_days_from_civil(y, (unsigned)mon, (unsigned)day);
            int64_t d = days > ref_day ? days - ref_day : ref_day - days;
            if (d < best_d) { best_d = d; c->bsd_days = days; }
        }
        c->bsd_mon = mon;
        c->bsd_day = day;
        c->bsd_ref_day = ref_day;
    }
    int64_t naive = c->bsd_days * 86400 + hh * 3600 + mi * 60 + ss;
    int64_t best = naive - local_offset(c, naive);
    h->time_ms = best * 1000 + ms;
    return q;
}

/* "2015-04-16T18:02:50.321974+00:00", "2013-08-11 03:56:40", with or without zone (none = local). */
static const char *parse_iso(struct detect_clock *c, const char *p, const char *end, struct detect_header *h)
{
    if (end - p < 19 || p[4] != '-' || p[7] != '-' || (p[10] != 'T' && p[10] != ' ') || p[13] != ':' ||
        p[16] != ':')
        return NULL;
    int y = num(p, 4), mo = num(p + 5, 2), d = num(p + 8, 2), hh = num(p + 11, 2), mi = num(p + 14, 2),
        ss = num(p + 17, 2);
    if (y < 0 || mo < 0 || d < 0 || hh < 0 || mi < 0 || ss < 0) return NULL;
    const char *q = p + 19;
    int ms = frac_ms(&q, end);
    bool zoned = false;
    int64_t off = 0;
    if (q < end && *q == 'Z') { zoned = true; q++; }
    else if (q < end && (*q == '+' || *q == '-') && end - q >= 5 && (q[3] != ':' || end - q >= 6)) {
        int oh = num(q + 1, 2), om = q[3] == ':' ? num(q + 4, 2) : num(q + 3, 2);
        if (oh >= 0 && om >= 0) {
            off = (oh * 3600 + om * 60) * (*q == '-' ? -1 : 1);
            q += q[3] == ':' ? 6 : 5;
            zoned = true;
        }
    }
    if (q < end && *q != ' ') return NULL;
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || !valid_hms(hh, mi, ss)) { h->bad_time = true; return q; }
    int64_t naive = detect_days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + hh * 3600 + mi * 60 + ss;
    h->time_ms = (naive - (zoned ? off : local_offset(c, naive))) * 1000 + ms;
    return q;
}

/* daemontools/s6 "@4000000063bd2f3a1d2b2f9c": TAI64N, 2^62 + seconds then nanoseconds, in hex. */
static const char *parse_tai64n(const char *p, const char *end, struct detect_header *h)
{
    if (end - p < 25 || p[0] != '@') return NULL;
    uint64_t s = 0, ns = 0;
    for (int i = 1; i <= 24; i++) {
        char ch = p[i];
        unsigned v = is_digit(ch) ? (unsigned)(ch - '0') : (ch >= 'a' && ch <= 'f') ? (unsigned)(ch - 'a' + 10) : 99;
        if (v == 99) return NULL;
        if (i <= 16) s = s << 4 | v;
        else ns = ns << 4 | v;
    }
    if (s < (1ULL << 62) + 10 || s - (1ULL << 62) > 253402300799ULL) {   /* before 1970 or after 9999 */
        h->bad_time = true;
        return p + 25;
    }
    h->time_ms = (int64_t)(s - (1ULL << 62) - 10) * 1000 + (int64_t)(ns / 1000000); /* TAI is 10 s ahead */
    return p + 25;
}

static const char *skip_spaces(const char *p, const char *end)
{
    while (p < end && *p == ' ') p++;
    return p;
}

/* SWAR: a word with a zero byte where w had byte c (eight bytes per step on the hot path). */
#define ONES 0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL
static inline uint64_t has_byte(uint64_t w, unsigned char c)
{
    uint64_t x = w ^ (ONES * c);
    return (x - ONES) & ~x & HIGHS;
}

static const char *token_end(const char *p, const char *end)
{
    while (end - p >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        uint64_t m = has_byte(w, ' ');
        if (m) return p + (__builtin_ctzll(m) >> 3);
        p += 8;
    }
    while (p < end && *p != ' ') p++;
    return p;
}

static bool is_alpha(char ch) { return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z'); }

/* Sets prog/pid from a tag such as "postfix/smtpd[123]", "auth-worker(304)", "auth(u,ip)<sess>", "[sshd]". */
static void set_tag(struct detect_header *h, const char *t, size_t n)
{
    if (n && t[0] == '[' && t[n - 1] == ']') { t++; n -= 2; }
    h->tag = t;
    h->tag_len = n;
    size_t i = 0;
    while (n - i >= 8) {
        uint64_t w;
        memcpy(&w, t + i, 8);
        uint64_t m = has_byte(w, '[') | has_byte(w, '(') | has_byte(w, '<');
        if (m) { i += (size_t)__builtin_ctzll(m) >> 3; goto found; }
        i += 8;
    }
    while (i < n && t[i] != '[' && t[i] != '(' && t[i] != '<') i++;
found:
    h->prog = t;
    h->prog_len = i;
    if (i < n) {
        size_t j = i + 1, k = j;
        while (k < n && is_digit(t[k])) k++;
        if (k > j && k < n && (t[k] == ']' || t[k] == ')')) { h->pid = t + j; h->pid_len = k - j; }
    }
}

/* socklog's "facility.level: " before a syslog line (mail.info:, authpriv.notice:, local3.err:). */
static const char *skip_facility(const char *p, const char *end)
{
    static const char *const levels[] = {"emerg", "alert", "crit", "err", "warn", "warning", "notice", "info", "debug"};
    const char *t1 = token_end(p, end), *dot = memchr(p, '.', (size_t)(t1 - p));
    if (!dot || dot == p || t1[-1] != ':') return p;
    for (const char *k = p; k < dot; k++)
        if (!is_alpha(*k) && !is_digit(*k)) return p;
    size_t ln = (size_t)(t1 - 1 - (dot + 1));
    for (size_t i = 0; i < sizeof levels / sizeof levels[0]; i++)
        if (strlen(levels[i]) == ln && !memcmp(dot + 1, levels[i], ln)) return skip_spaces(t1, end);
    return p;
}

/* Past a syslog stamp ("Nov 28 04:31:06", "Nov  8 04:31:06.123", "2026-11-28T04:31:06+01:00") at p, or
 * p when there is none. The time is not read: the TAI64N stamp before it is the better one. */
static const char *skip_stamp(const char *p, const char *end)
{
    const char *q = p;
    if (end - q >= 15 && month_of(q) && q[3] == ' ') {
        q += 4;
        if (*q == ' ') q++;
        while (q < end && is_digit(*q)) q++;
        if (end - q < 9 || *q != ' ' || q[3] != ':' || q[6] != ':') return p;
        q += 9;
    } else if (end - q >= 19 && is_digit(q[0]) && q[4] == '-' && q[7] == '-' && q[13] == ':') {
        q += 19;
    } else {
        return p;
    }
    q = token_end(q, end);   /* fraction and zone */
    return q;
}

/* A tag is one token ending in ':', starting with a letter, free of '=' (which would make it a field). */
static bool tag_token(const char *a, const char *b)
{
    if (b - a < 2 || b[-1] != ':' || !(is_alpha(a[0]) || (a[0] == '[' && b - a > 3 && is_alpha(a[1]))))
        return false;
    return memchr(a, '=', (size_t)(b - a)) == NULL;
}

/* Sets the message to p..end. Dovecot through syslog writes its process as an inner tag ("dovecot[42]:
 * imap-login: ...", even "dovecot: dovecot: auth(default): ..."), which is what rules filter on, so it
 * becomes the tag. A PAM module's "pam_unix(dovecot:auth):" is not a Dovecot process: PAM writes it as
 * the start of its message, and it stays there. */
static inline void set_msg(struct detect_header *h, const char *p, const char *end)
{
    for (int depth = 0; depth < 2 && h->prog_len == 7 && !memcmp(h->prog, "dovecot", 7); depth++) {
        const char *t1 = token_end(p, end);
        if (!tag_token(p, t1) || (t1 - p > 4 && !memcmp(p, "pam_", 4))) break;
        set_tag(h, p, (size_t)(t1 - p - 1));
        p = skip_spaces(t1, end);
    }
    h->msg = p;
    h->msg_len = (size_t)(end - p);
}

static void parse_rfc5424(const char *p, const char *end, struct detect_header *h)
{
    /* HOST APP PROCID MSGID SD MSG, each "-" when absent. */
    const char *tok[4];
    const char *tend[4];
    for (int i = 0; i < 4; i++) {
        p = skip_spaces(p, end);
        tok[i] = p;
        p = tend[i] = token_end(p, end);
    }
    if (!(tend[0] - tok[0] == 1 && tok[0][0] == '-')) { h->host = tok[0]; h->host_len = (size_t)(tend[0] - tok[0]); }
    set_tag(h, tok[1], (size_t)(tend[1] - tok[1]));
    if (tend[2] > tok[2] && is_digit(tok[2][0])) { h->pid = tok[2]; h->pid_len = (size_t)(tend[2] - tok[2]); }
    p = skip_spaces(p, end);
    if (p < end && *p == '-') p++;
    while (p < end && *p == '[') {   /* structured data: skip [..] blocks, honouring \] and quotes */
        bool quoted = false;
        for (p++; p < end; p++) {
            if (*p == '\\' && p + 1 < end) { p++; continue; }
            if (*p == '"') quoted = !quoted;
            else if (*p == ']' && !quoted) { p++; break; }
        }
    }
    p = skip_spaces(p, end);
    if (end - p >= 3 && !memcmp(p, "\xef\xbb\xbf", 3)) p += 3;   /* MSG = BOM UTF-8-STRING (RFC 5424 6.4) */
    set_msg(h, p, end);
}

void detect_header_parse(struct detect_clock *c, const char *line, size_t len, struct detect_header *h)
{
    memset(h, 0, sizeof *h);
    const char *p = line, *end = line + len, *q;
    p = skip_spaces(p, end);
    if (p < end && *p == '<') {   /* "<34>" priority of syslog sent over the network */
        const char *r = p + 1;
        while (r < end && is_digit(*r)) r++;
        if (r < end && *r == '>' && r > p + 1) {
            p = r + 1;
            if (end - p > 2 && p[0] == '1' && p[1] == ' ') {   /* RFC 5424 */
                q = parse_iso(c, p + 2, end, h);
                parse_rfc5424(q ? q : token_end(p + 2, end), end, h);
                return;
            }
        }
    }
    if (p < end && *p == '@' && (q = parse_tai64n(p, end, h))) {
        /* multilog/s6-log stamp their input, which may itself be syslog (socklog writes
         * "mail.info: Nov 28 04:31:06 postfix/smtpd[1]: ..."): the stamp is the time, the rest is read
         * as a header without one. */
        p = skip_stamp(skip_facility(skip_spaces(q, end), end), end);
        q = NULL;
    } else if (p < end && is_digit(*p)) {
        q = parse_iso(c, p, end, h);
    } else {
        q = parse_bsd(c, p, end, h);
    }
    if (q) p = q;
    p = skip_spaces(p, end);
    if (p < end && *p == '<') {   /* "<mail.notice>" written by some syslog templates */
        q = token_end(p, end);
        if (q[-1] == '>') p = skip_spaces(q, end);
    }
    const char *a = p, *a1 = token_end(a, end);
    const char *b = skip_spaces(a1, end), *b1 = token_end(b, end);
    if (tag_token(a, a1)) {
        set_tag(h, a, (size_t)(a1 - a - 1));
        p = a1;
    } else if (a1 - a > 2 && a[0] == '[' && a1[-1] == ']' && is_alpha(a[1])) {   /* "[sshd] msg" */
        set_tag(h, a, (size_t)(a1 - a));
        p = a1;
    } else if (b < end && tag_token(b, b1)) {
        h->host = a;
        h->host_len = (size_t)(a1 - a);
        set_tag(h, b, (size_t)(b1 - b - 1));
        p = b1;
    }
    set_msg(h, skip_spaces(p, end), end);
}
