/* text.h: what text from outside may hold, and how it is printed. Peer records, log lines and
 * requests carry attacker-chosen bytes; a key or reason is stored only when sg_text_clean accepts
 * it, and anything printed for a human (journal, CLI tables) goes through sg_text_escape.
 * Below every folder: detect, gossip, enforce and agent may all use it. */
#ifndef SG_COMMON_TEXT_H
#define SG_COMMON_TEXT_H

#include <stdbool.h>
#include <stddef.h>

/* Length (1-4) of the well-formed UTF-8 sequence at p (NUL-terminated), 0 when it is not one
 * (stray continuation byte, overlong form, surrogate, above U+10FFFF, or cut short). */
size_t sg_utf8_len(const char *p);

/* True when s[0..n) is valid UTF-8 and holds no control character: C0 (U+0000-U+001F), DEL and
 * C1 (U+0080-U+009F, which some terminals obey as escape sequences). */
bool sg_text_clean(const char *s, size_t n);

/* Copies s into out (size > 0, always NUL-terminated) with every byte that is not clean text
 * written as \xNN, and a backslash as \\, so a line printed from it holds no control character and
 * no invalid UTF-8. Output that does not fit is cut at a character boundary. Returns out. */
char *sg_text_escape(const char *s, char *out, size_t size);

#endif
