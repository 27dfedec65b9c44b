#!/usr/bin/env python3
"""scripts/lib/bench.py — the measuring half of scripts/bench.

Runs as the unprivileged user (scripts/bench switches to it when started as
root) and measures nspod and rootless Podman side by side, in one run,
alternating, so that the ratios hold even on a noisy machine:

  1. pod start / remove: a two-container pod (two `sleep` processes) from nothing
     to both containers running, then removal; also with 10 other pods running
     and, for reference, Podman without its slirp4netns network;
  2. restart latency: a container that exits at once under restartPolicy
     Always (nspod --backoff-base 0; podman --restart=always): the time from one
     instance's exit to the next instance running, from timestamps the container
     writes to a host folder; then again with a pod of the same tool running
     `yes` beside it (its output logged: nspod's log, Podman's k8s-file
     cut at 10 MB);
  3. memory (PSS) each tool adds per two-container pod, with 1 and 10 pods;
  4. log throughput: a container writes 50 MiB (100-byte lines), and 10 MiB of
     2-byte lines (`yes`), to stdout; the time from `run` until its last line is
     in its CRI-format log file;
  5. images: one image (busybox-static and three folders of Python's standard
     library, four layers) served by Debian's docker-registry on 127.0.0.1,
     which the bench starts: the start of a pod from the cached image, the
     first pull + start after removing it from both stores, and the disk each
     store grows by for it;
  6. scaling: 50 pods of each tool, pods 41-50 against pods 1-10.

The measurements use the standard library only: subprocess wall times
(time.perf_counter), `Pss` from /proc/PID/smaps_rollup and allocated blocks
(st_blocks). The image section builds and pushes its image with the tests'
helpers (tests/imagetest.py, tests/imagepods.py).

Everything it makes is named with the prefix `nbench-` and removed at the end,
also after an error, Ctrl-C or SIGTERM. nspod runs with a state directory of its
own (NSPOD_STATE_DIR under the bench's work directory), so the bench neither
sees nor disturbs the user's other pods and always starts a node holder with the
current code; Podman runs with a containers.conf of the bench's own
(CONTAINERS_CONF: runtime runc, default_ulimits = []); nspod's image store is
the bench's own too (NSPOD_IMAGE_DIR), Podman's is the user's.

  python3 scripts/lib/bench.py [--runs N] [--quick] [--restarts R] [--pods K]
                               [--only start,restart,memory,logs,image,scale]
                               [--doc FILE] [--invocation TEXT]
  python3 scripts/lib/bench.py --cleanup-only
"""
import argparse
import ctypes
import datetime
import fcntl
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

PREFIX = "nbench-"
UID = os.getuid()
BASE = Path(os.environ.get("NSPOD_BENCH_DIR", f"/tmp/nspod-bench-{UID}"))
LOCK = Path(f"{BASE}.lock")
STATE = BASE / "state"          # NSPOD_STATE_DIR for this run
ROOTFS = BASE / "rootfs"        # Podman's --rootfs (the host's /usr bound in)
TS = BASE / "ts"                # restart timestamps (a hostPath / -v volume)
PODS = BASE / "pods"            # manifests
LOGS = BASE / "logs"            # Podman's container logs (--log-opt path=)
CONF = BASE / "containers.conf"
IMAGES = BASE / "images"        # NSPOD_IMAGE_DIR for this run
REGISTRY_DIR = BASE / "registry"  # the loopback registry's config, storage and log
REGISTRY_PID = BASE / "registry.pid"  # so a cleaning-only run can stop it
TESTS = Path(__file__).resolve().parents[2] / "tests"  # the registry and image helpers
PAUSE_BEFORE = BASE / "podman-pause-before"  # the pid of Podman's pause process when we began
CMD_TIMEOUT = 120
SETTLE = 1.0                    # seconds a pod runs before its memory is read

APT_HINT = "sudo apt-get install -y podman runc conmon slirp4netns uidmap catatonit"

GOALS = {  # the goals, as nspod:podman ratios (median over median)
    "start": 0.33,    # a two-container pod starts in a third of Podman's time
    "cold": 0.5,      # the first pod, in half
    "restart": 0.05,  # a crashed container runs again in a twentieth
    "memory1": 1.0,   # memory per pod, 1 pod
    "memory": 0.5,    # memory per pod, 10 pods: half of Podman's
    "image_cached": 0.5,  # a pod starts from a cached image in half Podman's time
    "image_pull": 1.0,    # the first pull + start of an image is no slower than Podman's
}  # disk per image has no goal: its ratio is reported
SCALE_GROWTH_GOAL = 1.1  # start time and memory per pod, pods 41–50 against pods 1–10, each tool

# The log section: the same shell command in both tools, ending with the line END.
LOG_WORKLOADS = (  # (row, MiB written, command)
    ("container writing 50 MiB to stdout (100-byte lines), until all is logged", 50,
     "head -c 52428800 /dev/zero | tr '\\0' x | fold -w 100; echo; echo END"),
    ("container writing 10 MiB to stdout (2-byte lines: yes), until all is logged", 10,
     "yes | head -c 10485760; echo END"),
)

# The image section's image: the tests' busybox layer, then one layer per
# folder of this machine's Python standard library (as installed, with its
# __pycache__): a few MiB, so that a pull has something to move and unpack.
IMAGE_REPO, IMAGE_TAG = f"{PREFIX}image", "v1"
IMAGE_TREES = ("encodings", "asyncio", "email")
IMAGE_TEXT = ("busybox-static with applet links, a passwd and files of uid 33 (the tests' base layer), then "
              + ", ".join(f"`{t}`" for t in IMAGE_TREES) + " of this machine's Python standard library "
              "(with their `__pycache__`), one layer each")


class BenchError(Exception):
    pass


class Interrupted(BaseException):
    pass


def say(msg):
    print(f"bench: {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------
# processes
# ---------------------------------------------------------------------------
def become_subreaper():
    """Orphans of what we run (conmon, slirp4netns, the node holder) become our
    children, so we can reap them and see any that is left behind. (Here PID 1
    may not reap, which would leave zombies.)"""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    except OSError:
        pass


def reap():
    """Reap exited orphans. Called only between commands: no subprocess of
    ours is running then, so no exit status that subprocess waits for is taken."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def run(cmd, check=True, timeout=CMD_TIMEOUT, input=None, new_session=False):
    """Run cmd; return (seconds, stdout). On failure raise BenchError with stderr."""
    t0 = time.perf_counter()
    try:
        p = subprocess.Popen(cmd, stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             start_new_session=new_session)
    except FileNotFoundError:
        raise BenchError(f"not found: {cmd[0]}") from None
    try:
        out, err = p.communicate(input, timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate()
        raise BenchError(f"timed out after {timeout} s: {' '.join(map(str, cmd))}") from None
    except BaseException:
        # Ctrl-C reached the command too (same process group): let it finish
        # undoing its own work (nspod run does) before we clean up the rest.
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        raise
    elapsed = time.perf_counter() - t0
    reap()
    if check and p.returncode != 0:
        err = "\n".join(line for line in err.strip().splitlines()
                        if "is not a shared mount" not in line)
        raise BenchError(f"{' '.join(map(str, cmd))} exited {p.returncode}:\n{err}")
    return elapsed, out


def proc_table():
    """{pid: (ppid, comm)} of every process we can see."""
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        head, _, rest = stat.rpartition(")")
        comm = head.partition("(")[2]
        fields = rest.split()
        table[int(entry)] = (int(fields[1]), comm)
    return table


def descendants(root, table):
    """root and every process below it."""
    children = {}
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    out, todo = set(), [root]
    while todo:
        pid = todo.pop()
        if pid in out or pid not in table:
            continue
        out.add(pid)
        todo.extend(children.get(pid, ()))
    return out


def pss_kb(pid):
    """Proportional set size of pid in kB (0 if it is gone)."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except ProcessLookupError:
        return 0
    except FileNotFoundError:
        return 0
    except PermissionError:
        raise BenchError(f"cannot read /proc/{pid}/smaps_rollup (permission denied)") from None
    return 0


def uss_kb(pid):
    """Private (unshared) memory of pid in kB: what it costs on its own."""
    total = 0
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith(("Private_Clean:", "Private_Dirty:")):
                    total += int(line.split()[1])
    except OSError:
        return 0
    return total


def cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def comm_of(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return None


def _pids_in(obj):
    """Every integer under a "pid" key in a JSON value."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k == "pid" and isinstance(v, int) and v > 0:
                yield v
            else:
                yield from _pids_in(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _pids_in(v)


def read_pid(path):
    try:
        return int(Path(path).read_text().strip())
    except (OSError, ValueError):
        return None


def alive(pid):
    """pid runs (a zombie does not count: PID 1 here may never reap it)."""
    if not pid:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return False


def signal_and_wait(pid, sig, tries=200):
    """Send sig to pid, then wait up to tries × 10 ms for it to end (reaping
    it if it is ours); whether it ended."""
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return True
    for _ in range(tries):
        reap()
        if not alive(pid):
            return True
        time.sleep(0.01)
    return False


def kill_and_wait(pid, what):
    if not signal_and_wait(pid, signal.SIGKILL):
        say(f"warning: {what} (pid {pid}) did not end after SIGKILL")


# ---------------------------------------------------------------------------
# nspod
# ---------------------------------------------------------------------------
POD_YAML = """apiVersion: v1
kind: Pod
metadata:
  name: {name}
spec:
  containers:
  - name: a
    command: {command}
  - name: b
    command: {command}
"""
SLEEP = ("sleep", "1000")
# A container as most services are: it prints a line now and then (the
# memory row "1 pod that logs"). Its log is read at rest like the others.
TICKS = ("sh", "-c", "while :; do echo tick; sleep 1; done")

RESTART_YAML = """apiVersion: v1
kind: Pod
metadata:
  name: {name}
spec:
  restartPolicy: Always
  volumes:
  - name: ts
    hostPath: {{path: {ts}, type: Directory}}
  containers:
  - name: c
    command: [sh, -c, 'date +S%s%N >> /ts/{log}; date +E%s%N >> /ts/{log}']
    volumeMounts: [{{name: ts, mountPath: /ts}}]
"""

# The restart row beside a flood: a pod whose container writes 2-byte lines as
# fast as it can, the costliest output to log.
FLOOD = ("yes",)
FLOOD_YAML = """apiVersion: v1
kind: Pod
metadata:
  name: {name}
spec:
  restartPolicy: Always
  terminationGracePeriodSeconds: 0
  containers:
  - name: c
    command: ["yes"]  # (quoted: YAML reads a bare yes as true)
"""


LOG_YAML = """apiVersion: v1
kind: Pod
metadata:
  name: {name}
spec:
  restartPolicy: Never
  containers:
  - name: c
    command: {command}
"""

IMAGE_YAML = """apiVersion: v1
kind: Pod
metadata:
  name: {name}
spec:
  containers:
  - name: a
    image: "{image}"
    imagePullPolicy: IfNotPresent
    command: [sleep, "1000"]
"""


class Nspod:
    label = "nspod"

    def __init__(self, exe):
        self.exe = exe
        self.pods = set()

    def manifest(self, name, text):
        path = PODS / f"{name}.yaml"
        path.write_text(text)
        return path

    def start(self, name, options=(), command=SLEEP):
        path = self.manifest(name, POD_YAML.format(name=name, command=json.dumps(list(command))))
        self.pods.add(name)
        t, _ = run([self.exe, "run", *options, str(path)])
        self.check_running(name)
        return {"start": t}

    def remove(self, name):
        t, _ = run([self.exe, "rm", "-f", name])
        self.pods.discard(name)
        return t

    def inspect(self, name):
        _, out = run([self.exe, "inspect", name, "-o", "json"])
        return json.loads(out)

    def check_running(self, name, containers=2):
        info = self.inspect(name)
        states = [c.get("state", {}) for c in info["status"].get("containerStatuses", [])]
        pids = [c.get("pid") for c in info["nspod"]["containers"]]
        if len(states) != containers or not all("running" in s for s in states) or not all(pids):
            raise BenchError(f"nspod run {name} returned, but its {containers} container(s) are not all "
                             f"running: {json.dumps(info['status'])}")

    def image_start(self, name, ref):
        """`nspod run` of a pod whose one container runs the image (pulled
        first when the store lacks it: IfNotPresent)."""
        path = self.manifest(name, IMAGE_YAML.format(name=name, image=ref))
        self.pods.add(name)
        t, _ = run([self.exe, "run", str(path)])
        self.check_running(name, containers=1)
        return {"start": t}

    def drop_image(self, ref):
        """Remove the image from the store, and check that none of its blobs or
        unpacked layers stayed (the next start must pull everything)."""
        run([self.exe, "rmi", ref])
        left = [p.name for d in ("blobs/sha256", "layers/sha256") if (IMAGES / d).is_dir()
                for p in (IMAGES / d).iterdir()]
        if left:
            raise BenchError(f"nspod rmi {ref} left {len(left)} blob(s) or layer(s) in {IMAGES}")

    @staticmethod
    def disk():
        """Bytes on disk of the bench's image store, by top-level folder."""
        return disk_bytes(IMAGES)

    def remove_images(self):
        """Every image of the bench's store (it has no other), then what
        `prune` finds: unpacked layers hold files of subordinate ids, which
        only nspod (in the node's user namespace) can remove."""
        try:
            _, out = run([self.exe, "images"], new_session=True)
            ids = sorted({line.split()[2] for line in out.splitlines()[1:] if len(line.split()) > 2})
            if ids:
                run([self.exe, "rmi", "-f", *ids], timeout=60, new_session=True)
            run([self.exe, "image", "prune"], timeout=60, new_session=True)
        except BenchError as e:
            say(f"warning: could not remove nspod's images in {IMAGES}: {e}")
            return False
        return True

    def ps(self):
        _, out = run([self.exe, "ps"], check=False)
        return [line.split()[0] for line in out.splitlines()[1:] if line.strip()]

    def supervisor_pid(self):
        """The Python supervisor, the node holder's child, if one runs."""
        node = self.node_pid()
        for pid, (ppid, comm) in proc_table().items() if node else ():
            if ppid == node and comm == "nspod-supervise":
                return pid
        return None

    def wait_at_rest(self, timeout=30):
        """Until the supervisor has left the pods to the node holder (it does
        after NSPOD_SUPERVISOR_IDLE seconds with nothing to do): memory at
        rest. One still there after `timeout` is counted, as any process."""
        deadline = time.monotonic() + timeout
        while self.supervisor_pid() and time.monotonic() < deadline:
            time.sleep(0.2)

    def node_pid(self):
        pid = read_pid(STATE / "node.pid")
        return pid if pid and comm_of(pid) == "nspod-node" else None

    def end_node(self):
        """End the node holder (no pod left): the next `run` is a cold start."""
        node = self.node_pid()
        # (SIGTERM: it ends its supervisor, then itself)
        if node is not None and not signal_and_wait(node, signal.SIGTERM, tries=1000):
            kill_and_wait(node, "nspod node holder")

    def memory(self, names):
        """Per-pod PSS (kB) of what nspod adds: each pod's own processes (its
        pause holder and anything under it but the containers), plus an equal
        share of what serves all pods: the node holder (the supervisor of every
        pod), the node network's holder and uplink (`nspod inspect` names them),
        and any other process nspod started that is no pod's."""
        infos = {n: self.inspect(n) for n in names}
        self.wait_at_rest()
        table = proc_table()
        node = self.node_pid()
        if node is None:
            raise BenchError(f"no nspod node holder found ({STATE / 'node.pid'})")
        own, parts = {}, {"pause holder (catatonit)": [], "other per-pod processes": []}
        pauses, containers = set(), set()
        shared_roots = {node}
        labels = {node: "node holder"}
        supervisor = self.supervisor_pid()
        if supervisor:
            labels[supervisor] = "supervisor"
        for info in infos.values():
            pause = info["nspod"]["pause"]["pid"]
            if not pause:
                raise BenchError(f"pod {info['metadata']['name']}: no pause pid in nspod inspect")
            pauses.add(pause)
            for c in info["nspod"]["containers"]:
                if c["pid"]:
                    containers |= descendants(c["pid"], table)
            node_net = (info["nspod"].get("network") or {}).get("node") or {}
            for part, label in (("holder", "node network holder"), ("uplink", "node network uplink")):
                pid = (node_net.get(part) or {}).get("pid")
                if isinstance(pid, int) and pid > 0:
                    labels[pid] = label
            shared_roots |= set(_pids_in(node_net))
        for n, info in infos.items():
            pause = info["nspod"]["pause"]["pid"]
            mine = descendants(pause, table) - containers
            kb = {pid: pss_kb(pid) for pid in mine}
            own[n] = sum(kb.values())
            parts["pause holder (catatonit)"].append(kb.get(pause, 0))
            parts["other per-pod processes"].append(sum(v for q, v in kb.items() if q != pause))
        # Detached helpers are re-parented to us (a child subreaper): any child
        # of ours that is neither Podman's nor the node holder is nspod's too.
        me, pause_pm = os.getpid(), Podman.pause_pid()
        for pid, (ppid, comm) in table.items():
            if ppid == me and alive(pid) and pid != pause_pm and comm not in ("podman", "conmon") \
                    and "podman" not in cmdline(pid):
                shared_roots.add(pid)
        shared = set()
        for root in shared_roots:
            shared |= descendants(root, table)
        for pause in pauses:  # (the node holder is their parent: not shared)
            shared -= descendants(pause, table)
        shared -= containers
        shared_kb = {pid: pss_kb(pid) for pid in shared}
        all_pods = len(self.ps()) or len(names)
        share = sum(shared_kb.values()) / all_pods
        by_name = {}
        for pid, v in shared_kb.items():
            label = f"{labels[pid]} ({table[pid][1]})" if pid in labels else table[pid][1]
            by_name[label] = by_name.get(label, 0) + v
        detail = {f"shared: {k} (whole)": [v] for k, v in sorted(by_name.items())}
        detail[f"shared processes' share (/{all_pods})"] = [share]
        detail["node holder's private memory (USS, whole)"] = [uss_kb(node)]
        detail.update(parts)
        return {"per_pod": [v + share for v in own.values()], "detail": detail}

    def restart_run(self, name, log, want):
        path = self.manifest(name, RESTART_YAML.format(name=name, ts=TS, log=log))
        self.pods.add(name)
        run([self.exe, "run", "--backoff-base", "0", str(path)])
        wait_for_starts(TS / log, want, 60)
        info = self.inspect(name)
        count = info["status"]["containerStatuses"][0]["restartCount"]
        self.remove(name)
        return count

    def flood(self, name):
        """Start a pod flooding its log (FLOOD_YAML); `remove` ends it."""
        path = self.manifest(name, FLOOD_YAML.format(name=name))
        self.pods.add(name)
        run([self.exe, "run", str(path)])
        self.check_running(name, containers=1)

    def end_flood(self, name):
        self.remove(name)

    def log_run(self, name, command):
        """Run a pod whose one container runs `command` (ending with the line
        END); return (seconds from `nspod run` until END is in the log,
        seconds from `run` returning until then)."""
        path = self.manifest(name, LOG_YAML.format(name=name, command=json.dumps(["sh", "-c", command])))
        log = STATE / "pods" / name / "logs" / "c" / "0.log"
        self.pods.add(name)
        t0 = time.perf_counter()
        run([self.exe, "run", str(path)])
        t1 = time.perf_counter()
        t2 = wait_for_end(log, CMD_TIMEOUT)
        # Untimed checks: the container ended well, and `logs --tail` reads the end.
        deadline = time.monotonic() + 30
        while "terminated" not in (st := self.inspect(name)["status"]["containerStatuses"][0])["state"]:
            if time.monotonic() > deadline:
                raise BenchError(f"nspod pod {name}: the container did not end after writing END")
            time.sleep(0.05)
        if st["state"]["terminated"]["exitCode"] != 0:
            raise BenchError(f"nspod pod {name}: the container failed: {json.dumps(st)}")
        _, out = run([self.exe, "logs", name, "--tail", "1"])
        if out != "END\n":
            raise BenchError(f"nspod logs {name} --tail 1 printed {out[:200]!r}, not END")
        self.remove(name)
        return t2 - t0, t2 - t1

    def cleanup(self):
        names = set(self.ps()) | self.pods if STATE.exists() else set(self.pods)
        ok = True
        for n in sorted(names):
            try:
                run([self.exe, "rm", "-f", n], timeout=60, new_session=True)
                self.pods.discard(n)
            except BenchError as e:
                if "not found" in str(e).lower():
                    self.pods.discard(n)
                    continue
                say(f"warning: could not remove nspod pod {n}: {e}")
                ok = False
        if not STATE.exists() and not IMAGES.exists():
            return ok
        left = self.ps()
        if left:
            say(f"warning: nspod pods left: {' '.join(left)} (NSPOD_STATE_DIR={STATE} nspod rm -f ...)")
            return False
        if IMAGES.exists():  # before the node holder goes: removing layers may need it
            ok = self.remove_images() and ok
        node = self.node_pid()
        if node:
            kill_and_wait(node, "nspod node holder")
        return ok


# ---------------------------------------------------------------------------
# Podman
# ---------------------------------------------------------------------------
class NspodExplained(Nspod):
    """nspod with --explain=FILE: what telling every kernel step costs a start."""
    label = "nspod --explain"

    def start(self, name):
        steps = PODS / f"{name}.steps"
        result = super().start(name, [f"--explain={steps}"])
        self.told = len(steps.read_text().splitlines())
        steps.unlink()
        return result


class Podman:
    label = "podman"

    def __init__(self, network=None):
        self.network = network
        self.vol_args = rootfs_volume_args()
        self.pods = set()

    def create_pod(self, name):
        create = ["podman", "pod", "create", "--name", name]
        if self.network:
            create[3:3] = ["--network", self.network]
        self.pods.add(name)
        t, _ = run(create)
        return t

    def start(self, name, command=SLEEP):
        t1 = self.create_pod(name)
        t2, _ = run(["podman", "run", "-d", "--pod", name, "--name", f"{name}-a", *self.vol_args,
                     "--rootfs", str(ROOTFS), *command])
        t3, _ = run(["podman", "run", "-d", "--pod", name, "--name", f"{name}-b", *self.vol_args,
                     "--rootfs", str(ROOTFS), *command])
        return {"start": t1 + t2 + t3, "pod create": t1, "run #1": t2, "run #2": t3}

    def remove(self, name):
        t, _ = run(["podman", "pod", "rm", "-f", "-t", "0", name])
        self.pods.discard(name)
        return t

    def image_start(self, name, ref):
        """As `start`, with one container of the image (pulled when missing,
        Podman's IfNotPresent; plain HTTP to the loopback registry)."""
        t1 = self.create_pod(name)
        t2, _ = run(["podman", "run", "-d", "--pod", name, "--name", f"{name}-a", "--pull", "missing",
                     "--tls-verify=false", ref, "sleep", "1000"])
        _, out = run(["podman", "inspect", "--format", "{{.State.Running}}", f"{name}-a"])  # untimed
        if out.strip() != "true":
            raise BenchError(f"podman run of {ref} in pod {name} returned, but the container is not running")
        return {"start": t1 + t2, "pod create": t1, "run": t2}

    @staticmethod
    def drop_image(ref):
        run(["podman", "rmi", ref])
        if subprocess.run(["podman", "image", "exists", ref], capture_output=True).returncode != 1:
            raise BenchError(f"podman rmi {ref} left the image in the store")

    @staticmethod
    def storage():
        """(graph root, storage driver) of the user's Podman storage."""
        _, out = run(["podman", "info", "--format", "{{.Store.GraphRoot}} {{.Store.GraphDriverName}}"])
        root, _, driver = out.strip().rpartition(" ")
        return Path(root), driver

    @classmethod
    def disk(cls):
        """Bytes on disk of the user's Podman storage, by top-level folder;
        not libpod/, Podman's database of containers and pods."""
        return disk_bytes(cls.storage()[0], skip=("libpod",))

    @staticmethod
    def remove_images():
        """The bench's images (from the loopback registry, named PREFIX...)."""
        try:
            _, out = run(["podman", "images", "--format", "{{.ID}} {{.Repository}}"], new_session=True)
            ids = bench_image_ids(out.splitlines())
            if ids:
                run(["podman", "rmi", "-f", *ids], timeout=60, new_session=True)
        except BenchError as e:
            say(f"warning: could not remove the bench's Podman images: {e}")
            return False
        return True

    @staticmethod
    def pause_pidfile():
        candidates = []
        if os.environ.get("XDG_RUNTIME_DIR"):
            candidates.append(Path(os.environ["XDG_RUNTIME_DIR"]) / "libpod/tmp/pause.pid")
        candidates.append(Path(f"/tmp/podman-run-{UID}/libpod/tmp/pause.pid"))
        candidates.append(Path(f"/tmp/run-{UID}/libpod/tmp/pause.pid"))
        for c in candidates:
            if c.exists():
                return c
        return candidates[0]

    @classmethod
    def pause_pid(cls):
        pid = read_pid(cls.pause_pidfile())
        return pid if pid and alive(pid) and comm_of(pid) is not None else None

    def memory(self, names):
        """Per-pod PSS (kB) of what Podman adds: conmon for every container
        (infra included), the infra container's process (catatonit), the pod's
        slirp4netns, and an equal share of the rootless pause process."""
        table = proc_table()
        per_pod = []
        parts = {"conmon (x3)": [], "infra (catatonit)": [], "slirp4netns": [], "other": [],
                 "conmon (x3) private memory (USS)": []}
        for n in names:
            _, out = run(["podman", "pod", "inspect", n, "--format", "json"])
            pod = json.loads(out)
            if isinstance(pod, list):
                pod = pod[0]
            infra_id = pod["InfraContainerID"]
            ids = [c["Id"] for c in pod["Containers"]]
            _, out = run(["podman", "inspect", "--format",
                          "{{.Id}} {{.State.ConmonPid}} {{.State.Pid}} {{.NetworkSettings.SandboxKey}}", *ids])
            conmons, apps, infra_pid, sandbox = set(), set(), None, ""
            for line in out.splitlines():
                cid, conmon, pid, *key = line.split()
                conmons.add(int(conmon))
                if cid == infra_id:
                    infra_pid = int(pid)
                    sandbox = key[0] if key else ""
                else:
                    apps |= descendants(int(pid), table)
            mine = set()
            for c in conmons:
                mine |= descendants(c, table)
            mine -= apps
            slirp = set()
            if sandbox:
                slirp = {pid for pid, (_, comm) in table.items()
                         if comm.startswith("slirp4netns") and sandbox in cmdline(pid)}
            kb = {pid: pss_kb(pid) for pid in mine | slirp}
            per_pod.append(sum(kb.values()))
            parts["conmon (x3)"].append(sum(kb[p] for p in conmons if p in kb))
            parts["infra (catatonit)"].append(kb.get(infra_pid, 0))
            parts["slirp4netns"].append(sum(kb[p] for p in slirp))
            parts["other"].append(sum(v for p, v in kb.items()
                                      if p not in conmons and p != infra_pid and p not in slirp))
            parts["conmon (x3) private memory (USS)"].append(sum(uss_kb(p) for p in conmons))
        pause = self.pause_pid()
        pause_kb = pss_kb(pause) if pause else 0
        share = pause_kb / len(names)
        return {
            "per_pod": [v + share for v in per_pod],
            "detail": {
                "rootless pause process (whole)": [pause_kb],
                f"pause process share (/{len(names)})": [share],
                **parts,
            },
        }

    def restart_run(self, name, log, want):
        self.pods.add(name)
        run(["podman", "run", "-d", "--name", name, "--restart=always", *self.vol_args,
             "-v", f"{TS}:/ts", "--rootfs", str(ROOTFS),
             "sh", "-c", f"date +S%s%N >> /ts/{log}; date +E%s%N >> /ts/{log}"])
        wait_for_starts(TS / log, want, 90)
        _, out = run(["podman", "inspect", "--format", "{{.RestartCount}}", name])
        self.remove_container(name)
        return int(out.strip() or 0)

    def flood(self, name):
        """As Nspod.flood: `yes`, logged by conmon (k8s-file, as the log rows),
        cut at 10 MB as nspod's log is rotated."""
        self.pods.add(name)
        run(["podman", "run", "-d", "--name", name, "--log-driver", "k8s-file", "--log-opt", "max-size=10mb",
             *self.vol_args, "--rootfs", str(ROOTFS), *FLOOD])

    def end_flood(self, name):
        self.remove_container(name)

    def log_run(self, name, command):
        """As Nspod.log_run: one container, its log in the CRI format (k8s-file)."""
        log = LOGS / f"{name}.log"
        self.pods.add(name)
        t0 = time.perf_counter()
        run(["podman", "run", "-d", "--name", name, "--log-driver", "k8s-file", "--log-opt", f"path={log}",
             *self.vol_args, "--rootfs", str(ROOTFS), "sh", "-c", command])
        t1 = time.perf_counter()
        t2 = wait_for_end(log, CMD_TIMEOUT)
        _, out = run(["podman", "wait", name])  # untimed: it ended well
        if out.strip() != "0":
            raise BenchError(f"podman container {name} exited {out.strip()}")
        self.remove_container(name)
        log.unlink(missing_ok=True)
        return t2 - t0, t2 - t1

    def remove_container(self, name):
        # A container between two restarts can refuse rm ("container state
        # improper"): try again until it is gone.
        for _ in range(50):
            run(["podman", "rm", "-f", "-t", "0", name], check=False, new_session=True)
            if subprocess.run(["podman", "container", "exists", name], capture_output=True).returncode == 1:
                self.pods.discard(name)
                return
            time.sleep(0.1)
        raise BenchError(f"podman could not remove container {name}")

    def cleanup(self):
        ok = True
        try:
            # (`pod ps` lists every pod; Podman 4.3 has no -a for it)
            _, out = run(["podman", "pod", "ps", "--filter", f"name=^{PREFIX}", "--format", "{{.Name}}"],
                         new_session=True)
            pods = set(out.split())
        except BenchError:
            pods = set()
        for n in sorted(pods | self.pods):
            run(["podman", "pod", "rm", "-f", "-t", "0", n], check=False, timeout=60, new_session=True)
        try:
            _, out = run(["podman", "ps", "-a", "--filter", f"name=^{PREFIX}", "--format", "{{.Names}}"],
                         new_session=True)
            ctrs = set(out.split())
        except BenchError:
            ctrs = set()
        for n in sorted(ctrs):
            try:
                self.remove_container(n)
            except BenchError as e:
                say(f"warning: {e}")
                ok = False
        self.pods.clear()
        return self.remove_images() and ok


def bench_image_ids(lines):
    """IDs of the bench's images in `podman images` lines ("ID REPOSITORY"):
    those from a loopback registry whose repository starts with PREFIX."""
    ids = set()
    for line in lines:
        image_id, _, repo = line.strip().partition(" ")
        host, _, path = repo.partition("/")
        if host.startswith("127.0.0.1:") and path.startswith(PREFIX):
            ids.add(image_id)
    return sorted(ids)


def disk_bytes(top, skip=()):
    """{top-level entry: bytes allocated under it} (st_blocks, as du counts;
    an inode with several links once; symlinks not followed). The entries
    named in `skip` are left out; a missing `top` is empty."""
    top = Path(top)
    if not top.exists():
        return {}
    seen, parts = set(), {}

    def fail(err):
        raise BenchError(f"cannot measure the disk used under {top}: {err}")

    for dirpath, dirnames, filenames in os.walk(top, onerror=fail):
        if dirpath == str(top):
            dirnames[:] = [d for d in dirnames if d not in skip]
            filenames = [f for f in filenames if f not in skip]
        part = Path(dirpath).relative_to(top).parts[:1]
        for name in dirnames + filenames:
            try:
                st = os.lstat(os.path.join(dirpath, name))
            except FileNotFoundError:
                continue  # removed while we looked
            except OSError as e:
                fail(e)
            if (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                key = part[0] if part else name
                parts[key] = parts.get(key, 0) + st.st_blocks * 512
    return parts


def rootfs_volume_args():
    """Podman containers run the host's binaries, as nspod's process containers
    do: /usr (and any top-level folder that is not a symlink into it) bound
    read-only into a skeleton root."""
    args = ["-v", "/usr:/usr:ro"]
    for top in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        host = Path("/") / top
        if host.is_dir() and not host.is_symlink():
            args += ["-v", f"{host}:{host}:ro"]
    return args


def make_rootfs():
    for d in ("usr", "etc", "proc", "sys", "dev", "tmp", "run", "ts"):
        (ROOTFS / d).mkdir(parents=True, exist_ok=True)
    (ROOTFS / "tmp").chmod(0o1777)
    for top in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        host = Path("/") / top
        if host.is_symlink():
            (ROOTFS / top).symlink_to(os.readlink(host))
        elif host.is_dir():
            (ROOTFS / top).mkdir()


def wait_for_end(log, timeout):
    """Wait until the CRI log file `log` ends with the record of the line END;
    return when that was seen (time.perf_counter). Looks every 5 ms."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(log, "rb") as f:
                f.seek(max(0, os.fstat(f.fileno()).st_size - 64))
                if f.read().endswith(b" F END\n"):
                    return time.perf_counter()
        except FileNotFoundError:
            pass  # not made yet, or being rotated
        time.sleep(0.005)
    raise BenchError(f"the line END did not reach {log} in {timeout} s")


def wait_for_starts(path, want, timeout):
    """Wait until the container has logged `want` complete start/exit pairs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(parse_starts(path)) >= want:
            return
        time.sleep(0.05)
        reap()
    raise BenchError(f"only {len(parse_starts(path))} of {want} container runs logged in {timeout} s ({path})")


def restart_gaps(runs):
    """Seconds from each instance's exit to the next one's start, of
    parse_starts' [(start_ns, exit_ns)]."""
    return [(later[0] - earlier[1]) / 1e9 for earlier, later in zip(runs, runs[1:])]


def parse_starts(path):
    """[(start_ns, exit_ns)] from the S/E lines a restarting container writes."""
    try:
        lines = path.read_text().split("\n")
    except OSError:
        return []
    runs, start = [], None
    for line in lines[:-1]:  # the last piece may be a partial line
        if line.startswith("S"):
            start = int(line[1:])
        elif line.startswith("E") and start is not None:
            runs.append((start, int(line[1:])))
            start = None
    return runs


# ---------------------------------------------------------------------------
# statistics and output
# ---------------------------------------------------------------------------
def med(xs):
    return statistics.median(xs) if xs else float("nan")


def fmt_ms(s):
    ms = s * 1000
    return f"{ms:.0f}" if ms >= 100 else f"{ms:.1f}" if ms >= 10 else f"{ms:.2f}"


def fmt_for(unit):
    return {"MiB": fmt_mib, "MiB/s": fmt_rate}.get(unit, fmt_ms)


def fmt_rate(mib_s):
    return f"{mib_s:.0f}" if mib_s >= 10 else f"{mib_s:.1f}"


def fmt_mib(kb):
    return f"{kb / 1024:.2f}"


class Results:
    def __init__(self):
        self.rows = []      # (figure, unit, nspod values, podman values, goal key)
        self.notes = []
        self.details = []   # (title, [(label, values, unit)])
        self.growth = {}    # tool -> {"start": ×, "memory": ×} (the scaling section)

    def figures(self):
        """The table as data (--json): each row's name as the table shows it,
        the medians and their ratio; then the scaling growth of each tool."""
        out = []
        for figure, unit, a, b, goal in self.rows:
            na, nb = (med(a) if a else None), (med(b) if b else None)
            ratio = na / nb if na is not None and nb else None
            if unit == "MiB":  # kept in KiB inside, shown in MiB
                na, nb = (None if na is None else na / 1024), (None if nb is None else nb / 1024)
            elif unit == "ms":
                na, nb = (None if na is None else na * 1000), (None if nb is None else nb * 1000)
            row = {"figure": f"{figure} [{unit}]", "nspod": na, "podman": nb, "ratio": ratio}
            if goal:
                row["goal"] = GOALS[goal]
            out.append(row)
        for what in ("start", "memory"):
            if self.growth:
                g = {k: v[what] for k, v in self.growth.items()}
                out.append({"figure": f"growth of {'start time' if what == 'start' else 'memory per pod'}, "
                                      "pods 41–50 / pods 1–10 [×]",
                            "nspod": g.get("nspod"), "podman": g.get("podman"),
                            "ratio": g["nspod"] / g["podman"] if g.get("podman") else None,
                            "goal_each": SCALE_GROWTH_GOAL})
        return {"figures": out}

    def add(self, figure, unit, a, b, goal=None):
        self.rows.append((figure, unit, list(a), list(b), goal))

    def table(self, markdown):
        def cell(vals, unit):
            if not vals:
                return "n/a"
            f = fmt_for(unit)
            if len(vals) == 1:
                return f"{f(vals[0])} (1 run)"
            return f"{f(med(vals))} ({f(min(vals))}–{f(max(vals))})"

        head = ["figure", "nspod median (min–max)", "podman median (min–max)", "nspod:podman", "goal"]
        body = []
        for figure, unit, a, b, goal in self.rows:
            ratio = med(a) / med(b) if a and b and med(b) else float("nan")
            if goal:
                verdict = "met" if ratio <= GOALS[goal] else "NOT met"
                g = f"≤ {GOALS[goal]:.2f}: {verdict}"
            else:
                g = ""
            body.append([f"{figure} [{unit}]", cell(a, unit), cell(b, unit),
                         "n/a" if ratio != ratio else f"{ratio:#.3g}", g])
        if markdown:
            out = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
            out += ["| " + " | ".join(r) + " |" for r in body]
            return "\n".join(out)
        widths = [max(len(r[i]) for r in [head] + body) for i in range(len(head))]
        lines = ["  ".join(c.ljust(w) for c, w in zip(head, widths)).rstrip()]
        lines.append("  ".join("-" * w for w in widths))
        lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in body]
        return "\n".join(lines)

    def detail_text(self, markdown):
        out = []
        for title, items in self.details:
            out.append(f"**{title}**" if markdown else f"{title}:")
            for label, vals, unit in items:
                f = fmt_for(unit)
                v = f(med(vals)) if len(vals) == 1 else f"{f(med(vals))} ({f(min(vals))}–{f(max(vals))})"
                out.append(f"- {label}: {v} {unit}" if markdown else f"  {label:40s} {v} {unit}")
            out.append("")
        return "\n".join(out).rstrip()


def machine():
    cpu = ""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    distro = ""
    try:
        for line in open("/etc/os-release"):
            if line.startswith("PRETTY_NAME="):
                distro = line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    mem = ""
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal:"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB RAM"
    except OSError:
        pass

    def version(cmd):
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout.strip()
            return out.splitlines()[0] if out else "?"
        except (OSError, subprocess.TimeoutExpired):
            return "?"

    return {
        "nproc": os.cpu_count(),
        "kernel": platform.release(),
        "cpu": cpu,
        "distro": distro,
        "mem": mem,
        "python": platform.python_version(),
        "podman": version(["podman", "version", "--format", "{{.Client.Version}}"]),
        "runc": version(["runc", "--version"]),
        "conmon": version(["conmon", "--version"]),
        "storage": version(["podman", "info", "--format", "{{.Store.GraphDriverName}}"]),
        "cgroups": version(["podman", "info", "--format", "{{.Host.CgroupsVersion}}"]),
    }


# ---------------------------------------------------------------------------
# the run
# ---------------------------------------------------------------------------
def preflight(nspod_exe, sections):
    if not shutil.which("podman"):
        raise BenchError(f"podman is not installed; rootless Podman is what nspod is measured against.\n"
                         f"  fix: {APT_HINT}")
    if not shutil.which("runc"):
        raise BenchError("runc is not installed (crun refuses the hybrid cgroup layout here).\n"
                         "  fix: sudo apt-get install -y runc")
    if not nspod_exe:
        raise BenchError("nspod is not on PATH (run scripts/setup, or scripts/bench, which does)")
    if "image" in sections and not shutil.which("docker-registry"):
        raise BenchError("docker-registry is not installed (the image section serves its image from it).\n"
                         "  fix: sudo apt-get install -y docker-registry (scripts/setup does)")
    if os.geteuid() == 0:
        raise BenchError("the measurements run as an unprivileged user: start scripts/bench "
                         "(as root it switches to the test user)")
    try:
        run(["podman", "info", "--format", "{{.Host.OCIRuntime.Name}}"])
    except BenchError as e:
        raise BenchError(f"rootless podman does not work here:\n{e}\n"
                         f"  (it needs /dev/net/tun mode 0666, a subuid range, uidmap; "
                         f"scripts/setup as root fixes the first)") from None


def prepare_dirs():
    BASE.mkdir(mode=0o700, exist_ok=True)
    if BASE.stat().st_uid != UID:
        raise BenchError(f"{BASE} belongs to someone else")
    for d in (STATE, ROOTFS, TS, PODS, LOGS, IMAGES, REGISTRY_DIR):
        if d.exists():
            shutil.rmtree(d)
    STATE.mkdir(mode=0o700)
    TS.mkdir()
    PODS.mkdir()
    LOGS.mkdir()
    make_rootfs()
    write_conf()


def write_conf():
    CONF.write_text('[containers]\n# RLIMIT_NOFILE cannot be raised here\ndefault_ulimits = []\n\n'
                    '[engine]\n# crun refuses the hybrid cgroup layout here\nruntime = "runc"\n')


def setup_env(nspod_exe):
    os.environ["NSPOD_STATE_DIR"] = str(STATE)
    os.environ["NSPOD_IMAGE_DIR"] = str(IMAGES)
    if not CONF.exists():
        write_conf()
    os.environ["CONTAINERS_CONF"] = str(CONF)
    return Nspod(nspod_exe)


def progress(msg, i=None, n=None):
    if i is None:
        say(msg)
    elif sys.stderr.isatty():
        end = "\n" if i == n else ""
        print(f"\rbench: {msg} {i}/{n}", end=end, file=sys.stderr, flush=True)
    elif i == n:
        say(f"{msg} {n}/{n}")


SECTIONS = ("start", "restart", "memory", "logs", "image", "scale")


def bench(args, ns, pm, pm_nonet, res):
    """The sections asked for (all by default), in this order."""
    t = None
    if "start" in args.only:
        t = bench_start(args, ns, pm, pm_nonet, res)
    if "restart" in args.only:
        bench_restart(args, ns, pm, res)
    if "memory" in args.only:
        bench_memory(args, ns, pm, res, t)
    if "logs" in args.only:
        bench_logs(args, ns, pm, res)
    if "image" in args.only:
        bench_image(args, ns, pm, res)
    if "scale" in args.only:
        bench_scale(args, ns, pm, res)


def bench_scale(args, ns, pm, res, total=50, batch=10):
    """Each tool alone: start `total` pods one after another, then compare
    pods 41–50 with pods 1–10: start time (medians) and memory per pod (the
    first 10 pods' PSS over 10, against what pods 41–50 added over 10).
    The 50 pods are started twice (all removed in between), and the start
    times of both rounds count: medians of 10 starts moved by ±30% from run
    to run here, and the machine drifts over the minute a round takes.
    Memory is read in the first round. Each timed group (pods 1–10, pods
    41–50) begins after a rest of SETTLE seconds: the memory readings gave
    the first round's pods 41–50 one, and starts right after 30 others (or
    after 50 removals) were slower for both tools, whatever the pod count
    (docs/BENCHMARKS.md, by hand)."""
    starts, mem_first, mem_last = {}, {}, {}
    for a in (ns, pm):
        names = [f"{PREFIX}n{j}" for j in range(total)]
        rounds = []
        try:
            for r in (1, 2):
                times = []
                for j, name in enumerate(names):
                    if j in (0, total - batch):
                        time.sleep(SETTLE)  # (each timed group after the same rest: see the docstring)
                    times.append(a.start(name)["start"])
                    if r == 1 and j + 1 == batch:
                        time.sleep(SETTLE)
                        mem_first[a.label] = sum(a.memory(names[:batch])["per_pod"]) / batch
                    elif r == 1 and j + 1 == total - batch:
                        time.sleep(SETTLE)
                        before_last = sum(a.memory(names[:j + 1])["per_pod"])
                    progress(f"scaling, {a.label}, round {r}: pods started", j + 1, total)
                if r == 1:
                    time.sleep(SETTLE)
                    mem_last[a.label] = (sum(a.memory(names)["per_pod"]) - before_last) / batch
                progress(f"scaling, {a.label}, round {r}: removing {total} pods")
                for name in names:
                    a.remove(name)
                rounds.append(times)
        finally:
            for name in names:
                if name in a.pods:
                    a.remove(name)
        starts[a.label] = rounds
    first = {label: [t for times in rounds for t in times[:batch]] for label, rounds in starts.items()}
    last = {label: [t for times in rounds for t in times[total - batch:]] for label, rounds in starts.items()}
    res.add(f"pod start, pods 1–{batch}", "ms", first["nspod"], first["podman"])
    res.add(f"pod start, pods {total - batch + 1}–{total}", "ms", last["nspod"], last["podman"])
    res.add(f"memory per pod, pods 1–{batch} (PSS)", "MiB", [mem_first["nspod"]], [mem_first["podman"]])
    res.add(f"memory per pod, pods {total - batch + 1}–{total} (PSS added)", "MiB",
            [mem_last["nspod"]], [mem_last["podman"]])
    for label in ("nspod", "podman"):
        g_start = med(last[label]) / med(first[label])
        g_mem = mem_last[label] / mem_first[label] if mem_first[label] else float("nan")
        res.growth[label] = {"start": g_start, "memory": g_mem}
        verdict = lambda g: "met" if g <= SCALE_GROWTH_GOAL else "NOT met"  # noqa: E731
        by_round = ", ".join(f"{fmt_ms(med(times[:batch]))} → {fmt_ms(med(times[total - batch:]))} ms"
                             for times in starts[label])
        res.notes.append(
            f"Scaling, {label}: pods {total - batch + 1}–{total} against pods 1–{batch}: start time "
            f"×{g_start:.2f} ({verdict(g_start)}), memory per pod ×{g_mem:.2f} ({verdict(g_mem)}); "
            f"goal ≤ ×{SCALE_GROWTH_GOAL} for each. The {total} pods were started twice; start time "
            f"medians of each round: {by_round}.")


def bench_start(args, ns, pm, pm_nonet, res):
    """Cold start, then pod start/remove alternating; returns the start times."""
    n = args.runs

    # -- 0. cold start: no node holder / no podman pause process -------------
    cold = {"nspod": [], "podman": []}
    # Podman builds its infra image on the first pod it ever makes: not part
    # of a cold start, so make sure it exists first.
    _, out = run(["podman", "images", "--format", "{{.Repository}}"])
    if "podman-pause" not in out:
        pm.start(f"{PREFIX}cold")
        pm.remove(f"{PREFIX}cold")
    reps = max(3, n // 3)  # (one run of each swung across the goal with the machine's noise)
    for i in range(reps):
        progress("first pod of each (cold: no nspod node holder, no podman pause process)", i + 1, reps)
        for a in ((ns, pm) if i % 2 == 0 else (pm, ns)):
            if a is ns:
                ns.end_node()  # (the first run's state directory is new: no node holder yet)
            elif pm.pause_pid():
                _, out = run(["podman", "ps", "-aq"])
                if not out.strip():
                    # No container of this user exists: its pause process holds nothing.
                    kill_and_wait(pm.pause_pid(), "podman pause process")
                if pm.pause_pid():
                    continue
            cold[a.label].append(a.start(f"{PREFIX}cold")["start"])
            a.remove(f"{PREFIX}cold")
    if not cold["podman"]:
        res.notes.append("Podman's cold start was not measured: its rootless pause process "
                         "was in use by other containers of this user (podman ps -a was not empty).")
    # warm-up, untimed
    for tool in (ns, pm, pm_nonet):
        tool.start(f"{PREFIX}warm")
        tool.remove(f"{PREFIX}warm")

    # -- 1. start / remove, nothing else running -----------------------------
    explained = NspodExplained(ns.exe)
    explained.pods = ns.pods  # one set: the clean-up removes either's
    arms = [ns, pm, pm_nonet, explained]
    key = {id(ns): "nspod", id(pm): "podman", id(pm_nonet): "podmannone", id(explained): "explain"}
    t = {k: {"start": [], "rm": [], "total": []} for k in key.values()}
    pm_parts = {"pod create": [], "run #1": [], "run #2": []}
    for i in range(n):
        order = arms[i % len(arms):] + arms[:i % len(arms)]
        for a in order:
            name = f"{PREFIX}s{i}"
            r = a.start(name)
            rm = a.remove(name)
            k = key[id(a)]
            t[k]["start"].append(r["start"])
            t[k]["rm"].append(rm)
            t[k]["total"].append(r["start"] + rm)
            if a is pm:
                for p in pm_parts:
                    pm_parts[p].append(r[p])
        progress("pod start/remove, alternating", i + 1, n)
    res.add("pod start (2 containers)", "ms", t["nspod"]["start"], t["podman"]["start"], "start")
    res.add("pod remove (rm -f)", "ms", t["nspod"]["rm"], t["podman"]["rm"])
    res.add("start + remove", "ms", t["nspod"]["total"], t["podman"]["total"])
    res.add("pod start (podman: --network none)", "ms", t["nspod"]["start"], t["podmannone"]["start"])
    res.add("first pod start (cold)", "ms", cold["nspod"], cold["podman"], "cold")
    on, off = med(t["explain"]["start"]), med(t["nspod"]["start"])
    res.notes.append(f"--explain (issue 12): `nspod run --explain=FILE` started the pod in {fmt_ms(on)} ms against "
                     f"{fmt_ms(off)} ms without (medians, alternating; on:off {on / off:.2f}), telling "
                     f"{explained.told} steps. Off, a step costs one test of a module variable.")
    res.details.append(("Podman's start, by step (median (min–max), default network)", [
        (p, v, "ms") for p, v in pm_parts.items()] + [
        ("pod rm -f -t 0, --network none", t["podmannone"]["rm"], "ms")]))
    return t


def bench_restart(args, ns, pm, res):
    # -- 2. restart latency --------------------------------------------------
    want = args.restarts + 1
    lat = {}
    runtime = {}
    counts = {}
    for a, log in ((ns, "nspod.log"), (pm, "podman.log")):
        progress(f"restart latency, {a.label}: {args.restarts} restarts")
        counts[a.label] = a.restart_run(f"{PREFIX}restart", log, want)
        runs = parse_starts(TS / log)[:want]
        lat[a.label] = restart_gaps(runs)
        runtime[a.label] = [(e - s) / 1e9 for s, e in runs]
    res.add("restart latency (exit → running)", "ms", lat["nspod"], lat["podman"], "restart")
    first, last = med(lat["podman"][:5]), med(lat["podman"][-5:])
    res.notes.append(
        f"Podman's --restart=always applied no back-off here: the median of its first 5 restarts was "
        f"{fmt_ms(first)} ms, of its last 5 {fmt_ms(last)} ms."
        if last < 3 * first + 0.05 else
        f"Podman's restarts slowed down over the run (back-off?): the median of its first 5 restarts was "
        f"{fmt_ms(first)} ms, of its last 5 {fmt_ms(last)} ms.")
    res.details.append(("Restart run (median, min–max)", [
        ("nspod: one instance's run time (sh + 2 × date)", runtime["nspod"], "ms"),
        ("podman: one instance's run time", runtime["podman"], "ms"),
    ]))
    res.notes.append(f"Restart counts reported at the end of the restart run: nspod restartCount "
                     f"{counts['nspod']}, podman RestartCount {counts['podman']} "
                     f"(each ran until {want} instances had logged their start and exit).")
    # The same, with a pod of the same tool flooding its log beside it: one
    # supervisor serves every pod in nspod, a conmon each container in Podman.
    flooded = {}
    for a, log in ((ns, "nspod-flood.log"), (pm, "podman-flood.log")):
        progress(f"restart latency beside a flooding pod, {a.label}: {args.restarts} restarts")
        a.flood(f"{PREFIX}flood")
        try:
            time.sleep(1)  # (the flood under way, its log rotating)
            a.restart_run(f"{PREFIX}restartf", log, want)
        finally:
            a.end_flood(f"{PREFIX}flood")
        flooded[a.label] = restart_gaps(parse_starts(TS / log)[:want])
    res.add("restart latency beside a pod flooding its log (exit → running)", "ms",
            flooded["nspod"], flooded["podman"])


def one_pod_memory(ns, pm, reps, prefix, what, command=SLEEP):
    """Memory of one pod at a time, each tool in turn, reps times: ({tool:
    [per pod]}, {tool: {part: [MiB]}})."""
    per_pod, detail = {"nspod": [], "podman": []}, {"nspod": {}, "podman": {}}
    for i in range(reps):
        for a in ((ns, pm) if i % 2 == 0 else (pm, ns)):
            name = f"{PREFIX}{prefix}{i}"
            a.start(name, command=command)
            time.sleep(SETTLE)
            m = a.memory([name])
            a.remove(name)
            per_pod[a.label] += m["per_pod"]
            for k, v in m["detail"].items():
                detail[a.label].setdefault(k, []).extend(v)
        progress(what, i + 1, reps)
    return per_pod, detail


def bench_memory(args, ns, pm, res, t):
    """Memory per pod with 1 and K pods, then pod start with K+K pods running
    (compared with the start times of bench_start, when it ran)."""
    n = args.runs
    pods_bg = args.pods

    # -- 3. memory, one pod at a time (quiet, then one that logs) -----------
    mem1, detail1 = one_pod_memory(ns, pm, args.mem_runs, "m", "memory, one pod")
    res.add("memory per pod, 1 pod (PSS)", "MiB", mem1["nspod"], mem1["podman"], "memory1")
    logging, _ = one_pod_memory(ns, pm, args.mem_runs, "l", "memory, one pod that logs", TICKS)
    res.add("memory per pod, 1 pod that logs a line a second (PSS)", "MiB", logging["nspod"], logging["podman"])

    # -- 4. memory with K pods (each tool alone), then start with K+K running --
    mem10, detail10 = {}, {}
    bg = [f"{PREFIX}bg{j}" for j in range(pods_bg)]
    for a in (ns, pm):
        progress(f"memory, {pods_bg} pods of {a.label}")
        for nm in bg:
            a.start(nm)
        time.sleep(SETTLE)
        m = a.memory(bg)
        mem10[a.label] = m["per_pod"]
        detail10[a.label] = m["detail"]
        if a is ns:  # measure Podman's pods without nspod's around them
            for nm in bg:
                a.remove(nm)
    res.add(f"memory per pod, {pods_bg} pods (PSS)", "MiB", mem10["nspod"], mem10["podman"], "memory")
    marginal = {k: [(sum(mem10[k]) - med(mem1[k])) / (pods_bg - 1)] for k in mem10} if pods_bg > 1 else None
    if marginal:
        res.add(f"memory each further pod adds (1 → {pods_bg} pods)", "MiB",
                marginal["nspod"], marginal["podman"])
    kb = lambda d: [(k, v, "MiB") for k, v in d.items()]  # noqa: E731
    res.details.append(("nspod memory, 1 pod", kb(detail1["nspod"])))
    res.details.append(("Podman memory, 1 pod", kb(detail1["podman"])))
    res.details.append((f"nspod memory, {pods_bg} pods (per pod)", kb(detail10["nspod"])))
    res.details.append((f"Podman memory, {pods_bg} pods (per pod)", kb(detail10["podman"])))

    progress(f"starting {pods_bg} nspod pods again")
    for nm in bg:
        ns.start(nm)
    t10 = {"nspod": [], "podman": []}
    for i in range(n):
        for a in ((ns, pm) if i % 2 == 0 else (pm, ns)):
            name = f"{PREFIX}x{i}"
            t10[a.label].append(a.start(name)["start"])
            a.remove(name)
        progress(f"pod start with {pods_bg}+{pods_bg} pods running, alternating", i + 1, n)
    res.add(f"pod start, {pods_bg} own (+{pods_bg} other) pods running", "ms",
            t10["nspod"], t10["podman"], "start")
    if t is not None:
        g_n = med(t10["nspod"]) / med(t["nspod"]["start"])
        g_p = med(t10["podman"]) / med(t["podman"]["start"])
        res.notes.append(f"Start time with {pods_bg} pods of each tool running, relative to no pods: "
                         f"nspod ×{g_n:.2f}, podman ×{g_p:.2f} (medians; 1.00 = no growth).")
    progress("removing the background pods")
    for a in (ns, pm):
        for nm in [f"{PREFIX}bg{j}" for j in range(pods_bg)]:
            a.remove(nm)


def bench_logs(args, ns, pm, res):
    """A container writes a lot to stdout; the time until all of it is in its
    log, alternating, for each workload of LOG_WORKLOADS."""
    progress("log throughput: warm-up")
    for a in (ns, pm):  # the node holder / pause process exist in every timed run
        a.log_run(f"{PREFIX}logwarm", "echo END")
    for row, mib, command in LOG_WORKLOADS:
        total = {"nspod": [], "podman": []}
        rate = {"nspod": [], "podman": []}
        for i in range(args.runs):
            for a in ((ns, pm) if i % 2 == 0 else (pm, ns)):
                t, after_run = a.log_run(f"{PREFIX}log{i}", command)
                total[a.label].append(t)
                rate[a.label].append(mib / after_run)
            progress(f"log throughput, {mib} MiB, alternating", i + 1, args.runs)
        # No goal verdict: the row also holds each tool's start, which other rows
        # judge; whether the log path holds the container back is the rate below.
        res.add(row, "ms", total["nspod"], total["podman"])
        res.details.append((f"{row}: MiB written per second from `run` returning until all was logged", [
            ("nspod", rate["nspod"], "MiB/s"), ("podman", rate["podman"], "MiB/s")]))
        res.notes.append(f"Log path, {mib} MiB: nspod logged {med(rate['nspod']):.0f} MiB/s, Podman (conmon) "
                         f"{med(rate['podman']):.0f} MiB/s, from `run` returning until the last line was in "
                         f"the log (medians; nspod:podman rate {med(rate['nspod']) / med(rate['podman']):.2f}).")


def image_helpers():
    """The tests' registry and image builders (imported only here: they load
    pytest, which the other sections need not)."""
    if str(TESTS) not in sys.path:
        sys.path.insert(0, str(TESTS))
    from imagepods import LayeredImage, base_entries, tree_entries
    from imagetest import Registry

    return Registry, LayeredImage, base_entries, tree_entries


def build_image(LayeredImage, base_entries, tree_entries):
    """The image of IMAGE_TREES and a description of it. Each
    layer holds a file naming this run, so no layer is ever one a store kept
    from an earlier run (e.g. a pull a killed bench left half done: Podman
    keeps its layers and would not download them again)."""
    stdlib = Path(sysconfig.get_path("stdlib"))
    layers = [base_entries()] + [tree_entries(stdlib / t) for t in IMAGE_TREES]
    run_id = os.urandom(8).hex().encode()
    for i, entries in enumerate(layers):
        entries.append((f".nbench-layer-{i}", "file", run_id, 0))
    image = LayeredImage(layers)
    unpacked = sum(len(v) for entries in layers for _, kind, v, _ in entries if kind == "file")
    files = sum(1 for entries in layers for _, kind, _, _ in entries if kind == "file")
    compressed = sum(len(image.blobs[d]) for d in image.layer_digests)
    what = (f"{IMAGE_TEXT} (in {stdlib}): {len(layers)} layers, {files} files, "
            f"{unpacked / 2**20:.1f} MiB unpacked, {compressed / 2**20:.1f} MiB as pulled (gzip)")
    return image, what


def stop_leftover_registry():
    """The registry a bench that was killed (SIGKILL) left running."""
    pid = read_pid(REGISTRY_PID)
    if pid and alive(pid) and "docker-registry" in cmdline(pid) and str(REGISTRY_DIR) in cmdline(pid):
        kill_and_wait(pid, "docker-registry")
    REGISTRY_PID.unlink(missing_ok=True)


def bench_image(args, ns, pm, res):
    """One image from a registry on loopback, for both tools, alternating:
    pull + start after the image was removed from both stores, then a start
    from the cached image; before that, untimed, the disk each store grows by
    for the image (after a warm-up, so Podman's infra image exists)."""
    Registry, *builders = image_helpers()
    registry = Registry(REGISTRY_DIR)
    try:
        registry.start()
        REGISTRY_PID.write_text(f"{registry.proc.pid}\n")
        image, what = build_image(*builders)
        registry.push(IMAGE_REPO, IMAGE_TAG, image)
        ref = f"{registry.netloc}/{IMAGE_REPO}:{IMAGE_TAG}"
        progress(f"image: {ref}: {what}")
        disk = image_disk(ns, pm, ref)
        first, cached, parts = image_starts(args.runs, ns, pm, ref)
    except AssertionError as e:  # the helpers' checks of the registry's answers
        raise BenchError(f"the loopback registry: {e}") from None
    finally:
        registry.stop()
        REGISTRY_PID.unlink(missing_ok=True)
    res.add("pod start from a cached image (1 container)", "ms", cached["nspod"], cached["podman"], "image_cached")
    res.add("first pull + pod start of that image", "ms", first["nspod"], first["podman"], "image_pull")
    total = {k: sum(v.values()) / 1024 for k, v in disk.items()}
    res.add("disk per image (store growth)", "MiB", [total["nspod"]], [total["podman"]])
    _, driver = pm.storage()
    res.notes.append(f"Image of the image rows: {what}; served by docker-registry on 127.0.0.1. "
                     f"Podman's storage driver: {driver}.")
    res.notes.append(f"Disk per image (no goal): nspod {total['nspod'] / 1024:.1f} MiB, Podman "
                     f"{total['podman'] / 1024:.1f} MiB ({driver}), "
                     f"nspod:podman {total['nspod'] / total['podman']:.2f}.")
    res.details.append(("Disk per image: what the image added under each top-level entry of the store", [
        (f"{k}: {f}", [v / 1024], "MiB") for k in ("nspod", "podman") for f, v in sorted(disk[k].items()) if v]))
    res.details.append(("Podman's image pod start, by step (median (min–max))", [
        (p, v, "ms") for p, v in parts.items()]))


def image_disk(ns, pm, ref):
    """What each store grows by for the image: a warm-up pull + start, the
    image removed, the store measured, pulled and started again, its pod
    removed, measured again. {tool: {folder: bytes}}."""
    disk = {}
    for a in (ns, pm):
        name = f"{PREFIX}imgwarm"
        a.image_start(name, ref)  # warm-up: node holder, Podman's infra image
        a.remove(name)
        a.drop_image(ref)
        before = a.disk()
        a.image_start(name, ref)
        a.remove(name)
        after = a.disk()
        disk[a.label] = {k: after.get(k, 0) - before.get(k, 0) for k in after.keys() | before.keys()}
        progress(f"image: disk per image, {a.label}: {sum(disk[a.label].values()) / 2**20:.1f} MiB")
    return disk


def image_starts(n, ns, pm, ref):
    """n rounds, the tools in turn: remove the image, time pull + start,
    remove the pod, time a start from the cache, remove the pod."""
    first, cached = {"nspod": [], "podman": []}, {"nspod": [], "podman": []}
    parts = {f"{w}: {p}": [] for w in ("first pull", "cached") for p in ("pod create", "run")}
    for i in range(n):
        for a in ((ns, pm) if i % 2 == 0 else (pm, ns)):
            name = f"{PREFIX}img{i}"
            a.drop_image(ref)
            for label, times in (("first pull", first), ("cached", cached)):
                r = a.image_start(name, ref)
                a.remove(name)
                times[a.label].append(r["start"])
                if a is pm:
                    parts[f"{label}: pod create"].append(r["pod create"])
                    parts[f"{label}: run"].append(r["run"])
        progress("image: first pull + start, then start from the cache, alternating", i + 1, n)
    return first, cached, parts


BY_HAND = "## Measured by hand\n"


def _kept_by_hand(path):
    """The doc's section of figures measured with other scripts (e.g.
    scripts/probebench), kept as it is when the rest is written again."""
    try:
        old = Path(path).read_text()
    except OSError:
        return ""
    if BY_HAND not in old:
        return ""
    section = old[old.index(BY_HAND):]
    end = section.find("\n## ", len(BY_HAND))
    return "\n" + (section if end < 0 else section[:end + 1])


def write_doc(path, res, info, args, started, elapsed):
    date = started.strftime("%Y-%m-%d %H:%M UTC")
    text = f"""# Benchmarks: nspod vs rootless Podman

Measured by `scripts/bench`, which runs both tools side by side in one run,
alternating between them, as the unprivileged user. **Absolute times on these
machines are noisy; read the ratios** (nspod:podman, median over median), which
hold from run to run far better than the times do.

- date: {date} (the run took {elapsed:.0f} s)
- command: `{args.invocation}` ({args.runs} runs of each timing, {args.restarts} restarts,
  memory of 1 pod measured {args.mem_runs} times and of {args.pods} pods once)
- machine: {info['nproc']} CPUs ({info['cpu']}), {info['mem']}, kernel {info['kernel']}, {info['distro']}
- nspod: Python {info['python']}; Podman {info['podman']} with {info['runc']}, {info['conmon']},
  storage driver {info['storage']}, cgroups {info['cgroups']}

{res.table(markdown=True)}

Times in milliseconds, memory in MiB of PSS per pod, disk in MiB; each cell is
the median with the minimum and maximum in brackets. The goals (issue 13): a
two-container pod starts in a third of Podman's time and the first pod (cold) in
half, a crashed container runs again in a twentieth of Podman's restart time, one
pod costs no more memory than a Podman pod and each of ten pods half as much. The
log rows have no verdict (they include each tool's start); the design asks that
the log path never hold a container back: compare the log rates in the notes.
The image rows' goals (issue 8): a pod starts from a cached image in at most
half Podman's time, and the first pull + start of an image takes no longer than
Podman's; disk per image has no goal (the ratio is reported).

## Notes

{chr(10).join('- ' + n for n in res.notes)}
{_kept_by_hand(path)}
## Details

{res.detail_text(markdown=True)}

## What is measured, and how

- **Pod start**: nspod: `nspod run pod.yaml` (it returns once both containers
  have started; the bench then checks with `nspod inspect` that both run).
  Podman: `podman pod create` + `podman run -d --pod P --rootfs DIR sleep 1000`
  twice. Both pods have two `sleep 1000` containers running the host's
  binaries: nspod's process containers bind the host's `/usr`, Podman's
  containers get a skeleton root (`--rootfs`) with the host's `/usr` bound
  read-only. **Remove**: `nspod rm -f` and `podman pod rm -f -t 0` (no grace
  period in either). The rows are wall times of those commands. The tools run
  in turn within each repetition, in a rotating order.
- **Start with {args.pods} pods running**: the same start, while {args.pods} pods of
  each tool run (so 2 × {args.pods} pods in all); the design asks that nspod's start
  time not grow with the number of pods. Note that with no other pod, each
  nspod start also creates the node network (its holder, bridge and
  slirp4netns uplink) and each `rm` of the last pod removes it again; with
  other pods running it exists already. A Podman pod always gets a
  slirp4netns of its own.
- **Podman --network none**: Podman without its per-pod slirp4netns, for
  reference (nspod's pods are networked in every row).
- **Cold start**: a first pod, {max(3, args.runs // 3)} times each, alternating,
  while nspod has no node holder (the first in a fresh state directory; before
  each other the bench ends the node holder with SIGTERM, as no pod is left) and
  Podman no rootless pause process (the bench ends it before each, when no
  container of the user exists).
- **Restart latency**: one container `sh -c 'date +S%s%N >> F; date +E%s%N >> F'`
  (F on a host folder mounted into the container), restartPolicy Always with
  `nspod run --backoff-base 0`, and `podman run -d --restart=always`. Latency is
  the next instance's first timestamp minus the previous instance's last one,
  for the first {args.restarts} restarts; it includes starting `sh` and `date`.
  Then the same beside a pod of the same tool whose one container runs `yes`
  (started 1 s before, removed after): nspod logs it to its rotated CRI log,
  Podman's conmon to a k8s-file log with `--log-opt max-size=10mb`. No goal:
  it shows whether one pod's output holds up another pod's restarts.
- **Memory**: `Pss` from `/proc/PID/smaps_rollup`, {SETTLE:.0f} s after the
  pods started, and for nspod once at rest: once its Python supervisor has
  left the pods to the node holder, as it does after `NSPOD_SUPERVISOR_IDLE`
  seconds (5) when no pod needs it (a supervisor still running after 30 s
  would be counted). nspod: the pod's pause holder (and anything under it but the
  containers), plus an equal share of what serves all pods: the node holder
  (nspod-keeper) and its supervisor if one runs, the node network's holder and uplink
  (pids from `nspod inspect`), and any other process nspod started outside a
  pod (the bench is a child subreaper, so such processes become its children).
  Podman: conmon for each of the 3 containers (infra included), the infra
  container's catatonit, the pod's slirp4netns, plus an equal share of the
  rootless pause process. The container processes themselves (`sleep`) are
  not counted for either. Each tool is measured while the other has no pods
  (they share `catatonit` and libc pages, which would lower both figures a
  little). "Each further pod" is (the {args.pods} pods' total − 1 pod) ÷
  {args.pods - 1}: what one more pod costs once the shared processes exist.
  The node holder's USS (private memory) is listed too: it is what the
  keeper of all pods holds of its own. "1 pod that logs" is the 1-pod row
  with both containers running `sh -c 'while :; do echo tick; sleep 1; done'`
  instead of `sleep`: output is what most containers have, and it must not
  keep nspod's supervisor (the node holder writes the log while none runs).
- **Log throughput**: one container runs, in both tools, the same
  `sh -c '…; echo END'`: `head -c 52428800 /dev/zero | tr '\\0' x | fold -w 100`
  (50 MiB in 100-byte lines), and `yes | head -c 10485760` (10 MiB in 2-byte
  lines, the most records per byte). nspod: `nspod run` of a pod with that one
  container (`restartPolicy: Never`); its log is `logs/c/0.log` in the pod's
  state folder, rotated at 10 MiB. Podman: `podman run -d --log-driver k8s-file
  --log-opt path=FILE --rootfs DIR`, the same CRI log format (not rotated). The
  row is the time from starting `run` until the log file ends with the record
  of the line END (looked at every 5 ms; the container exits right after
  writing it); the details give the MiB written per second from `run`
  returning until then. Afterwards, untimed, the bench checks that the
  container exited 0 (and `nspod logs --tail 1` prints END). One untimed
  warm-up run of each first.
- **Images**: the bench starts Debian's `docker-registry` with a config of its
  own on `127.0.0.1` and a free port, and pushes one image with the registry's
  HTTP API (the integration tests' helpers build it):
  {IMAGE_TEXT}
  (the notes give its size); each layer also holds a 16-byte file naming the
  run, so neither store can reuse a layer kept from an earlier run. Both tools
  pull it from there: nspod over plain HTTP, as it does for loopback
  registries; Podman with `--tls-verify=false`, with which it tries HTTPS
  first and falls back to HTTP. **Start from a cached image**: nspod: `nspod
  run` of a pod with one container of the image (`imagePullPolicy:
  IfNotPresent`, `sleep 1000`); Podman: `podman pod create` + `podman run -d
  --pod P --pull missing IMAGE sleep 1000`, as the pod start rows start
  Podman's pods; then `inspect` checks, untimed, that the container runs.
  **First pull + start**: the same start right after the image was removed
  from both stores (`nspod rmi`, `podman rmi`; the bench checks that nspod
  kept none of its blobs and layers and that Podman no longer has it), so
  each tool downloads, verifies and unpacks every layer. Each round removes
  the image, times the first pull + start, removes the pod, times a start
  from the cache, removes the pod; the tools take turns. **Disk per image**:
  what the image adds to each tool's store once pulled and started (its pod
  removed): allocated blocks (`st_blocks`, as `du` counts; each inode once)
  of the store with the image minus without it. nspod: its image store (the
  bench's own `NSPOD_IMAGE_DIR`): the blobs as served (compressed) plus each
  layer unpacked once. Podman: the user's own storage folder (`GraphRoot`)
  without `libpod/` (its database of containers), with the driver Podman
  picks for it (named in the notes; Debian's Podman without a `storage.conf`
  picks `vfs` here, which stores each layer as a full copy of the tree up to
  it, and copies the image's tree for each container). The registry, the
  image in both stores and everything else the section made are removed at
  the end, also on an error or Ctrl-C.
- Podman runs with the bench's own containers.conf (`CONTAINERS_CONF`):
  `runtime = "runc"` (crun refuses the hybrid cgroup layout here) and
  `default_ulimits = []` (RLIMIT_NOFILE cannot be raised here). nspod runs with
  its own state directory (`NSPOD_STATE_DIR`), so it always starts a node holder
  with the current code and never touches the user's other pods.
"""
    Path(path).write_text(text)


def main(argv=None):
    p = argparse.ArgumentParser(prog="bench.py")
    p.add_argument("--runs", "-n", type=int)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--restarts", type=int, default=50)
    p.add_argument("--pods", type=int, default=10)
    p.add_argument("--only", default=",".join(SECTIONS),
                   help=f"comma-separated sections to run, of: {', '.join(SECTIONS)}")
    p.add_argument("--mem-runs", type=int)
    p.add_argument("--doc")
    p.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    p.add_argument("--invocation", default="scripts/bench")
    p.add_argument("--cleanup-only", action="store_true")
    args = p.parse_args(argv)
    args.runs = args.runs or (5 if args.quick else 15)
    args.mem_runs = args.mem_runs or (3 if args.quick else 5)
    if args.runs < 1 or args.restarts < 2 or args.pods < 1 or args.mem_runs < 1:
        p.error("--runs, --pods, --mem-runs must be >= 1 and --restarts >= 2")
    args.only = [x.strip() for x in args.only.split(",") if x.strip()]
    if not args.only or set(args.only) - set(SECTIONS):
        p.error(f"--only takes sections of: {', '.join(SECTIONS)}")
    if args.doc and set(args.only) != set(SECTIONS):
        p.error("--doc (--write-doc) records every section: leave out --only")

    nspod_exe = shutil.which("nspod")
    lock = open(LOCK, "a")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        if args.cleanup_only:
            return 0  # the running bench cleans up after itself
        say(f"another scripts/bench is running (lock {LOCK})")
        return 1
    if not args.cleanup_only:  # scripts/bench (as root) forwards signals to this pid
        os.ftruncate(lock.fileno(), 0)
        lock.write(f"{os.getpid()}\n")
        lock.flush()

    def interrupted(signum, _frame):
        raise Interrupted(signal.Signals(signum).name)

    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, interrupted)
    become_subreaper()

    if args.cleanup_only:
        if not BASE.exists():
            return 0
        ns = setup_env(nspod_exe)
        return 0 if cleanup(ns, [Podman()], nspod_exe) else 1

    started = datetime.datetime.now(datetime.timezone.utc)
    t0 = time.monotonic()
    res = Results()
    rc = 0
    ns = pm = pm_nonet = None
    try:
        pause_before = Podman.pause_pid()  # before preflight's `podman info` may start one
        preflight(nspod_exe, args.only)
        if BASE.exists() and any(d.exists() for d in (STATE, ROOTFS, IMAGES, REGISTRY_DIR, REGISTRY_PID)):
            say(f"cleaning up after an earlier run in {BASE}")
            setup_env(nspod_exe)
            cleanup(Nspod(nspod_exe), [Podman()], nspod_exe, quiet=True)
        prepare_dirs()
        PAUSE_BEFORE.write_text(f"{pause_before or ''}\n")
        ns = setup_env(nspod_exe)
        pm, pm_nonet = Podman(), Podman(network="none")
        info = machine()  # while the bench's containers.conf exists
        say(f"{args.runs} runs of each timing, alternating; work directory {BASE}")
        bench(args, ns, pm, pm_nonet, res)
    except Interrupted as e:
        say(f"interrupted ({e}); cleaning up")
        rc = 130
    except BenchError as e:
        say(f"error: {e}")
        rc = 1
    finally:
        for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(s, signal.SIG_IGN)
        if ns is not None or pm is not None:
            if not cleanup(ns or Nspod(nspod_exe), [x for x in (pm, pm_nonet) if x], nspod_exe):
                rc = rc or 1
    if rc:
        return rc
    elapsed = time.monotonic() - t0
    print()
    print(f"nspod vs rootless Podman: {args.runs} runs each, alternating; "
          f"{info['nproc']} CPUs, Linux {info['kernel']}; {started:%Y-%m-%d %H:%M} UTC, {elapsed:.0f} s")
    print("Absolute times are noisy here: read the ratios (median nspod / median podman).")
    print()
    print(res.table(markdown=False))
    print()
    for note in res.notes:
        print(f"- {note}")
    print()
    print(res.detail_text(markdown=False))
    if args.doc:
        write_doc(args.doc, res, info, args, started, elapsed)
        say(f"wrote {args.doc}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res.figures(), f, indent=2, ensure_ascii=False)
            f.write("\n")
        say(f"wrote {args.json}")
    return 0


def cleanup(ns, podmans, nspod_exe, quiet=False):
    """Remove every pod and container of the bench, end the node holder and the
    podman pause process if the bench started them, reap, report leftovers."""
    ok = True
    if nspod_exe:
        ok = ns.cleanup() and ok
    if shutil.which("podman"):
        for pm in podmans or [Podman()]:
            ok = pm.cleanup() and ok
    stop_leftover_registry()
    reap()
    # Podman's rootless pause process outlives its containers by design. One
    # that the bench started (there was none when it began, or it ended the one
    # there was) is ended too, once no container of the user is left.
    pause = Podman.pause_pid() if shutil.which("podman") else None
    if pause and PAUSE_BEFORE.exists() and str(pause) != PAUSE_BEFORE.read_text().strip():
        _, out = run(["podman", "ps", "-aq"], check=False, new_session=True)
        if not out.strip():
            kill_and_wait(pause, "podman pause process")
    # Anything else still our child (orphans are re-parented to us) was started
    # by a tool during the run and outlived every pod: a leak; report and end it.
    table = proc_table()
    me = os.getpid()
    for pid, (ppid, comm) in table.items():
        if ppid == me and alive(pid) and pid != Podman.pause_pid():
            if not quiet:
                say(f"warning: {comm} (pid {pid}) was left behind by the tools; ending it")
            kill_and_wait(pid, comm)
    if ok:
        for d in (STATE, ROOTFS, TS, PODS, LOGS, IMAGES, REGISTRY_DIR):
            shutil.rmtree(d, ignore_errors=True)
        CONF.unlink(missing_ok=True)
        PAUSE_BEFORE.unlink(missing_ok=True)
        try:
            BASE.rmdir()
        except OSError:
            pass
    else:
        say(f"some of what the bench made could not be removed; state kept in {BASE}")
    return ok


if __name__ == "__main__":
    sys.exit(main())
