"""Compile nspod's two C programs: `python -m nspod.executor.build [DIR]`
(scripts/setup runs it; setup.py does for a built package). C11, libc only.
  nspod-exec    the container start path (the *.c here)
  nspod-keeper  the node holder (keeper/*.c)"""
import glob
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
FLAGS = ["-std=gnu11", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "-Werror",
         "-D_FORTIFY_SOURCE=2", "-fstack-protector-strong", "-fPIE", "-Wl,-z,relro,-z,now"]
PROGRAMS = {"nspod-exec": HERE, "nspod-keeper": os.path.join(HERE, "keeper")}
# nspod-exec runs once per container start and execs at once: linked statically,
# it skips the dynamic loader's work (~0.4 ms a restart here, docs/BENCHMARKS.md).
# The keeper stays for the node's life: it shares libc's pages with the rest.
LINK = {"nspod-exec": ["-static-pie"], "nspod-keeper": ["-pie"]}
# ... and against musl where musl-gcc is installed (Debian's musl-tools): glibc's
# start-up asks the CPU for its cache sizes with ~90 `cpuid` instructions, each a
# trap to the hypervisor on a virtual machine (~6 us here): 0.5 ms of every
# container start and restart (docs/BENCHMARKS.md). Without it, glibc.
MUSL_CC = "musl-gcc"
GLIBC_MARK = b"GLIBC_TUNABLES"  # in every program linked statically against glibc


def sources(program="nspod-exec"):
    return sorted(glob.glob(os.path.join(PROGRAMS[program], "*.c")))


def headers(program):
    return glob.glob(os.path.join(PROGRAMS[program], "*.h"))


def chosen_cc(program, cc=None):
    """The compiler for program: cc or $CC when given, else musl-gcc for
    nspod-exec where it is installed, else gcc."""
    cc = cc or os.environ.get("CC")
    if cc:
        return cc
    return MUSL_CC if program == "nspod-exec" and shutil.which(MUSL_CC) else "gcc"


def kernel_headers(into):
    """musl-gcc searches only musl's own headers: a folder of links to the
    kernel's (linux/, asm/, asm-generic/, from Debian's linux-libc-dev)."""
    multiarch = subprocess.run(["gcc", "-print-multiarch"], capture_output=True, text=True).stdout.strip()
    for name, where in (("linux", "/usr/include/linux"), ("asm-generic", "/usr/include/asm-generic"),
                        ("asm", f"/usr/include/{multiarch}/asm" if multiarch else "/usr/include/asm")):
        os.symlink(where, os.path.join(into, name))
    return ["-idirafter", into]


def build_one(program, out, cc=None, extra=()):
    """Compile into out (through a temporary name: a running one keeps the old file)."""
    cc = chosen_cc(program, cc)
    temporary = f"{out}.{os.getpid()}.tmp"

    def compile_with(compiler, *flags):  # (True if it compiled; only musl-gcc may fail)
        command = [compiler, *FLAGS, *LINK[program], *flags, "-o", temporary, *extra, *sources(program)]
        return subprocess.run(command, check=compiler != MUSL_CC).returncode == 0

    try:
        with tempfile.TemporaryDirectory(prefix="nspod-build.") as scratch:
            if cc != MUSL_CC:
                compile_with(cc)
            elif not compile_with(cc, *kernel_headers(scratch)):
                print(f"build: {program}: {MUSL_CC} failed (above); linking against glibc instead "
                      "(~0.5 ms slower a container start on a virtual machine)", file=sys.stderr)
                compile_with("gcc")
        os.rename(temporary, out)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    return out


def linked_against_glibc(path):
    """True for a program linked statically against glibc (not musl)."""
    with open(path, "rb") as f:
        return GLIBC_MARK in f.read()


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
    # musl-gcc installed since nspod-exec was linked against glibc
    exe = os.path.join(out_dir, "nspod-exec")
    return chosen_cc("nspod-exec") == MUSL_CC and linked_against_glibc(exe)


if __name__ == "__main__":
    print("\n".join(build(*sys.argv[1:2])))
