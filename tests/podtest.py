"""Helpers for the tiers that run real pods (integration, root): the CLI,
leak checks, and a pod factory that removes what a test made."""
import json
import os
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest

NSPOD = [sys.executable, "-m", "nspod.cli"]

# A process that asks for 200 MB at once: every page is faulted in inside one
# mmap(MAP_POPULATE) call, so a memory limit kills it at once (touching pages
# from Python instead can thrash code pages re-read over the VM's 9p root).
HOG = ("import mmap; m = mmap.mmap(-1, 200 << 20, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS"
       " | mmap.MAP_POPULATE); print('survived')")


def nspod(*args, check=True, timeout=60, input=None):
    """Run the real CLI; return CompletedProcess (text)."""
    done = subprocess.run(NSPOD + [str(a) for a in args], capture_output=True, text=True,
                          timeout=timeout, input=input)
    if check and done.returncode != 0:
        raise AssertionError(f"nspod {' '.join(map(str, args))} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return done


def state_dir():
    from nspod.paths import state_dir as sd

    return sd()


def userns_processes():
    """Our processes living in another user namespace than ours: the node
    holder and everything of every pod (rootless)."""
    me = os.readlink("/proc/self/ns/user")
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.stat(f"/proc/{entry}").st_uid != os.getuid():
                continue
            if os.readlink(f"/proc/{entry}/ns/user") != me:
                out.append((int(entry), Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode()))
        except OSError:
            pass
    return out


def supervisor_pid():
    """The pid of the Python supervisor, the node holder's child, or None
    when none runs (it left the pods to the node holder, nspod-keeper)."""
    from nspod.kernel import process
    from nspod.node import node_pid

    node = node_pid()
    if not node:
        return None
    try:
        with open(f"/proc/{node}/task/{node}/children") as f:
            children = [int(p) for p in f.read().split()]
    except OSError:
        return None
    for pid in children:
        try:
            if Path(f"/proc/{pid}/comm").read_text().strip() == "nspod-supervise" and process.parent_of(pid) == node:
                return pid
        except OSError:
            pass
    return None


def pod_processes():
    """Processes of pods (pause holders, containers): every process
    that is not the node holder or its supervisor and lives in its
    namespaces, or is named nspod-*."""
    from nspod.node import node_pid

    node = node_pid()
    supervisor = supervisor_pid()
    found = []
    for pid, cmd in userns_processes():
        if pid not in (node, supervisor):
            found.append((pid, cmd))
    if os.getuid() == 0:
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    if os.stat(f"/proc/{entry}").st_uid != 0:
                        continue  # other users' pods are theirs
                    comm = Path(f"/proc/{entry}/comm").read_text().strip()
                    cmd = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode()
                except OSError:
                    continue
                if cmd.startswith("catatonit -P") or "nspod-test-marker" in cmd:
                    found.append((int(entry), cmd))
    return found


def pod_cgroups():
    """Pod cgroups under nspod's base in every hierarchy: the base sits below
    our own cgroup there (e.g. memory:/process_api/ID/nspod on some hosts)."""
    import glob

    own = {line.strip().split(":", 2)[2] for line in Path("/proc/self/cgroup").read_text().splitlines()}
    found = set()
    for rel in own | {"/"}:
        for top in ["/sys/fs/cgroup"] + glob.glob("/sys/fs/cgroup/*"):
            found.update(p for p in glob.glob(f"{top}{rel.rstrip('/')}/nspod*/*") if os.path.isdir(p))
    return sorted(found)


def leaks():
    """Everything a removed pod must not leave behind."""
    sd = state_dir()
    problems = []
    procs = pod_processes()
    if procs:
        problems.append(f"processes: {procs}")
    mounts = [l for l in Path("/proc/self/mountinfo").read_text().splitlines() if str(sd) in l]
    if mounts:
        problems.append(f"mounts: {mounts}")
    if os.getuid() == 0:
        cgroups = pod_cgroups()
        if cgroups:
            problems.append(f"cgroups: {cgroups}")
    from nspod.net.node_network import leftovers
    from nspod.store import Store

    network = leftovers(Store())  # leases, forwarded ports, the node network, its uplink
    if network:
        problems.append(f"network: {network}")
    pods_dir = sd / "pods"
    if pods_dir.exists() and any(pods_dir.iterdir()):
        problems.append(f"state dirs: {list(pods_dir.iterdir())}")
    listed = nspod("ps").stdout.strip().splitlines()[1:]
    if listed:
        problems.append(f"pods still listed: {listed}")
    return problems


def wait_for(predicate, timeout=10, interval=0.05, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


class Pods:
    """Creates pods from manifest text and removes them at the end of a test."""

    def __init__(self, tmp_path):
        self.tmp = tmp_path
        self.names = []

    def run(self, manifest, *extra, check=True):
        path = self.tmp / f"pod-{uuid.uuid4().hex[:6]}.yaml"
        path.write_text(textwrap.dedent(manifest))
        done = nspod("run", path, *extra, check=False)
        for name in done.stdout.split():
            self.names.append(name)
        if check and done.returncode != 0:
            raise AssertionError(f"nspod run exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
        return done

    def inspect(self, name):
        return json.loads(nspod("inspect", name, "-o", "json").stdout)

    def status(self, name, container):
        for s in self.inspect(name)["status"]["containerStatuses"]:
            if s["name"] == container:
                return s
        raise KeyError(container)

    def remove_all(self):
        for name in self.names:
            nspod("rm", "-f", name, check=False)


def wait_for_clean(timeout=5):
    deadline = time.monotonic() + timeout
    while True:
        problems = leaks()
        if not problems or time.monotonic() > deadline:
            return problems
        time.sleep(0.1)
