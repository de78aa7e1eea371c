/* enforce_nft_msg.c: builds and parses the nf_tables netlink messages of our table (libnftnl),
 * with no socket, so that unit tests can round-trip them without a kernel. */
#include "enforce/enforce_nft.h"

#include "agent/util.h"

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <libnftnl/batch.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <libnftnl/udata.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

/* nft's datatype numbers, so that `nft list` prints our sets with the right types. */
enum { NFT_TYPE_IPADDR = 7, NFT_TYPE_IP6ADDR = 8, NFT_TYPE_INET_SERVICE = 13 };
/* Transaction-local ids of the sets, for rules created in the same batch. */
enum { SET_ID_PORTS = 1, SET_ID_BAN4 = 2, SET_ID_BAN6 = 3 };

static struct nlmsghdr *msg_hdr(struct nftnl_batch *b, uint16_t type, uint16_t flags, uint32_t seq)
{
    return nftnl_nlmsg_build_hdr(nftnl_batch_buffer(b), type, NFPROTO_INET, flags, seq);
}

static void msg_table(struct nftnl_batch *b, uint16_t type, uint16_t flags, uint32_t seq, const char *table)
{
    struct nftnl_table *t = nftnl_table_alloc();
    if (!t) sg_oom();
    nftnl_table_set_str(t, NFTNL_TABLE_NAME, table);
    nftnl_table_set_u32(t, NFTNL_TABLE_FAMILY, NFPROTO_INET);
    nftnl_table_nlmsg_build_payload(msg_hdr(b, type, flags, seq), t);
    nftnl_table_free(t);
    nftnl_batch_update(b);
}

/* A rule object of our chain; the caller adds expressions (or none, to flush the chain). */
static struct nftnl_rule *rule_new(const char *table)
{
    struct nftnl_rule *r = nftnl_rule_alloc();
    if (!r) sg_oom();
    nftnl_rule_set_str(r, NFTNL_RULE_TABLE, table);
    nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, "input");
    nftnl_rule_set_u32(r, NFTNL_RULE_FAMILY, NFPROTO_INET);
    return r;
}

static void msg_set(struct nftnl_batch *b, uint32_t *seq, const char *table, const char *name,
                    uint32_t id, uint32_t keytype, uint32_t keylen, uint32_t flags)
{
    struct nftnl_set *s = nftnl_set_alloc();
    if (!s) sg_oom();
    nftnl_set_set_str(s, NFTNL_SET_TABLE, table);
    nftnl_set_set_str(s, NFTNL_SET_NAME, name);
    nftnl_set_set_u32(s, NFTNL_SET_FAMILY, NFPROTO_INET);
    nftnl_set_set_u32(s, NFTNL_SET_ID, id);
    nftnl_set_set_u32(s, NFTNL_SET_KEY_TYPE, keytype);
    nftnl_set_set_u32(s, NFTNL_SET_KEY_LEN, keylen);
    nftnl_set_set_u32(s, NFTNL_SET_FLAGS, flags);
    struct nlmsghdr *nlh = msg_hdr(b, NFT_MSG_NEWSET, NLM_F_CREATE | NLM_F_ACK, (*seq)++);
    nftnl_set_nlmsg_build_payload(nlh, s);
    nftnl_set_free(s);
    nftnl_batch_update(b);
}

static void expr_add(struct nftnl_rule *r, struct nftnl_expr *e)
{
    if (!e) sg_oom();
    nftnl_rule_add_expr(r, e);
}

static void rule_meta_cmp(struct nftnl_rule *r, uint32_t key, uint8_t value)
{
    struct nftnl_expr *e = nftnl_expr_alloc("meta");
    if (!e) sg_oom();
    nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, key);
    nftnl_expr_set_u32(e, NFTNL_EXPR_META_DREG, NFT_REG_1);
    expr_add(r, e);
    e = nftnl_expr_alloc("cmp");
    if (!e) sg_oom();
    nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_SREG, NFT_REG_1);
    nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_OP, NFT_CMP_EQ);
    nftnl_expr_set(e, NFTNL_EXPR_CMP_DATA, &value, sizeof value);
    expr_add(r, e);
}

static void rule_payload_lookup(struct nftnl_rule *r, uint32_t base, uint32_t off, uint32_t len,
                                const char *set, uint32_t set_id)
{
    struct nftnl_expr *e = nftnl_expr_alloc("payload");
    if (!e) sg_oom();
    nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_BASE, base);
    nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET, off);
    nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_LEN, len);
    nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_DREG, NFT_REG_1);
    expr_add(r, e);
    e = nftnl_expr_alloc("lookup");
    if (!e) sg_oom();
    nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SREG, NFT_REG_1);
    nftnl_expr_set_str(e, NFTNL_EXPR_LOOKUP_SET, set);
    nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SET_ID, set_id);
    expr_add(r, e);
}

/* meta nfproto ipvX meta l4proto tcp tcp dport @ports ipX saddr @banX counter drop|reject */
static void msg_rule(struct nftnl_batch *b, uint32_t *seq, const struct enforce_nft_layout *lay, bool v6)
{
    struct nftnl_rule *r = rule_new(lay->table);
    rule_meta_cmp(r, NFT_META_NFPROTO, v6 ? NFPROTO_IPV6 : NFPROTO_IPV4);
    rule_meta_cmp(r, NFT_META_L4PROTO, IPPROTO_TCP);
    rule_payload_lookup(r, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2, "ports", SET_ID_PORTS);
    if (v6) rule_payload_lookup(r, NFT_PAYLOAD_NETWORK_HEADER, 8, 16, "ban6", SET_ID_BAN6);
    else rule_payload_lookup(r, NFT_PAYLOAD_NETWORK_HEADER, 12, 4, "ban4", SET_ID_BAN4);
    expr_add(r, nftnl_expr_alloc("counter"));
    struct nftnl_expr *e;
    if (lay->verdict == ENFORCE_REJECT) {
        /* The rule matches TCP only, so a reset is always a valid answer. */
        e = nftnl_expr_alloc("reject");
        if (!e) sg_oom();
        nftnl_expr_set_u32(e, NFTNL_EXPR_REJECT_TYPE, NFT_REJECT_TCP_RST);
        nftnl_expr_set_u8(e, NFTNL_EXPR_REJECT_CODE, 0);
    } else {
        e = nftnl_expr_alloc("immediate");
        if (!e) sg_oom();
        nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
        nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_VERDICT, NF_DROP);
    }
    expr_add(r, e);
    /* A comment (nft's rule userdata) tells operators who owns the rule. */
    struct nftnl_udata_buf *ud = nftnl_udata_buf_alloc(64);
    if (!ud) sg_oom();
    nftnl_udata_put_strz(ud, NFTNL_UDATA_RULE_COMMENT, v6 ? "sgcluster bans ipv6" : "sgcluster bans ipv4");
    nftnl_rule_set_data(r, NFTNL_RULE_USERDATA, nftnl_udata_buf_data(ud), nftnl_udata_buf_len(ud));
    nftnl_udata_buf_free(ud);
    struct nlmsghdr *nlh = msg_hdr(b, NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND | NLM_F_ACK, (*seq)++);
    nftnl_rule_nlmsg_build_payload(nlh, r);
    nftnl_rule_free(r);
    nftnl_batch_update(b);
}

void enforce_nft_msg_setup(struct nftnl_batch *b, uint32_t *seq, const struct enforce_nft_layout *lay)
{
    struct nlmsghdr *nlh;

    msg_table(b, NFT_MSG_NEWTABLE, NLM_F_CREATE | NLM_F_ACK, (*seq)++, lay->table);

    msg_set(b, seq, lay->table, "ports", SET_ID_PORTS, NFT_TYPE_INET_SERVICE, 2, 0);
    msg_set(b, seq, lay->table, "ban4", SET_ID_BAN4, NFT_TYPE_IPADDR, 4, NFT_SET_INTERVAL | NFT_SET_TIMEOUT);
    msg_set(b, seq, lay->table, "ban6", SET_ID_BAN6, NFT_TYPE_IP6ADDR, 16, NFT_SET_INTERVAL | NFT_SET_TIMEOUT);

    struct nftnl_chain *c = nftnl_chain_alloc();
    if (!c) sg_oom();
    nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, lay->table);
    nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, "input");
    nftnl_chain_set_u32(c, NFTNL_CHAIN_FAMILY, NFPROTO_INET);
    nftnl_chain_set_str(c, NFTNL_CHAIN_TYPE, "filter");
    nftnl_chain_set_u32(c, NFTNL_CHAIN_HOOKNUM, NF_INET_LOCAL_IN);
    nftnl_chain_set_s32(c, NFTNL_CHAIN_PRIO, lay->priority);
    nftnl_chain_set_u32(c, NFTNL_CHAIN_POLICY, NF_ACCEPT);
    nlh = msg_hdr(b, NFT_MSG_NEWCHAIN, NLM_F_CREATE | NLM_F_ACK, (*seq)++);
    nftnl_chain_nlmsg_build_payload(nlh, c);
    nftnl_chain_free(c);
    nftnl_batch_update(b);

    /* Flush our chain's rules and the ports set, then write them again: a restart with a new
     * port list or verdict converges, and the rules are never doubled. Ban sets are kept. */
    struct nftnl_rule *r = rule_new(lay->table);
    nlh = msg_hdr(b, NFT_MSG_DELRULE, NLM_F_ACK, (*seq)++);
    nftnl_rule_nlmsg_build_payload(nlh, r);
    nftnl_rule_free(r);
    nftnl_batch_update(b);

    /* A DELSETELEM without an element list flushes the set. */
    nlh = msg_hdr(b, NFT_MSG_DELSETELEM, NLM_F_ACK, (*seq)++);
    mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_TABLE, lay->table);
    mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_SET, "ports");
    nftnl_batch_update(b);

    struct nftnl_set *s = nftnl_set_alloc();
    if (!s) sg_oom();
    nftnl_set_set_str(s, NFTNL_SET_TABLE, lay->table);
    nftnl_set_set_str(s, NFTNL_SET_NAME, "ports");
    nftnl_set_set_u32(s, NFTNL_SET_FAMILY, NFPROTO_INET);
    for (size_t i = 0; i < lay->nports; i++) {
        struct nftnl_set_elem *e = nftnl_set_elem_alloc();
        if (!e) sg_oom();
        uint16_t port = htons(lay->ports[i]);
        nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, &port, sizeof port);
        nftnl_set_elem_add(s, e);
    }
    nlh = msg_hdr(b, NFT_MSG_NEWSETELEM, NLM_F_CREATE | NLM_F_ACK, (*seq)++);
    nftnl_set_elems_nlmsg_build_payload(nlh, s);
    nftnl_set_free(s);
    nftnl_batch_update(b);

    msg_rule(b, seq, lay, false);
    msg_rule(b, seq, lay, true);
}

void enforce_nft_msg_elems(struct nftnl_batch *b, uint32_t seq, const char *table,
                           const struct enforce_nft_op *ops, size_t n)
{
    if (!n) return;
    bool add = ops[0].kind == ENFORCE_NFT_ADD;
    unsigned klen = ops[0].el.p.family == AF_INET ? 4 : 16;
    struct nftnl_set *s = nftnl_set_alloc();
    if (!s) sg_oom();
    nftnl_set_set_str(s, NFTNL_SET_TABLE, table);
    nftnl_set_set_str(s, NFTNL_SET_NAME, klen == 4 ? "ban4" : "ban6");
    nftnl_set_set_u32(s, NFTNL_SET_FAMILY, NFPROTO_INET);
    for (size_t i = 0; i < n; i++) {
        const struct enforce_nft_elem *el = &ops[i].el;
        struct nftnl_set_elem *e = nftnl_set_elem_alloc();
        if (!e) sg_oom();
        nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, el->p.addr, klen);
        /* The timeout sits on the start element; the kernel's garbage collector drops the end
         * element together with an expired start. */
        if (add && el->timeout_ms) nftnl_set_elem_set_u64(e, NFTNL_SET_ELEM_TIMEOUT, el->timeout_ms);
        nftnl_set_elem_add(s, e);
        if (!el->has_end) continue;
        e = nftnl_set_elem_alloc();
        if (!e) sg_oom();
        nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, el->end, klen);
        nftnl_set_elem_set_u32(e, NFTNL_SET_ELEM_FLAGS, NFT_SET_ELEM_INTERVAL_END);
        nftnl_set_elem_add(s, e);
    }
    struct nlmsghdr *nlh = msg_hdr(b, add ? NFT_MSG_NEWSETELEM : NFT_MSG_DELSETELEM,
                                   (add ? NLM_F_CREATE : 0) | NLM_F_ACK, seq);
    nftnl_set_elems_nlmsg_build_payload(nlh, s);
    nftnl_set_free(s);
    nftnl_batch_update(b);
}

void enforce_nft_msg_deltable(struct nftnl_batch *b, uint32_t seq, const char *table)
{
    msg_table(b, NFT_MSG_DELTABLE, NLM_F_ACK, seq, table);
}

struct nlmsghdr *enforce_nft_msg_getelems(char *buf, uint32_t seq, const char *table, const char *set)
{
    struct nlmsghdr *nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETSETELEM, NFPROTO_INET, NLM_F_DUMP | NLM_F_ACK, seq);
    mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_TABLE, table);
    mnl_attr_put_strz(nlh, NFTA_SET_ELEM_LIST_SET, set);
    return nlh;
}

struct nlmsghdr *enforce_nft_msg_getelem(char *buf, uint32_t seq, const char *table, int family, const uint8_t *key)
{
    struct nftnl_set *s = nftnl_set_alloc();
    struct nftnl_set_elem *e = nftnl_set_elem_alloc();
    if (!s || !e) sg_oom();
    nftnl_set_set_str(s, NFTNL_SET_TABLE, table);
    nftnl_set_set_str(s, NFTNL_SET_NAME, family == AF_INET ? "ban4" : "ban6");
    nftnl_set_set_u32(s, NFTNL_SET_FAMILY, NFPROTO_INET);
    nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, key, family == AF_INET ? 4 : 16);
    nftnl_set_elem_add(s, e);
    struct nlmsghdr *nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETSETELEM, NFPROTO_INET, 0, seq);
    nftnl_set_elems_nlmsg_build_payload(nlh, s);
    nftnl_set_free(s);
    return nlh;
}

struct nlmsghdr *enforce_nft_msg_getrules(char *buf, uint32_t seq, const char *table)
{
    struct nlmsghdr *nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETRULE, NFPROTO_INET, NLM_F_DUMP | NLM_F_ACK, seq);
    mnl_attr_put_strz(nlh, NFTA_RULE_TABLE, table);
    mnl_attr_put_strz(nlh, NFTA_RULE_CHAIN, "input");
    return nlh;
}

struct nlmsghdr *enforce_nft_msg_gettable(char *buf, uint32_t seq, const char *table)
{
    struct nlmsghdr *nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETTABLE, NFPROTO_INET, NLM_F_ACK, seq);
    mnl_attr_put_strz(nlh, NFTA_TABLE_NAME, table);
    return nlh;
}

static int elem_collect(struct nftnl_set_elem *e, void *data)
{
    struct enforce_nft_rawlist *out = data;
    uint32_t klen = 0;
    const void *key = nftnl_set_elem_get(e, NFTNL_SET_ELEM_KEY, &klen);
    if (!key || klen != (out->family == AF_INET ? 4u : 16u)) return 0;   /* not ours: skip */
    if (out->n == out->cap) {
        out->cap = out->cap ? out->cap * 2 : 256;
        out->v = sg_xrealloc(out->v, out->cap * sizeof *out->v);
    }
    struct enforce_nft_raw *r = &out->v[out->n++];
    memset(r, 0, sizeof *r);
    memcpy(r->key, key, klen);
    if (nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_FLAGS)) r->flags = nftnl_set_elem_get_u32(e, NFTNL_SET_ELEM_FLAGS);
    if (nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_TIMEOUT)) r->timeout_ms = nftnl_set_elem_get_u64(e, NFTNL_SET_ELEM_TIMEOUT);
    if (nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_EXPIRATION))
        r->expiration_ms = nftnl_set_elem_get_u64(e, NFTNL_SET_ELEM_EXPIRATION);
    return 0;
}

int enforce_nft_msg_parse_elems(const struct nlmsghdr *nlh, struct enforce_nft_rawlist *out)
{
    struct nftnl_set *s = nftnl_set_alloc();
    if (!s) sg_oom();
    int rc = -1;
    if (nftnl_set_elems_nlmsg_parse(nlh, s) < 0) goto out;
    nftnl_set_elem_foreach(s, elem_collect, out);
    rc = 0;
out:
    nftnl_set_free(s);
    return rc;
}

struct rule_info {
    uint64_t packets, bytes;
    int which;
};

static int rule_expr(struct nftnl_expr *e, void *data)
{
    struct rule_info *ri = data;
    const char *name = nftnl_expr_get_str(e, NFTNL_EXPR_NAME);
    if (!name) return 0;
    if (!strcmp(name, "counter")) {
        ri->packets = nftnl_expr_get_u64(e, NFTNL_EXPR_CTR_PACKETS);
        ri->bytes = nftnl_expr_get_u64(e, NFTNL_EXPR_CTR_BYTES);
    } else if (!strcmp(name, "payload") &&
               nftnl_expr_get_u32(e, NFTNL_EXPR_PAYLOAD_BASE) == NFT_PAYLOAD_NETWORK_HEADER) {
        uint32_t len = nftnl_expr_get_u32(e, NFTNL_EXPR_PAYLOAD_LEN);
        ri->which = len == 4 ? 1 : len == 16 ? 2 : ri->which;
    }
    return 0;
}

int enforce_nft_msg_parse_rule(const struct nlmsghdr *nlh, uint64_t *packets, uint64_t *bytes)
{
    struct rule_info ri = {0, 0, 0};
    struct nftnl_rule *r = nftnl_rule_alloc();
    if (!r) sg_oom();
    if (nftnl_rule_nlmsg_parse(nlh, r) == 0) nftnl_expr_foreach(r, rule_expr, &ri);
    nftnl_rule_free(r);
    *packets = ri.packets;
    *bytes = ri.bytes;
    return ri.which;
}
