/* agent_scenarios.c: `sgcluster status --scenarios`, one block per scenario as
 * `fail2ban-client status JAIL` gives per jail: subjects currently counting, decisions taken,
 * records active cluster-wide and their keys (`--short`: the counts only). */
#include "agent/agent.h"
#include "agent/json.h"
#include "agent/tally.h"
#include "agent/util.h"
#include "common/key.h"
#include "common/text.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

struct scen_row {
    const char *id;                 /* borrowed from the config or from a record */
    const struct config_scenario *sc;   /* NULL for built-in ids (manual, prefix-escalation...) */
    uint64_t counting, decided;
    const char **keys;              /* active records (borrowed from the state until it changes) */
    size_t nkeys, cap;
};

struct scen_table {
    struct scen_row *v;
    size_t n, cap;
    int64_t now;
};

static struct scen_row *row_get(struct scen_table *t, const char *id, const struct config_scenario *sc)
{
    for (size_t i = 0; i < t->n; i++)
        if (!strcmp(t->v[i].id, id)) return &t->v[i];
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 16;
        t->v = sg_xrealloc(t->v, t->cap * sizeof *t->v);
    }
    struct scen_row *r = &t->v[t->n++];
    memset(r, 0, sizeof *r);
    r->id = id;
    r->sc = sc;
    return r;
}

/* Active records that act (bans, throttles, holds; not offense memory or allows) by scenario. */
static void collect_active(const struct gossip_ban *b, void *arg)
{
    struct scen_table *t = arg;
    if (b->action != GOSSIP_BAN_ACTION_BAN || b->expires_at <= t->now || b->kind == GOSSIP_BAN_KIND_OFFENSE ||
        b->kind == GOSSIP_BAN_KIND_ALLOW)
        return;
    struct scen_row *r = row_get(t, b->scenario[0] ? b->scenario : "unknown", NULL);
    if (r->nkeys == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 16;
        r->keys = sg_xrealloc(r->keys, r->cap * sizeof *r->keys);
    }
    r->keys[r->nkeys++] = b->key;
}

static int str_cmp(const void *x, const void *y)
{
    return strcmp(*(const char *const *)x, *(const char *const *)y);
}

static int slot_cmp(const void *x, const void *y)
{
    return strcmp(((const struct gossip_slot_entry *)x)->key, ((const struct gossip_slot_entry *)y)->key);
}

static int sketch_cmp(const void *x, const void *y)
{
    return strcmp(((const struct gossip_sketch_entry *)x)->key, ((const struct gossip_sketch_entry *)y)->key);
}

/* Subjects with evidence inside the scenario's window: distinct "ID|SUBJECT" keys among the
 * counter slots (sorted) or the sketches (sorted), whichever the scenario measures with. */
static uint64_t counting(const struct scen_row *r, const struct gossip_body *body, int64_t now)
{
    if (!r->sc || !body) return 0;
    int64_t since = now - r->sc->window_s * 1000;
    size_t idl = strlen(r->id);
    uint64_t n = 0;
    const char *last = NULL;
    for (size_t i = 0; i < body->n_slots; i++) {
        const struct gossip_slot_entry *s = &body->slots[i];
        if (strncmp(s->key, r->id, idl) || s->key[idl] != '|' || s->bucket < since || !s->count) continue;
        if (!last || strcmp(last, s->key)) n++;
        last = s->key;
    }
    last = NULL;
    for (size_t i = 0; i < body->n_sketches; i++) {
        const struct gossip_sketch_entry *s = &body->sketches[i];
        if (strncmp(s->key, r->id, idl) || s->key[idl] != '|' || s->bucket < since) continue;
        if (!last || strcmp(last, s->key)) n++;
        last = s->key;
    }
    return n;
}

static void row_json(const struct scen_row *r, bool short_form, FILE *out)
{
    fputs("{\"scenario\":", out);
    json_str(out, r->id);
    if (r->sc)
        fprintf(out, ",\"action\":\"%s\",\"threshold\":%" PRId64 ",\"window_s\":%" PRId64,
                scenario_action_name(r->sc->action), r->sc->threshold, r->sc->window_s);
    fprintf(out, ",\"configured\":%s,\"counting\":%" PRIu64 ",\"decided\":%" PRIu64 ",\"active\":%zu",
            r->sc ? "true" : "false", r->counting, r->decided, r->nkeys);
    if (!short_form) {
        fputs(",\"list\":[", out);
        for (size_t k = 0; k < r->nkeys; k++) {
            if (k) fputc(',', out);
            json_str(out, r->keys[k]);
        }
        fputc(']', out);
    }
    fputc('}', out);
}

static void row_text(const struct scen_row *r, bool short_form, FILE *out)
{
    char id[GOSSIP_SCENARIO_MAX * 4 + 1];
    sg_text_escape(r->id, id, sizeof id);
    if (short_form) {
        fprintf(out, "%-24s %10" PRIu64 " %10" PRIu64 " %10zu\n", id, r->counting, r->decided, r->nkeys);
        return;
    }
    if (r->sc) {
        char win[32];
        agent_fmt_dur(r->sc->window_s, win, sizeof win);
        fprintf(out, "Scenario: %s (%s at %" PRId64 " in %s)\n", id, scenario_action_name(r->sc->action),
                r->sc->threshold, win);
    } else {
        fprintf(out, "Scenario: %s (built in, or from a peer's configuration)\n", id);
    }
    fprintf(out, "|- Currently counting: %" PRIu64 " subjects in the window\n", r->counting);
    fprintf(out, "|- Total decided:      %" PRIu64 " here since start\n", r->decided);
    fprintf(out, "|- Currently banned:   %zu cluster-wide\n", r->nkeys);
    fputs("`- Banned list:       ", out);
    for (size_t k = 0; k < r->nkeys; k++) {
        char key[GOSSIP_KEY_MAX * 4 + 1];
        fprintf(out, "%s%s", k ? " " : "", sg_text_escape(r->keys[k], key, sizeof key));
    }
    fputs("\n\n", out);
}

/* Decisions taken here under id since the agent started (the tally the metrics export). */
static uint64_t decided(const struct agent *a, const char *id)
{
    uint64_t sum = 0, n;
    const char *scen, *action;
    for (size_t i = 0; tally_at(a->decisions, i, &scen, &action, &n) == 0; i++)
        if (!strcmp(scen, id)) sum += n;
    return sum;
}

int agent_status_scenarios(struct agent *a, bool short_form, bool json, FILE *out)
{
    struct scen_table t = {.now = sg_now_ms()};
    for (size_t i = 0; i < a->cfg->nscenarios; i++) row_get(&t, a->cfg->scenarios[i].id, &a->cfg->scenarios[i]);
    gossip_state_ban_foreach(a->st, collect_active, &t);
    struct gossip_body *body = agent_state_dump(a);
    if (body) {
        /* qsort's array must not be NULL even when empty (an agent with no counters yet). */
        if (body->n_slots) qsort(body->slots, body->n_slots, sizeof *body->slots, slot_cmp);
        if (body->n_sketches) qsort(body->sketches, body->n_sketches, sizeof *body->sketches, sketch_cmp);
    }
    if (json) fputc('[', out);
    else if (short_form) fprintf(out, "%-24s %10s %10s %10s\n", "SCENARIO", "COUNTING", "DECIDED", "BANNED");
    for (size_t i = 0; i < t.n; i++) {
        struct scen_row *r = &t.v[i];
        r->counting = counting(r, body, t.now);
        r->decided = decided(a, r->id);
        if (r->nkeys > 1) qsort(r->keys, r->nkeys, sizeof *r->keys, str_cmp);
        if (json) {
            if (i) fputc(',', out);
            row_json(r, short_form, out);
        } else {
            row_text(r, short_form, out);
        }
        free(r->keys);
    }
    if (json) fputs("]\n", out);
    gossip_body_destroy(&body);
    free(t.v);
    return 0;
}
