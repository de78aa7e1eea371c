/* evidence.h: evidence of legitimacy, read from (and written into) the replicated state, so every
 * node sees the cluster-wide facts. The scenario engine, `sgcluster explain` and the Dovecot
 * auth-policy service ask it the same questions.
 *
 * Facts (evidence keys, formats in common/key.h):
 *   good users of an address / a prefix   "okusers|ip:X", "okusers|net:P"   users who logged in or
 *                                         sent authenticated mail from it, over evidence_window
 *   known-good addresses of a user        "goodaddrs|user:U"   addresses U logged in from, kept
 *                                         known_good_for in day buckets (long-lived keys)
 *   stale clients of an address           "stale|ip:X"         users whose failures from X were
 *                                         counted once this window because X is known-good for them
 *   tried passwords of an address         "pwfail|ip:X"        (user, password hash) pairs failing
 *                                         from X (Dovecot's auth_verbose_passwords = sha1:N)
 *   failing addresses of a user           "failaddrs|user:U"   distinct addresses failing for U
 *                                         (accounts that logged in within known_good_for only)
 * Memory: each fact is a windowed sketch (exact up to GOSSIP_SKETCH_EXACT_MAX items per bucket, a
 * 1 KiB HyperLogLog beyond), under the state's key cap. A user with more than that many addresses in
 * one day stops being "known-good" from that day's new addresses: conservative, never more trusting. */
#ifndef SG_AGENT_EVIDENCE_H
#define SG_AGENT_EVIDENCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/config.h"
#include "common/key.h"
#include "gossip/state.h"

/* The prefix subject ("net:P/len", cfg->prefix4 or prefix6) holding the address subject ip. */
int evidence_prefix_of(const struct config *cfg, const struct sg_subject *ip, struct sg_subject *net);

/* Records that user logged in (or sent authenticated mail) from address ip at now_ms; nothing while
 * the user is held (a hijacked account earns no trust). */
void evidence_record_good(struct gossip_state *st, const struct config *cfg, const char *ip, const char *user,
                          int64_t now_ms);
/* Records a failure of user from ip (per-user failing addresses, for evidence_under_attack), for a
 * user with a known-good address only: an account that logged in within known_good_for. */
void evidence_record_fail(struct gossip_state *st, const struct config *cfg, const char *ip, const char *user,
                          int64_t now_ms);

/* Distinct good users of an address or prefix subject over evidence_window. */
uint64_t evidence_good_users(const struct gossip_state *st, const struct config *cfg, const struct sg_subject *s,
                             int64_t now_ms);
/* True when user logged in from ip within known_good_for, and is not held. */
bool evidence_known_good(const struct gossip_state *st, const struct config *cfg, const char *ip, const char *user,
                         int64_t now_ms);
/* Distinct addresses known-good for user (within known_good_for). */
uint64_t evidence_known_good_count(const struct gossip_state *st, const struct config *cfg, const char *user,
                                   int64_t now_ms);
/* Distinct users failing from the address subject ip over evidence_window. */
uint64_t evidence_failing_users(const struct gossip_state *st, const struct config *cfg, const struct sg_subject *ip,
                                int64_t now_ms);
/* A failure of user from ip, ip known-good for user: a stale client. Records it and returns true the
 * first time in window_s (cluster-wide), false for its repeats. */
bool evidence_stale_first(struct gossip_state *st, const char *ip, const char *user, int64_t window_s, int64_t now_ms);
/* A failure of user from ip whose tried password's hash Dovecot logged (pwhash, hex): records the
 * (user, hash) pair and returns true when it already failed from ip within window_s: a client
 * repeating one wrong password, not a guesser trying different ones. */
bool evidence_password_repeat(struct gossip_state *st, const char *ip, const char *user, const char *pwhash,
                              int64_t window_s, int64_t now_ms);
/* Users seen as stale clients of ip over evidence_window. */
uint64_t evidence_stale_users(const struct gossip_state *st, const struct config *cfg, const char *ip, int64_t now_ms);
/* Distinct addresses failing for user over attack_window. */
uint64_t evidence_failing_addresses(const struct gossip_state *st, const struct config *cfg, const char *user,
                                    int64_t now_ms);
/* True while user is under a distributed attack: attack_addresses (> 0) distinct failing addresses. */
bool evidence_under_attack(const struct gossip_state *st, const struct config *cfg, const char *user, int64_t now_ms);

/* NULL when the prefix subject net may be banned as a prefix; else why not (written into why):
 * it lies in a customer network, or it has prefix_good_users good users. */
const char *evidence_protects_prefix(const struct gossip_state *st, const struct config *cfg,
                                     const struct sg_subject *net, int64_t now_ms, char *why, size_t size);

#endif
