/* authpolicy_http.c: the auth-policy service on the agent's HTTP server (agent/http.h): each
 * request's method, command=, X-API-Key and body go to authpolicy_handle, its JSON answer back. */
#include "agent/authpolicy_http.h"
#include "agent/http.h"
#include "agent/util.h"

#include <stdlib.h>
#include <string.h>

struct authpolicy_http {
    struct http_server *srv;
    struct authpolicy *ap;
};

static void on_request(const struct http_request *req, struct http_reply *rep, void *arg)
{
    struct authpolicy_http *h = arg;
    const char *cmd = http_request_arg(req, "command");
    const char *key = http_request_header(req, AUTHPOLICY_KEY_HEADER);
    char out[512];
    rep->code = authpolicy_handle(h->ap, req->method, cmd, key, req->body, req->len, req->oversize, out, sizeof out);
    rep->content_type = "application/json";
    rep->len = strlen(out);
    rep->body = sg_xstrdup(out);
}

struct authpolicy_http *authpolicy_http_new(zloop_t *loop, const char *listen, bool allow_remote, struct authpolicy *ap)
{
    struct authpolicy_http *h = sg_xcalloc(1, sizeof *h);
    h->ap = ap;
    h->srv = http_server_new(loop, "authpolicy", listen, allow_remote, AUTHPOLICY_CONN_TIMEOUT_S,
                             AUTHPOLICY_MAX_BODY, on_request, h);
    if (!h->srv) { free(h); return NULL; }
    return h;
}

int authpolicy_http_port(const struct authpolicy_http *h)
{
    return http_server_port(h->srv);
}

void authpolicy_http_stats(const struct authpolicy_http *h, struct http_stats *out)
{
    http_server_stats(h->srv, out);
}

void authpolicy_http_destroy(struct authpolicy_http **ph)
{
    struct authpolicy_http *h = *ph;
    if (!h) return;
    http_server_destroy(&h->srv);
    free(h);
    *ph = NULL;
}
