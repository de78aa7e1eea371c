/* agent_control.c: the control commands the agent answers: status, peers, bans, ban, unban, allow,
 * unallow, hold, release, top, explain. Every command prints a table, or JSON with --json (refusals
 * and errors too: one {"error":...} object). */
#include "agent/agent.h"
#include "agent/explain.h"
#include "agent/agent_throttle.h"
#include "agent/json.h"
#include "agent/util.h"
#include "common/key.h"
#include "common/text.h"
#include "common/version.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

static const char *author_name(const struct agent *a, uint64_t origin)
{
    const struct gossip_peer_key *p = gossip_keyring_find(a->kr, origin);
    return p ? p->name : "unknown";
}

/* ---- bans ---- */

struct ban_list {
    const struct gossip_ban **v;
    size_t n, cap;
    bool all;
    int64_t now;
};

/* By default the records in force: bans, throttles, holds and allows not yet expired. --all adds
 * tombstones (unban, release, unallow), expired records kept for the grace, and offense memory. */
static void collect_ban(const struct gossip_ban *b, void *arg)
{
    struct ban_list *l = arg;
    if (!l->all && (b->kind == GOSSIP_BAN_KIND_OFFENSE || b->action != GOSSIP_BAN_ACTION_BAN || b->expires_at <= l->now))
        return;
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 64;
        l->v = sg_xrealloc(l->v, l->cap * sizeof *l->v);
    }
    l->v[l->n++] = b;
}

static int ban_cmp(const void *x, const void *y)
{
    const struct gossip_ban *a = *(const struct gossip_ban *const *)x, *b = *(const struct gossip_ban *const *)y;
    return strcmp(a->key, b->key);
}

/* The record's action: "ban" for a record in force of any kind (its KIND column says what it does),
 * "unban" for a tombstone (unban, release, unallow alike). */
static const char *action_name(const struct gossip_ban *b)
{
    return b->action == GOSSIP_BAN_ACTION_BAN ? "ban" : "unban";
}

static int cmd_bans(struct agent *a, int argc, char **argv, bool json, FILE *out)
{
    struct ban_list l = {.now = sg_now_ms()};
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--all")) l.all = true;
        else { fprintf(out, "usage: bans [--all] [--json]\n"); return 2; }
    }
    gossip_state_ban_foreach(a->st, collect_ban, &l);
    if (l.n > 1) qsort(l.v, l.n, sizeof *l.v, ban_cmp);
    int64_t now = l.now;
    if (json) fputc('[', out);
    else fprintf(out, "%-40s %-7s %-8s %-20s %-9s %-10s %s\n", "KEY", "ACTION", "KIND", "EXPIRES", "LEFT", "AUTHOR", "REASON");
    for (size_t i = 0; i < l.n; i++) {
        const struct gossip_ban *b = l.v[i];
        char exp[32], left[32];
        agent_fmt_time(b->expires_at, exp, sizeof exp);
        agent_fmt_dur((b->expires_at - now) / 1000, left, sizeof left);
        const char *action = action_name(b);
        if (json) {
            fprintf(out, "%s{\"key\":", i ? "," : "");
            json_str(out, b->key);
            fprintf(out, ",\"action\":\"%s\",\"kind\":\"%s\",\"active\":%s,\"expires_at\":%" PRId64 ",\"expires\":\"%s\",\"reason\":",
                    action, agent_kind_name(b->kind),
                    b->action == GOSSIP_BAN_ACTION_BAN && b->expires_at > now ? "true" : "false", b->expires_at, exp);
            json_str(out, b->reason);
            fputs(",\"author\":", out);
            json_str(out, author_name(a, b->author));
            fprintf(out, ",\"level\":%u,\"scenario\":", b->level);
            json_str(out, b->scenario);
            fputc('}', out);
        } else {
            /* Keys and reasons came from peers: no byte of them reaches the terminal unescaped. */
            char key[GOSSIP_KEY_MAX * 4 + 1], reason[GOSSIP_REASON_MAX * 4 + 1];
            fprintf(out, "%-40s %-7s %-8s %-20s %-9s %-10s %s\n", sg_text_escape(b->key, key, sizeof key), action,
                    agent_kind_name(b->kind), exp, left, author_name(a, b->author),
                    sg_text_escape(b->reason, reason, sizeof reason));
        }
    }
    if (json) fputs("]\n", out);
    else fprintf(out, "%zu records%s\n", l.n, l.all ? "" : " in force (--all: with lifted and expired ones)");
    free(l.v);
    return 0;
}

/* ---- ban, unban, allow, unallow, hold, release ---- */

struct put_cmd {
    const char *name;
    enum sg_record_kind kind;
    bool cancel;
    int64_t default_s;       /* 0: the kind's longest ([limits]) */
};

static const struct put_cmd put_cmds[] = {
    {"ban", SG_REC_BLOCK, false, 3600},  {"unban", SG_REC_BLOCK, true, 0},
    {"allow", SG_REC_ALLOW, false, 0},   {"unallow", SG_REC_ALLOW, true, 0},
    {"hold", SG_REC_HOLD, false, 86400}, {"release", SG_REC_HOLD, true, 0},
};

/* The record key for an address or prefix (block, allow) or a user (hold) into key; -1 with the
 * reason written to out. *p is the prefix (not set for a user). */
static int put_key(const struct put_cmd *c, const char *arg, char *key, size_t size, struct enforce_prefix *p, FILE *out)
{
    struct sg_subject subj;
    if (c->kind == SG_REC_HOLD) {
        if (sg_subject_set(&subj, SG_SUBJ_USER, arg) < 0 || sg_key_format(c->kind, &subj, key, size) < 0) {
            fprintf(out, "bad user name (empty, too long, or holding control characters)\n");
            return -1;
        }
        return 0;
    }
    if (enforce_prefix_parse(arg, p) < 0) {
        fprintf(out, "'%s' is not an address or prefix (examples: 203.0.113.7, 203.0.113.0/24, 2001:db8::/64)\n", arg);
        return -1;
    }
    char txt[ENFORCE_PREFIX_STRLEN];
    enforce_prefix_format(p, txt, sizeof txt);
    bool single = (p->family == AF_INET && p->len == 32) || p->len == 128;
    if (sg_subject_set(&subj, single ? SG_SUBJ_IP : SG_SUBJ_NET, txt) < 0 || sg_key_format(c->kind, &subj, key, size) < 0) {
        fprintf(out, "'%s' cannot be used here\n", txt);
        return -1;
    }
    return 0;
}

/* ban/allow/hold write a record; unban/unallow/release write a tombstone. Operator bans pass the
 * same never-ban guard as decisions: an allowlisted address cannot be banned from the CLI either. */
static int cmd_put(struct agent *a, const struct put_cmd *c, int argc, char **argv, bool json, FILE *out)
{
    if (argc < 2 || argc > 4 || (c->cancel && argc != 2)) {
        fprintf(out, "usage: %s %s%s\n", c->name, c->kind == SG_REC_HOLD ? "USER" : "ADDR|PREFIX",
                c->cancel ? "" : " [DURATION [REASON]]");
        return 2;
    }
    char key[GOSSIP_KEY_MAX + 1], why[128];
    struct enforce_prefix p = {0};
    if (put_key(c, argv[1], key, sizeof key, &p, out) < 0) return 2;
    if (c->kind == SG_REC_BLOCK && !c->cancel) {
        const char *refused = enforce_guard_check(enforce_guard(a->enf), &p, why, sizeof why);
        if (refused) {
            fprintf(out, "refused: %s is protected by a never-ban rule (%s)\n", key, refused);
            return 1;
        }
    }
    if (c->kind == SG_REC_ALLOW && !c->cancel && p.len < (p.family == AF_INET ? a->cfg->min_prefix4 : a->cfg->min_prefix6)) {
        fprintf(out, "refused: an allow may not be wider than /%d (IPv4) or /%d (IPv6); wider networks go into "
                     "[enforce] allowlist\n", a->cfg->min_prefix4, a->cfg->min_prefix6);
        return 1;
    }
    int64_t now = sg_now_ms();
    struct gossip_ban_spec spec = {.key = key, .kind = (uint8_t)c->kind, .scenario = "manual"};
    char reason[GOSSIP_REASON_MAX + 1];
    if (c->cancel) {
        if (!gossip_state_ban_active(a->st, key, now)) {
            fprintf(out, "no active %s for %s\n", c->kind == SG_REC_ALLOW ? "allow" : c->kind == SG_REC_HOLD ? "hold" : "ban", key);
            return 1;
        }
        spec.action = GOSSIP_BAN_ACTION_UNBAN;
        snprintf(reason, sizeof reason, "%s by operator on %s", c->name, a->cfg->node_name);
    } else {
        int64_t secs = c->default_s ? c->default_s : a->cfg->limits.max_ttl_ms[c->kind] / 1000;
        if (argc >= 3 && strcmp(argv[2], "default") &&
            (sg_parse_duration(argv[2], &secs) < 0 || secs < 1 || secs > 365LL * 86400)) {
            fprintf(out, "bad duration '%s' (examples: 3600, 90m, 12h, 7d; at most 365d)\n", argv[2]);
            return 2;
        }
        spec.action = GOSSIP_BAN_ACTION_BAN;
        spec.expires_at = now + secs * 1000;
        snprintf(reason, sizeof reason, "manual: %s (by operator on %s)", argc == 4 ? argv[3] : "no reason given",
                 a->cfg->node_name);
    }
    spec.reason = reason;
    struct gossip_ban rec;
    if (gossip_state_ban_put(a->st, &spec, now, &rec) < 0) {
        fprintf(out, "refused: the record is outside the limits (see the agent's log and `status`)\n");
        return 1;
    }
    sg_log(SG_LOG_NOTICE, "operator %s %s: %s", c->name, key, reason);
    /* An allow also lifts, cluster-wide, the bans it covers: the kernel drops them already (the
     * guard), and the tombstones keep `bans` on every node in step with what is enforced. */
    size_t lifted = c->kind == SG_REC_ALLOW && !c->cancel ? agent_allow_lift(a, &p, key) : 0;
    agent_gossip_notify(a);
    if (json) {
        fprintf(out, "{\"ok\":true,\"command\":\"%s\",\"key\":", c->name);
        json_str(out, key);
        fprintf(out, ",\"kind\":\"%s\",\"action\":\"%s\",\"expires_at\":%" PRId64 ",\"reason\":", agent_kind_name(rec.kind),
                action_name(&rec), rec.expires_at);
        json_str(out, rec.reason);
        fprintf(out, ",\"lifted\":%zu}\n", lifted);
    } else {
        char exp[32];
        agent_fmt_time(rec.expires_at, exp, sizeof exp);
        fprintf(out, "%s %s%s%s", c->name, key, c->cancel ? "" : " until ", c->cancel ? "" : exp);
        if (lifted) fprintf(out, " (%zu covered bans lifted)", lifted);
        fputc('\n', out);
    }
    return 0;
}

static int dispatch(struct agent *a, int argc, char **argv, bool json, FILE *out)
{
    const char *cmd = argv[0];
    if (!strcmp(cmd, "status")) return agent_status(a, argc, argv, json, out);
    if (!strcmp(cmd, "peers")) {
        if (json) { bool all; size_t n; agent_gossip_peers_json(a, out, &all, &n); fputc('\n', out); }
        else agent_gossip_peers_table(a, out);
        return 0;
    }
    if (!strcmp(cmd, "bans")) return cmd_bans(a, argc, argv, json, out);
    for (size_t i = 0; i < sizeof put_cmds / sizeof put_cmds[0]; i++)
        if (!strcmp(cmd, put_cmds[i].name)) return cmd_put(a, &put_cmds[i], argc, argv, json, out);
    if (!strcmp(cmd, "top")) return agent_top(a, argc, argv, json, out);
    if (!strcmp(cmd, "quota")) return agent_throttle_quota(a, argc, argv, json, out);
    if (!strcmp(cmd, "explain")) {
        if (argc < 2 || argc > 3) { fprintf(out, "usage: explain ADDR|USER [USER|ADDR]\n"); return 2; }
        return explain_write(a->cfg, a->st, argv[1], argc == 3 ? argv[2] : NULL, json, sg_now_ms(), out);
    }
    if (!strcmp(cmd, "ping")) { fprintf(out, "pong\n"); return 0; }
    fprintf(out, "unknown command '%s'\n", cmd);
    return 2;
}

/* Every command through dispatch; under --json an answer that is not JSON (a refusal, a usage
 * error) becomes one {"error":...,"code":N} object, so scripts never parse prose. */
int agent_control(int argc, char **argv, bool json, FILE *out, void *arg)
{
    if (!json) return dispatch(arg, argc, argv, false, out);
    char *body = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&body, &len);
    if (!m) sg_oom();
    int code = dispatch(arg, argc, argv, true, m);
    fclose(m);
    if (code != 0 && len && body[0] != '{' && body[0] != '[') json_error(out, code, body);
    else fwrite(body, 1, len, out);
    free(body);
    return code;
}
