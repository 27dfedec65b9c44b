/* The keeper's log pump: a container's output in the CRI log format, the
 * same records and rotation as nspod/crilog.py's LogWriter (its docstring
 * has the rules), so either may write a log and the other take over. */
#ifndef NSPOD_KEEPER_CRILOG_H
#define NSPOD_KEEPER_CRILOG_H

#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#define CRI_READ_MAX 65536  /* one read of a FIFO (the default pipe size) */

/* One writer of a log file. A container's two streams each have one on
 * the same path (a write follows the name when the other rotated it). */
struct cri_log {
    char *path;
    int fd;                  /* -1: not open (a rotation failed half-way) */
    dev_t dev;
    ino_t ino;
    size_t max_size, max_line;
    int max_files;
    int failing;             /* a write failed: said once, until one succeeds */
    unsigned long long dropped;  /* bytes of records lost to failed writes */
};

/* One stream's unterminated line, kept until its newline (or its end). */
struct cri_stream {
    struct cri_log *log;
    const char *name;        /* "stdout" or "stderr" */
    char *tail;
    size_t tail_len;
};

/* Open (O_APPEND, created 0640) path; NULL with errno set on failure. */
struct cri_log *cri_log_open(const char *path, size_t max_size, int max_files, size_t max_line);
void cri_log_close(struct cri_log *log);

/* Append what the container wrote to s (n bytes read at time now); at_eof:
 * the stream ended, its unterminated tail goes out as a P record. Returns
 * 0, or -1 with errno when the log refused the records (they are dropped
 * and counted in log->dropped; the file is cut back to whole records). */
int cri_write(struct cri_stream *s, const char *data, size_t n, int at_eof, const struct timespec *now);

#endif
