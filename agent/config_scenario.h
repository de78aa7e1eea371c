/* config_scenario.h: [scenario ID] sections: parsing keys and checking each scenario is complete. */
#ifndef SG_AGENT_CONFIG_SCENARIO_H
#define SG_AGENT_CONFIG_SCENARIO_H

#include "agent/config.h"

/* Appends a scenario with defaults (or returns the existing one of that id, so an operator's
 * later file overrides keys of a shipped scenario). The pointer is valid until the next call. */
struct config_scenario *config_scenario_new(struct config *cfg, const char *id, const char *file, int line);
/* Sets one key; on error returns -1 with a message in err. */
int config_scenario_set(struct config_scenario *sc, const char *name, const char *value, char *err, size_t errlen);
/* Adds an error for every incomplete scenario. */
void config_scenarios_check(struct config *cfg);
void config_scenario_free(struct config_scenario *sc);

#endif
