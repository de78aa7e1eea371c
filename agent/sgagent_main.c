/* sgagent_main.c: the sgagent daemon: options, then agent_new / agent_run / agent_destroy. */
#include "agent/agent.h"
#include "agent/util.h"
#include "common/version.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *out)
{
    fprintf(out, "usage: sgagent [-c CONFIG] [-n] [-v] [-q] [-V] [-h]\n"
                 "  -c, --config CONFIG  configuration file (default /etc/sgcluster/sgagent.conf)\n"
                 "  -n, --check          check the configuration and exit (prints \"configuration OK\")\n"
                 "  -v, --verbose        more logging (debug)\n"
                 "  -q, --quiet          less logging (warnings and errors)\n"
                 "  -V, --version        print the version and exit\n"
                 "  -h, --help           print this help and exit\n"
                 "sgagent runs in the foreground and logs to stderr (timestamped on a terminal or file,\n"
                 "with priority prefixes under systemd).\n");
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'}, {"check", no_argument, NULL, 'n'},
        {"verbose", no_argument, NULL, 'v'},      {"quiet", no_argument, NULL, 'q'},
        {"version", no_argument, NULL, 'V'},      {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *conf = "/etc/sgcluster/sgagent.conf";
    bool check = false;
    enum sg_log_level lvl = SG_LOG_INFO;
    int c;
    while ((c = getopt_long(argc, argv, "c:nvqhV", longopts, NULL)) != -1) {
        switch (c) {
        case 'c': conf = optarg; break;
        case 'n': check = true; break;
        case 'v': lvl = SG_LOG_DEBUG; break;
        case 'q': lvl = SG_LOG_WARN; break;
        case 'V': printf("sgagent %s\n", SG_VERSION); return 0;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind != argc) { usage(stderr); return 2; }
    if (check) return agent_check_config(conf);
    sg_log_set_level(lvl);
    /* Under systemd stderr goes to the journal: "<N>" prefixes carry the priority, and the journal
     * stamps the time. Elsewhere (a terminal, a file) each line carries its own timestamp. */
    sg_log_set_journal(getenv("JOURNAL_STREAM") != NULL);
    sg_log_set_timestamps(1);
    struct agent *a = agent_new(conf);
    if (!a) {
        sg_log(SG_LOG_ERR, "sgagent: not started (see the errors above)");
        return 1;
    }
    int rc = agent_run(a);
    agent_destroy(&a);
    return rc;
}
