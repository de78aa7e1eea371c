/* json.c: JSON string escaping for CLI and control socket output. */
#include "agent/json.h"
#include "common/text.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

void json_str(FILE *out, const char *s)
{
    if (!s) { fputs("null", out); return; }
    fputc('"', out);
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        size_t n = sg_utf8_len((const char *)p);
        if (n == 0) { fprintf(out, "\\u%04x", *p++); continue; }
        /* C1 controls (U+0080-U+009F) are valid UTF-8 but some terminals obey them: escaped too. */
        if (n == 2 && p[0] == 0xc2 && p[1] < 0xa0) { fprintf(out, "\\u%04x", p[1]); p += 2; continue; }
        if (n > 1) { fwrite(p, 1, n, out); p += n; continue; }
        switch (*p) {
        case '"': fputs("\\\"", out); break;
        case '\\': fputs("\\\\", out); break;
        case '\n': fputs("\\n", out); break;
        case '\r': fputs("\\r", out); break;
        case '\t': fputs("\\t", out); break;
        default:
            if (*p < 0x20 || *p == 0x7f) fprintf(out, "\\u%04x", *p);
            else fputc(*p, out);
        }
        p++;
    }
    fputc('"', out);
}

void json_error(FILE *out, int code, const char *msg)
{
    size_t n = msg ? strlen(msg) : 0;
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == ' ')) n--;
    char *m = malloc(n + 1);
    if (!m) { fputs("{\"error\":\"out of memory\"}\n", out); return; }
    memcpy(m, msg ? msg : "", n);
    m[n] = '\0';
    fputs("{\"error\":", out);
    json_str(out, m);
    fprintf(out, ",\"code\":%d}\n", code);
    free(m);
}

void json_errorf(FILE *out, int code, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    json_error(out, code, buf);
}
