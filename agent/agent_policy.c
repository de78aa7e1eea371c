/* agent_policy.c: answers Postfix policy requests from the replicated state: holds, throttles, and
 * cluster-wide sending quotas counted from the requests themselves. */
#include "agent/agent.h"
#include "agent/util.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static bool active_kind(struct agent *a, const char *prefix, const char *subject, uint8_t kind, int64_t now,
                        const char **reason)
{
    if (!subject || !*subject) return false;
    char key[GOSSIP_KEY_MAX + 1];
    int n = snprintf(key, sizeof key, "%s%s", prefix, subject);
    if (n < 0 || n > GOSSIP_KEY_MAX) return false;
    const struct gossip_ban *b = gossip_state_ban_active(a->st, key, now);
    if (!b || b->kind != kind) return false;
    *reason = b->scenario;
    return true;
}

/* Adds to a quota counter and tells whether the cluster-wide total is now over the limit. */
static bool over_quota(struct agent *a, const char *what, const char *subject, uint64_t add, int64_t limit, int64_t now)
{
    if (limit <= 0 || !subject || !*subject) return false;
    char key[GOSSIP_KEY_MAX + 1];
    int n = snprintf(key, sizeof key, "quota-%s|%s", what, subject);
    if (n < 0 || n > GOSSIP_KEY_MAX) return false;
    int64_t win = a->cfg->quota_window_s * 1000;
    uint64_t total = gossip_state_counter_total(a->st, key, win, now);
    if (add) {
        gossip_state_counter_add(a->st, key, add, now);
        total += add;
        agent_gossip_notify(a);
    }
    return (int64_t)total > limit;
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
    char ipsubj[80], usubj[GOSSIP_KEY_MAX + 1];
    snprintf(ipsubj, sizeof ipsubj, "ip:%s", req->client_address ? req->client_address : "");
    snprintf(usubj, sizeof usubj, "user:%s", user ? user : "");
    if (!allow_user && active_kind(a, "user:", user, GOSSIP_BAN_KIND_HOLD, now, &why)) {
        v.held = true;
    } else if (active_kind(a, "throttle:ip:", req->client_address, GOSSIP_BAN_KIND_THROTTLE, now, &why) ||
               (!allow_user && active_kind(a, "throttle:user:", user, GOSSIP_BAN_KIND_THROTTLE, now, &why))) {
        v.throttled = true;
    } else {
        /* Quotas count each message once, at the stage that knows its recipients. */
        uint32_t rcpts = 0;
        bool counts = policy_request_counts(req, POLICY_COUNT_END_OF_MESSAGE, &rcpts);
        uint64_t msgs = counts ? 1 : 0;
        bool has_user = user && *user && !allow_user;
        if (has_user && over_quota(a, "msg", usubj, msgs, a->cfg->quota_user_messages, now)) {
            v.throttled = true;
            why = "user message quota";
        }
        if (has_user && over_quota(a, "rcpt", usubj, counts ? rcpts : 0, a->cfg->quota_user_recipients, now)) {
            v.throttled = true;
            why = "user recipient quota";
        }
        if (req->client_address && over_quota(a, "msg", ipsubj, msgs, a->cfg->quota_ip_messages, now)) {
            v.throttled = true;
            why = "client message quota";
        }
    }
    v.reason = why;
    struct policy_action_cfg ac = {
        .hold_action = strcmp(a->cfg->hold_action, "HOLD") ? POLICY_HOLD_REJECT : POLICY_HOLD_HOLD,
    };
    return policy_action_format(action, size, &v, &ac) < 0 ? -1 : 0;
}
