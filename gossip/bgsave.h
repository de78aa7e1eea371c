/* bgsave.h: snapshots written by a forked child (copy-on-write, as Redis's BGSAVE), so that
 * encoding and writing a state of a million keys (about a second) never stalls the event loop. */
#ifndef GOSSIP_BGSAVE_H
#define GOSSIP_BGSAVE_H

#include <stdbool.h>
#include <stdint.h>

#include "gossip/state.h"

/* Counters since gossip_bgsave_new; all monotonic but the last_* figures. */
struct gossip_bgsave_stats {
    uint64_t started;        /* children forked */
    uint64_t saved;          /* snapshots written and renamed into place */
    uint64_t failed;         /* fork refused, child failed or killed, or the rename failed */
    uint64_t skipped;        /* starts refused because a child was still writing */
    int64_t last_fork_us;    /* how long the last fork held the loop (page tables are copied) */
    int64_t last_save_ms;    /* wall time of the last successful save, fork to rename */
};

struct gossip_bgsave;

/* Owned by the caller. Turns transparent huge pages off for the whole process (PR_SET_THP_DISABLE):
 * after a fork, each write to a huge page would copy 2 MiB. Call it before the state grows (pages
 * already huge stay so). */
struct gossip_bgsave *gossip_bgsave_new(void);
/* Waits for a running child and finishes its save (gossip_bgsave_wait), then frees. Safe twice. */
void gossip_bgsave_destroy(struct gossip_bgsave **pb);

/* Forks a child that writes st to path.tmp (gossip_state_save_tmp, at lower CPU priority) and
 * _exits; the child touches nothing else (no ZeroMQ socket or context, no log). The parent goes
 * on at once; gossip_bgsave_poll renames path.tmp over path once the child succeeded. path is
 * copied. Returns 0 when started, 1 when a child is still running (nothing started, counted
 * skipped), -1 when fork failed (counted failed, logged). */
int gossip_bgsave_start(struct gossip_bgsave *b, const struct gossip_state *st, const char *path);
/* Non-blocking: reaps the child if it has ended. Returns 1 when a save finished and is in place,
 * 0 when nothing ended (or nothing runs), -1 when the save failed (counted, logged, path.tmp
 * removed, the previous snapshot left as it was). Call it from a timer. */
int gossip_bgsave_poll(struct gossip_bgsave *b);
/* As gossip_bgsave_poll, but waits for the child. 0 when nothing runs. */
int gossip_bgsave_wait(struct gossip_bgsave *b);
bool gossip_bgsave_running(const struct gossip_bgsave *b);
void gossip_bgsave_get_stats(const struct gossip_bgsave *b, struct gossip_bgsave_stats *out);

#endif
