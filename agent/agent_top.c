/* agent_top.c: `sgcluster top`: the busiest counter keys over a window, cluster-wide. */
#include "agent/agent.h"
#include "agent/json.h"
#include "agent/util.h"
#include "common/key.h"
#include "common/text.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

struct top_entry {
    const char *key;
    uint64_t total;
};

static int top_cmp(const void *x, const void *y)
{
    const struct top_entry *a = x, *b = y;
    if (a->total != b->total) return a->total < b->total ? 1 : -1;
    return strcmp(a->key, b->key);
}

static int key_cmp(const void *x, const void *y)
{
    const struct gossip_slot_entry *a = x, *b = y;
    return strcmp(a->key, b->key);
}

struct gossip_body *agent_state_dump(struct agent *a)
{
    /* The whole state, every origin's slots (a sync export would hold only this node's own). */
    uint8_t *enc;
    size_t enc_len;
    gossip_state_encode(a->st, &enc, &enc_len);
    struct gossip_body *body = NULL;
    enum gossip_wire_err e = gossip_body_decode(enc, enc_len, SIZE_MAX / 2, &body);
    free(enc);
    return e == GOSSIP_WIRE_OK ? body : NULL;
}

/* The state has no iterator over counters; its export (the same one sync uses) gives every slot. */
int agent_top(struct agent *a, int argc, char **argv, bool json, FILE *out)
{
    bool users = false;
    long limit = 20;
    int64_t window_s = 600;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--users")) users = true;
        else if (!strcmp(argv[i], "-n") && i + 1 < argc) {
            char *end;
            limit = strtol(argv[++i], &end, 10);
            if (*end || limit < 1 || limit > 10000) { fprintf(out, "bad -n '%s' (1-10000)\n", argv[i]); return 2; }
        } else if (!strcmp(argv[i], "--window") && i + 1 < argc) {
            if (sg_parse_duration(argv[++i], &window_s) < 0 || window_s < 1) { fprintf(out, "bad --window '%s'\n", argv[i]); return 2; }
        } else {
            fprintf(out, "usage: top [--users] [-n N] [--window DURATION]\n");
            return 2;
        }
    }
    struct gossip_body *body = agent_state_dump(a);
    if (!body) {
        fprintf(out, "internal error: state encoding did not decode\n");
        return 1;
    }
    int64_t now = sg_now_ms();
    int64_t since = now - window_s * 1000;
    if (body->n_slots > 1) qsort(body->slots, body->n_slots, sizeof *body->slots, key_cmp);
    struct top_entry *t = sg_xcalloc(body->n_slots + 1, sizeof *t);
    size_t n = 0;
    for (size_t i = 0; i < body->n_slots; i++) {
        const struct gossip_slot_entry *s = &body->slots[i];
        size_t scope;
        struct sg_subject subj;
        if (sg_evidence_parse(s->key, &scope, &subj) < 0 || users != (subj.type == SG_SUBJ_USER)) continue;
        if (s->bucket < since) continue;
        if (n && !strcmp(t[n - 1].key, s->key)) t[n - 1].total += s->count;
        else t[n++] = (struct top_entry){.key = s->key, .total = s->count};
    }
    if (n > 1) qsort(t, n, sizeof *t, top_cmp);
    if ((size_t)limit < n) n = (size_t)limit;
    if (json) fputc('[', out);
    else fprintf(out, "%-60s %10s   (last %" PRId64 "s, cluster-wide)\n", "KEY", "COUNT", window_s);
    for (size_t i = 0; i < n; i++) {
        if (json) {
            fprintf(out, "%s{\"key\":", i ? "," : "");
            json_str(out, t[i].key);
            fprintf(out, ",\"count\":%" PRIu64 "}", t[i].total);
        } else {
            char key[GOSSIP_KEY_MAX * 4 + 1];
            fprintf(out, "%-60s %10" PRIu64 "\n", sg_text_escape(t[i].key, key, sizeof key), t[i].total);
        }
    }
    if (json) fputs("]\n", out);
    free(t);
    gossip_body_destroy(&body);
    return 0;
}
