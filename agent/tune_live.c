/* tune_live.c: `sgcluster tune --live`: the cluster's current counters (the agent's `top`, over the
 * control socket) held against each scenario's current and proposed thresholds, and the sending
 * limits' counters (the busiest subjects from `top`, then each one's usage from `quota`, the same
 * numbers `sgcluster quota` shows) against each limit's current and proposed capacity. */
#include "agent/tune_live.h"
#include "agent/control.h"
#include "agent/tune_report.h"
#include "agent/util.h"
#include "common/key.h"
#include "common/text.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* Subjects asked with `quota` per limit at most: the busiest, as `top` ranks them. */
#define LIVE_QUOTA_MAX 50

/* The agent's JSON answer to a request, or NULL (the reason written to f: unreachable or refused). */
static json_t *ask(FILE *f, const char *socket_path, const char *what, int argc, char **req)
{
    char *body = NULL;
    int code = control_call(socket_path, argc, req, true, &body, 10000);
    if (code != 0) {
        fprintf(f, "  %s: agent unreachable or refused: %s", what, body ? body : "\n");
        free(body);
        return NULL;
    }
    json_error_t jerr;
    json_t *j = json_loads(body ? body : "", 0, &jerr);
    free(body);
    return j;
}

struct live_subject {
    char subject[GOSSIP_KEY_MAX + 1];
    uint64_t count;
};

static int by_count(const void *x, const void *y)
{
    const struct live_subject *a = x, *b = y;
    if (a->count != b->count) return a->count > b->count ? -1 : 1;
    return strcmp(a->subject, b->subject);
}

/* Whether s (a subject text) is one limit l keys on: its kind, and for client keys its prefix. */
static bool limit_takes(const struct throttle_limit *l, const char *s)
{
    struct sg_subject subj;
    if (sg_subject_parse(s, &subj) < 0) return false;
    switch (l->key) {
    case THROTTLE_KEY_USER: return subj.type == SG_SUBJ_USER;
    case THROTTLE_KEY_SENDER: return subj.type == SG_SUBJ_SENDER;
    case THROTTLE_KEY_DOMAIN: return subj.type == SG_SUBJ_DOMAIN;
    default:
        return (subj.type == SG_SUBJ_IP || subj.type == SG_SUBJ_NET) &&
               subj.len == (subj.family == AF_INET ? l->prefix4 : l->prefix6);
    }
}

/* One limit: its subjects counted in the cluster over its period (top), the busiest asked with
 * quota (the agent's own evaluation of the configured limit of that name), held against the
 * current and the proposed limit. */
static void live_limit(FILE *f, const char *socket_path, const struct tune_measure *m)
{
    const struct throttle_limit *l = m->limit;
    char win[32], scope[2][SG_KEY_MAX + 1];
    tune_fmt_duration((l->bucket ? l->per_ms : l->window_ms) / 1000, win, sizeof win);
    /* The counter scopes the limit reads: its service's, or both for service any. */
    size_t nscope = 0;
    for (int s = THROTTLE_SVC_SUBMISSION; s <= THROTTLE_SVC_SMTP; s++) {
        if (l->service != THROTTLE_SVC_ANY && l->service != (enum throttle_service)s) continue;
        if (throttle_counter_key(l->measure, (enum throttle_service)s, false, "user:x", scope[nscope], sizeof scope[0]) < 0) continue;
        *strchr(scope[nscope], '|') = '\0';
        nscope++;
    }
    char *req[] = {"top", "-n", "10000", "--window", win, "--users"};
    json_t *arr = ask(f, socket_path, l->name, l->key == THROTTLE_KEY_USER ? 6 : 5, req);
    if (!arr) return;
    struct live_subject *v = sg_xcalloc(json_array_size(arr) + 1, sizeof *v);
    size_t n = 0, k;
    json_t *e;
    json_array_foreach(arr, k, e) {
        const char *key = json_string_value(json_object_get(e, "key"));
        json_int_t c = json_integer_value(json_object_get(e, "count"));
        const char *bar = key ? strchr(key, '|') : NULL;
        bool mine = false;
        for (size_t i = 0; bar && i < nscope && !mine; i++)
            mine = strlen(scope[i]) == (size_t)(bar - key) && !strncmp(key, scope[i], (size_t)(bar - key));
        if (!mine || c < 0 || strlen(bar + 1) >= sizeof v->subject || !limit_takes(l, bar + 1)) continue;
        size_t i = 0;
        while (i < n && strcmp(v[i].subject, bar + 1)) i++;   /* service any: sub and smtp add up */
        if (i == n) snprintf(v[n++].subject, sizeof v->subject, "%s", bar + 1);
        v[i].count += (uint64_t)c;
    }
    json_decref(arr);
    if (n > 1) qsort(v, n, sizeof *v, by_count);
    enum throttle_tier tier = tune_limit_tier(l);
    size_t now_over = 0, new_over = 0, asked = 0, from_quota = 0;
    uint64_t best = 0;
    char best_subj[GOSSIP_KEY_MAX + 1] = "";
    for (size_t i = 0; i < n; i++) {
        uint64_t used = v[i].count, tried;
        tried = used;   /* top sums what was let through; quota says what was tried too */
        if (i < LIVE_QUOTA_MAX) {
            char *q[] = {"quota", v[i].subject};
            json_t *rows = ask(f, socket_path, l->name, 2, q);
            size_t r;
            json_t *row;
            asked++;
            json_array_foreach(rows, r, row) {
                const char *name = json_string_value(json_object_get(row, "limit"));
                if (!name || strcmp(name, l->name)) continue;
                used = (uint64_t)json_integer_value(json_object_get(row, "used"));
                tried = (uint64_t)json_integer_value(json_object_get(row, "tried"));
                from_quota++;
                break;
            }
            json_decref(rows);
            if (!rows) break;
        }
        /* refused now if the next message would reach the limit's refusing tier */
        now_over += throttle_tier_of(l, used, tried, 1) >= tier;
        new_over += throttle_tier_of(&m->proposed_limit, used, tried, 1) >= tier;
        if (used > best || !best_subj[0]) {
            best = used;
            snprintf(best_subj, sizeof best_subj, "%s", v[i].subject);
        }
    }
    free(v);
    char esc[2 * GOSSIP_KEY_MAX];
    fprintf(f, "  %-16s %zu subjects counted in the last %s, %zu at the current limit's %s, %zu at the proposed one's",
            l->name, n, win, now_over, throttle_tier_name(tier), new_over);
    if (n) fprintf(f, ", highest %" PRIu64 " (%s)", best, sg_text_escape(best_subj, esc, sizeof esc));
    fprintf(f, " [quota: %zu of %zu asked%s]\n", from_quota, asked,
            asked && !from_quota ? ", the agent has no limit of this name: top's sums used" : "");
}

char *tune_live(const char *socket_path, const struct tune *t)
{
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    if (!f) return NULL;
    fprintf(f, "live counters (%s):\n", socket_path);
    bool down = false;
    for (size_t i = 0; i < tune_count(t); i++) {
        const struct tune_measure *m = tune_get(t, i);
        /* Distinct counts are sketches, which `top` does not list. */
        if (!m->sc || m->sc->measure == MEAS_DISTINCT_USERS || m->sc->measure == MEAS_DISTINCT_IPS) continue;
        char win[32];
        tune_fmt_duration(m->sc->window_s, win, sizeof win);
        char *req[] = {"top", "-n", "10000", "--window", win};
        json_t *arr = ask(f, socket_path, m->sc->id, 5, req);
        if (!arr) {
            down = true;
            break;
        }
        size_t plen = strlen(m->sc->id), over_now = 0, over_new = 0, keys = 0;
        uint64_t best = 0;
        char best_key[GOSSIP_KEY_MAX + 1] = "";
        size_t k;
        json_t *e;
        json_array_foreach(arr, k, e) {
            const char *key = json_string_value(json_object_get(e, "key"));
            json_int_t c = json_integer_value(json_object_get(e, "count"));
            if (!key || strncmp(key, m->sc->id, plen) || key[plen] != '|' || c < 0) continue;
            keys++;
            over_now += c >= m->sc->threshold;
            over_new += c >= m->prop.threshold;
            if ((uint64_t)c > best) {
                best = (uint64_t)c;
                snprintf(best_key, sizeof best_key, "%s", key + plen + 1);
            }
        }
        json_decref(arr);
        char esc[2 * GOSSIP_KEY_MAX];
        fprintf(f, "  %-16s %zu keys in the last %s, %zu at or above the current %" PRId64 ", %zu at or above the proposed %" PRId64,
                m->sc->id, keys, win, over_now, m->sc->threshold, over_new, m->prop.threshold);
        if (keys) fprintf(f, ", highest %" PRIu64 " (%s)", best, sg_text_escape(best_key, esc, sizeof esc));
        fputc('\n', f);
    }
    for (size_t i = 0; !down && i < tune_count(t); i++)
        if (tune_get(t, i)->limit) live_limit(f, socket_path, tune_get(t, i));
    fclose(f);
    return out;
}
