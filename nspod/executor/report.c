/* What nspod-exec says: to the supervisor over its report pipe (one JSON
 * object a line, as nspod/kernel/child.py reads them; the pipe is
 * close-on-exec, so end of file with no error means the command runs), and
 * with --explain one JSON line a kernel step (nspod/steps.py's format). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "executor.h"

int report_fd = -1;
int fail_code = 126;
const char *step_label = "start";
char err_text[2048];
int err_no;
int sink_fd = -1;
static const char *role = "nspod";
static long host_pid;

void str_add(struct str *b, const char *fmt, ...)
{
    va_list ap;
    for (;;) {
        size_t room = b->cap - b->len;
        va_start(ap, fmt);
        int n = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? room : 0, fmt, ap);
        va_end(ap);
        if (n < 0)
            return;
        if (b->s && (size_t)n < room) {
            b->len += n;
            return;
        }
        b->cap = (b->cap + n + 64) * 2;
        b->s = realloc(b->s, b->cap);
        if (!b->s)
            _exit(127);
    }
}

/* The length of the UTF-8 sequence at s (at most n bytes), 0 if it is
 * not one (what Python's strict decoder refuses: stray continuation bytes,
 * overlong forms, surrogates, past U+10FFFF). */
static size_t utf8_length(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len = c < 0x80 ? 1 : c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
    if (len == 0 || len > n)
        return 0;
    for (size_t i = 1; i < len; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    if ((c == 0xE0 && s[1] < 0xA0) || (c == 0xED && s[1] > 0x9F) || (c == 0xF0 && s[1] < 0x90) ||
        (c == 0xF4 && s[1] > 0x8F))
        return 0;
    return len;
}

/* n bytes of s, the quote and backslash escaped, \n \t \r as such, other
 * control characters in the control format (JSON's \u00XX, Python's \xXX).
 * A byte that is not UTF-8 (a file name or an image's /etc/group can hold
 * any) becomes U+FFFD, as Python's decoder with errors="replace" makes it:
 * the reader's JSON stays valid. */
static void escaped(struct str *b, const char *s, size_t n, char quote, const char *control)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = s[i];
        if (c >= 0x80) {
            size_t len = utf8_length((const unsigned char *)s + i, n - i);
            if (len == 0) {
                str_add(b, "\xef\xbf\xbd");
            } else {
                str_add(b, "%.*s", (int)len, s + i);
                i += len - 1;
            }
        } else if (c == (unsigned char)quote || c == '\\')
            str_add(b, "\\%c", c);
        else if (c == '\n')
            str_add(b, "\\n");
        else if (c == '\t')
            str_add(b, "\\t");
        else if (c == '\r')
            str_add(b, "\\r");
        else if (c < 0x20 || c == 0x7f)
            str_add(b, control, c);
        else
            str_add(b, "%c", c);
    }
}

static void json_string(struct str *b, const char *s, size_t max)
{
    /* A field cut at `max` bytes ends with "…", as steps._cut does (on a
     * character boundary: never inside a UTF-8 sequence). */
    size_t n = strlen(s), cut = n;
    if (n > max) {
        cut = max - 3;
        while (cut > 0 && ((unsigned char)s[cut] & 0xC0) == 0x80)
            cut--;
    }
    str_add(b, "\"");
    escaped(b, s, cut, '"', "\\u%04x");
    str_add(b, "%s\"", cut < n ? "\xe2\x80\xa6" : "");
}

static void write_all(int fd, const char *s, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, s, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        s += w;
        n -= w;
    }
}

static void send_error(const char *reason, const char *message)
{
    struct str b = {0};
    str_add(&b, "{\"error\": {\"reason\": ");
    json_string(&b, reason, 1 << 20);
    str_add(&b, ", \"message\": ");
    json_string(&b, message, 1 << 20);
    str_add(&b, "}}\n");
    write_all(report_fd, b.s, b.len);
}

void fail(const char *fmt, ...)
{
    char detail[4096], message[4400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    snprintf(message, sizeof message, "%s: %s", step_label, detail);
    send_error("StartError", message);
    _exit(fail_code);
}

void fail_reason(const char *reason, const char *fmt, ...)
{
    char message[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    send_error(reason, message);
    _exit(fail_code);
}

void report_pid(pid_t pid)
{
    char line[64];
    int n = snprintf(line, sizeof line, "{\"pid\": %d}\n", (int)pid);
    write_all(report_fd, line, n);
}

int set_err(int errnum, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err_text, sizeof err_text, fmt, ap);
    va_end(ap);
    err_no = errnum;
    errno = errnum;
    return -1;
}

/* -- --explain ------------------------------------------------------------- */
static const char *KINDS[] = {"user", "mnt", "pid", "net", "ipc", "uts", "cgroup"};
#define NKINDS 7
static char known[NKINDS][64];

static long nspid(void)
{
    /* Our pid as the outermost PID namespace /proc shows (NSpid's first
     * field): PID 1 of a new namespace is known to the reader by the host's. */
    char buf[4096];
    int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return getpid();
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return getpid();
    buf[n] = 0;
    char *p = strstr(buf, "\nNSpid:");
    return p ? strtol(p + 7, NULL, 10) : getpid();
}

void explain_as(int fd, const char *new_role)
{
    sink_fd = fd;
    role = new_role;
    host_pid = fd >= 0 ? nspid() : 0;
}

const char *fd_target(int fd, char *buf, size_t size)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(path, buf, size - 1);
    if (n < 0) {
        snprintf(buf, size, "fd %d", fd);
        return buf;
    }
    buf[n] = 0;
    return buf;
}

const char *shown_path(const char *path, char *buf, size_t size)
{
    /* An fd path with what it names: "/proc/self/fd/7 (/tmp/r/etc/hosts)". */
    if (!path || strncmp(path, "/proc/self/fd/", 14) != 0)
        return path;
    char target[1024];
    ssize_t n = readlink(path, target, sizeof target - 1);
    if (n < 0)
        return path;
    target[n] = 0;
    snprintf(buf, size, "%s (%s)", path, target);
    return buf;
}

void tell_joined(const char *call, const char *result, const char *by_hand,
                 const char *kind, const char *joined)
{
    if (sink_fd < 0)
        return;
    /* Our namespaces; where /proc no longer shows one, the last seen. */
    for (int i = 0; i < NKINDS; i++) {
        char path[64], buf[64];
        snprintf(path, sizeof path, "/proc/self/ns/%s", KINDS[i]);
        ssize_t n = readlink(path, buf, sizeof buf - 1);
        if (n > 0) {
            buf[n] = 0;
            strcpy(known[i], buf);
        }
        if (kind && strcmp(kind, KINDS[i]) == 0)
            snprintf(known[i], sizeof known[i], "%s", joined);
    }
    struct str b = {0};
    str_add(&b, "{\"pid\": %ld, \"role\": ", host_pid);
    json_string(&b, role, 900);
    str_add(&b, ", \"ns\": {");
    int first = 1;
    for (int i = 0; i < NKINDS; i++) {
        if (!known[i][0])
            continue;
        str_add(&b, "%s\"%s\": ", first ? "" : ", ", KINDS[i]);
        json_string(&b, known[i], 900);
        first = 0;
    }
    str_add(&b, "}, \"call\": ");
    json_string(&b, call, 900);
    str_add(&b, ", \"result\": ");
    json_string(&b, result ? result : "", 900);
    str_add(&b, ", \"by_hand\": ");
    json_string(&b, by_hand ? by_hand : "", 900);
    str_add(&b, "}\n");
    /* One write (under PIPE_BUF): lines of different processes never mix.
     * Non-blocking: a reader that falls behind loses steps. SIGPIPE is
     * ignored until just before execve, so a reader gone is EPIPE. */
    if (write(sink_fd, b.s, b.len) < 0 && errno == EPIPE)
        sink_fd = -1;
    free(b.s);
}

void tell(const char *call, const char *result, const char *by_hand)
{
    tell_joined(call, result, by_hand, NULL, NULL);
}

void tell_fork(pid_t pid, const char *child_role)
{
    char result[256];
    snprintf(result, sizeof result, "%d (%s)", (int)pid, child_role);
    tell("fork()", result, "(a shell forks for every command it runs)");
}

void str_repr(struct str *b, const char *s)
{
    /* Python's repr() of a str: single quotes unless it holds ' and no ". */
    char q = strchr(s, '\'') && !strchr(s, '"') ? '"' : '\'';
    str_add(b, "%c", q);
    escaped(b, s, strlen(s), q, "\\x%02x");
    str_add(b, "%c", q);
}

void str_shquote(struct str *b, const char *s)
{
    if (!*s) {
        str_add(b, "''");
        return;
    }
    int safe = 1;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
              (*p >= '0' && *p <= '9') || strchr("_@%+=:,./-", *p)))
            safe = 0;
    if (safe) {
        str_add(b, "%s", s);
        return;
    }
    str_add(b, "'");
    for (; *s; s++)
        if (*s == '\'')
            str_add(b, "'\"'\"'");
        else
            str_add(b, "%c", *s);
    str_add(b, "'");
}
