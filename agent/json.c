/* json.c: JSON string escaping for CLI and control socket output. */
#include "agent/json.h"
#include "common/text.h"

#include <stddef.h>

void json_str(FILE *out, const char *s)
{
    if (!s) { fputs("null", out); return; }
    fputc('"', out);
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        size_t n = sg_utf8_len((const char *)p);
        if (n == 0) { fprintf(out, "\\u%04x", *p++); continue; }
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
