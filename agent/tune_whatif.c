/* tune_whatif.c: decisions of a replay grouped by scenario and key (tune_whatif.h). Distinct keys per
 * scenario are few (those that crossed a threshold), so a linear search per decision is enough. */
#include "agent/tune_whatif.h"
#include "agent/util.h"

#include <stdlib.h>
#include <string.h>

void tune_whatifs_add(const struct decision *d, void *arg)
{
    struct tune_whatifs *w = arg;
    struct tune_whatif *s = NULL;
    for (size_t i = 0; i < w->n && !s; i++)
        if (!strcmp(w->v[i].scenario, d->scenario) && !strcmp(w->v[i].action, d->action)) s = &w->v[i];
    if (!s) {
        if (w->n == w->cap) {
            w->cap = w->cap ? w->cap * 2 : 16;
            w->v = sg_xrealloc(w->v, w->cap * sizeof *w->v);
        }
        s = &w->v[w->n++];
        memset(s, 0, sizeof *s);
        s->scenario = sg_xstrdup(d->scenario);
        s->action = sg_xstrdup(d->action);
    }
    s->decisions++;
    for (size_t i = 0; i < s->n; i++)
        if (!strcmp(s->hits[i].key, d->key)) {
            s->hits[i].decisions++;
            return;
        }
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 16;
        s->hits = sg_xrealloc(s->hits, s->cap * sizeof *s->hits);
    }
    s->hits[s->n++] = (struct tune_hit){.key = sg_xstrdup(d->key), .decisions = 1, .first_ms = d->time_ms};
}

static int hit_cmp(const void *a, const void *b)
{
    const struct tune_hit *x = a, *y = b;
    if (x->decisions != y->decisions) return x->decisions > y->decisions ? -1 : 1;
    if (x->first_ms != y->first_ms) return x->first_ms < y->first_ms ? -1 : 1;
    return strcmp(x->key, y->key);
}

void tune_whatifs_sort(struct tune_whatifs *w)
{
    for (size_t i = 0; i < w->n; i++) if (w->v[i].n > 1) qsort(w->v[i].hits, w->v[i].n, sizeof *w->v[i].hits, hit_cmp);
}

const struct tune_whatif *tune_whatifs_find(const struct tune_whatifs *w, const char *scenario, const char *action)
{
    for (size_t i = 0; i < w->n; i++)
        if (!strcmp(w->v[i].scenario, scenario) && (!action || !strcmp(w->v[i].action, action))) return &w->v[i];
    return NULL;
}

void tune_whatifs_free(struct tune_whatifs *w)
{
    for (size_t i = 0; i < w->n; i++) {
        for (size_t k = 0; k < w->v[i].n; k++) free(w->v[i].hits[k].key);
        free(w->v[i].hits);
        free(w->v[i].scenario);
        free(w->v[i].action);
    }
    free(w->v);
    *w = (struct tune_whatifs){0};
}
