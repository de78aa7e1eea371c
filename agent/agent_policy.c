/* agent_policy.c: the policy service's settings from the configuration, and its answers to
 * Postfix from the replicated state: holds, throttle records, and the sending limits
 * (enforce/throttle.h) counted from the requests themselves. */
#include "agent/agent.h"
#include "agent/util.h"
#include "agent/agent_throttle.h"
#include "common/key.h"

#include <inttypes.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
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

/* Submission or port 25: what the request says (policy_context=submission|smtp, which main.cf
 * can set per service), else the port it came in on (465 and 587 are submission), else whether the
 * client authenticated. */
enum throttle_service agent_policy_service(const struct policy_request *req)
{
    if (!strcasecmp(req->policy_context, "submission")) return THROTTLE_SVC_SUBMISSION;
    if (!strcasecmp(req->policy_context, "smtp")) return THROTTLE_SVC_SMTP;
    const char *port = policy_request_get(req, "server_port");
    if (port && (!strcmp(port, "587") || !strcmp(port, "465"))) return THROTTLE_SVC_SUBMISSION;
    if (port && !strcmp(port, "25")) return THROTTLE_SVC_SMTP;
    return req->sasl_username[0] ? THROTTLE_SVC_SUBMISSION : THROTTLE_SVC_SMTP;
}

/* The sending limits, once per message at END-OF-MESSAGE: checked, noted and counted. Writes the
 * action for a deferral, hold or reject into action and returns true; false lets the mail on. */
static bool throttled(struct agent *a, const struct policy_request *req, int64_t now, char *action, size_t size)
{
    uint32_t rcpts = 0;
    const struct throttle_config *c = a->cfg->throttle;
    if (!c->nlimits || !policy_request_counts(req, POLICY_COUNT_END_OF_MESSAGE, &rcpts)) return false;
    struct throttle_input in = {
        .user = req->sasl_username,   /* [policy] user_allowlist is in the limits' allowlist */
        .sender = req->sender,
        .client = req->client_address,
        .service = agent_policy_service(req),
        .amount = {1, rcpts, req->size ? req->size : 1},
    };
    struct throttle_store st = agent_throttle_store(a);
    struct throttle_decision d;
    enum throttle_tier t = throttle_check(c, &in, now, &st, &d);
    throttle_commit(c, &in, t, now, &st);
    agent_gossip_notify(a);
    if (t == THROTTLE_NONE) return false;
    agent_throttle_note(a, &d, now);
    if (t == THROTTLE_WARN) return false;
    return throttle_action(&d.hits[d.worst], action, size) == 0;
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
    } else if (throttled(a, req, now, action, size)) {
        return 0;
    }
    v.reason = why;
    struct policy_action_cfg ac = {
        .hold_action = strcmp(a->cfg->hold_action, "HOLD") ? POLICY_HOLD_REJECT : POLICY_HOLD_HOLD,
    };
    return policy_action_format(action, size, &v, &ac) < 0 ? -1 : 0;
}
