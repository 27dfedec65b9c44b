"""The unit tier's one compiled helper: inroot-probe (tests/unit/probe), built
from nspod-exec's own files, so the lookups tested are those that start
containers."""
import json
import os
import subprocess

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
EXECUTOR = os.path.join(HERE, "..", "..", "nspod", "executor")


class Probe:
    def __init__(self, exe):
        self.exe = exe

    def run(self, root, op, path, *extra):
        done = subprocess.run([self.exe, str(root), op, str(path), *map(str, extra)],
                              capture_output=True, text=True)
        out = done.stdout.strip()
        if done.returncode != 0:
            if not out.startswith("error "):
                raise AssertionError(f"inroot-probe failed: {done.returncode} {out} {done.stderr}")
            _, number, text = out.split(" ", 2)
            raise OSError(int(number), text)
        return out

    def make(self, root, path, directory=True, mode=None):
        op = "make" if directory else "makefile"
        return self.run(root, op, path, *([] if mode is None else [oct(mode)[2:]]))

    def beneath(self, root, path, mode=None):
        return self.run(root, "beneath", path, *([] if mode is None else [oct(mode)[2:]]))

    def lookup(self, root, path):
        return self.run(root, "lookup", path)

    def lexists(self, root, path):
        return self.run(root, "lexists", path) == "1"

    def openable_device(self, kind, major, minor):
        return self.run("-", "device", kind, major, minor) == "1"

    def identity(self, passwd_file, group_file, user, run_as_group=None, supplemental=()):
        """nspod-exec's image_identity: (uid, gid, groups, home), or raises
        Refused(reason, message) as nspod-exec reports a refusal."""
        done = subprocess.run([self.exe, "-", "identity", str(passwd_file), str(group_file), str(user),
                               "1" if isinstance(user, str) else "0",
                               str(-1 if run_as_group is None else run_as_group),
                               ",".join(map(str, supplemental))], capture_output=True, text=True)
        out = done.stdout.strip()
        if out.startswith("{"):
            error = json.loads(out)["error"]
            raise Refused(error["reason"], error["message"])
        uid, gid, groups, home = out.split(" ", 3)
        return int(uid), int(gid), tuple(int(g) for g in groups.split(",") if g), home


class Refused(Exception):
    def __init__(self, reason, message):
        self.reason = reason
        super().__init__(message)


@pytest.fixture(scope="session")
def inroot(tmp_path_factory):
    exe = str(tmp_path_factory.mktemp("probe") / "inroot-probe")
    sources = [os.path.join(EXECUTOR, f) for f in ("identity.c", "inroot.c", "mounts.c", "report.c")]
    subprocess.run([os.environ.get("CC", "gcc"), "-std=gnu11", "-O2", "-Wall", "-Werror", "-Wno-unused-parameter",
                    "-I", EXECUTOR, "-o", exe, os.path.join(HERE, "probe", "inroot_probe.c"), *sources],
                   check=True)
    return Probe(exe)

