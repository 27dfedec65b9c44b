/* nspod-exec REPORT_FD PLAN_FD: start one container from its start plan.
 *
 * The supervisor (Python) decides everything that needs no view from inside
 * the container and writes it as a plan: a list of operations, each a name
 * and its arguments (nspod/executor/plan.py). This program performs them in
 * order, then execs the container's command. Every lookup that depends on
 * what is inside the container's root happens here, with openat2(2), as the
 * mounts are made (inroot.c). Why C: a restart forked the supervisor's
 * CPython twice and ran these steps in it; here they cost what the kernel
 * costs (docs/ARCHITECTURE.md, "One pod's memory").
 *
 * The plan's first operations say where it runs: `pidns new` (or an fd, or
 * none: hostPID) makes this process an intermediate that enters the PID
 * namespace, forks the container's process, reports its pid and exits.
 * Failures go to the report pipe as {"error": {"reason", "message"}}; it is
 * close-on-exec, so end of file with no error means the command runs. */
#define _GNU_SOURCE
#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <linux/close_range.h>

#include "executor.h"

#define PLAN_MAX (16 << 20)
#define MAX_ARGS 65536

struct op { const char *name; int argc; char **argv; };

static char *plan_text;
static size_t plan_len, plan_pos;
static const char *role = "container";
static pid_t spawner;          /* who started us: a check's intermediate dies with it */
static int parent_alive = -1;  /* a check's command: the read end of a pipe its intermediate holds */
static const char *intermediate_role = "container's intermediate";  /* --explain's name of its parent */

/* -- the plan ------------------------------------------------------------------ */
static void read_plan(int fd)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        fail("read the start plan: %s", strerror(errno));
    if (st.st_size > PLAN_MAX)
        fail("read the start plan: %lld bytes, more than %d", (long long)st.st_size, PLAN_MAX);
    plan_text = malloc(st.st_size + 1);
    size_t len = 0;
    while (len < (size_t)st.st_size) {
        ssize_t n = pread(fd, plan_text + len, st.st_size - len, len);
        if (n <= 0)
            fail("read the start plan: %s", n < 0 ? strerror(errno) : "cut short");
        len += n;
    }
    plan_text[len] = 0;
    plan_len = len;
    close(fd);
}

static char *token(void)
{
    if (plan_pos >= plan_len)
        fail("read the start plan: cut short");
    char *t = plan_text + plan_pos;
    plan_pos += strlen(t) + 1;
    return t;
}

/* The next operation: NAME\0 ARGC\0 ARG\0 ... (no argument holds a NUL). */
static int next_op(struct op *op)
{
    if (plan_pos >= plan_len)
        return 0;
    op->name = token();
    op->argc = atoi(token());
    if (op->argc < 0 || op->argc > MAX_ARGS)
        fail("read the start plan: bad operation %s", op->name);
    op->argv = calloc(op->argc + 1, sizeof(char *));
    for (int i = 0; i < op->argc; i++)
        op->argv[i] = token();
    return 1;
}

static void want(const struct op *op, int argc)
{
    if (op->argc < argc)
        fail("read the start plan: %s needs %d arguments", op->name, argc);
}

static int fd_arg(const char *s) { return atoi(s); }
static const char *or_null(const char *s) { return *s ? s : NULL; }
static int yes(const char *s) { return strcmp(s, "1") == 0; }

/* -- signals and namespaces ------------------------------------------------------ */
static void default_signals(void)
{
    /* Undo what the Python parent set: ignored signals stay ignored across
     * exec. SIGPIPE stays ignored until execve: a step told to a reader that
     * left must not kill the start (steps.tell blocks it likewise). The
     * system call itself: a libc refuses the signals it keeps for its own
     * use (glibc 32-33, musl 32-34), and those may be ignored too. All zero
     * is SIG_DFL, no flags and an empty mask in either layout of the
     * kernel's struct sigaction (with or without sa_restorer). */
    unsigned long dfl[4] = {0};
    for (int s = 1; s < NSIG; s++)
        if (s != SIGKILL && s != SIGSTOP)
            syscall(SYS_rt_sigaction, s, dfl, NULL, sizeof(uint64_t));
    signal(SIGPIPE, SIG_IGN);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

static const struct { const char *kind, *flag, *option; int bit; } NAMESPACES[] = {
    {"mnt", "CLONE_NEWNS", "--mount", CLONE_NEWNS},   {"net", "CLONE_NEWNET", "--net", CLONE_NEWNET},
    {"ipc", "CLONE_NEWIPC", "--ipc", CLONE_NEWIPC},   {"uts", "CLONE_NEWUTS", "--uts", CLONE_NEWUTS},
    {"pid", "CLONE_NEWPID", "--pid", CLONE_NEWPID},   {"user", "CLONE_NEWUSER", "--user", CLONE_NEWUSER},
    {"cgroup", "CLONE_NEWCGROUP", "--cgroup", CLONE_NEWCGROUP},
};

static int kind_index(const char *kind)
{
    for (size_t i = 0; i < sizeof NAMESPACES / sizeof NAMESPACES[0]; i++)
        if (strcmp(NAMESPACES[i].kind, kind) == 0)
            return i;
    fail("read the start plan: no namespace kind %s", kind);
}

/* Join the namespace behind fd. shown: the path it was opened from, for
 * --explain (read before: joining mnt may hide /proc/self). */
static void join(int fd, const char *kind, const char *shown)
{
    int k = kind_index(kind);
    char joined[128];
    if (sink_fd >= 0)
        fd_target(fd, joined, sizeof joined);
    if (setns(fd, NAMESPACES[k].bit) < 0)
        fail("%s", strerror(errno));
    if (sink_fd >= 0) {
        char call[512], hand[256], target[64] = "PID";
        if (strncmp(shown, "/proc/", 6) == 0)
            sscanf(shown + 6, "%63[^/]", target);
        snprintf(call, sizeof call, "setns(%s, %s)", shown, NAMESPACES[k].flag);
        snprintf(hand, sizeof hand, "nsenter --target %s %s", target, NAMESPACES[k].option);
        tell_joined(call, joined, hand, kind, joined);
    }
}

static void new_namespace(const char *kind)
{
    int k = kind_index(kind);
    if (unshare(NAMESPACES[k].bit) < 0)
        fail("%s", strerror(errno));
    char call[64], hand[64];
    snprintf(call, sizeof call, "unshare(%s)", NAMESPACES[k].flag);
    snprintf(hand, sizeof hand, "unshare %s", NAMESPACES[k].option);
    tell(call, "", hand);
}

/* pidns new|FD|none: where the container's process is forked. new or FD:
 * this process becomes an intermediate (a process enters a PID namespace
 * only for the children it forks after), reports the child's pid, exits. */
static void enter_pid_namespace(const char *how)
{
    if (strcmp(how, "none") == 0) {
        explain_as(sink_fd, role);
        return;
    }
    explain_as(sink_fd, intermediate_role);
    step_label = "could not fork the child";
    if (strcmp(how, "new") == 0)
        new_namespace("pid");
    else {
        join(fd_arg(how), "pid", "PID");
        close(fd_arg(how));
    }
    pid_t pid = fork();
    if (pid < 0)
        fail("%s", strerror(errno));
    if (pid > 0) {
        tell_fork(pid, role);
        report_pid(pid);
        _exit(0);
    }
    explain_as(sink_fd, role);
    step_label = "start";
}

/* fork wait: `nspod exec` and exec checks. This process has joined the
 * container's namespaces (its PID namespace applies to children only): it
 * forks the command's process, waits for it and exits as it did, so whoever
 * started nspod-exec gets the command's exit status. */
static void fork_and_wait(void)
{
    step_label = "could not fork the command";
    explain_as(sink_fd, intermediate_role);
    pid_t pid = fork();
    if (pid < 0)
        fail("%s", strerror(errno));
    if (pid == 0) {
        explain_as(sink_fd, role);
        step_label = "start";
        return;
    }
    tell_fork(pid, role);
    if (sink_fd >= 0) {
        close(sink_fd);  /* (the reader waits for every writer to end) */
        sink_fd = -1;
    }
    close(report_fd);
    signal(SIGPIPE, SIG_DFL);
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            _exit(126);
    _exit(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
}

/* fork collect TIMEOUT_MS MAX: an exec check's (and an exec hook's). As
 * fork wait, but the command's stdout and stderr go to a pipe this process
 * reads: at most MAX bytes are kept (the kubelet keeps 10 KiB), the command
 * is killed once TIMEOUT_MS ran out (-1: none, a hook), and the outcome goes
 * to the report pipe: {"result": {"code", "outputHex", "timedOut"}}. It dies
 * with the supervisor (PR_SET_PDEATHSIG), and the command with it. */
static void fork_and_collect(long timeout_ms, size_t max)
{
    step_label = "could not fork the command";
    explain_as(sink_fd, intermediate_role);
    int out[2], alive[2];
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0 || pipe2(out, O_CLOEXEC) < 0 || pipe2(alive, O_CLOEXEC) < 0)
        fail("%s", strerror(errno));
    if (getppid() != spawner)
        _exit(137);  /* (the supervisor was gone already) */
    pid_t pid = fork();
    if (pid < 0)
        fail("%s", strerror(errno));
    if (pid == 0) {
        int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (null < 0 || dup2(null, 0) < 0 || dup2(out[1], 1) < 0 || dup2(out[1], 2) < 0)
            fail("%s", strerror(errno));
        close(null);
        close(alive[1]);
        parent_alive = alive[0];  /* (its end: when we are gone, see pdeathsig) */
        explain_as(sink_fd, role);
        step_label = "start";
        return;
    }
    tell_fork(pid, role);
    close(out[1]);
    close(alive[0]);  /* alive[1] stays open as long as we live */
    int pidfd = syscall(SYS_pidfd_open, pid, 0);
    if (pidfd < 0) {  /* (Linux 5.3): without it the exit could not be waited for with the output */
        kill(pid, SIGKILL);
        fail("pidfd_open: %s", strerror(errno));
    }
    struct timespec now, end;
    clock_gettime(CLOCK_MONOTONIC, &end);
    end.tv_sec += timeout_ms / 1000;
    end.tv_nsec += (timeout_ms % 1000) * 1000000L;
    char *output = malloc(max + 1);
    size_t len = 0;
    int timed_out = 0, open_out = 1, ended = 0;
    while (!ended) {
        int wait_ms = -1;
        if (timeout_ms >= 0) {
            clock_gettime(CLOCK_MONOTONIC, &now);
            long left = (end.tv_sec - now.tv_sec) * 1000 + (end.tv_nsec - now.tv_nsec) / 1000000;
            if (left <= 0) {
                kill(pid, SIGKILL);
                timed_out = 1;
                break;
            }
            wait_ms = left;
        }
        struct pollfd fds[2] = {{pidfd, POLLIN, 0}, {open_out ? out[0] : -1, POLLIN, 0}};
        if (poll(fds, 2, wait_ms) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (fds[1].revents) {
            char buf[65536];
            ssize_t n = read(out[0], buf, sizeof buf);
            if (n <= 0)
                open_out = 0;  /* every writer closed it: only the exit is left to wait for */
            else if (len < max) {
                size_t keep = (size_t)n < max - len ? (size_t)n : max - len;
                memcpy(output + len, buf, keep);
                len += keep;
            }
        }
        if (fds[0].revents)
            ended = 1;
    }
    if (ended && len < max) {  /* what it wrote just before it ended */
        fcntl(out[0], F_SETFL, O_NONBLOCK);
        ssize_t n = read(out[0], output + len, max - len);
        if (n > 0)
            len += n;
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    struct str b = {0};
    str_add(&b, "{\"result\": {\"code\": %d, \"timedOut\": %s, \"outputHex\": \"", code,
            timed_out ? "true" : "false");
    for (size_t i = 0; i < len; i++)
        str_add(&b, "%02x", (unsigned char)output[i]);
    str_add(&b, "\"}}\n");
    for (size_t done = 0; done < b.len;) {
        ssize_t w = write(report_fd, b.s + done, b.len - done);
        if (w <= 0)
            break;
        done += w;
    }
    _exit(0);
}

/* -- operations ------------------------------------------------------------------ */
static void write_cgroup(const char *procs)
{
    /* Join the container's cgroup before exec: its limits hold from the
     * first instruction. EINVAL: a task still being forked (runc retries). */
    for (int attempt = 0;; attempt++) {
        int fd = open(procs, O_WRONLY | O_CLOEXEC);
        int rc = fd < 0 ? -1 : (int)write(fd, "0", 1);
        int e = errno;
        if (fd >= 0)
            close(fd);
        if (rc == 1) {
            char call[4200], hand[4200];
            snprintf(call, sizeof call, "write(\"%s\", \"0\")", procs);
            snprintf(hand, sizeof hand, "echo $$ > %s", procs);
            tell(call, "", hand);
            return;
        }
        if (e == EINVAL && attempt < 4) {
            struct timespec ts = {0, 30 * 1000 * 1000};
            nanosleep(&ts, NULL);
            continue;
        }
        char dir[4096];
        snprintf(dir, sizeof dir, "%s", procs);
        char *slash = strrchr(dir, '/');
        if (slash)
            *slash = 0;
        fail("cannot move process %d into %s: %s", (int)getpid(), dir, strerror(e));
    }
}

/* The working directory, looked up inside the root ("/" now: after
 * pivot_root, or the container's after joining its mount namespace) and
 * made there if missing (create), entered through the fd found: a
 * workingDir through /proc/PID/root, /proc/PID/fd/N or a link in a volume
 * never leaves the root (runc's CVE-2024-21626 class). Then checked, as
 * runc checks it: a cwd outside the root has no path from it. */
static void enter_working_dir(const char *path, int create)
{
    int root = open_root("/");
    int fd = root < 0 ? -1 : create ? make_in(root, path, 1, IN_ROOT, -1) : lookup(root, path, IN_ROOT);
    if (fd < 0 && !create)
        fail("%s: %s", strerror(err_no), path);
    if (fd < 0)
        fail("%s", err_text);
    if (fchdir(fd) < 0)
        fail("%s: %s", strerror(errno), path);
    close(fd);
    close(root);
    char cwd[4096];
    if (!getcwd(cwd, sizeof cwd) || cwd[0] != '/')
        fail("the working directory %s is not inside the container's root", path);
}

static void tell_simple(const char *fmt_call, const char *fmt_hand, const char *a, const char *b)
{
    if (sink_fd < 0)
        return;
    char call[8400], hand[8400];
    snprintf(call, sizeof call, fmt_call, a, b);
    snprintf(hand, sizeof hand, fmt_hand, a, b);
    tell(call, "", hand);
}

static void fuse_overlay(const char *exe, const char *options, const char *target)
{
    /* fuse-overlayfs in the foreground, a child of the container's process
     * that the kernel kills when that process ends; it lives in the
     * container's mount namespace, cgroup and PID namespace. */
    struct stat st;
    if (stat(target, &st) < 0)
        fail("%s: %s", strerror(errno), target);
    dev_t before = st.st_dev;
    int errors = memfd_create("fuse-overlayfs-errors", MFD_CLOEXEC);
    pid_t daemon = fork();
    if (daemon < 0)
        fail("%s", strerror(errno));
    if (daemon == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int null = open("/dev/null", O_RDWR | O_CLOEXEC);
        dup2(null, 0);
        dup2(null, 1);
        dup2(errors, 2);
        if (syscall(SYS_close_range, 3, ~0U, 0) < 0)  /* it gets stdin, stdout, stderr only */
            _exit(126);
        signal(SIGPIPE, SIG_DFL);
        char *argv[] = {(char *)exe, "-f", "-o", (char *)options, (char *)target, NULL};
        execv(exe, argv);
        _exit(127);
    }
    struct timespec start, now, pause = {0, 2 * 1000 * 1000};
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        if (stat(target, &st) == 0 && st.st_dev != before)
            break;
        int status;
        clock_gettime(CLOCK_MONOTONIC, &now);
        int ended = waitpid(daemon, &status, WNOHANG) == daemon;
        if (ended || now.tv_sec - start.tv_sec > 10) {
            if (!ended) {
                kill(daemon, SIGKILL);
                waitpid(daemon, &status, 0);
            }
            char text[2048];
            ssize_t n = pread(errors, text, sizeof text - 1, 0);
            text[n > 0 ? n : 0] = 0;
            while (n > 0 && strchr(" \n\t", text[n - 1]))
                text[--n] = 0;
            if (!text[0])
                snprintf(text, sizeof text, "exited %d", WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status));
            fail("fuse-overlayfs on %s: %s", target, text);
        }
        nanosleep(&pause, NULL);
    }
    close(errors);
    char call[8400];
    snprintf(call, sizeof call, "fork(); execve(\"%s\", [\"-f\", \"-o\", \"%s\", \"%s\"])", exe, options, target);
    tell(call, "", "fuse-overlayfs -o lowerdir=...,upperdir=...,workdir=... TARGET");
}

static void open_stdio(const char *out, const char *err, const char *in, int once)
{
    /* The FIFOs are opened read-write: the container then counts as a
     * reader, so a supervisor gone never makes its writes fail with
     * SIGPIPE; its stdin FIFO likewise, except with stdinOnce (read-only:
     * the supervisor's close is its end of file). */
    int in_flags = O_RDONLY;
    if (*in)
        in_flags = (once ? O_RDONLY : O_RDWR) | O_NONBLOCK;
    else
        in = "/dev/null";
    const char *paths[3] = {in, out, err};
    int flags[3] = {in_flags, O_RDWR, O_RDWR};
    for (int fd = 0; fd < 3; fd++) {
        int opened = open(paths[fd], flags[fd] | O_CLOEXEC);
        if (opened < 0)
            fail("%s: %s", strerror(errno), paths[fd]);
        fcntl(opened, F_SETFL, fcntl(opened, F_GETFL) & ~O_NONBLOCK);
        if (dup2(opened, fd) < 0)
            fail("%s", strerror(errno));
        close(opened);
    }
}

/* One volumeMount at its mountPath inside root; a subPath resolved inside
 * the volume and never leaving it (made if missing, with the volume's mode). */
static void mount_volume(const char *root, const char *name, const char *mount_path, const char *source,
                         const char *sub_path, int readonly, int privileged)
{
    char where[8400];
    snprintf(where, sizeof where, "volumeMount %s at %s", name, mount_path);
    int found;
    if (*sub_path) {
        int vol = open_root(source);
        if (vol < 0)
            goto failed;
        found = lookup(vol, sub_path, BENEATH);
        if (found < 0 && err_no == ENOENT) {
            struct stat st;
            fstat(vol, &st);
            found = make_in(vol, sub_path, 1, BENEATH, st.st_mode & 07777);
        }
        close(vol);
    } else {  /* links followed: a hostPath names a place on the host */
        found = open(source, O_PATH | O_CLOEXEC);
        if (found < 0)
            set_err(errno, "%s: %s", strerror(errno), source);
    }
    if (found < 0)
        goto failed;
    struct stat st;
    fstat(found, &st);
    int root_fd = open_root(root);
    if (root_fd < 0)
        goto failed;
    int target = make_in(root_fd, mount_path, S_ISDIR(st.st_mode), IN_ROOT, -1);
    if (target < 0)
        goto failed;
    char p[32];
    if (bind_onto(fd_path(found, p), target, readonly, 1, !privileged && !openable_device(&st)) < 0)
        goto failed;
    close(target);
    close(root_fd);
    close(found);
    return;
failed:
    if (err_no == EXDEV && *sub_path)
        fail("%s: subPath %s: a symlink or '..' in it leads out of the volume", where, sub_path);
    fail("%s: %s", where, err_text);
}

/* Mask a host file (a root process container sees /etc as an unprivileged
 * host user does): an empty tmpfs over a directory, /dev/null over a file. */
static void hide(const char *root, const char *inside)
{
    int root_fd = open_root(root);
    if (root_fd < 0)
        fail("hide %s: %s", inside, err_text);
    int fd = lookup(root_fd, inside, IN_ROOT);
    if (fd < 0) {
        close(root_fd);
        if (err_no == ENOENT)
            return;  /* removed on the host meanwhile */
        fail("hide %s: %s", inside, strerror(err_no));
    }
    struct stat st;
    fstat(fd, &st);
    int rc = S_ISDIR(st.st_mode) ? mask(fd) : bind_onto("/dev/null", fd, 1, 0, 0);
    if (rc < 0)
        fail("hide %s: %s", inside, err_text);
    close(fd);
    close(root_fd);
}

/* privileged: one host device in the container's /dev. As root a node of
 * its own, made as runc makes it; rootless the host's node bound (mknod is
 * refused), checked to be still the device the supervisor found. */
static void host_device(const char *root, const char *target, const char *source, mode_t mode,
                        dev_t rdev, uid_t uid, gid_t gid, int as_root)
{
    int root_fd = open_root(root);
    if (root_fd < 0)
        fail("%s: %s", target, err_text);
    if (lexists(root_fd, target)) {
        close(root_fd);
        return;  /* a name the container has already stays its own */
    }
    if (as_root) {
        char parent_path[4096];
        snprintf(parent_path, sizeof parent_path, "%s", target);
        char *slash = strrchr(parent_path, '/');
        *slash = 0;
        int parent = make_in(root_fd, parent_path, 1, IN_ROOT, -1);
        if (parent < 0)
            fail("%s: %s", target, err_text);
        if (mknodat(parent, slash + 1, mode, rdev) < 0 ||
            fchownat(parent, slash + 1, uid, gid, AT_SYMLINK_NOFOLLOW) < 0 ||
            fchmodat(parent, slash + 1, mode & 07777, 0) < 0)
            fail("%s: %s", target, strerror(errno));
        close(parent);
    } else {
        int node = open(source, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        if (node < 0)
            fail("%s: %s: %s", target, strerror(errno), source);
        struct stat now;
        fstat(node, &now);
        if ((now.st_mode & S_IFMT) != (mode & S_IFMT) || now.st_rdev != rdev)
            fail("%s: the host's node changed while it was added: %s", target, source);
        int where = make_in(root_fd, target, 0, IN_ROOT, -1);
        char p[32];
        if (where < 0 || bind_onto(fd_path(node, p), where, 0, 0, 0) < 0)
            fail("%s: %s", target, err_text);
        close(where);
        close(node);
    }
    close(root_fd);
}

/* The pod's /etc/hosts or /etc/resolv.conf over the root's (resolved inside
 * it: a link such as /etc/resolv.conf -> ../run/... is followed there).
 * create: made where the root has none (an image's). */
static void etc_file(const char *root, const char *target, const char *source, int create)
{
    int root_fd = open_root(root);
    if (root_fd < 0)
        fail("%s", err_text);
    if (!create && !lexists(root_fd, target)) {
        close(root_fd);
        return;
    }
    int where = make_in(root_fd, target, 0, IN_ROOT, -1);
    if (where < 0 || bind_onto(source, where, 0, 0, 1) < 0)
        fail("%s", err_text);
    close(where);
    close(root_fd);
}

/* containerd's masked and read-only kernel paths, after pivot_root: pairs
 * of (path, "read-only" | "masked"); a path this kernel lacks is skipped. */
static void kernel_paths(char **pairs, int n)
{
    int root_fd = open_root("/");
    if (root_fd < 0)
        fail("%s", err_text);
    for (int i = 0; i + 1 < n; i += 2) {
        const char *path = pairs[i], *how = pairs[i + 1];
        int fd = lookup(root_fd, path, IN_ROOT);
        if (fd < 0) {
            if (err_no == ENOENT)
                continue;  /* not on this kernel */
            fail("%s (%s): %s", path, how, strerror(err_no));
        }
        char p[32];
        int rc = strcmp(how, "read-only") == 0 ? bind_onto(fd_path(fd, p), fd, 1, 1, 0) : mask(fd);
        if (rc < 0)
            fail("%s (%s): %s", path, how, strerror(err_no));
        close(fd);
    }
    close(root_fd);
}

/* The command gets stdin, stdout and stderr only: whatever else this
 * process holds closes on exec. Done before the seccomp filter (which may
 * refuse close_range) and checked; without close_range (Linux < 5.11),
 * each fd /proc/self/fd lists. */
static int fds_marked;

static void close_on_exec_above_2(void)
{
    fds_marked = 1;
    if (syscall(SYS_close_range, 3, ~0U, CLOSE_RANGE_CLOEXEC) == 0)
        return;
    DIR *dir = opendir("/proc/self/fd");
    if (!dir)
        fail("close the inherited fds: %s", strerror(errno));
    for (struct dirent *e; (e = readdir(dir));) {
        int fd = atoi(e->d_name);
        if (fd > 2 && fd != dirfd(dir) && fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
            fail("close the inherited fds: %s", strerror(errno));
    }
    closedir(dir);
}

static int nibble(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static void load_seccomp(unsigned flags, const char *flag_names, int no_new_privs, const char *hex)
{
    size_t n = strlen(hex) / 2;
    if (n == 0 || n % 8 || n / 8 > 0xFFFF)
        fail("a seccomp program of %zu bytes", n);
    unsigned char *program = malloc(n);
    for (size_t i = 0; i < n; i++) {  /* (not sscanf: ~10,000 calls of it took ~1.5 ms) */
        int hi = nibble(hex[2 * i]), lo = nibble(hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            fail("a seccomp program that is not hexadecimal");
        program[i] = hi << 4 | lo;
    }
    struct sock_fprog prog = {.len = n / 8, .filter = (struct sock_filter *)program};
    if (no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        fail("%s", strerror(errno));
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog) < 0)
        fail("%s", strerror(errno));
    if (sink_fd >= 0) {
        char call[512];
        snprintf(call, sizeof call, "%sseccomp(SECCOMP_SET_MODE_FILTER, %s, {%zu BPF instructions})",
                 no_new_privs ? "prctl(PR_SET_NO_NEW_PRIVS, 1); " : "", *flag_names ? flag_names : "0", n / 8);
        tell(call, "", "(no shell command: a runtime loads the filter itself just before exec; "
                       "`grep Seccomp /proc/PID/status` shows mode 2 afterwards)");
    }
    free(program);
}

/* A uid or gid of the plan: digits, at most runc's largest id (2^31 - 1);
 * anything else would wrap in uid_t (-1 even means "unchanged"). */
static unsigned valid_id(const char *text)
{
    char *end;
    unsigned long long v = strtoull(text, &end, 10);
    if (!*text || *end || text[0] == '-' || v > MAX_ID)
        fail("read the start plan: \"%s\" is not a valid id", text);
    return v;
}

static int executable(const char *path)
{
    struct stat st;
    return access(path, X_OK) == 0 && stat(path, &st) == 0 && !S_ISDIR(st.st_mode);
}

/* The executable for argv[0], searched in PATH as execvp does (messages as
 * runc words them). */
static const char *resolve(const char *name, const char *path)
{
    if (strchr(name, '/')) {
        struct stat st;
        fail_code = 127;
        if (stat(name, &st) < 0)
            fail_reason("StartError", "exec: \"%s\": stat %s: no such file or directory", name, name);
        return name;
    }
    char *copy = strdup(path ? path : ""), *rest = copy;
    for (;;) {
        char *entry = strsep(&rest, ":");
        if (!entry)
            break;
        char *candidate;
        if (asprintf(&candidate, "%s/%s", *entry ? entry : ".", name) < 0)
            break;
        if (executable(candidate))
            return candidate;
        free(candidate);
    }
    fail_code = 127;
    fail_reason("StartError", "exec: \"%s\": executable file not found in $PATH", name);
}

static void run(char **argv, char **env)
{
    const char *path = NULL;
    for (char **e = env; *e; e++)
        if (strncmp(*e, "PATH=", 5) == 0)
            path = *e + 5;
    const char *exe = resolve(argv[0], path);
    fail_code = 126;
    if (sink_fd >= 0) {
        struct str call = {0}, hand = {0};
        int n = 0;
        while (env[n])
            n++;
        str_add(&call, "execve(");
        str_repr(&call, exe);
        str_add(&call, ", [");
        for (int i = 0; argv[i]; i++) {
            if (i)
                str_add(&call, ", ");
            str_repr(&call, argv[i]);
        }
        str_add(&call, "], {%d variables})", n);
        str_add(&hand, "exec");
        for (int i = 0; argv[i]; i++) {
            str_add(&hand, " ");
            str_shquote(&hand, argv[i]);
        }
        tell(call.s, "(no return: the container runs)", hand.s);
    }
    signal(SIGPIPE, SIG_DFL);
    execve(exe, argv, env);
    signal(SIGPIPE, SIG_IGN);
    fail("%s: %s", strerror(errno), exe);
}

/* The supervisor runs SCHED_BATCH, so that it does not preempt what it
 * starts (nspod/kernel/process.py, yield_on_wakeup); we inherit that, and
 * the container must not: back to the normal policy before anything. The
 * system calls themselves: musl's wrappers are stubs that return ENOSYS. */
static void normal_policy(void)
{
    struct sched_param param = {0};
    if (syscall(SYS_sched_getscheduler, 0) == SCHED_BATCH)
        syscall(SYS_sched_setscheduler, 0, SCHED_OTHER, &param);  /* (refused: slower, nothing else) */
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: nspod-exec REPORT_FD PLAN_FD (nspod starts it: it is not a command)\n");
        return 2;
    }
    /* Not dumpable until execve (which resets it for the command): no
     * process of the container can open our /proc/PID/exe (this binary) or
     * our fds while we run among its processes (runc's nsexec does the
     * same; CVE-2019-5736). */
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
        return 126;
    normal_policy();
    spawner = getppid();
    report_fd = atoi(argv[1]);
    fcntl(report_fd, F_SETFD, FD_CLOEXEC);
    default_signals();
    read_plan(atoi(argv[2]));

    struct op op;
    struct identity id = {0, 0, NULL, 0, NULL};
    char *passwd = NULL, *group = NULL, **env = NULL;
    int home_index = -1;
    while (next_op(&op)) {
        const char *name = op.name;
        char **a = op.argv;
        if (strcmp(name, "explain") == 0) {
            want(&op, 2);
            role = strdup(a[1]);
            if (op.argc > 2) {
                intermediate_role = strdup(a[2]);
            } else if (asprintf((char **)&intermediate_role, "%s's intermediate", role) < 0) {
                fail("%s", strerror(errno));
            }
            /* Given an intermediate's name, we are it until we fork (exec). */
            explain_as(fd_arg(a[0]), op.argc > 2 ? intermediate_role : role);
            if (sink_fd >= 0)
                fcntl(sink_fd, F_SETFD, FD_CLOEXEC);
        } else if (strcmp(name, "pidns") == 0) {
            want(&op, 1);
            enter_pid_namespace(a[0]);
        } else if (strcmp(name, "fork") == 0) {
            want(&op, 1);
            if (strcmp(a[0], "wait") == 0)
                fork_and_wait();
            else if (strcmp(a[0], "collect") == 0 && op.argc == 3)
                fork_and_collect(strtol(a[1], NULL, 10), strtoul(a[2], NULL, 10));
            else
                fail("read the start plan: fork %s", a[0]);
        } else if (strcmp(name, "nullstdin") == 0) {
            int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
            if (null < 0 || dup2(null, 0) < 0)
                fail("/dev/null: %s", strerror(errno));
            close(null);
        } else if (strcmp(name, "chdir") == 0) {
            want(&op, 1);
            enter_working_dir(a[0], 0);
        } else if (strcmp(name, "pdeathsig") == 0) {
            /* After the user step, which clears it: a check cut off takes its command along. */
            if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
                fail("%s", strerror(errno));
            /* The parent was gone already? Its pipe says (getppid cannot:
             * our parent is outside our PID namespace). */
            struct pollfd gone = {parent_alive, POLLIN, 0};
            if (parent_alive >= 0 && poll(&gone, 1, 0) > 0 && (gone.revents & POLLHUP))
                _exit(137);
        } else if (strcmp(name, "step") == 0) {
            want(&op, 1);
            step_label = a[0];
        } else if (strcmp(name, "setns") == 0) {
            want(&op, 3);
            join(fd_arg(a[0]), a[1], a[2]);
            close(fd_arg(a[0]));
        } else if (strcmp(name, "unshare") == 0) {
            want(&op, 1);
            new_namespace(a[0]);
        } else if (strcmp(name, "private") == 0) {
            if (do_mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
                fail("%s", err_text);
        } else if (strcmp(name, "cgroup") == 0) {
            for (int i = 0; i < op.argc; i++)
                write_cgroup(a[i]);
        } else if (strcmp(name, "mount") == 0) {
            want(&op, 5);
            if (do_mount(or_null(a[0]), a[1], or_null(a[2]), strtoul(a[3], NULL, 10), or_null(a[4])) < 0)
                fail("%s", err_text);
        } else if (strcmp(name, "tmpfs") == 0) {
            want(&op, 3);
            char data[64];
            snprintf(data, sizeof data, "mode=%s", a[1]);
            if (do_mount("tmpfs", a[0], "tmpfs", MS_NOSUID | (yes(a[2]) ? MS_NODEV : 0), data) < 0)
                fail("%s", err_text);
        } else if (strcmp(name, "mkdir") == 0) {
            want(&op, 1);
            if (mkdir(a[0], 0777) < 0)
                fail("%s: %s", strerror(errno), a[0]);
        } else if (strcmp(name, "symlink") == 0) {
            want(&op, 2);
            if (symlink(a[0], a[1]) < 0)
                fail("%s: %s -> %s", strerror(errno), a[0], a[1]);
            tell_simple("symlink(\"%s\", \"%s\")", "ln -s %s %s", a[0], a[1]);
        } else if (strcmp(name, "chmod") == 0) {
            want(&op, 2);
            if (chmod(a[0], strtoul(a[1], NULL, 8)) < 0)
                fail("%s: %s", strerror(errno), a[0]);
        } else if (strcmp(name, "touch") == 0) {
            want(&op, 1);
            int fd = open(a[0], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
            if (fd < 0)
                fail("%s: %s", strerror(errno), a[0]);
            close(fd);
        } else if (strcmp(name, "bind") == 0) {
            want(&op, 5);
            if (bind_mount(a[0], a[1], yes(a[2]), yes(a[3]), yes(a[4])) < 0)
                fail("%s", err_text);
        } else if (strcmp(name, "addflags") == 0) {
            want(&op, 3);
            if (add_flags(a[0], strtoul(a[1], NULL, 10), yes(a[2])) < 0)
                fail("%s", err_text);
        } else if (strcmp(name, "overlay") == 0) {
            /* Lower layers are named relative to lower_base, as the kernel
             * resolves them from the working directory: shorter options. */
            want(&op, 3);
            int cwd = open(".", O_PATH | O_CLOEXEC);
            if (chdir(a[1]) < 0)
                fail("%s: %s", strerror(errno), a[1]);
            if (do_mount("overlay", a[0], "overlay", 0, a[2]) < 0)
                fail("%s", err_text);
            if (fchdir(cwd) < 0)
                fail("%s", strerror(errno));
            close(cwd);
        } else if (strcmp(name, "fuse") == 0) {
            want(&op, 3);
            fuse_overlay(a[0], a[1], a[2]);
        } else if (strcmp(name, "hide") == 0) {
            want(&op, 2);
            hide(a[0], a[1]);
        } else if (strcmp(name, "hostdev") == 0) {
            want(&op, 8);
            host_device(a[0], a[1], a[2], strtoul(a[3], NULL, 10), strtoull(a[4], NULL, 10),
                        strtoul(a[5], NULL, 10), strtoul(a[6], NULL, 10), yes(a[7]));
        } else if (strcmp(name, "etcfile") == 0) {
            want(&op, 4);
            etc_file(a[0], a[1], a[2], yes(a[3]));
        } else if (strcmp(name, "volume") == 0) {
            want(&op, 7);
            mount_volume(a[0], a[1], a[2], a[3], a[4], yes(a[5]), yes(a[6]));
        } else if (strcmp(name, "accounts") == 0) {
            want(&op, 1);
            read_accounts(a[0], &passwd, &group);
        } else if (strcmp(name, "stdio") == 0) {
            want(&op, 4);
            open_stdio(a[0], a[1], a[2], yes(a[3]));
        } else if (strcmp(name, "pivot") == 0) {
            want(&op, 1);
            if (pivot_into(a[0]) < 0)
                fail("%s", err_text);
        } else if (strcmp(name, "kernelpaths") == 0) {
            kernel_paths(a, op.argc);
        } else if (strcmp(name, "readonlyroot") == 0) {
            want(&op, 1);
            if (make_root_readonly(yes(a[0])) < 0)
                fail("%s", err_text);
        } else if (strcmp(name, "ids") == 0) {
            want(&op, 4);
            id.uid = valid_id(a[0]);
            id.gid = valid_id(a[1]);
            char *groups = strdup(a[2]);
            for (char *g = strtok(groups, ","); g; g = strtok(NULL, ",")) {
                id.groups = realloc(id.groups, (id.ngroups + 1) * sizeof(gid_t));
                id.groups[id.ngroups++] = valid_id(g);
            }
            id.home = a[3];
        } else if (strcmp(name, "identity") == 0) {
            want(&op, 4);
            image_identity(passwd ? passwd : "", group ? group : "", a[0], yes(a[1]), strtol(a[2], NULL, 10),
                           a[3], &id);
        } else if (strcmp(name, "env") == 0) {
            /* HOME_INDEX HOSTNAME_INDEX K=V...: the entries nspod-exec fills
             * in (-1: none): HOME, the user's decided above; HOSTNAME, ours
             * now that we are in the pod's uts namespace (`nspod exec`). */
            want(&op, 2);
            home_index = atoi(a[0]);
            int hostname_index = atoi(a[1]);
            env = a + 2;
            if (home_index >= 0 && home_index < op.argc - 2) {
                char *home;
                if (asprintf(&home, "HOME=%s", id.home ? id.home : "/") < 0)
                    fail("%s", strerror(errno));
                env[home_index] = home;
            }
            if (hostname_index >= 0 && hostname_index < op.argc - 2) {
                char host[256] = "", *entry;
                gethostname(host, sizeof host - 1);
                if (asprintf(&entry, "HOSTNAME=%s", host) < 0)
                    fail("%s", strerror(errno));
                env[hostname_index] = entry;
            }
        } else if (strcmp(name, "workdir") == 0) {
            want(&op, 1);
            enter_working_dir(a[0], 1);  /* Kubernetes creates a missing workingDir */
        } else if (strcmp(name, "tty") == 0) {
            want(&op, 1);
            make_terminal(fd_arg(a[0]), id.uid, id.gid);
        } else if (strcmp(name, "seccomp") == 0) {
            want(&op, 4);
            close_on_exec_above_2();
            load_seccomp(strtoul(a[0], NULL, 10), a[1], yes(a[2]), a[3]);
        } else if (strcmp(name, "caps") == 0) {
            want(&op, 2);
            apply_identity(&id, a + 2, op.argc - 2, yes(a[0]), yes(a[1]));
        } else if (strcmp(name, "exec") == 0) {
            want(&op, 1);
            if (!env)
                fail("read the start plan: exec before env");
            if (!fds_marked)  /* (a plan without a seccomp filter) */
                close_on_exec_above_2();
            run(a, env);
        } else {
            fail("read the start plan: no operation %s", name);
        }
    }
    fail("read the start plan: it has no exec");
}
