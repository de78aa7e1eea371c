/* test_enforce_nft.c: netlink messages built and parsed back with no kernel, intervals and
 * prefixes, and the planner's overlap, refresh and reconcile decisions. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <libnftnl/batch.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "enforce/enforce_nft.h"

static struct enforce_prefix P(const char *s)
{
    struct enforce_prefix p;
    assert_int_equal(enforce_prefix_parse(s, &p), 0);
    return p;
}

static struct enforce_nft_op OP(int kind, const char *s, uint64_t timeout_ms)
{
    struct enforce_nft_op o;
    memset(&o, 0, sizeof o);
    struct enforce_prefix p = P(s);
    enforce_nft_elem_from_prefix(&o.el, &p, timeout_ms);
    o.kind = (uint8_t)kind;
    return o;
}

/* Calls fn on every netlink message the batch holds. */
static void batch_walk(struct nftnl_batch *b, void (*fn)(const struct nlmsghdr *, void *), void *data)
{
    int n = nftnl_batch_iovec_len(b);
    struct iovec *iov = calloc((size_t)n, sizeof *iov);
    nftnl_batch_iovec(b, iov, (uint32_t)n);
    for (int i = 0; i < n; i++) {
        const struct nlmsghdr *nlh = iov[i].iov_base;
        int left = (int)iov[i].iov_len;
        for (; mnl_nlmsg_ok(nlh, left); nlh = mnl_nlmsg_next(nlh, &left)) fn(nlh, data);
    }
    free(iov);
}

static void test_intervals(void **state)
{
    (void)state;
    struct enforce_nft_elem el;
    char buf[96];
    struct enforce_prefix p = P("10.0.0.0/24");
    enforce_nft_elem_from_prefix(&el, &p, 1000);
    assert_true(el.has_end);
    assert_string_equal(inet_ntop(AF_INET, el.end, buf, sizeof buf), "10.0.1.0");
    p = P("255.255.255.255");
    enforce_nft_elem_from_prefix(&el, &p, 1000);
    assert_false(el.has_end);                      /* the top of the space has no end element */
    p = P("ffff::/16");
    enforce_nft_elem_from_prefix(&el, &p, 1000);
    assert_false(el.has_end);
    p = P("2001:db8::/64");
    enforce_nft_elem_from_prefix(&el, &p, 1000);
    assert_string_equal(inet_ntop(AF_INET6, el.end, buf, sizeof buf), "2001:db8:0:1::");

    /* Every prefix classifies back to itself. */
    const char *all[] = {"10.0.0.0/24", "10.0.0.7", "0.0.0.0/0", "255.255.255.255", "128.0.0.0/1", "2001:db8::/64",
                         "2001:db8::1", "::/0", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "8000::/1", NULL};
    for (int i = 0; all[i]; i++) {
        p = P(all[i]);
        enforce_nft_elem_from_prefix(&el, &p, 0);
        el.p.len = 77;
        enforce_nft_elem_classify(&el);
        assert_int_equal(el.p.len, p.len);
    }
    /* A hand-made range that is no prefix, or a misaligned one. */
    memset(&el, 0, sizeof el);
    el.p.family = AF_INET;
    inet_pton(AF_INET, "10.0.0.1", el.p.addr);
    inet_pton(AF_INET, "10.0.0.6", el.end);
    el.has_end = true;
    enforce_nft_elem_classify(&el);
    assert_int_equal(el.p.len, ENFORCE_NFT_RANGE);
    inet_pton(AF_INET, "10.0.0.3", el.end);        /* [1,3): two addresses, misaligned */
    enforce_nft_elem_classify(&el);
    assert_int_equal(el.p.len, ENFORCE_NFT_RANGE);
    assert_string_equal(enforce_nft_elem_format(&el, buf, sizeof buf), "10.0.0.1-10.0.0.3(excl)");
}

/* libnftnl numbers the element nests it builds 1, 2, 3... (the kernel ignores the number) but
 * its parser, like every kernel reply, wants NFTA_LIST_ELEM on each: renumber as a reply would. */
static void as_kernel_reply(const struct nlmsghdr *nlh)
{
    size_t off = mnl_nlmsg_size(sizeof(struct nfgenmsg)) - mnl_nlmsg_size(0);
    struct nlattr *a = (struct nlattr *)((char *)mnl_nlmsg_get_payload(nlh) + off);
    int left = (int)((const char *)mnl_nlmsg_get_payload_tail(nlh) - (const char *)a);
    for (; mnl_attr_ok(a, left); left -= (int)MNL_ALIGN(a->nla_len), a = mnl_attr_next(a)) {
        if (mnl_attr_get_type(a) != NFTA_SET_ELEM_LIST_ELEMENTS) continue;
        struct nlattr *el = mnl_attr_get_payload(a);
        int in = (int)mnl_attr_get_payload_len(a);
        for (; mnl_attr_ok(el, in); in -= (int)MNL_ALIGN(el->nla_len), el = mnl_attr_next(el))
            el->nla_type = (uint16_t)((el->nla_type & ~NLA_TYPE_MASK) | NFTA_LIST_ELEM);
    }
}

static void collect_elems(const struct nlmsghdr *nlh, void *data)
{
    as_kernel_reply(nlh);
    struct enforce_nft_rawlist *raw = data;
    uint16_t type = nlh->nlmsg_type & 0xff;
    assert_int_equal(nlh->nlmsg_type >> 8, NFNL_SUBSYS_NFTABLES);
    assert_true(type == NFT_MSG_NEWSETELEM || type == NFT_MSG_DELSETELEM);
    assert_true(nlh->nlmsg_flags & NLM_F_ACK);
    assert_int_equal(enforce_nft_msg_parse_elems(nlh, raw), 0);
}

static void test_elems_roundtrip(void **state)
{
    (void)state;
    struct enforce_nft_op ops[] = {
        OP(ENFORCE_NFT_ADD, "203.0.113.7", 3600000),
        OP(ENFORCE_NFT_ADD, "198.51.100.0/24", 60000),
        OP(ENFORCE_NFT_ADD, "255.255.255.255", 5000),
    };
    struct nftnl_batch *b = nftnl_batch_alloc(1 << 16, 1 << 16);
    enforce_nft_msg_elems(b, 42, "sgcluster", ops, 3);
    struct enforce_nft_rawlist raw = {.family = AF_INET};
    batch_walk(b, collect_elems, &raw);
    nftnl_batch_free(b);
    assert_int_equal(raw.n, 5);                     /* three starts, two ends */
    /* Reverse the order as a kernel dump does, and add nft's leading end element at 0.0.0.0. */
    raw.v = realloc(raw.v, (raw.n + 1) * sizeof *raw.v);
    for (size_t i = 0; i < raw.n / 2; i++) {
        struct enforce_nft_raw t = raw.v[i];
        raw.v[i] = raw.v[raw.n - 1 - i];
        raw.v[raw.n - 1 - i] = t;
    }
    memset(&raw.v[raw.n], 0, sizeof raw.v[0]);
    raw.v[raw.n++].flags = NFT_SET_ELEM_INTERVAL_END;
    for (size_t i = 0; i < raw.n; i++) raw.v[i].expiration_ms = raw.v[i].timeout_ms;
    struct enforce_nft_elem *els = NULL;
    size_t n = enforce_nft_raw_pair(&raw, 1000, &els);
    free(raw.v);
    assert_int_equal(n, 3);
    char buf[96];
    assert_string_equal(enforce_nft_elem_format(&els[0], buf, sizeof buf), "198.51.100.0/24");
    assert_int_equal(els[0].timeout_ms, 60000);
    assert_int_equal(els[0].expires_ms, 61000);
    assert_string_equal(enforce_nft_elem_format(&els[1], buf, sizeof buf), "203.0.113.7");
    assert_int_equal(els[1].timeout_ms, 3600000);
    assert_string_equal(enforce_nft_elem_format(&els[2], buf, sizeof buf), "255.255.255.255");
    free(els);

    /* Deletes carry no timeout; IPv6 keys are 16 bytes. */
    struct enforce_nft_op del[] = {OP(ENFORCE_NFT_DEL, "2001:db8::/64", 1000)};
    b = nftnl_batch_alloc(1 << 16, 1 << 16);
    enforce_nft_msg_elems(b, 43, "sgcluster", del, 1);
    struct enforce_nft_rawlist r6 = {.family = AF_INET6};
    batch_walk(b, collect_elems, &r6);
    nftnl_batch_free(b);
    assert_int_equal(r6.n, 2);
    for (size_t i = 0; i < 2; i++) assert_int_equal(r6.v[i].timeout_ms, 0);
    free(r6.v);
}

static void test_adjacent_pairing(void **state)
{
    (void)state;
    /* 10.0.0.0/25 ends where 10.0.0.128/25 starts: at that key an end and a start share it. */
    struct enforce_nft_op ops[] = {OP(ENFORCE_NFT_ADD, "10.0.0.128/25", 1000), OP(ENFORCE_NFT_ADD, "10.0.0.0/25", 2000),
                                   OP(ENFORCE_NFT_ADD, "10.0.1.0/24", 3000)};
    struct nftnl_batch *b = nftnl_batch_alloc(1 << 16, 1 << 16);
    enforce_nft_msg_elems(b, 7, "sgcluster", ops, 3);
    struct enforce_nft_rawlist raw = {.family = AF_INET};
    batch_walk(b, collect_elems, &raw);
    nftnl_batch_free(b);
    struct enforce_nft_elem *els = NULL;
    size_t n = enforce_nft_raw_pair(&raw, 0, &els);
    free(raw.v);
    assert_int_equal(n, 3);
    char buf[96];
    assert_string_equal(enforce_nft_elem_format(&els[0], buf, sizeof buf), "10.0.0.0/25");
    assert_int_equal(els[0].timeout_ms, 2000);
    assert_string_equal(enforce_nft_elem_format(&els[1], buf, sizeof buf), "10.0.0.128/25");
    assert_int_equal(els[1].timeout_ms, 1000);
    assert_string_equal(enforce_nft_elem_format(&els[2], buf, sizeof buf), "10.0.1.0/24");
    free(els);
}

static void test_chunk_fits(void **state)
{
    (void)state;
    /* A full chunk of IPv6 prefixes must fit the 16-bit element-list attribute. */
    struct enforce_nft_op *ops = calloc(ENFORCE_NFT_CHUNK, sizeof *ops);
    for (unsigned i = 0; i < ENFORCE_NFT_CHUNK; i++) {
        struct enforce_prefix p = P("2001:db8::/64");
        p.addr[6] = (uint8_t)(i >> 8);
        p.addr[7] = (uint8_t)i;
        enforce_nft_elem_from_prefix(&ops[i].el, &p, 86400000);
        ops[i].kind = ENFORCE_NFT_ADD;
    }
    struct nftnl_batch *b = nftnl_batch_alloc(1 << 20, 1 << 18);
    enforce_nft_msg_elems(b, 1, "sgcluster", ops, ENFORCE_NFT_CHUNK);
    struct enforce_nft_rawlist raw = {.family = AF_INET6};
    batch_walk(b, collect_elems, &raw);
    assert_true(nftnl_batch_buffer_len(b) < 65535);
    nftnl_batch_free(b);
    assert_int_equal(raw.n, 2 * ENFORCE_NFT_CHUNK);
    free(raw.v);
    free(ops);
}

struct setup_seen {
    int tables, sets, chains, rules, delrule, flush, ports;
    int which[3];
    uint32_t ban_flags;
    int verdict;   /* NF_DROP, or 100 for reject */
};

static int expr_cb(struct nftnl_expr *e, void *data)
{
    struct setup_seen *s = data;
    const char *name = nftnl_expr_get_str(e, NFTNL_EXPR_NAME);
    if (!strcmp(name, "immediate")) s->verdict = (int)nftnl_expr_get_u32(e, NFTNL_EXPR_IMM_VERDICT);
    if (!strcmp(name, "reject")) s->verdict = 100;
    return 0;
}

static int count_elem(struct nftnl_set_elem *e, void *data)
{
    uint32_t len = 0;
    assert_non_null(nftnl_set_elem_get(e, NFTNL_SET_ELEM_KEY, &len));
    assert_int_equal(len, 2);
    (*(int *)data)++;
    return 0;
}

static void collect_setup(const struct nlmsghdr *nlh, void *data)
{
    struct setup_seen *s = data;
    switch (nlh->nlmsg_type & 0xff) {
    case NFT_MSG_NEWTABLE: s->tables++; break;
    case NFT_MSG_NEWCHAIN: s->chains++; break;
    case NFT_MSG_DELRULE: s->delrule++; break;
    case NFT_MSG_DELSETELEM: s->flush++; break;
    case NFT_MSG_NEWSET: {
        struct nftnl_set *set = nftnl_set_alloc();
        assert_int_equal(nftnl_set_nlmsg_parse(nlh, set), 0);
        if (!strcmp(nftnl_set_get_str(set, NFTNL_SET_NAME), "ban4")) s->ban_flags = nftnl_set_get_u32(set, NFTNL_SET_FLAGS);
        nftnl_set_free(set);
        s->sets++;
        break;
    }
    case NFT_MSG_NEWSETELEM: {
        struct nftnl_set *set = nftnl_set_alloc();
        as_kernel_reply(nlh);
        assert_int_equal(nftnl_set_elems_nlmsg_parse(nlh, set), 0);
        assert_string_equal(nftnl_set_get_str(set, NFTNL_SET_NAME), "ports");
        nftnl_set_elem_foreach(set, count_elem, &s->ports);
        nftnl_set_free(set);
        break;
    }
    case NFT_MSG_NEWRULE: {
        uint64_t p, b;
        int w = enforce_nft_msg_parse_rule(nlh, &p, &b);
        assert_true(w == 1 || w == 2);
        s->which[w]++;
        struct nftnl_rule *r = nftnl_rule_alloc();
        assert_int_equal(nftnl_rule_nlmsg_parse(nlh, r), 0);
        assert_string_equal(nftnl_rule_get_str(r, NFTNL_RULE_CHAIN), "input");
        nftnl_expr_foreach(r, expr_cb, s);
        nftnl_rule_free(r);
        s->rules++;
        break;
    }
    default: fail_msg("unexpected message type %d", nlh->nlmsg_type & 0xff);
    }
}

static void test_setup_messages(void **state)
{
    (void)state;
    const uint16_t ports[] = {25, 587, 993};
    for (int v = 0; v < 2; v++) {
        struct enforce_nft_layout lay = {"sgcluster", ports, 3, v ? ENFORCE_REJECT : ENFORCE_DROP, -10};
        struct nftnl_batch *b = nftnl_batch_alloc(1 << 16, 1 << 16);
        uint32_t seq = 100;
        enforce_nft_msg_setup(b, &seq, &lay);
        struct setup_seen s;
        memset(&s, 0, sizeof s);
        batch_walk(b, collect_setup, &s);
        nftnl_batch_free(b);
        assert_int_equal(seq - 100, 10);           /* ten messages, ten sequence numbers */
        assert_int_equal(s.tables, 1);
        assert_int_equal(s.sets, 3);
        assert_int_equal(s.chains, 1);
        assert_int_equal(s.delrule, 1);             /* rules flushed before they are written */
        assert_int_equal(s.flush, 1);
        assert_int_equal(s.ports, 3);
        assert_int_equal(s.rules, 2);
        assert_int_equal(s.which[1], 1);
        assert_int_equal(s.which[2], 1);
        assert_int_equal(s.ban_flags, NFT_SET_INTERVAL | NFT_SET_TIMEOUT);
        assert_int_equal(s.verdict, v ? 100 : NF_DROP);
    }
}

/* ---- planner ---- */

static void mirror_with(struct enforce_nft_mirror *m, const char *const *bans, int64_t expires)
{
    size_t n = 0;
    while (bans[n]) n++;
    struct enforce_nft_elem *els = calloc(n + 1, sizeof *els);
    for (size_t i = 0; i < n; i++) {
        struct enforce_prefix p = P(bans[i]);
        enforce_nft_elem_from_prefix(&els[i], &p, 600000);
        els[i].expires_ms = expires;
    }
    enforce_nft_mirror_init(m);
    enforce_nft_mirror_replace(m, els, n);
}

static struct enforce_nft_change CH(int kind, const char *s, uint32_t t, uint64_t seq)
{
    struct enforce_nft_change c = {P(s), t, (uint8_t)kind, seq};
    return c;
}

static void expect_op(const struct enforce_nft_op *o, int kind, const char *what)
{
    char buf[96];
    assert_int_equal(o->kind, kind);
    assert_string_equal(enforce_nft_elem_format(&o->el, buf, sizeof buf), what);
}

static void test_plan_overlaps(void **state)
{
    (void)state;
    const char *const held[] = {"10.1.2.0/24", "10.9.0.1", "10.9.0.2", "10.8.0.1", NULL};
    struct enforce_nft_mirror m;
    mirror_with(&m, held, 100000);
    struct enforce_nft_plan_stats st = {0};
    struct enforce_nft_op *ops = NULL;
    struct enforce_nft_change q[] = {
        CH(ENFORCE_NFT_ADD, "10.1.2.9", 60, 1),       /* inside a held /24: covered */
        CH(ENFORCE_NFT_ADD, "10.9.0.0/24", 60, 2),    /* swallows two held addresses: delete them */
        CH(ENFORCE_NFT_ADD, "10.9.0.77", 60, 3),      /* inside the new /24 of this batch: covered */
        CH(ENFORCE_NFT_ADD, "10.8.0.1", 90, 4),       /* held already: delete and add (new timeout) */
        CH(ENFORCE_NFT_ADD, "172.16.0.1", 60, 5),
        CH(ENFORCE_NFT_DEL, "172.16.0.1", 0, 6),      /* the last change for one prefix wins */
        CH(ENFORCE_NFT_ADD, "2001:db8::/64", 60, 7),
    };
    size_t n = enforce_nft_plan_commit(&m, q, 7, 1000, &ops, &st);
    assert_int_equal(st.covered, 2);
    assert_int_equal(n, 6);
    expect_op(&ops[0], ENFORCE_NFT_DEL, "10.8.0.1");
    expect_op(&ops[1], ENFORCE_NFT_DEL, "10.9.0.1");
    expect_op(&ops[2], ENFORCE_NFT_DEL, "10.9.0.2");
    expect_op(&ops[3], ENFORCE_NFT_ADD, "10.8.0.1");
    assert_int_equal(ops[3].el.timeout_ms, 90000);
    expect_op(&ops[4], ENFORCE_NFT_ADD, "10.9.0.0/24");
    expect_op(&ops[5], ENFORCE_NFT_ADD, "2001:db8::/64");

    /* Results fold into the mirror: the /24 replaced its addresses. */
    for (size_t i = 0; i < n; i++) ops[i].status = ENFORCE_NFT_OK;
    enforce_nft_mirror_apply(&m, ops, n, 2000);
    free(ops);
    assert_null(enforce_nft_mirror_find(&m, &(struct enforce_prefix){0}));
    struct enforce_prefix p = P("10.9.0.1");
    assert_null(enforce_nft_mirror_find(&m, &p));
    p = P("10.9.0.0/24");
    assert_non_null(enforce_nft_mirror_find(&m, &p));
    assert_int_equal(enforce_nft_mirror_find(&m, &p)->expires_ms, 62000);
    assert_int_equal(enforce_nft_mirror_count(&m, AF_INET, 2000), 3);
    assert_int_equal(enforce_nft_mirror_count(&m, AF_INET6, 2000), 1);

    /* Lifting a prefix and banning an address inside it in one tick: the address goes in. */
    struct enforce_nft_change q2[] = {
        CH(ENFORCE_NFT_DEL, "10.1.2.0/24", 0, 8),
        CH(ENFORCE_NFT_ADD, "10.1.2.9", 60, 9),
        CH(ENFORCE_NFT_DEL, "192.0.2.1", 0, 10),      /* not held: nothing to delete */
    };
    memset(&st, 0, sizeof st);
    n = enforce_nft_plan_commit(&m, q2, 3, 3000, &ops, &st);
    assert_int_equal(n, 2);
    expect_op(&ops[0], ENFORCE_NFT_DEL, "10.1.2.0/24");
    expect_op(&ops[1], ENFORCE_NFT_ADD, "10.1.2.9");
    free(ops);

    /* Expired entries do not cover: past the slack, the mirror treats them as gone. */
    memset(&st, 0, sizeof st);
    struct enforce_nft_change q3[] = {CH(ENFORCE_NFT_ADD, "10.1.2.10", 60, 11)};
    n = enforce_nft_plan_commit(&m, q3, 1, 10000000, &ops, &st);
    assert_int_equal(st.covered, 0);
    assert_int_equal(n, 1);
    expect_op(&ops[0], ENFORCE_NFT_ADD, "10.1.2.10");
    free(ops);
    enforce_nft_mirror_free(&m);
}

static void test_plan_reconcile(void **state)
{
    (void)state;
    /* The kernel holds: a right one, a stale one, one with a wrong expiry, a hand-made range. */
    const char *const held[] = {"203.0.113.1", "203.0.113.2", "203.0.113.3", NULL};
    struct enforce_nft_mirror m;
    mirror_with(&m, held, 1000 + 600000);
    struct enforce_nft_elem *els = calloc(m.n + 1, sizeof *els);
    memcpy(els, m.v, m.n * sizeof *els);
    els[2].expires_ms = 1000 + 30000;              /* 203.0.113.3: 30 s left, 600 s wanted */
    els[3] = els[0];
    inet_pton(AF_INET, "10.0.0.1", els[3].p.addr);
    inet_pton(AF_INET, "10.0.0.6", els[3].end);
    enforce_nft_elem_classify(&els[3]);
    enforce_nft_mirror_replace(&m, els, 4);

    struct enforce_ban want[] = {
        {P("203.0.113.3"), 600}, {P("203.0.113.1"), 600}, {P("198.51.100.0/24"), 600},
        {P("198.51.100.7"), 600},                    /* covered by the wanted /24 */
        {P("10.0.0.4"), 600},                        /* inside the range: the range goes first */
    };
    struct enforce_nft_plan_stats st = {0};
    struct enforce_nft_op *ops = NULL;
    size_t n = enforce_nft_plan_reconcile(&m, want, 5, 1000, &ops, &st);
    assert_int_equal(st.added, 2);
    assert_int_equal(st.removed, 2);
    assert_int_equal(st.retimed, 1);
    assert_int_equal(st.covered, 1);
    assert_int_equal(n, 6);
    expect_op(&ops[0], ENFORCE_NFT_DEL, "10.0.0.1-10.0.0.6(excl)");
    expect_op(&ops[1], ENFORCE_NFT_DEL, "203.0.113.2");
    expect_op(&ops[2], ENFORCE_NFT_DEL, "203.0.113.3");
    expect_op(&ops[3], ENFORCE_NFT_ADD, "10.0.0.4");
    expect_op(&ops[4], ENFORCE_NFT_ADD, "198.51.100.0/24");
    expect_op(&ops[5], ENFORCE_NFT_ADD, "203.0.113.3");
    free(ops);

    /* Reconcile of an equal state changes nothing. */
    for (size_t i = 0; i < m.n; i++) m.v[i].expires_ms = 1000 + 600000;
    struct enforce_ban same[] = {{P("203.0.113.1"), 600}, {P("203.0.113.2"), 601}, {P("203.0.113.3"), 598}};
    enforce_nft_mirror_replace(&m, NULL, 0);
    mirror_with(&m, held, 1000 + 600000);
    memset(&st, 0, sizeof st);
    n = enforce_nft_plan_reconcile(&m, same, 3, 1000, &ops, &st);
    assert_int_equal(n, 0);
    free(ops);
    enforce_nft_mirror_free(&m);
}

/* Random transactions folded into the mirror must leave exactly what a naive model holds,
 * sorted, with the per-length counts right (the merge and compaction paths are incremental). */
static void test_mirror_random(void **state)
{
    (void)state;
    enum { KEYS = 64 };
    struct enforce_nft_mirror m;
    enforce_nft_mirror_init(&m);
    bool model[KEYS] = {false};
    uint64_t timeout[KEYS] = {0};
    srand(7);
    for (int round = 0; round < 400; round++) {
        struct enforce_nft_op ops[12];
        size_t n = (size_t)(rand() % 12);
        bool used[KEYS] = {false};
        for (size_t i = 0; i < n; i++) {
            int k;
            do k = rand() % KEYS; while (used[k]);
            used[k] = true;
            char a[32];
            /* Keys of two lengths and two families, so the counts per length are exercised. */
            if (k % 4 == 3) snprintf(a, sizeof a, "2001:db8:%x::/64", k);
            else if (k % 4 == 2) snprintf(a, sizeof a, "10.%d.0.0/24", k);
            else snprintf(a, sizeof a, "10.0.0.%d", k);
            ops[i] = OP(rand() % 2 ? ENFORCE_NFT_ADD : ENFORCE_NFT_DEL, a, (uint64_t)(rand() % 1000 + 1) * 1000);
            int r = rand() % 4;
            ops[i].status = r == 0 ? ENFORCE_NFT_FAILED : r == 1 && ops[i].kind == ENFORCE_NFT_DEL ? ENFORCE_NFT_GONE
                                                                                                 : ENFORCE_NFT_OK;
            if (ops[i].status == ENFORCE_NFT_FAILED) continue;
            model[k] = ops[i].kind == ENFORCE_NFT_ADD;
            timeout[k] = ops[i].el.timeout_ms;
        }
        enforce_nft_mirror_apply(&m, ops, n, 0);
        size_t want = 0;
        for (int k = 0; k < KEYS; k++) want += model[k];
        assert_int_equal(m.n, want);
        uint32_t lens = 0;
        for (int f = 0; f < 2; f++)
            for (int l = 0; l <= 128; l++) lens += m.lens[f][l];
        assert_int_equal(lens, want);
        for (size_t i = 1; i < m.n; i++) assert_true(enforce_prefix_cmp(&m.v[i - 1].p, &m.v[i].p) < 0);
        for (size_t i = 0; i < m.n; i++) {
            assert_false(m.v[i].dead);
            assert_int_equal(m.v[i].expires_ms, (int64_t)m.v[i].timeout_ms);
        }
        for (int k = 0; k < KEYS; k++) {
            if (!model[k]) continue;
            bool found = false;
            for (size_t i = 0; i < m.n && !found; i++) found = m.v[i].timeout_ms == timeout[k];
            assert_true(found);
        }
    }
    enforce_nft_mirror_free(&m);
}

/* The merge sort cut in steps gives what qsort gives, whatever the size and the budget. */
static int int_cmp(const void *x, const void *y)
{
    int a = *(const int *)x, b = *(const int *)y;
    return a < b ? -1 : a > b;
}

static void test_sort_steps(void **state)
{
    (void)state;
    static const size_t sizes[] = {0, 1, 2, 255, 256, 257, 1000, 4097, 20000};
    static const size_t budgets[] = {1, 7, 300, 100000};
    unsigned seed = 7;
    for (size_t a = 0; a < sizeof sizes / sizeof sizes[0]; a++)
        for (size_t b = 0; b < sizeof budgets / sizeof budgets[0]; b++) {
            size_t n = sizes[a];
            int *v = malloc((n + 1) * sizeof *v), *ref = malloc((n + 1) * sizeof *ref);
            assert_non_null(v);
            assert_non_null(ref);
            for (size_t i = 0; i < n; i++) v[i] = ref[i] = (int)((seed = seed * 1103515245u + 12345u) >> 16) % 1000;
            qsort(ref, n, sizeof *ref, int_cmp);
            struct enforce_sort s;
            enforce_sort_init(&s, v, n, sizeof *v, int_cmp);
            size_t steps = 0;
            while (!enforce_sort_step(&s, budgets[b])) steps++;
            int *out = enforce_sort_take(&s);
            assert_memory_equal(out, ref, n * sizeof *ref);
            if (n > 1000 && budgets[b] < 1000) assert_true(steps > 10);   /* really cut in steps */
            free(out);
            free(ref);
        }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_intervals),
        cmocka_unit_test(test_elems_roundtrip),
        cmocka_unit_test(test_adjacent_pairing),
        cmocka_unit_test(test_chunk_fits),
        cmocka_unit_test(test_setup_messages),
        cmocka_unit_test(test_plan_overlaps),
        cmocka_unit_test(test_plan_reconcile),
        cmocka_unit_test(test_mirror_random),
        cmocka_unit_test(test_sort_steps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
