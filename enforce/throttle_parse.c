/* throttle_parse.c: the limit spec of [throttle] (see throttle.h): parsing, the canonical
 * printed form, and the derived numbers (capacity, horizon). */
#include "enforce/throttle.h"
#include "agent/util.h"
#include "common/text.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HORIZON_MAX_MS (7LL * 86400 * 1000)   /* a week of slots at most per evaluation */
#define PCT_MAX 100000u

static const char *const key_names[THROTTLE_KEY_COUNT] = {"sasl_username", "sender", "sender_domain",
                                                           "client_address"};
static const char *const measure_names[THROTTLE_MEASURE_COUNT] = {"messages", "recipients", "bytes"};
static const char *const service_names[THROTTLE_SVC_COUNT] = {"any", "submission", "smtp"};
static const char *const tier_names[THROTTLE_TIER_COUNT] = {"none", "warn", "defer", "hold", "reject"};

const char *throttle_tier_name(enum throttle_tier t) { return (unsigned)t < THROTTLE_TIER_COUNT ? tier_names[t] : "?"; }
const char *throttle_measure_name(enum throttle_measure m)
{
    return (unsigned)m < THROTTLE_MEASURE_COUNT ? measure_names[m] : "?";
}
const char *throttle_service_name(enum throttle_service s)
{
    return (unsigned)s < THROTTLE_SVC_COUNT ? service_names[s] : "?";
}
const char *throttle_key_name(enum throttle_key k) { return (unsigned)k < THROTTLE_KEY_COUNT ? key_names[k] : "?"; }

static int fail(char *err, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, size, fmt, ap);
    va_end(ap);
    return -1;
}

static int lookup(const char *const *names, int n, const char *v)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(names[i], v)) return i;
    return -1;
}

static int parse_u64(const char *v, uint64_t min, uint64_t *out)
{
    if (!isdigit((unsigned char)*v)) return -1;
    errno = 0;
    char *end;
    unsigned long long n = strtoull(v, &end, 10);
    if (errno || *end || n < min) return -1;
    *out = n;
    return 0;
}

/* "1h" "90s" "5m" "1d" as milliseconds; a bare unit ("m") is one of it. */
static int parse_dur_ms(const char *v, int64_t *out)
{
    char buf[32];
    if (isalpha((unsigned char)*v) && strlen(v) < sizeof buf - 1) {
        snprintf(buf, sizeof buf, "1%s", v);
        v = buf;
    }
    int64_t s;
    if (sg_parse_duration(v, &s) < 0 || s < 1 || s > HORIZON_MAX_MS / 1000) return -1;
    *out = s * 1000;
    return 0;
}

static void format_dur(int64_t ms, char *buf, size_t size)
{
    int64_t s = ms / 1000;
    if (s % 86400 == 0) snprintf(buf, size, "%lldd", (long long)(s / 86400));
    else if (s % 3600 == 0) snprintf(buf, size, "%lldh", (long long)(s / 3600));
    else if (s % 60 == 0) snprintf(buf, size, "%lldm", (long long)(s / 60));
    else snprintf(buf, size, "%llds", (long long)s);
}

static bool name_ok(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > THROTTLE_NAME_MAX) return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)name[i]) && !strchr("_.-", name[i])) return false;
    return true;
}

/* Next "NAME=VALUE" token of *p into name/value (value may be "quoted text"). 0, 1 at the end, -1 bad. */
static int next_token(const char **p, char *name, size_t nsize, char *value, size_t vsize)
{
    const char *s = *p;
    while (*s == ' ' || *s == '\t') s++;
    if (!*s) return 1;
    const char *eq = s;
    while (*eq && *eq != '=' && *eq != ' ' && *eq != '\t') eq++;
    if (*eq != '=' || eq == s || (size_t)(eq - s) >= nsize) return -1;
    memcpy(name, s, (size_t)(eq - s));
    name[eq - s] = '\0';
    const char *v = eq + 1, *end;
    if (*v == '"') {
        v++;
        end = strchr(v, '"');
        if (!end) return -1;
        *p = end + 1;
        if (**p && **p != ' ' && **p != '\t') return -1;
    } else {
        end = v;
        while (*end && *end != ' ' && *end != '\t') end++;
        *p = end;
    }
    if ((size_t)(end - v) >= vsize) return -1;
    memcpy(value, v, (size_t)(end - v));
    value[end - v] = '\0';
    return 0;
}

static int parse_pct(const char *v, unsigned *out)
{
    size_t n = strlen(v);
    char num[16];
    if (n < 2 || n >= sizeof num || v[n - 1] != '%') return -1;
    memcpy(num, v, n - 1);
    num[n - 1] = '\0';
    uint64_t p;
    if (parse_u64(num, 1, &p) < 0 || p > PCT_MAX) return -1;
    *out = (unsigned)p;
    return 0;
}

static int parse_prefix(const char *v, struct throttle_limit *l)
{
    uint64_t a, b = 128;
    char buf[16];
    if (strlen(v) >= sizeof buf) return -1;
    memcpy(buf, v, strlen(v) + 1);
    char *slash = strchr(buf, '/');
    if (slash) {
        *slash = '\0';
        if (parse_u64(slash + 1, 1, &b) < 0 || b > 128) return -1;
    }
    if (parse_u64(buf, 1, &a) < 0 || a > 32) return -1;
    l->prefix4 = (uint8_t)a;
    l->prefix6 = (uint8_t)b;
    return 0;
}

static int parse_rate(const char *v, struct throttle_limit *l)
{
    char buf[48];
    if (strlen(v) >= sizeof buf) return -1;
    memcpy(buf, v, strlen(v) + 1);
    char *slash = strchr(buf, '/');
    if (!slash) return -1;
    *slash = '\0';
    return parse_u64(buf, 1, &l->rate) < 0 || parse_dur_ms(slash + 1, &l->per_ms) < 0 ? -1 : 0;
}

/* One NAME=VALUE of a spec into l; *seen collects what was given (bit per name). */
static int apply_token(struct throttle_limit *l, const char *n, const char *v, unsigned *seen, char *err, size_t size)
{
    static const char *const names[] = {"key", "measure", "service", "window", "max", "rate", "burst",
                                        "prefix", "warn", "defer", "hold", "reject", "text"};
    int which = lookup(names, (int)(sizeof names / sizeof names[0]), n);
    if (which < 0) return fail(err, size, "unknown setting '%s' (key, measure, service, window, max, rate, burst, "
                               "prefix, warn, defer, hold, reject, text)", n);
    if (*seen & (1u << which)) return fail(err, size, "'%s' given twice", n);
    *seen |= 1u << which;
    int k;
    switch (which) {
    case 0:
        if ((k = lookup(key_names, THROTTLE_KEY_COUNT, v)) < 0)
            return fail(err, size, "key: expected sasl_username, sender, sender_domain or client_address, got '%s'", v);
        l->key = (enum throttle_key)k;
        return 0;
    case 1:
        if ((k = lookup(measure_names, THROTTLE_MEASURE_COUNT, v)) < 0)
            return fail(err, size, "measure: expected messages, recipients or bytes, got '%s'", v);
        l->measure = (enum throttle_measure)k;
        return 0;
    case 2:
        if ((k = lookup(service_names, THROTTLE_SVC_COUNT, v)) < 0)
            return fail(err, size, "service: expected submission, smtp or any, got '%s'", v);
        l->service = (enum throttle_service)k;
        return 0;
    case 3:
        if (parse_dur_ms(v, &l->window_ms) < 0) return fail(err, size, "window: expected a duration up to 7d, got '%s'", v);
        return 0;
    case 4:
    case 6:
        if (parse_u64(v, 1, &l->max) < 0) return fail(err, size, "%s: expected a positive count, got '%s'", n, v);
        return 0;
    case 5:
        if (parse_rate(v, l) < 0) return fail(err, size, "rate: expected COUNT/DURATION (e.g. 30/1m), got '%s'", v);
        return 0;
    case 7:
        if (parse_prefix(v, l) < 0) return fail(err, size, "prefix: expected V4LEN[/V6LEN] (e.g. 24/64), got '%s'", v);
        return 0;
    case 8: case 9: case 10: case 11:
        if (parse_pct(v, &l->pct[THROTTLE_WARN + (which - 8)]) < 0)
            return fail(err, size, "%s: expected a percentage of the limit (e.g. 100%%), got '%s'", n, v);
        return 0;
    default:
        if (strlen(v) > THROTTLE_TEXT_MAX || !sg_text_clean(v, strlen(v)))
            return fail(err, size, "text: at most %d bytes of clean text", THROTTLE_TEXT_MAX);
        memcpy(l->text, v, strlen(v) + 1);
        return 0;
    }
}

int throttle_limit_parse(const char *name, const char *spec, struct throttle_limit *out, char *err, size_t size)
{
    err[0] = '\0';
    if (!name_ok(name)) return fail(err, size, "limit name '%s': 1 to %d of A-Z a-z 0-9 _ . -", name ? name : "",
                                    THROTTLE_NAME_MAX);
    struct throttle_limit l = {.prefix4 = 32, .prefix6 = 128};
    snprintf(l.name, sizeof l.name, "%s", name);
    unsigned seen = 0;
    char n[32], v[THROTTLE_TEXT_MAX + 64];
    const char *p = spec ? spec : "";
    int r;
    while ((r = next_token(&p, n, sizeof n, v, sizeof v)) == 0)
        if (apply_token(&l, n, v, &seen, err, size) < 0) return -1;
    if (r < 0) return fail(err, size, "expected NAME=VALUE settings separated by spaces near '%.40s'", p);
    bool window = seen & (1u << 3), max = seen & (1u << 4), rate = seen & (1u << 5), burst = seen & (1u << 6);
    if (!(seen & 1u)) return fail(err, size, "key= is missing");
    if (window == rate) return fail(err, size, "give either window=D max=N (a window) or rate=N/D [burst=N] (a bucket)");
    if (window && !max) return fail(err, size, "window= needs max=N");
    if (window && burst) return fail(err, size, "burst= belongs to a bucket (rate=), not a window");
    if (rate && max) return fail(err, size, "max= belongs to a window; a bucket takes burst=");
    if ((seen & (1u << 7)) && l.key != THROTTLE_KEY_CLIENT) return fail(err, size, "prefix= needs key=client_address");
    l.bucket = rate;
    if (rate && !burst) l.max = l.rate;
    bool tier = false;
    for (int t = THROTTLE_WARN; t < THROTTLE_TIER_COUNT; t++) tier |= l.pct[t] > 0;
    if (!tier) l.pct[THROTTLE_DEFER] = 100;
    for (int t = THROTTLE_DEFER + 1; t < THROTTLE_TIER_COUNT; t++)
        for (int lower = THROTTLE_WARN; lower < t; lower++)
            if (l.pct[t] && l.pct[lower] && l.pct[lower] > l.pct[t])
                return fail(err, size, "%s=%u%% is below %s=%u%%: tiers must rise warn <= defer <= hold <= reject",
                            tier_names[t], l.pct[t], tier_names[lower], l.pct[lower]);
    if (throttle_limit_horizon_ms(&l) > HORIZON_MAX_MS)
        return fail(err, size, "the bucket takes longer than 7d to refill from its top tier: raise rate=");
    *out = l;
    return 0;
}

int throttle_limit_format(const struct throttle_limit *l, char *buf, size_t size)
{
    char d[32];
    size_t len = 0;
    int n = snprintf(buf, size, "key=%s measure=%s", key_names[l->key], measure_names[l->measure]);
#define ADD(...) do { if (n < 0 || (size_t)n >= size - len) return -1; len += (size_t)n; \
                      n = snprintf(buf + len, size - len, __VA_ARGS__); } while (0)
    if (l->bucket) {
        format_dur(l->per_ms, d, sizeof d);
        ADD(" rate=%llu/%s burst=%llu", (unsigned long long)l->rate, d, (unsigned long long)l->max);
    } else {
        format_dur(l->window_ms, d, sizeof d);
        ADD(" window=%s max=%llu", d, (unsigned long long)l->max);
    }
    ADD(" service=%s", service_names[l->service]);
    if (l->key == THROTTLE_KEY_CLIENT && (l->prefix4 != 32 || l->prefix6 != 128))
        ADD(" prefix=%u/%u", l->prefix4, l->prefix6);
    for (int t = THROTTLE_WARN; t < THROTTLE_TIER_COUNT; t++)
        if (l->pct[t]) ADD(" %s=%u%%", tier_names[t], l->pct[t]);
    if (l->text[0]) ADD(" text=\"%s\"", l->text);
    ADD("%s", "");
#undef ADD
    return n < 0 || (size_t)n >= size - len ? -1 : 0;
}

uint64_t throttle_limit_capacity(const struct throttle_limit *l) { return l->max; }

uint64_t throttle_limit_debt_max(const struct throttle_limit *l)
{
    unsigned top = 100;
    for (int t = THROTTLE_WARN; t < THROTTLE_TIER_COUNT; t++)
        if (l->pct[t] > top) top = l->pct[t];
    uint64_t m = l->max > UINT64_MAX / top ? UINT64_MAX / 100 : l->max * top / 100;
    return m < l->max ? l->max : m;
}

int64_t throttle_limit_horizon_ms(const struct throttle_limit *l)
{
    if (!l->bucket) return l->window_ms;
    if (l->rate == 0 || l->per_ms <= 0) return HORIZON_MAX_MS + 1;
    long double ms = (long double)throttle_limit_debt_max(l) * (long double)l->per_ms / (long double)l->rate;
    if (ms > (long double)HORIZON_MAX_MS) return HORIZON_MAX_MS + 1;
    int64_t h = (int64_t)ms;
    return (h + 999) / 1000 * 1000 + 1000;
}
