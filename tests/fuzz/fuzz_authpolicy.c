/* fuzz_authpolicy.c: libFuzzer target for Dovecot auth-policy requests: the body (any bytes) with
 * the command picked by the first byte, through the whole check; the answer must always be one
 * JSON object with an integer status, and only a 200 may reach the decision. A report's event
 * keeps only a hex password hash of SG_EV_PWHASH_MIN..40 digits and a clean session id. */
#include "agent/authpolicy.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define KEY "fuzz-key-0123456789abcdef"

static int decided;

static int allow(const struct authpolicy_request *r, const char **msg, void *arg)
{
    (void)arg;
    decided++;
    *msg = r->login;              /* attacker-chosen text in the answer: must stay valid JSON */
    return r->login[0] == 'r' ? -1 : r->login[0] == 't' ? 5 : 0;
}

static void report(const struct authpolicy_request *r, void *arg)
{
    (void)arg;
    decided++;
    struct sg_event ev;
    authpolicy_report_event(r, &ev);
    size_t h = strlen(ev.pwhash), s = strlen(ev.session);
    if ((h && (h < SG_EV_PWHASH_MIN || strspn(ev.pwhash, "0123456789abcdef") != h)) || h >= SG_EV_PWHASH_MAX) abort();
    if (s >= SG_EV_SESSION_MAX || strspn(ev.session, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=_.-") != s)
        abort();
    if (ev.count != 1 || ev.dup || (ev.kind != SG_EV_AUTH_OK && ev.kind != SG_EV_AUTH_FAIL)) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct authpolicy *ap;
    if (!ap) {
        struct authpolicy_ops ops = {.allow = allow, .report = report};
        ap = authpolicy_new(KEY, &ops);
        if (!ap) abort();
    }
    if (size < 1) return 0;
    static const char *const cmds[] = {"allow", "report", "x", NULL};
    const char *cmd = cmds[data[0] % 4];
    decided = 0;
    char out[512];
    int code = authpolicy_handle(ap, "POST", cmd, KEY, (const char *)data + 1, size - 1, false, out, sizeof out);
    if ((code != 200 && decided) || (code == 200 && decided != 1)) abort();
    json_error_t e;
    json_t *o = json_loads(out, 0, &e);
    if (!o || !json_is_integer(json_object_get(o, "status"))) abort();
    json_decref(o);
    return 0;
}
