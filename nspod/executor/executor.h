/* nspod-exec: performs a container's start plan (nspod/executor/plan.py
 * writes it) and execs the container's command. See main.c. */
#ifndef NSPOD_EXECUTOR_H
#define NSPOD_EXECUTOR_H

#include <stddef.h>
#include <sys/types.h>

/* -- report.c: the report pipe, errors, --explain ------------------------ */
extern int report_fd;          /* close-on-exec pipe to the supervisor */
extern int fail_code;
extern const char *step_label; /* what is being done, for error messages */

/* End the start: {"error": {"reason", "message"}} to the supervisor, exit
 * fail_code (126; 127 when the command is not found, as a shell's).
 * fail() prefixes the message with the step ("mount volumes: ..."). */
void fail(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
void fail_reason(const char *reason, const char *fmt, ...)
    __attribute__((noreturn, format(printf, 2, 3)));
void report_pid(pid_t pid);

/* The last error of a helper below, as Python's OSError would print it:
 * "mount X on Y: Permission denied", "No such file or directory: /p". */
extern char err_text[2048];
extern int err_no;
int set_err(int errnum, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* --explain: one JSON line a step, as nspod/steps.py writes them. */
extern int sink_fd;            /* -1: not explaining */
void explain_as(int fd, const char *role);
void tell(const char *call, const char *result, const char *by_hand);
void tell_joined(const char *call, const char *result, const char *by_hand,
                 const char *kind, const char *joined);
void tell_fork(pid_t pid, const char *role);
/* A growing string for building tells. */
struct str { char *s; size_t len, cap; };
void str_add(struct str *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void str_repr(struct str *b, const char *s);    /* Python's repr() of a str */
void str_shquote(struct str *b, const char *s); /* shlex.quote */
const char *shown_path(const char *path, char *buf, size_t size);
const char *fd_target(int fd, char *buf, size_t size);

/* -- inroot.c: paths looked up inside a root ------------------------------ */
#define IN_ROOT 0x12  /* RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS */
#define BENEATH 0x0a  /* RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS */
int in_openat2(int dirfd, const char *path, int flags, unsigned long long resolve, mode_t mode);
int open_root(const char *path);
int lookup(int root_fd, const char *path, unsigned long long resolve);
int lexists(int root_fd, const char *path);
int make_in(int root_fd, const char *path, int directory, unsigned long long resolve, int mode);
const char *fd_path(int fd, char *buf);  /* "/proc/self/fd/N"; buf of 32 bytes */

/* -- mounts.c -------------------------------------------------------------- */
int do_mount(const char *source, const char *target, const char *fstype,
             unsigned long flags, const char *data);
int add_flags(const char *target, unsigned long flags, int recursive);
int bind_mount(const char *source, const char *target, int readonly, int recursive, int nodev);
int bind_onto(const char *source, int target_fd, int readonly, int recursive, int nodev);
int mask(int target_fd);
struct stat;
int openable_device(const struct stat *st);
int pivot_into(const char *root);
int make_root_readonly(int own_tmp);

/* -- identity.c ------------------------------------------------------------ */
#define MAX_ID 2147483647ULL  /* runc's (and so containerd's) largest uid and gid */
struct identity { uid_t uid; gid_t gid; gid_t *groups; int ngroups; char *home; };
int setgroups_allowed(void);
void read_accounts(const char *root, char **passwd, char **group);
void image_identity(const char *passwd, const char *group, const char *user, int user_is_name,
                    long run_as_group, const char *supplemental, struct identity *id);
void apply_identity(const struct identity *id, char **caps, int ncaps, int no_new_privs,
                    int only_available);
void make_terminal(int console_fd, uid_t uid, gid_t gid);

#endif
