/* agent_build.c: the one builder from a configuration file to the agent's components (see
 * agent_build.h); start, reload, -n and replay differ only in what they do with the result. */
#include "agent/agent.h"
#include "agent/agent_build.h"
#include "agent/authpolicy.h"
#include "agent/cli_common.h"
#include "agent/util.h"
#include "common/key.h"
#include "enforce/policy_listen.h"

#include <errno.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void warn(struct agent_parts *p, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void warn(struct agent_parts *p, int line, const char *fmt, ...)
{
    char msg[1024];
    char full[1200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(full, sizeof full, "%s:%d: warning: %s", p->cfg->path, line, msg);
    strlist_push(&p->warnings, full);
}

/* The lines of keys that have a second spelling or a default taken from another key. */
static int node_addr_line(const struct config *cfg)
{
    int l = config_key_line(cfg, "node", "addresses");
    return l ? l : config_key_line(cfg, "node", "address");
}

static int log_line(const struct config *cfg)
{
    int l = config_key_line(cfg, "detect", "logs");
    return l ? l : config_key_line(cfg, "detect", "log");
}

static int dir_line(const struct config *cfg, const char *key)
{
    int l = config_key_line(cfg, "node", key);
    return l || strcmp(key, "peer_key_dir") ? l : config_key_line(cfg, "node", "key_dir");
}

/* The directory path is in must exist. levels = 2: the agent creates path's own directory itself
 * (the control socket's, as systemd's RuntimeDirectory does), so its parent must exist. */
static void check_parent(struct config *cfg, const char *what, const char *path, int levels, int line)
{
    if (!path) return;
    char *copy = sg_xstrdup(path);
    char *dir = copy;
    for (int i = 0; i < levels; i++) dir = dirname(dir);
    struct stat st;
    if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
        config_error(cfg, cfg->path, line, "%s: the directory %s (for %s) does not exist", what, dir, path);
    free(copy);
}

/* Every address through the guard's own rules, one at a time, so each error names its entry. */
static void check_addresses(struct config *cfg)
{
    struct enforce_guard *g = enforce_guard_new();
    for (size_t i = 0; i < cfg->allowlist.n; i++)
        if (enforce_guard_allow(g, cfg->allowlist.v[i]) < 0)
            config_error(cfg, cfg->path, config_key_line(cfg, "enforce", "allowlist"),
                         "[enforce] allowlist: '%s' is not an address or CIDR prefix", cfg->allowlist.v[i]);
    for (size_t i = 0; i < cfg->node_addrs.n; i++)
        if (enforce_guard_add_node(g, cfg->node_addrs.v[i]) < 0)
            config_error(cfg, cfg->path, node_addr_line(cfg), "[node] addresses: '%s' is not one address (a node address is never a prefix)",
                         cfg->node_addrs.v[i]);
    for (size_t p = 0; p < cfg->npeers; p++)
        for (size_t i = 0; i < cfg->peers[p].addrs.n; i++)
            if (enforce_guard_add_node(g, cfg->peers[p].addrs.v[i]) < 0)
                config_error(cfg, cfg->path, cfg->peers[p].line, "[peer %s] addresses: '%s' is not one address",
                             cfg->peers[p].name, cfg->peers[p].addrs.v[i]);
    if (enforce_guard_set_min_prefix(g, cfg->min_prefix4, cfg->min_prefix6) < 0)
        config_error(cfg, cfg->path, config_key_line(cfg, "enforce", "min_prefix4"), "[enforce] min_prefix4/min_prefix6 out of range");
    enforce_guard_destroy(&g);
}

static void load_keys(struct agent_parts *p)
{
    struct config *cfg = p->cfg;
    p->id = gossip_identity_load(cfg->key_dir, cfg->node_name);
    if (!p->id) {
        config_error(cfg, cfg->path, dir_line(cfg, "key_dir"), "key: cannot load %s/%s.key (mode 0600, from `sgcluster keygen --node %s %s`)",
                     cfg->key_dir, cfg->node_name, cfg->node_name, cfg->key_dir);
        return;
    }
    p->kr = gossip_keyring_new();
    gossip_keyring_add_identity(p->kr, p->id);
    struct stat st;
    if (stat(cfg->peer_key_dir, &st) < 0 || !S_ISDIR(st.st_mode) || access(cfg->peer_key_dir, R_OK | X_OK) < 0) {
        config_error(cfg, cfg->path, dir_line(cfg, "peer_key_dir"), "peer keys: cannot read the directory %s", cfg->peer_key_dir);
        return;
    }
    /* A malformed or clashing file is logged by the keyring and leaves its peer without a key. */
    if (gossip_keyring_load_dir(p->kr, cfg->peer_key_dir) < 0)
        warn(p, 0, "peer keys: some files in %s could not be read%s", cfg->peer_key_dir, " (see above)");
    for (size_t i = 0; i < cfg->npeers; i++)
        if (!gossip_keyring_find_name(p->kr, cfg->peers[i].name)) {
            char pub[4200];
            snprintf(pub, sizeof pub, "%s/%s.pub", cfg->peer_key_dir, cfg->peers[i].name);
            warn(p, cfg->peers[i].line, "[peer %s]: no public key %s: this peer is left out until a reload finds it",
                 cfg->peers[i].name, pub);
        }
    /* Sites: another site's frames reach a non-relay node only through a relay of its own site. */
    bool other_site = false, relay_here = cfg->relay;
    for (size_t i = 0; i < cfg->npeers; i++) {
        bool ours = !cfg->peers[i].site || (cfg->site && !strcmp(cfg->peers[i].site, cfg->site));
        other_site |= !ours;
        relay_here |= ours && cfg->peers[i].relay;
    }
    if (other_site && !relay_here)
        warn(p, config_key_line(cfg, "node", "site"), "[node] site %s: no peer of this site has relay = yes and this "
             "node is no relay: the other sites' frames cannot reach it", cfg->site);
}

static void build_rules(struct agent_parts *p, const char *rules_dir)
{
    struct config *cfg = p->cfg;
    const char *dirs[CONFIG_MAX_LIST + 2];
    size_t n = 0;
    dirs[n++] = rules_dir ? rules_dir : cfg->rules_dir;
    for (size_t i = 0; i < cfg->extra_rules.n && n < CONFIG_MAX_LIST + 1; i++) dirs[n++] = cfg->extra_rules.v[i];
    dirs[n] = NULL;
    char err[512] = "";
    if (!(p->rules = detect_rules_new(dirs, err, sizeof err))) {
        config_error(cfg, cfg->path, rules_dir ? 0 : config_key_line(cfg, "detect", "rules"), "rules: %s", err);
        return;
    }
    /* Where Dovecot reports every attempt, its log lines about them need not be read at all. */
    if (!cfg->authpolicy_log_auth_lines) {
        if (!cfg->authpolicy_enabled)
            config_error(cfg, cfg->path, 0, "[authpolicy] log_auth_lines = no needs enabled = yes: nothing would "
                                            "count Dovecot's logins");
        if (detect_rules_drop_reported(p->rules, err, sizeof err) < 0) config_error(cfg, cfg->path, 0, "rules: %s", err);
    }
    p->parser = cli_parser_new(cfg, p->rules);
    if (!p->parser) config_error(cfg, cfg->path, config_key_line(cfg, "detect", "rules"), "rules: cannot make a parser");
}

/* The limits' override map (read again on every build: SIGHUP reloads it) and their allowlist:
 * [throttle] allow and [policy] user_allowlist. */
static void build_throttle(struct config *cfg)
{
    struct throttle_config *tc = cfg->throttle;
    if (cfg->throttle_map) {
        char err[1024];
        throttle_map_t *m = throttle_map_load(cfg->throttle_map, err, sizeof err);
        if (!m) {
            config_error(cfg, cfg->path, config_key_line(cfg, "throttle", "map"), "[throttle] map: %s", err);
        } else {
            throttle_map_destroy(&tc->map);
            tc->map = m;
        }
    }
    for (size_t i = 0; i < cfg->throttle_allow.n; i++) throttle_map_allow(tc->map, cfg->throttle_allow.v[i]);
    for (size_t i = 0; i < cfg->user_allowlist.n; i++) {
        char subj[SG_KEY_MAX + 8];
        snprintf(subj, sizeof subj, "user:%s", cfg->user_allowlist.v[i]);
        throttle_map_allow(tc->map, subj);   /* a name that is no user subject limits nothing anyway */
    }
}

/* The enforcement front end a configuration asks for (strings borrowed from cfg); *nodes, to free,
 * holds the own and peer addresses the guard never bans. */
static void enforce_config_of(const struct config *cfg, bool dryrun, struct enforce_config *ec, const char ***nodes)
{
    memset(ec, 0, sizeof *ec);
    ec->backend = dryrun || !strcmp(cfg->backend, "dryrun") ? ENFORCE_BACKEND_DRYRUN : ENFORCE_BACKEND_NFT;
    for (size_t i = 0; i < cfg->nports && i < ENFORCE_MAX_PORTS; i++) ec->ports[ec->nports++] = (uint16_t)cfg->ports[i];
    ec->verdict = cfg->reject ? ENFORCE_REJECT : ENFORCE_DROP;
    ec->allow = (const char *const *)cfg->allowlist.v;
    ec->nallow = cfg->allowlist.n;
    /* Own and peer addresses: never banned, whoever asks. */
    size_t nn = cfg->node_addrs.n;
    for (size_t i = 0; i < cfg->npeers; i++) nn += cfg->peers[i].addrs.n;
    const char **v = *nodes = sg_xcalloc(nn ? nn : 1, sizeof *v);
    size_t k = 0;
    for (size_t i = 0; i < cfg->node_addrs.n; i++) v[k++] = cfg->node_addrs.v[i];
    for (size_t j = 0; j < cfg->npeers; j++)
        for (size_t i = 0; i < cfg->peers[j].addrs.n; i++) v[k++] = cfg->peers[j].addrs.v[i];
    ec->nodes = v;
    ec->nnodes = k;
    ec->min_prefix4 = cfg->min_prefix4;
    ec->min_prefix6 = cfg->min_prefix6;
}

static void build_enforce(struct agent_parts *p, bool dryrun)
{
    const struct config *cfg = p->cfg;
    struct enforce_config ec;
    const char **nodes;
    enforce_config_of(cfg, dryrun, &ec, &nodes);
    p->enf = enforce_new(&ec);
    free(nodes);
    if (!p->enf)
        config_error(p->cfg, cfg->path, config_key_line(cfg, "enforce", "backend"), "[enforce] backend %s: cannot open it",
                     cfg->backend);
}

bool agent_build_enforce_differs(const struct config *o, const struct config *n)
{
    struct enforce_config eo, en;
    const char **no, **nn;
    enforce_config_of(o, false, &eo, &no);
    enforce_config_of(n, false, &en, &nn);
    bool same = enforce_config_same(&eo, &en);
    free(no);
    free(nn);
    return !same;
}

int agent_build(const char *path, const char *rules_dir, unsigned flags, struct agent_parts *out)
{
    memset(out, 0, sizeof *out);
    char *err = NULL;
    out->cfg = config_load(path, &err);
    if (!out->cfg) {
        strlist_push(&out->errors, err);
        free(err);
        return -1;
    }
    struct config *cfg = out->cfg;
    /* What the file says, then what it names: addresses, keys, rules, directories. */
    check_addresses(cfg);
    if (!(flags & AGENT_BUILD_OFFLINE) && cfg->node_name) load_keys(out);
    build_rules(out, rules_dir);
    build_throttle(cfg);
    for (size_t i = 0; i < cfg->logs.n; i++) check_parent(cfg, "[detect] logs", cfg->logs.v[i], 1, log_line(cfg));
    if (!(flags & AGENT_BUILD_OFFLINE)) {   /* what only the running agent opens */
        cli_check_logs(cfg);
        if (cfg->journal) {
            char jerr[256] = "";
            struct detect_journal *j = cli_journal_from_config(cfg, jerr, sizeof jerr);
            if (!j) config_error(cfg, cfg->path, config_key_line(cfg, "detect", "journal"), "[detect] %s", jerr);
            detect_journal_destroy(&j);
        }
        if (cfg->authpolicy_enabled) {
            char key[AUTHPOLICY_KEY_MAX + 1], kerr[512];
            if (authpolicy_key_load(cfg->authpolicy_key_file, key, kerr, sizeof kerr) < 0)
                config_error(cfg, cfg->path, config_key_line(cfg, "authpolicy", "api_key_file"), "[authpolicy] %s", kerr);
            memset(key, 0, sizeof key);
        }
        if (cfg->metrics_enabled) {
            char merr[256];
            if (policy_listen_tcp_check(cfg->metrics_listen, cfg->metrics_allow_remote, merr, sizeof merr) < 0)
                config_error(cfg, cfg->path, 0, "[metrics] listen: %s", merr);
        }
        struct policy_config pc;
        char perr[512];
        if (agent_policy_config(cfg, &pc, perr, sizeof perr) < 0) config_error(cfg, cfg->path, 0, "%s", perr);
        /* the agent creates both directories (one level) */
        check_parent(cfg, "[node] state_dir", cfg->state_dir, 1, config_key_line(cfg, "node", "state_dir"));
        check_parent(cfg, "[node] control_socket", cfg->control_socket, 2, config_key_line(cfg, "node", "control_socket"));
    }
    if (!cfg->nscenarios) config_error(cfg, cfg->path, 0, "no scenarios: set [detect] scenarios = DIR (e.g. /etc/sgcluster/scenarios.d)");
    if (!cfg->errors.n) build_enforce(out, flags & AGENT_BUILD_DRYRUN);
    /* The errors move out of the config, which goes with the rest. */
    out->errors = cfg->errors;
    cfg->errors = (struct strlist){0};
    if (!out->errors.n) return 0;
    struct strlist errors = out->errors, warnings = out->warnings;
    out->errors = out->warnings = (struct strlist){0};
    agent_parts_release(out);
    out->errors = errors;
    out->warnings = warnings;
    return -1;
}

void agent_parts_release(struct agent_parts *p)
{
    enforce_destroy(&p->enf);
    detect_parser_destroy(&p->parser);
    detect_rules_destroy(&p->rules);
    gossip_keyring_destroy(&p->kr);
    gossip_identity_destroy(&p->id);
    config_destroy(&p->cfg);
    strlist_free(&p->errors);
    strlist_free(&p->warnings);
}

struct gossip_transport_peer *agent_build_peers(const struct config *cfg, const struct gossip_keyring *kr, size_t *n)
{
    struct gossip_transport_peer *v = sg_xcalloc(cfg->npeers ? cfg->npeers : 1, sizeof *v);
    *n = 0;
    for (size_t i = 0; i < cfg->npeers; i++)
        if (gossip_keyring_find_name(kr, cfg->peers[i].name))
            v[(*n)++] = (struct gossip_transport_peer){cfg->peers[i].name, cfg->peers[i].pub_endpoint,
                                                       cfg->peers[i].sync_endpoint, cfg->peers[i].site,
                                                       cfg->peers[i].relay};
    return v;
}

static bool same_str(const char *a, const char *b)
{
    return (!a && !b) || (a && b && !strcmp(a, b));
}

static bool same_keys(const struct gossip_keyring *a, const struct gossip_keyring *b)
{
    if (gossip_keyring_count(a) != gossip_keyring_count(b)) return false;
    for (size_t i = 0; i < gossip_keyring_count(a); i++) {
        const struct gossip_peer_key *k = gossip_keyring_at(a, i);
        const struct gossip_peer_key *o = gossip_keyring_find_name(b, k->name);
        if (!o || memcmp(o->pk, k->pk, GOSSIP_PK_LEN)) return false;
    }
    return true;
}

bool agent_build_gossip_differs(const struct config *o, const struct gossip_keyring *okr, const struct config *n,
                                const struct gossip_keyring *nkr)
{
    if (!same_str(o->gossip_bind, n->gossip_bind) || !same_str(o->sync_bind, n->sync_bind) || o->curve != n->curve ||
        !same_str(o->site, n->site) || o->relay != n->relay || o->npeers != n->npeers || !same_keys(okr, nkr))
        return true;
    for (size_t i = 0; i < o->npeers; i++)
        if (!same_str(o->peers[i].name, n->peers[i].name) || !same_str(o->peers[i].pub_endpoint, n->peers[i].pub_endpoint) ||
            !same_str(o->peers[i].sync_endpoint, n->peers[i].sync_endpoint) ||
            !same_str(o->peers[i].site, n->peers[i].site) || o->peers[i].relay != n->peers[i].relay)
            return true;
    return false;
}
