/* cli_common.h: helpers shared by sgcluster subcommands and the agent: rules from the config,
 * the never-ban guard from the config, reading a log file line by line, control-socket calls. */
#ifndef SG_AGENT_CLI_COMMON_H
#define SG_AGENT_CLI_COMMON_H

#include "agent/config.h"
#include "detect/detect.h"
#include "detect/journal.h"
#include "enforce/enforce.h"

/* Loads cfg's rules (rules_dir overrides cfg->rules_dir when not NULL, then cfg->extra_rules).
 * Prints the error and returns -1 on failure; *out is owned by the caller. */
int cli_load_rules(const struct config *cfg, const char *rules_dir, struct detect_rules **out);
/* The journal source of cfg ([detect] journal, journal_units, journal_users, from_start), or NULL with
 * the reason in err. The agent and `sgagent -n` both build it here. Owned by the caller. */
struct detect_journal *cli_journal_from_config(const struct config *cfg, char *err, size_t errlen);
/* The line parser over rules with cfg's detection settings (what one line may claim). Owned by the caller. */
struct detect_parser *cli_parser_new(const struct config *cfg, const struct detect_rules *rules);
/* Adds an error to cfg for each [detect] logs path that exists and is not a regular file (a FIFO
 * would block, a device never ends). Run by `sgagent -n`, at start and at reload alike. */
void cli_check_logs(struct config *cfg);
/* The guard the agent's enforcement uses: allowlist, own and peer addresses, minimum prefixes. */
struct enforce_guard *cli_guard_from_config(const struct config *cfg);
/* Calls fn for every line of path ("-" = stdin). Returns 0, or -1 when it cannot be read (printed). */
int cli_read_lines(const char *path, void (*fn)(const char *line, size_t len, void *arg), void *arg);

#endif
