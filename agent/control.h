/* control.h: the agent's control socket (unix stream, file permissions decide who may use it).
 *
 * Protocol: the client sends one request line, fields separated by TAB, ended by "\n":
 *   COMMAND [ARG...] where the first field may be "--json" before the command.
 * The agent answers with a status line "CODE\n" (0 ok, 1 refused/failed, 2 usage) followed by
 * the body (a table, a message, or JSON), then closes. Requests are capped at 8 KiB. */
#ifndef SG_AGENT_CONTROL_H
#define SG_AGENT_CONTROL_H

#include <czmq.h>
#include <stdbool.h>
#include <stdio.h>

#define CONTROL_MAX_REQUEST 8192
#define CONTROL_MAX_ARGS 16

/* Handles one request; writes the body to out; returns the exit code (0, 1 or 2). */
typedef int (control_fn)(int argc, char **argv, bool json, FILE *out, void *arg);

struct control;

/* Binds path (an old socket file there is replaced), mode 0660. NULL on failure (logged). */
struct control *control_new(zloop_t *loop, const char *path, control_fn *fn, void *arg);
void control_destroy(struct control **pc);

struct control_stats {
    uint64_t requests, bad_requests, timeouts;
};
void control_stats(const struct control *c, struct control_stats *out);

/* Client side (the CLI): sends the request, returns the code and the body (caller frees *body).
 * Returns -1 when the agent cannot be reached (message in *body). */
int control_call(const char *path, int argc, char **argv, bool json, char **body, int timeout_ms);

#endif
