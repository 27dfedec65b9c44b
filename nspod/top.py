"""`nspod top`: CPU and memory of pods and containers, as kubectl top shows
them (millicores over a short window; the memory working set).

From the container's cgroup where it has one (cgroup v2: cpu.stat usage_usec,
memory.current less inactive_file, as cAdvisor computes the working set;
cgroup v1: cpuacct.usage, memory.usage_in_bytes less total_inactive_file).
Where it has none (rootless on a host without delegation), from /proc: the
CPU time of the container's processes (its main process and every
descendant) and the sum of their resident memory, which counts shared pages
once per process and so is an upper bound.
"""
import os
import time

_TICK = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


def _read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def _keyed(text):
    out = {}
    for line in (text or "").splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit():
            out[parts[0]] = int(parts[1])
    return out


def _cgroup_sample(dirs):
    """(cpu µs, working set bytes) from the container's cgroup directories, or None."""
    cpu = memory = None
    for d in dirs:
        stat = _keyed(_read(os.path.join(d, "cpu.stat")))
        if "usage_usec" in stat:
            cpu = stat["usage_usec"]
        usage = _read(os.path.join(d, "cpuacct.usage"))
        if usage and usage.strip().isdigit():
            cpu = int(usage) // 1000
        current = _read(os.path.join(d, "memory.current")) or _read(os.path.join(d, "memory.usage_in_bytes"))
        if current and current.strip().isdigit():
            mstat = _keyed(_read(os.path.join(d, "memory.stat")))
            inactive = mstat.get("inactive_file", mstat.get("total_inactive_file", 0))
            memory = max(0, int(current) - inactive)
    if cpu is None or memory is None:
        return None
    return cpu, memory


def _tree(root):
    """root and every process below it (by parent pid)."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        stat = _read(f"/proc/{entry}/stat")
        if stat:
            ppid = int(stat[stat.rindex(")") + 2:].split()[1])
            children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, ()))
    return found


def _proc_sample(pid):
    """(cpu µs, resident bytes) of the process tree under pid, from /proc."""
    cpu = memory = 0
    for p in _tree(pid):
        stat = _read(f"/proc/{p}/stat")
        statm = _read(f"/proc/{p}/statm")
        if not stat or not statm:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        cpu += (int(fields[11]) + int(fields[12])) * 1_000_000 // _TICK  # utime + stime
        memory += int(statm.split()[1]) * _PAGE
    return cpu, memory


def sample(container):
    """container: {"pid", "cgroup_dirs"}: a (cpu µs, memory bytes, source) now."""
    if container["cgroup_dirs"]:
        got = _cgroup_sample(container["cgroup_dirs"])
        if got:
            return got + ("cgroup",)
    return _proc_sample(container["pid"]) + ("proc",)


def measure(containers, window=0.5):
    """{key: {"cpu_m": millicores, "memory": bytes, "source": ...}} for each
    container ({key: {"pid", "cgroup_dirs"}}) over `window` seconds."""
    first = {k: sample(c) for k, c in containers.items()}
    t0 = time.monotonic()
    time.sleep(window)
    second = {k: sample(c) for k, c in containers.items()}
    elapsed = time.monotonic() - t0
    out = {}
    for k in containers:
        cpu = max(0, second[k][0] - first[k][0])
        out[k] = {"cpu_m": round(cpu / (elapsed * 1_000_000) * 1000), "memory": second[k][1], "source": second[k][2]}
    return out


def mebibytes(n):
    return f"{n // (1 << 20)}Mi"
