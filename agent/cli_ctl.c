/* cli_ctl.c: the sgcluster commands that ask the local agent over its control socket:
 * status, peers, bans, ban, unban, allow, unallow, hold, release, top, explain, quota. */
#include "agent/cli.h"
#include "agent/control.h"
#include "agent/json.h"
#include "agent/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_SOCKET "/run/sgcluster/control.sock"

/* What each command takes besides -s/--socket and --json. */
enum {
    T_TARGET = 1,     /* one ADDR|PREFIX or USER */
    T_FOR = 2,        /* --for DURATION, --reason TEXT */
    T_FLAGS = 4,      /* flags forwarded as they are (listed in flags) */
};

static const struct ctl_cmd {
    const char *name;
    unsigned takes;
    const char *flags[4];     /* forwarded flags; "-n" and "--window" take a value */
} cmds[] = {
    {"status", T_FLAGS, {"--scenarios", "--short"}},
    {"peers", 0, {NULL}},
    {"bans", T_FLAGS, {"--all"}},
    {"ban", T_TARGET | T_FOR, {NULL}},
    {"unban", T_TARGET, {NULL}},
    {"allow", T_TARGET | T_FOR, {NULL}},
    {"unallow", T_TARGET, {NULL}},
    {"hold", T_TARGET | T_FOR, {NULL}},
    {"release", T_TARGET, {NULL}},
    {"top", T_FLAGS, {"--users", "-n", "--window"}},
    {"explain", 0, {NULL}},
    {"quota", T_TARGET | T_FLAGS, {"--reset"}},
};

static const struct ctl_cmd *find_cmd(const char *name)
{
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        if (!strcmp(cmds[i].name, name)) return &cmds[i];
    return NULL;
}

/* A usage error: the message and the usage line (from the one command table), or one JSON object
 * with --json. */
static int fail_usage(const struct ctl_cmd *c, bool json, const char *msg)
{
    const char *usage = c->name;
    for (const struct cli_command *k = cli_commands; k->name; k++)
        if (!strcmp(k->name, c->name)) usage = k->usage;
    if (json) {
        json_errorf(stderr, 2, "%s%susage: sgcluster %s", msg ? msg : "", msg ? "; " : "", usage);
        return 2;
    }
    if (msg) fprintf(stderr, "sgcluster %s: %s\n", c->name, msg);
    fprintf(stderr, "usage: sgcluster %s\n  (-s SOCKET: control socket, default %s or $SGCLUSTER_SOCKET)\n", usage,
            DEFAULT_SOCKET);
    return 2;
}

static bool forwarded(const struct ctl_cmd *c, const char *a, bool *takes_value)
{
    *takes_value = false;
    if (!(c->takes & T_FLAGS)) return false;
    for (size_t i = 0; i < 4 && c->flags[i]; i++)
        if (!strcmp(c->flags[i], a)) {
            *takes_value = !strcmp(a, "-n") || !strcmp(a, "--window");
            return true;
        }
    return false;
}

/* argv[0] is the command. Common options: -s/--socket PATH, --json. */
int cli_ctl(int argc, char **argv)
{
    const struct ctl_cmd *c = find_cmd(argv[0]);
    if (!c) return 2;
    const char *sock = getenv("SGCLUSTER_SOCKET");
    if (!sock) sock = DEFAULT_SOCKET;
    bool json = false;
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--json")) json = true;
    const char *target = NULL, *dur = NULL, *reason = NULL;
    char *req[CONTROL_MAX_ARGS];
    int n = 0;
    req[n++] = argv[0];
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool val;
        char msg[300];
        if (!strcmp(a, "--json")) continue;
        if (!strcmp(a, "-s") || !strcmp(a, "--socket")) {
            if (i + 1 >= argc) return fail_usage(c, json, "-s wants a path");
            sock = argv[++i];
        } else if ((c->takes & T_FOR) && (!strcmp(a, "--for") || !strcmp(a, "--reason"))) {
            if (i + 1 >= argc) return fail_usage(c, json, "--for and --reason want a value");
            if (!strcmp(a, "--for")) dur = argv[++i];
            else reason = argv[++i];
        } else if ((c->takes & T_TARGET) && !target && a[0] != '-') {
            target = a;
        } else if (!strcmp(c->name, "explain") && a[0] != '-' && n < 3) {
            req[n++] = argv[i];
        } else if (forwarded(c, a, &val)) {
            if (val && i + 1 >= argc) return fail_usage(c, json, "-n and --window want a value");
            req[n++] = argv[i];
            if (val) req[n++] = argv[++i];
        } else {
            snprintf(msg, sizeof msg, "unexpected argument '%.200s'", a);
            return fail_usage(c, json, msg);
        }
        if (n >= CONTROL_MAX_ARGS - 4) return fail_usage(c, json, "too many arguments");
    }
    if ((c->takes & T_TARGET) && !target) return fail_usage(c, json, "missing the address, prefix or user");
    if (!strcmp(c->name, "explain") && n < 2) return fail_usage(c, json, "missing what to explain");
    if (target) req[n++] = (char *)target;
    if (dur || reason) {
        int64_t secs;
        if (dur && (sg_parse_duration(dur, &secs) < 0 || secs < 1)) {
            char msg[300];
            snprintf(msg, sizeof msg, "bad duration '%.100s' (examples: 3600, 90m, 12h, 7d)", dur);
            return fail_usage(c, json, msg);
        }
        req[n++] = (char *)(dur ? dur : "default");   /* the agent knows each kind's default */
        if (reason) req[n++] = (char *)reason;
    }
    char *body = NULL;
    int code = control_call(sock, n, req, json, &body, 10000);
    if (code < 0) {
        if (json) json_errorf(stderr, 1, "%s", body ? body : "agent unreachable");
        else fprintf(stderr, "sgcluster: %s", body ? body : "agent unreachable\n");
        free(body);
        return 1;
    }
    fputs(body ? body : "", code == 0 ? stdout : stderr);
    free(body);
    return code > 2 ? 1 : code;
}
