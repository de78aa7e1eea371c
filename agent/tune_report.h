/* tune_report.h: what `sgcluster tune` prints: a readable report, an INI snippet for scenarios.d,
 * JSON, and the pictures (one SVG histogram per measure with the proposed cut, or one HTML page). */
#ifndef SG_AGENT_TUNE_REPORT_H
#define SG_AGENT_TUNE_REPORT_H

#include <stdio.h>

#include "agent/tune.h"
#include "agent/tune_whatif.h"

/* Everything a report shows; every pointer borrowed. whatif is NULL when no what-if was run. */
struct tune_report {
    const struct tune *tune;
    const struct tune_rule *rule;
    const struct tune_whatifs *whatif;         /* the scenario engine's decisions */
    const struct tune_whatifs *limits_whatif;  /* the sending limits' tiers, grouped "limit.NAME" x tier */
    uint64_t lines;
    size_t top;             /* keys listed per what-if in the text report */
    const char *live;       /* NULL, or a line about the cluster's counters (--live), already written */
    const struct throttle_config *configured;   /* the configuration's own limits (may be NULL) */
};

void tune_report_text(FILE *out, const struct tune_report *r);
/* [scenario ID] sections setting only threshold, and a [throttle] section with every limit's
 * proposed spec, with the reason and the what-if as comments. A limit the configuration already
 * defines cannot be defined again in a scenario file: its line is written commented out, to be
 * replaced in the configuration's [throttle] section; the others are live lines. */
void tune_report_ini(FILE *out, const struct tune_report *r);
void tune_report_json(FILE *out, const struct tune_report *r);

/* One SVG histogram of measure m (legitimate and attackers side by side, log count scale, the
 * proposed cut as a red line). */
void tune_svg_measure(FILE *out, const struct tune_measure *m);
/* Writes DIR/NAME.svg for every measure with data. Returns 0, or -1 with "PATH: reason" in err when a
 * file fails. */
int tune_svg_dir(const char *dir, const struct tune_report *r, char *err, size_t errlen);
/* One HTML page (tune_write_html): the report, then every measure's picture. */

/* Writes path ("-" = standard output) with fn(out, arg). Returns 0, or -1 with "PATH: reason" in err
 * when the file cannot be opened or written. */
int tune_write(const char *path, void (*fn)(FILE *out, const void *arg), const void *arg, char *err, size_t errlen);
/* The writers above in tune_write's shape (arg: the struct tune_report). */
void tune_write_ini(FILE *out, const void *report);
void tune_write_html(FILE *out, const void *report);

/* "10m", "2h", "45s": the largest unit that divides s. */
const char *tune_fmt_duration(int64_t s, char *buf, size_t size);

#endif
