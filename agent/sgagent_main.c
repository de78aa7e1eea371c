/* sgagent_main.c: the sgagent daemon: options, then agent_new / agent_run / agent_destroy. */
#include "agent/agent.h"
#include "agent/util.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *out)
{
    fprintf(out, "usage: sgagent [-c CONFIG] [-n] [-v] [-q]\n"
                 "  -c CONFIG  configuration file (default /etc/sgcluster/sgagent.conf)\n"
                 "  -n         check the configuration and exit (prints \"configuration OK\")\n"
                 "  -v / -q    more / less logging\n");
}

int main(int argc, char **argv)
{
    const char *conf = "/etc/sgcluster/sgagent.conf";
    bool check = false;
    enum sg_log_level lvl = SG_LOG_INFO;
    int c;
    while ((c = getopt(argc, argv, "c:nvqhV")) != -1) {
        switch (c) {
        case 'c': conf = optarg; break;
        case 'n': check = true; break;
        case 'v': lvl = SG_LOG_DEBUG; break;
        case 'q': lvl = SG_LOG_WARN; break;
        case 'V': printf("sgagent 0.1.0\n"); return 0;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind != argc) { usage(stderr); return 2; }
    if (check) return agent_check_config(conf);
    sg_log_set_level(lvl);
    /* Under systemd stderr goes to the journal: "<N>" prefixes carry the priority. */
    sg_log_set_journal(getenv("JOURNAL_STREAM") != NULL);
    struct agent *a = agent_new(conf);
    if (!a) {
        sg_log(SG_LOG_ERR, "sgagent: not started (see the errors above)");
        return 1;
    }
    int rc = agent_run(a);
    agent_destroy(&a);
    return rc;
}
