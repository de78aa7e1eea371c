/* policy_action.c: pure helpers of the policy service: the exact action line for a verdict, the
 * class of an action (for counters), and which request counts once per message for quotas. */
#include "enforce/policy.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

static const char default_hold_text[] = "Sending from this account is suspended; contact your provider";
static const char default_throttle_text[] = "Sending rate limit exceeded, try again later";

/* Appends s to out[*len], stopping one byte short of size. Control characters become spaces:
 * a line break inside an action would end the reply early and desynchronise Postfix. */
static void append_clean(char *out, size_t size, size_t *len, const char *s)
{
    for (; *s && *len + 1 < size; s++) {
        unsigned char c = (unsigned char)*s;
        out[(*len)++] = (c < 0x20 || c == 0x7f) ? ' ' : (char)c;
    }
    out[*len] = '\0';
}

int policy_action_format(char *out, size_t size, const struct policy_verdict *v,
                         const struct policy_action_cfg *cfg)
{
    if (!out || size < 64)
        return -1;
    size_t len = 0;
    out[0] = '\0';
    if (!v || (!v->held && !v->throttled)) {
        append_clean(out, size, &len, "DUNNO");
        return 0;
    }
    const char *text;
    if (v->held) {
        bool hold = cfg && cfg->hold_action == POLICY_HOLD_HOLD;
        append_clean(out, size, &len, hold ? "HOLD " : "REJECT 5.7.1 ");
        text = cfg && cfg->hold_text ? cfg->hold_text : default_hold_text;
    } else {
        append_clean(out, size, &len, "DEFER_IF_PERMIT 4.7.1 ");
        text = cfg && cfg->throttle_text ? cfg->throttle_text : default_throttle_text;
    }
    append_clean(out, size, &len, text);
    if (v->reason && v->reason[0]) {
        append_clean(out, size, &len, " (");
        append_clean(out, size, &len, v->reason);
        /* Keep the parenthesis closed even when the reason was cut. */
        if (len + 1 >= size)
            len = size - 2;
        out[len++] = ')';
        out[len] = '\0';
    }
    while (len > 0 && out[len - 1] == ' ')
        out[--len] = '\0';
    return 0;
}

/* Postfix actions are case-insensitive; a numeric action starts with its SMTP code. */
const char *policy_action_class_name(enum policy_action_class c)
{
    static const char *const names[POLICY_CLASS_COUNT] = {
        [POLICY_CLASS_DUNNO] = "dunno", [POLICY_CLASS_DEFER] = "defer", [POLICY_CLASS_REJECT] = "reject",
        [POLICY_CLASS_HOLD] = "hold", [POLICY_CLASS_OTHER] = "other",
    };
    return (unsigned)c < POLICY_CLASS_COUNT ? names[c] : "?";
}

enum policy_action_class policy_action_classify(const char *action)
{
    if (!action)
        return POLICY_CLASS_OTHER;
    while (*action == ' ' || *action == '\t')
        action++;
    size_t n = 0;
    while (action[n] && action[n] != ' ' && action[n] != '\t')
        n++;
    if (n == 0)
        return POLICY_CLASS_OTHER;
    if (isdigit((unsigned char)action[0])) {
        switch (action[0]) {
        case '2': return POLICY_CLASS_DUNNO;
        case '4': return POLICY_CLASS_DEFER;
        case '5': return POLICY_CLASS_REJECT;
        default: return POLICY_CLASS_OTHER;
        }
    }
    if ((n == 5 && !strncasecmp(action, "DUNNO", 5)) || (n == 2 && !strncasecmp(action, "OK", 2)) ||
        (n == 6 && !strncasecmp(action, "PERMIT", 6)))
        return POLICY_CLASS_DUNNO;
    if (n >= 5 && !strncasecmp(action, "DEFER", 5))
        return POLICY_CLASS_DEFER;      /* DEFER, DEFER_IF_PERMIT, DEFER_IF_REJECT */
    if (n == 6 && !strncasecmp(action, "REJECT", 6))
        return POLICY_CLASS_REJECT;
    if (n == 4 && !strncasecmp(action, "HOLD", 4))
        return POLICY_CLASS_HOLD;
    return POLICY_CLASS_OTHER;
}

bool policy_request_counts(const struct policy_request *req, enum policy_count_stage stage,
                           uint32_t *rcpts)
{
    if (!req || strcasecmp(req->request, "smtpd_access_policy") != 0)
        return false;
    const char *state = stage == POLICY_COUNT_DATA ? "DATA" : "END-OF-MESSAGE";
    if (strcasecmp(req->protocol_state, state) != 0)
        return false;
    /* Postfix before 2.3 sends no recipient_count: the message still counts once. */
    *rcpts = req->recipient_count ? req->recipient_count : 1;
    return true;
}
