/* Mounts: each told to --explain as mount(2) was asked, with the mount(8)
 * command that does the same. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sys/mount.h>
#ifndef __GLIBC__
#include <linux/mount.h> /* musl's sys/mount.h lacks the new mount API (glibc 2.36 has it) */
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "executor.h"

static const struct { unsigned long bit; const char *name, *option; } FLAGS[] = {
    {MS_RDONLY, "MS_RDONLY", "ro"},          {MS_NOSUID, "MS_NOSUID", "nosuid"},
    {MS_NODEV, "MS_NODEV", "nodev"},         {MS_NOEXEC, "MS_NOEXEC", "noexec"},
    {MS_REMOUNT, "MS_REMOUNT", NULL},        {MS_NOATIME, "MS_NOATIME", "noatime"},
    {MS_NODIRATIME, "MS_NODIRATIME", "nodiratime"}, {MS_BIND, "MS_BIND", NULL},
    {MS_REC, "MS_REC", NULL},                {MS_PRIVATE, "MS_PRIVATE", NULL},
    {MS_SLAVE, "MS_SLAVE", NULL},            {MS_RELATIME, "MS_RELATIME", "relatime"},
};
#define NFLAGS (sizeof FLAGS / sizeof FLAGS[0])

static void quoted(struct str *b, const char *s)
{
    if (s)
        str_add(b, "\"%s\"", s);
    else
        str_add(b, "NULL");
}

static void tell_mount(const char *source, const char *target, const char *fstype,
                       unsigned long flags, const char *data)
{
    char sbuf[2048], tbuf[2048];
    source = shown_path(source, sbuf, sizeof sbuf);
    target = shown_path(target, tbuf, sizeof tbuf);
    struct str call = {0}, hand = {0}, options = {0};
    str_add(&call, "mount(");
    quoted(&call, source);
    str_add(&call, ", ");
    quoted(&call, target);
    str_add(&call, ", ");
    quoted(&call, fstype);
    str_add(&call, ", ");
    int any = 0;
    for (size_t i = 0; i < NFLAGS; i++)
        if (flags & FLAGS[i].bit)
            str_add(&call, "%s%s", any++ ? "|" : "", FLAGS[i].name);
    if (!any)
        str_add(&call, "0");
    if (data && *data) {
        str_add(&call, ", ");
        quoted(&call, data);
    }
    str_add(&call, ")");
    str_add(&options, "%s", "");
    for (size_t i = 0; i < NFLAGS; i++)
        if ((flags & FLAGS[i].bit) && FLAGS[i].option)
            str_add(&options, "%s%s", options.len ? "," : "", FLAGS[i].option);
    if (flags & (MS_PRIVATE | MS_SLAVE)) {
        str_add(&hand, "mount --make-%s%s %s", flags & MS_REC ? "r" : "",
                flags & MS_PRIVATE ? "private" : "slave", target);
    } else if (flags & MS_REMOUNT) {
        str_add(&hand, "mount -o remount,bind%s%s %s", options.len ? "," : "", options.s, target);
    } else if (flags & MS_BIND) {
        str_add(&hand, "mount --%s %s %s", flags & MS_REC ? "rbind" : "bind", source ? source : "None",
                target);
        if (options.len)
            str_add(&hand, " -o %s", options.s);
    } else {
        if (data && *data)
            str_add(&options, "%s%s", options.len ? "," : "", data);
        str_add(&hand, "mount -t %s", fstype ? fstype : "None");
        if (options.len)
            str_add(&hand, " -o %s", options.s);
        str_add(&hand, " %s %s", source ? source : "None", target);
    }
    tell(call.s, "", hand.s);
    free(call.s);
    free(hand.s);
    free(options.s);
}

int do_mount(const char *source, const char *target, const char *fstype,
             unsigned long flags, const char *data)
{
    if (mount(source, target, fstype, flags, data) < 0)
        return set_err(errno, "mount %s on %s: %s", source ? source : "None", target, strerror(errno));
    if (sink_fd >= 0)
        tell_mount(source, target, fstype, flags, data);
    return 0;
}

static const char *flag_options(unsigned long flags)
{
    if ((flags & MS_RDONLY) && (flags & MS_NODEV))
        return "ro+nodev";
    return flags & MS_RDONLY ? "ro" : "nodev";
}

/* Add MS_RDONLY and/or MS_NODEV to the mount at target, keeping its other
 * flags (a remount in a user namespace must keep the flags the kernel
 * locked); recursive: every mount below it too, with mount_setattr(2). */
int add_flags(const char *target, unsigned long flags, int recursive)
{
    if (recursive) {
        struct mount_attr attr = {0};
        if (flags & MS_RDONLY)
            attr.attr_set |= MOUNT_ATTR_RDONLY;
        if (flags & MS_NODEV)
            attr.attr_set |= MOUNT_ATTR_NODEV;
        if (syscall(SYS_mount_setattr, AT_FDCWD, target, AT_RECURSIVE, &attr, sizeof attr) < 0) {
            if (errno == ENOSYS)
                return set_err(errno, "mount_setattr(2) is missing: nspod needs Linux 5.12 or later");
            return set_err(errno, "mount_setattr %s %s: %s", target, flag_options(flags), strerror(errno));
        }
        if (sink_fd >= 0) {
            char call[4200], hand[4200], names[64] = "";
            if (flags & MS_RDONLY)
                strcat(names, "MOUNT_ATTR_RDONLY");
            if (flags & MS_NODEV)
                strcat(names, *names ? "|MOUNT_ATTR_NODEV" : "MOUNT_ATTR_NODEV");
            snprintf(call, sizeof call, "mount_setattr(\"%s\", AT_RECURSIVE, {attr_set: %s})", target, names);
            const char *opts = flag_options(flags);
            snprintf(hand, sizeof hand, "mount -o remount,bind,%s %s  # and every mount below it",
                     strcmp(opts, "ro+nodev") == 0 ? "ro,nodev" : opts, target);
            tell(call, "", hand);
        }
        return 0;
    }
    struct statvfs sv;
    if (statvfs(target, &sv) < 0)
        return set_err(errno, "%s: %s", strerror(errno), target);
    static const struct { unsigned long st, ms; } KEPT[] = {
        {ST_RDONLY, MS_RDONLY}, {ST_NOSUID, MS_NOSUID}, {ST_NODEV, MS_NODEV}, {ST_NOEXEC, MS_NOEXEC},
        {ST_NOATIME, MS_NOATIME}, {ST_NODIRATIME, MS_NODIRATIME}, {ST_RELATIME, MS_RELATIME},
    };
    unsigned long kept = flags;
    for (size_t i = 0; i < sizeof KEPT / sizeof KEPT[0]; i++)
        if (sv.f_flag & KEPT[i].st)
            kept |= KEPT[i].ms;
    return do_mount(NULL, target, NULL, MS_REMOUNT | MS_BIND | kept, NULL);
}

/* Bind source (with its submounts, when recursive) on target; readonly and
 * nodev hold for the submounts too. */
int bind_mount(const char *source, const char *target, int readonly, int recursive, int nodev)
{
    if (do_mount(source, target, NULL, MS_BIND | (recursive ? MS_REC : 0), NULL) < 0)
        return -1;
    unsigned long flags = (readonly ? MS_RDONLY : 0) | (nodev ? MS_NODEV : 0);
    return flags ? add_flags(target, flags, recursive) : 0;
}

/* Bind source onto target_fd (found inside root_fd), its flags set before
 * it is attached: open_tree(OPEN_TREE_CLONE) makes a detached copy,
 * mount_setattr marks it (readonly: the top mount only, a volume's
 * readOnly; nodev: every submount too), move_mount attaches it where the fd
 * is. Nothing is looked up again between the mount and its flags, so a
 * sibling swapping a path in a shared volume cannot make us mark another
 * mount. */
int bind_onto(const char *source, int target_fd, int readonly, int recursive, int nodev)
{
    int tree = syscall(SYS_open_tree, AT_FDCWD, source,
                       OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (recursive ? AT_RECURSIVE : 0));
    if (tree < 0)
        return set_err(errno, "open_tree %s: %s", source, strerror(errno));
    struct mount_attr attr = {0};
    int rc = 0;
    if (nodev) {
        attr.attr_set = MOUNT_ATTR_NODEV;
        if (syscall(SYS_mount_setattr, tree, "", AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0), &attr, sizeof attr) < 0)
            rc = set_err(errno, "mount_setattr %s nodev: %s", source, strerror(errno));
    }
    if (rc == 0 && readonly) {
        attr.attr_set = MOUNT_ATTR_RDONLY;
        if (syscall(SYS_mount_setattr, tree, "", AT_EMPTY_PATH, &attr, sizeof attr) < 0)
            rc = set_err(errno, "mount_setattr %s ro: %s", source, strerror(errno));
    }
    char p[32];
    if (rc == 0 && syscall(SYS_move_mount, tree, "", target_fd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
        rc = set_err(errno, "mount %s on %s: %s", source, fd_path(target_fd, p), strerror(errno));
    close(tree);
    if (rc == 0 && sink_fd >= 0) {
        char sbuf[2048], tbuf[2048], call[8400], hand[8400];
        const char *shown_source = shown_path(source, sbuf, sizeof sbuf);
        const char *target = shown_path(fd_path(target_fd, p), tbuf, sizeof tbuf);
        snprintf(call, sizeof call, "open_tree(\"%s\", OPEN_TREE_CLONE%s)%s%s; move_mount(tree, \"%s\")", shown_source,
                 recursive ? "|AT_RECURSIVE" : "", nodev ? "; mount_setattr(tree, MOUNT_ATTR_NODEV)" : "",
                 readonly ? "; mount_setattr(tree, MOUNT_ATTR_RDONLY)" : "", target);
        snprintf(hand, sizeof hand, "mount --%s %s %s%s", recursive ? "rbind" : "bind", shown_source, target,
                 readonly && nodev ? " -o ro,nodev" : readonly ? " -o ro" : nodev ? " -o nodev" : "");
        tell(call, "", hand);
    }
    return rc;
}

/* Hide what target_fd names: an empty read-only tmpfs over a directory,
 * /dev/null over anything else, as runc's maskPaths does. */
int mask(int target_fd)
{
    char p[32];
    struct stat st;
    if (fstat(target_fd, &st) < 0)
        return set_err(errno, "%s", strerror(errno));
    if (S_ISDIR(st.st_mode))
        return do_mount("tmpfs", fd_path(target_fd, p), "tmpfs",
                        MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0555,nr_blocks=1,nr_inodes=2");
    struct stat null;
    if (stat("/dev/null", &null) < 0 || !S_ISCHR(null.st_mode) || null.st_rdev != makedev(1, 3))
        return set_err(ENXIO, "/dev/null is not the null device");
    return do_mount("/dev/null", fd_path(target_fd, p), NULL, MS_BIND, NULL);
}

static const unsigned OPENABLE_DEVICES[][2] = {{1, 3}, {1, 5}, {1, 7}, {1, 8}, {1, 9}, {5, 0}, {5, 1}, {5, 2}, {10, 200}};

/* The character devices containerd's device cgroup lets a container open;
 * a volume that is one of them (a hostPath /dev/net/tun) keeps its dev. */
int openable_device(const struct stat *st)
{
    if (!S_ISCHR(st->st_mode))
        return 0;
    unsigned ma = major(st->st_rdev), mi = minor(st->st_rdev);
    if (ma == 136)
        return 1;
    for (size_t i = 0; i < sizeof OPENABLE_DEVICES / sizeof OPENABLE_DEVICES[0]; i++)
        if (OPENABLE_DEVICES[i][0] == ma && OPENABLE_DEVICES[i][1] == mi)
            return 1;
    return 0;
}

/* Make root the root of this mount namespace and drop the old one:
 * pivot_root(".", ".") stacks the old root under the new one. */
int pivot_into(const char *root)
{
    if (chdir(root) < 0)
        return set_err(errno, "%s: %s", strerror(errno), root);
    if (syscall(SYS_pivot_root, ".", ".") < 0)
        return set_err(errno, "%s", strerror(errno));
    if (sink_fd >= 0) {
        char call[4200], hand[4200];
        snprintf(call, sizeof call, "chdir(\"%s\"); pivot_root(\".\", \".\")", root);
        snprintf(hand, sizeof hand, "cd %s && pivot_root . .", root);
        tell(call, "", hand);
    }
    if (umount2(".", MNT_DETACH) < 0)
        return set_err(errno, "%s", strerror(errno));
    tell("umount2(\".\", MNT_DETACH)", "", "umount -l .  # the old root, stacked under the new one");
    return chdir("/") < 0 ? set_err(errno, "%s", strerror(errno)) : 0;
}

/* securityContext.readOnlyRootFilesystem: the root mount itself read-only
 * (as runc remounts only the rootfs). own_tmp (a process container): its
 * own /tmp and /run tmpfs turn read-only too, unless something covers them. */
int make_root_readonly(int own_tmp)
{
    if (add_flags("/", MS_RDONLY, 0) < 0)
        return -1;
    if (!own_tmp)
        return 0;
    FILE *f = fopen("/proc/self/mountinfo", "re");
    if (!f)
        return set_err(errno, "%s: /proc/self/mountinfo", strerror(errno));
    char line[8192];
    long root_id = -1;
    struct { long id, parent; char point[16]; } rows[4096];
    int n = 0;
    while (fgets(line, sizeof line, f) && n < 4096) {
        long id, parent;
        char point[4096];
        if (sscanf(line, "%ld %ld %*s %*s %4095s", &id, &parent, point) != 3)
            continue;
        if (strcmp(point, "/") == 0 && root_id < 0)
            root_id = id;
        if (strcmp(point, "/tmp") == 0 || strcmp(point, "/run") == 0) {
            rows[n].id = id;
            rows[n].parent = parent;
            strcpy(rows[n].point, point[1] == 't' ? "/tmp" : "/run");
            n++;
        }
    }
    fclose(f);
    static const char *points[] = {"/tmp", "/run"};
    for (int k = 0; k < 2; k++) {
        int count = 0, ours = 0;
        for (int i = 0; i < n; i++)
            if (strcmp(rows[i].point, points[k]) == 0) {
                count++;
                ours = rows[i].parent == root_id;
            }
        if (count == 1 && ours && add_flags(points[k], MS_RDONLY, 0) < 0)
            return -1;
    }
    return 0;
}
