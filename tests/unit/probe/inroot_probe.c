/* inroot-probe: nspod-exec's lookups inside a root (nspod/executor/inroot.c)
 * and its device table (mounts.c), for tests/unit/test_mount_paths.py and
 * test_device_access.py. Linked with the executor's own files: what is
 * tested is what starts containers.
 *
 *   inroot-probe ROOT make|makefile|beneath|lookup|lexists PATH [MODE]
 *   inroot-probe - device c|b|f|d MAJOR MINOR
 *   inroot-probe - identity PASSWD_FILE GROUP_FILE USER IS_NAME RUN_AS_GROUP SUPPLEMENTAL
 *
 * Prints the path the resulting fd names (lexists, device: 1 or 0;
 * identity: "UID GID G1,G2 HOME", or nspod-exec's JSON error line), or
 * "error ERRNO TEXT" and exits 1. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "executor.h"

int main(int argc, char **argv)
{
    if (argc < 4)
        return 2;
    const char *op = argv[2], *path = argv[3];
    if (strcmp(op, "device") == 0) {
        char kind = argv[3][0];
        mode_t type = kind == 'c' ? S_IFCHR : kind == 'b' ? S_IFBLK : kind == 'd' ? S_IFDIR : S_IFREG;
        struct stat st = {.st_mode = type | 0666,
                          .st_rdev = makedev(atoi(argv[4]), atoi(argv[5]))};
        printf("%d\n", openable_device(&st));
        return 0;
    }
    if (strcmp(op, "identity") == 0 && argc == 9) {
        report_fd = 1;  /* a refusal is printed as nspod-exec reports it */
        char *text[2];
        for (int i = 0; i < 2; i++) {
            FILE *f = fopen(argv[3 + i], "r");
            text[i] = calloc(1, 1 << 20);
            if (f) {
                size_t n = fread(text[i], 1, (1 << 20) - 1, f);
                text[i][n] = 0;
                fclose(f);
            }
        }
        struct identity id;
        image_identity(text[0], text[1], argv[5], strcmp(argv[6], "1") == 0, strtol(argv[7], NULL, 10), argv[8], &id);
        printf("%u %u ", id.uid, id.gid);
        for (int i = 0; i < id.ngroups; i++)
            printf("%s%u", i ? "," : "", id.groups[i]);
        printf(" %s\n", id.home);
        return 0;
    }
    int root = open_root(argv[1]), fd = -1;
    int mode = argc > 4 ? (int)strtol(argv[4], NULL, 8) : -1;
    if (root >= 0) {
        if (strcmp(op, "make") == 0)
            fd = make_in(root, path, 1, IN_ROOT, mode);
        else if (strcmp(op, "makefile") == 0)
            fd = make_in(root, path, 0, IN_ROOT, mode);
        else if (strcmp(op, "beneath") == 0)
            fd = make_in(root, path, 1, BENEATH, mode);
        else if (strcmp(op, "lookup") == 0)
            fd = lookup(root, path, IN_ROOT);
        else if (strcmp(op, "lexists") == 0) {
            printf("%d\n", lexists(root, path));
            return 0;
        }
    }
    if (fd < 0) {
        printf("error %d %s\n", err_no, err_text);
        return 1;
    }
    char p[32], target[4096];
    ssize_t n = readlink(fd_path(fd, p), target, sizeof target - 1);
    target[n < 0 ? 0 : n] = 0;
    printf("%s\n", target);
    return 0;
}
