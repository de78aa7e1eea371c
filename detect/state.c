/* state.c: saves and restores the read cursors of log sources, so a restart resumes where it stopped.
 * One text line per source: "dev ino offset head-hash path"; the path comes last so it may hold spaces.
 * The journal's cursor is one line "journal CURSOR" (sd-journal cursors hold no blanks). */
#include "detect/detect.h"
#include "detect/journal.h"

#include "agent/util.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define STATE_MAGIC "sgcluster-cursors 1"
#define JOURNAL_TAG "journal "

int detect_state_save(const char *state_path, struct detect_source *const *src, size_t n, struct detect_journal *journal)
{
    size_t pl = strlen(state_path);
    char *tmp = sg_xmalloc(pl + 16);
    snprintf(tmp, pl + 16, "%s.tmp.%d", state_path, (int)getpid());
    FILE *f = fopen(tmp, "w");
    if (!f) goto fail;
    fprintf(f, "%s\n", STATE_MAGIC);
    for (size_t i = 0; i < n; i++) {
        struct detect_cursor c;
        const char *path = detect_source_path(src[i]);
        if (detect_source_get_cursor(src[i], &c) < 0 || strchr(path, '\n')) continue;
        fprintf(f, "%" PRIu64 " %" PRIu64 " %" PRId64 " %016" PRIx64 " %s\n", (uint64_t)c.dev, (uint64_t)c.ino,
                (int64_t)c.offset, c.head_hash, path);
    }
    const char *jc = journal ? detect_journal_get_cursor(journal) : NULL;
    if (jc && !strpbrk(jc, " \n")) fprintf(f, "%s%s\n", JOURNAL_TAG, jc);
    if (fflush(f) || fsync(fileno(f))) {
        fclose(f);
        goto fail_unlink;
    }
    if (fclose(f)) goto fail_unlink;
    if (rename(tmp, state_path)) goto fail_unlink;
    free(tmp);
    return 0;
fail_unlink:
    unlink(tmp);
fail:
    sg_log(SG_LOG_WARN, "%s: cannot save log cursors: %s", state_path, strerror(errno));
    free(tmp);
    return -1;
}

int detect_state_load(const char *state_path, struct detect_source *const *src, size_t n, struct detect_journal *journal)
{
    FILE *f = fopen(state_path, "r");
    if (!f) return errno == ENOENT ? 0 : -1;
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    int rc = 0, lineno = 0;
    while ((got = getline(&line, &cap, f)) > 0) {
        lineno++;
        if (line[got - 1] == '\n') line[--got] = '\0';
        if (lineno == 1) {
            if (strcmp(line, STATE_MAGIC)) { rc = -1; break; }
            continue;
        }
        if (!strncmp(line, JOURNAL_TAG, strlen(JOURNAL_TAG))) {
            if (journal && detect_journal_set_cursor(journal, line + strlen(JOURNAL_TAG)) < 0) {
                sg_log(SG_LOG_WARN, "%s:%d: journal cursor not found; the journal starts at its end", state_path, lineno);
                rc = -1;
            }
            continue;
        }
        uint64_t dev, ino, hash;
        int64_t off;
        int pos = 0;
        if (sscanf(line, "%" SCNu64 " %" SCNu64 " %" SCNd64 " %" SCNx64 " %n", &dev, &ino, &off, &hash, &pos) != 4 ||
            pos <= 0 || off < 0) {
            sg_log(SG_LOG_WARN, "%s:%d: malformed cursor line", state_path, lineno);
            rc = -1;
            continue;
        }
        for (size_t i = 0; i < n; i++)
            if (!strcmp(detect_source_path(src[i]), line + pos)) {
                struct detect_cursor c = {.dev = (dev_t)dev, .ino = (ino_t)ino, .offset = (off_t)off, .head_hash = hash};
                detect_source_set_cursor(src[i], &c);
            }
    }
    free(line);
    fclose(f);
    return rc;
}
