"""A container's cgroup in the picture: where it is, the limits nspod wrote
(and what the files say now), the usage (memory.current and cpu.stat on v2;
memory.usage_in_bytes, cpuacct.usage and cpu.stat on v1), and the kernel's own
word (/proc/PID/cgroup). A file that cannot be read is named, with why."""
import os

USAGE_FILES = ("memory.current", "memory.usage_in_bytes", "memory.peak", "cpu.stat", "cpuacct.usage",
               "pids.current")


def _read(path):
    try:
        with open(path) as f:
            return f.read(65536).strip(), None
    except OSError as e:
        return None, e.strerror or str(e)


def _value(text):
    """A number where the file holds one; "key value" lines as a dict; else the text."""
    if text is None:
        return None
    if text.isdigit():
        return int(text)
    pairs = [line.split() for line in text.splitlines()]
    if pairs and all(len(p) == 2 and p[1].isdigit() for p in pairs):
        return {k: int(v) for k, v in pairs}
    return text


def read(record):
    """record: inspect's nspod.containers[].cgroup ({"path", "procs", "limits"}) or None."""
    if not record or not record.get("procs"):
        return {"path": None, "directories": [], "limits": [], "usage": {}, "unreadable": {},
                "note": "no cgroup of its own: the pod asked for no limit, or ran with --no-limits "
                        "where no cgroup could be used"}
    dirs = [os.path.dirname(p) for p in record["procs"]]
    out = {"path": record.get("path"), "directories": dirs, "limits": [], "usage": {}, "unreadable": {}}
    for name, written in (record.get("limits") or {}).items():
        where = next((d for d in dirs if os.path.exists(os.path.join(d, name))), dirs[0])
        now, why = _read(os.path.join(where, name))
        out["limits"].append({"file": name, "written": written, "now": now})
        if why:
            out["unreadable"][name] = why
    for name in USAGE_FILES:
        for d in dirs:
            path = os.path.join(d, name)
            if os.path.exists(path):
                text, why = _read(path)
                if why:
                    out["unreadable"][name] = why
                else:
                    out["usage"][name] = _value(text)
                break
    return out


def read_pod(record):
    """The pod's cgroup (inspect's nspod.cgroup: {"version", "path", "paths",
    "limits"}) in the same shape as a container's, plus its version."""
    dirs = [p for p in ((record or {}).get("paths") or {}).values() if p]
    if not dirs:
        return dict(read(None), version=None, note="no pod cgroup: the pod asked for no limit, or ran "
                                                   "with --no-limits where no cgroup could be used")
    found = read({"path": record.get("path"), "procs": [os.path.join(d, "cgroup.procs") for d in dirs],
                  "limits": record.get("limits")})
    return dict(found, version=record.get("version"))
