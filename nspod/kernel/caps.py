"""The process's user, groups and capabilities, as runc sets them for a
container (finalizeNamespace): bounding set, then setgroups/setgid/setuid
with PR_SET_KEEPCAPS (so a non-root uid keeps its permitted set), then
effective, permitted and inheritable with capset(2), then the ambient set
(so a non-root uid keeps its capabilities across execve), then no_new_privs."""
import ctypes
import os

from .. import steps
from .libc import _libc

PR_SET_KEEPCAPS = 8
PR_CAPBSET_READ = 23
PR_CAPBSET_DROP = 24
PR_SET_NO_NEW_PRIVS = 38
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_RAISE = 2
PR_CAP_AMBIENT_CLEAR_ALL = 4
_LINUX_CAPABILITY_VERSION_3 = 0x20080522
_SYS_CAPSET = {"x86_64": 126, "aarch64": 91}


class _Header(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _Data(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]


def _prctl(option, arg2=0, arg3=0, what="prctl"):
    args = [ctypes.c_ulong(a) for a in (option, arg2, arg3, 0, 0)]
    if _libc.prctl(*args) == -1:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def last_cap():
    with open("/proc/sys/kernel/cap_last_cap") as f:
        return int(f.read())


def _capset(value):
    header = _Header(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_Data * 2)()
    for i in (0, 1):
        word = (value >> (32 * i)) & 0xFFFFFFFF
        data[i].effective = data[i].permitted = data[i].inheritable = word
    number = _SYS_CAPSET[os.uname().machine]
    if _libc.syscall(ctypes.c_long(number), ctypes.byref(header), data) == -1:
        err = ctypes.get_errno()
        raise OSError(err, f"capset: {os.strerror(err)}")


def apply(uid, gid, groups, numbers, no_new_privs, only_available=False):
    """Become uid/gid with groups, keeping exactly the capabilities `numbers`
    (bounding, effective, permitted, inheritable, ambient); then no_new_privs
    if asked. Needs CAP_SETPCAP, CAP_SETUID, CAP_SETGID in its user namespace
    (a container's child before execve has them all). only_available: keep
    those of `numbers` our bounding set still has (privileged: "every
    capability" is every one nspod itself may give; root's bounding set may
    lack some, e.g. in a container)."""
    top = last_cap()
    keep = {n for n in numbers if n <= top}  # a capability this kernel lacks cannot be kept
    if only_available:
        keep = {n for n in keep if _libc.prctl(*(ctypes.c_ulong(a) for a in (PR_CAPBSET_READ, n, 0, 0, 0))) == 1}
    for n in range(top + 1):
        if n not in keep:
            _prctl(PR_CAPBSET_DROP, n, what="drop from the bounding set")
    _prctl(PR_SET_KEEPCAPS, 1, what="keep capabilities")
    if setgroups_allowed():
        os.setgroups(list(groups))
    elif list(groups) not in ([], [gid]):
        # Only a user namespace mapped without newgidmap denies it: then
        # only gid 0 exists, and `nspod run` has refused other groups.
        raise OSError(1, "setgroups: denied in this user namespace (no subordinate gid range)")
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    _prctl(PR_SET_KEEPCAPS, 0, what="keep capabilities")
    mask = 0
    for n in keep:
        mask |= 1 << n
    _capset(mask)
    _prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, what="clear the ambient set")
    for n in sorted(keep):
        _prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, n, what="raise an ambient capability")
    if no_new_privs:
        _prctl(PR_SET_NO_NEW_PRIVS, 1, what="no_new_privs")
    if steps.sink is not None:
        _tell(uid, gid, list(groups), sorted(keep), top, no_new_privs)


def _tell(uid, gid, groups, keep, top, no_new_privs):
    from ..capabilities import NUMBERS

    names = {n: name for name, n in NUMBERS.items()}
    kept = ",".join(names.get(n, str(n)) for n in keep) or "none"
    short = ",".join("+" + names.get(n, str(n)).lower().removeprefix("cap_") for n in keep)
    steps.tell(f"prctl(PR_CAPBSET_DROP) for the {top + 1 - len(keep)} capabilities not kept; "
               f"setgroups({groups}); setresgid({gid}); setresuid({uid}); "
               f"capset(effective=permitted=inheritable={kept}); ambient={kept}"
               + ("; prctl(PR_SET_NO_NEW_PRIVS, 1)" if no_new_privs else ""),
               by_hand=f"setpriv --reuid={uid} --regid={gid} --groups={','.join(map(str, groups)) or gid} "
                       f"--bounding-set=-all{',' + short if short else ''} --inh-caps=-all{',' + short if short else ''} "
                       f"--ambient-caps=-all{',' + short if short else ''}"
                       + (" --no-new-privs" if no_new_privs else ""))


def setgroups_allowed():
    """False in a user namespace mapped without newgidmap (no subordinate gid range)."""
    try:
        with open("/proc/self/setgroups") as f:
            return f.read().strip() != "deny"
    except OSError:
        return True
