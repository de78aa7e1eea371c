/* cli_common.c: rules and guard from the configuration, line reading for offline commands. */
#include "agent/cli_common.h"
#include "agent/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cli_load_rules(const struct config *cfg, const char *rules_dir, struct detect_rules **out)
{
    const char *dirs[CONFIG_MAX_LIST + 2];
    size_t n = 0;
    dirs[n++] = rules_dir ? rules_dir : cfg->rules_dir;
    for (size_t i = 0; i < cfg->extra_rules.n && n < CONFIG_MAX_LIST + 1; i++) dirs[n++] = cfg->extra_rules.v[i];
    dirs[n] = NULL;
    char err[512] = "";
    *out = detect_rules_new(dirs, err, sizeof err);
    if (!*out) {
        fprintf(stderr, "sgcluster: rules: %s\n", err);
        return -1;
    }
    return 0;
}

struct detect_journal *cli_journal_from_config(const struct config *cfg, char *err, size_t errlen)
{
    struct detect_journal_opts o = {
        .units = (const char *const *)cfg->journal_units.v,
        .nunits = cfg->journal_units.n,
        .users = (const char *const *)cfg->journal_users.v,
        .nusers = cfg->journal_users.n,
        .from_start = cfg->from_start,
    };
    return detect_journal_new(&o, err, errlen);
}

struct detect_parser *cli_parser_new(const struct config *cfg, const struct detect_rules *rules)
{
    struct detect_parser_opts po = {
        .max_attempts = (uint32_t)cfg->max_attempts,
        .max_rcpt = (uint32_t)cfg->max_rcpt,
    };
    return detect_parser_new(rules, &po);
}

void cli_check_logs(struct config *cfg)
{
    for (size_t i = 0; i < cfg->logs.n; i++) {
        char err[512];
        if (detect_source_check_path(cfg->logs.v[i], err, sizeof err) < 0) config_error(cfg, cfg->path, 0, "[detect] logs: %s", err);
    }
}

struct enforce_guard *cli_guard_from_config(const struct config *cfg)
{
    struct enforce_guard *g = enforce_guard_new();
    for (size_t i = 0; i < cfg->allowlist.n; i++) enforce_guard_allow(g, cfg->allowlist.v[i]);
    for (size_t i = 0; i < cfg->node_addrs.n; i++) enforce_guard_add_node(g, cfg->node_addrs.v[i]);
    for (size_t p = 0; p < cfg->npeers; p++)
        for (size_t i = 0; i < cfg->peers[p].addrs.n; i++) enforce_guard_add_node(g, cfg->peers[p].addrs.v[i]);
    enforce_guard_set_min_prefix(g, cfg->min_prefix4, cfg->min_prefix6);
    return g;
}

int cli_read_lines(const char *path, void (*fn)(const char *line, size_t len, void *arg), void *arg)
{
    FILE *f = strcmp(path, "-") ? fopen(path, "r") : stdin;
    if (!f) {
        fprintf(stderr, "sgcluster: %s: %s\n", path, strerror(errno));
        return -1;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, f)) >= 0) {
        if (n > 0 && line[n - 1] == '\n') n--;
        fn(line, (size_t)n, arg);
    }
    free(line);
    if (f != stdin) fclose(f);
    return 0;
}
