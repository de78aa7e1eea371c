/* config_strlist.c: the configuration's string lists: push, free, and splitting comma lists. */
#include "agent/config.h"
#include "agent/util.h"

#include <stdlib.h>
#include <string.h>

void strlist_push(struct strlist *l, const char *s)
{
    l->v = sg_xrealloc(l->v, (l->n + 1) * sizeof *l->v);
    l->v[l->n++] = sg_xstrdup(s);
}

void strlist_free(struct strlist *l)
{
    for (size_t i = 0; i < l->n; i++) free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

void strlist_split(struct strlist *l, const char *csv)
{
    const char *p = csv;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ',') p++;
        const char *e = p;
        while (*e && *e != ',') e++;
        const char *t = e;
        while (t > p && (t[-1] == ' ' || t[-1] == '\t')) t--;
        if (t > p) {
            char *item = sg_xstrndup(p, (size_t)(t - p));
            strlist_push(l, item);
            free(item);
        }
        p = e;
    }
}

void strlist_split_words(struct strlist *l, const char *s)
{
    char *copy = sg_xstrdup(s), *save = NULL;
    for (char *w = strtok_r(copy, " \t", &save); w; w = strtok_r(NULL, " \t", &save)) strlist_split(l, w);
    free(copy);
}
