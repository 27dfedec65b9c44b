"""What each import costs the supervisor: private dirty memory and time.

    .venv/bin/python scripts/lib/nodeimports.py

Runs itself again as the supervisor runs (`python -S`, the sys.path of this
interpreter passed on: nspod/node.py), imports what the supervisor imports,
in steps, and prints after each step the private dirty memory it added
(smaps_rollup: what a forked child copies and no other process shares), the
modules it loaded and the time it took; then seccomp.warm() and the
collector's freeze and heap trim that serve() does.
"""
import os
import sys
import time

STEPS = ["json", "socket", "selectors", "sqlite3", "pathlib", "ctypes",
         "nspod.errors", "nspod.paths", "nspod.kernel.namespaces", "nspod.node", "nspod.store",
         "nspod.spec", "nspod.cgroups", "nspod.seccomp", "nspod.net.netlink", "nspod.container",
         "nspod.crilog", "nspod.probing.manager", "nspod.hooks", "nspod.initsupervision",
         "nspod.net.podnet", "nspod.watchdog", "nspod.supervisor"]


def rollup():
    with open("/proc/self/smaps_rollup") as f:
        fields = dict(line.split(":", 1) for line in f if ":" in line and not line.startswith("5"))
    return {k: int(v.split()[0]) / 1024 for k, v in fields.items() if k in ("Private_Dirty", "Pss")}


def measure():
    import importlib

    base = rollup()
    print(f"{'interpreter (python -S)':28s} {base['Private_Dirty']:6.2f} MiB private dirty (PSS {base['Pss']:.2f})")
    prev, loaded = base, set(sys.modules)
    for name in STEPS:
        t = time.perf_counter()
        importlib.import_module(name)
        ms = (time.perf_counter() - t) * 1000
        now = rollup()
        print(f"{name:28s} {now['Private_Dirty'] - prev['Private_Dirty']:+6.2f} MiB {ms:6.1f} ms "
              f"{len(set(sys.modules) - loaded):3d} modules")
        prev, loaded = now, set(sys.modules)
    from nspod import seccomp
    from nspod.kernel.libc import trim_heap
    import gc

    t = time.perf_counter()
    seccomp.warm()
    now = rollup()
    print(f"{'seccomp.warm()':28s} {now['Private_Dirty'] - prev['Private_Dirty']:+6.2f} MiB "
          f"{(time.perf_counter() - t) * 1000:6.1f} ms")
    prev = now
    gc.freeze()
    trim_heap()
    now = rollup()
    print(f"{'gc.freeze() + trim_heap()':28s} {now['Private_Dirty'] - prev['Private_Dirty']:+6.2f} MiB")
    print(f"{'total':28s} {now['Private_Dirty']:6.2f} MiB private dirty, PSS {now['Pss']:.2f} MiB, "
          f"{len(sys.modules)} modules")


if __name__ == "__main__":
    if sys.flags.no_site:
        sys.path[:] = sys.argv[1:]
        measure()
    else:
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        os.execv(sys.executable, [sys.executable, "-S", __file__, root, *[p for p in sys.path[1:] if p]])
