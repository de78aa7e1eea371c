/* agent_check.c: `sgagent -n`: checks a configuration completely without starting anything. */
#include "agent/agent.h"
#include "agent/cli_common.h"
#include "agent/util.h"

#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void check_addrs(struct config *cfg, const struct strlist *l, const char *what)
{
    for (size_t i = 0; i < l->n; i++) {
        struct enforce_prefix p;
        if (enforce_prefix_parse(l->v[i], &p) < 0)
            config_error(cfg, cfg->path, 0, "%s: '%s' is not an address or CIDR prefix", what, l->v[i]);
    }
}

int agent_check_config(const char *cfg_path)
{
    char *err = NULL;
    struct config *cfg = config_load(cfg_path, &err);
    if (!cfg) {
        fprintf(stderr, "%s\n", err);
        free(err);
        return 1;
    }
    check_addrs(cfg, &cfg->allowlist, "[enforce] allowlist");
    check_addrs(cfg, &cfg->node_addrs, "[node] addresses");
    for (size_t i = 0; i < cfg->npeers; i++) check_addrs(cfg, &cfg->peers[i].addrs, "[peer] address");
    if (cfg->node_name) {
        struct gossip_identity *id = gossip_identity_load(cfg->key_dir, cfg->node_name);
        if (!id)
            config_error(cfg, cfg->path, 0, "key: cannot load %s/%s.key (mode 0600, from `sgcluster keygen --node %s %s`)",
                         cfg->key_dir, cfg->node_name, cfg->node_name, cfg->key_dir);
        gossip_identity_destroy(&id);
    }
    struct gossip_keyring *kr = gossip_keyring_new();
    if (cfg->peer_key_dir && gossip_keyring_load_dir(kr, cfg->peer_key_dir) < 0)
        config_error(cfg, cfg->path, 0, "peer keys: cannot read %s", cfg->peer_key_dir);
    for (size_t i = 0; i < cfg->npeers; i++)
        if (!gossip_keyring_find_name(kr, cfg->peers[i].name))
            config_error(cfg, cfg->path, cfg->peers[i].line, "[peer %s]: no public key %s/%s.pub", cfg->peers[i].name,
                         cfg->peer_key_dir, cfg->peers[i].name);
    gossip_keyring_destroy(&kr);
    struct detect_rules *rules = NULL;
    const char *dirs[CONFIG_MAX_LIST + 2];
    size_t nd = 0;
    dirs[nd++] = cfg->rules_dir;
    for (size_t i = 0; i < cfg->extra_rules.n && nd < CONFIG_MAX_LIST + 1; i++) dirs[nd++] = cfg->extra_rules.v[i];
    dirs[nd] = NULL;
    char rerr[512] = "";
    if (!(rules = detect_rules_new(dirs, rerr, sizeof rerr))) strlist_push(&cfg->errors, rerr);
    detect_rules_destroy(&rules);
    cli_check_logs(cfg);
    for (size_t i = 0; i < cfg->logs.n; i++) {
        char *copy = sg_xstrdup(cfg->logs.v[i]);
        struct stat st;
        if (stat(dirname(copy), &st) < 0 || !S_ISDIR(st.st_mode))
            config_error(cfg, cfg->path, 0, "[detect] logs: directory of %s does not exist", cfg->logs.v[i]);
        free(copy);
    }
    if (cfg->journal) {
        char jerr[256] = "";
        struct detect_journal *j = cli_journal_from_config(cfg, jerr, sizeof jerr);
        if (!j) config_error(cfg, cfg->path, 0, "[detect] %s", jerr);
        detect_journal_destroy(&j);
    }
    if (cfg->authpolicy_enabled) {
        char key[AUTHPOLICY_KEY_MAX + 1], kerr[512];
        if (authpolicy_key_load(cfg->authpolicy_key_file, key, kerr, sizeof kerr) < 0)
            config_error(cfg, cfg->path, 0, "[authpolicy] %s", kerr);
        memset(key, 0, sizeof key);
    }
    struct policy_config pc;
    char perr[512];
    if (agent_policy_config(cfg, &pc, perr, sizeof perr) < 0) config_error(cfg, cfg->path, 0, "%s", perr);
    if (!cfg->nscenarios) config_error(cfg, cfg->path, 0, "no scenarios: set [detect] scenarios = DIR (e.g. /etc/sgcluster/scenarios.d)");
    int rc = cfg->errors.n ? 1 : 0;
    for (size_t i = 0; i < cfg->errors.n; i++) fprintf(stderr, "%s\n", cfg->errors.v[i]);
    if (!rc) printf("configuration OK\n");
    config_destroy(&cfg);
    return rc;
}
