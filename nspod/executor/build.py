"""Compile nspod's two C programs: `python -m nspod.executor.build [DIR]`
(scripts/setup runs it; setup.py does for a built package). C11, libc only.
  nspod-exec    the container start path (the *.c here)
  nspod-keeper  the node holder (keeper/*.c)"""
import glob
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
FLAGS = ["-std=gnu11", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "-Werror",
         "-D_FORTIFY_SOURCE=2", "-fstack-protector-strong", "-fPIE", "-pie", "-Wl,-z,relro,-z,now"]
PROGRAMS = {"nspod-exec": HERE, "nspod-keeper": os.path.join(HERE, "keeper")}


def sources(program="nspod-exec"):
    return sorted(glob.glob(os.path.join(PROGRAMS[program], "*.c")))


def headers(program):
    return glob.glob(os.path.join(PROGRAMS[program], "*.h"))


def build_one(program, out, cc=None, extra=()):
    """Compile into out (through a temporary name: a running one keeps the old file)."""
    temporary = f"{out}.{os.getpid()}.tmp"
    command = [cc or os.environ.get("CC", "gcc"), *FLAGS, "-o", temporary, *extra, *sources(program)]
    try:
        subprocess.run(command, check=True)
        os.rename(temporary, out)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    return out


def build(out_dir=HERE, cc=None):
    return [build_one(p, os.path.join(out_dir, p), cc) for p in PROGRAMS]


def stale(out_dir=HERE):
    """True when a program is missing or older than one of its sources."""
    for program in PROGRAMS:
        try:
            built = os.stat(os.path.join(out_dir, program)).st_mtime
        except FileNotFoundError:
            return True
        if any(os.stat(p).st_mtime > built for p in sources(program) + headers(program)):
            return True
    return False


if __name__ == "__main__":
    print("\n".join(build(*sys.argv[1:2])))
