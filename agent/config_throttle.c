/* config_throttle.c: the [throttle] section and the quota_* shorthand of [policy] (see
 * config_throttle.h); the limits themselves are parsed by enforce/throttle.h, once. */
#include "agent/config_throttle.h"
#include "agent/util.h"
#include "common/key.h"
#include "enforce/throttle.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LIMIT_PFX "limit."

int config_throttle_set(struct config *cfg, const char *name, const char *value, char *err, size_t errlen)
{
    if (!strncmp(name, LIMIT_PFX, strlen(LIMIT_PFX))) {
        const char *lname = name + strlen(LIMIT_PFX);
        struct throttle_limit l;
        char why[256];
        if (throttle_limit_parse(lname, value, &l, why, sizeof why) < 0) {
            snprintf(err, errlen, "%s: %s", name, why);
            return -1;
        }
        if (throttle_config_add(cfg->throttle, &l, why, sizeof why) < 0) {
            snprintf(err, errlen, "%s: %s", name, why);
            return -1;
        }
        return 0;
    }
    if (!strcmp(name, "map")) {
        if (value[0] != '/') {
            snprintf(err, errlen, "map: expected an absolute path, got '%s'", value);
            return -1;
        }
        free(cfg->throttle_map);
        cfg->throttle_map = sg_xstrdup(value);
        return 0;
    }
    if (!strcmp(name, "allow")) {
        strlist_split(&cfg->throttle_allow, value);
        return 0;
    }
    snprintf(err, errlen, "unknown key '%s' in [throttle] (limit.NAME, map, allow)", name);
    return -1;
}

/* One quota_* key as the limit it stands for. */
static void quota_limit(struct config *cfg, const char *name, const char *key, const char *measure, int64_t max)
{
    if (max <= 0) return;
    char spec[256], why[256];
    struct throttle_limit l;
    snprintf(spec, sizeof spec, "key=%s measure=%s window=%llds max=%lld service=any defer=100%%", key, measure,
             (long long)cfg->quota_window_s, (long long)max);
    if (throttle_limit_parse(name, spec, &l, why, sizeof why) < 0 ||
        throttle_config_add(cfg->throttle, &l, why, sizeof why) < 0)
        config_error(cfg, cfg->path, config_key_line(cfg, "policy", name), "[policy] %s: %s", name, why);
}

void config_throttle_finish(struct config *cfg)
{
    quota_limit(cfg, "quota_user_messages", "sasl_username", "messages", cfg->quota_user_messages);
    quota_limit(cfg, "quota_user_recipients", "sasl_username", "recipients", cfg->quota_user_recipients);
    quota_limit(cfg, "quota_ip_messages", "client_address", "messages", cfg->quota_ip_messages);
    for (size_t i = 0; i < cfg->throttle_allow.n; i++) {
        struct sg_subject s;
        if (sg_subject_parse(cfg->throttle_allow.v[i], &s) < 0)
            config_error(cfg, cfg->path, config_key_line(cfg, "throttle", "allow"),
                         "[throttle] allow: '%s' is not user:U, from:S, dom:D, ip:A or net:P",
                         cfg->throttle_allow.v[i]);
    }
}
