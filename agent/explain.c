/* explain.c: `sgcluster explain`: an address's or a user's records, scenario counts against their
 * thresholds, evidence of legitimacy and what would trigger next (see explain.h). */
#include "agent/explain.h"
#include "agent/evidence.h"
#include "agent/json.h"
#include "agent/scenario.h"
#include "common/key.h"
#include "common/text.h"

#include <inttypes.h>
#include <string.h>
#include <time.h>

/* One scenario (or built-in rule) measured on one subject. */
struct row {
    const char *id;
    const char *action;
    char subject[GOSSIP_KEY_MAX + 1];
    uint64_t value;
    int64_t threshold;
    int64_t window_s;
    bool shared;          /* threshold raised: an address with good users */
    const char *blocked;  /* why it cannot act (protected prefix), or NULL */
};

struct report {
    const struct config *cfg;
    const struct gossip_state *st;
    int64_t now;
    bool json;
    FILE *out;
    struct row rows[64];
    size_t n;
    char protect[160];
};

static void add_row(struct report *r, const char *id, const char *action, const struct sg_subject *subj, uint64_t v,
                    int64_t thr, int64_t window_s, bool shared, const char *blocked)
{
    if (r->n >= sizeof r->rows / sizeof r->rows[0]) return;
    struct row *w = &r->rows[r->n++];
    *w = (struct row){.id = id, .action = action, .value = v, .threshold = thr, .window_s = window_s,
                      .shared = shared, .blocked = blocked};
    if (sg_subject_format(subj, w->subject, sizeof w->subject) < 0) w->subject[0] = '\0';
}

static void add_scenarios(struct report *r, enum scenario_subject kind, const struct sg_subject *subj)
{
    for (size_t i = 0; i < r->cfg->nscenarios; i++) {
        const struct config_scenario *sc = &r->cfg->scenarios[i];
        if (sc->subject != kind) continue;
        uint64_t v;
        int64_t thr;
        bool shared;
        scenario_measure(r->cfg, r->st, sc, subj, r->now, &v, &thr, &shared);
        const char *blocked = kind == SUBJ_PREFIX && sc->action == SACT_BAN && r->protect[0] ? r->protect : NULL;
        add_row(r, sc->id, scenario_action_name(sc->action), subj, v, thr, sc->window_s, shared, blocked);
    }
}

/* The row that can still act and has gone furthest towards its threshold (then the one needing
 * the fewest more): what would trigger next. */
static const struct row *next_row(const struct report *r)
{
    const struct row *best = NULL;
    double best_f = -1;
    for (size_t i = 0; i < r->n; i++) {
        const struct row *w = &r->rows[i];
        if (w->blocked || w->threshold <= 0) continue;
        double f = (double)w->value / (double)w->threshold;
        if (!best || f > best_f ||
            (f == best_f && w->threshold - (int64_t)w->value < best->threshold - (int64_t)best->value)) {
            best = w;
            best_f = f;
        }
    }
    return best;
}

static void put_record(struct report *r, const char *label, const char *key, bool *first)
{
    const struct gossip_ban *b = gossip_state_ban_active(r->st, key, r->now);
    FILE *out = r->out;
    if (r->json) {
        fprintf(out, "%s\"%s\":", *first ? "" : ",", label);
        *first = false;
        if (!b) { fputs("null", out); return; }
        fputs("{\"key\":", out);
        json_str(out, b->key);
        fprintf(out, ",\"expires_in_s\":%" PRId64 ",\"level\":%u,\"scenario\":", (b->expires_at - r->now) / 1000, b->level);
        json_str(out, b->scenario);
        fputs(",\"reason\":", out);
        json_str(out, b->reason);
        fputc('}', out);
        return;
    }
    char k[GOSSIP_KEY_MAX * 4 + 1], why[GOSSIP_REASON_MAX * 4 + 1];
    if (!b) fprintf(out, "%-10s no (%s)\n", label, sg_text_escape(key, k, sizeof k));
    else
        fprintf(out, "%-10s yes: %s for %" PRId64 "s more, level %u (%s)\n", label, sg_text_escape(b->key, k, sizeof k),
                (b->expires_at - r->now) / 1000, b->level, sg_text_escape(b->reason, why, sizeof why));
}

static void records(struct report *r, const struct sg_subject *subj, const struct sg_subject *net, bool *first)
{
    char key[GOSSIP_KEY_MAX + 1];
    bool user = subj->type == SG_SUBJ_USER;
    if (sg_key_format(user ? SG_REC_HOLD : SG_REC_BLOCK, subj, key, sizeof key) == 0)
        put_record(r, user ? "held" : "banned", key, first);
    if (net && sg_key_format(SG_REC_BLOCK, net, key, sizeof key) == 0) put_record(r, "prefix_banned", key, first);
    if (sg_key_format(SG_REC_THROTTLE, subj, key, sizeof key) == 0) put_record(r, "throttled", key, first);
    if (sg_key_format(SG_REC_OFFENSE, subj, key, sizeof key) == 0) put_record(r, "offense", key, first);
}

static void rows_out(const struct report *r)
{
    FILE *out = r->out;
    const struct row *nx = next_row(r);
    if (r->json) {
        fputs(",\"scenarios\":[", out);
        for (size_t i = 0; i < r->n; i++) {
            const struct row *w = &r->rows[i];
            fprintf(out, "%s{\"id\":", i ? "," : "");
            json_str(out, w->id);
            fputs(",\"subject\":", out);
            json_str(out, w->subject);
            fprintf(out, ",\"count\":%" PRIu64 ",\"threshold\":%" PRId64 ",\"window_s\":%" PRId64
                         ",\"shared_address\":%s,\"action\":\"%s\",\"blocked\":",
                    w->value, w->threshold, w->window_s, w->shared ? "true" : "false", w->action);
            json_str(out, w->blocked);
            fputc('}', out);
        }
        fputs("],\"next\":", out);
        if (!nx) { fputs("null}\n", out); return; }
        fputs("{\"scenario\":", out);
        json_str(out, nx->id);
        fprintf(out, ",\"action\":\"%s\",\"remaining\":%" PRId64 "}}\n", nx->action,
                nx->threshold > (int64_t)nx->value ? nx->threshold - (int64_t)nx->value : 0);
        return;
    }
    char s[GOSSIP_KEY_MAX * 4 + 1];
    fprintf(out, "\n%-20s %-36s %8s %9s %7s  %s\n", "SCENARIO", "SUBJECT", "COUNT", "THRESHOLD", "WINDOW", "NOTE");
    for (size_t i = 0; i < r->n; i++) {
        const struct row *w = &r->rows[i];
        fprintf(out, "%-20s %-36s %8" PRIu64 " %9" PRId64 " %6" PRId64 "s  %s%s\n", w->id,
                sg_text_escape(w->subject, s, sizeof s), w->value, w->threshold, w->window_s,
                w->shared ? "shared address (threshold raised) " : "", w->blocked ? "protected prefix" : "");
    }
    if (nx)
        fprintf(out, "\nnext      %s %s after %" PRId64 " more (%" PRId64 " in %" PRId64 "s)\n", nx->id, nx->action,
                nx->threshold > (int64_t)nx->value ? nx->threshold - (int64_t)nx->value : 0, nx->threshold, nx->window_s);
    else fprintf(out, "\nnext      nothing can trigger\n");
}

static void explain_address(struct report *r, const struct sg_subject *ip, const char *user)
{
    const struct config *cfg = r->cfg;
    FILE *out = r->out;
    struct sg_subject net;
    bool has_net = evidence_prefix_of(cfg, ip, &net) == 0;
    if (has_net && !evidence_protects_prefix(r->st, cfg, &net, r->now, r->protect, sizeof r->protect)) r->protect[0] = '\0';
    uint64_t good = evidence_good_users(r->st, cfg, ip, r->now), pgood = has_net ? evidence_good_users(r->st, cfg, &net, r->now) : 0;
    uint64_t failing = evidence_failing_users(r->st, cfg, ip, r->now), stale = evidence_stale_users(r->st, cfg, ip->value, r->now);
    add_scenarios(r, SUBJ_IP, ip);
    if (has_net) {
        add_scenarios(r, SUBJ_PREFIX, &net);
        char key[GOSSIP_KEY_MAX + 1];
        uint64_t nb = sg_evidence_format(SG_SCOPE_BANNED, &net, key, sizeof key) < 0 ? 0
                      : gossip_state_distinct_count(r->st, key, scenario_engine_max_window_ms(cfg), r->now);
        if (cfg->prefix_ban_after > 0)
            add_row(r, "prefix-escalation", "ban", &net, nb, cfg->prefix_ban_after, scenario_engine_max_window_ms(cfg) / 1000,
                    false, r->protect[0] ? r->protect : NULL);
    }
    bool kg = user && evidence_known_good(r->st, cfg, ip->value, user, r->now);
    bool first = false;
    if (r->json) {
        fputs("{\"type\":\"address\",\"address\":", out);
        json_str(out, ip->value);
        fputs(",\"prefix\":", out);
        json_str(out, has_net ? net.value : NULL);
        records(r, ip, has_net ? &net : NULL, &first);
        fprintf(out, ",\"evidence\":{\"window_s\":%" PRId64 ",\"good_users\":%" PRIu64 ",\"prefix_good_users\":%" PRIu64
                     ",\"failing_users\":%" PRIu64 ",\"stale_users\":%" PRIu64 ",\"prefix_protected\":",
                cfg->evidence_window_s, good, pgood, failing, stale);
        json_str(out, r->protect[0] ? r->protect : NULL);
        fputc('}', out);
        if (user) {
            fputs(",\"known_good\":{\"user\":", out);
            json_str(out, user);
            fprintf(out, ",\"known_good\":%s,\"days\":%" PRId64 "}", kg ? "true" : "false", cfg->known_good_s / 86400);
        }
    } else {
        fprintf(out, "address   %s (prefix %s)\n", ip->value, has_net ? net.value : "-");
        records(r, ip, has_net ? &net : NULL, &first);
        fprintf(out, "evidence  %" PRIu64 " good users here, %" PRIu64 " in the prefix (logins and authenticated mail in %" PRId64
                     "s); %" PRIu64 " failing users, %" PRIu64 " stale clients\n",
                good, pgood, cfg->evidence_window_s, failing, stale);
        fprintf(out, "prefix    %s\n", r->protect[0] ? r->protect : "not protected: may be banned as a prefix");
        char u[SG_KEY_MAX * 4 + 1];
        if (user)
            fprintf(out, "known-good for %s: %s (logins within %" PRId64 "d)\n", sg_text_escape(user, u, sizeof u),
                    kg ? "yes: its failures for this user count once per window and never ban it" : "no", cfg->known_good_s / 86400);
    }
    rows_out(r);
}

static void explain_user(struct report *r, const struct sg_subject *u, const char *addr)
{
    const struct config *cfg = r->cfg;
    FILE *out = r->out;
    add_scenarios(r, SUBJ_USER, u);
    uint64_t failing = evidence_failing_addresses(r->st, cfg, u->value, r->now);
    bool attacked = evidence_under_attack(r->st, cfg, u->value, r->now);
    if (cfg->attack_addresses > 0)
        add_row(r, SCENARIO_ACCOUNT_ATTACK, "ban", u, failing, cfg->attack_addresses, cfg->attack_window_s, false, NULL);
    uint64_t kgn = evidence_known_good_count(r->st, cfg, u->value, r->now);
    bool kg = addr && evidence_known_good(r->st, cfg, addr, u->value, r->now);
    bool first = false;
    if (r->json) {
        fputs("{\"type\":\"user\",\"user\":", out);
        json_str(out, u->value);
        records(r, u, NULL, &first);
        fprintf(out, ",\"failing_addresses\":%" PRIu64 ",\"under_attack\":%s,\"known_good_addresses\":%" PRIu64, failing,
                attacked ? "true" : "false", kgn);
        if (addr) {
            fputs(",\"known_good\":{\"address\":", out);
            json_str(out, addr);
            fprintf(out, ",\"known_good\":%s,\"days\":%" PRId64 "}", kg ? "true" : "false", cfg->known_good_s / 86400);
        }
    } else {
        char esc[SG_KEY_MAX * 4 + 1];
        fprintf(out, "user      %s\n", sg_text_escape(u->value, esc, sizeof esc));
        records(r, u, NULL, &first);
        fprintf(out, "attack    %" PRIu64 " failing addresses in %" PRId64 "s: %s\n", failing, cfg->attack_window_s,
                attacked ? "UNDER ATTACK: a failing address not known-good for this user is banned at its first failure"
                         : "not under attack");
        fprintf(out, "known-good %" PRIu64 " addresses (logins within %" PRId64 "d)\n", kgn, cfg->known_good_s / 86400);
        if (addr) fprintf(out, "known-good from %s: %s\n", addr, kg ? "yes" : "no");
    }
    rows_out(r);
}

int explain_write(const struct config *cfg, const struct gossip_state *st, const char *target, const char *other,
                  bool json, int64_t now_ms, FILE *out)
{
    struct report r = {.cfg = cfg, .st = st, .now = now_ms, .json = json, .out = out};
    struct sg_subject subj, o;
    bool is_user = !strncmp(target, "user:", 5);
    const char *v = !strncmp(target, "ip:", 3) ? target + 3 : is_user ? target + 5 : target;
    if (!is_user && sg_subject_set(&subj, SG_SUBJ_IP, v) == 0) {
        if (other && sg_subject_set(&o, SG_SUBJ_USER, !strncmp(other, "user:", 5) ? other + 5 : other) < 0) {
            fprintf(out, "'%s' is not a user name (empty, too long or with control characters)\n", other);
            return 2;
        }
        explain_address(&r, &subj, other ? o.value : NULL);
        return 0;
    }
    if (v == target + 3 || sg_subject_set(&subj, SG_SUBJ_USER, v) < 0) {
        fprintf(out, "'%s' is neither an address nor a user name\n", target);
        return 2;
    }
    if (other && sg_subject_set(&o, SG_SUBJ_IP, !strncmp(other, "ip:", 3) ? other + 3 : other) < 0) {
        fprintf(out, "'%s' is not an address\n", other);
        return 2;
    }
    explain_user(&r, &subj, other ? o.value : NULL);
    return 0;
}
