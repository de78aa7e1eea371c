/* authpolicy_http.h: the HTTP side of the auth-policy service (libmicrohttpd), run inside the
 * agent's zloop by agent/http.h. Requests are checked and answered by agent/authpolicy.h. */
#ifndef SG_AGENT_AUTHPOLICY_HTTP_H
#define SG_AGENT_AUTHPOLICY_HTTP_H

#include <czmq.h>

#include "agent/authpolicy.h"
#include "agent/http.h"

struct authpolicy_http;

/* Listens on a numeric "IPv4:port" or "[IPv6]:port" (loopback only unless allow_remote; port 0
 * picks one) and serves ap (not owned, must outlive the server). NULL on failure (logged). */
struct authpolicy_http *authpolicy_http_new(zloop_t *loop, const char *listen, bool allow_remote, struct authpolicy *ap);
/* The bound port. */
int authpolicy_http_port(const struct authpolicy_http *h);
/* The server's statistics (the latency of each request). */
void authpolicy_http_stats(const struct authpolicy_http *h, struct http_stats *out);
void authpolicy_http_destroy(struct authpolicy_http **ph);

#endif
