/* config_limits.c: parses [limits]: how long a record of each kind may last, how long an unban keeps
 * decisions off its key, the per-author budgets, and the keys per state table. Same defaults as
 * gossip_record_limits_default and gossip_state_config_default. */
#include "agent/config_limits.h"
#include "agent/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TTL_S (365LL * 86400)

static const struct {
    const char *name;
    int kind;
} ttl_keys[] = {
    {"max_ban", GOSSIP_BAN_KIND_BLOCK},
    {"max_throttle", GOSSIP_BAN_KIND_THROTTLE},
    {"max_hold", GOSSIP_BAN_KIND_HOLD},
    {"max_offense_memory", GOSSIP_BAN_KIND_OFFENSE},
    {"max_allow", GOSSIP_BAN_KIND_ALLOW},
};

static int parse_count(const char *v, long long lo, long long hi, long long *out)
{
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno || end == v || *end || x < lo || x > hi) return -1;
    *out = x;
    return 0;
}

void config_limits_default(struct config *cfg)
{
    struct gossip_state_config sc;
    gossip_state_config_default(&sc);
    cfg->max_keys = sc.max_keys;
}

int config_limits_set(struct config *cfg, const char *name, const char *value, char *err, size_t errlen)
{
    struct gossip_record_limits *l = &cfg->limits;
    int64_t s;
    long long n;
    for (size_t i = 0; i < sizeof ttl_keys / sizeof ttl_keys[0]; i++) {
        if (strcmp(name, ttl_keys[i].name)) continue;
        if (sg_parse_duration(value, &s) < 0 || s < 60 || s > MAX_TTL_S) {
            snprintf(err, errlen, "%s: expected a duration from 1m to 365d, got '%s'", name, value);
            return -1;
        }
        l->max_ttl_ms[ttl_keys[i].kind] = s * 1000;
        return 0;
    }
    if (!strcmp(name, "unban_grace")) {
        if (sg_parse_duration(value, &s) < 0 || s > 7 * 86400) {
            snprintf(err, errlen, "unban_grace: expected a duration up to 7d, got '%s'", value);
            return -1;
        }
        l->unban_grace_ms = s * 1000;
    } else if (!strcmp(name, "author_max_records")) {
        if (parse_count(value, 1, 100000000, &n) < 0) {
            snprintf(err, errlen, "author_max_records: expected a count from 1, got '%s'", value);
            return -1;
        }
        l->author_max_records = (size_t)n;
    } else if (!strcmp(name, "author_max_addresses_per_hour")) {
        if (parse_count(value, 1, 1LL << 40, &n) < 0) {
            snprintf(err, errlen, "author_max_addresses_per_hour: expected a count from 1, got '%s'", value);
            return -1;
        }
        l->author_max_span_per_hour = (uint64_t)n;
    } else if (!strcmp(name, "max_keys")) {
        if (parse_count(value, 1000, 100000000, &n) < 0) {
            snprintf(err, errlen, "max_keys: expected a count from 1000 to 100000000, got '%s'", value);
            return -1;
        }
        cfg->max_keys = (size_t)n;
    } else {
        snprintf(err, errlen, "unknown key '%s' in [limits]", name);
        return -1;
    }
    return 0;
}

void config_record_limits(const struct config *cfg, struct gossip_record_limits *out)
{
    *out = cfg->limits;
    out->min_prefix4 = cfg->min_prefix4;
    out->min_prefix6 = cfg->min_prefix6;
}
