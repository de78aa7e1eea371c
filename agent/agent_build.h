/* agent_build.h: the one builder from a configuration file to the agent's components. Start, SIGHUP
 * reload, `sgagent -n` and `sgcluster replay` all call it, so they accept exactly the same files:
 * what -n accepts starts, and what it refuses does not.
 *
 * It parses the file (and its scenario files), reads the sending limits' map file ([throttle] map,
 * so SIGHUP reloads it), loads this node's key and the peers' public keys,
 * compiles the rules, checks every address through the enforcement guard's own rules, checks the
 * directories the agent will need, and opens the enforcement backend without touching the kernel.
 * It binds no socket: what only running can show (a port in use) is left to start. */
#ifndef SG_AGENT_BUILD_H
#define SG_AGENT_BUILD_H

#include <stdbool.h>
#include <stddef.h>

#include "agent/config.h"
#include "detect/detect.h"
#include "enforce/enforce.h"
#include "gossip/keyring.h"
#include "gossip/transport.h"

enum {
    AGENT_BUILD_OFFLINE = 1,     /* replay: signs with a throwaway identity and reads the files it is given:
                                  * no key files, runtime directories, log paths or journal */
    AGENT_BUILD_DRYRUN = 2,      /* -n, replay: the dry-run backend whatever the file says (same guard) */
};

struct agent_parts {
    struct config *cfg;                    /* NULL only when the file cannot be opened */
    struct gossip_identity *id;            /* this node's key (NULL with AGENT_BUILD_OFFLINE) */
    struct gossip_keyring *kr;             /* own key and the peers' keys found in peer_key_dir */
    struct detect_rules *rules;
    struct detect_parser *parser;          /* reads rules */
    struct enforce *enf;                   /* backend opened, kernel untouched (enforce_setup not called) */
    struct strlist errors;                 /* "file:line: message"; a build with errors has none of the above */
    struct strlist warnings;               /* e.g. a peer left out for lack of a public key */
};

/* Builds everything from path. rules_dir, when not NULL, replaces [detect] rules (replay --rules).
 * Returns 0 with every component in *out, or -1 with out->errors filled (and no component). Either
 * way the caller calls agent_parts_release(out). */
int agent_build(const char *path, const char *rules_dir, unsigned flags, struct agent_parts *out);
/* Releases whatever out still holds (a component moved elsewhere is set to NULL by the taker). */
void agent_parts_release(struct agent_parts *p);

/* The configured peers that have a key in kr, in configuration order (strings borrowed from cfg);
 * *n is set. The caller frees the array. A peer without a key is left out (agent_build warned). */
struct gossip_transport_peer *agent_build_peers(const struct config *cfg, const struct gossip_keyring *kr, size_t *n);
/* True when a transport built from (n, nkr) would differ from one built from (o, okr): binds, CURVE,
 * the peers and their endpoints, or any key of the keyring (added, removed or rotated). */
bool agent_build_gossip_differs(const struct config *o, const struct gossip_keyring *okr, const struct config *n,
                                const struct gossip_keyring *nkr);
/* True when the enforcement front end built from n would differ from one built from o: the backend,
 * the nft table's ports and verdict, or the guard (allowlist, node and peer addresses, minimum
 * prefixes). Same config: a reload may keep the running front end, and its reconcile. */
bool agent_build_enforce_differs(const struct config *o, const struct config *n);

#endif
