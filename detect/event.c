/* event.c: event kind names, the address normaliser every rule's `ip` capture goes through, and the
 * checks of password hashes and session ids that log lines and auth-policy reports share. */
#include "detect/event.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

static const char *const kind_names[SG_EV__COUNT] = {
    [SG_EV_AUTH_FAIL] = "auth_fail", [SG_EV_AUTH_OK] = "auth_ok", [SG_EV_RELAY_DENIED] = "relay_denied",
    [SG_EV_REJECTED] = "rejected",   [SG_EV_CONN] = "conn",       [SG_EV_SENT] = "sent",
    [SG_EV_RECEIVED] = "received",
};

const char *detect_kind_name(enum sg_event_kind k)
{
    return ((unsigned)k < SG_EV__COUNT) ? kind_names[k] : "?";
}

int detect_kind_parse(const char *name, enum sg_event_kind *out)
{
    for (int k = 0; k < SG_EV__COUNT; k++)
        if (!strcmp(name, kind_names[k])) {
            *out = (enum sg_event_kind)k;
            return 0;
        }
    return -1;
}

bool detect_pwhash_copy(char *dst, const char *s, size_t n)
{
    dst[0] = '\0';
    if (n < SG_EV_PWHASH_MIN || n > 128 || strspn(s, "0123456789abcdef") < n) return false;
    size_t k = n < SG_EV_PWHASH_MAX - 1 ? n : SG_EV_PWHASH_MAX - 1;
    memcpy(dst, s, k);
    dst[k] = '\0';
    return true;
}

bool detect_session_copy(char *dst, const char *s, size_t n)
{
    static const char ok[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=_.-";
    dst[0] = '\0';
    if (n == 0 || n >= SG_EV_SESSION_MAX || strspn(s, ok) < n) return false;
    memcpy(dst, s, n);
    dst[n] = '\0';
    return true;
}

bool detect_sender_copy(char *dst, const char *s, size_t n)
{
    bool whole = n < SG_EV_SENDER_MAX;
    if (!whole) {
        s += n - (SG_EV_SENDER_MAX - 1);
        n = SG_EV_SENDER_MAX - 1;
    }
    memcpy(dst, s, n);
    dst[n] = '\0';
    return whole;
}

bool detect_kind_is_abuse(enum sg_event_kind k)
{
    return k == SG_EV_AUTH_FAIL || k == SG_EV_RELAY_DENIED || k == SG_EV_REJECTED;
}

/* Dotted quad with decimal octets; leading zeros are read as decimal (as fail2ban and sshd print them),
 * not octal as inet_aton would. */
static int parse_v4(const char *s, size_t len, uint8_t out[4])
{
    size_t i = 0;
    for (int part = 0; part < 4; part++) {
        unsigned v = 0, digits = 0;
        while (i < len && s[i] >= '0' && s[i] <= '9') {
            v = v * 10 + (unsigned)(s[i] - '0');
            if (++digits > 3 || v > 255) return -1;
            i++;
        }
        if (!digits) return -1;
        out[part] = (uint8_t)v;
        if (part < 3) {
            if (i >= len || s[i] != '.') return -1;
            i++;
        }
    }
    return i == len ? 0 : -1;
}

/* RFC 5952 text of an IPv6 address, as inet_ntop writes it but without its sprintf per group: lower-case
 * hex, leading zeros dropped, the longest run (first on a tie) of two or more zero groups as "::".
 * Addresses whose first 96 bits are zero keep inet_ntop's own form (it writes a dotted quad there). */
static void v6_text(const uint8_t a[16], char *text)
{
    static const uint8_t zero12[12] = {0};
    if (!memcmp(a, zero12, 12)) {
        if (!inet_ntop(AF_INET6, a, text, 46)) text[0] = '\0';
        return;
    }
    unsigned g[8];
    for (int i = 0; i < 8; i++) g[i] = (unsigned)a[2 * i] << 8 | a[2 * i + 1];
    int best = -1, best_len = 0;
    for (int i = 0; i < 8;) {
        if (g[i]) { i++; continue; }
        int j = i;
        while (j < 8 && !g[j]) j++;
        if (j - i > best_len && j - i >= 2) { best = i; best_len = j - i; }
        i = j;
    }
    static const char hex[] = "0123456789abcdef";
    char *q = text;
    for (int i = 0; i < 8; i++) {
        if (i == best) {
            *q++ = ':';
            if (i == 0) *q++ = ':';
            i += best_len - 1;
            continue;
        }
        bool lead = true;
        for (int sh = 12; sh >= 0; sh -= 4) {
            unsigned d = (g[i] >> sh) & 15;
            if (d || !lead || sh == 0) { *q++ = hex[d]; lead = false; }
        }
        if (i < 7) *q++ = ':';
    }
    *q = '\0';
}

int detect_ip_parse(const char *s, size_t len, int *family, uint8_t addr[16], char *text)
{
    char buf[64];
    uint8_t a[16];
    if (len >= 2 && s[0] == '[' && s[len - 1] == ']') { s++; len -= 2; }
    if (len == 0 || len >= sizeof buf) return -1;
    memset(a, 0, sizeof a);
    if (parse_v4(s, len, a) == 0) {
        *family = AF_INET;
    } else {
        memcpy(buf, s, len);
        buf[len] = '\0';
        char *pct = strchr(buf, '%');   /* zone index: meaningless off-host, dropped */
        if (pct) *pct = '\0';
        struct in6_addr in6;
        if (inet_pton(AF_INET6, buf, &in6) != 1) return -1;
        if (IN6_IS_ADDR_V4MAPPED(&in6)) {
            memcpy(a, in6.s6_addr + 12, 4);
            *family = AF_INET;
        } else {
            memcpy(a, in6.s6_addr, 16);
            *family = AF_INET6;
        }
    }
    memcpy(addr, a, 16);
    if (text && *family == AF_INET) {   /* by hand: glibc's inet_ntop goes through sprintf */
        char *q = text;
        for (int i = 0; i < 4; i++) {
            unsigned v = a[i];
            if (v >= 100) *q++ = (char)('0' + v / 100);
            if (v >= 10) *q++ = (char)('0' + v / 10 % 10);
            *q++ = (char)('0' + v % 10);
            *q++ = i < 3 ? '.' : '\0';
        }
    } else if (text) {
        v6_text(a, text);
    }
    return 0;
}
