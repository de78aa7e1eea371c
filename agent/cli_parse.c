/* cli_parse.c: `sgcluster parse`, the operator's tool for trying rules on log files (like fail2ban-regex). */
#include "agent/cli.h"
#include "agent/json.h"
#include "agent/util.h"
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

struct parse_run {
    struct detect_parser *parser;
    bool json;
    const char *file;          /* shown when several files are read */
    uint64_t lineno;
};

static void usage(FILE *out)
{
    fprintf(out, "usage: sgcluster parse [--rules DIR] [--extra DIR]... [--json] [--stats] [--now EPOCH] [FILE...]\n"
                 "  Reads FILEs (stdin without FILE) and prints the events the rules find.\n"
                 "  --rules DIR   rule directory (default /etc/sgcluster/rules.d, else the source tree's)\n"
                 "  --extra DIR   operator rules on top, overriding by id (repeatable)\n"
                 "  --json        one JSON object per event on stdout\n"
                 "  --stats       lines read, matches per rule and lines/s on stderr\n"
                 "  --now EPOCH   reference time for the year of BSD timestamps (default: now)\n");
}

static void fmt_time(char *buf, size_t n, int64_t ms)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    if (!ms || !gmtime_r(&t, &tm)) { snprintf(buf, n, "-"); return; }
    size_t k = strftime(buf, n, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + k, n - k, ".%03dZ", (int)(ms % 1000));
}

static void on_event(const struct sg_event *ev, void *arg)
{
    struct parse_run *r = arg;
    char ts[40];
    fmt_time(ts, sizeof ts, ev->time_ms);
    if (r->json) {
        printf("{\"line\":%" PRIu64 ",", r->lineno);
        if (r->file) { printf("\"file\":"); json_str(stdout, r->file); putchar(','); }
        printf("\"rule\":");
        json_str(stdout, ev->rule);
        printf(",\"service\":\"%s\",\"kind\":\"%s\",\"ip\":", ev->service, detect_kind_name(ev->kind));
        json_str(stdout, ev->family ? ev->ip : NULL);
        printf(",\"user\":");
        json_str(stdout, ev->user[0] ? ev->user : NULL);
        printf(",\"time\":");
        json_str(stdout, ev->time_ms ? ts : NULL);
        printf(",\"host\":");
        json_str(stdout, ev->host[0] ? ev->host : NULL);
        printf(",\"count\":%" PRIu32 ",\"nrcpt\":%" PRIu32 ",\"dup\":%s}\n", ev->count, ev->nrcpt,
               ev->dup ? "true" : "false");
        return;
    }
    printf("%-7" PRIu64 " %-24s %-12s %-10s %-26s %-24.24s %-24s %3" PRIu32 "%s\n", r->lineno, ts,
           detect_kind_name(ev->kind), ev->service, ev->family ? ev->ip : "-", ev->user[0] ? ev->user : "-", ev->rule,
           ev->count, ev->dup ? " dup" : "");
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
            else detect_parser_line(r->parser, buf + start, ll, on_event, r);
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
        detect_parser_line(r->parser, buf, len, on_event, r);
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

static void print_stats(const struct detect_rules *rules, const struct detect_parser *p, double secs)
{
    struct detect_stats st;
    detect_parser_stats(p, &st);
    fprintf(stderr, "lines read:   %" PRIu64 "\nlines matched: %" PRIu64 "\nevents:       %" PRIu64 " (%" PRIu64 " dup)\n",
            st.lines, st.matched, st.events, st.dups);
    fprintf(stderr, "oversized:    %" PRIu64 "\ninvalid:      %" PRIu64 "\nbad time:     %" PRIu64 "\n", st.oversized,
            st.invalid, st.bad_time);
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
        {"now", required_argument, NULL, 'n'},   {"help", no_argument, NULL, 'h'},
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
    while ((c = getopt_long(argc, argv, "r:e:jsn:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'r': dirs[0] = optarg; break;
        case 'e':
            if (ndirs > MAX_EXTRA) { fprintf(stderr, "sgcluster parse: too many --extra\n"); return 2; }
            dirs[ndirs++] = optarg;
            break;
        case 'j': r.json = true; break;
        case 's': stats = true; break;
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
    int rc = 0;
    int64_t t0 = sg_mono_ns();
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
        if (read_stream(&r, fd, 8192) < 0) { fprintf(stderr, "sgcluster parse: %s: %s\n", argv[i], strerror(errno)); rc = 1; }
        close(fd);
    }
    fflush(stdout);
    if (stats) print_stats(rules, r.parser, (double)(sg_mono_ns() - t0) / 1e9);
    detect_parser_destroy(&r.parser);
    detect_rules_destroy(&rules);
    return rc;
}
