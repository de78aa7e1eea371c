/* cli.h: the sgcluster subcommands. Each lives in agent/cli_<name>.c and returns the process exit code:
 * 0 ok, 1 refused or failed, 2 usage. argv[0] is the subcommand's name. */
#ifndef SG_CLI_H
#define SG_CLI_H

struct cli_command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *usage;   /* one line, shown by `sgcluster help` */
};

/* The table, terminated by an entry with name == NULL; defined in sgcluster_main.c. */
extern const struct cli_command cli_commands[];

#endif
