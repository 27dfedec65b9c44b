/* The keeper's log pump: CRI log records and size rotation, as
 * nspod/crilog.py's LogWriter writes them (see crilog.h). */
#define _GNU_SOURCE
#include "crilog.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- the file -------------------------------------------------------------- */

static int reopen(struct cri_log *log) {
    log->fd = open(log->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    struct stat st;
    if (log->fd < 0 || fstat(log->fd, &st) < 0)
        return -1;
    log->dev = st.st_dev;
    log->ino = st.st_ino;
    return 0;
}

struct cri_log *cri_log_open(const char *path, size_t max_size, int max_files, size_t max_line) {
    if (max_line < 1) {
        errno = EINVAL;
        return NULL;
    }
    struct cri_log *log = calloc(1, sizeof *log);
    if (!log || !(log->path = strdup(path))) {
        free(log);
        errno = ENOMEM;
        return NULL;
    }
    log->max_size = max_size;
    log->max_files = max_files < 1 ? 1 : max_files;
    log->max_line = max_line;
    if (reopen(log) < 0) {
        int e = errno;
        if (log->fd >= 0)
            close(log->fd);
        free(log->path);
        free(log);
        errno = e;
        return NULL;
    }
    return log;
}

void cri_log_close(struct cri_log *log) {
    if (log->fd >= 0)
        close(log->fd);
    free(log->path);
    free(log);
}

/* The live file's size. Another writer (the other stream's, or a supervisor
 * before us) may have rotated or removed it: then the name is followed. */
static int live_size(struct cri_log *log, size_t *size) {
    struct stat st;
    if (log->fd >= 0 && stat(log->path, &st) == 0 && st.st_dev == log->dev && st.st_ino == log->ino) {
        *size = st.st_size;
        return 0;
    }
    if (log->fd >= 0)
        close(log->fd);
    if (reopen(log) < 0 || fstat(log->fd, &st) < 0)
        return -1;
    *size = st.st_size;
    return 0;
}

static void rotated(char *out, size_t cap, const char *path, int index) {
    if (index == 0)
        snprintf(out, cap, "%s", path);
    else
        snprintf(out, cap, "%s.%d", path, index);
}

static int lexists(const char *path) {
    struct stat st;
    return lstat(path, &st) == 0;
}

/* path -> path.1 -> path.2 ...; max_files files in all; a new empty path. */
static int rotate(struct cri_log *log) {
    size_t cap = strlen(log->path) + 16;
    char a[cap], b[cap];
    close(log->fd);
    log->fd = -1;
    int index = log->max_files;  /* the oldest go, and any left from a larger max_files */
    for (rotated(a, cap, log->path, index); lexists(a); rotated(a, cap, log->path, ++index))
        if (unlink(a) < 0)
            return -1;
    if (log->max_files == 1 && unlink(log->path) < 0 && errno != ENOENT)
        return -1;
    int free_number = 1;  /* shift only up to the first free number */
    for (rotated(a, cap, log->path, free_number); free_number < log->max_files - 1 && lexists(a);)
        rotated(a, cap, log->path, ++free_number);
    for (index = free_number < log->max_files - 1 ? free_number : log->max_files - 1; index > 0; index--) {
        rotated(a, cap, log->path, index - 1);
        rotated(b, cap, log->path, index);
        if (lexists(a) && rename(a, b) < 0)
            return -1;
    }
    return reopen(log);
}

/* Whole records onto the live file, `size` bytes long now; a write that
 * fails part-way is cut back, so no half record is left for the next. */
static int write_whole(struct cri_log *log, const char *data, size_t n, size_t size) {
    while (n) {
        ssize_t w = write(log->fd, data, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            int e = w < 0 ? errno : EIO;
            if (ftruncate(log->fd, size) < 0) {
                /* (nothing more to do: the write's error is what we report) */
            }
            errno = e;
            return -1;
        }
        data += w;
        n -= w;
    }
    return 0;
}

/* Append records (data: whole records, each ending in a newline), rotating
 * before a record that would not fit; one larger than a file goes alone. */
static int append(struct cri_log *log, const char *data, size_t total) {
    size_t size;
    if (!total)
        return 0;
    if (live_size(log, &size) < 0)
        return -1;
    if (size + total <= log->max_size)
        return write_whole(log, data, total, size);
    size_t at = 0;
    while (at < total) {
        size_t room = log->max_size > size ? log->max_size - size : 0, cut;
        if (total - at <= room) {
            cut = total;
        } else {
            const char *nl = room ? memrchr(data + at, '\n', room) : NULL;  /* the records that fit */
            cut = nl ? (size_t)(nl - data) + 1 : 0;
            if (cut <= at) {
                if (size > 0) {
                    if (rotate(log) < 0)
                        return -1;
                    size = 0;
                    continue;
                }
                nl = memchr(data + at, '\n', total - at);
                cut = nl ? (size_t)(nl - data) + 1 : total;
            }
        }
        if (write_whole(log, data + at, cut - at, size) < 0)
            return -1;
        size += cut - at;
        at = cut;
    }
    return 0;
}

/* ---- framing ------------------------------------------------------------- */

struct out {
    char *p;
    size_t len, cap;
    int failed;
};

static void add(struct out *o, const char *data, size_t n) {
    if (o->failed || !n)
        return;
    if (o->len + n > o->cap) {
        size_t cap = o->cap ? o->cap : 4096;
        while (cap < o->len + n)
            cap *= 2;
        char *p = realloc(o->p, cap);
        if (!p) {
            o->failed = 1;
            return;
        }
        o->p = p;
        o->cap = cap;
    }
    memcpy(o->p + o->len, data, n);
    o->len += n;
}

static void record(struct out *o, const char *head, size_t head_len, char tag, const char *text, size_t n) {
    char tag_text[2] = {tag, ' '};
    add(o, head, head_len);
    add(o, tag_text, 2);
    add(o, text, n);
    add(o, "\n", 1);
}

int cri_write(struct cri_stream *s, const char *data, size_t n, int at_eof, const struct timespec *now) {
    struct cri_log *log = s->log;
    size_t limit = log->max_line;
    char head[96];
    struct tm tm;
    time_t secs = now->tv_sec;
    size_t head_len = strftime(head, sizeof head, "%Y-%m-%dT%H:%M:%S", gmtime_r(&secs, &tm));
    head_len += snprintf(head + head_len, sizeof head - head_len, ".%09ldZ %s ", now->tv_nsec, s->name);

    /* The kept tail and the new bytes, as one run. */
    char *joined = NULL;
    const char *text = data;
    size_t len = n;
    if (s->tail_len) {
        joined = malloc(s->tail_len + n);
        if (!joined) {
            errno = ENOMEM;
            return -1;
        }
        memcpy(joined, s->tail, s->tail_len);
        memcpy(joined + s->tail_len, data, n);
        text = joined;
        len = s->tail_len + n;
    }
    struct out out = {0};
    size_t pos = 0;
    for (const char *nl; (nl = memchr(text + pos, '\n', len - pos));) {
        const char *line = text + pos;
        size_t line_len = nl - line;
        if (line_len && line[line_len - 1] == '\r')  /* "\r\n" ends a line; a lone "\r" is data */
            line_len--;
        for (; line_len > limit; line += limit, line_len -= limit)
            record(&out, head, head_len, 'P', line, limit);
        record(&out, head, head_len, 'F', line, line_len);
        pos = nl - text + 1;
    }
    /* An unterminated line: what is sure to exceed the limit goes now. A
     * last "\r" may still become part of a "\r\n": it does not count yet. */
    const char *rest = text + pos;
    size_t rest_len = len - pos;
    while (rest_len - (rest_len && rest[rest_len - 1] == '\r') > limit) {
        record(&out, head, head_len, 'P', rest, limit);
        rest += limit;
        rest_len -= limit;
    }
    if (at_eof && rest_len) {
        record(&out, head, head_len, 'P', rest, rest_len);
        rest_len = 0;
    }
    /* Keep the tail (it is at most limit + 1 bytes). */
    char *tail = rest_len ? malloc(rest_len) : NULL;
    if (rest_len && !tail)
        out.failed = 1;
    if (tail)
        memcpy(tail, rest, rest_len);
    free(s->tail);
    s->tail = tail;
    s->tail_len = tail ? rest_len : 0;
    free(joined);

    int result = 0;
    if (out.failed) {
        errno = ENOMEM;
        result = -1;
    } else if (append(log, out.p, out.len) < 0) {
        result = -1;
    }
    if (result < 0)
        log->dropped += out.len;
    free(out.p);
    return result;
}
