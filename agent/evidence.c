/* evidence.c: evidence of legitimacy in the replicated state (see evidence.h). */
#include "agent/evidence.h"
#include "enforce/enforce.h"

#include <stdio.h>
#include <string.h>

int evidence_prefix_of(const struct config *cfg, const struct sg_subject *ip, struct sg_subject *net)
{
    struct enforce_prefix p, masked;
    char txt[ENFORCE_PREFIX_STRLEN];
    if (ip->type != SG_SUBJ_IP || enforce_prefix_parse(ip->value, &p) < 0) return -1;
    p.len = p.family == AF_INET ? (uint8_t)cfg->prefix4 : (uint8_t)cfg->prefix6;
    enforce_prefix_format(&p, txt, sizeof txt);   /* "ADDR/LEN" with host bits: parsing masks them */
    if (enforce_prefix_parse(txt, &masked) < 0) return -1;
    enforce_prefix_format(&masked, txt, sizeof txt);
    return sg_subject_set(net, SG_SUBJ_NET, txt);
}

static int64_t win_ms(int64_t s) { return s * 1000; }

/* Evidence key "SCOPE|TYPE:VALUE" into key (GOSSIP_KEY_MAX + 1 bytes); -1 when it does not fit. */
static int key_of(char *key, const char *scope, enum sg_subject_type t, const char *value)
{
    struct sg_subject s;
    return sg_subject_set(&s, t, value) < 0 ? -1 : sg_evidence_format(scope, &s, key, GOSSIP_KEY_MAX + 1);
}

/* A held account (hijacked: decided by account-rcpt/account-spread or an operator) earns no trust:
 * its logins are no evidence, and no address is known-good for it. */
static bool held(const struct gossip_state *st, const char *user, int64_t now_ms)
{
    struct sg_subject u;
    char key[GOSSIP_KEY_MAX + 1];
    return sg_subject_set(&u, SG_SUBJ_USER, user) == 0 && sg_key_format(SG_REC_HOLD, &u, key, sizeof key) == 0 &&
           gossip_state_ban_active(st, key, now_ms);
}

void evidence_record_good(struct gossip_state *st, const struct config *cfg, const char *ip, const char *user,
                          int64_t now_ms)
{
    struct sg_subject a, net;
    char key[GOSSIP_KEY_MAX + 1];
    if (!user[0] || sg_subject_set(&a, SG_SUBJ_IP, ip) < 0 || held(st, user, now_ms)) return;
    if (sg_evidence_format(SG_SCOPE_OKUSERS, &a, key, sizeof key) == 0)
        gossip_state_distinct_add(st, key, user, strlen(user), now_ms);
    if (evidence_prefix_of(cfg, &a, &net) == 0 && sg_evidence_format(SG_SCOPE_OKUSERS, &net, key, sizeof key) == 0)
        gossip_state_distinct_add(st, key, user, strlen(user), now_ms);
    if (key_of(key, SG_SCOPE_GOODADDRS, SG_SUBJ_USER, user) == 0)
        gossip_state_distinct_add(st, key, ip, strlen(ip), now_ms);
}

void evidence_record_fail(struct gossip_state *st, const struct config *cfg, const char *ip, const char *user,
                          int64_t now_ms)
{
    char key[GOSSIP_KEY_MAX + 1];
    /* Only accounts that logged in within known_good_for: names a sprayer makes up create no keys. */
    if (cfg->attack_addresses > 0 && user[0] && ip[0] && evidence_known_good_count(st, cfg, user, now_ms) > 0 &&
        key_of(key, SG_SCOPE_FAILADDRS, SG_SUBJ_USER, user) == 0)
        gossip_state_distinct_add(st, key, ip, strlen(ip), now_ms);
}

uint64_t evidence_good_users(const struct gossip_state *st, const struct config *cfg, const struct sg_subject *s,
                             int64_t now_ms)
{
    char key[GOSSIP_KEY_MAX + 1];
    if (sg_evidence_format(SG_SCOPE_OKUSERS, s, key, sizeof key) < 0) return 0;
    return gossip_state_distinct_count(st, key, win_ms(cfg->evidence_window_s), now_ms);
}

bool evidence_known_good(const struct gossip_state *st, const struct config *cfg, const char *ip, const char *user,
                         int64_t now_ms)
{
    char key[GOSSIP_KEY_MAX + 1];
    if (!user[0] || !ip[0] || cfg->known_good_s <= 0 || key_of(key, SG_SCOPE_GOODADDRS, SG_SUBJ_USER, user) < 0 ||
        held(st, user, now_ms))
        return false;
    return gossip_state_distinct_has(st, key, ip, strlen(ip), win_ms(cfg->known_good_s), now_ms);
}

uint64_t evidence_known_good_count(const struct gossip_state *st, const struct config *cfg, const char *user,
                                   int64_t now_ms)
{
    char key[GOSSIP_KEY_MAX + 1];
    if (cfg->known_good_s <= 0 || key_of(key, SG_SCOPE_GOODADDRS, SG_SUBJ_USER, user) < 0) return 0;
    return gossip_state_distinct_count(st, key, win_ms(cfg->known_good_s), now_ms);
}

uint64_t evidence_failing_users(const struct gossip_state *st, const struct config *cfg, const struct sg_subject *ip,
                                int64_t now_ms)
{
    char key[GOSSIP_KEY_MAX + 1];
    if (sg_evidence_format(SG_SCOPE_FAILUSERS, ip, key, sizeof key) < 0) return 0;
    return gossip_state_distinct_count(st, key, win_ms(cfg->evidence_window_s), now_ms);
}

bool evidence_stale_first(struct gossip_state *st, const char *ip, const char *user, int64_t window_s, int64_t now_ms)
{
    char key[GOSSIP_KEY_MAX + 1];
    if (key_of(key, SG_SCOPE_STALE, SG_SUBJ_IP, ip) < 0) return false;
    bool seen = gossip_state_distinct_has(st, key, user, strlen(user), win_ms(window_s), now_ms);
    gossip_state_distinct_add(st, key, user, strlen(user), now_ms);
    return !seen;
}

bool evidence_password_repeat(struct gossip_state *st, const char *ip, const char *user, const char *pwhash,
                              int64_t window_s, int64_t now_ms)
{
    char key[GOSSIP_KEY_MAX + 1], item[SG_KEY_MAX + 64];
    int n = snprintf(item, sizeof item, "%s\n%s", user, pwhash);   /* user names hold no newline */
    if (!pwhash[0] || n < 0 || (size_t)n >= sizeof item || key_of(key, SG_SCOPE_PWFAIL, SG_SUBJ_IP, ip) < 0) return false;
    bool seen = gossip_state_distinct_has(st, key, item, (size_t)n, win_ms(window_s), now_ms);
    gossip_state_distinct_add(st, key, item, (size_t)n, now_ms);
    return seen;
}

uint64_t evidence_stale_users(const struct gossip_state *st, const struct config *cfg, const char *ip, int64_t now_ms)
{
    char key[GOSSIP_KEY_MAX + 1];
    if (key_of(key, SG_SCOPE_STALE, SG_SUBJ_IP, ip) < 0) return 0;
    return gossip_state_distinct_count(st, key, win_ms(cfg->evidence_window_s), now_ms);
}

uint64_t evidence_failing_addresses(const struct gossip_state *st, const struct config *cfg, const char *user,
                                    int64_t now_ms)
{
    char key[GOSSIP_KEY_MAX + 1];
    if (key_of(key, SG_SCOPE_FAILADDRS, SG_SUBJ_USER, user) < 0) return 0;
    return gossip_state_distinct_count(st, key, win_ms(cfg->attack_window_s), now_ms);
}

bool evidence_under_attack(const struct gossip_state *st, const struct config *cfg, const char *user, int64_t now_ms)
{
    return cfg->attack_addresses > 0 && user[0] &&
           (int64_t)evidence_failing_addresses(st, cfg, user, now_ms) >= cfg->attack_addresses;
}

const char *evidence_protects_prefix(const struct gossip_state *st, const struct config *cfg,
                                     const struct sg_subject *net, int64_t now_ms, char *why, size_t size)
{
    struct enforce_prefix p;
    if (net->type != SG_SUBJ_NET || enforce_prefix_parse(net->value, &p) < 0) return NULL;
    for (size_t i = 0; i < cfg->customer_networks.n; i++) {
        struct enforce_prefix c;
        if (enforce_prefix_parse(cfg->customer_networks.v[i], &c) == 0 && enforce_prefix_contains(&c, &p)) {
            snprintf(why, size, "inside customer network %s", cfg->customer_networks.v[i]);
            return why;
        }
    }
    uint64_t good = evidence_good_users(st, cfg, net, now_ms);
    if (cfg->prefix_good_users > 0 && (int64_t)good >= cfg->prefix_good_users) {
        snprintf(why, size, "%llu good users in %llds >= %lld", (unsigned long long)good,
                 (long long)cfg->evidence_window_s, (long long)cfg->prefix_good_users);
        return why;
    }
    return NULL;
}
