"""libseccomp (Debian's libseccomp2) through ctypes: a resolved profile
(nspod.seccomp.Filter) in, a seccomp BPF program out (compile); nspod-exec
loads it with seccomp(2) (nspod/executor/main.c).

libseccomp does what is hard to get right by hand: syscall numbers per
architecture (x86_64, i386 and x32 on one machine), multiplexed calls
(socketcall, ipc), the architecture check, and a compact BPF program. Only
its stable C API (libseccomp.so.2) is used: version, init, attr_set,
arch_resolve_name, arch_add, syscall_resolve_name, rule_add_array,
export_bpf, release. As crun does, the program is built once (milliseconds)
and loaded in each container (~0.4 ms for RuntimeDefault).
"""
import ctypes
import errno
import os


# Values of libseccomp's seccomp.h, by the names the OCI profile format uses.
ACTIONS = {
    "SCMP_ACT_KILL": 0x00000000,  # = KILL_THREAD
    "SCMP_ACT_KILL_THREAD": 0x00000000,
    "SCMP_ACT_KILL_PROCESS": 0x80000000,
    "SCMP_ACT_TRAP": 0x00030000,
    "SCMP_ACT_ERRNO": 0x00050000,  # | errno
    "SCMP_ACT_TRACE": 0x7FF00000,  # | message
    "SCMP_ACT_LOG": 0x7FFC0000,
    "SCMP_ACT_ALLOW": 0x7FFF0000,
}
OPERATORS = {"SCMP_CMP_NE": 1, "SCMP_CMP_LT": 2, "SCMP_CMP_LE": 3, "SCMP_CMP_EQ": 4,
             "SCMP_CMP_GE": 5, "SCMP_CMP_GT": 6, "SCMP_CMP_MASKED_EQ": 7}
# seccomp(2)'s SECCOMP_SET_MODE_FILTER flags (linux/seccomp.h).
FLAGS = {"SECCOMP_FILTER_FLAG_TSYNC": 1, "SECCOMP_FILTER_FLAG_LOG": 2,
         "SECCOMP_FILTER_FLAG_SPEC_ALLOW": 4}
_NR_SCMP_ERROR = -1  # seccomp_syscall_resolve_name: a name this libseccomp does not know
# SCMP_FLTATR_CTL_OPTIMIZE = 2: the syscalls in a binary tree, not a list
# (libseccomp >= 2.5). RuntimeDefault's program loads in ~0.4 ms instead of
# ~1.1 (the kernel runs the filter for every syscall number when it is
# loaded, to cache what is always allowed), and each call is checked in
# ~log2 steps instead of a walk down ~300 comparisons.
_SCMP_FLTATR_CTL_OPTIMIZE = 8


class _ArgCmp(ctypes.Structure):  # struct scmp_arg_cmp
    _fields_ = [("arg", ctypes.c_uint), ("op", ctypes.c_int),
                ("datum_a", ctypes.c_uint64), ("datum_b", ctypes.c_uint64)]


class _Version(ctypes.Structure):  # struct scmp_version
    _fields_ = [("major", ctypes.c_uint), ("minor", ctypes.c_uint), ("micro", ctypes.c_uint)]


def _open():
    try:
        lib = ctypes.CDLL("libseccomp.so.2")
    except OSError as e:
        return None, f"libseccomp.so.2 cannot be loaded ({e})"
    ctx = ctypes.c_void_p
    for name, restype, argtypes in (
        ("seccomp_version", ctypes.POINTER(_Version), []),
        ("seccomp_init", ctx, [ctypes.c_uint32]),
        ("seccomp_release", None, [ctx]),
        ("seccomp_arch_resolve_name", ctypes.c_uint32, [ctypes.c_char_p]),
        ("seccomp_arch_add", ctypes.c_int, [ctx, ctypes.c_uint32]),
        ("seccomp_syscall_resolve_name", ctypes.c_int, [ctypes.c_char_p]),
        ("seccomp_rule_add_array", ctypes.c_int,
         [ctx, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint, ctypes.POINTER(_ArgCmp)]),
        ("seccomp_export_bpf", ctypes.c_int, [ctx, ctypes.c_int]),
        ("seccomp_attr_set", ctypes.c_int, [ctx, ctypes.c_int, ctypes.c_uint32]),
    ):
        fn = getattr(lib, name)
        fn.restype, fn.argtypes = restype, argtypes
    return lib, None


_lib, _missing = _open()


def unavailable():
    """None when filters can be loaded here, else why not."""
    return _missing


def version():
    """libseccomp's version, e.g. "2.5.4" (None without it)."""
    if _lib is None:
        return None
    v = _lib.seccomp_version().contents
    return f"{v.major}.{v.minor}.{v.micro}"


def host():
    """(machine, kernel release) as uname says: what profiles are resolved against."""
    u = os.uname()
    return u.machine, u.release


def _action(name, errno_ret):
    value = ACTIONS[name]
    if name in ("SCMP_ACT_ERRNO", "SCMP_ACT_TRACE"):
        value |= errno_ret & 0xFFFF
    return value


def _check(rc, what):
    if rc < 0:
        raise OSError(-rc, f"seccomp: {what}: {os.strerror(-rc)}")


def compile(filter_):
    """The BPF program libseccomp makes of `filter_` (nspod.seccomp.Filter),
    as bytes (struct sock_filter[]). Building it takes milliseconds (~10 ms
    for RuntimeDefault's three x86 architectures), so it is built once and
    installed many times, as crun caches it. A syscall name this libseccomp
    does not know is left to the default action, as runc does."""
    if _lib is None:
        raise OSError(errno.ENOSYS, f"seccomp: {_missing}")
    ctx = _lib.seccomp_init(_action(filter_.default_action, filter_.default_errno))
    if not ctx:
        raise OSError(errno.EINVAL, f"seccomp: cannot make a filter with default action {filter_.default_action}")
    try:
        _lib.seccomp_attr_set(ctx, _SCMP_FLTATR_CTL_OPTIMIZE, 2)  # (an older libseccomp: a list, as before)
        for arch in filter_.architectures:
            token = _lib.seccomp_arch_resolve_name(arch.removeprefix("SCMP_ARCH_").lower().encode())
            if token == 0:
                raise OSError(errno.EINVAL, f"seccomp: libseccomp {version()} does not know {arch}")
            rc = _lib.seccomp_arch_add(ctx, token)
            if rc != -errno.EEXIST:  # the native architecture is there from the start
                _check(rc, f"architecture {arch}")
        for name, action, errno_ret, conditions in filter_.rules():
            nr = _lib.seccomp_syscall_resolve_name(name.encode())
            if nr == _NR_SCMP_ERROR:
                continue
            args = (_ArgCmp * len(conditions))(
                *[(c.index, OPERATORS[c.op], c.value, c.value_two) for c in conditions])
            _check(_lib.seccomp_rule_add_array(ctx, _action(action, errno_ret), nr, len(conditions), args),
                   f"rule for {name}")
        fd = os.memfd_create("nspod-seccomp", os.MFD_CLOEXEC)
        try:
            _check(_lib.seccomp_export_bpf(ctx, fd), "building the filter")
            size = os.lseek(fd, 0, os.SEEK_CUR)
            return os.pread(fd, size, 0)
        finally:
            os.close(fd)
    finally:
        _lib.seccomp_release(ctx)
