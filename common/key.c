/* key.c: parsing and printing of subjects, record keys and evidence keys (see key.h). */
#include "common/key.h"
#include "common/text.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

static const char *const subj_prefix[] = {[SG_SUBJ_IP] = "ip:", [SG_SUBJ_NET] = "net:", [SG_SUBJ_USER] = "user:",
                                          [SG_SUBJ_SENDER] = "from:", [SG_SUBJ_DOMAIN] = "dom:"};
#define PFX_THROTTLE "throttle:"
#define PFX_OFFENSE "offense:"
#define PFX_ALLOW "allow:"

/* Parses an address, or with prefix an "ADDR/LEN" prefix (the length may be left out: a full one),
 * refusing set host bits. */
static int parse_addr(const char *v, bool prefix, uint8_t *family, uint8_t *len)
{
    char buf[INET6_ADDRSTRLEN + 8];
    size_t n = strlen(v);
    if (n == 0 || n >= sizeof buf) return -1;
    memcpy(buf, v, n + 1);
    long plen = -1;
    char *slash = strchr(buf, '/');
    if (slash) {
        if (!prefix || slash[1] < '0' || slash[1] > '9' || strlen(slash + 1) > 3) return -1;
        char *end;
        plen = strtol(slash + 1, &end, 10);
        if (*end) return -1;
        *slash = '\0';
    }
    uint8_t a[16];
    int fam = inet_pton(AF_INET, buf, a) == 1 ? AF_INET : inet_pton(AF_INET6, buf, a) == 1 ? AF_INET6 : 0;
    if (!fam) return -1;
    int full = fam == AF_INET ? 32 : 128;
    if (plen > full) return -1;
    if (plen < 0) plen = full;
    for (int bit = (int)plen; bit < full; bit++)
        if (a[bit / 8] & (0x80 >> (bit % 8))) return -1;
    *family = (uint8_t)fam;
    *len = (uint8_t)plen;
    return 0;
}

int sg_subject_set(struct sg_subject *out, enum sg_subject_type type, const char *value)
{
    size_t n = value ? strlen(value) : 0;
    if (n == 0 || n > SG_KEY_MAX - strlen("user:") || !sg_text_clean(value, n)) return -1;
    struct sg_subject s = {.type = type};
    if (type == SG_SUBJ_IP || type == SG_SUBJ_NET) {
        if (parse_addr(value, type == SG_SUBJ_NET, &s.family, &s.len) < 0) return -1;
    } else if (type == SG_SUBJ_SENDER) {
        if (!strchr(value, '@')) return -1;
    } else if (type == SG_SUBJ_DOMAIN) {
        if (strchr(value, '@')) return -1;
    } else if (type != SG_SUBJ_USER) {
        return -1;
    }
    memcpy(s.value, value, n + 1);
    *out = s;
    return 0;
}

int sg_subject_parse(const char *text, struct sg_subject *out)
{
    if (!text) return -1;
    for (int t = SG_SUBJ_IP; t <= SG_SUBJ_LAST; t++) {
        size_t pl = strlen(subj_prefix[t]);
        if (!strncmp(text, subj_prefix[t], pl)) return sg_subject_set(out, (enum sg_subject_type)t, text + pl);
    }
    return -1;
}

int sg_subject_format(const struct sg_subject *s, char *buf, size_t size)
{
    if (s->type < SG_SUBJ_IP || s->type > SG_SUBJ_LAST) return -1;
    size_t a = strlen(subj_prefix[s->type]), b = strnlen(s->value, sizeof s->value);
    if (b == sizeof s->value || a + b >= size || a + b > SG_KEY_MAX) return -1;
    memcpy(buf, subj_prefix[s->type], a);   /* a hot path (every policy request): no printf */
    memcpy(buf + a, s->value, b + 1);
    return 0;
}

uint64_t sg_subject_span(const struct sg_subject *s)
{
    if (s->type != SG_SUBJ_IP && s->type != SG_SUBJ_NET) return 0;
    int host = s->family == AF_INET ? 32 - s->len : 64 - s->len;
    if (host <= 0) return 1;
    return host >= 64 ? UINT64_MAX : (uint64_t)1 << host;
}

static bool kind_takes(enum sg_record_kind kind, enum sg_subject_type t)
{
    switch (kind) {
    case SG_REC_BLOCK:
    case SG_REC_ALLOW: return t == SG_SUBJ_IP || t == SG_SUBJ_NET;
    case SG_REC_HOLD: return t == SG_SUBJ_USER;
    case SG_REC_THROTTLE:
    case SG_REC_OFFENSE: return true;
    }
    return false;
}

int sg_key_parse(const char *text, struct sg_key *out)
{
    if (!text) return -1;
    struct sg_key k;
    if (!strncmp(text, PFX_THROTTLE, strlen(PFX_THROTTLE))) {
        k.kind = SG_REC_THROTTLE;
        text += strlen(PFX_THROTTLE);
    } else if (!strncmp(text, PFX_OFFENSE, strlen(PFX_OFFENSE))) {
        k.kind = SG_REC_OFFENSE;
        text += strlen(PFX_OFFENSE);
    } else if (!strncmp(text, PFX_ALLOW, strlen(PFX_ALLOW))) {
        k.kind = SG_REC_ALLOW;
        text += strlen(PFX_ALLOW);
    } else {
        k.kind = SG_REC_BLOCK;   /* or hold, by the subject */
    }
    if (sg_subject_parse(text, &k.subj) < 0) return -1;
    if (k.kind == SG_REC_BLOCK && k.subj.type == SG_SUBJ_USER) k.kind = SG_REC_HOLD;
    if (!kind_takes(k.kind, k.subj.type)) return -1;   /* a bare "from:" or "dom:" is no record */
    *out = k;
    return 0;
}

int sg_key_format(enum sg_record_kind kind, const struct sg_subject *s, char *buf, size_t size)
{
    if (!kind_takes(kind, s->type)) return -1;
    const char *pfx = kind == SG_REC_THROTTLE ? PFX_THROTTLE : kind == SG_REC_OFFENSE ? PFX_OFFENSE
                    : kind == SG_REC_ALLOW ? PFX_ALLOW : "";
    char subj[SG_KEY_MAX + 1];
    if (sg_subject_format(s, subj, sizeof subj) < 0) return -1;
    int n = snprintf(buf, size, "%s%s", pfx, subj);
    return n < 0 || (size_t)n >= size || n > SG_KEY_MAX ? -1 : 0;
}

bool sg_scope_ok(const char *scope, bool scenario)
{
    static const char *const builtin[] = {SG_SCOPE_OKUSERS, SG_SCOPE_FAILUSERS, SG_SCOPE_BANNED, SG_SCOPE_QUOTA_MSG,
                                          SG_SCOPE_QUOTA_RCPT, SG_SCOPE_GOODADDRS, SG_SCOPE_STALE,
                                          SG_SCOPE_FAILADDRS, SG_SCOPE_PWFAIL};
    /* one pass (every counter key of every policy request comes here): length, separators, and
     * whether anything but printable ASCII needs the full clean-text check */
    size_t n = 0;
    bool ascii = true;
    for (; scope && scope[n]; n++) {
        unsigned char c = (unsigned char)scope[n];
        if (c == '|' || c == ':') return false;
        ascii &= c >= 0x20 && c < 0x7f;
    }
    if (n == 0 || n > 63 || (!ascii && !sg_text_clean(scope, n))) return false;
    for (size_t i = 0; scenario && i < sizeof builtin / sizeof builtin[0]; i++)
        if (!strcmp(scope, builtin[i])) return false;
    if (scenario && !strncmp(scope, SG_SCOPE_THROTTLE, strlen(SG_SCOPE_THROTTLE))) return false;
    return true;
}

int sg_evidence_format(const char *scope, const struct sg_subject *s, char *buf, size_t size)
{
    if (!sg_scope_ok(scope, false)) return -1;
    char subj[SG_KEY_MAX + 1];
    if (sg_subject_format(s, subj, sizeof subj) < 0) return -1;
    int n = snprintf(buf, size, "%s|%s", scope, subj);
    return n < 0 || (size_t)n >= size || n > SG_KEY_MAX ? -1 : 0;
}

int sg_evidence_format_text(const char *scope, const char *subject, char *buf, size_t size)
{
    bool known = false;
    for (int t = SG_SUBJ_IP; t <= SG_SUBJ_LAST && !known; t++) {
        size_t i = 0;
        while (subj_prefix[t][i] && subject[i] == subj_prefix[t][i]) i++;
        known = !subj_prefix[t][i] && subject[i];
    }
    if (!known || !sg_scope_ok(scope, false)) return -1;
    size_t a = strlen(scope), b = strlen(subject);
    if (a + 1 + b >= size || a + 1 + b > SG_KEY_MAX) return -1;
    memcpy(buf, scope, a);   /* a hot path: no printf */
    buf[a] = '|';
    memcpy(buf + a + 1, subject, b + 1);
    return 0;
}

int sg_evidence_parse(const char *text, size_t *scope_len, struct sg_subject *out)
{
    const char *bar = text ? strchr(text, '|') : NULL;
    if (!bar || bar == text || memchr(text, ':', (size_t)(bar - text)) || !sg_text_clean(text, (size_t)(bar - text)))
        return -1;
    if (sg_subject_parse(bar + 1, out) < 0) return -1;
    *scope_len = (size_t)(bar - text);
    return 0;
}

bool sg_evidence_throttle(const char *key)
{
    return key && !strncmp(key, SG_SCOPE_THROTTLE, strlen(SG_SCOPE_THROTTLE));
}

bool sg_evidence_long_lived(const char *key)
{
    size_t n = strlen(SG_SCOPE_GOODADDRS);
    return key && !strncmp(key, SG_SCOPE_GOODADDRS, n) && key[n] == '|';
}
