/* cli_common.h: helpers shared by the agent's builder (agent_build.c) and sgcluster subcommands:
 * the journal source and the line parser from the configuration, the log path check, reading a
 * log file line by line. */
#ifndef SG_AGENT_CLI_COMMON_H
#define SG_AGENT_CLI_COMMON_H

#include "agent/config.h"
#include "detect/detect.h"
#include "detect/journal.h"

/* The journal source of cfg ([detect] journal, journal_units, journal_users, from_start), or NULL with
 * the reason in err. The agent and its builder (so `sgagent -n` too) build it here. Owned by the caller. */
struct detect_journal *cli_journal_from_config(const struct config *cfg, char *err, size_t errlen);
/* The line parser over rules with cfg's detection settings (what one line may claim). Owned by the caller. */
struct detect_parser *cli_parser_new(const struct config *cfg, const struct detect_rules *rules);
/* Adds an error to cfg for each [detect] logs path that exists and is not a regular file (a FIFO
 * would block, a device never ends). Run by the builder: `sgagent -n`, start and reload alike. */
void cli_check_logs(struct config *cfg);
/* Calls fn for every line of path ("-" = stdin). Returns 0, or -1 when it cannot be read (printed). */
int cli_read_lines(const char *path, void (*fn)(const char *line, size_t len, void *arg), void *arg);

#endif
