/* cli_tune.c: `sgcluster tune -c CONFIG LOG...`: the shape of the site's own mail flow, a threshold
 * proposed for every scenario, and what each proposal would have done over those logs.
 *
 * Two passes over the logs, both through the agent's builder and parser: the first measures the flow
 * (agent/tune.c); the second replays the logs with the proposed thresholds through the same path as
 * `sgcluster replay` (agent/replay.c), so a what-if is exactly what replay decides with the snippet. */
#include "agent/agent_build.h"
#include "agent/cli_common.h"
#include "agent/json.h"
#include "agent/replay.h"
#include "agent/tune.h"
#include "agent/tune_live.h"
#include "agent/tune_report.h"
#include "agent/tune_whatif.h"
#include "agent/util.h"
#include "enforce/throttle.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define USAGE "tune -c CONFIG [--rules DIR] [--json] [--ini FILE|-] [--svg DIR] [--html FILE] [--top N] " \
              "[--quantile Q] [--margin M] [--floor N] [--no-whatif] [--limit NAME=SPEC]... [--live [-s SOCKET]] LOGFILE..."

/* Every error of tune: one line on standard error, or under --json one {"error":...,"code":N} object
 * there (json_error, as every other command writes them). Returns code. */
static int __attribute__((format(printf, 3, 4))) fail(bool json, int code, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (json) json_errorf(stderr, code, "tune: %s", msg);
    else fprintf(stderr, "sgcluster tune: %s\n", msg);
    return code;
}

struct pass1 {
    struct detect_parser *parser;
    struct tune *tune;
    int64_t last_ms;
};

static void on_event(const struct sg_event *ev, void *arg)
{
    struct pass1 *p = arg;
    int64_t t = replay_clock(&p->last_ms, ev->time_ms);
    if (t) tune_event(p->tune, ev, t);
}

/* The sending limits' what-if: every submission of the replay, answered by the policy service's own
 * evaluation (enforce/throttle.h) over an in-memory store, with the proposed limits. */
struct limits_whatif {
    bool json;                       /* errors as JSON */
    struct throttle_config cfg;
    throttle_sim_t *sim;
    struct tune_whatifs w;
};

static void limits_on_event(const struct sg_event *ev, int64_t now_ms, void *arg)
{
    struct limits_whatif *lw = arg;
    struct throttle_input in;
    struct throttle_decision dec;
    if (!tune_limit_input(ev, &in) || throttle_sim_feed(lw->sim, &lw->cfg, now_ms, &in, true, &dec) == THROTTLE_NONE) return;
    for (size_t i = 0; i < dec.nhits; i++) {
        const struct throttle_hit *h = &dec.hits[i];
        struct decision d = {.time_ms = now_ms, .action = throttle_tier_name(h->tier)};
        char name[THROTTLE_NAME_MAX + 8];
        snprintf(name, sizeof name, "limit.%s", h->eff.name);
        d.scenario = name;
        snprintf(d.key, sizeof d.key, "%s", h->subject);
        tune_whatifs_add(&d, &lw->w);
    }
}

static void on_line(const char *line, size_t len, void *arg)
{
    struct pass1 *p = arg;
    detect_parser_line(p->parser, line, len, on_event, p);
}

static int usage(bool json, const char *why)
{
    if (json) return fail(true, 2, "%s%susage: sgcluster " USAGE, why ? why : "", why ? "; " : "");
    if (why) fprintf(stderr, "sgcluster tune: %s\n", why);
    fprintf(stderr, "usage: sgcluster " USAGE "\n"
                    "  the flow's shape, a threshold proposed for every scenario and sending limit, and what each would have done\n");
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
    struct throttle_config limits;   /* --limit NAME=SPEC, in the [throttle] syntax */
};

/* "NAME=SPEC" (as in [throttle]: limit.NAME = SPEC; a leading "limit." is accepted). */
static int add_limit(struct throttle_config *c, const char *arg, bool json)
{
    const char *eq = strchr(arg, '=');
    char name[THROTTLE_NAME_MAX + 8], err[256];
    struct throttle_limit l;
    if (!strncmp(arg, "limit.", 6)) arg += 6;
    if (!eq || eq <= arg || (size_t)(eq - arg) >= sizeof name)
        return fail(json, 2, "--limit NAME=SPEC, e.g. user_hour='key=sasl_username measure=recipients window=1h max=500'");
    snprintf(name, sizeof name, "%.*s", (int)(eq - arg), arg);
    if (throttle_limit_parse(name, eq + 1, &l, err, sizeof err) < 0 || throttle_config_add(c, &l, err, sizeof err) < 0)
        return fail(json, 2, "--limit %s: %s", name, err);
    return 0;
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
    static const struct option lo[] = {
        {"config", required_argument, NULL, 'c'}, {"rules", required_argument, NULL, 'r'},
        {"json", no_argument, NULL, 'j'}, {"ini", required_argument, NULL, 'i'}, {"svg", required_argument, NULL, 'S'},
        {"html", required_argument, NULL, 'H'}, {"top", required_argument, NULL, 'n'},
        {"quantile", required_argument, NULL, 'q'}, {"margin", required_argument, NULL, 'm'},
        {"floor", required_argument, NULL, 'f'}, {"no-whatif", no_argument, NULL, 'W'},
        {"live", no_argument, NULL, 'l'}, {"limit", required_argument, NULL, 'L'}, {"socket", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    o->whatif = true;
    o->top = 10;
    /* --json is known before any other option is read, so that every error is JSON. */
    for (int i = 1; i < argc && strcmp(argv[i], "--"); i++) o->json |= !strcmp(argv[i], "--json");
    opterr = !o->json;
    o->rule = (struct tune_rule){TUNE_RULE_Q_DEFAULT, TUNE_RULE_MARGIN_DEFAULT, TUNE_RULE_FLOOR_DEFAULT};
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
        case 'L':
            if (add_limit(&o->limits, optarg, o->json)) return 2;
            break;
        case 'n':
            if (parse_double(optarg, 0, 100000, &x) < 0) return fail(o->json, 2, "--top is in [0, 100000]");
            o->top = (size_t)x;
            break;
        case 'q':
            if (parse_double(optarg, 0.5, 1, &x) < 0) return fail(o->json, 2, "--quantile is in [0.5, 1]");
            o->rule.q = x;
            break;
        case 'm':
            if (parse_double(optarg, 1, 1000, &x) < 0) return fail(o->json, 2, "--margin is in [1, 1000]");
            o->rule.margin = x;
            break;
        case 'f':
            if (parse_double(optarg, 1, 1e9, &x) < 0) return fail(o->json, 2, "--floor is in [1, 1e9]");
            o->rule.floor = (uint64_t)x;
            break;
        case 'h': return usage(o->json, NULL);
        default: {
            char why[300];
            snprintf(why, sizeof why, "unknown option, or one that wants a value: '%.200s'", argv[optind - 1]);
            return usage(o->json, why);
        }
        }
    }
    if (!o->conf) return usage(o->json, "-c CONFIG is required");
    if (optind >= argc) return usage(o->json, "no log file given");
    for (int i = optind; i < argc; i++) {
        struct stat sb;
        /* The what-if reads the logs a second time. */
        if (!strcmp(argv[i], "-")) return fail(o->json, 2, "logs are read twice: give files, not standard input");
        if (stat(argv[i], &sb) < 0 || access(argv[i], R_OK) < 0) return fail(o->json, 1, "%s: %s", argv[i], strerror(errno));
        if (S_ISDIR(sb.st_mode)) return fail(o->json, 1, "%s: a directory, not a log file", argv[i]);
    }
    return 0;
}

/* The second pass: the logs replayed with the proposed thresholds and limits. */
static int run_whatif(struct agent_parts *parts, const struct tune *tune, int argc, char **argv,
                      struct tune_whatifs *wi, struct limits_whatif *lw)
{
    /* The proposals go into the builder's config for the replay; the measures keep pointing at the
     * scenarios, and the current thresholds are put back for the report. */
    struct config *cfg = parts->cfg;
    int64_t *was = sg_xcalloc(cfg->nscenarios + 1, sizeof *was);
    for (size_t i = 0; i < cfg->nscenarios; i++) was[i] = cfg->scenarios[i].threshold;
    for (size_t i = 0; i < tune_count(tune); i++) {
        const struct tune_measure *m = tune_get(tune, i);
        char err[256];
        if (m->sc) cfg->scenarios[m->sc - cfg->scenarios].threshold = m->prop.threshold;
        if (m->limit && m->prop.verdict != TUNE_NO_DATA) throttle_config_add(&lw->cfg, &m->proposed_limit, err, sizeof err);
    }
    /* The configuration's override map and allowlist apply to the proposed limits as they would in
     * the agent (borrowed for the replay, our own empty map put back after). */
    throttle_map_t *own_map = lw->cfg.map;
    lw->cfg.map = cfg->throttle->map;
    int rc = 0;
    struct replay *rp = replay_new(parts, tune_whatifs_add, wi);
    lw->sim = throttle_sim_new(cfg->bucket_s * 1000);
    if (!rp || !lw->sim) rc = -1;
    else replay_set_event_hook(rp, limits_on_event, lw);
    for (int i = optind; !rc && i < argc; i++) rc = replay_file(rp, argv[i]);
    for (size_t i = 0; i < cfg->nscenarios; i++) cfg->scenarios[i].threshold = was[i];
    free(was);
    replay_destroy(&rp);
    lw->cfg.map = own_map;
    if (rc < 0) fail(lw->json, 1, "the what-if replay failed");
    tune_whatifs_sort(wi);
    tune_whatifs_sort(&lw->w);
    return rc;
}

int cli_tune(int argc, char **argv)
{
    struct opts o = {0};
    struct limits_whatif lw = {0};
    throttle_config_init(&o.limits);
    throttle_config_init(&lw.cfg);
    int rc = parse_opts(argc, argv, &o);
    if (rc) goto early;
    lw.json = o.json;
    rc = 1;
    struct agent_parts parts;
    struct pass1 p = {0};
    struct tune_whatifs wi = {0};
    char *live = NULL;
    if (agent_build(o.conf, o.rules_dir, AGENT_BUILD_OFFLINE | AGENT_BUILD_DRYRUN, &parts) < 0) {
        if (!o.json)
            for (size_t i = 0; i < parts.errors.n; i++) fprintf(stderr, "%s\n", parts.errors.v[i]);
        else {
            char all[900] = "";
            for (size_t i = 0; i < parts.errors.n; i++)
                snprintf(all + strlen(all), sizeof all - strlen(all), "%s%s", i ? "; " : "", parts.errors.v[i]);
            fail(true, 1, "configuration has errors: %s", all);
        }
        goto out;
    }
    p.parser = parts.parser;
    /* The configuration's [throttle] limits, each replaced by a --limit of the same name. */
    for (size_t i = 0; i < parts.cfg->throttle->nlimits; i++) {
        const struct throttle_limit *l = &parts.cfg->throttle->limits[i];
        bool given = false;
        char err[256];
        for (size_t k = 0; k < o.limits.nlimits && !given; k++) given = !strcmp(o.limits.limits[k].name, l->name);
        if (!given && throttle_config_add(&o.limits, l, err, sizeof err) < 0) {
            fail(o.json, 1, "%s", err);
            goto out;
        }
    }
    p.tune = tune_new(parts.cfg, &o.limits);
    for (int i = optind; i < argc; i++)
        if (cli_read_lines(argv[i], on_line, &p) < 0) {
            fail(o.json, 1, "%s: cannot be read", argv[i]);
            goto out;
        }
    struct detect_stats ds;
    detect_parser_stats(p.parser, &ds);
    tune_finish(p.tune, &o.rule);
    if (o.live) live = tune_live(o.sock ? o.sock : getenv("SGCLUSTER_SOCKET") ? getenv("SGCLUSTER_SOCKET") : parts.cfg->control_socket, p.tune);

    if (o.whatif && run_whatif(&parts, p.tune, argc, argv, &wi, &lw) < 0) goto out;
    struct tune_report rep = {.tune = p.tune, .rule = &o.rule, .whatif = o.whatif ? &wi : NULL,
                              .limits_whatif = o.whatif ? &lw.w : NULL, .lines = ds.lines,
                              .top = o.top, .live = live, .configured = parts.cfg->throttle};
    /* The files first: a failure is one error, and no report is printed after it. */
    char err[4200] = "";
    if ((o.ini && tune_write(o.ini, tune_write_ini, &rep, err, sizeof err) < 0) ||
        (o.svg && mkdir(o.svg, 0755) < 0 && errno != EEXIST && snprintf(err, sizeof err, "%s: %s", o.svg, strerror(errno)) > 0) ||
        (o.svg && !err[0] && tune_svg_dir(o.svg, &rep, err, sizeof err) < 0) ||
        (o.html && tune_write(o.html, tune_write_html, &rep, err, sizeof err) < 0)) {
        fail(o.json, 1, "%s", err);
        goto out;
    }
    rc = 0;
    if (o.json) tune_report_json(stdout, &rep);
    else if (!o.ini || strcmp(o.ini, "-")) tune_report_text(stdout, &rep);
    fprintf(stderr, "tune: %" PRIu64 " lines, %" PRIu64 " events, %" PRIu64 " senders cut to their last %d bytes, %" PRIu64
                    " sizes capped\n", ds.lines, ds.events, ds.long_senders, SG_EV_SENDER_MAX - 1, ds.capped_size);
out:
    free(live);
    tune_whatifs_free(&wi);
    tune_whatifs_free(&lw.w);
    throttle_sim_destroy(&lw.sim);
    tune_destroy(&p.tune);
    agent_parts_release(&parts);
early:
    throttle_config_release(&o.limits);
    throttle_config_release(&lw.cfg);
    return rc;
}
