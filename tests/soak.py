"""The soak: many pod lifecycles (run -> exec -> rm), several at a time, as
one user; then nothing may be left and the node holder must not have grown.
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


def node_memory_kib():
    """The node holder's (PSS, private) KiB: private pages are what a leak
    grows. It supervises every pod, so what a pod fails to give back shows here."""
    from nspod.node import node_pid

    pid = node_pid()
    fields = {}
    try:
        for line in open(f"/proc/{pid}/smaps_rollup"):
            parts = line.split()
            if parts[0] in ("Pss:", "Private_Clean:", "Private_Dirty:"):
                fields[parts[0]] = int(parts[1])
    except (OSError, TypeError):
        return None, None
    return fields.get("Pss:"), fields.get("Private_Clean:", 0) + fields.get("Private_Dirty:", 0)


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
        # The first round warms the node holder up; its memory is taken after it.
        with ThreadPoolExecutor(a.parallel) as pool:
            failures += [r for r in pool.map(lambda i: lifecycle(i, folder, user), range(a.parallel)) if r]
        pss_before, before = node_memory_kib()
        with ThreadPoolExecutor(a.parallel) as pool:
            failures += [r for r in pool.map(lambda i: lifecycle(i, folder, user),
                                             range(a.parallel, a.lifecycles)) if r]
        pss_after, after = node_memory_kib()
        seconds = time.monotonic() - start
    leaks = wait_for_clean(timeout=15)
    figures = {"user": user, "lifecycles": a.lifecycles, "parallel": a.parallel, "seconds": round(seconds, 1),
               "node_pss_kib_before": pss_before, "node_pss_kib_after": pss_after,
               "node_private_kib_before": before, "node_private_kib_after": after,
               "failures": len(failures), "leaks": leaks}
    print(json.dumps(figures), flush=True)
    problems = failures[:10] + [f"left behind: {x}" for x in leaks]
    if before and after and after > before * 1.10 + 512:
        problems.append(f"the node holder grew from {before} KiB to {after} KiB of private memory")
    for p in problems:
        print(f"soak: {p}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
