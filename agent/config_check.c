/* config_check.c: checks of a parsed configuration as a whole: the gossip endpoints and binds, and
 * whether plaintext gossip would leave the machine. Errors name the line of the key concerned. */
#include "agent/config.h"
#include "gossip/endpoint.h"
#include "gossip/keyring.h"

#include <stdio.h>
#include <string.h>

/* One endpoint: its syntax, and whether it leaves the machine (counted in *public). */
static void check_endpoint(struct config *cfg, int line, const char *what, const char *ep, bool bind, bool *public)
{
    struct gossip_endpoint e;
    char why[128];
    if (gossip_endpoint_parse(ep, bind, &e, why, sizeof why) < 0)
        config_error(cfg, cfg->path, line, "%s: '%s': %s", what, ep, why);
    else if (!gossip_endpoint_loopback(&e))
        *public = true;
}

/* A site name goes into status JSON unescaped, as peer names do: the keyring's alphabet. */
static bool site_ok(const char *s)
{
    size_t n = strlen(s);
    return n > 0 && n <= GOSSIP_NAME_MAX && strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") == n;
}

/* The gossip settings as the transport needs them: both binds when there are peers, both endpoints
 * of every peer, and no plaintext off loopback unless the operator asked for it. */
void config_check_gossip(struct config *cfg)
{
    const char *file = cfg->path;
    bool public = false;
    int gline = config_key_line(cfg, "node", "gossip_bind");
    if (cfg->npeers && !cfg->gossip_bind) config_error(cfg, file, 0, "[node] gossip_bind is required when peers are configured");
    if (cfg->gossip_bind && !cfg->sync_bind) config_error(cfg, file, gline, "[node] sync_bind is required with gossip_bind");
    if (cfg->gossip_bind) check_endpoint(cfg, gline, "[node] gossip_bind", cfg->gossip_bind, true, &public);
    if (cfg->sync_bind)
        check_endpoint(cfg, config_key_line(cfg, "node", "sync_bind"), "[node] sync_bind", cfg->sync_bind, true, &public);
    for (size_t i = 0; i < cfg->npeers; i++) {
        struct config_peer *p = &cfg->peers[i];
        char what[128];
        snprintf(what, sizeof what, "[peer %s] pub", p->name);
        if (!p->pub_endpoint) config_error(cfg, file, p->line, "[peer %s] needs pub = tcp://HOST:PORT", p->name);
        else check_endpoint(cfg, p->line, what, p->pub_endpoint, false, &public);
        snprintf(what, sizeof what, "[peer %s] sync", p->name);
        if (!p->sync_endpoint) config_error(cfg, file, p->line, "[peer %s] needs sync = tcp://HOST:PORT", p->name);
        else check_endpoint(cfg, p->line, what, p->sync_endpoint, false, &public);
        if (!strcmp(p->name, cfg->node_name ? cfg->node_name : "")) config_error(cfg, file, p->line, "[peer %s] is this node itself", p->name);
        for (size_t j = 0; j < i; j++)
            if (!strcmp(cfg->peers[j].name, p->name)) config_error(cfg, file, p->line, "[peer %s] defined twice", p->name);
        if ((p->site || p->relay) && !cfg->site)
            config_error(cfg, file, p->line, "[peer %s] has a site or relay: set [node] site too", p->name);
        if (p->site && !site_ok(p->site))
            config_error(cfg, file, p->line, "[peer %s] site: 1 to %d of A-Z a-z 0-9 . _ -", p->name, GOSSIP_NAME_MAX);
    }
    if (cfg->relay && !cfg->site) config_error(cfg, file, config_key_line(cfg, "node", "relay"), "[node] relay = yes needs [node] site");
    if (cfg->site && !site_ok(cfg->site))
        config_error(cfg, file, config_key_line(cfg, "node", "site"), "[node] site: 1 to %d of A-Z a-z 0-9 . _ -", GOSSIP_NAME_MAX);
    if (public && !cfg->curve && !cfg->allow_plaintext)
        config_error(cfg, file, config_key_line(cfg, "node", "curve"), "curve = no on an address other than loopback would let anyone who reaches "
                                   "the gossip ports read every ban: set curve = yes, or allow_plaintext = yes "
                                   "to accept that");
}

