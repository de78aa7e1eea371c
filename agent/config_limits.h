/* config_limits.h: the [limits] section: bounds on every replicated record (gossip/state.h). */
#ifndef SG_AGENT_CONFIG_LIMITS_H
#define SG_AGENT_CONFIG_LIMITS_H

#include <stddef.h>

#include "agent/config.h"
#include "gossip/state.h"

/* Sets one [limits] key of cfg (its record limits, or max_keys); on error returns -1 with a message in err. */
int config_limits_set(struct config *cfg, const char *name, const char *value, char *err, size_t errlen);
/* The defaults of the [limits] keys that are not record limits (max_keys: the state's own default). */
void config_limits_default(struct config *cfg);
/* The record limits the configuration asks for ([limits], and the minimum prefix of [enforce]),
 * for every state built from it. */
void config_record_limits(const struct config *cfg, struct gossip_record_limits *out);

#endif
