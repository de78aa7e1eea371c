/* agent_authpolicy.c: the auth-policy service's decisions from the agent's replicated state, and
 * its reports fed to the scenario engine like log events. */
#include "agent/agent.h"
#include "agent/attempt_once.h"
#include "agent/authpolicy_http.h"
#include "agent/evidence.h"
#include "agent/json.h"
#include "agent/util.h"
#include "common/key.h"
#include "detect/event.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

/* True when a block record covers the address: the address itself or any prefix of it no wider
 * than the minimum prefix (wider ones are never banned). */
static bool address_banned(struct agent *a, const char *remote, int64_t now, const char **why)
{
    int family;
    uint8_t addr[16];
    char ip[SG_EV_IP_MAX];
    if (!*remote || detect_ip_parse(remote, strlen(remote), &family, addr, ip) < 0) return false;
    int full = family == AF_INET ? 32 : 128;
    int min = family == AF_INET ? a->cfg->min_prefix4 : a->cfg->min_prefix6;
    for (int len = full; len >= min; len--) {
        char text[SG_EV_IP_MAX + 16], key[GOSSIP_KEY_MAX + 1];
        struct sg_subject s;
        if (len == full) snprintf(text, sizeof text, "%s", ip);
        else {
            uint8_t m[16] = {0};
            memcpy(m, addr, (size_t)(len / 8));
            if (len % 8) m[len / 8] = (uint8_t)(addr[len / 8] & (0xff << (8 - len % 8)));
            char net[SG_EV_IP_MAX];
            if (!inet_ntop(family, m, net, sizeof net)) continue;
            snprintf(text, sizeof text, "%s/%d", net, len);
        }
        if (sg_subject_set(&s, len == full ? SG_SUBJ_IP : SG_SUBJ_NET, text) < 0 ||
            sg_key_format(SG_REC_BLOCK, &s, key, sizeof key) < 0)
            continue;
        const struct gossip_ban *b = gossip_state_ban_active(a->st, key, now);
        if (b && b->kind == SG_REC_BLOCK) { *why = b->scenario; return true; }
    }
    return false;
}

static bool user_held(struct agent *a, const char *login, int64_t now)
{
    struct sg_subject s;
    char key[GOSSIP_KEY_MAX + 1];
    if (!*login || sg_subject_set(&s, SG_SUBJ_USER, login) < 0 || sg_key_format(SG_REC_HOLD, &s, key, sizeof key) < 0)
        return false;
    for (size_t i = 0; i < a->cfg->user_allowlist.n; i++)
        if (!strcmp(a->cfg->user_allowlist.v[i], login)) return false;
    const struct gossip_ban *b = gossip_state_ban_active(a->st, key, now);
    return b && b->kind == SG_REC_HOLD;
}

/* True when the account is the target of a distributed attack (many addresses, few tries each,
 * cluster-wide: evidence_under_attack) and remote is not known-good for it: its owner's usual
 * addresses are never slowed. */
static bool user_under_distributed_attack(struct agent *a, const char *login, const char *remote, int64_t now)
{
    return evidence_under_attack(a->st, a->cfg, login, now) && !evidence_known_good(a->st, a->cfg, remote, login, now);
}

static int on_allow(const struct authpolicy_request *r, const char **msg, void *arg)
{
    struct agent *a = arg;
    int64_t now = sg_now_ms();
    const char *why = NULL;
    if (address_banned(a, r->remote, now, &why)) {
        *msg = "address banned";
        return -1;
    }
    /* Dovecot 2.3 sends the same attributes to allow before and after the password check (no
     * "success"), so a held account is refused at both: before it, that tells a guesser nothing
     * the refusal after it would not. */
    if (a->cfg->authpolicy_held_reject && user_held(a, r->login, now)) {
        *msg = "account held";
        return -1;
    }
    if (r->has_success) return 0;
    if (a->cfg->authpolicy_tarpit_s > 0 && user_under_distributed_attack(a, r->login, r->remote, now)) {
        *msg = "account under attack";
        return (int)a->cfg->authpolicy_tarpit_s;
    }
    return 0;
}

/* A report is an event like a log line's; the same attempt in Dovecot's log counts once. */
static void on_report(const struct authpolicy_request *r, void *arg)
{
    struct agent *a = arg;
    /* Refused by this service: no password was found wrong (before the check none was tried;
     * after it, a held account's was right), so it is no failure. Counted, a held account's owner
     * polling with her password would get her address banned. */
    if (r->policy_reject) return;
    struct sg_event ev;
    authpolicy_report_event(r, &ev);
    if (a->once && a->cfg->authpolicy_log_auth_lines) attempt_once_join(a->once, ATTEMPT_REPORT, &ev, sg_now_ms());
    agent_event(a, &ev);
}

int agent_authpolicy_start(struct agent *a)
{
    if (!a->cfg->authpolicy_enabled) return 0;
    char key[AUTHPOLICY_KEY_MAX + 1], err[512];
    if (authpolicy_key_load(a->cfg->authpolicy_key_file, key, err, sizeof err) < 0) {
        sg_log(SG_LOG_ERR, "authpolicy: %s", err);
        return -1;
    }
    struct authpolicy_ops ops = {.allow = on_allow, .report = on_report, .arg = a};
    a->authpolicy = authpolicy_new(key, &ops);
    memset(key, 0, sizeof key);
    if (!a->authpolicy) return -1;
    a->authpolicy_http = authpolicy_http_new(a->loop, a->cfg->authpolicy_listen, false, a->authpolicy);
    if (!a->authpolicy_http) { authpolicy_destroy(&a->authpolicy); return -1; }
    a->once = attempt_once_new();
    return 0;
}

void agent_authpolicy_stop(struct agent *a)
{
    authpolicy_http_destroy(&a->authpolicy_http);
    authpolicy_destroy(&a->authpolicy);
    attempt_once_destroy(&a->once);
}

void agent_authpolicy_status(struct agent *a, bool json, FILE *out)
{
    struct authpolicy_stats s = {0};
    if (a->authpolicy) authpolicy_stats(a->authpolicy, &s);
    int port = a->authpolicy_http ? authpolicy_http_port(a->authpolicy_http) : 0;
    struct attempt_once_stats o = {0};
    if (a->once) attempt_once_stats(a->once, &o);
    struct http_stats hs;
    memset(&hs, 0, sizeof hs);
    if (a->authpolicy_http) authpolicy_http_stats(a->authpolicy_http, &hs);
    if (json) {
        fprintf(out, ",\"authpolicy\":{\"enabled\":%s,\"port\":%d,\"requests\":%" PRIu64 ",\"allow\":%" PRIu64
                     ",\"report\":%" PRIu64 ",\"rejected\":%" PRIu64 ",\"tarpitted\":%" PRIu64 ",\"bad\":{",
                a->authpolicy ? "true" : "false", port, s.requests, s.allow, s.report, s.rejected, s.tarpitted);
        for (int b = 0; b < AP_BAD__COUNT; b++)
            fprintf(out, "%s\"%s\":%" PRIu64, b ? "," : "", authpolicy_bad_name((enum authpolicy_bad)b), s.bad[b]);
        fprintf(out, ",\"http\":%" PRIu64, hs.broken);
        fprintf(out, "},\"http\":{\"body_cut\":%" PRIu64 ",\"errors\":%" PRIu64 "}", hs.body_cut, hs.errors);
        fprintf(out, ",\"pwhash\":%" PRIu64 ",\"pwhash_ignored\":%" PRIu64 ",\"log_auth_lines\":%s,\"once\":{\"log\":%" PRIu64
                     ",\"report\":%" PRIu64 ",\"once\":%" PRIu64 ",\"evictions\":%" PRIu64 "}}",
                s.pwhash, s.pwhash_ignored, a->cfg->authpolicy_log_auth_lines ? "true" : "false", o.log, o.report, o.once,
                o.evictions);
        return;
    }
    if (!a->authpolicy) return;
    uint64_t bad = hs.broken;
    for (int b = 0; b < AP_BAD__COUNT; b++) bad += s.bad[b];
    fprintf(out, "authpol   port %d: %" PRIu64 " allow (%" PRIu64 " rejected, %" PRIu64 " tarpitted), %" PRIu64
                 " reports, %" PRIu64 " bad requests",
            port, s.allow, s.rejected, s.tarpitted, s.report, bad);
    for (int b = 0; b < AP_BAD__COUNT; b++)
        if (s.bad[b]) fprintf(out, ", %" PRIu64 " %s", s.bad[b], authpolicy_bad_name((enum authpolicy_bad)b));
    if (hs.broken) fprintf(out, ", %" PRIu64 " http", hs.broken);
    fputc('\n', out);
    fprintf(out, "authpol   reports: %" PRIu64 " with a password hash (%" PRIu64 " ignored: not hex); ", s.pwhash,
            s.pwhash_ignored);
    if (a->cfg->authpolicy_log_auth_lines)
        fprintf(out, "log lines read too: %" PRIu64 " attempts counted once of %" PRIu64 " logged and %" PRIu64
                     " reported, %" PRIu64 " evicted\n",
                o.once, o.log, o.report, o.evictions);
    else fputs("Dovecot's auth log lines not read (log_auth_lines = no)\n", out);
}
