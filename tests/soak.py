"""The soak: many pod lifecycles (run -> exec -> rm), several at a time, as
one user; then nothing may be left and neither the node holder nor its
supervisor may have grown.
Run by `scripts/test soak` as two unprivileged users at once.

    python tests/soak.py [--lifecycles 200] [--parallel 10]

Prints one JSON line of figures; exits 1 with the reasons when anything
leaked or a lifecycle failed."""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
os.environ.setdefault("NSPOD_NODE_LINGER", "30")  # one node holder for the whole soak

from podtest import NSPOD, wait_for_clean  # noqa: E402

# Memory is read after a quiet moment: the supervisor collects what the pods
# it dropped left, and gives the memory back, at its first quiet wake-up.
SETTLE = 2

POD = """apiVersion: v1
kind: Pod
metadata: {{name: {name}}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - {{name: a, command: [sleep, "300"]}}
  - {{name: b, command: [sh, -c, "echo hi; exec sleep 300"]}}
"""


def cli(*args):
    return subprocess.run(NSPOD + list(args), capture_output=True, text=True, timeout=120)


def lifecycle(i, folder, user):
    name = f"soak-{user}-{i}"
    f = Path(folder) / f"{name}.yaml"
    f.write_text(POD.format(name=name))
    steps = [("run", ["run", str(f)]), ("exec", ["exec", name, "-c", "a", "--", "true"]),
             ("rm", ["rm", "-f", name])]
    for what, args in steps:
        done = cli(*args)
        if done.returncode != 0:
            cli("rm", "-f", name)
            return f"{name}: {what} exited {done.returncode}: {done.stderr.strip()[-300:]}"
    return None


def memory_kib(pid):
    """(PSS, private) KiB of pid: private pages are what a leak grows."""
    fields = {}
    try:
        for line in open(f"/proc/{pid}/smaps_rollup"):
            parts = line.split()
            if parts[0] in ("Pss:", "Private_Clean:", "Private_Dirty:"):
                fields[parts[0]] = int(parts[1])
    except (OSError, TypeError):
        return None, None
    return fields.get("Pss:"), fields.get("Private_Clean:", 0) + fields.get("Private_Dirty:", 0)


def node_processes():
    """(the node holder's pid, its supervisor's pid). The supervisor handles
    every pod, so what a pod fails to give back shows there; the node holder
    keeps exit statuses and FIFOs, bounded, which must not grow either."""
    from nspod.node import node_pid
    from podtest import supervisor_pid

    return node_pid(), supervisor_pid()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lifecycles", type=int, default=200)
    ap.add_argument("--parallel", type=int, default=10)
    a = ap.parse_args()
    user = os.environ.get("USER", str(os.getuid()))
    failures = []
    with tempfile.TemporaryDirectory() as folder:
        os.chmod(folder, 0o755)
        start = time.monotonic()
        # The first round warms the supervisor up; memory is taken after it.
        with ThreadPoolExecutor(a.parallel) as pool:
            failures += [r for r in pool.map(lambda i: lifecycle(i, folder, user), range(a.parallel)) if r]
        watched = node_processes()
        time.sleep(SETTLE)
        before = [memory_kib(pid) for pid in watched]
        with ThreadPoolExecutor(a.parallel) as pool:
            failures += [r for r in pool.map(lambda i: lifecycle(i, folder, user),
                                             range(a.parallel, a.lifecycles)) if r]
        time.sleep(SETTLE)
        after = [memory_kib(pid) for pid in watched]
        replaced = node_processes() != watched
        seconds = time.monotonic() - start
    leaks = wait_for_clean(timeout=15)
    figures = {"user": user, "lifecycles": a.lifecycles, "parallel": a.parallel, "seconds": round(seconds, 1),
               "node_pss_kib_before": before[0][0], "node_pss_kib_after": after[0][0],
               "node_private_kib_before": before[0][1], "node_private_kib_after": after[0][1],
               "supervisor_pss_kib_before": before[1][0], "supervisor_pss_kib_after": after[1][0],
               "supervisor_private_kib_before": before[1][1], "supervisor_private_kib_after": after[1][1],
               "failures": len(failures), "leaks": leaks}
    print(json.dumps(figures), flush=True)
    problems = failures[:10] + [f"left behind: {x}" for x in leaks]
    if replaced or None in watched:
        problems.append(f"the node holder and supervisor {watched} did not both run the whole soak "
                        f"(after: {node_processes()}): their growth cannot be told")
    for what, (_, was), (_, now) in zip(("node holder", "supervisor"), before, after):
        if was and now and now > was * 1.10 + 512:
            problems.append(f"the {what} grew from {was} KiB to {now} KiB of private memory")
    for p in problems:
        print(f"soak: {p}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
