/* policy_listen.c: the policy server's listening sockets (unix path, loopback TCP), non-blocking. */
#include "enforce/policy_listen.h"
#include "agent/util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define POLICY_BACKLOG 128

/* True when something still accepts on the socket at path: then it is not ours to replace. */
static bool unix_socket_live(const struct sockaddr_un *sa)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    bool live = connect(fd, (const struct sockaddr *)sa, sizeof *sa) == 0;
    close(fd);
    return live;
}

int policy_listen_unix(const char *path, unsigned mode)
{
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    if (!path || !path[0] || strlen(path) >= sizeof sa.sun_path) {
        sg_log(SG_LOG_ERR, "policy: unix socket path '%s' is empty or too long", path ? path : "");
        return -1;
    }
    memcpy(sa.sun_path, path, strlen(path) + 1);

    struct stat st;
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            sg_log(SG_LOG_ERR, "policy: %s exists and is not a socket; not replacing it", path);
            return -1;
        }
        if (unix_socket_live(&sa)) {
            sg_log(SG_LOG_ERR, "policy: %s is in use by another server", path);
            return -1;
        }
        unlink(path);
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        sg_log(SG_LOG_ERR, "policy: socket(AF_UNIX): %s", strerror(errno));
        return -1;
    }
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        sg_log(SG_LOG_ERR, "policy: bind %s: %s", path, strerror(errno));
        goto fail;
    }
    /* Postfix's smtpd runs as postfix, not as the agent: the mode decides who may ask. */
    if (chmod(path, mode) != 0) {
        sg_log(SG_LOG_ERR, "policy: chmod %s: %s", path, strerror(errno));
        unlink(path);
        goto fail;
    }
    if (listen(fd, POLICY_BACKLOG) != 0) {
        sg_log(SG_LOG_ERR, "policy: listen %s: %s", path, strerror(errno));
        unlink(path);
        goto fail;
    }
    return fd;
fail:
    close(fd);
    return -1;
}

/* Splits "host:port" / "[v6]:port" into host[] and port[]. Returns 0 or -1. */
static int split_host_port(const char *addr, char *host, size_t hsize, char *port, size_t psize)
{
    const char *colon;
    const char *h = addr;
    size_t hlen;
    if (addr[0] == '[') {
        const char *close_br = strchr(addr, ']');
        if (!close_br || close_br[1] != ':')
            return -1;
        h = addr + 1;
        hlen = (size_t)(close_br - h);
        colon = close_br + 1;
    } else {
        colon = strrchr(addr, ':');
        if (!colon || strchr(addr, ':') != colon)
            return -1;                  /* bare IPv6 needs brackets */
        hlen = (size_t)(colon - addr);
    }
    size_t plen = strlen(colon + 1);
    if (hlen == 0 || hlen >= hsize || plen == 0 || plen >= psize)
        return -1;
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    memcpy(port, colon + 1, plen + 1);
    long v = 0;
    for (const char *p = port; *p; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        v = v * 10 + (*p - '0');
    }
    return v <= 65535 ? 0 : -1;
}

static bool is_loopback(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        if (IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr))
            return true;
        return IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr) && in6->sin6_addr.s6_addr[12] == 127;
    }
    return false;
}

/* The address of a numeric "host:port", NULL with the reason in err: bad syntax, or not
 * loopback without allow_remote. The caller frees it (freeaddrinfo). */
static struct addrinfo *resolve(const char *addr, bool allow_remote, char *err, size_t size)
{
    char host[64], portstr[8];
    if (!addr || split_host_port(addr, host, sizeof host, portstr, sizeof portstr) != 0) {
        snprintf(err, size, "bad TCP address '%s' (want 127.0.0.1:PORT or [::1]:PORT)", addr ? addr : "");
        return NULL;
    }
    struct addrinfo hints, *ai = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
    int rc = getaddrinfo(host, portstr, &hints, &ai);
    if (rc != 0 || !ai) {
        snprintf(err, size, "TCP address '%s': %s", addr, gai_strerror(rc));
        return NULL;
    }
    if (!allow_remote && !is_loopback(ai->ai_addr)) {
        snprintf(err, size, "refusing to listen on non-loopback %s (allow_remote is off)", addr);
        freeaddrinfo(ai);
        return NULL;
    }
    return ai;
}

int policy_listen_tcp_check(const char *addr, bool allow_remote, char *err, size_t size)
{
    struct addrinfo *ai = resolve(addr, allow_remote, err, size);
    if (!ai) return -1;
    freeaddrinfo(ai);
    return 0;
}

int policy_listen_tcp(const char *addr, bool allow_remote, int *port)
{
    char err[256];
    struct addrinfo *ai = resolve(addr, allow_remote, err, sizeof err);
    if (!ai) {
        sg_log(SG_LOG_ERR, "policy: %s", err);
        return -1;
    }
    int fd = -1;
    fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        sg_log(SG_LOG_ERR, "policy: socket: %s", strerror(errno));
        goto fail;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, POLICY_BACKLOG) != 0) {
        sg_log(SG_LOG_ERR, "policy: listen on %s: %s", addr, strerror(errno));
        goto fail;
    }
    struct sockaddr_storage bound;
    socklen_t blen = sizeof bound;
    if (getsockname(fd, (struct sockaddr *)&bound, &blen) != 0) {
        sg_log(SG_LOG_ERR, "policy: getsockname: %s", strerror(errno));
        goto fail;
    }
    *port = bound.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&bound)->sin6_port)
                                        : ntohs(((struct sockaddr_in *)&bound)->sin_port);
    freeaddrinfo(ai);
    return fd;
fail:
    if (fd >= 0)
        close(fd);
    freeaddrinfo(ai);
    return -1;
}

bool policy_listen_peer_ok(int fd, long peer_uid, long *uid)
{
    struct ucred cr;
    socklen_t len = sizeof cr;
    *uid = -1;
    if (peer_uid < 0)
        return true;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) != 0 || len != sizeof cr)
        return false;
    *uid = (long)cr.uid;
    return cr.uid == 0 || (long)cr.uid == peer_uid;
}

int policy_listen_source(int fd, unsigned char src[16])
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getpeername(fd, (struct sockaddr *)&ss, &len) != 0)
        return -1;
    memset(src, 0, 16);
    if (ss.ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)&ss;
        src[10] = src[11] = 0xff;
        memcpy(src + 12, &in->sin_addr, 4);
    } else if (ss.ss_family == AF_INET6) {
        memcpy(src, &((const struct sockaddr_in6 *)&ss)->sin6_addr, 16);
    } else {
        return -1;
    }
    return is_loopback((const struct sockaddr *)&ss) ? 1 : 0;
}
