/* sgcluster_main.c: the operator CLI; dispatches to the subcommands of agent/cli_*.c. */
#include "agent/cli.h"
#include "agent/json.h"

#include "common/version.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Subcommands register here, one line each (declared next to the table to keep cli.h stable). */
int cli_keygen(int argc, char **argv);
int cli_parse(int argc, char **argv);
int cli_replay(int argc, char **argv);
int cli_tune(int argc, char **argv);
int cli_ctl(int argc, char **argv);
const struct cli_command cli_commands[] = {
    {"status", cli_ctl, "status [--scenarios [--short]] [--json]   this node, its logs, its peers, the cluster's health; per scenario"},
    {"peers", cli_ctl, "peers [--json]              gossip peers: state, last message, gaps, drops"},
    {"bans", cli_ctl, "bans [--all] [--json]       active bans, throttles, holds and allows (--all: with lifted and expired records)"},
    {"ban", cli_ctl, "ban ADDR|PREFIX [--for DURATION] [--reason TEXT]   ban on every node"},
    {"unban", cli_ctl, "unban ADDR|PREFIX           lift a ban on every node"},
    {"allow", cli_ctl, "allow ADDR|PREFIX [--for DURATION] [--reason TEXT]   never ban it on any node (lifts its bans)"},
    {"unallow", cli_ctl, "unallow ADDR|PREFIX         end an allow on every node"},
    {"hold", cli_ctl, "hold USER [--for DURATION] [--reason TEXT]   refuse a user's mail on every node"},
    {"release", cli_ctl, "release USER                lift a hold"},
    {"top", cli_ctl, "top [--users] [-n N] [--window DURATION] [--json]   busiest counter keys"},
    {"explain", cli_ctl, "explain ADDR|USER [USER|ADDR] [--json]   why it is or is not banned, what would trigger next"},
    {"quota", cli_ctl, "quota [--reset] USER|ADDR [--json]   sending counters against every limit; --reset: cluster-wide"},
    {"replay", cli_replay, "replay -c CONFIG [--rules DIR] [--json] LOGFILE...   decisions the scenarios would take on a log"},
    {"tune", cli_tune, "tune -c CONFIG [--json] [--ini FILE] [--svg DIR] [--html FILE] [--live] LOGFILE...   thresholds proposed from the flow, with what-ifs"},
    {"keygen", cli_keygen, "keygen --node NAME DIR      write a node keypair (NAME.key 0600, NAME.pub)"},
    {"parse", cli_parse, "parse [--rules DIR] [--json] [--stats] [--print-missed] [FILE...]  try the detection rules on log lines"},
    {NULL, NULL, NULL},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: sgcluster [-s SOCKET] [--json] COMMAND [ARGS...]\n"
                 "       sgcluster --version | --help\n\ncommands:\n");
    for (const struct cli_command *c = cli_commands; c->name; c++)
        fprintf(out, "  %s\n", c->usage);
    fprintf(out, "  help\n\nGlobal options (before or after the command):\n"
                 "  -s, --socket PATH  the agent's control socket (default /run/sgcluster/control.sock or $SGCLUSTER_SOCKET)\n"
                 "  --json             machine-readable output, errors included\n"
                 "  -V, --version      print the version and exit\n");
}

/* Global options come before the command; they are handed to it after its name, where every
 * command already reads them (`sgcluster -s PATH status` = `sgcluster status -s PATH`). */
int main(int argc, char **argv)
{
    char **args = calloc((size_t)argc + 1, sizeof *args);
    if (!args) return 1;
    int nglob = 0, i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { usage(stdout); free(args); return 0; }
        if (!strcmp(a, "--version") || !strcmp(a, "-V")) { printf("sgcluster %s\n", SG_VERSION); free(args); return 0; }
        if (!strcmp(a, "--json")) args[1 + nglob++] = argv[i];
        else if ((!strcmp(a, "-s") || !strcmp(a, "--socket")) && i + 1 < argc) {
            args[1 + nglob++] = argv[i];
            args[1 + nglob++] = argv[++i];
        } else {
            if (nglob && !strcmp(args[1], "--json")) json_errorf(stderr, 2, "unknown option '%s'; try 'sgcluster help'", a);
            else fprintf(stderr, "sgcluster: unknown option '%s'; try 'sgcluster help'\n", a);
            free(args);
            return 2;
        }
    }
    if (i >= argc) { usage(stderr); free(args); return 2; }
    const char *cmd = argv[i];
    if (!strcmp(cmd, "help")) { usage(stdout); free(args); return 0; }
    args[0] = argv[i];
    int n = 1 + nglob;
    for (int k = i + 1; k < argc; k++) args[n++] = argv[k];
    for (const struct cli_command *c = cli_commands; c->name; c++)
        if (!strcmp(c->name, cmd)) {
            int rc = c->run(n, args);
            free(args);
            return rc;
        }
    bool json = false;
    for (int k = 1; k < argc; k++) json = json || !strcmp(argv[k], "--json");
    if (json) json_errorf(stderr, 2, "unknown command '%s'; try 'sgcluster help'", cmd);
    else fprintf(stderr, "sgcluster: unknown command '%s'; try 'sgcluster help'\n", cmd);
    free(args);
    return 2;
}
