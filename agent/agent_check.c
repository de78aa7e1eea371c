/* agent_check.c: `sgagent -n`: runs the agent's own builder (agent_build.c) and reports, without
 * starting anything: what it accepts, start accepts. */
#include "agent/agent.h"
#include "agent/agent_build.h"
#include "agent/util.h"

#include <stdio.h>

int agent_check_config(const char *cfg_path)
{
    struct agent_parts parts;
    sg_log_set_level(SG_LOG_WARN);   /* the components' own notes stay out; their errors stay in */
    int rc = agent_build(cfg_path, NULL, AGENT_BUILD_DRYRUN, &parts) < 0 ? 1 : 0;
    for (size_t i = 0; i < parts.errors.n; i++) fprintf(stderr, "%s\n", parts.errors.v[i]);
    for (size_t i = 0; i < parts.warnings.n; i++) fprintf(stderr, "%s\n", parts.warnings.v[i]);
    if (!rc) printf("configuration OK\n");
    agent_parts_release(&parts);
    return rc;
}
