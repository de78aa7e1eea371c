/* shipped_rules.h: the shipped detection rules (SG_ROOT/detect/rules.d; ./detect/rules.d without
 * SG_ROOT), loaded as the unit tests and fuzz targets use them. Header-only (a static function) for
 * the test programs including it. */
#ifndef SG_TESTS_SHIPPED_RULES_H
#define SG_TESTS_SHIPPED_RULES_H

#include <stdio.h>
#include <stdlib.h>

#include "detect/detect.h"

/* The shipped rules, owned by the caller; NULL with the reason in err. */
static inline struct detect_rules *sg_test_shipped_rules(char *err, size_t errlen)
{
    char dir[4096];
    const char *root = getenv("SG_ROOT");
    snprintf(dir, sizeof dir, "%s/detect/rules.d", root ? root : ".");
    const char *dirs[] = {dir, NULL};
    return detect_rules_new(dirs, err, errlen);
}

#endif
