/* tune_report.c: the readable report, the scenarios.d snippet and the JSON of `sgcluster tune`. */
#include "agent/tune_report.h"
#include "agent/json.h"
#include "enforce/throttle.h"
#include "common/text.h"

#include <inttypes.h>
#include <string.h>
#include <time.h>

const char *tune_fmt_duration(int64_t s, char *buf, size_t size)
{
    if (s > 0 && s % 86400 == 0) snprintf(buf, size, "%" PRId64 "d", s / 86400);
    else if (s > 0 && s % 3600 == 0) snprintf(buf, size, "%" PRId64 "h", s / 3600);
    else if (s > 0 && s % 60 == 0) snprintf(buf, size, "%" PRId64 "m", s / 60);
    else snprintf(buf, size, "%" PRId64 "s", s);
    return buf;
}

static const char *fmt_time(int64_t ms, char *buf, size_t size)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

static const char *const measure_words[] = {"events", "recipients", "distinct users", "distinct addresses"};

static void print_rule(FILE *out, const struct tune_rule *rule, const char *prefix)
{
    fprintf(out, "%srule: threshold = max(%" PRIu64 ", floor(q%g of the legitimate population x %g) + 1),\n"
                 "%s      checked against the attackers' median (a subject triggers at value >= threshold)\n",
            prefix, rule->floor, rule->q * 100, rule->margin, prefix);
}

static void dist_row(FILE *out, const char *name, const char *label, const struct tune_dist *d)
{
    fprintf(out, "%-36s %-30s %8zu %7" PRIu64 " %7" PRIu64 " %7" PRIu64 " %7" PRIu64 " %7" PRIu64 "\n", name, label,
            d->n, d->p50, d->p90, d->p99, d->p999, d->max);
}

static void print_hits(FILE *out, const struct tune_whatif *w, size_t top, const char *prefix)
{
    for (size_t i = 0; i < w->n && i < top; i++) {
        char esc[2 * GOSSIP_KEY_MAX];
        fprintf(out, "%s%s", i ? ", " : prefix, sg_text_escape(w->hits[i].key, esc, sizeof esc));
        if (w->hits[i].decisions > 1) fprintf(out, " (x%" PRIu32 ")", w->hits[i].decisions);
    }
    if (w->n > top) fprintf(out, ", ... %zu more", w->n - top);
    if (w->n) fputc('\n', out);
}

/* The what-if group of limit m at tier t, or NULL. */
static const struct tune_whatif *limit_whatif(const struct tune_report *r, const struct tune_measure *m, enum throttle_tier t)
{
    char name[THROTTLE_NAME_MAX + 8];
    snprintf(name, sizeof name, "limit.%s", m->limit->name);
    return r->limits_whatif ? tune_whatifs_find(r->limits_whatif, name, throttle_tier_name(t)) : NULL;
}

static void limit_tiers(FILE *out, const struct tune_report *r, const struct tune_measure *m)
{
    for (int t = THROTTLE_WARN; t < THROTTLE_TIER_COUNT; t++) {
        if (!m->limit->pct[t]) continue;
        const struct tune_whatif *w = limit_whatif(r, m, (enum throttle_tier)t);
        fprintf(out, " %s %zu", throttle_tier_name((enum throttle_tier)t), w ? w->n : 0);
    }
}

static void limits_text(FILE *out, const struct tune_report *r)
{
    size_t n = tune_count(r->tune);
    bool head = false;
    for (size_t i = 0; i < n; i++) {
        const struct tune_measure *m = tune_get(r->tune, i);
        if (!m->limit) continue;
        if (!head) fprintf(out, "\n%-16s %8s %8s %9s %-12s %s\n", "LIMIT", "CURRENT", "PROPOSED", "LEGIT-Q", "VERDICT",
                           "WHAT-IF (subjects per tier)");
        head = true;
        fprintf(out, "%-16s %8" PRId64 " %8" PRId64 " %9" PRIu64 "  %-12s", m->limit->name, m->current, m->prop.threshold,
                m->prop.legit_q, tune_verdict_name(m->prop.verdict));
        if (r->limits_whatif) limit_tiers(out, r, m);
        char spec[THROTTLE_SPEC_MAX];
        if (throttle_limit_format(&m->proposed_limit, spec, sizeof spec) == 0) fprintf(out, "\n    proposed: %s", spec);
        fputc('\n', out);
        for (int t = THROTTLE_WARN; t < THROTTLE_TIER_COUNT; t++) {
            const struct tune_whatif *w = limit_whatif(r, m, (enum throttle_tier)t);
            if (!w) continue;
            fprintf(out, "    %s:", throttle_tier_name((enum throttle_tier)t));
            print_hits(out, w, r->top, " ");
        }
    }
}

void tune_report_text(FILE *out, const struct tune_report *r)
{
    int64_t first, last;
    uint64_t events;
    char a[32], b[32], d[32];
    tune_period(r->tune, &first, &last, &events);
    fprintf(out, "sgcluster tune: %" PRIu64 " lines, %" PRIu64 " events, %s .. %s\n", r->lines, events,
            fmt_time(first, a, sizeof a), fmt_time(last, b, sizeof b));
    print_rule(out, r->rule, "");
    fprintf(out, "\n%-36s %-30s %8s %7s %7s %7s %7s %7s\n", "MEASURE", "POPULATION", "N", "P50", "P90", "P99", "P99.9", "MAX");
    size_t n = tune_count(r->tune);
    for (size_t i = 0; i < n; i++) {
        const struct tune_measure *m = tune_get(r->tune, i);
        dist_row(out, m->name, m->legit_label, &m->legit);
        if (m->attack_label) dist_row(out, "", m->attack_label, &m->attack);
    }
    fprintf(out, "\n%-16s %-24s %8s %8s %9s %9s %-12s %s\n", "SCENARIO", "COUNTS", "CURRENT", "PROPOSED", "LEGIT-Q", "ATTACK-P50",
            "VERDICT", "WHAT-IF");
    for (size_t i = 0; i < n; i++) {
        const struct tune_measure *m = tune_get(r->tune, i);
        if (!m->sc) continue;
        char counts[64];
        snprintf(counts, sizeof counts, "%s/%s", measure_words[m->sc->measure], tune_fmt_duration(m->sc->window_s, d, sizeof d));
        const struct tune_whatif *w = r->whatif ? tune_whatifs_find(r->whatif, m->sc->id, NULL) : NULL;
        char what[64];
        if (!r->whatif) snprintf(what, sizeof what, "-");
        else snprintf(what, sizeof what, "%s %zu", scenario_action_name(m->sc->action), w ? w->n : 0);
        fprintf(out, "%-16s %-24s %8" PRId64 " %8" PRId64 " %9" PRIu64 " %9" PRIu64 "  %-12s %s\n", m->sc->id, counts,
                m->sc->threshold, m->prop.threshold, m->prop.legit_q, m->prop.attack_p50, tune_verdict_name(m->prop.verdict), what);
        if (w) print_hits(out, w, r->top, "    ");
    }
    if (r->whatif)
        for (size_t i = 0; i < r->whatif->n; i++) {
            const struct tune_whatif *w = &r->whatif->v[i];
            bool scen = false;
            for (size_t k = 0; k < n && !scen; k++) scen = tune_get(r->tune, k)->sc && !strcmp(tune_get(r->tune, k)->sc->id, w->scenario);
            if (scen) continue;
            fprintf(out, "%-16s %-24s %8s %8s %9s %9s  %-12s %s %zu\n", w->scenario, "(built in)", "-", "-", "-", "-", "-", w->action, w->n);
            print_hits(out, w, r->top, "    ");
        }
    limits_text(out, r);
    if (r->live) fprintf(out, "\n%s", r->live);
}

void tune_report_ini(FILE *out, const struct tune_report *r)
{
    int64_t first, last;
    uint64_t events;
    char a[32], b[32];
    tune_period(r->tune, &first, &last, &events);
    fprintf(out, "; Proposed by sgcluster tune from %" PRIu64 " lines (%s .. %s).\n", r->lines, fmt_time(first, a, sizeof a),
            fmt_time(last, b, sizeof b));
    print_rule(out, r->rule, "; ");
    fprintf(out, "; Install after the shipped file (e.g. scenarios.d/50-tune.conf): it sets thresholds only.\n");
    size_t n = tune_count(r->tune);
    for (size_t i = 0; i < n; i++) {
        const struct tune_measure *m = tune_get(r->tune, i);
        if (!m->sc) continue;
        fprintf(out, "\n[scenario %s]\n; was %" PRId64 "; ", m->sc->id, m->sc->threshold);
        if (m->prop.verdict == TUNE_NO_DATA) fprintf(out, "no legitimate subject in the period: kept\n");
        else {
            fprintf(out, "q%g of %zu %s = %" PRIu64, r->rule->q * 100, m->legit.n, m->legit_label, m->prop.legit_q);
            if (m->attack.n) fprintf(out, "; median of %zu %s = %" PRIu64, m->attack.n, m->attack_label, m->prop.attack_p50);
            fprintf(out, ": %s\n", tune_verdict_name(m->prop.verdict));
        }
        const struct tune_whatif *w = r->whatif ? tune_whatifs_find(r->whatif, m->sc->id, NULL) : NULL;
        if (r->whatif) {
            fprintf(out, "; what-if: %s %zu\n", scenario_action_name(m->sc->action), w ? w->n : 0);
            if (w) print_hits(out, w, r->top, ";   ");
        }
        fprintf(out, "threshold = %" PRId64 "\n", m->prop.threshold);
    }
    bool head = false;
    for (size_t i = 0; i < n; i++) {
        const struct tune_measure *m = tune_get(r->tune, i);
        char spec[THROTTLE_SPEC_MAX], was[THROTTLE_SPEC_MAX];
        if (!m->limit || throttle_limit_format(&m->proposed_limit, spec, sizeof spec) < 0 ||
            throttle_limit_format(m->limit, was, sizeof was) < 0)
            continue;
        if (!head) fputs("\n[throttle]\n", out);
        head = true;
        fprintf(out, "; %s was: %s\n; %s fires at %" PRId64 " (was %" PRId64 "): ", m->limit->name, was,
                throttle_tier_name(tune_limit_tier(m->limit)), m->prop.threshold, m->current);
        if (m->prop.verdict == TUNE_NO_DATA) fprintf(out, "no data in the logs: kept\n");
        else fprintf(out, "q%g of %zu %s = %" PRIu64 "\n", r->rule->q * 100, m->legit.n, m->legit_label, m->prop.legit_q);
        if (r->limits_whatif) {
            fputs("; what-if:", out);
            limit_tiers(out, r, m);
            fputc('\n', out);
        }
        bool configured = false;
        for (size_t k = 0; r->configured && k < r->configured->nlimits && !configured; k++)
            configured = !strcmp(r->configured->limits[k].name, m->limit->name);
        if (configured) fputs("; defined in the configuration: replace it there with\n; ", out);
        fprintf(out, "limit.%s = %s\n", m->limit->name, spec);
    }
}

void tune_write_ini(FILE *out, const void *report)
{
    tune_report_ini(out, report);
}

static void json_dist(FILE *out, const char *label, const struct tune_dist *d)
{
    fputs("{\"population\":", out);
    json_str(out, label);
    fprintf(out, ",\"n\":%zu,\"p50\":%" PRIu64 ",\"p90\":%" PRIu64 ",\"p99\":%" PRIu64 ",\"p999\":%" PRIu64 ",\"max\":%" PRIu64 "}",
            d->n, d->p50, d->p90, d->p99, d->p999, d->max);
}

static void json_whatif(FILE *out, const struct tune_whatif *w, const char *action)
{
    fputs("{\"action\":", out);
    json_str(out, w ? w->action : action);
    fprintf(out, ",\"subjects\":%zu,\"decisions\":%" PRIu64 ",\"keys\":[", w ? w->n : 0, w ? w->decisions : 0);
    for (size_t i = 0; w && i < w->n; i++) {
        fputs(i ? ",{\"key\":" : "{\"key\":", out);
        json_str(out, w->hits[i].key);
        fprintf(out, ",\"decisions\":%" PRIu32 ",\"first_ms\":%" PRId64 "}", w->hits[i].decisions, w->hits[i].first_ms);
    }
    fputs("]}", out);
}

static void json_limit(FILE *out, const struct tune_report *r, const struct tune_measure *m)
{
    char spec[THROTTLE_SPEC_MAX], was[THROTTLE_SPEC_MAX];
    if (throttle_limit_format(m->limit, was, sizeof was) < 0) was[0] = 0;
    if (throttle_limit_format(&m->proposed_limit, spec, sizeof spec) < 0) spec[0] = 0;
    fputs(",\"limit\":{\"spec\":", out);
    json_str(out, was);
    fputs(",\"proposed_spec\":", out);
    json_str(out, spec);
    fprintf(out, ",\"tier\":\"%s\",\"current\":%" PRId64 ",\"proposed\":%" PRId64 ",\"legit_q\":%" PRIu64 ",\"verdict\":",
            throttle_tier_name(tune_limit_tier(m->limit)), m->current, m->prop.threshold, m->prop.legit_q);
    json_str(out, tune_verdict_name(m->prop.verdict));
    if (r->limits_whatif) {
        fputs(",\"whatif\":{", out);
        bool first = true;
        for (int t = THROTTLE_WARN; t < THROTTLE_TIER_COUNT; t++) {
            if (!m->limit->pct[t]) continue;
            fprintf(out, "%s\"%s\":", first ? "" : ",", throttle_tier_name((enum throttle_tier)t));
            first = false;
            json_whatif(out, limit_whatif(r, m, (enum throttle_tier)t), throttle_tier_name((enum throttle_tier)t));
        }
        fputc('}', out);
    }
    fputc('}', out);
}

void tune_report_json(FILE *out, const struct tune_report *r)
{
    int64_t first, last;
    uint64_t events;
    tune_period(r->tune, &first, &last, &events);
    fprintf(out, "{\"lines\":%" PRIu64 ",\"events\":%" PRIu64 ",\"first_ms\":%" PRId64 ",\"last_ms\":%" PRId64
                 ",\"rule\":{\"q\":%g,\"margin\":%g,\"floor\":%" PRIu64 "},\"measures\":[",
            r->lines, events, first, last, r->rule->q, r->rule->margin, r->rule->floor);
    size_t n = tune_count(r->tune);
    for (size_t i = 0; i < n; i++) {
        const struct tune_measure *m = tune_get(r->tune, i);
        fputs(i ? ",\n{\"name\":" : "\n{\"name\":", out);
        json_str(out, m->name);
        fputs(",\"what\":", out);
        json_str(out, m->what);
        fputs(",\"legit\":", out);
        json_dist(out, m->legit_label, &m->legit);
        fputs(",\"attack\":", out);
        if (m->attack_label) json_dist(out, m->attack_label, &m->attack);
        else fputs("null", out);
        if (m->limit) json_limit(out, r, m);
        if (m->sc) {
            fprintf(out, ",\"scenario\":{\"window_s\":%" PRId64 ",\"count\":", m->sc->window_s);
            json_str(out, measure_words[m->sc->measure]);
            fprintf(out, ",\"current\":%" PRId64 ",\"proposed\":%" PRId64 ",\"legit_q\":%" PRIu64 ",\"attack_p50\":%" PRIu64 ",\"verdict\":",
                    m->sc->threshold, m->prop.threshold, m->prop.legit_q, m->prop.attack_p50);
            json_str(out, tune_verdict_name(m->prop.verdict));
            if (r->whatif) {
                fputs(",\"whatif\":", out);
                json_whatif(out, tune_whatifs_find(r->whatif, m->sc->id, NULL), scenario_action_name(m->sc->action));
            }
            fputc('}', out);
        }
        fputc('}', out);
    }
    fputs("],\"whatif\":{", out);
    for (size_t i = 0; r->whatif && i < r->whatif->n; i++) {
        if (i) fputc(',', out);
        json_str(out, r->whatif->v[i].scenario);
        fputc(':', out);
        json_whatif(out, &r->whatif->v[i], NULL);
    }
    fputs("},\"live\":", out);
    json_str(out, r->live);   /* the --live lines, null without */
    fputs("}\n", out);
}
