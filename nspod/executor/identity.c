/* Who the container runs as: an image's /etc/passwd and /etc/group read
 * inside its root and looked up as containerd's oci package does; then the
 * user, groups and capabilities set as runc sets them (finalizeNamespace):
 * bounding set, setgroups/setgid/setuid with PR_SET_KEEPCAPS, capset, the
 * ambient set, no_new_privs. And a `tty: true` container's terminal. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <pty.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "executor.h"

#define IMAGE_FILE_MAX (1 << 20)

int setgroups_allowed(void)
{
    /* "deny" only in a user namespace mapped without newgidmap. */
    char buf[16] = "";
    int fd = open("/proc/self/setgroups", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    buf[n > 0 ? n : 0] = 0;
    return strncmp(buf, "deny", 4) != 0;
}

/* A small regular file of the image, "" when it has none. Anything else is
 * refused unopened (a FIFO would hang the start, a device open may act). */
static char *image_file(int root_fd, const char *path)
{
    int fd = lookup(root_fd, path, IN_ROOT);
    if (fd < 0) {
        if (err_no == ENOENT || err_no == ENOTDIR)
            return strdup("");
        fail_reason("CreateContainerError", "cannot read the image's %s: %s", path, strerror(err_no));
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
        fail_reason("CreateContainerError", "the image's %s is not a regular file", path);
    char p[32];
    int file = open(fd_path(fd, p), O_RDONLY | O_CLOEXEC);
    close(fd);
    if (file < 0)
        fail_reason("CreateContainerError", "cannot read the image's %s: %s", path, strerror(errno));
    char *text = malloc(IMAGE_FILE_MAX + 1);
    size_t len = 0;
    ssize_t n;
    while (len < IMAGE_FILE_MAX && (n = read(file, text + len, IMAGE_FILE_MAX - len)) > 0)
        len += n;
    close(file);
    text[len] = 0;
    return text;
}

/* The image's /etc/passwd and /etc/group, read before volumes are mounted
 * (containerd reads the image's own files). Where setgroups(2) is denied
 * the image's groups are left out, as runc does. */
void read_accounts(const char *root, char **passwd, char **group)
{
    int root_fd = open_root(root);
    if (root_fd < 0)
        fail("%s", err_text);
    *passwd = image_file(root_fd, "/etc/passwd");
    *group = setgroups_allowed() ? image_file(root_fd, "/etc/group") : strdup("");
    close(root_fd);
}

/* -- /etc/passwd and /etc/group -------------------------------------------- */
#define MAX_FIELDS 8

/* The next entry of text (a line not blank and not a comment) split at ":";
 * returns the number of fields, 0 at the end. */
static int next_entry(char **text, char **fields)
{
    while (**text) {
        char *line = *text, *end = line + strcspn(line, "\r\n");
        *text = *end ? end + 1 : end;
        *end = 0;
        int blank = 1;
        for (char *c = line; *c; c++)
            if (!strchr(" \t\v\f", *c))
                blank = 0;
        if (blank || line[0] == '#')
            continue;
        int n = 0;
        for (char *f = line; n < MAX_FIELDS; n++) {
            fields[n] = f;
            char *colon = strchr(f, ':');
            if (!colon) {
                n++;
                break;
            }
            *colon = 0;
            f = colon + 1;
        }
        return n;
    }
    return 0;
}

/* An id written in ASCII digits, else -1. */
static long long number(const char *text)
{
    if (!*text || strlen(text) > 18)
        return -1;
    for (const char *c = text; *c; c++)
        if (*c < '0' || *c > '9')
            return -1;
    return strtoll(text, NULL, 10);
}

static int has_member(char *members, const char *name)
{
    for (char *m = strtok(members, ","); m; m = strtok(NULL, ",")) {
        while (*m == ' ' || *m == '\t')
            m++;
        size_t n = strlen(m);
        while (n > 0 && (m[n - 1] == ' ' || m[n - 1] == '\t'))
            m[--n] = 0;
        if (strcmp(m, name) == 0)
            return 1;
    }
    return 0;
}

static int compare_gid(const void *a, const void *b)
{
    gid_t x = *(const gid_t *)a, y = *(const gid_t *)b;
    return x < y ? -1 : x > y;
}

static void add_group(struct identity *id, gid_t gid)
{
    for (int i = 0; i < id->ngroups; i++)
        if (id->groups[i] == gid)
            return;
    id->groups = realloc(id->groups, (id->ngroups + 1) * sizeof(gid_t));
    id->groups[id->ngroups++] = gid;
}

/* (uid, gid, groups, home) of an image's container, as the kubelet and
 * containerd's CRI decide (nspod/confinement.py identity did the checks
 * that need no file: runAsNonRoot, the id range). user: a uid or a name;
 * run_as_group < 0: not set; supplemental: "1,2" (fsGroup and
 * supplementalGroups). */
void image_identity(const char *passwd_in, const char *group_in, const char *user, int user_is_name,
                    long run_as_group, const char *supplemental, struct identity *id)
{
    char *passwd = strdup(passwd_in), *group = strdup(group_in), *text = passwd;
    char *fields[MAX_FIELDS], *name = NULL, *home = NULL;
    long long want = user_is_name ? -1 : number(user), uid = -1, gid = -1;
    int n;
    while ((n = next_entry(&text, fields)) > 0) {
        if (n < 4 || number(fields[2]) < 0 || number(fields[3]) < 0)
            continue;
        if (user_is_name ? strcmp(fields[0], user) == 0 : number(fields[2]) == want) {
            name = fields[0];
            uid = number(fields[2]);
            gid = number(fields[3]);
            home = n > 5 && *fields[5] ? fields[5] : "/";
            break;
        }
    }
    if (!name && user_is_name)
        fail_reason("CreateContainerError", "unable to find user %s: no matching entries in passwd file", user);
    if (!user_is_name && want < 0)
        fail_reason("CreateContainerError", "\"%s\" is not a valid uid", user);
    /* An id past runc's largest would wrap in uid_t (to root, say): refused. */
    if (name && ((unsigned long long)uid > MAX_ID || (unsigned long long)gid > MAX_ID))
        fail_reason("CreateContainerError", "user %s in the image's /etc/passwd: uid %lld or gid %lld is more than %llu",
                    name, uid, gid, MAX_ID);
    memset(id, 0, sizeof *id);
    if (run_as_group > (long)MAX_ID)
        fail_reason("CreateContainerError", "\"%ld\" is not a valid gid", run_as_group);
    id->uid = name ? uid : want;
    id->gid = run_as_group >= 0 ? run_as_group : (name ? gid : 0);
    add_group(id, id->gid);
    if (name) {  /* the groups listing the user, but not the one named like it */
        text = group;
        while ((n = next_entry(&text, fields)) > 0)
            if (n >= 3 && number(fields[2]) >= 0 && strcmp(fields[0], name) != 0 && n > 3 &&
                has_member(fields[3], name)) {
                if ((unsigned long long)number(fields[2]) > MAX_ID)
                    fail_reason("CreateContainerError", "group %s in the image's /etc/group: gid %lld is more than %llu",
                                fields[0], number(fields[2]), MAX_ID);
                add_group(id, number(fields[2]));
            }
    }
    char *extra = strdup(supplemental);
    for (char *g = strtok(extra, ","); g; g = strtok(NULL, ","))
        add_group(id, strtoul(g, NULL, 10));
    qsort(id->groups, id->ngroups, sizeof(gid_t), compare_gid);
    id->home = strdup(name ? home : (id->uid == 0 ? "/root" : "/"));
    free(extra);
    free(passwd);
    free(group);
}

/* -- the user step ------------------------------------------------------------ */
static void must_prctl(int option, unsigned long arg2, unsigned long arg3, const char *what)
{
    if (prctl(option, arg2, arg3, 0, 0) < 0)
        fail("%s: %s", what, strerror(errno));
}

static int last_cap(void)
{
    char buf[16] = "";
    int fd = open("/proc/sys/kernel/cap_last_cap", O_RDONLY | O_CLOEXEC);
    ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof buf - 1);
    if (fd >= 0)
        close(fd);
    if (n <= 0)
        fail("cap_last_cap: %s", strerror(errno));
    return atoi(buf);
}

static void tell_identity(const struct identity *id, char **caps, int ncaps, const int *keep,
                          int top, int no_new_privs)
{
    struct str call = {0}, hand = {0}, kept = {0}, shortnames = {0}, groups = {0}, gcsv = {0};
    int kept_count = 0;
    for (int n = 0; n <= top; n++) {
        if (!keep[n])
            continue;
        const char *name = NULL;
        for (int i = 0; i < ncaps; i++)
            if (atoi(caps[i]) == n)
                name = strchr(caps[i], '=') + 1;
        char number[16];
        snprintf(number, sizeof number, "%d", n);
        if (!name)
            name = number;
        str_add(&kept, "%s%s", kept_count ? "," : "", name);
        const char *bare = strncasecmp(name, "cap_", 4) == 0 ? name + 4 : name;
        str_add(&shortnames, ",+");
        for (const char *c = bare; *c; c++)
            str_add(&shortnames, "%c", (*c >= 'A' && *c <= 'Z') ? *c + 32 : *c);
        kept_count++;
    }
    str_add(&groups, "[");
    str_add(&gcsv, "%s", "");
    for (int i = 0; i < id->ngroups; i++) {
        str_add(&groups, "%s%u", i ? ", " : "", id->groups[i]);
        str_add(&gcsv, "%s%u", i ? "," : "", id->groups[i]);
    }
    str_add(&groups, "]");
    if (!id->ngroups)
        str_add(&gcsv, "%u", id->gid);
    const char *k = kept_count ? kept.s : "none", *s = kept_count ? shortnames.s : "";
    str_add(&call, "prctl(PR_CAPBSET_DROP) for the %d capabilities not kept; setgroups(%s); setresgid(%u); "
            "setresuid(%u); capset(effective=permitted=inheritable=%s); ambient=%s%s",
            top + 1 - kept_count, groups.s, id->gid, id->uid, k, k,
            no_new_privs ? "; prctl(PR_SET_NO_NEW_PRIVS, 1)" : "");
    str_add(&hand, "setpriv --reuid=%u --regid=%u --groups=%s --bounding-set=-all%s --inh-caps=-all%s "
            "--ambient-caps=-all%s%s", id->uid, id->gid, gcsv.s, s, s, s,
            no_new_privs ? " --no-new-privs" : "");
    tell(call.s, "", hand.s);
}

/* Become id's uid/gid with its groups, keeping exactly the capabilities in
 * caps ("N=CAP_NAME") in every set; then no_new_privs if asked.
 * only_available: keep those our bounding set still has (privileged). */
void apply_identity(const struct identity *id, char **caps, int ncaps, int no_new_privs, int only_available)
{
    int top = last_cap();
    int *keep = calloc(top + 1, sizeof(int));
    for (int i = 0; i < ncaps; i++) {
        int n = atoi(caps[i]);
        if (n <= top && (!only_available || prctl(PR_CAPBSET_READ, n, 0, 0, 0) == 1))
            keep[n] = 1;
    }
    for (int n = 0; n <= top; n++)
        if (!keep[n])
            must_prctl(PR_CAPBSET_DROP, n, 0, "drop from the bounding set");
    must_prctl(PR_SET_KEEPCAPS, 1, 0, "keep capabilities");
    if (setgroups_allowed()) {
        if (setgroups(id->ngroups, id->groups) < 0)
            fail("%s", strerror(errno));
    } else if (!(id->ngroups == 0 || (id->ngroups == 1 && id->groups[0] == id->gid))) {
        /* Only a user namespace mapped without newgidmap denies it: then
         * only gid 0 exists, and `nspod run` has refused other groups. */
        fail("setgroups: denied in this user namespace (no subordinate gid range)");
    }
    if (setresgid(id->gid, id->gid, id->gid) < 0 || setresuid(id->uid, id->uid, id->uid) < 0)
        fail("%s", strerror(errno));
    must_prctl(PR_SET_KEEPCAPS, 0, 0, "keep capabilities");
    unsigned long long mask = 0;
    for (int n = 0; n <= top; n++)
        if (keep[n])
            mask |= 1ULL << n;
    struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2];
    for (int i = 0; i < 2; i++)
        data[i].effective = data[i].permitted = data[i].inheritable = (unsigned)(mask >> (32 * i));
    if (syscall(SYS_capset, &header, data) < 0)
        fail("capset: %s", strerror(errno));
    must_prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, "clear the ambient set");
    for (int n = 0; n <= top; n++)
        if (keep[n])
            must_prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, n, "raise an ambient capability");
    if (no_new_privs)
        must_prctl(PR_SET_NO_NEW_PRIVS, 1, 0, "no_new_privs");
    if (sink_fd >= 0)
        tell_identity(id, caps, ncaps, keep, top, no_new_privs);
    free(keep);
}

/* `tty: true`: a pty of the container's own devpts, owned by the user it
 * runs as; the slave becomes its stdin, stdout, stderr and controlling
 * terminal (it leads a new session), the master goes to the supervisor
 * over console_fd (SCM_RIGHTS, one byte "m"). */
void make_terminal(int console_fd, uid_t uid, gid_t gid)
{
    int master, slave;
    if (openpty(&master, &slave, NULL, NULL, NULL) < 0)
        fail("%s", strerror(errno));
    if (fchown(slave, uid, gid) < 0)
        fail("%s", strerror(errno));
    char byte = 'm';
    struct iovec iov = {&byte, 1};
    union { struct cmsghdr h; char buf[CMSG_SPACE(sizeof(int))]; } control;
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
                         .msg_controllen = sizeof control.buf};
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &master, sizeof(int));
    if (sendmsg(console_fd, &msg, MSG_NOSIGNAL) < 0)
        fail("%s", strerror(errno));
    close(master);
    close(console_fd);
    if (setsid() < 0 || ioctl(slave, TIOCSCTTY, 0) < 0)
        fail("%s", strerror(errno));
    for (int fd = 0; fd < 3; fd++)
        if (dup2(slave, fd) < 0)
            fail("%s", strerror(errno));
    if (slave > 2)
        close(slave);
}
