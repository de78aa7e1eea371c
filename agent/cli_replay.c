/* cli_replay.c: `sgcluster replay -c CONFIG LOGFILE`: runs the scenarios over a log on its own
 * timestamps, as one node with no enforcement, and prints the decisions it would take. */
#include "agent/agent_build.h"
#include "agent/cli_common.h"
#include "agent/config.h"
#include "agent/config_limits.h"
#include "agent/json.h"
#include "agent/scenario.h"
#include "agent/util.h"
#include "detect/detect.h"
#include "gossip/keyring.h"
#include "gossip/state.h"

#include <getopt.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct replay {
    struct detect_parser *parser;
    struct scenario_engine *eng;
    struct gossip_state *st;
    bool json;
    int64_t last_ms;
    uint64_t decisions;
};

static void print_decision(const struct decision *d, void *arg)
{
    struct replay *r = arg;
    r->decisions++;
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

static void on_event(const struct sg_event *ev, void *arg)
{
    struct replay *r = arg;
    int64_t t = ev->time_ms ? ev->time_ms : r->last_ms;
    if (!t) return;   /* nothing to place it in time yet */
    /* Logs are not strictly ordered (several writers); never let the replay clock go backwards. */
    if (t < r->last_ms) t = r->last_ms;
    r->last_ms = t;
    scenario_engine_event(r->eng, ev, t);
}

static void on_line(const char *line, size_t len, void *arg)
{
    struct replay *r = arg;
    detect_parser_line(r->parser, line, len, on_event, r);
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
    struct replay r = {0};
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
    struct gossip_identity *id = NULL;
    struct gossip_keyring *kr = NULL;
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
    const struct config *cfg = parts.cfg;
    r.parser = parts.parser;
    /* A throwaway identity: replay writes the same signed records the agent would, in memory. */
    uint8_t seed[32];
    randombytes_buf(seed, sizeof seed);
    id = gossip_identity_from_seed("replay", seed);
    kr = gossip_keyring_new();
    gossip_keyring_add_identity(kr, id);
    struct gossip_state_config sc;
    scenario_state_config(cfg, &sc);
    /* Replayed logs may be old: the state's clock must follow the log, not the wall. */
    sc.max_skew_ms = INT64_MAX / 4;
    r.st = gossip_state_new(&sc, id, kr, 1);
    r.eng = scenario_engine_new(cfg, r.st, enforce_guard(parts.enf), print_decision, &r);
    if (!r.json) printf("%-20s  %-8s  %-40s  %8s  %s\n", "TIME", "ACTION", "KEY", "DURATION", "REASON");
    rc = 0;
    for (int i = optind; i < argc; i++)
        if (cli_read_lines(argv[i], on_line, &r) < 0) rc = 1;
    struct detect_stats ds;
    detect_parser_stats(r.parser, &ds);
    fprintf(stderr, "replay: %" PRIu64 " lines, %" PRIu64 " events, %" PRIu64 " decisions\n", ds.lines, ds.events, r.decisions);
out:
    scenario_engine_destroy(&r.eng);
    gossip_state_destroy(&r.st);
    gossip_keyring_destroy(&kr);
    gossip_identity_destroy(&id);
    agent_parts_release(&parts);
    return rc;
}
