/* tally.h: counters keyed by a pair of short label values (events by kind and service, decisions
 * by scenario and action), for the metrics endpoint. The number of pairs is capped: once full, a
 * new pair is counted under ("other", "other"), so no input can grow it without bound. */
#ifndef SG_AGENT_TALLY_H
#define SG_AGENT_TALLY_H

#include <stddef.h>
#include <stdint.h>

#define TALLY_VALUE_MAX 64     /* bytes of one label value, NUL included; longer ones are cut */
#define TALLY_OTHER "other"

struct tally;

/* cap: the most pairs kept, ("other", "other") included. Owned by the caller. */
struct tally *tally_new(size_t cap);
void tally_destroy(struct tally **pt);
/* Adds n to the pair (a, b). */
void tally_add(struct tally *t, const char *a, const char *b, uint64_t n);
/* The pairs, in the order they were first seen. */
size_t tally_count(const struct tally *t);
/* The i-th pair (strings borrowed until the next tally_add) and its count; -1 when i is out of range. */
int tally_at(const struct tally *t, size_t i, const char **a, const char **b, uint64_t *n);
/* The sum over every pair. */
uint64_t tally_sum(const struct tally *t);

#endif
