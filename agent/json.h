/* json.h: the few JSON writing helpers the CLI and the control socket need (output only). */
#ifndef SG_AGENT_JSON_H
#define SG_AGENT_JSON_H

#include <stdio.h>

/* Writes s as a JSON string literal (quotes included); NULL writes null. Bytes that are not valid
 * UTF-8 are written as \u00XX escapes so the output stays valid JSON whatever a log line held. */
void json_str(FILE *out, const char *s);
/* Writes {"error":MSG,"code":CODE} and a newline: every refusal and error under --json, whether the
 * agent or the CLI found it. A trailing newline of msg is left out. */
void json_error(FILE *out, int code, const char *msg);
/* json_error with a printf format. */
void json_errorf(FILE *out, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
