/* config_scenario.c: parses [scenario ID] sections: events, subject, measure, window, threshold, action. */
#include "agent/config_scenario.h"
#include "agent/util.h"
#include "common/key.h"
#include "detect/event.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *scenario_action_name(enum scenario_action a)
{
    switch (a) {
    case SACT_BAN: return "ban";
    case SACT_THROTTLE: return "throttle";
    case SACT_HOLD: return "hold";
    }
    return "?";
}

struct config_scenario *config_scenario_new(struct config *cfg, const char *id, const char *file, int line)
{
    for (size_t i = 0; i < cfg->nscenarios; i++)
        if (!strcmp(cfg->scenarios[i].id, id)) return &cfg->scenarios[i];
    cfg->scenarios = sg_xrealloc(cfg->scenarios, (cfg->nscenarios + 1) * sizeof *cfg->scenarios);
    struct config_scenario *sc = &cfg->scenarios[cfg->nscenarios++];
    memset(sc, 0, sizeof *sc);
    sc->id = sg_xstrdup(id);
    sc->file = sg_xstrdup(file);
    sc->line = line;
    sc->subject = SUBJ_IP;
    sc->measure = MEAS_COUNT;
    sc->action = SACT_BAN;
    sc->window_s = 600;
    sc->duration_s = 3600;
    sc->max_duration_s = 7 * 86400;
    sc->nat_factor = SCENARIO_SHARED_FACTOR_DEFAULT;
    sc->nat_ok_users = 2;
    sc->nat_spread_users = 3;
    return sc;
}

static int int_value(const char *v, int64_t lo, int64_t *out)
{
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno || end == v || *end || x < lo) return -1;
    *out = x;
    return 0;
}

#define ERR(...) do { snprintf(err, errlen, __VA_ARGS__); return -1; } while (0)

int config_scenario_set(struct config_scenario *sc, const char *name, const char *value, char *err, size_t errlen)
{
    int64_t n;
    if (!strcmp(name, "events")) {
        strlist_free(&sc->events);
        strlist_split(&sc->events, value);
        for (size_t i = 0; i < sc->events.n; i++) {
            enum sg_event_kind kind;
            if (detect_kind_parse(sc->events.v[i], &kind) == 0) continue;
            char known[128] = "";   /* the kind names, from their one table (detect/event.c) */
            for (int k = 0; k < SG_EV__COUNT; k++)
                snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s", k ? ", " : "",
                         detect_kind_name((enum sg_event_kind)k));
            ERR("scenario %s: unknown event '%s' (%s)", sc->id, sc->events.v[i], known);
        }
    } else if (!strcmp(name, "services")) {
        strlist_free(&sc->services);
        strlist_split(&sc->services, value);
    } else if (!strcmp(name, "subject")) {
        if (!strcmp(value, "ip")) sc->subject = SUBJ_IP;
        else if (!strcmp(value, "prefix")) sc->subject = SUBJ_PREFIX;
        else if (!strcmp(value, "user")) sc->subject = SUBJ_USER;
        else ERR("scenario %s: subject must be ip, prefix or user, not '%s'", sc->id, value);
    } else if (!strcmp(name, "count")) {
        if (!strcmp(value, "events")) sc->measure = MEAS_COUNT;
        else if (!strcmp(value, "recipients")) sc->measure = MEAS_RCPT;
        else if (!strcmp(value, "distinct_users")) sc->measure = MEAS_DISTINCT_USERS;
        else if (!strcmp(value, "distinct_ips")) sc->measure = MEAS_DISTINCT_IPS;
        else ERR("scenario %s: count must be events, recipients, distinct_users or distinct_ips, not '%s'", sc->id, value);
    } else if (!strcmp(name, "window")) {
        if (sg_parse_duration(value, &n) < 0 || n < 1 || n > 7 * 86400) ERR("scenario %s: window must be a duration up to 7d, not '%s'", sc->id, value);
        sc->window_s = n;
    } else if (!strcmp(name, "threshold")) {
        if (int_value(value, 1, &n) < 0) ERR("scenario %s: threshold must be a positive number, not '%s'", sc->id, value);
        sc->threshold = n;
    } else if (!strcmp(name, "action")) {
        if (!strcmp(value, "ban")) sc->action = SACT_BAN;
        else if (!strcmp(value, "throttle")) sc->action = SACT_THROTTLE;
        else if (!strcmp(value, "hold")) sc->action = SACT_HOLD;
        else ERR("scenario %s: action must be ban, throttle or hold, not '%s'", sc->id, value);
    } else if (!strcmp(name, "duration")) {
        if (sg_parse_duration(value, &n) < 0 || n < 1) ERR("scenario %s: duration must be a duration such as 1h, not '%s'", sc->id, value);
        sc->duration_s = n;
    } else if (!strcmp(name, "max_duration")) {
        if (sg_parse_duration(value, &n) < 0 || n < 1) ERR("scenario %s: max_duration must be a duration such as 7d, not '%s'", sc->id, value);
        sc->max_duration_s = n;
    } else if (!strcmp(name, "shared_address_factor")) {
        if (int_value(value, 1, &n) < 0) ERR("scenario %s: shared_address_factor must be >= 1, not '%s'", sc->id, value);
        sc->nat_factor = n;
    } else if (!strcmp(name, "shared_address_ok_users")) {
        if (int_value(value, 1, &n) < 0) ERR("scenario %s: shared_address_ok_users must be >= 1, not '%s'", sc->id, value);
        sc->nat_ok_users = n;
    } else if (!strcmp(name, "shared_address_spread_users")) {
        if (int_value(value, 1, &n) < 0) ERR("scenario %s: shared_address_spread_users must be >= 1, not '%s'", sc->id, value);
        sc->nat_spread_users = n;
    } else {
        ERR("scenario %s: unknown key '%s'", sc->id, name);
    }
    return 0;
}

void config_scenarios_check(struct config *cfg)
{
    for (size_t i = 0; i < cfg->nscenarios; i++) {
        struct config_scenario *sc = &cfg->scenarios[i];
        if (!sg_scope_ok(sc->id, true))
            config_error(cfg, sc->file, sc->line,
                         "scenario %s: an id is 1 to 63 characters without ':', '|' or control characters, "
                         "and not a built-in evidence name (okusers, failusers, banned, quota-msg, quota-rcpt, goodaddrs, stale, failaddrs, pwfail)",
                         sc->id);
        if (!sc->events.n) config_error(cfg, sc->file, sc->line, "scenario %s: events = ... is required", sc->id);
        if (!sc->threshold) config_error(cfg, sc->file, sc->line, "scenario %s: threshold = ... is required", sc->id);
        if (sc->max_duration_s < sc->duration_s) sc->max_duration_s = sc->duration_s;
        if (sc->action == SACT_HOLD && sc->subject != SUBJ_USER)
            config_error(cfg, sc->file, sc->line, "scenario %s: action hold needs subject = user", sc->id);
        if (sc->action != SACT_HOLD && sc->subject == SUBJ_USER)
            config_error(cfg, sc->file, sc->line, "scenario %s: subject user can only be held (action = hold)", sc->id);
        if (sc->measure == MEAS_DISTINCT_USERS && sc->subject == SUBJ_USER)
            config_error(cfg, sc->file, sc->line, "scenario %s: count distinct_users needs an ip or prefix subject", sc->id);
        if (sc->measure == MEAS_DISTINCT_IPS && sc->subject == SUBJ_IP)
            config_error(cfg, sc->file, sc->line, "scenario %s: count distinct_ips needs subject = user or prefix", sc->id);
    }
}

void config_scenario_free(struct config_scenario *sc)
{
    free(sc->id);
    free(sc->file);
    strlist_free(&sc->events);
    strlist_free(&sc->services);
}
