/* test_agent_config.c: sgagent.conf parsing: values, defaults, and errors reported as file:line. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/authpolicy.h"
#include "agent/config.h"
#include "agent/scenario.h"
#include "detect/detect.h"
#include "common/key.h"

static char *write_tmp(const char *text)
{
    char *path = strdup("/tmp/sgcfgXXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

static bool has_error(const struct config *cfg, const char *needle)
{
    for (size_t i = 0; i < cfg->errors.n; i++)
        if (strstr(cfg->errors.v[i], needle)) return true;
    return false;
}

/* Asserts an error "FILE:LINE: TEXT..." was reported. */
static void assert_error_at(const struct config *cfg, const char *file, int line, const char *text)
{
    char want[512];
    snprintf(want, sizeof want, "%s:%d: %s", file, line, text);
    if (!has_error(cfg, want)) fail_msg("no error '%s'", want);
}

struct want_error {
    int line;
    const char *text;
};

/* Asserts exactly these errors were reported, then frees the config and its file. */
static void check_errors_and_free(struct config *cfg, char *p, const struct want_error *w, size_t n)
{
    for (size_t i = 0; i < n; i++) assert_error_at(cfg, p, w[i].line, w[i].text);
    assert_int_equal(cfg->errors.n, n);
    config_destroy(&cfg);
    unlink(p);
    free(p);
}

static void test_good_config(void **state)
{
    (void)state;
    char *p = write_tmp(
        "[node]\nname = mx1\naddresses = 10.0.0.1, fd00::1\ngossip_bind = tcp://10.0.0.1:7946\n"
        "sync_bind = tcp://10.0.0.1:7947\n"
        "[detect]\nlogs = /var/log/mail.log,/var/log/dovecot.log\nfrom_start = yes\n"
        "[enforce]\nbackend = dryrun\nports = 25, 587\nverdict = reject\nallowlist = 192.0.2.0/24\n"
        "[peer mx2]\npub = tcp://10.0.0.2:7946\nsync = tcp://10.0.0.2:7947\naddress = 10.0.0.2\n"
        "[scenario auth]\nevents = auth_fail\nthreshold = 5\nwindow = 2m\nduration = 1h\n");
    struct config *cfg = config_load(p, NULL);
    assert_non_null(cfg);
    for (size_t i = 0; i < cfg->errors.n; i++) fprintf(stderr, "%s\n", cfg->errors.v[i]);
    assert_int_equal(cfg->errors.n, 0);
    assert_string_equal(cfg->node_name, "mx1");
    assert_int_equal(cfg->node_addrs.n, 2);
    assert_string_equal(cfg->node_addrs.v[1], "fd00::1");
    assert_int_equal(cfg->logs.n, 2);
    assert_true(cfg->from_start);
    assert_string_equal(cfg->backend, "dryrun");
    assert_int_equal(cfg->nports, 2);
    assert_int_equal(cfg->ports[1], 587);
    assert_true(cfg->reject);
    assert_int_equal(cfg->npeers, 1);
    assert_string_equal(cfg->peers[0].sync_endpoint, "tcp://10.0.0.2:7947");
    assert_int_equal(cfg->nscenarios, 1);
    assert_int_equal(cfg->scenarios[0].window_s, 120);
    assert_int_equal(cfg->scenarios[0].threshold, 5);
    /* defaults */
    assert_string_equal(cfg->state_dir, "/var/lib/sgcluster");
    assert_int_equal(cfg->prefix4, 24);
    assert_string_equal(cfg->policy_socket, "/var/spool/postfix/sgcluster/policy");
    struct gossip_state_config sdef;   /* [limits] max_keys: the state's own default */
    gossip_state_config_default(&sdef);
    assert_int_equal(cfg->max_keys, sdef.max_keys);
    assert_false(cfg->policy_socket_set);
    assert_string_equal(cfg->policy_user, "postfix");
    assert_null(cfg->policy_listen);                   /* TCP only when configured */
    config_destroy(&cfg);
    assert_null(cfg);
    config_destroy(&cfg); /* safe twice */
    unlink(p);
    free(p);
}

static void test_policy_socket(void **state)
{
    (void)state;
    char *p = write_tmp("[node]\nname = mx1\n[policy]\nsocket = none\nuser = mailer\nlisten = 127.0.0.1:10040\n");
    struct config *cfg = config_load(p, NULL);
    assert_int_equal(cfg->errors.n, 0);
    assert_null(cfg->policy_socket);
    assert_true(cfg->policy_socket_set);
    assert_string_equal(cfg->policy_user, "mailer");
    assert_string_equal(cfg->policy_listen, "127.0.0.1:10040");
    config_destroy(&cfg);
    unlink(p);
    free(p);
    p = write_tmp("[node]\nname = mx1\n[policy]\nsocket = private/policy\n");
    cfg = config_load(p, NULL);
    assert_true(has_error(cfg, "socket: expected an absolute path or none, got 'private/policy'"));
    config_destroy(&cfg);
    unlink(p);
    free(p);
}

static void test_errors_have_lines(void **state)
{
    (void)state;
    char *p = write_tmp(
        "[node]\n"                 /* 1 */
        "name = mx1\n"             /* 2 */
        "curve = maybe\n"          /* 3 */
        "[enforce]\n"              /* 4 */
        "ports = 25, 99999\n"      /* 5 */
        "backend = iptables\n"     /* 6 */
        "[bogus]\n"                /* 7 */
        "x = 1\n"                  /* 8 */
        "[scenario s]\n"           /* 9 */
        "events = auth_fail, nonsense\n" /* 10 */
        "window = forever\n"       /* 11 */
        "[peer mx1]\n"             /* 12 */
        "pub = tcp://1.2.3.4:1\n");
    struct config *cfg = config_load(p, NULL);
    assert_non_null(cfg);
    assert_error_at(cfg, p, 3, "curve");
    assert_error_at(cfg, p, 5, "ports: '99999'");
    assert_error_at(cfg, p, 6, "backend");
    assert_error_at(cfg, p, 7, "unknown section [bogus]");   /* at its header, not its first key */
    assert_error_at(cfg, p, 10, "scenario s: unknown event 'nonsense' (auth_fail, auth_ok, relay_denied, rejected, conn, sent, received)");
    assert_error_at(cfg, p, 11, "scenario s: window");
    assert_true(has_error(cfg, "threshold = ... is required"));
    assert_true(has_error(cfg, "[peer mx1] is this node itself"));
    config_destroy(&cfg);
    unlink(p);
    free(p);
}

static void test_missing_file(void **state)
{
    (void)state;
    char *err = NULL;
    struct config *cfg = config_load("/nonexistent/sgagent.conf", &err);
    assert_null(cfg);
    assert_non_null(err);
    assert_non_null(strstr(err, "cannot open"));
    free(err);
}

static void test_scenario_override_and_checks(void **state)
{
    (void)state;
    char *p = write_tmp(
        "[node]\nname = a\n"
        "[scenario x]\nevents = sent\nsubject = user\ncount = recipients\nthreshold = 100\naction = hold\n"
        "[scenario x]\nthreshold = 200\n"
        "[scenario bad]\nevents = auth_fail\nsubject = ip\naction = hold\nthreshold = 3\n"
        "[scenario mx]\nevents = received\nsubject = ip\ncount = recipients\nthreshold = 500\n");
    struct config *cfg = config_load(p, NULL);
    assert_int_equal(cfg->nscenarios, 3);
    assert_false(has_error(cfg, "scenario mx"));   /* every event kind the parser emits is selectable */
    assert_int_equal(cfg->scenarios[0].threshold, 200);
    assert_int_equal(cfg->scenarios[0].measure, MEAS_RCPT);
    assert_true(has_error(cfg, "scenario bad: action hold needs subject = user"));
    config_destroy(&cfg);
    unlink(p);
    free(p);
}

static void test_main_file_overrides_scenario_dir(void **state)
{
    (void)state;
    char dir[] = "/tmp/sgscXXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/10-default.conf", dir);
    FILE *f = fopen(path, "w");
    fputs("[scenario auth]\nevents = auth_fail\nthreshold = 10\nwindow = 10m\n", f);
    fclose(f);
    char text[512];
    snprintf(text, sizeof text, "[node]\nname = a\n[scenario auth]\nthreshold = 3\n[detect]\nscenarios = %s\n"
             "bad line\n", dir);
    char *p = write_tmp(text);
    struct config *cfg = config_load(p, NULL);
    assert_int_equal(cfg->nscenarios, 1);
    assert_int_equal(cfg->scenarios[0].threshold, 3);      /* the operator's value wins */
    assert_int_equal(cfg->scenarios[0].window_s, 600);     /* the rest comes from the shipped file */
    assert_int_equal(cfg->errors.n, 1);                    /* the syntax error once, not per pass */
    assert_non_null(strstr(cfg->errors.v[0], ":7: syntax error"));
    config_destroy(&cfg);
    unlink(p);
    unlink(path);
    rmdir(dir);
    free(p);
}

/* The shipped example must stay in step with the parser: its only errors are the files it names. */
static void test_shipped_example_parses(void **state)
{
    (void)state;
    struct config *cfg = config_load("deploy/examples/sgagent.conf", NULL);
    assert_non_null(cfg);
    for (size_t i = 0; i < cfg->errors.n; i++) {
        fprintf(stderr, "%s\n", cfg->errors.v[i]);
        assert_non_null(strstr(cfg->errors.v[i], "cannot open directory /etc/sgcluster/scenarios.d"));
    }
    assert_true(cfg->curve);
    assert_int_equal(cfg->allowlist.n, 2);
    assert_string_equal(cfg->node_name, "mx1");
    assert_int_equal(cfg->npeers, 2);
    assert_int_equal(cfg->quota_user_messages, 500);
    assert_int_equal(cfg->quota_window_s, 3600);
    assert_int_equal(cfg->nports, 8);
    assert_int_equal(cfg->customer_networks.n, 2);
    assert_int_equal(cfg->known_good_s, PRECISION_KNOWN_GOOD_S);
    config_destroy(&cfg);
}

/* [throttle]: limits parsed once (enforce/throttle.h), errors located; quota_* become limits. */
static void test_throttle_section(void **state)
{
    (void)state;
    char *p = write_tmp("[node]\nname = mx1\n"
                        "[throttle]\n"
                        "limit.user_hour = key=sasl_username measure=recipients window=1h max=500 service=submission warn=80% defer=100% hold=300%\n"
                        "limit.user_min = key=sasl_username measure=messages rate=30/1m burst=60 service=any defer=100%\n"
                        "map = /etc/sgcluster/throttle.map\n"
                        "allow = user:postmaster, net:192.0.2.0/24\n"
                        "[policy]\nquota_window = 2h\nquota_user_messages = 7\n");
    struct config *cfg = config_load(p, NULL);
    assert_non_null(cfg);
    for (size_t i = 0; i < cfg->errors.n; i++) fprintf(stderr, "%s\n", cfg->errors.v[i]);
    assert_int_equal(cfg->errors.n, 0);
    assert_int_equal(cfg->throttle->nlimits, 3);
    assert_string_equal(cfg->throttle->limits[0].name, "user_hour");
    assert_int_equal(cfg->throttle->limits[1].rate, 30);
    const struct throttle_limit *q = &cfg->throttle->limits[2];
    assert_string_equal(q->name, "quota_user_messages");
    assert_int_equal(q->window_ms, 7200000);
    assert_int_equal(q->max, 7);
    assert_int_equal(q->pct[THROTTLE_DEFER], 100);
    assert_string_equal(cfg->throttle_map, "/etc/sgcluster/throttle.map");
    assert_int_equal(cfg->throttle_allow.n, 2);
    config_destroy(&cfg);
    unlink(p);
    free(p);

    p = write_tmp("[node]\nname = mx1\n"
                  "[throttle]\n"
                  "limit.a = key=sasl_username window=1h\n"
                  "limit.b = key=sasl_username window=1h max=5\n"
                  "limit.b = key=sender window=1h max=5\n"
                  "limit.bad name = key=sender window=1h max=5\n"
                  "map = relative/path\n"
                  "colour = red\n"
                  "allow = nobody\n");
    cfg = config_load(p, NULL);
    const struct want_error w[] = {
        {4, "limit.a: window= needs max=N"},
        {6, "limit.b: limit 'b' defined twice"},
        {7, "limit.bad name: limit name"},
        {8, "map: expected an absolute path"},
        {9, "unknown key 'colour' in [throttle]"},
        {10, "[throttle] allow: 'nobody' is not"},
    };
    check_errors_and_free(cfg, p, w, sizeof w / sizeof w[0]);
}

/* What one log line may claim: the defaults are detect's, values are read, bad ones located. */
static void test_detect_caps(void **state)
{
    (void)state;
    char *p = write_tmp("[node]\nname = mx1\n[detect]\n");
    struct config *cfg = config_load(p, NULL);
    assert_non_null(cfg);
    assert_int_equal(cfg->max_attempts, DETECT_DEFAULT_MAX_ATTEMPTS);
    assert_int_equal(cfg->max_rcpt, DETECT_DEFAULT_MAX_RCPT);
    config_destroy(&cfg);
    unlink(p);
    free(p);
    p = write_tmp("[node]\nname = mx1\n[detect]\nmax_attempts = 20\nmax_recipients = 5000\n");
    cfg = config_load(p, NULL);
    assert_int_equal(cfg->errors.n, 0);
    assert_int_equal(cfg->max_attempts, 20);
    assert_int_equal(cfg->max_rcpt, 5000);
    config_destroy(&cfg);
    unlink(p);
    free(p);
    p = write_tmp("[node]\nname = mx1\n[detect]\nmax_attempts = 0\nmax_recipients = lots\n");
    cfg = config_load(p, NULL);
    char want[256];
    snprintf(want, sizeof want, "%s:4: max_attempts", p);
    assert_true(has_error(cfg, want));
    snprintf(want, sizeof want, "%s:5: max_recipients", p);
    assert_true(has_error(cfg, want));
    assert_int_equal(cfg->max_attempts, DETECT_DEFAULT_MAX_ATTEMPTS);
    config_destroy(&cfg);
    unlink(p);
    free(p);
}

static void test_authpolicy(void **state)
{
    (void)state;
    char *p = write_tmp("[node]\nname = mx1\n");
    struct config *cfg = config_load(p, NULL);
    assert_false(cfg->authpolicy_enabled);
    assert_string_equal(cfg->authpolicy_listen, AUTHPOLICY_LISTEN_DEFAULT);
    assert_string_equal(cfg->authpolicy_key_file, AUTHPOLICY_KEY_FILE_DEFAULT);
    assert_int_equal(cfg->authpolicy_tarpit_s, AUTHPOLICY_TARPIT_DEFAULT_S);
    assert_true(cfg->authpolicy_held_reject);
    assert_true(cfg->authpolicy_log_auth_lines);
    config_destroy(&cfg);
    unlink(p);
    free(p);
    p = write_tmp("[node]\nname = mx1\n[authpolicy]\nenabled = yes\nlisten = 127.0.0.1:0\napi_key_file = /k\n"
                  "tarpit = 30s\nheld_reject = no\nlog_auth_lines = no\n");
    cfg = config_load(p, NULL);
    assert_int_equal(cfg->errors.n, 0);
    assert_true(cfg->authpolicy_enabled);
    assert_string_equal(cfg->authpolicy_listen, "127.0.0.1:0");
    assert_string_equal(cfg->authpolicy_key_file, "/k");
    assert_int_equal(cfg->authpolicy_tarpit_s, 30);
    assert_false(cfg->authpolicy_held_reject);
    assert_false(cfg->authpolicy_log_auth_lines);
    config_destroy(&cfg);
    unlink(p);
    free(p);
    p = write_tmp("[node]\nname = mx1\n[authpolicy]\nenabled = maybe\ntarpit = 2m\nheld_reject = 1\nport = 5\n");
    cfg = config_load(p, NULL);
    const char *want[] = {":4: enabled", ":5: tarpit", ":7: unknown key 'port' in [authpolicy]"};
    for (size_t i = 0; i < 3; i++) {
        char w[256];
        snprintf(w, sizeof w, "%s%s", p, want[i]);
        if (!has_error(cfg, w)) fail_msg("no error '%s'", w);
    }
    assert_int_equal(cfg->errors.n, 3);
    assert_int_equal(cfg->authpolicy_tarpit_s, AUTHPOLICY_TARPIT_DEFAULT_S);
    config_destroy(&cfg);
    unlink(p);
    free(p);
    /* The API key file: missing, too short, good (first line only). */
    char key[AUTHPOLICY_KEY_MAX + 1], err[512];
    assert_int_equal(authpolicy_key_load("/nonexistent/sg.key", key, err, sizeof err), -1);
    assert_non_null(strstr(err, "No such file"));
    p = write_tmp("short\n");
    assert_int_equal(authpolicy_key_load(p, key, err, sizeof err), -1);
    assert_non_null(strstr(err, "at least 16"));
    unlink(p);
    free(p);
    /* longer than AUTHPOLICY_KEY_MAX: refused, not cut; exactly the max: kept whole */
    char lng[AUTHPOLICY_KEY_MAX + 3];
    memset(lng, 'k', AUTHPOLICY_KEY_MAX + 1);
    strcpy(lng + AUTHPOLICY_KEY_MAX + 1, "\n");
    p = write_tmp(lng);
    assert_int_equal(authpolicy_key_load(p, key, err, sizeof err), -1);
    assert_non_null(strstr(err, "at most 256"));
    unlink(p);
    free(p);
    strcpy(lng + AUTHPOLICY_KEY_MAX, "\n");
    p = write_tmp(lng);
    assert_int_equal(authpolicy_key_load(p, key, err, sizeof err), 0);
    assert_int_equal(strlen(key), AUTHPOLICY_KEY_MAX);
    unlink(p);
    free(p);
    p = write_tmp("0123456789abcdefXYZ\nsecond line\n");
    assert_int_equal(authpolicy_key_load(p, key, err, sizeof err), 0);
    assert_string_equal(key, "0123456789abcdefXYZ");
    unlink(p);
    free(p);
}

/* Lines of any length (libinih's own buffer is 200 bytes): a 5000-byte peer address list and a
 * 5000-byte allowlist are read whole, inline comments cut as inih does. */
static void test_long_line(void **state)
{
    (void)state;
    char addrs[6000] = "", allow[6000] = "";
    size_t na = 0, nl = 0;
    for (int i = 0; strlen(addrs) < 5000; i++, na++)
        snprintf(addrs + strlen(addrs), sizeof addrs - strlen(addrs), "%s10.%d.%d.%d", i ? ", " : "", i / 65536, i / 256 % 256, i % 256);
    for (int i = 0; strlen(allow) < 5000; i++, nl++)
        snprintf(allow + strlen(allow), sizeof allow - strlen(allow), "%s2001:db8:%x::/48", i ? "," : "", i);
    char *text = malloc(13000);
    snprintf(text, 13000,
             "[node]\nname = mx1\n[enforce]\nallowlist = %s ; a comment\n"
             "[peer mx2]\npub = tcp://127.0.0.1:1\nsync = tcp://127.0.0.1:2\naddresses = %s\n", allow, addrs);
    char *p = write_tmp(text);
    struct config *cfg = config_load(p, NULL);
    assert_non_null(cfg);
    for (size_t i = 0; i < cfg->errors.n; i++) fprintf(stderr, "%s\n", cfg->errors.v[i]);
    assert_true(strlen(addrs) >= 5000);
    assert_int_equal(cfg->npeers, 1);
    assert_int_equal(cfg->peers[0].addrs.n, na);
    assert_int_equal(cfg->allowlist.n, nl);
    assert_string_equal(cfg->allowlist.v[nl - 1], strrchr(allow, ',') + 1);   /* the comment is cut */
    char last[32];
    snprintf(last, sizeof last, "10.%zu.%zu.%zu", (na - 1) / 65536, (na - 1) / 256 % 256, (na - 1) % 256);
    assert_string_equal(cfg->peers[0].addrs.v[na - 1], last);
    config_destroy(&cfg);
    unlink(p);
    free(p);
    free(text);
}

/* Lists go on over indented continuation lines (short or long); a one-value key does not. */
static void test_continuation(void **state)
{
    (void)state;
    char longcont[3000] = "";
    for (int i = 0; strlen(longcont) < 2500; i++)
        snprintf(longcont + strlen(longcont), sizeof longcont - strlen(longcont), "%s198.18.%d.%d", i ? ", " : "", i / 256, i % 256);
    char *text = malloc(4000);
    snprintf(text, 4000,
             "[node]\nname = mx1\n[enforce]\nports = 25,\n  587\nallowlist = 192.0.2.0/24,\n"
             "    198.51.100.0/24\n\t%s\n; a comment between\n  203.0.113.0/24\n"
             "[detect]\nfrom_start = yes\n   no\n", longcont);
    char *p = write_tmp(text);
    struct config *cfg = config_load(p, NULL);
    assert_non_null(cfg);
    assert_int_equal(cfg->nports, 2);
    assert_int_equal(cfg->ports[1], 587);
    assert_true(cfg->allowlist.n > 100);
    assert_string_equal(cfg->allowlist.v[1], "198.51.100.0/24");
    assert_string_equal(cfg->allowlist.v[cfg->allowlist.n - 1], "203.0.113.0/24");
    assert_true(has_error(cfg, ":13: 'from_start' takes one value"));
    config_destroy(&cfg);
    unlink(p);
    free(p);
    free(text);
}

/* [limits], and the one minimum-prefix default the state and the guard share with the config. */
static void test_limits(void **state)
{
    (void)state;
    char *p = write_tmp("[node]\nname = mx1\n"
                        "[limits]\nmax_ban = 2d\nmax_hold = 12h\nunban_grace = 5m\nauthor_max_records = 500\n"
                        "author_max_addresses_per_hour = 4096\nmax_keys = 2000000\n"
                        "[limits]\nmax_throttle = 30s\nunban_grace = 8d\nauthor_max_records = 0\nmax_bans = 1d\n"
                        "max_keys = 10\n");
    struct config *cfg = config_load(p, NULL);
    assert_non_null(cfg);
    assert_int_equal(cfg->min_prefix4, SG_MIN_PREFIX4_DEFAULT);
    assert_int_equal(cfg->min_prefix6, SG_MIN_PREFIX6_DEFAULT);
    assert_int_equal(cfg->limits.max_ttl_ms[GOSSIP_BAN_KIND_BLOCK], 2 * 86400000LL);
    assert_int_equal(cfg->limits.max_ttl_ms[GOSSIP_BAN_KIND_HOLD], 12 * 3600000LL);
    assert_int_equal(cfg->limits.unban_grace_ms, 300000);
    assert_int_equal(cfg->limits.author_max_records, 500);
    assert_int_equal(cfg->limits.author_max_span_per_hour, 4096);
    /* max_keys sizes every table of the state the agent builds */
    struct gossip_state_config sc;
    scenario_state_config(cfg, &sc);
    assert_int_equal(sc.max_keys, 2000000);
    /* Untouched keys keep the state's defaults. */
    struct gossip_record_limits def;
    gossip_record_limits_default(&def);
    assert_int_equal(cfg->limits.max_ttl_ms[GOSSIP_BAN_KIND_OFFENSE], def.max_ttl_ms[GOSSIP_BAN_KIND_OFFENSE]);
    assert_int_equal(cfg->limits.max_ttl_ms[GOSSIP_BAN_KIND_THROTTLE], def.max_ttl_ms[GOSSIP_BAN_KIND_THROTTLE]);
    static const struct want_error w[] = {{11, "max_throttle"}, {12, "unban_grace"}, {13, "author_max_records"},
                                          {14, "unknown key 'max_bans' in [limits]"}, {15, "max_keys"}};
    check_errors_and_free(cfg, p, w, sizeof w / sizeof w[0]);
}

/* Sites and relays: [node] site/relay, [peer] site/relay; a relay or a peer's site needs our site. */
static void test_sites(void **state)
{
    (void)state;
    char *p = write_tmp("[node]\nname = mx1\ngossip_bind = tcp://127.0.0.1:7946\nsync_bind = tcp://127.0.0.1:7947\n"
                        "site = tokyo\nrelay = yes\n"
                        "[peer mx2]\npub = tcp://127.0.0.1:7948\nsync = tcp://127.0.0.1:7949\nsite = osaka\nrelay = yes\n"
                        "[peer mx3]\npub = tcp://127.0.0.1:7950\nsync = tcp://127.0.0.1:7951\n");
    struct config *cfg = config_load(p, NULL);
    assert_non_null(cfg);
    assert_int_equal(cfg->errors.n, 0);
    assert_string_equal(cfg->site, "tokyo");
    assert_true(cfg->relay);
    assert_string_equal(cfg->peers[0].site, "osaka");
    assert_true(cfg->peers[0].relay);
    assert_null(cfg->peers[1].site);   /* ours */
    assert_false(cfg->peers[1].relay);
    check_errors_and_free(cfg, p, NULL, 0);

    p = write_tmp("[node]\nname = mx1\ngossip_bind = tcp://127.0.0.1:7946\nsync_bind = tcp://127.0.0.1:7947\n"
                  "relay = yes\n"
                  "[peer mx2]\npub = tcp://127.0.0.1:7948\nsync = tcp://127.0.0.1:7949\nsite = os/aka\nrelay = maybe\n");
    cfg = config_load(p, NULL);
    assert_non_null(cfg);
    assert_true(has_error(cfg, "relay: expected yes or no, got 'maybe'"));
    assert_true(has_error(cfg, "[node] relay = yes needs [node] site"));
    assert_true(has_error(cfg, "[peer mx2] has a site or relay: set [node] site too"));
    assert_true(has_error(cfg, "[peer mx2] site: 1 to 63 of"));
    assert_int_equal(cfg->errors.n, 4);
    config_destroy(&cfg);
    unlink(p);
    free(p);
}

/* A scenario id starts its state keys: no ':' or '|', and not a built-in scope it would count into. */
static void test_scenario_ids(void **state)
{
    (void)state;
    char *p = write_tmp("[node]\nname = mx1\n"
                        "[scenario a:b]\nevents = auth_fail\nthreshold = 5\n"
                        "[scenario okusers]\nevents = auth_fail\nthreshold = 5\n"
                        "[scenario fine-id]\nevents = auth_fail\nthreshold = 5\n");
    struct config *cfg = config_load(p, NULL);
    assert_non_null(cfg);
    assert_true(has_error(cfg, "scenario a:b: an id is"));
    assert_true(has_error(cfg, "scenario okusers: an id is"));
    assert_false(has_error(cfg, "scenario fine-id"));
    config_destroy(&cfg);
    unlink(p);
    free(p);
}

/* [precision]: defaults, values, and a clear file:line error for each bad one. */
static void test_precision(void **state)
{
    (void)state;
    char *p = write_tmp("[node]\nname = mx1\n"
                        "[precision]\ncustomer_networks = 100.64.0.0/10, 2001:db8::/32\nknown_good_for = 7d\n"
                        "known_good_weight = 0\nattack_addresses = 50\n"
                        "customer_networks = 10.0.0.1/8\nevidence_window = 8d\nprefix_good_users = -1\n"
                        "attack_ban = soon\nbogus = 1\n");
    struct config *cfg = config_load(p, NULL);
    assert_non_null(cfg);
    assert_int_equal(cfg->customer_networks.n, 2);
    assert_string_equal(cfg->customer_networks.v[1], "2001:db8::/32");
    assert_int_equal(cfg->known_good_s, 7 * 86400);
    assert_int_equal(cfg->known_good_weight, 0);
    assert_int_equal(cfg->attack_addresses, 50);
    assert_int_equal(cfg->evidence_window_s, PRECISION_EVIDENCE_WINDOW_S);
    assert_int_equal(cfg->prefix_good_users, PRECISION_PREFIX_GOOD_USERS);
    assert_int_equal(cfg->attack_window_s, PRECISION_ATTACK_WINDOW_S);
    static const struct want_error w[] = {{8, "customer_networks: '10.0.0.1/8' is not a prefix"}, {9, "evidence_window"},
                                          {10, "prefix_good_users"}, {11, "attack_ban"},
                                          {12, "unknown key 'bogus' in [precision]"}};
    check_errors_and_free(cfg, p, w, sizeof w / sizeof w[0]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_config),
        cmocka_unit_test(test_policy_socket),
        cmocka_unit_test(test_errors_have_lines),
        cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_scenario_override_and_checks),
        cmocka_unit_test(test_authpolicy),
        cmocka_unit_test(test_long_line),
        cmocka_unit_test(test_detect_caps),
        cmocka_unit_test(test_continuation),
        cmocka_unit_test(test_shipped_example_parses),
        cmocka_unit_test(test_main_file_overrides_scenario_dir),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_scenario_ids),
        cmocka_unit_test(test_sites),
        cmocka_unit_test(test_precision),
        cmocka_unit_test(test_throttle_section),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
