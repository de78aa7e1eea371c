/* rules.c: reads rule files (detect/rules.d/NAME.conf and operator directories) and compiles them.
 *
 * The format is INI-like but read here rather than by libinih: every key must keep its line number for
 * "file:line: message" errors, patterns are long and contain ';' and '#', which inih would cut or treat
 * as comments, and a value is taken verbatim up to the end of the line.
 *
 *   [rule-id]
 *   program = postfix/smtpd dovecot   ; program names as shell patterns; "-" = lines without a program
 *                                     ; tag (Exim's own log file); "*" or absent = any line
 *   literal = authentication failed   ; '|' separates alternatives, each >= 4 bytes
 *   pattern = ^warning: [^\[]*\[(?<ip>[^\]]+)\].*SASL \S+ authentication failed
 *   kind = auth_fail              ; auth_fail auth_ok relay_denied rejected conn sent
 *   service = smtp                ; service_from_tag = yes derives it from the tag when it can
 *   role = smtp-sasl              ; optional join/de-duplication role (join.h, join_*.c)
 *   subject = tag                 ; optional: match from the program tag on
 *   always_dup = yes              ; optional: the line always accompanies a counted one
 *   reported = yes                ; optional: Dovecot's auth-policy reports carry the same attempts
 *                                 ; (detect_rules_drop_reported turns such rules off)
 *   enabled = no                  ; in an operator file: removes a shipped rule of that id
 */
#include "detect/rules_int.h"

#include "agent/util.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


static void set_err(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static void rule_clear(struct detect_rule *r)
{
    free(r->file);
    for (size_t i = 0; i < r->n_progs; i++) free(r->progs[i]);
    free(r->progs);
    free(r->literal);
    free(r->pattern);
    pcre2_code_free(r->re);
    memset(r, 0, sizeof *r);
}

static bool parse_bool(const char *v, bool *out)
{
    if (!strcmp(v, "yes") || !strcmp(v, "true") || !strcmp(v, "1") || !strcmp(v, "on")) { *out = true; return true; }
    if (!strcmp(v, "no") || !strcmp(v, "false") || !strcmp(v, "0") || !strcmp(v, "off")) { *out = false; return true; }
    return false;
}

static void set_progs(struct detect_rule *r, const char *v)
{
    for (size_t i = 0; i < r->n_progs; i++) free(r->progs[i]);
    free(r->progs);
    r->progs = NULL;
    r->n_progs = 0;
    r->untagged = false;
    const char *p = v;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ',') p++;
        const char *q = p;
        while (*q && *q != ' ' && *q != '\t' && *q != ',') q++;
        if (q - p == 1 && *p == '-') {
            r->untagged = true;
        } else if (q > p && !(q - p == 1 && *p == '*')) {
            r->progs = sg_xrealloc(r->progs, (r->n_progs + 1) * sizeof *r->progs);
            r->progs[r->n_progs++] = sg_xstrndup(p, (size_t)(q - p));
        }
        p = q;
    }
}

/* Applies "key = value" to the rule being read. Returns 0, or -1 with err set. */
static int rule_set(struct detect_rule *r, const char *key, const char *val, const char *file, int line, char *err,
                    size_t errlen)
{
    if (!strcmp(key, "program")) {
        set_progs(r, val);
    } else if (!strcmp(key, "literal")) {
        /* Alternatives are separated by '|', spaces around each are ignored. */
        char *lit = sg_xstrdup(val);
        for (const char *p = lit; *p;) {
            const char *bar = strchr(p, '|'), *q = bar ? bar : p + strlen(p), *a = p, *b = q;
            while (a < b && *a == ' ') a++;
            while (b > a && b[-1] == ' ') b--;
            if (b - a < 4) {
                set_err(err, errlen, "%s:%d: each literal must be at least 4 bytes", file, line);
                free(lit);
                return -1;
            }
            p = bar ? bar + 1 : q;
        }
        free(r->literal);
        r->literal = lit;
    } else if (!strcmp(key, "pattern")) {
        free(r->pattern);
        r->pattern = sg_xstrdup(val);
        r->pattern_line = line;
    } else if (!strcmp(key, "kind")) {
        if (detect_kind_parse(val, &r->kind)) {
            set_err(err, errlen, "%s:%d: unknown kind '%s'", file, line, val);
            return -1;
        }
    } else if (!strcmp(key, "service")) {
        if (!*val || strlen(val) >= sizeof r->service) { set_err(err, errlen, "%s:%d: bad service", file, line); return -1; }
        strcpy(r->service, val);
    } else if (!strcmp(key, "role")) {
        if (!strcmp(val, "none")) {
            r->join = NULL;
        } else if (detect_join_role_find(val, &r->join_family, &r->role) == 0) {
            r->join = detect_join_families[r->join_family];
        } else {
            set_err(err, errlen, "%s:%d: unknown role '%s'", file, line, val);
            return -1;
        }
    } else if (!strcmp(key, "subject")) {
        if (strcmp(val, "tag") && strcmp(val, "message")) {
            set_err(err, errlen, "%s:%d: subject must be 'tag' or 'message'", file, line);
            return -1;
        }
        r->subject_tag = !strcmp(val, "tag");
    } else if (!strcmp(key, "service_from_tag") || !strcmp(key, "always_dup") || !strcmp(key, "enabled") ||
               !strcmp(key, "reported")) {
        bool b;
        if (!parse_bool(val, &b)) { set_err(err, errlen, "%s:%d: %s must be yes or no", file, line, key); return -1; }
        if (key[0] == 's') r->service_from_tag = b;
        else if (key[0] == 'a') r->always_dup = b;
        else if (key[0] == 'r') r->reported = b;
        else r->enabled = b;
    } else {
        set_err(err, errlen, "%s:%d: unknown key '%s'", file, line, key);
        return -1;
    }
    return 0;
}

/* A finished section either replaces the rule of the same id, or is appended. */
static int rule_commit(struct detect_rules *rs, struct detect_rule *r, char *err, size_t errlen)
{
    if (!r->id[0]) return 0;
    bool disable_only = !r->pattern && !r->enabled;
    if (!disable_only) {
        const char *missing = !r->pattern ? "pattern" : !r->literal ? "literal" : NULL;
        if (missing) {
            set_err(err, errlen, "%s:%d: rule '%s' has no %s", r->file, r->line, r->id, missing);
            return -1;
        }
    }
    for (size_t i = 0; i < rs->n; i++)
        if (!strcmp(rs->v[i].id, r->id)) {
            if (disable_only) {
                rs->v[i].enabled = false;
                rule_clear(r);
            } else {
                rule_clear(&rs->v[i]);
                rs->v[i] = *r;
            }
            memset(r, 0, sizeof *r);
            rs->compiled = false;
            return 0;
        }
    if (disable_only) { rule_clear(r); return 0; }   /* disabling a rule nobody defined: nothing to do */
    if (rs->n == DETECT_MAX_RULES) {
        set_err(err, errlen, "%s:%d: more than %d rules", r->file, r->line, DETECT_MAX_RULES);
        return -1;
    }
    if (rs->n == rs->cap) {
        rs->cap = rs->cap ? rs->cap * 2 : 32;
        rs->v = sg_xrealloc(rs->v, rs->cap * sizeof *rs->v);
    }
    rs->v[rs->n++] = *r;
    memset(r, 0, sizeof *r);
    rs->compiled = false;
    return 0;
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t') s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n')) s[--n] = '\0';
    return s;
}

int detect_rules_load_file(struct detect_rules *rs, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) { set_err(err, errlen, "%s: %s", path, strerror(errno)); return -1; }
    struct detect_rule cur;
    memset(&cur, 0, sizeof cur);
    char *buf = NULL;
    size_t cap = 0;
    ssize_t got;
    int lineno = 0, rc = 0;
    while ((got = getline(&buf, &cap, f)) >= 0) {
        lineno++;
        if (memchr(buf, '\0', (size_t)got)) { set_err(err, errlen, "%s:%d: NUL byte", path, lineno); rc = -1; break; }
        char *s = trim(buf);
        if (!*s || *s == '#' || *s == ';') continue;
        if (*s == '[') {
            char *e = strchr(s, ']');
            if (!e || e[1] || e == s + 1 || (size_t)(e - s - 1) >= sizeof cur.id) {
                set_err(err, errlen, "%s:%d: bad section header (want [rule-id], under %zu bytes)", path, lineno, sizeof cur.id);
                rc = -1;
                break;
            }
            if ((rc = rule_commit(rs, &cur, err, errlen))) break;
            memcpy(cur.id, s + 1, (size_t)(e - s - 1));
            cur.id[e - s - 1] = '\0';
            cur.file = sg_xstrdup(path);
            cur.line = lineno;
            cur.enabled = true;
            cur.kind = SG_EV_AUTH_FAIL;
            strcpy(cur.service, "smtp");
            continue;
        }
        char *eq = strchr(s, '=');
        if (!eq) { set_err(err, errlen, "%s:%d: expected key = value", path, lineno); rc = -1; break; }
        *eq = '\0';
        char *key = trim(s), *val = trim(eq + 1);
        if (!cur.id[0]) { set_err(err, errlen, "%s:%d: '%s' outside a [rule] section", path, lineno, key); rc = -1; break; }
        if ((rc = rule_set(&cur, key, val, path, lineno, err, errlen))) break;
    }
    if (!rc) rc = rule_commit(rs, &cur, err, errlen);
    rule_clear(&cur);
    free(buf);
    fclose(f);
    return rc;
}

static int conf_filter(const struct dirent *d)
{
    size_t n = strlen(d->d_name);
    return d->d_name[0] != '.' && n > 5 && !strcmp(d->d_name + n - 5, ".conf");
}

static int load_dir(struct detect_rules *rs, const char *dir, bool must_exist, char *err, size_t errlen)
{
    struct dirent **names;
    int n = scandir(dir, &names, conf_filter, alphasort);
    if (n < 0) {
        if (!must_exist && errno == ENOENT) return 0;
        set_err(err, errlen, "%s: %s", dir, strerror(errno));
        return -1;
    }
    int rc = 0;
    for (int i = 0; i < n; i++) {
        if (!rc) {
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", dir, names[i]->d_name);
            rc = detect_rules_load_file(rs, path, err, errlen);
        }
        free(names[i]);
    }
    free(names);
    return rc;
}

static int group(const pcre2_code *re, const char *name)
{
    int n = pcre2_substring_number_from_name(re, (PCRE2_SPTR)name);
    return n > 0 ? n : -1;
}

/* The named groups r's role needs and its pattern lacks, as "qid and nrcpt"; false when none. A rule
 * without a role needs the address. */
static bool missing_groups(const struct detect_rule *r, char *out, size_t n)
{
    const struct { unsigned bit; const char *name; int g; } groups[] = {
        {DETECT_G_IP, "ip", r->g_ip},       {DETECT_G_QID, "qid", r->g_qid}, {DETECT_G_USER, "user", r->g_user},
        {DETECT_G_NRCPT, "nrcpt", r->g_nrcpt}, {DETECT_G_OK, "ok", r->g_ok},  {DETECT_G_COUNT, "count", r->g_count},
    };
    unsigned needs = r->join ? r->join->roles[r->role].needs : DETECT_G_IP;
    out[0] = '\0';
    for (size_t i = 0; i < sizeof groups / sizeof groups[0]; i++)
        if ((needs & groups[i].bit) && groups[i].g < 0)
            snprintf(out + strlen(out), n - strlen(out), "%s%s", out[0] ? " and " : "", groups[i].name);
    return out[0] != '\0';
}

int detect_rules_compile(struct detect_rules *rs, char *err, size_t errlen)
{
    rs->max_groups = 1;
    memset(rs->any_prog, 0, sizeof rs->any_prog);
    for (size_t i = 0; i < rs->n; i++) {
        struct detect_rule *r = &rs->v[i];
        if (!r->enabled) continue;
        if (!r->re) {
            int ec;
            PCRE2_SIZE off;
            r->re = pcre2_compile((PCRE2_SPTR)r->pattern, PCRE2_ZERO_TERMINATED, 0, &ec, &off, NULL);
            if (!r->re) {
                PCRE2_UCHAR msg[160];
                pcre2_get_error_message(ec, msg, sizeof msg);
                set_err(err, errlen, "%s:%d: rule '%s': pattern error at offset %zu: %s", r->file, r->pattern_line, r->id,
                        (size_t)off, (char *)msg);
                return -1;
            }
            /* JIT can be refused (no executable memory); the interpreter is slower but correct. */
            r->jit = pcre2_jit_compile(r->re, PCRE2_JIT_COMPLETE) == 0;
        }
        r->g_ip = group(r->re, "ip");
        r->g_user = group(r->re, "user");
        r->g_count = group(r->re, "count");
        r->g_session = group(r->re, "session");
        r->g_qid = group(r->re, "qid");
        r->g_service = group(r->re, "service");
        r->g_nrcpt = group(r->re, "nrcpt");
        r->g_ok = group(r->re, "ok");
        r->g_ruser = group(r->re, "ruser");
        r->g_pwhash = group(r->re, "pwhash");
        r->g_sender = group(r->re, "sender");
        r->g_size = group(r->re, "size");
        char missing[64];
        if (missing_groups(r, missing, sizeof missing)) {
            set_err(err, errlen, "%s:%d: rule '%s': pattern needs the named group(s) %s", r->file, r->pattern_line, r->id,
                    missing);
            return -1;
        }
        uint32_t cc = 0;
        pcre2_pattern_info(r->re, PCRE2_INFO_CAPTURECOUNT, &cc);
        if (cc + 1 > rs->max_groups) rs->max_groups = cc + 1;
        if (!r->n_progs || r->untagged) rs->any_prog[i >> 6] |= 1ULL << (i & 63);
    }
    detect_lit_build(&rs->lits, rs);
    rs->compiled = true;
    return 0;
}

struct detect_rules *detect_rules_new(const char *const *dirs, char *err, size_t errlen)
{
    struct detect_rules *rs = sg_xcalloc(1, sizeof *rs);
    for (size_t i = 0; dirs && dirs[i]; i++)
        if (load_dir(rs, dirs[i], i == 0, err, errlen)) goto fail;
    if (detect_rules_compile(rs, err, errlen)) goto fail;
    return rs;
fail:
    detect_rules_destroy(&rs);
    return NULL;
}

void detect_rules_destroy(struct detect_rules **p)
{
    if (!p || !*p) return;
    struct detect_rules *rs = *p;
    for (size_t i = 0; i < rs->n; i++) rule_clear(&rs->v[i]);
    free(rs->v);
    detect_lit_free(&rs->lits);
    free(rs);
    *p = NULL;
}

int detect_rules_drop_reported(struct detect_rules *rs, char *err, size_t errlen)
{
    int n = 0;
    for (size_t i = 0; i < rs->n; i++)
        if (rs->v[i].enabled && rs->v[i].reported) {
            rs->v[i].enabled = false;
            n++;
        }
    return n && detect_rules_compile(rs, err, errlen) < 0 ? -1 : n;
}

size_t detect_rules_count(const struct detect_rules *r)
{
    return r ? r->n : 0;
}

const char *detect_rules_id(const struct detect_rules *r, size_t i)
{
    return (r && i < r->n) ? r->v[i].id : NULL;
}
