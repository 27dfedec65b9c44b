"""`nspod explain` as root: no user namespace (every process is in the host's),
the containers' cgroups with the limits written and their usage (cgroup v1
on the development machines, v2 where the host has it), the same sharing,
mounts and network as rootless."""
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent.parent / "integration"))

from podtest import nspod  # noqa: E402
from test_explain import by_key, check_mounts, check_namespace_sharing, check_network, picture, run_pod  # noqa: E402

LIMITS = """    resources: {limits: {memory: 64Mi, cpu: 200m}}"""


def test_root_explain_shows_cgroups_and_no_user_namespace(pods):
    port = run_pod(pods, "rootpic", LIMITS)
    pic = picture("rootpic")
    assert pic["pod"]["rootless"] is False
    procs = check_namespace_sharing(pic)
    users = {n["id"]: n for n in pic["namespaces"] if n["kind"] == "user"}
    assert all(n["host"] for n in users.values()), users  # as root the node is the host: no user namespace
    assert procs["pause"]["ppid"] == procs["node"]["pid"] == procs["container/web"]["ppid"]
    containers = check_mounts(pic, "rootpic")
    web, side = containers["web"], containers["side"]
    assert web["user"]["uid"] == 0 and web["hostUser"]["uid"] == 0
    cg = web["cgroup"]
    assert cg["path"] and cg["directories"] and not cg["unreadable"], cg
    written = {limit["file"]: limit for limit in cg["limits"]}
    memory = written.get("memory.max") or written.get("memory.limit_in_bytes")
    assert memory and str(memory["written"]) == str(64 << 20) == memory["now"], cg["limits"]
    assert any(f in written for f in ("cpu.max", "cpu.cfs_quota_us")), cg["limits"]
    usage = cg["usage"]
    current = usage.get("memory.current", usage.get("memory.usage_in_bytes"))
    assert isinstance(current, int) and current > 0, usage
    assert "cpu.stat" in usage or "cpuacct.usage" in usage, usage
    # The kernel's own word on where the process is agrees with the directories shown.
    assert any(line.rsplit(":", 1)[1] and cg["directories"][0].endswith(line.rsplit(":", 1)[1])
               for line in cg["ofProcess"]), (cg["ofProcess"], cg["directories"])
    assert side["cgroup"]["path"] and side["cgroup"]["path"] != cg["path"]
    pod_cg = pic["podCgroup"]
    assert pod_cg["version"] in (1, 2) and pod_cg["path"] and cg["path"].startswith(pod_cg["path"]), pod_cg
    assert {"file": "pids.max", "written": "4096", "now": "4096"} in pod_cg["limits"], pod_cg["limits"]
    check_network(pic, pods, "rootpic", port)
    text = nspod("explain", "rootpic").stdout
    assert "\x1b" not in text and "as root" in text and "limit      memory" in text and "usage      " in text
    drawn = nspod("explain", "rootpic", "-o", "dot").stdout
    dot = shutil.which("dot")
    assert dot, "Graphviz's dot is missing: scripts/setup installs it (Debian package graphviz)"
    svg = subprocess.run([dot, "-Tsvg"], input=drawn, capture_output=True, text=True, timeout=60)
    assert svg.returncode == 0 and "<svg" in svg.stdout, svg.stderr
    assert by_key(pic)["container/side"]["running"]
