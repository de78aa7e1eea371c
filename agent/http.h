/* http.h: a small HTTP server (libmicrohttpd) run inside the agent's zloop, shared by the
 * auth-policy service and the metrics endpoint. It listens, enforces MHD's limits (connections,
 * per-connection memory, timeouts), collects a request body up to a cap, times every request
 * and hands one whole request at a time to the caller's handler, on the loop's thread. */
#ifndef SG_AGENT_HTTP_H
#define SG_AGENT_HTTP_H

#include <czmq.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/hist.h"

struct http_request {
    const char *method, *url;   /* as received */
    const char *body;           /* NULL when the handler is called on the headers alone */
    size_t len;
    bool oversize;              /* the Content-Length announced more than max_body: body unread */
    void *conn;                 /* for http_request_header / http_request_arg */
};
/* A header's value, or a query argument's; NULL when absent. Valid during the handler call. */
const char *http_request_header(const struct http_request *r, const char *name);
const char *http_request_arg(const struct http_request *r, const char *name);

struct http_reply {
    int code;                   /* HTTP status */
    const char *content_type;   /* a static string */
    char *body;                 /* malloc'd (taken by the server), or NULL for an empty body */
    size_t len;
    const char *allow;          /* the Allow header of a 405, or NULL */
};

/* Called once per request, on the loop's thread: fills *rep. A request whose method is not POST,
 * or whose Content-Length is over max_body, is handed over on its headers alone (body NULL), so it
 * can be refused before anything is read. A chunked body that grows over max_body closes the
 * connection without a reply (http_stats.body_cut). */
typedef void (http_handler_fn)(const struct http_request *req, struct http_reply *rep, void *arg);

struct http_stats {
    struct sg_hist latency;     /* per request, from its request line parsed to its reply queued */
    uint64_t broken;            /* connections closed without one answered request: HTTP MHD refused
                                 * itself (garbage, oversize headers), requests cut or timed out,
                                 * bare connects; they never reach the handler */
    uint64_t errors;            /* MHD's error messages (malformed requests, refused connections...) */
    uint64_t body_cut;          /* chunked bodies over max_body: the connection closed, no reply */
};

#define HTTP_CONN_TIMEOUT_DEFAULT_S 10

struct http_server;

/* Listens on a numeric "IPv4:port" or "[IPv6]:port" (loopback only unless allow_remote; port 0
 * picks one) and serves requests through fn with arg (not owned, must outlive the server). what
 * names the service in log lines. A connection idle for timeout_s seconds is closed (0:
 * HTTP_CONN_TIMEOUT_DEFAULT_S); with allow_remote one address may hold at most 8 of the 256
 * connections. Residual risk: 256 slots are still 256 slots; a client that trickles a byte per
 * timeout_s keeps one, so a local or permitted peer can fill them (the caller's clients then fail
 * as they would with the agent down). NULL on failure (logged). */
struct http_server *http_server_new(zloop_t *loop, const char *what, const char *listen, bool allow_remote,
                                    unsigned timeout_s, size_t max_body, http_handler_fn *fn, void *arg);
/* The bound port. */
int http_server_port(const struct http_server *h);
void http_server_stats(const struct http_server *h, struct http_stats *out);
void http_server_destroy(struct http_server **ph);

#endif
