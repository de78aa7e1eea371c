/* enforce_nft.c: the nftables backend: one libmnl socket, libnftnl batches sent as one
 * transaction each, ACKs read per sequence, failed chunks retried by halves; dumps of our sets. */
#include "enforce/enforce_nft.h"

#include "agent/util.h"

#include <errno.h>
#include <libmnl/libmnl.h>
#include <libnftnl/batch.h>
#include <libnftnl/common.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define BATCH_PAGE (2u << 20)       /* batch pages; one message is far smaller than the overrun */
#define BATCH_OVERRUN (256u << 10)
#define RCVBUF (8u << 20)           /* ACKs and dumps: enough for every ACK of a large batch */
#define ACK_TIMEOUT_MS 15000        /* a transaction of 100k bans takes well under a second */
#define MAX_ROUNDS 48               /* bisection depth bound: log2(CHUNK) per bad element, plenty */

struct nft_be {
    struct mnl_socket *nl;
    uint32_t portid, seq;
    struct enforce_nft_layout lay;
    char table[64];
    uint16_t ports[ENFORCE_MAX_PORTS];
    struct enforce_stats *stats;
    char *rbuf;
    size_t rbuf_size;
    int sndbuf;
    struct mnl_socket *dnl;         /* the sliced dumps' socket, opened at the first */
    uint32_t dseq;
    bool dbusy;                     /* a dump runs on dnl */
    bool dintr;                     /* it was told the ruleset changed meanwhile */
    int dfamily, dtries;
};

static struct nftnl_batch *batch_new(void)
{
    struct nftnl_batch *b = nftnl_batch_alloc(BATCH_PAGE, BATCH_OVERRUN);
    if (!b) sg_oom();
    return b;
}

/* Sends the batch in one sendmsg: the kernel treats one skb as one transaction, so the socket's
 * send buffer is raised to fit it (SO_SNDBUFFORCE needs CAP_NET_ADMIN, which we have). */
static int batch_send(struct nft_be *be, struct nftnl_batch *b)
{
    int iovlen = nftnl_batch_iovec_len(b);
    struct iovec *iov = sg_xcalloc((size_t)iovlen, sizeof *iov);
    nftnl_batch_iovec(b, iov, (uint32_t)iovlen);
    size_t total = 0;
    for (int i = 0; i < iovlen; i++) total += iov[i].iov_len;
    int fd = mnl_socket_get_fd(be->nl);
    if (total + 4096 > (size_t)be->sndbuf) {
        int want = (int)(total + 65536);
        if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &want, sizeof want) < 0)
            setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &want, sizeof want);
        be->sndbuf = want;
    }
    struct sockaddr_nl snl = {.nl_family = AF_NETLINK};
    struct msghdr msg = {.msg_name = &snl, .msg_namelen = sizeof snl, .msg_iov = iov, .msg_iovlen = (size_t)iovlen};
    ssize_t r = sendmsg(fd, &msg, 0);
    free(iov);
    if (r < 0) {
        sg_log(SG_LOG_ERR, "enforce: nft: sendmsg of %zu bytes: %s", total, strerror(errno));
        return -1;
    }
    return 0;
}

/* Reads the ACK of every message with sequence first..first+n-1 into errs[] (0 or an errno).
 * Returns 0, or -1 when the whole batch failed (an error on the batch itself, a lost ACK, a
 * timeout): then errs[] is not to be trusted. */
static int acks_read(struct nft_be *be, uint32_t first, size_t n, int *errs, uint32_t batch_seq)
{
    size_t got = 0;
    char *seen = sg_xcalloc(n ? n : 1, 1);
    int rc = -1;
    int fd = mnl_socket_get_fd(be->nl);
    while (got < n) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int pr = poll(&pfd, 1, ACK_TIMEOUT_MS);
        if (pr <= 0) {
            sg_log(SG_LOG_ERR, "enforce: nft: %zu of %zu ACKs missing after %d ms", n - got, n, ACK_TIMEOUT_MS);
            goto out;
        }
        ssize_t len = mnl_socket_recvfrom(be->nl, be->rbuf, be->rbuf_size);
        if (len < 0) {
            sg_log(SG_LOG_ERR, "enforce: nft: reading ACKs: %s", strerror(errno));
            goto out;
        }
        const struct nlmsghdr *nlh = (const struct nlmsghdr *)be->rbuf;
        int left = (int)len;
        for (; mnl_nlmsg_ok(nlh, left); nlh = mnl_nlmsg_next(nlh, &left)) {
            if (nlh->nlmsg_type != NLMSG_ERROR) continue;
            if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(struct nlmsgerr))) continue;
            const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);
            uint32_t s = nlh->nlmsg_seq;
            if (s == batch_seq && e->error) {
                sg_log(SG_LOG_ERR, "enforce: nft: batch refused: %s", strerror(-e->error));
                goto out;
            }
            if (s < first || s - first >= n || seen[s - first]) continue;   /* stale: earlier batch */
            seen[s - first] = 1;
            errs[s - first] = -e->error;
            got++;
        }
    }
    rc = 0;
out:
    free(seen);
    return rc;
}

/* One transaction of ready-made messages: begin, body (n messages with ACK), end. */
static int txn_run(struct nft_be *be, struct nftnl_batch *b, uint32_t begin_seq, uint32_t first, size_t n, int *errs)
{
    nftnl_batch_end(nftnl_batch_buffer(b), be->seq++);
    nftnl_batch_update(b);
    be->stats->transactions++;
    if (batch_send(be, b) < 0) return -1;
    return acks_read(be, first, n, errs, begin_seq);
}

static int nft_setup(void *vbe)
{
    struct nft_be *be = vbe;
    struct nftnl_batch *b = batch_new();
    uint32_t begin = be->seq++;
    nftnl_batch_begin(nftnl_batch_buffer(b), begin);
    nftnl_batch_update(b);
    uint32_t first = be->seq;
    enforce_nft_msg_setup(b, &be->seq, &be->lay);
    size_t n = be->seq - first;
    int *errs = sg_xcalloc(n, sizeof *errs);
    int rc = txn_run(be, b, begin, first, n, errs);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (!errs[i]) continue;
        sg_log(SG_LOG_ERR, "enforce: nft: creating table inet %s failed at step %zu: %s "
               "(a set or chain of that name with another layout? remove the table)", be->table, i, strerror(errs[i]));
        rc = -1;
    }
    free(errs);
    nftnl_batch_free(b);
    return rc;
}

struct chunk {
    size_t lo, hi;
};

static void mark(struct enforce_nft_op *ops, const struct chunk *c, uint8_t status, int err)
{
    for (size_t i = c->lo; i < c->hi; i++) {
        ops[i].status = status;
        ops[i].err = err;
    }
}

/* A chunk the kernel refused once it holds a single element: a delete of an absent element is
 * simply gone; anything else is logged and counted as failed. */
static void settle_single(struct enforce_nft_op *o, int err)
{
    char t[96];
    if (o->kind == ENFORCE_NFT_DEL && err == ENOENT) {
        o->status = ENFORCE_NFT_GONE;
        return;
    }
    o->status = ENFORCE_NFT_FAILED;
    o->err = err;
    sg_log(SG_LOG_WARN, "enforce: nft: kernel refused %s %s: %s", o->kind == ENFORCE_NFT_ADD ? "ban" : "unban",
           enforce_nft_elem_format(&o->el, t, sizeof t), strerror(err));
}

static int nft_apply(void *vbe, struct enforce_nft_op *ops, size_t n)
{
    struct nft_be *be = vbe;
    if (!n) return 0;
    /* Chunks of one kind and one set, at most ENFORCE_NFT_CHUNK elements each. */
    size_t nc = 0, cap = n / ENFORCE_NFT_CHUNK + 8;
    struct chunk *cs = sg_xcalloc(cap, sizeof *cs);
    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        while (j < n && j - i < ENFORCE_NFT_CHUNK && ops[j].kind == ops[i].kind && ops[j].el.p.family == ops[i].el.p.family)
            j++;
        if (nc == cap) cs = sg_xrealloc(cs, (cap *= 2) * sizeof *cs);
        cs[nc++] = (struct chunk){i, j};
        i = j;
    }
    int rc = -1;
    for (int round = 0; nc; round++) {
        if (round == MAX_ROUNDS) {
            for (size_t k = 0; k < nc; k++) mark(ops, &cs[k], ENFORCE_NFT_FAILED, EAGAIN);
            goto done;
        }
        if (round) be->stats->retries++;
        struct nftnl_batch *b = batch_new();
        uint32_t begin = be->seq++;
        nftnl_batch_begin(nftnl_batch_buffer(b), begin);
        nftnl_batch_update(b);
        uint32_t first = be->seq;
        for (size_t k = 0; k < nc; k++)
            enforce_nft_msg_elems(b, be->seq++, be->table, ops + cs[k].lo, cs[k].hi - cs[k].lo);
        int *errs = sg_xcalloc(nc, sizeof *errs);
        int r = txn_run(be, b, begin, first, nc, errs);
        nftnl_batch_free(b);
        if (r < 0) {
            for (size_t k = 0; k < nc; k++) mark(ops, &cs[k], ENFORCE_NFT_FAILED, EIO);
            free(errs);
            goto done;
        }
        bool all_ok = true, no_set = false;
        for (size_t k = 0; k < nc; k++) {
            all_ok = all_ok && errs[k] == 0;
            no_set = no_set || (errs[k] == ENOENT && ops[cs[k].lo].kind == ENFORCE_NFT_ADD);
        }
        if (no_set) {
            /* Adding elements fails with ENOENT only when the set or table is gone: splitting
             * would not help; the front end sets the table up again. */
            sg_log(SG_LOG_WARN, "enforce: nft: set missing in table inet %s", be->table);
            for (size_t k = 0; k < nc; k++) mark(ops, &cs[k], ENFORCE_NFT_FAILED, ENOENT);
            free(errs);
            goto done;
        }
        if (all_ok) {
            for (size_t k = 0; k < nc; k++) mark(ops, &cs[k], ENFORCE_NFT_OK, 0);
            free(errs);
            break;
        }
        /* The transaction was rolled back as a whole. Good chunks go again unchanged, bad
         * ones split in halves; a bad single element is settled and left out. */
        struct chunk *next = sg_xcalloc(nc * 2, sizeof *next);
        size_t nn = 0;
        for (size_t k = 0; k < nc; k++) {
            struct chunk c = cs[k];
            if (!errs[k]) next[nn++] = c;
            else if (c.hi - c.lo == 1) settle_single(&ops[c.lo], errs[k]);
            else {
                size_t mid = c.lo + (c.hi - c.lo) / 2;
                next[nn++] = (struct chunk){c.lo, mid};
                next[nn++] = (struct chunk){mid, c.hi};
            }
        }
        free(errs);
        free(cs);
        cs = next;
        nc = nn;
    }
    rc = 0;
    for (size_t i = 0; i < n; i++)
        if (ops[i].status != ENFORCE_NFT_OK && ops[i].status != ENFORCE_NFT_GONE) rc = -1;
done:
    free(cs);
    return rc;
}

/* Runs a dump request and hands each reply message to cb. ENOENT (no table or set) is an
 * empty result, reported through *absent. Returns 0 or -1. */
static int dump_once(struct nft_be *be, struct nlmsghdr *req, int (*cb)(const struct nlmsghdr *, void *),
                     void *data, bool *absent, bool *intr)
{
    uint32_t seq = req->nlmsg_seq;
    if (absent) *absent = false;
    if (mnl_socket_sendto(be->nl, req, req->nlmsg_len) < 0) {
        sg_log(SG_LOG_ERR, "enforce: nft: dump request: %s", strerror(errno));
        return -1;
    }
    int fd = mnl_socket_get_fd(be->nl);
    for (;;) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (poll(&pfd, 1, ACK_TIMEOUT_MS) <= 0) {
            sg_log(SG_LOG_ERR, "enforce: nft: dump timed out");
            return -1;
        }
        ssize_t len = mnl_socket_recvfrom(be->nl, be->rbuf, be->rbuf_size);
        if (len < 0) {
            sg_log(SG_LOG_ERR, "enforce: nft: dump: %s", strerror(errno));
            return -1;
        }
        const struct nlmsghdr *nlh = (const struct nlmsghdr *)be->rbuf;
        int left = (int)len;
        for (; mnl_nlmsg_ok(nlh, left); nlh = mnl_nlmsg_next(nlh, &left)) {
            if (nlh->nlmsg_seq != seq) continue;
            /* The ruleset changed while the dump ran: its pages may disagree. Say so; the
             * caller dumps again. */
            if (nlh->nlmsg_flags & NLM_F_DUMP_INTR) *intr = true;
            if (nlh->nlmsg_type == NLMSG_DONE) return 0;
            if (nlh->nlmsg_type == NLMSG_ERROR) {
                const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);
                if (e->error == 0) return 0;
                if (e->error == -ENOENT) {
                    if (absent) *absent = true;
                    return 0;
                }
                sg_log(SG_LOG_ERR, "enforce: nft: dump: %s", strerror(-e->error));
                return -1;
            }
            if (cb && cb(nlh, data) < 0) return -1;
        }
    }
}

static int dump_run(struct nft_be *be, struct nlmsghdr *req, int (*cb)(const struct nlmsghdr *, void *),
                    void *data, bool *absent)
{
    bool intr = false;
    int rc = dump_once(be, req, cb, data, absent, &intr);
    if (rc == 0 && intr) sg_log(SG_LOG_WARN, "enforce: nft: the ruleset changed during a dump; results may be stale");
    return rc;
}

static int elems_cb(const struct nlmsghdr *nlh, void *data)
{
    return enforce_nft_msg_parse_elems(nlh, data);
}

static int dump_set(struct nft_be *be, const char *set, int family, struct enforce_nft_rawlist *raw)
{
    char buf[MNL_SOCKET_BUFFER_SIZE];
    raw->family = family;
    /* An interrupted dump (someone changed the ruleset meanwhile) is read again, twice at most. */
    for (int attempt = 0; attempt < 3; attempt++) {
        bool intr = false;
        raw->n = 0;
        struct nlmsghdr *req = enforce_nft_msg_getelems(buf, be->seq++, be->table, set);
        req->nlmsg_flags &= (uint16_t)~NLM_F_ACK;
        if (dump_once(be, req, elems_cb, raw, NULL, &intr) < 0) return -1;
        if (!intr) return 0;
    }
    sg_log(SG_LOG_WARN, "enforce: nft: set %s kept changing during the dump; using the last one", set);
    return 0;
}

static int nft_dump(void *vbe, struct enforce_nft_elem **elems, size_t *n)
{
    struct nft_be *be = vbe;
    struct enforce_nft_rawlist r4 = {0}, r6 = {0};
    struct enforce_nft_elem *e4 = NULL, *e6 = NULL;
    int rc = -1;
    if (dump_set(be, "ban4", AF_INET, &r4) < 0 || dump_set(be, "ban6", AF_INET6, &r6) < 0) goto out;
    int64_t now = sg_mono_ms();
    size_t n4 = enforce_nft_raw_pair(&r4, now, &e4), n6 = enforce_nft_raw_pair(&r6, now, &e6);
    *elems = sg_xrealloc(e4, (n4 + n6 + 1) * sizeof *e4);
    memcpy(*elems + n4, e6, n6 * sizeof *e6);
    e4 = NULL;
    *n = n4 + n6;
    rc = 0;
out:
    free(e4);
    free(e6);
    free(r4.v);
    free(r6.v);
    return rc;
}

static struct mnl_socket *socket_open(void)
{
    struct mnl_socket *nl = mnl_socket_open(NETLINK_NETFILTER);
    if (!nl) {
        sg_log(SG_LOG_ERR, "enforce: nft: netlink socket: %s", strerror(errno));
        return NULL;
    }
    if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
        sg_log(SG_LOG_ERR, "enforce: nft: netlink bind: %s", strerror(errno));
        mnl_socket_close(nl);
        return NULL;
    }
    int fd = mnl_socket_get_fd(nl), one = 1, rcv = RCVBUF;
    /* Error ACKs would otherwise echo each refused message (up to 64 KiB) back to us. */
    setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof one);
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcv, sizeof rcv) < 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv);
    return nl;
}

static int dump_request(struct nft_be *be, int family)
{
    char buf[MNL_SOCKET_BUFFER_SIZE];
    if (be->dnl && be->dbusy) {        /* an abandoned dump: the kernel would say EBUSY */
        mnl_socket_close(be->dnl);
        be->dnl = NULL;
    }
    if (!be->dnl && !(be->dnl = socket_open())) return -1;
    if (!be->dseq) be->dseq = be->seq + (1u << 30);
    struct nlmsghdr *req = enforce_nft_msg_getelems(buf, ++be->dseq, be->table, family == AF_INET ? "ban4" : "ban6");
    req->nlmsg_flags &= (uint16_t)~NLM_F_ACK;
    if (mnl_socket_sendto(be->dnl, req, req->nlmsg_len) < 0) {
        sg_log(SG_LOG_ERR, "enforce: nft: dump request: %s", strerror(errno));
        return -1;
    }
    be->dbusy = true;
    be->dintr = false;
    be->dfamily = family;
    return 0;
}

static int nft_dump_begin(void *vbe, int family)
{
    struct nft_be *be = vbe;
    be->dtries = 0;
    return dump_request(be, family);
}

static int nft_dump_read(void *vbe, struct enforce_nft_rawlist *raw, int64_t budget_us, bool *done)
{
    struct nft_be *be = vbe;
    int64_t t0 = sg_mono_ns(), last = 0;
    int fd = mnl_socket_get_fd(be->dnl);
    *done = false;
    do {
        int64_t r0 = sg_mono_ns();
        /* Each read makes the kernel fill the next reply: one reply is one slice of its walk. */
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (poll(&pfd, 1, ACK_TIMEOUT_MS) <= 0) {
            sg_log(SG_LOG_ERR, "enforce: nft: dump timed out");
            goto fail;
        }
        ssize_t len = mnl_socket_recvfrom(be->dnl, be->rbuf, be->rbuf_size);
        if (len < 0) {
            sg_log(SG_LOG_ERR, "enforce: nft: dump: %s", strerror(errno));
            goto fail;
        }
        const struct nlmsghdr *nlh = (const struct nlmsghdr *)be->rbuf;
        int left = (int)len;
        for (; mnl_nlmsg_ok(nlh, left); nlh = mnl_nlmsg_next(nlh, &left)) {
            if (nlh->nlmsg_seq != be->dseq) continue;
            if (nlh->nlmsg_flags & NLM_F_DUMP_INTR) be->dintr = true;
            if (nlh->nlmsg_type == NLMSG_DONE) goto over;
            if (nlh->nlmsg_type == NLMSG_ERROR) {
                const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);
                if (e->error == 0 || e->error == -ENOENT) goto over;   /* ENOENT: no set, nothing held */
                sg_log(SG_LOG_ERR, "enforce: nft: dump: %s", strerror(-e->error));
                goto fail;
            }
            if (enforce_nft_msg_parse_elems(nlh, raw) < 0) goto fail;
        }
        last = sg_mono_ns() - r0;
        /* The next reply costs the kernel a little more than this one (its walk restarts from
         * the first element): read it only if it should fit in the budget too. */
    } while (sg_mono_ns() - t0 + last < budget_us * 1000);
    return 0;
over:
    be->dbusy = false;
    if (be->dintr && ++be->dtries < 3) {
        /* Someone else changed the ruleset meanwhile (ours waits): the walk may have skipped
         * or repeated elements, and an interval's ends may no longer pair. Read it again. */
        sg_log(SG_LOG_INFO, "enforce: nft: the ruleset changed during the dump of a set; reading it again");
        raw->n = 0;
        return dump_request(be, be->dfamily);
    }
    if (be->dintr) sg_log(SG_LOG_WARN, "enforce: nft: the ruleset kept changing during the dump; using the last one");
    *done = true;
    return 0;
fail:
    be->dbusy = true;                  /* the socket is reopened at the next dump */
    return -1;
}

static int simple_txn(struct nft_be *be, void (*build)(struct nftnl_batch *, uint32_t, const char *), int *err)
{
    struct nftnl_batch *b = batch_new();
    uint32_t begin = be->seq++;
    nftnl_batch_begin(nftnl_batch_buffer(b), begin);
    nftnl_batch_update(b);
    uint32_t first = be->seq++;
    build(b, first, be->table);
    int rc = txn_run(be, b, begin, first, 1, err);
    nftnl_batch_free(b);
    return rc;
}

static int nft_remove(void *vbe)
{
    struct nft_be *be = vbe;
    int err = 0;
    if (simple_txn(be, enforce_nft_msg_deltable, &err) < 0) return -1;
    if (err && err != ENOENT) {
        sg_log(SG_LOG_ERR, "enforce: nft: removing table inet %s: %s", be->table, strerror(err));
        return -1;
    }
    return 0;
}

struct rules_acc {
    struct enforce_kernel *k;
};

static int rules_cb(const struct nlmsghdr *nlh, void *data)
{
    struct rules_acc *acc = data;
    uint64_t p, b;
    int which = enforce_nft_msg_parse_rule(nlh, &p, &b);
    if (which == 1) {
        acc->k->drop_packets4 += p;
        acc->k->drop_bytes4 += b;
    } else if (which == 2) {
        acc->k->drop_packets6 += p;
        acc->k->drop_bytes6 += b;
    }
    return 0;
}

static int nft_kernel(void *vbe, struct enforce_kernel *out, bool count_sets)
{
    struct nft_be *be = vbe;
    char buf[MNL_SOCKET_BUFFER_SIZE];
    bool absent = false;
    memset(out, 0, sizeof *out);
    struct nlmsghdr *req = enforce_nft_msg_gettable(buf, be->seq++, be->table);
    if (dump_run(be, req, NULL, NULL, &absent) < 0) return -1;
    if (absent) return 0;
    out->table_present = true;
    struct rules_acc acc = {out};
    req = enforce_nft_msg_getrules(buf, be->seq++, be->table);
    req->nlmsg_flags &= (uint16_t)~NLM_F_ACK;
    if (dump_run(be, req, rules_cb, &acc, NULL) < 0) return -1;
    if (!count_sets) return 0;
    struct enforce_nft_elem *els = NULL;
    size_t n = 0;
    if (nft_dump(be, &els, &n) < 0) return -1;
    for (size_t i = 0; i < n; i++) {
        if (els[i].p.family == AF_INET) out->set4++;
        else out->set6++;
    }
    free(els);
    return 0;
}

#define LOOKUP_MSG_MAX 256        /* one GETSETELEM request for one key is ~100 bytes */
#define LOOKUP_BURST 256          /* requests per sendto */

/* The answer to one lookup: the element holding the key, or an error (ENOENT: none). */
static int lookup_reply(const struct nlmsghdr *nlh, struct enforce_nft_probe *pr)
{
    if (nlh->nlmsg_type == NLMSG_ERROR) {
        const struct nlmsgerr *err = mnl_nlmsg_get_payload(nlh);
        if (err->error == -ENOENT) return 0;
        if (err->error == 0) return 1;                 /* an ACK: the element came before it */
        sg_log(SG_LOG_WARN, "enforce: nft: element lookup: %s", strerror(-err->error));
        return -1;
    }
    struct enforce_nft_rawlist raw = {.family = pr->p.family};
    int rc = enforce_nft_msg_parse_elems(nlh, &raw);
    for (size_t i = 0; rc == 0 && i < raw.n && !pr->found; i++) {
        if (raw.v[i].flags & NFT_SET_ELEM_INTERVAL_END) continue;
        memcpy(pr->start, raw.v[i].key, sizeof pr->start);
        pr->found = true;
    }
    free(raw.v);
    return rc;
}

/* Sends the requests for pr[0..n) (sequence first + i) in one message train and reads one
 * answer per request. Returns 0 or -1. */
static int lookup_burst(struct nft_be *be, struct enforce_nft_probe *pr, size_t n)
{
    char *buf = sg_xcalloc(n, LOOKUP_MSG_MAX);
    size_t len = 0;
    uint32_t first = be->seq;
    for (size_t i = 0; i < n; i++) {
        struct nlmsghdr *nlh = enforce_nft_msg_getelem(buf + len, be->seq++, be->table, pr[i].p.family, pr[i].p.addr);
        len += NLMSG_ALIGN(nlh->nlmsg_len);
        pr[i].found = false;
    }
    int rc = -1;
    char *seen = sg_xcalloc(n, 1);
    size_t got = 0;
    if (mnl_socket_sendto(be->nl, buf, len) < 0) {
        sg_log(SG_LOG_ERR, "enforce: nft: lookup request: %s", strerror(errno));
        goto out;
    }
    int fd = mnl_socket_get_fd(be->nl);
    while (got < n) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (poll(&pfd, 1, ACK_TIMEOUT_MS) <= 0) {
            sg_log(SG_LOG_ERR, "enforce: nft: %zu of %zu lookups unanswered", n - got, n);
            goto out;
        }
        ssize_t r = mnl_socket_recvfrom(be->nl, be->rbuf, be->rbuf_size);
        if (r < 0) {
            sg_log(SG_LOG_ERR, "enforce: nft: reading lookups: %s", strerror(errno));
            goto out;
        }
        const struct nlmsghdr *nlh = (const struct nlmsghdr *)be->rbuf;
        int left = (int)r;
        for (; mnl_nlmsg_ok(nlh, left); nlh = mnl_nlmsg_next(nlh, &left)) {
            uint32_t s = nlh->nlmsg_seq;
            if (s < first || s - first >= n || seen[s - first]) continue;   /* stale: an earlier request */
            int a = lookup_reply(nlh, &pr[s - first]);
            if (a < 0) goto out;
            if (a == 1) continue;
            seen[s - first] = 1;
            got++;
        }
    }
    rc = 0;
out:
    free(seen);
    free(buf);
    return rc;
}

static int nft_lookup(void *vbe, struct enforce_nft_probe *pr, size_t n)
{
    for (size_t i = 0; i < n; i += LOOKUP_BURST)
        if (lookup_burst(vbe, pr + i, n - i < LOOKUP_BURST ? n - i : LOOKUP_BURST) < 0) return -1;
    return 0;
}

static void nft_destroy(void *vbe)
{
    struct nft_be *be = vbe;
    if (!be) return;
    if (be->nl) mnl_socket_close(be->nl);
    if (be->dnl) mnl_socket_close(be->dnl);
    free(be->rbuf);
    free(be);
}

static const struct enforce_backend_ops nft_ops = {
    "nft", nft_setup, nft_apply, nft_dump, nft_dump_begin, nft_dump_read, nft_remove, nft_kernel, nft_lookup,
    nft_destroy,
};

void *enforce_nft_backend_new(const struct enforce_config *cfg, struct enforce_stats *stats,
                              const struct enforce_backend_ops **ops)
{
    struct nft_be *be = sg_xcalloc(1, sizeof *be);
    const char *table = cfg->table ? cfg->table : ENFORCE_TABLE_DEFAULT;
    if (!*table || strlen(table) >= sizeof be->table) {
        sg_log(SG_LOG_ERR, "enforce: nft: bad table name '%s'", table);
        goto fail;
    }
    strcpy(be->table, table);
    memcpy(be->ports, cfg->ports, cfg->nports * sizeof *cfg->ports);
    be->lay = (struct enforce_nft_layout){be->table, be->ports, cfg->nports, cfg->verdict, cfg->priority};
    be->stats = stats;
    be->rbuf_size = 1u << 18;
    be->rbuf = sg_xmalloc(be->rbuf_size);
    if (!(be->nl = socket_open())) goto fail;
    be->portid = mnl_socket_get_portid(be->nl);
    be->seq = (uint32_t)(sg_now_ms() / 1000);
    *ops = &nft_ops;
    return be;
fail:
    nft_destroy(be);
    return NULL;
}
