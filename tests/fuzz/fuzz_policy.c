/* fuzz_policy.c: libFuzzer target for the policy request framer and parser, fed the way the server
 * feeds them (in chunks, pipelined requests), plus the action helpers on whatever was parsed. */
#include "enforce/policy.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Small limits so that the fuzzer reaches every limit branch with short inputs. */
#define MAX_LINE 200
#define MAX_REQUEST 1024
#define MAX_ATTRS 16

static void use_request(const struct policy_request *req)
{
    uint32_t rcpts = 0;
    (void)policy_request_counts(req, POLICY_COUNT_END_OF_MESSAGE, &rcpts);
    (void)policy_request_counts(req, POLICY_COUNT_DATA, &rcpts);
    (void)policy_request_get(req, "sasl_username");
    char action[POLICY_ACTION_MAX];
    struct policy_verdict v = {.held = req->sasl_username[0] == 'h', .throttled = true,
                               .reason = req->client_address};
    struct policy_action_cfg cfg = {.hold_action = POLICY_HOLD_HOLD, .hold_text = req->sender};
    if (policy_action_format(action, sizeof action, &v, &cfg) != 0 || strchr(action, '\n'))
        abort();                        /* an action must never carry a line break */
    (void)policy_action_classify(action);
    for (size_t i = 0; i < req->nattrs; i++)
        (void)policy_action_classify(req->attrs[i].value);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    /* The first byte picks the chunk size in which bytes "arrive". */
    size_t chunk = (size_t)(data[0] % 64) + 1;
    data++;
    size--;
    char *buf = malloc(size ? size : 1);
    if (!buf)
        abort();
    memcpy(buf, data, size);
    struct policy_frame f = {0};
    struct policy_request req;
    size_t head = 0, avail = 0;
    while (avail < size) {
        avail = avail + chunk > size ? size : avail + chunk;
        for (;;) {
            size_t end = 0;
            enum policy_err err;
            int r = policy_frame_scan(&f, buf + head, avail - head, MAX_LINE, MAX_REQUEST,
                                      MAX_ATTRS, &end, &err);
            if (r < 0)
                goto done;              /* the server answers an error and closes here */
            if (r == 0)
                break;
            if (end == 0 || end > avail - head)
                abort();
            if (policy_request_parse(buf + head, end, MAX_ATTRS, &req, &err) == 0)
                use_request(&req);
            else if (err == POLICY_ERR_NONE)
                abort();
            head += end;
            memset(&f, 0, sizeof f);
        }
    }
done:
    free(buf);
    return 0;
}
