/* sgcluster_main.c: the operator CLI; dispatches to the subcommands of agent/cli_*.c. */
#include "agent/cli.h"

#include <stdio.h>
#include <string.h>

/* Subcommands register here, one line each (declared next to the table to keep cli.h stable). */
int cli_keygen(int argc, char **argv);
int cli_parse(int argc, char **argv);
int cli_replay(int argc, char **argv);
int cli_ctl(int argc, char **argv);
const struct cli_command cli_commands[] = {
    {"status", cli_ctl, "status [--json]             this node, its peers, the cluster's health"},
    {"peers", cli_ctl, "peers [--json]              gossip peers: state, last message, gaps, drops"},
    {"bans", cli_ctl, "bans [--all] [--json]       bans, throttles, holds and tombstones (cluster-wide)"},
    {"ban", cli_ctl, "ban ADDR|PREFIX [--for DURATION] [--reason TEXT]   ban on every node"},
    {"unban", cli_ctl, "unban ADDR|PREFIX           lift a ban on every node"},
    {"hold", cli_ctl, "hold USER [--for DURATION] [--reason TEXT]   refuse a user's mail on every node"},
    {"release", cli_ctl, "release USER                lift a hold"},
    {"top", cli_ctl, "top [--users] [-n N] [--window DURATION] [--json]   busiest counter keys"},
    {"explain", cli_ctl, "explain ADDR|USER [USER|ADDR] [--json]   why it is or is not banned, what would trigger next"},
    {"replay", cli_replay, "replay -c CONFIG [--rules DIR] [--json] LOGFILE...   decisions the scenarios would take on a log"},
    {"keygen", cli_keygen, "keygen --node NAME DIR      write a node keypair (NAME.key 0600, NAME.pub)"},
    {"parse", cli_parse, "parse [--rules DIR] [--json] [--stats] [FILE...]  try the detection rules on log lines"},
    {NULL, NULL, NULL},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: sgcluster COMMAND [ARGS...]\n\ncommands:\n");
    for (const struct cli_command *c = cli_commands; c->name; c++)
        fprintf(out, "  %s\n", c->usage);
    fprintf(out, "  help\n\nEvery command takes --json for machine-readable output where it prints data.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) { usage(stderr); return 2; }
    if (!strcmp(argv[1], "help") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(stdout);
        return 0;
    }
    for (const struct cli_command *c = cli_commands; c->name; c++)
        if (!strcmp(c->name, argv[1])) return c->run(argc - 1, argv + 1);
    fprintf(stderr, "sgcluster: unknown command '%s'; try 'sgcluster help'\n", argv[1]);
    return 2;
}
