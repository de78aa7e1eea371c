/* state_same.h: the unit tests' check that two replicated states are equal: byte-identical
 * canonical encodings (gossip_state_encode). Header-only, for test programs that include cmocka. */
#ifndef SG_TESTS_STATE_SAME_H
#define SG_TESTS_STATE_SAME_H

#include <stdlib.h>

#include "gossip/state.h"

static inline void sg_test_assert_same_encoding(const struct gossip_state *a, const struct gossip_state *b)
{
    uint8_t *ea, *eb;
    size_t la, lb;
    gossip_state_encode(a, &ea, &la);
    gossip_state_encode(b, &eb, &lb);
    assert_int_equal(la, lb);
    assert_memory_equal(ea, eb, la);
    free(ea);
    free(eb);
}

#endif
