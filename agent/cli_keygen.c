/* cli_keygen.c: `sgcluster keygen --node NAME DIR` writes a node's Ed25519 keypair (NAME.key, NAME.pub). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "agent/cli.h"
#include "gossip/keyring.h"

int cli_keygen(int argc, char **argv);

static int usage(void)
{
    fprintf(stderr, "usage: sgcluster keygen --node NAME DIR\n"
                    "  writes DIR/NAME.key (secret, 0600) and DIR/NAME.pub; never overwrites\n");
    return 2;
}

int cli_keygen(int argc, char **argv)
{
    const char *name = NULL, *dir = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--node") && i + 1 < argc) name = argv[++i];
        else if (!strncmp(argv[i], "--node=", 7)) name = argv[i] + 7;
        else if (argv[i][0] == '-' || dir) return usage();
        else dir = argv[i];
    }
    if (!name || !dir) return usage();
    struct stat sb;
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        fprintf(stderr, "sgcluster keygen: %s is not a directory\n", dir);
        return 1;
    }
    if (gossip_identity_generate(dir, name) != 0) {
        if (errno == EEXIST)
            fprintf(stderr, "sgcluster keygen: %s/%s.key or .pub exists; refusing to overwrite\n", dir, name);
        else if (errno == EINVAL)
            fprintf(stderr, "sgcluster keygen: bad node name '%s' (use 1-63 of A-Z a-z 0-9 . _ -)\n", name);
        else
            fprintf(stderr, "sgcluster keygen: cannot write keys in %s: %s\n", dir, strerror(errno));
        return 1;
    }
    struct gossip_identity *id = gossip_identity_load(dir, name);
    if (!id) return 1;
    printf("wrote %s/%s.key (secret, mode 0600) and %s/%s.pub\norigin %016llx\n", dir, name, dir, name,
           (unsigned long long)id->origin);
    gossip_identity_destroy(&id);
    return 0;
}
