/* bansnap.c: a state snapshot holding many bans, for integration tests that need an agent with a
 * large ban set from its start (typing them in one `sgcluster ban` at a time would take minutes).
 *
 *   bansnap KEY_DIR NODE SNAPSHOT COUNT
 * Writes to SNAPSHOT (the agent's state_dir/state.snap) COUNT block bans of the addresses
 * 10.1.0.0, 10.1.0.1, ... for one hour, decided by NODE and signed with its key from KEY_DIR, as
 * the agent would have saved them: it restores them at start. Exit 0 when written. */
#include <stdio.h>
#include <stdlib.h>

#include "agent/util.h"
#include "gossip/state.h"

#define HOUR_MS 3600000

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: bansnap KEY_DIR NODE SNAPSHOT COUNT\n");
        return 2;
    }
    unsigned long n = strtoul(argv[4], NULL, 10);
    if (n < 1 || n > 16u << 16) {
        fprintf(stderr, "bansnap: COUNT from 1 to %u\n", 16u << 16);
        return 2;
    }
    struct gossip_identity *id = gossip_identity_load(argv[1], argv[2]);
    if (!id) {
        fprintf(stderr, "bansnap: no key for %s in %s\n", argv[2], argv[1]);
        return 1;
    }
    struct gossip_keyring *kr = gossip_keyring_new();
    gossip_keyring_add_identity(kr, id);
    struct gossip_state_config cfg;
    gossip_state_config_default(&cfg);
    if (cfg.limits.author_max_records < n) fprintf(stderr, "bansnap: note: more bans than an agent takes from one author\n");
    cfg.limits.author_max_records = n;
    cfg.limits.author_max_span_per_hour = n;
    struct gossip_state *st = gossip_state_new(&cfg, id, kr, 1);
    int64_t now = sg_now_ms();
    unsigned long put = 0;
    for (unsigned long i = 0; i < n; i++) {
        char key[64];
        snprintf(key, sizeof key, "ip:10.%lu.%lu.%lu", 1 + (i >> 16), (i >> 8) & 255, i & 255);
        struct gossip_ban_spec sp = {.key = key, .action = GOSSIP_BAN_ACTION_BAN, .kind = GOSSIP_BAN_KIND_BLOCK,
                                     .expires_at = now + HOUR_MS, .level = 1, .reason = "bansnap", .scenario = "auth-ip"};
        if (gossip_state_ban_put(st, &sp, now, NULL) == 0) put++;
    }
    int rc = put == n && gossip_state_save(st, argv[3]) == 0 ? 0 : 1;
    printf("bansnap: %lu bans written to %s%s\n", put, argv[3], rc ? " (FAILED)" : "");
    gossip_state_destroy(&st);
    gossip_keyring_destroy(&kr);
    gossip_identity_destroy(&id);
    return rc;
}
