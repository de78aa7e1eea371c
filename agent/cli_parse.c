/* cli_parse.c: `sgcluster parse`, the operator's tool for trying rules on log files (like fail2ban-regex). */
#include "agent/cli.h"
#include "agent/json.h"
#include "agent/util.h"
#include "common/text.h"
#include "detect/detect.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_EXTRA 16

struct outbuf {
    char b[65536];
    size_t n;
};

struct parse_run {
    struct detect_parser *parser;
    bool json;
    bool quiet;                /* counters only (with --stats): no per-event output */
    bool print_missed;         /* also print the lines no rule matched (fail2ban-regex --print-all-missed) */
    uint64_t missed;
    struct outbuf *out;        /* JSON being assembled; written out in large pieces */
    const char *file;          /* shown when several files are read */
    uint64_t lineno;
    uint64_t kinds[SG_EV__COUNT];   /* events per kind, for --stats */
    uint64_t abuse_lines;      /* lines that gave an abuse event (counted or dup) */
    uint64_t last_abuse_line;
    int64_t time_sec;          /* second whose text is cached in time_txt */
    char time_txt[40];
};

static void usage(FILE *out)
{
    fprintf(out, "usage: sgcluster parse [--rules DIR] [--extra DIR]... [--json] [--stats] [--quiet] [--print-missed] [--now EPOCH] [FILE...]\n"
                 "  Reads FILEs (stdin without FILE) and prints the events the rules find.\n"
                 "  --rules DIR   rule directory (default /etc/sgcluster/rules.d, else the source tree's)\n"
                 "  --extra DIR   operator rules on top, overriding by id (repeatable)\n"
                 "  --json        one JSON object per event on stdout\n"
                 "  --stats       lines read, matches per rule and lines/s on stderr\n"
                 "  --quiet       no per-event output (with --stats: counters only)\n"
                 "  --print-missed  also print every line no rule matched (\"missed\" rows, or {\"missed\":...})\n"
                 "  --now EPOCH   reference time for the year of BSD timestamps (default: now)\n");
}

/* Event output is the hot path of `parse` on big files, so each JSON object is assembled in one buffer
 * and written with one fwrite: strings that need no escaping (nearly all) are copied as they are, the
 * time text is reused while the second does not change, and only the rare string with quotes, control
 * bytes or non-ASCII goes through json_str. */

static void ob_flush(struct outbuf *o)
{
    fwrite(o->b, 1, o->n, stdout);
    o->n = 0;
}

static void ob_lit(struct outbuf *o, const char *s, size_t n)
{
    if (o->n + n > sizeof o->b) ob_flush(o);
    memcpy(o->b + o->n, s, n);
    o->n += n;
}
#define OB_LIT(o, s) ob_lit((o), (s), sizeof(s) - 1)

static void ob_str(struct outbuf *o, const char *s)
{
    if (!s) { OB_LIT(o, "null"); return; }
    const unsigned char *p = (const unsigned char *)s;
    while (*p >= 0x20 && *p < 0x7f && *p != '"' && *p != '\\') p++;
    if (*p) {
        ob_flush(o);
        json_str(stdout, s);
        return;
    }
    size_t n = (size_t)(p - (const unsigned char *)s);
    if (o->n + n + 2 > sizeof o->b) ob_flush(o);
    o->b[o->n++] = '"';
    ob_lit(o, s, n);
    o->b[o->n++] = '"';
}

static void ob_u64(struct outbuf *o, uint64_t v)
{
    char t[24];
    size_t k = sizeof t;
    do { t[--k] = (char)('0' + v % 10); v /= 10; } while (v);
    ob_lit(o, t + k, sizeof t - k);
}

static const char *fmt_time(struct parse_run *r, int64_t ms)
{
    if (!ms) return NULL;
    int64_t sec = ms / 1000;
    if (sec != r->time_sec || !r->time_txt[0]) {
        time_t t = (time_t)sec;
        struct tm tm;
        if (!gmtime_r(&t, &tm)) return NULL;
        strftime(r->time_txt, sizeof r->time_txt, "%Y-%m-%dT%H:%M:%S", &tm);
        r->time_sec = sec;
    }
    int f = (int)(ms % 1000);
    char *q = r->time_txt + 19;
    q[0] = '.';
    q[1] = (char)('0' + f / 100);
    q[2] = (char)('0' + f / 10 % 10);
    q[3] = (char)('0' + f % 10);
    q[4] = 'Z';
    q[5] = '\0';
    return r->time_txt;
}

static void on_event(const struct sg_event *ev, void *arg)
{
    struct parse_run *r = arg;
    r->kinds[ev->kind < SG_EV__COUNT ? ev->kind : 0]++;
    if (detect_kind_is_abuse(ev->kind) && r->last_abuse_line != r->lineno) {
        r->last_abuse_line = r->lineno;
        r->abuse_lines++;
    }
    if (r->quiet) return;
    const char *ts = fmt_time(r, ev->time_ms);
    if (!r->json) {
        printf("%-7" PRIu64 " %-24s %-12s %-10s %-26s %-24.24s %-24s %3" PRIu32 "%s\n", r->lineno, ts ? ts : "-",
               detect_kind_name(ev->kind), ev->service, ev->family ? ev->ip : "-", ev->user[0] ? ev->user : "-",
               ev->rule, ev->count, ev->dup ? " dup" : "");
        return;
    }
    struct outbuf *o = r->out;
    OB_LIT(o, "{\"line\":");
    ob_u64(o, r->lineno);
    if (r->file) { OB_LIT(o, ",\"file\":"); ob_str(o, r->file); }
    OB_LIT(o, ",\"rule\":");
    ob_str(o, ev->rule);
    OB_LIT(o, ",\"service\":");
    ob_str(o, ev->service);
    OB_LIT(o, ",\"kind\":");
    ob_str(o, detect_kind_name(ev->kind));
    OB_LIT(o, ",\"ip\":");
    ob_str(o, ev->family ? ev->ip : NULL);
    OB_LIT(o, ",\"user\":");
    ob_str(o, ev->user[0] ? ev->user : NULL);
    OB_LIT(o, ",\"time\":");
    ob_str(o, ts);
    OB_LIT(o, ",\"host\":");
    ob_str(o, ev->host[0] ? ev->host : NULL);
    OB_LIT(o, ",\"count\":");
    ob_u64(o, ev->count);
    OB_LIT(o, ",\"nrcpt\":");
    ob_u64(o, ev->nrcpt);
    if (ev->dup) OB_LIT(o, ",\"dup\":true}\n");
    else OB_LIT(o, ",\"dup\":false}\n");
    if (o->n > sizeof o->b - 4096) ob_flush(o);   /* one write per ~60 kB, not per event */
}

/* The columns of the text output, printed once above the rows. */
#define ROW_FMT "%-7s %-24s %-12s %-10s %-26s %-24.24s %-24s %3s\n"

static void print_header(void)
{
    printf(ROW_FMT, "LINE", "TIME", "KIND", "SERVICE", "IP", "USER", "RULE", "N");
}

/* A line no rule matched, for --print-missed: escaped in a table, a JSON string otherwise. */
static void print_missed(struct parse_run *r, const char *line, size_t len)
{
    r->missed++;
    if (r->quiet) return;
    char *copy = sg_xstrndup(line, len);
    if (r->json) {
        struct outbuf *o = r->out;
        OB_LIT(o, "{\"line\":");
        ob_u64(o, r->lineno);
        if (r->file) { OB_LIT(o, ",\"file\":"); ob_str(o, r->file); }
        OB_LIT(o, ",\"missed\":");
        ob_str(o, copy);
        OB_LIT(o, "}\n");
    } else {
        char esc[8192 * 4 + 1];
        printf("%-7" PRIu64 " %-24s %s\n", r->lineno, "missed", sg_text_escape(copy, esc, sizeof esc));
    }
    free(copy);
}

/* One line through the parser; with --print-missed, the lines no rule matched are printed too. */
static void parse_line(struct parse_run *r, const char *line, size_t len)
{
    if (!r->print_missed) {
        detect_parser_line(r->parser, line, len, on_event, r);
        return;
    }
    struct detect_stats before, after;
    detect_parser_stats(r->parser, &before);
    detect_parser_line(r->parser, line, len, on_event, r);
    detect_parser_stats(r->parser, &after);
    if (after.matched == before.matched) print_missed(r, line, len);
}

/* Splits a stream into lines with one fixed buffer; a line longer than the buffer is counted as
 * oversized and skipped up to its newline rather than growing memory on hostile input. */
static int read_stream(struct parse_run *r, int fd, size_t max_line)
{
    size_t cap = max_line + 1 > (1u << 20) ? max_line + 1 : (1u << 20);
    char *buf = sg_xmalloc(cap);
    size_t len = 0;
    bool skipping = false;
    for (;;) {
        ssize_t n = read(fd, buf + len, cap - len);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) { free(buf); return -1; }
        if (n == 0) break;
        len += (size_t)n;
        size_t start = 0;
        char *nl;
        while ((nl = memchr(buf + start, '\n', len - start))) {
            size_t ll = (size_t)(nl - (buf + start));
            r->lineno++;
            if (skipping) skipping = false;
            else parse_line(r, buf + start, ll);
            start += ll + 1;
        }
        memmove(buf, buf + start, len - start);
        len -= start;
        if (len > max_line) {
            if (!skipping) detect_parser_note_oversized(r->parser);
            skipping = true;
            len = 0;
        }
    }
    if (len && !skipping) {   /* last line without a newline */
        r->lineno++;
        parse_line(r, buf, len);
    }
    free(buf);
    return 0;
}

/* The shipped rules: the installed copy, else the source tree next to this binary (bin/ or build-x/bin/). */
static const char *default_rules(char *buf, size_t n)
{
    struct stat st;
    if (stat("/etc/sgcluster/rules.d", &st) == 0 && S_ISDIR(st.st_mode)) return "/etc/sgcluster/rules.d";
    char exe[PATH_MAX];
    ssize_t k = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (k <= 0) return "detect/rules.d";
    exe[k] = '\0';
    for (int up = 0; up < 3; up++) {
        char *slash = strrchr(exe, '/');
        if (!slash) break;
        *slash = '\0';
        if ((size_t)snprintf(buf, n, "%.*s/detect/rules.d", (int)(n - 20), exe) >= n) break;
        if (stat(buf, &st) == 0 && S_ISDIR(st.st_mode)) return buf;
    }
    return "detect/rules.d";
}

static void print_stats(const struct parse_run *r, const struct detect_rules *rules, const struct detect_parser *p,
                        double secs)
{
    struct detect_stats st;
    detect_parser_stats(p, &st);
    fprintf(stderr, "lines read:   %" PRIu64 "\nlines matched: %" PRIu64 "\nevents:       %" PRIu64 " (%" PRIu64 " dup)\n",
            st.lines, st.matched, st.events, st.dups);
    fprintf(stderr, "oversized:    %" PRIu64 "\ninvalid:      %" PRIu64 "\nbad time:     %" PRIu64 "\n", st.oversized,
            st.invalid, st.bad_time);
    fprintf(stderr, "capped attempts:   %" PRIu64 "\ncapped recipients: %" PRIu64 "\n", st.capped_attempts, st.capped_rcpt);
    fprintf(stderr, "abuse lines:  %" PRIu64 "\n", r->abuse_lines);
    if (r->print_missed) fprintf(stderr, "missed lines: %" PRIu64 "\n", r->missed);
    fprintf(stderr, "events per kind:\n");
    for (int k = 0; k < SG_EV__COUNT; k++)
        fprintf(stderr, "  %-40s %" PRIu64 "\n", detect_kind_name((enum sg_event_kind)k), r->kinds[k]);
    fprintf(stderr, "matched per rule:\n");
    for (size_t i = 0; i < detect_rules_count(rules); i++) {
        uint64_t h = detect_parser_rule_hits(p, i);
        if (h) fprintf(stderr, "  %-40s %" PRIu64 "\n", detect_rules_id(rules, i), h);
    }
    fprintf(stderr, "seconds:      %.3f\nlines/s:      %.0f\n", secs, secs > 0 ? (double)st.lines / secs : 0.0);
}

int cli_parse(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"rules", required_argument, NULL, 'r'}, {"extra", required_argument, NULL, 'e'},
        {"json", no_argument, NULL, 'j'},        {"stats", no_argument, NULL, 's'},
        {"now", required_argument, NULL, 'n'},   {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},        {"print-missed", no_argument, NULL, 'm'},
        {NULL, 0, NULL, 0},
    };
    const char *dirs[MAX_EXTRA + 2] = {NULL};
    size_t ndirs = 1;
    bool stats = false;
    struct parse_run r = {0};
    struct detect_parser_opts po = {0};
    char defbuf[PATH_MAX];
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "r:e:jsqn:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'r': dirs[0] = optarg; break;
        case 'e':
            if (ndirs > MAX_EXTRA) { fprintf(stderr, "sgcluster parse: too many --extra\n"); return 2; }
            dirs[ndirs++] = optarg;
            break;
        case 'j': r.json = true; break;
        case 's': stats = true; break;
        case 'q': r.quiet = true; break;
        case 'm': r.print_missed = true; break;
        case 'n': {
            char *end;
            long long v = strtoll(optarg, &end, 10);
            if (*end || v <= 0) { fprintf(stderr, "sgcluster parse: --now wants seconds since the epoch\n"); return 2; }
            po.ref_ms = (int64_t)v * 1000;
            break;
        }
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (!dirs[0]) dirs[0] = default_rules(defbuf, sizeof defbuf);
    char err[512] = "";
    struct detect_rules *rules = detect_rules_new(dirs, err, sizeof err);
    if (!rules) {
        fprintf(stderr, "sgcluster parse: rules: %s\n", err);
        return 1;
    }
    r.parser = detect_parser_new(rules, &po);
    r.out = sg_xcalloc(1, sizeof *r.out);
    int rc = 0;
    int64_t t0 = sg_mono_ns();
    if (!r.json && !r.quiet) print_header();
    if (optind == argc) {
        if (read_stream(&r, 0, 8192) < 0) { fprintf(stderr, "sgcluster parse: stdin: %s\n", strerror(errno)); rc = 1; }
    }
    for (int i = optind; i < argc; i++) {
        int fd = open(argv[i], O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            fprintf(stderr, "sgcluster parse: %s: %s\n", argv[i], strerror(errno));
            rc = 1;
            continue;
        }
        r.file = argc - optind > 1 ? argv[i] : NULL;
        r.lineno = 0;
        r.last_abuse_line = 0;
        if (read_stream(&r, fd, 8192) < 0) { fprintf(stderr, "sgcluster parse: %s: %s\n", argv[i], strerror(errno)); rc = 1; }
        close(fd);
    }
    ob_flush(r.out);
    free(r.out);
    fflush(stdout);
    if (stats) print_stats(&r, rules, r.parser, (double)(sg_mono_ns() - t0) / 1e9);
    detect_parser_destroy(&r.parser);
    detect_rules_destroy(&rules);
    return rc;
}
