/* test_agent_config_keys.c: the one table of configuration keys: every key in it is parsed, unknown
 * keys and sections are errors at their own line with "did you mean", and checks made after parsing
 * (agent_build) report the line of the key they concern, not file:0. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/agent_build.h"
#include "agent/config.h"
#include "agent/config_keys.h"

static char *write_tmp(const char *text)
{
    char *path = strdup("/tmp/sgkeysXXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

static const char *find_error(const struct strlist *errors, const char *needle)
{
    for (size_t i = 0; i < errors->n; i++)
        if (strstr(errors->v[i], needle)) return errors->v[i];
    return NULL;
}

static void assert_error(const struct strlist *errors, const char *file, int line, const char *text)
{
    char want[1024];
    if (line) snprintf(want, sizeof want, "%s:%d: %s", file, line, text);
    else snprintf(want, sizeof want, "%s", text);
    if (!find_error(errors, want)) {
        for (size_t i = 0; i < errors->n; i++) print_message("  got: %s\n", errors->v[i]);
        fail_msg("no error '%s'", want);
    }
}

static void test_edit_distance(void **state)
{
    (void)state;
    assert_int_equal(config_edit_distance("logs", "logs"), 0);
    assert_int_equal(config_edit_distance("lgos", "logs"), 1);        /* swapped */
    assert_int_equal(config_edit_distance("threshhold", "threshold"), 1);  /* doubled */
    assert_int_equal(config_edit_distance("backnd", "backend"), 1);   /* missing */
    assert_int_equal(config_edit_distance("vardict", "verdict"), 1);  /* wrong */
    assert_int_equal(config_edit_distance("", "abc"), 3);
    assert_int_equal(config_edit_distance("kitten", "sitting"), 3);
}

static void test_suggestions(void **state)
{
    (void)state;
    assert_string_equal(config_key_suggest("detect", "lgos"), "logs");
    assert_string_equal(config_key_suggest("scenario", "threshhold"), "threshold");
    assert_string_equal(config_key_suggest("limits", "max_bans"), "max_ban");
    assert_string_equal(config_key_suggest("node", "gossip_bnd"), "gossip_bind");
    assert_null(config_key_suggest("detect", "completely_different"));
    assert_null(config_key_suggest("nosuchsection", "logs"));
    char buf[128];
    assert_string_equal(config_section_suggest("detetc", buf, sizeof buf), "[detect]");
    assert_string_equal(config_section_suggest("Enforce", buf, sizeof buf), "[enforce]");
    assert_string_equal(config_section_suggest("scenaro auth-ip", buf, sizeof buf), "[scenario auth-ip]");
    assert_null(config_section_suggest("zzzzzzzz", buf, sizeof buf));
    assert_string_equal(config_section_kind("peer mx2"), "peer");
    assert_null(config_section_kind("peer"));
    assert_null(config_section_kind("node extra"));
}

/* Every key of the table reaches a handler: whatever its value, the parser never calls it unknown
 * and no section handler lacks it. */
static void test_every_key_is_handled(void **state)
{
    (void)state;
    for (size_t i = 0; i < config_keys_count(); i++) {
        const struct config_key *k = &config_keys[i];
        char text[512];
        const char *sec = !strcmp(k->section, "peer") ? "peer mx9" : !strcmp(k->section, "scenario") ? "scenario s9" : k->section;
        snprintf(text, sizeof text, "[node]\nname = n1\n[%s]\n%s = x\n", sec, k->name);
        char *p = write_tmp(text);
        struct config *cfg = config_load(p, NULL);
        assert_non_null(cfg);
        const char *bad = find_error(&cfg->errors, "internal:");
        if (!bad) bad = find_error(&cfg->errors, "unknown key");
        if (!bad) bad = find_error(&cfg->errors, "unknown section");
        if (bad) fail_msg("[%s] %s: %s", k->section, k->name, bad);
        config_destroy(&cfg);
        unlink(p);
        free(p);
    }
}

static void test_unknown_key_and_section(void **state)
{
    (void)state;
    char *p = write_tmp("[node]\n"                 /* 1 */
                        "name = n1\n"              /* 2 */
                        "[detetc]\n"               /* 3: misspelt, with nothing under it */
                        "[detect]\n"               /* 4 */
                        "lgos = /var/log/mail.log\n"   /* 5 */
                        "[enforce]\n"              /* 6 */
                        "vardict = drop\n"         /* 7 */
                        "zzzzzzzzzz = 1\n"         /* 8: nothing near */
                        "[scenaro auth-ip]\n"      /* 9 */
                        "threshold = 3\n"          /* 10 */
                        "[scenario auth-ip]\n"     /* 11 */
                        "threshhold = 3\n");       /* 12 */
    struct config *cfg = config_load(p, NULL);
    assert_non_null(cfg);
    assert_error(&cfg->errors, p, 3, "unknown section [detetc]; did you mean [detect]?");
    assert_error(&cfg->errors, p, 5, "unknown key 'lgos' in [detect]; did you mean logs?");
    assert_error(&cfg->errors, p, 7, "unknown key 'vardict' in [enforce]; did you mean verdict?");
    assert_error(&cfg->errors, p, 8, "unknown key 'zzzzzzzzzz' in [enforce]");
    assert_null(find_error(&cfg->errors, "zzzzzzzzzz' in [enforce]; did you mean"));
    assert_error(&cfg->errors, p, 9, "unknown section [scenaro auth-ip]; did you mean [scenario auth-ip]?");
    assert_error(&cfg->errors, p, 12, "unknown key 'threshhold' in [scenario auth-ip]; did you mean threshold?");
    /* Each reported once, though the main file is read in two passes. */
    size_t n = 0;
    for (size_t i = 0; i < cfg->errors.n; i++) n += strstr(cfg->errors.v[i], "detetc") != NULL;
    assert_int_equal(n, 1);
    config_destroy(&cfg);
    unlink(p);
    free(p);
}

/* Checks made after parsing name the line of the key they concern; an error with no line says
 * "file: message", never "file:0:". */
static void test_build_errors_have_lines(void **state)
{
    (void)state;
    const char *root = getenv("SG_ROOT");
    char text[2048];
    snprintf(text, sizeof text,
             "[node]\n"                                   /* 1 */
             "name = n1\n"                                /* 2 */
             "addresses = 192.0.2.0/24\n"                 /* 3: a prefix, not one address */
             "[detect]\n"                                 /* 4 */
             "rules = %s/detect/rules.d\n"                /* 5 */
             "scenarios = %s/agent/scenarios.d\n"         /* 6 */
             "logs = /nonexistent-dir-sg/mail.log\n"      /* 7 */
             "[enforce]\n"                                /* 8 */
             "backend = dryrun\n"                         /* 9 */
             "allowlist = 10.0.0.0/8, 1.2.3.x\n",         /* 10 */
             root ? root : ".", root ? root : ".");
    char *p = write_tmp(text);
    struct agent_parts parts;
    assert_int_equal(agent_build(p, NULL, AGENT_BUILD_OFFLINE | AGENT_BUILD_DRYRUN, &parts), -1);
    assert_error(&parts.errors, p, 3, "[node] addresses: '192.0.2.0/24' is not one address");
    assert_error(&parts.errors, p, 7, "[detect] logs: the directory /nonexistent-dir-sg");
    assert_error(&parts.errors, p, 10, "[enforce] allowlist: '1.2.3.x' is not an address");
    for (size_t i = 0; i < parts.errors.n; i++)
        if (strstr(parts.errors.v[i], ":0:")) fail_msg("line 0 in '%s'", parts.errors.v[i]);
    agent_parts_release(&parts);
    unlink(p);
    free(p);

    /* A required key that is missing has no line: "file: message". */
    p = write_tmp("[enforce]\nbackend = dryrun\n");
    struct config *cfg = config_load(p, NULL);
    char want[512];
    snprintf(want, sizeof want, "%s: [node] name is required", p);
    assert_error(&cfg->errors, p, 0, want);
    config_destroy(&cfg);
    unlink(p);
    free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_edit_distance),
        cmocka_unit_test(test_suggestions),
        cmocka_unit_test(test_every_key_is_handled),
        cmocka_unit_test(test_unknown_key_and_section),
        cmocka_unit_test(test_build_errors_have_lines),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
