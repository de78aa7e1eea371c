/* tune_live.c: `sgcluster tune --live`: the cluster's current counters (the agent's `top`, over the
 * control socket) held against each scenario's current and proposed thresholds. */
#include "agent/tune_live.h"
#include "agent/control.h"
#include "agent/tune_report.h"
#include "common/text.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

char *tune_live(const char *socket_path, const struct tune *t)
{
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    if (!f) return NULL;
    fprintf(f, "live counters (%s):\n", socket_path);
    for (size_t i = 0; i < tune_count(t); i++) {
        const struct tune_measure *m = tune_get(t, i);
        /* Distinct counts are sketches, which `top` does not list. */
        if (!m->sc || m->sc->measure == MEAS_DISTINCT_USERS || m->sc->measure == MEAS_DISTINCT_IPS) continue;
        char win[32];
        tune_fmt_duration(m->sc->window_s, win, sizeof win);
        char *req[] = {"top", "-n", "10000", "--window", win};
        char *body = NULL;
        int code = control_call(socket_path, 5, req, true, &body, 10000);
        if (code != 0) {
            fprintf(f, "  %s: agent unreachable or refused: %s", m->sc->id, body ? body : "\n");
            free(body);
            break;
        }
        json_error_t jerr;
        json_t *arr = json_loads(body, 0, &jerr);
        free(body);
        size_t plen = strlen(m->sc->id), over_now = 0, over_new = 0, keys = 0;
        uint64_t best = 0;
        char best_key[GOSSIP_KEY_MAX + 1] = "";
        size_t k;
        json_t *e;
        json_array_foreach(arr, k, e) {
            const char *key = json_string_value(json_object_get(e, "key"));
            json_int_t c = json_integer_value(json_object_get(e, "count"));
            if (!key || strncmp(key, m->sc->id, plen) || key[plen] != '|' || c < 0) continue;
            keys++;
            over_now += c >= m->sc->threshold;
            over_new += c >= m->prop.threshold;
            if ((uint64_t)c > best) {
                best = (uint64_t)c;
                snprintf(best_key, sizeof best_key, "%s", key + plen + 1);
            }
        }
        json_decref(arr);
        char esc[2 * GOSSIP_KEY_MAX];
        fprintf(f, "  %-16s %zu keys in the last %s, %zu at or above the current %" PRId64 ", %zu at or above the proposed %" PRId64,
                m->sc->id, keys, win, over_now, m->sc->threshold, over_new, m->prop.threshold);
        if (keys) fprintf(f, ", highest %" PRIu64 " (%s)", best, sg_text_escape(best_key, esc, sizeof esc));
        fputc('\n', f);
    }
    fclose(f);
    return out;
}
