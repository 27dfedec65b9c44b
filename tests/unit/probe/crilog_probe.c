/* crilog-probe: the keeper's log pump (nspod/executor/keeper/crilog.c) on
 * scripted input, for tests/unit/test_keeper_crilog.py to hold against
 * nspod/crilog.py's LogWriter.
 *
 *   crilog-probe PATH MAX_SIZE MAX_FILES MAX_LINE < SCRIPT
 *
 * SCRIPT: "w STREAM N\n" then N bytes (a read of the FIFO), or "e STREAM\n"
 * (the stream ended). The k-th command's time is 1700000000 s + k * 1000000123 ns.
 * Prints "dropped N" for a write the log refused. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crilog.h"

int main(int argc, char **argv) {
    if (argc != 5)
        return 2;
    signal(SIGXFSZ, SIG_IGN);  /* as the keeper: a file size limit is a failed write, not our end */
    struct cri_log *log = cri_log_open(argv[1], strtoull(argv[2], NULL, 10), atoi(argv[3]), strtoull(argv[4], NULL, 10));
    if (!log) {
        perror("open");
        return 1;
    }
    struct cri_stream streams[2] = {{.log = log, .name = "stdout"}, {.log = log, .name = "stderr"}};
    char line[64], stream[16];
    size_t n;
    static char data[1 << 22];
    for (unsigned long long k = 0; fgets(line, sizeof line, stdin); k++) {
        unsigned long long ns = 1700000000ULL * 1000000000ULL + k * 1000000123ULL;
        struct timespec now = {.tv_sec = ns / 1000000000ULL, .tv_nsec = ns % 1000000000ULL};
        int eof = line[0] == 'e';
        if (eof ? sscanf(line, "e %15s", stream) != 1 : sscanf(line, "w %15s %zu", stream, &n) != 2)
            return 3;
        if (eof)
            n = 0;
        else if (n > sizeof data || fread(data, 1, n, stdin) != n)
            return 4;
        struct cri_stream *s = &streams[strcmp(stream, "stderr") == 0];
        if (cri_write(s, data, n, eof, &now) < 0)
            printf("dropped %llu\n", log->dropped);
    }
    cri_log_close(log);
    return 0;
}
