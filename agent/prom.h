/* prom.h: the Prometheus text exposition format (version 0.0.4): metric families with their HELP
 * and TYPE lines, samples with labels, and histograms. Label values may come from outside (a log
 * path, a service a rule named, a peer's name): they are escaped as the format requires, and any
 * byte that is not clean UTF-8 text is written as '?'. Names are ours and are checked, never escaped. */
#ifndef SG_AGENT_PROM_H
#define SG_AGENT_PROM_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "common/hist.h"

#define PROM_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

enum prom_type { PROM_COUNTER, PROM_GAUGE, PROM_HISTOGRAM };

/* Ends the label pairs of prom_u64, prom_f64 and prom_hist: a typed null pointer (a bare NULL
 * may be a plain 0 in a variadic call). */
#define PROM_END ((const char *)NULL)

/* True for a metric name ([a-zA-Z_:][a-zA-Z0-9_:]*) and a label name ([a-zA-Z_][a-zA-Z0-9_]*, not
 * starting with "__", which Prometheus reserves). */
bool prom_metric_name_ok(const char *name);
bool prom_label_name_ok(const char *name);

/* Writes value into out (size > 0, always NUL-terminated) escaped for a label value: backslash,
 * double quote and line feed as \\, \" and \n; other control characters and bytes that are not
 * well-formed UTF-8 as '?'. Output that does not fit is cut at a character boundary. Returns out. */
char *prom_escape(const char *value, char *out, size_t size);

/* Starts a family: "# HELP name help" and "# TYPE name type". Every sample of the family must
 * follow before the next family starts. Returns 0, or -1 (nothing written) for a bad name. */
int prom_family(FILE *f, const char *name, enum prom_type type, const char *help);

/* One sample of a counter or gauge: name{label="value",...} value. The variable arguments are
 * label name, label value pairs (const char *), ended by PROM_END. Returns 0, or -1 (nothing written)
 * for a bad metric or label name or a NULL value. */
int prom_u64(FILE *f, const char *name, uint64_t value, ...) __attribute__((sentinel));
int prom_f64(FILE *f, const char *name, double value, ...) __attribute__((sentinel));
/* A family of one sample without labels: prom_family, then prom_u64 or prom_f64. */
int prom_one_u64(FILE *f, const char *name, enum prom_type type, const char *help, uint64_t value);
int prom_one_f64(FILE *f, const char *name, enum prom_type type, const char *help, double value);
/* A family whose samples differ by one label: label = names[i], value values[i], for i < n. */
int prom_by(FILE *f, const char *name, enum prom_type type, const char *help, const char *label, size_t n,
            const char *const *names, const uint64_t *values);
/* The samples of one histogram: name_bucket{...,le="B"} (cumulative, then le="+Inf"), name_sum and
 * name_count, with the labels as above. */
int prom_hist(FILE *f, const char *name, const struct sg_hist *h, ...) __attribute__((sentinel));

#endif
