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
         "-D_FORTIFY_SOURCE=2", "-fstack-protector-strong", "-fPIE", "-Wl,-z,relro,-z,now"]
PROGRAMS = {"nspod-exec": HERE, "nspod-keeper": os.path.join(HERE, "keeper")}
# nspod-exec runs once per container start and execs at once: linked statically,
# it skips the dynamic loader's work (~0.4 ms a restart here, docs/BENCHMARKS.md).
# The keeper stays for the node's life: it shares libc's pages with the rest.
LINK = {"nspod-exec": ["-static-pie"], "nspod-keeper": ["-pie"]}


def sources(program="nspod-exec"):
    return sorted(glob.glob(os.path.join(PROGRAMS[program], "*.c")))


def headers(program):
    return glob.glob(os.path.join(PROGRAMS[program], "*.h"))


def build_one(program, out, cc=None, extra=()):
    """Compile into out (through a temporary name: a running one keeps the old file)."""
    temporary = f"{out}.{os.getpid()}.tmp"
    command = [cc or os.environ.get("CC", "gcc"), *FLAGS, *LINK[program], "-o", temporary, *extra,
               *sources(program)]
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
    """True when a program is missing or older than one of its sources (or
    than the flags here)."""
    for program in PROGRAMS:
        try:
            built = os.stat(os.path.join(out_dir, program)).st_mtime
        except FileNotFoundError:
            return True
        if any(os.stat(p).st_mtime > built for p in sources(program) + headers(program) + [__file__]):
            return True
    return False


if __name__ == "__main__":
    print("\n".join(build(*sys.argv[1:2])))
