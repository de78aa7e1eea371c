/* cli_replay.c: `sgcluster replay -c CONFIG LOGFILE`: runs the scenarios over a log on its own
 * timestamps, as one node with no enforcement, and prints the decisions it would take. */
#include "agent/agent_build.h"
#include "agent/json.h"
#include "agent/replay.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <time.h>

struct printer {
    bool json;
};

static void print_decision(const struct decision *d, void *arg)
{
    const struct printer *r = arg;
    char when[32];
    time_t t = (time_t)(d->time_ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    if (r->json) {
        printf("{\"time\":\"%s\",\"time_ms\":%" PRId64 ",\"action\":", when, d->time_ms);
        json_str(stdout, d->action);
        fputs(",\"key\":", stdout);
        json_str(stdout, d->key);
        fputs(",\"scenario\":", stdout);
        json_str(stdout, d->scenario);
        printf(",\"duration_s\":%" PRId64 ",\"level\":%u,\"reason\":", d->duration_s, d->level);
        json_str(stdout, d->reason);
        fputs("}\n", stdout);
    } else {
        printf("%-20s  %-8s  %-40s  %7" PRId64 "s  %s\n", when, d->action, d->key, d->duration_s, d->reason);
    }
}

static int usage(void)
{
    fprintf(stderr, "usage: sgcluster replay -c CONFIG [--rules DIR] [--json] LOGFILE...\n"
                    "  runs the configured scenarios over the logs on their own timestamps (one node, no enforcement)\n");
    return 2;
}

int cli_replay(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'}, {"rules", required_argument, NULL, 'r'},
        {"json", no_argument, NULL, 'j'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    const char *conf = NULL, *rules_dir = NULL;
    struct printer r = {0};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:r:jh", opts, NULL)) != -1) {
        switch (c) {
        case 'c': conf = optarg; break;
        case 'r': rules_dir = optarg; break;
        case 'j': r.json = true; break;
        default: return usage();
        }
    }
    if (!conf || optind >= argc) return usage();

    int rc = 1;
    struct agent_parts parts;
    struct replay *rp = NULL;
    /* The agent's own builder (so replay accepts what the agent accepts), without the node's keys:
     * replay signs with a throwaway identity. */
    if (agent_build(conf, rules_dir, AGENT_BUILD_OFFLINE | AGENT_BUILD_DRYRUN, &parts) < 0) {
        if (r.json) {
            fputs("{\"error\":\"configuration has errors\",\"code\":1,\"errors\":[", stderr);
            for (size_t i = 0; i < parts.errors.n; i++) {
                if (i) fputc(',', stderr);
                json_str(stderr, parts.errors.v[i]);
            }
            fputs("]}\n", stderr);
        } else {
            for (size_t i = 0; i < parts.errors.n; i++) fprintf(stderr, "%s\n", parts.errors.v[i]);
        }
        goto out;
    }
    rp = replay_new(&parts, print_decision, &r);
    if (!rp) {
        fprintf(stderr, "sgcluster: replay: cannot set up the replicated state\n");
        goto out;
    }
    if (!r.json) printf("%-20s  %-8s  %-40s  %8s  %s\n", "TIME", "ACTION", "KEY", "DURATION", "REASON");
    rc = 0;
    for (int i = optind; i < argc; i++)
        if (replay_file(rp, argv[i]) < 0) rc = 1;
    struct replay_stats rs;
    replay_stats(rp, &rs);
    fprintf(stderr, "replay: %" PRIu64 " lines, %" PRIu64 " events, %" PRIu64 " decisions\n", rs.lines, rs.events, rs.decisions);
out:
    replay_destroy(&rp);
    agent_parts_release(&parts);
    return rc;
}
