/* prom.c: the Prometheus text exposition writer (see prom.h). */
#include "agent/prom.h"
#include "common/text.h"

#include <inttypes.h>
#include <stdarg.h>
#include <string.h>

#define PROM_LABELS_MAX 2048   /* bytes of one rendered label set */
#define PROM_VALUE_MAX 512     /* bytes of one escaped label value */

static bool name_char(char c, bool first, bool colon)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon && c == ':') ||
           (!first && c >= '0' && c <= '9');
}

static bool name_ok(const char *s, bool colon)
{
    if (!s || !*s) return false;
    for (const char *p = s; *p; p++)
        if (!name_char(*p, p == s, colon)) return false;
    return true;
}

bool prom_metric_name_ok(const char *name)
{
    return name_ok(name, true);
}

bool prom_label_name_ok(const char *name)
{
    return name_ok(name, false) && strncmp(name, "__", 2) != 0;
}

char *prom_escape(const char *value, char *out, size_t size)
{
    size_t o = 0;
    const char *p = value;
    while (*p) {
        char rep[4];
        size_t n = 1;
        const char *src = rep;
        unsigned char c = (unsigned char)*p;
        size_t u = sg_utf8_len(p);
        if (c == '\\' || c == '"') { rep[0] = '\\'; rep[1] = (char)c; n = 2; }
        else if (c == '\n') { rep[0] = '\\'; rep[1] = 'n'; n = 2; }
        else if (!u) rep[0] = '?';                      /* not UTF-8: one '?' per byte */
        else if (!sg_text_clean(p, u)) rep[0] = '?';    /* a control character: one '?' for it */
        else { src = p; n = u; }
        if (o + n >= size) break;
        memcpy(out + o, src, n);
        o += n;
        p += u ? u : 1;
    }
    out[o] = '\0';
    return out;
}

/* Renders "{a="x",b="y"}" (or "" without labels) into buf, with extra (a name, a value already
 * safe) last. -1 for a bad label name, a NULL value or an overflow. */
static int labels(char *buf, size_t size, va_list ap, const char *extra_name, const char *extra_value)
{
    size_t o = 0;
    bool ended = false;   /* the NULL ending the pairs was read: read no further */
    buf[0] = '\0';
    for (;;) {
        const char *k = ended ? NULL : va_arg(ap, const char *);
        const char *v;
        if (!k) ended = true;
        char esc[PROM_VALUE_MAX];
        if (k) {
            v = va_arg(ap, const char *);
            if (!v || !prom_label_name_ok(k)) return -1;
            prom_escape(v, esc, sizeof esc);
            v = esc;
        } else if (extra_name) {
            k = extra_name;
            v = extra_value;
            extra_name = NULL;
        } else break;
        int n = snprintf(buf + o, size - o, "%s%s=\"%s\"", o ? "," : "{", k, v);
        if (n < 0 || (size_t)n >= size - o) return -1;
        o += (size_t)n;
    }
    if (o) {
        if (o + 2 > size) return -1;
        buf[o++] = '}';
        buf[o] = '\0';
    }
    return 0;
}

int prom_family(FILE *f, const char *name, enum prom_type type, const char *help)
{
    static const char *const types[] = {[PROM_COUNTER] = "counter", [PROM_GAUGE] = "gauge",
                                        [PROM_HISTOGRAM] = "histogram"};
    if (!prom_metric_name_ok(name) || (unsigned)type > PROM_HISTOGRAM) return -1;
    fprintf(f, "# HELP %s ", name);
    for (const char *p = help ? help : ""; *p; p++) {   /* HELP escapes backslash and line feed only */
        if (*p == '\\') fputs("\\\\", f);
        else if (*p == '\n') fputs("\\n", f);
        else fputc(*p, f);
    }
    fprintf(f, "\n# TYPE %s %s\n", name, types[type]);
    return 0;
}

/* Go's strconv.ParseFloat reads these, and "+Inf"/"-Inf"/"NaN" are the format's own spellings. */
static void fmt_f64(double v, char *buf, size_t size)
{
    if (v != v) snprintf(buf, size, "NaN");
    else if (v > 1.7976931348623157e308) snprintf(buf, size, "+Inf");
    else if (v < -1.7976931348623157e308) snprintf(buf, size, "-Inf");
    else snprintf(buf, size, "%.15g", v);
}

/* One sample line with its value already as text; the labels from ap. */
static int sample(FILE *f, const char *name, const char *value, va_list ap)
{
    char lb[PROM_LABELS_MAX];
    if (labels(lb, sizeof lb, ap, NULL, NULL) < 0 || !prom_metric_name_ok(name)) return -1;
    fprintf(f, "%s%s %s\n", name, lb, value);
    return 0;
}

int prom_u64(FILE *f, const char *name, uint64_t value, ...)
{
    char v[32];
    snprintf(v, sizeof v, "%" PRIu64, value);
    va_list ap;
    va_start(ap, value);
    int rc = sample(f, name, v, ap);
    va_end(ap);
    return rc;
}

int prom_f64(FILE *f, const char *name, double value, ...)
{
    char v[64];
    fmt_f64(value, v, sizeof v);
    va_list ap;
    va_start(ap, value);
    int rc = sample(f, name, v, ap);
    va_end(ap);
    return rc;
}

int prom_one_u64(FILE *f, const char *name, enum prom_type type, const char *help, uint64_t value)
{
    return prom_family(f, name, type, help) < 0 ? -1 : prom_u64(f, name, value, PROM_END);
}

int prom_one_f64(FILE *f, const char *name, enum prom_type type, const char *help, double value)
{
    return prom_family(f, name, type, help) < 0 ? -1 : prom_f64(f, name, value, PROM_END);
}

int prom_by(FILE *f, const char *name, enum prom_type type, const char *help, const char *label, size_t n,
            const char *const *names, const uint64_t *values)
{
    if (prom_family(f, name, type, help) < 0) return -1;
    for (size_t i = 0; i < n; i++)
        if (prom_u64(f, name, values[i], label, names[i], PROM_END) < 0) return -1;
    return 0;
}

int prom_hist(FILE *f, const char *name, const struct sg_hist *h, ...)
{
    if (!prom_metric_name_ok(name)) return -1;
    char lb[SG_HIST_BUCKETS + 1][PROM_LABELS_MAX / 2], plain[PROM_LABELS_MAX / 2];
    /* Every label set first, so that an error writes nothing. */
    for (size_t i = 0; i <= SG_HIST_BUCKETS + 1; i++) {
        char le[32];
        if (i < SG_HIST_BUCKETS) snprintf(le, sizeof le, "%g", sg_hist_bounds[i]);
        else snprintf(le, sizeof le, "+Inf");
        va_list ap;
        va_start(ap, h);
        int rc = i <= SG_HIST_BUCKETS ? labels(lb[i], sizeof lb[i], ap, "le", le) : labels(plain, sizeof plain, ap, NULL, NULL);
        va_end(ap);
        if (rc < 0) return -1;
    }
    uint64_t cum = 0;
    for (size_t i = 0; i < SG_HIST_BUCKETS; i++) {
        cum += h->bucket[i];
        fprintf(f, "%s_bucket%s %" PRIu64 "\n", name, lb[i], cum);
    }
    fprintf(f, "%s_bucket%s %" PRIu64 "\n", name, lb[SG_HIST_BUCKETS], h->count);
    char sum[64];
    fmt_f64(h->sum, sum, sizeof sum);
    fprintf(f, "%s_sum%s %s\n", name, plain, sum);
    fprintf(f, "%s_count%s %" PRIu64 "\n", name, plain, h->count);
    return 0;
}
