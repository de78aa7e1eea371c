/* policy_parse.c: framing and parsing of Postfix policy-delegation requests (name=value lines
 * ended by an empty line), with the size limits checked as bytes arrive. Pure: no I/O. */
#include "enforce/policy.h"

#include <stddef.h>
#include <string.h>

const char *policy_err_str(enum policy_err err)
{
    switch (err) {
    case POLICY_ERR_NONE: return "no error";
    case POLICY_ERR_MALFORMED: return "malformed request";
    case POLICY_ERR_LINE_TOO_LONG: return "attribute line too long";
    case POLICY_ERR_TOO_BIG: return "request too big";
    case POLICY_ERR_TOO_MANY_ATTRS: return "too many attributes";
    }
    return "unknown error";
}

static int frame_fail(enum policy_err *err, enum policy_err e)
{
    *err = e;
    return -1;
}

/* The scan resumes where the previous call stopped, so a request trickling in byte by byte costs
 * O(total bytes), not O(bytes^2). Limits are checked on partial data too: a client sending an
 * endless line is refused once it passes max_line, without buffering the rest. */
int policy_frame_scan(struct policy_frame *f, const char *buf, size_t len, size_t max_line,
                      size_t max_request, size_t max_attrs, size_t *end, enum policy_err *err)
{
    *err = POLICY_ERR_NONE;
    size_t i = f->scan;
    while (i < len) {
        const char *nl = memchr(buf + i, '\n', len - i);
        size_t stop = nl ? (size_t)(nl - buf) : len;
        size_t line_len = stop - f->line_start;
        if (nl && line_len > 0 && buf[stop - 1] == '\r')
            line_len--;                 /* "\r\n" tolerated from hand-typed or test clients */
        if (line_len > max_line)
            return frame_fail(err, POLICY_ERR_LINE_TOO_LONG);
        if (!nl) {
            i = len;
            break;
        }
        if (stop + 1 > max_request)
            return frame_fail(err, POLICY_ERR_TOO_BIG);
        if (line_len == 0) {
            /* An empty line with no attribute before it is no request at all. */
            if (f->lines == 0)
                return frame_fail(err, POLICY_ERR_MALFORMED);
            *end = stop + 1;
            return 1;
        }
        if (++f->lines > max_attrs)
            return frame_fail(err, POLICY_ERR_TOO_MANY_ATTRS);
        f->line_start = stop + 1;
        i = stop + 1;
    }
    f->scan = i;
    if (len > max_request)
        return frame_fail(err, POLICY_ERR_TOO_BIG);
    return 0;
}

/* Where each known attribute lands in struct policy_request. Names are compared length first:
 * a request has ~30 attributes, and strcmp against every known name was most of the parse time. */
enum attr_kind { ATTR_STR, ATTR_U32, ATTR_U64 };
#define ATTR(name, field, kind) {name, sizeof name - 1, offsetof(struct policy_request, field), kind}
static const struct {
    const char *name;
    size_t len;
    size_t off;
    enum attr_kind kind;
} known[] = {
    ATTR("request", request, ATTR_STR),
    ATTR("protocol_state", protocol_state, ATTR_STR),
    ATTR("protocol_name", protocol_name, ATTR_STR),
    ATTR("client_address", client_address, ATTR_STR),
    ATTR("client_name", client_name, ATTR_STR),
    ATTR("reverse_client_name", reverse_client_name, ATTR_STR),
    ATTR("helo_name", helo_name, ATTR_STR),
    ATTR("sasl_method", sasl_method, ATTR_STR),
    ATTR("sasl_username", sasl_username, ATTR_STR),
    ATTR("sasl_sender", sasl_sender, ATTR_STR),
    ATTR("sender", sender, ATTR_STR),
    ATTR("recipient", recipient, ATTR_STR),
    ATTR("queue_id", queue_id, ATTR_STR),
    ATTR("instance", instance, ATTR_STR),
    ATTR("policy_context", policy_context, ATTR_STR),
    ATTR("server_address", server_address, ATTR_STR),
    ATTR("stress", stress, ATTR_STR),
    ATTR("recipient_count", recipient_count, ATTR_U32),
    ATTR("size", size, ATTR_U64),
};
#undef ATTR

/* Strict unsigned decimal: digits only, no sign, no overflow past max. "" reads as 0, because
 * Postfix sends "name=" for a value it does not have. */
static int parse_uint(const char *s, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        unsigned d = (unsigned)(*s - '0');
        if (v > (max - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

/* Stores a known attribute into its field. Returns -1 for a bad number. */
static int set_known(struct policy_request *out, const char *name, size_t nlen, const char *value)
{
    for (size_t k = 0; k < sizeof known / sizeof known[0]; k++) {
        if (known[k].len != nlen || memcmp(known[k].name, name, nlen) != 0)
            continue;
        char *field = (char *)out + known[k].off;
        uint64_t v;
        switch (known[k].kind) {
        case ATTR_STR:
            memcpy(field, &value, sizeof value);
            return 0;
        case ATTR_U32:
            if (parse_uint(value, UINT32_MAX, &v) != 0)
                return -1;
            out->recipient_count = (uint32_t)v;
            return 0;
        case ATTR_U64:
            if (parse_uint(value, UINT64_MAX, &v) != 0)
                return -1;
            out->size = v;
            return 0;
        }
    }
    return 0;
}

static int parse_fail(enum policy_err *err, enum policy_err e)
{
    *err = e;
    return -1;
}

int policy_request_parse(char *buf, size_t len, size_t max_attrs, struct policy_request *out,
                         enum policy_err *err)
{
    memset(out, 0, sizeof *out);
    for (size_t k = 0; k < sizeof known / sizeof known[0]; k++) {
        const char *empty = "";
        if (known[k].kind == ATTR_STR)
            memcpy((char *)out + known[k].off, &empty, sizeof empty);
    }
    *err = POLICY_ERR_NONE;
    if (max_attrs > POLICY_ATTRS_MAX)
        max_attrs = POLICY_ATTRS_MAX;

    size_t pos = 0;
    bool ended = false;
    while (pos < len) {
        char *line = buf + pos;
        char *nl = memchr(line, '\n', len - pos);
        if (!nl)
            break;                      /* not terminated: reported below */
        size_t n = (size_t)(nl - line);
        pos += n + 1;
        if (n > 0 && line[n - 1] == '\r')
            n--;
        line[n] = '\0';
        if (n == 0) {
            ended = true;
            break;
        }
        if (memchr(line, '\0', n))
            return parse_fail(err, POLICY_ERR_MALFORMED);
        char *eq = memchr(line, '=', n);
        if (!eq || eq == line)
            return parse_fail(err, POLICY_ERR_MALFORMED);
        if (out->nattrs >= max_attrs)
            return parse_fail(err, POLICY_ERR_TOO_MANY_ATTRS);
        *eq = '\0';
        out->attrs[out->nattrs].name = line;
        out->attrs[out->nattrs].value = eq + 1;
        out->nattrs++;
        if (set_known(out, line, (size_t)(eq - line), eq + 1) != 0)
            return parse_fail(err, POLICY_ERR_MALFORMED);
    }
    if (!ended || out->nattrs == 0)
        return parse_fail(err, POLICY_ERR_MALFORMED);
    if (out->request[0] == '\0')
        return parse_fail(err, POLICY_ERR_MALFORMED);
    return 0;
}

const char *policy_request_get(const struct policy_request *req, const char *name)
{
    for (size_t a = req->nattrs; a-- > 0;)
        if (strcmp(req->attrs[a].name, name) == 0)
            return req->attrs[a].value;
    return NULL;
}
