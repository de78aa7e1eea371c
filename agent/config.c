/* config.c: reads sgagent.conf and scenario files with libinih, collecting "file:line: message" errors. */
#include "agent/config.h"
#include "agent/authpolicy.h"
#include "common/key.h"
#include "agent/util.h"
#include "agent/config_scenario.h"
#include "detect/journal.h"
#include "detect/detect.h"
#include "agent/config_limits.h"
#include "agent/config_keys.h"
#include "agent/config_throttle.h"
#include "enforce/policy.h"

#include <ini.h>
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* inih reports no line numbers to the handler in Debian's build, so the reader counts them.
 *
 * Lines of any length: Debian's libinih is built with a fixed line buffer (INI_MAX_LINE, 200 bytes)
 * that no option of the shared library changes. The reader gets each physical line whole; one that
 * does not fit reaches inih as a short stand-in with the same shape ("KEY = \x01", or an indented
 * "\x01" for a continuation line), and the handler takes the real value from the reader. Values are
 * trimmed and their inline comments cut exactly as inih does. A section header has no such limit
 * to lift (inih caps section names itself). */
#define LONG_VALUE "\x01"

struct ini_stream {
    FILE *f;
    int line;
    const char *file;
    struct config *cfg;
    char section[128];
    void *cur;          /* current [peer]/[scenario] being filled */
    enum { PASS_ALL, PASS_NO_SCENARIOS, PASS_SCENARIOS } pass;
    char *long_value;   /* the value of the current line when it did not fit inih's buffer */
    bool continuation;  /* the current line continues the previous key (it starts with blanks) */
};

static bool blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* inih's value rules: cut at an inline ';' that follows a blank, then trim both ends. */
static char *ini_value(const char *v)
{
    while (blank(*v)) v++;
    const char *e = v;
    while (*e && !(*e == ';' && e > v && blank(e[-1]))) e++;
    while (e > v && blank(e[-1])) e--;
    return sg_xstrndup(v, (size_t)(e - v));
}

/* A line too long for inih's buffer: its stand-in goes to str, its value to s->long_value. */
static void stand_in(struct ini_stream *s, const char *line, char *str, int num)
{
    const char *p = line;
    while (blank(*p)) p++;
    if (*p == ';' || *p == '#') { snprintf(str, (size_t)num, ";\n"); return; }
    if (p > line) {                      /* a continuation line */
        s->long_value = ini_value(p);
        snprintf(str, (size_t)num, " %s\n", LONG_VALUE);
        return;
    }
    const char *sep = p + strcspn(p, "=:");
    const char *ke = sep;
    while (ke > p && blank(ke[-1])) ke--;
    if (*p == '[' || !*sep || (int)(ke - p) + 8 > num) {
        if (s->pass != PASS_SCENARIOS) config_error(s->cfg, s->file, s->line, "line too long for a section header or key");
        snprintf(str, (size_t)num, ";\n");
        return;
    }
    s->long_value = ini_value(sep + 1);
    snprintf(str, (size_t)num, "%.*s = %s\n", (int)(ke - p), p, LONG_VALUE);
}

/* A section header the table does not know is an error at its own line, even with no key under it
 * (a misspelt [detcet] would otherwise leave its keys' section silently unread). As inih reads it:
 * the text up to ']', blanks included. Without ']' inih reports a syntax error itself. */
static void check_header(struct ini_stream *s, const char *p)
{
    const char *end = strchr(p, ']');
    if (!end) return;
    char header[128], hint[160];
    snprintf(header, sizeof header, "%.*s", (int)(end - p), p);
    if (config_section_kind(header)) return;
    const char *sugg = config_section_suggest(header, hint, sizeof hint);
    config_error(s->cfg, s->file, s->line, "unknown section [%s]%s%s%s", header, sugg ? "; did you mean " : "",
                 sugg ? sugg : "", sugg ? "?" : "");
}

static char *stream_reader(char *str, int num, void *arg)
{
    struct ini_stream *s = arg;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n = getline(&line, &cap, s->f);
    free(s->long_value);
    s->long_value = NULL;
    if (n < 0) { free(line); return NULL; }
    s->line++;
    const char *p = line;
    while (*p == ' ' || *p == '\t') p++;
    s->continuation = p > line && *p && *p != '\n' && *p != '\r' && *p != ';' && *p != '#';
    if (*p == '[' && s->pass != PASS_SCENARIOS) check_header(s, p + 1);
    if (n >= num) stand_in(s, line, str, num);
    else memcpy(str, line, (size_t)n + 1);
    free(line);
    return str;
}

int config_key_line(const struct config *cfg, const char *section, const char *name)
{
    int i = config_key_index(section, name);
    return i < 0 || !cfg->key_lines ? 0 : cfg->key_lines[i];
}

void config_error(struct config *cfg, const char *file, int line, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    char full[1024];
    /* No line: the error is about the file as a whole (a required key missing). */
    if (line > 0) snprintf(full, sizeof full, "%s:%d: %s", file, line, msg);
    else snprintf(full, sizeof full, "%s: %s", file, msg);
    strlist_push(&cfg->errors, full);
}

static void set_str(char **dst, const char *v)
{
    free(*dst);
    *dst = sg_xstrdup(v);
}

static int parse_bool(const char *v, bool *out)
{
    if (!strcasecmp(v, "yes") || !strcasecmp(v, "on") || !strcasecmp(v, "true") || !strcmp(v, "1")) { *out = true; return 0; }
    if (!strcasecmp(v, "no") || !strcasecmp(v, "off") || !strcasecmp(v, "false") || !strcmp(v, "0")) { *out = false; return 0; }
    return -1;
}

static int parse_int(const char *v, int64_t lo, int64_t hi, int64_t *out)
{
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno || end == v || *end || x < lo || x > hi) return -1;
    *out = x;
    return 0;
}

static int parse_ports(struct config *cfg, const char *v, const char *file, int line, bool more)
{
    struct strlist l = {0};
    strlist_split(&l, v);
    if (!more) cfg->nports = 0;   /* the list replaces the defaults; its continuation lines add */
    int rc = 0;
    for (size_t i = 0; i < l.n; i++) {
        int64_t p;
        if (parse_int(l.v[i], 1, 65535, &p) < 0) {
            config_error(cfg, file, line, "ports: '%s' is not a port number (1-65535)", l.v[i]);
            rc = -1;
        } else if (cfg->nports >= sizeof cfg->ports / sizeof cfg->ports[0]) {
            config_error(cfg, file, line, "ports: at most %zu ports", sizeof cfg->ports / sizeof cfg->ports[0]);
            rc = -1;
            break;
        } else {
            cfg->ports[cfg->nports++] = (int)p;
        }
    }
    strlist_free(&l);
    return rc;
}

#define BAD(fmt, ...) do { config_error(cfg, s->file, s->line, fmt, __VA_ARGS__); return 1; } while (0)

static int node_key(struct ini_stream *s, const char *name, const char *value)
{
    struct config *cfg = s->cfg;
    int64_t n;
    if (!strcmp(name, "name")) set_str(&cfg->node_name, value);
    else if (!strcmp(name, "addresses") || !strcmp(name, "address")) strlist_split(&cfg->node_addrs, value);
    else if (!strcmp(name, "gossip_bind")) set_str(&cfg->gossip_bind, value);
    else if (!strcmp(name, "sync_bind")) set_str(&cfg->sync_bind, value);
    else if (!strcmp(name, "key_dir")) set_str(&cfg->key_dir, value);
    else if (!strcmp(name, "peer_key_dir")) set_str(&cfg->peer_key_dir, value);
    else if (!strcmp(name, "state_dir")) set_str(&cfg->state_dir, value);
    else if (!strcmp(name, "control_socket")) set_str(&cfg->control_socket, value);
    else if (!strcmp(name, "site")) set_str(&cfg->site, value);
    else if (!strcmp(name, "relay")) {
        if (parse_bool(value, &cfg->relay) < 0) BAD("relay: expected yes or no, got '%s'", value);
    } else if (!strcmp(name, "curve")) {
        if (parse_bool(value, &cfg->curve) < 0) BAD("curve: expected yes or no, got '%s'", value);
    } else if (!strcmp(name, "allow_plaintext")) {
        if (parse_bool(value, &cfg->allow_plaintext) < 0) BAD("allow_plaintext: expected yes or no, got '%s'", value);
    } else if (!strcmp(name, "bucket")) {
        if (sg_parse_duration(value, &n) < 0 || n < 1 || n > 3600) BAD("bucket: expected a duration from 1s to 1h, got '%s'", value);
        cfg->bucket_s = n;
    } else if (!strcmp(name, "max_clock_skew")) {
        if (sg_parse_duration(value, &n) < 0 || n < 1) BAD("max_clock_skew: expected a duration, got '%s'", value);
        cfg->max_skew_ms = n * 1000;
    } else if (!strcmp(name, "snapshot_interval")) {
        if (sg_parse_duration(value, &n) < 0 || n < 1) BAD("snapshot_interval: expected a duration, got '%s'", value);
        cfg->snapshot_s = n;
    } else BAD("internal: [node] %s is in the key table but has no handler", name);
    return 1;
}

static int detect_key(struct ini_stream *s, const char *name, const char *value)
{
    struct config *cfg = s->cfg;
    if (!strcmp(name, "rules")) set_str(&cfg->rules_dir, value);
    else if (!strcmp(name, "extra_rules")) strlist_split(&cfg->extra_rules, value);
    else if (!strcmp(name, "logs") || !strcmp(name, "log")) strlist_split(&cfg->logs, value);
    else if (!strcmp(name, "scenarios")) set_str(&cfg->scenario_dir, value);
    else if (!strcmp(name, "journal")) {
        if (parse_bool(value, &cfg->journal) < 0) BAD("journal: expected yes or no, got '%s'", value);
    } else if (!strcmp(name, "journal_units") || !strcmp(name, "journal_users")) {
        struct strlist *l = !strcmp(name, "journal_units") ? &cfg->journal_units : &cfg->journal_users;
        if (!s->continuation) strlist_free(l);   /* the list replaces the defaults; continuation lines add */
        strlist_split_words(l, value);
        if (!l->n) BAD("%s: expected at least one name", name);
    } else if (!strcmp(name, "from_start")) {
        if (parse_bool(value, &cfg->from_start) < 0) BAD("from_start: expected yes or no, got '%s'", value);
    } else if (!strcmp(name, "max_attempts") || !strcmp(name, "max_recipients")) {
        int64_t n;
        if (parse_int(value, 1, 1000000, &n) < 0) BAD("%s: expected a count from 1 to 1000000, got '%s'", name, value);
        *(name[4] == 'a' ? &cfg->max_attempts : &cfg->max_rcpt) = n;
    } else BAD("internal: [detect] %s is in the key table but has no handler", name);
    return 1;
}

static int enforce_key(struct ini_stream *s, const char *name, const char *value)
{
    struct config *cfg = s->cfg;
    int64_t n;
    if (!strcmp(name, "backend")) {
        if (strcmp(value, "nft") && strcmp(value, "dryrun")) BAD("backend: expected nft or dryrun, got '%s'", value);
        set_str(&cfg->backend, value);
    } else if (!strcmp(name, "ports")) parse_ports(cfg, value, s->file, s->line, s->continuation);
    else if (!strcmp(name, "verdict")) {
        if (!strcmp(value, "drop")) cfg->reject = false;
        else if (!strcmp(value, "reject")) cfg->reject = true;
        else BAD("verdict: expected drop or reject, got '%s'", value);
    } else if (!strcmp(name, "allowlist")) strlist_split(&cfg->allowlist, value);
    else if (!strcmp(name, "min_prefix4")) {
        if (parse_int(value, 1, 32, &n) < 0) BAD("min_prefix4: expected 1-32, got '%s'", value);
        cfg->min_prefix4 = (int)n;
    } else if (!strcmp(name, "min_prefix6")) {
        if (parse_int(value, 1, 128, &n) < 0) BAD("min_prefix6: expected 1-128, got '%s'", value);
        cfg->min_prefix6 = (int)n;
    } else if (!strcmp(name, "prefix4")) {
        if (parse_int(value, 8, 32, &n) < 0) BAD("prefix4: expected 8-32, got '%s'", value);
        cfg->prefix4 = (int)n;
    } else if (!strcmp(name, "prefix6")) {
        if (parse_int(value, 16, 128, &n) < 0) BAD("prefix6: expected 16-128, got '%s'", value);
        cfg->prefix6 = (int)n;
    } else if (!strcmp(name, "prefix_ban_after")) {
        if (parse_int(value, 0, 1000000, &n) < 0) BAD("prefix_ban_after: expected a count, got '%s'", value);
        cfg->prefix_ban_after = n;
    } else BAD("internal: [enforce] %s is in the key table but has no handler", name);
    return 1;
}

static int policy_key(struct ini_stream *s, const char *name, const char *value)
{
    struct config *cfg = s->cfg;
    if (!strcmp(name, "listen")) set_str(&cfg->policy_listen, value);
    else if (!strcmp(name, "socket")) {
        if (strcmp(value, "none") && value[0] != '/') BAD("socket: expected an absolute path or none, got '%s'", value);
        set_str(&cfg->policy_socket, value);
        cfg->policy_socket_set = true;
        if (!strcmp(value, "none")) { free(cfg->policy_socket); cfg->policy_socket = NULL; }
    } else if (!strcmp(name, "user")) {
        if (!value[0]) BAD("user: expected a user name, got '%s'", value);
        set_str(&cfg->policy_user, value);
    }
    else if (!strcmp(name, "hold_action")) {
        if (strcmp(value, "REJECT") && strcmp(value, "HOLD")) BAD("hold_action: expected REJECT or HOLD, got '%s'", value);
        set_str(&cfg->hold_action, value);
    } else if (!strcmp(name, "user_allowlist")) strlist_split(&cfg->user_allowlist, value);
    else if (!strcmp(name, "quota_window")) {
        int64_t n;
        if (sg_parse_duration(value, &n) < 0 || n < 1) BAD("quota_window: expected a duration, got '%s'", value);
        cfg->quota_window_s = n;
    } else if (!strcmp(name, "quota_user_messages") || !strcmp(name, "quota_user_recipients") ||
               !strcmp(name, "quota_ip_messages")) {
        int64_t n;
        if (parse_int(value, 0, INT64_MAX, &n) < 0) BAD("%s: expected a count (0 = no quota), got '%s'", name, value);
        if (!strcmp(name, "quota_user_messages")) cfg->quota_user_messages = n;
        else if (!strcmp(name, "quota_user_recipients")) cfg->quota_user_recipients = n;
        else cfg->quota_ip_messages = n;
    } else BAD("internal: [policy] %s is in the key table but has no handler", name);
    return 1;
}

static int authpolicy_key(struct ini_stream *s, const char *name, const char *value)
{
    struct config *cfg = s->cfg;
    if (!strcmp(name, "enabled") || !strcmp(name, "held_reject") || !strcmp(name, "log_auth_lines")) {
        bool b;
        if (parse_bool(value, &b) < 0) BAD("%s: expected yes or no, got '%s'", name, value);
        if (!strcmp(name, "enabled")) cfg->authpolicy_enabled = b;
        else if (!strcmp(name, "log_auth_lines")) cfg->authpolicy_log_auth_lines = b;
        else cfg->authpolicy_held_reject = b;
    } else if (!strcmp(name, "listen")) set_str(&cfg->authpolicy_listen, value);
    else if (!strcmp(name, "api_key_file")) set_str(&cfg->authpolicy_key_file, value);
    else if (!strcmp(name, "tarpit")) {
        int64_t n;
        if (sg_parse_duration(value, &n) < 0 || n < 0 || n > AUTHPOLICY_TARPIT_MAX_S)
            BAD("tarpit: expected a duration of at most %ds, got '%s'", AUTHPOLICY_TARPIT_MAX_S, value);
        cfg->authpolicy_tarpit_s = n;
    } else BAD("internal: [authpolicy] %s is in the key table but has no handler", name);
    return 1;
}

static int metrics_key(struct ini_stream *s, const char *name, const char *value)
{
    struct config *cfg = s->cfg;
    if (!strcmp(name, "enabled") || !strcmp(name, "allow_remote")) {
        bool b;
        if (parse_bool(value, &b) < 0) BAD("%s: expected yes or no, got '%s'", name, value);
        if (!strcmp(name, "enabled")) cfg->metrics_enabled = b;
        else cfg->metrics_allow_remote = b;
    } else if (!strcmp(name, "listen")) set_str(&cfg->metrics_listen, value);
    else BAD("internal: [metrics] %s is in the key table but has no handler", name);
    return 1;
}

static int precision_key(struct ini_stream *s, const char *name, const char *value)
{
    struct config *cfg = s->cfg;
    int64_t n;
    if (!strcmp(name, "customer_networks")) {
        struct strlist l = {0};
        strlist_split(&l, value);
        for (size_t i = 0; i < l.n; i++) {
            struct sg_subject net;
            if (sg_subject_set(&net, SG_SUBJ_NET, l.v[i]) < 0)
                config_error(cfg, s->file, s->line, "customer_networks: '%s' is not a prefix (ADDR/LEN, no host bits)", l.v[i]);
            else strlist_push(&cfg->customer_networks, l.v[i]);
        }
        strlist_free(&l);
    } else if (!strcmp(name, "attack_ban")) {
        if (sg_parse_duration(value, &n) < 0 || n < 1) BAD("attack_ban: expected a duration such as 1h, got '%s'", value);
        cfg->attack_ban_s = n;
    } else if (!strcmp(name, "evidence_window") || !strcmp(name, "known_good_for") || !strcmp(name, "attack_window")) {
        int64_t hi = !strcmp(name, "known_good_for") ? 365LL * 86400 : 7LL * 86400;
        if (sg_parse_duration(value, &n) < 0 || n < 1 || n > hi) BAD("%s: expected a duration up to %s, got '%s'", name, hi > 7 * 86400 ? "365d" : "7d", value);
        if (!strcmp(name, "evidence_window")) cfg->evidence_window_s = n;
        else if (!strcmp(name, "known_good_for")) cfg->known_good_s = n;
        else cfg->attack_window_s = n;
    } else if (!strcmp(name, "prefix_good_users") || !strcmp(name, "known_good_weight") || !strcmp(name, "attack_addresses")) {
        if (parse_int(value, 0, 1000000, &n) < 0) BAD("%s: expected a count (0 = off), got '%s'", name, value);
        if (!strcmp(name, "prefix_good_users")) cfg->prefix_good_users = n;
        else if (!strcmp(name, "known_good_weight")) cfg->known_good_weight = n;
        else cfg->attack_addresses = n;
    } else BAD("internal: [precision] %s is in the key table but has no handler", name);
    return 1;
}

static int peer_key(struct ini_stream *s, struct config_peer *p, const char *name, const char *value)
{
    struct config *cfg = s->cfg;
    if (!strcmp(name, "pub")) set_str(&p->pub_endpoint, value);
    else if (!strcmp(name, "sync")) set_str(&p->sync_endpoint, value);
    else if (!strcmp(name, "site")) set_str(&p->site, value);
    else if (!strcmp(name, "relay")) {
        if (parse_bool(value, &p->relay) < 0) BAD("relay: expected yes or no, got '%s'", value);
    } else if (!strcmp(name, "addresses") || !strcmp(name, "address")) strlist_split(&p->addrs, value);
    else BAD("internal: [peer %s] %s is in the key table but has no handler", p->name, name);
    return 1;
}

static int handler(void *arg, const char *section, const char *name, const char *value)
{
    struct ini_stream *s = arg;
    struct config *cfg = s->cfg;
    bool is_scenario = !strncmp(section, "scenario ", 9);
    if ((s->pass == PASS_NO_SCENARIOS && is_scenario) || (s->pass == PASS_SCENARIOS && !is_scenario)) return 1;
    if (s->long_value && !strcmp(value, LONG_VALUE)) value = s->long_value;
    if (strcmp(section, s->section)) {
        /* A new section starts: [peer NAME] and [scenario ID] open a new entry. */
        snprintf(s->section, sizeof s->section, "%s", section);
        s->cur = NULL;
        if (!strncmp(section, "peer ", 5) && section[5]) {
            cfg->peers = sg_xrealloc(cfg->peers, (cfg->npeers + 1) * sizeof *cfg->peers);
            struct config_peer *p = &cfg->peers[cfg->npeers++];
            memset(p, 0, sizeof *p);
            p->name = sg_xstrdup(section + 5);
            p->line = s->line;
            s->cur = p;
        } else if (!strncmp(section, "scenario ", 9) && section[9]) {
            s->cur = config_scenario_new(cfg, section + 9, s->file, s->line);
        }
    }
    /* Every key through the one table: an unknown section was reported at its header; an unknown
     * key gets the nearest known one of its section. */
    const char *kind = config_section_kind(section);
    if (!kind) return 1;
    if (!strcmp(kind, "throttle") && !strncmp(name, "limit.", 6)) {   /* named by the operator: not in the table */
        char err[512];
        if (s->continuation) BAD("'%s' takes one value: a limit is one line", name);
        if (config_throttle_set(cfg, name, value, err, sizeof err) < 0) BAD("%s", err);
        return 1;
    }
    int idx = config_key_index(kind, name);
    if (idx < 0) {
        const char *sugg = config_key_suggest(kind, name);
        BAD("unknown key '%s' in [%s]%s%s%s", name, section, sugg ? "; did you mean " : "", sugg ? sugg : "",
            sugg ? "?" : "");
    }
    if (s->continuation && !(config_keys[idx].flags & CONFIG_KEY_LIST))
        BAD("'%s' takes one value: only list keys (addresses, logs, allowlist... see sgagent.conf(5)) continue on "
            "the next line", name);
    if (cfg->key_lines && cfg->path && !strcmp(s->file, cfg->path)) cfg->key_lines[idx] = s->line;
    if (!strcmp(section, "node")) return node_key(s, name, value);
    if (!strcmp(section, "detect")) return detect_key(s, name, value);
    if (!strcmp(section, "enforce")) return enforce_key(s, name, value);
    if (!strcmp(section, "policy")) return policy_key(s, name, value);
    if (!strcmp(section, "authpolicy")) return authpolicy_key(s, name, value);
    if (!strcmp(section, "metrics")) return metrics_key(s, name, value);
    if (!strcmp(section, "precision")) return precision_key(s, name, value);
    if (!strcmp(section, "throttle")) {
        char err[512];
        if (config_throttle_set(cfg, name, value, err, sizeof err) < 0) BAD("%s", err);
        return 1;
    }
    if (!strcmp(section, "limits")) {
        char err[256];
        if (config_limits_set(cfg, name, value, err, sizeof err) < 0) BAD("%s", err);
        return 1;
    }
    if (!strncmp(section, "peer ", 5) && s->cur) return peer_key(s, s->cur, name, value);
    if (!strncmp(section, "scenario ", 9) && s->cur) {
        char err[256];
        if (config_scenario_set(s->cur, name, value, err, sizeof err) < 0) BAD("%s", err);
        return 1;
    }
    BAD("unknown section [%s]", section);
}

static int parse_file_pass(struct config *cfg, const char *file, int pass)
{
    struct ini_stream s = {.file = file, .cfg = cfg, .pass = pass};
    s.f = fopen(file, "r");
    if (!s.f) return -1;
    int rc = ini_parse_stream(stream_reader, &s, handler, &s);
    free(s.long_value);
    if (rc > 0 && pass != PASS_SCENARIOS) config_error(cfg, file, rc, "syntax error (expected [section] or key = value)");
    fclose(s.f);
    return 0;
}

static int parse_file(struct config *cfg, const char *file)
{
    return parse_file_pass(cfg, file, PASS_ALL);
}

static void set_defaults(struct config *cfg)
{
    static const int ports[] = {25, 465, 587, 110, 995, 143, 993, 4190};
    cfg->state_dir = sg_xstrdup("/var/lib/sgcluster");
    cfg->control_socket = sg_xstrdup("/run/sgcluster/control.sock");
    cfg->key_dir = sg_xstrdup("/etc/sgcluster/keys");
    cfg->rules_dir = sg_xstrdup("/etc/sgcluster/rules.d");
    cfg->backend = sg_xstrdup("nft");
    cfg->hold_action = sg_xstrdup("REJECT");
    cfg->policy_socket = sg_xstrdup(POLICY_SOCKET_DEFAULT);
    cfg->policy_user = sg_xstrdup(POLICY_USER_DEFAULT);
    memcpy(cfg->ports, ports, sizeof ports);
    cfg->nports = sizeof ports / sizeof ports[0];
    cfg->min_prefix4 = SG_MIN_PREFIX4_DEFAULT;
    cfg->min_prefix6 = SG_MIN_PREFIX6_DEFAULT;
    cfg->prefix4 = 24;
    cfg->prefix6 = 64;
    cfg->prefix_ban_after = 5;
    cfg->bucket_s = 10;
    cfg->max_skew_ms = 60000;
    cfg->snapshot_s = 30;
    cfg->quota_window_s = 3600;
    cfg->throttle = sg_xcalloc(1, sizeof *cfg->throttle);
    throttle_config_init(cfg->throttle);
    cfg->authpolicy_listen = sg_xstrdup(AUTHPOLICY_LISTEN_DEFAULT);
    cfg->authpolicy_key_file = sg_xstrdup(AUTHPOLICY_KEY_FILE_DEFAULT);
    cfg->authpolicy_tarpit_s = AUTHPOLICY_TARPIT_DEFAULT_S;
    cfg->authpolicy_held_reject = true;
    cfg->authpolicy_log_auth_lines = true;
    cfg->metrics_listen = sg_xstrdup(METRICS_LISTEN_DEFAULT);
    strlist_split_words(&cfg->journal_units, DETECT_JOURNAL_UNITS_DEFAULT);
    strlist_split_words(&cfg->journal_users, DETECT_JOURNAL_USERS_DEFAULT);
    cfg->max_attempts = DETECT_DEFAULT_MAX_ATTEMPTS;
    cfg->max_rcpt = DETECT_DEFAULT_MAX_RCPT;
    gossip_record_limits_default(&cfg->limits);
    config_limits_default(cfg);
    cfg->curve = true;
    config_precision_default(cfg);
}

void config_precision_default(struct config *cfg)
{
    cfg->evidence_window_s = PRECISION_EVIDENCE_WINDOW_S;
    cfg->prefix_good_users = PRECISION_PREFIX_GOOD_USERS;
    cfg->known_good_s = PRECISION_KNOWN_GOOD_S;
    cfg->known_good_weight = PRECISION_KNOWN_GOOD_WEIGHT;
    cfg->attack_addresses = PRECISION_ATTACK_ADDRESSES;
    cfg->attack_window_s = PRECISION_ATTACK_WINDOW_S;
    cfg->attack_ban_s = PRECISION_ATTACK_BAN_S;
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int config_load_scenarios(struct config *cfg, const char *file)
{
    return parse_file(cfg, file);
}

/* Scenario files are read in name order, so "50-local.conf" can follow "10-default.conf". */
static void load_scenario_dir(struct config *cfg, const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) {
        config_error(cfg, cfg->path, config_key_line(cfg, "detect", "scenarios"), "scenarios: cannot open directory %s: %s",
                     dir, strerror(errno));
        return;
    }
    struct strlist names = {0};
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        if (e->d_name[0] != '.' && n > 5 && !strcmp(e->d_name + n - 5, ".conf")) strlist_push(&names, e->d_name);
    }
    closedir(d);
    if (names.n > 1) qsort(names.v, names.n, sizeof *names.v, name_cmp);
    for (size_t i = 0; i < names.n; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, names.v[i]);
        if (parse_file(cfg, path) < 0) config_error(cfg, path, 0, "cannot read: %s", strerror(errno));
    }
    strlist_free(&names);
}

struct config *config_load(const char *file, char **err_out)
{
    struct config *cfg = sg_xcalloc(1, sizeof *cfg);
    cfg->path = sg_xstrdup(file);
    cfg->key_lines = sg_xcalloc(config_keys_count(), sizeof *cfg->key_lines);
    set_defaults(cfg);
    /* The main file's own [scenario] sections are read after the scenario directory, so that
     * they override the shipped scenarios key by key. */
    if (parse_file_pass(cfg, file, PASS_NO_SCENARIOS) < 0) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s: cannot open: %s", file, strerror(errno));
        if (err_out) *err_out = sg_xstrdup(msg);
        config_destroy(&cfg);
        return NULL;
    }
    if (cfg->scenario_dir) load_scenario_dir(cfg, cfg->scenario_dir);
    parse_file_pass(cfg, file, PASS_SCENARIOS);
    if (!cfg->node_name) config_error(cfg, file, 0, "[node] name is required");
    if (!cfg->peer_key_dir && cfg->key_dir) cfg->peer_key_dir = sg_xstrdup(cfg->key_dir);
    config_check_gossip(cfg);
    config_scenarios_check(cfg);
    config_throttle_finish(cfg);
    return cfg;
}

void config_destroy(struct config **pcfg)
{
    struct config *cfg = *pcfg;
    if (!cfg) return;
    free(cfg->key_lines);
    free(cfg->path); free(cfg->node_name); free(cfg->gossip_bind); free(cfg->site); free(cfg->sync_bind);
    free(cfg->key_dir); free(cfg->peer_key_dir); free(cfg->state_dir); free(cfg->control_socket);
    free(cfg->rules_dir); free(cfg->scenario_dir); free(cfg->backend);
    free(cfg->policy_listen); free(cfg->policy_socket); free(cfg->policy_user); free(cfg->hold_action);
    free(cfg->authpolicy_listen); free(cfg->authpolicy_key_file);
    free(cfg->metrics_listen);
    strlist_free(&cfg->node_addrs); strlist_free(&cfg->extra_rules); strlist_free(&cfg->logs);
    strlist_free(&cfg->journal_units); strlist_free(&cfg->journal_users);
    strlist_free(&cfg->allowlist); strlist_free(&cfg->user_allowlist); strlist_free(&cfg->errors);
    strlist_free(&cfg->customer_networks);
    if (cfg->throttle) throttle_config_release(cfg->throttle);
    free(cfg->throttle); free(cfg->throttle_map); strlist_free(&cfg->throttle_allow);
    for (size_t i = 0; i < cfg->npeers; i++) {
        free(cfg->peers[i].name); free(cfg->peers[i].pub_endpoint); free(cfg->peers[i].sync_endpoint); free(cfg->peers[i].site);
        strlist_free(&cfg->peers[i].addrs);
    }
    free(cfg->peers);
    for (size_t i = 0; i < cfg->nscenarios; i++) config_scenario_free(&cfg->scenarios[i]);
    free(cfg->scenarios);
    free(cfg);
    *pcfg = NULL;
}
