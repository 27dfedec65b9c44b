/* Paths looked up inside a root that no link in it can lead out of
 * (nspod/kernel/inroot.py did the same in Python; runc's
 * filepath-securejoin OpenInRoot/MkdirAllInRoot).
 *
 * openat2(2) with RESOLVE_IN_ROOT treats the root fd as "/": an absolute
 * symlink starts at the container's root and ".." stops there. A volume's
 * subPath is resolved with RESOLVE_BENEATH: a link or ".." that leaves the
 * volume fails (EXDEV). Magic links are never followed. Missing directories
 * are made one component at a time next to an fd already inside the root,
 * each opened without following a link. The caller mounts onto the O_PATH
 * fd through /proc/self/fd/N, so the target cannot be swapped. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "executor.h"

#define MAX_LINKS 40 /* the kernel's own limit on links in one lookup */
#define OPENAT2_RETRIES 128

const char *fd_path(int fd, char *buf)
{
    snprintf(buf, 32, "/proc/self/fd/%d", fd);
    return buf;
}

/* openat2(2); on failure err_text says what, naming path. EAGAIN: a rename
 * or mount anywhere on the machine during a lookup through ".." (another
 * container starting, say), so the kernel could not tell that it stayed
 * inside; asked again, as openat2(2) says to. */
int in_openat2(int dirfd, const char *path, int flags, unsigned long long resolve, mode_t mode)
{
    struct open_how how = {.flags = flags | O_CLOEXEC, .mode = mode, .resolve = resolve};
    int fd;
    for (int attempt = 0; (fd = syscall(SYS_openat2, dirfd, path, &how, sizeof how)) < 0 && errno == EAGAIN
                          && attempt < OPENAT2_RETRIES; attempt++)
        ;
    if (fd >= 0)
        return fd;
    int e = errno;
    if (e == ENOSYS)
        return set_err(e, "openat2(2) is missing: nspod needs Linux 5.6 or later");
    if (e == EXDEV)
        return set_err(e, "a symlink or '..' leads out of it: %s", path);
    return set_err(e, "%s: %s", strerror(e), path);
}

static const char *relative(const char *path)
{
    while (*path == '/')
        path++;
    return *path ? path : ".";
}

int open_root(const char *path)
{
    int fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return set_err(errno, "%s: %s", strerror(errno), path);
    return fd;
}

int lookup(int root_fd, const char *path, unsigned long long resolve)
{
    return in_openat2(root_fd, relative(path), O_PATH, resolve, 0);
}

static int read_fd_link(int fd, char *buf, size_t size)
{
    char p[32];
    ssize_t n = readlink(fd_path(fd, p), buf, size - 1);
    if (n < 0)
        return set_err(errno, "%s: %s", strerror(errno), p);
    buf[n] = 0;
    return 0;
}

/* 1 if path's last component exists in root_fd, even as a dangling link. */
int lexists(int root_fd, const char *path)
{
    char copy[4096];
    if ((size_t)snprintf(copy, sizeof copy, "%s", relative(path)) >= sizeof copy)
        return 0;  /* (no path that long exists) */
    char *slash = strrchr(copy, '/');
    const char *name = copy;
    int parent = -1;
    if (slash) {
        *slash = 0;
        name = slash + 1;
        parent = in_openat2(root_fd, copy, O_PATH | O_DIRECTORY, IN_ROOT, 0);
    } else {
        parent = in_openat2(root_fd, ".", O_PATH | O_DIRECTORY, IN_ROOT, 0);
    }
    if (parent < 0)
        return 0;
    struct stat st;
    int found = fstatat(parent, *name ? name : ".", &st, AT_SYMLINK_NOFOLLOW) == 0;
    close(parent);
    return found;
}

/* fd's path as seen from root_fd (for messages). */
static void name_in(int root_fd, int fd, char *out, size_t size)
{
    char root[4096], full[4096];
    if (read_fd_link(root_fd, root, sizeof root) < 0 || read_fd_link(fd, full, sizeof full) < 0) {
        snprintf(out, size, "?");
        return;
    }
    size_t n = strcmp(root, "/") == 0 ? 0 : strlen(root);
    const char *rest = full + n;
    snprintf(out, size, "%s", *rest ? rest : "/");
}

/* Split path into components, dropping "" and ".". */
static int components(char *path, char **parts, int max)
{
    int n = 0;
    for (char *tok = strtok(path, "/"); tok; tok = strtok(NULL, "/")) {
        if (strcmp(tok, ".") == 0)
            continue;
        if (n == max)
            return -1;
        parts[n++] = tok;
    }
    return n;
}

static void join(char *out, size_t size, char **parts, int n)
{
    out[0] = 0;
    for (int i = 0; i < n; i++) {
        strncat(out, parts[i], size - strlen(out) - 1);
        if (i < n - 1)
            strncat(out, "/", size - strlen(out) - 1);
    }
    if (!out[0])
        snprintf(out, size, ".");
}

/* Make name in dir_fd unless something is there: 1 if made, 0 if there. */
static int create(int dir_fd, const char *name, int directory, int mode)
{
    if (directory) {
        if (mkdirat(dir_fd, name, mode < 0 ? 0755 : mode) == 0)
            return 1;
    } else {
        int fd = openat(dir_fd, name, O_CREAT | O_EXCL | O_NOFOLLOW | O_WRONLY | O_CLOEXEC,
                        mode < 0 ? 0644 : mode);
        if (fd >= 0) {
            close(fd);
            return 1;
        }
    }
    return errno == EEXIST ? 0 : -1;
}

/* An O_PATH fd for path inside root_fd, creating what is missing there:
 * directories, and the last component as an empty file unless `directory`.
 * A dangling link on the way is followed as the lookup would follow it
 * (rooted at root_fd; with BENEATH an absolute one fails). mode < 0: 0755
 * for a directory, 0644 for a file; else exactly that mode. */
int make_in(int root_fd, const char *path_in, int directory, unsigned long long resolve, int mode)
{
    char path[4096];
    if ((size_t)snprintf(path, sizeof path, "%s", path_in) >= sizeof path)
        return set_err(ENAMETOOLONG, "%s: %.200s...", strerror(ENAMETOOLONG), path_in);
    for (int links = 0;; links++) {
        if (links > MAX_LINKS)
            return set_err(ELOOP, "%s: %s", strerror(ELOOP), path_in);
        char work[4096], prefix[4096];
        char *parts[512];
        snprintf(work, sizeof work, "%s", path);
        int n = components(work, parts, 512);
        if (n < 0)
            return set_err(ENAMETOOLONG, "%s: %s", strerror(ENAMETOOLONG), path_in);
        /* The deepest prefix that exists. */
        int fd = -1, found = n;
        for (; found >= 0; found--) {
            join(prefix, sizeof prefix, parts, found);
            fd = in_openat2(root_fd, prefix, O_PATH, resolve, 0);
            if (fd >= 0)
                break;
            if (err_no != ENOENT && err_no != ENOTDIR)
                return -1;
        }
        if (fd < 0)
            return set_err(ENOENT, "%s: %s", strerror(ENOENT), path_in);
        for (int i = found; i < n; i++)
            if (strcmp(parts[i], "..") == 0) {
                close(fd);
                return set_err(ENOENT, "'..' follows a missing directory: %s", path_in);
            }
        int followed = 0;
        for (int i = found; i < n; i++) {
            int last = i == n - 1;
            int made = create(fd, parts[i], directory || !last, mode);
            if (made < 0) {
                int e = errno;
                char where[4096];
                name_in(root_fd, fd, where, sizeof where);
                close(fd);
                return set_err(e, "cannot create %s%s%s: %s", where,
                               strcmp(where, "/") == 0 ? "" : "/", parts[i], strerror(e));
            }
            int parent = fd;
            /* Never through a link: only the component just made (or found). */
            fd = in_openat2(parent, parts[i], O_PATH | O_NOFOLLOW,
                            RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS, 0);
            if (fd < 0) {
                close(parent);
                return -1;
            }
            struct stat st;
            if (fstat(fd, &st) == 0 && S_ISLNK(st.st_mode)) {
                char target[4096];
                ssize_t len = readlinkat(parent, parts[i], target, sizeof target - 1);
                close(parent);
                close(fd);
                if (len < 0)
                    return set_err(errno, "%s: %s", strerror(errno), path_in);
                target[len] = 0;
                /* The path to look up now: the link's target, then the rest. */
                char next[8192], parent[4096] = "", after[4096] = "";
                if (target[0] == '/' && (resolve & RESOLVE_BENEATH))
                    return set_err(EXDEV, "a symlink or '..' leads out of it: %s", path_in);
                /* A relative target starts at the link's directory. */
                join(parent, sizeof parent, parts, i);
                join(after, sizeof after, parts + i + 1, n - i - 1);
                snprintf(next, sizeof next, "%s%s%s%s%s", target[0] == '/' || i == 0 ? "" : parent,
                         target[0] == '/' || i == 0 ? "" : "/", target, i + 1 < n ? "/" : "",
                         i + 1 < n ? after : "");
                if (strlen(next) >= sizeof path)
                    return set_err(ENAMETOOLONG, "%s: %s", strerror(ENAMETOOLONG), path_in);
                snprintf(path, sizeof path, "%s", next);
                followed = 1;
                break;
            }
            close(parent);
            if (made && mode >= 0) {
                char p[32];
                chmod(fd_path(fd, p), mode); /* exactly, whatever the umask */
            }
        }
        if (!followed)
            return fd;
    }
}
