"""Linux capabilities by name, and the set a container keeps: containerd's
default set, then securityContext.capabilities applied as containerd's CRI
plugin applies them (WithCapabilities): `add: [ALL]` first (every
capability), then `drop: [ALL]` (none), then each added name, then each
dropped name. So `drop: [ALL], add: [X]` keeps only X, and a name both added
and dropped is dropped. Pure: no syscalls (nspod-exec applies it: nspod/executor/identity.c)."""

# include/uapi/linux/capability.h
NUMBERS = {
    "CAP_CHOWN": 0, "CAP_DAC_OVERRIDE": 1, "CAP_DAC_READ_SEARCH": 2, "CAP_FOWNER": 3,
    "CAP_FSETID": 4, "CAP_KILL": 5, "CAP_SETGID": 6, "CAP_SETUID": 7, "CAP_SETPCAP": 8,
    "CAP_LINUX_IMMUTABLE": 9, "CAP_NET_BIND_SERVICE": 10, "CAP_NET_BROADCAST": 11,
    "CAP_NET_ADMIN": 12, "CAP_NET_RAW": 13, "CAP_IPC_LOCK": 14, "CAP_IPC_OWNER": 15,
    "CAP_SYS_MODULE": 16, "CAP_SYS_RAWIO": 17, "CAP_SYS_CHROOT": 18, "CAP_SYS_PTRACE": 19,
    "CAP_SYS_PACCT": 20, "CAP_SYS_ADMIN": 21, "CAP_SYS_BOOT": 22, "CAP_SYS_NICE": 23,
    "CAP_SYS_RESOURCE": 24, "CAP_SYS_TIME": 25, "CAP_SYS_TTY_CONFIG": 26, "CAP_MKNOD": 27,
    "CAP_LEASE": 28, "CAP_AUDIT_WRITE": 29, "CAP_AUDIT_CONTROL": 30, "CAP_SETFCAP": 31,
    "CAP_MAC_OVERRIDE": 32, "CAP_MAC_ADMIN": 33, "CAP_SYSLOG": 34, "CAP_WAKE_ALARM": 35,
    "CAP_BLOCK_SUSPEND": 36, "CAP_AUDIT_READ": 37, "CAP_PERFMON": 38, "CAP_BPF": 39,
    "CAP_CHECKPOINT_RESTORE": 40,
}

# containerd's default set (oci.populateDefaultUnixSpec), which Kubernetes
# containers get unless their securityContext changes it.
DEFAULT = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
    "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
)

ALL = "ALL"


def canonical(name):
    """"CAP_CHOWN" for "chown", "CHOWN", "cap_chown", "CAP_CHOWN"; "ALL" for
    any case of "all"; None for a name Linux does not have. (The kubelet
    passes names through; containerd uppercases them and adds CAP_.)"""
    upper = name.upper()
    if upper == ALL:
        return ALL
    full = upper if upper.startswith("CAP_") else "CAP_" + upper
    return full if full in NUMBERS else None


def effective(add=(), drop=(), default=DEFAULT):
    """The capabilities a container keeps, as canonical names sorted by
    number. add, drop: canonical names (ALL allowed)."""
    kept = set(default)
    if ALL in add:
        kept = set(NUMBERS)
    if ALL in drop:
        kept = set()
    kept |= {c for c in add if c != ALL}
    kept -= {c for c in drop if c != ALL}
    return tuple(sorted(kept, key=NUMBERS.__getitem__))


def mask(names):
    """The names as a 64-bit capability mask (CapEff in /proc/PID/status)."""
    value = 0
    for name in names:
        value |= 1 << NUMBERS[name]
    return value
