/* cli_ctl.c: the sgcluster commands that ask the local agent over its control socket:
 * status, peers, bans, ban, unban, hold, release, top, explain. */
#include "agent/control.h"
#include "agent/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_SOCKET "/run/sgcluster/control.sock"

static int usage(const char *cmd)
{
    static const char *const u[][2] = {
        {"status", "status [--json]"},
        {"peers", "peers [--json]"},
        {"bans", "bans [--all] [--json]"},
        {"ban", "ban ADDR|PREFIX [--for DURATION] [--reason TEXT]"},
        {"unban", "unban ADDR|PREFIX"},
        {"hold", "hold USER [--for DURATION] [--reason TEXT]"},
        {"release", "release USER"},
        {"top", "top [--users] [-n N] [--window DURATION] [--json]"},
        {"explain", "explain ADDR|USER [USER|ADDR] [--json]"},
    };
    for (size_t i = 0; i < sizeof u / sizeof u[0]; i++)
        if (!strcmp(u[i][0], cmd))
            fprintf(stderr, "usage: sgcluster %s  (-s SOCKET: control socket, default %s or $SGCLUSTER_SOCKET)\n", u[i][1], DEFAULT_SOCKET);
    return 2;
}

/* argv[0] is the command. Common options: -s/--socket PATH, --json. ban/hold: --for, --reason. */
int cli_ctl(int argc, char **argv)
{
    const char *cmd = argv[0];
    const char *sock = getenv("SGCLUSTER_SOCKET");
    if (!sock) sock = DEFAULT_SOCKET;
    bool json = false;
    bool takes_target = !strcmp(cmd, "ban") || !strcmp(cmd, "unban") || !strcmp(cmd, "hold") || !strcmp(cmd, "release");
    bool takes_for = !strcmp(cmd, "ban") || !strcmp(cmd, "hold");
    const char *target = NULL, *dur = NULL, *reason = NULL;
    char *req[CONTROL_MAX_ARGS];
    int n = 0;
    req[n++] = (char *)cmd;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if ((!strcmp(a, "-s") || !strcmp(a, "--socket")) && i + 1 < argc) sock = argv[++i];
        else if (!strcmp(a, "--json")) json = true;
        else if (takes_for && !strcmp(a, "--for") && i + 1 < argc) dur = argv[++i];
        else if (takes_for && !strcmp(a, "--reason") && i + 1 < argc) reason = argv[++i];
        else if (takes_target && !target && a[0] != '-') target = a;
        else if (!strcmp(cmd, "explain") && a[0] != '-' && n < 3) req[n++] = (char *)a;
        else if (!strcmp(cmd, "bans") && !strcmp(a, "--all")) req[n++] = (char *)a;
        else if (!strcmp(cmd, "top") && !strcmp(a, "--users")) req[n++] = (char *)a;
        else if (!strcmp(cmd, "top") && (!strcmp(a, "-n") || !strcmp(a, "--window")) && i + 1 < argc) {
            req[n++] = (char *)a;
            req[n++] = argv[++i];
        } else {
            fprintf(stderr, "sgcluster %s: unexpected argument '%s'\n", cmd, a);
            return usage(cmd);
        }
        if (n >= CONTROL_MAX_ARGS - 4) return usage(cmd);
    }
    if ((takes_target && !target) || (!strcmp(cmd, "explain") && n < 2)) return usage(cmd);
    if (target) req[n++] = (char *)target;
    if (dur || reason) {
        int64_t secs;
        if (dur && (sg_parse_duration(dur, &secs) < 0 || secs < 1)) {
            fprintf(stderr, "sgcluster %s: bad duration '%s' (examples: 3600, 90m, 12h, 7d)\n", cmd, dur);
            return 2;
        }
        req[n++] = (char *)(dur ? dur : (!strcmp(cmd, "hold") ? "1d" : "1h"));
        if (reason) req[n++] = (char *)reason;
    }
    char *body = NULL;
    int code = control_call(sock, n, req, json, &body, 10000);
    if (code < 0) {
        fprintf(stderr, "sgcluster: %s", body ? body : "agent unreachable\n");
        free(body);
        return 1;
    }
    fputs(body ? body : "", code == 0 ? stdout : stderr);
    free(body);
    return code > 2 ? 1 : code;
}
