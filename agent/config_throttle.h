/* config_throttle.h: the [throttle] section (sending limits, their map file and allowlist) and the
 * old [policy] quota_* keys, which are shorthand for limits. */
#ifndef SG_AGENT_CONFIG_THROTTLE_H
#define SG_AGENT_CONFIG_THROTTLE_H

#include <stddef.h>

#include "agent/config.h"

/* Sets one [throttle] key: "limit.NAME = SPEC", "map = PATH", "allow = SUBJECT, ...". On error
 * returns -1 with a message in err. */
int config_throttle_set(struct config *cfg, const char *name, const char *value, char *err, size_t errlen);
/* After the whole file: turns quota_user_messages, quota_user_recipients and quota_ip_messages
 * (with quota_window) into the limits of the same names, and checks the allowlist entries. Errors
 * go to cfg->errors. */
void config_throttle_finish(struct config *cfg);

#endif
