/* throttle_map.c: per-subject and per-class overrides of the sending limits and the throttle
 * allowlist, read from a plain-text map file (see throttle.h for the format). */
#include "enforce/throttle.h"
#include "agent/util.h"
#include "common/key.h"
#include "common/text.h"

#include <czmq.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAP_OVERRIDES_MAX 32     /* settings per entry */
#define MAP_LINE_MAX 4096
#define MAP_ENTRIES_MAX 1000000
#define CLASS_PFX "class:"

struct entry {
    bool allow;
    char cls[THROTTLE_NAME_MAX + 1];
    size_t n;
    struct throttle_override o[MAP_OVERRIDES_MAX];
};

struct throttle_map {
    zhashx_t *entries;           /* subject text or "class:NAME" -> struct entry (owned) */
};

static void entry_free(void **item)
{
    free(*item);
    *item = NULL;
}

throttle_map_t *throttle_map_new(void)
{
    throttle_map_t *m = sg_xcalloc(1, sizeof *m);
    m->entries = zhashx_new();
    if (!m->entries) sg_oom();
    zhashx_set_destructor(m->entries, entry_free);
    return m;
}

void throttle_map_destroy(throttle_map_t **mp)
{
    if (!mp || !*mp) return;
    zhashx_destroy(&(*mp)->entries);
    free(*mp);
    *mp = NULL;
}

size_t throttle_map_size(const throttle_map_t *m) { return zhashx_size(m->entries); }

static struct entry *entry_get(throttle_map_t *m, const char *name)
{
    struct entry *e = zhashx_lookup(m->entries, name);
    if (!e) {
        e = sg_xcalloc(1, sizeof *e);
        zhashx_insert(m->entries, name, e);
    }
    return e;
}

/* The canonical text of a subject ("user:U", "net:P"...), so lookups match what throttle_subject makes. */
static int canon_subject(const char *text, char *buf, size_t size)
{
    struct sg_subject s;
    return sg_subject_parse(text, &s) < 0 ? -1 : sg_subject_format(&s, buf, size);
}

int throttle_map_allow(throttle_map_t *m, const char *subject)
{
    char key[SG_KEY_MAX + 1];
    if (canon_subject(subject, key, sizeof key) < 0) return -1;
    entry_get(m, key)->allow = true;
    return 0;
}

static const struct entry *class_of(const throttle_map_t *m, const struct entry *e)
{
    char key[sizeof CLASS_PFX + THROTTLE_NAME_MAX];
    if (!e || !e->cls[0]) return NULL;
    snprintf(key, sizeof key, CLASS_PFX "%s", e->cls);
    return zhashx_lookup(m->entries, key);
}

bool throttle_map_allowed(const throttle_map_t *m, const char *subject)
{
    const struct entry *e = zhashx_lookup(m->entries, subject);
    if (!e) return false;
    const struct entry *c = class_of(m, e);
    return e->allow || (c && c->allow);
}

static const struct throttle_override *find_in(const struct entry *e, const char *limit)
{
    for (size_t i = 0; e && i < e->n; i++)
        if (!strcmp(e->o[i].limit, limit)) return &e->o[i];
    return NULL;
}

const struct throttle_override *throttle_map_find(const throttle_map_t *m, const char *subject, const char *limit)
{
    const struct entry *e = zhashx_lookup(m->entries, subject);
    if (!e) return NULL;
    const struct throttle_override *o = find_in(e, limit);
    return o ? o : find_in(class_of(m, e), limit);
}

/* Scales v by mul percent, at least 1. */
static uint64_t scaled(uint64_t v, uint64_t mul)
{
    long double x = (long double)v * (long double)mul / 100.0L;
    if (x < 1) return 1;
    if (x >= 1.8e19L) return UINT64_MAX / 1000;
    return (uint64_t)x;
}

bool throttle_limit_apply(const struct throttle_limit *l, const struct throttle_override *o,
                          struct throttle_limit *out)
{
    *out = *l;
    if (!o) return true;
    if (o->off) return false;
    if (o->value) {
        out->max = o->value;
        /* the refill keeps its pace relative to the burst */
        if (l->bucket) out->rate = scaled(l->rate, (uint64_t)((long double)o->value * 100.0L / (long double)l->max));
        return true;
    }
    out->max = scaled(l->max, o->mul);
    if (l->bucket) out->rate = scaled(l->rate, o->mul);
    return true;
}

/* "x2", "x0.5": percent; "N": a value. */
static int parse_setting_value(const char *v, struct throttle_override *o)
{
    char *end;
    errno = 0;
    if (!strcmp(v, "off")) {
        o->off = true;
        return 0;
    }
    if (v[0] == 'x') {
        double f = strtod(v + 1, &end);
        if (errno || *end || end == v + 1 || !(f > 0) || f > 1e6) return -1;
        o->mul = (uint64_t)(f * 100.0 + 0.5);
        return o->mul ? 0 : -1;
    }
    if (v[0] < '0' || v[0] > '9') return -1;
    unsigned long long n = strtoull(v, &end, 10);
    if (errno || *end || n == 0) return -1;
    o->value = n;
    return 0;
}

static int parse_line(throttle_map_t *m, char *line, char *why, size_t size)
{
    char *save = NULL, *tok = strtok_r(line, " ", &save);
    if (!tok) return 0;
    char name[SG_KEY_MAX + 1];
    if (!strncmp(tok, CLASS_PFX, strlen(CLASS_PFX))) {
        const char *cn = tok + strlen(CLASS_PFX);
        size_t n = strlen(cn);
        if (n == 0 || n > THROTTLE_NAME_MAX || strpbrk(cn, " =|")) {
            snprintf(why, size, "bad class name '%s'", cn);
            return -1;
        }
        snprintf(name, sizeof name, "%s", tok);
    } else if (canon_subject(tok, name, sizeof name) < 0) {
        snprintf(why, size, "'%s' is not a subject (user:U, from:S, dom:D, ip:A, net:P) or class:NAME", tok);
        return -1;
    }
    if (zhashx_size(m->entries) >= MAP_ENTRIES_MAX) {
        snprintf(why, size, "more than %d entries", MAP_ENTRIES_MAX);
        return -1;
    }
    struct entry *e = entry_get(m, name);
    bool any = false;
    while ((tok = strtok_r(NULL, " ", &save))) {
        any = true;
        if (!strcmp(tok, "allow")) {
            e->allow = true;
            continue;
        }
        char *eq = strchr(tok, '=');
        if (!eq || eq == tok) {
            snprintf(why, size, "expected allow, class=NAME or LIMIT=VALUE, got '%s'", tok);
            return -1;
        }
        *eq = '\0';
        const char *v = eq + 1;
        if (!strcmp(tok, "class")) {
            if (!*v || strlen(v) > THROTTLE_NAME_MAX || strncmp(name, "class:", 6) == 0) {
                snprintf(why, size, "class=%s: a subject takes one class name (a class takes none)", v);
                return -1;
            }
            snprintf(e->cls, sizeof e->cls, "%s", v);
            continue;
        }
        if (strlen(tok) > THROTTLE_NAME_MAX || e->n >= MAP_OVERRIDES_MAX) {
            snprintf(why, size, "'%s': limit name too long or too many settings", tok);
            return -1;
        }
        struct throttle_override o = {0};
        snprintf(o.limit, sizeof o.limit, "%s", tok);
        if (parse_setting_value(v, &o) < 0) {
            snprintf(why, size, "%s=%s: expected a count, xFACTOR or off", tok, v);
            return -1;
        }
        e->o[e->n++] = o;
    }
    if (!any) {
        snprintf(why, size, "'%s' has no setting", name);
        return -1;
    }
    return 0;
}

throttle_map_t *throttle_map_load(const char *path, char *err, size_t size)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, size, "%s: %s", path, strerror(errno));
        return NULL;
    }
    throttle_map_t *m = throttle_map_new();
    char line[MAP_LINE_MAX];
    int lineno = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        size_t n = strlen(line);
        if (n == sizeof line - 1 && line[n - 1] != '\n') {
            snprintf(err, size, "%s:%d: line longer than %d bytes", path, lineno, MAP_LINE_MAX - 2);
            goto fail;
        }
        char *hash = strchr(line, '#');
        if (hash) *hash = '\0';
        line[strcspn(line, "\r\n")] = '\0';
        for (char *t = line; *t; t++)
            if (*t == '\t') *t = ' ';
        char why[300];
        if (!sg_text_clean(line, strlen(line)) && strlen(line)) {
            snprintf(err, size, "%s:%d: control characters or invalid UTF-8", path, lineno);
            goto fail;
        }
        if (parse_line(m, line, why, sizeof why) < 0) {
            snprintf(err, size, "%s:%d: %s", path, lineno, why);
            goto fail;
        }
    }
    if (ferror(f)) {
        snprintf(err, size, "%s: read error", path);
        goto fail;
    }
    fclose(f);
    return m;
fail:
    fclose(f);
    throttle_map_destroy(&m);
    return NULL;
}
