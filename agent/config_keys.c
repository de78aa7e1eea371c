/* config_keys.c: the table of configuration sections and keys, and the nearest-key suggestions. */
#include "agent/config_keys.h"

#include <stdio.h>
#include <string.h>

#define L CONFIG_KEY_LIST

const struct config_key config_keys[] = {
    {"node", "name", 0}, {"node", "addresses", L}, {"node", "address", L}, {"node", "gossip_bind", 0},
    {"node", "sync_bind", 0}, {"node", "key_dir", 0}, {"node", "peer_key_dir", 0}, {"node", "state_dir", 0},
    {"node", "control_socket", 0}, {"node", "curve", 0}, {"node", "allow_plaintext", 0}, {"node", "bucket", 0},
    {"node", "max_clock_skew", 0}, {"node", "snapshot_interval", 0}, {"node", "site", 0}, {"node", "relay", 0},

    {"detect", "rules", 0}, {"detect", "extra_rules", L}, {"detect", "logs", L}, {"detect", "log", L},
    {"detect", "scenarios", 0}, {"detect", "journal", 0}, {"detect", "journal_units", L},
    {"detect", "journal_users", L}, {"detect", "from_start", 0}, {"detect", "max_attempts", 0},
    {"detect", "max_recipients", 0},

    {"enforce", "backend", 0}, {"enforce", "ports", L}, {"enforce", "verdict", 0}, {"enforce", "allowlist", L},
    {"enforce", "min_prefix4", 0}, {"enforce", "min_prefix6", 0}, {"enforce", "prefix4", 0},
    {"enforce", "prefix6", 0}, {"enforce", "prefix_ban_after", 0},

    {"policy", "listen", 0}, {"policy", "socket", 0}, {"policy", "user", 0}, {"policy", "hold_action", 0},
    {"policy", "user_allowlist", L}, {"policy", "quota_window", 0}, {"policy", "quota_user_messages", 0},
    {"policy", "quota_user_recipients", 0}, {"policy", "quota_ip_messages", 0},

    /* and limit.NAME, one per limit (agent/config.c hands those to config_throttle.c) */
    {"throttle", "map", 0}, {"throttle", "allow", L},

    {"authpolicy", "enabled", 0}, {"authpolicy", "held_reject", 0}, {"authpolicy", "listen", 0},
    {"authpolicy", "api_key_file", 0}, {"authpolicy", "tarpit", 0}, {"authpolicy", "log_auth_lines", 0},

    {"metrics", "enabled", 0}, {"metrics", "listen", 0}, {"metrics", "allow_remote", 0},

    {"precision", "customer_networks", 0}, {"precision", "attack_ban", 0}, {"precision", "evidence_window", 0},
    {"precision", "known_good_for", 0}, {"precision", "attack_window", 0}, {"precision", "prefix_good_users", 0},
    {"precision", "known_good_weight", 0}, {"precision", "attack_addresses", 0},

    {"limits", "max_ban", 0}, {"limits", "max_throttle", 0}, {"limits", "max_hold", 0},
    {"limits", "max_offense_memory", 0}, {"limits", "max_allow", 0}, {"limits", "unban_grace", 0},
    {"limits", "author_max_records", 0}, {"limits", "author_max_addresses_per_hour", 0},
    {"limits", "max_keys", 0},

    {"peer", "pub", 0}, {"peer", "sync", 0}, {"peer", "addresses", L}, {"peer", "address", L},
    {"peer", "site", 0}, {"peer", "relay", 0},

    {"scenario", "events", 0}, {"scenario", "services", 0}, {"scenario", "subject", 0}, {"scenario", "count", 0},
    {"scenario", "window", 0}, {"scenario", "threshold", 0}, {"scenario", "action", 0},
    {"scenario", "duration", 0}, {"scenario", "max_duration", 0}, {"scenario", "shared_address_factor", 0},
    {"scenario", "shared_address_ok_users", 0}, {"scenario", "shared_address_spread_users", 0},
};

size_t config_keys_count(void)
{
    return sizeof config_keys / sizeof config_keys[0];
}

static bool takes_name(const char *kind)
{
    return !strcmp(kind, "peer") || !strcmp(kind, "scenario");
}

const char *config_section_kind(const char *header)
{
    const char *sp = strchr(header, ' ');
    size_t n = sp ? (size_t)(sp - header) : strlen(header);
    for (size_t i = 0; i < config_keys_count(); i++) {
        const char *k = config_keys[i].section;
        if (strlen(k) != n || strncmp(k, header, n)) continue;
        /* [peer NAME] and [scenario ID] need their name; the others take none. */
        if (takes_name(k) != (sp && sp[1])) return NULL;
        return k;
    }
    return NULL;
}

int config_key_index(const char *kind, const char *name)
{
    for (size_t i = 0; kind && i < config_keys_count(); i++)
        if (!strcmp(config_keys[i].section, kind) && !strcmp(config_keys[i].name, name)) return (int)i;
    return -1;
}

size_t config_edit_distance(const char *a, const char *b)
{
    enum { MAX = 64 };
    size_t n = strlen(a), m = strlen(b);
    if (n > MAX || m > MAX) return (size_t)-1;
    size_t d[MAX + 1][MAX + 1];
    for (size_t i = 0; i <= n; i++) d[i][0] = i;
    for (size_t j = 0; j <= m; j++) d[0][j] = j;
    for (size_t i = 1; i <= n; i++)
        for (size_t j = 1; j <= m; j++) {
            size_t cost = a[i - 1] != b[j - 1];
            size_t v = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < v) v = d[i][j - 1] + 1;
            if (d[i - 1][j - 1] + cost < v) v = d[i - 1][j - 1] + cost;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < v)
                v = d[i - 2][j - 2] + 1;
            d[i][j] = v;
        }
    return d[n][m];
}

/* Near enough to be a slip: one edit in a short word, up to three in a long one. */
static size_t near_limit(const char *s)
{
    size_t n = strlen(s) / 4 + 1;
    return n > 3 ? 3 : n;
}

const char *config_key_suggest(const char *kind, const char *name)
{
    const char *best = NULL;
    size_t bd = near_limit(name) + 1;
    for (size_t i = 0; kind && i < config_keys_count(); i++) {
        if (strcmp(config_keys[i].section, kind)) continue;
        size_t d = config_edit_distance(name, config_keys[i].name);
        if (d < bd) { bd = d; best = config_keys[i].name; }
    }
    return best;
}

const char *config_section_suggest(const char *header, char *buf, size_t size)
{
    const char *sp = strchr(header, ' ');
    size_t n = sp ? (size_t)(sp - header) : strlen(header);
    char word[65];
    if (n >= sizeof word) return NULL;
    memcpy(word, header, n);
    word[n] = '\0';
    for (char *c = word; *c; c++)
        if (*c >= 'A' && *c <= 'Z') *c = (char)(*c - 'A' + 'a');   /* [Detect] is [detect] misspelt */
    const char *best = NULL;
    size_t bd = near_limit(word) + 1;
    for (size_t i = 0; i < config_keys_count(); i++) {
        const char *k = config_keys[i].section;
        if (i && !strcmp(k, config_keys[i - 1].section)) continue;
        size_t d = config_edit_distance(word, k);
        if (d < bd) { bd = d; best = k; }
    }
    if (!best) return NULL;
    if (takes_name(best)) snprintf(buf, size, "[%s %s]", best, sp && sp[1] ? sp + 1 : "NAME");
    else snprintf(buf, size, "[%s]", best);
    return buf;
}
