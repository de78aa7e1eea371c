/* cli_tune.c: `sgcluster tune -c CONFIG LOG...`: the shape of the site's own mail flow, a threshold
 * proposed for every scenario, and what each proposal would have done over those logs.
 *
 * Two passes over the logs, both through the agent's builder and parser: the first measures the flow
 * (agent/tune.c); the second replays the logs with the proposed thresholds through the same path as
 * `sgcluster replay` (agent/replay.c), so a what-if is exactly what replay decides with the snippet. */
#include "agent/agent_build.h"
#include "agent/cli_common.h"
#include "agent/replay.h"
#include "agent/tune.h"
#include "agent/tune_live.h"
#include "agent/tune_report.h"
#include "agent/tune_whatif.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct pass1 {
    struct detect_parser *parser;
    struct tune *tune;
    int64_t last_ms;
};

static void on_event(const struct sg_event *ev, void *arg)
{
    struct pass1 *p = arg;
    /* The replay's clock (agent/replay.c): an event without a time takes the last, never back. */
    int64_t t = ev->time_ms ? ev->time_ms : p->last_ms;
    if (!t) return;
    if (t < p->last_ms) t = p->last_ms;
    p->last_ms = t;
    tune_event(p->tune, ev, t);
}

static void on_line(const char *line, size_t len, void *arg)
{
    struct pass1 *p = arg;
    detect_parser_line(p->parser, line, len, on_event, p);
}

static int usage(void)
{
    fprintf(stderr,
            "usage: sgcluster tune -c CONFIG [--rules DIR] [--json] [--ini FILE|-] [--svg DIR] [--html FILE]\n"
            "                      [--top N] [--quantile Q] [--margin M] [--floor N] [--no-whatif]\n"
            "                      [--live [-s SOCKET]] LOGFILE...\n"
            "  the flow's shape, a threshold proposed for every scenario, and what each would have done\n");
    return 2;
}

static int parse_double(const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double x = strtod(s, &end);
    if (errno || end == s || *end || !(x >= lo && x <= hi)) return -1;
    *out = x;
    return 0;
}

struct opts {
    const char *conf, *rules_dir, *ini, *svg, *html, *sock;
    bool json, whatif, live;
    size_t top;
    struct tune_rule rule;
};

static int parse_opts(int argc, char **argv, struct opts *o)
{
    static const struct option lo[] = {
        {"config", required_argument, NULL, 'c'}, {"rules", required_argument, NULL, 'r'},
        {"json", no_argument, NULL, 'j'}, {"ini", required_argument, NULL, 'i'}, {"svg", required_argument, NULL, 'S'},
        {"html", required_argument, NULL, 'H'}, {"top", required_argument, NULL, 'n'},
        {"quantile", required_argument, NULL, 'q'}, {"margin", required_argument, NULL, 'm'},
        {"floor", required_argument, NULL, 'f'}, {"no-whatif", no_argument, NULL, 'W'},
        {"live", no_argument, NULL, 'l'}, {"socket", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    *o = (struct opts){.whatif = true, .top = 10,
                       .rule = {TUNE_RULE_Q_DEFAULT, TUNE_RULE_MARGIN_DEFAULT, TUNE_RULE_FLOOR_DEFAULT}};
    int c;
    double x;
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:r:jn:s:h", lo, NULL)) != -1) {
        switch (c) {
        case 'c': o->conf = optarg; break;
        case 'r': o->rules_dir = optarg; break;
        case 'j': o->json = true; break;
        case 'i': o->ini = optarg; break;
        case 'S': o->svg = optarg; break;
        case 'H': o->html = optarg; break;
        case 'W': o->whatif = false; break;
        case 'l': o->live = true; break;
        case 's': o->sock = optarg; break;
        case 'n':
            if (parse_double(optarg, 0, 100000, &x) < 0) return usage();
            o->top = (size_t)x;
            break;
        case 'q':
            if (parse_double(optarg, 0.5, 1, &x) < 0) { fprintf(stderr, "sgcluster tune: --quantile is in [0.5, 1]\n"); return 2; }
            o->rule.q = x;
            break;
        case 'm':
            if (parse_double(optarg, 1, 1000, &x) < 0) { fprintf(stderr, "sgcluster tune: --margin is in [1, 1000]\n"); return 2; }
            o->rule.margin = x;
            break;
        case 'f':
            if (parse_double(optarg, 1, 1e9, &x) < 0) { fprintf(stderr, "sgcluster tune: --floor is in [1, 1e9]\n"); return 2; }
            o->rule.floor = (uint64_t)x;
            break;
        default: return usage();
        }
    }
    if (!o->conf || optind >= argc) return usage();
    for (int i = optind; i < argc; i++)
        if (!strcmp(argv[i], "-")) {
            /* The what-if reads the logs a second time. */
            fprintf(stderr, "sgcluster tune: logs are read twice: give files, not standard input\n");
            return 2;
        }
    return 0;
}

/* Writes the INI snippet to path ("-" = standard output). */
static int write_ini(const char *path, const struct tune_report *rep)
{
    if (!strcmp(path, "-")) {
        tune_report_ini(stdout, rep);
        return 0;
    }
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "sgcluster: tune: %s: %s\n", path, strerror(errno));
        return -1;
    }
    tune_report_ini(f, rep);
    if (fclose(f) != 0) {
        fprintf(stderr, "sgcluster: tune: %s: %s\n", path, strerror(errno));
        return -1;
    }
    return 0;
}

int cli_tune(int argc, char **argv)
{
    struct opts o;
    int rc = parse_opts(argc, argv, &o);
    if (rc) return rc;
    rc = 1;
    struct agent_parts parts;
    struct pass1 p = {0};
    struct replay *rp = NULL;
    struct tune_whatifs wi = {0};
    char *live = NULL;
    if (agent_build(o.conf, o.rules_dir, AGENT_BUILD_OFFLINE | AGENT_BUILD_DRYRUN, &parts) < 0) {
        for (size_t i = 0; i < parts.errors.n; i++) fprintf(stderr, "%s\n", parts.errors.v[i]);
        goto out;
    }
    p.parser = parts.parser;
    p.tune = tune_new(parts.cfg);
    for (int i = optind; i < argc; i++)
        if (cli_read_lines(argv[i], on_line, &p) < 0) goto out;
    struct detect_stats ds;
    detect_parser_stats(p.parser, &ds);
    tune_finish(p.tune, &o.rule);
    if (o.live) live = tune_live(o.sock ? o.sock : getenv("SGCLUSTER_SOCKET") ? getenv("SGCLUSTER_SOCKET") : parts.cfg->control_socket, p.tune);

    if (o.whatif) {
        /* The proposals go into the builder's config, then the logs are replayed with them. The
         * measures keep pointing at the scenarios; the current thresholds are kept for the report. */
        size_t n = tune_count(p.tune);
        int64_t *was = calloc(parts.cfg->nscenarios + 1, sizeof *was);
        if (!was) goto out;
        for (size_t i = 0; i < parts.cfg->nscenarios; i++) was[i] = parts.cfg->scenarios[i].threshold;
        for (size_t i = 0; i < n; i++) {
            const struct tune_measure *m = tune_get(p.tune, i);
            if (m->proposed) parts.cfg->scenarios[m->sc - parts.cfg->scenarios].threshold = m->prop.threshold;
        }
        rp = replay_new(&parts, tune_whatifs_add, &wi);
        for (int i = optind; rp && i < argc; i++)
            if (replay_file(rp, argv[i]) < 0) rp = NULL;
        for (size_t i = 0; i < parts.cfg->nscenarios; i++) parts.cfg->scenarios[i].threshold = was[i];
        free(was);
        if (!rp) {
            fprintf(stderr, "sgcluster: tune: the what-if replay failed\n");
            goto out;
        }
        tune_whatifs_sort(&wi);
    }
    struct tune_report rep = {.tune = p.tune, .rule = &o.rule, .whatif = o.whatif ? &wi : NULL, .lines = ds.lines,
                              .top = o.top, .live = live};
    rc = 0;
    if (o.json) tune_report_json(stdout, &rep);
    else if (!o.ini || strcmp(o.ini, "-")) tune_report_text(stdout, &rep);
    if (o.ini && write_ini(o.ini, &rep) < 0) rc = 1;
    if (o.svg && ((mkdir(o.svg, 0755) < 0 && errno != EEXIST) || tune_svg_dir(o.svg, &rep) < 0)) {
        if (errno) fprintf(stderr, "sgcluster: tune: %s: %s\n", o.svg, strerror(errno));
        rc = 1;
    }
    if (o.html && tune_html_file(o.html, &rep) < 0) rc = 1;
    fprintf(stderr, "tune: %" PRIu64 " lines, %" PRIu64 " events\n", ds.lines, ds.events);
out:
    free(live);
    replay_destroy(&rp);
    tune_whatifs_free(&wi);
    tune_destroy(&p.tune);
    agent_parts_release(&parts);
    return rc;
}
