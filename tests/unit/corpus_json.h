/* corpus_json.h: a small reader for the handful of JSON fields the corpus tests need (test code only:
 * the records are our own files or the external corpus, read whole, one object a line). Strings come
 * back as new unescaped copies (the caller frees them); json_get returns a pointer into the object. */
#ifndef SG_TESTS_CORPUS_JSON_H
#define SG_TESTS_CORPUS_JSON_H

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "agent/util.h"

static const char *skip_ws(const char *p)
{
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') p++;
    return p;
}

static void put_utf8(char **o, unsigned cp)
{
    char *q = *o;
    if (cp < 0x80) *q++ = (char)cp;
    else if (cp < 0x800) { *q++ = (char)(0xc0 | cp >> 6); *q++ = (char)(0x80 | (cp & 0x3f)); }
    else if (cp < 0x10000) {
        *q++ = (char)(0xe0 | cp >> 12); *q++ = (char)(0x80 | ((cp >> 6) & 0x3f)); *q++ = (char)(0x80 | (cp & 0x3f));
    } else {
        *q++ = (char)(0xf0 | cp >> 18); *q++ = (char)(0x80 | ((cp >> 12) & 0x3f));
        *q++ = (char)(0x80 | ((cp >> 6) & 0x3f)); *q++ = (char)(0x80 | (cp & 0x3f));
    }
    *o = q;
}

/* Parses the string at p (on its opening quote); returns a new unescaped copy, *end after the quote. */
static char *json_string(const char *p, const char **end)
{
    char *out = sg_xmalloc(strlen(p) + 1), *o = out;
    p++;
    while (*p && *p != '"') {
        if (*p != '\\') { *o++ = *p++; continue; }
        p++;
        switch (*p) {
        case 'n': *o++ = '\n'; break;
        case 't': *o++ = '\t'; break;
        case 'r': *o++ = '\r'; break;
        case 'b': *o++ = '\b'; break;
        case 'f': *o++ = '\f'; break;
        case 'u': {
            unsigned cp = (unsigned)strtoul((char[]){p[1], p[2], p[3], p[4], 0}, NULL, 16);
            p += 4;
            if (cp >= 0xd800 && cp < 0xdc00 && p[1] == '\\' && p[2] == 'u') {
                unsigned lo = (unsigned)strtoul((char[]){p[3], p[4], p[5], p[6], 0}, NULL, 16);
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                p += 6;
            }
            put_utf8(&o, cp);
            break;
        }
        default: *o++ = *p; break;   /* \" \\ \/ */
        }
        if (*p) p++;
    }
    *o = '\0';
    *end = *p ? p + 1 : p;
    return out;
}

/* Skips any JSON value. */
static const char *skip_value(const char *p)
{
    p = skip_ws(p);
    if (*p == '"') {
        for (p++; *p && *p != '"'; p++)
            if (*p == '\\' && p[1]) p++;
        return *p ? p + 1 : p;
    }
    if (*p == '{' || *p == '[') {
        int depth = 0;
        for (; *p; p++) {
            if (*p == '"') { p = skip_value(p) - 1; continue; }
            if (*p == '{' || *p == '[') depth++;
            else if ((*p == '}' || *p == ']') && --depth == 0) return p + 1;
        }
        return p;
    }
    while (*p && *p != ',' && *p != '}' && *p != ']') p++;
    return p;
}

/* The value of key in the object at obj (top level of that object only), or NULL. */
static const char *json_get(const char *obj, const char *key)
{
    const char *p = skip_ws(obj);
    if (*p != '{') return NULL;
    p++;
    for (;;) {
        p = skip_ws(p);
        if (*p != '"') return NULL;
        const char *ke;
        char *k = json_string(p, &ke);
        p = skip_ws(ke);
        if (*p != ':') { free(k); return NULL; }
        p = skip_ws(p + 1);
        bool hit = !strcmp(k, key);
        free(k);
        if (hit) return p;
        p = skip_ws(skip_value(p));
        if (*p != ',') return NULL;
        p++;
    }
}

static char *get_str(const char *obj, const char *key)
{
    const char *v = json_get(obj, key), *e;
    return (v && *v == '"') ? json_string(v, &e) : NULL;
}

#endif
