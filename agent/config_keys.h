/* config_keys.h: the one table of the configuration's sections and keys. The parser accepts a key
 * only when it is here (agent/config.c), knows here which keys are lists, records here the line each
 * key was set on (so later checks name file:line), and suggests from here the key or section an
 * unknown one was probably meant to be ("did you mean"). */
#ifndef SG_AGENT_CONFIG_KEYS_H
#define SG_AGENT_CONFIG_KEYS_H

#include <stdbool.h>
#include <stddef.h>

#define CONFIG_KEY_LIST 1u   /* a list: an indented continuation line adds to it */

struct config_key {
    const char *section;     /* "node", ...; "peer" and "scenario" for [peer NAME] and [scenario ID] */
    const char *name;
    unsigned flags;
};

/* The table, in the order of the man page; config_keys_count() entries. */
extern const struct config_key config_keys[];
size_t config_keys_count(void);

/* The table's section for a header: "node" for [node], "peer" for [peer n2], "scenario" for
 * [scenario auth-ip]; NULL when the header names no section. */
const char *config_section_kind(const char *header);
/* Index of (section kind, name) in the table, or -1. */
int config_key_index(const char *kind, const char *name);
/* The known key of that section nearest to name by edit distance (typing slips: a letter missing,
 * doubled, swapped or wrong), or NULL when none is near. */
const char *config_key_suggest(const char *kind, const char *name);
/* The same for a section header: "[detect]" for "detetc", "[scenario auth-ip]" for "scenaro auth-ip"
 * (written into buf). NULL when none is near. */
const char *config_section_suggest(const char *header, char *buf, size_t size);
/* Optimal string alignment distance (Damerau-Levenshtein without repeated edits of one substring);
 * strings longer than 64 bytes count as far from everything. */
size_t config_edit_distance(const char *a, const char *b);

#endif
