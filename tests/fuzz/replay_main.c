/* replay_main.c: runs a libFuzzer target over every file of a corpus directory, without libFuzzer. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) { perror(path); return -1; }
    struct stat st;
    if (fstat(fileno(f), &st) != 0) { fclose(f); return -1; }
    size_t n = (size_t)st.st_size;
    /* Exactly-sized heap copy so the sanitizers see any read past the input. */
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf) abort();
    size_t got = fread(buf, 1, n, f);
    fclose(f);
    LLVMFuzzerTestOneInput(buf, got);
    free(buf);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 2) { fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]); return 2; }
    DIR *d = opendir(argv[1]);
    if (!d) { perror(argv[1]); return 1; }
    int files = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", argv[1], e->d_name);
        if (replay_file(path) == 0) files++;
    }
    closedir(d);
    printf("replayed %d inputs from %s\n", files, argv[1]);
    return files > 0 ? 0 : 1;
}
