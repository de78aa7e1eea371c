/* endpoint.h: the ZeroMQ endpoints of the gossip sockets, "tcp://HOST:PORT", checked before any
 * socket exists (so that `sgagent -n` and start agree) and classified as loopback or not (plaintext
 * gossip is allowed on loopback only, unless the operator says otherwise).
 *
 * HOST: an IPv4 address, an IPv6 address in brackets, a host name, or "*" (bind only: every
 * interface). PORT: 1-65535, or "*" (bind only: any free port, as tests use). */
#ifndef GOSSIP_ENDPOINT_H
#define GOSSIP_ENDPOINT_H

#include <stdbool.h>
#include <stddef.h>

struct gossip_endpoint {
    char host[256];   /* without the brackets of an IPv6 address; "*" for every interface */
    int port;         /* 0 = any free port ("*") */
};

/* Parses text into *out (out-parameter). bind: "*" is allowed as host and port. Returns 0, or -1
 * with a short reason in err (errlen bytes, may be NULL). */
int gossip_endpoint_parse(const char *text, bool bind, struct gossip_endpoint *out, char *err, size_t errlen);
/* True when the host is a loopback address (127.0.0.0/8, ::1) or "localhost". */
bool gossip_endpoint_loopback(const struct gossip_endpoint *e);

#endif
