"""Kubernetes resources -> cgroup v2 interface files, as the kubelet maps them.

Pure: no file is touched here. The input is anything with ``.limits`` and
``.requests`` mappings (``nspod.spec.Resources``): cpu in millicores, memory in
bytes, keys "cpu" and "memory". ``None`` or empty mappings mean "no limits".

    limits.cpu      -> cpu.max          "<quota> 100000"  (quota = millicores * 100, min 1000)
    requests.cpu    -> cpu.weight       shares = millicores * 1024 // 1000 (min 2),
                                        then the runc/crun shares -> weight conversion
    limits.memory   -> memory.max       bytes; and memory.swap.max "0" (no swap)
    requests.memory -> memory.low       bytes
    (pod only)      -> pids.max

A request left out while its limit is set equals the limit (as Kubernetes
defaults it). A container with no cpu request gets the kubelet's minimum of 2
shares, i.e. cpu.weight 1. Unset limits are written as "max".
"""

import math
from types import SimpleNamespace

# The kubelet's constants (pkg/kubelet/cm/helpers_linux.go).
MIN_SHARES = 2
MAX_SHARES = 262144  # the kernel's MAX_SHARES, 1 << 18
SHARES_PER_CPU = 1024
MILLICPU_PER_CPU = 1000
QUOTA_PERIOD = 100000  # microseconds: 100 ms
MIN_QUOTA = 1000  # the kubelet raises a smaller quota to 1 ms

# pids.max of a pod when the caller gives none. Kubernetes' podPidsLimit is
# unlimited by default; a fork bomb in one pod should not take the machine.
DEFAULT_PIDS_MAX = 4096

# Which controller each file needs, for the driver's check.
CONTROLLER_OF = {
    "cpu.max": "cpu",
    "cpu.weight": "cpu",
    "memory.max": "memory",
    "memory.swap.max": "memory",
    "memory.low": "memory",
    "memory.oom.group": "memory",
    "pids.max": "pids",
}


def millicpu_to_shares(millicores):
    """The kubelet's MilliCPUToShares: 0 (no request) -> 2."""
    if not millicores:
        return MIN_SHARES
    return min(MAX_SHARES, max(MIN_SHARES, millicores * SHARES_PER_CPU // MILLICPU_PER_CPU))


def millicpu_to_quota(millicores):
    """The kubelet's MilliCPUToQuota: cpu.cfs_quota_us for one 100 ms period."""
    return max(MIN_QUOTA, millicores * QUOTA_PERIOD // MILLICPU_PER_CPU)


def shares_to_weight(shares):
    """cgroup v1 cpu.shares [2, 262144] -> cgroup v2 cpu.weight [1, 10000].

    The conversion of runc >= 1.3.2, crun >= 1.23 and opencontainers/cgroups,
    which the kubelet's pod cgroups go through too: a quadratic in log2(shares)
    that maps the minimum 2 -> 1, the default 1024 -> 100 and the maximum
    262144 -> 10000, rounded up.
    """
    if shares <= MIN_SHARES:
        return 1
    if shares >= MAX_SHARES:
        return 10000
    x = math.log2(shares)
    exponent = (x * x + 125 * x) / 612.0 - 7.0 / 34.0
    return math.ceil(10**exponent)


def shares_to_weight_linear(shares):
    """The older linear conversion (runc < 1.3.2, kubelet <= 1.30):
    1 + (shares - 2) * 9999 / 262142, integer division. It maps the default
    1024 shares to 39, not 100; kept for comparison and for tests."""
    shares = min(MAX_SHARES, max(MIN_SHARES, shares))
    return 1 + (shares - MIN_SHARES) * 9999 // (MAX_SHARES - MIN_SHARES)


def millicpu_to_weight(millicores):
    return shares_to_weight(millicpu_to_shares(millicores))


def _get(resources, kind):
    if resources is None:
        return {}
    return dict(getattr(resources, kind, None) or {})


def _limits_requests(resources):
    limits = _get(resources, "limits")
    # Kubernetes: a limit without a request also sets the request.
    requests = {**limits, **_get(resources, "requests")}
    return limits, requests


def requested_controllers(resources):
    """The controllers these resources cannot do without: {"cpu", "memory"} or less.

    What the caller should pass to ``open_cgroups(required=...)``. Files of other
    controllers (cpu.weight 1 for a container with no request, "max" values) are
    written only where their controller happens to be enabled.
    """
    limits, requests = _limits_requests(resources)
    wanted = set()
    for name in ("cpu", "memory"):
        if limits.get(name) or requests.get(name):
            wanted.add(name)
    return wanted


def _cpu_memory_files(limits, requests, cpu_request_default):
    files = {}
    cpu_limit = limits.get("cpu") or 0  # 0 means no limit, as in Kubernetes
    if cpu_limit:
        files["cpu.max"] = f"{millicpu_to_quota(cpu_limit)} {QUOTA_PERIOD}"
    else:
        files["cpu.max"] = f"max {QUOTA_PERIOD}"
    cpu_request = requests.get("cpu") or 0
    if cpu_request or cpu_request_default:
        files["cpu.weight"] = str(millicpu_to_weight(cpu_request))

    memory_limit = limits.get("memory") or 0
    if memory_limit:
        files["memory.max"] = str(memory_limit)
        files["memory.swap.max"] = "0"
    else:
        files["memory.max"] = "max"
        files["memory.swap.max"] = "max"
    files["memory.low"] = str(requests.get("memory") or 0)
    return files


def container_files(resources):
    """{file: value} for a container's leaf cgroup."""
    limits, requests = _limits_requests(resources)
    files = _cpu_memory_files(limits, requests, cpu_request_default=True)
    # The kubelet (cgroup v2) makes the OOM killer take the whole container,
    # not one of its processes.
    files["memory.oom.group"] = "1"
    return files


def pause_files():
    """{file: value} for the pause holder's leaf: no limits, the minimum weight."""
    return {"cpu.weight": str(millicpu_to_weight(0))}


def _sum(container_resources, kind, name):
    """Sum of one resource over containers; None when one of them leaves it unset
    (the kubelet sets a pod limit only when every container declares one)."""
    total = 0
    for resources in container_resources:
        limits, requests = _limits_requests(resources)
        value = (limits if kind == "limits" else requests).get(name) or 0
        if not value and kind == "limits":
            return None
        total += value
    return total


def pod_container_resources(containers, init_containers=()):
    """The containers' resources as the pod's cgroup adds them up: the app
    containers' own list, or, in a pod with init containers, one entry of the
    effective amounts, Kubernetes' rule (resourcehelper PodRequests/PodLimits):
    the larger of the app containers plus sidecars and, for each init container
    in order, its own plus the sidecars started before it. A limit counts only
    if every container declares it (the kubelet's ResourceConfigForPod).
    ``containers``: Resources; ``init_containers``: (Resources, is_sidecar)."""
    containers, init_containers = list(containers), list(init_containers)
    if not init_containers:
        return containers
    effective = {"limits": {}, "requests": {}}
    for kind in effective:
        for name in ("cpu", "memory"):
            value = _effective(containers, init_containers, kind, name)
            if value:
                effective[kind][name] = value
    return [SimpleNamespace(**effective)]


def _effective(containers, init_containers, kind, name):
    def amount(resources):
        limits, requests = _limits_requests(resources)
        return (limits if kind == "limits" else requests).get(name) or 0

    everyone = containers + [r for r, _ in init_containers]
    if kind == "limits" and not all(amount(r) for r in everyone):
        return None
    total = sum(amount(r) for r in containers)
    sidecars = peak = 0
    for resources, sidecar in init_containers:
        if sidecar:
            total += amount(resources)
            sidecars += amount(resources)
            peak = max(peak, sidecars)
        else:
            peak = max(peak, amount(resources) + sidecars)
    return max(total, peak)


def _pod_limits_requests(resources, container_resources):
    limits, requests = _limits_requests(resources)
    if container_resources is None:
        return limits, requests
    container_resources = list(container_resources)
    for name in ("cpu", "memory"):
        if name not in limits and container_resources:
            total = _sum(container_resources, "limits", name)
            if total:
                limits[name] = total
        if name not in requests:
            total = _sum(container_resources, "requests", name)
            if total:
                requests[name] = total
    return limits, requests


def pod_files(resources, pids_max=DEFAULT_PIDS_MAX, container_resources=None):
    """{file: value} for the pod cgroup.

    ``resources`` are the pod-level ``spec.resources``; a field they leave out is
    taken, when ``container_resources`` (one entry per container) is given, from
    the containers as the kubelet's ResourceConfigForPod does: requests summed
    (no cpu request at all: the minimum weight), limits summed only if every
    container has one. Without ``container_resources`` an unset cpu request leaves
    cpu.weight alone. ``pids_max`` None, 0 or negative means unlimited.
    """
    limits, requests = _pod_limits_requests(resources, container_resources)
    files = _cpu_memory_files(limits, requests, cpu_request_default=container_resources is not None)
    files["pids.max"] = str(pids_max) if pids_max and pids_max > 0 else "max"
    return files


def is_unset(name, value):
    """True when writing value to name changes nothing on a fresh cgroup."""
    return value in ("max", f"max {QUOTA_PERIOD}") or (name == "memory.low" and value == "0")


# ---------------------------------------------------------------------------
# cgroup v1 (root on a v1 or hybrid host): the same meaning in v1's files
# ---------------------------------------------------------------------------
CONTROLLER_OF_V1 = {
    "cpu.cfs_period_us": "cpu",
    "cpu.cfs_quota_us": "cpu",
    "cpu.shares": "cpu",
    "memory.limit_in_bytes": "memory",
    "memory.memsw.limit_in_bytes": "memory",
    "memory.soft_limit_in_bytes": "memory",
    "pids.max": "pids",
}


def _v1_files(limits, requests, cpu_request_default):
    files = {}
    cpu_limit = limits.get("cpu") or 0
    files["cpu.cfs_period_us"] = str(QUOTA_PERIOD)
    files["cpu.cfs_quota_us"] = str(millicpu_to_quota(cpu_limit)) if cpu_limit else "-1"
    cpu_request = requests.get("cpu") or 0
    if cpu_request or cpu_request_default:
        files["cpu.shares"] = str(millicpu_to_shares(cpu_request))
    memory_limit = limits.get("memory") or 0
    # memsw is memory + swap: equal to the memory limit means no swap.
    files["memory.limit_in_bytes"] = str(memory_limit) if memory_limit else "-1"
    files["memory.memsw.limit_in_bytes"] = str(memory_limit) if memory_limit else "-1"
    files["memory.soft_limit_in_bytes"] = (
        str(requests.get("memory") or 0) if requests.get("memory") else "-1"
    )
    return files


def container_files_v1(resources):
    limits, requests = _limits_requests(resources)
    return _v1_files(limits, requests, cpu_request_default=True)


def pause_files_v1():
    return {"cpu.shares": str(MIN_SHARES)}


def pod_files_v1(resources, pids_max=DEFAULT_PIDS_MAX, container_resources=None):
    limits, requests = _pod_limits_requests(resources, container_resources)
    files = _v1_files(limits, requests, cpu_request_default=container_resources is not None)
    files["pids.max"] = str(pids_max) if pids_max and pids_max > 0 else "max"
    return files


def is_unset_v1(name, value):
    return value in ("-1", "max")
