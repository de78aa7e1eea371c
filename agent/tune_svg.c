/* tune_svg.c: the pictures of `sgcluster tune`: one small hand-written SVG histogram per measure, the
 * proposed cut marked, alone in a directory or inline in one HTML page. */
#include "agent/tune_report.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { W = 640, H = 260, L = 56, R = 16, T = 34, B = 46 };

/* Text for SVG/HTML: the five characters XML reserves, escaped; names are ours (ids, labels). */
static void xml(FILE *out, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '<': fputs("&lt;", out); break;
        case '>': fputs("&gt;", out); break;
        case '&': fputs("&amp;", out); break;
        case '"': fputs("&quot;", out); break;
        case '\'': fputs("&#39;", out); break;
        default: fputc(*s, out);
        }
    }
}

static double ylog(uint64_t c, uint64_t top)
{
    return c ? log10((double)c + 1) / log10((double)top + 1) : 0;
}

void tune_svg_measure(FILE *out, const struct tune_measure *m)
{
    uint64_t max = m->legit.max > m->attack.max ? m->legit.max : m->attack.max;
    if (m->proposed && (uint64_t)m->prop.threshold > max) max = (uint64_t)m->prop.threshold;
    uint64_t lo[TUNE_BINS_MAX], cl[TUNE_BINS_MAX] = {0}, ca[TUNE_BINS_MAX] = {0}, top = 1;
    size_t nb = tune_bins(max, lo);
    for (size_t i = 0; i < m->legit.n; i++)
        if (m->legit.v[i]) cl[tune_bin_of(lo, nb, m->legit.v[i])]++;
    for (size_t i = 0; i < m->attack.n; i++)
        if (m->attack.v[i]) ca[tune_bin_of(lo, nb, m->attack.v[i])]++;
    for (size_t i = 0; i < nb; i++) {
        if (cl[i] > top) top = cl[i];
        if (ca[i] > top) top = ca[i];
    }
    double pw = W - L - R, ph = H - T - B, bw = nb ? pw / (double)nb : pw;
    fprintf(out, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
                 "font-family=\"sans-serif\" font-size=\"11\">\n", W, H, W, H);
    fprintf(out, "<rect width=\"%d\" height=\"%d\" fill=\"#fff\"/>\n<text x=\"%d\" y=\"16\" font-size=\"13\" font-weight=\"bold\">", W, H, L);
    xml(out, m->name);
    if (m->proposed) fprintf(out, ": proposed %" PRId64 " (now %" PRId64 ")", m->prop.threshold, m->current);
    fputs("</text>\n", out);
    /* Axes, and the count scale (log: a handful of attackers must show beside thousands of users). */
    fprintf(out, "<path d=\"M%d %d V%d H%d\" stroke=\"#333\" fill=\"none\"/>\n", L, T, H - B, W - R);
    for (uint64_t c = 1; c <= top; c *= 10) {
        double y = (H - B) - ylog(c, top) * ph;
        fprintf(out, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%" PRIu64 "</text>"
                     "<path d=\"M%d %.1f H%d\" stroke=\"#ddd\"/>\n", L - 4, y + 4, c, L, y, W - R);
        if (c > UINT64_MAX / 10) break;
    }
    for (size_t i = 0; i < nb; i++) {
        double x = L + bw * (double)i;
        if (cl[i]) fprintf(out, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#4a7ab5\"><title>%" PRIu64 " %s</title></rect>\n",
                           x + 1, (H - B) - ylog(cl[i], top) * ph, bw / 2 - 1, ylog(cl[i], top) * ph, cl[i], m->legit_label);
        if (ca[i]) fprintf(out, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#d9822b\"><title>%" PRIu64 " %s</title></rect>\n",
                           x + bw / 2, (H - B) - ylog(ca[i], top) * ph, bw / 2 - 1, ylog(ca[i], top) * ph, ca[i], m->attack_label);
        size_t every = nb > 20 ? (nb + 19) / 20 : 1;
        if (i % every == 0)
            fprintf(out, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%" PRIu64 "</text>\n", x + bw / 2, H - B + 14, lo[i]);
    }
    if (m->proposed && nb) {
        /* The cut sits at the left edge of the threshold's bin (values at or above it trigger),
         * plus its place inside a wider bin. */
        uint64_t thr = (uint64_t)m->prop.threshold;
        size_t k = tune_bin_of(lo, nb, thr);
        uint64_t hi = k + 1 < nb ? lo[k + 1] : max + 1;
        double x = L + bw * ((double)k + (hi > lo[k] ? (double)(thr - lo[k]) / (double)(hi - lo[k]) : 0));
        fprintf(out, "<path d=\"M%.1f %d V%d\" stroke=\"#c00\" stroke-width=\"2\" stroke-dasharray=\"5 3\"/>"
                     "<text x=\"%.1f\" y=\"%d\" fill=\"#c00\">cut %" PRIu64 "</text>\n", x, T - 6, H - B, x + 4, T + 6, thr);
    }
    fprintf(out, "<text x=\"%d\" y=\"%d\">value per subject (", L, H - 12);
    xml(out, m->what);
    fputs(")</text>\n", out);
    fprintf(out, "<rect x=\"%d\" y=\"22\" width=\"10\" height=\"8\" fill=\"#4a7ab5\"/><text x=\"%d\" y=\"30\">", W - 250, W - 236);
    xml(out, m->legit_label);
    fputs("</text>\n", out);
    if (m->attack_label) {
        fprintf(out, "<rect x=\"%d\" y=\"36\" width=\"10\" height=\"8\" fill=\"#d9822b\"/><text x=\"%d\" y=\"44\">", W - 250, W - 236);
        xml(out, m->attack_label);
        fputs("</text>\n", out);
    }
    fputs("</svg>\n", out);
}

int tune_write(const char *path, void (*fn)(FILE *out, const void *arg), const void *arg, char *err, size_t errlen)
{
    if (!strcmp(path, "-")) {
        fn(stdout, arg);
        return 0;
    }
    FILE *f = fopen(path, "w");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    fn(f, arg);
    if (fclose(f) != 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

static void write_svg(FILE *out, const void *m)
{
    tune_svg_measure(out, m);
}

int tune_svg_dir(const char *dir, const struct tune_report *r, char *err, size_t errlen)
{
    size_t n = tune_count(r->tune);
    for (size_t i = 0; i < n; i++) {
        const struct tune_measure *m = tune_get(r->tune, i);
        if (!m->legit.n && !m->attack.n) continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s.svg", dir, m->name);
        if (tune_write(path, write_svg, m, err, errlen) < 0) return -1;
    }
    return 0;
}

void tune_write_html(FILE *f, const void *report)
{
    const struct tune_report *r = report;
    fputs("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>sgcluster tune</title>\n"
          "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}pre{background:#f4f4f4;padding:1em;overflow:auto}"
          "table{border-collapse:collapse}td,th{padding:2px 8px;text-align:right}</style></head><body>\n"
          "<h1>sgcluster tune</h1>\n<pre>", f);
    /* The text report, escaped, on top: the numbers beside the pictures. */
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&buf, &len);
    if (mem) {
        tune_report_text(mem, r);
        fclose(mem);
        xml(f, buf);
        free(buf);
    }
    fputs("</pre>\n", f);
    size_t n = tune_count(r->tune);
    for (size_t i = 0; i < n; i++) {
        const struct tune_measure *m = tune_get(r->tune, i);
        if (!m->legit.n && !m->attack.n) continue;
        fputs("<h2>", f);
        xml(f, m->name);
        fputs("</h2>\n", f);
        tune_svg_measure(f, m);
    }
    fputs("</body></html>\n", f);
}
