/* nspod-keeper: the node holder, one small C process per user
 * (docs/ARCHITECTURE.md, "The keeper").
 *
 * Rootless, it lives in the user namespace all the user's pods share (the
 * CLI made or joined it, then exec'd us). It is a child subreaper, so the
 * pods' processes end up its children once the Python supervisor that
 * started them is gone: their exit statuses come to us, and we keep them
 * until a supervisor asks, instead of them being lost.
 *
 * The Python supervisor (nspod/supervisor.py) is our child while a pod needs
 * it. It leaves when none does ("bye"), and we start it again when one does:
 *   - a command connects to node.sock (we own the listener; the supervisor
 *     accepts on it);
 *   - a child of ours ends (a container, a pause holder);
 *   - a container writes to an output FIFO we hold.
 * After a supervisor that ended without a word (it crashed or was killed),
 * the last two wait out a back-off, so a supervisor that cannot start does
 * not spin; pods show Unknown until then, as their supervisor is gone.
 *
 *   nspod-keeper STATE_DIR READY_FD SUPERVISOR ARG...
 *
 * The supervisor gets fd 3, the listener, and fd 4, its end of our channel
 * (SOCK_SEQPACKET: one request per message):
 *   status PID START   answered "exited WSTATUS SEC NSEC" or "unknown"
 *   hold POD           with the pod's output FIFOs (SCM_RIGHTS): keep them open (a
 *                      writer never meets a FIFO without a reader), in place of
 *                      those held for POD; wake on output when no supervisor runs
 *   add POD            more of them (past the 253 fds a message carries)
 *   log POD STREAM MAX_SIZE MAX_FILES MAX_LINE PATH
 *                      with one of those FIFOs: while no supervisor runs, write what
 *                      comes out of it to the CRI log PATH (keeper/crilog.c), as
 *                      nspod/crilog.py would, instead of waking a supervisor
 *   drop POD           close them (the pod ended)
 *   bye PODS           the supervisor is leaving, PODS pods handed over (0: we end too)
 * When a supervisor starts, we stop writing logs: each stream's unterminated
 * line goes out as a P record, and the supervisor goes on from there.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "crilog.h"

#define EXITS 4096        /* exit statuses kept for a supervisor to ask for */
#define HELD_MAX 4096     /* output FIFOs held (two per container) */
#define MESSAGE_MAX 4096
#define FDS_PER_MESSAGE 253  /* the kernel's SCM_MAX_FD */
#define RESTART_FIRST_MS 500  /* back-off after a supervisor that ended without a word */
#define RESTART_CAP_MS 30000
#define RESTART_RESET_S 60   /* one that ran this long starts the back-off afresh */
#define STOP_GRACE_S 10      /* on SIGTERM: how long the supervisor has to leave */

static const char *state_dir;
static char **supervisor_argv;
static int listener = -1, sigfd = -1;

static pid_t supervisor;        /* 0: none runs */
static int channel = -1;        /* our end of its channel */
static long leaving = -1;       /* its "bye PODS", or -1 */
static struct timespec supervisor_began;
static int restart_ms;          /* the back-off after a crash; 0: none */
static struct timespec restart_at;  /* no start for an exit or output before this */
static const char *wanted;      /* why a supervisor should start (an exit, output), or NULL */

struct exit_record {
    pid_t pid;
    unsigned long long start;  /* /proc/PID/stat's starttime: the pid alone may be reused */
    int wstatus;
    struct timespec at;
};
static struct exit_record exits[EXITS];
static size_t exits_count;  /* total recorded; the newest EXITS are kept */

struct held_fd {
    int fd;
    char *pod;
    struct cri_stream out;  /* out.log: where its output goes while no supervisor runs; NULL: it wakes one */
};
static struct held_fd held[HELD_MAX];
static size_t held_count;

static void say(const char *fmt, ...) {
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    time_t now = time(NULL);
    struct tm tm;
    char stamp[32];
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
    dprintf(2, "%s nspod-keeper[%d]: %s\n", stamp, getpid(), line);
}

static void state_path(char *out, size_t size, const char *name) {
    if ((size_t)snprintf(out, size, "%s/%s", state_dir, name) >= size) {
        say("the state folder's path is too long");
        exit(1);
    }
}

static double since(const struct timespec *then) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (now.tv_sec - then->tv_sec) + (now.tv_nsec - then->tv_nsec) / 1e9;
}

/* The kernel's start time of pid (clock ticks since boot), 0 if unreadable.
 * A zombie still has its /proc entry, so this works until we reap it. */
static unsigned long long start_time(pid_t pid) {
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = 0;
    char *p = strrchr(buf, ')');  /* the command's name may hold spaces and parentheses */
    if (!p)
        return 0;
    p++;
    for (int field = 3; field < 22 && p; field++)  /* p: the space before field 3, the state; 22 is starttime */
        p = strchr(p + 1, ' ');
    return p ? strtoull(p + 1, NULL, 10) : 0;
}

/* ---- the supervisor ------------------------------------------------------- */

static void stop_all_pumps(void);

static void start_supervisor(const char *why) {
    stop_all_pumps();  /* the logs are the supervisor's now */
    int pair[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) < 0) {
        say("socketpair: %s", strerror(errno));
        return;
    }
    pid_t keeper = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        say("fork: %s", strerror(errno));
        close(pair[0]);
        close(pair[1]);
        return;
    }
    if (pid == 0) {
        /* It goes when we go (a killed node holder takes its supervisor along). */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != keeper)
            _exit(1);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGPIPE, SIG_DFL);  /* (an ignored signal would stay ignored across exec) */
        signal(SIGXFSZ, SIG_DFL);
        /* Through fds above 4 first: dup2 onto itself would keep close-on-exec. */
        int l = fcntl(listener, F_DUPFD_CLOEXEC, 10), c = fcntl(pair[1], F_DUPFD_CLOEXEC, 10);
        if (l < 0 || c < 0 || dup2(l, 3) < 0 || dup2(c, 4) < 0)
            _exit(1);
        execv(supervisor_argv[0], supervisor_argv);
        dprintf(2, "nspod-keeper: exec %s: %s\n", supervisor_argv[0], strerror(errno));
        _exit(127);
    }
    close(pair[1]);
    channel = pair[0];
    supervisor = pid;
    leaving = -1;
    wanted = NULL;
    clock_gettime(CLOCK_MONOTONIC, &supervisor_began);
    say("started the supervisor, pid %d: %s", pid, why);
    /* A fault a test asked of the command that started us is for our first
     * supervisor's adoptions alone (nspod/faults.py). */
    unsetenv("NSPOD_FAULT");
}

static void cleanup_and_exit(int code);

static int pending_connection(void) {
    struct pollfd p = {.fd = listener, .events = POLLIN};
    return poll(&p, 1, 0) == 1;
}

static void on_request(void);

static void supervisor_ended(int wstatus) {
    /* Its last words (a "bye") may have come after the poll that woke us. */
    for (struct pollfd p = {.fd = channel, .events = POLLIN}; channel >= 0 && poll(&p, 1, 0) == 1; p.fd = channel)
        on_request();
    close(channel);
    channel = -1;
    supervisor = 0;
    if (leaving == 0 && !pending_connection())
        cleanup_and_exit(0);  /* no pod left: the node holder's work is done */
    if (leaving >= 0) {
        restart_ms = 0;
        if (pending_connection())
            start_supervisor("a command is waiting");
        return;
    }
    if (WIFSIGNALED(wstatus))
        say("the supervisor ended by signal %d without handing its pods over", WTERMSIG(wstatus));
    else
        say("the supervisor ended (exit %d) without handing its pods over", WEXITSTATUS(wstatus));
    if (since(&supervisor_began) >= RESTART_RESET_S)
        restart_ms = RESTART_FIRST_MS;
    else
        restart_ms = restart_ms ? (restart_ms * 2 > RESTART_CAP_MS ? RESTART_CAP_MS : restart_ms * 2)
                                : RESTART_FIRST_MS;
    clock_gettime(CLOCK_MONOTONIC, &restart_at);
    restart_at.tv_sec += restart_ms / 1000;
    restart_at.tv_nsec += (restart_ms % 1000) * 1000000L;
    if (restart_at.tv_nsec >= 1000000000L) {
        restart_at.tv_sec++;
        restart_at.tv_nsec -= 1000000000L;
    }
    say("the next one starts with the next command, or after %d ms with a pod's exit or output", restart_ms);
}

/* ---- exit statuses -------------------------------------------------------- */

static void record(pid_t pid, unsigned long long start, int wstatus) {
    struct exit_record *r = &exits[exits_count++ % EXITS];
    r->pid = pid;
    r->start = start;
    r->wstatus = wstatus;
    clock_gettime(CLOCK_REALTIME, &r->at);
}

/* Reap pid if it is an ended child of ours; 1 if it was. */
static int reap(pid_t pid) {
    siginfo_t info = {0};
    if (waitid(P_PID, pid, &info, WEXITED | WNOHANG | WNOWAIT) < 0 || info.si_pid != pid)
        return 0;
    unsigned long long start = start_time(pid);  /* before the reaping frees the pid */
    memset(&info, 0, sizeof info);
    if (waitid(P_PID, pid, &info, WEXITED | WNOHANG) < 0 || info.si_pid != pid)
        return 0;
    int wstatus = info.si_code == CLD_EXITED ? (info.si_status & 0xff) << 8
                                             : (info.si_status & 0x7f) | (info.si_code == CLD_DUMPED ? 0x80 : 0);
    if (pid == supervisor) {
        supervisor_ended(wstatus);
        return 1;
    }
    record(pid, start, wstatus);
    if (!supervisor && !wanted)
        wanted = "a pod's process ended";
    return 1;
}

static void reap_all(void) {
    for (;;) {
        siginfo_t info = {0};
        if (waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT) < 0 || info.si_pid == 0)
            return;
        if (!reap(info.si_pid))
            return;
    }
}

static const struct exit_record *find_exit(pid_t pid, unsigned long long start) {
    size_t kept = exits_count < EXITS ? exits_count : EXITS;
    for (size_t i = 1; i <= kept; i++) {  /* newest first */
        const struct exit_record *r = &exits[(exits_count - i) % EXITS];
        if (r->pid == pid && r->start == start)
            return r;
    }
    return NULL;
}

/* ---- the log pump -------------------------------------------------------- */

/* Stop writing h's log: its unterminated line goes out as a P record (the
 * next writer goes on with the rest of the line). */
static void stop_pumping(struct held_fd *h) {
    struct cri_log *log = h->out.log;
    if (!log)
        return;
    if (h->out.tail_len) {
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        if (cri_write(&h->out, "", 0, 1, &now) < 0 && !log->failing)
            say("pod %.60s: its log %s: %s", h->pod, log->path, strerror(errno));
    }
    if (log->dropped)
        say("pod %.60s: %llu bytes of its output were dropped, as its log %s could not be written",
            h->pod, log->dropped, log->path);
    cri_log_close(log);
    free(h->out.tail);
    h->out = (struct cri_stream){0};
}

/* One read of h's FIFO into its log (a bounded piece of work: the others
 * are read in turn). */
static void pump(struct held_fd *h) {
    static char data[CRI_READ_MAX];
    ssize_t n = read(h->fd, data, sizeof data);
    if (n <= 0)  /* (EAGAIN: another wake-up's; our fd keeps a writer, so never an end) */
        return;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    struct cri_log *log = h->out.log;
    if (cri_write(&h->out, data, n, 0, &now) < 0) {
        if (!log->failing)
            say("pod %.60s: cannot write its log %s: %s; its output is dropped until it can", h->pod, log->path,
                strerror(errno));
        log->failing = 1;
    } else if (log->failing) {
        say("pod %.60s: its log %s is written again; %llu bytes of output were dropped", h->pod, log->path,
            log->dropped);
        log->failing = 0;
        log->dropped = 0;
    }
}

static void stop_all_pumps(void) {
    for (size_t i = 0; i < held_count; i++)
        stop_pumping(&held[i]);
}

static int same_file(int a, int b) {
    struct stat sa, sb;
    return fstat(a, &sa) == 0 && fstat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

static void hold_one(const char *pod, int fd);

/* "log": fd, one of POD's FIFOs, has its output written to path from now on. */
static void pump_to(const char *pod, const char *stream, size_t max_size, int max_files, size_t max_line,
                    const char *path, int fd) {
    struct held_fd *h = NULL;
    for (size_t i = 0; i < held_count && !h; i++)
        if (strcmp(held[i].pod, pod) == 0 && same_file(held[i].fd, fd))
            h = &held[i];
    if (h) {
        close(fd);
    } else {
        hold_one(pod, fd);
        if (!held_count || held[held_count - 1].fd != fd)
            return;
        h = &held[held_count - 1];
    }
    stop_pumping(h);
    struct cri_log *log = cri_log_open(path, max_size, max_files, max_line);
    if (!log) {
        say("pod %.60s: cannot open its log %s: %s; its output will start a supervisor", pod, path, strerror(errno));
        return;
    }
    h->out = (struct cri_stream){.log = log, .name = strcmp(stream, "stderr") == 0 ? "stderr" : "stdout"};
}

/* ---- the channel ---------------------------------------------------------- */

static void drop_held(const char *pod) {
    size_t kept = 0;
    for (size_t i = 0; i < held_count; i++) {
        if (strcmp(held[i].pod, pod) == 0) {
            stop_pumping(&held[i]);
            close(held[i].fd);
            free(held[i].pod);
        } else {
            held[kept++] = held[i];
        }
    }
    held_count = kept;
}

static void hold_one(const char *pod, int fd) {
    char *name = held_count < HELD_MAX ? strdup(pod) : NULL;
    if (name) {
        held[held_count++] = (struct held_fd){.fd = fd, .pod = name};
    } else {
        say("cannot hold more FIFOs (%zu held): pod %.60s's are not kept", held_count, pod);
        close(fd);
    }
}

static void answer(const char *text) {
    if (send(channel, text, strlen(text), MSG_NOSIGNAL) < 0)
        say("answering the supervisor: %s", strerror(errno));
}

static void on_request(void) {
    char text[MESSAGE_MAX + 1];
    union {
        char buf[CMSG_SPACE(sizeof(int) * FDS_PER_MESSAGE)];
        struct cmsghdr align;
    } control;
    struct iovec iov = {.iov_base = text, .iov_len = MESSAGE_MAX};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
                         .msg_controllen = sizeof control.buf};
    ssize_t n = recvmsg(channel, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {  /* it closed its end: its exit follows (SIGCHLD) */
        close(channel);
        channel = -1;
        return;
    }
    text[n] = 0;
    int fds[FDS_PER_MESSAGE];
    size_t nfds = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
            size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            for (size_t i = 0; i < count && nfds < FDS_PER_MESSAGE; i++)
                memcpy(&fds[nfds++], CMSG_DATA(c) + i * sizeof(int), sizeof(int));
        }
    }
    int pid;
    unsigned long long start;
    long pods;
    int add = strncmp(text, "add ", 4) == 0 && text[4];
    if ((strncmp(text, "hold ", 5) == 0 && text[5]) || add) {
        const char *name = text + (add ? 4 : 5);
        if (!add)
            drop_held(name);
        for (size_t i = 0; i < nfds; i++)
            hold_one(name, fds[i]);
        return;
    }
    char stream[16];
    size_t max_size, max_line;
    int max_files, at = 0;
    if (strncmp(text, "log ", 4) == 0) {
        char pod[256];
        if (nfds == 1 && sscanf(text, "log %255s %15s %zu %d %zu %n", pod, stream, &max_size, &max_files, &max_line, &at) == 5
                && at > 0 && text[at]) {
            pump_to(pod, stream, max_size, max_files, max_line, text + at, fds[0]);
        } else {
            say("a log request that is not whole: %.60s", text);
            for (size_t i = 0; i < nfds; i++)
                close(fds[i]);
        }
        return;
    }
    for (size_t i = 0; i < nfds; i++)  /* only "hold" carries fds */
        close(fds[i]);
    if (sscanf(text, "status %d %llu", &pid, &start) == 2) {
        reap(pid);  /* if it ended a moment ago and its SIGCHLD is not read yet */
        const struct exit_record *r = find_exit(pid, start);
        char reply[128];
        if (r)
            snprintf(reply, sizeof reply, "exited %d %lld %ld", r->wstatus, (long long)r->at.tv_sec, r->at.tv_nsec);
        else
            snprintf(reply, sizeof reply, "unknown");
        answer(reply);
    } else if (strncmp(text, "drop ", 5) == 0) {
        drop_held(text + 5);
    } else if (sscanf(text, "bye %ld", &pods) == 1 && pods >= 0) {
        leaving = pods;
    } else {
        say("unknown request from the supervisor: %.60s", text);
    }
}

/* ---- start and end -------------------------------------------------------- */

static void cleanup_and_exit(int code) {
    stop_all_pumps();  /* (each stream's unterminated line into its log) */
    char path[PATH_MAX], pidfile[PATH_MAX], sockfile[PATH_MAX];
    state_path(path, sizeof path, "node.lock");
    state_path(pidfile, sizeof pidfile, "node.pid");
    state_path(sockfile, sizeof sockfile, "node.sock");
    int lock = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (lock >= 0)
        flock(lock, LOCK_EX);
    char buf[32] = {0};
    int fd = open(pidfile, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        ssize_t n = read(fd, buf, sizeof buf - 1);
        close(fd);
        if (n > 0 && atoi(buf) == getpid()) {  /* (not a successor's: one started while we were unreachable) */
            unlink(sockfile);
            unlink(pidfile);
        }
    }
    close(listener);
    if (lock >= 0)
        close(lock);
    exit(code);
}

static void terminate(void) {
    if (supervisor) {
        kill(supervisor, SIGTERM);
        struct timespec began;
        clock_gettime(CLOCK_MONOTONIC, &began);
        for (;;) {
            siginfo_t info = {0};
            if (waitid(P_PID, supervisor, &info, WEXITED | WNOHANG) < 0 || info.si_pid == supervisor)
                break;
            if (since(&began) > STOP_GRACE_S) {
                kill(supervisor, SIGKILL);
                waitid(P_PID, supervisor, &info, WEXITED);
                break;
            }
            usleep(10000);
        }
    }
    cleanup_and_exit(0);
}

static void listen_on_node_socket(void) {
    char path[PATH_MAX];
    state_path(path, sizeof path, "node.sock");
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof addr.sun_path) {
        say("%s: the path is too long for a unix socket", path);
        exit(1);
    }
    strcpy(addr.sun_path, path);
    listener = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    unlink(path);
    if (listener < 0 || bind(listener, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(listener, 64) < 0) {
        say("%s: %s", path, strerror(errno));
        exit(1);
    }
    char pidfile[PATH_MAX], tmp[PATH_MAX + 8];
    state_path(pidfile, sizeof pidfile, "node.pid");
    snprintf(tmp, sizeof tmp, "%s.tmp", pidfile);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || dprintf(fd, "%d", getpid()) < 0 || close(fd) < 0 || rename(tmp, pidfile) < 0) {
        say("%s: %s", pidfile, strerror(errno));
        exit(1);
    }
}

static void take_stdio(void) {
    char path[PATH_MAX];
    state_path(path, sizeof path, "node.log");
    int log = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (log < 0 || null < 0 || dup2(null, 0) < 0 || dup2(log, 1) < 0 || dup2(log, 2) < 0)
        exit(1);
    close(log);
    close(null);
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: nspod-keeper STATE_DIR READY_FD SUPERVISOR ARG...\n");
        return 2;
    }
    state_dir = argv[1];
    int ready = atoi(argv[2]);
    /* A read's records (up to ~40 times its 64 KiB) are malloc'd and freed:
     * a fixed threshold gives that memory back at once (glibc would raise it
     * and keep the heap grown). */
    mallopt(M_MMAP_THRESHOLD, 128 * 1024);
    mallopt(M_TRIM_THRESHOLD, 256 * 1024);
    supervisor_argv = argv + 3;
    prctl(PR_SET_NAME, "nspod-node");
    /* Orphans of our children (containers, pause holders, the node network's
     * processes) come to us, not to init, which may not reap them. */
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    take_stdio();
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGCHLD);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGHUP);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGXFSZ, SIG_IGN);  /* a log past the file size limit is a failed write, not our end */
    sigfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
    if (sigfd < 0)
        return 1;
    listen_on_node_socket();
    if (dprintf(ready, "listening\n") < 0 && errno != EPIPE)
        say("telling the command that started us: %s", strerror(errno));
    close(ready);
    start_supervisor("the node holder started");

    struct pollfd fds[3 + HELD_MAX];
    size_t polled[HELD_MAX];  /* the held entry of each polled FIFO */
    for (;;) {
        size_t n = 0;
        fds[n++] = (struct pollfd){.fd = sigfd, .events = POLLIN};
        if (channel >= 0)
            fds[n++] = (struct pollfd){.fd = channel, .events = POLLIN};
        /* With a supervisor, connections and output are its own. */
        if (!supervisor)
            fds[n++] = (struct pollfd){.fd = listener, .events = POLLIN};
        size_t first_held = n;
        if (!supervisor)  /* those we pump, always; the others until one wants a supervisor */
            for (size_t i = 0; i < held_count; i++)
                if (held[i].out.log || !wanted) {
                    polled[n - first_held] = i;
                    fds[n++] = (struct pollfd){.fd = held[i].fd, .events = POLLIN};
                }
        int timeout = -1;
        if (!supervisor && wanted) {  /* (only a back-off holds a wanted start) */
            struct timespec now;
            clock_gettime(CLOCK_MONOTONIC, &now);
            long long ms = (restart_at.tv_sec - now.tv_sec) * 1000LL + (restart_at.tv_nsec - now.tv_nsec) / 1000000 + 1;
            timeout = ms < 0 ? 0 : (int)ms;
        }
        if (poll(fds, n, timeout) < 0 && errno != EINTR) {
            say("poll: %s", strerror(errno));
            return 1;
        }
        if (fds[0].revents) {
            struct signalfd_siginfo si;
            int end = 0;
            while (read(sigfd, &si, sizeof si) == sizeof si)
                if (si.ssi_signo != SIGCHLD)
                    end = 1;
            if (end)
                terminate();
        }
        if (channel >= 0 && n > 1 && fds[1].fd == channel && fds[1].revents)
            on_request();
        reap_all();  /* (after the channel: a "bye" is read before the exit it announces) */
        if (supervisor)
            continue;
        if (pending_connection()) {
            start_supervisor("a command connected");
            continue;
        }
        for (size_t i = first_held; i < n; i++) {
            struct held_fd *h = &held[polled[i - first_held]];
            if (!fds[i].revents)
                continue;
            if (h->out.log)
                pump(h);
            else if (!wanted)
                wanted = "a container wrote output";
        }
        if (wanted && (!restart_ms || since(&restart_at) >= 0))
            start_supervisor(wanted);
    }
}
