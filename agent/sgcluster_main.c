/* sgcluster_main.c: the operator CLI; dispatches to the subcommands of agent/cli_*.c. */
#include "agent/cli.h"

#include <stdio.h>
#include <string.h>

/* Subcommands register here, one line each (declared next to the table to keep cli.h stable). */
int cli_keygen(int argc, char **argv);
const struct cli_command cli_commands[] = {
    {"keygen", cli_keygen, "keygen --node NAME DIR      write a node keypair (NAME.key 0600, NAME.pub)"},
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
