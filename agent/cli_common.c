/* cli_common.c: the journal source and the line parser from the configuration, the log path check,
 * line reading for offline commands. */
#include "agent/cli_common.h"
#include "agent/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
        if (detect_source_check_path(cfg->logs.v[i], err, sizeof err) < 0) {
            int line = config_key_line(cfg, "detect", "logs");
            config_error(cfg, cfg->path, line ? line : config_key_line(cfg, "detect", "log"), "[detect] logs: %s", err);
        }
    }
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
