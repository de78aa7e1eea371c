/* authpolicy.c: Dovecot's auth-policy requests checked and answered (see authpolicy.h). The body is
 * parsed by jansson (strict JSON: duplicate keys refused, bounded depth); the API key is compared
 * as two BLAKE2b digests with sodium_memcmp, so neither its length nor its bytes leak by timing. */
#include "agent/authpolicy.h"
#include "agent/util.h"
#include "common/text.h"

#include <errno.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct authpolicy {
    unsigned char key_hash[crypto_generichash_BYTES];
    bool has_key;
    struct authpolicy_ops ops;
    struct authpolicy_stats n;
};

static const char *const bad_names[AP_BAD__COUNT] = {"method", "key", "size", "json", "field", "command"};
static const int bad_http[AP_BAD__COUNT] = {405, 401, 413, 400, 400, 400};
static const char *const bad_msgs[AP_BAD__COUNT] = {
    "only POST is accepted", "missing or wrong " AUTHPOLICY_KEY_HEADER, "request body too large",
    "body is not one JSON object", "a field is missing, of the wrong type or not clean text",
    "command must be allow or report"};

const char *authpolicy_bad_name(enum authpolicy_bad b)
{
    return (unsigned)b < AP_BAD__COUNT ? bad_names[b] : "?";
}

struct authpolicy *authpolicy_new(const char *api_key, const struct authpolicy_ops *ops)
{
    if (sodium_init() < 0) return NULL;
    struct authpolicy *ap = sg_xcalloc(1, sizeof *ap);
    ap->ops = *ops;
    if (api_key && *api_key) {
        crypto_generichash(ap->key_hash, sizeof ap->key_hash, (const unsigned char *)api_key, strlen(api_key), NULL, 0);
        ap->has_key = true;
    }
    return ap;
}

void authpolicy_destroy(struct authpolicy **pap)
{
    if (!*pap) return;
    sodium_memzero(*pap, sizeof **pap);
    free(*pap);
    *pap = NULL;
}

void authpolicy_stats(const struct authpolicy *ap, struct authpolicy_stats *out)
{
    *out = ap->n;
}

int authpolicy_key_load(const char *path, char *key, char *err, size_t errsize)
{
    FILE *f = fopen(path, "re");
    if (!f) {
        snprintf(err, errsize, "api_key_file %s: %s", path, strerror(errno));
        return -1;
    }
    /* One byte more than the longest key, so a longer first line is refused, not silently cut
     * (a cut key would make every request 401). */
    char buf[AUTHPOLICY_KEY_MAX + 2];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    size_t len = strcspn(buf, "\r\n");
    buf[len] = '\0';
    if (len > AUTHPOLICY_KEY_MAX) {
        snprintf(err, errsize, "api_key_file %s: the key must be at most %d characters", path, AUTHPOLICY_KEY_MAX);
        sodium_memzero(buf, sizeof buf);
        return -1;
    }
    memcpy(key, buf, len + 1);
    sodium_memzero(buf, sizeof buf);
    if (len < AUTHPOLICY_KEY_MIN) {
        snprintf(err, errsize, "api_key_file %s: the key must be at least %d characters on the first line", path,
                 AUTHPOLICY_KEY_MIN);
        sodium_memzero(key, AUTHPOLICY_KEY_MAX + 1);
        return -1;
    }
    return 0;
}

static bool key_ok(const struct authpolicy *ap, const char *key)
{
    if (!ap->has_key || !key) return false;
    unsigned char h[crypto_generichash_BYTES];
    crypto_generichash(h, sizeof h, (const unsigned char *)key, strlen(key), NULL, 0);
    return sodium_memcmp(h, ap->key_hash, sizeof h) == 0;
}

static void answer(char *out, size_t size, int status, const char *msg)
{
    json_t *o = json_pack("{s:i, s:s}", "status", status, "msg", msg ? msg : "");
    size_t n = o ? json_dumpb(o, out, size ? size - 1 : 0, JSON_COMPACT) : 0;
    json_decref(o);
    if (size) out[n < size ? n : size - 1] = '\0';
}

static int refuse(struct authpolicy *ap, enum authpolicy_bad b, char *out, size_t size)
{
    ap->n.bad[b]++;
    answer(out, size, -1, bad_msgs[b]);
    return bad_http[b];
}

/* A string field: absent is "" unless required; present must be a clean string that fits. */
static bool get_str(json_t *o, const char *name, bool required, char *dst)
{
    json_t *v = json_object_get(o, name);
    dst[0] = '\0';
    if (!v) return !required;
    if (!json_is_string(v)) return false;
    size_t n = json_string_length(v);
    const char *s = json_string_value(v);
    if (n >= AUTHPOLICY_FIELD_MAX || !sg_text_clean(s, n)) return false;
    memcpy(dst, s, n + 1);
    return true;
}

static bool get_bool(json_t *o, const char *name, bool *present, bool *dst)
{
    json_t *v = json_object_get(o, name);
    if (present) *present = v != NULL;
    *dst = false;
    if (!v) return true;
    if (!json_is_boolean(v)) return false;
    *dst = json_is_true(v);
    return true;
}

/* Dovecot's protocol names (%s) to the services scenarios name; "auth" for anything else. */
static const char *service_of(const char *protocol)
{
    static const char *const same[] = {"imap", "pop3", "smtp", "submission", "sieve"};
    for (size_t i = 0; i < sizeof same / sizeof same[0]; i++)
        if (!strcmp(protocol, same[i])) return same[i];
    if (!strcmp(protocol, "managesieve")) return "sieve";
    return "auth";
}

void authpolicy_report_event(const struct authpolicy_request *r, struct sg_event *ev)
{
    memset(ev, 0, sizeof *ev);
    ev->kind = r->success ? SG_EV_AUTH_OK : SG_EV_AUTH_FAIL;
    if (*r->remote && detect_ip_parse(r->remote, strlen(r->remote), &ev->family, ev->addr, ev->ip) < 0) ev->family = 0;
    if (!ev->family) ev->ip[0] = '\0';
    size_t ulen = strnlen(r->login, sizeof ev->user - 1);   /* truncated like a log line's user */
    memcpy(ev->user, r->login, ulen);
    snprintf(ev->service, sizeof ev->service, "%s", service_of(r->protocol));
    snprintf(ev->rule, sizeof ev->rule, "authpolicy");
    detect_pwhash_copy(ev->pwhash, r->pwhash, strlen(r->pwhash));
    detect_session_copy(ev->session, r->session_id, strlen(r->session_id));
    ev->count = 1;
}

int authpolicy_handle(struct authpolicy *ap, const char *method, const char *command, const char *key,
                      const char *body, size_t len, bool oversize, char *out, size_t size)
{
    ap->n.requests++;
    if (!method || strcmp(method, "POST")) return refuse(ap, AP_BAD_METHOD, out, size);
    if (!key_ok(ap, key)) return refuse(ap, AP_BAD_KEY, out, size);
    if (oversize || len > AUTHPOLICY_MAX_BODY) return refuse(ap, AP_BAD_SIZE, out, size);
    struct authpolicy_request r;
    memset(&r, 0, sizeof r);
    if (command && !strcmp(command, "allow")) r.cmd = AP_CMD_ALLOW;
    else if (command && !strcmp(command, "report")) r.cmd = AP_CMD_REPORT;
    else return refuse(ap, AP_BAD_COMMAND, out, size);
    json_error_t err;
    json_t *o = json_loadb(body ? body : "", len, JSON_REJECT_DUPLICATES, &err);
    if (!o || !json_is_object(o)) { json_decref(o); return refuse(ap, AP_BAD_JSON, out, size); }
    /* Dovecot's default attributes; any others are ignored. remote is empty for a local client. */
    bool ok = get_str(o, "login", true, r.login) && get_str(o, "remote", true, r.remote) &&
              get_str(o, "protocol", true, r.protocol) && get_str(o, "pwhash", false, r.pwhash) &&
              get_str(o, "device_id", false, r.device_id) && get_str(o, "session_id", false, r.session_id) &&
              get_str(o, "fail_type", false, r.fail_type) && get_bool(o, "success", &r.has_success, &r.success) &&
              get_bool(o, "policy_reject", NULL, &r.policy_reject) && get_bool(o, "tls", NULL, &r.tls);
    json_decref(o);
    if (!ok || (r.cmd == AP_CMD_REPORT && !r.has_success)) return refuse(ap, AP_BAD_FIELD, out, size);
    if (r.cmd == AP_CMD_REPORT) {
        ap->n.report++;
        /* Dovecot's pwhash is a truncated hash salted with auth_policy_hash_nonce, hex: anything else
         * is kept out of the state (it could be a password, were the attribute set to %w). */
        char h[SG_EV_PWHASH_MAX];
        bool had = r.pwhash[0] != '\0';
        if (detect_pwhash_copy(h, r.pwhash, strlen(r.pwhash))) ap->n.pwhash++;
        else if (had) ap->n.pwhash_ignored++;
        snprintf(r.pwhash, sizeof r.pwhash, "%s", h);
        if (ap->ops.report) ap->ops.report(&r, ap->ops.arg);
        answer(out, size, 0, "");
        return 200;
    }
    ap->n.allow++;
    const char *msg = NULL;
    int status = ap->ops.allow ? ap->ops.allow(&r, &msg, ap->ops.arg) : 0;
    if (status < 0) { status = -1; ap->n.rejected++; }
    else if (status > 0) ap->n.tarpitted++;
    answer(out, size, status, msg);
    return 200;
}
