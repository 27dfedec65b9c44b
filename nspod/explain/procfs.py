"""One process as /proc shows it: who it is, its namespaces, its identity and
confinement, its mounts. Parsers are pure (unit-tested); `read` never makes a
value up: what it cannot read it names, with the reason, in "unreadable"."""
import os

from ..capabilities import NUMBERS
from ..kernel import namespaces
from ..kernel import mountinfo

NAMESPACE_KINDS = ("user", "mnt", "pid", "net", "ipc", "uts", "cgroup")
SECCOMP_MODES = {0: "disabled", 1: "strict", 2: "filter"}
_CAP_NAMES = {number: name for name, number in NUMBERS.items()}


def capability_names(mask):
    """CapEff's hex mask -> names ("CAP_38" for one this table lacks)."""
    value = int(mask, 16)
    return [_CAP_NAMES.get(bit, f"CAP_{bit}") for bit in range(64) if value >> bit & 1]


def parse_status(text):
    """The fields of /proc/PID/status the picture shows."""
    fields = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields[key] = value.split()
    out = {"comm": " ".join(fields.get("Name", [])), "ppid": int(fields["PPid"][0]) if "PPid" in fields else None}
    if "Uid" in fields:  # real, effective, saved, filesystem
        out["uid"], out["gid"] = int(fields["Uid"][1]), int(fields["Gid"][1])
        out["groups"] = [int(g) for g in fields.get("Groups", [])]
    if "NSpid" in fields:  # its pid in each pid namespace, outermost first
        out["nspid"] = [int(p) for p in fields["NSpid"]]
    if "CapEff" in fields:
        out["capabilities"] = capability_names(fields["CapEff"][0])
    if "Seccomp" in fields:
        out["seccomp"] = SECCOMP_MODES.get(int(fields["Seccomp"][0]), fields["Seccomp"][0])
    if "NoNewPrivs" in fields:
        out["noNewPrivs"] = fields["NoNewPrivs"][0] == "1"
    return out


def parse_mountinfo(text):
    """[{"target", "root", "fstype", "source", "mode", "options"}] in mount
    order: root is the path inside the mounted filesystem (a bind's source
    there), mode "ro" or "rw" as the mount (not the filesystem) has it."""
    return [{"target": m["target"], "root": m["root"], "fstype": m["fstype"], "source": m["source"],
             "mode": "ro" if "ro" in m["options"] else "rw",
             "options": [o for o in m["options"] if o not in ("ro", "rw")]}
            for m in mountinfo.parse(text)]


def _why(e):
    return f"{e.strerror or e}" + (f" ({e.filename})" if getattr(e, "filename", None) else "")


def read(pid):
    """{"pid", "running", "command", "ppid", "uid", ..., "namespaces", "unreadable"}
    of a process, or {"pid", "running": False} once it is gone."""
    out = {"pid": pid, "running": True, "unreadable": {}}
    try:
        with open(f"/proc/{pid}/status") as f:
            out.update(parse_status(f.read()))
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            out["command"] = f.read(4096).rstrip(b"\0").replace(b"\0", b" ").decode(errors="replace")
    except FileNotFoundError:
        return {"pid": pid, "running": False}
    except OSError as e:
        out["unreadable"]["status"] = _why(e)
    ns = {}
    for kind in NAMESPACE_KINDS:
        try:
            ns[kind] = namespaces.ns_id(pid, kind)
        except OSError as e:
            out["unreadable"][f"ns/{kind}"] = _why(e)
    out["namespaces"] = ns
    return out


def mounts(pid):
    """(mounts, None) of the process's mount namespace, or (None, reason)."""
    try:
        with open(f"/proc/{pid}/mountinfo") as f:
            return parse_mountinfo(f.read()), None
    except OSError as e:
        return None, _why(e)


def cgroup_lines(pid):
    """(["hierarchy:controllers:path", ...], None) from /proc/PID/cgroup, or (None, reason)."""
    try:
        with open(f"/proc/{pid}/cgroup") as f:
            return [line for line in f.read().splitlines() if line], None
    except OSError as e:
        return None, _why(e)


def own_namespaces():
    """The CLI's own namespace ids: the host's, unless nspod runs inside something."""
    return {kind: namespaces.ns_id(os.getpid(), kind) for kind in NAMESPACE_KINDS}
