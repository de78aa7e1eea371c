/* test_agent_scenario.c: the scenario engine on a real replicated state: cluster-wide thresholds,
 * shared-address weakening, repeat-offender escalation, prefix escalation, the never-ban guard,
 * holds of users, and operator tombstones; and with the shipped scenarios the precision rules: a
 * prefix with good users is never banned as a prefix, customer networks never are, a stale client is
 * never banned while a guesser from a fresh address is, known-good status is replicated and expires,
 * and an account attacked from many addresses gets each new failing address banned. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/authpolicy.h"
#include "agent/config.h"
#include "agent/config_scenario.h"
#include "agent/evidence.h"
#include "agent/explain.h"
#include "agent/scenario.h"
#include "agent/util.h"

#define T0 1795838400000LL
#define NODES 3

struct fixture;
/* What a node's decider callback needs: the live origins (every node's here) and its own. */
struct node_view {
    struct fixture *f;
    int node;
};

struct fixture {
    struct config cfg;
    struct gossip_identity *id[NODES];
    struct gossip_keyring *kr;
    struct gossip_state *st[NODES];
    struct enforce_guard *guard;
    struct scenario_engine *eng[NODES];
    int decisions;
    struct decision last;
    uint64_t origins[NODES];
    struct node_view view[NODES];
    bool gone[NODES];                   /* nodes the others no longer hear */
    bool busy[NODES];                   /* nodes behind: their `seen` is seen[i] (0 unless a test sets it); */
    int64_t seen[NODES];                /* ... the others caught up with every crossing */
};

static void on_decision(const struct decision *d, void *arg)
{
    struct fixture *f = arg;
    f->decisions++;
    f->last = *d;
}

static void add_scenario(struct config *cfg, const char *id, const char *const kv[][2])
{
    struct config_scenario *sc = config_scenario_new(cfg, id, "test", 1);
    char err[256];
    for (int i = 0; kv[i][0]; i++) assert_int_equal(config_scenario_set(sc, kv[i][0], kv[i][1], err, sizeof err), 0);
}

/* shipped: the scenarios of agent/scenarios.d/10-default.conf instead of the two test ones. */
static int setup_with(void **state, bool shipped)
{
    struct fixture *f = sg_xcalloc(1, sizeof *f);
    f->cfg.bucket_s = 10;
    f->cfg.max_skew_ms = 60000;
    gossip_record_limits_default(&f->cfg.limits);
    config_precision_default(&f->cfg);
    strlist_push(&f->cfg.customer_networks, "198.18.0.0/15");
    f->cfg.prefix4 = 24;
    f->cfg.prefix6 = 64;
    f->cfg.prefix_ban_after = 3;
    strlist_push(&f->cfg.allowlist, "198.51.100.0/24");
    strlist_push(&f->cfg.user_allowlist, "boss@example.jp");
    static const char *const auth[][2] = {{"events", "auth_fail"}, {"threshold", "10"}, {"window", "10m"},
                                          {"duration", "1h"}, {"max_duration", "4h"},
                                          {"shared_address_factor", "5"}, {NULL, NULL}};
    static const char *const acct[][2] = {{"events", "sent"}, {"subject", "user"}, {"count", "recipients"},
                                          {"threshold", "100"}, {"action", "hold"}, {NULL, NULL}};
    if (shipped) {
        char path[4096];
        snprintf(path, sizeof path, "%s/agent/scenarios.d/10-default.conf", getenv("SG_ROOT") ? getenv("SG_ROOT") : ".");
        assert_int_equal(config_load_scenarios(&f->cfg, path), 0);
        assert_true(f->cfg.nscenarios >= 3);
    } else {
        add_scenario(&f->cfg, "auth-ip", auth);
        add_scenario(&f->cfg, "acct", acct);
    }
    config_scenarios_check(&f->cfg);
    assert_int_equal(f->cfg.errors.n, 0);
    f->kr = gossip_keyring_new();
    for (int i = 0; i < NODES; i++) {
        uint8_t seed[32];
        memset(seed, i + 1, sizeof seed);
        f->id[i] = gossip_identity_from_seed((const char *[]){"a", "b", "c"}[i], seed);
        gossip_keyring_add_identity(f->kr, f->id[i]);
    }
    f->guard = enforce_guard_new();
    enforce_guard_allow(f->guard, "198.51.100.0/24");
    for (int i = 0; i < NODES; i++) {
        struct gossip_state_config sc;
        scenario_state_config(&f->cfg, &sc);
        f->st[i] = gossip_state_new(&sc, f->id[i], f->kr, 1);
        assert_non_null(f->st[i]);
        f->eng[i] = scenario_engine_new(&f->cfg, f->st[i], f->guard, on_decision, f);
        f->origins[i] = gossip_state_origin(f->st[i]);
        f->view[i] = (struct node_view){.f = f, .node = i};
    }
    *state = f;
    return 0;
}

static int setup(void **state) { return setup_with(state, false); }
static int setup_shipped(void **state) { return setup_with(state, true); }

static int teardown(void **state)
{
    struct fixture *f = *state;
    for (int i = 0; i < NODES; i++) {
        scenario_engine_destroy(&f->eng[i]);
        gossip_state_destroy(&f->st[i]);
        gossip_identity_destroy(&f->id[i]);
    }
    gossip_keyring_destroy(&f->kr);
    enforce_guard_destroy(&f->guard);
    strlist_free(&f->cfg.allowlist);
    strlist_free(&f->cfg.user_allowlist);
    strlist_free(&f->cfg.customer_networks);
    for (size_t i = 0; i < f->cfg.nscenarios; i++) config_scenario_free(&f->cfg.scenarios[i]);
    free(f->cfg.scenarios);
    strlist_free(&f->cfg.errors);
    free(f);
    return 0;
}

static struct sg_event ev(enum sg_event_kind k, const char *ip, const char *user, const char *service)
{
    struct sg_event e = {0};
    e.kind = k;
    e.count = 1;
    if (ip) {
        e.family = strchr(ip, ':') ? AF_INET6 : AF_INET;
        inet_pton(e.family, ip, e.addr);
        snprintf(e.ip, sizeof e.ip, "%s", ip);
    }
    if (user) snprintf(e.user, sizeof e.user, "%s", user);
    snprintf(e.service, sizeof e.service, "%s", service);
    return e;
}

/* Ships every pending delta of one state into the other, as the transport would. */
static void exchange(struct gossip_state *from, struct gossip_state *to, uint64_t sender, int64_t now)
{
    struct gossip_writer w;
    gossip_writer_init(&w);
    gossip_state_take_delta(from, &w, 1 << 20);
    struct gossip_body *b = NULL;
    assert_int_equal(gossip_body_decode((const uint8_t *)w.buf.data, w.buf.size, 0, &b), GOSSIP_WIRE_OK);
    gossip_state_merge(to, b, sender, GOSSIP_MERGE_SENDER_SLOTS_ONLY, now, NULL);
    gossip_body_destroy(&b);
    gossip_writer_fini(&w);
}

static void test_threshold_is_cluster_wide(void **state)
{
    struct fixture *f = *state;
    struct sg_event e = ev(SG_EV_AUTH_FAIL, "203.0.113.7", "alice", "imap");
    /* 6 failures on node a, 3 on node b: neither alone reaches 10. */
    for (int i = 0; i < 6; i++) scenario_engine_event(f->eng[0], &e, T0 + i * 1000);
    e = ev(SG_EV_AUTH_FAIL, "203.0.113.7", "bob", "smtp");
    for (int i = 0; i < 3; i++) scenario_engine_event(f->eng[1], &e, T0 + i * 1000);
    assert_int_equal(f->decisions, 0);
    exchange(f->st[0], f->st[1], gossip_state_origin(f->st[0]), T0 + 7000);
    /* Node b now sees 9 cluster-wide: the 10th attempt, on another protocol, crosses. */
    e = ev(SG_EV_AUTH_FAIL, "203.0.113.7", "carol", "pop3");
    scenario_engine_event(f->eng[1], &e, T0 + 8000);
    assert_int_equal(f->decisions, 1);
    assert_string_equal(f->last.key, "ip:203.0.113.7");
    assert_string_equal(f->last.action, "ban");
    assert_int_equal(f->last.duration_s, 3600);
    const struct gossip_ban *b = gossip_state_ban_active(f->st[1], "ip:203.0.113.7", T0 + 8000);
    assert_non_null(b);
    assert_int_equal(b->kind, GOSSIP_BAN_KIND_BLOCK);
    /* Further events do not decide again while the ban holds. */
    scenario_engine_event(f->eng[1], &e, T0 + 9000);
    assert_int_equal(f->decisions, 1);
}

/* A ban in the state that the kernel does not hold (refused, lost, not yet put back) stops
 * nothing: its address's failures still count. Once the kernel holds it, they do not. */
static void test_unenforced_ban_still_counts(void **state)
{
    struct fixture *f = *state;
    struct enforce_config ec = {.backend = ENFORCE_BACKEND_DRYRUN};
    struct enforce *enf = enforce_new(&ec);
    assert_non_null(enf);
    scenario_engine_set_enforce(f->eng[0], enf);
    struct sg_event e = ev(SG_EV_AUTH_FAIL, "203.0.113.7", "alice", "imap");
    for (int i = 0; i < 10; i++) scenario_engine_event(f->eng[0], &e, T0 + i);
    assert_int_equal(f->decisions, 1);
    struct scenario_stats a, b;
    scenario_engine_stats(f->eng[0], &a);
    scenario_engine_event(f->eng[0], &e, T0 + 100);
    scenario_engine_stats(f->eng[0], &b);
    assert_int_equal(b.counted, a.counted + 1);          /* banned in the state, not in the kernel */
    assert_int_equal(enforce_ban_text(enf, "203.0.113.0/24", 600), 0);
    scenario_engine_event(f->eng[0], &e, T0 + 150);      /* queued for this tick: as good as held */
    scenario_engine_stats(f->eng[0], &a);
    assert_int_equal(a.counted, b.counted);
    assert_int_equal(enforce_commit(enf), 0);
    scenario_engine_event(f->eng[0], &e, T0 + 200);
    scenario_engine_stats(f->eng[0], &a);
    assert_int_equal(a.counted, b.counted);              /* the kernel drops it now (by its /24) */
    assert_int_equal(enforce_unban_text(enf, "203.0.113.0/24"), 0);
    scenario_engine_event(f->eng[0], &e, T0 + 250);      /* an unban queued: no longer held */
    scenario_engine_stats(f->eng[0], &b);
    assert_int_equal(b.counted, a.counted + 1);
    a = b;
    assert_int_equal(enforce_commit(enf), 0);
    scenario_engine_event(f->eng[0], &e, T0 + 300);
    scenario_engine_stats(f->eng[0], &b);
    assert_int_equal(b.counted, a.counted + 1);
    assert_int_equal(f->decisions, 1);                   /* counted, but the ban stands: no new decision */
    scenario_engine_set_enforce(f->eng[0], NULL);
    enforce_destroy(&enf);
}

static void test_dups_and_window(void **state)
{
    struct fixture *f = *state;
    struct sg_event e = ev(SG_EV_AUTH_FAIL, "203.0.113.8", "alice", "imap");
    e.dup = true;
    for (int i = 0; i < 50; i++) scenario_engine_event(f->eng[0], &e, T0 + i);
    assert_int_equal(f->decisions, 0);
    e.dup = false;
    /* 9 now, 9 more 11 minutes later: never 10 inside one 10-minute window. */
    for (int i = 0; i < 9; i++) scenario_engine_event(f->eng[0], &e, T0 + i);
    for (int i = 0; i < 9; i++) scenario_engine_event(f->eng[0], &e, T0 + 11 * 60000 + i);
    assert_int_equal(f->decisions, 0);
    /* "3 attempts" lines count 3. */
    e.count = 3;
    scenario_engine_event(f->eng[0], &e, T0 + 11 * 60000 + 100);
    assert_int_equal(f->decisions, 1);
}

/* Two other users log in fine from ip on node at t: an office behind NAT. */
static void office_logins(struct fixture *f, int node, const char *ip, int64_t t)
{
    struct sg_event ok1 = ev(SG_EV_AUTH_OK, ip, "u1", "imap"), ok2 = ev(SG_EV_AUTH_OK, ip, "u2", "imap");
    scenario_engine_event(f->eng[node], &ok1, t);
    scenario_engine_event(f->eng[node], &ok2, t);
}

static void test_shared_address_needs_more(void **state)
{
    struct fixture *f = *state;
    const char *ip = "203.0.113.50";
    office_logins(f, 0, ip, T0);
    struct sg_event bad = ev(SG_EV_AUTH_FAIL, ip, "phone-user", "imap");
    for (int i = 0; i < 30; i++) scenario_engine_event(f->eng[0], &bad, T0 + 1000 + i);
    assert_int_equal(f->decisions, 0);   /* 30 < 10 x 5 */
    for (int i = 0; i < 20; i++) scenario_engine_event(f->eng[0], &bad, T0 + 2000 + i);
    assert_int_equal(f->decisions, 1);   /* 50: even a shared address has a limit */
    assert_non_null(strstr(f->last.reason, "shared address"));
}

static void test_spread_users_not_weakened(void **state)
{
    struct fixture *f = *state;
    const char *ip = "203.0.113.51";
    office_logins(f, 0, ip, T0);
    const char *users[] = {"x1", "x2", "x3", "x4", "x5"};
    for (int i = 0; i < 10; i++) {
        struct sg_event bad = ev(SG_EV_AUTH_FAIL, ip, users[i % 5], "imap");
        scenario_engine_event(f->eng[0], &bad, T0 + 1000 + i);
    }
    assert_int_equal(f->decisions, 1);   /* many target users: the normal threshold */
}

static void test_repeat_offender_and_prefix(void **state)
{
    struct fixture *f = *state;
    struct sg_event e = ev(SG_EV_AUTH_FAIL, "203.0.113.9", "a", "imap");
    for (int i = 0; i < 10; i++) scenario_engine_event(f->eng[0], &e, T0 + i);
    assert_int_equal(f->last.duration_s, 3600);
    assert_int_equal(f->last.level, 0);
    /* After the ban expires, the address comes back: level 1, double duration. */
    int64_t t1 = T0 + 3601 * 1000LL;
    for (int i = 0; i < 10; i++) scenario_engine_event(f->eng[0], &e, t1 + i);
    assert_int_equal(f->last.level, 1);
    assert_int_equal(f->last.duration_s, 7200);
    int64_t t2 = t1 + 7201 * 1000LL;
    for (int i = 0; i < 10; i++) scenario_engine_event(f->eng[0], &e, t2 + i);
    assert_int_equal(f->last.duration_s, 14400);   /* capped at max_duration 4h */
    int64_t t3 = t2 + 14401 * 1000LL;
    for (int i = 0; i < 10; i++) scenario_engine_event(f->eng[0], &e, t3 + i);
    assert_int_equal(f->last.duration_s, 14400);
    /* Three banned addresses in one /24 ban the /24. */
    const char *ips[] = {"192.0.2.1", "192.0.2.2", "192.0.2.3"};
    for (int k = 0; k < 3; k++) {
        struct sg_event x = ev(SG_EV_AUTH_FAIL, ips[k], "a", "smtp");
        for (int i = 0; i < 10; i++) scenario_engine_event(f->eng[0], &x, t3 + 100 + i);
    }
    assert_string_equal(f->last.key, "net:192.0.2.0/24");
    assert_string_equal(f->last.scenario, "prefix-escalation");
    assert_non_null(gossip_state_ban_active(f->st[0], "net:192.0.2.0/24", t3 + 200));
}

static void test_allowlist_wins(void **state)
{
    struct fixture *f = *state;
    struct sg_event e = ev(SG_EV_AUTH_FAIL, "198.51.100.7", "a", "imap");
    for (int i = 0; i < 100; i++) scenario_engine_event(f->eng[0], &e, T0 + i);
    e = ev(SG_EV_AUTH_FAIL, "127.0.0.1", "a", "imap");
    for (int i = 0; i < 100; i++) scenario_engine_event(f->eng[0], &e, T0 + i);
    assert_int_equal(f->decisions, 0);
    assert_null(gossip_state_ban_get(f->st[0], "ip:198.51.100.7"));
    struct scenario_stats ss;
    scenario_engine_stats(f->eng[0], &ss);
    assert_true(ss.refused_guard >= 2);
}

static void test_hold_user_and_allowlist(void **state)
{
    struct fixture *f = *state;
    struct sg_event s = ev(SG_EV_SENT, "203.0.113.20", "spammer@example.jp", "submission");
    s.nrcpt = 40;
    scenario_engine_event(f->eng[0], &s, T0);
    scenario_engine_event(f->eng[0], &s, T0 + 1);
    assert_int_equal(f->decisions, 0);
    scenario_engine_event(f->eng[0], &s, T0 + 2);   /* 120 recipients >= 100 */
    assert_int_equal(f->decisions, 1);
    assert_string_equal(f->last.key, "user:spammer@example.jp");
    assert_string_equal(f->last.action, "hold");
    const struct gossip_ban *b = gossip_state_ban_active(f->st[0], "user:spammer@example.jp", T0 + 3);
    assert_non_null(b);
    assert_int_equal(b->kind, GOSSIP_BAN_KIND_HOLD);
    struct sg_event boss = ev(SG_EV_SENT, "203.0.113.21", "boss@example.jp", "submission");
    boss.nrcpt = 500;
    scenario_engine_event(f->eng[0], &boss, T0);
    assert_int_equal(f->decisions, 1);
}

static void test_operator_unban_is_respected(void **state)
{
    struct fixture *f = *state;
    struct sg_event e = ev(SG_EV_AUTH_FAIL, "203.0.113.30", "a", "imap");
    for (int i = 0; i < 10; i++) scenario_engine_event(f->eng[0], &e, T0 + i);
    assert_int_equal(f->decisions, 1);
    struct gossip_ban_spec un = {.key = "ip:203.0.113.30", .action = GOSSIP_BAN_ACTION_UNBAN};
    assert_int_equal(gossip_state_ban_put(f->st[0], &un, T0 + 100, NULL), 0);
    for (int i = 0; i < 10; i++) scenario_engine_event(f->eng[0], &e, T0 + 200 + i);
    assert_int_equal(f->decisions, 1);   /* the unban keeps decisions away for its grace (1h) ... */
    /* ... and no longer: new evidence bans again, one level up (offense memory, a kind of its own). */
    const struct gossip_ban *off = gossip_state_ban_get(f->st[0], "offense:ip:203.0.113.30");
    assert_non_null(off);
    assert_int_equal(off->kind, GOSSIP_BAN_KIND_OFFENSE);
    int64_t later = T0 + 100 + 3600000;
    for (int i = 0; i < 10; i++) scenario_engine_event(f->eng[0], &e, later + i);
    assert_int_equal(f->decisions, 2);
    assert_string_equal(f->last.key, "ip:203.0.113.30");
    assert_int_equal(f->last.level, 1);
    assert_int_equal(f->last.duration_s, 7200);
    assert_non_null(gossip_state_ban_active(f->st[0], "ip:203.0.113.30", later + 10));
}

static void test_remote_touch_decides(void **state)
{
    struct fixture *f = *state;
    struct sg_event e = ev(SG_EV_AUTH_FAIL, "203.0.113.40", "a", "imap");
    for (int i = 0; i < 10; i++) scenario_engine_event(f->eng[0], &e, T0 + i);
    assert_int_equal(f->decisions, 1);
    /* Node b learns the counts (not the ban: drop it from the delta by re-creating b's view). */
    struct gossip_writer w;
    gossip_writer_init(&w);
    gossip_state_take_delta(f->st[0], &w, 1 << 20);
    struct gossip_body *body = NULL;
    assert_int_equal(gossip_body_decode((const uint8_t *)w.buf.data, w.buf.size, 0, &body), GOSSIP_WIRE_OK);
    body->n_bans = 0;
    gossip_state_merge(f->st[1], body, gossip_state_origin(f->st[0]), GOSSIP_MERGE_SENDER_SLOTS_ONLY, T0 + 20, NULL);
    scenario_engine_touch(f->eng[1], "auth-ip|ip:203.0.113.40", T0 + 20);
    scenario_engine_touch(f->eng[1], "no-such-scenario|ip:1.2.3.4", T0 + 20);
    scenario_engine_touch(f->eng[1], "garbage", T0 + 20);
    /* Queued, not evaluated yet; the unknown keys are not even queued. */
    assert_int_equal(f->decisions, 1);
    assert_int_equal(scenario_engine_queued(f->eng[1]), 1);
    assert_false(scenario_engine_drain(f->eng[1], T0 + 20, 1000000));
    assert_int_equal(f->decisions, 2);
    gossip_body_destroy(&body);
    gossip_writer_fini(&w);
}

/* ---- keys touched by merges: evaluated in slices, decided by one node ---- */

static enum scenario_decider_is fixture_decides(const char *subject, int64_t cross_ms, void *arg)
{
    const struct node_view *v = arg;
    uint64_t live[NODES];
    size_t n = 0;
    for (int i = 0; i < NODES; i++)
        if (i == v->node || !v->f->gone[i]) live[n++] = v->f->origins[i];
    uint64_t d = scenario_decider(subject, live, n);
    if (d == v->f->origins[v->node]) return SCENARIO_DECIDES_HERE;
    for (int i = 0; i < NODES; i++)
        if (d == v->f->origins[i]) return scenario_decider_caught_up(v->f->busy[i] ? v->f->seen[i] : INT64_MAX / 2, cross_ms);
    return SCENARIO_DECIDER_QUIET;
}

/* Every node's decider callback over all NODES origins. */
static void use_deciders(struct fixture *f)
{
    for (int i = 0; i < NODES; i++) scenario_engine_set_decider(f->eng[i], fixture_decides, &f->view[i]);
}

/* Ships node from's pending delta to every other node as the agent's merge callback does: merged,
 * then its counter and sketch keys touched (queued). With bans false, its ban records are left out
 * (a decider whose records never arrive). */
static void broadcast(struct fixture *f, int from, int64_t now, bool bans)
{
    struct gossip_writer w;
    gossip_writer_init(&w);
    gossip_state_take_delta(f->st[from], &w, 1 << 20);
    struct gossip_body *b = NULL;
    assert_int_equal(gossip_body_decode((const uint8_t *)w.buf.data, w.buf.size, 0, &b), GOSSIP_WIRE_OK);
    if (!bans) b->n_bans = 0;
    for (int to = 0; to < NODES; to++) {
        if (to == from) continue;
        uint8_t marks[256];
        assert_true(b->n_slots + b->n_sketches <= sizeof marks);
        gossip_state_merge_marked(f->st[to], b, f->origins[from], GOSSIP_MERGE_SENDER_SLOTS_ONLY, now, NULL, marks);
        scenario_engine_touch_merged(f->eng[to], b, marks, now);
    }
    gossip_body_destroy(&b);
    gossip_writer_fini(&w);
}

static void drain_all(struct fixture *f, int64_t now)
{
    for (int i = 0; i < NODES; i++)
        while (scenario_engine_drain(f->eng[i], now, 1000000)) {}
}

static uint64_t stat_decisions(struct fixture *f, int node)
{
    struct scenario_stats s;
    scenario_engine_stats(f->eng[node], &s);
    return s.decisions;
}

/* 5 failures on node a and 5 on node b (threshold 10), none on c: no local event crosses, and once
 * the counts are exchanged every node sees the crossing through merges alone. Returns the decider. */
static int spread_crossing(struct fixture *f, const char *ip, int64_t t)
{
    use_deciders(f);
    struct sg_event e = ev(SG_EV_AUTH_FAIL, ip, "a", "imap");
    for (int i = 0; i < 5; i++) scenario_engine_event(f->eng[0], &e, t + i);
    for (int i = 0; i < 5; i++) scenario_engine_event(f->eng[1], &e, t + i);
    assert_int_equal(f->decisions, 0);
    broadcast(f, 0, t + 10, true);
    broadcast(f, 1, t + 10, true);
    char subject[64];
    snprintf(subject, sizeof subject, "ip:%s", ip);
    uint64_t who = scenario_decider(subject, f->origins, NODES);
    for (int i = 0; i < NODES; i++)
        if (who == f->origins[i]) return i;
    fail();
    return -1;
}

/* One decision, by the decider; the others defer and, once its ban has come, do nothing at their
 * deadline. */
static void test_touch_one_decider(void **state)
{
    struct fixture *f = *state;
    int d = spread_crossing(f, "203.0.113.50", T0);
    drain_all(f, T0 + 20);
    assert_int_equal(f->decisions, 1);
    assert_int_equal(stat_decisions(f, d), 1);
    assert_string_equal(f->last.key, "ip:203.0.113.50");
    for (int i = 0; i < NODES; i++) {
        struct scenario_stats s;
        scenario_engine_stats(f->eng[i], &s);
        assert_int_equal(s.deferred, i == d ? 0 : 1);
        assert_int_equal(s.deferred_now, i == d ? 0 : 1);
        assert_int_equal(scenario_engine_next_deadline(f->eng[i]), i == d ? -1 : T0 + 20 + SCENARIO_DEFER_MS);
    }
    broadcast(f, d, T0 + 30, true);   /* the decider's ban (and offense memory) reach the others */
    drain_all(f, T0 + 20 + SCENARIO_DEFER_MS);
    assert_int_equal(f->decisions, 1);
    for (int i = 0; i < NODES; i++) {
        struct scenario_stats s;
        scenario_engine_stats(f->eng[i], &s);
        assert_int_equal(s.taken_over, 0);
        assert_int_equal(s.deferred_now, 0);
        assert_non_null(gossip_state_ban_active(f->st[i], "ip:203.0.113.50", T0 + 20 + SCENARIO_DEFER_MS));
    }
}

/* The decider is behind at the first deadline and its ban never comes (a never-ban rule the others
 * lack): the others wait again; once it says it has caught up with the crossing, they decide
 * themselves at the next deadline, not before. Its `seen` is held against the crossing's time: 1 ms
 * short of SCENARIO_SEEN_SLACK_MS past it is still behind. */
static void test_touch_decider_silent(void **state)
{
    struct fixture *f = *state;
    int d = spread_crossing(f, "203.0.113.51", T0);
    int64_t crossed = T0 + 20;
    f->busy[d] = true;
    f->seen[d] = crossed + SCENARIO_SEEN_SLACK_MS - 1;
    drain_all(f, crossed);
    assert_int_equal(f->decisions, 1);
    broadcast(f, d, T0 + 30, false);   /* its counts may come, its records do not */
    int64_t first = T0 + 20 + SCENARIO_DEFER_MS, next = first + SCENARIO_DEFER_MS;
    drain_all(f, first);
    assert_int_equal(f->decisions, 1);
    for (int i = 0; i < NODES; i++) {
        struct scenario_stats s;
        scenario_engine_stats(f->eng[i], &s);
        assert_int_equal(s.extended, i == d ? 0 : 1);
        assert_int_equal(scenario_engine_next_deadline(f->eng[i]), i == d ? -1 : next);
    }
    f->seen[d] = crossed + SCENARIO_SEEN_SLACK_MS;
    drain_all(f, next - 1);
    assert_int_equal(f->decisions, 1);
    drain_all(f, next);
    assert_int_equal(f->decisions, NODES);
    for (int i = 0; i < NODES; i++) {
        struct scenario_stats s;
        scenario_engine_stats(f->eng[i], &s);
        assert_int_equal(s.taken_over, i == d ? 0 : 1);
        assert_int_equal(s.defer_bound, 0);
        assert_int_equal(s.deferred_now, 0);
        assert_non_null(gossip_state_ban_active(f->st[i], "ip:203.0.113.51", next));
    }
}

/* A decider behind all along whose ban never comes: the others wait deadline after deadline, and take
 * the crossing over once SCENARIO_DEFER_BOUND_MS have passed since it crossed. One caught up is
 * taken over at the first deadline. */
static void test_touch_decider_busy_bound(void **state)
{
    struct fixture *f = *state;
    int d = spread_crossing(f, "203.0.113.54", T0);
    for (int i = 0; i < NODES; i++) f->busy[i] = true;
    drain_all(f, T0 + 20);   /* crossed here, at T0 + 20 */
    assert_int_equal(f->decisions, 1);
    int64_t t = T0 + 20 + SCENARIO_DEFER_MS;
    for (; t < T0 + 20 + SCENARIO_DEFER_BOUND_MS; t += SCENARIO_DEFER_MS) {
        drain_all(f, t);
        assert_int_equal(f->decisions, 1);
    }
    struct scenario_stats s;
    scenario_engine_stats(f->eng[(d + 1) % NODES], &s);
    assert_int_equal(s.extended, SCENARIO_DEFER_BOUND_MS / SCENARIO_DEFER_MS - 1);
    assert_int_equal(s.taken_over, 0);
    drain_all(f, t);
    assert_int_equal(f->decisions, NODES);
    scenario_engine_stats(f->eng[(d + 1) % NODES], &s);
    assert_int_equal(s.taken_over, 1);
    assert_int_equal(s.defer_bound, 1);
    assert_int_equal(s.deferred_now, 0);
    /* Quiet: taken over at the first deadline. An address d decides too: */
    f->busy[d] = false;
    char ip[32], subject[48];
    for (int i = 0;; i++) {
        assert_true(i < 256);
        snprintf(ip, sizeof ip, "203.0.113.%d", 100 + i % 100);
        snprintf(subject, sizeof subject, "ip:%s", ip);
        if (scenario_decider(subject, f->origins, NODES) == f->origins[d]) break;
    }
    int before = f->decisions;
    struct sg_event e = ev(SG_EV_AUTH_FAIL, ip, "a", "imap");
    for (int i = 0; i < 5; i++) scenario_engine_event(f->eng[(d + 1) % NODES], &e, t + i);
    for (int i = 0; i < 5; i++) scenario_engine_event(f->eng[(d + 2) % NODES], &e, t + i);
    broadcast(f, (d + 1) % NODES, t + 10, false);
    broadcast(f, (d + 2) % NODES, t + 10, false);
    drain_all(f, t + 20);
    assert_int_equal(f->decisions, before + 1);
    drain_all(f, t + 20 + SCENARIO_DEFER_MS - 1);
    assert_int_equal(f->decisions, before + 1);
    drain_all(f, t + 20 + SCENARIO_DEFER_MS);
    assert_int_equal(f->decisions, before + NODES);
}

/* A crossing made just before its oldest bucket leaves the window is judged by the count it had
 * when it crossed: a decider that never sends its ban cannot leave it unbanned by waiting. And as
 * it no longer crosses now, a decider that measured it later may never have seen it cross: it is
 * taken over at the first deadline even from a decider behind it. */
static void test_deferred_crossing_at_window_edge(void **state)
{
    struct fixture *f = *state;
    use_deciders(f);
    for (int i = 0; i < NODES; i++) f->busy[i] = true;
    struct sg_event e = ev(SG_EV_AUTH_FAIL, "203.0.113.56", "a", "imap");
    for (int i = 0; i < 5; i++) scenario_engine_event(f->eng[0], &e, T0 + i);
    for (int i = 0; i < 5; i++) scenario_engine_event(f->eng[1], &e, T0 + i);
    int64_t late = T0 + 600000 - 5000;   /* the T0 bucket's last 5 s in the 10 min window */
    broadcast(f, 0, late, false);
    broadcast(f, 1, late, false);
    drain_all(f, late);
    assert_int_equal(f->decisions, 1);   /* the decider; its record goes nowhere */
    int64_t due = late + SCENARIO_DEFER_MS;
    struct sg_subject subj;
    assert_int_equal(sg_subject_set(&subj, SG_SUBJ_IP, "203.0.113.56"), 0);
    uint64_t v;
    int64_t thr;
    bool shared;
    scenario_measure(&f->cfg, f->st[2], &f->cfg.scenarios[0], &subj, due, &v, &thr, &shared);
    assert_int_equal(v, 0);              /* nothing left in the window at the deadline */
    drain_all(f, due);
    assert_int_equal(f->decisions, NODES);
    struct scenario_stats s;
    scenario_engine_stats(f->eng[0], &s);
    assert_int_equal(s.extended, 0);
}

/* A key judged in the window that ended when it was first touched is held against the threshold of
 * a shared address if the address was shared then, even when its good users have left the evidence
 * window by now: the past count never bans a customer that the count then would not have. */
static void test_touch_queue_lag_shared_address(void **state)
{
    struct fixture *f = *state;
    const char *ip = "203.0.113.58";
    office_logins(f, 2, ip, T0);
    struct sg_event bad = ev(SG_EV_AUTH_FAIL, ip, "phone-user", "imap");
    for (int i = 0; i < 5; i++) scenario_engine_event(f->eng[0], &bad, T0 + 1000 + i);
    for (int i = 0; i < 5; i++) scenario_engine_event(f->eng[1], &bad, T0 + 1000 + i);
    broadcast(f, 0, T0 + 2000, true);
    broadcast(f, 1, T0 + 2000, true);
    assert_int_equal(scenario_engine_queued(f->eng[2]), 1);
    /* Evaluated once the good users have left the evidence window: 10 < 10 x 5 then. */
    int64_t late = T0 + f->cfg.evidence_window_s * 1000 + 700000;
    while (scenario_engine_drain(f->eng[2], late, 1000000)) {}
    assert_int_equal(stat_decisions(f, 2), 0);
}

/* A key that waited in the touch queue while its oldest bucket left the window is judged by the
 * count it had when it was touched. */
static void test_touch_queue_lag_window(void **state)
{
    struct fixture *f = *state;
    struct sg_event e = ev(SG_EV_AUTH_FAIL, "203.0.113.57", "a", "imap");
    for (int i = 0; i < 5; i++) scenario_engine_event(f->eng[0], &e, T0 + i);
    for (int i = 0; i < 5; i++) scenario_engine_event(f->eng[1], &e, T0 + i);
    broadcast(f, 0, T0 + 10, true);
    broadcast(f, 1, T0 + 10, true);
    assert_int_equal(f->decisions, 0);
    assert_int_equal(scenario_engine_queued(f->eng[2]), 1);
    int64_t late = T0 + 700000;
    while (scenario_engine_drain(f->eng[2], late, 1000000)) {}
    assert_int_equal(stat_decisions(f, 2), 1);
    assert_string_equal(f->last.key, "ip:203.0.113.57");
    assert_true(f->last.time_ms == late);
}
/* The decider is gone (no longer heard) by the first deadline: the node that now decides among the
 * nodes it hears decides then, not before; the third, for which that node is the decider (heard
 * deciding), waits longer and takes its ban. */
static void test_touch_decider_gone(void **state)
{
    struct fixture *f = *state;
    int d = spread_crossing(f, "203.0.113.53", T0);
    for (int i = 0; i < NODES; i++) f->busy[i] = true;
    drain_all(f, T0 + 20);
    assert_int_equal(f->decisions, 1);
    f->gone[d] = true;
    int64_t first = T0 + 20 + SCENARIO_DEFER_MS;
    drain_all(f, first - 1);
    assert_int_equal(f->decisions, 1);
    drain_all(f, first);
    assert_int_equal(f->decisions, 2);
    int heir = -1, third = -1;
    for (int i = 0; i < NODES; i++) {
        if (i == d) continue;
        struct scenario_stats s;
        scenario_engine_stats(f->eng[i], &s);
        if (s.taken_over) heir = i;
        else third = i;
    }
    assert_true(heir >= 0 && third >= 0);
    struct scenario_stats s;
    scenario_engine_stats(f->eng[third], &s);
    assert_int_equal(s.extended, 1);
    broadcast(f, heir, first + 10, true);
    drain_all(f, first + SCENARIO_DEFER_MS);
    assert_int_equal(f->decisions, 2);
    assert_non_null(gossip_state_ban_active(f->st[third], "ip:203.0.113.53", first + SCENARIO_DEFER_MS));
    scenario_engine_stats(f->eng[third], &s);
    assert_int_equal(s.taken_over, 0);
    assert_int_equal(s.deferred_now, 0);
}

/* A node that is not the decider: a crossing its own log causes with the peers' counts in it is
 * left to the decider, which sees it in that event's delta; one its own counts cause alone is
 * decided here at once. */
static void test_local_event_decides_at_once(void **state)
{
    struct fixture *f = *state;
    int d = spread_crossing(f, "203.0.113.52", T0);
    int other = (d + 1) % NODES;
    /* Before any drain (the merged 10 not yet evaluated), one more failure in other's log. */
    struct sg_event e = ev(SG_EV_AUTH_FAIL, "203.0.113.52", "a", "pop3");
    scenario_engine_event(f->eng[other], &e, T0 + 15);
    assert_int_equal(f->decisions, 0);
    struct scenario_stats s;
    scenario_engine_stats(f->eng[other], &s);
    assert_int_equal(s.deferred, 1);
    /* The decider decides it (from the merges, or from other's delta); other finds its ban at its
     * deadline and does nothing. */
    broadcast(f, other, T0 + 16, true);
    drain_all(f, T0 + 20);
    assert_int_equal(f->decisions, 1);
    assert_int_equal(stat_decisions(f, d), 1);
    broadcast(f, d, T0 + 21, true);
    drain_all(f, T0 + 20 + SCENARIO_DEFER_MS);
    assert_int_equal(f->decisions, 1);
    assert_int_equal(stat_decisions(f, other), 0);
    /* Ten failures in one non-decider's own log: decided there at once. */
    const char *ip = NULL;
    char buf[32];
    for (int i = 0; i < 256 && !ip; i++) {
        snprintf(buf, sizeof buf, "203.0.113.%d", 100 + i % 100);
        char subject[48];
        snprintf(subject, sizeof subject, "ip:%s", buf);
        if (scenario_decider(subject, f->origins, NODES) != f->origins[other]) ip = buf;
    }
    assert_non_null(ip);
    use_deciders(f);
    struct sg_event own = ev(SG_EV_AUTH_FAIL, ip, "b", "imap");
    for (int i = 0; i < 10; i++) scenario_engine_event(f->eng[other], &own, T0 + 30 + i);
    assert_int_equal(f->decisions, 2);
    assert_int_equal(stat_decisions(f, other), 1);
}

/* Rendezvous: every node picks the same decider; subjects spread over the nodes; a node that goes
 * moves only its own subjects. */
static void test_decider_rendezvous(void **state)
{
    struct fixture *f = *state;
    int per[NODES] = {0}, moved = 0;
    for (int i = 0; i < 3000; i++) {
        char subject[64];
        snprintf(subject, sizeof subject, "ip:10.0.%d.%d", i / 256, i % 256);
        uint64_t who = scenario_decider(subject, f->origins, NODES);
        uint64_t rev[NODES] = {f->origins[2], f->origins[0], f->origins[1]};
        assert_true(scenario_decider(subject, rev, NODES) == who);   /* order does not matter */
        int k = who == f->origins[0] ? 0 : who == f->origins[1] ? 1 : 2;
        per[k]++;
        /* node 2 gone: its subjects move, the others' stay */
        uint64_t two = scenario_decider(subject, f->origins, 2);
        if (k != 2) assert_true(two == who);
        else moved++;
    }
    for (int i = 0; i < NODES; i++) assert_true(per[i] > 800 && per[i] < 1200);
    assert_int_equal(moved, per[2]);
    assert_true(scenario_decider("ip:10.0.0.1", f->origins, 1) == f->origins[0]);
}

/* Touched many times, a key is queued once; slices of budget 0 evaluate one key each. */
static void test_touch_queue_slices(void **state)
{
    struct fixture *f = *state;
    for (int i = 0; i < 100; i++) scenario_engine_touch(f->eng[0], "auth-ip|ip:192.0.2.1", T0);
    for (int i = 0; i < 50; i++) scenario_engine_touch(f->eng[0], "auth-ip|ip:192.0.2.2", T0);
    scenario_engine_touch(f->eng[0], "acct|user:x@example.jp", T0);
    scenario_engine_touch(f->eng[0], "okusers|ip:192.0.2.1", T0);   /* evidence, not a scenario: ignored */
    struct scenario_stats s;
    scenario_engine_stats(f->eng[0], &s);
    assert_int_equal(s.touches, 151);
    assert_int_equal(s.touch_dups, 148);
    assert_int_equal(s.queued, 3);
    assert_true(scenario_engine_drain(f->eng[0], T0, 0));
    assert_true(scenario_engine_drain(f->eng[0], T0, 0));
    /* touched again after its evaluation: queued again (new data came) */
    scenario_engine_touch(f->eng[0], "auth-ip|ip:192.0.2.1", T0);
    assert_true(scenario_engine_drain(f->eng[0], T0, 0));
    assert_false(scenario_engine_drain(f->eng[0], T0, 0));
    assert_false(scenario_engine_drain(f->eng[0], T0, 0));   /* nothing left: an empty slice */
    scenario_engine_stats(f->eng[0], &s);
    assert_int_equal(s.evaluated, 4);
    assert_int_equal(s.slices, 5);
    assert_int_equal(s.queued, 0);
    /* A reload's new engine takes the queue and the counters over. */
    scenario_engine_touch(f->eng[0], "auth-ip|ip:192.0.2.3", T0);
    struct scenario_engine *fresh = scenario_engine_new(&f->cfg, f->st[0], f->guard, on_decision, f);
    scenario_engine_adopt(fresh, &f->eng[0]);
    assert_null(f->eng[0]);
    f->eng[0] = fresh;
    scenario_engine_stats(f->eng[0], &s);
    assert_int_equal(s.queued, 1);
    assert_int_equal(s.evaluated, 4);
}

/* A body merged twice (a sync answer repeating a delta): the second merge changes nothing, so
 * nothing is touched; one newer count touches its key alone. */
static void test_touch_merged_changed_only(void **state)
{
    struct fixture *f = *state;
    struct sg_event e = ev(SG_EV_AUTH_FAIL, "203.0.113.60", "a", "imap");
    for (int i = 0; i < 3; i++) scenario_engine_event(f->eng[0], &e, T0 + i);
    struct sg_event e2 = ev(SG_EV_AUTH_FAIL, "203.0.113.61", "b", "imap");
    scenario_engine_event(f->eng[0], &e2, T0 + 3);
    struct gossip_writer w;
    gossip_writer_init(&w);
    gossip_state_take_delta(f->st[0], &w, 1 << 20);
    struct gossip_body *b = NULL;
    assert_int_equal(gossip_body_decode((const uint8_t *)w.buf.data, w.buf.size, 0, &b), GOSSIP_WIRE_OK);
    uint8_t marks[64];
    assert_true(b->n_slots + b->n_sketches <= sizeof marks && b->n_slots >= 2);
    struct scenario_stats s0, s1, s2;
    scenario_engine_stats(f->eng[1], &s0);
    for (int round = 0; round < 2; round++) {
        memset(marks, 0xaa, sizeof marks);
        struct gossip_merge_result res;
        gossip_state_merge_marked(f->st[1], b, f->origins[0], GOSSIP_MERGE_SENDER_SLOTS_ONLY, T0 + 10, &res, marks);
        assert_ptr_equal(res.changed_marks, marks);
        for (size_t i = 0; i < b->n_slots + b->n_sketches; i++) assert_int_equal(marks[i], round == 0);
        scenario_engine_touch_merged(f->eng[1], b, marks, T0 + 10);
        scenario_engine_stats(f->eng[1], round == 0 ? &s1 : &s2);
    }
    assert_true(s1.touches >= s0.touches + 2);   /* auth-ip of both addresses at least */
    assert_int_equal(s2.touches, s1.touches);
    /* Without marks (a caller that does not ask) every key is touched, as before. */
    scenario_engine_touch_merged(f->eng[1], b, NULL, T0 + 10);
    scenario_engine_stats(f->eng[1], &s2);
    assert_int_equal(s2.touches - s1.touches, s1.touches - s0.touches);
    gossip_body_destroy(&b);
    /* One more failure of the first address: its key alone moves. */
    scenario_engine_event(f->eng[0], &e, T0 + 20);
    gossip_writer_reset(&w);
    gossip_state_take_delta(f->st[0], &w, 1 << 20);
    assert_int_equal(gossip_body_decode((const uint8_t *)w.buf.data, w.buf.size, 0, &b), GOSSIP_WIRE_OK);
    gossip_state_merge_marked(f->st[1], b, f->origins[0], GOSSIP_MERGE_SENDER_SLOTS_ONLY, T0 + 21, NULL, marks);
    scenario_engine_stats(f->eng[1], &s1);
    scenario_engine_touch_merged(f->eng[1], b, marks, T0 + 21);
    scenario_engine_stats(f->eng[1], &s2);
    assert_true(s2.touches > s1.touches);
    for (size_t i = 0; i < b->n_slots; i++) assert_null(strstr(b->slots[i].key, "203.0.113.61"));
    gossip_body_destroy(&b);
    gossip_writer_fini(&w);
}

/* ---- precision (agent/evidence.h), with the shipped scenarios ---- */

#define MIN 60000LL
#define DAY 86400000LL

/* One event of kind from ip for user on node at t. */
static void event(struct fixture *f, int node, enum sg_event_kind k, const char *ip, const char *user, int64_t t)
{
    struct sg_event e = ev(k, ip, user, "imap");
    scenario_engine_event(f->eng[node], &e, t);
}

static bool banned(struct fixture *f, int node, const char *key, int64_t t)
{
    return gossip_state_ban_active(f->st[node], key, t) != NULL;
}

/* 20 good users log in from a /24, then 3 infected addresses in it guess passwords: the 3 are banned,
 * the /24 is not (neither by prefix escalation nor auth-prefix), the good addresses are not. */
static void infected_in_prefix(struct fixture *f, const char *net, bool with_good_users, int64_t t)
{
    char ip[32], user[32];
    for (int i = 0; with_good_users && i < 20; i++) {
        snprintf(ip, sizeof ip, "%s.%d", net, 10 + i);
        snprintf(user, sizeof user, "cust%d", i);
        event(f, i % 2, SG_EV_AUTH_OK, ip, user, t + i * 1000);
    }
    exchange(f->st[1], f->st[0], gossip_state_origin(f->st[1]), t + 30000);
    for (int k = 0; k < 3; k++) {
        snprintf(ip, sizeof ip, "%s.%d", net, 100 + k);
        for (int i = 0; i < 10; i++) {
            snprintf(user, sizeof user, "victim%d", i % 2);
            event(f, 0, SG_EV_AUTH_FAIL, ip, user, t + 60000 + k * 1000 + i);
        }
    }
    /* Three more infected addresses fail once each: 6 distinct failing addresses (auth-prefix). */
    for (int k = 3; k < 6; k++) {
        snprintf(ip, sizeof ip, "%s.%d", net, 100 + k);
        event(f, 0, SG_EV_AUTH_FAIL, ip, "victim0", t + 70000 + k);
    }
}

static void test_good_prefix_only_guilty_banned(void **state)
{
    struct fixture *f = *state;
    int64_t t = T0;
    infected_in_prefix(f, "203.0.113", true, t);
    assert_true(banned(f, 0, "ip:203.0.113.100", t + 80000));
    assert_true(banned(f, 0, "ip:203.0.113.101", t + 80000));
    assert_true(banned(f, 0, "ip:203.0.113.102", t + 80000));
    assert_false(banned(f, 0, "ip:203.0.113.10", t + 80000));
    assert_null(gossip_state_ban_get(f->st[0], "net:203.0.113.0/24"));
    struct sg_subject net;
    assert_int_equal(sg_subject_parse("net:203.0.113.0/24", &net), 0);
    assert_int_equal(evidence_good_users(f->st[0], &f->cfg, &net, t + 80000), 20);
    struct scenario_stats s;
    scenario_engine_stats(f->eng[0], &s);
    assert_true(s.refused_evidence >= 2);   /* prefix escalation and auth-prefix both refused */
    /* The same attack in a prefix without good users bans the prefix: the rule above is what held. */
    infected_in_prefix(f, "192.0.2", false, t);
    assert_non_null(gossip_state_ban_active(f->st[0], "net:192.0.2.0/24", t + 80000));
}

static void test_customer_network_never_prefix_banned(void **state)
{
    struct fixture *f = *state;
    infected_in_prefix(f, "198.19.5", false, T0);
    assert_true(banned(f, 0, "ip:198.19.5.100", T0 + 80000));
    assert_null(gossip_state_ban_get(f->st[0], "net:198.19.5.0/24"));
    char why[128];
    struct sg_subject net;
    assert_int_equal(sg_subject_parse("net:198.19.5.0/24", &net), 0);
    assert_non_null(evidence_protects_prefix(f->st[0], &f->cfg, &net, T0, why, sizeof why));
    assert_non_null(strstr(why, "198.18.0.0/15"));
}

/* A phone keeps polling with an old password for three days after its user logged in from it (on the
 * other node): never banned, never held. A guesser from a fresh address is banned within 10 tries. */
static void test_stale_phone_never_banned(void **state)
{
    struct fixture *f = *state;
    const char *phone = "203.0.113.50";
    event(f, 1, SG_EV_AUTH_OK, phone, "mum", T0);
    exchange(f->st[1], f->st[0], gossip_state_origin(f->st[1]), T0 + 1000);
    assert_true(evidence_known_good(f->st[0], &f->cfg, phone, "mum", T0 + 1000));
    int n = 0;
    for (int64_t t = T0 + 2 * 3600000; t < T0 + 3 * DAY; t += MIN, n++) {
        event(f, 0, SG_EV_AUTH_FAIL, phone, "mum", t);
        if (n % 60 == 0) gossip_state_expire(f->st[0], t);
    }
    assert_int_equal(f->decisions, 0);
    assert_null(gossip_state_ban_get(f->st[0], "ip:203.0.113.50"));
    struct scenario_stats s;
    scenario_engine_stats(f->eng[0], &s);
    assert_int_equal(s.stale_failures, (uint64_t)n);
    assert_true(evidence_stale_users(f->st[0], &f->cfg, phone, T0 + 3 * DAY) == 1);
    /* A real guesser on the same account from a fresh address. */
    for (int i = 0; i < 10; i++) event(f, 0, SG_EV_AUTH_FAIL, "192.0.2.77", "mum", T0 + 3 * DAY + i);
    assert_true(banned(f, 0, "ip:192.0.2.77", T0 + 3 * DAY + 100));
    assert_null(gossip_state_ban_get(f->st[0], "ip:203.0.113.50"));
    /* A held (hijacked) account earns no trust: its addresses stop being known-good. */
    struct gossip_ban_spec hold = {.key = "user:mum", .action = GOSSIP_BAN_ACTION_BAN, .kind = GOSSIP_BAN_KIND_HOLD,
                                   .expires_at = T0 + 4 * DAY, .reason = "test"};
    assert_int_equal(gossip_state_ban_put(f->st[0], &hold, T0 + 3 * DAY, NULL), 0);
    assert_false(evidence_known_good(f->st[0], &f->cfg, phone, "mum", T0 + 3 * DAY + 200));
}

/* With Dovecot's password hashes: a client repeating one wrong password from a fresh address is not
 * a guesser (it counts once); ten different wrong passwords are. */
static void test_password_hash_repeats(void **state)
{
    struct fixture *f = *state;
    struct sg_event e = ev(SG_EV_AUTH_FAIL, "192.0.2.88", "dad", "auth");
    snprintf(e.pwhash, sizeof e.pwhash, "9d4e1e");
    for (int i = 0; i < 50; i++) scenario_engine_event(f->eng[0], &e, T0 + i * MIN / 2);
    assert_int_equal(f->decisions, 0);
    assert_int_equal(evidence_stale_users(f->st[0], &f->cfg, "192.0.2.88", T0 + 25 * MIN), 1);
    e = ev(SG_EV_AUTH_FAIL, "192.0.2.89", "dad", "auth");
    for (int i = 0; i < 10; i++) {
        snprintf(e.pwhash, sizeof e.pwhash, "%06x", 0xabc000 + i);
        scenario_engine_event(f->eng[0], &e, T0 + i * 1000);
    }
    assert_true(banned(f, 0, "ip:192.0.2.89", T0 + 10000));
    assert_false(banned(f, 0, "ip:192.0.2.88", T0 + 25 * MIN));
}

/* A Dovecot auth-policy report counts like a log line, its pwhash (salted with the farm's nonce) like
 * the log's: one wrong password repeated 50 times from a fresh address counts once, 10 different ones
 * ban it. */
static void report(struct fixture *f, const char *ip, const char *user, const char *pwhash, bool dup, int64_t t)
{
    struct authpolicy_request r;
    memset(&r, 0, sizeof r);
    r.cmd = AP_CMD_REPORT;
    snprintf(r.login, sizeof r.login, "%s", user);
    snprintf(r.remote, sizeof r.remote, "%s", ip);
    snprintf(r.protocol, sizeof r.protocol, "imap");
    snprintf(r.pwhash, sizeof r.pwhash, "%s", pwhash);
    r.has_success = true;
    struct sg_event e;
    authpolicy_report_event(&r, &e);
    e.dup = dup;
    scenario_engine_event(f->eng[0], &e, t);
}

static void test_report_password_hashes(void **state)
{
    struct fixture *f = *state;
    for (int i = 0; i < 50; i++) report(f, "192.0.2.90", "dad", "0a1b", false, T0 + i * MIN / 2);
    assert_false(banned(f, 0, "ip:192.0.2.90", T0 + 25 * MIN));
    for (int i = 0; i < 10; i++) {
        char h[8];
        snprintf(h, sizeof h, "0%03x", 0x100 + i);
        report(f, "192.0.2.91", "dad", h, false, T0 + i * 1000);
    }
    assert_true(banned(f, 0, "ip:192.0.2.91", T0 + 10000));
}

/* The log counted 9 attempts first (no hash in the log), their reports came second (dup) with the
 * hashes: the client's retries of the same 9 passwords are repeats and count nothing, so 9 + 9
 * never reaches auth-ip's 10. */
static void test_dup_report_keeps_its_hash(void **state)
{
    struct fixture *f = *state;
    const char *ip = "192.0.2.92";
    for (int i = 0; i < 9; i++) {
        char h[8];
        snprintf(h, sizeof h, "0%03x", 0x200 + i);
        event(f, 0, SG_EV_AUTH_FAIL, ip, "mum", T0 + i * 1000);
        report(f, ip, "mum", h, true, T0 + i * 1000 + 5);
    }
    for (int i = 0; i < 9; i++) {
        char h[8];
        snprintf(h, sizeof h, "0%03x", 0x200 + i);
        report(f, ip, "mum", h, false, T0 + 60000 + i * 1000);
    }
    assert_false(banned(f, 0, "ip:192.0.2.92", T0 + 70000));
    report(f, ip, "mum", "0fff", false, T0 + 71000);   /* a 10th different password */
    assert_true(banned(f, 0, "ip:192.0.2.92", T0 + 71000));
}

/* Known-good lasts known_good_for (30 days), not longer: then the same failures are guessing. */
static void test_known_good_expires(void **state)
{
    struct fixture *f = *state;
    const char *ip = "203.0.113.60";
    event(f, 0, SG_EV_AUTH_OK, ip, "dad", T0);
    assert_true(evidence_known_good(f->st[0], &f->cfg, ip, "dad", T0 + 29 * DAY));
    assert_false(evidence_known_good(f->st[0], &f->cfg, ip, "mum", T0 + DAY));
    int64_t t = T0 + 31 * DAY;
    gossip_state_expire(f->st[0], t);
    assert_false(evidence_known_good(f->st[0], &f->cfg, ip, "dad", t));
    for (int i = 0; i < 10; i++) event(f, 0, SG_EV_AUTH_FAIL, ip, "dad", t + i);
    assert_true(banned(f, 0, "ip:203.0.113.60", t + 100));
}

/* One account tried from many addresses, once each: at attack_addresses (20) distinct addresses the
 * account is under attack and each new failing address is banned at its first failure; the owner's
 * known-good address is not. */
static void test_account_under_attack(void **state)
{
    struct fixture *f = *state;
    event(f, 0, SG_EV_AUTH_OK, "203.0.113.70", "ceo", T0);
    event(f, 0, SG_EV_AUTH_OK, "100.64.99.1", "someone", T0);   /* a CGNAT address with a good user */
    exchange(f->st[0], f->st[1], gossip_state_origin(f->st[0]), T0 + 500);
    char ip[32];
    for (int i = 0; i < 19; i++) {
        snprintf(ip, sizeof ip, "100.64.%d.%d", i, i + 1);
        event(f, i % 2, SG_EV_AUTH_FAIL, ip, "ceo", T0 + 1000 + i);
    }
    exchange(f->st[1], f->st[0], gossip_state_origin(f->st[1]), T0 + 2000);
    assert_int_equal(f->decisions, 0);
    assert_false(evidence_under_attack(f->st[0], &f->cfg, "ceo", T0 + 2000));
    event(f, 0, SG_EV_AUTH_FAIL, "100.64.50.1", "ceo", T0 + 3000);
    assert_true(evidence_under_attack(f->st[0], &f->cfg, "ceo", T0 + 3000));
    assert_true(banned(f, 0, "ip:100.64.50.1", T0 + 3000));
    assert_string_equal(f->last.scenario, SCENARIO_ACCOUNT_ATTACK);
    event(f, 0, SG_EV_AUTH_FAIL, "100.64.51.1", "ceo", T0 + 4000);
    assert_true(banned(f, 0, "ip:100.64.51.1", T0 + 4000));
    /* The owner mistypes from home: known-good, not banned. Nor is a shared address with a good user. */
    event(f, 0, SG_EV_AUTH_FAIL, "203.0.113.70", "ceo", T0 + 5000);
    assert_false(banned(f, 0, "ip:203.0.113.70", T0 + 5000));
    event(f, 0, SG_EV_AUTH_FAIL, "100.64.99.1", "ceo", T0 + 5000);
    assert_false(banned(f, 0, "ip:100.64.99.1", T0 + 5000));
    /* Names that never logged in (a sprayer's inventions) create no per-user keys. */
    struct gossip_state_stats before, after;
    gossip_state_stats(f->st[0], &before);
    char user[32];
    for (int i = 0; i < 50; i++) {
        snprintf(user, sizeof user, "nobody%d", i);
        event(f, 0, SG_EV_AUTH_FAIL, "100.64.99.1", user, T0 + 6000 + i);
    }
    gossip_state_stats(f->st[0], &after);
    assert_true(after.sketch_keys - before.sketch_keys <= 2);
    assert_false(evidence_under_attack(f->st[0], &f->cfg, "nobody1", T0 + 7000));
}

/* `sgcluster explain`'s report, from the same state: records, counts against thresholds (the shared
 * factor applied), evidence, known-good status and what would trigger next. */
static char *explain(struct fixture *f, const char *target, const char *other, bool json, int64_t t, int *rc)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    *rc = explain_write(&f->cfg, f->st[0], target, other, json, t, m);
    fclose(m);
    return buf;
}

static void test_explain(void **state)
{
    struct fixture *f = *state;
    char ip[32], user[32];
    for (int i = 0; i < 20; i++) {
        snprintf(ip, sizeof ip, "203.0.113.%d", 10 + i);
        snprintf(user, sizeof user, "cust%d", i);
        event(f, 0, SG_EV_AUTH_OK, ip, user, T0 + i);
    }
    event(f, 0, SG_EV_AUTH_OK, "192.0.2.200", "victim0", T0 + 500);
    for (int i = 0; i < 3; i++) event(f, 0, SG_EV_AUTH_FAIL, "203.0.113.100", "victim0", T0 + 1000 + i);
    int rc;
    char *j = explain(f, "203.0.113.100", "cust1", true, T0 + 2000, &rc);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(j, "\"banned\":null"));
    assert_non_null(strstr(j, "\"prefix\":\"203.0.113.0/24\""));
    assert_non_null(strstr(j, "\"good_users\":0,\"prefix_good_users\":20,\"failing_users\":1"));
    assert_non_null(strstr(j, "\"prefix_protected\":\"20 good users"));
    assert_non_null(strstr(j, "{\"id\":\"auth-ip\",\"subject\":\"ip:203.0.113.100\",\"count\":3,\"threshold\":10,"));
    assert_non_null(strstr(j, "\"known_good\":{\"user\":\"cust1\",\"known_good\":false,\"days\":30}"));
    assert_non_null(strstr(j, "\"next\":{\"scenario\":\"auth-ip\",\"action\":\"ban\",\"remaining\":7}"));
    free(j);
    /* A good user's own address: known-good for it, and a raised threshold (shared address). */
    event(f, 0, SG_EV_AUTH_OK, "203.0.113.10", "cust99", T0 + 2100);
    event(f, 0, SG_EV_AUTH_FAIL, "203.0.113.10", "victim0", T0 + 2200);
    j = explain(f, "203.0.113.10", "cust0", false, T0 + 3000, &rc);
    assert_non_null(strstr(j, "known-good for cust0: yes"));
    assert_non_null(strstr(j, "shared address"));
    assert_non_null(strstr(j, "prefix    21 good users in 3600s >= 3"));
    free(j);
    /* Seven more failures ban the address: the report says so. */
    for (int i = 0; i < 7; i++) event(f, 0, SG_EV_AUTH_FAIL, "203.0.113.100", "victim0", T0 + 4000 + i);
    j = explain(f, "ip:203.0.113.100", NULL, false, T0 + 5000, &rc);
    assert_non_null(strstr(j, "banned     yes: ip:203.0.113.100"));
    assert_non_null(strstr(j, "auth-ip: 10 events"));
    free(j);
    j = explain(f, "victim0", "203.0.113.100", true, T0 + 5000, &rc);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(j, "\"type\":\"user\""));
    assert_non_null(strstr(j, "\"failing_addresses\":2,\"under_attack\":false,\"known_good_addresses\":1"));
    assert_non_null(strstr(j, "\"known_good\":{\"address\":\"203.0.113.100\",\"known_good\":false"));
    assert_non_null(strstr(j, "{\"id\":\"account-attack\",\"subject\":\"user:victim0\",\"count\":2,\"threshold\":20,"));
    free(j);
    j = explain(f, "ip:not-an-address", NULL, false, T0, &rc);
    assert_int_equal(rc, 2);
    free(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_threshold_is_cluster_wide, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unenforced_ban_still_counts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dups_and_window, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shared_address_needs_more, setup, teardown),
        cmocka_unit_test_setup_teardown(test_spread_users_not_weakened, setup, teardown),
        cmocka_unit_test_setup_teardown(test_repeat_offender_and_prefix, setup, teardown),
        cmocka_unit_test_setup_teardown(test_allowlist_wins, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hold_user_and_allowlist, setup, teardown),
        cmocka_unit_test_setup_teardown(test_operator_unban_is_respected, setup, teardown),
        cmocka_unit_test_setup_teardown(test_remote_touch_decides, setup, teardown),
        cmocka_unit_test_setup_teardown(test_touch_one_decider, setup, teardown),
        cmocka_unit_test_setup_teardown(test_touch_decider_silent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_touch_decider_busy_bound, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deferred_crossing_at_window_edge, setup, teardown),
        cmocka_unit_test_setup_teardown(test_touch_queue_lag_window, setup, teardown),
        cmocka_unit_test_setup_teardown(test_touch_queue_lag_shared_address, setup, teardown),
        cmocka_unit_test_setup_teardown(test_touch_decider_gone, setup, teardown),
        cmocka_unit_test_setup_teardown(test_local_event_decides_at_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_decider_rendezvous, setup, teardown),
        cmocka_unit_test_setup_teardown(test_touch_queue_slices, setup, teardown),
        cmocka_unit_test_setup_teardown(test_touch_merged_changed_only, setup, teardown),
        cmocka_unit_test_setup_teardown(test_good_prefix_only_guilty_banned, setup_shipped, teardown),
        cmocka_unit_test_setup_teardown(test_customer_network_never_prefix_banned, setup_shipped, teardown),
        cmocka_unit_test_setup_teardown(test_stale_phone_never_banned, setup_shipped, teardown),
        cmocka_unit_test_setup_teardown(test_known_good_expires, setup_shipped, teardown),
        cmocka_unit_test_setup_teardown(test_password_hash_repeats, setup_shipped, teardown),
        cmocka_unit_test_setup_teardown(test_report_password_hashes, setup_shipped, teardown),
        cmocka_unit_test_setup_teardown(test_dup_report_keeps_its_hash, setup_shipped, teardown),
        cmocka_unit_test_setup_teardown(test_account_under_attack, setup_shipped, teardown),
        cmocka_unit_test_setup_teardown(test_explain, setup_shipped, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
