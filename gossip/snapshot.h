/* snapshot.h: the state written to disk in slices across loop ticks (an incremental snapshot), so
 * that encoding and writing a million keys never holds the event loop for more than one slice.
 *
 * A save walks the counters, then the sketches, then the bans, each in increasing placement order
 * (gossip_table_range), a bounded number of entries per slice, appending their encoding to path.tmp
 * after the file's head, and after the last entries the trailer whose checksum was kept as the
 * slices went (gossip/snapfile.h); then path.tmp is fsync'd and renamed over path. The state may change
 * between slices: every entry is a CRDT merged by max, union or last-writer-wins, so what is written
 * is, entry by entry, no older than the state at the start and no newer than the state at the end,
 * and restoring it (gossip_state_load, a merge) gives a state between the two. An entry created
 * behind the cursor is left for the next snapshot, one dropped ahead of it is not written. When
 * nothing changes the file equals gossip_state_save's byte for byte. A crash before the rename
 * leaves the previous file in place (path.tmp is truncated by the next start). */
#ifndef GOSSIP_SNAPSHOT_H
#define GOSSIP_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gossip/state.h"

#define GOSSIP_SNAPSHOT_SLICE_KEYS 2048   /* entries per slice by default: about 2 ms of CPU */

/* Counters since gossip_snapshot_new; all monotonic but the last_* figures. */
struct gossip_snapshot_stats {
    uint64_t started;        /* saves begun */
    uint64_t saved;          /* snapshots written and renamed into place */
    uint64_t failed;         /* open, write, fsync or rename failed */
    uint64_t skipped;        /* starts refused because a save was still running */
    uint64_t aborted;        /* saves given up for a synchronous one (gossip_snapshot_abort) */
    uint64_t last_slices;    /* slices of the last successful save */
    int64_t last_save_ms;    /* wall time of the last successful save, start to rename */
    int64_t max_slice_us;    /* the longest step since start (wall): a slice, or the final fsync and rename */
    uint64_t unreadable;     /* snapshots gossip_snapshot_restore refused (kept as path.bad) */
};

struct gossip_snapshot;

/* Owned by the caller. slice_keys: entries per slice (0: GOSSIP_SNAPSHOT_SLICE_KEYS). */
struct gossip_snapshot *gossip_snapshot_new(size_t slice_keys);
/* Aborts a running save (path.tmp removed, the previous file left), then frees. Safe twice. */
void gossip_snapshot_destroy(struct gossip_snapshot **ps);

/* Opens path.tmp (truncated) and arms a save; nothing is written yet. path is copied. Returns 0
 * when started, 1 when a save is still running (nothing started, counted skipped), -1 when path.tmp
 * cannot be opened (counted failed, logged). */
int gossip_snapshot_start(struct gossip_snapshot *s, const char *path);
/* Writes the next slice of st (the same state at every step of a save), or, after the last
 * slice, fsyncs path.tmp and renames it into place (a step of its own). Returns 0 while more
 * remains (or nothing runs), 1 when the snapshot is in place, -1 when the save failed (counted,
 * logged, path.tmp removed, the previous file left). */
int gossip_snapshot_step(struct gossip_snapshot *s, const struct gossip_state *st);
/* Steps until the running save ends; the result of the last step (0 when nothing runs). */
int gossip_snapshot_finish(struct gossip_snapshot *s, const struct gossip_state *st);
/* Gives a running save up: path.tmp removed, counted aborted. For a synchronous save that replaces it. */
void gossip_snapshot_abort(struct gossip_snapshot *s);
bool gossip_snapshot_running(const struct gossip_snapshot *s);
/* Restores path into st (gossip_state_load). A file that cannot be read whole (cut short, between
 * two entries too, or altered: its trailer does not match) is refused, nothing of it merged, counted
 * unreadable, logged, and renamed to path.bad: the next save would otherwise
 * replace the only copy of the previous state. Returns 0, or -1 when refused. */
int gossip_snapshot_restore(struct gossip_snapshot *s, struct gossip_state *st, const char *path, int64_t now_ms);
void gossip_snapshot_get_stats(const struct gossip_snapshot *s, struct gossip_snapshot_stats *out);

#endif
