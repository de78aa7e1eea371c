/* policy_conn.h: internal to enforce/policy_*: the policy server's connections, listeners and
 * server state, shared by the server (policy_server.c) and its accepting side (policy_accept.c). */
#ifndef SG_ENFORCE_POLICY_CONN_H
#define SG_ENFORCE_POLICY_CONN_H

#include "enforce/policy.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define OUT_CAP 8192                    /* answers batched per send; one answer is < 600 bytes */
#define ANSWER_MAX (POLICY_ACTION_MAX + 16)
#define IN_INITIAL 2048
#define CLOSE_LINGER_MS 2000            /* after an error answer, wait this long for the peer's EOF */
#define ACCEPT_BURST 64

struct policy_server;

struct conn {
    struct conn *prev, *next;           /* server list, least recently active first */
    struct policy_server *srv;
    int fd;
    char *in;                           /* received bytes; the current request starts at in_head */
    size_t in_len, in_head, in_cap;
    struct policy_frame frame;
    char out[OUT_CAP];
    size_t out_len, out_off;
    int64_t last_active_ms;             /* last byte received or sent */
    int64_t request_start_ms;           /* first byte of the pending request, 0 when none */
    int64_t close_deadline_ms;          /* set once closing */
    int64_t blocked_since_ms;           /* when the output last blocked */
    bool want_out;                      /* blocked on send: polled for POLLOUT only */
    bool closing;                       /* answered an error: flush, shut down, drain to EOF */
    bool shut;                          /* shut down by the timer; the handler finishes it with
                                           a reset, freeing the kernel's buffers at once */
    bool proven;                        /* has sent a complete request: a client that talks, not
                                           a half-open one, and the last to be dropped */
    bool remote;                        /* TCP from a non-loopback source, counted per source */
    unsigned char src[16];              /* that source */
};

struct listener {
    struct policy_server *srv;
    int fd;
    bool is_unix;
    bool paused;                        /* accept failed for lack of fds: retried at the next tick */
};

struct policy_server {
    zloop_t *loop;
    struct policy_config cfg;
    char *unix_path, *tcp_addr;         /* owned copies of the cfg strings */
    policy_decide_fn *decide;
    void *arg;
    struct listener ls[2];
    size_t nls;
    int tcp_port;
    struct conn *head, *tail;
    size_t nconns;
    int timer_id;
    int64_t last_accept_log_ms;
    int64_t last_refuse_log_ms;         /* bad requests are logged at most every 10 s */
    int64_t last_peer_log_ms;           /* so are refused clients */
    struct policy_stats st;
    struct policy_request req;          /* scratch, reused for every request */
};

/* Appends c to the server's list (the tail is the most recently active). */
void policy_conn_append(struct policy_server *s, struct conn *c);
/* No request pending, nothing to send, not closing. */
bool policy_conn_idle(const struct conn *c);
/* (Re)registers c with the loop for events (ZMQ_POLLIN or ZMQ_POLLOUT). Returns 0 or -1. */
int policy_conn_poll(struct conn *c, short events);
/* Frees c: from its own handler or the accept handler, never from the timer. */
void policy_conn_close(struct conn *c);
/* Starts (again) accepting on l. Returns 0 or -1. */
int policy_listener_poll(struct policy_server *s, struct listener *l);

#endif
