/* text.c: clean-text checks and escaping for attacker-chosen strings (see text.h). */
#include "common/text.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

size_t sg_utf8_len(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    if (p[0] < 0x80) return 1;
    size_t n = (p[0] & 0xe0) == 0xc0 ? 2 : (p[0] & 0xf0) == 0xe0 ? 3 : (p[0] & 0xf8) == 0xf0 ? 4 : 0;
    if (!n || p[0] < 0xc2 || p[0] > 0xf4) return 0;
    for (size_t i = 1; i < n; i++)
        if ((p[i] & 0xc0) != 0x80) return 0;   /* also stops at the NUL */
    /* Overlong 3- and 4-byte forms, UTF-16 surrogates, and code points past U+10FFFF. */
    if (n == 3 && p[0] == 0xe0 && p[1] < 0xa0) return 0;
    if (n == 3 && p[0] == 0xed && p[1] >= 0xa0) return 0;
    if (n == 4 && p[0] == 0xf0 && p[1] < 0x90) return 0;
    if (n == 4 && p[0] == 0xf4 && p[1] >= 0x90) return 0;
    return n;
}

/* Length of the clean character at s (within n bytes), 0 when it is a control or not UTF-8. */
static size_t clean_char(const char *s, size_t n)
{
    unsigned char c = (unsigned char)s[0];
    if (c < 0x20 || c == 0x7f) return 0;
    if (c < 0x80) return 1;
    /* sg_utf8_len stops at a NUL; a byte string may be cut before the sequence ends. */
    char buf[5] = {0};
    memcpy(buf, s, n < 4 ? n : 4);
    size_t k = sg_utf8_len(buf);
    if (k == 2 && c == 0xc2 && (unsigned char)s[1] < 0xa0) return 0;   /* C1 controls */
    return k;
}

bool sg_text_clean(const char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        size_t k = clean_char(s + i, n - i);
        if (k == 0) return false;
        i += k;
    }
    return true;
}

char *sg_text_escape(const char *s, char *out, size_t size)
{
    size_t o = 0, n = strlen(s);
    for (size_t i = 0; i < n;) {
        size_t k = clean_char(s + i, n - i);
        char esc[5];
        const char *piece = s + i;
        size_t plen = k;
        if (k == 0) {
            snprintf(esc, sizeof esc, "\\x%02x", (unsigned char)s[i]);
            piece = esc;
            plen = 4;
            k = 1;
        } else if (s[i] == '\\') {
            piece = "\\\\";
            plen = 2;
        }
        if (o + plen + 1 > size) break;
        memcpy(out + o, piece, plen);
        o += plen;
        i += k;
    }
    out[o] = '\0';
    return out;
}
