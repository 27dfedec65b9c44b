"""Compile nspod-exec: `python -m nspod.executor.build [OUT]` (scripts/setup
runs it; setup.py does for a built package). C11 and libc only."""
import glob
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
FLAGS = ["-std=gnu11", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "-Werror",
         "-D_FORTIFY_SOURCE=2", "-fstack-protector-strong", "-fPIE", "-pie", "-Wl,-z,relro,-z,now"]


def sources():
    return sorted(glob.glob(os.path.join(HERE, "*.c")))


def build(out=os.path.join(HERE, "nspod-exec"), cc=None, extra=()):
    """Compile into out (through a temporary name: a running start keeps the old file)."""
    temporary = f"{out}.{os.getpid()}.tmp"
    command = [cc or os.environ.get("CC", "gcc"), *FLAGS, "-o", temporary, *extra, *sources()]
    try:
        subprocess.run(command, check=True)
        os.rename(temporary, out)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    return out


def stale(out=os.path.join(HERE, "nspod-exec")):
    """True when out is missing or older than a source."""
    try:
        built = os.stat(out).st_mtime
    except FileNotFoundError:
        return True
    return any(os.stat(p).st_mtime > built for p in sources() + glob.glob(os.path.join(HERE, "*.h")))


if __name__ == "__main__":
    print(build(*sys.argv[1:2]))
