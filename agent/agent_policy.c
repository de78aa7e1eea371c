/* agent_policy.c: the policy service's settings from the configuration, and its answers to
 * Postfix from the replicated state: holds, throttles, and cluster-wide sending quotas counted
 * from the requests themselves. */
#include "agent/agent.h"
#include "agent/util.h"
#include "common/key.h"

#include <inttypes.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

int agent_policy_config(const struct config *cfg, struct policy_config *pc, char *err, size_t size)
{
    policy_config_defaults(pc);
    pc->tcp_addr = cfg->policy_listen;
    pc->unix_path = cfg->policy_socket;
    err[0] = '\0';
    if (!pc->unix_path) return 0;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", pc->unix_path);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = '\0';
    struct stat st;
    if (stat(dir[0] ? dir : "/", &st) != 0 || !S_ISDIR(st.st_mode)) {
        if (cfg->policy_socket_set) {
            snprintf(err, size, "[policy] socket: directory %s does not exist", dir);
            return -1;
        }
        snprintf(err, size, "policy service: %s does not exist (no Postfix here, or not set up); not listening on %s",
                 dir, pc->unix_path);
        pc->unix_path = NULL;
        return 0;
    }
    const struct passwd *pw = getpwnam(cfg->policy_user);
    if (!pw) {
        snprintf(err, size, "[policy] user: no user '%s' on this system", cfg->policy_user);
        return -1;
    }
    pc->peer_uid = (long)pw->pw_uid;
    return 0;
}

/* The subject of a request field (address or user), or NULL when the field is empty or unusable. */
static const struct sg_subject *req_subject(enum sg_subject_type type, const char *value, struct sg_subject *out)
{
    return value && *value && sg_subject_set(out, type, value) == 0 ? out : NULL;
}

static bool active_kind(struct agent *a, enum sg_record_kind kind, const struct sg_subject *subj, int64_t now,
                        const char **reason)
{
    char key[GOSSIP_KEY_MAX + 1];
    if (!subj || sg_key_format(kind, subj, key, sizeof key) < 0) return false;
    const struct gossip_ban *b = gossip_state_ban_active(a->st, key, now);
    if (!b || b->kind != (uint8_t)kind) return false;
    *reason = b->scenario;
    return true;
}

struct quota {
    char key[GOSSIP_KEY_MAX + 1];
    uint64_t add;
    int64_t limit;
    const char *why;
};

/* Fills q for "SCOPE|SUBJECT" (a quota scope); false when there is no such quota or no subject. */
static bool quota_key(struct quota *q, const char *what, const struct sg_subject *subj, uint64_t add, int64_t limit,
                      const char *why)
{
    if (limit <= 0 || !subj || sg_evidence_format(what, subj, q->key, sizeof q->key) < 0) return false;
    q->add = add;
    q->limit = limit;
    q->why = why;
    return true;
}

int agent_policy_decide(const struct policy_request *req, char *action, size_t size, void *arg)
{
    struct agent *a = arg;
    int64_t now = sg_now_ms();
    const char *user = req->sasl_username;
    bool allow_user = false;
    for (size_t i = 0; user && *user && i < a->cfg->user_allowlist.n; i++)
        allow_user |= !strcmp(a->cfg->user_allowlist.v[i], user);
    struct policy_verdict v = {0};
    const char *why = NULL;
    struct sg_subject ipbuf, ubuf;
    const struct sg_subject *ipsubj = req_subject(SG_SUBJ_IP, req->client_address, &ipbuf);
    const struct sg_subject *usubj = req_subject(SG_SUBJ_USER, user, &ubuf);
    if (!allow_user && active_kind(a, SG_REC_HOLD, usubj, now, &why)) {
        v.held = true;
    } else if (active_kind(a, SG_REC_THROTTLE, ipsubj, now, &why) ||
               (!allow_user && active_kind(a, SG_REC_THROTTLE, usubj, now, &why))) {
        v.throttled = true;
    } else {
        /* Quotas count each message once, at the stage that knows its recipients, and only
         * when it is accepted: a deferred message that Postfix retries is not counted twice. */
        uint32_t rcpts = 0;
        bool counts = policy_request_counts(req, POLICY_COUNT_END_OF_MESSAGE, &rcpts);
        uint64_t msgs = counts ? 1 : 0;
        bool has_user = user && *user && !allow_user;
        struct quota q[3];
        size_t nq = 0;
        const struct config *c = a->cfg;
        if (has_user && quota_key(&q[nq], SG_SCOPE_QUOTA_MSG, usubj, msgs, c->quota_user_messages, "user message quota")) nq++;
        if (has_user && quota_key(&q[nq], SG_SCOPE_QUOTA_RCPT, usubj, counts ? rcpts : 0, c->quota_user_recipients,
                                  "user recipient quota")) nq++;
        if (quota_key(&q[nq], SG_SCOPE_QUOTA_MSG, ipsubj, msgs, c->quota_ip_messages, "client message quota")) nq++;
        int64_t win = c->quota_window_s * 1000;
        for (size_t i = 0; i < nq && !v.throttled; i++) {
            uint64_t total = gossip_state_counter_total(a->st, q[i].key, win, now);
            /* At RCPT (nothing to add) a sender at its limit is already deferred. */
            if ((int64_t)(total + (q[i].add ? q[i].add : 1)) > q[i].limit) {
                v.throttled = true;
                why = q[i].why;
            }
        }
        if (!v.throttled && counts) {
            for (size_t i = 0; i < nq; i++)
                if (q[i].add) gossip_state_counter_add(a->st, q[i].key, q[i].add, now);
            agent_gossip_notify(a);
        }
    }
    v.reason = why;
    struct policy_action_cfg ac = {
        .hold_action = strcmp(a->cfg->hold_action, "HOLD") ? POLICY_HOLD_REJECT : POLICY_HOLD_HOLD,
    };
    return policy_action_format(action, size, &v, &ac) < 0 ? -1 : 0;
}
