/* policy_listen.h: internal to enforce/policy_*: the listening sockets of the policy server. */
#ifndef SG_ENFORCE_POLICY_LISTEN_H
#define SG_ENFORCE_POLICY_LISTEN_H

#include <stdbool.h>
#include <stddef.h>

/* Binds and listens on a unix stream socket at path with the given mode. A stale socket file is
 * replaced; a live one (something accepts on it) or a non-socket file is an error. Returns a
 * non-blocking, close-on-exec fd, or -1 after logging why. */
int policy_listen_unix(const char *path, unsigned mode);

/* Binds and listens on a numeric "IPv4:port" or "[IPv6]:port". Non-loopback addresses are refused
 * unless allow_remote. *port (out) is the bound port. Returns a non-blocking fd, or -1 (logged). */
int policy_listen_tcp(const char *addr, bool allow_remote, int *port);
/* The same checks without binding (for `sgagent -n`): 0, or -1 with the reason in err[size]. */
int policy_listen_tcp_check(const char *addr, bool allow_remote, char *err, size_t size);

/* For an accepted unix client: true when its uid (SO_PEERCRED, out in *uid) is peer_uid or
 * root, or peer_uid is -1. False when the credentials cannot be read. */
bool policy_listen_peer_ok(int fd, long peer_uid, long *uid);

/* For an accepted TCP client: its source address as 16 bytes (IPv4 mapped into IPv6) in src.
 * Returns 1 for a loopback source, 0 for another, -1 when it cannot be read. */
int policy_listen_source(int fd, unsigned char src[16]);

#endif
